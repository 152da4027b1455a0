//! Application state and the one function that builds the router, so tests run the very same app.

use std::sync::Arc;

use axum::Router;
use sqlx::PgPool;

use crate::{config::Config, github::client::GitHub, github::oauth::OAuth, web};

/// Shared by every handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub config: Arc<Config>,
    pub oauth: OAuth,
    /// The server's own GitHub client; `as_token` gives a per-user view for identity checks.
    pub github: GitHub,
    /// GitHub's recent verdicts on API bearer tokens (keyed by hash, never the token).
    pub tokens: web::bearer::TokenCache,
    /// Per-client-address budgets of unauthenticated work (sign-in starts, unverified tokens).
    pub limiter: web::limits::AddressLimiter,
}

impl AppState {
    pub fn new(db: PgPool, config: Config) -> anyhow::Result<Self> {
        let oauth = OAuth::new(&config)?;
        let github = GitHub::new(config.github_api_url.as_str(), config.github_token.clone(), config.retry)?;
        let limiter = web::limits::AddressLimiter::new(&config.edge);
        Ok(Self { db, config: Arc::new(config), oauth, github, tokens: Default::default(), limiter })
    }
}

/// The whole HTTP surface.
pub fn build_app(state: AppState) -> Router {
    web::router(state)
}
