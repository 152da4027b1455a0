//! Provisioning: the reconciler that drives each service's steps to its desired state.
//!
//! A service row is the job. A reconciler claims it with a lease, runs the steps whose
//! dependencies are done (independent ones concurrently), records each result before starting
//! what depends on it, and renews the lease while it works. Every step is an *ensure*: it looks
//! first, adopts what is ours, creates what is missing, so running a step twice does no harm and
//! a reconciler killed mid-step leaves work that the next one finishes.

mod context;
mod create;
mod delete;
mod reconciler;

use std::{sync::Arc, time::Duration};

pub use context::StepContext;
pub use reconciler::Reconciler;

use crate::{aws::Aws, github::GitHub};

/// Tunables of the reconciler. Production values come from [`Settings::from_config`]; tests shrink them.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The organization repositories are created in.
    pub org: String,
    /// The AWS region, written into the `AWS_REGION` secret.
    pub region: String,
    /// Wait this long after the role exists before starting the first build (IAM is eventually consistent).
    pub iam_propagation_delay: Duration,
    /// How long template generation may take before the step fails.
    pub generate_timeout: Duration,
    /// How long to watch the first build before recording it as still running.
    pub build_wait: Duration,
    /// How long a claim lasts without renewal; renewed every third of it.
    pub lease: Duration,
    /// How often to look for work when no notification arrives.
    pub poll_interval: Duration,
    /// How many services one process works on at once.
    pub concurrency: usize,
    /// Run independent steps of one service at the same time (the default). Off, steps run one
    /// at a time in graph order: the benchmark's baseline.
    pub parallel_steps: bool,
}

impl Settings {
    pub fn from_config(config: &crate::Config) -> Self {
        Self {
            org: config.github_org.clone(),
            region: config.aws_region.clone(),
            iam_propagation_delay: config.iam_propagation_delay,
            generate_timeout: Duration::from_secs(120),
            build_wait: Duration::from_secs(15 * 60),
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(5),
            concurrency: 4,
            parallel_steps: true,
        }
    }
}

/// The outside systems steps act on.
#[derive(Clone)]
pub struct Providers {
    pub github: GitHub,
    pub aws: Arc<Aws>,
}
