//! API access with `Authorization: Bearer <GitHub token>` (a user's OAuth token or a personal
//! access token, e.g. `gh auth token`) instead of the session cookie.
//!
//! GitHub is the judge: `GET /user` says whose token it is, `GET /user/memberships/orgs/{org}`
//! whether they are an active member and an admin. The verdict is cached for [`TOKEN_TTL`] under
//! the token's SHA-256, so a script making many calls costs GitHub two requests a minute, and a
//! revoked token or a removed member loses access within that time. The token itself is never
//! stored, logged or put in an error.

use std::time::Duration;

use axum::http::{HeaderMap, header};
use moka::future::Cache;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::session::{AuthMethod, CurrentUser};
use crate::{
    db::{self, users::User},
    domain::OrgRole,
    error::AppError,
    provider::{ErrorKind, ProviderError},
    web::AppState,
};

/// How long GitHub's verdict on a token is trusted.
pub const TOKEN_TTL: Duration = Duration::from_secs(60);
/// At most this many tokens are remembered; a flood of random tokens evicts entries, never grows memory.
const CAPACITY: u64 = 10_000;
/// GitHub's tokens are at most 255 characters; anything much longer is not worth a call.
const MAX_TOKEN_LEN: usize = 1024;
/// How long a token check may take, retries included. The GitHub client's retry policy is sized for
/// provisioning (minutes); a person or script waiting on an API answer gets "GitHub unavailable"
/// (503) well before the request timeout (30 s, a bare 408) would cut in.
pub const CHECK_DEADLINE: Duration = Duration::from_secs(5);

/// What GitHub said about a token. Only definite answers are cached; "GitHub did not answer" is not.
#[derive(Clone)]
enum Verdict {
    Member {
        user: User,
        org_role: OrgRole,
    },
    /// GitHub did not accept the token (401): expired, revoked or made up.
    Rejected,
    /// A real GitHub user, but not allowed in; the message says why.
    NotMember(String),
}

/// Verdicts by SHA-256 of the token, expiring after [`TOKEN_TTL`].
///
/// moka rather than a `Mutex<HashMap>`: it bounds the size and expires entries by itself, and
/// `try_get_with` runs one verification per token however many requests arrive with it at once.
#[derive(Clone)]
pub struct TokenCache(Cache<[u8; 32], Verdict>);

impl TokenCache {
    pub fn new(ttl: Duration) -> Self {
        Self(Cache::builder().max_capacity(CAPACITY).time_to_live(ttl).build())
    }

    /// Whether GitHub's verdict on this token is remembered (checking it again costs nothing).
    pub fn knows(&self, token: &SecretString) -> bool {
        self.0.contains_key(&key_of(token))
    }
}

fn key_of(token: &SecretString) -> [u8; 32] {
    Sha256::digest(token.expose_secret().as_bytes()).into()
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::new(TOKEN_TTL)
    }
}

/// Why a verification could not reach a verdict.
#[derive(Debug, thiserror::Error)]
enum VerifyError {
    #[error("GitHub did not answer a token check: {0}")]
    GitHub(ProviderError),
    #[error("GitHub did not answer a token check within {CHECK_DEADLINE:?}")]
    Deadline,
    #[error("could not act as the token: {0}")]
    Client(String),
    #[error("could not record the token's user")]
    Database(#[source] sqlx::Error),
}

/// The token of an `Authorization: Bearer ...` header (scheme case-insensitive), if there is one.
pub fn bearer_token(headers: &HeaderMap) -> Option<SecretString> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    scheme.eq_ignore_ascii_case("bearer").then(|| SecretString::from(token.trim().to_owned()))
}

/// The user behind a bearer token, from the cache or from GitHub.
#[tracing::instrument(skip_all)]
pub async fn authenticate(state: &AppState, token: SecretString) -> Result<CurrentUser, AppError> {
    let key = key_of(&token);
    let check = async {
        tokio::time::timeout(CHECK_DEADLINE, verify(state, token)).await.unwrap_or(Err(VerifyError::Deadline))
    };
    let verdict = state.tokens.0.try_get_with(key, check).await.map_err(|e| match &*e {
        VerifyError::GitHub(_) | VerifyError::Deadline => {
            tracing::warn!(error = %e, "bearer token could not be checked");
            AppError::GitHubUnavailable
        }
        _ => AppError::Internal(anyhow::Error::new(e)),
    })?;
    match verdict {
        Verdict::Member { user, org_role } => Ok(CurrentUser {
            user,
            org_role,
            csrf_token: String::new(),
            session_hash: Vec::new(),
            auth: AuthMethod::Bearer,
        }),
        Verdict::Rejected => Err(AppError::BadToken),
        Verdict::NotMember(message) => Err(AppError::Forbidden(message)),
    }
}

/// Asks GitHub whose token it is and whether they are an active member, and records the user.
async fn verify(state: &AppState, token: SecretString) -> Result<Verdict, VerifyError> {
    let plausible =
        |t: &str| !t.is_empty() && t.len() <= MAX_TOKEN_LEN && t.bytes().all(|b| b.is_ascii_graphic());
    if !plausible(token.expose_secret()) {
        return Ok(Verdict::Rejected);
    }
    let github = state.github.as_token(&token).map_err(|e| VerifyError::Client(e.to_string()))?;
    let github_user = match github.current_user().await {
        Ok(user) => user,
        Err(e) if e.kind == ErrorKind::Denied => return Ok(Verdict::Rejected),
        Err(e) => return Err(VerifyError::GitHub(e)),
    };
    let org = &state.config.github_org;
    let membership = match github.org_membership(org).await {
        Ok(membership) => membership,
        Err(e) if e.kind == ErrorKind::Denied => {
            return Ok(Verdict::NotMember(format!(
                "GitHub would not show this token's membership of {org}: {}. A token needs the read:org scope.",
                e.message
            )));
        }
        Err(e) => return Err(VerifyError::GitHub(e)),
    };
    // The same rule as sign-in: only an active admin or member.
    let Some(org_role) = membership.and_then(|m| m.admitted_role()) else {
        return Ok(Verdict::NotMember(format!(
            "Shipyard is for active members of the {org} organization on GitHub, and {} is not one.",
            github_user.login
        )));
    };
    let user = db::users::upsert_user(
        &state.db,
        github_user.id,
        &github_user.login,
        github_user.name.as_deref(),
        &github_user.avatar_url,
    )
    .await
    .map_err(VerifyError::Database)?;
    tracing::info!(login = %user.login, %org_role, "bearer token verified with GitHub");
    Ok(Verdict::Member { user, org_role })
}
