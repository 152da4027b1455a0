//! `POST /api/v1/services/{name}/repair` (202: the reconciler does the work) and
//! `POST /api/v1/services/{name}/check` (200: the check ran), through the same commands as the page.

use axum::{
    Extension, Json,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
};
use serde_json::Value;

use super::service_resource;
use crate::{
    commands,
    error::AppError,
    web::{
        AppState,
        errors::request_id,
        services::drift::{DriftView, drift_check},
        session::CurrentUser,
    },
};

/// The service as every answer shows it, with its drift.
async fn with_drift(state: &AppState, service: &crate::db::services::Service) -> Result<Value, AppError> {
    let mut body = service_resource(service);
    body["drift"] = DriftView::load(&state.db, service).await?.map(|d| d.json()).unwrap_or(Value::Null);
    Ok(body)
}

/// Puts back what drifted, through the reconciler.
#[utoipa::path(post, path = "/api/v1/services/{name}/repair", operation_id = "repairService", tag = "services", summary = "Repair drift",
    params(("name" = String, Path, description = "The service's name.")), responses((status = 202, description = "Accepted: the reconciler repairs it.", body = super::doc::ServiceResource)))]
#[tracing::instrument(skip_all, fields(service = %name))]
pub async fn repair(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let request_id = request_id(&headers);
    let service = commands::find(&state.db, &name).await?;
    let service =
        commands::drift::repair_service(&state.db, &state.config, user.actor(&request_id), &service).await?;
    Ok((StatusCode::ACCEPTED, Json(with_drift(&state, &service).await?)))
}

/// Checks the service for drift now.
#[utoipa::path(post, path = "/api/v1/services/{name}/check", operation_id = "checkService", tag = "services", summary = "Check for drift now",
    params(("name" = String, Path, description = "The service's name.")), responses((status = 200, description = "The check ran; `drift` has its findings.", body = super::doc::ServiceResource)))]
#[tracing::instrument(skip_all, fields(service = %name))]
pub async fn check(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<Value>, AppError> {
    let service = commands::find(&state.db, &name).await?;
    commands::drift::check_may_check(&state.db, &state.config, user.actor(&request_id(&headers)), &service)
        .await?;
    state.checks.spend(user.user.user_id)?;
    let cooldown = state.config.check_cooldown;
    let service = commands::drift::check_now(&state.db, &drift_check(&state), &service, cooldown).await?;
    Ok(Json(with_drift(&state, &service).await?))
}
