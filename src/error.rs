//! One error type for handlers. Expected outcomes are variants; anything unexpected wraps
//! `anyhow::Error`, is logged once with its whole chain, and reaches the user only as a generic
//! message with the request id. The body (HTML page or JSON problem) is rendered later by
//! [`crate::web::errors::render_errors`], which knows the request id and what the client accepts.

use std::collections::BTreeMap;

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};

pub type Result<T, E = AppError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("sign in required")]
    Unauthorized,
    /// An API bearer token GitHub did not accept.
    #[error("token not accepted")]
    BadToken,
    /// GitHub did not answer a check we cannot skip (who a bearer token belongs to).
    #[error("GitHub unavailable")]
    GitHubUnavailable,
    /// A session's membership of the organization (named) is due a re-check and GitHub has not
    /// answered for longer than the grace period.
    #[error("membership could not be confirmed")]
    MembershipUnconfirmed(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    /// Input that failed validation, with a message per field.
    #[error("some fields are not valid")]
    Invalid(BTreeMap<String, String>),
    #[error("{0}")]
    Conflict(String),
    /// This client address has spent its budget of unauthenticated work (`web::limits`).
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        AppError::Internal(anyhow::Error::new(e).context("database"))
    }
}

/// What the error renderer needs to know; attached to the response as an extension.
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    /// A stable, machine-readable code for API clients.
    pub code: &'static str,
    pub title: &'static str,
    /// Safe to show: never internal details.
    pub message: String,
    pub fields: BTreeMap<String, String>,
}

impl AppError {
    fn parts(&self) -> (StatusCode, ErrorInfo) {
        let info = |code, title, message: String| ErrorInfo { code, title, message, fields: BTreeMap::new() };
        match self {
            AppError::NotFound => (
                StatusCode::NOT_FOUND,
                info("not_found", "Not found", "There is nothing at this address.".into()),
            ),
            AppError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                info("unauthorized", "Sign in required", "Sign in with GitHub to continue.".into()),
            ),
            AppError::BadToken => (
                StatusCode::UNAUTHORIZED,
                info(
                    "unauthorized",
                    "Token not accepted",
                    "GitHub did not accept this token. Send a GitHub token (for example `gh auth token`) as \
                     Authorization: Bearer <token>."
                        .into(),
                ),
            ),
            AppError::GitHubUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                info(
                    "github_unavailable",
                    "GitHub unavailable",
                    "Shipyard could not reach GitHub to check who this token belongs to. Try again in a minute."
                        .into(),
                ),
            ),
            AppError::MembershipUnconfirmed(org) => (
                StatusCode::SERVICE_UNAVAILABLE,
                info(
                    "membership_unconfirmed",
                    "Membership not confirmed",
                    format!(
                        "Shipyard has not been able to confirm with GitHub that you are still a member of {org} \
                         for too long, so it will not act for you until GitHub answers again. Try again in a few minutes."
                    ),
                ),
            ),
            AppError::Forbidden(m) => (StatusCode::FORBIDDEN, info("forbidden", "Not allowed", m.clone())),
            AppError::BadRequest(m) => (StatusCode::BAD_REQUEST, info("bad_request", "Bad request", m.clone())),
            AppError::Invalid(fields) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorInfo {
                    code: "invalid",
                    title: "Invalid input",
                    message: "Some fields are not valid.".into(),
                    fields: fields.clone(),
                },
            ),
            AppError::Conflict(m) => (StatusCode::CONFLICT, info("conflict", "Conflict", m.clone())),
            AppError::TooManyRequests { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                info(
                    "too_many_requests",
                    "Too many requests",
                    format!(
                        "Too many sign-ins or unverified tokens from your address. Try again in {retry_after_secs} \
                         seconds."
                    ),
                ),
            ),
            AppError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                info(
                    "internal",
                    "Something went wrong",
                    "Shipyard hit an unexpected error. It has been logged; quote the request id when reporting it."
                        .into(),
                ),
            ),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::Internal(e) = &self {
            tracing::error!(error.cause_chain = ?e, "request failed");
        }
        let (status, info) = self.parts();
        let mut response = (status, info.message.clone()).into_response();
        if let AppError::TooManyRequests { retry_after_secs } = self {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, retry_after_secs.into());
        }
        response.extensions_mut().insert(info);
        response
    }
}
