//! What every handler shares. Cheap to clone.

use std::sync::Arc;

use sqlx::PgPool;

use crate::{config::Config, github::client::GitHub, github::oauth::OAuth};

#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub config: Arc<Config>,
    pub oauth: OAuth,
    /// The server's own GitHub client; `as_token` gives a per-user view for identity checks.
    pub github: GitHub,
    /// GitHub's recent verdicts on API bearer tokens (keyed by hash, never the token).
    pub tokens: super::bearer::TokenCache,
    /// Per-client-address budgets of unauthenticated work (sign-in starts, unverified tokens).
    pub limiter: super::limits::AddressLimiter,
}

impl AppState {
    pub fn new(db: PgPool, config: Config, github: GitHub) -> anyhow::Result<Self> {
        let oauth = OAuth::new(&config)?;
        let limiter = super::limits::AddressLimiter::new(&config.edge);
        Ok(Self { db, config: Arc::new(config), oauth, github, tokens: Default::default(), limiter })
    }
}
