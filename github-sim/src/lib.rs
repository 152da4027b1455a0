//! github-sim: a GitHub emulator written to GitHub's published REST/OAuth contract, quirks included.
//!
//! Tests start it in-process with [`spawn`] on a random port and steer it through the [`Sim`] handle; the
//! `github-sim` binary runs the same app for the sandbox via [`serve`]. It never special-cases a client:
//! anything a caller sees, real GitHub could answer.

#![recursion_limit = "256"]

mod access;
mod actions;
mod admin;
mod app;
mod auth;
mod branches;
mod collaborators;
mod conditional;
mod contents;
mod environments;
mod error;
mod faults;
mod generate;
mod handle;
mod handle_actions;
mod hook_delivery;
mod hooks;
pub mod iam;
mod jobs;
mod json;
mod model;
mod oauth;
mod oidc;
mod org_rulesets;
mod pages;
mod push;
mod redirect;
mod repo_security;
mod repos;
mod rulesets;
mod runner;
mod runs;
mod secondary;
mod secrets;
mod seed;
mod teams;
mod users;

use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use tokio::net::TcpListener;

pub use faults::Fault;
pub use handle::{RepoHook, RepoView, RunView, Sim};
pub use oidc::{AWS_GITHUB_CLAIM_KEYS, GITHUB_COM_ISSUER, trust_context};
pub use push::{PushRefused, Pushed, UpdateKind, Violation};
pub use repo_security::RepoSecurity;
pub use secondary::SecondaryLimits;
pub use seed::{
    SANDBOX_APP_PRIVATE_KEY, Seed, SeedApp, SeedAwsPush, SeedInstallation, SeedMember, SeedOAuthApp, SeedOrg,
    SeedRepo, SeedTeam, SeedTeamMember, SeedToken, SeedUser, SeedWorkflow,
};

/// How the simulator behaves. Build with [`SimConfig::new`] and adjust fields.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: Seed,
    /// Content (branches, workflow files) of a generated repository lands this long after `/generate`.
    pub generate_delay: Duration,
    /// A queued workflow run completes this long after it was queued (in progress for the second half).
    pub run_duration: Duration,
    /// `false` behaves like GHES: `GET .../actions/oidc/customization/sub` answers 404.
    pub oidc_customization_endpoint: bool,
    /// Lifetime of an OAuth authorization code (GitHub: 10 minutes).
    pub code_ttl: Duration,
    /// Whether content landing queues a `push` run of each template workflow (GitHub does, unreliably).
    pub initial_push_runs: bool,
    /// Base URL put into `url`/`html_url` fields; `None` = `http://<bound address>`.
    pub public_url: Option<String>,
    /// GitHub's secondary rate limits per credential (default: GitHub's numbers).
    pub secondary_limits: SecondaryLimits,
    /// Lifetime of an installation access token (GitHub: one hour); tests shorten it.
    pub installation_token_ttl: Duration,
    /// The Actions OIDC token issuer (`iss`): github.com's by default, `https://HOST/_services/token` on GHES.
    pub oidc_issuer: String,
    /// Where the runner reads IAM and pushes to ECR (moto in tests); `None`: the runner checks only secrets.
    pub aws_endpoint_url: Option<String>,
    /// After a re-run is accepted, the run keeps showing its previous attempt this long (GitHub does).
    pub rerun_visibility_lag: Duration,
    /// IAM is eventually consistent: the runner sees a new role, or a changed trust or managed policy
    /// version, only this long after it was made (before that: no role, or the previous document).
    pub iam_propagation_delay: Duration,
}

impl SimConfig {
    pub fn new(seed: Seed) -> Self {
        SimConfig {
            seed,
            generate_delay: Duration::ZERO,
            run_duration: Duration::ZERO,
            oidc_customization_endpoint: true,
            code_ttl: Duration::from_secs(600),
            initial_push_runs: true,
            public_url: None,
            secondary_limits: SecondaryLimits::GITHUB,
            installation_token_ttl: Duration::from_secs(3600),
            oidc_issuer: oidc::GITHUB_COM_ISSUER.to_string(),
            aws_endpoint_url: None,
            rerun_visibility_lag: Duration::from_secs(1),
            iam_propagation_delay: Duration::ZERO,
        }
    }

    /// GitHub Enterprise Server at `host`: OIDC issuer `https://HOST/_services/token` and no subject
    /// customization endpoints.
    pub fn ghes(mut self, host: &str) -> Self {
        self.oidc_issuer = format!("https://{host}/_services/token");
        self.oidc_customization_endpoint = false;
        self
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self::new(Seed::sandbox())
    }
}

/// A simulator serving on a random local port; dropping it stops the server.
pub struct RunningSim {
    url: String,
    sim: Sim,
    server: tokio::task::JoinHandle<()>,
    runner: Option<tokio::task::JoinHandle<()>>,
    deliverer: tokio::task::JoinHandle<()>,
}

impl RunningSim {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    pub fn sim(&self) -> Sim {
        self.sim.clone()
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        self.server.abort();
        self.deliverer.abort();
        if let Some(runner) = &self.runner {
            runner.abort();
        }
    }
}

/// Starts the simulator on `127.0.0.1:0` in the current runtime.
pub async fn spawn(config: SimConfig) -> anyhow::Result<RunningSim> {
    let listener = TcpListener::bind("127.0.0.1:0").await.context("binding github-sim")?;
    let (sim, app, runner) = build(config, &listener)?;
    let url = sim.base_url().to_string();
    let server = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "github-sim stopped");
        }
    });
    let deliverer = tokio::spawn(hook_delivery::run(sim.clone()));
    Ok(RunningSim { url, sim, server, runner, deliverer })
}

/// Serves the simulator on `listener` until the process ends (used by the binary).
pub async fn serve(config: SimConfig, listener: TcpListener) -> anyhow::Result<()> {
    let (sim, app, _runner) = build(config, &listener)?;
    tokio::spawn(hook_delivery::run(sim.clone()));
    tracing::info!(url = %sim.base_url(), "github-sim listening");
    axum::serve(listener, app).await.context("serving github-sim")
}

/// The sim, its router and (with an AWS endpoint) the background runner task. Must run inside a runtime.
fn build(
    config: SimConfig,
    listener: &TcpListener,
) -> anyhow::Result<(Sim, Router, Option<tokio::task::JoinHandle<()>>)> {
    let addr = listener.local_addr().context("reading bound address")?;
    let base_url = match &config.public_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => format!("http://{addr}"),
    };
    let (sim, runner) = Sim::new(config, base_url)?;
    let runner = runner.map(|(jobs, endpoint)| tokio::spawn(runner::run(sim.clone(), jobs, endpoint)));
    Ok((sim.clone(), router(sim), runner))
}

/// Every route except `/_sim/` gets faults, latency and counting. API routes, from the outside in, also get
/// secondary rate limits (outside latency, so slow answers hold their concurrency slot), auth with the
/// primary rate limit, and ETags (inside auth, which gives 304s back to the budget).
fn router(sim: Sim) -> Router {
    use axum::middleware::{from_fn, from_fn_with_state};
    let api = Router::new()
        .merge(users::router())
        .merge(app::router())
        .merge(repos::router())
        .merge(generate::router())
        .merge(branches::router())
        .merge(contents::router())
        .merge(repo_security::router())
        .merge(secrets::router())
        .merge(environments::router())
        .merge(actions::router())
        .merge(runs::router())
        .merge(jobs::router())
        .merge(hooks::router())
        .merge(teams::router())
        .merge(collaborators::router())
        .merge(rulesets::router())
        .merge(org_rulesets::router())
        .merge(oidc::routes::router())
        .layer(from_fn(conditional::etag))
        .layer(from_fn_with_state(sim.clone(), auth::authenticate))
        .layer(from_fn_with_state(sim.clone(), faults::apply_faults))
        .layer(from_fn_with_state(sim.clone(), secondary::enforce));
    let web = Router::new()
        .merge(oauth::router())
        .merge(pages::router())
        .merge(oidc::routes::discovery_router(sim.issuer().path()))
        .merge(jobs::download_router())
        .layer(from_fn_with_state(sim.clone(), faults::apply_faults));
    Router::new()
        .nest("/_sim", admin::router().merge(push::router()))
        .merge(web)
        .merge(api)
        .fallback(pages::fallback)
        .with_state(sim)
}
