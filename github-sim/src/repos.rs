//! `GET`/`PATCH`/`DELETE /repos/{owner}/{repo}` and `GET /orgs/{org}/repos` (OIDC customization: `oidc/`).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::Value;

use crate::Sim;
use crate::access::{Access, access, find_repo};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, Body};
use crate::json;
use crate::model::now;

pub(crate) fn router() -> Router<Sim> {
    Router::new()
        .route("/repos/{owner}/{repo}", get(get_repo).patch(update_repo).delete(delete_repo))
        .route("/repositories/{repository_id}", get(get_repo_by_id))
        .route("/orgs/{org}/repos", get(list_org_repos))
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}")))]
async fn get_repo(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    let i = find_repo(&world, &owner, &repo, &auth, Access::Pull)?;
    Ok(Json(json::full_repo(sim.base_url(), &world, &world.repos[i], &auth)))
}

/// `GET /repositories/{id}`: the repository under whatever name it has now (GitHub serves every
/// repository route under this path too; clients use it to follow a repository across renames).
#[tracing::instrument(skip_all, fields(repository_id = id))]
async fn get_repo_by_id(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<u64>,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    let repo = world.repos.iter().find(|r| r.id == id).ok_or_else(ApiError::not_found)?;
    if access(&world, repo, &auth) == Access::None {
        return Err(ApiError::not_found());
    }
    Ok(Json(json::full_repo(sim.base_url(), &world, repo, &auth)))
}

/// `DELETE` needs the `delete_repo` scope and admin rights; both failures are GitHub's 403.
#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}")))]
async fn delete_repo(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    auth.require()?;
    let mut world = sim.world();
    let i = find_repo(&world, &owner, &repo, &auth, Access::Pull)?;
    if !auth.has_scope("delete_repo") || access(&world, &world.repos[i], &auth) < Access::Admin {
        return Err(ApiError::admin_required());
    }
    let removed = world.repos.remove(i);
    tracing::info!(repo = %removed.full_name(), "repository deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct RepoUpdate {
    /// Renames the repository (GitHub keeps the id; the old name stops resolving here).
    name: Option<String>,
    archived: Option<bool>,
    visibility: Option<String>,
    private: Option<bool>,
    description: Option<String>,
    security_and_analysis: Option<SecurityUpdate>,
}

/// `security_and_analysis` of a `PATCH`: each feature named is switched to its `status`.
#[derive(Deserialize)]
struct SecurityUpdate {
    secret_scanning: Option<Switch>,
    secret_scanning_push_protection: Option<Switch>,
}

#[derive(Deserialize)]
struct Switch {
    status: String,
}

impl Switch {
    fn enabled(&self) -> ApiResult<bool> {
        match self.status.as_str() {
            "enabled" => Ok(true),
            "disabled" => Ok(false),
            other => Err(ApiError::invalid(format!(
                "Invalid request.\n\nFor 'properties/status', \"{other}\" is not a member of [\"enabled\", \"disabled\"]."
            ))),
        }
    }
}

/// `PATCH`: archive/unarchive, visibility, description, `security_and_analysis` (secret scanning on a
/// private or internal repository needs the organization's licence: GitHub's 422). An archived repository
/// only accepts unarchiving.
#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}")))]
async fn update_repo(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo)): Path<(String, String)>,
    Body(update): Body<RepoUpdate>,
) -> ApiResult<Json<Value>> {
    auth.require()?;
    let mut world = sim.world();
    let i = find_repo(&world, &owner, &repo, &auth, Access::Admin)?;
    let unarchiving = update.archived == Some(false);
    if world.repos[i].archived && !unarchiving {
        return Err(ApiError::archived());
    }
    let security = match &update.security_and_analysis {
        None => None,
        Some(s) => {
            let scanning = s.secret_scanning.as_ref().map(Switch::enabled).transpose()?;
            let protection = s.secret_scanning_push_protection.as_ref().map(Switch::enabled).transpose()?;
            let org = world.orgs.iter().find(|o| o.id == world.repos[i].owner_id);
            let enabling = scanning == Some(true) || protection == Some(true);
            if enabling && !crate::repo_security::scanning_allowed(org, &world.repos[i]) {
                return Err(crate::repo_security::not_purchased());
            }
            Some((scanning, protection))
        }
    };
    let private = match (update.visibility.as_deref(), update.private) {
        (Some("private" | "internal"), _) => Some(true),
        (Some("public"), _) => Some(false),
        (Some(other), _) => {
            return Err(ApiError::invalid(format!(
                "Invalid request.\n\nFor 'properties/visibility', \"{other}\" is not a member of [\"public\", \"private\", \"internal\"]."
            )));
        }
        (None, private) => private,
    };
    if let Some(new_name) = update.name.as_deref().filter(|n| !n.eq_ignore_ascii_case(&world.repos[i].name)) {
        let owner = world.repos[i].owner_login.clone();
        if world.repo_index(&owner, new_name).is_some() {
            return Err(ApiError::invalid("name already exists on this account"));
        }
        world.repos[i].name = new_name.to_owned();
    }
    let r = &mut world.repos[i];
    if let Some(archived) = update.archived {
        r.archived = archived;
    }
    if let Some(private) = private {
        r.private = private;
        r.visibility = update.visibility.unwrap_or_else(|| if private { "private" } else { "public" }.into());
    }
    if let Some(description) = update.description {
        r.description = Some(description);
    }
    if let Some((scanning, protection)) = security {
        if let Some(on) = scanning {
            r.security.secret_scanning = on;
        }
        if let Some(on) = protection {
            r.security.push_protection = on;
        }
    }
    r.updated_at = now();
    Ok(Json(json::full_repo(sim.base_url(), &world, &world.repos[i], &auth)))
}

#[derive(Deserialize)]
struct Paging {
    per_page: Option<usize>,
    page: Option<usize>,
}

/// Repositories of an org the caller can see, oldest first.
#[tracing::instrument(skip_all, fields(org = %org))]
async fn list_org_repos(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path(org): Path<String>,
    Query(paging): Query<Paging>,
) -> ApiResult<Json<Vec<Value>>> {
    let world = sim.world();
    let org = world.org(&org).ok_or_else(ApiError::not_found)?;
    let per_page = paging.per_page.unwrap_or(30).clamp(1, 100);
    let page = paging.page.unwrap_or(1).max(1);
    let repos = world
        .repos
        .iter()
        .filter(|r| r.owner_id == org.id && access(&world, r, &auth) > Access::None)
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|r| json::repo_in_list(sim.base_url(), &world, r, &auth))
        .collect();
    Ok(Json(repos))
}
