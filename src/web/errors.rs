//! Turns error responses into pages or JSON problem documents, with the request id.

use axum::{
    Json, Router,
    extract::{Path, Request, State},
    http::{HeaderMap, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;
use url::Url;

use crate::{
    error::{AppError, ErrorInfo, ProblemCode},
    web::{
        AppState,
        pages::{ErrorPage, Layout, ProblemPage},
    },
};

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id `SetRequestIdLayer` gave this request.
pub fn request_id(headers: &HeaderMap) -> String {
    headers.get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned()
}

/// Renders [`AppError`] responses: JSON for `/api/` and clients that ask for JSON, a page otherwise.
pub async fn render_errors(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let wants_json = request.uri().path().starts_with("/api/")
        || request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/json"));
    let rid = request_id(request.headers());
    let response = next.run(request).await;
    let Some(info) = response.extensions().get::<ErrorInfo>().cloned() else { return response };
    let status = response.status();
    let mut rendered = if wants_json {
        let mut body = json!({
            "type": problem_type(&state.config.public_url, info.code),
            "title": info.title,
            "status": status.as_u16(),
            "code": info.code.as_str(),
            "detail": info.message,
            "request_id": rid,
        });
        if !info.fields.is_empty() {
            body["errors"] = json!(info.fields);
        }
        let mut response = (status, Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, "application/problem+json".parse().expect("valid"));
        response
    } else {
        let page = ErrorPage {
            layout: Layout::anonymous(),
            title: info.title.into(),
            message: info.message.clone(),
            request_id: rid,
            retry_sign_in: status == StatusCode::UNAUTHORIZED,
        };
        (status, page).into_response()
    };
    for (name, value) in response.headers() {
        if name == header::SET_COOKIE || name == header::LOCATION || name == header::RETRY_AFTER {
            rendered.headers_mut().append(name, value.clone());
        }
    }
    rendered
}

/// For any path that matches no route.
pub async fn not_found() -> AppError {
    AppError::NotFound
}

/// A problem document's `type`: the page on this Shipyard that explains the code.
pub fn problem_type(public_url: &Url, code: ProblemCode) -> String {
    public_url
        .join(&format!("/problems/{}", code.as_str()))
        .map(String::from)
        .unwrap_or_else(|_| "about:blank".into())
}

/// `GET /problems/{code}`: what a problem code means and what to do about it. Public: a client
/// that was refused (401) must be able to read why.
pub fn router() -> Router<AppState> {
    Router::new().route("/problems/{code}", get(problem_page))
}

async fn problem_page(Path(code): Path<String>) -> Result<ProblemPage, AppError> {
    let code: ProblemCode = code.parse().map_err(|_| AppError::NotFound)?;
    Ok(ProblemPage {
        layout: Layout::anonymous(),
        code: code.as_str(),
        status: code.status().as_u16(),
        title: code.title(),
        meaning: code.meaning(),
        remedy: code.remedy(),
    })
}
