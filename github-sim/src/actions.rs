//! Workflows: `GET .../actions/workflows` and `POST .../actions/workflows/{id or file}/dispatches`.
//!
//! Besides a repository's workflow files, GitHub lists its *dynamic* workflows (Dependabot updates, CodeQL
//! default setup), created with the repository, whose `path` is `dynamic/...`. They have no file and no
//! `workflow_dispatch` trigger, so dispatching one gets the 422 "Workflow does not have 'workflow_dispatch'
//! trigger" GitHub answers for any workflow the ref has no dispatchable file for.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Sim;
use crate::access::{Access, find_repo, find_writable_repo};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, Body};
use crate::model::{Repo, Workflow, now, ts};

/// GitHub's dynamic workflows: (name, path), listed for every repository.
const DYNAMIC: [(&str, &str); 2] = [
    ("Dependabot Updates", "dynamic/dependabot/dependabot-updates"),
    ("CodeQL", "dynamic/github-code-scanning/codeql"),
];

/// A dynamic workflow's id: stable per repository, disjoint from the ids the sim hands out.
fn dynamic_id(repo: &Repo, index: usize) -> u64 {
    repo.id * 100 + 90 + index as u64
}

fn dynamic_json(base: &str, repo: &Repo, index: usize) -> Value {
    let (name, path) = DYNAMIC[index];
    let full = repo.full_name();
    let id = dynamic_id(repo, index);
    json!({
        "id": id,
        "node_id": crate::json::node_id("W_", id),
        "name": name,
        "path": path,
        "state": "active",
        "created_at": ts(repo.created_at),
        "updated_at": ts(repo.created_at),
        "url": format!("{base}/repos/{full}/actions/workflows/{id}"),
        "html_url": format!("{base}/{full}/actions/workflows/{id}"),
        "badge_url": format!("{base}/{full}/workflows/{path}/badge.svg"),
    })
}

fn find_dynamic(repo: &Repo, key: &str) -> Option<usize> {
    (0..DYNAMIC.len()).find(|&i| dynamic_id(repo, i).to_string() == key || DYNAMIC[i].1 == key)
}

const NO_DISPATCH: &str = "Workflow does not have 'workflow_dispatch' trigger";

pub(crate) fn router() -> Router<Sim> {
    Router::new()
        .route("/repos/{owner}/{repo}/actions/workflows", get(list_workflows))
        .route("/repos/{owner}/{repo}/actions/workflows/{workflow}", get(get_workflow))
        .route("/repos/{owner}/{repo}/actions/workflows/{workflow}/dispatches", post(dispatch_workflow))
}

pub(crate) fn workflow_json(base: &str, repo: &Repo, w: &Workflow) -> Value {
    let full = repo.full_name();
    json!({
        "id": w.id,
        "node_id": crate::json::node_id("W_", w.id),
        "name": w.name,
        "path": w.path,
        "state": "active",
        "created_at": ts(w.created_at),
        "updated_at": ts(w.created_at),
        "url": format!("{base}/repos/{full}/actions/workflows/{}", w.id),
        "html_url": format!("{base}/{full}/blob/{}/{}", repo.default_branch, w.path),
        "badge_url": format!("{base}/{full}/workflows/{}/badge.svg", w.name),
    })
}

/// A workflow by numeric id or by file name (`build.yml`), as GitHub accepts both.
fn find_workflow<'a>(repo: &'a Repo, key: &str) -> ApiResult<&'a Workflow> {
    repo.workflows
        .iter()
        .find(|w| w.id.to_string() == key || w.path.rsplit('/').next() == Some(key) || w.path == key)
        .ok_or_else(ApiError::not_found)
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}")))]
async fn list_workflows(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    let i = find_repo(&world, &owner, &repo, &auth, Access::Pull)?;
    let r = &world.repos[i];
    // Dynamic workflows exist from the repository's creation, so they come first (lower ids on GitHub).
    let workflows: Vec<Value> = (0..DYNAMIC.len())
        .map(|i| dynamic_json(sim.base_url(), r, i))
        .chain(r.workflows.iter().map(|w| workflow_json(sim.base_url(), r, w)))
        .collect();
    Ok(Json(json!({ "total_count": workflows.len(), "workflows": workflows })))
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), workflow = %workflow))]
async fn get_workflow(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, workflow)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    let i = find_repo(&world, &owner, &repo, &auth, Access::Pull)?;
    let r = &world.repos[i];
    if let Some(d) = find_dynamic(r, &workflow) {
        return Ok(Json(dynamic_json(sim.base_url(), r, d)));
    }
    Ok(Json(workflow_json(sim.base_url(), r, find_workflow(r, &workflow)?)))
}

#[derive(Deserialize)]
struct DispatchRequest {
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    #[serde(default)]
    #[allow(dead_code)] // accepted like GitHub; the simulated workflow ignores inputs
    inputs: Option<Value>,
    #[serde(default)]
    return_run_details: bool,
}

/// Queues a `workflow_dispatch` run. 422 when the workflow lacks that trigger or the ref is unknown.
/// 204 by default; 200 with run details when asked, and always in API version 2026-03-10.
#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), workflow = %workflow))]
async fn dispatch_workflow(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    headers: HeaderMap,
    Path((owner, repo, workflow)): Path<(String, String, String)>,
    Body(request): Body<DispatchRequest>,
) -> ApiResult<Response> {
    let caller = auth.require()?.clone();
    let git_ref = request.git_ref.ok_or_else(|| ApiError::missing_field("ref"))?;
    let mut world = sim.world();
    let i = find_writable_repo(&world, &owner, &repo, &auth, Access::Push)?;
    let ids = (world.next_id(), world.next_id());
    let run_id = ids.0;
    let r = &mut world.repos[i];
    if find_dynamic(r, &workflow).is_some() {
        return Err(ApiError::invalid(NO_DISPATCH));
    }
    let w = find_workflow(r, &workflow)?.clone();
    if !w.on.iter().any(|e| e == "workflow_dispatch") {
        return Err(ApiError::invalid(NO_DISPATCH));
    }
    let (full_ref, head_sha) =
        r.resolve_ref(&git_ref).ok_or_else(|| ApiError::invalid(format!("No ref found for: {git_ref}")))?;
    r.queue_run(ids, &w, "workflow_dispatch", &full_ref, &head_sha, caller.user_id, now());
    tracing::info!(run_id, "workflow dispatched");
    let new_api =
        headers.get("x-github-api-version").is_some_and(|v| v.as_bytes() >= b"2026-03-10".as_slice());
    if !(request.return_run_details || new_api) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let base = sim.base_url();
    let full = r.full_name();
    Ok(Json(json!({
        "workflow_run_id": run_id,
        "run_url": format!("{base}/repos/{full}/actions/runs/{run_id}"),
        "html_url": format!("{base}/{full}/actions/runs/{run_id}"),
    }))
    .into_response())
}
