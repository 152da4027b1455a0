//! `make bench`, second part: what provisioning spends of GitHub's limits.
//!
//! 1. The critical path of one service in sequential GitHub round trips (calls attributed to the step
//!    whose window holds them, longest dependency chain), and in ms at the injected latency.
//! 2. One service whose first build takes `--build-secs` (default 300), watched with the production
//!    look schedule (`BUILD_POLL_MIN`..`BUILD_POLL_MAX`): calls answered, and calls charged to the primary
//!    limit (304s are free).
//! 3. `--services` (default 100) services at once on one credential against secondary limits of
//!    `--writes-per-minute` (default GitHub's 80) and `--writes-per-hour` (default 100000: GitHub's 500
//!    would make the burst last an hour; pass 500 to see it): wall time against the bound the limit sets,
//!    failures, and secondary-limit refusals.
//!
//! 2b. The same with `workflow_run` webhooks: Shipyard's webhook route served in this process, the sim
//!    delivering to it, and the looks only a safety net (`WEBHOOK_SAFETY_POLL`).
//!
//! 2, 2b and 3 run at the same time against three github-sims (three credentials), so the run lasts about
//! as long as the longest of them.
//!
//!     cargo bench --bench provision_budget -- [--build-secs S] [--services N] [--writes-per-minute W]
//!         [--writes-per-hour H] [--latency-ms MS]

#[allow(dead_code)]
#[path = "provision/measure.rs"]
mod measure;
#[path = "provision/receiver.rs"]
mod receiver;
#[allow(dead_code)]
#[path = "provision/recorder.rs"]
mod recorder;
#[allow(dead_code)]
#[path = "provision/setup.rs"]
mod setup;

use std::{process::ExitCode, time::Duration};

use anyhow::{Context as _, bail};
use github_sim::{RunningSim, SecondaryLimits, Sim, SimConfig};
use shipyard::{
    github::Budget,
    provision::{self, Providers, Reconciler, Settings},
};
use sqlx::PgPool;
use tokio::time::Instant;
use tracing_subscriber::{
    EnvFilter, Layer as _, filter::Targets, layer::SubscriberExt as _, util::SubscriberInitExt as _,
};
use uuid::Uuid;

use recorder::{AwsLog, GithubLog};

const USAGE: &str = "\
usage: cargo bench --bench provision_budget -- [--build-secs S] [--services N] [--writes-per-minute W]
                                               [--writes-per-hour H] [--latency-ms MS]
  --build-secs S         how long the watched first build takes (default 300)
  --services N           services provisioned at once on one credential (default 100)
  --writes-per-minute W  secondary limit, github-sim's and Shipyard's pacing (default 80, GitHub's)
  --writes-per-hour H    secondary limit per hour (default 100000; GitHub's is 500)
  --latency-ms MS        delay github-sim adds before answering each call (default 50)
  --no-etags             send no conditional requests (every poll is charged), for comparison";

const METHODS: [&str; 5] = ["GET", "POST", "PATCH", "PUT", "DELETE"];

struct Args {
    build_secs: u64,
    services: usize,
    writes_per_minute: usize,
    writes_per_hour: usize,
    latency: Duration,
    /// Remember no ETags (every poll is charged): the comparison for 2.
    no_etags: bool,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        build_secs: 300,
        services: 100,
        writes_per_minute: 80,
        writes_per_hour: 100_000,
        latency: Duration::ZERO,
        no_etags: false,
    };
    let mut latency_ms = 50;
    let mut raw = std::env::args().skip(1);
    while let Some(arg) = raw.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg.clone(), None),
        };
        let mut value = |name: &str| -> anyhow::Result<usize> {
            let v = inline.clone().or_else(|| raw.next()).with_context(|| format!("{name} needs a value"))?;
            v.parse().with_context(|| format!("{name}: {v:?} is not a whole number"))
        };
        match flag.as_str() {
            "--build-secs" => args.build_secs = value("--build-secs")? as u64,
            "--services" => args.services = value("--services")?,
            "--writes-per-minute" => args.writes_per_minute = value("--writes-per-minute")?,
            "--writes-per-hour" => args.writes_per_hour = value("--writes-per-hour")?,
            "--latency-ms" => latency_ms = value("--latency-ms")?,
            "--no-etags" => args.no_etags = true,
            "--bench" => {}
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    if args.services == 0 || args.writes_per_minute < 2 || args.writes_per_hour < 2 {
        bail!("--services must be at least 1 and the limits at least 2");
    }
    args.latency = Duration::from_millis(latency_ms as u64);
    Ok(args)
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

async fn run(args: &Args) -> anyhow::Result<()> {
    let github_log = GithubLog::default();
    let stderr_filter = EnvFilter::try_from_env("BENCH_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::registry()
        .with(github_log.clone().with_filter(Targets::new().with_target("github_sim", tracing::Level::INFO)))
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(stderr_filter))
        .init();
    let admin_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let connections = (2 * args.services + 8).min(60) as u32;
    // Two databases: a reconciler works on every service of its database, and the burst's must not
    // pick up the watched service (whose repository lives in the other sim).
    let db = setup::BenchDb::create(&admin_url, 12).await?;
    let hooked_db = setup::BenchDb::create(&admin_url, 12).await?;
    let burst_db = setup::BenchDb::create(&admin_url, connections).await?;
    eprintln!("bench: databases {}, {} and {} created", db.name, hooked_db.name, burst_db.name);
    let measured = tokio::select! {
        measured = measure(args, &db.pool, &hooked_db.pool, &burst_db.pool, &github_log) => measured,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    for db in [db, hooked_db, burst_db] {
        let name = db.name.clone();
        if let Err(e) = db.drop_database().await {
            eprintln!("warning: could not drop database {name}: {e:#}");
        }
    }
    measured
}

async fn measure(
    args: &Args,
    db: &PgPool,
    hooked_db: &PgPool,
    burst_db: &PgPool,
    github_log: &GithubLog,
) -> anyhow::Result<()> {
    let user = setup::insert_user(db).await?;
    let hooked_user = setup::insert_user(hooked_db).await?;
    let burst_user = setup::insert_user(burst_db).await?;
    let tag = Uuid::new_v4().simple().to_string()[..6].to_owned();
    let latency_ms = args.latency.as_secs_f64() * 1000.0;

    // 1. The critical path, alone in the process so each call belongs to one step window.
    let sim = start_sim(args.latency, Duration::ZERO, SecondaryLimits::GITHUB).await?;
    let providers = setup::providers(&sim, &AwsLog::default(), Duration::ZERO).await?;
    let names = setup::insert_services(db, user, &format!("budget-{tag}-w"), 1).await?;
    settle(db, providers.clone(), setup::settings(false, 1), &names, Duration::from_secs(120)).await?;
    ensure_ready(db, &names).await.context("warm-up")?;
    let names = setup::insert_services(db, user, &format!("budget-{tag}-p"), 1).await?;
    let began = time::OffsetDateTime::now_utc();
    let started = Instant::now();
    settle(db, providers, setup::settings(true, 1), &names, Duration::from_secs(120)).await?;
    let wall = started.elapsed();
    ensure_ready(db, &names).await?;
    let services = measure::load_services(db, &names).await?;
    let calls: Vec<_> = github_log.calls().into_iter().filter(|c| c.at >= began).collect();
    let attribution = measure::attribute(&services, &calls, &[]);
    let cost = |s| attribution.steps.get(&s).map_or(0.0, |c| c.github_calls);
    let (trips, path) = measure::critical_path(cost);
    let path: Vec<&str> = path.iter().map(|s| s.as_str()).collect();
    println!(
        "GitHub call budget (benches/provision_budget.rs), github-sim latency {latency_ms:.0} ms per call"
    );
    println!();
    println!("1. Submit → ready, one service (build of 0 s, quick test looks), independent steps at once:");
    println!(
        "   {} GitHub calls in all; critical path {trips:.0} sequential GitHub round trips = {:.0} ms at \
         {latency_ms:.0} ms/call; measured wall {} ms",
        calls.len(),
        trips * latency_ms,
        wall.as_millis()
    );
    println!("   path: {}", path.join(" → "));
    // The chain Shipyard controls ends when the failed initial run's re-run is accepted; after that
    // it waits for the build (github-sim shows a re-run's attempt only after a second, as GitHub does).
    let rerun_at = calls
        .iter()
        .filter(|c| c.method == "POST" && c.path.ends_with("/rerun-failed-jobs"))
        .map(|c| c.at)
        .max();
    let to_rerun: Vec<_> = calls.iter().filter(|c| rerun_at.is_some_and(|at| c.at <= at)).cloned().collect();
    let chain = sequential_round_trips(&to_rerun, args.latency);
    let all = sequential_round_trips(&calls, args.latency);
    println!(
        "   submit → re-run accepted: {chain} sequential GitHub round trips (calls in flight together count \
         once) = {:.0} ms of GitHub latency at {latency_ms:.0} ms/call; submit → ready: {all} (the rest are \
         looks while the re-run builds)",
        chain as f64 * latency_ms
    );
    drop(sim);

    // 2, 2b and 3 side by side, each on its own sim (credential) and database.
    let (watch, hooked, burst) = tokio::join!(
        watch_one(args, db, user, &tag, false),
        watch_one(args, hooked_db, hooked_user, &tag, true),
        burst(args, burst_db, burst_user, &tag)
    );
    let (watch, hooked, burst) = (watch?, hooked?, burst?);
    println!();
    println!(
        "2. One service, first build of {} s, production looks ({:?} .. {:?}, a third of the age):",
        args.build_secs,
        provision::BUILD_POLL_MIN,
        provision::BUILD_POLL_MAX
    );
    println!(
        "   {} looks; {} GitHub calls answered, {} charged to the primary limit ({} writes); \
         (--no-etags: every answered call is charged)",
        watch.looks, watch.answered, watch.charged, watch.writes
    );
    println!(
        "2b. The same with workflow_run webhooks (a finished run wakes the build; looks every {:?} as a safety net):",
        provision::WEBHOOK_SAFETY_POLL
    );
    println!(
        "   {} looks; {} GitHub calls answered, {} charged to the primary limit ({} writes, the hook's among them)",
        hooked.looks, hooked.answered, hooked.charged, hooked.writes
    );
    println!();
    let n = args.services as f64;
    let per_service = burst.writes as f64 / n;
    let bound_min = burst.writes as f64 / args.writes_per_minute as f64;
    println!(
        "3. {} services at once, one credential, secondary limits {}/min and {}/h (github-sim and Shipyard):",
        args.services, args.writes_per_minute, args.writes_per_hour
    );
    println!(
        "   {} ready, {} failed, {} secondary-limit refusals; {} writes ({per_service:.1} per service)",
        burst.ready, burst.failed, burst.hits, burst.writes
    );
    println!(
        "   wall {:.1} min; the limit's bound {:.1} min (writes / {} per minute); {} charged of {} answered",
        burst.wall.as_secs_f64() / 60.0,
        bound_min,
        args.writes_per_minute,
        burst.charged,
        burst.answered
    );
    println!(
        "   {:.2}x the bound   target <= 1.10x; all ready with green first builds, 0 failures, 0 refusals",
        burst.wall.as_secs_f64() / 60.0 / bound_min.max(f64::MIN_POSITIVE)
    );
    if burst.failed > 0 {
        bail!("{} services did not reach ready", burst.failed);
    }
    Ok(())
}

/// github-sim with `latency` on every call, builds lasting `run_duration`, and `limits`.
async fn start_sim(
    latency: Duration,
    run_duration: Duration,
    limits: SecondaryLimits,
) -> anyhow::Result<RunningSim> {
    let moto = std::env::var("MOTO_URL").unwrap_or_else(|_| "http://127.0.0.1:5000".to_owned());
    let config = SimConfig {
        aws_endpoint_url: Some(moto),
        run_duration,
        secondary_limits: limits,
        ..SimConfig::default()
    };
    let sim = github_sim::spawn(config).await?;
    sim.sim().set_latency(None, "/**", latency);
    Ok(sim)
}

struct Counts {
    answered: usize,
    charged: usize,
    writes: usize,
}

fn counts(sim: &Sim) -> Counts {
    Counts {
        answered: METHODS.iter().map(|m| sim.request_count(m, "/**")).sum(),
        charged: METHODS.iter().map(|m| sim.charged_count(m, "/**")).sum(),
        writes: METHODS[1..].iter().map(|m| sim.request_count(m, "/**")).sum(),
    }
}

struct Watch {
    looks: i64,
    answered: usize,
    charged: usize,
    writes: usize,
}

/// One service with a first build of `--build-secs`, polled, or (`webhooks`) woken by deliveries to
/// Shipyard's webhook route served here.
async fn watch_one(args: &Args, db: &PgPool, user: Uuid, tag: &str, webhooks: bool) -> anyhow::Result<Watch> {
    let build = Duration::from_secs(args.build_secs);
    let sim = start_sim(args.latency, build, SecondaryLimits::GITHUB).await?;
    let mut providers = setup::providers(&sim, &AwsLog::default(), Duration::ZERO).await?;
    if args.no_etags {
        providers.github = providers.github.with_budget(Budget { etag_entries: 0, ..Budget::GITHUB });
    }
    let receiver = match webhooks {
        true => Some(receiver::serve_webhooks(db, &sim, &providers).await?),
        false => None,
    };
    let settings = Settings {
        build_wait: provision::BUILD_WAIT.max(build * 2),
        build_poll_min: provision::BUILD_POLL_MIN,
        build_poll_max: provision::BUILD_POLL_MAX,
        webhooks: receiver.as_ref().map(|r| r.config.clone()),
        ..setup::settings(true, 2)
    };
    let suffix = if webhooks { "h" } else { "b" };
    let names = setup::insert_services(db, user, &format!("budget-{tag}-{suffix}"), 1).await?;
    let before = counts(&sim.sim());
    // The template's push run went without secrets: it fails, is re-run, and builds a second time.
    settle(db, providers, settings, &names, 2 * build + Duration::from_secs(180)).await?;
    let after = counts(&sim.sim());
    let looks: i64 = sqlx::query_scalar(
        "select coalesce((st.outputs->>'looks')::bigint, 0) from step st join service s using (service_id) \
         where s.name = $1 and st.step = 'first_build'",
    )
    .bind(&names[0])
    .fetch_one(db)
    .await?;
    Ok(Watch {
        looks,
        answered: after.answered - before.answered,
        charged: after.charged - before.charged,
        writes: after.writes - before.writes,
    })
}

struct Burst {
    ready: usize,
    failed: usize,
    hits: usize,
    writes: usize,
    answered: usize,
    charged: usize,
    wall: Duration,
}

async fn burst(args: &Args, db: &PgPool, user: Uuid, tag: &str) -> anyhow::Result<Burst> {
    let limits = SecondaryLimits {
        content_per_minute: args.writes_per_minute,
        content_per_hour: args.writes_per_hour,
        concurrent: 100,
    };
    let sim = start_sim(args.latency, Duration::ZERO, limits).await?;
    let mut providers = setup::providers(&sim, &AwsLog::default(), Duration::ZERO).await?;
    providers.github = providers.github.with_budget(Budget {
        writes_per_minute: args.writes_per_minute as u32,
        writes_per_hour: args.writes_per_hour as u32,
        etag_entries: if args.no_etags { 0 } else { Budget::GITHUB.etag_entries },
        ..Budget::GITHUB
    });
    let names = setup::insert_services(db, user, &format!("budget-{tag}-c"), args.services).await?;
    let before = counts(&sim.sim());
    let started = Instant::now();
    // The longest this may take: every write at the bucket's pace, plus slack.
    let writes_guess = 6 * args.services;
    let pace = writes_guess as f64 / (args.writes_per_minute as f64 * 0.7);
    let limit = Duration::from_secs_f64(pace * 60.0) + Duration::from_secs(180);
    settle(db, providers, setup::settings(true, args.services), &names, limit).await?;
    let wall = started.elapsed();
    let after = counts(&sim.sim());
    let statuses: Vec<String> = sqlx::query_scalar("select status from service where name = any($1)")
        .bind(&names)
        .fetch_all(db)
        .await?;
    let ready = statuses.iter().filter(|s| *s == "ready").count();
    Ok(Burst {
        ready,
        failed: names.len() - ready,
        hits: sim.sim().secondary_limit_hits(),
        writes: after.writes - before.writes,
        answered: after.answered - before.answered,
        charged: after.charged - before.charged,
        wall,
    })
}

/// Runs a reconciler until none of `names` is still provisioning, at most `limit`.
async fn settle(
    db: &PgPool,
    providers: Providers,
    settings: Settings,
    names: &[String],
    limit: Duration,
) -> anyhow::Result<()> {
    let reconciler = Reconciler::new(db.clone(), providers, settings);
    let settled = async {
        loop {
            let busy: i64 = sqlx::query_scalar(
                "select count(*) from service where name = any($1) and status = 'provisioning'",
            )
            .bind(names)
            .fetch_one(db)
            .await
            .unwrap_or(1);
            if busy == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::time::timeout(limit, reconciler.run(settled))
        .await
        .with_context(|| format!("not settled after {limit:?}"))??;
    Ok(())
}

async fn ensure_ready(db: &PgPool, names: &[String]) -> anyhow::Result<()> {
    let statuses: Vec<(String, String)> =
        sqlx::query_as("select name, status from service where name = any($1)")
            .bind(names)
            .fetch_all(db)
            .await?;
    for (name, status) in statuses {
        if status != "ready" {
            bail!("{name} ended {status}");
        }
    }
    Ok(())
}

/// The longest chain of GitHub calls that ran one after another: each call lasted at least
/// `latency` (github-sim waits that long before answering), so it occupied `[at - latency, at]`;
/// calls in flight at the same moment overlap and count once. Greedy by earliest end gives the
/// largest set of pairwise non-overlapping calls, which for one service is the number of
/// sequential round trips between submit and ready, whatever the steps' bookkeeping says.
fn sequential_round_trips(calls: &[recorder::GithubCall], latency: std::time::Duration) -> usize {
    let latency = time::Duration::try_from(latency).unwrap_or_default();
    let mut ends: Vec<time::OffsetDateTime> = calls.iter().map(|c| c.at).collect();
    ends.sort();
    let mut trips = 0;
    let mut free_from = time::OffsetDateTime::UNIX_EPOCH;
    for end in ends {
        if end - latency >= free_from {
            trips += 1;
            free_from = end;
        }
    }
    trips
}
