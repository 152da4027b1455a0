//! The GitHub call budget: what one service costs against GitHub's primary limit (polls answered
//! `304 Not Modified` are free), and a burst of services paced under GitHub's secondary limits.

use std::time::Duration;

use github_sim::{SecondaryLimits, Sim, SimConfig};
use shipyard::{
    domain::ServiceStatus,
    github::Budget,
    provision::{Reconciler, Settings},
};
use sqlx::PgPool;

use crate::common::app::{TestApp, unique_name};

const METHODS: [&str; 5] = ["GET", "POST", "PATCH", "PUT", "DELETE"];

/// Calls charged to the primary rate limit so far, every method and route.
fn charged(sim: &Sim) -> usize {
    METHODS.iter().map(|m| sim.charged_count(m, "/**")).sum()
}

/// Calls GitHub answered so far (304s included), every method and route.
fn answered(sim: &Sim) -> usize {
    METHODS.iter().map(|m| sim.request_count(m, "/**")).sum()
}

/// Content-creating calls so far (the ones GitHub's secondary limits count).
fn writes(sim: &Sim) -> usize {
    METHODS[1..].iter().map(|m| sim.request_count(m, "/**")).sum()
}

/// What provisioning one service with a build of a few seconds cost: (charged, answered, writes, looks).
async fn provision_one(db: PgPool, etag_entries: u64) -> (usize, usize, usize, u64) {
    let sim_config = SimConfig { run_duration: Duration::from_secs(3), ..SimConfig::default() };
    let app = TestApp::spawn_with(db, sim_config, |config| {
        config.github_budget = Budget { etag_entries, ..Budget::GITHUB };
    })
    .await;
    let browser = app.signed_in("bob").await;
    let sim = app.sim();
    let (charged_before, answered_before, writes_before) = (charged(&sim), answered(&sim), writes(&sim));
    let name = unique_name("budget");
    app.create_service(&browser, &name).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Ready);
    let looks: i64 = sqlx::query_scalar(
        "select (st.outputs->>'looks')::bigint from step st join service s using (service_id) \
         where s.name = $1 and st.step = 'first_build'",
    )
    .bind(&name)
    .fetch_one(&app.db)
    .await
    .expect("the first build was watched");
    (
        charged(&sim) - charged_before,
        answered(&sim) - answered_before,
        writes(&sim) - writes_before,
        looks as u64,
    )
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn one_service_costs_few_charged_calls_because_polls_are_conditional(db: PgPool) {
    let (charged, answered, writes, looks) = provision_one(db.clone(), Budget::GITHUB.etag_entries).await;
    let (charged_plain, answered_plain, _, looks_plain) = provision_one(db, 0).await;
    eprintln!(
        "with ETags: {charged} charged of {answered} answered, {writes} writes, {looks} looks; \
         without: {charged_plain} charged of {answered_plain}, {looks_plain} looks"
    );
    assert!(looks >= 5, "the build was looked at repeatedly ({looks} looks)");
    // Measured: 37 charged. Of them the owning team's are 2 (its access read, then granted), the
    // default branch's ruleset 3 (the branch's rules, the list, the create), the ownership files and
    // the security baseline 11 (both files looked up and committed, the switches, the topics).
    assert!(charged <= 40, "one service cost {charged} charged GitHub calls");
    // Only the looks that saw the run change (a new attempt, queued, in progress, completed) cost.
    assert!(answered - charged + 8 >= looks as usize, "the repeated looks were 304s");
    assert!(
        charged_plain + 8 >= charged + looks_plain as usize,
        "without conditional requests every look is charged: {charged_plain} vs {charged}"
    );
}

/// GitHub's secondary limits scaled down so that a burst of services needs more writes than one minute
/// allows, yet finishes in about a minute and a half.
const WRITES_PER_MINUTE: usize = 40;
const CONCURRENT: usize = 8;
const BURST: usize = 9;

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_burst_of_services_is_paced_under_the_secondary_limits(db: PgPool) {
    let limits = SecondaryLimits {
        content_per_minute: WRITES_PER_MINUTE,
        content_per_hour: 1000,
        concurrent: CONCURRENT,
    };
    let sim_config = SimConfig { secondary_limits: limits, ..SimConfig::default() };
    let app = TestApp::spawn_with(db, sim_config, |config| {
        config.github_budget = Budget {
            writes_per_minute: WRITES_PER_MINUTE as u32,
            writes_per_hour: 1000,
            concurrent_requests: CONCURRENT - 2,
            ..Budget::GITHUB
        };
    })
    .await;
    let browser = app.signed_in("bob").await;
    let sim = app.sim();
    let writes_before = writes(&sim);
    let names: Vec<String> = (0..BURST).map(|i| unique_name(&format!("burst{i}"))).collect();
    for name in &names {
        app.create_service(&browser, name).await;
    }

    // One process working on all of them at once, as after a busy morning of submits.
    let settings = Settings { concurrency: BURST, ..app.reconciler_settings() };
    let reconciler = Reconciler::new(app.db.clone(), app.providers(), settings);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(reconciler.run(async move {
        let _ = stopped.await;
    }));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    let mut pending = names.clone();
    while !pending.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "still in progress after 240 s: {pending:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
        let mut still = Vec::new();
        for name in pending {
            let status = app.status_of(&name).await;
            if status.is_in_progress() {
                still.push(name);
            } else {
                assert_eq!(status, ServiceStatus::Ready, "{name} ended {status}");
            }
        }
        pending = still;
    }
    let _ = stop.send(());
    running.await.expect("the reconciler stops").expect("the reconciler ran");

    let writes = writes(&sim) - writes_before;
    assert!(writes > WRITES_PER_MINUTE, "the burst needed more writes ({writes}) than one minute allows");
    assert_eq!(sim.secondary_limit_hits(), 0, "GitHub never had to refuse a request");
}
