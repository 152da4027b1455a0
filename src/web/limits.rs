//! Limits at the HTTP edge: request bodies, the header-read timeout (applied in `serve.rs`), and a
//! per-client-address rate limit on the work anyone can make us do without signing in.
//!
//! These requests cost Shipyard something before it knows who is asking: `GET /login` inserts a
//! sign-in attempt row, `/auth/callback` deletes one, a session cookie that was not a live session
//! lately costs a session query, and an API request with a bearer token the cache does not know costs
//! two calls to GitHub (and spends the shared egress address's GitHub budget). All are limited per
//! client address with GCRA (the `governor` crate): a burst, then a steady refill. Webhook deliveries
//! are verified by HMAC before any SQL (`web/webhooks.rs`) and come from GitHub's few addresses, so
//! they are not limited here. Everything else is free (static files, health) or needs a session or a
//! verified token, and is not limited.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::HeaderName,
    middleware::Next,
    response::{IntoResponse, Response},
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};

use super::bearer;
use crate::{error::AppError, web::AppState};

/// Request bodies are forms and small JSON documents; anything larger is refused with 413 before a
/// handler buffers it.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Past this many tracked addresses, addresses whose budget is full again are forgotten ...
const TRACKED_ADDRESSES: usize = 10_000;
/// ... at most once every this many checks.
const CLEANUP_EVERY: u32 = 1024;

pub use crate::config::EdgeLimits;

/// Budgets of unauthenticated work, by client address. Cheap to clone.
#[derive(Clone)]
pub struct AddressLimiter {
    budgets: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    checks: Arc<AtomicU32>,
}

impl AddressLimiter {
    pub fn new(limits: &EdgeLimits) -> Self {
        let quota =
            Quota::per_minute(limits.unauthenticated_per_minute).allow_burst(limits.unauthenticated_burst);
        Self { budgets: Arc::new(RateLimiter::keyed(quota)), checks: Default::default() }
    }

    /// Spends one unit of `address`'s budget, or says how long until there is one.
    fn check(&self, address: IpAddr) -> Result<(), Duration> {
        // Forgetting scans every entry: do it now and then, and only when there are many.
        if self.checks.fetch_add(1, Ordering::Relaxed).is_multiple_of(CLEANUP_EVERY)
            && self.budgets.len() > TRACKED_ADDRESSES
        {
            self.budgets.retain_recent();
        }
        self.budgets
            .check_key(&address)
            .map_err(|not_until| not_until.wait_time_from(self.budgets.clock().now()))
    }
}

/// Check nows per user (`SHIPYARD_CHECKS_PER_USER_PER_MINUTE`): each one reads IAM, ECR and GitHub,
/// so a loop over many services would throttle the whole AWS account's IAM control plane.
#[derive(Clone)]
pub struct CheckLimiter {
    budgets: Arc<DefaultKeyedRateLimiter<uuid::Uuid>>,
}

impl CheckLimiter {
    pub fn new(per_minute: std::num::NonZeroU32) -> Self {
        Self { budgets: Arc::new(RateLimiter::keyed(Quota::per_minute(per_minute))) }
    }

    /// Spends one of `user_id`'s checks, or refuses with 429 and how long to wait.
    pub fn spend(&self, user_id: uuid::Uuid) -> Result<(), AppError> {
        if self.budgets.len() > TRACKED_ADDRESSES {
            self.budgets.retain_recent();
        }
        self.budgets.check_key(&user_id).map_err(|not_until| {
            metrics::counter!(crate::metrics::RATE_LIMITED, "work" => "check").increment(1);
            let wait = not_until.wait_time_from(self.budgets.clock().now());
            AppError::TooManyRequests { retry_after_secs: wait.as_secs() + 1 }
        })
    }
}

/// Which kind of unauthenticated work a request is, if any (also the metric's label).
fn unauthenticated_work(state: &AppState, request: &Request) -> Option<&'static str> {
    let path = request.uri().path();
    if path == "/login" {
        return Some("login");
    }
    if path == "/auth/callback" {
        return Some("callback");
    }
    let jar = axum_extra::extract::cookie::CookieJar::from_headers(request.headers());
    if let Some(cookie) = jar.get(super::session::session_cookie_name(state))
        && !state.sessions.seen_lately(&super::session::sha256(cookie.value()))
    {
        return Some("session");
    }
    let token = bearer::bearer_token(request.headers()).filter(|_| path.starts_with("/api/"))?;
    (!state.tokens.knows(&token)).then_some("bearer")
}

/// Middleware: answers 429 with `Retry-After` once a client address has spent its budget of
/// unauthenticated work. Signed-in requests and bearer tokens GitHub already vouched for pass.
pub async fn limit_unauthenticated(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(work) = unauthenticated_work(&state, &request) else { return next.run(request).await };
    let address = client_address(&request, state.config.client_ip_header.as_ref());
    match state.limiter.check(address) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            metrics::counter!(crate::metrics::RATE_LIMITED, "work" => work).increment(1);
            tracing::info!(work, "unauthenticated work rate-limited");
            // Whole seconds, rounded up: `Retry-After: 0` would invite an immediate retry.
            AppError::TooManyRequests { retry_after_secs: wait.as_secs() + 1 }.into_response()
        }
    }
}

/// The budget key of the request's client: the last address in the configured client-IP header
/// (what the proxy in front of us saw; earlier ones are the client's to forge), else the TCP peer.
/// Served without connect info (not through [`super::serve`]), every request shares one budget.
fn client_address(request: &Request, client_ip_header: Option<&HeaderName>) -> IpAddr {
    let forwarded = client_ip_header
        .and_then(|name| request.headers().get_all(name).iter().next_back())
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.rsplit(',').next())
        .map(str::trim)
        .and_then(|last| {
            last.parse::<IpAddr>().ok().or_else(|| last.parse::<SocketAddr>().ok().map(|a| a.ip()))
        });
    let peer = || request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| peer.ip());
    budget_key(forwarded.or_else(peer).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
}

/// IPv4 addresses count alone; IPv6 ones by their /64 (one host usually holds a whole /64).
fn budget_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !((1u128 << 64) - 1))),
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;

    fn request_from(peer: &str) -> Request {
        let mut request = Request::new(axum::body::Body::empty());
        request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer.parse().unwrap()));
        request
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_clients_share_a_budget_per_64_bit_prefix() {
        assert_eq!(client_address(&request_from("[2001:db8:1:2:aaaa::1]:443"), None), ip("2001:db8:1:2::"));
        assert_eq!(client_address(&request_from("[::ffff:192.0.2.7]:443"), None), ip("192.0.2.7"));
        assert_eq!(client_address(&request_from("192.0.2.8:443"), None), ip("192.0.2.8"));
    }

    #[test]
    fn behind_a_proxy_the_last_forwarded_address_counts() {
        let header = HeaderName::from_static("x-forwarded-for");
        let with = |value: &str| {
            let mut request = request_from("10.0.0.5:40000");
            request.headers_mut().insert(&header, value.parse().unwrap());
            client_address(&request, Some(&header))
        };
        assert_eq!(with("198.51.100.1, 203.0.113.9"), ip("203.0.113.9"), "the client chose the first one");
        assert_eq!(with("203.0.113.9:5555"), ip("203.0.113.9"));
        assert_eq!(with("not an address"), ip("10.0.0.5"), "unparsable: the peer");
        let absent = request_from("10.0.0.5:40000");
        assert_eq!(client_address(&absent, Some(&header)), ip("10.0.0.5"), "absent: the peer");
        let mut unconfigured = request_from("10.0.0.5:40000");
        unconfigured.headers_mut().insert(&header, "203.0.113.9".parse().unwrap());
        assert_eq!(client_address(&unconfigured, None), ip("10.0.0.5"), "not configured: never trusted");
    }

    #[test]
    fn a_burst_is_allowed_and_then_refused_with_a_wait() {
        let limits = EdgeLimits {
            unauthenticated_burst: NonZeroU32::new(3).unwrap(),
            unauthenticated_per_minute: NonZeroU32::new(1).unwrap(),
            ..EdgeLimits::default()
        };
        let limiter = AddressLimiter::new(&limits);
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        for _ in 0..3 {
            assert_eq!(limiter.check(a), Ok(()));
        }
        let wait = limiter.check(a).unwrap_err();
        assert!(wait > Duration::from_secs(50) && wait <= Duration::from_secs(60), "{wait:?}");
        assert_eq!(limiter.check(b), Ok(()), "another address has its own budget");
    }
}
