//! Setup and read-back that several test files did the same way: pages and what is on them, a
//! service created through the API, rows read straight from the database, and resources made in
//! moto behind Shipyard's back (so that preflight finds the name taken).

use reqwest::{Client, Response, StatusCode};
use scraper::{Html, Selector};
use serde_json::{Value, json};
use uuid::Uuid;

use super::app::TestApp;
use super::aws_faults::moto_sdk_config;

/// GETs `path` as `browser`: the status and the body.
pub async fn page(app: &TestApp, browser: &Client, path: &str) -> (StatusCode, String) {
    let response = browser.get(app.at(path)).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

/// The trimmed text of every element `selector` matches, in document order.
pub fn texts(html: &Html, selector: &str) -> Vec<String> {
    html.select(&Selector::parse(selector).unwrap())
        .map(|e| e.text().collect::<String>().trim().to_owned())
        .collect()
}

/// The `attr` of every element `selector` matches that has it, in document order.
pub fn attrs(html: &Html, selector: &str, attr: &str) -> Vec<String> {
    html.select(&Selector::parse(selector).unwrap())
        .filter_map(|e| e.value().attr(attr).map(str::to_owned))
        .collect()
}

/// Creates `name` (dev, from the org's template) through the JSON API as `browser`, expecting 202.
pub async fn create_service_via_api(app: &TestApp, browser: &Client, name: &str) {
    let token = app.csrf_token(browser).await;
    let response = browser
        .post(app.at("/api/v1/services"))
        .header("x-csrf-token", token)
        .json(&json!({"name": name, "environment": "dev", "template": "acme/service-template", "team": "payments"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

/// The id of the service called `name` (for names a test uses once).
pub async fn service_id(app: &TestApp, name: &str) -> Uuid {
    sqlx::query_scalar("select service_id from service where name = $1")
        .bind(name)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// The id of the user `login` (who must have signed in or been inserted already).
pub async fn user_id(app: &TestApp, login: &str) -> Uuid {
    sqlx::query_scalar("select user_id from app_user where login = $1")
        .bind(login)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// `name`'s (status, error_step, error_message) as the reconciler left them after a failure.
pub async fn service_failure(app: &TestApp, name: &str) -> (String, String, String) {
    sqlx::query_as("select status, error_step, error_message from service where name = $1")
        .bind(name)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// Posts the Retry form of `name` as `browser` with its own CSRF token.
pub async fn retry_via_form(app: &TestApp, browser: &Client, name: &str) -> Response {
    let token = app.csrf_token(browser).await;
    browser
        .post(app.at(&format!("/services/{name}/retry")))
        .form(&[("csrf_token", token)])
        .send()
        .await
        .unwrap()
}

/// Makes an ECR repository `name` in moto, as someone other than Shipyard would (no tags).
pub async fn create_foreign_ecr_repository(name: &str) {
    let sdk = moto_sdk_config(&Default::default()).await;
    aws_sdk_ecr::Client::new(&sdk).create_repository().repository_name(name).send().await.unwrap();
}

/// Makes an IAM role `role_name` in moto that EC2 may assume, as someone other than Shipyard would;
/// returns its trust policy.
pub async fn create_foreign_role(role_name: &str) -> Value {
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    let sdk = moto_sdk_config(&Default::default()).await;
    aws_sdk_iam::Client::new(&sdk)
        .create_role()
        .role_name(role_name)
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
    trust
}

/// The sandbox's permissions boundary (`SHIPYARD_PERMISSIONS_BOUNDARY` in every test), in moto's
/// default account.
pub const BOUNDARY_ARN: &str = "arn:aws:iam::123456789012:policy/shipyard-boundary";

/// Creates the boundary policy of `deploy/aws/shipyard-boundary.json` in moto, as the platform team
/// does once per account (and `make dev` does in the sandbox); already there is fine. It is made
/// behind Shipyard's back, so it is not among the calls Shipyard is recorded making.
pub async fn ensure_boundary_policy() {
    let document =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/aws/shipyard-boundary.json"))
            .expect("deploy/aws/shipyard-boundary.json")
            .replace("ACCOUNT_ID", "123456789012");
    let sdk = moto_sdk_config(&Default::default()).await;
    let created = aws_sdk_iam::Client::new(&sdk)
        .create_policy()
        .policy_name("shipyard-boundary")
        .policy_document(document)
        .send()
        .await;
    if let Err(e) = created {
        use aws_sdk_iam::error::ProvideErrorMetadata as _;
        assert_eq!(e.code(), Some("EntityAlreadyExists"), "creating the boundary policy in moto: {e:?}");
    }
}
