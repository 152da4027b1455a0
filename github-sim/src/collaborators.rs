//! Who has access to a repository: `GET /repos/{o}/{r}/collaborators` (affiliation `all`, `direct`,
//! `outside`), one collaborator's check, `PUT/DELETE .../collaborators/{username}` (direct grants; people
//! outside the organization get an invitation instead, which gives nothing until accepted),
//! `GET .../collaborators/{username}/permission` (the effective role, see [`crate::access::user_role`]), and
//! `GET /repos/{o}/{r}/teams`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Sim;
use crate::access::{Access, find_repo, find_writable_repo, user_role};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, Body};
use crate::json::{self, Account};
use crate::model::{Repo, World, now, ts};

pub(crate) fn router() -> Router<Sim> {
    Router::new()
        .route("/repos/{owner}/{repo}/collaborators", get(list_collaborators))
        .route(
            "/repos/{owner}/{repo}/collaborators/{username}",
            get(check_collaborator).put(put_collaborator).delete(delete_collaborator),
        )
        .route("/repos/{owner}/{repo}/collaborators/{username}/permission", get(get_permission))
        .route("/repos/{owner}/{repo}/teams", get(list_repo_teams))
}

/// Collaborators are listed to people who can push (GitHub's rule).
fn find_for_collaborators(world: &World, owner: &str, repo: &str, auth: &Auth) -> ApiResult<usize> {
    find_repo(world, owner, repo, auth, Access::Pull).and_then(|i| {
        if crate::access::access(world, &world.repos[i], auth) >= Access::Push {
            Ok(i)
        } else {
            Err(ApiError::forbidden("Must have push access to view repository collaborators."))
        }
    })
}

fn is_member(world: &World, repo: &Repo, user_id: u64) -> bool {
    world.membership(repo.owner_id, user_id).is_some_and(|m| m.state == "active")
}

#[derive(Deserialize)]
struct ListQuery {
    affiliation: Option<String>,
    permission: Option<String>,
    per_page: Option<usize>,
    page: Option<usize>,
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}")))]
async fn list_collaborators(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    let world = sim.world();
    let i = find_for_collaborators(&world, &owner, &repo, &auth)?;
    let r = &world.repos[i];
    let affiliation = query.affiliation.as_deref().unwrap_or("all");
    if !["all", "direct", "outside"].contains(&affiliation) {
        return Err(ApiError::invalid(format!(
            "Invalid request.\n\nFor 'affiliation', \"{affiliation}\" is not a member of [\"outside\", \"direct\", \"all\"]."
        )));
    }
    let at_least = match query.permission.as_deref() {
        None => Access::Pull,
        Some(p) => Access::from_grant(p).ok_or_else(|| crate::teams::invalid_permission(p))?,
    };
    let per_page = query.per_page.unwrap_or(30).clamp(1, 100);
    let page = query.page.unwrap_or(1).max(1);
    let list = world
        .users
        .iter()
        .filter(|u| match affiliation {
            "direct" => r.collaborators.contains_key(&u.id),
            "outside" => r.collaborators.contains_key(&u.id) && !is_member(&world, r, u.id),
            _ => true,
        })
        .map(|u| (u, user_role(&world, r, u.id)))
        .filter(|(_, role)| *role >= at_least)
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|(u, role)| json::collaborator(sim.base_url(), u, role))
        .collect();
    Ok(Json(list))
}

/// 204 when `username` has any access through the organization, a team or a direct grant; else 404.
#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), username = %username))]
async fn check_collaborator(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, username)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let world = sim.world();
    let i = find_for_collaborators(&world, &owner, &repo, &auth)?;
    let user = world.user_by_login(&username).ok_or_else(ApiError::not_found)?;
    if user_role(&world, &world.repos[i], user.id) > Access::None {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found())
    }
}

#[derive(Deserialize)]
struct Grant {
    permission: Option<String>,
}

/// A member of the organization gets the grant at once (204); anyone else an invitation (201), renewed
/// with the new permission when one is pending. Needs admin rights on the repository.
#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), username = %username))]
async fn put_collaborator(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, username)): Path<(String, String, String)>,
    Body(grant): Body<Grant>,
) -> ApiResult<Response> {
    let caller = auth.require()?.user_id;
    let permission = grant.permission.unwrap_or_else(|| "push".into());
    let level =
        Access::from_grant(&permission).ok_or_else(|| crate::teams::invalid_permission(&permission))?;
    let mut world = sim.world();
    let i = find_writable_repo(&world, &owner, &repo, &auth, Access::Admin)?;
    let user_id = world.user_by_login(&username).map(|u| u.id).ok_or_else(ApiError::not_found)?;
    let member = is_member(&world, &world.repos[i], user_id) || world.repos[i].owner_id == user_id;
    if member {
        world.repos[i].collaborators.insert(user_id, level.grant_name().to_string());
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let invitation = world.repos[i].invitations.iter().position(|inv| inv.1 == user_id);
    let id = match invitation {
        Some(k) => world.repos[i].invitations[k].0,
        None => world.next_id(),
    };
    let entry = (id, user_id, level.grant_name().to_string(), caller, now());
    let r = &mut world.repos[i];
    match invitation {
        Some(k) => r.invitations[k] = entry,
        None => r.invitations.push(entry),
    }
    let body = invitation_body(sim.base_url(), &world, &world.repos[i], id);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `repository-invitation`.
fn invitation_body(base: &str, world: &World, repo: &Repo, id: u64) -> Value {
    let Some((_, invitee, permission, inviter, at)) = repo.invitations.iter().find(|inv| inv.0 == id) else {
        return Value::Null;
    };
    let user = |id: &u64| world.user(*id).map(|u| json::simple_user(base, &Account::user(u)));
    let role = Access::from_grant(permission).unwrap_or(Access::Push);
    json!({
        "id": id,
        "node_id": json::node_id("RI_", id),
        "repository": json::minimal_repo(base, world, repo),
        "invitee": user(invitee),
        "inviter": user(inviter),
        "permissions": role.role_name(),
        "created_at": ts(*at),
        "expired": false,
        "url": format!("{base}/user/repository_invitations/{id}"),
        "html_url": format!("{base}/{}/invitations", repo.full_name()),
    })
}

/// Removes the direct grant and any pending invitation (204 either way). Needs admin rights.
#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), username = %username))]
async fn delete_collaborator(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, username)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let mut world = sim.world();
    let i = find_writable_repo(&world, &owner, &repo, &auth, Access::Admin)?;
    let user_id = world.user_by_login(&username).map(|u| u.id).ok_or_else(ApiError::not_found)?;
    let r = &mut world.repos[i];
    r.collaborators.remove(&user_id);
    r.invitations.retain(|inv| inv.1 != user_id);
    Ok(StatusCode::NO_CONTENT)
}

/// The effective role: `permission` in the legacy form (`admin`, `write`, `read`, `none`) and `role_name`
/// (`admin`, `maintain`, `write`, `triage`, `read`).
#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), username = %username))]
async fn get_permission(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, username)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    let i = find_repo(&world, &owner, &repo, &auth, Access::Pull)?;
    let user = world.user_by_login(&username).ok_or_else(ApiError::not_found)?;
    let role = user_role(&world, &world.repos[i], user.id);
    Ok(Json(json!({
        "permission": role.legacy_name(),
        "role_name": role.role_name(),
        "user": json::collaborator(sim.base_url(), user, role),
    })))
}

/// The teams granted the repository, each with its `permission` there.
#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}")))]
async fn list_repo_teams(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo)): Path<(String, String)>,
) -> ApiResult<Json<Vec<Value>>> {
    let world = sim.world();
    let i = find_repo(&world, &owner, &repo, &auth, Access::Pull)?;
    let r = &world.repos[i];
    let Some(org) = world.orgs.iter().find(|o| o.id == r.owner_id) else { return Ok(Json(Vec::new())) };
    let teams = world
        .teams
        .iter()
        .filter(|t| t.org_id == org.id)
        .filter_map(|t| Some((t, Access::from_grant(t.repos.get(&r.id)?)?)))
        .map(|(t, grant)| json::team(sim.base_url(), org, t, Some(grant)))
        .collect();
    Ok(Json(teams))
}
