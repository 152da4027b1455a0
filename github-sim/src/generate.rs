//! `POST /repos/{template_owner}/{template_repo}/generate`: create a repository from a template.
//!
//! GitHub answers 201 at once and copies the git content afterwards: until `generate_delay` has passed the
//! new repository has no branches (branch and contents reads answer 409 "Git Repository is empty.") and no
//! workflows. When content lands, each template workflow triggered on `push` gets a queued run.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::Sim;
use crate::access::{Access, find_repo};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, Body};
use crate::json;
use crate::model::{Workflow, new_repo, now};

pub(crate) fn router() -> Router<Sim> {
    Router::new().route("/repos/{owner}/{repo}/generate", post(generate_repo))
}

#[derive(Deserialize)]
struct GenerateRequest {
    name: Option<String>,
    owner: Option<String>,
    description: Option<String>,
    #[serde(default)]
    private: bool,
    #[serde(default)]
    #[allow(dead_code)] // templates in the sim have only their default branch
    include_all_branches: bool,
}

#[tracing::instrument(skip_all, fields(template = %format!("{template_owner}/{template_repo}")))]
async fn generate_repo(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((template_owner, template_repo)): Path<(String, String)>,
    Body(request): Body<GenerateRequest>,
) -> ApiResult<Response> {
    let caller = auth.require()?.clone();
    let name = parse_repo_name(request.name.as_deref().ok_or_else(|| ApiError::missing_field("name"))?)?;
    let needed_scope = if request.private { "repo" } else { "public_repo" };
    if !caller.has_scope(needed_scope) {
        return Err(ApiError::not_found());
    }
    let mut world = sim.world();
    let t = find_repo(&world, &template_owner, &template_repo, &auth, Access::Pull)?;
    if !world.repos[t].is_template {
        return Err(ApiError::not_found());
    }
    let owner = request.owner.unwrap_or_else(|| caller.login.clone());
    let (owner_id, owner_login) = world.owner(&owner).ok_or_else(ApiError::not_found)?;
    let may_create = owner_id == caller.user_id
        || caller.installed_on(owner_id)
        || world.membership(owner_id, caller.user_id).is_some_and(|m| m.state == "active");
    if !may_create {
        return Err(ApiError::forbidden(
            "You need admin access to the organization before adding a repository to it.",
        ));
    }
    if world.repo_index(&owner_login, &name).is_some() {
        return Err(name_taken());
    }
    let now = now();
    let template = &world.repos[t];
    let template_id = template.id;
    let default_branch = template.default_branch.clone();
    let files = match template.branch(&default_branch) {
        Some(head) => head.files.clone(),
        None => template.pending_files.clone(),
    };
    let sources: Vec<Workflow> =
        template.workflows.iter().chain(&template.pending_workflows).cloned().collect();
    let workflows =
        sources.into_iter().map(|w| Workflow { id: world.next_id(), created_at: now, ..w }).collect();
    let id = world.next_id();
    let mut repo = new_repo(id, owner_id, owner_login.clone(), name.clone(), request.private, now);
    repo.description = request.description;
    repo.template_id = Some(template_id);
    repo.default_branch = default_branch;
    repo.pending_workflows = workflows;
    repo.pending_files = files;
    repo.admins = vec![caller.user_id];
    repo.creator = caller.user_id;
    repo.content_at = now + sim.settings().generate_delay;
    repo.queue_push_runs = sim.settings().initial_push_runs;
    // Old GHES (no customization endpoint) predates immutable subjects: its tokens say `repo:OWNER/REPO:...`.
    repo.immutable_subject = sim.settings().oidc_customization_endpoint;
    world.repos.push(repo);
    world.settle();
    let index = world.repos.len() - 1;
    tracing::info!(repo = %world.repos[index].full_name(), "repository generated from template");
    let body = json::full_repo(sim.base_url(), &world, &world.repos[index], &auth);
    let location = format!("{}/repos/{}/{}", sim.base_url(), owner_login, name);
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// GitHub's rule: characters outside `[A-Za-z0-9._-]` become `-`; `.`/`..` and names over 100 are refused.
fn parse_repo_name(raw: &str) -> ApiResult<String> {
    let name: String =
        raw.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '-' }).collect();
    if name.is_empty() || name == "." || name == ".." || name.len() > 100 {
        return Err(ApiError::Validation {
            message: "Repository creation failed.".into(),
            errors: vec![
                json!({"resource": "Repository", "code": "custom", "field": "name", "message": "name is invalid"}),
            ],
        });
    }
    Ok(name)
}

fn name_taken() -> ApiError {
    ApiError::Validation {
        message: "Repository creation failed.".into(),
        errors: vec![json!({
            "resource": "Repository",
            "code": "custom",
            "field": "name",
            "message": "name already exists on this account",
        })],
    }
}

#[cfg(test)]
mod tests {
    use super::parse_repo_name;

    #[test]
    fn spaces_and_symbols_become_dashes() {
        assert_eq!(parse_repo_name("my service!").unwrap(), "my-service-");
    }

    #[test]
    fn dot_names_are_refused() {
        assert!(parse_repo_name("..").is_err());
    }
}
