//! Token authentication, OAuth scopes and the primary rate limit for API routes.
//!
//! GitHub counts the primary limit per user (5,000/h for tokens acting as a user, shared by all of that
//! user's tokens) and per IP for unauthenticated calls (60/h); every API response carries the
//! `x-ratelimit-*` headers and authenticated ones `x-oauth-scopes`.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::Sim;
use crate::error::{ApiError, ApiResult};
use crate::model::{Budget, Grant, now};

pub(crate) const USER_LIMIT: u64 = 5000;
const ANONYMOUS_LIMIT: u64 = 60;
const WINDOW: time::Duration = time::Duration::hours(1);

/// The authenticated user behind a request.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub user_id: u64,
    pub login: String,
    pub scopes: Vec<String>,
}

impl Caller {
    /// Whether a granted scope covers `scope` (e.g. `repo` covers `public_repo`, `admin:org` covers `read:org`).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|granted| granted == scope || implied_by(granted).contains(&scope))
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

/// Middleware for API routes: resolve the token, charge the budget, attach rate-limit headers.
pub(crate) async fn authenticate(State(sim): State<Sim>, mut request: Request, next: Next) -> Response {
    let token = read_token(request.headers());
    let resolved = {
        let world = sim.world();
        match &token {
            None => Ok(None),
            Some(t) => match world.tokens.get(t) {
                Some(Grant { user_id, scopes }) => Ok(world.user(*user_id).map(|u| Caller {
                    user_id: u.id,
                    login: u.login.clone(),
                    scopes: scopes.clone(),
                })),
                None => Err(()),
            },
        }
    };
    let caller = resolved.as_ref().ok().cloned().flatten();
    let (key, limit) = match &caller {
        Some(c) => (format!("user:{}", c.user_id), USER_LIMIT),
        None => ("anonymous".to_string(), ANONYMOUS_LIMIT),
    };
    let (method, path) = (request.method().to_string(), request.uri().path().to_string());
    let mut rate = charge(&sim, &key, limit);
    let mut response = if resolved.is_err() {
        ApiError::bad_credentials().into_response()
    } else if rate.used > rate.limit {
        let who = caller.as_ref().map_or("127.0.0.1".to_string(), |c| format!("user ID {}", c.user_id));
        let message = format!(
            "API rate limit exceeded for {who}. If you reach out to GitHub Support for help, please include the request ID."
        );
        ApiError::forbidden(message).into_response()
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
    if let Some(c) = &caller
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
