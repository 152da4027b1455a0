//! Sign-in with GitHub (OAuth web flow with state and PKCE), membership check, sign-out.

use axum::{
    Router,
    extract::{Query, State},
    http::HeaderMap,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::Deserialize;

use super::{
    bearer,
    errors::request_id,
    session::{self, CsrfForm, NoFields},
};
use crate::{
    db::{self, audit::AuditAction, audit::NewAuditEvent, audit::Outcome},
    domain::OrgRole,
    error::AppError,
    github::{GitHub, GitHubUser, Membership},
    web::AppState,
    web::pages::{ErrorPage, Layout, LoginPage},
};

/// Cookie that carries a started sign-in's `state` and PKCE verifier back to the callback.
const OAUTH_COOKIE: &str = "shipyard_oauth";
/// How long a started sign-in stays valid.
const SIGN_IN_LIFETIME: time::Duration = time::Duration::minutes(10);

/// Routes reachable without a session.
pub fn public_router() -> Router<AppState> {
    Router::new().route("/", get(landing)).route("/login", get(login)).route("/auth/callback", get(callback))
}

/// Routes that need a session.
pub fn router() -> Router<AppState> {
    Router::new().route("/logout", post(logout))
}

async fn landing(State(state): State<AppState>, jar: CookieJar) -> Result<Response, AppError> {
    match session::current_user(&state, &jar).await {
        Ok(Some(_)) => return Ok(Redirect::to("/services").into_response()),
        // Signing in again is the way out of a session GitHub has not confirmed for too long.
        Ok(None) | Err(AppError::MembershipUnconfirmed(_)) => {}
        Err(e) => return Err(e),
    }
    Ok(LoginPage { layout: Layout::anonymous(), org: state.config.github_org.clone() }.into_response())
}

/// Starts a sign-in: remembers the state (hashed, single use) and sends the browser to GitHub.
async fn login(State(state): State<AppState>, jar: CookieJar) -> Result<(CookieJar, Redirect), AppError> {
    let authorization = state.oauth.authorize();
    let expires_at = time::OffsetDateTime::now_utc() + SIGN_IN_LIFETIME;
    let state_hash = session::sha256(&authorization.state);
    db::sessions::insert_oauth_attempt(&state.db, state_hash, expires_at).await?;
    let cookie = Cookie::build((OAUTH_COOKIE, format!("{}.{}", authorization.state, authorization.verifier)))
        .path("/auth")
        .http_only(true)
        .secure(state.config.cookies_secure())
        .same_site(SameSite::Lax)
        .max_age(SIGN_IN_LIFETIME)
        .build();
    Ok((jar.add(cookie), Redirect::to(authorization.url.as_str())))
}

#[derive(Deserialize)]
struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// Why a sign-in did not produce a session. Shown to the person with a way to try again.
enum Refusal {
    Cancelled,
    Expired,
    Failed(String),
    /// Not an active admin or member; GitHub's `state` and `role` when it reported a membership.
    NotMember(Option<(String, String)>),
}

impl Refusal {
    /// The `reason` label of the refusals counter.
    fn reason(&self) -> &'static str {
        match self {
            Refusal::Cancelled => "cancelled",
            Refusal::Expired => "expired",
            Refusal::Failed(_) => "failed",
            Refusal::NotMember(_) => "not_member",
        }
    }
}

/// GitHub sends the browser back here with a code (or an error).
async fn callback(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    Query(params): Query<CallbackParams>,
) -> Result<Response, AppError> {
    let started = jar.get(OAUTH_COOKIE).map(|c| c.value().to_owned());
    let mut removal =
        Cookie::build((OAUTH_COOKIE, "")).path("/auth").secure(state.config.cookies_secure()).build();
    removal.make_removal();
    let jar = jar.add(removal);

    let outcome = finish_sign_in(&state, started, params).await?;
    let rid = request_id(&headers);
    match outcome {
        Ok((user, org_role)) => {
            // A new session id at every sign-in (no fixation); an older session in this browser ends.
            // (Found by its cookie alone: ending it needs no word from GitHub on its membership.)
            if let Some(old) = session::session_hash(&state, &jar) {
                state.sessions.end(&state.db, old).await?;
            }
            let cookie = session::start_session(&state, &user, org_role).await?;
            audit(&state, Some(user), Outcome::Success, String::new(), rid).await?;
            Ok((jar.add(cookie), Redirect::to("/services")).into_response())
        }
        Err(refusal) => {
            let (status, title, message) = match &refusal {
                Refusal::Cancelled => {
                    (400, "Sign-in cancelled", "GitHub said the sign-in was not approved.".to_owned())
                }
                Refusal::Expired => (
                    400,
                    "Sign-in expired",
                    "This sign-in link has expired or was already used. Start again from the sign-in button."
                        .to_owned(),
                ),
                Refusal::Failed(why) => (502, "Sign-in failed", why.clone()),
                Refusal::NotMember(membership) => {
                    let org = &state.config.github_org;
                    let mut message =
                        format!("Shipyard is for members of the {org} organization on GitHub. ");
                    match membership.as_ref() {
                        Some((state, role)) if state == "active" => message.push_str(&format!(
                            "GitHub lists you as {} of {org}, which does not make you a member. Ask an owner of \
                             {org} to make you a member, then sign in again.",
                            role.replace('_', " ")
                        )),
                        _ => message.push_str(&format!(
                            "Ask an owner of {org} to invite you, accept the invitation, then sign in again."
                        )),
                    }
                    (403, "Organization membership required", message)
                }
            };
            let title = title.to_owned();
            metrics::counter!(crate::metrics::SIGN_IN_REFUSALS, "reason" => refusal.reason()).increment(1);
            // Only a refused GitHub identity gets an audit row: reaching that needed a fresh state
            // from /login (rate-limited per address) and a GitHub account. A bad, missing, replayed
            // or cancelled state costs an anonymous client nothing to send; a row each would let
            // anyone grow the append-only table, so those are counted instead.
            match &refusal {
                Refusal::NotMember(membership) => {
                    let detail = match membership {
                        Some((state, role)) => {
                            format!("not an active member of the organization (GitHub: {state} {role})")
                        }
                        None => "not an active member of the organization".to_owned(),
                    };
                    audit(&state, None, Outcome::Denied, detail, rid.clone()).await?;
                }
                Refusal::Failed(why) => tracing::warn!(reason = %why, "sign-in failed"),
                Refusal::Cancelled | Refusal::Expired => {
                    tracing::info!(reason = refusal.reason(), "sign-in refused")
                }
            }
            let page = ErrorPage {
                layout: Layout::anonymous(),
                title,
                message,
                request_id: rid,
                retry_sign_in: true,
            };
            let status = axum::http::StatusCode::from_u16(status).expect("a valid status");
            Ok((status, jar, page).into_response())
        }
    }
}

/// Checks the state (single use, bound to this browser), exchanges the code and checks membership.
async fn finish_sign_in(
    state: &AppState,
    started: Option<String>,
    params: CallbackParams,
) -> Result<Result<(db::users::User, OrgRole), Refusal>, AppError> {
    let started = started.as_deref();
    let Some((cookie_state, verifier)) = started.and_then(|v| v.split_once('.')) else {
        return Ok(Err(Refusal::Expired));
    };
    let Some(given_state) = params.state.as_deref() else { return Ok(Err(Refusal::Expired)) };
    if !bool::from(subtle::ConstantTimeEq::ct_eq(cookie_state.as_bytes(), given_state.as_bytes())) {
        return Ok(Err(Refusal::Expired));
    }
    let state_hash = session::sha256(given_state);
    if !db::sessions::take_oauth_attempt(&state.db, state_hash).await? {
        return Ok(Err(Refusal::Expired));
    }
    if params.error.is_some() {
        return Ok(Err(Refusal::Cancelled));
    }
    let Some(code) = params.code else { return Ok(Err(Refusal::Expired)) };
    let token = match state.oauth.exchange(&code, verifier).await {
        Ok(token) => token,
        Err(e) => return Ok(Err(Refusal::Failed(e.to_string()))),
    };
    let as_user = state.github.as_token(&token)?;
    // One short deadline for both identity checks, as for bearer tokens: someone is waiting, and
    // under the provisioning retry policy the request timeout's bare 408 would come first.
    let org = &state.config.github_org;
    let (github_user, membership) =
        match tokio::time::timeout(bearer::CHECK_DEADLINE, identify(&as_user, org)).await {
            Ok(Ok(found)) => found,
            Ok(Err(why)) => return Ok(Err(Refusal::Failed(why))),
            Err(_) => {
                return Ok(Err(Refusal::Failed(
                    "GitHub did not answer in time. Try again in a minute.".into(),
                )));
            }
        };
    // The same rule as bearer tokens and session re-checks: only an active admin or member gets in.
    let Some(org_role) = membership.as_ref().and_then(|m| m.admitted_role()) else {
        return Ok(Err(Refusal::NotMember(membership.map(|m| (m.state, m.role)))));
    };
    let user = db::users::upsert_user(
        &state.db,
        github_user.id,
        &github_user.login,
        github_user.name.as_deref(),
        &github_user.avatar_url,
    )
    .await?;
    Ok(Ok((user, org_role)))
}

/// Who the token belongs to and its membership of `org`; the message says which question failed.
async fn identify(as_user: &GitHub, org: &str) -> Result<(GitHubUser, Option<Membership>), String> {
    let user = as_user
        .current_user()
        .await
        .map_err(|e| format!("GitHub did not tell who you are: {}", e.message))?;
    let membership = as_user
        .org_membership(org)
        .await
        .map_err(|e| format!("GitHub did not confirm your membership: {}", e.message))?;
    Ok((user, membership))
}

/// Records a sign-in outcome. Owned arguments keep the future `Send` for any lifetime, which
/// axum needs from handlers that await it.
async fn audit(
    state: &AppState,
    user: Option<db::users::User>,
    outcome: Outcome,
    detail: String,
    request_id: String,
) -> Result<(), AppError> {
    let event = NewAuditEvent {
        actor_user_id: user.as_ref().map(|u| u.user_id),
        actor_login: user.as_ref().map(|u| u.login.as_str()),
        outcome,
        detail: &detail,
        request_id: Some(&request_id),
        ..NewAuditEvent::new(AuditAction::Login)
    };
    db::audit::insert_audit_event(&state.db, &event).await?;
    Ok(())
}

/// Ends the session server-side and clears the cookie.
async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    CsrfForm(user, NoFields {}): CsrfForm<NoFields>,
) -> Result<(CookieJar, Redirect), AppError> {
    state.sessions.end(&state.db, user.session_hash.clone()).await?;
    db::audit::insert_audit_event(
        &state.db,
        &NewAuditEvent {
            actor_user_id: Some(user.user.user_id),
            actor_login: Some(&user.user.login),
            request_id: Some(&request_id(&headers)),
            ..NewAuditEvent::new(AuditAction::Logout)
        },
    )
    .await?;
    Ok((jar.add(session::removal_cookie(&state)), Redirect::to("/")))
}
