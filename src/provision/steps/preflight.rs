//! Every name must be free (or already ours) in GitHub, ECR and IAM before anything is created.

use serde::{Deserialize, Serialize};

use super::{Cx, Ensured, Phase, Step, github::is_ours, taken};
use crate::{
    aws::Ownership,
    domain::StepName,
    provider::{ErrorKind, ProviderError, System},
};

pub struct Preflight;

/// The IAM names checked, recorded so deletion uses the names that were really made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PreflightOutput {
    pub role_name: String,
    pub policy_name: String,
}

impl Step for Preflight {
    const NAME: StepName = StepName::Preflight;
    const LABEL: &'static str = "Check that every name is free";
    const PHASE: Phase = Phase::Create;
    const DEPENDS_ON: &'static [StepName] = &[];
    type Output = PreflightOutput;

    /// The five look-ups are independent, so they run at once.
    async fn ensure(cx: &Cx<'_>) -> Result<Ensured<PreflightOutput>, ProviderError> {
        let (github, aws) = (&cx.providers.github, &cx.providers.aws);
        let (name, id) = (cx.name.as_str(), cx.service.service_id);
        let (repo, template_usable, ecr, role, policy) = tokio::try_join!(
            github.find_repo(cx.org(), name),
            github.template_is_usable(&cx.template.owner, &cx.template.name),
            aws.ecr_repository_ownership(name, id),
            aws.role_ownership(&cx.iam.role, id),
            aws.policy_ownership(&cx.iam.policy, id),
        )?;
        if let Some(repo) = repo
            && !is_ours(&repo, cx)
        {
            return Err(taken(System::GitHub, format!("the repository {} already exists", repo.full_name)));
        }
        if !template_usable {
            return Err(ProviderError::new(
                System::GitHub,
                ErrorKind::Invalid,
                format!(
                    "the template {} does not exist or is not a template repository",
                    cx.template.full_name()
                ),
            ));
        }
        if ecr == Ownership::Foreign {
            return Err(taken(System::Ecr, format!("the ECR repository {name} already exists")));
        }
        if role == Ownership::Foreign {
            return Err(taken(System::Iam, format!("the IAM role {} already exists", cx.iam.role)));
        }
        if policy == Ownership::Foreign {
            return Err(taken(System::Iam, format!("the IAM policy {} already exists", cx.iam.policy)));
        }
        Ok(Ensured::Done(PreflightOutput {
            role_name: cx.iam.role.clone(),
            policy_name: cx.iam.policy.clone(),
        }))
    }
}
