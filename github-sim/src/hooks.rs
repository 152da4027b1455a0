//! Repository webhooks: `POST`/`GET /repos/{owner}/{repo}/hooks` and `GET`/`PATCH`/`DELETE .../hooks/{hook_id}`,
//! validated as GitHub validates them (422 for an unknown event, a URL that is not http(s), a content type
//! other than `json` or `form`, a `name` other than `web`). Creating a hook sends it a `ping`; runs'
//! transitions are delivered by [`crate::hook_delivery`].
//!
//! One departure: GitHub refuses URLs that are not reachable over the public Internet; the sim's world is
//! the local machine, so it accepts any http(s) URL with a host.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Sim;
use crate::access::{Access, find_repo, find_writable_repo};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, Body};
use crate::model::{Hook, Repo, now, ts};

/// The event names GitHub accepts for a repository webhook ("Webhook events and payloads"), and `*`.
const EVENTS: &[&str] = &[
    "*",
    "branch_protection_rule",
    "check_run",
    "check_suite",
    "code_scanning_alert",
    "commit_comment",
    "create",
    "delete",
    "dependabot_alert",
    "deploy_key",
    "deployment",
    "deployment_status",
    "discussion",
    "discussion_comment",
    "fork",
    "gollum",
    "issue_comment",
    "issues",
    "label",
    "member",
    "merge_group",
    "meta",
    "milestone",
    "package",
    "page_build",
    "ping",
    "public",
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
    "pull_request_review_thread",
    "push",
    "registry_package",
    "release",
    "repository",
    "repository_dispatch",
    "secret_scanning_alert",
    "star",
    "status",
    "watch",
    "workflow_dispatch",
    "workflow_job",
    "workflow_run",
];

pub(crate) fn router() -> Router<Sim> {
    Router::new()
        .route("/repos/{owner}/{repo}/hooks", get(list_hooks).post(create_hook))
        .route("/repos/{owner}/{repo}/hooks/{hook_id}", get(get_hook).patch(update_hook).delete(delete_hook))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateHook {
    name: Option<String>,
    config: Option<HookConfig>,
    events: Option<Vec<String>>,
    active: Option<bool>,
}

#[derive(Deserialize)]
struct HookConfig {
    url: Option<String>,
    content_type: Option<String>,
    secret: Option<String>,
    insecure_ssl: Option<Value>,
}

/// 422 `validation-error` naming the field, as GitHub words hook validation failures.
fn hook_invalid(message: &str) -> ApiError {
    ApiError::Validation {
        message: "Validation Failed".into(),
        errors: vec![json!({ "resource": "Hook", "code": "custom", "message": message })],
    }
}

fn parse_url(url: Option<&str>) -> ApiResult<String> {
    let url = url.filter(|u| !u.is_empty()).ok_or_else(|| hook_invalid("Config must contain url"))?;
    match url::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {
            Ok(url.to_string())
        }
        _ => Err(hook_invalid("Config url is not a valid URL")),
    }
}

/// `insecure_ssl` is `"0"`/`"1"` (or the number); anything else is refused.
fn parse_insecure_ssl(value: Option<&Value>) -> ApiResult<String> {
    match value {
        None => Ok("0".into()),
        Some(Value::String(s)) if s == "0" || s == "1" => Ok(s.clone()),
        Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n <= 1) => Ok(n.to_string()),
        _ => Err(hook_invalid("Config insecure_ssl must be 0 or 1")),
    }
}

/// `201` with the hook; the hook then receives a `ping` (as on GitHub).
#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}")))]
async fn create_hook(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo)): Path<(String, String)>,
    Body(request): Body<CreateHook>,
) -> ApiResult<Response> {
    auth.require()?;
    if request.name.as_deref().is_some_and(|n| n != "web") {
        return Err(hook_invalid("Name must be web"));
    }
    let config = request.config.ok_or_else(|| hook_invalid("Config must contain url"))?;
    let url = parse_url(config.url.as_deref())?;
    let content_type = config.content_type.unwrap_or_else(|| "form".into());
    if content_type != "json" && content_type != "form" {
        return Err(hook_invalid("Config content_type must be json or form"));
    }
    let insecure_ssl = parse_insecure_ssl(config.insecure_ssl.as_ref())?;
    let events = request.events.unwrap_or_else(|| vec!["push".into()]);
    if events.is_empty() {
        return Err(hook_invalid("Events must not be empty"));
    }
    if let Some(unknown) = events.iter().find(|e| !EVENTS.contains(&e.as_str())) {
        return Err(hook_invalid(&format!("{unknown} is not a valid event name")));
    }
    let (body, ping) = {
        let mut world = sim.world();
        let i = find_writable_repo(&world, &owner, &repo, &auth, Access::Admin)?;
        let repo_id = world.repos[i].id;
        if world.hooks.iter().any(|h| h.repo_id == repo_id && h.url == url) {
            return Err(hook_invalid("Hook already exists on this repository"));
        }
        let at = now();
        let hook = Hook {
            id: world.next_id(),
            repo_id,
            url,
            content_type,
            secret: config.secret.filter(|s| !s.is_empty()),
            insecure_ssl,
            events,
            active: request.active.unwrap_or(true),
            created_at: at,
            updated_at: at,
        };
        let sender = auth.0.as_ref().map(|c| c.user_id).unwrap_or(world.repos[i].owner_id);
        let body = hook_json(sim.base_url(), &world.repos[i], &hook);
        let ping = crate::hook_delivery::ping(&sim, &world, &world.repos[i], &hook, &body, sender);
        world.hooks.push(hook);
        (body, ping)
    };
    // Delivered after the world is unlocked (and after the 201 is on its way).
    tokio::spawn(crate::hook_delivery::send(ping));
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}")))]
async fn list_hooks(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    auth.require()?;
    let world = sim.world();
    let i = admin_repo(&world, &owner, &repo, &auth)?;
    let r = &world.repos[i];
    let hooks: Vec<Value> =
        world.hooks.iter().filter(|h| h.repo_id == r.id).map(|h| hook_json(sim.base_url(), r, h)).collect();
    Ok(Json(Value::Array(hooks)))
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), hook = hook_id))]
async fn get_hook(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, hook_id)): Path<(String, String, u64)>,
) -> ApiResult<Json<Value>> {
    auth.require()?;
    let world = sim.world();
    let i = admin_repo(&world, &owner, &repo, &auth)?;
    let r = &world.repos[i];
    let hook =
        world.hooks.iter().find(|h| h.repo_id == r.id && h.id == hook_id).ok_or_else(ApiError::not_found)?;
    Ok(Json(hook_json(sim.base_url(), r, hook)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateHook {
    config: Option<HookConfig>,
    events: Option<Vec<String>>,
    add_events: Option<Vec<String>>,
    remove_events: Option<Vec<String>>,
    active: Option<bool>,
}

/// "Update a repository webhook": `200` with the hook. A `config` replaces the whole config (GitHub:
/// its `url` is required, and a secret left out is removed); `events` replaces the list.
#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), hook = hook_id))]
async fn update_hook(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, hook_id)): Path<(String, String, u64)>,
    Body(request): Body<UpdateHook>,
) -> ApiResult<Json<Value>> {
    auth.require()?;
    let mut world = sim.world();
    let i = admin_repo(&world, &owner, &repo, &auth)?;
    let repo_id = world.repos[i].id;
    let j = world.hooks.iter().position(|h| h.repo_id == repo_id && h.id == hook_id);
    let j = j.ok_or_else(ApiError::not_found)?;
    let mut hook = world.hooks[j].clone();
    if let Some(config) = request.config {
        let url = parse_url(config.url.as_deref())?;
        if world.hooks.iter().any(|h| h.repo_id == repo_id && h.id != hook_id && h.url == url) {
            return Err(hook_invalid("Hook already exists on this repository"));
        }
        let content_type = config.content_type.unwrap_or_else(|| "form".into());
        if content_type != "json" && content_type != "form" {
            return Err(hook_invalid("Config content_type must be json or form"));
        }
        hook.insecure_ssl = parse_insecure_ssl(config.insecure_ssl.as_ref())?;
        hook.url = url;
        hook.content_type = content_type;
        hook.secret = config.secret.filter(|s| !s.is_empty());
    }
    if let Some(events) = request.events {
        hook.events = events;
    }
    for event in request.add_events.unwrap_or_default() {
        if !hook.events.contains(&event) {
            hook.events.push(event);
        }
    }
    let removed = request.remove_events.unwrap_or_default();
    hook.events.retain(|e| !removed.contains(e));
    if hook.events.is_empty() {
        return Err(hook_invalid("Events must not be empty"));
    }
    if let Some(unknown) = hook.events.iter().find(|e| !EVENTS.contains(&e.as_str())) {
        return Err(hook_invalid(&format!("{unknown} is not a valid event name")));
    }
    if let Some(active) = request.active {
        hook.active = active;
    }
    hook.updated_at = now();
    let body = hook_json(sim.base_url(), &world.repos[i], &hook);
    world.hooks[j] = hook;
    Ok(Json(body))
}

/// `204`; GitHub lets an admin remove the hooks of an archived repository too.
#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), hook = hook_id))]
async fn delete_hook(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, hook_id)): Path<(String, String, u64)>,
) -> ApiResult<StatusCode> {
    auth.require()?;
    let mut world = sim.world();
    let i = admin_repo(&world, &owner, &repo, &auth)?;
    let repo_id = world.repos[i].id;
    let before = world.hooks.len();
    world.hooks.retain(|h| !(h.repo_id == repo_id && h.id == hook_id));
    if world.hooks.len() == before {
        return Err(ApiError::not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Hooks are an admin's business; GitHub answers 404 (not 403) to anyone else.
fn admin_repo(world: &crate::model::World, owner: &str, repo: &str, auth: &Auth) -> ApiResult<usize> {
    find_repo(world, owner, repo, auth, Access::Admin).map_err(|e| match e {
        ApiError::Basic(StatusCode::FORBIDDEN, _) => ApiError::not_found(),
        other => other,
    })
}

/// The `hook` schema. A secret is never shown: GitHub answers `********`.
pub(crate) fn hook_json(base: &str, repo: &Repo, hook: &Hook) -> Value {
    let url = format!("{base}/repos/{}/hooks/{}", repo.full_name(), hook.id);
    let mut config = json!({
        "url": hook.url,
        "content_type": hook.content_type,
        "insecure_ssl": hook.insecure_ssl,
    });
    if hook.secret.is_some() {
        config["secret"] = json!("********");
    }
    json!({
        "type": "Repository",
        "id": hook.id,
        "name": "web",
        "active": hook.active,
        "events": hook.events,
        "config": config,
        "updated_at": ts(hook.updated_at),
        "created_at": ts(hook.created_at),
        "url": url,
        "test_url": format!("{url}/test"),
        "ping_url": format!("{url}/pings"),
        "deliveries_url": format!("{url}/deliveries"),
        "last_response": { "code": null, "status": "unused", "message": null },
    })
}
