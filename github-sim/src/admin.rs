//! Test-only routes under `/_sim/` (no auth, no faults): the HTTP face of [`Sim`], so a separately running
//! binary can be inspected and steered like an in-process one.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::{Fault, Sim};

pub(crate) fn router() -> Router<Sim> {
    Router::new()
        .route("/repos", post(create_repo))
        .route("/repos/{owner}", get(list_repos))
        .route("/repos/{owner}/{repo}", get(get_repo).delete(delete_repo))
        .route("/repos/{owner}/{repo}/secrets", get(get_secrets))
        .route("/repos/{owner}/{repo}/runs", get(get_runs))
        .route("/repos/{owner}/{repo}/runs/{run_id}/log", get(get_run_log))
        .route("/faults", post(add_fault).delete(clear_faults))
        .route("/latency", post(add_latency).delete(clear_latency))
        .route("/requests", get(count_requests))
        .route("/secondary-limits", get(count_secondary_limit_hits))
        .route("/rate-limit", post(set_rate_limit))
        .route("/orgs/{org}/memberships/{login}", put(set_membership).delete(remove_member))
}

async fn list_repos(State(sim): State<Sim>, Path(owner): Path<String>) -> Response {
    Json(sim.repos(&owner)).into_response()
}

async fn get_repo(State(sim): State<Sim>, Path((owner, repo)): Path<(String, String)>) -> Response {
    match sim.repo(&owner, &repo) {
        Some(view) => Json(view).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn delete_repo(State(sim): State<Sim>, Path((owner, repo)): Path<(String, String)>) -> StatusCode {
    sim.delete_repo(&owner, &repo);
    StatusCode::NO_CONTENT
}

/// Decrypted values: test-only by design, never exposed on the GitHub-shaped routes.
async fn get_secrets(State(sim): State<Sim>, Path((owner, repo)): Path<(String, String)>) -> Response {
    Json(sim.secrets(&owner, &repo)).into_response()
}

async fn get_runs(State(sim): State<Sim>, Path((owner, repo)): Path<(String, String)>) -> Response {
    Json(sim.runs(&owner, &repo)).into_response()
}

/// The newest attempt's job log (plain text), 404 until the runner has finished it.
async fn get_run_log(
    State(sim): State<Sim>,
    Path((owner, repo, run_id)): Path<(String, String, u64)>,
) -> Response {
    match sim.job_log(&owner, &repo, run_id) {
        Some(text) => text.into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[derive(Deserialize)]
struct NewRepo {
    owner: String,
    name: String,
}

async fn create_repo(State(sim): State<Sim>, Json(new): Json<NewRepo>) -> Response {
    if sim.world().owner(&new.owner).is_none() {
        return (StatusCode::NOT_FOUND, Json(json!({ "message": "unknown owner" }))).into_response();
    }
    sim.create_repo(&new.owner, &new.name);
    match sim.repo(&new.owner, &new.name) {
        Some(view) => (StatusCode::CREATED, Json(view)).into_response(),
        None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn add_fault(State(sim): State<Sim>, Json(fault): Json<Fault>) -> StatusCode {
    sim.inject_fault(fault);
    StatusCode::NO_CONTENT
}

async fn clear_faults(State(sim): State<Sim>) -> StatusCode {
    sim.clear_faults();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct NewLatency {
    method: Option<String>,
    path_pattern: String,
    delay_ms: u64,
}

async fn add_latency(State(sim): State<Sim>, Json(l): Json<NewLatency>) -> StatusCode {
    sim.set_latency(l.method.as_deref(), &l.path_pattern, Duration::from_millis(l.delay_ms));
    StatusCode::NO_CONTENT
}

async fn clear_latency(State(sim): State<Sim>) -> StatusCode {
    sim.clear_latency();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct CountQuery {
    method: String,
    path_pattern: String,
}

async fn count_requests(State(sim): State<Sim>, Query(q): Query<CountQuery>) -> Json<serde_json::Value> {
    Json(json!({
        "count": sim.request_count(&q.method, &q.path_pattern),
        "charged": sim.charged_count(&q.method, &q.path_pattern),
    }))
}

async fn count_secondary_limit_hits(State(sim): State<Sim>) -> Json<serde_json::Value> {
    Json(json!({ "hits": sim.secondary_limit_hits() }))
}

#[derive(Deserialize)]
struct RateLimit {
    login: String,
    remaining: u64,
    /// When the window resets, from now (default: where the current window has it).
    #[serde(default)]
    reset_in_secs: Option<u64>,
}

async fn set_rate_limit(State(sim): State<Sim>, Json(r): Json<RateLimit>) -> Response {
    if sim.world().user_by_login(&r.login).is_none() {
        return (StatusCode::NOT_FOUND, Json(json!({ "message": "unknown user" }))).into_response();
    }
    match r.reset_in_secs {
        Some(secs) => sim.set_rate_limit(&r.login, r.remaining, Duration::from_secs(secs)),
        None => sim.set_rate_limit_remaining(&r.login, r.remaining),
    }
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct NewMembership {
    role: String,
    state: String,
}

/// Makes `login` a member of `org` with the role and state given, as an owner would on github.com.
async fn set_membership(
    State(sim): State<Sim>,
    Path((org, login)): Path<(String, String)>,
    Json(m): Json<NewMembership>,
) -> Response {
    let known = {
        let world = sim.world();
        world.org(&org).is_some() && world.user_by_login(&login).is_some()
    };
    if !known {
        return (StatusCode::NOT_FOUND, Json(json!({ "message": "unknown org or user" }))).into_response();
    }
    sim.set_membership(&org, &login, &m.role, &m.state);
    StatusCode::NO_CONTENT.into_response()
}

async fn remove_member(State(sim): State<Sim>, Path((org, login)): Path<(String, String)>) -> StatusCode {
    sim.remove_member(&org, &login);
    StatusCode::NO_CONTENT
}
