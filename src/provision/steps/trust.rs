//! The trust each role of a service should have: computed from the repository ids recorded when it
//! was created and the subject prefix GitHub reported, checked again every time it is used (a stored
//! prefix is never placed in a trust as it is). The role steps write it and drift compares with it,
//! so a role still trusting the names from before a rename is drift that Repair rewrites.

use serde_json::Value;

use super::{
    Cx,
    aws::OidcProvider,
    github::{GithubRepository, OidcSubject},
};
use crate::{
    aws::policy,
    domain::{PushRoleSpec, SubjectPrefix},
    provider::{ErrorKind, ProviderError, System},
};

/// The recorded prefix, parsed against the recorded repository ids.
pub(crate) fn subject_prefix(cx: &Cx<'_>) -> Result<SubjectPrefix, ProviderError> {
    let repo = cx.output::<GithubRepository>()?;
    let raw = cx.output::<OidcSubject>()?.sub_claim_prefix;
    SubjectPrefix::parse(&raw, repo.owner_id, repo.id)
        .map_err(|why| ProviderError::new(System::Shipyard, ErrorKind::Invalid, why))
}

/// The default role's trust: runs on the service's default branch.
pub(crate) fn default_role(cx: &Cx<'_>) -> Result<Value, ProviderError> {
    Ok(policy::trust_policy(
        &cx.output::<OidcProvider>()?.arn,
        cx.providers.aws.oidc_issuer(),
        &subject_prefix(cx)?,
        cx.branch.as_str(),
    ))
}

/// An extra role's trust, and the `sub` it admits (recorded, and shown on the page).
pub(crate) fn push_role(cx: &Cx<'_>, spec: &PushRoleSpec) -> Result<(Value, String), ProviderError> {
    let prefix = subject_prefix(cx)?;
    let trust = policy::push_role_trust_policy(
        &cx.output::<OidcProvider>()?.arn,
        cx.providers.aws.oidc_issuer(),
        &prefix,
        spec,
    );
    Ok((trust, prefix.subject(&spec.context())))
}
