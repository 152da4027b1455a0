//! `POST /webhooks/github`: GitHub's `workflow_run` deliveries wake a service's parked first build at
//! once, so polling is only a slow safety net.
//!
//! No session and no CSRF token: the signature is the authentication. A delivery names its repository
//! (`X-GitHub-Hook-Installation-Target-ID`), its id and the server key give the secret, and the body
//! must carry its HMAC (`X-Hub-Signature-256`): checked before any SQL, so unsigned deliveries cost no
//! database work. Only then does the repository name the service. Anything that does not verify is a
//! 401 that changed nothing, whatever is wrong (unknown repository, missing or bad signature), so a
//! prober learns nothing. A delivery id seen before (`X-GitHub-Delivery`) is a 200
//! that changes nothing: GitHub redelivers with the same id. The id is not signed, so a `workflow_run`
//! delivery is also keyed on what its signed body reports (run id, attempt, action): a captured body
//! re-posted under a fresh id is a duplicate too.

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use serde::Deserialize;

use crate::{
    config::WEBHOOK_PATH,
    db,
    error::AppError,
    github::webhooks::{repository_secret, verify_signature},
    web::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new().route(WEBHOOK_PATH, post(receive))
}

/// The part of a `workflow_run` payload that decides anything.
#[derive(Deserialize)]
struct WorkflowRunEvent {
    action: String,
    workflow_run: RunOf,
}

#[derive(Deserialize)]
struct RunOf {
    id: i64,
    run_attempt: i32,
}

/// Every repository event names its repository; it must be the one the headers name (and the
/// signature was checked for), or a delivery copied from another repository could be replayed here.
#[derive(Deserialize)]
struct RepositoryOf {
    repository: RepositoryId,
}

#[derive(Deserialize)]
struct RepositoryId {
    id: i64,
}

type Answer = (StatusCode, &'static str);

const REFUSED: Answer = (StatusCode::UNAUTHORIZED, "the delivery's signature does not verify");

#[tracing::instrument(skip_all, fields(event, delivery))]
async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Answer, AppError> {
    let Some(webhooks) = &state.config.webhooks else {
        return Ok((StatusCode::NOT_FOUND, "webhooks are not enabled"));
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let (event, delivery) = (header("x-github-event"), header("x-github-delivery"));
    tracing::Span::current().record("event", event).record("delivery", delivery);
    let repository_id = match header("x-github-hook-installation-target-type") {
        "repository" => header("x-github-hook-installation-target-id").parse::<i64>().ok(),
        _ => None,
    };
    let Some(repository_id) = repository_id.filter(|&id| id > 0) else { return Ok(REFUSED) };
    let secret = repository_secret(&webhooks.key, repository_id.unsigned_abs());
    if !verify_signature(&secret, &body, header("x-hub-signature-256")) {
        tracing::warn!("refused a webhook delivery whose signature does not verify");
        return Ok(REFUSED);
    }
    let named = serde_json::from_slice::<RepositoryOf>(&body).ok().map(|e| e.repository.id);
    if named != Some(repository_id) {
        tracing::warn!("refused a webhook delivery whose body names another repository");
        return Ok(REFUSED);
    }
    let Some(service_id) = db::webhooks::find_service_by_repository_id(&state.db, repository_id).await?
    else {
        return Ok(REFUSED);
    };
    if delivery.is_empty() || event.is_empty() {
        return Ok((StatusCode::BAD_REQUEST, "X-GitHub-Event and X-GitHub-Delivery are required"));
    }
    let run =
        (event == "workflow_run").then(|| serde_json::from_slice::<WorkflowRunEvent>(&body).ok()).flatten();
    let run_event = run.as_ref().map(|e| db::webhooks::RunEvent {
        run_id: e.workflow_run.id,
        run_attempt: e.workflow_run.run_attempt,
        action: &e.action,
    });
    let mut tx = state.db.begin().await?;
    if !db::webhooks::record_delivery(&mut *tx, delivery, service_id, event, run_event.as_ref()).await? {
        return Ok((StatusCode::OK, "already delivered"));
    }
    // Only a run that finished can change what the first build decides; the rest are noted and ignored.
    let finished = run_event.is_some_and(|e| e.action == "completed");
    let woken = finished && db::webhooks::wake_first_build(&mut tx, service_id).await?;
    tx.commit().await?;
    if woken {
        tracing::info!(%service_id, "a finished run woke the first build");
    }
    Ok((StatusCode::OK, if woken { "woken" } else { "noted" }))
}
