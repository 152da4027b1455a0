//! Workflow runs: list (with GitHub's filters and `Link` pagination), get, get one attempt, re-run.
//!
//! A run's status is derived from its attempt's queue time and `run_duration`; its conclusion is what the
//! runner decided when it executed the attempt (`runner/`). Right after a re-run GitHub keeps answering with
//! the previous attempt for a while (fidelity.md §4.1): a new attempt shows only `rerun_visibility_lag` after it
//! was queued; `run_attempt` tells attempts apart.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Sim;
use crate::access::{Access, find_repo, find_writable_repo};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::json::{self, Account};
use crate::model::{Attempt, Repo, Run, World, now, ts};

/// The attempt of `run` the API shows now.
pub(crate) fn visible_attempt(sim: &Sim, run: &Run) -> usize {
    run.visible_attempt(now(), sim.rerun_visibility_lag())
}

pub(crate) fn router() -> Router<Sim> {
    Router::new()
        .route("/repos/{owner}/{repo}/actions/runs", get(list_runs))
        .route("/repos/{owner}/{repo}/actions/runs/{run_id}", get(get_run))
        .route("/repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt}", get(get_attempt))
        .route("/repos/{owner}/{repo}/actions/runs/{run_id}/rerun", post(rerun))
        .route("/repos/{owner}/{repo}/actions/runs/{run_id}/rerun-failed-jobs", post(rerun_failed_jobs))
}

/// `workflow-run` as of attempt `index` (0-based), including every field octocrab's `models::workflows::Run`
/// requires.
pub(crate) fn run_json(sim: &Sim, world: &World, repo: &Repo, run: &Run, index: usize) -> Value {
    let base = sim.base_url();
    let full = repo.full_name();
    let api = format!("{base}/repos/{full}/actions/runs/{}", run.id);
    let state = run.state(index, now(), sim.settings().run_duration);
    let attempt = &run.attempts[index];
    let actor = |id: u64| world.user(id).map(|u| json::simple_user(base, &Account::user(u)));
    let repo_min = json::minimal_repo(base, world, repo);
    let committer = json!({ "name": "GitHub", "email": "noreply@github.com" });
    let attempt_count = index + 1;
    json!({
        "id": run.id,
        "name": run.name,
        "node_id": json::node_id("WFR_", run.id),
        "head_branch": run.head_branch,
        "head_sha": run.head_sha,
        "path": run.path,
        "display_title": if run.event == "push" { "Initial commit".to_string() } else { run.name.clone() },
        "run_number": run.run_number,
        "event": run.event,
        "status": state.status,
        "conclusion": state.conclusion,
        "workflow_id": run.workflow_id,
        "check_suite_id": run.id + 1,
        "check_suite_node_id": json::node_id("CS_", run.id + 1),
        "url": api,
        "html_url": format!("{base}/{full}/actions/runs/{}", run.id),
        "pull_requests": [],
        "created_at": ts(run.attempts[0].queued_at),
        "updated_at": ts(state.updated_at),
        "actor": actor(run.actor),
        "triggering_actor": actor(attempt.triggering_actor),
        "run_attempt": attempt_count,
        "referenced_workflows": [],
        "run_started_at": ts(attempt.queued_at),
        "jobs_url": format!("{api}/jobs"),
        "logs_url": format!("{api}/logs"),
        "check_suite_url": format!("{base}/repos/{full}/check-suites/{}", run.id + 1),
        "artifacts_url": format!("{api}/artifacts"),
        "cancel_url": format!("{api}/cancel"),
        "rerun_url": format!("{api}/rerun"),
        "previous_attempt_url": (attempt_count > 1).then(|| format!("{api}/attempts/{}", attempt_count - 1)),
        "workflow_url": format!("{base}/repos/{full}/actions/workflows/{}", run.workflow_id),
        "head_commit": {
            "id": run.head_sha,
            "tree_id": run.head_sha,
            "message": "Initial commit",
            "timestamp": ts(repo.pushed_at),
            "author": committer,
            "committer": committer,
        },
        "repository": repo_min,
        "head_repository": repo_min,
    })
}

#[derive(Deserialize)]
struct RunFilter {
    branch: Option<String>,
    event: Option<String>,
    status: Option<String>,
    per_page: Option<usize>,
    page: Option<usize>,
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}")))]
async fn list_runs(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo)): Path<(String, String)>,
    Query(filter): Query<RunFilter>,
) -> ApiResult<Response> {
    let world = sim.world();
    let i = find_repo(&world, &owner, &repo, &auth, Access::Pull)?;
    let r = &world.repos[i];
    let at = now();
    let matching: Vec<&Run> = r
        .runs
        .iter()
        .rev()
        .filter(|run| filter.branch.as_ref().is_none_or(|b| &run.head_branch == b))
        .filter(|run| filter.event.as_ref().is_none_or(|e| &run.event == e))
        .filter(|run| {
            filter.status.as_ref().is_none_or(|s| {
                let state = run.state(visible_attempt(&sim, run), at, sim.settings().run_duration);
                state.status == s || state.conclusion == Some(s.as_str())
            })
        })
        .collect();
    let per_page = filter.per_page.unwrap_or(30).clamp(1, 100);
    let page = filter.page.unwrap_or(1).max(1);
    let runs: Vec<Value> = matching
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|run| run_json(&sim, &world, r, run, visible_attempt(&sim, run)))
        .collect();
    let mut response = Json(json!({ "total_count": matching.len(), "workflow_runs": runs })).into_response();
    let last = matching.len().div_ceil(per_page).max(1);
    if page < last {
        let url = format!("{}/repos/{}/actions/runs?per_page={per_page}", sim.base_url(), r.full_name());
        let link = format!("<{url}&page={}>; rel=\"next\", <{url}&page={last}>; rel=\"last\"", page + 1);
        if let Ok(value) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    Ok(response)
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), run_id))]
async fn get_run(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, run_id)): Path<(String, String, u64)>,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    let i = find_repo(&world, &owner, &repo, &auth, Access::Pull)?;
    let r = &world.repos[i];
    let run = r.runs.iter().find(|run| run.id == run_id).ok_or_else(ApiError::not_found)?;
    Ok(Json(run_json(&sim, &world, r, run, visible_attempt(&sim, run))))
}

/// `GET .../runs/{id}/attempts/{n}`: attempt `n` (1-based) as a `workflow-run`.
#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), run_id, attempt))]
async fn get_attempt(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, run_id, attempt)): Path<(String, String, u64, usize)>,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    let i = find_repo(&world, &owner, &repo, &auth, Access::Pull)?;
    let r = &world.repos[i];
    let run = r.runs.iter().find(|run| run.id == run_id).ok_or_else(ApiError::not_found)?;
    let index = attempt
        .checked_sub(1)
        .filter(|&n| n <= visible_attempt(&sim, run))
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(run_json(&sim, &world, r, run, index)))
}

/// Re-runs every job of a completed run.
async fn rerun(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, run_id)): Path<(String, String, u64)>,
) -> ApiResult<Response> {
    start_new_attempt(&sim, &auth, &owner, &repo, run_id, false)
}

/// Re-runs the failed jobs of a completed run; 403 while it runs or when nothing failed.
#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), run_id))]
async fn rerun_failed_jobs(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, run_id)): Path<(String, String, u64)>,
) -> ApiResult<Response> {
    start_new_attempt(&sim, &auth, &owner, &repo, run_id, true)
}

/// A new attempt re-reads the repository's secrets now, as a freshly queued run does on GitHub.
fn start_new_attempt(
    sim: &Sim,
    auth: &Auth,
    owner: &str,
    repo: &str,
    run_id: u64,
    failed_only: bool,
) -> ApiResult<Response> {
    let caller = auth.require()?.user_id;
    let mut world = sim.world();
    let i = find_writable_repo(&world, owner, repo, auth, Access::Push)?;
    let job_id = world.next_id();
    let r = &mut world.repos[i];
    let run_duration = sim.settings().run_duration;
    let at = now();
    let run = r.runs.iter().find(|run| run.id == run_id).ok_or_else(ApiError::not_found)?;
    let state = run.state(run.attempts.len() - 1, at, run_duration);
    if state.status != "completed" {
        return Err(ApiError::forbidden("This workflow is already running"));
    }
    if failed_only && state.conclusion == Some("success") {
        return Err(ApiError::forbidden("This workflow run has no failed jobs to re-run"));
    }
    let job = run.job.clone();
    let secrets = r.job_secrets(&job, at);
    let run = r.runs.iter_mut().find(|run| run.id == run_id).ok_or_else(ApiError::not_found)?;
    run.attempts.push(Attempt::new(at, caller, job_id, secrets));
    tracing::info!(run_id, attempt = run.attempts.len(), "run re-queued");
    Ok((StatusCode::CREATED, Json(json!({}))).into_response())
}
