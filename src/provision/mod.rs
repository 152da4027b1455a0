//! Provisioning: the reconciler that drives each service's steps to its desired state.
//!
//! A service row is the job. A reconciler claims it with a lease, runs the steps whose
//! dependencies are done (independent ones concurrently), records each result before starting
//! what depends on it, and renews the lease while it works. Every step is an *ensure*: it looks
//! first, adopts what is ours, creates what is missing, so running a step twice does no harm and
//! a reconciler killed mid-step leaves work that the next one finishes. The steps themselves are
//! declared once, in [`steps::TABLE`].

pub mod drift;
mod progress;
mod reconciler;
mod record;
pub mod steps;

use std::{sync::Arc, time::Duration};

pub use reconciler::{MAX_STEP_STARTS, Reconciler};
pub use steps::Phase;

use crate::{
    aws::{Accounts, Aws},
    github::GitHub,
};

/// How long template generation may take before the step fails.
pub const GENERATE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long to watch the first build before recording it as still running.
pub const BUILD_WAIT: Duration = Duration::from_secs(15 * 60);
/// The first build is looked at no sooner than this after the previous look...
pub const BUILD_POLL_MIN: Duration = Duration::from_secs(5);
/// ... and no later than this.
pub const BUILD_POLL_MAX: Duration = Duration::from_secs(60);
/// With a repository webhook, the first build is still looked at this often, in case a delivery
/// is lost (GitHub does not retry failed deliveries by itself).
pub const WEBHOOK_SAFETY_POLL: Duration = Duration::from_secs(120);
/// How long a claim lasts without renewal; renewed every third of it.
pub const LEASE: Duration = Duration::from_secs(30);
/// How often to look for work when no notification arrives and nothing is parked.
pub const POLL_INTERVAL: Duration = Duration::from_secs(5);

/// Tunables of the reconciler. Production values come from [`Settings::from_config`]; tests shrink them.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The AWS region, written into the `AWS_REGION` secret.
    pub region: String,
    /// Wait this long after the role exists before starting the first build (IAM is eventually consistent).
    pub iam_propagation_delay: Duration,
    pub generate_timeout: Duration,
    pub build_wait: Duration,
    pub build_poll_min: Duration,
    pub build_poll_max: Duration,
    pub lease: Duration,
    pub poll_interval: Duration,
    /// How many services one process works on at once (`SHIPYARD_RECONCILER_CONCURRENCY`).
    pub concurrency: usize,
    /// Run independent steps of one service at the same time (the default). Off, steps run one
    /// at a time in graph order: the benchmark's baseline.
    pub parallel_steps: bool,
    /// How often the drift check re-reads every ready service (`SHIPYARD_DRIFT_INTERVAL_SECS`).
    pub drift_interval: Duration,
    /// Repository webhooks (`SHIPYARD_WEBHOOK_URL`); none: the first build is only polled.
    pub webhooks: Option<crate::config::WebhookConfig>,
    /// How often a first build whose repository has a webhook is looked at anyway.
    pub webhook_safety_poll: Duration,
    /// What the owning team is granted on the repository (`SHIPYARD_TEAM_PERMISSION`).
    pub team_permission: crate::domain::TeamPermission,
    /// What the default branch's ruleset requires (`SHIPYARD_REQUIRED_APPROVALS`, `SHIPYARD_REQUIRED_CHECKS`).
    pub branch_protection: crate::config::BranchProtection,
}

impl Settings {
    pub fn from_config(config: &crate::Config) -> Self {
        Self {
            region: config.aws_region.clone(),
            iam_propagation_delay: config.iam_propagation_delay,
            generate_timeout: GENERATE_TIMEOUT,
            build_wait: BUILD_WAIT,
            build_poll_min: BUILD_POLL_MIN,
            build_poll_max: BUILD_POLL_MAX,
            lease: LEASE,
            poll_interval: POLL_INTERVAL,
            concurrency: config.reconciler_concurrency,
            parallel_steps: true,
            drift_interval: config.drift_interval,
            webhooks: config.webhooks.clone(),
            webhook_safety_poll: WEBHOOK_SAFETY_POLL,
            team_permission: config.team_permission,
            branch_protection: config.branch_protection.clone(),
        }
    }
}

/// The outside systems steps act on.
#[derive(Clone)]
pub struct Providers {
    pub github: GitHub,
    /// The client of the account steps act in: Shipyard's own until [`Providers::for_service`]
    /// picks the service's.
    pub aws: Arc<Aws>,
    /// Every environment's account.
    pub accounts: Arc<Accounts>,
}

impl Providers {
    /// Every environment in Shipyard's own account.
    pub fn new(github: GitHub, aws: Arc<Aws>) -> Self {
        let accounts = Arc::new(Accounts::hub_only(aws.clone()));
        Self { github, aws, accounts }
    }

    /// Environments in the accounts `accounts` names.
    pub fn with_accounts(github: GitHub, accounts: Arc<Accounts>) -> Self {
        Self { github, aws: accounts.hub().clone(), accounts }
    }

    /// The providers one service's steps, drift look, Repair and deletion act through: AWS in the
    /// account and region of its environment, acting for the user who asked for it.
    pub fn for_service(&self, service: &crate::db::services::Service) -> Self {
        let aws = self.accounts.for_environment(&service.environment, Some(&service.created_by_login));
        Self { github: self.github.clone(), aws, accounts: self.accounts.clone() }
    }
}
