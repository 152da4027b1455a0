//! Operations: `GET /metrics` (requests by route, services by status, reconciler lag, step
//! failures and durations) and JSON logs with the request id.
//!
//! The metrics recorder is one per process, so the counters here add up across the tests of this
//! file: each test reads what it changed (before and after), on series no other test touches.

use shipyard::domain::ServiceStatus;

use std::{collections::BTreeMap, time::Duration};

use crate::common::app::{TestApp, unique_name};
use crate::common::fixtures::service_id;
use reqwest::{Client, StatusCode};
use serde_json::Value;
use sqlx::PgPool;
use tokio::io::AsyncReadExt;

type Db = PgPool;

const BOB: &str = "ghp_sandbox_bob";

async fn scrape(app: &TestApp) -> String {
    let response = reqwest::get(app.at("/metrics")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    response.text().await.unwrap()
}

/// The value of the series `name` whose labels include all of `labels`, if it is there.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (series_name, rest) = series.split_once('{').unwrap_or((series, "}"));
        if series_name != name {
            return None;
        }
        let found: BTreeMap<&str, &str> = rest
            .trim_end_matches('}')
            .split(',')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k, v.trim_matches('"')))
            .collect();
        labels.iter().all(|(k, v)| found.get(k) == Some(v)).then(|| value.parse().unwrap())
    })
}

fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    sample(text, name, labels).unwrap_or(0.0)
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn requests_are_counted_and_timed_by_matched_route_and_status(db: Db) {
    let app = TestApp::spawn(db).await;
    let by_route = [("method", "GET"), ("route", "/api/v1/services/{name}"), ("status", "404")];
    let unmatched = [("method", "GET"), ("route", "unmatched"), ("status", "404")];
    let timed = [("method", "GET"), ("route", "/api/v1/services/{name}")];
    let before = scrape(&app).await;

    for name in ["nothing-one", "nothing-two"] {
        let response =
            Client::new().get(app.at(&format!("/api/v1/services/{name}"))).bearer_auth(BOB).send().await;
        assert_eq!(response.unwrap().status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(reqwest::get(app.at("/no/such/page-xyz")).await.unwrap().status(), StatusCode::NOT_FOUND);

    let after = scrape(&app).await;
    let requests = "shipyard_http_requests_total";
    assert_eq!(value(&after, requests, &by_route) - value(&before, requests, &by_route), 2.0, "{after}");
    assert_eq!(value(&after, requests, &unmatched) - value(&before, requests, &unmatched), 1.0);
    let count = "shipyard_http_request_duration_seconds_count";
    assert_eq!(value(&after, count, &timed) - value(&before, count, &timed), 2.0);
    let bucket = [("route", "/api/v1/services/{name}"), ("le", "+Inf")];
    assert!(value(&after, "shipyard_http_request_duration_seconds_bucket", &bucket) >= 2.0);
    assert!(!after.contains("nothing-one") && !after.contains("page-xyz"), "raw paths never become labels");
    assert!(after.contains("# TYPE shipyard_http_requests_total counter"));
    assert!(after.contains("# TYPE shipyard_http_request_duration_seconds histogram"));
}

/// Inserts a service made by bob with `status`, last touched `idle_secs` ago.
async fn insert(app: &TestApp, name: &str, status: &str, idle_secs: i32) {
    sqlx::query(
        "insert into service (name, org, environment, visibility, template, default_branch, created_by, status,
                              updated_at)
         values ($1, 'acme', 'dev', 'private', 'acme/service-template', 'main',
                 (select user_id from app_user where login = 'bob'), $2, now() - make_interval(secs => $3))",
    )
    .bind(name)
    .bind(status)
    .bind(idle_secs)
    .execute(&app.db)
    .await
    .unwrap();
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn services_by_status_and_reconciler_lag_come_from_the_database(db: Db) {
    let app = TestApp::spawn(db).await;
    Client::new().get(app.at("/api/v1/services")).bearer_auth(BOB).send().await.unwrap(); // bob's user row
    let text = scrape(&app).await;
    assert_eq!(
        sample(&text, "shipyard_services", &[("status", "ready")]),
        Some(0.0),
        "every status, zero too"
    );
    assert_eq!(sample(&text, "shipyard_reconciler_lag_seconds", &[]), Some(0.0), "nothing waits");

    insert(&app, "ready-one", "ready", 0).await;
    insert(&app, "ready-two", "ready", 0).await;
    insert(&app, "broken", "failed", 0).await;
    insert(&app, "gone", "deleted", 0).await;
    insert(&app, "waiting", "provisioning", 120).await;
    // Leased by a live reconciler: being worked on, so not waiting (however old).
    sqlx::query(
        "insert into service (name, org, environment, visibility, template, default_branch, created_by, status,
                              updated_at, lease_token, lease_until)
         select 'in-hand', org, environment, visibility, template, default_branch, created_by, 'deleting',
                now() - interval '900 s', gen_random_uuid(), now() + interval '1 minute'
         from service where name = 'waiting'",
    )
    .execute(&app.db)
    .await
    .unwrap();

    let text = scrape(&app).await;
    let services = |status| sample(&text, "shipyard_services", &[("status", status)]);
    assert_eq!(
        [services("provisioning"), services("ready"), services("failed"), services("deleting")],
        [Some(1.0), Some(2.0), Some(1.0), Some(1.0)]
    );
    assert_eq!([services("delete_failed"), services("deleted")], [Some(0.0), Some(1.0)]);
    let lag = sample(&text, "shipyard_reconciler_lag_seconds", &[]).unwrap();
    assert!((120.0..600.0).contains(&lag), "the waiting service's age, not the leased one's: {lag}");
    assert!(text.contains("# TYPE shipyard_services gauge"));
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn the_reconciler_records_step_failures_and_how_long_settling_took(db: Db) {
    let app = TestApp::spawn(db).await;
    let failures = [("step", "preflight"), ("kind", "conflict")];
    let failed = [("outcome", "failed")];
    let deleted = [("outcome", "deleted")];
    let before = scrape(&app).await;

    // A name taken on GitHub stops the service in preflight, before anything is made.
    let name = unique_name("metrics");
    app.sim().create_repo("acme", &name);
    let body = format!(
        r#"{{"name": "{name}", "environment": "dev", "template": "acme/service-template", "team": "payments"}}"#
    );
    let response = Client::new()
        .post(app.at("/api/v1/services"))
        .bearer_auth(BOB)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let reconciler = app.reconciler();
    assert_eq!(app.settle(&reconciler, &name).await, ServiceStatus::Failed);

    // Then its deletion, as a delete request leaves it.
    let service_id = service_id(&app, &name).await;
    sqlx::query("update service set desired = 'absent', status = 'deleting' where service_id = $1")
        .bind(service_id)
        .execute(&app.db)
        .await
        .unwrap();
    shipyard::db::services::insert_steps(
        &app.db,
        service_id,
        &shipyard::provision::steps::service_steps(shipyard::provision::Phase::Delete),
    )
    .await
    .unwrap();
    assert_eq!(app.settle(&reconciler, &name).await, ServiceStatus::Deleted);

    let after = scrape(&app).await;
    let delta =
        |name: &str, labels: &[(&str, &str)]| value(&after, name, labels) - value(&before, name, labels);
    assert_eq!(delta("shipyard_step_failures_total", &failures), 1.0, "{after}");
    assert_eq!(delta("shipyard_provisioning_duration_seconds_count", &failed), 1.0);
    assert_eq!(delta("shipyard_deletion_duration_seconds_count", &deleted), 1.0);
    assert!(delta("shipyard_provisioning_duration_seconds_sum", &failed) > 0.0);
    assert!(after.contains("# TYPE shipyard_deletion_duration_seconds histogram"));
}

/// Starts the real binary with `LOG_FORMAT=json` against this test's database and github-sim.
fn spawn_binary(app: &TestApp, db: &PgPool, port: u16) -> tokio::process::Child {
    let options = db.connect_options();
    let database_url = format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().expect("sqlx::test names its database")
    );
    let public_url = format!("http://127.0.0.1:{port}");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_shipyard"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(std::env::temp_dir());
    for (k, v) in crate::common::app::test_vars(&public_url, &app.github.url()) {
        command.env(k, v);
    }
    command
        .env("DATABASE_URL", database_url)
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .env("AWS_ENDPOINT_URL", std::env::var("MOTO_URL").unwrap_or("http://127.0.0.1:5000".into()))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    command.spawn().expect("the shipyard binary starts")
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn json_logs_are_one_object_per_line_with_the_request_id_and_no_token(db: Db) {
    let app = TestApp::spawn(db.clone()).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = spawn_binary(&app, &db, port);
    let base = format!("http://127.0.0.1:{port}");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("{base}/healthz")).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "shipyard did not start in 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let response = Client::new()
        .get(format!("{base}/api/v1/services"))
        .bearer_auth(BOB)
        .header("x-request-id", "rid-json-logs-test")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // SIGTERM: a graceful stop flushes everything it logged.
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.expect("stops").unwrap();
    assert!(status.success(), "{status}");
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).await.unwrap();

    let lines: Vec<Value> = stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}"))
        })
        .collect();
    assert!(lines.iter().all(Value::is_object));
    let ours: Vec<&Value> = lines.iter().filter(|l| l.to_string().contains("rid-json-logs-test")).collect();
    let access = ours
        .iter()
        .find(|l| l["span"]["request_id"] == "rid-json-logs-test" && l["fields"]["status"] == 200)
        .unwrap_or_else(|| panic!("an access line with the request id: {stdout}"));
    assert_eq!(access["span"]["path"], "/api/v1/services");
    assert!(ours.iter().any(|l| l["fields"]["message"] == "bearer token verified with GitHub"), "{stdout}");
    assert!(!stdout.contains(BOB) && !stdout.contains("ghp_sandbox_shipyard_bot"), "no token is ever logged");
}
