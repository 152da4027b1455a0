//! GitHub's primary rate limit spent mid-provisioning: the steps wait for the reset (bounded by
//! `SHIPYARD_RATE_LIMIT_MAX_WAIT_SECS`) instead of failing the service.

use shipyard::domain::ServiceStatus;

use std::time::{Duration, Instant};

use crate::common::{
    app::{TestApp, unique_name},
    checks::assert_fully_provisioned,
    fixtures::service_failure,
};
use github_sim::SimConfig;
use sqlx::PgPool;

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_spent_rate_limit_with_a_near_reset_is_waited_out_and_the_service_gets_ready(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    let name = unique_name("patient");
    app.create_service(&browser, &name).await;

    app.sim().set_rate_limit("shipyard-bot", 0, Duration::from_secs(2));
    let started = Instant::now();
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Ready);
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "waited for the reset: {:?}",
        started.elapsed()
    );
    assert_fully_provisioned(&app, &name).await;
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_reset_further_away_than_the_longest_wait_fails_the_step_saying_when_it_resets(db: PgPool) {
    let app =
        TestApp::spawn_with(db, SimConfig::default(), |c| c.retry.rate_limit_wait = Duration::from_secs(1))
            .await;
    let browser = app.signed_in("bob").await;
    let name = unique_name("impatient");
    app.create_service(&browser, &name).await;

    app.sim().set_rate_limit("shipyard-bot", 0, Duration::from_secs(1800));
    let started = Instant::now();
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Failed);
    assert!(started.elapsed() < Duration::from_secs(20), "no waiting for half an hour");
    let (_, _, message) = service_failure(&app, &name).await;
    assert!(message.contains("API rate limit exceeded"), "{message}");
    assert!(message.contains("the limit resets in"), "{message}");
}
