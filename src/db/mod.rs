//! Plain async functions over `impl PgExecutor`, one module per table.

pub mod audit;
pub mod drift;
pub mod inventory;
pub mod roles;
pub mod services;
pub mod sessions;
pub mod steps;
pub mod users;
pub mod webhooks;

use sqlx::{PgPool, postgres::PgPoolOptions};
use std::time::Duration;

/// Migrations compiled into the binary: `shipyard migrate` and start-up apply them.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A pool that gives up quickly when the database is unreachable, so `/readyz` can say so.
pub async fn connect(url: &str) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new().max_connections(16).acquire_timeout(Duration::from_secs(3)).connect(url).await
}

/// The reconciler's own pool, apart from the web's, so web traffic cannot starve lease renewals:
/// a connection per concurrent job plus a few for claiming, renewing and the drift check.
pub async fn connect_worker(url: &str, concurrency: usize) -> Result<PgPool, sqlx::Error> {
    let size = u32::try_from(concurrency).unwrap_or(u32::MAX).saturating_add(4);
    PgPoolOptions::new().max_connections(size).acquire_timeout(Duration::from_secs(3)).connect(url).await
}

/// Whether `e` is the violation of the named constraint (to turn it into a precise message).
pub fn violates(e: &sqlx::Error, constraint: &str) -> bool {
    e.as_database_error().and_then(|d| d.constraint()) == Some(constraint)
}
