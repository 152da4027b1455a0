//! The API as a contract: its OpenAPI description covers every route the router has under `/api/v1`
//! (paths and methods read from the router itself), says what the code says (statuses as enums,
//! problem codes per status, links from create), and every problem `type` is a page Shipyard serves.
//! That the description is valid OpenAPI 3.1 and that the server keeps to it is checked by
//! `scripts/api-contract.sh` (openapi-spec-validator and schemathesis) in `make test`.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::{Client, Method, StatusCode};
use serde_json::Value;
use shipyard::{domain::ServiceStatus, error::ProblemCode};
use sqlx::PgPool;

use crate::common::app::TestApp;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// The paths the router was built with: axum's `Debug` lists each route's path (it has no other
/// way to enumerate them), so a route added without a description cannot hide.
fn router_paths(app: &TestApp) -> BTreeSet<String> {
    let listing = app.router_debug();
    let mut paths = BTreeSet::new();
    for piece in listing.split('"') {
        if piece.starts_with("/api/v1") {
            paths.insert(piece.to_owned());
        }
    }
    paths
}

/// Which methods the router answers on a path: anything but 405 means a route took it. As bob (a
/// member, by his github-sim token), so no refusal of the caller comes before the routing's.
async fn routed_methods(app: &TestApp, path: &str) -> BTreeSet<String> {
    let concrete = path.replace("{name}", "contract-probe").replace("{role}", "probe");
    let mut routed = BTreeSet::new();
    for method in METHODS {
        let response = Client::new()
            .request(Method::from_bytes(method.as_bytes()).unwrap(), app.at(&concrete))
            .bearer_auth("ghp_sandbox_bob")
            .send()
            .await
            .unwrap();
        if response.status() != StatusCode::METHOD_NOT_ALLOWED {
            routed.insert(method.to_owned());
        }
    }
    routed
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn the_description_covers_every_api_route(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let response = Client::new().get(app.at("/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "the description needs no credential");
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");

    let described: BTreeMap<String, BTreeSet<String>> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, item)| {
            let methods = item.as_object().unwrap().keys().map(|m| m.to_uppercase());
            (path.clone(), methods.filter(|m| METHODS.contains(&m.as_str())).collect())
        })
        .collect();
    let routed_paths = router_paths(&app);
    assert!(routed_paths.len() >= 8, "the router's paths were read: {routed_paths:?}");
    let described_paths: BTreeSet<String> = described.keys().cloned().collect();
    assert_eq!(routed_paths, described_paths, "every path under /api/v1 is described, and only those");
    for (path, methods) in &described {
        assert_eq!(&routed_methods(&app, path).await, methods, "methods of {path}");
    }
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn the_description_says_what_the_code_says(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let doc: Value =
        Client::new().get(app.at("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    let schemas = &doc["components"]["schemas"];

    let statuses: Vec<&str> = ServiceStatus::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(schemas["ServiceStatus"]["enum"], serde_json::json!(statuses));
    assert!(schemas["StepStatus"]["enum"].as_array().is_some_and(|e| e.iter().any(|s| s == "failed")));
    assert!(
        schemas["StepName"]["enum"].as_array().is_some_and(|e| e.iter().any(|s| s == "github_repository"))
    );
    let codes: Vec<&str> = ProblemCode::all().map(ProblemCode::as_str).collect();
    assert_eq!(schemas["ProblemCode"]["enum"], serde_json::json!(codes));

    // Create links to what a client does next, each by the created service's name.
    let create = &doc["paths"]["/api/v1/services"]["post"];
    let links = &create["responses"]["202"]["links"];
    for (link, operation) in [
        ("get", "getService"),
        ("retry", "retryService"),
        ("roles", "listRoles"),
        ("delete", "deleteService"),
    ] {
        assert_eq!(links[link]["operationId"], operation, "{links}");
        assert_eq!(links[link]["parameters"]["name"], "$response.body#/name");
    }
    let operation_ids: BTreeSet<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values().filter_map(|op| op["operationId"].as_str()))
        .collect();
    for operation in ["getService", "retryService", "listRoles", "deleteService"] {
        assert!(operation_ids.contains(operation), "{operation} exists");
    }

    // Each problem answer lists the codes of its status, as problem+json.
    let problem = &create["responses"]["422"]["content"]["application/problem+json"]["schema"];
    assert_eq!(problem["allOf"][1]["properties"]["code"]["enum"], serde_json::json!(["invalid"]));
    let unauthorized = &doc["paths"]["/api/v1/services/{name}"]["get"]["responses"]["401"];
    assert!(unauthorized["content"]["application/problem+json"].is_object(), "{unauthorized}");
    assert!(doc["paths"]["/api/v1/services/{name}"]["get"]["responses"]["404"].is_object());

    // And a refusal the server sends matches: its code is one the description lists for its status.
    let refused = Client::new().get(app.at("/api/v1/services/nope")).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let body: Value = refused.json().await.unwrap();
    let listed = &unauthorized["content"]["application/problem+json"]["schema"]["allOf"][1]["properties"]["code"]
        ["enum"];
    assert!(listed.as_array().unwrap().contains(&body["code"]), "{body} in {listed}");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn every_problem_code_has_a_page(db: PgPool) {
    let app = TestApp::spawn(db).await;
    // A problem the server sends points at this Shipyard, and the page is there for anyone.
    let refused = Client::new().get(app.at("/api/v1/services")).send().await.unwrap();
    let body: Value = refused.json().await.unwrap();
    let public = app.config.public_url.as_str().trim_end_matches('/');
    assert_eq!(body["type"], format!("{public}/problems/unauthorized"), "{body}");

    for code in ProblemCode::all() {
        let url = format!("{public}/problems/{}", code.as_str());
        let page = Client::new().get(&url).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK, "{url}");
        assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let html = page.text().await.unwrap();
        let document = scraper::Html::parse_document(&html);
        let h1 = document.select(&scraper::Selector::parse("h1").unwrap()).next().unwrap();
        assert_eq!(h1.text().collect::<String>(), code.title(), "{url}");
        assert!(html.contains(&format!("<code>{}</code>", code.as_str())), "{url} names its code");
        assert!(html.contains("What to do"), "{url} says what to do");
    }
    let unknown = Client::new().get(app.at("/problems/made_up")).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}
