//! Turns error responses into pages or JSON problem documents, with the request id.

use axum::{
    Json,
    extract::Request,
    http::{HeaderMap, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{
    error::{AppError, ErrorInfo},
    web::pages::{ErrorPage, Layout},
};

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id `SetRequestIdLayer` gave this request.
pub fn request_id(headers: &HeaderMap) -> String {
    headers.get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned()
}

/// Renders [`AppError`] responses: JSON for `/api/` and clients that ask for JSON, a page otherwise.
pub async fn render_errors(request: Request, next: Next) -> Response {
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
            "type": format!("https://shipyard.dev/problems/{}", info.code),
            "title": info.title,
            "status": status.as_u16(),
            "code": info.code,
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
