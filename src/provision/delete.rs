//! The delete steps. Each treats "not found" as done and touches only what is ours: AWS resources
//! by their `shipyard:service-id` tag, the GitHub repository by its recorded id.

use serde_json::{Value, json};

use super::{Providers, StepContext};
use crate::{
    domain::StepName,
    provider::{ErrorKind, ProviderError, System},
};

pub async fn run(step: StepName, p: &Providers, ctx: &StepContext) -> Result<Value, ProviderError> {
    let id = ctx.service.service_id;
    match step {
        StepName::DeleteRole => {
            p.aws.delete_role(&ctx.iam.role, id).await?;
            Ok(json!({ "name": ctx.iam.role }))
        }
        StepName::DeletePolicy => {
            p.aws.delete_policy(&ctx.iam.policy, id).await?;
            Ok(json!({ "name": ctx.iam.policy }))
        }
        StepName::DeleteEcrRepository => {
            p.aws.delete_ecr_repository(ctx.name.as_str(), id).await?;
            Ok(json!({ "name": ctx.name.as_str() }))
        }
        StepName::DeleteGithubRepository => github_repository(p, ctx).await,
        create_step => Err(ProviderError::new(
            System::Shipyard,
            ErrorKind::Other,
            format!("internal: {create_step} is not a delete step"),
        )),
    }
}

/// Deletes (or archives, when the user keeps the code) the repository whose id we recorded. A
/// repository with the same name but another id is someone else's and stays.
async fn github_repository(p: &Providers, ctx: &StepContext) -> Result<Value, ProviderError> {
    let (org, name) = (ctx.org(), ctx.name.as_str());
    let recorded = ctx.outputs.get(&StepName::GithubRepository).and_then(|o| o.get("id")).and_then(Value::as_u64);
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
