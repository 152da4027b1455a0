//! Webhook deliveries look as GitHub's do: the headers GitHub documents for each event, a signature a
//! receiver can verify with the hook's secret, and payloads that validate against the schemas of
//! `@octokit/openapi-webhooks` (`openapi/webhooks.json`, made by `scripts/openapi-schemas.sh`).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use common::{BOT, api, generate, start_with};
use hmac::{Hmac, Mac as _};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A local receiver that keeps every delivery; its URL.
async fn receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let keep = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let keep = keep.clone();
            async move { keep.lock().unwrap().push((headers, body)) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

async fn wait_for(received: &Received, count: usize) -> Vec<(HeaderMap, Bytes)> {
    for _ in 0..200 {
        if received.lock().unwrap().len() >= count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    received.lock().unwrap().clone()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

/// The schema for a payload component of webhooks.json, with its documented headers.
fn schema(name: &str) -> (Value, Vec<String>) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/webhooks.json");
    let document: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let headers = serde_json::from_value(document["headers"][name].clone()).unwrap();
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "allOf": [{"$ref": format!("#/components/schemas/{name}")}],
        "components": document["components"],
    });
    (schema, headers)
}

fn schema_errors(name: &str, payload: &Value) -> Vec<String> {
    let (schema, _) = schema(name);
    let validator = jsonschema::draft202012::new(&schema).expect("schema compiles");
    validator.iter_errors(payload).take(40).map(|e| format!("{name} at {}: {e}", e.instance_path())).collect()
}

#[tokio::test]
async fn a_hook_hears_its_ping_and_each_run_transition_signed_and_as_github_describes_them() {
    let sim = start_with(|c| c.run_duration = Duration::from_millis(600)).await;
    let (url, received) = receiver().await;
    assert_eq!(generate(&sim, BOT, "service-template", "svc").await.status(), 201);
    let body = json!({"config": {"url": url, "content_type": "json", "secret": "s3cret"}, "events": ["workflow_run"]});
    let hook = api(Method::POST, &sim, "/repos/acme/svc/hooks", BOT).json(&body).send().await.unwrap();
    assert_eq!(hook.status(), 201);
    let hook: Value = hook.json().await.unwrap();

    // The content lands and its push run goes requested → in_progress → completed.
    let deliveries = wait_for(&received, 4).await;
    let events: Vec<(String, String)> = deliveries
        .iter()
        .map(|(h, b)| {
            let payload: Value = serde_json::from_slice(b).unwrap();
            (
                header(h, "x-github-event").to_string(),
                payload["action"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("ping", ""),
        ("workflow_run", "requested"),
        ("workflow_run", "in_progress"),
        ("workflow_run", "completed"),
    ]
    .iter()
    .map(|(e, a)| (e.to_string(), a.to_string()))
    .collect();
    assert_eq!(events, expected);

    let mut failures = Vec::new();
    let mut ids = std::collections::BTreeSet::new();
    for (headers, body) in &deliveries {
        let payload: Value = serde_json::from_slice(body).unwrap();
        let name = match payload["action"].as_str() {
            None => "webhook-ping".to_string(),
            Some(action) => format!("webhook-workflow-run-{}", action.replace('_', "-")),
        };
        failures.extend(schema_errors(&name, &payload));
        for required in schema(&name).1 {
            if headers.get(&required).is_none() {
                failures.push(format!("{name}: no {required} header"));
            }
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
        mac.update(body);
        let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(header(headers, "x-hub-signature-256"), signature, "{name} is signed with the secret");
        assert!(header(headers, "user-agent").starts_with("GitHub-Hookshot/"));
        assert_eq!(header(headers, "content-type"), "application/json");
        assert_eq!(header(headers, "x-github-hook-id"), hook["id"].to_string());
        assert_eq!(header(headers, "x-github-hook-installation-target-type"), "repository");
        assert!(uuid::Uuid::parse_str(header(headers, "x-github-delivery")).is_ok(), "a GUID per delivery");
        ids.insert(header(headers, "x-github-delivery").to_string());
    }
    assert_eq!(ids.len(), deliveries.len(), "every delivery has its own id");
    assert!(failures.is_empty(), "payloads that break the webhook schemas:\n{}", failures.join("\n"));
}

#[tokio::test]
async fn a_deleted_hook_hears_nothing_more() {
    let sim = start_with(|c| c.generate_delay = Duration::from_millis(400)).await;
    let (url, received) = receiver().await;
    assert_eq!(generate(&sim, BOT, "service-template", "svc").await.status(), 201);
    let body = json!({"config": {"url": url, "content_type": "json"}, "events": ["workflow_run"]});
    let hook: Value = api(Method::POST, &sim, "/repos/acme/svc/hooks", BOT)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let path = format!("/repos/acme/svc/hooks/{}", hook["id"]);
    assert_eq!(api(Method::DELETE, &sim, &path, BOT).send().await.unwrap().status(), 204);

    tokio::time::sleep(Duration::from_millis(800)).await;
    let events: Vec<String> =
        received.lock().unwrap().iter().map(|(h, _)| header(h, "x-github-event").to_string()).collect();
    assert!(events.iter().all(|e| e == "ping"), "only the ping reached it: {events:?}");
    assert!(
        received.lock().unwrap().iter().all(|(h, _)| h.get("x-hub-signature-256").is_none()),
        "no secret, no signature"
    );
}
