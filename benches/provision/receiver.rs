//! Shipyard's webhook route served inside the budget benchmark, so github-sim's deliveries reach it.

use anyhow::Context as _;
use github_sim::RunningSim;
use shipyard::{Config, config::WebhookConfig, provision::Providers, web::AppState};
use sqlx::PgPool;

use crate::setup::{ORG, SIM_TOKEN, TEMPLATE};

/// Shipyard's webhook route, served on a port of its own, with the configuration that points hooks at it.
pub struct WebhookReceiver {
    pub config: WebhookConfig,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Serves `POST /webhooks/github` (the production handler and state) on `127.0.0.1:0`.
pub async fn serve_webhooks(
    db: &PgPool,
    sim: &RunningSim,
    providers: &Providers,
) -> anyhow::Result<WebhookReceiver> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let vars: std::collections::HashMap<String, String> = [
        ("DATABASE_URL", "postgres://unused-in-the-bench"),
        ("PUBLIC_URL", url.as_str()),
        ("GITHUB_ORG", ORG),
        ("GITHUB_TOKEN", SIM_TOKEN),
        ("GITHUB_OAUTH_CLIENT_ID", "shipyard-sandbox"),
        ("GITHUB_OAUTH_CLIENT_SECRET", "sandbox-client-secret"),
        ("GITHUB_API_URL", &sim.url()),
        ("GITHUB_WEB_URL", &sim.url()),
        ("SHIPYARD_TEMPLATES", TEMPLATE),
        ("SHIPYARD_WEBHOOK_URL", url.as_str()),
        ("SHIPYARD_WEBHOOK_KEY", "a-bench-webhook-key-of-at-least-32-characters"),
        ("SHIPYARD_PERMISSIONS_BOUNDARY", "arn:aws:iam::123456789012:policy/shipyard-boundary"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let config = Config::from_vars(&vars)?;
    let webhooks = config.webhooks.clone().context("webhooks are configured")?;
    let state = AppState::new(db.clone(), config, providers.github.clone(), providers.aws.clone())?;
    let router = axum::Router::new().merge(shipyard::web::webhooks::router()).with_state(state);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(WebhookReceiver { config: webhooks, server })
}
