//! The delete steps. Each treats "not found" as done and touches only what is ours: AWS resources
//! by their `shipyard:service-id` tag, the GitHub repository by its recorded id.

use serde::{Deserialize, Serialize};

use super::{
    Cx, Ensured, Phase, Step,
    github::{GENERATE_WINDOW, GithubRepository, is_ours_within},
    preflight::Preflight,
    webhook::GithubWebhook,
};
use crate::{aws::Ownership, domain::StepName, provider::ProviderError};

/// What a delete step did to one resource.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Teardown {
    #[serde(default)]
    pub name: String,
    /// `deleted`, `archived`, `already gone`, or why it was left alone.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
}

const LEFT_ALONE: &str = "left alone: not created by Shipyard for this service";

impl Teardown {
    pub(super) fn of(name: &str, outcome: &str) -> Ensured<Self> {
        Ensured::Done(Self { name: name.to_owned(), outcome: outcome.to_owned(), full_name: None })
    }

    /// A resource that is gone needs nothing; one that is someone else's (it may be why preflight
    /// failed) is left exactly as it is.
    pub(super) fn untouched(name: &str, ownership: Ownership) -> Ensured<Self> {
        Self::of(name, if ownership == Ownership::Foreign { LEFT_ALONE } else { "already gone" })
    }
}

/// The IAM names preflight checked (and so the ones that were made), else today's derivation.
fn iam_names(cx: &Cx<'_>) -> Result<(String, String), ProviderError> {
    Ok(match cx.recorded::<Preflight>()? {
        Some(p) => (p.role_name, p.policy_name),
        None => (cx.iam.role.clone(), cx.iam.policy.clone()),
    })
}

pub struct DeleteRole;

impl Step for DeleteRole {
    const NAME: StepName = StepName::DeleteRole;
    const LABEL: &'static str = "Delete the IAM role";
    const PHASE: Phase = Phase::Delete;
    // IAM goes first so a recycled repository name can never assume a role left behind.
    const DEPENDS_ON: &'static [StepName] = &[];
    type Output = Teardown;

    async fn ensure(cx: &Cx<'_>) -> Result<Ensured<Teardown>, ProviderError> {
        let (aws, id) = (&cx.providers.aws, cx.service.service_id);
        let (role, _) = iam_names(cx)?;
        match aws.role_ownership(&role, id).await? {
            Ownership::Ours => {
                aws.delete_role(&role, id).await?;
                Ok(Teardown::of(&role, "deleted"))
            }
            other => Ok(Teardown::untouched(&role, other)),
        }
    }
}

pub struct DeletePolicy;

impl Step for DeletePolicy {
    const NAME: StepName = StepName::DeletePolicy;
    const LABEL: &'static str = "Delete the IAM policy";
    const PHASE: Phase = Phase::Delete;
    const DEPENDS_ON: &'static [StepName] = &[StepName::DeleteRole, StepName::DeletePushRole];
    type Output = Teardown;

    async fn ensure(cx: &Cx<'_>) -> Result<Ensured<Teardown>, ProviderError> {
        let (aws, id) = (&cx.providers.aws, cx.service.service_id);
        let (_, policy) = iam_names(cx)?;
        match aws.policy_ownership(&policy, id).await? {
            Ownership::Ours => {
                aws.delete_policy(&policy, id).await?;
                Ok(Teardown::of(&policy, "deleted"))
            }
            other => Ok(Teardown::untouched(&policy, other)),
        }
    }
}

pub struct DeleteEcrRepository;

impl Step for DeleteEcrRepository {
    const NAME: StepName = StepName::DeleteEcrRepository;
    const LABEL: &'static str = "Delete the ECR repository and its images";
    const PHASE: Phase = Phase::Delete;
    const DEPENDS_ON: &'static [StepName] = &[StepName::DeleteRole, StepName::DeletePushRole];
    type Output = Teardown;

    async fn ensure(cx: &Cx<'_>) -> Result<Ensured<Teardown>, ProviderError> {
        let (aws, id, name) = (&cx.providers.aws, cx.service.service_id, cx.name.as_str());
        match aws.ecr_repository_ownership(name, id).await? {
            Ownership::Ours => {
                aws.delete_ecr_repository(name, id).await?;
                Ok(Teardown::of(name, "deleted"))
            }
            other => Ok(Teardown::untouched(name, other)),
        }
    }
}

pub struct DeleteGithubRepository;

impl Step for DeleteGithubRepository {
    const NAME: StepName = StepName::DeleteGithubRepository;
    const LABEL: &'static str = "Delete (or archive) the GitHub repository";
    const PHASE: Phase = Phase::Delete;
    const DEPENDS_ON: &'static [StepName] = &[StepName::DeleteRole, StepName::DeletePushRole];
    type Output = Teardown;

    /// Deletes (or archives, when the user keeps the code, after removing its webhook) the repository whose id we recorded,
    /// under whatever name it has now. Without a recorded id (provisioning stopped between the
    /// create call and recording it), only a repository from our template created inside the
    /// window in which that step ran is ours; anything else is left alone and said so.
    async fn ensure(cx: &Cx<'_>) -> Result<Ensured<Teardown>, ProviderError> {
        let github = &cx.providers.github;
        let (org, name) = (cx.org(), cx.name.as_str());
        let repo = match cx.recorded::<GithubRepository>()? {
            Some(recorded) => match github.find_repo_by_id(recorded.id).await? {
                Some(repo) => repo,
                None => return Ok(Teardown::of(&recorded.full_name, "already gone")),
            },
            None => {
                let Some(repo) = github.find_repo(org, name).await? else {
                    return Ok(Teardown::of(&format!("{org}/{name}"), "already gone"));
                };
                let window_end = cx
                    .finished_at(StepName::GithubRepository)
                    .or_else(|| cx.started_at(StepName::GithubRepository).map(|at| at + GENERATE_WINDOW));
                match window_end {
                    Some(end) if is_ours_within(&repo, cx, end) => repo,
                    _ => {
                        tracing::warn!(repo = %repo.full_name, "a repository with the service's name is not ours; left alone");
                        return Ok(Teardown::of(&repo.full_name, LEFT_ALONE));
                    }
                }
            }
        };
        let outcome = if cx.service.keep_repository {
            // Archived already (a drifted service someone archived): GitHub refuses the PATCH, and
            // an archived repository runs no workflows, so its hook has nothing left to say.
            if !repo.archived {
                // The kept repository must stop telling Shipyard about its runs; removed first,
                // since an archived repository is read-only.
                if let Some(hook_id) = cx.recorded::<GithubWebhook>()?.and_then(|w| w.hook_id) {
                    github.delete_hook(&repo.owner, &repo.name, hook_id).await?;
                }
                github.archive_repo(&repo.owner, &repo.name).await?;
            }
            "archived"
        } else {
            github.delete_repo(&repo.owner, &repo.name).await?;
            "deleted"
        };
        Ok(Ensured::Done(Teardown {
            name: repo.full_name.clone(),
            outcome: outcome.to_owned(),
            full_name: Some(repo.full_name),
        }))
    }
}
