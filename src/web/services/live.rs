//! What a service is doing now, read from the providers rather than our rows: its latest workflow
//! runs (GitHub) and the images in its ECR repository (AWS). Each is fetched with the server's
//! credentials and kept for a few seconds per service, so reloading the page costs no calls; a
//! provider that fails only puts a short notice in its own section.

use std::time::{Duration, Instant};

use moka::{Expiry, future::Cache};
use serde::Serialize;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::view::{recorded, web_url};
use crate::{
    aws::EcrImage,
    db::{services::Service, steps::Step},
    domain::{ServiceStatus, StepName, StepStatus},
    github::WorkflowRun,
    provider::{ErrorKind, ProviderError},
    provision::steps::{EcrRepository, GithubRepository},
    web::AppState,
};

/// How many runs the page and the API show.
pub const RUNS_SHOWN: u8 = 10;
/// How many images (newest first) the page and the API show.
pub const IMAGES_SHOWN: usize = 20;
/// How long a look-up is reused: long enough that reloads are free, short enough to feel live.
const FRESH_FOR: Duration = Duration::from_secs(15);
/// A failed look-up is asked again sooner, so a passing fault clears quickly.
const NOTICE_FOR: Duration = Duration::from_secs(5);
/// The page waits no longer than this for a provider (a client may be waiting out a rate limit).
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);
const CAPACITY: u64 = 10_000;

/// A workflow run as the page and the API show it.
#[derive(Debug, Clone, Serialize)]
pub struct RunView {
    pub id: u64,
    pub name: String,
    pub event: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub branch: Option<String>,
    pub head_sha: String,
    /// The first 7 characters of `head_sha`, as GitHub shows commits.
    pub short_sha: String,
    pub attempt: u32,
    /// Only an http(s) URL, since the page links it.
    pub html_url: Option<String>,
    pub created_at: Option<String>,
}

impl RunView {
    fn of(run: WorkflowRun) -> Self {
        Self {
            id: run.id,
            name: run.name.filter(|n| !n.is_empty()).unwrap_or_else(|| format!("run {}", run.id)),
            event: run.event,
            status: run.status,
            conclusion: run.conclusion,
            branch: run.head_branch,
            short_sha: run.head_sha.chars().take(7).collect(),
            head_sha: run.head_sha,
            attempt: run.run_attempt,
            html_url: web_url(Some(run.html_url)),
            created_at: run.created_at.and_then(|at| at.format(&Rfc3339).ok()),
        }
    }

    /// The badge: the conclusion once completed, else the status (`queued`, `in_progress`, ...).
    pub fn badge(&self) -> &str {
        self.conclusion.as_deref().unwrap_or(&self.status)
    }
}

/// An image as the page and the API show it.
#[derive(Debug, Clone, Serialize)]
pub struct ImageView {
    pub digest: String,
    pub tags: Vec<String>,
    pub pushed_at: Option<String>,
    pub size_bytes: Option<i64>,
    /// `sha256:` and the first 12 hex digits, as `docker images` shortens them.
    #[serde(skip)]
    pub short_digest: String,
    /// `pushed_at` for people: "2026-12-01 09:10 UTC".
    #[serde(skip)]
    pub pushed: String,
}

impl ImageView {
    fn of(image: EcrImage) -> Self {
        let short_digest = match image.digest.split_once(':') {
            Some((algorithm, hex)) => format!("{algorithm}:{}", hex.get(..12).unwrap_or(hex)),
            None => image.digest.clone(),
        };
        let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
        Self {
            short_digest,
            pushed: image.pushed_at.and_then(|at| at.format(format).ok()).unwrap_or_default(),
            pushed_at: image.pushed_at.and_then(|at| at.format(&Rfc3339).ok()),
            size_bytes: image.size_bytes,
            tags: image.tags,
            digest: image.digest,
        }
    }
}

/// One section's look-up: what the provider answered, or a notice for the person instead.
#[derive(Debug, Clone)]
pub struct Section<T> {
    pub items: Vec<T>,
    /// Set when the look-up failed; words for people, never the provider's message.
    pub notice: Option<&'static str>,
}

impl<T> Section<T> {
    fn found(items: Vec<T>) -> Self {
        Self { items, notice: None }
    }

    fn failed(notice: &'static str) -> Self {
        Self { items: Vec::new(), notice: Some(notice) }
    }
}

/// The service's runs and images, as looked up (or reused) for this request.
#[derive(Debug, Clone)]
pub struct Live {
    pub runs: Section<RunView>,
    pub images: Section<ImageView>,
}

/// What the look-ups address: the repository by its id (never by name, which someone else may
/// have taken since) and the ECR repository by the name the step recorded.
struct Target {
    service_id: Uuid,
    repo_id: Option<u64>,
    ecr_name: Option<String>,
}

/// Recent look-ups per service and status: a service that just became ready is looked up afresh
/// rather than showing the build as it stood a moment before. Cheap to clone.
#[derive(Clone)]
pub struct LiveCache {
    runs: Cache<(Uuid, ServiceStatus), Section<RunView>>,
    images: Cache<(Uuid, ServiceStatus), Section<ImageView>>,
}

impl Default for LiveCache {
    fn default() -> Self {
        Self {
            runs: Cache::builder().max_capacity(CAPACITY).expire_after(NoticesExpireSooner).build(),
            images: Cache::builder().max_capacity(CAPACITY).expire_after(NoticesExpireSooner).build(),
        }
    }
}

struct NoticesExpireSooner;

impl<T> Expiry<(Uuid, ServiceStatus), Section<T>> for NoticesExpireSooner {
    fn expire_after_create(
        &self,
        _: &(Uuid, ServiceStatus),
        value: &Section<T>,
        _: Instant,
    ) -> Option<Duration> {
        Some(if value.notice.is_some() { NOTICE_FOR } else { FRESH_FOR })
    }
}

/// The live sections of a ready service, or of one whose first build is under way; `None` for
/// any other (nothing to show yet, or nothing left).
#[tracing::instrument(skip_all, fields(service = %service.name))]
pub async fn look_up(state: &AppState, service: &Service, steps: &[Step]) -> Option<Live> {
    let building =
        steps.iter().any(|s| s.step == StepName::FirstBuild && !matches!(s.status, StepStatus::Pending));
    let shown = match service.status {
        ServiceStatus::Ready => true,
        ServiceStatus::Provisioning => building,
        _ => false,
    };
    if !shown {
        return None;
    }
    let target = Target {
        service_id: service.service_id,
        repo_id: recorded::<GithubRepository>(steps).map(|r| r.id),
        ecr_name: recorded::<EcrRepository>(steps).map(|e| e.name),
    };
    let (cache, key) = (&state.live, (target.service_id, service.status));
    let (runs, images) = tokio::join!(
        cache.runs.get_with(key, runs(state, target.repo_id)),
        cache.images.get_with(key, images(state, service, target.ecr_name.as_deref())),
    );
    Some(Live { runs, images })
}

async fn runs(state: &AppState, repo_id: Option<u64>) -> Section<RunView> {
    let Some(repo_id) = repo_id else { return Section::failed(NO_REPOSITORY) };
    let github = &state.github;
    let looked = tokio::time::timeout(LOOKUP_TIMEOUT, async {
        let Some(repo) = github.find_repo_by_id(repo_id).await? else { return Ok(None) };
        github.recent_runs(&repo.owner, &repo.name, RUNS_SHOWN).await.map(Some)
    })
    .await;
    match looked {
        Ok(Ok(Some(runs))) => Section::found(runs.into_iter().map(RunView::of).collect()),
        Ok(Ok(None)) => Section::failed(NO_REPOSITORY),
        Ok(Err(e)) => notice_for("runs", &e, RUNS_UNAVAILABLE, NO_REPOSITORY),
        Err(_) => timed_out("runs", RUNS_UNAVAILABLE),
    }
}

async fn images(state: &AppState, service: &Service, ecr_name: Option<&str>) -> Section<ImageView> {
    let Some(name) = ecr_name else { return Section::failed(NO_ECR_REPOSITORY) };
    // The repository is in the account of the service's environment.
    let aws = state.accounts.for_environment(&service.environment, Some(&service.created_by_login));
    match tokio::time::timeout(LOOKUP_TIMEOUT, aws.list_images(name)).await {
        Ok(Ok(images)) => Section::found(images.into_iter().take(IMAGES_SHOWN).map(ImageView::of).collect()),
        Ok(Err(e)) => notice_for("images", &e, IMAGES_UNAVAILABLE, NO_ECR_REPOSITORY),
        Err(_) => timed_out("images", IMAGES_UNAVAILABLE),
    }
}

const RUNS_UNAVAILABLE: &str = "GitHub did not give us the runs just now. Reload in a moment to try again.";
const NO_REPOSITORY: &str = "The GitHub repository is gone, or Shipyard can no longer see it.";
const IMAGES_UNAVAILABLE: &str = "AWS did not give us the images just now. Reload in a moment to try again.";
const NO_ECR_REPOSITORY: &str = "The ECR repository is gone.";

/// The provider's message goes to the log (it carries no secret); the person gets the notice.
fn notice_for<T>(what: &str, e: &ProviderError, unavailable: &'static str, gone: &'static str) -> Section<T> {
    tracing::warn!(error = %e, "could not look up the {what}");
    Section::failed(if e.kind == ErrorKind::NotFound { gone } else { unavailable })
}

fn timed_out<T>(what: &str, unavailable: &'static str) -> Section<T> {
    tracing::warn!(timeout = ?LOOKUP_TIMEOUT, "the {what} look-up timed out");
    Section::failed(unavailable)
}

/// Adds `runs` and `images` (arrays, `null` when not looked up) and `runs_error` / `images_error`
/// (the notice, `null` when the look-up worked) to the API's service body.
pub fn add_to_json(body: &mut Value, live: Option<&Live>) {
    let (runs, runs_error, images, images_error) = match live {
        Some(live) => (
            serde_json::to_value(&live.runs.items).unwrap_or_default(),
            live.runs.notice,
            serde_json::to_value(&live.images.items).unwrap_or_default(),
            live.images.notice,
        ),
        None => (Value::Null, None, Value::Null, None),
    };
    body["runs"] = runs;
    body["runs_error"] = runs_error.into();
    body["images"] = images;
    body["images_error"] = images_error.into();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(digest: &str) -> EcrImage {
        EcrImage { digest: digest.into(), tags: vec!["main".into()], pushed_at: None, size_bytes: None }
    }

    #[test]
    fn a_digest_is_shortened_to_twelve_hex_digits_on_the_page() {
        let view = ImageView::of(image(&format!("sha256:{}", "ab12".repeat(16))));
        assert_eq!(view.short_digest, "sha256:ab12ab12ab12");
        assert_eq!(view.digest.len(), 71, "the API keeps the whole digest");
    }

    #[test]
    fn a_run_link_is_only_made_of_a_web_url() {
        let run: WorkflowRun = serde_json::from_value(serde_json::json!({
            "id": 7, "workflow_id": 1, "event": "push", "head_sha": "0123456789abcdef",
            "status": "completed", "conclusion": "success", "html_url": "javascript:alert(1)",
        }))
        .unwrap();
        let view = RunView::of(run);
        assert_eq!(view.html_url, None);
        assert_eq!(view.short_sha, "0123456");
        assert_eq!(view.badge(), "success");
    }
}
