//! GitHub Actions calls: repository secrets, workflow runs, re-runs and dispatches.

use futures::future::try_join_all;
use http::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    classify::error,
    client::{GitHub, repo_path, seg},
    models::{DispatchOutcome, Workflow, WorkflowRun},
    secrets::seal,
};
use crate::provider::{ErrorKind, ProviderError};

/// GitHub's page size limit; a new repository has far fewer runs, secrets and workflows than this.
const PER_PAGE: &str = "100";

/// A repository's Actions public key (`GET .../actions/secrets/public-key`): what secret values are
/// sealed to. It is public, so a step may record it and later steps seal without fetching it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionsKey {
    pub key_id: String,
    pub key: String,
}

#[derive(Deserialize)]
struct SecretsJson {
    secrets: Vec<SecretJson>,
}

#[derive(Deserialize)]
struct SecretJson {
    name: String,
}

#[derive(Deserialize)]
struct JobsJson {
    jobs: Vec<JobJson>,
}

#[derive(Deserialize)]
struct JobJson {
    id: u64,
    #[serde(default)]
    conclusion: Option<String>,
}

#[derive(Deserialize)]
struct RunsJson {
    workflow_runs: Vec<WorkflowRun>,
}

#[derive(Deserialize)]
struct WorkflowsJson {
    workflows: Vec<Workflow>,
}

#[derive(Deserialize)]
struct DispatchJson {
    workflow_run_id: u64,
    #[serde(default)]
    html_url: String,
}

impl GitHub {
    /// Creates or updates the Actions secret `secret_name` (see [`GitHub::put_secrets`]).
    pub async fn put_secret(
        &self,
        owner: &str,
        name: &str,
        secret_name: &str,
        value: &SecretString,
    ) -> Result<(), ProviderError> {
        self.put_secrets(owner, name, &[(secret_name, value.clone())]).await
    }

    /// Creates or updates Actions secrets: fetches the repository's public key, then
    /// [`GitHub::put_sealed_secrets`].
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}"), secrets = secrets.len()))]
    pub async fn put_secrets(
        &self,
        owner: &str,
        name: &str,
        secrets: &[(&str, SecretString)],
    ) -> Result<(), ProviderError> {
        let key = self.actions_public_key(owner, name).await?;
        self.put_sealed_secrets(owner, name, &key, secrets).await
    }

    /// The repository's Actions public key.
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}")))]
    pub async fn actions_public_key(&self, owner: &str, name: &str) -> Result<ActionsKey, ProviderError> {
        let path = format!("{}/actions/secrets/public-key", repo_path(owner, name));
        self.call("github:secret_public_key", Method::GET, &path, None, &[]).await?.json("public key")
    }

    /// Seals each value to `key` and stores them all at once: they are independent, and the budget
    /// paces writes under GitHub's secondary limits, so sending them together costs one round trip
    /// instead of one per secret. GitHub answers 201 (created) or 204 (updated); both are success.
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}"), secrets = secrets.len()))]
    pub async fn put_sealed_secrets(
        &self,
        owner: &str,
        name: &str,
        key: &ActionsKey,
        secrets: &[(&str, SecretString)],
    ) -> Result<(), ProviderError> {
        let base = format!("{}/actions/secrets", repo_path(owner, name));
        let puts = secrets.iter().map(|(secret_name, value)| {
            let base = &base;
            async move {
                let sealed = seal(&key.key, value.expose_secret().as_bytes()).map_err(|e| {
                    error(ErrorKind::Other, format!("could not encrypt secret {secret_name}: {e}"))
                })?;
                let body = json!({ "encrypted_value": sealed, "key_id": key.key_id });
                let path = format!("{base}/{}", seg(secret_name));
                self.call("github:put_secret", Method::PUT, &path, Some(&body), &[]).await
            }
        });
        try_join_all(puts).await?;
        Ok(())
    }

    /// Names of the repository's Actions secrets (GitHub never returns values).
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}")))]
    pub async fn secret_names(&self, owner: &str, name: &str) -> Result<Vec<String>, ProviderError> {
        let path = format!("{}/actions/secrets?per_page={PER_PAGE}", repo_path(owner, name));
        let secrets: SecretsJson =
            self.call("github:list_secrets", Method::GET, &path, None, &[]).await?.json("secrets")?;
        Ok(secrets.secrets.into_iter().map(|s| s.name).collect())
    }

    /// The most recent workflow runs (newest first, up to 100), optionally only of one branch or event.
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}")))]
    pub async fn list_runs(
        &self,
        owner: &str,
        name: &str,
        branch: Option<&str>,
        event: Option<&str>,
    ) -> Result<Vec<WorkflowRun>, ProviderError> {
        self.runs_page(owner, name, PER_PAGE, branch, event).await
    }

    /// The `count` latest workflow runs of every branch and event, newest first (one small page).
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}")))]
    pub async fn recent_runs(
        &self,
        owner: &str,
        name: &str,
        count: u8,
    ) -> Result<Vec<WorkflowRun>, ProviderError> {
        let mut runs = self.runs_page(owner, name, &count.to_string(), None, None).await?;
        // A server that ignores `per_page` still shows no more than asked.
        runs.truncate(count.into());
        Ok(runs)
    }

    async fn runs_page(
        &self,
        owner: &str,
        name: &str,
        per_page: &str,
        branch: Option<&str>,
        event: Option<&str>,
    ) -> Result<Vec<WorkflowRun>, ProviderError> {
        // Built in its own scope: the serializer is not `Send` and must not live across the await.
        let query = {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query.append_pair("per_page", per_page);
            if let Some(branch) = branch {
                query.append_pair("branch", branch);
            }
            if let Some(event) = event {
                query.append_pair("event", event);
            }
            query.finish()
        };
        let path = format!("{}/actions/runs?{query}", repo_path(owner, name));
        let runs: RunsJson =
            self.call("github:list_runs", Method::GET, &path, None, &[]).await?.json("runs")?;
        Ok(runs.workflow_runs)
    }

    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}"), run_id = run_id))]
    pub async fn get_run(&self, owner: &str, name: &str, run_id: u64) -> Result<WorkflowRun, ProviderError> {
        let path = format!("{}/actions/runs/{run_id}", repo_path(owner, name));
        self.call("github:get_run", Method::GET, &path, None, &[]).await?.json("workflow run")
    }

    /// Re-runs the failed jobs of a completed run; the new attempt reads the repository's secrets afresh.
    /// GitHub refuses (403) while the run is still going.
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}"), run_id = run_id))]
    pub async fn rerun_failed_jobs(&self, owner: &str, name: &str, run_id: u64) -> Result<(), ProviderError> {
        let path = format!("{}/actions/runs/{run_id}/rerun-failed-jobs", repo_path(owner, name));
        self.call("github:rerun_failed_jobs", Method::POST, &path, Some(&json!({})), &[]).await?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}")))]
    pub async fn list_workflows(&self, owner: &str, name: &str) -> Result<Vec<Workflow>, ProviderError> {
        let path = format!("{}/actions/workflows?per_page={PER_PAGE}", repo_path(owner, name));
        let workflows: WorkflowsJson =
            self.call("github:list_workflows", Method::GET, &path, None, &[]).await?.json("workflows")?;
        Ok(workflows.workflows)
    }

    /// Starts `workflow` (numeric id or file name such as `build.yml`) on `git_ref`. A workflow without
    /// an `on: workflow_dispatch` trigger is [`ErrorKind::Invalid`] (GitHub answers 422).
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}"), workflow = %workflow, git_ref = %git_ref))]
    pub async fn dispatch_workflow(
        &self,
        owner: &str,
        name: &str,
        workflow: &str,
        git_ref: &str,
    ) -> Result<DispatchOutcome, ProviderError> {
        let path = format!("{}/actions/workflows/{}/dispatches", repo_path(owner, name), seg(workflow));
        // Servers that know `return_run_details` answer 200 with the run; the others answer 204.
        let body = json!({ "ref": git_ref, "return_run_details": true });
        let reply = self.call("github:dispatch_workflow", Method::POST, &path, Some(&body), &[]).await?;
        if reply.status == 204 || reply.body.is_empty() {
            return Ok(DispatchOutcome::Accepted);
        }
        let run: DispatchJson = reply.json("dispatch")?;
        Ok(DispatchOutcome::Started { run_id: run.workflow_run_id, html_url: run.html_url })
    }

    /// Why a failed run failed, in the runner's own words: the first `Error:` line of the log of its
    /// first failed job (GitHub answers the log request with a redirect to plain text). `None` when
    /// the jobs or the log cannot be read; this is a nicety for the message, never a reason to fail.
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}"), run_id = run_id))]
    pub async fn failure_cause(&self, owner: &str, name: &str, run_id: u64) -> Option<String> {
        let path = format!("{}/actions/runs/{run_id}/jobs", repo_path(owner, name));
        let jobs: JobsJson =
            self.call("github:list_jobs", Method::GET, &path, None, &[]).await.ok()?.json("jobs").ok()?;
        let job = jobs.jobs.iter().find(|j| j.conclusion.as_deref() == Some("failure"))?;
        let path = format!("{}/actions/jobs/{}/logs", repo_path(owner, name), job.id);
        let log = self.call("github:job_logs", Method::GET, &path, None, &[]).await.ok()?;
        let text = String::from_utf8_lossy(&log.body);
        let line = text
            .lines()
            .map(strip_log_timestamp)
            .find(|l| l.starts_with("Error:") || l.starts_with("##[error]"))?;
        let line = line.trim_start_matches("##[error]").trim();
        Some(line.chars().take(500).collect())
    }
}

/// Actions log lines start with an RFC 3339 timestamp and a space.
fn strip_log_timestamp(line: &str) -> &str {
    match line.split_once(' ') {
        Some((stamp, rest)) if stamp.len() >= 20 && stamp.as_bytes()[4] == b'-' && stamp.contains('T') => {
            rest
        }
        _ => line,
    }
}
