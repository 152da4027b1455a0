//! The real parts the benchmark runs against: a throw-away Postgres database, github-sim in this
//! process with latency on every call, moto through the AWS SDK, and services inserted directly.

use std::{str::FromStr, sync::Arc, time::Duration};

use anyhow::Context as _;
use github_sim::{RunningSim, SecondaryLimits, SimConfig};
use secrecy::SecretString;
use shipyard::{
    aws::Aws,
    db::services::{NewService, insert_service},
    github::GitHub,
    provider::RetryPolicy,
    provision::{Providers, Settings},
};
use sqlx::{
    ConnectOptions, Connection, Executor, PgConnection, PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use uuid::Uuid;

use crate::recorder::{AwsLog, moto_sdk_config};

/// The sandbox bot's token that github-sim's seed knows (not a secret: it only opens the sim).
pub const SIM_TOKEN: &str = "ghp_sandbox_shipyard_bot";
pub const ORG: &str = "acme";
pub const TEMPLATE: &str = "acme/service-template";

/// A database of its own, created for this run and dropped at the end.
pub struct BenchDb {
    admin_url: String,
    pub name: String,
    pub pool: PgPool,
}

impl BenchDb {
    /// Creates `shipyard_bench_<random>` next to `admin_url`'s database and migrates it.
    pub async fn create(admin_url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let name = format!("shipyard_bench_{}", &Uuid::new_v4().simple().to_string()[..12]);
        let mut admin = PgConnection::connect(admin_url).await.context(
            "connecting to Postgres (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres)",
        )?;
        admin
            .execute(format!("create database {name}").as_str())
            .await
            .context("creating the bench database")?;
        admin.close().await.ok();
        let pool = async {
            let options = PgConnectOptions::from_str(admin_url)?.database(&name);
            let pool = PgPoolOptions::new().max_connections(max_connections).connect_with(options).await?;
            shipyard::db::MIGRATOR.run(&pool).await.context("migrating the bench database")?;
            anyhow::Ok(pool)
        }
        .await;
        match pool {
            Ok(pool) => Ok(Self { admin_url: admin_url.to_owned(), name, pool }),
            Err(e) => {
                drop_database(admin_url, &name).await.ok();
                Err(e)
            }
        }
    }

    /// Closes the pool and drops the database (forcing out any connection left behind).
    pub async fn drop_database(self) -> anyhow::Result<()> {
        self.pool.close().await;
        drop_database(&self.admin_url, &self.name).await
    }
}

/// Creating and dropping databases takes about a second: not worth sqlx's slow-statement warning.
async fn connect_admin(admin_url: &str) -> anyhow::Result<PgConnection> {
    Ok(PgConnectOptions::from_str(admin_url)?.disable_statement_logging().connect().await?)
}

async fn drop_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let mut admin = connect_admin(admin_url).await?;
    admin.execute(format!("drop database if exists {name} with (force)").as_str()).await?;
    Ok(())
}

/// github-sim with `latency` added to every request (`/**` matches any path, any method). Its secondary
/// rate limits (80 writes a minute per token) are off: the bench measures Shipyard's own cost, and batches
/// of services on one token would otherwise measure GitHub's cap.
pub async fn start_sim(latency: Duration) -> anyhow::Result<RunningSim> {
    // Builds assume the role and push to ECR in the same moto the reconciler provisions in. GitHub's
    // secondary limits are off: the batches on one token would measure GitHub's limit, not Shipyard.
    let moto = std::env::var("MOTO_URL").unwrap_or_else(|_| "http://127.0.0.1:5000".to_owned());
    let config = SimConfig {
        aws_endpoint_url: Some(moto),
        secondary_limits: SecondaryLimits::OFF,
        ..SimConfig::default()
    };
    let sim = github_sim::spawn(config).await?;
    sim.sim().set_latency(None, "/**", latency);
    Ok(sim)
}

/// The clients the reconciler acts through: octocrab at the sim, the AWS SDK at moto.
pub async fn providers(
    sim: &RunningSim,
    aws_log: &AwsLog,
    aws_latency: Duration,
) -> anyhow::Result<Providers> {
    let retry = RetryPolicy::fast();
    let github = GitHub::new(&sim.url(), SecretString::from(SIM_TOKEN), retry)?;
    let aws = Arc::new(Aws::new(&moto_sdk_config(aws_log, aws_latency).await, retry));
    Ok(Providers::new(github, aws))
}

/// Reconciler settings: production shape, minus the IAM propagation wait (moto is consistent).
pub fn settings(parallel_steps: bool, concurrency: usize) -> Settings {
    Settings {
        region: "us-east-1".to_owned(),
        iam_propagation_delay: Duration::ZERO,
        generate_timeout: Duration::from_secs(30),
        build_wait: Duration::from_secs(30),
        build_poll_min: Duration::from_millis(20),
        build_poll_max: Duration::from_millis(500),
        lease: Duration::from_secs(30),
        poll_interval: Duration::from_millis(20),
        concurrency,
        parallel_steps,
        drift_interval: Duration::from_secs(3600),
        webhooks: None,
        webhook_safety_poll: shipyard::provision::WEBHOOK_SAFETY_POLL,
        team_permission: shipyard::domain::TeamPermission::Maintain,
        branch_protection: Default::default(),
    }
}

/// The user the services are created by (alice in the sim's seed).
pub async fn insert_user(db: &PgPool) -> anyhow::Result<Uuid> {
    Ok(shipyard::db::users::upsert_user(db, 1001, "alice", Some("Alice"), "").await?.user_id)
}

/// Inserts `count` services named `<prefix>-NN` (pending create steps), as the form would.
pub async fn insert_services(
    db: &PgPool,
    user: Uuid,
    prefix: &str,
    count: usize,
) -> anyhow::Result<Vec<String>> {
    let mut tx = db.begin().await?;
    let mut names = Vec::with_capacity(count);
    for i in 0..count {
        let name = format!("{prefix}-{i:02}");
        let new = NewService {
            name: &name,
            org: ORG,
            environment: "dev",
            visibility: shipyard::domain::Visibility::Private,
            template: TEMPLATE,
            default_branch: "main",
            description: "shipyard benchmark",
            team: None,
            created_by: user,
        };
        insert_service(
            &mut tx,
            &new,
            shipyard::provision::steps::phase_steps(shipyard::provision::Phase::Create),
        )
        .await
        .with_context(|| format!("inserting {name}"))?;
        names.push(name);
    }
    tx.commit().await?;
    Ok(names)
}
