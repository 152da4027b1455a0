//! Repository calls: generate from a template, wait for its content, branches, OIDC subject, teardown.

use std::time::Duration;

use http::Method;
use serde::Deserialize;
use serde_json::json;
use tokio::time::{Instant, sleep};

use super::{
    classify::error,
    client::{GitHub, next_poll_delay, repo_path, seg},
    models::{Repo, RepoJson},
};
use crate::provider::{ErrorKind, ProviderError};

/// `GET .../actions/oidc/customization/sub` (github.com since 2026 adds the two immutable-subject fields).
#[derive(Deserialize)]
struct SubClaimJson {
    #[serde(default)]
    sub_claim_prefix: Option<String>,
    #[serde(default)]
    use_immutable_subject: bool,
    #[serde(default = "yes")]
    use_default: bool,
}

fn yes() -> bool {
    true
}

impl GitHub {
    /// The repository, or `None` when it does not exist or the token cannot see it (GitHub answers 404
    /// for both). A renamed repository is followed to its new name; compare [`Repo::id`].
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}")))]
    pub async fn find_repo(&self, owner: &str, name: &str) -> Result<Option<Repo>, ProviderError> {
        let reply = self.call("github:get_repo", Method::GET, &repo_path(owner, name), None, &[404]).await?;
        if reply.status == 404 {
            return Ok(None);
        }
        Ok(Some(reply.json::<RepoJson>("repository")?.into()))
    }

    /// The repository with this id wherever it now lives (renamed or transferred), or `None` when it
    /// is gone or invisible to us. Steps after creation address the repository this way, so a
    /// repository that took over the old name never receives what was meant for ours.
    #[tracing::instrument(skip_all, fields(repo_id = id))]
    pub async fn find_repo_by_id(&self, id: u64) -> Result<Option<Repo>, ProviderError> {
        let reply =
            self.call("github:get_repo", Method::GET, &format!("/repositories/{id}"), None, &[404]).await?;
        if reply.status == 404 {
            return Ok(None);
        }
        Ok(Some(reply.json::<RepoJson>("repository")?.into()))
    }

    /// Whether `owner/name` exists, is visible to us and is marked as a template repository.
    pub async fn template_is_usable(&self, owner: &str, name: &str) -> Result<bool, ProviderError> {
        Ok(self.find_repo(owner, name).await?.is_some_and(|r| r.is_template))
    }

    /// Creates `owner/name` from a template. GitHub answers at once; the git content lands later, see
    /// [`GitHub::wait_for_branch`]. A taken name is [`ErrorKind::Conflict`]. After a timeout GitHub may
    /// have created the repository anyway, so a retry can also end in `Conflict`: callers that own the
    /// name check with [`GitHub::find_repo`] whether the repository is theirs.
    #[tracing::instrument(skip_all, fields(template = %format!("{template_owner}/{template_name}"), repo = %format!("{owner}/{name}")))]
    pub async fn generate_repo(
        &self,
        template_owner: &str,
        template_name: &str,
        owner: &str,
        name: &str,
        description: Option<&str>,
        private: bool,
    ) -> Result<Repo, ProviderError> {
        let mut body =
            json!({ "owner": owner, "name": name, "include_all_branches": false, "private": private });
        if let Some(description) = description {
            body["description"] = json!(description);
        }
        let path = format!("{}/generate", repo_path(template_owner, template_name));
        let reply = self.call("github:generate", Method::POST, &path, Some(&body), &[]).await?;
        Ok(reply.json::<RepoJson>("repository")?.into())
    }

    /// Sets `public`, `private` or `internal` (the last one only exists for organization repositories
    /// and cannot be asked for at generation time).
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}"), visibility = %visibility))]
    pub async fn set_visibility(
        &self,
        owner: &str,
        name: &str,
        visibility: &str,
    ) -> Result<(), ProviderError> {
        let body = json!({ "visibility": visibility });
        self.call("github:set_visibility", Method::PATCH, &repo_path(owner, name), Some(&body), &[]).await?;
        Ok(())
    }

    /// Whether `branch` exists and has content. An empty repository (409 "Git Repository is empty.",
    /// generation still copying) counts as "not yet", like a missing branch.
    pub async fn branch_exists(&self, owner: &str, name: &str, branch: &str) -> Result<bool, ProviderError> {
        let path = format!("{}/branches/{}", repo_path(owner, name), seg(branch));
        let reply = self.call("github:get_branch", Method::GET, &path, None, &[404, 409]).await?;
        Ok(reply.status.is_success())
    }

    /// Polls until `branch` has content: template generation is asynchronous. Running out of time is
    /// [`ErrorKind::Transient`]: GitHub is slow, not refusing.
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}"), branch = %branch))]
    pub async fn wait_for_branch(
        &self,
        owner: &str,
        name: &str,
        branch: &str,
        timeout: Duration,
    ) -> Result<(), ProviderError> {
        let deadline = Instant::now() + timeout;
        let mut delay = self.retry.first_delay;
        loop {
            if self.branch_exists(owner, name, branch).await? {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(error(
                    ErrorKind::Transient,
                    format!(
                        "GitHub did not finish generating {owner}/{name} within {timeout:?}: \
                         branch {branch} has no content yet"
                    ),
                ));
            }
            sleep(delay.min(deadline - now)).await;
            delay = next_poll_delay(delay, &self.retry);
        }
    }

    /// Renames a branch; renaming the default branch makes the new name the default.
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}"), from = %from, to = %to))]
    pub async fn rename_branch(
        &self,
        owner: &str,
        name: &str,
        from: &str,
        to: &str,
    ) -> Result<(), ProviderError> {
        let path = format!("{}/branches/{}/rename", repo_path(owner, name), seg(from));
        let body = json!({ "new_name": to });
        self.call("github:rename_branch", Method::POST, &path, Some(&body), &[]).await?;
        Ok(())
    }

    /// The prefix of the OIDC `sub` claim GitHub Actions runs of `repo` present, e.g.
    /// `repo:acme@1000/svc@42` (immutable subjects) or `repo:acme/svc`. Only when the endpoint does not
    /// exist (GitHub Enterprise Server) do we fall back to the name-based form.
    #[tracing::instrument(skip_all, fields(repo = %repo.full_name))]
    pub async fn oidc_sub_claim_prefix(&self, repo: &Repo) -> Result<String, ProviderError> {
        let path = format!("{}/actions/oidc/customization/sub", repo_path(&repo.owner, &repo.name));
        let reply = self.call("github:oidc_sub", Method::GET, &path, None, &[404]).await?;
        if reply.status == 404 {
            // 404 is also GitHub's answer for a repository that is gone: only a visible repository
            // proves that the endpoint itself is what is missing.
            return match self.find_repo(&repo.owner, &repo.name).await? {
                Some(_) => Ok(format!("repo:{}", repo.full_name)),
                None => {
                    Err(error(ErrorKind::NotFound, format!("404 repository {} not found", repo.full_name)))
                }
            };
        }
        let sub: SubClaimJson = reply.json("OIDC subject customization")?;
        let prefix = self.prefix_of(repo, sub)?;
        // Never verbatim: a wildcard or another repository's ids would widen every trust (H2).
        crate::domain::SubjectPrefix::parse(&prefix, repo.owner_id, repo.id)
            .map_err(|why| error(ErrorKind::Invalid, why))?;
        Ok(prefix)
    }

    /// The prefix GitHub's answer names, before it is checked.
    fn prefix_of(&self, repo: &Repo, sub: SubClaimJson) -> Result<String, ProviderError> {
        // github.com reports a `sub_claim_prefix` even for a customized template, so the template
        // is checked first: its tokens carry other claims after the prefix, which the trust would miss.
        match sub {
            SubClaimJson { use_default: false, .. } => Err(error(
                ErrorKind::Invalid,
                format!(
                    "{} uses a customized OIDC subject template; Shipyard only builds trust for the \
                     default subject (set use_default to true for this repository, or remove the \
                     organization's template)",
                    repo.full_name
                ),
            )),
            SubClaimJson { sub_claim_prefix: Some(prefix), .. } if !prefix.is_empty() => Ok(prefix),
            SubClaimJson { use_immutable_subject: true, .. } => {
                Ok(format!("repo:{}@{}/{}@{}", repo.owner, repo.owner_id, repo.name, repo.id))
            }
            SubClaimJson { use_default: true, .. } => Ok(format!("repo:{}", repo.full_name)),
        }
    }

    /// Deletes the repository. Already gone (404) counts as done.
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}")))]
    pub async fn delete_repo(&self, owner: &str, name: &str) -> Result<(), ProviderError> {
        self.call("github:delete_repo", Method::DELETE, &repo_path(owner, name), None, &[404]).await?;
        Ok(())
    }

    /// Archives the repository instead of deleting it (the user keeps the code). Already gone (404)
    /// counts as done, like [`GitHub::delete_repo`].
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}")))]
    pub async fn archive_repo(&self, owner: &str, name: &str) -> Result<(), ProviderError> {
        let body = json!({ "archived": true });
        self.call("github:archive_repo", Method::PATCH, &repo_path(owner, name), Some(&body), &[404]).await?;
        Ok(())
    }
}
