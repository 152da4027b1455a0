//! Fault injection, latency and request counting, in-process and over `/_sim/` HTTP routes.

mod common;

use std::time::{Duration, Instant};

use common::{BOT, api, generate, start};
use github_sim::Fault;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn a_counted_fault_with_retry_after_hits_n_times_without_side_effects_then_clears() {
    let sim = start().await;
    let body = json!({"message": "You have exceeded a secondary rate limit.", "documentation_url": "https://docs.github.com/rest", "status": "403"});
    sim.sim().inject_fault(Fault {
        method: Some("POST".into()),
        path_pattern: "/repos/*/*/generate".into(),
        status: 403,
        body: body.clone(),
        retry_after: Some(7),
        count: Some(2),
    });
    for _ in 0..2 {
        let response = generate(&sim, BOT, "service-template", "payments").await;
        assert_eq!(response.status(), 403);
        assert_eq!(response.headers()["retry-after"], "7");
        assert_eq!(response.json::<Value>().await.unwrap(), body);
        assert!(sim.sim().repo("acme", "payments").is_none(), "a fault has no side effect");
    }
    assert_eq!(
        sim.sim().request_count("POST", "/repos/*/*/generate"),
        0,
        "faulted requests never reached GitHub"
    );
    assert_eq!(generate(&sim, BOT, "service-template", "payments").await.status(), 201);
    assert_eq!(sim.sim().request_count("POST", "/repos/*/*/generate"), 1);
    assert!(sim.sim().repo("acme", "payments").is_some());
}

#[tokio::test]
async fn an_uncounted_fault_lasts_until_cleared_and_matches_only_its_method_and_pattern() {
    let sim = start().await;
    generate(&sim, BOT, "service-template", "svc").await;
    sim.sim().inject_fault(Fault::new("/repos/*/*/actions/secrets/**", 502).method("PUT"));
    for _ in 0..3 {
        let put = api(Method::PUT, &sim, "/repos/acme/svc/actions/secrets/AWS_REGION", BOT)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 502);
        let body: Value = put.json().await.unwrap();
        assert_eq!(body["status"], "502", "a null body becomes a basic-error");
    }
    let get = api(Method::GET, &sim, "/repos/acme/svc/actions/secrets/public-key", BOT).send().await.unwrap();
    assert_eq!(get.status(), 200);
    sim.sim().clear_faults();
    let put = api(Method::PUT, &sim, "/repos/acme/svc/actions/secrets/AWS_REGION", BOT)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 422, "reaches the handler again");
}

#[tokio::test]
async fn latency_delays_matching_requests_only() {
    let sim = start().await;
    sim.sim().set_latency(Some("GET"), "/user", Duration::from_millis(150));
    let started = Instant::now();
    api(Method::GET, &sim, "/user", BOT).send().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
    sim.sim().clear_latency();
    let started = Instant::now();
    api(Method::GET, &sim, "/user", BOT).send().await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(150));
}

#[tokio::test]
async fn the_sim_http_routes_steer_and_inspect_a_running_sim() {
    let sim = start().await;
    let http = common::http();
    let base = sim.url();
    let fault = json!({"method": "GET", "path_pattern": "/user", "status": 500, "count": 1});
    assert_eq!(http.post(format!("{base}/_sim/faults")).json(&fault).send().await.unwrap().status(), 204);
    assert_eq!(api(Method::GET, &sim, "/user", BOT).send().await.unwrap().status(), 500);
    assert_eq!(api(Method::GET, &sim, "/user", BOT).send().await.unwrap().status(), 200);

    let created = http
        .post(format!("{base}/_sim/repos"))
        .json(&json!({"owner": "acme", "name": "legacy"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let repos: Vec<Value> =
        http.get(format!("{base}/_sim/repos/acme")).send().await.unwrap().json().await.unwrap();
    assert!(repos.iter().any(|r| r["name"] == "legacy"));

    generate(&sim, BOT, "service-template", "svc").await;
    let runs: Vec<Value> =
        http.get(format!("{base}/_sim/repos/acme/svc/runs")).send().await.unwrap().json().await.unwrap();
    assert_eq!(runs[0]["event"], "push");
    let secrets: Value =
        http.get(format!("{base}/_sim/repos/acme/svc/secrets")).send().await.unwrap().json().await.unwrap();
    assert_eq!(secrets, json!({}));
    let count: Value = http
        .get(format!("{base}/_sim/requests?method=GET&path_pattern=/user"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(count["count"], 1);
}

#[test]
fn the_shipped_seed_file_is_the_sandbox_seed() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/seed.sandbox.json");
    assert_eq!(github_sim::Seed::from_file(path).unwrap(), github_sim::Seed::sandbox());
}

#[tokio::test]
async fn a_204_fault_has_no_body() {
    let sim = start().await;
    generate(&sim, BOT, "service-template", "svc").await;
    sim.sim().inject_fault(Fault::new("/repos/acme/svc/actions/workflows/*/dispatches", 204).times(1));
    let response = api(Method::POST, &sim, "/repos/acme/svc/actions/workflows/build.yml/dispatches", BOT)
        .json(&json!({"ref": "main", "return_run_details": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(response.text().await.unwrap(), "");
    assert_eq!(sim.sim().runs("acme", "svc").len(), 1, "only the initial push run: the fault had no effect");
}
