//! The AWS side: the account's OIDC provider, the ECR repository, the push policy, the role that only
//! the repository's default branch can assume, and the attachment between the two.

use serde::{Deserialize, Serialize};

use super::{Cx, Ensured, Phase, Step};
use crate::{
    aws::{Encryption, branch_tag},
    domain::StepName,
    provider::ProviderError,
};

pub struct OidcProvider;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArnOutput {
    pub arn: String,
}

impl Step for OidcProvider {
    const NAME: StepName = StepName::OidcProvider;
    const LABEL: &'static str = "GitHub OIDC provider in AWS";
    const PHASE: Phase = Phase::Create;
    const DEPENDS_ON: &'static [StepName] = &[StepName::Preflight];
    type Output = ArnOutput;

    async fn ensure(cx: &Cx<'_>) -> Result<Ensured<ArnOutput>, ProviderError> {
        Ok(Ensured::Done(ArnOutput { arn: cx.providers.aws.ensure_oidc_provider().await? }))
    }
}

pub struct EcrRepository;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EcrOutput {
    pub name: String,
    pub arn: String,
    /// `ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME`: what the workflow pushes to.
    pub uri: String,
}

impl Step for EcrRepository {
    const NAME: StepName = StepName::EcrRepository;
    const LABEL: &'static str = "ECR repository (scan on push)";
    const PHASE: Phase = Phase::Create;
    const DEPENDS_ON: &'static [StepName] = &[StepName::Preflight];
    type Output = EcrOutput;

    async fn ensure(cx: &Cx<'_>) -> Result<Ensured<EcrOutput>, ProviderError> {
        let repo = cx.providers.aws.ensure_ecr_repository(cx.name.as_str(), &cx.tags).await?;
        Ok(Ensured::Done(EcrOutput { name: repo.name, arn: repo.arn, uri: repo.uri }))
    }
}

/// The repository kept tidy: old images expire, and a pushed `sha-` tag can never be overwritten.
pub struct EcrSettings;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EcrSettingsOutput {
    /// The lifecycle rules in words.
    pub lifecycle: String,
    pub untagged_days: u16,
    pub keep_images: u16,
    /// `IMMUTABLE_WITH_EXCLUSION`.
    pub tag_mutability: String,
    /// The tags that stay movable: the default branch's, which every build of it pushes again.
    pub excluded_tags: Vec<String>,
    /// How the images are encrypted (chosen when the repository was created).
    pub encryption: Encryption,
}

impl Step for EcrSettings {
    const NAME: StepName = StepName::EcrSettings;
    const LABEL: &'static str = "Keep the image repository tidy (lifecycle policy, immutable tags)";
    const PHASE: Phase = Phase::Create;
    const DEPENDS_ON: &'static [StepName] = &[StepName::EcrRepository];
    type Output = EcrSettingsOutput;

    async fn ensure(cx: &Cx<'_>) -> Result<Ensured<EcrSettingsOutput>, ProviderError> {
        let name = cx.output::<EcrRepository>()?.name;
        let aws = &cx.providers.aws;
        let kept = aws.ensure_ecr_settings(&name, &branch_tag(cx.branch.as_str())).await?;
        let rules = aws.ecr_rules();
        Ok(Ensured::Done(EcrSettingsOutput {
            lifecycle: rules.summary(),
            untagged_days: rules.untagged_days,
            keep_images: rules.keep_images,
            tag_mutability: kept.tag_mutability,
            excluded_tags: kept.excluded_tags,
            encryption: kept.encryption,
        }))
    }
}

pub struct IamPolicy;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NamedArnOutput {
    pub name: String,
    pub arn: String,
}

impl Step for IamPolicy {
    const NAME: StepName = StepName::IamPolicy;
    const LABEL: &'static str = "IAM policy: push to this ECR repository";
    const PHASE: Phase = Phase::Create;
    const DEPENDS_ON: &'static [StepName] = &[StepName::EcrRepository];
    type Output = NamedArnOutput;

    async fn ensure(cx: &Cx<'_>) -> Result<Ensured<NamedArnOutput>, ProviderError> {
        let repository_arn = cx.output::<EcrRepository>()?.arn;
        let arn = cx.providers.aws.ensure_ecr_push_policy(&cx.iam.policy, &repository_arn, &cx.tags).await?;
        Ok(Ensured::Done(NamedArnOutput { name: cx.iam.policy.clone(), arn }))
    }
}

pub struct IamRole;

impl Step for IamRole {
    const NAME: StepName = StepName::IamRole;
    const LABEL: &'static str = "IAM role for the default branch";
    const PHASE: Phase = Phase::Create;
    const DEPENDS_ON: &'static [StepName] = &[StepName::OidcProvider, StepName::OidcSubject];
    type Output = NamedArnOutput;

    async fn ensure(cx: &Cx<'_>) -> Result<Ensured<NamedArnOutput>, ProviderError> {
        let trust = super::trust::default_role(cx)?;
        let arn = cx.providers.aws.ensure_role(&cx.iam.role, &trust, &cx.tags).await?;
        Ok(Ensured::Done(NamedArnOutput { name: cx.iam.role.clone(), arn }))
    }
}

pub struct IamAttachment;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttachmentOutput {
    pub role: String,
    pub policy_arn: String,
}

impl Step for IamAttachment {
    const NAME: StepName = StepName::IamAttachment;
    const LABEL: &'static str = "Attach the policy to the role";
    const PHASE: Phase = Phase::Create;
    const DEPENDS_ON: &'static [StepName] = &[StepName::IamRole, StepName::IamPolicy];
    type Output = AttachmentOutput;

    async fn ensure(cx: &Cx<'_>) -> Result<Ensured<AttachmentOutput>, ProviderError> {
        let role = cx.output::<IamRole>()?.name;
        let policy_arn = cx.output::<IamPolicy>()?.arn;
        cx.providers.aws.ensure_policy_attached(&role, &policy_arn).await?;
        Ok(Ensured::Done(AttachmentOutput { role, policy_arn }))
    }
}
