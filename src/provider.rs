//! What every call to an outside system (GitHub, IAM, ECR, STS) can go wrong with, and how we retry.
//!
//! Clients return [`ProviderError`] so the reconciler can branch on [`ErrorKind`] without knowing
//! which SDK produced it. Transient errors are retried here, with exponential backoff and jitter,
//! inside a deadline; a `retry-after` from the provider wins over our own delay.

use std::{fmt, future::Future, time::Duration};

use backon::{ExponentialBuilder, Retryable};

/// The outside system a call went to. Shown to users next to the provider's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    GitHub,
    Iam,
    Ecr,
    Sts,
    /// Shipyard itself (a recorded output missing, a stored value no longer valid).
    Shipyard,
}

impl fmt::Display for System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            System::GitHub => "GitHub",
            System::Iam => "AWS IAM",
            System::Ecr => "AWS ECR",
            System::Sts => "AWS STS",
            System::Shipyard => "Shipyard",
        })
    }
}

/// How the caller should react to a provider error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 5xx, throttling, secondary rate limits, timeouts, connection errors: try again later.
    Transient,
    /// The thing asked for does not exist.
    NotFound,
    /// The name is taken (or the resource exists in a shape we did not expect).
    Conflict,
    /// Authentication or authorization failed; retrying will not help.
    Denied,
    /// The request was malformed or rejected by validation.
    Invalid,
    /// Anything else the provider said no to.
    Other,
}

/// An error from an outside system, with the provider's own message (never a secret).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{system}: {message}")]
pub struct ProviderError {
    pub system: System,
    pub kind: ErrorKind,
    pub message: String,
    /// How long the provider asked us to wait (GitHub `retry-after`), when it said.
    pub retry_after: Option<Duration>,
    /// GitHub's primary rate limit is spent and resets after this long (`x-ratelimit-reset`).
    pub rate_limit_reset: Option<Duration>,
}

impl ProviderError {
    pub fn new(system: System, kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { system, kind, message: message.into(), retry_after: None, rate_limit_reset: None }
    }

    pub fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.retry_after = retry_after;
        self
    }

    pub fn with_rate_limit_reset(mut self, reset: Option<Duration>) -> Self {
        self.rate_limit_reset = reset;
        self
    }

    pub fn is_transient(&self) -> bool {
        self.kind == ErrorKind::Transient
    }

    pub fn is_not_found(&self) -> bool {
        self.kind == ErrorKind::NotFound
    }
}

/// How hard to retry transient errors. Production uses [`RetryPolicy::default`]; tests shrink the delays.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// Give up once this much time has been spent waiting between attempts.
    pub deadline: Duration,
    pub max_attempts: usize,
    /// The longest a call waits, in all, for GitHub's primary rate limit to reset. The limit is spent for
    /// the rest of its hour, so backing off would only fail the step later: waiting for the reset (when it
    /// comes soon enough) lets provisioning finish instead.
    pub rate_limit_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            deadline: Duration::from_secs(120),
            max_attempts: 8,
            rate_limit_wait: Duration::from_secs(15 * 60),
        }
    }
}

impl RetryPolicy {
    /// Small delays for tests and benchmarks: same behaviour, less waiting.
    pub fn fast() -> Self {
        Self {
            first_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(100),
            deadline: Duration::from_secs(10),
            max_attempts: 8,
            rate_limit_wait: Duration::from_secs(10),
        }
    }

    /// For checks a person waits on (whose token is it, is this session's membership current): one quick
    /// retry, and never a wait for a rate-limit reset.
    pub fn interactive() -> Self {
        Self {
            first_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(1),
            deadline: Duration::from_secs(3),
            max_attempts: 1,
            rate_limit_wait: Duration::ZERO,
        }
    }

    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.first_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_attempts)
            .with_total_delay(Some(self.deadline))
            .with_jitter()
    }
}

/// Runs `op` until it succeeds, fails with a non-transient error, or the policy is spent.
pub async fn retry_transient<T, F, Fut>(policy: &RetryPolicy, what: &str, op: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let mut waited_for_reset = Duration::ZERO;
    let mut waited_as_told = Duration::ZERO;
    op.retry(policy.backoff())
        .sleep(tokio::time::sleep)
        .when(ProviderError::is_transient)
        .adjust(move |e: &ProviderError, delay| {
            if let Some(reset) = e.rate_limit_reset {
                // Wait for the reset if it comes within what is left of our budget; else give up now.
                waited_for_reset += reset;
                return (delay.is_some() && waited_for_reset <= policy.rate_limit_wait).then_some(reset);
            }
            match (e.retry_after, delay) {
                // Honour the provider's retry-after, but never past our own deadline: a wait that would
                // spend it (a secondary limit's `retry-after: 60` against a person's 3 s) fails now.
                // backon's total-delay budget does not see a delay changed here, so it is counted here.
                (Some(after), Some(_)) => {
                    waited_as_told += after;
                    (waited_as_told <= policy.deadline).then_some(after)
                }
                (_, delay) => delay,
            }
        })
        .notify(|e: &ProviderError, delay| {
            tracing::warn!(call = what, system = %e.system, error = %e.message, ?delay, "transient provider error, retrying");
        })
        .await
}

/// Like [`retry_transient`], but "not found" is retried too: for calls on something we created a
/// moment ago, which an eventually consistent service (IAM) may not show everywhere yet.
pub async fn retry_not_found<T, F, Fut>(policy: &RetryPolicy, what: &str, op: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    op.retry(policy.backoff())
        .sleep(tokio::time::sleep)
        .when(|e: &ProviderError| e.is_not_found() || e.is_transient())
        .notify(|e: &ProviderError, delay| {
            tracing::warn!(call = what, system = %e.system, error = %e.message, ?delay, "not visible yet, retrying");
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn transient() -> ProviderError {
        ProviderError::new(System::GitHub, ErrorKind::Transient, "502 Bad Gateway")
    }

    #[tokio::test]
    async fn transient_errors_are_retried_until_success() {
        let calls = AtomicUsize::new(0);
        let result = retry_transient(&RetryPolicy::fast(), "test", || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 3 { Err(transient()) } else { Ok(7) }
        })
        .await;
        assert_eq!(result.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn permanent_errors_are_not_retried() {
        let calls = AtomicUsize::new(0);
        let result: Result<(), _> = retry_transient(&RetryPolicy::fast(), "test", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(ProviderError::new(System::Iam, ErrorKind::Denied, "AccessDenied"))
        })
        .await;
        assert_eq!(result.unwrap_err().kind, ErrorKind::Denied);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    fn rate_limited(reset: Duration) -> ProviderError {
        transient().with_rate_limit_reset(Some(reset))
    }

    #[tokio::test]
    async fn a_spent_rate_limit_is_waited_out_until_its_reset() {
        let calls = AtomicUsize::new(0);
        let policy = RetryPolicy { max_delay: Duration::from_millis(1), ..RetryPolicy::fast() };
        let started = std::time::Instant::now();
        let result = retry_transient(&policy, "test", || async {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(rate_limited(Duration::from_millis(300)))
            } else {
                Ok(())
            }
        })
        .await;
        assert!(result.is_ok());
        assert!(started.elapsed() >= Duration::from_millis(300), "waited {:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_reset_further_away_than_the_wait_budget_fails_at_once() {
        let calls = AtomicUsize::new(0);
        let policy = RetryPolicy { rate_limit_wait: Duration::from_secs(1), ..RetryPolicy::fast() };
        let result: Result<(), _> = retry_transient(&policy, "test", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(rate_limited(Duration::from_secs(3600)))
        })
        .await;
        assert!(result.unwrap_err().rate_limit_reset.is_some());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_retry_after_longer_than_the_deadline_fails_at_once() {
        let calls = AtomicUsize::new(0);
        let result: Result<(), _> = retry_transient(&RetryPolicy::interactive(), "test", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(transient().with_retry_after(Some(Duration::from_secs(60))))
        })
        .await;
        assert_eq!(result.unwrap_err().retry_after, Some(Duration::from_secs(60)));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "no second attempt after a wait past the deadline");
    }

    #[tokio::test]
    async fn a_retry_after_within_the_deadline_is_honoured() {
        let calls = AtomicUsize::new(0);
        let policy = RetryPolicy { deadline: Duration::from_secs(1), ..RetryPolicy::fast() };
        let result = retry_transient(&policy, "test", || async {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(transient().with_retry_after(Some(Duration::from_millis(50))))
            } else {
                Ok(())
            }
        })
        .await;
        assert!(result.is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn retries_stop_after_the_attempt_budget() {
        let calls = AtomicUsize::new(0);
        let policy = RetryPolicy { max_attempts: 2, ..RetryPolicy::fast() };
        let result: Result<(), _> = retry_transient(&policy, "test", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(transient())
        })
        .await;
        assert!(result.unwrap_err().is_transient());
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }
}
