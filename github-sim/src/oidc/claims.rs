//! The claims of an Actions OIDC token and its `sub`, as docs.github.com "OpenID Connect reference" lists them.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::model::{Repo, Run, SubjectTemplate};

/// What `claims_supported` advertises (the claims [`claims`] fills, plus GitHub's enterprise ones).
pub(super) const SUPPORTED: &[&str] = &[
    "sub",
    "aud",
    "exp",
    "iat",
    "iss",
    "jti",
    "nbf",
    "ref",
    "sha",
    "repository",
    "repository_id",
    "repository_owner",
    "repository_owner_id",
    "enterprise",
    "enterprise_id",
    "run_id",
    "run_number",
    "run_attempt",
    "actor",
    "actor_id",
    "workflow",
    "workflow_ref",
    "workflow_sha",
    "head_ref",
    "base_ref",
    "event_name",
    "ref_type",
    "ref_protected",
    "environment",
    "job_workflow_ref",
    "job_workflow_sha",
    "repository_visibility",
    "runner_environment",
];

/// The run an OIDC token is minted for.
pub(crate) struct RunContext<'a> {
    pub repo: &'a Repo,
    pub run: &'a Run,
    /// 0-based index into `run.attempts`.
    pub attempt: usize,
    pub actor_login: &'a str,
    pub actor_id: u64,
    /// The organization's `include_claim_keys`, if it set a template.
    pub org_template: Option<&'a [String]>,
}

/// Every claim, `sub` built from the repository's subject template.
pub(crate) fn claims(
    issuer: &str,
    audience: &str,
    at: OffsetDateTime,
    ctx: &RunContext,
) -> Map<String, Value> {
    let (repo, run) = (ctx.repo, ctx.run);
    let full = repo.full_name();
    let workflow_ref = format!("{full}/{}@{}", run.path, run.git_ref);
    let iat = at.unix_timestamp();
    let mut claims = json!({
        "jti": uuid::Uuid::new_v4().to_string(),
        "aud": audience,
        "ref": run.git_ref,
        "sha": run.head_sha,
        "repository": full,
        "repository_owner": repo.owner_login,
        "repository_owner_id": repo.owner_id.to_string(),
        "run_id": run.id.to_string(),
        "run_number": run.run_number.to_string(),
        "run_attempt": (ctx.attempt + 1).to_string(),
        "repository_visibility": repo.visibility,
        "repository_id": repo.id.to_string(),
        "actor_id": ctx.actor_id.to_string(),
        "actor": ctx.actor_login,
        "workflow": run.name,
        "head_ref": "",
        "base_ref": "",
        "event_name": run.event,
        "ref_protected": "false",
        "ref_type": if run.git_ref.starts_with("refs/tags/") { "tag" } else { "branch" },
        "workflow_ref": workflow_ref,
        "workflow_sha": run.head_sha,
        "job_workflow_ref": workflow_ref,
        "job_workflow_sha": run.head_sha,
        "runner_environment": "github-hosted",
        "iss": issuer,
        // GitHub's tokens are valid from ten minutes before issue for five minutes.
        "nbf": iat - 600,
        "exp": iat + 300,
        "iat": iat,
    });
    let Value::Object(ref mut map) = claims else { unreachable!("a JSON object literal") };
    if let Some(environment) = &run.job.environment {
        map.insert("environment".into(), json!(environment));
    }
    let sub = subject(ctx, map);
    map.insert("sub".into(), json!(sub));
    claims.as_object().cloned().unwrap_or_default()
}

/// `repo:...:ref:...` (or `:environment:NAME`) by default; with a custom template each key as `key:value`,
/// `repo` as `repo:OWNER/REPO` and `context` as the bare context, joined by `:`.
fn subject(ctx: &RunContext, claims: &Map<String, Value>) -> String {
    let repo = ctx.repo;
    let repo_part = if repo.immutable_subject {
        format!("{}@{}/{}@{}", repo.owner_login, repo.owner_id, repo.name, repo.id)
    } else {
        repo.full_name()
    };
    let context = match &ctx.run.job.environment {
        Some(environment) => format!("environment:{environment}"),
        None => format!("ref:{}", ctx.run.git_ref),
    };
    let default = ["repo".to_string(), "context".to_string()];
    let keys: &[String] = match &repo.subject_template {
        SubjectTemplate::Default => &default,
        SubjectTemplate::Custom(keys) => keys,
        SubjectTemplate::Organization => ctx.org_template.unwrap_or(&default),
    };
    keys.iter()
        .map(|key| match key.as_str() {
            "repo" => format!("repo:{repo_part}"),
            "context" => context.clone(),
            other => {
                let value = claims.get(other).and_then(Value::as_str).unwrap_or_default();
                format!("{other}:{value}")
            }
        })
        .collect::<Vec<_>>()
        .join(":")
}
