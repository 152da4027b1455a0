//! GitHub's error bodies: `basic-error` `{message, documentation_url, status}` (status is a string) and
//! `validation-error` (422 with an `errors` array).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

const DOCS: &str = "https://docs.github.com/rest";

/// An API failure, rendered the way GitHub renders it.
#[derive(Debug)]
pub(crate) enum ApiError {
    Basic(StatusCode, String),
    Validation { message: String, errors: Vec<Value> },
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn not_found() -> Self {
        ApiError::Basic(StatusCode::NOT_FOUND, "Not Found".into())
    }

    pub fn bad_credentials() -> Self {
        ApiError::Basic(StatusCode::UNAUTHORIZED, "Bad credentials".into())
    }

    pub fn requires_authentication() -> Self {
        ApiError::Basic(StatusCode::UNAUTHORIZED, "Requires authentication".into())
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::Basic(StatusCode::FORBIDDEN, message.into())
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError::Basic(StatusCode::CONFLICT, message.into())
    }

    /// 422 with only a message (GitHub's schema-validation failures look like this).
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::Basic(StatusCode::UNPROCESSABLE_ENTITY, message.into())
    }

    /// `Invalid request.\n\n"field" wasn't supplied.` — GitHub's text for a missing required field.
    pub fn missing_field(field: &str) -> Self {
        Self::invalid(format!("Invalid request.\n\n\"{field}\" wasn't supplied."))
    }

    pub fn empty_repository() -> Self {
        Self::conflict("Git Repository is empty.")
    }

    pub fn archived() -> Self {
        Self::forbidden("Repository was archived so is read-only.")
    }

    pub fn admin_required() -> Self {
        Self::forbidden("Must have admin rights to Repository.")
    }
}

/// The `basic-error` JSON for a status and message.
pub(crate) fn basic_body(status: StatusCode, message: &str) -> Value {
    json!({ "message": message, "documentation_url": DOCS, "status": status.as_u16().to_string() })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Basic(status, message) => (status, Json(basic_body(status, &message))).into_response(),
            ApiError::Validation { message, errors } => {
                let status = StatusCode::UNPROCESSABLE_ENTITY;
                let body = json!({
                    "message": message,
                    "errors": errors,
                    "documentation_url": DOCS,
                    "status": "422",
                });
                (status, Json(body)).into_response()
            }
        }
    }
}

/// A JSON request body parsed the way GitHub does: no content-type required, an empty body counts as `{}`,
/// unparseable JSON is a 400 `Problems parsing JSON` and JSON of the wrong shape a 422 `Invalid request.`.
pub(crate) struct Body<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for Body<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|_| ApiError::Basic(StatusCode::BAD_REQUEST, "Problems parsing JSON".into()))?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
        let value: Value = serde_json::from_slice(text)
            .map_err(|_| ApiError::Basic(StatusCode::BAD_REQUEST, "Problems parsing JSON".into()))?;
        serde_json::from_value(value)
            .map(Body)
            .map_err(|error| ApiError::invalid(format!("Invalid request.\n\n{error}.")))
    }
}
