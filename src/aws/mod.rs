//! AWS: IAM, ECR and STS behind intent-level methods.
//!
//! Every method is an *ensure* or an idempotent delete: look first, adopt what carries our
//! `shipyard:service-id` tag, create what is missing, and refuse (as [`ErrorKind::Conflict`]) to
//! touch anything else. Every SDK call goes through [`retry_transient`] with the SDK's own retries
//! off, so a test can count attempts and the retry budget is ours.

mod accounts;
mod boundary;
mod ecr;
mod ecr_settings;
mod error;
mod iam_policy;
mod iam_role;
mod oidc;
pub mod policy;

use std::{collections::BTreeMap, future::Future, num::NonZeroU32, time::Duration};

use anyhow::Context as _;
use aws_config::{BehaviorVersion, SdkConfig, retry::RetryConfig, timeout::TimeoutConfig};
use aws_smithy_runtime_api::client::{orchestrator::HttpResponse, result::SdkError};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::OnceCell;
use uuid::Uuid;

pub use accounts::{Accounts, source_identity};
pub use boundary::PermissionsBoundary;
pub use ecr::{EcrImage, EcrRepository};
pub use ecr_settings::{
    EcrRules, Encryption, KeptRepository, KmsKeyArn, TAG_MUTABILITY, branch_tag, mutability_matches,
};
pub use iam_role::RoleView;

use crate::provider::{ErrorKind, ProviderError, RetryPolicy, System, retry_transient};

/// Tag key whose value says which Shipyard service owns a resource.
pub const SERVICE_ID_TAG: &str = "shipyard:service-id";
const MANAGED_BY_TAG: &str = "Managed-By";
const MANAGED_BY_VALUE: &str = "shipyard";

/// The tags every resource Shipyard creates carries; the service id is what makes it "ours".
#[derive(Debug, Clone)]
pub struct ResourceTags {
    pub service: String,
    pub environment: String,
    pub service_id: Uuid,
}

impl ResourceTags {
    /// Tag key/value pairs in the order they are sent.
    pub fn pairs(&self) -> [(&'static str, String); 4] {
        [
            ("Service", self.service.clone()),
            ("Environment", self.environment.clone()),
            (MANAGED_BY_TAG, MANAGED_BY_VALUE.to_owned()),
            (SERVICE_ID_TAG, self.service_id.to_string()),
        ]
    }
}

/// Whether a named resource may be adopted or deleted by a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// Nothing by that name exists.
    Absent,
    /// It exists and its `shipyard:service-id` tag is this service's id.
    Ours,
    /// It exists and belongs to someone else (untagged, or another service's id).
    Foreign,
}

impl Ownership {
    pub(crate) fn of_existing<'a>(
        tags: impl IntoIterator<Item = (&'a str, &'a str)>,
        service_id: Uuid,
    ) -> Self {
        let ours = service_id.to_string();
        if tags.into_iter().any(|(k, v)| k == SERVICE_ID_TAG && v == ours) {
            Self::Ours
        } else {
            Self::Foreign
        }
    }
}

/// Client for the AWS side of provisioning.
pub struct Aws {
    iam: aws_sdk_iam::Client,
    ecr: aws_sdk_ecr::Client,
    sts: aws_sdk_sts::Client,
    region: String,
    retry: RetryPolicy,
    /// Whose tokens the account's OIDC provider trusts (github.com's unless configured).
    oidc_issuer: policy::OidcIssuer,
    account: OnceCell<policy::Account>,
    /// The boundary every role is created with and drift expects (`None`: roles carry none, for
    /// tools and tests that talk to moto without Shipyard's configuration).
    permissions_boundary: Option<PermissionsBoundary>,
    /// How repositories are kept (lifecycle, encryption); the defaults unless configured.
    ecr_rules: EcrRules,
    /// Paces every call of this account's credentials: IAM throttles its control plane per account, and
    /// the drift check alone would otherwise read as fast as the services allow.
    pace: DefaultDirectRateLimiter,
    /// The pace's rate, for the clients of other accounts made from this one (each gets its own pace).
    calls_per_second: u32,
    /// The SDK config the clients were built from (assumed-role clients start from the hub's).
    sdk: SdkConfig,
    /// The role this client's credentials come from, when it acts in another account.
    assumed: Option<accounts::Assumed>,
}

/// AWS calls per second one account's client sends at most, steadily (a burst of as many first).
pub const CALLS_PER_SECOND: u32 = 10;

fn call_rate(per_second: u32) -> DefaultDirectRateLimiter {
    let n = NonZeroU32::new(per_second.max(1)).expect("at least one");
    RateLimiter::direct(Quota::per_second(n))
}

impl std::fmt::Debug for Aws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aws").field("region", &self.region).finish_non_exhaustive()
    }
}

impl Aws {
    /// Builds the clients from an SDK config (which must carry a region), with SDK retries off.
    pub fn new(sdk: &SdkConfig, retry: RetryPolicy) -> Self {
        let mut builder = sdk.to_builder();
        builder.set_retry_config(Some(RetryConfig::disabled()));
        if sdk.timeout_config().is_none_or(|t| t.operation_attempt_timeout().is_none()) {
            // Without an attempt timeout a stalled connection would hang a step forever.
            builder.set_timeout_config(Some(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(30))
                    .build(),
            ));
        }
        let sdk = builder.build();
        Self {
            iam: aws_sdk_iam::Client::new(&sdk),
            ecr: aws_sdk_ecr::Client::new(&sdk),
            sts: aws_sdk_sts::Client::new(&sdk),
            region: sdk.region().map(ToString::to_string).unwrap_or_default(),
            retry,
            oidc_issuer: policy::OidcIssuer::github_com(),
            account: OnceCell::new(),
            permissions_boundary: None,
            ecr_rules: EcrRules::default(),
            pace: call_rate(CALLS_PER_SECOND),
            calls_per_second: CALLS_PER_SECOND,
            sdk,
            assumed: None,
        }
    }

    /// A client acting in `account` and `region` through `sts:AssumeRole` of `role_arn` (asked with
    /// this client's credentials), with this client's settings; the boundary is the same policy in
    /// `account`.
    pub(crate) fn assumed(
        &self,
        account: &str,
        region: &str,
        role_arn: &str,
        source_identity: Option<String>,
        environment: &str,
    ) -> Self {
        let (sdk, refusal) = accounts::assumed_config(&self.sdk, region, role_arn, source_identity);
        Self {
            iam: aws_sdk_iam::Client::new(&sdk),
            ecr: aws_sdk_ecr::Client::new(&sdk),
            sts: aws_sdk_sts::Client::new(&sdk),
            region: region.to_owned(),
            retry: self.retry,
            oidc_issuer: self.oidc_issuer.clone(),
            account: OnceCell::new(),
            permissions_boundary: self.permissions_boundary.as_ref().map(|b| b.in_account(account)),
            ecr_rules: self.ecr_rules.clone(),
            pace: call_rate(self.calls_per_second),
            calls_per_second: self.calls_per_second,
            sdk,
            assumed: Some(accounts::Assumed {
                account: account.to_owned(),
                role_arn: role_arn.to_owned(),
                environment: environment.to_owned(),
                refusal,
            }),
        }
    }

    /// Send at most `per_second` calls a second (default [`CALLS_PER_SECOND`]); for benchmarks that
    /// scale time, and tests that need no pacing.
    pub fn with_call_rate(mut self, per_second: u32) -> Self {
        self.pace = call_rate(per_second);
        self.calls_per_second = per_second;
        self
    }

    /// Trust tokens from `issuer` (GHES, a GHEC enterprise's own issuer) instead of github.com's.
    pub fn with_oidc_issuer(mut self, issuer: policy::OidcIssuer) -> Self {
        self.oidc_issuer = issuer;
        self
    }

    /// Create every role with `boundary` as its permissions boundary, and expect it on every role.
    pub fn with_permissions_boundary(mut self, boundary: PermissionsBoundary) -> Self {
        self.permissions_boundary = Some(boundary);
        self
    }

    /// Keep repositories by `rules`: their lifecycle policy, and the key new ones are encrypted with.
    pub fn with_ecr_rules(mut self, rules: EcrRules) -> Self {
        self.ecr_rules = rules;
        self
    }

    /// How repositories are kept.
    pub fn ecr_rules(&self) -> &EcrRules {
        &self.ecr_rules
    }

    /// The boundary roles are created with, when configured.
    pub fn permissions_boundary(&self) -> Option<&PermissionsBoundary> {
        self.permissions_boundary.as_ref()
    }

    pub fn oidc_issuer(&self) -> &policy::OidcIssuer {
        &self.oidc_issuer
    }

    /// Loads the standard AWS configuration chain (honours `AWS_REGION`, `AWS_ENDPOINT_URL`, ...).
    pub async fn from_env(retry: RetryPolicy) -> anyhow::Result<Self> {
        let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
        sdk.region().context("AWS_REGION is not set (and no region in the AWS profile)")?;
        Ok(Self::new(&sdk, retry))
    }

    /// The region ECR repositories are created in.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The account and partition the credentials belong to (STS GetCallerIdentity, asked once).
    pub async fn account(&self) -> Result<policy::Account, ProviderError> {
        self.account
            .get_or_try_init(|| async {
                let out = self
                    .call(System::Sts, "sts:GetCallerIdentity", || self.sts.get_caller_identity().send())
                    .await?;
                match (out.arn.as_deref(), out.account.as_deref()) {
                    (Some(arn), Some(id)) => Ok(policy::Account::from_caller(arn, id)),
                    _ => Err(ProviderError::new(
                        System::Sts,
                        ErrorKind::Other,
                        "GetCallerIdentity returned no account or ARN",
                    )),
                }
            })
            .await
            .cloned()
    }

    /// The account id alone.
    pub async fn account_id(&self) -> Result<String, ProviderError> {
        Ok(self.account().await?.id)
    }

    /// Runs one SDK call under our retry policy, mapping its error.
    async fn call<T, E, F, Fut>(&self, system: System, what: &str, mut op: F) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        retry_transient(&self.retry, what, || {
            let attempt = op();
            async move {
                // Every attempt is a call AWS counts, retries included.
                self.pace.until_ready().await;
                attempt.await.map_err(|e| {
                    // A refused assume fails every call before it is sent: say so, not "request failed".
                    let unsent = !matches!(e, SdkError::ServiceError(_) | SdkError::ResponseError(_));
                    match self.assumed.as_ref().filter(|_| unsent).and_then(|a| a.refused()) {
                        Some(message) => ProviderError::new(System::Sts, ErrorKind::Denied, message),
                        None => error::from_sdk(system, e),
                    }
                })
            }
        })
        .await
    }
}

/// The error for a name that is taken by something we must not adopt.
fn foreign(system: System, what: &str, name: &str) -> ProviderError {
    ProviderError::new(
        system,
        ErrorKind::Conflict,
        format!("{what} {name} exists and is not managed by this service"),
    )
}

/// Tags as a sorted map, for views and comparisons.
fn tag_map<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> BTreeMap<String, String> {
    tags.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_matching_service_id_tag_makes_a_resource_ours() {
        let id = Uuid::new_v4();
        let tags = ResourceTags { service: "api".into(), environment: "prod".into(), service_id: id };
        let pairs = tags.pairs();
        let as_refs = || pairs.iter().map(|(k, v)| (*k, v.as_str()));
        assert_eq!(Ownership::of_existing(as_refs(), id), Ownership::Ours);
        assert_eq!(Ownership::of_existing(as_refs(), Uuid::new_v4()), Ownership::Foreign);
        assert_eq!(Ownership::of_existing([("Managed-By", "shipyard")], id), Ownership::Foreign);
    }
}
