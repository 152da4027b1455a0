//! End to end: the form, the reconciler, github-sim and moto. What a platform engineer would
//! check after one submit: the role's trust, the policy, the ECR repository, the GitHub repository,
//! the secrets, a green first build, and the page.

use github_sim::SecondaryLimits;
use shipyard::{domain::ServiceStatus, github::Budget};

use crate::common::{
    app::{TestApp, unique_name},
    checks::assert_fully_provisioned,
};
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn one_submit_provisions_everything_and_the_page_shows_how_to_clone(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    let name = unique_name("payments");
    app.create_service(&browser, &name).await;
    assert_eq!(app.status_of(&name).await, ServiceStatus::Provisioning);

    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Ready);
    assert_fully_provisioned(&app, &name).await;

    let html = browser.get(app.at(&format!("/services/{name}"))).send().await.unwrap().text().await.unwrap();
    let repo = app.sim().repo("acme", &name).unwrap();
    let sim_host = app.github.url().trim_start_matches("http://").split(':').next().unwrap().to_owned();
    assert!(html.contains(&format!("git@{sim_host}:acme/{name}.git")), "the SSH clone URL is shown");
    assert!(html.contains(&format!("{}/acme/{name}/actions", app.github.url())), "the Actions link is shown");
    assert!(html.contains("/actions/runs/"), "the first build's run link is shown");
    assert_eq!(repo.default_branch, "main");

    let audit: Vec<(String, String, Option<String>)> = app.audit_actions().await;
    assert!(audit.contains(&("create".into(), "success".into(), Some("bob".into()))));
    assert!(audit.contains(&("provisioned".into(), "success".into(), Some("shipyard".into()))));
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn another_default_branch_is_applied_to_the_repository_and_the_trust(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("alice").await;
    let name = unique_name("ledger");
    let response = app
        .submit_service(
            &browser,
            &[
                ("name", &name),
                ("environment", "prod"),
                ("visibility", "public"),
                ("template", "acme/service-template"),
                ("default_branch", "trunk"),
                ("team", "payments"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Ready);

    let repo = app.sim().repo("acme", &name).unwrap();
    assert_eq!(repo.default_branch, "trunk");
    assert!(!repo.private);
    let role = app.aws.get_role(&format!("gha.acme.{name}.prod.trunk")).await.unwrap().unwrap();
    let sub = &role.trust_policy["Statement"][0]["Condition"]["StringLike"]["token.actions.githubusercontent.com:sub"];
    assert_eq!(sub, &json!(format!("repo:*@1000/*@{}:ref:refs/heads/trunk", repo.id)));
    // The initial run ran on `main` before the rename; re-running it would present a `main`
    // subject the role does not trust, so the workflow is dispatched on `trunk` instead.
    let runs = app.sim().runs("acme", &name);
    let on_trunk: Vec<_> = runs.iter().filter(|r| r.head_branch == "trunk").collect();
    assert_eq!(on_trunk.len(), 1, "{runs:?}");
    assert_eq!(on_trunk[0].event, "workflow_dispatch");
    assert_eq!(on_trunk[0].conclusion.as_deref(), Some("success"));
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_template_without_workflow_dispatch_gets_its_initial_run_re_run(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    let name = unique_name("worker");
    let response = app
        .submit_service(
            &browser,
            &[
                ("name", &name),
                ("environment", "dev"),
                ("template", "acme/worker-template"),
                ("default_branch", "main"),
                ("team", "payments"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Ready);
    let runs = app.sim().runs("acme", &name);
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].event, "push");
    assert_eq!((runs[0].run_attempt, runs[0].conclusion.as_deref()), (2, Some("success")));
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn without_an_initial_run_the_workflow_is_dispatched(db: PgPool) {
    let sim = github_sim::SimConfig { initial_push_runs: false, ..Default::default() };
    let app = TestApp::spawn_with(db, sim, |_| {}).await;
    let browser = app.signed_in("bob").await;
    let name = unique_name("dispatch");
    app.create_service(&browser, &name).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Ready);
    let runs = app.sim().runs("acme", &name);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].event, "workflow_dispatch");
    assert_eq!(runs[0].conclusion.as_deref(), Some("success"));
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn on_github_enterprise_server_the_subject_falls_back_to_the_repository_name(db: PgPool) {
    let sim = github_sim::SimConfig { oidc_customization_endpoint: false, ..Default::default() };
    let app = TestApp::spawn_with(db, sim, |_| {}).await;
    let browser = app.signed_in("bob").await;
    let name = unique_name("ghes");
    app.create_service(&browser, &name).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Ready);
    let role = app.aws.get_role(&format!("gha.acme.{name}.dev.main")).await.unwrap().unwrap();
    let sub = &role.trust_policy["Statement"][0]["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"];
    assert_eq!(sub, &json!(format!("repo:acme/{name}:ref:refs/heads/main")));
}

/// Kill the reconciler after every step boundary k (in-flight calls are dropped mid-way), then let
/// a fresh one take over once the lease expires: always `ready`, with exactly one of everything.
#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_reconciler_killed_after_any_step_is_resumed_without_duplicates(db: PgPool) {
    // Sixteen services in a row write far more than GitHub's 80 a minute: Shipyard would rightly pace them
    // (some 20 s a service once the burst is spent), which is not what this test is about. Both sides get
    // the same, larger secondary limits, still enforced by the sim.
    let limits = SecondaryLimits { content_per_minute: 2_000, content_per_hour: 20_000, concurrent: 100 };
    let sim = github_sim::SimConfig { secondary_limits: limits, ..Default::default() };
    let app = TestApp::spawn_with(db, sim, |config| {
        config.github_budget = Budget { writes_per_minute: 2_000, writes_per_hour: 20_000, ..Budget::GITHUB };
    })
    .await;
    let browser = app.signed_in("bob").await;
    // Every create step but the build (the last), so the last k stops between branch_ruleset and
    // first_build; counted from the table, so a new step gets its boundary without an edit here.
    let steps = shipyard::provision::steps::service_steps(shipyard::provision::Phase::Create);
    assert_eq!(steps.last(), Some(&shipyard::domain::StepName::FirstBuild));
    for k in 1..steps.len() {
        let name = unique_name(&format!("crash{k}"));
        app.create_service(&browser, &name).await;
        app.reconciler().stopping_after_steps(k).run_until_idle().await.unwrap();
        let recorded: i64 = sqlx::query_scalar(
            "select count(*) from step join service using (service_id) where name = $1 and step.status = 'done'",
        )
        .bind(&name)
        .fetch_one(&app.db)
        .await
        .unwrap();
        assert_eq!(recorded, k as i64, "k={k}: steps recorded before the crash");
        assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Ready, "k={k}");
        assert_fully_provisioned(&app, &name).await;
        // A generate cut off by the crash is sent again and answered 422 (ours exists): the repositories made
        // from the template are still one per service.
        let generated = app
            .sim()
            .repos("acme")
            .iter()
            .filter(|r| r.template_full_name.as_deref() == Some("acme/service-template"))
            .count();
        assert_eq!(generated, k, "one repository per service");
    }
}

/// A flood of web requests can hold every connection of the web's pool. The reconciler has a pool of its
/// own, as production wires it, so its claims and lease renewals go on and the service still gets ready.
#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn with_every_web_connection_held_the_reconciler_still_provisions(db: PgPool) {
    let (app, web, reconciler) = TestApp::spawn_with_web_pool(db, 2).await;
    let browser = app.signed_in("bob").await;
    let name = unique_name("flood");
    app.create_service(&browser, &name).await;
    // What a flood does to the web: every connection taken.
    let held = (web.acquire().await.unwrap(), web.acquire().await.unwrap());
    let readyz = reqwest::get(app.at("/readyz")).await.unwrap();
    assert_eq!(readyz.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE, "the web has no connection left");
    assert_eq!(app.settle(&reconciler, &name).await, ServiceStatus::Ready);
    assert_fully_provisioned(&app, &name).await;
    drop(held);
}

/// Two reconcilers on one database at the same time: each step runs once.
#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn two_reconcilers_at_once_never_run_a_step_twice(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    let names: Vec<String> = (0..3).map(|i| unique_name(&format!("pair{i}"))).collect();
    for name in &names {
        app.create_service(&browser, name).await;
    }
    let (a, b) = (app.reconciler(), app.reconciler());
    let settle_all = |r: shipyard::provision::Reconciler| {
        let app = &app;
        let names = names.clone();
        async move {
            for name in &names {
                app.settle(&r, name).await;
            }
        }
    };
    tokio::join!(settle_all(a), settle_all(b));
    for name in &names {
        assert_eq!(app.status_of(name).await, ServiceStatus::Ready);
        assert_fully_provisioned(&app, name).await;
    }
    let attempts: Vec<(String, i32)> = sqlx::query_as("select step, attempts from step where attempts <> 1")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert!(attempts.is_empty(), "steps run more than once: {attempts:?}");
    assert_eq!(app.sim().request_count("POST", "/repos/acme/service-template/generate"), 3);
}

/// The background loop is woken by NOTIFY: with a poll interval of five minutes, a new service still
/// starts at once (and its parked first build is resumed by its timer, not the poll). And it stops when asked.
#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn the_background_reconciler_is_woken_at_once_and_stops_when_asked(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    let settings = shipyard::provision::Settings {
        poll_interval: std::time::Duration::from_secs(300),
        ..app.reconciler_settings()
    };
    let providers = shipyard::provision::Providers::new(app.github_client(), app.aws.clone());
    let reconciler = shipyard::provision::Reconciler::new(app.db.clone(), providers, settings);
    let stop = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(reconciler.run(stop.clone().cancelled_owned()));
    // Let it reach its first wait, so only a notification can wake it.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let name = unique_name("woken");
    let started = std::time::Instant::now();
    app.create_service(&browser, &name).await;
    while app.status_of(&name).await == ServiceStatus::Provisioning {
        // Generous for a loaded CI machine, and far below the poll interval.
        assert!(started.elapsed() < std::time::Duration::from_secs(90), "not woken by NOTIFY");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(app.status_of(&name).await, ServiceStatus::Ready);

    stop.cancel();
    let stopped = tokio::time::timeout(std::time::Duration::from_secs(5), running).await;
    assert!(matches!(stopped, Ok(Ok(Ok(())))), "the loop ends cleanly on shutdown: {stopped:?}");
}
