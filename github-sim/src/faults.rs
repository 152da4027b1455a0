//! Fault injection, artificial latency and request counting, applied before any handler runs.
//!
//! Patterns match request paths segment by segment: `*` matches exactly one segment and a trailing `/**`
//! matches any remainder (including nothing). Literal segments compare case-insensitively, like GitHub's
//! owner and repository names.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::Sim;

/// An injected failure: matching requests get `status` and `body` instead of reaching the handler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    /// HTTP method to match (`None` = any).
    #[serde(default)]
    pub method: Option<String>,
    /// e.g. `/repos/*/*/actions/secrets/*`; `*` = one segment, trailing `/**` = any rest.
    pub path_pattern: String,
    pub status: u16,
    /// GitHub-shaped body; `null` means a basic error built from the status.
    #[serde(default)]
    pub body: serde_json::Value,
    /// Seconds, sent as the `retry-after` header.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// How many requests it hits before it disappears (`None` = until cleared).
    #[serde(default)]
    pub count: Option<u32>,
}

impl Fault {
    /// A fault that answers every matching request (any method) with `status` and a basic error body.
    pub fn new(path_pattern: impl Into<String>, status: u16) -> Self {
        Fault {
            method: None,
            path_pattern: path_pattern.into(),
            status,
            body: serde_json::Value::Null,
            retry_after: None,
            count: None,
        }
    }

    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into());
        self
    }

    pub fn body(mut self, body: serde_json::Value) -> Self {
        self.body = body;
        self
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn times(mut self, count: u32) -> Self {
        self.count = Some(count);
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.count != Some(0)
            && method_matches(self.method.as_deref(), method)
            && path_matches(&self.path_pattern, path)
    }
}

/// A delay added before matching requests are handled.
#[derive(Debug, Clone)]
pub(crate) struct Latency {
    pub method: Option<String>,
    pub path_pattern: String,
    pub delay: Duration,
}

pub(crate) fn method_matches(wanted: Option<&str>, method: &str) -> bool {
    wanted.is_none_or(|m| m.eq_ignore_ascii_case(method))
}

/// Segment-wise match with `*` (one segment) and trailing `**` (any rest).
pub(crate) fn path_matches(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.trim_matches('/').split('/').collect();
    let path: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (fixed, open_ended) = match pattern.split_last() {
        Some((&"**", rest)) => (rest, true),
        _ => (&pattern[..], false),
    };
    let length_fits = if open_ended { path.len() >= fixed.len() } else { path.len() == fixed.len() };
    length_fits && fixed.iter().zip(&path).all(|(p, s)| *p == "*" || p.eq_ignore_ascii_case(s))
}

/// Middleware: latency, then faults (with no side effect on the world), then counting and one log line
/// (method, path, status: paths carry no tokens; query strings, which may carry OAuth codes, are not logged).
pub(crate) async fn apply_faults(State(sim): State<Sim>, request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_string();
    let path = request.uri().path().to_string();
    let delay = {
        let world = sim.world();
        world
            .latency
            .iter()
            .rev()
            .find(|l| method_matches(l.method.as_deref(), &method) && path_matches(&l.path_pattern, &path))
            .map(|l| l.delay)
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let fault = {
        let mut world = sim.world();
        let hit = world.faults.iter().position(|f| f.matches(&method, &path));
        match hit {
            Some(i) => {
                let fault = world.faults[i].clone();
                if let Some(count) = world.faults[i].count.as_mut() {
                    *count = count.saturating_sub(1);
                    if *count == 0 {
                        world.faults.remove(i);
                    }
                }
                Some(fault)
            }
            None => {
                world.record_request(&method, &path);
                None
            }
        }
    };
    match fault {
        Some(fault) => {
            tracing::info!(%method, %path, status = fault.status, "injected fault");
            render_fault(&fault)
        }
        None => {
            let response = next.run(request).await;
            tracing::info!(%method, %path, status = response.status().as_u16(), "request");
            response
        }
    }
}

fn render_fault(fault: &Fault) -> Response {
    let status = StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        return with_retry_after(status.into_response(), fault.retry_after);
    }
    let body = if fault.body.is_null() {
        crate::error::basic_body(status, status.canonical_reason().unwrap_or("Error"))
    } else {
        fault.body.clone()
    };
    with_retry_after((status, axum::Json(body)).into_response(), fault.retry_after)
}

fn with_retry_after(mut response: Response, retry_after: Option<u64>) -> Response {
    if let Some(seconds) = retry_after {
        response.headers_mut().insert("retry-after", HeaderValue::from(seconds));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::path_matches;

    #[test]
    fn star_matches_exactly_one_segment() {
        assert!(path_matches("/repos/*/*/actions/secrets/*", "/repos/acme/x/actions/secrets/AWS_REGION"));
        assert!(!path_matches("/repos/*/*", "/repos/acme/x/actions"));
        assert!(!path_matches("/repos/*/*/generate", "/repos/acme/generate"));
    }

    #[test]
    fn double_star_matches_any_rest() {
        assert!(path_matches("/repos/**", "/repos/acme/x/actions/runs"));
        assert!(path_matches("/repos/acme/**", "/repos/acme"));
        assert!(!path_matches("/repos/acme/**", "/user"));
    }

    #[test]
    fn literal_segments_ignore_case() {
        assert!(path_matches("/repos/ACME/Payments", "/repos/acme/payments"));
    }
}
