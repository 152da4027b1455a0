//! Teams: `GET /orgs/{org}/teams`, a team by slug, a user's team membership, and the repositories a team
//! is granted (`PUT/GET/DELETE /orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}`). Teams are `closed`:
//! every active member of the organization (and an installation on it) sees them; others get 403 on the
//! list and 404 on a team. A team's grant feeds [`crate::access::user_role`].

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::Value;

use crate::Sim;
use crate::access::{Access, find_writable_repo};
use crate::auth::{Auth, Caller};
use crate::error::{ApiError, ApiResult, Body};
use crate::model::{Org, World};

pub(crate) fn router() -> Router<Sim> {
    Router::new()
        .route("/orgs/{org}/teams", get(list_teams))
        .route("/orgs/{org}/teams/{team_slug}", get(get_team))
        .route("/orgs/{org}/teams/{team_slug}/memberships/{username}", get(get_team_membership))
        .route(
            "/orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}",
            get(check_team_repo).put(put_team_repo).delete(delete_team_repo),
        )
}

/// Whether the caller sees the organization's teams: an active member whose token can read the org
/// (`read:org`, implied by `admin:org`), or an installation on it (its `members` permission was checked
/// before the handler).
fn sees_teams(world: &World, org: &Org, caller: &Caller) -> bool {
    if caller.integration.is_some() {
        return caller.installed_on(org.id);
    }
    caller.has_scope("read:org")
        && world.membership(org.id, caller.user_id).is_some_and(|m| m.state == "active")
}

/// The org's index and the team's index, for a caller who may see them (404 otherwise).
fn find_team(world: &World, org: &str, slug: &str, auth: &Auth) -> ApiResult<(usize, usize)> {
    let caller = auth.require()?;
    let o =
        world.orgs.iter().position(|o| o.login.eq_ignore_ascii_case(org)).ok_or_else(ApiError::not_found)?;
    let org = &world.orgs[o];
    let t = world
        .teams
        .iter()
        .position(|t| t.org_id == org.id && t.slug.eq_ignore_ascii_case(slug))
        .ok_or_else(ApiError::not_found)?;
    if !sees_teams(world, org, caller) {
        return Err(ApiError::not_found());
    }
    Ok((o, t))
}

#[derive(Deserialize)]
struct Paging {
    per_page: Option<usize>,
    page: Option<usize>,
}

#[tracing::instrument(skip_all, fields(org = %org))]
async fn list_teams(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path(org): Path<String>,
    Query(paging): Query<Paging>,
) -> ApiResult<Json<Vec<Value>>> {
    let caller = auth.require()?;
    let world = sim.world();
    let org = world.org(&org).ok_or_else(ApiError::not_found)?;
    if !sees_teams(&world, org, caller) {
        return Err(ApiError::forbidden(format!("You must be a member of {} to list its teams.", org.login)));
    }
    let per_page = paging.per_page.unwrap_or(30).clamp(1, 100);
    let page = paging.page.unwrap_or(1).max(1);
    let teams = world
        .teams
        .iter()
        .filter(|t| t.org_id == org.id)
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|t| crate::json::team(sim.base_url(), org, t, None))
        .collect();
    Ok(Json(teams))
}

#[tracing::instrument(skip_all, fields(org = %org, team = %slug))]
async fn get_team(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((org, slug)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    let (o, t) = find_team(&world, &org, &slug, &auth)?;
    Ok(Json(crate::json::team_full(sim.base_url(), &world, &world.orgs[o], &world.teams[t])))
}

/// 404 when the user is not in the team (organization owners are not members of every team).
#[tracing::instrument(skip_all, fields(org = %org, team = %slug, username = %username))]
async fn get_team_membership(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((org, slug, username)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    let (o, t) = find_team(&world, &org, &slug, &auth)?;
    let user = world.user_by_login(&username).ok_or_else(ApiError::not_found)?;
    let team = &world.teams[t];
    let (_, role) = team.members.iter().find(|(id, _)| *id == user.id).ok_or_else(ApiError::not_found)?;
    Ok(Json(crate::json::team_membership(sim.base_url(), &world.orgs[o], team, user, role)))
}

/// 204 when the team has access; with `Accept: application/vnd.github.v3.repository+json`, 200 and the
/// repository with the team's permissions. 404 when it has none.
#[tracing::instrument(skip_all, fields(org = %org, team = %slug, repo = %format!("{owner}/{repo}")))]
async fn check_team_repo(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    headers: HeaderMap,
    Path((org, slug, owner, repo)): Path<(String, String, String, String)>,
) -> ApiResult<Response> {
    let world = sim.world();
    let (_, t) = find_team(&world, &org, &slug, &auth)?;
    let i = world.repo_index(&owner, &repo).ok_or_else(ApiError::not_found)?;
    let r = &world.repos[i];
    let grant = world.teams[t]
        .repos
        .get(&r.id)
        .and_then(|p| Access::from_grant(p))
        .ok_or_else(ApiError::not_found)?;
    let wants_repo = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/vnd.github.v3.repository+json"));
    if wants_repo {
        return Ok(Json(crate::json::team_repository(sim.base_url(), &world, r, grant)).into_response());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct Grant {
    permission: Option<String>,
}

/// Grants the team `permission` (default `push`) on a repository of the organization. The caller needs
/// admin rights on the repository.
#[tracing::instrument(skip_all, fields(org = %org, team = %slug, repo = %format!("{owner}/{repo}")))]
async fn put_team_repo(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((org, slug, owner, repo)): Path<(String, String, String, String)>,
    Body(grant): Body<Grant>,
) -> ApiResult<StatusCode> {
    let permission = grant.permission.unwrap_or_else(|| "push".into());
    let level = Access::from_grant(&permission).ok_or_else(|| invalid_permission(&permission))?;
    let mut world = sim.world();
    let (o, t) = find_team(&world, &org, &slug, &auth)?;
    let i = find_writable_repo(&world, &owner, &repo, &auth, Access::Admin)?;
    if world.repos[i].owner_id != world.orgs[o].id {
        return Err(ApiError::invalid(
            "Validation Failed: the repository is not owned by the team's organization",
        ));
    }
    let repo_id = world.repos[i].id;
    world.teams[t].repos.insert(repo_id, level.grant_name().to_string());
    Ok(StatusCode::NO_CONTENT)
}

/// Removes the team's grant (204 whether or not it had one). The caller needs admin rights.
#[tracing::instrument(skip_all, fields(org = %org, team = %slug, repo = %format!("{owner}/{repo}")))]
async fn delete_team_repo(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((org, slug, owner, repo)): Path<(String, String, String, String)>,
) -> ApiResult<StatusCode> {
    let mut world = sim.world();
    let (_, t) = find_team(&world, &org, &slug, &auth)?;
    let i = find_writable_repo(&world, &owner, &repo, &auth, Access::Admin)?;
    let repo_id = world.repos[i].id;
    world.teams[t].repos.remove(&repo_id);
    Ok(StatusCode::NO_CONTENT)
}

/// GitHub's schema-validation 422 for a permission outside the built-in roles.
pub(crate) fn invalid_permission(permission: &str) -> ApiError {
    ApiError::invalid(format!(
        "Invalid request.\n\nFor 'properties/permission', \"{permission}\" is not a member of [\"pull\", \"triage\", \"push\", \"maintain\", \"admin\"]."
    ))
}
