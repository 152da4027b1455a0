//! Users and organization membership: `/user`, `/users/{login}`, `/user/memberships/orgs/{org}`,
//! `/orgs/{org}/memberships/{username}`, `/user/orgs`, `/orgs/{org}`.

use axum::extract::{Path, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{Value, json};

use crate::Sim;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::json::{self, Account};
use crate::model::level_covers;

pub(crate) fn router() -> Router<Sim> {
    Router::new()
        .route("/user", get(get_authenticated_user))
        .route("/users/{login}", get(get_user))
        .route("/user/memberships/orgs/{org}", get(get_membership))
        .route("/orgs/{org}/memberships/{username}", get(get_user_membership))
        .route("/user/orgs", get(list_orgs))
        .route("/orgs/{org}", get(get_org))
}

#[tracing::instrument(skip_all)]
async fn get_authenticated_user(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
) -> ApiResult<Json<Value>> {
    let caller = auth.require()?;
    let world = sim.world();
    let user = world.user(caller.user_id).ok_or_else(ApiError::bad_credentials)?;
    Ok(Json(json::full_user(sim.base_url(), &world, user, true)))
}

#[tracing::instrument(skip_all, fields(login = %login))]
async fn get_user(State(sim): State<Sim>, Path(login): Path<String>) -> ApiResult<Json<Value>> {
    let world = sim.world();
    if let Some(user) = world.user_by_login(&login) {
        return Ok(Json(json::full_user(sim.base_url(), &world, user, false)));
    }
    let org = world.org(&login).ok_or_else(ApiError::not_found)?;
    let body =
        json::public_account(sim.base_url(), &world, &Account::org(org), Some(&org.name), org.created_at);
    Ok(Json(body))
}

/// Org membership of the caller. Needs `read:org` (or `repo`); non-members get 404, invitees `pending`.
#[tracing::instrument(skip_all, fields(org = %org))]
async fn get_membership(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path(org): Path<String>,
) -> Result<Response, ApiError> {
    let caller = auth.require()?;
    if !(caller.has_scope("read:org") || caller.has_scope("repo")) {
        return Ok(with_accepted_scopes(
            ApiError::forbidden(
                "You need at least read:org scope or repo scope to view your organization membership.",
            )
            .into_response(),
            "admin:org, read:org, repo, user, write:org",
        ));
    }
    let world = sim.world();
    let org = world.org(&org).ok_or_else(ApiError::not_found)?;
    membership_body(sim.base_url(), &world, org, caller.user_id).map(|body| Json(body).into_response())
}

/// `GET /orgs/{org}/memberships/{username}`: someone's membership, for a member of the organization
/// (token with `read:org`) or an installation on it with `members: read` (checked in `app.rs`). A user
/// who is not a member (or does not exist) is 404, as for the caller's own membership.
#[tracing::instrument(skip_all, fields(org = %org, username = %username))]
async fn get_user_membership(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((org, username)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let caller = auth.require()?;
    let world = sim.world();
    let org = world.org(&org).ok_or_else(ApiError::not_found)?;
    if caller.integration.is_some() {
        if !caller.installed_on(org.id) {
            return Err(ApiError::forbidden("Resource not accessible by integration"));
        }
    } else {
        if !(caller.has_scope("read:org") || caller.has_scope("repo")) {
            return Ok(with_accepted_scopes(
                ApiError::forbidden(
                    "You need at least read:org scope or repo scope to view organization memberships.",
                )
                .into_response(),
                "admin:org, read:org, repo, user, write:org",
            ));
        }
        let is_member = world.membership(org.id, caller.user_id).is_some_and(|m| m.state == "active");
        if !is_member {
            return Err(ApiError::forbidden(format!(
                "You must be a member of {} to see membership information for {username}.",
                org.login
            )));
        }
    }
    let user = world.user_by_login(&username).ok_or_else(ApiError::not_found)?;
    membership_body(sim.base_url(), &world, org, user.id).map(|body| Json(body).into_response())
}

/// The `org-membership` schema; 404 when the user has no membership (active or pending).
fn membership_body(
    base: &str,
    world: &crate::model::World,
    org: &crate::model::Org,
    user_id: u64,
) -> ApiResult<Value> {
    let membership = world.membership(org.id, user_id).ok_or_else(ApiError::not_found)?;
    let user = world.user(user_id).ok_or_else(ApiError::not_found)?;
    Ok(json!({
        "url": format!("{base}/orgs/{}/memberships/{}", org.login, user.login),
        "state": membership.state,
        "role": membership.role,
        "organization_url": format!("{base}/orgs/{}", org.login),
        "organization": json::org(base, org),
        "user": json::simple_user(base, &Account::user(user)),
        "permissions": { "can_create_repository": membership.state == "active" },
    }))
}

/// Organizations the caller is an active member of. Needs `read:org` or `user`, else 403.
#[tracing::instrument(skip_all)]
async fn list_orgs(State(sim): State<Sim>, Extension(auth): Extension<Auth>) -> ApiResult<Response> {
    let caller = auth.require()?;
    if !(caller.has_scope("read:org") || caller.has_scope("user")) {
        return Ok(with_accepted_scopes(
            ApiError::forbidden("You need at least read:org scope or user scope to list your organizations.")
                .into_response(),
            "admin:org, read:org, repo, user, write:org",
        ));
    }
    let world = sim.world();
    let orgs: Vec<Value> = world
        .orgs
        .iter()
        .filter(|o| o.members.iter().any(|m| m.user_id == caller.user_id && m.state == "active"))
        .map(|o| json::org(sim.base_url(), o))
        .collect();
    Ok(Json(orgs).into_response())
}

/// Anyone sees the public shape; an active owner with `admin:org` also the settings and plan; an
/// installation on the org the settings with `organization_administration: read` and the plan with
/// `organization_plan: read` (GitHub's documented rules).
#[tracing::instrument(skip_all, fields(org = %org))]
async fn get_org(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path(org): Path<String>,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    let org = world.org(&org).ok_or_else(ApiError::not_found)?;
    let details = match &auth.0 {
        None => json::OrgDetails::default(),
        Some(caller) if caller.integration.is_some() => {
            let granted = |name: &str| {
                caller.installed_on(org.id)
                    && caller.installation_permission(name).is_some_and(|l| level_covers(l, "read"))
            };
            json::OrgDetails {
                settings: granted("organization_administration"),
                plan: granted("organization_plan"),
            }
        }
        Some(caller) => {
            let owner = world
                .membership(org.id, caller.user_id)
                .is_some_and(|m| m.state == "active" && m.role == "admin");
            let full = owner && caller.scopes.iter().any(|s| s == "admin:org");
            json::OrgDetails { settings: full, plan: full }
        }
    };
    Ok(Json(json::org_full(sim.base_url(), &world, org, details)))
}

fn with_accepted_scopes(mut response: Response, scopes: &'static str) -> Response {
    response.headers_mut().insert("x-accepted-oauth-scopes", HeaderValue::from_static(scopes));
    response
}
