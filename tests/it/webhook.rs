//! `workflow_run` webhooks: with `SHIPYARD_WEBHOOK_URL` set, each repository gets a hook whose
//! deliveries wake the parked first build; forged and repeated deliveries change nothing; a kept
//! (archived) repository loses its hook on delete.

use std::time::Duration;

use github_sim::SimConfig;
use hmac::{Hmac, Mac as _};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sha2::Sha256;
use shipyard::{
    config::{WEBHOOK_PATH, WebhookConfig},
    domain::ServiceStatus,
    github::webhooks::repository_secret,
};
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::common::app::{TestApp, unique_name};

const BOT: &str = "ghp_sandbox_shipyard_bot";
const KEY: &str = "a-test-webhook-key-of-at-least-32-characters";

/// Shipyard with webhooks on (pointed at itself), and a sim whose runs take `run_duration` and whose
/// API shows a re-run at once (so every look after the first is one a delivery asked for).
async fn app_with_webhooks(db: PgPool, run_duration: Duration) -> TestApp {
    let sim = SimConfig { run_duration, rerun_visibility_lag: Duration::ZERO, ..SimConfig::default() };
    TestApp::spawn_with(db, sim, |config| {
        let url = format!("{}{WEBHOOK_PATH}", config.public_url.as_str().trim_end_matches('/'));
        config.webhooks = Some(WebhookConfig { url: url.parse().unwrap(), key: SecretString::from(KEY) });
    })
    .await
}

/// The service's id, its repository's id, and its first build's (status, wake_at, looks).
async fn first_build(app: &TestApp, name: &str) -> (Uuid, i64, String, Option<OffsetDateTime>, i64) {
    let row: (Uuid, Option<i64>, String, Option<OffsetDateTime>, Option<i64>) = sqlx::query_as(
        "select s.service_id, (r.outputs->>'id')::bigint, b.status, b.wake_at, (b.outputs->>'looks')::bigint \
         from service s join step r on r.service_id = s.service_id and r.step = 'github_repository' \
         join step b on b.service_id = s.service_id and b.step = 'first_build' where s.name = $1",
    )
    .bind(name)
    .fetch_one(&app.db)
    .await
    .unwrap();
    (row.0, row.1.unwrap_or_default(), row.2, row.3, row.4.unwrap_or_default())
}

/// A service provisioned until its first build is parked (the sim's run takes minutes).
async fn parked_service(app: &TestApp) -> String {
    let browser = app.signed_in("bob").await;
    let name = unique_name("hooked");
    app.create_service(&browser, &name).await;
    app.reconciler().run_until_idle().await.unwrap();
    let (_, _, status, wake_at, _) = first_build(app, &name).await;
    assert_eq!(status, "waiting", "the first build is parked");
    assert!(
        wake_at.unwrap() > OffsetDateTime::now_utc() + Duration::from_secs(60),
        "for the slow safety net"
    );
    name
}

/// The secret Shipyard gives the hook of the repository with this id.
fn secret_of(repository_id: i64) -> SecretString {
    repository_secret(&SecretString::from(KEY), repository_id as u64)
}

fn sign(secret: &SecretString, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// POSTs a `workflow_run` delivery as GitHub would; `signature` None sends none.
async fn deliver(
    app: &TestApp,
    repository_id: i64,
    delivery: &str,
    signature: Option<&str>,
    body: &[u8],
) -> StatusCode {
    let mut request = reqwest::Client::new()
        .post(app.at(WEBHOOK_PATH))
        .header("content-type", "application/json")
        .header("user-agent", "GitHub-Hookshot/abc1234")
        .header("x-github-event", "workflow_run")
        .header("x-github-delivery", delivery)
        .header("x-github-hook-id", "1")
        .header("x-github-hook-installation-target-type", "repository")
        .header("x-github-hook-installation-target-id", repository_id.to_string());
    if let Some(signature) = signature {
        request = request.header("x-hub-signature-256", signature);
    }
    request.body(body.to_vec()).send().await.unwrap().status()
}

/// A run id far from github-sim's own, whose deliveries of the real run are recorded too.
const RUN: u64 = 9_000_000_001;

/// The delivery of `action` by attempt `attempt` of run `run_id` in the repository with this id.
fn run_event(repository_id: i64, run_id: u64, attempt: u32, action: &str) -> Vec<u8> {
    json!({
        "action": action,
        "workflow_run": {"id": run_id, "run_attempt": attempt},
        "repository": {"id": repository_id},
    })
    .to_string()
    .into_bytes()
}

/// The delivery of run `run_id`'s first attempt finishing, in the repository with this id.
fn completed(repository_id: i64, run_id: u64) -> Vec<u8> {
    run_event(repository_id, run_id, 1, "completed")
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_delivery_that_does_not_verify_is_refused_and_wakes_nothing(db: PgPool) {
    let app = app_with_webhooks(db, Duration::from_secs(600)).await;
    let name = parked_service(&app).await;
    let (_, repository_id, _, parked_until, _) = first_build(&app, &name).await;
    let body = completed(repository_id, RUN);
    let someone_elses =
        repository_secret(&SecretString::from("another-key-another-key-another-key"), repository_id as u64);

    let mut forged = Vec::new();
    for (what, signature) in [
        ("no signature", None),
        ("a signature of other bytes", Some(sign(&secret_of(repository_id), b"{}"))),
        ("a signature with another key", Some(sign(&someone_elses, &body))),
        ("a malformed signature", Some("sha256=zz".to_owned())),
    ] {
        let delivery = Uuid::new_v4().to_string();
        let status = deliver(&app, repository_id, &delivery, signature.as_deref(), &body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
        forged.push(delivery);
    }
    forged.push("unknown-repository".to_owned());
    // Signed as GitHub would for that repository, had it a hook with Shipyard's secret.
    let good = sign(&secret_of(repository_id + 1_000_000), &body);
    assert_eq!(
        deliver(&app, repository_id + 1_000_000, "unknown-repository", Some(&good), &body).await,
        StatusCode::UNAUTHORIZED,
        "a repository Shipyard does not know"
    );

    let (_, _, status, wake_at, _) = first_build(&app, &name).await;
    assert_eq!((status.as_str(), wake_at), ("waiting", parked_until), "the first build is still parked");
    let recorded: i64 =
        sqlx::query_scalar("select count(*) from webhook_delivery where delivery_id = any($1)")
            .bind(&forged)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(recorded, 0, "none of the refused deliveries was recorded");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_delivery_wakes_the_first_build_once_and_its_redelivery_does_nothing(db: PgPool) {
    let app = app_with_webhooks(db, Duration::from_secs(600)).await;
    let name = parked_service(&app).await;
    let (_, repository_id, _, _, looks) = first_build(&app, &name).await;
    let body = completed(repository_id, RUN);
    let signature = sign(&secret_of(repository_id), &body);
    let delivery = Uuid::new_v4().to_string();

    assert_eq!(deliver(&app, repository_id, &delivery, Some(&signature), &body).await, StatusCode::OK);
    let (_, _, _, woken_at, _) = first_build(&app, &name).await;
    assert!(woken_at.unwrap() <= OffsetDateTime::now_utc(), "the first build is due now");
    // Woken, it looks once (the run is still going) and parks again.
    app.reconciler().run_until_idle().await.unwrap();
    let (_, _, status, parked_until, looks_after) = first_build(&app, &name).await;
    assert_eq!((status.as_str(), looks_after), ("waiting", looks + 1));

    assert_eq!(deliver(&app, repository_id, &delivery, Some(&signature), &body).await, StatusCode::OK);
    let (_, _, status, wake_at, _) = first_build(&app, &name).await;
    assert_eq!((status.as_str(), wake_at), ("waiting", parked_until), "the redelivery woke nothing");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_captured_delivery_re_posted_under_a_new_delivery_id_wakes_nothing(db: PgPool) {
    let app = app_with_webhooks(db, Duration::from_secs(600)).await;
    let name = parked_service(&app).await;
    let (_, repository_id, _, _, looks) = first_build(&app, &name).await;
    let body = completed(repository_id, RUN);
    let signature = sign(&secret_of(repository_id), &body);
    assert_eq!(
        deliver(&app, repository_id, &Uuid::new_v4().to_string(), Some(&signature), &body).await,
        StatusCode::OK
    );
    app.reconciler().run_until_idle().await.unwrap();
    let (_, _, status, parked_until, looks_after) = first_build(&app, &name).await;
    assert_eq!((status.as_str(), looks_after), ("waiting", looks + 1), "the delivery woke one look");

    // The same signed body (copied from "Recent deliveries"), under delivery ids of the replayer's choosing.
    for _ in 0..3 {
        let replay = Uuid::new_v4().to_string();
        assert_eq!(deliver(&app, repository_id, &replay, Some(&signature), &body).await, StatusCode::OK);
    }
    let (_, _, status, wake_at, _) = first_build(&app, &name).await;
    assert_eq!((status.as_str(), wake_at), ("waiting", parked_until), "the replays woke nothing");
    let recorded: i64 = sqlx::query_scalar("select count(*) from webhook_delivery where run_id = $1")
        .bind(RUN as i64)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(recorded, 1, "only the first delivery of that run event was acted on");

    // A re-run is a new attempt of the same run: its end is news, and wakes the build.
    let rerun = run_event(repository_id, RUN, 2, "completed");
    let rerun_signature = sign(&secret_of(repository_id), &rerun);
    let delivery = Uuid::new_v4().to_string();
    assert_eq!(deliver(&app, repository_id, &delivery, Some(&rerun_signature), &rerun).await, StatusCode::OK);
    let (_, _, _, woken_at, _) = first_build(&app, &name).await;
    assert!(woken_at.unwrap() <= OffsetDateTime::now_utc(), "the second attempt's end woke the build");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_delivery_that_lands_while_the_build_is_being_looked_at_is_not_lost(db: PgPool) {
    let app = app_with_webhooks(db, Duration::from_secs(600)).await;
    let name = parked_service(&app).await;
    let (_, repository_id, _, _, looks) = first_build(&app, &name).await;
    let body = completed(repository_id, RUN);
    let signature = sign(&secret_of(repository_id), &body);
    assert_eq!(
        deliver(&app, repository_id, &Uuid::new_v4().to_string(), Some(&signature), &body).await,
        StatusCode::OK
    );
    // The woken look takes a while (GitHub is slow today); a second run finishes during it.
    let second = completed(repository_id, RUN + 1);
    let second_signature = sign(&secret_of(repository_id), &second);
    app.sim().set_latency(Some("GET"), "/repos/*/*/actions/runs/**", Duration::from_millis(1500));
    let pass = tokio::spawn({
        let reconciler = app.reconciler();
        async move { reconciler.run_until_idle().await.unwrap() }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while first_build(&app, &name).await.2 != "running" {
        assert!(tokio::time::Instant::now() < deadline, "the first build never started its look");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        deliver(&app, repository_id, &Uuid::new_v4().to_string(), Some(&second_signature), &second).await,
        StatusCode::OK
    );
    pass.await.unwrap();
    let (_, _, status, _, looks_after) = first_build(&app, &name).await;
    // The run the sim has is still going, so each look parks; the second delivery asked for one more.
    assert_eq!(
        (status.as_str(), looks_after),
        ("waiting", looks + 2),
        "the delivery during the look was lost"
    );
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn delivery_records_go_after_a_week_and_a_redelivery_within_it_still_does_nothing(db: PgPool) {
    let app = app_with_webhooks(db, Duration::from_secs(600)).await;
    let name = parked_service(&app).await;
    let (_, repository_id, _, _, _) = first_build(&app, &name).await;
    // Two runs' ends, delivered a few days apart.
    let (body, old_body) = (completed(repository_id, RUN), completed(repository_id, RUN + 1));
    let signature = sign(&secret_of(repository_id), &body);
    let (recent, old) = (Uuid::new_v4().to_string(), Uuid::new_v4().to_string());
    assert_eq!(deliver(&app, repository_id, &recent, Some(&signature), &body).await, StatusCode::OK);
    let old_signature = sign(&secret_of(repository_id), &old_body);
    assert_eq!(deliver(&app, repository_id, &old, Some(&old_signature), &old_body).await, StatusCode::OK);
    for (delivery, age) in [(&old, "8 days"), (&recent, "6 days")] {
        sqlx::query("update webhook_delivery set received_at = now() - $2::interval where delivery_id = $1")
            .bind(delivery)
            .bind(age)
            .execute(&app.db)
            .await
            .unwrap();
    }

    assert_eq!(shipyard::db::webhooks::delete_old_deliveries(&app.db).await.unwrap(), 1);
    let kept: Vec<String> =
        sqlx::query_scalar("select delivery_id from webhook_delivery").fetch_all(&app.db).await.unwrap();
    // (github-sim's own deliveries of the run's progress are recorded too.)
    assert!(kept.contains(&recent) && !kept.contains(&old), "{kept:?}");
    app.reconciler().run_until_idle().await.unwrap();
    let (_, _, status, parked_until, _) = first_build(&app, &name).await;
    assert_eq!(deliver(&app, repository_id, &recent, Some(&signature), &body).await, StatusCode::OK);
    let (_, _, _, wake_at, _) = first_build(&app, &name).await;
    assert_eq!((status.as_str(), wake_at), ("waiting", parked_until), "the redelivery woke nothing");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn with_webhooks_a_service_is_ready_as_soon_as_its_build_finishes(db: PgPool) {
    let app = app_with_webhooks(db, Duration::from_secs(3)).await;
    let browser = app.signed_in("bob").await;
    let name = unique_name("hooked");
    app.create_service(&browser, &name).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.reconciler().run(async move {
        let _ = stopped.await;
    }));
    // Safety polls come every two minutes: only the webhook can make it ready this soon.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(45);
    while app.status_of(&name).await.is_in_progress() {
        assert!(tokio::time::Instant::now() < deadline, "{name} is not ready after 45 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop.send(());
    running.await.unwrap().unwrap();
    assert_eq!(app.status_of(&name).await, ServiceStatus::Ready);

    let (_, _, status, _, looks) = first_build(&app, &name).await;
    assert_eq!(status, "done");
    // The start; the initial run (still going then) announced failed, so re-run; one look to see the
    // re-run's attempt; its announced end. Polling every 20..200 ms would have looked dozens of times.
    assert!(looks <= 4, "the build was looked at {looks} times");
    let hooks: Value = app.github_client_json(&format!("/repos/acme/{name}/hooks")).await;
    assert_eq!(hooks.as_array().map(Vec::len), Some(1), "one hook: {hooks}");
    assert_eq!(hooks[0]["events"], json!(["workflow_run"]));
    assert_eq!(hooks[0]["config"]["url"], app.at(WEBHOOK_PATH));
    assert_eq!(hooks[0]["config"]["content_type"], "json");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn deleting_a_service_that_keeps_its_code_removes_the_hook(db: PgPool) {
    let app = app_with_webhooks(db, Duration::ZERO).await;
    let browser = app.signed_in("bob").await;
    let name = unique_name("hooked");
    app.create_service(&browser, &name).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Ready);
    let path = format!("/repos/acme/{name}/hooks");
    assert_eq!(app.github_client_json(&path).await.as_array().map(Vec::len), Some(1));

    let token = app.csrf_token(&browser).await;
    let response = browser
        .post(app.at(&format!("/services/{name}/delete")))
        .form(&[("csrf_token", token.as_str()), ("confirm_name", name.as_str()), ("keep_repository", "on")])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Deleted);

    assert!(app.sim().repo("acme", &name).is_some_and(|r| r.archived), "the code is kept, archived");
    assert_eq!(app.github_client_json(&path).await, json!([]), "and it has no hook any more");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn the_hook_is_signed_with_its_repository_s_secret_and_an_adopted_hook_gets_it(db: PgPool) {
    let app = app_with_webhooks(db, Duration::from_secs(600)).await;
    let name = parked_service(&app).await;
    let (_, repository_id, _, _, _) = first_build(&app, &name).await;
    let secret_on_github = || app.sim().hooks("acme", &name)[0].secret.clone();
    // Derived from what every delivery says (its target id), so it is checked before any SQL.
    assert_eq!(secret_on_github().as_deref(), Some(secret_of(repository_id).expose_secret()));

    // A hook made under the old derivation (or edited by hand) is adopted by its URL and re-keyed.
    let hooks = app.github_client_json(&format!("/repos/acme/{name}/hooks")).await;
    let hook_id = hooks[0]["id"].as_u64().unwrap();
    let patched = reqwest::Client::new()
        .patch(format!("{}/repos/acme/{name}/hooks/{hook_id}", app.github.url()))
        .bearer_auth(BOT)
        .header("user-agent", "shipyard-tests")
        .json(&json!({"config": {"url": app.at(WEBHOOK_PATH), "content_type": "json", "secret": "old"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    assert_eq!(secret_on_github().as_deref(), Some("old"));
    let ensured = app
        .github_client()
        .ensure_workflow_run_hook("acme", &name, &app.at(WEBHOOK_PATH), &secret_of(repository_id))
        .await
        .unwrap();
    assert_eq!(ensured, hook_id, "the same hook, not a second one");
    assert_eq!(app.sim().hooks("acme", &name).len(), 1);
    assert_eq!(secret_on_github().as_deref(), Some(secret_of(repository_id).expose_secret()));
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_signed_delivery_replayed_under_another_repository_s_id_wakes_nothing(db: PgPool) {
    let app = app_with_webhooks(db, Duration::from_secs(600)).await;
    let name = parked_service(&app).await;
    let (_, repository_id, _, parked_until, _) = first_build(&app, &name).await;
    // A body that names another repository is refused, even signed with the header's repository's secret.
    let body = completed(repository_id + 7, RUN);
    let signature = sign(&secret_of(repository_id), &body);
    let status = deliver(&app, repository_id, &Uuid::new_v4().to_string(), Some(&signature), &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let missing = json!({"action": "completed", "workflow_run": {"id": 1}}).to_string().into_bytes();
    let signature = sign(&secret_of(repository_id), &missing);
    let status = deliver(&app, repository_id, &Uuid::new_v4().to_string(), Some(&signature), &missing).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a body without its repository");
    let (_, _, status, wake_at, _) = first_build(&app, &name).await;
    assert_eq!((status.as_str(), wake_at), ("waiting", parked_until), "nothing was woken");
}

impl TestApp {
    /// `GET path` at github-sim with the server's token.
    async fn github_client_json(&self, path: &str) -> Value {
        reqwest::Client::new()
            .get(format!("{}{path}", self.github.url()))
            .bearer_auth(BOT)
            .header("user-agent", "shipyard-tests")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}
