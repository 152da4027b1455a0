//! GitHub's secondary rate limits, enforced per credential (docs: "Rate limits for the REST API" → "About
//! secondary rate limits"): at most 100 concurrent requests, and at most 80 content-creating requests
//! (POST, PATCH, PUT, DELETE) per minute and 500 per hour. Excess gets 403 with `retry-after` and a message
//! naming a secondary rate limit; such a request never reaches GitHub's handlers (like an injected fault it
//! is neither counted nor charged to the primary limit). The numbers are [`SecondaryLimits`] in `SimConfig`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::Sim;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DOCS: &str = "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits";

/// Secondary-limit numbers, per credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecondaryLimits {
    /// Content-creating requests (POST, PATCH, PUT, DELETE) in any 60 seconds (GitHub: 80).
    pub content_per_minute: usize,
    /// Content-creating requests in any hour (GitHub: 500).
    pub content_per_hour: usize,
    /// Requests being handled at once (GitHub: 100).
    pub concurrent: usize,
}

impl SecondaryLimits {
    /// GitHub's documented numbers.
    pub const GITHUB: SecondaryLimits =
        SecondaryLimits { content_per_minute: 80, content_per_hour: 500, concurrent: 100 };
    /// No secondary limits at all.
    pub const OFF: SecondaryLimits = SecondaryLimits {
        content_per_minute: usize::MAX,
        content_per_hour: usize::MAX,
        concurrent: usize::MAX,
    };
}

impl Default for SecondaryLimits {
    fn default() -> Self {
        Self::GITHUB
    }
}

/// One credential's recent content-creating requests and its requests in flight.
#[derive(Default)]
struct Usage {
    writes: VecDeque<Instant>,
    in_flight: usize,
}

/// The limiter's state, shared by all requests.
pub(crate) struct Limiter {
    limits: SecondaryLimits,
    usage: Mutex<HashMap<String, Usage>>,
    hits: AtomicUsize,
}

impl Limiter {
    pub fn new(limits: SecondaryLimits) -> Self {
        Limiter { limits, usage: Mutex::new(HashMap::new()), hits: AtomicUsize::new(0) }
    }

    /// How many requests were refused with a secondary-limit answer.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::Relaxed)
    }

    fn usage(&self) -> std::sync::MutexGuard<'_, HashMap<String, Usage>> {
        self.usage.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Admits a request (counting it in flight) or says how many seconds to wait.
    fn admit(&self, key: &str, content_creating: bool, now: Instant) -> Result<(), u64> {
        let mut usage = self.usage();
        let usage = usage.entry(key.to_string()).or_default();
        if usage.in_flight >= self.limits.concurrent {
            return Err(1);
        }
        if content_creating {
            while usage.writes.front().is_some_and(|t| now.duration_since(*t) >= HOUR) {
                usage.writes.pop_front();
            }
            let in_last_minute: Vec<&Instant> =
                usage.writes.iter().filter(|t| now.duration_since(**t) < MINUTE).collect();
            if in_last_minute.len() >= self.limits.content_per_minute {
                return Err(seconds_until(*in_last_minute[0] + MINUTE, now));
            }
            if usage.writes.len() >= self.limits.content_per_hour {
                return Err(usage.writes.front().map_or(1, |first| seconds_until(*first + HOUR, now)));
            }
            usage.writes.push_back(now);
        }
        usage.in_flight += 1;
        Ok(())
    }

    fn release(&self, key: &str) {
        if let Some(usage) = self.usage().get_mut(key) {
            usage.in_flight = usage.in_flight.saturating_sub(1);
        }
    }
}

fn seconds_until(at: Instant, now: Instant) -> u64 {
    at.saturating_duration_since(now).as_secs_f64().ceil().max(1.0) as u64
}

/// Releases the in-flight slot even when the client goes away mid-request.
struct InFlight {
    sim: Sim,
    key: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.sim.limiter().release(&self.key);
    }
}

/// The credential a request is counted against: its token (hashed, so the key is no secret), else the
/// anonymous caller.
fn credential(headers: &HeaderMap) -> String {
    match crate::auth::read_token(headers) {
        Some(token) => format!("token:{}", hex::encode(&Sha256::digest(token.as_bytes())[..12])),
        None => "anonymous".to_string(),
    }
}

/// Middleware for API routes, outside latency and faults so slow answers occupy their slot.
pub(crate) async fn enforce(State(sim): State<Sim>, request: Request, next: Next) -> Response {
    let key = credential(request.headers());
    let content_creating =
        matches!(*request.method(), Method::POST | Method::PATCH | Method::PUT | Method::DELETE);
    match sim.limiter().admit(&key, content_creating, Instant::now()) {
        Ok(()) => {
            let _slot = InFlight { sim: sim.clone(), key };
            next.run(request).await
        }
        Err(retry_after) => {
            sim.limiter().hits.fetch_add(1, Ordering::Relaxed);
            tracing::info!(method = %request.method(), path = %request.uri().path(), retry_after, "secondary rate limit");
            exceeded(retry_after)
        }
    }
}

fn exceeded(retry_after: u64) -> Response {
    let request_id = format!(
        "{}:{}:{}:{}",
        crate::model::random_hex(4).to_uppercase(),
        crate::model::random_hex(5).to_uppercase(),
        crate::model::random_hex(7).to_uppercase(),
        crate::model::random_hex(8).to_uppercase()
    );
    let message = format!(
        "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID {request_id}."
    );
    let body = json!({ "message": message, "documentation_url": DOCS, "status": "403" });
    let mut response = (StatusCode::FORBIDDEN, Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert("retry-after", HeaderValue::from(retry_after));
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert("x-github-request-id", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::{Limiter, SecondaryLimits};
    use std::time::{Duration, Instant};

    const SMALL: SecondaryLimits =
        SecondaryLimits { content_per_minute: 2, content_per_hour: 3, concurrent: 5 };

    fn admit_and_release(limiter: &Limiter, at: Instant) -> Result<(), u64> {
        limiter.admit("k", true, at).inspect(|()| limiter.release("k"))
    }

    #[test]
    fn writes_past_the_minute_limit_wait_for_the_oldest_to_leave_the_window() {
        let limiter = Limiter::new(SMALL);
        let t0 = Instant::now();
        assert!(admit_and_release(&limiter, t0).is_ok());
        assert!(admit_and_release(&limiter, t0 + Duration::from_secs(10)).is_ok());
        assert_eq!(admit_and_release(&limiter, t0 + Duration::from_secs(20)), Err(40));
        assert!(admit_and_release(&limiter, t0 + Duration::from_secs(61)).is_ok());
    }

    #[test]
    fn writes_past_the_hour_limit_wait_for_the_hour() {
        let limiter = Limiter::new(SMALL);
        let t0 = Instant::now();
        for minutes in [0, 2, 4] {
            assert!(admit_and_release(&limiter, t0 + Duration::from_secs(minutes * 60)).is_ok());
        }
        assert_eq!(admit_and_release(&limiter, t0 + Duration::from_secs(600)), Err(3000));
        assert!(admit_and_release(&limiter, t0 + Duration::from_secs(3600)).is_ok());
    }

    #[test]
    fn reads_are_limited_only_by_concurrency() {
        let limiter = Limiter::new(SecondaryLimits { concurrent: 2, ..SMALL });
        let now = Instant::now();
        for _ in 0..10 {
            assert!(limiter.admit("k", false, now).is_ok());
            limiter.release("k");
        }
        assert!(limiter.admit("k", false, now).is_ok());
        assert!(limiter.admit("k", false, now).is_ok());
        assert_eq!(limiter.admit("k", false, now), Err(1));
        assert!(limiter.admit("other", false, now).is_ok(), "limits are per credential");
        limiter.release("k");
        assert!(limiter.admit("k", false, now).is_ok());
    }
}
