//! What the service page and its progress endpoint show, built from the service and step rows.
//! Provider values pass through as text; links are only made of http(s) URLs.

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use crate::{
    db::{services::Service, steps::Step},
    domain::{ServiceStatus, StepName, StepStatus},
};

/// One step as the person sees it.
#[derive(Debug, Clone, Serialize)]
pub struct StepView {
    pub name: &'static str,
    pub label: &'static str,
    pub status: &'static str,
    /// Finished minus started; for a running step, how long it has been running.
    pub duration_ms: Option<i64>,
    /// `duration_ms` in words ("1.2 s", "running for 4 s"), empty while pending.
    pub duration: String,
    pub attempts: i32,
    pub error: Option<String>,
}

/// The steps in the order they run (create steps, then delete steps if any), timed at `now`.
pub fn step_views(steps: &[Step], now: OffsetDateTime) -> Vec<StepView> {
    let mut known: Vec<(StepName, &Step)> = steps.iter().filter_map(|s| Some((s.name()?, s))).collect();
    known.sort_by_key(|(name, _)| StepName::ALL.iter().position(|n| n == name));
    known
        .into_iter()
        .map(|(name, step)| {
            let status = step.status();
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
            StepView {
                name: name.as_str(),
                label: name.label(),
                status: status.as_str(),
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
pub struct FirstBuild {
    pub run_url: Option<String>,
    /// `success`, `failure`, or none while the run is still going.
    pub conclusion: Option<String>,
    pub note: Option<String>,
}

/// What a ready service gives its team. Every field is empty until the step that makes it is done.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outputs {
    pub html_url: Option<String>,
    pub actions_url: Option<String>,
    pub ssh_url: Option<String>,
    pub clone_url: Option<String>,
    pub ecr_repository_uri: Option<String>,
    pub role_arn: Option<String>,
    pub first_build: Option<FirstBuild>,
}

fn output(steps: &[Step], step: StepName, key: &str) -> Option<String> {
    let step = steps.iter().find(|s| s.name() == Some(step))?;
    step.outputs.get(key).and_then(Value::as_str).filter(|v| !v.is_empty()).map(str::to_owned)
}

/// A value we are about to put in an `href`: only web URLs, never `javascript:` or the like.
fn web_url(url: Option<String>) -> Option<String> {
    url.filter(|u| u.starts_with("https://") || u.starts_with("http://"))
}

/// The outputs, preferring the copies on the service row and falling back to the step outputs.
pub fn outputs(service: &Service, steps: &[Step]) -> Outputs {
    let html_url =
        web_url(service.html_url.clone().or_else(|| output(steps, StepName::GithubRepository, "html_url")));
    let first_build =
        steps.iter().find(|s| s.name() == Some(StepName::FirstBuild) && s.status() == StepStatus::Done);
    Outputs {
        actions_url: html_url.as_ref().map(|u| format!("{}/actions", u.trim_end_matches('/'))),
        html_url,
        ssh_url: service.ssh_url.clone().or_else(|| output(steps, StepName::GithubRepository, "ssh_url")),
        clone_url: output(steps, StepName::GithubRepository, "clone_url"),
        ecr_repository_uri: service
            .ecr_repository_uri
            .clone()
            .or_else(|| output(steps, StepName::EcrRepository, "uri")),
        role_arn: service.role_arn.clone().or_else(|| output(steps, StepName::IamRole, "arn")),
        first_build: first_build.map(|_| FirstBuild {
            run_url: web_url(output(steps, StepName::FirstBuild, "run_url")),
            conclusion: output(steps, StepName::FirstBuild, "conclusion"),
            note: output(steps, StepName::FirstBuild, "note"),
        }),
    }
}

/// Why a failed service stopped, in words.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub step: Option<&'static str>,
    pub message: String,
}

pub fn failure(service: &Service) -> Option<Failure> {
    if !matches!(service.status(), ServiceStatus::Failed | ServiceStatus::DeleteFailed) {
        return None;
    }
    Some(Failure {
        step: service.error_step.as_deref().and_then(StepName::parse).map(StepName::label),
        message: service.error_message.clone().unwrap_or_else(|| "No error message was recorded.".into()),
    })
}

/// What `/services/{name}/progress` answers; the page's script applies it to the DOM.
#[derive(Debug, Serialize)]
pub struct Progress {
    pub status: &'static str,
    /// Nothing more will change until a person acts: the script stops polling.
    pub terminal: bool,
    pub steps: Vec<StepView>,
    pub outputs: Outputs,
    pub failure: Option<Failure>,
}

pub fn progress(service: &Service, steps: &[Step], now: OffsetDateTime) -> Progress {
    let status = service.status();
    Progress {
        status: status.as_str(),
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
