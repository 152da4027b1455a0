//! Token authentication, OAuth scopes and the primary rate limit for API routes.
//!
//! GitHub counts the primary limit per user (5,000/h for tokens acting as a user, shared by all of that
//! user's tokens) and per IP for unauthenticated calls (60/h); every API response carries the
//! `x-ratelimit-*` headers and authenticated ones `x-oauth-scopes`. Apps authenticate with a JWT or an
//! installation token (`app.rs`); installations have a budget of their own.

use std::collections::BTreeMap;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::Sim;
use crate::error::{ApiError, ApiResult};
use crate::model::{Budget, Grant, World, now};

pub(crate) const USER_LIMIT: u64 = 5000;
const ANONYMOUS_LIMIT: u64 = 60;
const WINDOW: time::Duration = time::Duration::hours(1);

/// The authenticated user behind a request.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// The person, or the App's `{slug}[bot]` account for App credentials.
    pub user_id: u64,
    pub login: String,
    pub scopes: Vec<String>,
    /// Set when a GitHub App is calling rather than a person's token.
    pub integration: Option<Integration>,
}

/// How a GitHub App authenticated.
#[derive(Debug, Clone)]
pub(crate) enum Integration {
    /// The App's own JWT: only the `/app` endpoints and installation look-ups take it.
    App { app_id: u64 },
    /// An installation access token: the installation's permissions on its account's repositories.
    Installation {
        installation_id: u64,
        account_id: u64,
        permissions: BTreeMap<String, String>,
        /// The repositories the token was limited to when minted (`None`: all of the installation's).
        repositories: Option<std::collections::BTreeSet<u64>>,
    },
}

impl Caller {
    /// Whether a granted scope covers `scope` (e.g. `repo` covers `public_repo`, `admin:org` covers `read:org`).
    /// OAuth scopes do not apply to installation tokens: their permissions were checked before the handler.
    pub fn has_scope(&self, scope: &str) -> bool {
        matches!(self.integration, Some(Integration::Installation { .. }))
            || self.scopes.iter().any(|granted| granted == scope || implied_by(granted).contains(&scope))
    }

    /// The level (`read`, `write`, `admin`) an installation token holds of `permission`.
    pub fn installation_permission(&self, permission: &str) -> Option<&str> {
        match &self.integration {
            Some(Integration::Installation { permissions, .. }) => {
                permissions.get(permission).map(String::as_str)
            }
            _ => None,
        }
    }

    /// Whether this is an installation token of an App installed on `account_id`.
    pub fn installed_on(&self, account_id: u64) -> bool {
        matches!(&self.integration, Some(Integration::Installation { account_id: a, .. }) if *a == account_id)
    }
}

fn implied_by(scope: &str) -> &'static [&'static str] {
    match scope {
        "repo" => &["repo:status", "repo_deployment", "public_repo", "repo:invite", "security_events"],
        "admin:org" => &["write:org", "read:org"],
        "write:org" => &["read:org"],
        "user" => &["read:user", "user:email", "user:follow"],
        _ => &[],
    }
}

/// Request extension: who is calling, if anyone.
#[derive(Debug, Clone)]
pub(crate) struct Auth(pub Option<Caller>);

impl Auth {
    pub fn require(&self) -> ApiResult<&Caller> {
        self.0.as_ref().ok_or_else(ApiError::requires_authentication)
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.0.as_ref().is_some_and(|c| c.has_scope(scope))
    }
}

/// `Authorization: Bearer <t>` or `token <t>`.
pub(crate) fn read_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"))
        .then(|| token.trim().to_string())
}

struct RateState {
    limit: u64,
    used: u64,
    reset: i64,
}

/// Who a bearer value belongs to, or GitHub's 401 for it.
fn resolve(world: &World, token: &str) -> Result<Caller, ApiError> {
    if let Some(Grant { user_id, scopes }) = world.tokens.get(token) {
        let user = world.user(*user_id).ok_or_else(ApiError::bad_credentials)?;
        return Ok(Caller {
            user_id: user.id,
            login: user.login.clone(),
            scopes: scopes.clone(),
            integration: None,
        });
    }
    if let Some(grant) = world.installation_tokens.get(token) {
        // An expired installation token is just a bad credential to GitHub.
        if grant.expires_at <= now() {
            return Err(ApiError::bad_credentials());
        }
        let login = world.user(grant.bot_user_id).map(|u| u.login.clone()).unwrap_or_default();
        return Ok(Caller {
            user_id: grant.bot_user_id,
            login,
            scopes: Vec::new(),
            integration: Some(Integration::Installation {
                installation_id: grant.installation_id,
                account_id: grant.account_id,
                permissions: grant.permissions.clone(),
                repositories: grant.repositories.clone(),
            }),
        });
    }
    if crate::app::looks_like_jwt(token) {
        let app_id = crate::app::verify_jwt(world, token)?;
        let app = world.app(app_id).ok_or_else(ApiError::bad_credentials)?;
        return Ok(Caller {
            user_id: app.bot_user_id,
            login: app.slug.clone(),
            scopes: Vec::new(),
            integration: Some(Integration::App { app_id }),
        });
    }
    Err(ApiError::bad_credentials())
}

/// Middleware for API routes: resolve the token, charge the budget, attach rate-limit headers.
pub(crate) async fn authenticate(State(sim): State<Sim>, mut request: Request, next: Next) -> Response {
    let token = read_token(request.headers());
    let resolved = match &token {
        None => Ok(None),
        Some(t) => resolve(&sim.world(), t).map(Some),
    };
    let caller = resolved.as_ref().ok().cloned().flatten();
    let (key, limit, who) = match caller.as_ref().map(|c| (c, &c.integration)) {
        Some((_, Some(Integration::Installation { installation_id, .. }))) => (
            format!("installation:{installation_id}"),
            USER_LIMIT,
            format!("installation ID {installation_id}"),
        ),
        Some((_, Some(Integration::App { app_id }))) => {
            (format!("app:{app_id}"), USER_LIMIT, format!("app ID {app_id}"))
        }
        Some((c, None)) => (format!("user:{}", c.user_id), USER_LIMIT, format!("user ID {}", c.user_id)),
        None => ("anonymous".to_string(), ANONYMOUS_LIMIT, "127.0.0.1".to_string()),
    };
    let (method, path) = (request.method().to_string(), request.uri().path().to_string());
    let mut rate = charge(&sim, &key, limit);
    let integration_refusal = caller.as_ref().and_then(|c| {
        crate::app::integration_refusal(&sim.world(), c, request.method(), request.uri().path())
    });
    let mut response = if let Err(refusal) = resolved {
        refusal.into_response()
    } else if rate.used > rate.limit {
        let message = format!(
            "API rate limit exceeded for {who}. If you reach out to GitHub Support for help, please include the request ID."
        );
        ApiError::forbidden(message).into_response()
    } else if let Some(refusal) = integration_refusal {
        refusal
    } else {
        request.extensions_mut().insert(Auth(caller.clone()));
        next.run(request).await
    };
    // "Making a conditional request does not count against your primary rate limit if a 304 response is
    // returned and the request was made while correctly authorized with an Authorization header."
    if response.status() == StatusCode::NOT_MODIFIED && caller.is_some() {
        rate = refund(&sim, &key, limit);
    } else {
        sim.world().record_charged(&method, &path);
    }
    let headers = response.headers_mut();
    let remaining = rate.limit.saturating_sub(rate.used);
    headers.insert("x-ratelimit-limit", HeaderValue::from(rate.limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    headers.insert("x-ratelimit-used", HeaderValue::from(rate.used.min(rate.limit)));
    headers.insert("x-ratelimit-reset", HeaderValue::from(rate.reset));
    headers.insert("x-ratelimit-resource", HeaderValue::from_static("core"));
    headers.insert("x-github-api-version-selected", HeaderValue::from_static("2022-11-28"));
    if let Some(c) = caller.as_ref().filter(|c| c.integration.is_none())
        && let Ok(v) = HeaderValue::from_str(&c.scopes.join(", "))
    {
        headers.insert("x-oauth-scopes", v);
    }
    response
}

/// Gives back the call [`charge`] took, for a 304.
fn refund(sim: &Sim, key: &str, limit: u64) -> RateState {
    let mut world = sim.world();
    let budget = world.budgets.entry(key.to_string()).or_insert(Budget { window_start: now(), used: 1 });
    budget.used = budget.used.saturating_sub(1);
    RateState { limit, used: budget.used, reset: (budget.window_start + WINDOW).unix_timestamp() }
}

fn charge(sim: &Sim, key: &str, limit: u64) -> RateState {
    let mut world = sim.world();
    let now = now();
    let budget = world.budgets.entry(key.to_string()).or_insert(Budget { window_start: now, used: 0 });
    if now - budget.window_start >= WINDOW {
        *budget = Budget { window_start: now, used: 0 };
    }
    budget.used += 1;
    RateState { limit, used: budget.used, reset: (budget.window_start + WINDOW).unix_timestamp() }
}
