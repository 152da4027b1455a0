//! How a service's ECR repository is kept: a lifecycle policy (untagged images expire, at most so
//! many `sha-` images stay), tags that cannot be overwritten except the branch tag every build moves
//! (`IMMUTABLE_WITH_EXCLUSION`), and, when configured, a customer KMS key chosen at creation.
//!
//! Encryption is the one setting ECR cannot change on an existing repository
//! (<https://docs.aws.amazon.com/AmazonECR/latest/userguide/encryption-at-rest.html>), so it is set by
//! `CreateRepository` and only reported afterwards.

use aws_sdk_ecr::types::{
    ImageTagMutability, ImageTagMutabilityExclusionFilter, ImageTagMutabilityExclusionFilterType,
};
use serde_json::{Value, json};

use super::{Aws, EcrRepository, error::OptionalExt};
use crate::provider::{ErrorKind, ProviderError, System};

/// The mutability Shipyard sets: tags are immutable, except those matching the exclusion filters.
pub const TAG_MUTABILITY: &str = "IMMUTABLE_WITH_EXCLUSION";
/// The prefix docker/metadata-action's `type=sha,prefix=sha-` gives the per-commit tags.
pub const SHA_TAG_PREFIX: &str = "sha-";

/// What the lifecycle policy keeps and the key new repositories are encrypted with
/// (`SHIPYARD_ECR_UNTAGGED_DAYS`, `SHIPYARD_ECR_KEEP_IMAGES`, `SHIPYARD_ECR_KMS_KEY`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrRules {
    /// Untagged images (layers of overwritten branch tags) expire this many days after their push.
    pub untagged_days: u16,
    /// At most this many `sha-` images are kept; older ones expire.
    pub keep_images: u16,
    /// New repositories are encrypted with this customer key instead of AES-256.
    pub kms_key: Option<KmsKeyArn>,
}

impl Default for EcrRules {
    fn default() -> Self {
        Self { untagged_days: 14, keep_images: 200, kms_key: None }
    }
}

impl EcrRules {
    /// The lifecycle policy document Shipyard puts on every repository.
    pub fn lifecycle_policy(&self) -> Value {
        json!({
            "rules": [
                {
                    "rulePriority": 1,
                    "description": format!("Expire untagged images after {} days", self.untagged_days),
                    "selection": {
                        "tagStatus": "untagged",
                        "countType": "sinceImagePushed",
                        "countUnit": "days",
                        "countNumber": self.untagged_days,
                    },
                    "action": { "type": "expire" },
                },
                {
                    "rulePriority": 2,
                    "description": format!("Keep the newest {} {SHA_TAG_PREFIX} images", self.keep_images),
                    "selection": {
                        "tagStatus": "tagged",
                        "tagPrefixList": [SHA_TAG_PREFIX],
                        "countType": "imageCountMoreThan",
                        "countNumber": self.keep_images,
                    },
                    "action": { "type": "expire" },
                },
            ]
        })
    }

    /// The lifecycle rules in words, for the page.
    pub fn summary(&self) -> String {
        format!(
            "untagged images expire after {} days; the newest {} {SHA_TAG_PREFIX} images are kept",
            self.untagged_days, self.keep_images
        )
    }

    /// The encryption Shipyard creates repositories with.
    pub fn encryption(&self) -> Encryption {
        match &self.kms_key {
            Some(key) => Encryption { kind: "KMS".into(), kms_key: Some(key.0.clone()) },
            None => Encryption { kind: "AES256".into(), kms_key: None },
        }
    }
}

/// A KMS key ARN (`arn:PARTITION:kms:REGION:ACCOUNT:key/ID`). Only the full ARN is accepted: ECR
/// reports the key as its ARN, so drift compares like with like, and the deploy policy can name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsKeyArn(String);

impl KmsKeyArn {
    /// Parses an ARN; the error says what is expected (for the start-up line naming the variable).
    pub fn parse(arn: &str) -> Result<Self, String> {
        let expected = || {
            format!(
                "expected a KMS key ARN such as arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab, got {arn:?}"
            )
        };
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let ["arn", partition, "kms", region, account, resource] = parts.as_slice() else {
            return Err(expected());
        };
        let id = resource.strip_prefix("key/").unwrap_or_default();
        let ok = partition.starts_with("aws")
            && !region.is_empty()
            && region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && account.len() == 12
            && account.chars().all(|c| c.is_ascii_digit())
            && !id.is_empty()
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if ok { Ok(Self(arn.to_owned())) } else { Err(expected()) }
    }

    pub fn arn(&self) -> &str {
        &self.0
    }
}

/// How a repository's images are encrypted at rest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Encryption {
    /// `AES256`, `KMS` or `KMS_DSSE`.
    pub kind: String,
    /// The key's ARN, for KMS encryption.
    pub kms_key: Option<String>,
}

impl std::fmt::Display for Encryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kms_key {
            Some(key) => write!(f, "{} ({key})", self.kind),
            None => f.write_str(&self.kind),
        }
    }
}

/// The tag docker/metadata-action gives a branch: `/` and any other character a tag cannot hold
/// become `-` (`feature/x` → `feature-x`).
pub fn branch_tag(branch: &str) -> String {
    branch.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '-' }).collect()
}

/// A repository's settings as [`Aws::ensure_ecr_settings`] left them (and the page shows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptRepository {
    pub tag_mutability: String,
    pub excluded_tags: Vec<String>,
    pub encryption: Encryption,
}

impl Aws {
    /// The repository's lifecycle policy, parsed; `None` when it has none.
    #[tracing::instrument(skip_all, fields(name = %name))]
    pub async fn lifecycle_policy(&self, name: &str) -> Result<Option<Value>, ProviderError> {
        let out = self
            .call(System::Ecr, "ecr:GetLifecyclePolicy", || {
                self.ecr.get_lifecycle_policy().repository_name(name).send()
            })
            .await
            .optional()?;
        let Some(text) = out.and_then(|o| o.lifecycle_policy_text) else { return Ok(None) };
        serde_json::from_str(&text).map(Some).map_err(|e| {
            ProviderError::new(
                System::Ecr,
                ErrorKind::Other,
                format!("the lifecycle policy is not JSON: {e}"),
            )
        })
    }

    /// Reads the repository's mutability and lifecycle policy and writes each only where it differs
    /// from what `rules` and the branch tag call for. A repository that is gone is `NotFound`.
    #[tracing::instrument(skip_all, fields(name = %name))]
    pub async fn ensure_ecr_settings(
        &self,
        name: &str,
        branch_tag: &str,
    ) -> Result<KeptRepository, ProviderError> {
        let Some(repo) = self.describe_ecr_repository(name).await? else {
            return Err(ProviderError::new(
                System::Ecr,
                ErrorKind::NotFound,
                format!("the ECR repository {name} no longer exists; retry to create it again"),
            ));
        };
        let excluded = vec![branch_tag.to_owned()];
        if !mutability_matches(&repo, &excluded) {
            self.put_tag_mutability(name, &excluded).await?;
        }
        let wanted = self.ecr_rules().lifecycle_policy();
        if self.lifecycle_policy(name).await?.as_ref() != Some(&wanted) {
            let text = wanted.to_string();
            self.call(System::Ecr, "ecr:PutLifecyclePolicy", || {
                self.ecr.put_lifecycle_policy().repository_name(name).lifecycle_policy_text(&text).send()
            })
            .await?;
        }
        Ok(KeptRepository {
            tag_mutability: TAG_MUTABILITY.to_owned(),
            excluded_tags: excluded,
            encryption: repo.encryption,
        })
    }

    async fn put_tag_mutability(&self, name: &str, excluded: &[String]) -> Result<(), ProviderError> {
        let filters = excluded
            .iter()
            .map(|tag| {
                ImageTagMutabilityExclusionFilter::builder()
                    .filter_type(ImageTagMutabilityExclusionFilterType::Wildcard)
                    .filter(tag)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ProviderError::new(System::Ecr, ErrorKind::Invalid, format!("bad filter: {e}")))?;
        self.call(System::Ecr, "ecr:PutImageTagMutability", || {
            self.ecr
                .put_image_tag_mutability()
                .repository_name(name)
                .image_tag_mutability(ImageTagMutability::ImmutableWithExclusion)
                .set_image_tag_mutability_exclusion_filters(Some(filters.clone()))
                .send()
        })
        .await
        .map(|_| ())
    }
}

/// Whether the repository's tags are immutable with exactly `excluded` as the exceptions.
pub fn mutability_matches(repo: &EcrRepository, excluded: &[String]) -> bool {
    let mut found = repo.excluded_tags.clone();
    found.sort();
    let mut wanted = excluded.to_vec();
    wanted.sort();
    repo.tag_mutability == TAG_MUTABILITY && found == wanted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_branch_becomes_the_tag_docker_metadata_gives_it() {
        assert_eq!(branch_tag("main"), "main");
        assert_eq!(branch_tag("release/1.2"), "release-1.2");
    }

    #[test]
    fn only_a_full_kms_key_arn_is_accepted() {
        let arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(KmsKeyArn::parse(arn).unwrap().arn(), arn);
        for bad in
            ["alias/shipyard", "1234abcd", "arn:aws:kms:us-east-1:123456789012:alias/x", "arn:aws:s3:::b"]
        {
            assert!(KmsKeyArn::parse(bad).unwrap_err().contains("expected a KMS key ARN"), "{bad}");
        }
    }

    #[test]
    fn the_lifecycle_policy_expires_untagged_images_and_keeps_the_newest_sha_images() {
        let rules = EcrRules { untagged_days: 7, keep_images: 50, kms_key: None };
        let policy = rules.lifecycle_policy();
        assert_eq!(policy["rules"][0]["selection"]["tagStatus"], "untagged");
        assert_eq!(policy["rules"][0]["selection"]["countNumber"], 7);
        assert_eq!(policy["rules"][1]["selection"]["tagPrefixList"][0], "sha-");
        assert_eq!(policy["rules"][1]["selection"]["countNumber"], 50);
        assert_eq!(
            rules.summary(),
            "untagged images expire after 7 days; the newest 50 sha- images are kept"
        );
    }
}
