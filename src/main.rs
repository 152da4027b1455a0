//! Shipyard's entry point: `shipyard` serves; `shipyard migrate` applies migrations and exits.

use anyhow::Context;
use secrecy::ExposeSecret;
use shipyard::{Application, Config, aws::Aws, db, provision::Settings, telemetry};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A request allocates and frees hundreds of small strings (rows read, a page rendered); mimalloc's
/// per-thread free lists do that in about half the CPU time of the system allocator
/// (`scripts/bench-inventory.sh` measures the whole request).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let _ = dotenvy::dotenv();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format);
    config.log_warnings();
    match run(config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error.cause_chain = ?e, "shipyard stopped");
            eprintln!("shipyard: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let pool =
        db::connect(config.database_url.expose_secret()).await.context("connecting to the database")?;
    db::MIGRATOR.run(&pool).await.context("applying migrations")?;
    if std::env::args().nth(1).as_deref() == Some("migrate") {
        tracing::info!("migrations applied");
        return Ok(());
    }
    let listener = TcpListener::bind(config.listen_addr)
        .await
        .with_context(|| format!("binding {}", config.listen_addr))?;
    tracing::info!(addr = %config.listen_addr, public_url = %config.public_url, "shipyard listening");
    let aws = Aws::from_env(config.retry)
        .await
        .context("configuring AWS")?
        .with_oidc_issuer(config.github_oidc_issuer.clone())
        .with_permissions_boundary(config.permissions_boundary.clone())
        .with_ecr_rules(config.ecr.clone());
    let settings = Settings::from_config(&config);
    let edge = config.edge;
    let worker_pool = db::connect_worker(config.database_url.expose_secret(), config.reconciler_concurrency)
        .await
        .context("connecting the reconciler to the database")?;
    let app =
        Application::build_with_worker_pool(pool.clone(), worker_pool, config, Arc::new(aws), settings)?;

    // The web server and the reconciler run side by side; either ending (or a signal) stops both.
    let stop = CancellationToken::new();
    tokio::spawn({
        let stop = stop.clone();
        async move {
            shutdown_signal().await;
            stop.cancel();
        }
    });
    tokio::spawn(delete_expired_records(pool, stop.clone()));
    // The drift check only reads; it stops with the rest but does not stop them.
    tokio::spawn(app.drift.run(stop.clone().cancelled_owned()));
    let web = shipyard::web::serve::serve(listener, app.router, edge, stop.clone());
    let work = app.reconciler.run(stop.clone().cancelled_owned());
    let (web, work) = tokio::join!(
        async {
            let result = web.await;
            stop.cancel();
            result
        },
        async {
            let result = work.await;
            stop.cancel();
            result
        }
    );
    web?;
    work?;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Sessions and sign-in attempts past their expiry are already refused, and webhook deliveries past
/// GitHub's redelivery window cannot come again; this removes their rows.
async fn delete_expired_records(db: sqlx::PgPool, stop: CancellationToken) {
    const EVERY: std::time::Duration = std::time::Duration::from_secs(600);
    loop {
        match db::sessions::delete_expired(&db).await {
            Ok(n) if n > 0 => tracing::info!(removed = n, "expired sessions removed"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not remove expired sessions"),
        }
        match db::webhooks::delete_old_deliveries(&db).await {
            Ok(n) if n > 0 => tracing::info!(removed = n, "old webhook delivery records removed"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not remove old webhook delivery records"),
        }
        tokio::select! { _ = stop.cancelled() => return, _ = tokio::time::sleep(EVERY) => {} }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async { tokio::signal::ctrl_c().await.expect("installing the Ctrl-C handler") };
    #[cfg(unix)]
    let terminate = async {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler")
            .recv()
            .await;
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutdown signal received");
}
