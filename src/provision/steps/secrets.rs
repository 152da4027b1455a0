//! The three Actions secrets the template's workflow reads, sealed to the repository's key.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::{
    Cx, Ensured, Phase, Step,
    aws::{EcrRepository, IamRole},
    github::{GithubRepository, our_repo},
};
use crate::{
    domain::StepName,
    provider::{ErrorKind, ProviderError, System},
};

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
        let uri = cx.output::<EcrRepository>()?.uri;
        // The region the repository is in, not a setting: amazon-ecr-login logs into the registry
        // of `AWS_REGION`, and the SDK may have found another region than the setting says.
        let region = region_of(&uri).ok_or_else(|| {
            ProviderError::new(
                System::Shipyard,
                ErrorKind::Invalid,
                format!("the recorded ECR repository URI {uri:?} names no region"),
            )
        })?;
        let values = [
            (REGION_SECRET, region.to_owned()),
            (ROLE_SECRET, cx.output::<IamRole>()?.arn),
            (ECR_SECRET, uri.clone()),
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

/// The region of `ACCOUNT.dkr.ecr.REGION.amazonaws.com[.cn]/NAME`.
fn region_of(uri: &str) -> Option<&str> {
    let registry = uri.split('/').next()?;
    match registry.split('.').collect::<Vec<_>>().as_slice() {
        [_, "dkr", "ecr", region, "amazonaws", "com", ..] if !region.is_empty() => Some(region),
        _ => None,
    }
}

#[cfg(test)]
mod region_tests {
    use super::region_of;

    #[test]
    fn the_region_secret_comes_from_the_repository_uri() {
        assert_eq!(region_of("123456789012.dkr.ecr.eu-west-1.amazonaws.com/api"), Some("eu-west-1"));
        assert_eq!(region_of("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/api"), Some("cn-north-1"));
        assert_eq!(region_of("ghcr.io/acme/api"), None);
        assert_eq!(region_of(""), None);
    }
}
