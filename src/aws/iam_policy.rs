//! IAM: the per-service managed policy that lets the role push to its one ECR repository.

use serde_json::Value;
use uuid::Uuid;

use super::{
    Aws, Ownership, ResourceTags,
    error::{OptionalExt, ignore_not_found},
    foreign,
    iam_role::{iam_tags, missing},
    policy::{self, IAM_PATH},
};
use crate::provider::{ErrorKind, ProviderError, System};

/// IAM keeps at most five versions of a managed policy.
const MAX_POLICY_VERSIONS: usize = 5;

impl Aws {
    /// Whether a Shipyard policy of that name exists and whose it is (for preflight).
    pub async fn policy_ownership(&self, name: &str, service_id: Uuid) -> Result<Ownership, ProviderError> {
        let arn = self.account().await?.policy_arn(name);
        // ListPolicyTags, not GetPolicy's Tags: AWS returns tags in both, moto 5.2 only in this one.
        let tags = self
            .call(System::Iam, "iam:ListPolicyTags", || {
                self.iam.list_policy_tags().policy_arn(&arn).into_paginator().items().send().try_collect()
            })
            .await
            .optional()?;
        Ok(match tags {
            None => Ownership::Absent,
            Some(tags) => Ownership::of_existing(tags.iter().map(|t| (t.key(), t.value())), service_id),
        })
    }

    /// Creates the ECR push policy for one repository, or adopts ours: its tags are re-applied and,
    /// when the default version's document differs, a new default version is written.
    /// Returns the policy ARN.
    #[tracing::instrument(skip_all, fields(name = %name))]
    pub async fn ensure_ecr_push_policy(
        &self,
        name: &str,
        repository_arn: &str,
        tags: &ResourceTags,
    ) -> Result<String, ProviderError> {
        let document = policy::ecr_push_policy(repository_arn);
        let iam_tags = iam_tags(tags)?;
        for _ in 0..2 {
            match self.policy_ownership(name, tags.service_id).await? {
                Ownership::Foreign => return Err(foreign(System::Iam, "IAM policy", name)),
                Ownership::Ours => return self.adopt_policy(name, &document, tags).await,
                Ownership::Absent => {}
            }
            let created = self
                .call(System::Iam, "iam:CreatePolicy", || {
                    self.iam
                        .create_policy()
                        .policy_name(name)
                        .path(IAM_PATH)
                        .policy_document(document.to_string())
                        .description(format!("Push images to {repository_arn} (managed by Shipyard)"))
                        .set_tags(Some(iam_tags.clone()))
                        .send()
                })
                .await;
            match created {
                Ok(out) => {
                    return out
                        .policy
                        .and_then(|p| p.arn)
                        .ok_or_else(|| missing("CreatePolicy returned no ARN"));
                }
                Err(e) if e.kind == ErrorKind::Conflict => continue,
                Err(e) => return Err(e),
            }
        }
        Err(foreign(System::Iam, "IAM policy", name))
    }

    async fn adopt_policy(
        &self,
        name: &str,
        document: &Value,
        tags: &ResourceTags,
    ) -> Result<String, ProviderError> {
        let arn = self.account().await?.policy_arn(name);
        let iam_tags = iam_tags(tags)?;
        self.call(System::Iam, "iam:TagPolicy", || {
            self.iam.tag_policy().policy_arn(&arn).set_tags(Some(iam_tags.clone())).send()
        })
        .await?;
        let current = self.get_policy_document(&arn).await?;
        if current.as_ref().is_some_and(|current| policy::policies_equivalent(current, document)) {
            return Ok(arn);
        }
        tracing::info!(policy = name, "policy document differs from the desired one, writing a new version");
        self.make_room_for_policy_version(&arn).await?;
        self.call(System::Iam, "iam:CreatePolicyVersion", || {
            self.iam
                .create_policy_version()
                .policy_arn(&arn)
                .policy_document(document.to_string())
                .set_as_default(true)
                .send()
        })
        .await?;
        Ok(arn)
    }

    /// Deletes the oldest non-default version when the policy is at IAM's version limit.
    async fn make_room_for_policy_version(&self, arn: &str) -> Result<(), ProviderError> {
        let mut versions = self.policy_versions(arn).await?;
        if versions.len() < MAX_POLICY_VERSIONS {
            return Ok(());
        }
        versions.retain(|v| !v.is_default_version());
        versions.sort_by(|a, b| {
            a.create_date().map(|d| d.as_nanos()).cmp(&b.create_date().map(|d| d.as_nanos()))
        });
        let Some(oldest) = versions.first().and_then(|v| v.version_id()) else { return Ok(()) };
        self.call(System::Iam, "iam:DeletePolicyVersion", || {
            self.iam.delete_policy_version().policy_arn(arn).version_id(oldest).send()
        })
        .await
        .map(|_| ())
    }

    /// Deletes our policy: detaches it from every role, user and group, deletes its non-default
    /// versions, then the policy. Gone already is done; someone else's is a conflict.
    #[tracing::instrument(skip_all, fields(name = %name))]
    pub async fn delete_policy(&self, name: &str, service_id: Uuid) -> Result<(), ProviderError> {
        match self.policy_ownership(name, service_id).await? {
            Ownership::Absent => return Ok(()),
            Ownership::Foreign => return Err(foreign(System::Iam, "IAM policy", name)),
            Ownership::Ours => {}
        }
        let arn = self.account().await?.policy_arn(name);
        // Detach first: real AWS refuses to delete an attached policy, and moto deletes it anyway,
        // leaving the role impossible to delete (deps-spike §3). Pages of the API's maximum size:
        // moto looks for attachments only among the first page-size roles of the account.
        let pages = self
            .call(System::Iam, "iam:ListEntitiesForPolicy", || {
                self.iam
                    .list_entities_for_policy()
                    .policy_arn(&arn)
                    .max_items(1000)
                    .into_paginator()
                    .send()
                    .try_collect()
            })
            .await?;
        for page in &pages {
            for role in page.policy_roles().iter().filter_map(|r| r.role_name()) {
                ignore_not_found(
                    self.call(System::Iam, "iam:DetachRolePolicy", || {
                        self.iam.detach_role_policy().role_name(role).policy_arn(&arn).send()
                    })
                    .await
                    .map(|_| ()),
                )?;
            }
            for user in page.policy_users().iter().filter_map(|u| u.user_name()) {
                ignore_not_found(
                    self.call(System::Iam, "iam:DetachUserPolicy", || {
                        self.iam.detach_user_policy().user_name(user).policy_arn(&arn).send()
                    })
                    .await
                    .map(|_| ()),
                )?;
            }
            for group in page.policy_groups().iter().filter_map(|g| g.group_name()) {
                ignore_not_found(
                    self.call(System::Iam, "iam:DetachGroupPolicy", || {
                        self.iam.detach_group_policy().group_name(group).policy_arn(&arn).send()
                    })
                    .await
                    .map(|_| ()),
                )?;
            }
        }
        for version in self.policy_versions(&arn).await? {
            let Some(id) = version.version_id().filter(|_| !version.is_default_version()) else { continue };
            ignore_not_found(
                self.call(System::Iam, "iam:DeletePolicyVersion", || {
                    self.iam.delete_policy_version().policy_arn(&arn).version_id(id).send()
                })
                .await
                .map(|_| ()),
            )?;
        }
        ignore_not_found(
            self.call(System::Iam, "iam:DeletePolicy", || self.iam.delete_policy().policy_arn(&arn).send())
                .await
                .map(|_| ()),
        )
    }

    /// The default version's document, URL-decoded; `None` when the policy does not exist.
    pub async fn get_policy_document(&self, arn: &str) -> Result<Option<Value>, ProviderError> {
        let Some(out) = self
            .call(System::Iam, "iam:GetPolicy", || self.iam.get_policy().policy_arn(arn).send())
            .await
            .optional()?
        else {
            return Ok(None);
        };
        let version_id = out
            .policy
            .and_then(|p| p.default_version_id)
            .ok_or_else(|| missing("GetPolicy returned no default version"))?;
        let Some(version) = self
            .call(System::Iam, "iam:GetPolicyVersion", || {
                self.iam.get_policy_version().policy_arn(arn).version_id(&version_id).send()
            })
            .await
            .optional()?
        else {
            return Ok(None);
        };
        let encoded = version.policy_version.and_then(|v| v.document).unwrap_or_default();
        policy::decode_policy_document(&encoded).map(Some).map_err(|e| missing(&format!("policy {arn}: {e}")))
    }

    async fn policy_versions(
        &self,
        arn: &str,
    ) -> Result<Vec<aws_sdk_iam::types::PolicyVersion>, ProviderError> {
        self.call(System::Iam, "iam:ListPolicyVersions", || {
            self.iam.list_policy_versions().policy_arn(arn).into_paginator().items().send().try_collect()
        })
        .await
    }
}
