//! IAM: the account's GitHub OIDC provider and the per-service role GitHub Actions assumes.

use std::collections::BTreeMap;

use aws_sdk_iam::types::Tag;
use serde_json::Value;
use uuid::Uuid;

use super::{
    Aws, Ownership, ResourceTags,
    error::{OptionalExt, ignore_not_found},
    foreign,
    policy::{self, GITHUB_OIDC_AUDIENCE, IAM_PATH},
    tag_map,
};
use crate::provider::{ErrorKind, ProviderError, System};

/// GitHub's published certificate thumbprint. AWS ignores thumbprints for this provider (it trusts
/// the issuer's CA), but older APIs and emulators want a non-empty list.
const GITHUB_THUMBPRINT: &str = "6938fd4d98bab03faadb97b34396831e3780aea1";
const MAX_SESSION_SECONDS: i32 = 3600;

/// A role as read back from IAM, for tests and the service page.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleView {
    pub arn: String,
    /// URL-decoded trust policy.
    pub trust_policy: Value,
    pub tags: BTreeMap<String, String>,
    pub attached_policy_arns: Vec<String>,
    /// The ARN of the role's permissions boundary, if it has one.
    pub permissions_boundary: Option<String>,
}

impl Aws {
    /// Returns the ARN of the account's OIDC provider for the configured issuer, creating it when
    /// missing. It is shared by every service and never deleted. An existing provider must list the
    /// audience GitHub's tokens carry for AWS (`sts.amazonaws.com`), or STS refuses every token
    /// ("Incorrect token audience"). Such a provider is not Shipyard's (it is shared, often managed in
    /// Terraform by the platform team), so it is not changed: the step fails saying how to fix it.
    #[tracing::instrument(skip_all)]
    pub async fn ensure_oidc_provider(&self) -> Result<String, ProviderError> {
        // IAM derives the ARN from the URL, so finding it by ARN is finding it by URL.
        let arn = self.account().await?.oidc_provider_arn(&self.oidc_issuer);
        let listed = self
            .call(System::Iam, "iam:ListOpenIDConnectProviders", || {
                self.iam.list_open_id_connect_providers().send()
            })
            .await?;
        if listed.open_id_connect_provider_list().iter().any(|p| p.arn() == Some(arn.as_str())) {
            self.ensure_audience(&arn).await?;
            return Ok(arn);
        }
        let created = self
            .call(System::Iam, "iam:CreateOpenIDConnectProvider", || {
                self.iam
                    .create_open_id_connect_provider()
                    .url(self.oidc_issuer.url())
                    .client_id_list(GITHUB_OIDC_AUDIENCE)
                    .thumbprint_list(GITHUB_THUMBPRINT)
                    .send()
            })
            .await;
        match created {
            Ok(out) => Ok(out.open_id_connect_provider_arn.unwrap_or(arn)),
            // Another replica (or a lost answer to our own earlier attempt) created it first.
            Err(e) if e.kind == ErrorKind::Conflict => {
                self.ensure_audience(&arn).await?;
                Ok(arn)
            }
            Err(e) => Err(e),
        }
    }

    /// Refuses a provider that does not list `sts.amazonaws.com`, with the command that fixes it.
    async fn ensure_audience(&self, arn: &str) -> Result<(), ProviderError> {
        let provider = self
            .call(System::Iam, "iam:GetOpenIDConnectProvider", || {
                self.iam.get_open_id_connect_provider().open_id_connect_provider_arn(arn).send()
            })
            .await?;
        if provider.client_id_list().iter().any(|id| id == GITHUB_OIDC_AUDIENCE) {
            return Ok(());
        }
        Err(ProviderError::new(
            System::Iam,
            ErrorKind::Invalid,
            format!(
                "the OIDC provider {arn} exists but does not list the audience {GITHUB_OIDC_AUDIENCE} (it lists: {}), \
                 so AWS would refuse every GitHub Actions token. Shipyard does not change a provider it did not \
                 make: add the audience (aws iam add-client-id-to-open-id-connect-provider \
                 --open-id-connect-provider-arn {arn} --client-id {GITHUB_OIDC_AUDIENCE}), then retry",
                provider.client_id_list().join(", ")
            ),
        ))
    }

    /// Whether a role of that name exists and whose it is (for preflight).
    pub async fn role_ownership(&self, name: &str, service_id: Uuid) -> Result<Ownership, ProviderError> {
        Ok(match self.get_role(name).await? {
            None => Ownership::Absent,
            Some(role) => {
                Ownership::of_existing(role.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())), service_id)
            }
        })
    }

    /// Creates the role with `trust`, our tags and the configured permissions boundary, or adopts
    /// ours (correcting its trust policy and tags). Someone else's role is a conflict. Returns the
    /// role ARN.
    ///
    /// Our role whose boundary is missing or another is deleted and created again (same name and
    /// path, so the same ARN; its attachments are made again by the attachment step that follows):
    /// Shipyard's own policy never allows `PutRolePermissionsBoundary`, since an identity that may set
    /// a boundary may also set a wider one.
    #[tracing::instrument(skip_all, fields(name = %name))]
    pub async fn ensure_role(
        &self,
        name: &str,
        trust: &Value,
        tags: &ResourceTags,
    ) -> Result<String, ProviderError> {
        let iam_tags = iam_tags(tags)?;
        let boundary = self.permissions_boundary().map(|b| b.arn().to_owned());
        for _ in 0..3 {
            if let Some(existing) = self.get_role(name).await? {
                if boundary.is_some()
                    && existing.permissions_boundary != boundary
                    && self.is_ours(&existing, tags)
                {
                    tracing::warn!(
                        role = name,
                        found = existing.permissions_boundary.as_deref().unwrap_or("none"),
                        "the role's permissions boundary is not the configured one: deleting and recreating it"
                    );
                    self.delete_role(name, tags.service_id).await?;
                    continue;
                }
                return self.adopt_role(name, existing, trust, &iam_tags, tags.service_id).await;
            }
            let created = self
                .call(System::Iam, "iam:CreateRole", || {
                    self.iam
                        .create_role()
                        .role_name(name)
                        .path(IAM_PATH)
                        .assume_role_policy_document(trust.to_string())
                        .description(format!(
                            "GitHub Actions deploy role for {} (managed by Shipyard)",
                            tags.service
                        ))
                        .max_session_duration(MAX_SESSION_SECONDS)
                        .set_permissions_boundary(boundary.clone())
                        .set_tags(Some(iam_tags.clone()))
                        .send()
                })
                .await;
            match created {
                Ok(out) => {
                    return out.role.map(|r| r.arn).ok_or_else(|| missing("CreateRole returned no role"));
                }
                Err(e) if e.kind == ErrorKind::Conflict => continue,
                Err(e) => return Err(e),
            }
        }
        Err(foreign(System::Iam, "IAM role", name))
    }

    fn is_ours(&self, role: &RoleView, tags: &ResourceTags) -> bool {
        Ownership::of_existing(role.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())), tags.service_id)
            == Ownership::Ours
    }

    async fn adopt_role(
        &self,
        name: &str,
        existing: RoleView,
        trust: &Value,
        iam_tags: &[Tag],
        service_id: Uuid,
    ) -> Result<String, ProviderError> {
        let owner =
            Ownership::of_existing(existing.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())), service_id);
        if owner != Ownership::Ours {
            return Err(foreign(System::Iam, "IAM role", name));
        }
        if !policy::policies_equivalent(&existing.trust_policy, trust) {
            tracing::info!(role = name, "trust policy differs from the desired one, updating it");
            self.call(System::Iam, "iam:UpdateAssumeRolePolicy", || {
                self.iam.update_assume_role_policy().role_name(name).policy_document(trust.to_string()).send()
            })
            .await?;
        }
        self.call(System::Iam, "iam:TagRole", || {
            self.iam.tag_role().role_name(name).set_tags(Some(iam_tags.to_vec())).send()
        })
        .await?;
        Ok(existing.arn)
    }

    /// Attaches a managed policy to a role (no-op when already attached). Both were usually made a
    /// moment ago, and IAM is eventually consistent: for a while either may answer `NoSuchEntity`, so
    /// "not found" is retried here, within the retry policy's deadline, as Terraform does for IAM.
    #[tracing::instrument(skip_all, fields(role = %role))]
    pub async fn ensure_policy_attached(&self, role: &str, policy_arn: &str) -> Result<(), ProviderError> {
        crate::provider::retry_not_found(&self.retry, "iam:AttachRolePolicy", || async {
            if self.attached_policy_arns(role).await?.iter().any(|arn| arn == policy_arn) {
                return Ok(());
            }
            self.call(System::Iam, "iam:AttachRolePolicy", || {
                self.iam.attach_role_policy().role_name(role).policy_arn(policy_arn).send()
            })
            .await
            .map(|_| ())
        })
        .await
    }

    /// Detaches a managed policy from our role. A role or attachment that is gone is done; someone
    /// else's role is a conflict and is left untouched.
    #[tracing::instrument(skip_all, fields(role = %role))]
    pub async fn detach_policy(
        &self,
        role: &str,
        policy_arn: &str,
        service_id: Uuid,
    ) -> Result<(), ProviderError> {
        match self.role_ownership(role, service_id).await? {
            Ownership::Absent => return Ok(()),
            Ownership::Foreign => return Err(foreign(System::Iam, "IAM role", role)),
            Ownership::Ours => {}
        }
        ignore_not_found(
            self.call(System::Iam, "iam:DetachRolePolicy", || {
                self.iam.detach_role_policy().role_name(role).policy_arn(policy_arn).send()
            })
            .await
            .map(|_| ()),
        )
    }

    /// Deletes our role: detaches managed policies, deletes inline ones, then the role.
    /// Gone already is done; someone else's role is a conflict and is left untouched.
    #[tracing::instrument(skip_all, fields(name = %name))]
    pub async fn delete_role(&self, name: &str, service_id: Uuid) -> Result<(), ProviderError> {
        match self.role_ownership(name, service_id).await? {
            Ownership::Absent => return Ok(()),
            Ownership::Foreign => return Err(foreign(System::Iam, "IAM role", name)),
            Ownership::Ours => {}
        }
        for arn in self.attached_policy_arns(name).await? {
            ignore_not_found(
                self.call(System::Iam, "iam:DetachRolePolicy", || {
                    self.iam.detach_role_policy().role_name(name).policy_arn(&arn).send()
                })
                .await
                .map(|_| ()),
            )?;
        }
        let inline = self
            .call(System::Iam, "iam:ListRolePolicies", || {
                self.iam.list_role_policies().role_name(name).into_paginator().items().send().try_collect()
            })
            .await?;
        for policy_name in inline {
            ignore_not_found(
                self.call(System::Iam, "iam:DeleteRolePolicy", || {
                    self.iam.delete_role_policy().role_name(name).policy_name(&policy_name).send()
                })
                .await
                .map(|_| ()),
            )?;
        }
        ignore_not_found(
            self.call(System::Iam, "iam:DeleteRole", || self.iam.delete_role().role_name(name).send())
                .await
                .map(|_| ()),
        )
    }

    /// Reads a role back with its decoded trust policy, tags and attached policies.
    pub async fn get_role(&self, name: &str) -> Result<Option<RoleView>, ProviderError> {
        let Some(out) = self
            .call(System::Iam, "iam:GetRole", || self.iam.get_role().role_name(name).send())
            .await
            .optional()?
        else {
            return Ok(None);
        };
        let role = out.role.ok_or_else(|| missing("GetRole returned no role"))?;
        let trust_policy =
            policy::decode_policy_document(role.assume_role_policy_document().unwrap_or_default())
                .map_err(|e| missing(&format!("role {name}: {e}")))?;
        // ListRoleTags rather than GetRole's Tags: it pages, and every emulator implements it.
        let tags = self
            .call(System::Iam, "iam:ListRoleTags", || {
                self.iam.list_role_tags().role_name(name).into_paginator().items().send().try_collect()
            })
            .await?;
        Ok(Some(RoleView {
            arn: role.arn,
            trust_policy,
            tags: tag_map(tags.iter().map(|t| (t.key(), t.value()))),
            attached_policy_arns: self.attached_policy_arns(name).await?,
            permissions_boundary: role.permissions_boundary.and_then(|b| b.permissions_boundary_arn),
        }))
    }

    async fn attached_policy_arns(&self, role: &str) -> Result<Vec<String>, ProviderError> {
        let attached = self
            .call(System::Iam, "iam:ListAttachedRolePolicies", || {
                self.iam
                    .list_attached_role_policies()
                    .role_name(role)
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
            })
            .await?;
        Ok(attached.into_iter().filter_map(|p| p.policy_arn).collect())
    }
}

/// Our tags in IAM's shape (roles and policies share it).
pub(super) fn iam_tags(tags: &ResourceTags) -> Result<Vec<Tag>, ProviderError> {
    tags.pairs()
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<_, _>>()
        .map_err(|e| ProviderError::new(System::Iam, ErrorKind::Invalid, format!("bad tag: {e}")))
}

pub(super) fn missing(what: &str) -> ProviderError {
    ProviderError::new(System::Iam, ErrorKind::Other, what)
}
