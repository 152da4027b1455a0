//! Sessions: an opaque random cookie whose SHA-256 is the database key, and the CSRF token
//! derived from it. The cookie value exists only in the browser; the database never sees it.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};
use std::time::Duration;

use axum::{
    extract::{FromRequest, Request, State},
    http::{HeaderMap, Method, header},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use moka::future::Cache;
use rand::RngCore;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{bearer, membership};
use crate::{
    db::{self, sessions::SessionRecord, users::User},
    domain::OrgRole,
    error::AppError,
    web::AppState,
};

/// How long a session lives after sign-in.
pub const SESSION_LIFETIME: time::Duration = time::Duration::hours(12);
/// Form field and header that carry the CSRF token.
pub const CSRF_FIELD: &str = "csrf_token";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How a request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// The session cookie. Browsers attach it to any request, so writes also need the CSRF token.
    Session,
    /// `Authorization: Bearer <GitHub token>` on the API. A browser never adds it by itself, so a
    /// forged cross-site request cannot carry it: no CSRF token needed (see `bearer.rs`).
    Bearer,
}

/// How long a session read from the database is reused without reading it again. This process's
/// own sign-outs and membership changes take effect at once (they go through [`SessionCache`]);
/// another replica's take up to this long here.
pub const SESSION_CACHE_TTL: Duration = Duration::from_secs(5);

/// Live sessions recently read, keyed by the cookie's SHA-256 (never the cookie), so a page load
/// costs no session query. Every change to sessions goes through its methods, which drop what they
/// change from it; a read that raced any change is not kept (the `changes` counter).
#[derive(Clone)]
pub struct SessionCache {
    recent: Cache<Vec<u8>, SessionRecord>,
    /// Hashes of cookies that were live sessions within the last [`SEEN_TTL`]: only the rate limit
    /// reads it (a cookie not in it costs a budget unit, so random cookies cannot make unlimited
    /// session queries), never authentication.
    seen: Cache<Vec<u8>, ()>,
    /// Bumped by every change: a read that raced one is not kept.
    changes: Arc<AtomicU64>,
}

impl Default for SessionCache {
    fn default() -> Self {
        Self {
            recent: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(SESSION_CACHE_TTL)
                .support_invalidation_closures()
                .build(),
            changes: Arc::default(),
            seen: Cache::builder().max_capacity(100_000).time_to_live(SEEN_TTL).build(),
        }
    }
}

/// How long a cookie that was a live session stays exempt from the unauthenticated-work limit.
const SEEN_TTL: Duration = Duration::from_secs(60 * 60);

impl SessionCache {
    /// The live session with this hash, if any.
    pub async fn find(&self, db: &sqlx::PgPool, hash: &[u8]) -> sqlx::Result<Option<SessionRecord>> {
        let now = time::OffsetDateTime::now_utc();
        if let Some(record) = self.recent.get(hash).await.filter(|r| r.expires_at > now) {
            return Ok(Some(record));
        }
        let before = self.changes.load(Ordering::Acquire);
        let Some(record) = db::sessions::find_session(db, hash.to_vec()).await? else {
            return Ok(None);
        };
        self.seen.insert(hash.to_vec(), ()).await;
        self.recent.insert(hash.to_vec(), record.clone()).await;
        // A change that landed while the row was read may be older than the row or newer; drop
        // what was kept rather than guess (the change's own removal may have run before the insert).
        if self.changes.load(Ordering::Acquire) != before {
            self.recent.invalidate(hash).await;
        }
        Ok(Some(record))
    }

    /// Whether a cookie with this hash was a live session lately (for the rate limit only).
    pub fn seen_lately(&self, hash: &[u8]) -> bool {
        self.seen.contains_key(hash)
    }

    /// Notes a session just started, so its first requests are not counted as unauthenticated work.
    pub async fn started(&self, hash: Vec<u8>) {
        self.seen.insert(hash, ()).await;
    }

    /// Ends one session (sign-out, or a new sign-in in the same browser).
    pub async fn end(&self, db: &sqlx::PgPool, hash: Vec<u8>) -> sqlx::Result<bool> {
        let ended = db::sessions::delete_session(db, hash.clone()).await?;
        self.changes.fetch_add(1, Ordering::AcqRel);
        self.recent.invalidate(&hash).await;
        Ok(ended)
    }

    /// Ends every session of a user (GitHub says they are no longer an active member).
    pub async fn end_all_of(&self, db: &sqlx::PgPool, user_id: uuid::Uuid) -> sqlx::Result<u64> {
        let ended = db::sessions::delete_user_sessions(db, user_id).await?;
        self.forget_user(user_id);
        Ok(ended)
    }

    /// Records GitHub's latest word on a user's membership on every session of theirs.
    pub async fn record_membership_check(
        &self,
        db: &sqlx::PgPool,
        user_id: uuid::Uuid,
        org_role: OrgRole,
    ) -> sqlx::Result<()> {
        db::sessions::record_membership_check(db, user_id, org_role).await?;
        self.forget_user(user_id);
        Ok(())
    }

    /// Forgets every kept session of `user_id` (each user's re-check comes every
    /// `SHIPYARD_MEMBERSHIP_TTL_SECS`, so forgetting everyone's would empty the cache all the time).
    fn forget_user(&self, user_id: uuid::Uuid) {
        self.changes.fetch_add(1, Ordering::AcqRel);
        // Refused only when the cache was built without invalidation closures, which `default` enables.
        if self.recent.invalidate_entries_if(move |_, record| record.user.user_id == user_id).is_err() {
            self.recent.invalidate_all();
        }
    }
}

/// The signed-in user of this request, put in the request extensions by [`require_session`].
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: User,
    /// The organization role GitHub reported at the last check (sign-in, then every
    /// `SHIPYARD_MEMBERSHIP_TTL_SECS`; bearer tokens every minute).
    pub org_role: OrgRole,
    /// The token forms must send back (empty for bearer requests, which never match it).
    pub csrf_token: String,
    pub(crate) session_hash: Vec<u8>,
    pub auth: AuthMethod,
}

impl CurrentUser {
    pub fn is_org_admin(&self) -> bool {
        self.org_role.is_admin()
    }

    /// This user as the commands see them, acting in the request `request_id`.
    pub fn actor<'a>(&'a self, request_id: &'a str) -> crate::commands::Actor<'a> {
        crate::commands::Actor {
            user_id: self.user.user_id,
            github_id: self.user.github_id,
            login: &self.user.login,
            is_org_admin: self.is_org_admin(),
            request_id,
        }
    }
}

/// A new random secret (256 bits), URL-safe.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn sha256(value: &str) -> Vec<u8> {
    Sha256::digest(value.as_bytes()).to_vec()
}

/// The CSRF token of a session: a one-way function of its secret, so it needs no storage and
/// reveals nothing about the cookie.
fn csrf_token_for(session_value: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(format!("shipyard-csrf:{session_value}").as_bytes()))
}

pub fn session_cookie_name(state: &AppState) -> &'static str {
    if state.config.cookies_secure() { "__Host-shipyard_session" } else { "shipyard_session" }
}

/// Creates a session for the user and returns the cookie that carries it.
pub async fn start_session(
    state: &AppState,
    user: &User,
    org_role: OrgRole,
) -> Result<Cookie<'static>, AppError> {
    let value = random_token();
    let expires_at = time::OffsetDateTime::now_utc() + SESSION_LIFETIME;
    let hash = sha256(&value);
    db::sessions::insert_session(&state.db, hash.clone(), user.user_id, org_role, expires_at).await?;
    state.sessions.started(hash).await;
    Ok(Cookie::build((session_cookie_name(state), value))
        .path("/")
        .http_only(true)
        .secure(state.config.cookies_secure())
        .same_site(SameSite::Lax)
        .max_age(SESSION_LIFETIME)
        .build())
}

/// A cookie that removes the session cookie from the browser. It needs the same `Secure` as the
/// cookie it removes: browsers ignore a `__Host-` cookie without it, so the old one would stay.
pub fn removal_cookie(state: &AppState) -> Cookie<'static> {
    let mut cookie = Cookie::build((session_cookie_name(state), ""))
        .path("/")
        .secure(state.config.cookies_secure())
        .build();
    cookie.make_removal();
    cookie
}

/// The session behind the request's cookie, if it is live.
pub fn current_user<'a>(
    state: &'a AppState,
    jar: &CookieJar,
) -> impl Future<Output = Result<Option<CurrentUser>, AppError>> + Send + 'a {
    // Read the cookie now so the future does not borrow the jar across an await.
    let cookie = jar.get(session_cookie_name(state)).map(|c| c.value().to_owned());
    user_for_cookie(state, cookie)
}

/// The database key of the request's session cookie, if it carries one (live or not).
pub fn session_hash(state: &AppState, jar: &CookieJar) -> Option<Vec<u8>> {
    jar.get(session_cookie_name(state)).map(|c| sha256(c.value()))
}

async fn user_for_cookie(state: &AppState, cookie: Option<String>) -> Result<Option<CurrentUser>, AppError> {
    let Some(value) = cookie else {
        return Ok(None);
    };
    let hash = sha256(&value);
    let Some(record) = state.sessions.find(&state.db, &hash).await? else {
        return Ok(None);
    };
    let Some(org_role) = membership::current_role(state, &record).await? else {
        return Ok(None);
    };
    Ok(Some(CurrentUser {
        user: record.user,
        org_role,
        csrf_token: csrf_token_for(&value),
        session_hash: hash,
        auth: AuthMethod::Session,
    }))
}

/// Middleware for everything behind sign-in: pages redirect to the sign-in page, the API answers 401.
/// The API also takes `Authorization: Bearer <GitHub token>`, which wins over a cookie.
pub async fn require_session(
    State(state): State<AppState>,
    jar: CookieJar,
    mut request: Request,
    next: Next,
) -> Response {
    let is_api = request.uri().path().starts_with("/api/");
    if let Some(token) = bearer::bearer_token(request.headers()).filter(|_| is_api) {
        return match bearer::authenticate(&state, token).await {
            Ok(user) => {
                request.extensions_mut().insert(user);
                next.run(request).await
            }
            Err(e) => e.into_response(),
        };
    }
    match current_user(&state, &jar).await {
        Ok(Some(user)) => {
            request.extensions_mut().insert(user);
            next.run(request).await
        }
        Ok(None) if is_api => AppError::Unauthorized.into_response(),
        Ok(None) => Redirect::to("/").into_response(),
        Err(e) => e.into_response(),
    }
}

/// An empty expected token (a bearer request's) never matches, even an empty one.
fn token_matches(expected: &str, given: &str) -> bool {
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// Checks the CSRF header of a JSON write made with the session cookie. Bearer requests pass:
/// they carry no ambient credential a forged request could borrow.
pub fn check_csrf_header(user: &CurrentUser, headers: &HeaderMap) -> Result<(), AppError> {
    if user.auth == AuthMethod::Bearer {
        return Ok(());
    }
    let given = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if token_matches(&user.csrf_token, given) { Ok(()) } else { Err(csrf_refused()) }
}

fn csrf_refused() -> AppError {
    AppError::Forbidden(
        "The form has expired or did not come from Shipyard. Reload the page and try again.".into(),
    )
}

/// A form with nothing but the CSRF token (sign-out, buttons).
#[derive(serde::Deserialize)]
pub struct NoFields {}

/// A form POST from a signed-in user whose CSRF token checked out. Rejects with 403 before the
/// handler runs, so a forged request changes nothing.
pub struct CsrfForm<T>(pub CurrentUser, pub T);

#[derive(serde::Deserialize)]
struct CsrfField {
    csrf_token: Option<String>,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let user = request.extensions().get::<CurrentUser>().cloned().ok_or(AppError::Unauthorized)?;
        if request.method() != Method::POST {
            return Err(AppError::BadRequest("Forms are sent with POST.".into()));
        }
        let is_form = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(csrf_refused());
        }
        let body = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|_| AppError::BadRequest("The form could not be read.".into()))?;
        let field: CsrfField = serde_urlencoded::from_bytes(&body).map_err(|_| csrf_refused())?;
        if !token_matches(&user.csrf_token, field.csrf_token.as_deref().unwrap_or_default()) {
            return Err(csrf_refused());
        }
        let form = serde_urlencoded::from_bytes(&body)
            .map_err(|e| AppError::BadRequest(format!("The form could not be read: {e}.")))?;
        Ok(CsrfForm(user, form))
    }
}
