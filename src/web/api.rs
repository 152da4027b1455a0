//! The JSON API for scripts: the same list, create, retry and delete as the pages, through the same
//! commands. It has its own authentication and CSRF layers: either `Authorization: Bearer <GitHub
//! token>` (see `bearer.rs`; no CSRF token needed) or the session cookie with the CSRF token in the
//! `X-CSRF-Token` header on every write. Errors are problem documents (see `errors.rs`).

pub mod doc;
pub mod drift;
pub mod list;

use axum::{
    Extension, Json, Router,
    body::Bytes,
    extract::{Path, Request, State},
    http::{HeaderMap, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Deserialize;
use serde_json::Value;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    AppState,
    errors::request_id,
    services::{self, live, view},
    session::{self, CurrentUser},
};
use crate::{
    commands::{self, request::ServiceJson, roles::RoleInput},
    db,
    error::AppError,
};

pub fn router(state: AppState) -> Router<AppState> {
    let (authenticated, _) = routes().split_for_parts();
    authenticated
        // Layers run outside in: who is asking first, then whether a write carries its CSRF token.
        .route_layer(middleware::from_fn(require_csrf_header))
        .route_layer(middleware::from_fn_with_state(state, session::require_session))
        .route(doc::OPENAPI_PATH, get(openapi_json))
}

/// Every authenticated route under `/api/v1`, each routed by the same `#[utoipa::path]` that
/// describes it.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(doc::ApiDoc::openapi())
        .routes(routes!(list::list, create))
        .routes(routes!(show, delete, transfer))
        .routes(routes!(retry))
        .routes(routes!(drift::repair))
        .routes(routes!(drift::check))
        .routes(routes!(list_roles, add_role))
        .routes(routes!(remove_role))
}

/// The API's description: the routes' own, with the problem answers and authentication added.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut description) = routes().routes(routes!(openapi_json)).split_for_parts();
    doc::finish(&mut description);
    description
}

/// This description. Public: reading the contract needs no account.
#[utoipa::path(get, path = "/api/v1/openapi.json", operation_id = "getOpenApi", tag = "services",
    summary = "This API's OpenAPI 3.1 description",
    responses((status = 200, description = "The description.", content_type = "application/json", body = Object)))]
async fn openapi_json(State(state): State<AppState>) -> Result<impl IntoResponse, AppError> {
    let mut description = openapi();
    doc::configure(&mut description, &state.config);
    let json = description.to_json().map_err(anyhow::Error::new)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], json))
}

/// Every write made with the session cookie carries the CSRF token in `X-CSRF-Token`; bearer
/// requests carry no ambient credential a forged request could borrow.
async fn require_csrf_header(request: Request, next: Next) -> Response {
    let safe = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let user = request.extensions().get::<CurrentUser>();
    match user {
        Some(user) if !safe => match session::check_csrf_header(user, request.headers()) {
            Ok(()) => next.run(request).await,
            Err(e) => e.into_response(),
        },
        _ => next.run(request).await,
    }
}

/// A service as every API answer shows it: the page's JSON plus the link to its Actions runs.
pub fn service_resource(service: &db::services::Service) -> Value {
    let mut body = view::service_json(service);
    let html = service.html_url.as_deref().filter(|u| u.starts_with("https://") || u.starts_with("http://"));
    body["urls"]["actions"] = html.map(|u| format!("{}/actions", u.trim_end_matches('/'))).into();
    body
}

/// Reads a JSON body into `T`. Broken JSON is a 400; a field of the wrong type or one we do not
/// know is a 422 naming the field, like any other invalid field.
fn parse_json<T: serde::de::DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, AppError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return Err(AppError::BadRequest(
            "Send the body as JSON, with Content-Type: application/json.".into(),
        ));
    }
    let not_json = |e: serde_json::Error| AppError::BadRequest(format!("The body is not valid JSON: {e}."));
    // serde also reads a struct from an array by position; a request is only ever an object.
    if !body.trim_ascii_start().starts_with(b"{") {
        return Err(AppError::BadRequest("The body must be a JSON object.".into()));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let field = match e.path().iter().next() {
            Some(serde_path_to_error::Segment::Map { key }) => Some(key.clone()),
            _ => None,
        };
        let inner = e.into_inner();
        let Some(field) = field.filter(|_| inner.is_data()) else { return not_json(inner) };
        let message = match inner.to_string() {
            m if m.starts_with("unknown field") => "This field is not part of the request.".to_owned(),
            m => format!("Wrong type: {}.", m.split(" at line ").next().unwrap_or(&m)),
        };
        AppError::Invalid([(field, message)].into())
    })?;
    deserializer.end().map_err(not_json)?;
    Ok(value)
}

/// Creates a service: 202 Accepted, since the reconciler does the work after we answer.
#[utoipa::path(post, path = "/api/v1/services", operation_id = "createService", tag = "services", summary = "Create a service",
    request_body(content = ServiceJson, content_type = "application/json"),
    responses((status = 202, description = "Accepted: the reconciler provisions it; follow `links.self`.", body = doc::ServiceResource,
        links(
            ("get" = (operation_id = "getService", parameters(("name" = "$response.body#/name")))),
            ("retry" = (operation_id = "retryService", parameters(("name" = "$response.body#/name")))),
            ("roles" = (operation_id = "listRoles", parameters(("name" = "$response.body#/name")))),
            ("delete" = (operation_id = "deleteService", parameters(("name" = "$response.body#/name")))),
        ))
    ))]
#[tracing::instrument(skip_all)]
async fn create(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let input = parse_json::<ServiceJson>(&headers, &body)?.into();
    let request_id = request_id(&headers);
    let github = state.github.with_retry(crate::provider::RetryPolicy::interactive());
    let service =
        commands::create_service(&state.db, &github, &state.config, user.actor(&request_id), &input).await?;
    Ok((StatusCode::ACCEPTED, Json(service_resource(&service))))
}

/// The body of `PATCH`: only the owning team changes. Unknown fields are refused.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PatchJson {
    /// The slug of the team to transfer the service to.
    #[schema(required = true, value_type = String, min_length = 1, max_length = 100, pattern = "^[a-z0-9][a-z0-9_-]*$")]
    team: Option<String>,
}

/// Transfers the service to another team: `{"team": "platform"}`. 202 with the service, since the
/// reconciler grants the new team and removes the old one's grant after we answer.
#[utoipa::path(patch, path = "/api/v1/services/{name}", operation_id = "transferService", tag = "services", summary = "Transfer a service to another team",
    params(("name" = String, Path, description = "The service's name.")), request_body(content = PatchJson, content_type = "application/json"),
    responses((status = 202, description = "Accepted: the reconciler moves the grant.", body = doc::ServiceResource)))]
#[tracing::instrument(skip_all, fields(service = %name))]
async fn transfer(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let input = parse_json::<PatchJson>(&headers, &body)?;
    let Some(team) = input.team else {
        let message = "Give the team to transfer the service to, such as {\"team\": \"platform\"}.";
        return Err(AppError::Invalid([("team".to_owned(), message.to_owned())].into()));
    };
    let request_id = request_id(&headers);
    let service = commands::find(&state.db, &name).await?;
    let github = state.github.with_retry(crate::provider::RetryPolicy::interactive());
    let actor = user.actor(&request_id);
    let service =
        commands::team::transfer_team(&state.db, &github, &state.config, actor, &service, &team).await?;
    Ok((StatusCode::ACCEPTED, Json(service_resource(&service))))
}

/// The service with its steps (status, attempts, timings, errors), everything it produced, and its
/// latest runs and images (looked up live, see `live.rs`).
#[utoipa::path(get, path = "/api/v1/services/{name}", operation_id = "getService", tag = "services", summary = "Get a service with its steps, outputs and roles",
    params(("name" = String, Path, description = "The service's name.")), responses((status = 200, description = "The service.", body = doc::ServiceDetail)))]
#[tracing::instrument(skip_all, fields(service = %name))]
async fn show(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, AppError> {
    let service = commands::find(&state.db, &name).await?;
    let steps = db::steps::list_steps(&state.db, service.service_id).await?;
    let mut body = service_resource(&service);
    body["steps"] = serde_json::to_value(view::step_views(&steps, time::OffsetDateTime::now_utc()))
        .map_err(anyhow::Error::new)?;
    body["outputs"] = serde_json::to_value(view::outputs(&service, &steps)).map_err(anyhow::Error::new)?;
    live::add_to_json(&mut body, live::look_up(&state, &service, &steps).await.as_ref());
    body["drift"] =
        services::drift::DriftView::load(&state.db, &service).await?.map(|d| d.json()).unwrap_or(Value::Null);
    body["roles"] = roles_json(&state, &service, &steps).await?;
    Ok(Json(body))
}

async fn roles_json(
    state: &AppState,
    service: &db::services::Service,
    steps: &[db::steps::Step],
) -> Result<Value, AppError> {
    let service_roles = db::roles::list_roles(&state.db, service.service_id).await?;
    Ok(serde_json::to_value(services::roles::role_views(service, &service_roles, steps))
        .map_err(anyhow::Error::new)?)
}

/// The service's push roles, the default-branch role first.
#[utoipa::path(get, path = "/api/v1/services/{name}/roles", operation_id = "listRoles", tag = "services", summary = "List a service's push roles",
    params(("name" = String, Path, description = "The service's name.")), responses((status = 200, description = "Its roles.", body = doc::RoleList)))]
#[tracing::instrument(skip_all, fields(service = %name))]
async fn list_roles(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, AppError> {
    let service = commands::find(&state.db, &name).await?;
    let steps = db::steps::list_steps(&state.db, service.service_id).await?;
    Ok(Json(serde_json::json!({ "roles": roles_json(&state, &service, &steps).await? })))
}

/// Adds a push role: `{"branch": "release"}`, `{"tag_pattern": "v*"}` or `{"environment": "production"}`.
/// 202 with the role (status `creating`), since the reconciler makes it after we answer.
#[utoipa::path(post, path = "/api/v1/services/{name}/roles", operation_id = "addRole", tag = "services", summary = "Add a push role",
    params(("name" = String, Path, description = "The service's name.")), request_body(content = RoleInput, content_type = "application/json"),
    responses((status = 202, description = "Accepted: the reconciler makes the role.", body = crate::web::services::roles::RoleView)))]
#[tracing::instrument(skip_all, fields(service = %name))]
async fn add_role(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let input = parse_json::<RoleInput>(&headers, &body)?;
    let request_id = request_id(&headers);
    let service = commands::find(&state.db, &name).await?;
    let role = commands::roles::add_role(&state.db, &state.config, user.actor(&request_id), &service, &input)
        .await?;
    let service = commands::find(&state.db, &name).await?;
    let steps = db::steps::list_steps(&state.db, service.service_id).await?;
    let roles = db::roles::list_roles(&state.db, service.service_id).await?;
    let view =
        services::roles::role_views(&service, &roles, &steps).into_iter().find(|r| r.name == role.name);
    Ok((StatusCode::ACCEPTED, Json(serde_json::to_value(view).map_err(anyhow::Error::new)?)))
}

/// Removes an extra push role: 202 with the service, since the reconciler removes it.
#[utoipa::path(delete, path = "/api/v1/services/{name}/roles/{role}", operation_id = "removeRole", tag = "services", summary = "Remove a push role",
    params(("name" = String, Path, description = "The service's name."), ("role" = String, Path, description = "The role's `name` from its listing.")),
    responses((status = 202, description = "Accepted: the reconciler removes the role.", body = doc::ServiceResource)))]
#[tracing::instrument(skip_all, fields(service = %name, role = %role))]
async fn remove_role(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Path((name, role)): Path<(String, String)>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let request_id = request_id(&headers);
    let service = commands::find(&state.db, &name).await?;
    let service =
        commands::roles::remove_role(&state.db, &state.config, user.actor(&request_id), &service, &role)
            .await?;
    Ok((StatusCode::ACCEPTED, Json(service_resource(&service))))
}

/// Retries a failed service's steps from the one that failed.
#[utoipa::path(post, path = "/api/v1/services/{name}/retry", operation_id = "retryService", tag = "services", summary = "Retry a failed service",
    params(("name" = String, Path, description = "The service's name.")), responses((status = 202, description = "Accepted: the reconciler runs the failed steps again.", body = doc::ServiceResource)))]
#[tracing::instrument(skip_all, fields(service = %name))]
async fn retry(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let request_id = request_id(&headers);
    let service = commands::retry_service(&state.db, &state.config, user.actor(&request_id), &name).await?;
    Ok((StatusCode::ACCEPTED, Json(service_resource(&service))))
}

/// The optional body of `DELETE`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
struct DeleteJson {
    /// Archive the GitHub repository instead of deleting it.
    keep_repository: bool,
}

fn parse_delete_body(body: &[u8]) -> Result<DeleteJson, AppError> {
    let body = body.trim_ascii();
    // `null`, like an empty body, is "no options".
    if body.is_empty() || body == b"null" {
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
#[utoipa::path(delete, path = "/api/v1/services/{name}", operation_id = "deleteService", tag = "services", summary = "Delete a service",
    params(("name" = String, Path, description = "The service's name.")), request_body(content = Option<DeleteJson>, content_type = "application/json", description = "Optional."),
    responses((status = 202, description = "Accepted: the reconciler deletes (or archives) it.", body = doc::ServiceResource)))]
#[tracing::instrument(skip_all, fields(service = %name))]
async fn delete(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let input = parse_delete_body(&body)?;
    let request_id = request_id(&headers);
    let service = commands::find(&state.db, &name).await?;
    let service = commands::request_deletion(
        &state.db,
        &state.config,
        user.actor(&request_id),
        &service,
        input.keep_repository,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(view::service_json(&service))))
}
