//! The OAuth web flow, checked against GitHub's documented behaviour.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use common::{http, start, start_with};
use github_sim::RunningSim;
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;

const CLIENT_ID: &str = "shipyard-sandbox";
const CLIENT_SECRET: &str = "sandbox-client-secret";
const CALLBACK: &str = "http://127.0.0.1:43123/auth/callback";
const VERIFIER: &str = "a-very-long-code-verifier-with-enough-entropy-0123456789";

fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn authorize_url(sim: &RunningSim, params: &[(&str, &str)]) -> String {
    let mut url = Url::parse(&format!("{}/login/oauth/authorize", sim.url())).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

/// Runs the authorize step as `login`, returning the query of the redirect.
async fn authorize_as(
    sim: &RunningSim,
    login: &str,
    redirect_uri: &str,
    scope: &str,
) -> HashMap<String, String> {
    let challenge = challenge(VERIFIER);
    let url = authorize_url(
        sim,
        &[
            ("client_id", CLIENT_ID),
            ("redirect_uri", redirect_uri),
            ("scope", scope),
            ("state", "st4te/with?odd&chars"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("login", login),
        ],
    );
    let response = http().get(url).send().await.unwrap();
    assert_eq!(response.status(), 302);
    let location = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(redirect_uri), "redirected to {location}");
    location.query_pairs().into_owned().collect()
}

async fn exchange(sim: &RunningSim, form: &[(&str, &str)]) -> (u16, Value) {
    let response = http()
        .post(format!("{}/login/oauth/access_token", sim.url()))
        .header("accept", "application/json")
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn token_form<'a>(code: &'a str, verifier: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("code", code),
        ("redirect_uri", CALLBACK),
        ("code_verifier", verifier),
    ]
}

#[tokio::test]
async fn pkce_flow_issues_a_token_that_acts_as_the_user_with_the_granted_scopes() {
    let sim = start().await;
    let query = authorize_as(&sim, "alice", CALLBACK, "repo read:org").await;
    assert_eq!(query["state"], "st4te/with?odd&chars", "state comes back untouched");
    let (status, body) = exchange(&sim, &token_form(&query["code"], VERIFIER)).await;
    assert_eq!(status, 200);
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["scope"], "read:org,repo", "comma-separated, like GitHub");
    let token = body["access_token"].as_str().unwrap();
    assert!(token.starts_with("gho_"));

    let user = common::octo(&sim, token).current().user().await.unwrap();
    assert_eq!((user.login.as_str(), user.id.0), ("alice", 2001));
    let response = common::api(reqwest::Method::GET, &sim, "/user", token).send().await.unwrap();
    assert_eq!(response.headers()["x-oauth-scopes"], "read:org, repo");
}

#[tokio::test]
async fn token_response_is_form_encoded_unless_json_is_asked_for() {
    let sim = start().await;
    let query = authorize_as(&sim, "bob", CALLBACK, "read:org").await;
    let text = http()
        .post(format!("{}/login/oauth/access_token", sim.url()))
        .form(&token_form(&query["code"], VERIFIER))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let fields: HashMap<String, String> = url::form_urlencoded::parse(text.as_bytes()).into_owned().collect();
    assert!(fields["access_token"].starts_with("gho_"));
    assert_eq!(fields["scope"], "read:org");
}

#[tokio::test]
async fn a_wrong_verifier_is_a_bad_verification_code_with_http_200() {
    let sim = start().await;
    let query = authorize_as(&sim, "alice", CALLBACK, "repo").await;
    let (status, body) = exchange(&sim, &token_form(&query["code"], "not-the-verifier")).await;
    assert_eq!(status, 200);
    assert_eq!(body["error"], "bad_verification_code");
    assert!(body["error_description"].is_string() && body["error_uri"].is_string());
    assert!(body.get("access_token").is_none());
}

#[tokio::test]
async fn a_code_works_only_once() {
    let sim = start().await;
    let query = authorize_as(&sim, "alice", CALLBACK, "repo").await;
    let (_, first) = exchange(&sim, &token_form(&query["code"], VERIFIER)).await;
    assert!(first["access_token"].is_string());
    let (status, replay) = exchange(&sim, &token_form(&query["code"], VERIFIER)).await;
    assert_eq!(status, 200);
    assert_eq!(replay["error"], "bad_verification_code");
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let sim = start_with(|c| c.code_ttl = Duration::from_millis(50)).await;
    let query = authorize_as(&sim, "alice", CALLBACK, "repo").await;
    tokio::time::sleep(Duration::from_millis(80)).await;
    let (status, body) = exchange(&sim, &token_form(&query["code"], VERIFIER)).await;
    assert_eq!(status, 200);
    assert_eq!(body["error"], "bad_verification_code");
}

#[tokio::test]
async fn a_wrong_client_secret_is_incorrect_client_credentials() {
    let sim = start().await;
    let query = authorize_as(&sim, "alice", CALLBACK, "repo").await;
    let mut form = token_form(&query["code"], VERIFIER);
    form[1] = ("client_secret", "guess");
    let (status, body) = exchange(&sim, &form).await;
    assert_eq!(status, 200);
    assert_eq!(body["error"], "incorrect_client_credentials");
}

#[tokio::test]
async fn a_different_redirect_uri_at_exchange_is_a_mismatch() {
    let sim = start().await;
    let query = authorize_as(&sim, "alice", CALLBACK, "repo").await;
    let mut form = token_form(&query["code"], VERIFIER);
    form[3] = ("redirect_uri", "http://127.0.0.1:43123/auth/callback/other");
    let (status, body) = exchange(&sim, &form).await;
    assert_eq!(status, 200);
    assert_eq!(body["error"], "redirect_uri_mismatch");
}

#[tokio::test]
async fn a_loopback_ip_callback_accepts_any_port_but_localhost_needs_its_port() {
    let sim = start().await;
    for port in [1024, 50_000, 65_535] {
        let uri = format!("http://127.0.0.1:{port}/auth/callback/sub");
        let query = authorize_as(&sim, "bob", &uri, "repo").await;
        assert!(query.contains_key("code"), "port {port} accepted");
    }
    let wrong_port = authorize_url(
        &sim,
        &[
            ("client_id", CLIENT_ID),
            ("redirect_uri", "http://localhost:9999/auth/callback"),
            ("state", "s1"),
            ("login", "bob"),
        ],
    );
    let response = http().get(wrong_port).send().await.unwrap();
    assert_eq!(response.status(), 302);
    let location = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(
        location.origin().ascii_serialization(),
        "http://localhost:8080",
        "sent to the registered callback"
    );
    let query: HashMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(query["error"], "redirect_uri_mismatch");
    assert_eq!(query["state"], "s1");
    assert!(!query.contains_key("code"));
}

#[tokio::test]
async fn an_unknown_client_id_shows_an_error_page_without_redirecting() {
    let sim = start().await;
    let url = authorize_url(&sim, &[("client_id", "nope"), ("redirect_uri", CALLBACK), ("login", "alice")]);
    let response = http().get(url).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert!(response.headers().get("location").is_none());
    assert!(response.text().await.unwrap().contains("<html"));
}

#[tokio::test]
async fn without_login_a_picker_offers_each_user_and_a_cancel_that_denies_access() {
    let sim = start().await;
    let url = authorize_url(&sim, &[("client_id", CLIENT_ID), ("redirect_uri", CALLBACK), ("state", "s2")]);
    let page = http().get(url).send().await.unwrap().text().await.unwrap();
    for login in ["alice", "bob", "carol", "mallory"] {
        assert!(page.contains(&format!("Authorize as {login}")), "{login} offered");
    }
    let cancel = page.split("class=\"cancel\" href=\"").nth(1).unwrap().split('"').next().unwrap();
    let cancel = Url::parse(&cancel.replace("&amp;", "&")).unwrap();
    assert!(cancel.as_str().starts_with(CALLBACK));
    let query: HashMap<String, String> = cancel.query_pairs().into_owned().collect();
    assert_eq!(query["error"], "access_denied");
    assert_eq!(query["state"], "s2");
    assert!(query.contains_key("error_description"));
}

#[tokio::test]
async fn client_credentials_may_come_as_http_basic_auth() {
    let sim = start().await;
    let query = authorize_as(&sim, "alice", CALLBACK, "repo").await;
    let response = http()
        .post(format!("{}/login/oauth/access_token", sim.url()))
        .header("accept", "application/json")
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("code", query["code"].as_str()), ("code_verifier", VERIFIER)])
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert!(body["access_token"].as_str().unwrap().starts_with("gho_"), "{body}");
}
