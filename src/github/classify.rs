//! Turning GitHub's answers into [`ProviderError`]s the reconciler can branch on.
//!
//! GitHub's contract (security-contracts.md §1.1-1.2): errors carry `{"message", "errors"?,
//! "documentation_url"?}`; rate limits come back as 403 *or* 429, primary ones with
//! `x-ratelimit-remaining: 0` and `x-ratelimit-reset`, secondary ones with a message naming a secondary
//! rate limit and often `retry-after`. A 403 without any of those is a real refusal.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;

use crate::provider::{ErrorKind, ProviderError, System};

/// GitHub says to wait at least a minute after a secondary limit that names no `retry-after`.
const SECONDARY_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// One HTTP exchange with GitHub, body read.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    message: Option<String>,
    #[serde(default)]
    errors: Vec<serde_json::Value>,
}

/// A 403 that names no permission (a classic token's, or one GitHub sent without
/// `x-accepted-github-permissions`), with what Shipyard knows the call needs, so the owner knows what
/// to grant.
pub fn naming_permission(mut e: ProviderError, needed: &str) -> ProviderError {
    if e.kind == ErrorKind::Denied
        && e.message.starts_with("403")
        && !e.message.contains("needs the permission")
    {
        e.message =
            format!("{}: the GitHub App needs {needed} (see Shipyard's README, GitHub App)", e.message);
    }
    e
}

/// Builds an error of `kind` with GitHub as the system.
pub fn error(kind: ErrorKind, message: impl Into<String>) -> ProviderError {
    ProviderError::new(System::GitHub, kind, message)
}

impl Reply {
    /// GitHub's `message` (empty when the body has none), for the replies a caller reads rather than
    /// turns into an error.
    pub fn message(&self) -> String {
        serde_json::from_slice::<ErrorBody>(&self.body).ok().and_then(|b| b.message).unwrap_or_default()
    }

    /// Parses the body as `T`; a body we cannot read is GitHub breaking its contract, not a retry case.
    pub fn json<T: serde::de::DeserializeOwned>(&self, what: &str) -> Result<T, ProviderError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| error(ErrorKind::Other, format!("unexpected {what} response from GitHub: {e}")))
    }

    /// Classifies a non-success reply. `wait_cap` bounds the waits we compute ourselves from rate-limit
    /// headers; a `retry-after` GitHub sends is kept as given (the retry loop waits for it only while it
    /// fits the caller's deadline).
    pub fn into_error(self, wait_cap: Duration) -> ProviderError {
        let body: ErrorBody = serde_json::from_slice(&self.body).unwrap_or_default();
        let message = describe(self.status, &body, &self.body);
        let retry_after = header_u64(&self.headers, "retry-after").map(Duration::from_secs);
        let exhausted = self.headers.get("x-ratelimit-remaining").is_some_and(|v| v.as_bytes() == b"0");
        let secondary = message.to_ascii_lowercase().contains("secondary rate limit")
            || message.to_ascii_lowercase().contains("abuse detection");
        let rate_limited =
            matches!(self.status.as_u16(), 403 | 429) && (retry_after.is_some() || exhausted || secondary);
        let kind = match self.status.as_u16() {
            _ if rate_limited => ErrorKind::Transient,
            429 | 500..=599 => ErrorKind::Transient,
            401 | 403 => ErrorKind::Denied,
            404 | 410 => ErrorKind::NotFound,
            409 => ErrorKind::Conflict,
            422 if names_taken(&body, &message) => ErrorKind::Conflict,
            400 | 422 => ErrorKind::Invalid,
            _ => ErrorKind::Other,
        };
        let primary = rate_limited && exhausted && retry_after.is_none();
        let wait = match (retry_after, secondary) {
            (Some(after), _) => Some(after),
            (None, true) => Some(SECONDARY_LIMIT_WAIT.min(wait_cap)),
            _ => None,
        };
        let reset = primary.then(|| until_reset(&self.headers));
        let message = match (reset, self.headers.get("x-accepted-github-permissions")) {
            (Some(reset), _) => format!("{message} (the limit resets in {} s)", reset.as_secs()),
            // GitHub names the permission an App installation lacks: say which, so the owner can grant it.
            (None, Some(needed)) if self.status == StatusCode::FORBIDDEN => format!(
                "{message}: the GitHub App's installation needs the permission {} (see Shipyard's README, GitHub App)",
                String::from_utf8_lossy(needed.as_bytes())
            ),
            _ => message,
        };
        let transient = kind == ErrorKind::Transient;
        error(kind, message)
            .with_retry_after(if transient { wait } else { None })
            .with_rate_limit_reset(if transient { reset } else { None })
    }
}

/// `422 Repository creation failed.: name already exists on this account`: GitHub's message plus the
/// per-field messages, which carry the useful part. Never includes request headers (the token).
fn describe(status: StatusCode, body: &ErrorBody, raw: &Bytes) -> String {
    let mut message = match &body.message {
        Some(m) if !m.trim().is_empty() => m.trim().to_owned(),
        _ => {
            let text = String::from_utf8_lossy(raw);
            let text = text.trim();
            if text.is_empty() || text.len() > 200 {
                status.canonical_reason().unwrap_or("error").to_owned()
            } else {
                text.to_owned()
            }
        }
    };
    let details: Vec<String> = body.errors.iter().filter_map(detail).collect();
    if !details.is_empty() {
        message = format!("{message}: {}", details.join("; "));
    }
    format!("{} {message}", status.as_u16())
}

/// One entry of `errors`: an object with `message` (or `code`/`field`), or a plain string.
fn detail(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => match (o.get("message"), o.get("field"), o.get("code")) {
            (Some(serde_json::Value::String(m)), _, _) => Some(m.clone()),
            (_, Some(serde_json::Value::String(f)), Some(serde_json::Value::String(c))) => {
                Some(format!("{f} {c}"))
            }
            (_, _, Some(serde_json::Value::String(c))) => Some(c.clone()),
            _ => None,
        },
        _ => None,
    }
}

fn names_taken(body: &ErrorBody, message: &str) -> bool {
    body.errors.iter().any(|e| e.get("code").and_then(|c| c.as_str()) == Some("already_exists"))
        || message.contains("already exists")
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// Time until `x-ratelimit-reset` (epoch seconds), at least one second.
fn until_reset(headers: &HeaderMap) -> Duration {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let reset = header_u64(headers, "x-ratelimit-reset").unwrap_or(now + 60);
    Duration::from_secs(reset.saturating_sub(now).max(1))
}

/// A failure before any HTTP status: connection refused, DNS, timeout. Always worth another try.
pub fn transport_error(err: &octocrab::Error) -> ProviderError {
    let mut timed_out = false;
    let mut innermost = err.to_string();
    let mut source: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = source {
        timed_out |= e.downcast_ref::<reqwest::Error>().is_some_and(reqwest::Error::is_timeout);
        innermost = e.to_string();
        source = e.source();
    }
    let what = if timed_out { "timed out" } else { "connection failed" };
    error(ErrorKind::Transient, format!("could not reach GitHub ({what}): {innermost}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, headers: &[(&str, &str)], body: &str) -> Reply {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        Reply {
            status: StatusCode::from_u16(status).unwrap(),
            headers: map,
            body: Bytes::from(body.to_owned()),
        }
    }

    const CAP: Duration = Duration::from_secs(30);

    #[test]
    fn a_name_collision_is_a_conflict_with_githubs_words() {
        let e = reply(422, &[], r#"{"message":"Repository creation failed.","errors":[{"resource":"Repository","code":"custom","field":"name","message":"name already exists on this account"}]}"#).into_error(CAP);
        assert_eq!(e.kind, ErrorKind::Conflict);
        assert_eq!(e.message, "422 Repository creation failed.: name already exists on this account");
    }

    #[test]
    fn a_secondary_limit_with_retry_after_is_transient_and_waits_as_told() {
        let e =
            reply(403, &[("retry-after", "7")], r#"{"message":"You have exceeded a secondary rate limit."}"#)
                .into_error(CAP);
        assert_eq!((e.kind, e.retry_after), (ErrorKind::Transient, Some(Duration::from_secs(7))));
    }

    #[test]
    fn a_secondary_limit_without_retry_after_waits_a_capped_minute() {
        let e = reply(403, &[], r#"{"message":"You have exceeded a secondary rate limit"}"#).into_error(CAP);
        assert_eq!((e.kind, e.retry_after), (ErrorKind::Transient, Some(CAP)));
    }

    #[test]
    fn an_exhausted_primary_limit_waits_until_reset() {
        let reset = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 5;
        let e =
            reply(403, &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &reset.to_string())], "{}")
                .into_error(CAP);
        assert_eq!(e.kind, ErrorKind::Transient);
        let wait = e.rate_limit_reset.unwrap();
        assert!(wait >= Duration::from_secs(4) && wait <= Duration::from_secs(5), "{wait:?}");
        assert!(e.message.contains("resets in"), "{}", e.message);
    }

    #[test]
    fn an_exhausted_primary_limit_far_from_reset_is_not_capped_by_the_backoff() {
        let reset = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 1800;
        let e =
            reply(429, &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &reset.to_string())], "{}")
                .into_error(CAP);
        assert!(e.rate_limit_reset.unwrap() > Duration::from_secs(1700));
        assert_eq!(e.retry_after, None);
    }

    #[test]
    fn a_permission_an_app_installation_lacks_is_named() {
        let e = reply(
            403,
            &[("x-accepted-github-permissions", "secrets=write")],
            r#"{"message":"Resource not accessible by integration"}"#,
        )
        .into_error(CAP);
        assert_eq!(e.kind, ErrorKind::Denied);
        assert!(e.message.starts_with("403 Resource not accessible by integration"), "{}", e.message);
        assert!(e.message.contains("needs the permission secrets=write"), "{}", e.message);
    }

    #[test]
    fn an_oauth_app_restriction_is_denied_and_keeps_the_message() {
        let text = "Although you appear to have the correct authorization credentials, the `acme` organization has enabled OAuth App access restrictions";
        let e = reply(403, &[("x-ratelimit-remaining", "4999")], &format!(r#"{{"message":"{text}"}}"#))
            .into_error(CAP);
        assert_eq!(e.kind, ErrorKind::Denied);
        assert_eq!(e.message, format!("403 {text}"));
        assert_eq!(e.retry_after, None);
    }

    #[test]
    fn statuses_map_to_kinds() {
        for (status, kind) in [
            (401, ErrorKind::Denied),
            (404, ErrorKind::NotFound),
            (409, ErrorKind::Conflict),
            (422, ErrorKind::Invalid),
            (429, ErrorKind::Transient),
            (502, ErrorKind::Transient),
            (418, ErrorKind::Other),
        ] {
            assert_eq!(reply(status, &[], "").into_error(CAP).kind, kind, "status {status}");
        }
    }

    #[test]
    fn a_body_without_json_falls_back_to_the_status_reason() {
        assert_eq!(reply(502, &[], "").into_error(CAP).message, "502 Bad Gateway");
    }
}
