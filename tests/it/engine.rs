//! The engine's corners where a service could stick or touch what is not its own: a panicking step, a
//! result the database refuses, a pass that died before settling, a delete during a long first build,
//! two claims on one lease, a renamed repository, and a later repository that merely looks like ours.

use std::time::{Duration, Instant};

use github_sim::{Fault, SimConfig};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shipyard::{
    db::{
        services::{self, Release},
        steps::{self, StepResult},
    },
    domain::{ServiceStatus, StepName},
};
use sqlx::PgPool;

use crate::common::{
    app::{TestApp, unique_name},
    checks::{assert_fully_provisioned, default_branch_ruleset},
    fixtures::{retry_via_form, service_failure, service_id},
};

const BOT: &str = "ghp_sandbox_shipyard_bot";

/// A call to github-sim's REST API as the bot, as any other GitHub client would make it.
async fn github(app: &TestApp, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .request(method, format!("{}{path}", app.github.url()))
        .bearer_auth(BOT)
        .header("accept", "application/vnd.github+json")
        .header("user-agent", "shipyard-tests")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn step_status(app: &TestApp, name: &str, step: StepName) -> String {
    sqlx::query_scalar(
        "select st.status from step st join service s using (service_id) where s.name = $1 and st.step = $2",
    )
    .bind(name)
    .bind(step.as_str())
    .fetch_one(&app.db)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_step_that_panics_fails_with_a_message_and_retry_finishes_the_service(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    let name = unique_name("panics");
    app.create_service(&bob, &name).await;

    let buggy = app.reconciler().panicking_in(StepName::IamPolicy);
    assert_eq!(
        app.settle(&buggy, &name).await,
        ServiceStatus::Failed,
        "a panic does not leave it provisioning"
    );
    let (_, step, message) = service_failure(&app, &name).await;
    assert_eq!(step, "iam_policy");
    assert!(message.contains("the step crashed") && message.contains("injected panic"), "{message}");
    assert_eq!(step_status(&app, &name, StepName::IamPolicy).await, "failed", "not left running");

    assert_eq!(retry_via_form(&app, &bob, &name).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Ready);
    assert_fully_provisioned(&app, &name).await;
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_provider_message_postgres_cannot_store_is_recorded_sanitized(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    app.sim().inject_fault(Fault::new("/repos/*/*/actions/secrets/*", 422).method("PUT").body(
        json!({"message": "key_id is\u{0} not valid", "documentation_url": "https://docs.github.com"}),
    ));
    let name = unique_name("nulbyte");
    app.create_service(&bob, &name).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Failed);
    let (_, step, message) = service_failure(&app, &name).await;
    assert_eq!(step, "actions_secrets");
    assert!(message.contains("key_id is  not valid"), "the NUL became a space: {message}");
    let audit: String = sqlx::query_scalar("select detail from audit_event where action = 'step_failed'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(audit.contains("key_id is  not valid"), "{audit}");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_failed_step_left_by_a_pass_that_died_before_settling_settles_without_spinning(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    app.aws_faults.inject("CreateRole", 1, crate::common::aws_faults::Fault::AccessDenied);
    let name = unique_name("halfsettled");
    app.create_service(&bob, &name).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Failed);
    // As if the pass had recorded the failure and died before changing the service's status.
    sqlx::query(
        "update service set status = 'provisioning', error_step = null, error_message = null where name = $1",
    )
    .bind(&name)
    .execute(&app.db)
    .await
    .unwrap();

    let started = Instant::now();
    let claims = tokio::time::timeout(Duration::from_secs(10), app.reconciler().run_until_idle())
        .await
        .expect("the reconciler comes back instead of re-claiming the service forever")
        .unwrap();
    assert_eq!(claims, 1, "one claim settles it (took {:?})", started.elapsed());
    let (status, step, message) = service_failure(&app, &name).await;
    assert_eq!((status.as_str(), step.as_str()), ("failed", "iam_role"));
    assert!(message.contains("AccessDenied") || message.contains("not authorized"), "{message}");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_delete_requested_while_the_first_build_is_watched_starts_within_a_second(db: PgPool) {
    let sim = SimConfig { run_duration: Duration::from_secs(120), ..SimConfig::default() };
    let app = TestApp::spawn_with(db, sim, |_| {}).await;
    let bob = app.signed_in("bob").await;
    let settings = shipyard::provision::Settings {
        build_wait: Duration::from_secs(600),
        build_poll_min: Duration::from_secs(30),
        build_poll_max: Duration::from_secs(60),
        poll_interval: Duration::from_secs(60),
        concurrency: 1,
        ..app.reconciler_settings()
    };
    let reconciler = shipyard::provision::Reconciler::new(app.db.clone(), app.providers(), settings);
    let stop = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(reconciler.run(stop.clone().cancelled_owned()));

    let name = unique_name("longbuild");
    app.create_service(&bob, &name).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while step_status(&app, &name, StepName::FirstBuild).await != "waiting" {
        assert!(Instant::now() < deadline, "the first build never started being watched");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The one worker is free: the watch is parked, not held (the claim is released just after the
    // step is recorded as waiting).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let leased: bool = sqlx::query_scalar("select lease_token is not null from service where name = $1")
            .bind(&name)
            .fetch_one(&app.db)
            .await
            .unwrap();
        if !leased {
            break;
        }
        assert!(Instant::now() < deadline, "a parked first build holds no lease");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let asked = Instant::now();
    let response = app.delete_via_api(&bob, &name).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    while step_status(&app, &name, StepName::DeleteRole).await == "pending" {
        assert!(asked.elapsed() < Duration::from_secs(1), "the delete did not start within a second");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.status_of(&name).await != ServiceStatus::Deleted {
        assert!(Instant::now() < deadline, "the deletion did not finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    running.await.unwrap().unwrap();
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn of_two_claims_on_one_expired_lease_only_the_fresh_claim_writes(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    let name = unique_name("twoclaims");
    app.create_service(&bob, &name).await;
    let id = service_id(&app, &name).await;

    let stale = services::claim_next_service(&app.db, Duration::from_millis(100)).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    // The same process may claim again (one database pool, one reconciler): a new claim all the same.
    let fresh = services::claim_next_service(&app.db, Duration::from_secs(30)).await.unwrap().unwrap();
    assert_eq!((stale.service_id, fresh.service_id), (id, id));
    assert_ne!(stale.token, fresh.token);

    assert!(
        !steps::start_step(&app.db, &stale, StepName::Preflight, "").await.unwrap(),
        "stale start refused"
    );
    assert!(
        !services::renew_lease(&app.db, &stale, Duration::from_secs(30)).await.unwrap(),
        "stale renewal refused"
    );
    assert!(steps::start_step(&app.db, &fresh, StepName::Preflight, "").await.unwrap());
    let stale_result = json!({"role_name": "from-the-stale-claim", "policy_name": "x"});
    let written =
        steps::finish_step(&app.db, &stale, StepName::Preflight, "", StepResult::Done(&stale_result));
    assert!(written.await.unwrap().is_none(), "stale result refused");
    let from = ServiceStatus::Provisioning;
    assert!(!services::set_service_status(&app.db, &stale, from, ServiceStatus::Failed, None).await.unwrap());
    let fresh_result = json!({"role_name": "from-the-fresh-claim", "policy_name": "x"});
    let written =
        steps::finish_step(&app.db, &fresh, StepName::Preflight, "", StepResult::Done(&fresh_result));
    assert!(written.await.unwrap().is_some());
    services::release_lease(&app.db, &stale, Release::Progressed).await.unwrap();
    let (status, outputs, leased): (String, Value, bool) = sqlx::query_as(
        "select st.status, st.outputs, s.lease_token is not null from step st join service s using (service_id)
         where s.service_id = $1 and st.step = 'preflight'",
    )
    .bind(id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((status.as_str(), outputs["role_name"].as_str()), ("done", Some("from-the-fresh-claim")));
    assert!(leased, "the stale claim cannot release the fresh claim's lease");
    assert_eq!(app.status_of(&name).await, ServiceStatus::Provisioning);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_repository_renamed_after_creation_keeps_receiving_its_secrets_by_id(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    app.sim().inject_fault(Fault::new("/repos/*/*/actions/secrets/public-key", 503).times(100));
    let name = unique_name("renamed");
    app.create_service(&bob, &name).await;
    assert_eq!(
        app.settle(&app.reconciler(), &name).await,
        ServiceStatus::Failed,
        "stopped before the secrets"
    );
    app.sim().clear_faults();

    // Someone renames the repository and another repository takes over the old name.
    let moved = format!("{name}-moved");
    let (status, _) =
        github(&app, Method::PATCH, &format!("/repos/acme/{name}"), json!({"name": moved})).await;
    assert_eq!(status, StatusCode::OK);
    app.sim().create_repo("acme", &name);

    assert_eq!(retry_via_form(&app, &bob, &name).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Ready);
    let secrets = app.sim().secrets("acme", &moved);
    assert!(
        secrets.contains_key("GHA_DEFAULT_ROLE_ARN"),
        "the renamed repository got its secrets: {secrets:?}"
    );
    assert!(app.sim().secrets("acme", &name).is_empty(), "the repository now at the old name got nothing");
    // Its default branch is the one protected, not the newcomer's.
    assert_eq!(default_branch_ruleset(&app, &moved).await["enforcement"], "active");
    let (status, newcomers) =
        github(&app, Method::GET, &format!("/repos/acme/{name}/rulesets"), json!({})).await;
    assert_eq!(
        (status, newcomers),
        (StatusCode::OK, json!([])),
        "the repository now at the old name got no ruleset"
    );
    // The trust is pinned on the ids, so the renamed repository's build (its `sub` carries the new
    // name) assumed the role and pushed.
    assert_eq!(first_build(&app, &name).await, ("done".to_owned(), None));
}

/// The first build step's status and error.
async fn first_build(app: &TestApp, name: &str) -> (String, Option<String>) {
    sqlx::query_as(
        "select st.status, st.error from step st join service s using (service_id)
         where s.name = $1 and st.step = 'first_build'",
    )
    .bind(name)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_repository_renamed_after_ready_keeps_a_green_next_build(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    let name = unique_name("later");
    app.create_service(&bob, &name).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Ready);
    assert_eq!(first_build(&app, &name).await, ("done".to_owned(), None));

    let moved = format!("{name}-renamed");
    let (status, _) =
        github(&app, Method::PATCH, &format!("/repos/acme/{name}"), json!({"name": moved})).await;
    assert_eq!(status, StatusCode::OK);
    // The next push's build of the renamed repository presents `repo:acme@1000/{moved}@ID:...`. A new
    // commit: the kept repository refuses a second image under the first build's `sha-` tag.
    let id = app.sim().push_commit("acme", &moved, "main")[0];
    let run = app.sim().wait_for_run("acme", &moved, id, Duration::from_secs(30)).await.unwrap();
    let log = app.sim().job_log("acme", &moved, id).unwrap_or_default();
    assert_eq!(run.conclusion.as_deref(), Some("success"), "{log}");
    assert!(log.contains("Authenticated as assumedRoleId"), "{log}");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_later_repository_from_the_same_template_outside_the_window_is_not_deleted(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    // Generation refused: the service fails at the repository step without recording an id.
    app.sim().inject_fault(Fault::new("/repos/acme/service-template/generate", 403).times(1));
    let name = unique_name("lookalike");
    app.create_service(&bob, &name).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Failed);
    assert!(app.sim().repo("acme", &name).is_none());

    // Later, someone generates a repository with the same name from the same template.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let body = json!({"owner": "acme", "name": name, "private": true});
    let (status, _) = github(&app, Method::POST, "/repos/acme/service-template/generate", body).await;
    assert_eq!(status, StatusCode::CREATED);

    let response = app.delete_via_api(&bob, &name).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Deleted);
    assert!(app.sim().repo("acme", &name).is_some(), "the later repository is someone else's and stays");
    let outcome: Value = sqlx::query_scalar(
        "select st.outputs from step st join service s using (service_id)
         where s.name = $1 and st.step = 'delete_github_repository'",
    )
    .bind(&name)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(outcome["outcome"], "left alone: not created by Shipyard for this service", "{outcome}");
}

/// Issue 16 (N2): a member who generates a repository with a failed service's name from the same
/// template, then presses Retry, must not get the service's identity. The failed generate was an
/// hour ago; the adoption window is anchored to that first request, so the newcomer is refused.
#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_same_template_repository_generated_before_a_retry_is_refused_not_adopted(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    app.sim().inject_fault(Fault::new("/repos/acme/service-template/generate", 403).times(1));
    let name = unique_name("squat");
    app.create_service(&bob, &name).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Failed);
    sqlx::query(
        "update step set first_started_at = first_started_at - interval '1 hour',
                started_at = started_at - interval '1 hour', finished_at = finished_at - interval '1 hour'
         from service s where s.service_id = step.service_id and s.name = $1",
    )
    .bind(&name)
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query("update service set created_at = created_at - interval '1 hour' where name = $1")
        .bind(&name)
        .execute(&app.db)
        .await
        .unwrap();

    // Someone else generates the name from the same template, then the service is retried.
    let body = json!({"owner": "acme", "name": name, "private": true});
    let (status, created) = github(&app, Method::POST, "/repos/acme/service-template/generate", body).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(retry_via_form(&app, &bob, &name).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Failed);

    let (_, step, message) = service_failure(&app, &name).await;
    assert_eq!(step, "github_repository");
    assert!(message.contains(&format!("acme/{name} already exists")), "{message}");
    let recorded: Value = sqlx::query_scalar(
        "select st.outputs from step st join service s using (service_id) where s.name = $1 and st.step = 'github_repository'",
    )
    .bind(&name)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(recorded.get("id").is_none(), "the foreign repository's id was not recorded: {recorded}");
    let repo = app.sim().repo("acme", &name).unwrap();
    assert_eq!(repo.id, created["id"].as_u64().unwrap());
    assert!(app.sim().secrets("acme", &name).is_empty(), "the foreign repository got no secrets");
    assert!(app.sim().hooks("acme", &name).is_empty(), "nor a webhook");
    assert!(app.aws.get_role(&format!("gha.acme.{name}.dev.main")).await.unwrap().is_none(), "nor a role");
}

/// Before the service's generate step has started, any repository with its name is someone
/// else's, even one generated from the same template moments before the request.
#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_same_template_repository_made_just_before_the_request_fails_preflight(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    let name = unique_name("early");
    let body = json!({"owner": "acme", "name": name, "private": true});
    let (status, _) = github(&app, Method::POST, "/repos/acme/service-template/generate", body).await;
    assert_eq!(status, StatusCode::CREATED);
    app.create_service(&bob, &name).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Failed);
    let (_, step, message) = service_failure(&app, &name).await;
    assert_eq!(step, "preflight");
    assert!(message.contains(&format!("acme/{name} already exists")), "{message}");
    assert_eq!(app.sim().request_count("POST", "/repos/*/*/generate"), 1, "only the other person's");
}
