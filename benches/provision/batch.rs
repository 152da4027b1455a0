//! One measured batch: insert N services, let a reconciler with given settings provision them all,
//! then read back what the step rows and the call logs say.

use std::time::Duration;

use anyhow::{Context as _, bail};
use github_sim::RunningSim;
use shipyard::provision::{Providers, Reconciler};
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    measure::{ServiceRun, load_services, millis},
    recorder::{AwsCall, AwsLog, GithubCall, GithubLog},
    setup,
};

/// Everything a batch needs; shared by all batches of a run.
pub struct Bench {
    pub db: PgPool,
    pub sim: RunningSim,
    pub providers: Providers,
    pub user: Uuid,
    pub github_log: GithubLog,
    pub aws_log: AwsLog,
    /// Makes this run's names unique in moto, which keeps its state between runs.
    pub tag: String,
}

/// How the reconciler was configured for a batch.
#[derive(Debug, Clone, Copy)]
pub struct Mode {
    pub parallel_steps: bool,
    /// 1: `run_until_idle` (one service at a time); more: `run` with `Settings.concurrency`.
    pub concurrency: usize,
}

pub struct Batch {
    pub mode: Mode,
    pub services: Vec<ServiceRun>,
    /// From just before the reconciler started to the end of the batch's last step (summed over rounds).
    pub active_ms: f64,
    /// github-sim's own count (`Sim::request_count`) of calls made during the batch.
    pub github_requests: usize,
    pub github_calls: Vec<GithubCall>,
    pub aws_calls: Vec<AwsCall>,
}

impl Batch {
    pub fn wall_ms(&self) -> Vec<f64> {
        self.services.iter().map(ServiceRun::wall_ms).collect()
    }

    pub fn services_per_minute(&self) -> f64 {
        self.services.len() as f64 / (self.active_ms / 60_000.0)
    }

    /// Pools the batches of several rounds run with the same mode.
    pub fn merge(self, other: Batch) -> Batch {
        let mut merged = self;
        merged.services.extend(other.services);
        merged.active_ms += other.active_ms;
        merged.github_requests += other.github_requests;
        merged.github_calls.extend(other.github_calls);
        merged.aws_calls.extend(other.aws_calls);
        merged
    }

    pub fn per_service(&self, total: usize) -> f64 {
        total as f64 / self.services.len().max(1) as f64
    }
}

impl Bench {
    /// Provisions `count` fresh services (`bench-<tag>-<label>-NN`) with `mode`.
    pub async fn run_batch(&self, label: &str, count: usize, mode: Mode) -> anyhow::Result<Batch> {
        let prefix = format!("bench-{}-{label}", self.tag);
        let names = setup::insert_services(&self.db, self.user, &prefix, count).await?;
        let github_before = self.github_requests();
        let began = OffsetDateTime::now_utc();
        let reconciler = Reconciler::new(
            self.db.clone(),
            self.providers.clone(),
            setup::settings(mode.parallel_steps, mode.concurrency),
        );
        // The background loop, not `run_until_idle`: a first build that waits parks the service and
        // releases it, and only the loop comes back for it when it is due.
        let work = reconciler.run(wait_until_settled(&self.db, &names));
        let limit = Duration::from_secs(60 + 10 * count as u64);
        tokio::time::timeout(limit, work)
            .await
            .with_context(|| format!("{prefix}: not settled after {limit:?}"))??;
        let github_requests = self.github_requests() - github_before;

        let services = load_services(&self.db, &names).await?;
        let unfinished: Vec<String> = services
            .iter()
            .filter(|s| s.status != "ready")
            .map(|s| format!("{} is {}: {}", s.name, s.status, s.error.as_deref().unwrap_or("-")))
            .collect();
        if !unfinished.is_empty() || services.len() != count {
            bail!("batch {prefix} did not provision cleanly:\n  {}", unfinished.join("\n  "));
        }
        let ended = services.iter().filter_map(ServiceRun::finished).max().unwrap_or(began);
        let github_calls =
            self.github_log.calls().into_iter().filter(|c| began <= c.at && c.at <= ended).collect();
        let aws_calls =
            self.aws_log.calls().into_iter().filter(|c| began <= c.started && c.started <= ended).collect();
        let active_ms = millis(ended - began);
        Ok(Batch { mode, services, active_ms, github_requests, github_calls, aws_calls })
    }

    /// Every request github-sim counted so far, whatever the method.
    fn github_requests(&self) -> usize {
        let sim = self.sim.sim();
        ["GET", "POST", "PUT", "PATCH", "DELETE"].iter().map(|m| sim.request_count(m, "/**")).sum()
    }
}

/// Resolves once none of `names` is still being provisioned (the background loop's shutdown signal).
async fn wait_until_settled(db: &PgPool, names: &[String]) {
    loop {
        let busy: Result<i64, _> = sqlx::query_scalar(
            "select count(*) from service where name = any($1) and status = 'provisioning'",
        )
        .bind(names)
        .fetch_one(db)
        .await;
        match busy {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) => eprintln!("warning: polling service status: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
