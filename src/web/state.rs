//! What every handler shares. Cheap to clone.

use std::sync::Arc;

use sqlx::PgPool;

use crate::{aws::Aws, config::Config, github::client::GitHub, github::oauth::OAuth};

#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub config: Arc<Config>,
    pub oauth: Arc<OAuth>,
    /// The server's own GitHub client; `as_token` gives a per-user view for identity checks.
    pub github: GitHub,
    /// GitHub's recent verdicts on API bearer tokens (keyed by hash, never the token).
    pub tokens: super::bearer::TokenCache,
    /// Per-client-address budgets of unauthenticated work (sign-in starts, unverified tokens).
    pub limiter: super::limits::AddressLimiter,
    /// The server's AWS client (the service page reads the images in ECR with it).
    pub aws: Arc<Aws>,
    /// Every environment's account (the service page reads a service's images in its own).
    pub accounts: Arc<crate::aws::Accounts>,
    /// Recent runs and image look-ups per service, so page reloads cost no provider calls.
    pub live: super::services::live::LiveCache,
    /// Recent counts of live services per inventory filter.
    pub counts: super::listing::LiveCounts,
    /// Recently read sessions, so a page load costs no session query.
    pub sessions: super::session::SessionCache,
    /// Check nows per user.
    pub checks: super::limits::CheckLimiter,
}

impl AppState {
    pub fn new(db: PgPool, config: Config, github: GitHub, aws: Arc<Aws>) -> anyhow::Result<Self> {
        let oauth = Arc::new(OAuth::new(&config)?);
        let limiter = super::limits::AddressLimiter::new(&config.edge);
        let checks = super::limits::CheckLimiter::new(config.checks_per_user_per_minute);
        let config = Arc::new(config);
        let tokens = Default::default();
        Ok(Self {
            db,
            config,
            oauth,
            github,
            tokens,
            limiter,
            accounts: Arc::new(crate::aws::Accounts::hub_only(aws.clone())),
            aws,
            live: Default::default(),
            counts: Default::default(),
            sessions: Default::default(),
            checks,
        })
    }

    /// Environments in the accounts `accounts` names.
    pub fn with_accounts(mut self, accounts: Arc<crate::aws::Accounts>) -> Self {
        self.accounts = accounts;
        self
    }
}
