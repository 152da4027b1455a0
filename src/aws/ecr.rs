//! ECR: the service's image repository (scan on push, tagged), adopted only when it is ours.

use std::collections::BTreeMap;

use aws_sdk_ecr::types::{
    EncryptionConfiguration, EncryptionType, ImageDetail, ImageScanningConfiguration, Repository, Tag,
};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Aws, Ownership, ResourceTags, ecr_settings::Encryption, error::OptionalExt, foreign, tag_map};
use crate::provider::{ErrorKind, ProviderError, System};

/// An ECR repository as Shipyard sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrRepository {
    pub name: String,
    pub arn: String,
    /// `ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME`: what `docker push` and `ECR_REPO_URL` use.
    pub uri: String,
    pub scan_on_push: bool,
    /// `MUTABLE`, `IMMUTABLE`, or one of them `_WITH_EXCLUSION`.
    pub tag_mutability: String,
    /// The tag filters exempt from the mutability setting.
    pub excluded_tags: Vec<String>,
    pub encryption: Encryption,
    pub tags: BTreeMap<String, String>,
}

/// One image in a repository: its digest, the tags that point at it and when it was pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrImage {
    /// `sha256:<64 hex>`.
    pub digest: String,
    /// Empty for an untagged image.
    pub tags: Vec<String>,
    pub pushed_at: Option<OffsetDateTime>,
    pub size_bytes: Option<i64>,
}

/// DescribeImages' largest page.
const IMAGES_PER_PAGE: i32 = 1000;
/// A bound on the pages read, so a repository of many thousand images costs a bounded number of calls.
const MAX_IMAGE_PAGES: usize = 10;

impl Aws {
    /// The repository's images, newest push first (DescribeImages has no order of its own), read page
    /// by page up to [`MAX_IMAGE_PAGES`]. A repository that does not exist is [`ErrorKind::NotFound`].
    #[tracing::instrument(skip_all, fields(name = %name))]
    pub async fn list_images(&self, name: &str) -> Result<Vec<EcrImage>, ProviderError> {
        let mut images = Vec::new();
        let mut next_token: Option<String> = None;
        for _ in 0..MAX_IMAGE_PAGES {
            let page = self
                .call(System::Ecr, "ecr:DescribeImages", || {
                    self.ecr
                        .describe_images()
                        .repository_name(name)
                        .max_results(IMAGES_PER_PAGE)
                        .set_next_token(next_token.clone())
                        .send()
                })
                .await?;
            images.extend(page.image_details.unwrap_or_default().into_iter().filter_map(image_view));
            next_token = page.next_token.filter(|t| !t.is_empty());
            if next_token.is_none() {
                break;
            }
        }
        // Newest first; images without a push time (never seen in practice) go last.
        images.sort_by_key(|image| std::cmp::Reverse(image.pushed_at));
        Ok(images)
    }

    /// Looks up a repository and its tags; `None` when it does not exist.
    #[tracing::instrument(skip_all, fields(name = %name))]
    pub async fn find_ecr_repository(&self, name: &str) -> Result<Option<EcrRepository>, ProviderError> {
        let Some(mut repository) = self.describe_ecr_repository(name).await? else {
            return Ok(None);
        };
        let tags = self
            .call(System::Ecr, "ecr:ListTagsForResource", || {
                self.ecr.list_tags_for_resource().resource_arn(&repository.arn).send()
            })
            .await?;
        repository.tags = tag_map(tags.tags().iter().map(|t| (t.key(), t.value())));
        Ok(Some(repository))
    }

    /// Looks up a repository without its tags (one call); `None` when it does not exist.
    pub(crate) async fn describe_ecr_repository(
        &self,
        name: &str,
    ) -> Result<Option<EcrRepository>, ProviderError> {
        let described = self
            .call(System::Ecr, "ecr:DescribeRepositories", || {
                self.ecr.describe_repositories().repository_names(name).send()
            })
            .await
            .optional()?;
        described
            .and_then(|out| out.repositories.unwrap_or_default().into_iter().next())
            .map(repository_view)
            .transpose()
    }

    /// Whether a repository of that name exists and whose it is (for preflight).
    pub async fn ecr_repository_ownership(
        &self,
        name: &str,
        service_id: Uuid,
    ) -> Result<Ownership, ProviderError> {
        Ok(match self.find_ecr_repository(name).await? {
            None => Ownership::Absent,
            Some(repo) => {
                Ownership::of_existing(repo.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())), service_id)
            }
        })
    }

    /// Creates the repository with scan on push, our tags and the configured encryption, or adopts it when it is already ours
    /// (re-applying scan on push and the tags). Someone else's repository is a conflict.
    #[tracing::instrument(skip_all, fields(name = %name))]
    pub async fn ensure_ecr_repository(
        &self,
        name: &str,
        tags: &ResourceTags,
    ) -> Result<EcrRepository, ProviderError> {
        // Twice: a create that loses a race (or whose answer was lost) finds the winner on the second look.
        for _ in 0..2 {
            if let Some(existing) = self.find_ecr_repository(name).await? {
                return self.adopt_ecr_repository(existing, tags).await;
            }
            match self.create_ecr_repository(name, tags).await {
                Err(e) if e.kind == ErrorKind::Conflict => continue,
                created => return created,
            }
        }
        Err(foreign(System::Ecr, "ECR repository", name))
    }

    async fn create_ecr_repository(
        &self,
        name: &str,
        tags: &ResourceTags,
    ) -> Result<EcrRepository, ProviderError> {
        let ecr_tags = ecr_tags(tags)?;
        // Encryption can only be chosen here: ECR cannot change it on an existing repository.
        let encryption = match &self.ecr_rules().kms_key {
            Some(key) => Some(
                EncryptionConfiguration::builder()
                    .encryption_type(EncryptionType::Kms)
                    .kms_key(key.arn())
                    .build()
                    .map_err(|e| ProviderError::new(System::Ecr, ErrorKind::Invalid, format!("{e}")))?,
            ),
            None => None,
        };
        let out = self
            .call(System::Ecr, "ecr:CreateRepository", || {
                self.ecr
                    .create_repository()
                    .repository_name(name)
                    .image_scanning_configuration(
                        ImageScanningConfiguration::builder().scan_on_push(true).build(),
                    )
                    .set_tags(Some(ecr_tags.clone()))
                    .set_encryption_configuration(encryption.clone())
                    .send()
            })
            .await?;
        let repository = out.repository.ok_or_else(|| missing("CreateRepository returned no repository"))?;
        let mut view = repository_view(repository)?;
        view.tags = tag_map(ecr_tags.iter().map(|t| (t.key(), t.value())));
        Ok(view)
    }

    async fn adopt_ecr_repository(
        &self,
        mut repo: EcrRepository,
        tags: &ResourceTags,
    ) -> Result<EcrRepository, ProviderError> {
        let owner =
            Ownership::of_existing(repo.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())), tags.service_id);
        if owner != Ownership::Ours {
            return Err(foreign(System::Ecr, "ECR repository", &repo.name));
        }
        if !repo.scan_on_push {
            self.call(System::Ecr, "ecr:PutImageScanningConfiguration", || {
                self.ecr
                    .put_image_scanning_configuration()
                    .repository_name(&repo.name)
                    .image_scanning_configuration(
                        ImageScanningConfiguration::builder().scan_on_push(true).build(),
                    )
                    .send()
            })
            .await?;
            repo.scan_on_push = true;
        }
        // Only the descriptive tags: the service-id tag is there already (that is what made it ours),
        // and Shipyard's policy refuses `TagResource` with any `shipyard:` key, so that tagging can never
        // make someone else's repository deletable by Shipyard (only `CreateRepository` sets it).
        let ecr_tags: Vec<Tag> =
            ecr_tags(tags)?.into_iter().filter(|t| !t.key().starts_with("shipyard:")).collect();
        self.call(System::Ecr, "ecr:TagResource", || {
            self.ecr.tag_resource().resource_arn(&repo.arn).set_tags(Some(ecr_tags.clone())).send()
        })
        .await?;
        repo.tags.extend(ecr_tags.iter().map(|t| (t.key().to_owned(), t.value().to_owned())));
        Ok(repo)
    }

    /// Deletes the repository and its images. Gone already is done; someone else's is a conflict.
    #[tracing::instrument(skip_all, fields(name = %name))]
    pub async fn delete_ecr_repository(&self, name: &str, service_id: Uuid) -> Result<(), ProviderError> {
        match self.ecr_repository_ownership(name, service_id).await? {
            Ownership::Absent => return Ok(()),
            Ownership::Foreign => return Err(foreign(System::Ecr, "ECR repository", name)),
            Ownership::Ours => {}
        }
        let deleted = self
            .call(System::Ecr, "ecr:DeleteRepository", || {
                self.ecr.delete_repository().repository_name(name).force(true).send()
            })
            .await;
        deleted.optional().map(|_| ())
    }
}

fn ecr_tags(tags: &ResourceTags) -> Result<Vec<Tag>, ProviderError> {
    tags.pairs()
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<_, _>>()
        .map_err(|e| ProviderError::new(System::Ecr, ErrorKind::Invalid, format!("bad tag: {e}")))
}

fn repository_view(repository: Repository) -> Result<EcrRepository, ProviderError> {
    let scan_on_push = repository.image_scanning_configuration().is_some_and(|c| c.scan_on_push());
    let tag_mutability = repository.image_tag_mutability().map_or("MUTABLE", |m| m.as_str()).to_owned();
    let excluded_tags =
        repository.image_tag_mutability_exclusion_filters().iter().map(|f| f.filter().to_owned()).collect();
    // ECR reports no configuration for the default, AES-256.
    let encryption = match repository.encryption_configuration() {
        Some(c) => Encryption {
            kind: c.encryption_type().as_str().to_owned(),
            kms_key: c.kms_key().map(str::to_owned),
        },
        None => Encryption { kind: "AES256".into(), kms_key: None },
    };
    let (Some(name), Some(arn), Some(uri)) =
        (repository.repository_name, repository.repository_arn, repository.repository_uri)
    else {
        return Err(missing("ECR returned a repository without name, ARN or URI"));
    };
    Ok(EcrRepository {
        name,
        arn,
        uri,
        scan_on_push,
        tag_mutability,
        excluded_tags,
        encryption,
        tags: BTreeMap::new(),
    })
}

/// An image as we show it; one without a digest (which ECR always sends) is skipped.
fn image_view(detail: ImageDetail) -> Option<EcrImage> {
    let pushed_at =
        detail.image_pushed_at.and_then(|at| OffsetDateTime::from_unix_timestamp_nanos(at.as_nanos()).ok());
    Some(EcrImage {
        digest: detail.image_digest?,
        tags: detail.image_tags.unwrap_or_default(),
        pushed_at,
        size_bytes: detail.image_size_in_bytes,
    })
}

fn missing(what: &str) -> ProviderError {
    ProviderError::new(System::Ecr, ErrorKind::Other, what)
}
