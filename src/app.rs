//! The one function that assembles Shipyard from its configuration: the router, the reconciler
//! and the clients they share. `main`, the tests and the benchmarks all build it here.

use std::sync::Arc;

use axum::Router;
use sqlx::PgPool;

use crate::{
    aws::Aws,
    config::Config,
    github::client::GitHub,
    provision::{Providers, Reconciler, Settings, drift::DriftCheck},
    web::{self, AppState},
};

/// Shipyard, built and not yet running.
pub struct Application {
    pub router: Router,
    pub reconciler: Reconciler,
    /// The periodic drift check, run beside the reconciler.
    pub drift: DriftCheck,
    /// The state the router serves (tests read the server's GitHub client from it).
    pub state: AppState,
    pub providers: Providers,
}

impl Application {
    /// Builds everything from `config`, the database and an AWS client (the SDK's own chain in
    /// production; tests pass one pointed at moto), with the reconciler's `settings`.
    pub fn build(db: PgPool, config: Config, aws: Arc<Aws>, settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_worker_pool(db.clone(), db, config, aws, settings)
    }

    /// As [`Application::build`], with the reconciler and the drift check on their own pool
    /// (`worker_db`), so a flood of web requests holding every web connection cannot delay a lease
    /// renewal (a missed renewal abandons the steps in flight). Production does this.
    pub fn build_with_worker_pool(
        db: PgPool,
        worker_db: PgPool,
        config: Config,
        aws: Arc<Aws>,
        settings: Settings,
    ) -> anyhow::Result<Self> {
        let github = GitHub::for_credential(
            config.github_api_url.as_str(),
            &config.github_credential,
            &config.github_org,
            config.retry,
        )?
        .with_budget(config.github_budget);
        let accounts = Arc::new(crate::aws::Accounts::new(
            aws.clone(),
            config.environment_accounts.clone(),
            &config.provisioner_role,
        ));
        let providers = Providers::with_accounts(github.clone(), accounts.clone());
        let state = AppState::new(db.clone(), config, github, aws)?.with_accounts(accounts);
        let drift = DriftCheck::new(worker_db.clone(), providers.clone(), settings.clone());
        let reconciler = Reconciler::new(worker_db, providers.clone(), settings);
        Ok(Self { router: web::router(state.clone()), reconciler, drift, state, providers })
    }
}
