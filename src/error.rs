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
    /// A live service already has this name (409 in the API; the form shows it on the field).
    #[error("a service named {0} already exists")]
    NameTaken(String),
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

/// The stable, machine-readable `code` of a problem document. Each has a page at
/// `<PUBLIC_URL>/problems/<code>` (the document's `type`) saying what it means and what to do, and
/// the API description lists, per status, the codes it may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumIter, strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum ProblemCode {
    NotFound,
    Unauthorized,
    GithubUnavailable,
    MembershipUnconfirmed,
    Forbidden,
    BadRequest,
    Invalid,
    Conflict,
    NameTaken,
    TooManyRequests,
    Internal,
}

impl ProblemCode {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn all() -> impl Iterator<Item = ProblemCode> {
        <ProblemCode as strum::IntoEnumIterator>::iter()
    }

    /// The HTTP status a problem with this code is sent with.
    pub fn status(self) -> StatusCode {
        match self {
            ProblemCode::NotFound => StatusCode::NOT_FOUND,
            ProblemCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ProblemCode::GithubUnavailable | ProblemCode::MembershipUnconfirmed => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ProblemCode::Forbidden => StatusCode::FORBIDDEN,
            ProblemCode::BadRequest => StatusCode::BAD_REQUEST,
            ProblemCode::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemCode::Conflict | ProblemCode::NameTaken => StatusCode::CONFLICT,
            ProblemCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ProblemCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The title of its page and of problem documents with no more specific title.
    pub fn title(self) -> &'static str {
        match self {
            ProblemCode::NotFound => "Not found",
            ProblemCode::Unauthorized => "Sign in required",
            ProblemCode::GithubUnavailable => "GitHub unavailable",
            ProblemCode::MembershipUnconfirmed => "Membership not confirmed",
            ProblemCode::Forbidden => "Not allowed",
            ProblemCode::BadRequest => "Bad request",
            ProblemCode::Invalid => "Invalid input",
            ProblemCode::Conflict => "Conflict",
            ProblemCode::NameTaken => "Name taken",
            ProblemCode::TooManyRequests => "Too many requests",
            ProblemCode::Internal => "Something went wrong",
        }
    }

    /// What the problem means, for its page (`/problems/<code>`).
    pub fn meaning(self) -> &'static str {
        match self {
            ProblemCode::NotFound => {
                "There is no live service (or push role, or page) at this address. A deleted service is gone \
                 from the API; a name may have been mistyped."
            }
            ProblemCode::Unauthorized => {
                "The request carried no credential Shipyard accepts: no session cookie, or a bearer token GitHub \
                 did not accept (expired, revoked, or not a GitHub token)."
            }
            ProblemCode::GithubUnavailable => {
                "Shipyard asks GitHub who a bearer token belongs to before acting on it, and GitHub did not \
                 answer. Nothing was changed."
            }
            ProblemCode::MembershipUnconfirmed => {
                "Shipyard re-checks with GitHub that you are still a member of the organization, and GitHub has \
                 not answered for longer than the grace period, so Shipyard will not act for you. Nothing was \
                 changed."
            }
            ProblemCode::Forbidden => {
                "You are signed in but may not do this: you are not a member of the organization or of the team \
                 that owns the service, or a write sent with the session cookie lacked its CSRF token \
                 (X-CSRF-Token). The detail says which."
            }
            ProblemCode::BadRequest => {
                "The request could not be read: the body is not JSON (or not sent as application/json), not a \
                 JSON object, or the query string is malformed. Nothing was changed."
            }
            ProblemCode::Invalid => {
                "The request was read, but some fields are not valid. `errors` names each field with what is \
                 wrong with it; nothing was changed."
            }
            ProblemCode::Conflict => {
                "The request is valid but clashes with the service's current state: the service is still \
                 being provisioned or deleted, or a role already exists. Nothing was changed."
            }
            ProblemCode::NameTaken => {
                "A live service already has this name (service names are unique among services not deleted, since \
                 the name becomes the repository's, the ECR repository's and the IAM role's). Nothing was changed."
            }
            ProblemCode::TooManyRequests => {
                "Your address has spent its budget of unauthenticated work (sign-ins, unverified tokens) or of \
                 drift checks. The Retry-After header says how many seconds to wait."
            }
            ProblemCode::Internal => {
                "Shipyard hit an unexpected error. It has been logged with the request id; nothing in the reply \
                 says more, on purpose."
            }
        }
    }

    /// What to do about it, for its page.
    pub fn remedy(self) -> &'static str {
        match self {
            ProblemCode::NotFound => "List the services (GET /api/v1/services) and check the name.",
            ProblemCode::Unauthorized => {
                "Send a GitHub token as `Authorization: Bearer <token>` (for example `gh auth token`), or sign in \
                 again in the browser."
            }
            ProblemCode::GithubUnavailable | ProblemCode::MembershipUnconfirmed => {
                "Try again in a few minutes; check GitHub's status page if it goes on."
            }
            ProblemCode::Forbidden => {
                "Ask an owner of the organization or of the team for access, or send the CSRF token with writes \
                 made with the session cookie."
            }
            ProblemCode::BadRequest => {
                "Send the body as a JSON object with `Content-Type: application/json`, as the API description \
                 (/api/v1/openapi.json) shows."
            }
            ProblemCode::Invalid => "Correct the fields named in `errors` and send the request again.",
            ProblemCode::Conflict => {
                "Read the service (GET /api/v1/services/{name}) to see its state; wait for it to settle, or \
                 choose another name."
            }
            ProblemCode::NameTaken => {
                "Choose another name, or read the service with this name (GET /api/v1/services/{name}); a \
                 service being deleted keeps its name until its teardown finishes."
            }
            ProblemCode::TooManyRequests => "Wait for the seconds in Retry-After, then try again.",
            ProblemCode::Internal => "Try again; if it goes on, report it with the request id.",
        }
    }
}

/// What the error renderer needs to know; attached to the response as an extension.
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    /// A stable, machine-readable code for API clients.
    pub code: ProblemCode,
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
                info(ProblemCode::NotFound, "Not found", "There is nothing at this address.".into()),
            ),
            AppError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                info(ProblemCode::Unauthorized, "Sign in required", "Sign in with GitHub to continue.".into()),
            ),
            AppError::BadToken => (
                StatusCode::UNAUTHORIZED,
                info(
                    ProblemCode::Unauthorized,
                    "Token not accepted",
                    "GitHub did not accept this token. Send a GitHub token (for example `gh auth token`) as \
                     Authorization: Bearer <token>."
                        .into(),
                ),
            ),
            AppError::GitHubUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                info(
                    ProblemCode::GithubUnavailable,
                    "GitHub unavailable",
                    "Shipyard could not reach GitHub to check who this token belongs to. Try again in a minute."
                        .into(),
                ),
            ),
            AppError::MembershipUnconfirmed(org) => (
                StatusCode::SERVICE_UNAVAILABLE,
                info(
                    ProblemCode::MembershipUnconfirmed,
                    "Membership not confirmed",
                    format!(
                        "Shipyard has not been able to confirm with GitHub that you are still a member of {org} \
                         for too long, so it will not act for you until GitHub answers again. Try again in a few minutes."
                    ),
                ),
            ),
            AppError::Forbidden(m) => (StatusCode::FORBIDDEN, info(ProblemCode::Forbidden, "Not allowed", m.clone())),
            AppError::BadRequest(m) => (StatusCode::BAD_REQUEST, info(ProblemCode::BadRequest, "Bad request", m.clone())),
            AppError::Invalid(fields) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorInfo {
                    code: ProblemCode::Invalid,
                    title: "Invalid input",
                    message: "Some fields are not valid.".into(),
                    fields: fields.clone(),
                },
            ),
            AppError::Conflict(m) => (StatusCode::CONFLICT, info(ProblemCode::Conflict, "Conflict", m.clone())),
            AppError::NameTaken(name) => {
                let message = format!("A service named {name} already exists.");
                (
                    StatusCode::CONFLICT,
                    ErrorInfo {
                        code: ProblemCode::NameTaken,
                        title: "Name taken",
                        message: message.clone(),
                        fields: BTreeMap::from([("name".to_owned(), message)]),
                    },
                )
            }
            AppError::TooManyRequests { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                info(
                    ProblemCode::TooManyRequests,
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
                    ProblemCode::Internal,
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
        debug_assert_eq!(status, info.code.status(), "{:?}", info.code);
        let mut response = (status, info.message.clone()).into_response();
        if let AppError::TooManyRequests { retry_after_secs } = self {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, retry_after_secs.into());
        }
        response.extensions_mut().insert(info);
        response
    }
}
