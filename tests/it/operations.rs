//! Health, readiness and start-up configuration errors.

use std::{net::SocketAddr, process::Command, time::Duration};

use crate::common::app::TestApp;
use reqwest::StatusCode;
use shipyard::web::AppState;
use sqlx::{PgPool, postgres::PgPoolOptions};
use tokio::{net::TcpListener, task::JoinHandle};

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn healthz_answers_ok(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let response = reqwest::get(app.at("/healthz")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("x-request-id"));
}

/// A TCP relay between Shipyard and Postgres that the test can cut, making the database unreachable.
async fn relay_to(target: SocketAddr) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((mut inbound, _)) = listener.accept().await {
            connections.spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    (addr, task)
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn readyz_is_503_while_the_database_is_unreachable(db: PgPool) {
    let options = db.connect_options();
    let target: SocketAddr = format!("127.0.0.1:{}", options.get_port()).parse().unwrap();
    let (relay, relay_task) = relay_to(target).await;
    let through_relay = PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(1))
        .connect_with((*options).clone().host("127.0.0.1").port(relay.port()))
        .await
        .unwrap();

    let app = TestApp::spawn(db.clone()).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state =
        AppState::new(through_relay.clone(), app.config.clone(), app.github_client(), app.aws.clone())
            .unwrap();
    tokio::spawn(async move { axum::serve(listener, shipyard::web::router(state)).await.unwrap() });

    assert_eq!(reqwest::get(format!("{url}/readyz")).await.unwrap().status(), StatusCode::OK);

    // Cut the database off: stop accepting and drop the live connections.
    relay_task.abort();
    let _ = relay_task.await;
    through_relay.close().await;
    let response = reqwest::get(format!("{url}/readyz")).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reqwest::get(format!("{url}/healthz")).await.unwrap().status(), StatusCode::OK, "still alive");
}

pub(crate) fn run_shipyard_with(vars: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_shipyard"));
    command.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    // Run from a folder without a `.env`, so only these variables count.
    command.current_dir(std::env::temp_dir());
    for (k, v) in vars {
        command.env(k, v);
    }
    command.output().expect("the shipyard binary runs")
}

pub(crate) const VALID: [(&str, &str); 7] = [
    ("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none"),
    ("GITHUB_ORG", "acme"),
    ("GITHUB_TOKEN", "ghp_do_not_print_me"),
    ("GITHUB_OAUTH_CLIENT_ID", "client"),
    ("GITHUB_OAUTH_CLIENT_SECRET", "oauth_secret_do_not_print_me"),
    ("SHIPYARD_TEMPLATES", "acme/service-template"),
    ("SHIPYARD_PERMISSIONS_BOUNDARY", "arn:aws:iam::123456789012:policy/shipyard-boundary"),
];

#[test]
fn a_malformed_variable_stops_start_up_naming_it() {
    for (var, value) in [
        ("LISTEN_ADDR", "not-an-address"),
        ("PUBLIC_URL", "localhost"),
        ("LOG_FORMAT", "yaml"),
        ("SHIPYARD_REQUIRED_APPROVALS", "many"),
        ("SHIPYARD_REQUIRED_APPROVALS", "11"),
    ] {
        let mut vars = VALID.to_vec();
        vars.push((var, value));
        let output = run_shipyard_with(&vars);
        assert_eq!(output.status.code(), Some(2), "{var}={value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.starts_with(&format!("configuration error: {var} ")), "{stderr}");
        assert!(!stderr.contains("do_not_print_me"));
    }
}

#[test]
fn a_missing_variable_stops_start_up_naming_it() {
    let vars: Vec<_> = VALID.iter().copied().filter(|(k, _)| *k != "GITHUB_OAUTH_CLIENT_ID").collect();
    let output = run_shipyard_with(&vars);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        "configuration error: GITHUB_OAUTH_CLIENT_ID is not set"
    );
}

#[test]
fn an_unreachable_database_stops_start_up_without_printing_secrets() {
    let output = run_shipyard_with(&VALID);
    assert!(!output.status.success());
    let all =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(all.contains("connecting to the database"), "{all}");
    assert!(!all.contains("do_not_print_me"), "{all}");
}
