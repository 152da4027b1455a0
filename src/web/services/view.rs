//! What the service page and its progress endpoint show, built from the service and step rows.
//! Provider values pass through as text; links are only made of http(s) URLs.

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use crate::{
    db::{services::Service, steps::Step},
    domain::{ServiceStatus, StepName, StepStatus},
    provision::steps::{
        self, BaselineOutput, BranchRuleset, EcrRepository, EcrSettings, EcrSettingsOutput, FirstBuild,
        FirstBuildOutput, GithubRepository, IamRole, OwnershipFiles, OwnershipOutput, RepoOutput,
        RulesetOutput, RulesetState, SecurityBaseline,
    },
};

/// One step as the person sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StepView {
    pub name: StepName,
    /// The push role a role step is for; none for the service's own steps.
    pub role: Option<String>,
    /// `name`, or `name:role` for a role step: what the page's rows are found by.
    pub key: String,
    pub label: String,
    pub status: StepStatus,
    /// Finished minus started; for a running step, how long it has been running.
    pub duration_ms: Option<i64>,
    /// `duration_ms` in words ("1.2 s", "running for 4 s"), empty while pending.
    pub duration: String,
    pub attempts: i32,
    pub error: Option<String>,
}

/// The steps in the order they run (create steps, then delete steps if any), timed at `now`.
pub fn step_views(steps: &[Step], now: OffsetDateTime) -> Vec<StepView> {
    let mut known: Vec<&Step> = steps.iter().collect();
    known.sort_by(|a, b| (a.step, &a.instance).cmp(&(b.step, &b.instance)));
    known
        .into_iter()
        .map(|step| {
            let (name, status) = (step.step, step.status);
            let (duration_ms, duration) = match (status, step.started_at, step.finished_at) {
                (StepStatus::Running, Some(started), _) => {
                    let ms = (now - started).whole_milliseconds() as i64;
                    (Some(ms), format!("running for {}", describe_ms(ms)))
                }
                (StepStatus::Done | StepStatus::Failed, Some(started), Some(finished)) => {
                    let ms = (finished - started).whole_milliseconds() as i64;
                    (Some(ms), describe_ms(ms))
                }
                _ => (None, String::new()),
            };
            let label = steps::def(name).label;
            let role = Some(step.instance.clone()).filter(|r| !r.is_empty());
            StepView {
                name,
                key: role.as_ref().map_or_else(|| name.to_string(), |r| format!("{name}:{r}")),
                label: role.as_ref().map_or_else(|| label.to_owned(), |r| format!("{label} — role {r}")),
                role,
                status,
                duration_ms,
                duration,
                attempts: step.attempts,
                error: step.error.clone().filter(|e| !e.is_empty()),
            }
        })
        .collect()
}

/// A short duration in words: "< 0.1 s", "0.4 s", "12 s", "3 min 5 s".
pub fn describe_ms(ms: i64) -> String {
    let ms = ms.max(0);
    match ms {
        0..50 => "< 0.1 s".to_owned(),
        50..10_000 => format!("{:.1} s", ms as f64 / 1000.0),
        10_000..60_000 => format!("{} s", ms / 1000),
        _ => format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

/// How the first build went, from the `first_build` step's outputs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FirstBuildView {
    pub run_url: Option<String>,
    /// `success`, `failure`, or none while the run is still going.
    pub conclusion: Option<String>,
    pub note: Option<String>,
}

/// How the ECR repository is kept, from the `ecr_settings` step's outputs.
#[derive(Debug, Clone, Serialize)]
pub struct EcrSettingsView {
    /// The lifecycle rules in words.
    pub lifecycle: String,
    pub untagged_days: u16,
    pub keep_images: u16,
    /// `IMMUTABLE_WITH_EXCLUSION`.
    pub tag_mutability: String,
    /// The tags that may be pushed again (the default branch's).
    pub excluded_tags: Vec<String>,
    /// `AES256`, or `KMS (<key ARN>)`.
    pub encryption: String,
}

impl From<EcrSettingsOutput> for EcrSettingsView {
    fn from(o: EcrSettingsOutput) -> Self {
        Self {
            lifecycle: o.lifecycle,
            untagged_days: o.untagged_days,
            keep_images: o.keep_images,
            tag_mutability: o.tag_mutability,
            excluded_tags: o.excluded_tags,
            encryption: o.encryption.to_string(),
        }
    }
}

/// What a ready service gives its team. Every field is empty until the step that makes it is done.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outputs {
    pub html_url: Option<String>,
    pub actions_url: Option<String>,
    pub ssh_url: Option<String>,
    pub clone_url: Option<String>,
    pub ecr_repository_uri: Option<String>,
    pub ecr_settings: Option<EcrSettingsView>,
    pub role_arn: Option<String>,
    pub first_build: Option<FirstBuildView>,
    /// How the default branch is protected, once `branch_ruleset` is done.
    pub branch_protection: Option<BranchProtectionView>,
    /// CODEOWNERS and catalog-info.yaml: committed, kept (the template's) or skipped with the reason.
    pub ownership_files: Option<OwnershipOutput>,
    /// Secret scanning, Dependabot alerts and security updates (each on or skipped with the reason), topics.
    pub security_baseline: Option<BaselineOutput>,
}

/// The default branch's ruleset: Shipyard's and active, an organization's that covers it, or skipped.
#[derive(Debug, Clone, Serialize)]
pub struct BranchProtectionView {
    /// `active`, `covered_by_organization` or `skipped`.
    pub state: RulesetState,
    pub ruleset_id: Option<u64>,
    pub ruleset_name: Option<String>,
    /// GitHub's reason, when skipped.
    pub reason: Option<String>,
    /// The outcome in words.
    pub note: String,
}

impl From<RulesetOutput> for BranchProtectionView {
    fn from(o: RulesetOutput) -> Self {
        Self {
            state: o.state,
            ruleset_id: o.ruleset_id,
            ruleset_name: o.ruleset_name,
            reason: o.skipped,
            note: o.note,
        }
    }
}

impl BranchProtectionView {
    /// The badge's word: `active`, `covered` or `skipped`.
    pub fn badge(&self) -> &'static str {
        match self.state {
            RulesetState::Active => "active",
            RulesetState::CoveredByOrganization => "covered",
            RulesetState::Skipped => "skipped",
        }
    }
}

/// The recorded output of the step `S`, read typed; none until it recorded one.
pub(super) fn recorded<S: steps::Step>(rows: &[Step]) -> Option<S::Output> {
    let row = rows.iter().find(|r| r.step == S::NAME && r.instance.is_empty())?;
    serde_json::from_value(row.outputs.clone()).ok()
}

/// The output of `S` once it is done (a failed or running step's row may hold a stale one).
fn done<S: steps::Step>(rows: &[Step]) -> Option<S::Output> {
    rows.iter()
        .any(|r| r.step == S::NAME && r.instance.is_empty() && r.status == StepStatus::Done)
        .then(|| recorded::<S>(rows))
        .flatten()
}

/// A value we are about to put in an `href`: only web URLs, never `javascript:` or the like.
pub(super) fn web_url(url: Option<String>) -> Option<String> {
    url.filter(|u| is_web_url(u))
}

/// Only http(s) URLs become links.
pub(super) fn is_web_url(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

/// A repository's Actions page.
pub(super) fn actions_url(html_url: &str) -> String {
    format!("{}/actions", html_url.trim_end_matches('/'))
}

/// The outputs, preferring the copies on the service row and falling back to the step outputs.
pub fn outputs(service: &Service, steps: &[Step]) -> Outputs {
    let repo: Option<RepoOutput> = recorded::<GithubRepository>(steps);
    let html_url = web_url(service.html_url.clone().or_else(|| repo.as_ref().map(|r| r.html_url.clone())));
    let first_build = steps
        .iter()
        .any(|s| s.step == StepName::FirstBuild && s.status == StepStatus::Done)
        .then(|| recorded::<FirstBuild>(steps))
        .flatten();
    let branch_protection = steps
        .iter()
        .any(|s| s.step == StepName::BranchRuleset && s.status == StepStatus::Done)
        .then(|| recorded::<BranchRuleset>(steps))
        .flatten()
        .map(BranchProtectionView::from);
    Outputs {
        actions_url: html_url.as_deref().map(actions_url),
        html_url,
        ssh_url: service.ssh_url.clone().or_else(|| repo.as_ref().map(|r| r.ssh_url.clone())),
        clone_url: repo.map(|r| r.clone_url).filter(|u| !u.is_empty()),
        ecr_repository_uri: service
            .ecr_repository_uri
            .clone()
            .or_else(|| recorded::<EcrRepository>(steps).map(|e| e.uri)),
        ecr_settings: recorded::<EcrSettings>(steps).map(EcrSettingsView::from),
        role_arn: service.role_arn.clone().or_else(|| recorded::<IamRole>(steps).map(|r| r.arn)),
        first_build: first_build.map(|b: FirstBuildOutput| FirstBuildView {
            run_url: web_url(b.run_url),
            conclusion: b.conclusion,
            note: b.note.filter(|n| !n.is_empty()),
        }),
        ownership_files: done::<OwnershipFiles>(steps),
        security_baseline: done::<SecurityBaseline>(steps),
        branch_protection,
    }
}

/// Why a failed service stopped, in words.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub step: Option<&'static str>,
    pub message: String,
}

pub fn failure(service: &Service) -> Option<Failure> {
    if !matches!(service.status, ServiceStatus::Failed | ServiceStatus::DeleteFailed) {
        return None;
    }
    Some(Failure {
        step: service.error_step.map(|step| steps::def(step).label),
        message: service.error_message.clone().unwrap_or_else(|| "No error message was recorded.".into()),
    })
}

/// What `/services/{name}/progress` answers; the page's script applies it to the DOM.
#[derive(Debug, Serialize)]
pub struct Progress {
    pub status: ServiceStatus,
    /// Nothing more will change until a person acts: the script stops polling.
    pub terminal: bool,
    pub steps: Vec<StepView>,
    pub outputs: Outputs,
    pub failure: Option<Failure>,
}

pub fn progress(service: &Service, steps: &[Step], now: OffsetDateTime) -> Progress {
    let status = service.status;
    Progress {
        status,
        terminal: status.is_terminal(),
        steps: step_views(steps, now),
        outputs: outputs(service, steps),
        failure: failure(service),
    }
}

/// The API's view of a service.
pub fn service_json(service: &Service) -> Value {
    serde_json::json!({
        "name": service.name,
        "status": service.status,
        "environment": service.environment,
        "visibility": service.visibility,
        "template": service.template,
        "default_branch": service.default_branch,
        "description": service.description,
        "team": service.team,
        "created_by": service.created_by_login,
        "created_at": service.created_at.format(&time::format_description::well_known::Rfc3339).ok(),
        "urls": {
            "html": service.html_url,
            "ssh": service.ssh_url,
            "ecr_repository": service.ecr_repository_uri,
            "role_arn": service.role_arn,
        },
        "error": service.error_message.as_ref().map(|m| serde_json::json!({"step": service.error_step, "message": m})),
        "links": {
            "self": format!("/api/v1/services/{}", service.name),
            "page": format!("/services/{}", service.name),
            "progress": format!("/services/{}/progress", service.name),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(describe_ms(20), "< 0.1 s");
        assert_eq!(describe_ms(420), "0.4 s");
        assert_eq!(describe_ms(12_900), "12 s");
        assert_eq!(describe_ms(185_000), "3 min 5 s");
    }
}
