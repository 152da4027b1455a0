//! Files committed through the contents API and the repository's security baseline: secret scanning
//! (`security_and_analysis`), Dependabot alerts (`vulnerability-alerts`), Dependabot security updates
//! (`automated-security-fixes`) and topics.
//!
//! Permissions (GitHub App): Contents write for the files; Administration write for the rest
//! (Administration read to look at the switches). A classic token needs `repo` and admin rights.

use base64::Engine as _;
use http::Method;
use serde::Deserialize;
use serde_json::json;

use super::{
    classify::error,
    client::{GitHub, repo_path, seg},
};
use crate::provider::{ErrorKind, ProviderError};

/// A file at a branch's head: its blob sha and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoFile {
    pub sha: String,
    pub text: String,
}

/// How switching a feature on ended: on, or refused for the plan or licence with GitHub's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Switched {
    On,
    Unavailable(String),
}

#[derive(Deserialize)]
struct ContentJson {
    #[serde(default)]
    sha: String,
    #[serde(default)]
    content: Option<String>,
    #[serde(default, rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct CommitReply {
    commit: CommitJson,
}

#[derive(Deserialize)]
struct CommitJson {
    sha: String,
}

#[derive(Deserialize)]
struct FixesJson {
    enabled: bool,
}

#[derive(Deserialize)]
struct TopicsJson {
    names: Vec<String>,
}

impl GitHub {
    /// The file at `path` on `branch`, or `None` when there is none (404; a directory is not a file).
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}"), path = %path))]
    pub async fn get_file(
        &self,
        owner: &str,
        name: &str,
        path: &str,
        branch: &str,
    ) -> Result<Option<RepoFile>, ProviderError> {
        let path = format!("{}/contents/{}?ref={}", repo_path(owner, name), file_path(path), seg(branch));
        let reply = self.call("github:get_file", Method::GET, &path, None, &[404]).await?;
        if reply.status == 404 {
            return Ok(None);
        }
        let Ok(file) = reply.json::<ContentJson>("file") else { return Ok(None) };
        if file.kind != "file" {
            return Ok(None);
        }
        let encoded: String = file.content.unwrap_or_default().split_whitespace().collect();
        let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|e| {
            error(ErrorKind::Other, format!("GitHub sent {path} in base64 that does not decode: {e}"))
        })?;
        Ok(Some(RepoFile { sha: file.sha, text: String::from_utf8_lossy(&bytes).into_owned() }))
    }

    /// Creates `path` on `branch` with `text` in one commit; the new commit's sha. A file already there
    /// is GitHub's 422 (its sha was not given): callers read first.
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}"), path = %path))]
    pub async fn create_file(
        &self,
        owner: &str,
        name: &str,
        path: &str,
        branch: &str,
        message: &str,
        text: &str,
    ) -> Result<Result<String, String>, ProviderError> {
        let body = json!({
            "message": message,
            "content": base64::engine::general_purpose::STANDARD.encode(text),
            "branch": branch,
        });
        let url = format!("{}/contents/{}", repo_path(owner, name), file_path(path));
        let reply = self.call("github:create_file", Method::PUT, &url, Some(&body), &[409]).await?;
        if reply.status == 409 {
            // The branch's rules (a ruleset's pull request rule, say) refuse a direct commit: GitHub's
            // words, for the step to report. Any other conflict is an error.
            let message = reply.message();
            if message.starts_with("Repository rule violations found") {
                return Ok(Err(message.split_whitespace().collect::<Vec<_>>().join(" ")));
            }
            return Err(reply.into_error(self.retry.max_delay));
        }
        Ok(Ok(reply.json::<CommitReply>("commit")?.commit.sha))
    }

    /// Switches secret scanning and push protection on. GitHub's 422 for a private repository of an
    /// organization without the licence is [`Switched::Unavailable`] with its message.
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}")))]
    pub async fn enable_secret_scanning(&self, owner: &str, name: &str) -> Result<Switched, ProviderError> {
        let on = json!({ "status": "enabled" });
        let body = json!({ "security_and_analysis": { "secret_scanning": on, "secret_scanning_push_protection": on } });
        let reply = self
            .call("github:security_and_analysis", Method::PATCH, &repo_path(owner, name), Some(&body), &[422])
            .await?;
        if reply.status == 422 {
            return Ok(Switched::Unavailable(reply.into_error(self.retry.max_delay).message));
        }
        Ok(Switched::On)
    }

    /// Whether Dependabot alerts are on (GitHub: 204 on, 404 off).
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}")))]
    pub async fn vulnerability_alerts(&self, owner: &str, name: &str) -> Result<bool, ProviderError> {
        let path = format!("{}/vulnerability-alerts", repo_path(owner, name));
        let reply = self.call("github:vulnerability_alerts", Method::GET, &path, None, &[404]).await?;
        Ok(reply.status.as_u16() == 204)
    }

    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}")))]
    pub async fn enable_vulnerability_alerts(
        &self,
        owner: &str,
        name: &str,
    ) -> Result<Switched, ProviderError> {
        let path = format!("{}/vulnerability-alerts", repo_path(owner, name));
        let reply = self.call("github:enable_vulnerability_alerts", Method::PUT, &path, None, &[422]).await?;
        if reply.status == 422 {
            return Ok(Switched::Unavailable(reply.into_error(self.retry.max_delay).message));
        }
        Ok(Switched::On)
    }

    /// Whether Dependabot security updates are on.
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}")))]
    pub async fn automated_security_fixes(&self, owner: &str, name: &str) -> Result<bool, ProviderError> {
        let path = format!("{}/automated-security-fixes", repo_path(owner, name));
        let reply = self.call("github:automated_security_fixes", Method::GET, &path, None, &[]).await?;
        Ok(reply.json::<FixesJson>("automated security fixes")?.enabled)
    }

    /// Switches Dependabot security updates on (they need the alerts: GitHub's 422 otherwise).
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}")))]
    pub async fn enable_automated_security_fixes(
        &self,
        owner: &str,
        name: &str,
    ) -> Result<Switched, ProviderError> {
        let path = format!("{}/automated-security-fixes", repo_path(owner, name));
        let reply =
            self.call("github:enable_automated_security_fixes", Method::PUT, &path, None, &[422]).await?;
        if reply.status == 422 {
            return Ok(Switched::Unavailable(reply.into_error(self.retry.max_delay).message));
        }
        Ok(Switched::On)
    }

    /// Replaces the repository's topics with `names` (GitHub stores them lowercase); what it stored.
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}")))]
    pub async fn replace_topics(
        &self,
        owner: &str,
        name: &str,
        names: &[String],
    ) -> Result<Vec<String>, ProviderError> {
        let path = format!("{}/topics", repo_path(owner, name));
        let body = json!({ "names": names });
        let reply = self.call("github:replace_topics", Method::PUT, &path, Some(&body), &[]).await?;
        Ok(reply.json::<TopicsJson>("topics")?.names)
    }
}

/// A repository path with each segment percent-encoded and the slashes kept.
fn file_path(path: &str) -> String {
    path.split('/').map(seg).collect::<Vec<_>>().join("/")
}
