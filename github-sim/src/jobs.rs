//! Workflow jobs and their logs: `GET .../runs/{id}/jobs`, `GET .../runs/{id}/attempts/{n}/jobs`,
//! `GET .../actions/jobs/{job_id}` and `GET .../actions/jobs/{job_id}/logs`.
//!
//! Each attempt has one job (the workflow's). The logs endpoint answers, like GitHub, `302` with a `Location`
//! to a plain-text download that needs no token (GitHub's is a short-lived signed URL on another host; the
//! sim's carries an unguessable key instead).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Sim;
use crate::access::{Access, find_repo};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::model::{Repo, Run, now, ts};
use crate::runs::visible_attempt;

pub(crate) fn router() -> Router<Sim> {
    Router::new()
        .route("/repos/{owner}/{repo}/actions/runs/{run_id}/jobs", get(list_jobs))
        .route("/repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt}/jobs", get(list_attempt_jobs))
        .route("/repos/{owner}/{repo}/actions/jobs/{job_id}", get(get_job))
        .route("/repos/{owner}/{repo}/actions/jobs/{job_id}/logs", get(job_logs))
}

/// The log downloads `job_logs` redirects to (outside the API: no auth, like GitHub's blob storage).
pub(crate) fn download_router() -> Router<Sim> {
    Router::new().route("/_job-logs/{job_id}/{key}", get(download_log))
}

/// `job`, as of now.
fn job_json(sim: &Sim, repo: &Repo, run: &Run, index: usize) -> Value {
    let base = sim.base_url();
    let full = repo.full_name();
    let attempt = &run.attempts[index];
    let state = run.state(index, now(), sim.settings().run_duration);
    let started = run.start_at(index, sim.settings().run_duration);
    let completed = state.status == "completed";
    let has_runner = !matches!(state.status, "queued" | "waiting");
    let steps: Vec<Value> = match attempt.outcome().filter(|_| completed) {
        Some(outcome) => outcome
            .steps
            .iter()
            .enumerate()
            .map(|(n, (name, conclusion))| {
                json!({
                    "name": name, "status": "completed", "conclusion": conclusion, "number": n + 1,
                    "started_at": ts(started), "completed_at": ts(state.updated_at),
                })
            })
            .collect(),
        None => Vec::new(),
    };
    let api = format!("{base}/repos/{full}/actions/jobs/{}", attempt.job_id);
    json!({
        "id": attempt.job_id,
        "run_id": run.id,
        "run_url": format!("{base}/repos/{full}/actions/runs/{}", run.id),
        "run_attempt": index + 1,
        "node_id": crate::json::node_id("CR_", attempt.job_id),
        "head_sha": run.head_sha,
        "head_branch": run.head_branch,
        "url": api,
        "html_url": format!("{base}/{full}/actions/runs/{}/job/{}", run.id, attempt.job_id),
        "status": state.status,
        "conclusion": state.conclusion,
        "created_at": ts(attempt.queued_at),
        "started_at": ts(started),
        "completed_at": completed.then(|| ts(state.updated_at)),
        "name": run.name,
        "steps": steps,
        "check_run_url": format!("{base}/repos/{full}/check-runs/{}", attempt.job_id),
        "labels": ["ubuntu-latest"],
        // (A job waiting for its environment's reviewers has no runner yet, like a queued one.)
        "runner_id": has_runner.then_some(1),
        "runner_name": has_runner.then_some("GitHub Actions 1"),
        "runner_group_id": has_runner.then_some(0),
        "runner_group_name": has_runner.then_some("GitHub Actions"),
        "workflow_name": run.name,
    })
}

#[derive(Deserialize)]
struct JobFilter {
    /// `latest` (default) or `all` attempts.
    filter: Option<String>,
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), run_id))]
async fn list_jobs(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, run_id)): Path<(String, String, u64)>,
    Query(filter): Query<JobFilter>,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    let i = find_repo(&world, &owner, &repo, &auth, Access::Pull)?;
    let r = &world.repos[i];
    let run = r.runs.iter().find(|run| run.id == run_id).ok_or_else(ApiError::not_found)?;
    let latest = visible_attempt(&sim, run);
    let first = if filter.filter.as_deref() == Some("all") { 0 } else { latest };
    let jobs: Vec<Value> = (first..=latest).rev().map(|n| job_json(&sim, r, run, n)).collect();
    Ok(Json(json!({ "total_count": jobs.len(), "jobs": jobs })))
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), run_id, attempt))]
async fn list_attempt_jobs(
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
    Ok(Json(json!({ "total_count": 1, "jobs": [job_json(&sim, r, run, index)] })))
}

/// (run, attempt index) of the job `job_id` in `repo`.
fn find_job(repo: &Repo, job_id: u64) -> Option<(&Run, usize)> {
    repo.runs.iter().find_map(|run| run.attempts.iter().position(|a| a.job_id == job_id).map(|n| (run, n)))
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), job_id))]
async fn get_job(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, job_id)): Path<(String, String, u64)>,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    let i = find_repo(&world, &owner, &repo, &auth, Access::Pull)?;
    let r = &world.repos[i];
    let (run, index) = find_job(r, job_id).ok_or_else(ApiError::not_found)?;
    Ok(Json(job_json(&sim, r, run, index)))
}

/// 302 to the log text once the job has finished; 404 before (nothing to download yet).
#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), job_id))]
async fn job_logs(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, job_id)): Path<(String, String, u64)>,
) -> ApiResult<Response> {
    let world = sim.world();
    let i = find_repo(&world, &owner, &repo, &auth, Access::Pull)?;
    let (run, index) = find_job(&world.repos[i], job_id).ok_or_else(ApiError::not_found)?;
    let attempt = &run.attempts[index];
    attempt.outcome().ok_or_else(ApiError::not_found)?;
    let location = format!("{}/_job-logs/{job_id}/{}", sim.base_url(), attempt.log_key);
    let mut response = StatusCode::FOUND.into_response();
    let value = HeaderValue::from_str(&location).map_err(|_| ApiError::not_found())?;
    response.headers_mut().insert(header::LOCATION, value);
    Ok(response)
}

async fn download_log(State(sim): State<Sim>, Path((job_id, key)): Path<(u64, String)>) -> Response {
    let world = sim.world();
    let log = world
        .repos
        .iter()
        .flat_map(|r| &r.runs)
        .flat_map(|run| &run.attempts)
        .find(|a| a.job_id == job_id && a.log_key == key)
        .and_then(|a| a.outcome())
        .map(|o| o.log.clone());
    match log {
        Some(text) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
