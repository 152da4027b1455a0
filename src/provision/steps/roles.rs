//! The steps of an extra push role (another branch, release tags, a deployment environment): made
//! like the default role, attached to the service's one push policy, its ARN stored where that
//! role's runs read it; removed in the reverse order; deleted with the service.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::{
    Cx, Ensured, Phase, Scope, Step,
    aws::IamPolicy,
    delete::Teardown,
    github::{GithubRepository, our_repo},
};
use crate::{
    aws::Ownership,
    db::roles::ServiceRole,
    domain::{Desired, RoleKind, StepName},
    github::default_branch_only,
    provider::{ErrorKind, ProviderError},
};

pub struct PushRole;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushRoleOutput {
    pub name: String,
    pub arn: String,
    /// The `sub` the trust admits (a pattern for tag roles).
    pub subject: String,
}

impl Step for PushRole {
    const NAME: StepName = StepName::PushRole;
    const LABEL: &'static str = "IAM role";
    const PHASE: Phase = Phase::Create;
    const SCOPE: Scope = Scope::Role(Desired::Present);
    const DEPENDS_ON: &'static [StepName] = &[StepName::OidcProvider, StepName::OidcSubject];
    type Output = PushRoleOutput;

    async fn ensure(cx: &Cx<'_>) -> Result<Ensured<PushRoleOutput>, ProviderError> {
        let role = cx.role()?;
        let spec = role.spec();
        let (trust, subject) = super::trust::push_role(cx, &spec)?;
        let arn = cx.providers.aws.ensure_role(&role.iam_role, &trust, &cx.tags).await?;
        Ok(Ensured::Done(PushRoleOutput { name: role.iam_role.clone(), arn, subject }))
    }
}

pub struct PushRoleAttachment;

impl Step for PushRoleAttachment {
    const NAME: StepName = StepName::PushRoleAttachment;
    const LABEL: &'static str = "Attach the push policy";
    const PHASE: Phase = Phase::Create;
    const SCOPE: Scope = Scope::Role(Desired::Present);
    const DEPENDS_ON: &'static [StepName] = &[StepName::PushRole, StepName::IamPolicy];
    type Output = super::aws::AttachmentOutput;

    async fn ensure(cx: &Cx<'_>) -> Result<Ensured<Self::Output>, ProviderError> {
        let role = cx.output::<PushRole>()?.name;
        let policy_arn = cx.output::<IamPolicy>()?.arn;
        cx.providers.aws.ensure_policy_attached(&role, &policy_arn).await?;
        Ok(Ensured::Done(super::aws::AttachmentOutput { role, policy_arn }))
    }
}

pub struct PushRoleSecret;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoleSecretOutput {
    pub secret: String,
    /// The environment that holds it; a repository secret otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Who may deploy to that environment (and so assume the role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protection: Option<EnvironmentProtection>,
}

/// An environment role's gate: the environment's deployment rules, and whose they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentProtection {
    /// Shipyard set them (the default branch only): drift restores them when they are removed. False when
    /// the team had rules of its own, which Shipyard leaves as they are.
    pub ours: bool,
    /// The rules in words: `custom: main` (Shipyard's), `protected branches only`, `reviewers: alice`.
    pub rules: String,
}

impl Step for PushRoleSecret {
    const NAME: StepName = StepName::PushRoleSecret;
    const LABEL: &'static str = "Store the role's ARN as a secret";
    const PHASE: Phase = Phase::Create;
    const SCOPE: Scope = Scope::Role(Desired::Present);
    // Like the default role's secrets: the ARN is known before the role can be assumed.
    const DEPENDS_ON: &'static [StepName] = &[StepName::PushRole, StepName::GithubRepository];
    type Output = RoleSecretOutput;

    async fn ensure(cx: &Cx<'_>) -> Result<Ensured<RoleSecretOutput>, ProviderError> {
        let role = cx.role()?;
        let arn = SecretString::from(cx.output::<PushRole>()?.arn);
        let repo = our_repo(cx).await?;
        let github = &cx.providers.github;
        let environment = environment_of(role);
        let protection = match &environment {
            Some(env) => {
                // The gate first: the ARN never sits in an environment any branch may deploy to.
                let protection = ensure_gated(cx, &repo.owner, &repo.name, env).await?;
                github.put_environment_secret(&repo.owner, &repo.name, env, &role.secret, &arn).await?;
                Some(protection)
            }
            None => {
                github.put_secret(&repo.owner, &repo.name, &role.secret, &arn).await?;
                None
            }
        };
        Ok(Ensured::Done(RoleSecretOutput { secret: role.secret.clone(), environment, protection }))
    }
}

/// Makes sure only the default branch may deploy to `env` (creating it so), unless it has deployment
/// rules already: a team's reviewers, branch policies or protection Apps are theirs, left as they are and
/// reported. An environment with no rule at all (new, bare, or stripped since) gets Shipyard's.
async fn ensure_gated(
    cx: &Cx<'_>,
    owner: &str,
    name: &str,
    env: &str,
) -> Result<EnvironmentProtection, ProviderError> {
    let github = &cx.providers.github;
    let ours_before = cx.previous::<PushRoleSecret>()?.and_then(|o| o.protection).is_some_and(|p| p.ours);
    match github.environment_rules(owner, name, env).await? {
        Some(rules) if !rules.is_unprotected() => {
            // Still exactly the rule Shipyard set: still Shipyard's to restore.
            let ours = ours_before && rules.is_only(cx.branch.as_str());
            Ok(EnvironmentProtection { ours, rules: rules.describe() })
        }
        _ => {
            github.protect_environment(owner, name, env, cx.branch.as_str()).await?;
            Ok(EnvironmentProtection { ours: true, rules: default_branch_only(cx.branch.as_str()) })
        }
    }
}

fn environment_of(role: &ServiceRole) -> Option<String> {
    (role.kind == RoleKind::Environment).then(|| role.value.clone())
}

pub struct RemovePushRoleSecret;

impl Step for RemovePushRoleSecret {
    const NAME: StepName = StepName::RemovePushRoleSecret;
    const LABEL: &'static str = "Remove the role's secret";
    const PHASE: Phase = Phase::Create;
    const SCOPE: Scope = Scope::Role(Desired::Absent);
    const DEPENDS_ON: &'static [StepName] = &[];
    type Output = Teardown;

    /// The environment itself stays: a team may have given it reviewers and rules of its own.
    async fn ensure(cx: &Cx<'_>) -> Result<Ensured<Teardown>, ProviderError> {
        let role = cx.role()?;
        if cx.recorded::<GithubRepository>()?.is_none() {
            return Ok(Teardown::of(&role.secret, "never stored"));
        }
        let repo = match our_repo(cx).await {
            Ok(repo) => repo,
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(Teardown::of(&role.secret, "already gone")),
            Err(e) => return Err(e),
        };
        let github = &cx.providers.github;
        match environment_of(role) {
            Some(env) => {
                github.delete_environment_secret(&repo.owner, &repo.name, &env, &role.secret).await?
            }
            None => github.delete_secret(&repo.owner, &repo.name, &role.secret).await?,
        }
        Ok(Teardown::of(&role.secret, "deleted"))
    }
}

pub struct DetachPushRole;

impl Step for DetachPushRole {
    const NAME: StepName = StepName::DetachPushRole;
    const LABEL: &'static str = "Detach the push policy";
    const PHASE: Phase = Phase::Create;
    const SCOPE: Scope = Scope::Role(Desired::Absent);
    const DEPENDS_ON: &'static [StepName] = &[StepName::RemovePushRoleSecret];
    type Output = Teardown;

    async fn ensure(cx: &Cx<'_>) -> Result<Ensured<Teardown>, ProviderError> {
        let role = cx.role()?;
        let Some(policy) = cx.recorded::<IamPolicy>()? else {
            return Ok(Teardown::of(&role.iam_role, "nothing attached"));
        };
        cx.providers.aws.detach_policy(&role.iam_role, &policy.arn, cx.service.service_id).await?;
        Ok(Teardown::of(&role.iam_role, "detached"))
    }
}

pub struct RemovePushRole;

impl Step for RemovePushRole {
    const NAME: StepName = StepName::RemovePushRole;
    const LABEL: &'static str = "Delete the IAM role";
    const PHASE: Phase = Phase::Create;
    const SCOPE: Scope = Scope::Role(Desired::Absent);
    const DEPENDS_ON: &'static [StepName] = &[StepName::DetachPushRole];
    type Output = Teardown;

    async fn ensure(cx: &Cx<'_>) -> Result<Ensured<Teardown>, ProviderError> {
        delete_role(cx).await
    }
}

/// Deleting the service deletes every extra role first, with the default one; the secrets go with
/// the repository.
pub struct DeletePushRole;

impl Step for DeletePushRole {
    const NAME: StepName = StepName::DeletePushRole;
    const LABEL: &'static str = "Delete the extra IAM role";
    const PHASE: Phase = Phase::Delete;
    const SCOPE: Scope = Scope::EveryRole;
    const DEPENDS_ON: &'static [StepName] = &[];
    type Output = Teardown;

    async fn ensure(cx: &Cx<'_>) -> Result<Ensured<Teardown>, ProviderError> {
        delete_role(cx).await
    }
}

/// Deletes the role when it is ours (tagged with this service's id); leaves anyone else's alone.
async fn delete_role(cx: &Cx<'_>) -> Result<Ensured<Teardown>, ProviderError> {
    let (aws, id) = (&cx.providers.aws, cx.service.service_id);
    let name = &cx.role()?.iam_role;
    match aws.role_ownership(name, id).await? {
        Ownership::Ours => {
            aws.delete_role(name, id).await?;
            Ok(Teardown::of(name, "deleted"))
        }
        other => Ok(Teardown::untouched(name, other)),
    }
}
