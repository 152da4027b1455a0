//! The delete steps. Each treats "not found" as done and touches only what is ours: AWS resources
//! by their `shipyard:service-id` tag, the GitHub repository by its recorded id.

use serde_json::{Value, json};

use super::{Providers, StepContext};
use crate::aws::Ownership;
use crate::{
    domain::StepName,
    provider::{ErrorKind, ProviderError, System},
};

pub async fn run(step: StepName, p: &Providers, ctx: &StepContext) -> Result<Value, ProviderError> {
    let id = ctx.service.service_id;
    let (role, policy, ecr) = (ctx.iam.role.as_str(), ctx.iam.policy.as_str(), ctx.name.as_str());
    match step {
        StepName::DeleteRole => match p.aws.role_ownership(role, id).await? {
            Ownership::Ours => {
                p.aws.delete_role(role, id).await?;
                Ok(json!({ "name": role, "outcome": "deleted" }))
            }
            other => Ok(untouched(role, other)),
        },
        StepName::DeletePolicy => match p.aws.policy_ownership(policy, id).await? {
            Ownership::Ours => {
                p.aws.delete_policy(policy, id).await?;
                Ok(json!({ "name": policy, "outcome": "deleted" }))
            }
            other => Ok(untouched(policy, other)),
        },
        StepName::DeleteEcrRepository => match p.aws.ecr_repository_ownership(ecr, id).await? {
            Ownership::Ours => {
                p.aws.delete_ecr_repository(ecr, id).await?;
                Ok(json!({ "name": ecr, "outcome": "deleted" }))
            }
            other => Ok(untouched(ecr, other)),
        },
        StepName::DeleteGithubRepository => github_repository(p, ctx).await,
        create_step => Err(ProviderError::new(
            System::Shipyard,
            ErrorKind::Other,
            format!("internal: {create_step} is not a delete step"),
        )),
    }
}

/// A resource that is gone needs nothing; one that is someone else's (it may be why preflight
/// failed) is left exactly as it is.
fn untouched(name: &str, ownership: Ownership) -> Value {
    let outcome = match ownership {
        Ownership::Foreign => "left alone: not created by Shipyard for this service",
        _ => "already gone",
    };
    json!({ "name": name, "outcome": outcome })
}

/// Deletes (or archives, when the user keeps the code) the repository whose id we recorded. A
/// repository with the same name but another id is someone else's and stays.
async fn github_repository(p: &Providers, ctx: &StepContext) -> Result<Value, ProviderError> {
    let (org, name) = (ctx.org(), ctx.name.as_str());
    let recorded =
        ctx.outputs.get(&StepName::GithubRepository).and_then(|o| o.get("id")).and_then(Value::as_u64);
    let Some(repo) = p.github.find_repo(org, name).await? else {
        return Ok(json!({ "outcome": "already gone" }));
    };
    let ours = match recorded {
        Some(id) => repo.id == id,
        // Provisioning stopped before the id was recorded: ours only if generated for this service.
        None => super::create::is_ours(&repo, ctx),
    };
    if !ours {
        return Ok(json!({ "outcome": "left alone: not created by Shipyard for this service" }));
    }
    if ctx.service.keep_repository {
        p.github.archive_repo(org, name).await?;
        Ok(json!({ "outcome": "archived", "full_name": repo.full_name }))
    } else {
        p.github.delete_repo(org, name).await?;
        Ok(json!({ "outcome": "deleted", "full_name": repo.full_name }))
    }
}
