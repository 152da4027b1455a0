//! An AWS client per account: hub and spoke.
//!
//! An environment named with an account (`prod=222222222222[/eu-west-1]` in `SHIPYARD_ENVIRONMENTS`)
//! is provisioned in that account, through `sts:AssumeRole` of `role/<SHIPYARD_PROVISIONER_ROLE>`
//! there; a plain name uses Shipyard's own credentials. The assumed-role credentials come from a
//! [`ProvideCredentials`] the SDK caches and refreshes before they expire (its lazy identity cache),
//! and each `(account, region, acting user)` has one client, kept for the process's life.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use aws_config::{Region, SdkConfig, identity::IdentityCache};
use aws_credential_types::{
    Credentials,
    provider::{self, ProvideCredentials, SharedCredentialsProvider, error::CredentialsError},
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::Aws;
use crate::config::Placement;

/// One client per (account, region, acting login): the login is the session's `SourceIdentity`.
type ClientKey = (String, String, Option<String>);

/// Where an environment's services are provisioned, and the client that acts there.
pub struct Accounts {
    hub: Arc<Aws>,
    placements: BTreeMap<String, Placement>,
    role: String,
    clients: Mutex<HashMap<ClientKey, Arc<Aws>>>,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts").field("placements", &self.placements).finish_non_exhaustive()
    }
}

impl Accounts {
    /// Every environment in Shipyard's own account and region.
    pub fn hub_only(hub: Arc<Aws>) -> Self {
        Self::new(hub, BTreeMap::new(), "shipyard-provisioner")
    }

    pub fn new(hub: Arc<Aws>, placements: BTreeMap<String, Placement>, role: &str) -> Self {
        Self { hub, placements, role: role.to_owned(), clients: Mutex::new(HashMap::new()) }
    }

    /// Shipyard's own client.
    pub fn hub(&self) -> &Arc<Aws> {
        &self.hub
    }

    /// The account an environment names (`None`: Shipyard's own).
    pub fn placement(&self, environment: &str) -> Option<&Placement> {
        self.placements.get(environment)
    }

    /// The client for `environment`, acting for `login` (the assumed session's `SourceIdentity`).
    pub fn for_environment(&self, environment: &str, login: Option<&str>) -> Arc<Aws> {
        let Some(placement) = self.placements.get(environment) else {
            return self.hub.clone();
        };
        let region = placement.region.clone().unwrap_or_else(|| self.hub.region().to_owned());
        let identity = login.map(source_identity).filter(|s| s.len() >= 2);
        let key = (placement.account_id.clone(), region.clone(), identity.clone());
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .entry(key)
            .or_insert_with(|| {
                let role_arn =
                    format!("arn:{}:iam::{}:role/{}", partition_of(&region), placement.account_id, self.role);
                Arc::new(self.hub.assumed(&placement.account_id, &region, &role_arn, identity, environment))
            })
            .clone()
    }
}

/// The partition a region belongs to.
fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// A GitHub login in STS's `SourceIdentity` / `RoleSessionName` charset (`[\w+=,.@-]`, at most 64).
pub fn source_identity(login: &str) -> String {
    login
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) { c } else { '-' })
        .take(64)
        .collect()
}

/// What an assumed-role client knows of the role it assumes, for its errors.
#[derive(Debug, Clone)]
pub(crate) struct Assumed {
    pub account: String,
    pub role_arn: String,
    pub environment: String,
    /// The last refusal of the assume, as STS worded it.
    pub refusal: Arc<Mutex<Option<String>>>,
}

impl Assumed {
    /// The error every call gets while the assume is refused: the account named, the fix said.
    pub fn refused(&self) -> Option<String> {
        let why = self.refusal.lock().unwrap_or_else(|p| p.into_inner()).clone()?;
        Some(format!(
            "could not assume {role} in account {account} (environment {env}): {why}. Fix: create the role \
             {role} in account {account} (with Shipyard's policy and boundary from deploy/aws/) and a trust \
             policy naming Shipyard's identity, or correct the account of {env} in SHIPYARD_ENVIRONMENTS",
            role = self.role_arn,
            account = self.account,
            env = self.environment,
        ))
    }
}

/// `sts:AssumeRole` of the provisioner role, through the hub's STS client.
#[derive(Debug)]
struct AssumeRole {
    sts: aws_sdk_sts::Client,
    role_arn: String,
    source_identity: Option<String>,
    refusal: Arc<Mutex<Option<String>>>,
}

impl AssumeRole {
    async fn credentials(&self) -> provider::Result {
        let session = self.source_identity.clone().unwrap_or_else(|| "shipyard".to_owned());
        let out = self
            .sts
            .assume_role()
            .role_arn(&self.role_arn)
            .role_session_name(session)
            .set_source_identity(self.source_identity.clone())
            .duration_seconds(3600)
            .send()
            .await;
        let set = |why: Option<String>| *self.refusal.lock().unwrap_or_else(|p| p.into_inner()) = why;
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                let why = match (e.code(), e.message()) {
                    (Some(code), Some(message)) => format!("{code}: {message}"),
                    (Some(code), None) => code.to_owned(),
                    _ => aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
                };
                set(Some(why.clone()));
                return Err(CredentialsError::provider_error(why));
            }
        };
        let Some(c) = out.credentials else {
            set(Some("AssumeRole returned no credentials".into()));
            return Err(CredentialsError::provider_error("AssumeRole returned no credentials"));
        };
        set(None);
        let expiry = SystemTime::try_from(c.expiration)
            .unwrap_or_else(|_| SystemTime::now() + Duration::from_secs(900));
        Ok(Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            Some(expiry),
            "shipyard-assume-role",
        ))
    }
}

impl ProvideCredentials for AssumeRole {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(self.credentials())
    }
}

/// The SDK config of an assumed-role client: the hub's, with the role's credentials (cached by the
/// SDK, refreshed five minutes before they expire) and the target region.
pub(crate) fn assumed_config(
    hub: &SdkConfig,
    region: &str,
    role_arn: &str,
    source_identity: Option<String>,
) -> (SdkConfig, Arc<Mutex<Option<String>>>) {
    let refusal = Arc::new(Mutex::new(None));
    let provider = AssumeRole {
        sts: aws_sdk_sts::Client::new(hub),
        role_arn: role_arn.to_owned(),
        source_identity,
        refusal: refusal.clone(),
    };
    let config = hub
        .to_builder()
        .region(Region::new(region.to_owned()))
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .identity_cache(IdentityCache::lazy().buffer_time(Duration::from_secs(300)).build())
        .build();
    (config, refusal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_is_made_fit_for_sts() {
        assert_eq!(source_identity("octo-cat"), "octo-cat");
        assert_eq!(source_identity("weird login/ü"), "weird-login--");
        assert_eq!(source_identity(&"a".repeat(80)).len(), 64);
    }
}
