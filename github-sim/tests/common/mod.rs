//! Shared test helpers: start a sim, build octocrab and reqwest clients against it.
#![allow(dead_code)] // each test binary uses a different subset

use std::time::Duration;

use github_sim::{RunningSim, Seed, SimConfig};
use octocrab::Octocrab;
use octocrab::service::middleware::retry::RetryConfig;
use serde_json::Value;

pub const ALICE: &str = "ghp_sandbox_alice";
pub const BOB: &str = "ghp_sandbox_bob";
pub const CAROL: &str = "ghp_sandbox_carol";
pub const MALLORY: &str = "ghp_sandbox_mallory";
pub const BOT: &str = "ghp_sandbox_shipyard_bot";

pub async fn start() -> RunningSim {
    start_with(|_| {}).await
}

pub async fn start_with(adjust: impl FnOnce(&mut SimConfig)) -> RunningSim {
    let mut config = SimConfig::new(Seed::sandbox());
    adjust(&mut config);
    github_sim::spawn(config).await.expect("sim starts")
}

/// octocrab as Shipyard builds it: no built-in retries.
pub fn octo(sim: &RunningSim, token: &str) -> Octocrab {
    Octocrab::builder()
        .base_uri(sim.url())
        .expect("base uri")
        .personal_token(token.to_string())
        .add_retry_config(RetryConfig::None)
        .build()
        .expect("octocrab")
}

/// A plain HTTP client that does not follow redirects.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .expect("reqwest")
}

/// GET/POST/... with a GitHub-style bearer token.
pub fn api(method: reqwest::Method, sim: &RunningSim, path: &str, token: &str) -> reqwest::RequestBuilder {
    http()
        .request(method, format!("{}{path}", sim.url()))
        .bearer_auth(token)
        .header("accept", "application/vnd.github+json")
        .header("user-agent", "github-sim-tests")
}

/// GETs `path` as `token` and reads the answer as JSON (whatever the status).
pub async fn get_json(sim: &RunningSim, path: &str, token: &str) -> Value {
    api(reqwest::Method::GET, sim, path, token).send().await.unwrap().json().await.unwrap()
}

/// Generates `acme/{name}` from `acme/{template}` as `token`, returning the response.
pub async fn generate(sim: &RunningSim, token: &str, template: &str, name: &str) -> reqwest::Response {
    api(reqwest::Method::POST, sim, &format!("/repos/acme/{template}/generate"), token)
        .json(&serde_json::json!({ "name": name, "owner": "acme", "private": true }))
        .send()
        .await
        .expect("generate request")
}

/// An OAuth token for `login` with exactly `scope`, obtained through the web flow.
pub async fn oauth_token(sim: &RunningSim, login: &str, scope: &str) -> String {
    let mut url = url::Url::parse(&format!("{}/login/oauth/authorize", sim.url())).unwrap();
    url.query_pairs_mut().extend_pairs([
        ("client_id", "shipyard-sandbox"),
        ("scope", scope),
        ("login", login),
    ]);
    let response = http().get(url).send().await.unwrap();
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    let code = location.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    let body: Value = http()
        .post(format!("{}/login/oauth/access_token", sim.url()))
        .header("accept", "application/json")
        .json(&serde_json::json!({
            "client_id": "shipyard-sandbox", "client_secret": "sandbox-client-secret", "code": code,
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

pub mod aws;

/// Seals `value` with the repository's public key and stores it as secret `name`, as Shipyard does.
pub async fn put_secret(sim: &RunningSim, repo: &str, name: &str, value: &str) {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as B64;
    let key = get_json(sim, &format!("/repos/acme/{repo}/actions/secrets/public-key"), BOT).await;
    let pk = crypto_box::PublicKey::from_slice(&B64.decode(key["key"].as_str().unwrap()).unwrap()).unwrap();
    let sealed = B64.encode(pk.seal(&mut crypto_box::aead::OsRng, value.as_bytes()).unwrap());
    let response = api(reqwest::Method::PUT, sim, &format!("/repos/acme/{repo}/actions/secrets/{name}"), BOT)
        .json(&serde_json::json!({"encrypted_value": sealed, "key_id": key["key_id"]}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "PUT secret {name}: {}", response.status());
}

/// Follows a job's `logs` redirect (without the token, as a download would) and returns the text.
pub async fn job_log(sim: &RunningSim, repo: &str, job_id: u64) -> String {
    let redirect =
        api(reqwest::Method::GET, sim, &format!("/repos/acme/{repo}/actions/jobs/{job_id}/logs"), BOT)
            .send()
            .await
            .unwrap();
    assert_eq!(redirect.status(), 302);
    let location = redirect.headers()["location"].to_str().unwrap().to_string();
    let download = http().get(location).send().await.unwrap();
    assert_eq!(download.status(), 200);
    download.text().await.unwrap()
}
