//! Acting as a GitHub App installation: the App's JWT finds the installation on the organization and
//! mints installation tokens, which are cached and replaced before they expire.
//!
//! GitHub's contract ("Authenticating as a GitHub App installation"): `GET /orgs/{org}/installation` and
//! `POST /app/installations/{id}/access_tokens` take an RS256 JWT (`iss` = App id, `iat` 60 s in the past,
//! `exp` at most 10 minutes ahead: octocrab's `create_jwt`); the 201 carries `token` and `expires_at`
//! (one hour). A token used after `expires_at` is a 401, which would fail a step, so a new one is minted
//! [`REFRESH_BEFORE`] ahead of time (or halfway through a shorter lifetime).
//!
//! Each token is minted for one [`TokenScope`]: the repository a call acts on and the permission it
//! needs, never the installation's whole reach (see `scopes.rs`). Tokens are cached per scope.

use std::time::Duration;

use http::Method;
use octocrab::{auth::EncodingKey, models::AppId};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use time::OffsetDateTime;
use tokio::sync::{Mutex, OnceCell};

use super::{
    classify::error,
    client::{GitHub, MINT, seg},
    scopes::TokenScope,
};
use crate::provider::{ErrorKind, ProviderError};

/// Tokens kept at once: a few scopes for each service being worked on.
const MAX_CACHED_TOKENS: u64 = 10_000;

/// How long before `expires_at` a token is replaced.
const REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);

/// A GitHub App installed on one organization, and its current installation token.
pub(super) struct AppAuth {
    app_id: u64,
    key: EncodingKey,
    org: String,
    installation_id: OnceCell<u64>,
    /// The current token of each scope. Bounded: a token lives an hour, and a scope unused for
    /// longer is minted afresh when next needed.
    tokens: moka::future::Cache<TokenScope, InstallationToken>,
    /// One mint at a time: concurrent steps needing the same scope share one token.
    minting: Mutex<()>,
}

#[derive(Clone)]
struct InstallationToken {
    value: SecretString,
    minted_at: OffsetDateTime,
    expires_at: OffsetDateTime,
}

impl InstallationToken {
    /// Still good for a while: more than [`REFRESH_BEFORE`] left, or half its lifetime for short ones.
    fn is_fresh(&self, now: OffsetDateTime) -> bool {
        let lifetime = self.expires_at - self.minted_at;
        let margin =
            time::Duration::try_from(REFRESH_BEFORE).unwrap_or(time::Duration::MINUTE).min(lifetime / 2);
        self.expires_at - now > margin
    }
}

#[derive(Deserialize)]
struct InstallationJson {
    id: u64,
}

#[derive(Deserialize)]
struct TokenJson {
    token: String,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

impl AppAuth {
    pub(super) fn new(app_id: u64, private_key: &SecretString, org: &str) -> anyhow::Result<Self> {
        let key = EncodingKey::from_rsa_pem(private_key.expose_secret().as_bytes())
            .map_err(|_| anyhow::anyhow!("GITHUB_APP_PRIVATE_KEY is not an RSA private key in PEM"))?;
        Ok(Self {
            app_id,
            key,
            org: org.to_owned(),
            installation_id: OnceCell::new(),
            tokens: moka::future::Cache::builder()
                .max_capacity(MAX_CACHED_TOKENS)
                .time_to_live(Duration::from_secs(60 * 60))
                .build(),
            minting: Mutex::new(()),
        })
    }

    /// A token for `scope` that stays valid for a while, minting one when the cached one is near its end.
    /// `None` when the scope's repository does not exist or the installation cannot see it: GitHub
    /// refuses to mint the token (422), and the call would have been a 404.
    pub(super) async fn token(
        &self,
        github: &GitHub,
        scope: &TokenScope,
    ) -> Result<Option<SecretString>, ProviderError> {
        let fresh =
            |now| async move { self.tokens.get(scope).await.filter(|t: &InstallationToken| t.is_fresh(now)) };
        if let Some(token) = fresh(OffsetDateTime::now_utc()).await {
            return Ok(Some(token.value));
        }
        let _minting = self.minting.lock().await;
        let now = OffsetDateTime::now_utc();
        if let Some(token) = fresh(now).await {
            return Ok(Some(token.value));
        }
        let installation = self.installation_id(github).await?;
        let jwt = self.jwt()?;
        let path = format!("/app/installations/{installation}/access_tokens");
        let body = scope.request_body();
        let unknown_repository = if scope.repository.is_some() { &[422][..] } else { &[] };
        let reply =
            github.call_as(MINT, Method::POST, &path, Some(&body), unknown_repository, Some(&jwt)).await?;
        if reply.status == 422 {
            let message = reply.message();
            if message.contains("not accessible to the parent installation") {
                return Ok(None);
            }
            if message.contains("permissions requested are not granted") {
                let needed: Vec<String> = scope.permissions.iter().map(|(p, l)| format!("{p}={l}")).collect();
                return Err(error(
                    ErrorKind::Denied,
                    format!(
                        "GitHub refused a token for this call ({}): the GitHub App's installation needs the \
                         permission {} (see Shipyard's README, GitHub App)",
                        message,
                        needed.join(", ")
                    ),
                ));
            }
            return Err(reply.into_error(github.retry.max_delay));
        }
        let minted: TokenJson = reply.json("installation token")?;
        tracing::info!(installation, expires_at = %minted.expires_at, scope = %body, "GitHub App installation token minted");
        let token = InstallationToken {
            value: SecretString::from(minted.token),
            minted_at: now,
            expires_at: minted.expires_at,
        };
        self.tokens.insert(scope.clone(), token.clone()).await;
        Ok(Some(token.value))
    }

    /// Forgets the cached token of `scope` (GitHub refused it), so the next call mints a new one.
    pub(super) async fn forget_token(&self, scope: &TokenScope) {
        self.tokens.invalidate(scope).await;
    }

    /// The organization the App is installed on.
    pub(super) fn org(&self) -> &str {
        &self.org
    }

    /// The App's installation on the organization, looked up once.
    async fn installation_id(&self, github: &GitHub) -> Result<u64, ProviderError> {
        let found = self
            .installation_id
            .get_or_try_init(|| async {
                let jwt = self.jwt()?;
                let path = format!("/orgs/{}/installation", seg(&self.org));
                let reply = github
                    .call_as("github:app_installation", Method::GET, &path, None, &[404], Some(&jwt))
                    .await?;
                if reply.status == 404 {
                    return Err(error(
                        ErrorKind::Denied,
                        format!(
                            "the GitHub App {} is not installed on the {} organization: an owner must install it \
                             (organization settings, GitHub Apps)",
                            self.app_id, self.org
                        ),
                    ));
                }
                let installation: InstallationJson = reply.json("installation")?;
                tracing::info!(app_id = self.app_id, installation = installation.id, org = %self.org, "GitHub App installation found");
                Ok(installation.id)
            })
            .await?;
        Ok(*found)
    }

    fn jwt(&self) -> Result<SecretString, ProviderError> {
        octocrab::auth::create_jwt(AppId(self.app_id), &self.key)
            .map(SecretString::from)
            .map_err(|e| error(ErrorKind::Other, format!("could not sign the GitHub App's JWT: {e}")))
    }
}
