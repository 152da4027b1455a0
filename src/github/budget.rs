//! Spending GitHub's limits carefully, per credential and shared by every reconciler worker of the process.
//!
//! - Conditional requests: a GET's `ETag` and body are remembered and the next GET of the same path sends
//!   `If-None-Match`; GitHub answers `304 Not Modified` without charging the primary rate limit, and the
//!   remembered body stands in for the reply. Polls (a run being built, a branch being generated, the
//!   repository every step re-reads) are then nearly free.
//! - Pacing: GitHub's secondary limits allow 80 content-creating requests (POST, PATCH, PUT, DELETE) per
//!   minute and 500 per hour, and ask for mutations to be serial ("Best practices for using the REST API").
//!   Two token buckets (GCRA, the `governor` crate) hold writes back before GitHub would refuse them with
//!   403 and `retry-after`, and a small semaphore keeps few writes in flight. Reads are not paced, only
//!   capped in number at once (GitHub's limit is 100 concurrent requests).

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use bytes::Bytes;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use http::{HeaderValue, Method};
use moka::future::Cache;
use tokio::sync::{Semaphore, SemaphorePermit};

/// How hard Shipyard may use one GitHub credential. [`Budget::GITHUB`] follows GitHub's documented
/// secondary limits; tests scale them down to match github-sim's `SecondaryLimits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Content-creating requests GitHub allows in any 60 seconds (github.com: 80).
    pub writes_per_minute: u32,
    /// ... and in any hour (github.com: 500).
    pub writes_per_hour: u32,
    /// Content-creating requests in flight at once (GitHub asks for serial mutations).
    pub concurrent_writes: usize,
    /// Requests of any kind in flight at once (github.com refuses more than 100).
    pub concurrent_requests: usize,
    /// Room for remembered GET replies, counted in replies of up to 64 KiB (and never more than 64 MiB
    /// in all); 0 remembers nothing and sends no `If-None-Match` at all.
    pub etag_entries: u64,
}

impl Budget {
    /// github.com's secondary limits, with room to spare on concurrency.
    pub const GITHUB: Budget = Budget {
        writes_per_minute: 80,
        writes_per_hour: 500,
        concurrent_writes: 2,
        concurrent_requests: 50,
        etag_entries: 10_000,
    };
}

impl Default for Budget {
    fn default() -> Self {
        Self::GITHUB
    }
}

/// Remembered GET replies: path → (ETag, body). Bounded by total body size as well as count.
const ETAG_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// One credential's pacing and conditional-request state; cloned clients of the same credential share it.
pub(super) struct Spender {
    per_minute: DefaultDirectRateLimiter,
    per_hour: DefaultDirectRateLimiter,
    writes: Semaphore,
    requests: Semaphore,
    etags: Option<Cache<String, (HeaderValue, Bytes)>>,
}

/// What a request holds while it is in flight.
pub(super) struct Slot<'a> {
    _request: SemaphorePermit<'a>,
    _write: Option<SemaphorePermit<'a>>,
}

impl Spender {
    pub fn new(budget: Budget) -> Arc<Self> {
        let etags = (budget.etag_entries > 0).then(|| {
            Cache::builder()
                .max_capacity(ETAG_CACHE_BYTES.min(budget.etag_entries.saturating_mul(64 * 1024)))
                .weigher(|path: &String, (tag, body): &(HeaderValue, Bytes)| {
                    u32::try_from(path.len() + tag.len() + body.len()).unwrap_or(u32::MAX)
                })
                .build()
        });
        Arc::new(Self {
            // Per minute a small burst (one service's writes) leaves most of the window to the steady rate: a
            // long burst of services runs at 74 of GitHub's 80 a minute, within 1.1x of what the limit allows.
            // Per hour a quarter of the hour's writes may go at once, so the minute bucket paces a burst.
            per_minute: RateLimiter::direct(window_quota(
                budget.writes_per_minute,
                Duration::from_secs(60),
                16,
            )),
            per_hour: RateLimiter::direct(window_quota(budget.writes_per_hour, Duration::from_secs(3600), 4)),
            writes: Semaphore::new(budget.concurrent_writes.max(1)),
            requests: Semaphore::new(budget.concurrent_requests.max(1)),
            etags,
        })
    }

    /// Waits until `method` may be sent: a slot among the requests in flight, and for a content-creating
    /// request a write slot and a token of both buckets (taken in that order, so a write leaves as soon
    /// as its tokens are granted and the sends keep the buckets' spacing).
    pub async fn admit(&self, method: &Method) -> Slot<'_> {
        let write = if is_content_creating(method) {
            let permit = self.writes.acquire().await.expect("the semaphore is never closed");
            let started = tokio::time::Instant::now();
            self.per_hour.until_ready().await;
            self.per_minute.until_ready().await;
            let waited = started.elapsed();
            if waited >= Duration::from_millis(100) {
                tracing::debug!(waited_ms = waited.as_millis() as u64, "paced a GitHub write");
            }
            Some(permit)
        } else {
            None
        };
        let request = self.requests.acquire().await.expect("the semaphore is never closed");
        Slot { _request: request, _write: write }
    }

    /// The remembered ETag and body of a GET of `path`: the tag goes out as `If-None-Match`, the body
    /// stands in for a 304's.
    pub async fn cached(&self, path: &str) -> Option<(HeaderValue, Bytes)> {
        self.etags.as_ref()?.get(path).await
    }

    /// Remembers a 200 reply to a GET of `path` that carried an `ETag`.
    pub async fn remember(&self, path: &str, tag: &HeaderValue, body: &Bytes) {
        if let Some(etags) = &self.etags {
            etags.insert(path.to_owned(), (tag.clone(), body.clone())).await;
        }
    }

    /// Forgets `path` (its latest reply carried no ETag).
    pub async fn forget(&self, path: &str) {
        if let Some(etags) = &self.etags {
            etags.invalidate(path).await;
        }
    }
}

fn is_content_creating(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PATCH | Method::PUT | Method::DELETE)
}

/// A token bucket that never lets more than `limit` requests into any `window`: a burst of a quarter of
/// the limit, refilled so that burst plus refill over one window stays one below the limit (GitHub counts
/// arrivals, and ours can land a little bunched).
fn window_quota(limit: u32, window: Duration, burst_share: u32) -> Quota {
    let limit = limit.max(2);
    let burst = (limit / burst_share).max(1);
    let refills = (limit - 1 - burst).max(1);
    let period = window / refills;
    Quota::with_period(period)
        .expect("a window divided by a finite count is positive")
        .allow_burst(NonZeroU32::new(burst).expect("at least one"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    /// Drives a bucket with a fake clock, sending whenever allowed, and returns the send times.
    fn sends(quota: Quota, over: Duration) -> Vec<Duration> {
        let clock = FakeRelativeClock::default();
        let limiter = RateLimiter::direct_with_clock(quota, clock.clone());
        let mut times = Vec::new();
        let step = Duration::from_millis(10);
        let mut elapsed = Duration::ZERO;
        while elapsed <= over {
            while limiter.check().is_ok() {
                times.push(elapsed);
            }
            clock.advance(step);
            elapsed += step;
        }
        times
    }

    #[test]
    fn no_window_ever_holds_the_limit() {
        for (limit, window, share) in [(80, 60, 16), (500, 3600, 4), (10, 60, 16), (2, 60, 16), (80, 60, 4)] {
            let window = Duration::from_secs(window);
            let times = sends(window_quota(limit, window, share), window * 3);
            for (i, first) in times.iter().enumerate() {
                let inside = times[i..].iter().take_while(|t| **t < *first + window).count();
                assert!(inside < limit as usize, "{inside} sends within one window of a {limit} limit");
            }
            // And the bucket is not needlessly slow: over three windows it lets most of the limit through.
            assert!(times.len() as u32 >= 3 * (limit - 1) - limit / 2, "only {} sends", times.len());
        }
    }

    #[test]
    fn githubs_numbers_give_a_small_burst_then_74_writes_a_minute() {
        let times = sends(window_quota(80, Duration::from_secs(60), 16), Duration::from_secs(60));
        assert_eq!(times.iter().filter(|t| t.is_zero()).count(), 5, "the burst");
        assert!((75..=79).contains(&times.len()), "{} writes in the first minute", times.len());
    }
}
