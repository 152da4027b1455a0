//! Deleting a service: the page's Delete form and `DELETE /api/v1/services/{name}`. Both check who
//! may delete, then record the request and its audit row in one transaction; the reconciler tears
//! the resources down (IAM first) and writes `delete_done` itself.

use axum::{
    Extension, Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{delete, post},
};
use serde::Deserialize;
use serde_json::Value;

use super::view;
use crate::{
    app::AppState,
    config::Config,
    db::{
        self,
        audit::{NewAuditEvent, Outcome},
        services::Service,
    },
    domain::ServiceStatus,
    error::AppError,
    web::{
        errors::request_id,
        session::{self, CsrfForm, CurrentUser},
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/services/{name}/delete", post(delete_from_page))
        .route("/api/v1/services/{name}", delete(delete_from_api))
}

/// What the service page's Delete section shows.
#[derive(Debug, Clone, Default)]
pub struct DeleteSection {
    /// The service is live and not already being deleted.
    pub offered: bool,
    /// Why this person may not delete it; the section is shown disabled with this reason.
    pub refusal: Option<String>,
    /// What the form sent, when it comes back with a message.
    pub confirm_name: String,
    pub keep_repository: bool,
    pub error: Option<String>,
}

impl DeleteSection {
    pub fn for_page(config: &Config, user: &CurrentUser, service: &Service) -> Self {
        Self {
            offered: is_deletable(service.status()),
            refusal: refusal(config, user, service),
            ..Self::default()
        }
    }
}

/// Deletion may start (or start again) from every state but these two.
fn is_deletable(status: ServiceStatus) -> bool {
    !matches!(status, ServiceStatus::Deleting | ServiceStatus::Deleted)
}

/// Only the creator, an organization admin (the session's current role) or someone in `SHIPYARD_ADMINS`
/// may delete a service.
/// `None` when this person may; otherwise the reason, in words.
fn refusal(config: &Config, user: &CurrentUser, service: &Service) -> Option<String> {
    let allowed = service.created_by == user.user.user_id
        || user.is_org_admin()
        || config.is_shipyard_admin(user.user.github_id, &user.user.login);
    (!allowed).then(|| {
        format!(
            "Only {} (who created {}), an organization admin or a Shipyard admin can delete it.",
            service.created_by_login, service.name
        )
    })
}

/// The Delete form. The name must be typed again, so a stray click deletes nothing.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeleteInput {
    confirm_name: String,
    /// A checkbox: present (any value) when ticked.
    keep_repository: Option<String>,
}

/// The form's POST: 303 back to the page (which then follows the deletion), or the page again
/// (422) with a message next to the confirmation field.
#[tracing::instrument(skip_all, fields(service = %name))]
async fn delete_from_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    CsrfForm(user, input): CsrfForm<DeleteInput>,
) -> Result<Response, AppError> {
    let service = find(&state, &name).await?;
    let keep_repository = input.keep_repository.is_some();
    check_may_delete(&state, &user, &service, &request_id(&headers)).await?;
    if input.confirm_name.trim() != service.name {
        let mut page = super::service_page(&state, &user, service).await?;
        page.delete.error = Some(format!("Type the service name, {}, to confirm.", page.service.name));
        page.delete.confirm_name = input.confirm_name;
        page.delete.keep_repository = keep_repository;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    let service = request_deletion(&state, &user, &service, keep_repository, &request_id(&headers)).await?;
    Ok(Redirect::to(&format!("/services/{}", service.name)).into_response())
}

/// The API's optional body.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct DeleteJson {
    /// Archive the GitHub repository instead of deleting it.
    keep_repository: bool,
}

fn parse_body(body: &[u8]) -> Result<DeleteJson, AppError> {
    let body = body.trim_ascii();
    if body.is_empty() {
        return Ok(DeleteJson::default());
    }
    let refused = |detail: String| {
        AppError::BadRequest(format!(
            "The body must be empty or a JSON object such as {{\"keep_repository\": true}}{detail}."
        ))
    };
    // serde also reads a struct from an array by position; the body is only ever an object.
    if !body.starts_with(b"{") {
        return Err(refused(String::new()));
    }
    serde_json::from_slice(body).map_err(|e| refused(format!(": {e}")))
}

/// 202 Accepted with the service, since the reconciler does the work after we answer.
#[tracing::instrument(skip_all, fields(service = %name))]
async fn delete_from_api(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), AppError> {
    session::check_csrf_header(&user, &headers)?;
    let input = parse_body(&body)?;
    let service = find(&state, &name).await?;
    check_may_delete(&state, &user, &service, &request_id(&headers)).await?;
    let service =
        request_deletion(&state, &user, &service, input.keep_repository, &request_id(&headers)).await?;
    Ok((StatusCode::ACCEPTED, Json(view::service_json(&service))))
}

async fn find(state: &AppState, name: &str) -> Result<Service, AppError> {
    db::services::find_service_by_name(&state.db, name).await?.ok_or(AppError::NotFound)
}

fn already_gone(service: &Service) -> AppError {
    AppError::Conflict(format!("{} is already {}.", service.name, service.status.replace('_', " ")))
}

/// 403 (written to the audit trail) for someone who may not delete, 409 for a service that is
/// already being deleted or is gone.
async fn check_may_delete(
    state: &AppState,
    user: &CurrentUser,
    service: &Service,
    request_id: &str,
) -> Result<(), AppError> {
    if let Some(reason) = refusal(&state.config, user, service) {
        let detail = "not the creator, an organization admin or a Shipyard admin";
        audit(&state.db, user, service, Outcome::Denied, detail, request_id).await?;
        return Err(AppError::Forbidden(reason));
    }
    if !is_deletable(service.status()) {
        return Err(already_gone(service));
    }
    Ok(())
}

/// Records the request and its audit row together; the database trigger wakes the reconciler.
async fn request_deletion(
    state: &AppState,
    user: &CurrentUser,
    service: &Service,
    keep_repository: bool,
    request_id: &str,
) -> Result<Service, AppError> {
    let mut tx = state.db.begin().await?;
    // Someone else may have asked a moment ago: only one request wins.
    if !db::services::request_deletion(&mut tx, service.service_id, keep_repository).await? {
        return Err(already_gone(service));
    }
    let detail = if keep_repository {
        "archive the GitHub repository; delete the IAM role, IAM policy and ECR repository"
    } else {
        "delete the GitHub repository, IAM role, IAM policy and ECR repository"
    };
    audit(&mut *tx, user, service, Outcome::Success, detail, request_id).await?;
    tx.commit().await?;
    db::services::find_service(&state.db, service.service_id).await?.ok_or(AppError::NotFound)
}

async fn audit(
    db: impl sqlx::PgExecutor<'_>,
    user: &CurrentUser,
    service: &Service,
    outcome: Outcome,
    detail: &str,
    request_id: &str,
) -> Result<(), AppError> {
    let event = NewAuditEvent {
        actor_user_id: Some(user.user.user_id),
        actor_login: Some(&user.user.login),
        action: "delete_requested",
        service_id: Some(service.service_id),
        service_name: Some(&service.name),
        outcome,
        detail,
        request_id: Some(request_id),
        ..Default::default()
    };
    db::audit::insert_audit_event(db, &event).await?;
    Ok(())
}
