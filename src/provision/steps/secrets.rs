//! The three Actions secrets the template's workflow reads, sealed to the repository's key.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::{
    Cx, Ensured, Phase, Step,
    aws::{EcrRepository, IamRole},
    github::{GithubRepository, our_repo},
};
use crate::{domain::StepName, provider::ProviderError};

/// The secret names the template's workflow reads (documented in the README's template contract).
pub const REGION_SECRET: &str = "AWS_REGION";
pub const ROLE_SECRET: &str = "GHA_DEFAULT_ROLE_ARN";
pub const ECR_SECRET: &str = "ECR_REPO_URL";

pub struct ActionsSecrets;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecretsOutput {
    pub names: Vec<String>,
    /// Where they went: the repository's name when they were sent (the first build goes there too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
}

impl Step for ActionsSecrets {
    const NAME: StepName = StepName::ActionsSecrets;
    const LABEL: &'static str = "Actions secrets";
    const PHASE: Phase = Phase::Create;
    // The secrets need the role's ARN, not its permissions: the attachment runs beside them.
    const DEPENDS_ON: &'static [StepName] =
        &[StepName::IamRole, StepName::EcrRepository, StepName::GithubRepository];
    type Output = SecretsOutput;

    async fn ensure(cx: &Cx<'_>) -> Result<Ensured<SecretsOutput>, ProviderError> {
        let values = [
            (REGION_SECRET, cx.settings.region.clone()),
            (ROLE_SECRET, cx.output::<IamRole>()?.arn),
            (ECR_SECRET, cx.output::<EcrRepository>()?.uri),
        ];
        let sealed: Vec<(&str, SecretString)> =
            values.iter().map(|(n, v)| (*n, SecretString::from(v.clone()))).collect();
        let github = &cx.providers.github;
        // By id, now: whatever holds the recorded name may not be ours any more.
        let repo = our_repo(cx).await?;
        match cx.output::<GithubRepository>()?.actions_key {
            Some(key) => github.put_sealed_secrets(&repo.owner, &repo.name, &key, &sealed).await?,
            None => github.put_secrets(&repo.owner, &repo.name, &sealed).await?,
        }
        let names = values.iter().map(|(n, _)| (*n).to_owned()).collect();
        Ok(Ensured::Done(SecretsOutput { names, full_name: Some(repo.full_name) }))
    }
}
