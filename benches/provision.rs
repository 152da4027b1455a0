//! `make bench`: how long provisioning takes when every GitHub call costs a fixed latency, how that
//! compares with the critical path through the step graph, and what concurrency saves.
//!
//! Runs against the real parts (a fresh Postgres database, github-sim in-process, moto through the
//! AWS SDK). Services are inserted directly (the web form is not what is measured), then provisioned
//! in four batches of fresh names: steps one at a time and independent steps at once, each with one
//! service at a time (`run_until_idle`) and with all of them at once (`run`, `Settings.concurrency`).
//! Then the drift check passes twice over every service made (the first learns the ETags) and the
//! second, unchanged pass is reported: GitHub requests and those counted against the rate limit, AWS
//! calls, wall time, and what they come to for 10,000 services at the hourly default (per-service
//! figures times 10,000; time is not scaled, the count of services is).
//!
//!     cargo bench --bench provision -- [--services N] [--latency-ms MS] [--aws-latency-ms MS]
//!         [--concurrency C] [--rounds R]

#[path = "provision/batch.rs"]
mod batch;
#[path = "provision/measure.rs"]
mod measure;
#[path = "provision/recorder.rs"]
mod recorder;
#[path = "provision/report.rs"]
mod report;
#[path = "provision/setup.rs"]
mod setup;

use std::{process::ExitCode, time::Duration};

use anyhow::{Context as _, bail};
use shipyard::github::Budget;
use tracing_subscriber::{
    EnvFilter, Layer as _, filter::Targets, layer::SubscriberExt as _, util::SubscriberInitExt as _,
};
use uuid::Uuid;

use batch::{Bench, Mode};
use recorder::{AwsLog, GithubLog};

const USAGE: &str = "\
usage: cargo bench --bench provision -- [--services N] [--latency-ms MS] [--aws-latency-ms MS]
                                        [--concurrency C] [--rounds R]
  --services N         services per batch (default 10)
  --latency-ms MS      delay github-sim adds before answering each call (default 50)
  --aws-latency-ms MS  delay added before each AWS call reaches moto (default 0: moto's own speed)
  --concurrency C      services worked on at once in the concurrent batches (default N)
  --rounds R           repeat the four batches R times, alternating, and pool the results (default 1)
env: DATABASE_URL (admin URL, default postgres://postgres@127.0.0.1:5432/postgres), MOTO_URL
     (default http://127.0.0.1:5000), BENCH_LOG (tracing filter for stderr, default warn),
     BENCH_DETAIL=1 (every service's wall time and slowest step)";

pub struct Args {
    pub services: usize,
    pub latency: Duration,
    pub aws_latency: Duration,
    pub concurrency: usize,
    pub rounds: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let (mut services, mut latency_ms, mut aws_latency_ms, mut concurrency, mut rounds) =
        (10, 50, 0, None, 1);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg.clone(), None),
        };
        let mut value = |name: &str| -> anyhow::Result<usize> {
            let raw =
                inline.clone().or_else(|| args.next()).with_context(|| format!("{name} needs a value"))?;
            raw.parse().with_context(|| format!("{name}: {raw:?} is not a whole number"))
        };
        match flag.as_str() {
            "--services" => services = value("--services")?,
            "--latency-ms" => latency_ms = value("--latency-ms")?,
            "--aws-latency-ms" => aws_latency_ms = value("--aws-latency-ms")?,
            "--concurrency" => concurrency = Some(value("--concurrency")?),
            "--rounds" => rounds = value("--rounds")?.max(1),
            // `cargo bench` passes this to every `harness = false` target.
            "--bench" => {}
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    if services == 0 {
        bail!("--services must be at least 1");
    }
    let concurrency = concurrency.unwrap_or(services).max(1);
    Ok(Args {
        services,
        latency: Duration::from_millis(latency_ms as u64),
        aws_latency: Duration::from_millis(aws_latency_ms as u64),
        concurrency,
        rounds,
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    match runtime.block_on(run(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Sets up the database, measures, always drops the database, then prints.
async fn run(args: &Args) -> anyhow::Result<()> {
    let github_log = GithubLog::default();
    let stderr_filter = EnvFilter::try_from_env("BENCH_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::registry()
        .with(github_log.clone().with_filter(Targets::new().with_target("github_sim", tracing::Level::INFO)))
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(stderr_filter))
        .init();

    let admin_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    // Each service in flight holds a connection or two; the concurrent batches run them all at once.
    let connections = (3 * args.concurrency + 8).min(60) as u32;
    let db = setup::BenchDb::create(&admin_url, connections).await?;
    eprintln!(
        "bench: database {} created; provisioning {} batches of {} services",
        db.name,
        4 * args.rounds,
        args.services
    );
    let measured = tokio::select! {
        measured = measure(args, &db, github_log) => measured,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    let name = db.name.clone();
    if let Err(e) = db.drop_database().await {
        eprintln!("warning: could not drop database {name}: {e:#}");
    }
    let (bench_batches, attribution, drift) = measured?;
    let [serial, parallel, concurrent, concurrent_serial] = bench_batches;
    report::print(&report::Report {
        args,
        database: &name,
        serial,
        parallel,
        concurrent,
        concurrent_serial,
        attribution,
    });
    drift.print();
    Ok(())
}

/// At this size the drift check is measured, not simulated at 10,000: every per-pass figure is per
/// service, and what 10,000 services cost at the default interval is that times 10,000 over 3,600 s.
const DRIFT_SCALE_SERVICES: f64 = 10_000.0;
const DRIFT_INTERVAL_SECS: f64 = 3_600.0;

/// One unchanged drift pass over every service the batches made, after a first pass that learned
/// the ETags.
struct DriftPass {
    services: usize,
    github_requests: usize,
    github_counted: usize,
    aws_calls: usize,
    wall: Duration,
}

impl DriftPass {
    fn print(&self) {
        let n = self.services.max(1) as f64;
        let scale = DRIFT_SCALE_SERVICES / n;
        let counted_per_hour = self.github_counted as f64 * scale;
        let aws_per_pass = self.aws_calls as f64 * scale;
        let aws_per_sec = aws_per_pass / DRIFT_INTERVAL_SECS;
        let paced = shipyard::aws::CALLS_PER_SECOND as f64;
        println!();
        println!(
            "Drift: one unchanged pass over {} services (measured), scaled to 10,000 at the 3,600 s default",
            self.services
        );
        println!(
            "  GitHub   {} requests, {} counted against the rate limit (the rest 304)  ->  {counted_per_hour:.0} counted/hour at 10,000   target <= 1,000",
            self.github_requests, self.github_counted
        );
        println!(
            "  AWS      {} calls ({:.1} a service)  ->  {aws_per_sec:.1} calls/s at 10,000 spread over the interval   target <= 10 (paced to {paced:.0}/s per account)",
            self.aws_calls,
            self.aws_calls as f64 / n
        );
        println!(
            "  wall     {:.1} s for {} services here; at 10,000 the AWS pace alone needs {:.0} s a pass   target <= 3,600",
            self.wall.as_secs_f64(),
            self.services,
            aws_per_pass / paced
        );
    }
}

async fn drift_pass(bench: &Bench) -> anyhow::Result<DriftPass> {
    let check = shipyard::provision::drift::DriftCheck::new(
        bench.db.clone(),
        bench.providers.clone(),
        setup::settings(true, 4),
    );
    check.check_all().await.context("first drift pass")?;
    let sim = bench.sim.sim();
    let methods = ["GET", "POST", "PUT", "PATCH", "DELETE"];
    let asked = || methods.iter().map(|m| sim.request_count(m, "**")).sum::<usize>();
    let counted = || methods.iter().map(|m| sim.charged_count(m, "**")).sum::<usize>();
    let (asked0, counted0, aws0) = (asked(), counted(), bench.aws_log.calls().len());
    let started = tokio::time::Instant::now();
    let services = check.check_all().await.context("second drift pass")?;
    Ok(DriftPass {
        services,
        github_requests: asked() - asked0,
        github_counted: counted() - counted0,
        aws_calls: bench.aws_log.calls().len() - aws0,
        wall: started.elapsed(),
    })
}

async fn measure(
    args: &Args,
    db: &setup::BenchDb,
    github_log: GithubLog,
) -> anyhow::Result<([batch::Batch; 4], measure::Attribution, DriftPass)> {
    let sim = setup::start_sim(args.latency).await?;
    let aws_log = AwsLog::default();
    let mut providers = setup::providers(&sim, &aws_log, args.aws_latency).await?;
    // This benchmark measures latency and concurrency against a sim without secondary limits; GitHub's
    // write pace (80 a minute, 500 an hour: about 100 services an hour) is the budget benchmark's
    // subject, and here it would only make the later batches wait for the hour's bucket.
    providers.github = providers.github.with_budget(Budget {
        writes_per_minute: 1_000_000,
        writes_per_hour: 1_000_000,
        ..Budget::GITHUB
    });
    let user = setup::insert_user(&db.pool).await?;
    let tag = Uuid::new_v4().simple().to_string()[..6].to_owned();
    let bench = Bench { db: db.pool.clone(), sim, providers, user, github_log, aws_log, tag };

    // Not measured: opens connections, asks STS for the account once, creates the shared OIDC provider.
    bench.run_batch("w", 1, Mode { parallel_steps: true, concurrency: 1 }).await.context("warm-up")?;
    let n = args.services;
    let modes = [
        ('s', Mode { parallel_steps: false, concurrency: 1 }),
        ('p', Mode { parallel_steps: true, concurrency: 1 }),
        ('c', Mode { parallel_steps: true, concurrency: args.concurrency }),
        ('d', Mode { parallel_steps: false, concurrency: args.concurrency }),
    ];
    // Rounds alternate the modes, so a slow spell on a shared machine does not land on one mode only.
    let mut pooled: [Option<batch::Batch>; 4] = Default::default();
    for round in 0..args.rounds {
        for ((letter, mode), pool) in modes.iter().zip(pooled.iter_mut()) {
            let batch = bench.run_batch(&format!("{letter}{round}"), n, *mode).await?;
            *pool = Some(match pool.take() {
                Some(earlier) => earlier.merge(batch),
                None => batch,
            });
        }
    }
    let [serial, parallel, concurrent, concurrent_serial] = pooled.map(|b| b.expect("at least one round"));
    let attribution = measure::attribute(&serial.services, &serial.github_calls, &serial.aws_calls);
    let drift = drift_pass(&bench).await?;
    Ok(([serial, parallel, concurrent, concurrent_serial], attribution, drift))
}
