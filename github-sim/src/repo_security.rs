//! A repository's security switches and topics, as GitHub serves them:
//! - `PUT/GET/DELETE .../vulnerability-alerts` (Dependabot alerts): GET answers 204 when enabled and 404
//!   when disabled; disabling them also turns automated security fixes off, as GitHub does.
//! - `PUT/GET/DELETE .../automated-security-fixes` (Dependabot security updates): GET answers
//!   `{enabled, paused}`; enabling them while vulnerability alerts are off is GitHub's 422.
//! - `GET/PUT .../topics`: `{names}`; names are stored lowercase, at most 50 characters of lowercase
//!   letters, digits and hyphens, starting with a letter or digit, and at most 20 of them (422 otherwise).
//!
//! `security_and_analysis` itself is part of `PATCH /repos/{owner}/{repo}` (see `repos.rs`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::put;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Sim;
use crate::access::{Access, find_repo, find_writable_repo};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, Body};
use crate::model::{Org, Repo, now};

/// GitHub allows at most this many topics on a repository.
const MAX_TOPICS: usize = 20;
/// And at most this many characters in one.
const MAX_TOPIC_LEN: usize = 50;

pub(crate) fn router() -> Router<Sim> {
    Router::new()
        .route(
            "/repos/{owner}/{repo}/vulnerability-alerts",
            put(enable_alerts).get(get_alerts).delete(disable_alerts),
        )
        .route(
            "/repos/{owner}/{repo}/automated-security-fixes",
            put(enable_fixes).get(get_fixes).delete(disable_fixes),
        )
        .route("/repos/{owner}/{repo}/topics", put(replace_topics).get(get_topics))
}

/// GitHub's 422 when a private or internal repository's owner has no Secret Protection (Advanced
/// Security) licence (terraform-provider-github#1962 quotes it).
pub(crate) fn not_purchased() -> ApiError {
    ApiError::invalid("Advanced security has not been purchased.")
}

/// Whether secret scanning may be switched on for `repo`: public repositories always, private and
/// internal ones when the owning organization has the licence.
pub(crate) fn scanning_allowed(org: Option<&Org>, repo: &Repo) -> bool {
    !repo.private || org.is_some_and(|o| o.secret_protection)
}

type RepoPath = Path<(String, String)>;

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}")))]
async fn enable_alerts(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo)): RepoPath,
) -> ApiResult<StatusCode> {
    auth.require()?;
    let mut world = sim.world();
    let i = find_writable_repo(&world, &owner, &repo, &auth, Access::Admin)?;
    world.repos[i].security.vulnerability_alerts = true;
    world.repos[i].updated_at = now();
    Ok(StatusCode::NO_CONTENT)
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}")))]
async fn get_alerts(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo)): RepoPath,
) -> ApiResult<StatusCode> {
    let world = sim.world();
    let i = find_repo(&world, &owner, &repo, &auth, Access::Admin)?;
    if world.repos[i].security.vulnerability_alerts {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::Basic(StatusCode::NOT_FOUND, "Vulnerability alerts are disabled.".into()))
    }
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}")))]
async fn disable_alerts(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo)): RepoPath,
) -> ApiResult<StatusCode> {
    auth.require()?;
    let mut world = sim.world();
    let i = find_writable_repo(&world, &owner, &repo, &auth, Access::Admin)?;
    let security = &mut world.repos[i].security;
    security.vulnerability_alerts = false;
    security.automated_security_fixes = false;
    Ok(StatusCode::NO_CONTENT)
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}")))]
async fn enable_fixes(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo)): RepoPath,
) -> ApiResult<StatusCode> {
    auth.require()?;
    let mut world = sim.world();
    let i = find_writable_repo(&world, &owner, &repo, &auth, Access::Admin)?;
    let security = &mut world.repos[i].security;
    if !security.vulnerability_alerts {
        return Err(ApiError::invalid(
            "Failed to enable automated security fixes: vulnerability alerts are disabled for this repository.",
        ));
    }
    security.automated_security_fixes = true;
    Ok(StatusCode::NO_CONTENT)
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}")))]
async fn get_fixes(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo)): RepoPath,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    let i = find_repo(&world, &owner, &repo, &auth, Access::Admin)?;
    let enabled = world.repos[i].security.automated_security_fixes;
    Ok(Json(json!({ "enabled": enabled, "paused": false })))
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}")))]
async fn disable_fixes(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo)): RepoPath,
) -> ApiResult<StatusCode> {
    auth.require()?;
    let mut world = sim.world();
    let i = find_writable_repo(&world, &owner, &repo, &auth, Access::Admin)?;
    world.repos[i].security.automated_security_fixes = false;
    Ok(StatusCode::NO_CONTENT)
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}")))]
async fn get_topics(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo)): RepoPath,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    let i = find_repo(&world, &owner, &repo, &auth, Access::Pull)?;
    Ok(Json(json!({ "names": world.repos[i].topics })))
}

#[derive(Deserialize)]
struct TopicsRequest {
    names: Option<Vec<String>>,
}

/// Replaces every topic (an empty list clears them). Nothing changes when one name is refused.
#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}")))]
async fn replace_topics(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo)): RepoPath,
    Body(request): Body<TopicsRequest>,
) -> ApiResult<Json<Value>> {
    auth.require()?;
    let names = request.names.ok_or_else(|| ApiError::missing_field("names"))?;
    let names = parse_topics(&names)?;
    let mut world = sim.world();
    let i = find_writable_repo(&world, &owner, &repo, &auth, Access::Admin)?;
    world.repos[i].topics = names;
    world.repos[i].updated_at = now();
    Ok(Json(json!({ "names": world.repos[i].topics })))
}

/// GitHub's rules for topic names: saved lowercase, deduplicated, each valid, at most [`MAX_TOPICS`]. A
/// refusal is `validation-error-simple` (its `errors` are plain strings), as the description says.
fn parse_topics(names: &[String]) -> ApiResult<Vec<String>> {
    let mut topics: Vec<String> = Vec::new();
    let mut invalid: Vec<Value> = Vec::new();
    for name in names {
        let topic = name.trim().to_lowercase();
        let well_formed = !topic.is_empty()
            && topic.len() <= MAX_TOPIC_LEN
            && topic.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !topic.starts_with('-');
        if !well_formed {
            invalid.push(Value::String(format!(
                "{name:?} is not a valid topic: topics must start with a lowercase letter or number, \
                 consist of {MAX_TOPIC_LEN} characters or less, and can include hyphens"
            )));
        } else if !topics.contains(&topic) {
            topics.push(topic);
        }
    }
    if topics.len() > MAX_TOPICS {
        invalid.push(Value::String(format!("a repository cannot have more than {MAX_TOPICS} topics")));
    }
    if !invalid.is_empty() {
        return Err(ApiError::Validation { message: "Validation Failed".into(), errors: invalid });
    }
    Ok(topics)
}

/// A repository's security switches and topics as tests see and set them (what its admin could change
/// in the repository's settings).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoSecurity {
    pub secret_scanning: bool,
    pub push_protection: bool,
    pub vulnerability_alerts: bool,
    pub automated_security_fixes: bool,
    pub topics: Vec<String>,
}

impl Sim {
    /// The repository's security switches and topics. Panics on an unknown repository.
    pub fn repo_security(&self, owner: &str, repo: &str) -> RepoSecurity {
        let world = self.world();
        let i = world
            .repo_index(owner, repo)
            .unwrap_or_else(|| panic!("github-sim: unknown repo {owner}/{repo}"));
        let r = &world.repos[i];
        RepoSecurity {
            secret_scanning: r.security.secret_scanning,
            push_protection: r.security.push_protection,
            vulnerability_alerts: r.security.vulnerability_alerts,
            automated_security_fixes: r.security.automated_security_fixes,
            topics: r.topics.clone(),
        }
    }

    /// Sets them as a repository admin would in the settings. Panics on an unknown repository.
    pub fn set_repo_security(&self, owner: &str, repo: &str, to: RepoSecurity) {
        let mut world = self.world();
        let i = world
            .repo_index(owner, repo)
            .unwrap_or_else(|| panic!("github-sim: unknown repo {owner}/{repo}"));
        let r = &mut world.repos[i];
        r.security.secret_scanning = to.secret_scanning;
        r.security.push_protection = to.push_protection;
        r.security.vulnerability_alerts = to.vulnerability_alerts;
        r.security.automated_security_fixes = to.automated_security_fixes;
        r.topics = to.topics;
    }

    /// Whether the organization has Secret Protection licences. Panics on an unknown organization.
    pub fn set_secret_protection(&self, org: &str, licensed: bool) {
        let mut world = self.world();
        let o = world.orgs.iter_mut().find(|o| o.login.eq_ignore_ascii_case(org));
        o.unwrap_or_else(|| panic!("github-sim: unknown org {org:?}")).secret_protection = licensed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn topics_are_saved_lowercase_once_each() {
        assert_eq!(
            parse_topics(&names(&["Shipyard", "shipyard", "prod-1"])).unwrap(),
            ["shipyard", "prod-1"]
        );
    }

    #[test]
    fn a_bad_topic_or_too_many_are_refused() {
        assert!(parse_topics(&names(&["has space"])).is_err());
        assert!(parse_topics(&names(&["-leading"])).is_err());
        assert!(parse_topics(&names(&[&"x".repeat(51)])).is_err());
        let many: Vec<String> = (0..21).map(|n| format!("t{n}")).collect();
        assert!(parse_topics(&many).is_err());
    }
}
