//! Sign-in, sessions, sign-out and CSRF, through the HTTP surface against github-sim.

use crate::common::app::{TestApp, csrf_in, location};
use github_sim::SimConfig;
use reqwest::StatusCode;
use sqlx::PgPool;
use std::time::Duration;

type Db = PgPool;

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_member_signs_in_and_lands_on_the_inventory_greeted_by_login(db: Db) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;

    let page = browser.get(app.at("/services")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("data-testid=\"current-login\">bob<"), "{html}");
    assert!(html.contains("No services yet"));
    let user: (i64, String) =
        sqlx::query_as("select github_id, login from app_user").fetch_one(&app.db).await.unwrap();
    assert_eq!(user, (2002, "bob".to_owned()));
    assert_eq!(app.audit_actions().await, [("login".into(), "success".into(), Some("bob".into()))]);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn the_session_id_is_stored_only_as_a_hash(db: Db) {
    let app = TestApp::spawn(db).await;
    let browser = app.browser();
    let response = app.sign_in(&browser, "alice").await;
    let cookie = response.cookies().find(|c| c.name() == "shipyard_session").expect("a session cookie");
    assert!(cookie.http_only());
    assert_eq!(cookie.path(), Some("/"));
    let value = cookie.value().to_owned();

    let stored: Vec<Vec<u8>> =
        sqlx::query_scalar("select session_id_hash from session").fetch_all(&app.db).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], value.as_bytes());
    use sha2::Digest;
    assert_eq!(stored[0], sha2::Sha256::digest(value.as_bytes()).to_vec());
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn pages_need_a_session_and_the_api_answers_401(db: Db) {
    let app = TestApp::spawn(db).await;
    let browser = app.browser();
    let page = browser.get(app.at("/services")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&page), "/");
    let landing = browser.get(app.at("/")).send().await.unwrap().text().await.unwrap();
    assert!(landing.contains("Sign in with GitHub"));
    for open in ["/healthz", "/static/shipyard.css"] {
        assert_eq!(browser.get(app.at(open)).send().await.unwrap().status(), StatusCode::OK, "{open}");
    }
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_non_member_is_refused_and_gets_no_session(db: Db) {
    let app = TestApp::spawn(db).await;
    let browser = app.browser();
    let response = app.sign_in(&browser, "mallory").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.cookies().all(|c| c.name() != "shipyard_session"));
    let html = response.text().await.unwrap();
    assert!(html.contains("for members of the acme organization"), "{html}");
    assert!(html.contains("Try signing in again"));

    let after = browser.get(app.at("/services")).send().await.unwrap();
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    let sessions: i64 = sqlx::query_scalar("select count(*) from session").fetch_one(&app.db).await.unwrap();
    assert_eq!(sessions, 0);
    let users: i64 = sqlx::query_scalar("select count(*) from app_user").fetch_one(&app.db).await.unwrap();
    assert_eq!(users, 0, "a refused person is not recorded as a user");
    assert_eq!(app.audit_actions().await, [("login".into(), "denied".into(), None)]);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_pending_invitation_is_not_membership(db: Db) {
    let app = TestApp::spawn(db).await;
    let response = app.sign_in(&app.browser(), "carol").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_callback_whose_state_does_not_match_is_refused(db: Db) {
    let app = TestApp::spawn(db).await;
    let browser = app.browser();
    let authorize = app.start_sign_in(&browser).await;
    let callback = app.approve_as(&browser, &authorize, "bob").await;
    let (base, query) = callback.split_once('?').unwrap();
    let tampered: String = query
        .split('&')
        .map(|kv| if kv.starts_with("state=") { "state=forged-state".to_owned() } else { kv.to_owned() })
        .collect::<Vec<_>>()
        .join("&");
    let response = browser.get(format!("{base}?{tampered}")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("expired or was already used"));
    assert_eq!(browser.get(app.at("/services")).send().await.unwrap().status(), StatusCode::SEE_OTHER);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_callback_from_another_browser_is_refused(db: Db) {
    let app = TestApp::spawn(db).await;
    let victim = app.browser();
    let authorize = app.start_sign_in(&victim).await;
    let callback = app.approve_as(&victim, &authorize, "bob").await;
    // The attacker's browser never started this sign-in, so it has no matching cookie.
    let attacker = app.browser();
    let response = attacker.get(callback).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_replayed_callback_is_refused(db: Db) {
    let app = TestApp::spawn(db).await;
    let browser = app.browser();
    let authorize = app.start_sign_in(&browser).await;
    let callback = app.approve_as(&browser, &authorize, "bob").await;
    assert_eq!(browser.get(&callback).send().await.unwrap().status(), StatusCode::SEE_OTHER);

    let other = app.browser();
    let again = other.get(&callback).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
}

/// Replaying a used code inside a fresh, valid sign-in: GitHub answers HTTP 200 with
/// `error=bad_verification_code`, which must be a failed sign-in.
#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_replayed_code_gets_githubs_200_with_error_and_is_refused(db: Db) {
    let app = TestApp::spawn(db).await;
    let first = app.browser();
    let authorize = app.start_sign_in(&first).await;
    let callback = app.approve_as(&first, &authorize, "bob").await;
    assert_eq!(first.get(&callback).send().await.unwrap().status(), StatusCode::SEE_OTHER);
    let used_code = query_param(&callback, "code");

    let second = app.browser();
    let authorize = app.start_sign_in(&second).await;
    let state = query_param(&authorize, "state");
    let response =
        second.get(app.at(&format!("/auth/callback?code={used_code}&state={state}"))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let html = response.text().await.unwrap();
    assert!(html.contains("bad_verification_code"), "{html}");
    assert!(html.contains("Try signing in again"));
    assert_eq!(second.get(app.at("/services")).send().await.unwrap().status(), StatusCode::SEE_OTHER);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn an_expired_code_is_refused(db: Db) {
    let sim = SimConfig { code_ttl: Duration::from_millis(50), ..SimConfig::default() };
    let app = TestApp::spawn_with(db, sim, |_| {}).await;
    let browser = app.browser();
    let authorize = app.start_sign_in(&browser).await;
    let callback = app.approve_as(&browser, &authorize, "bob").await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let response = browser.get(callback).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(response.text().await.unwrap().contains("bad_verification_code"));
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_sign_in_the_person_cancelled_says_so(db: Db) {
    let app = TestApp::spawn(db).await;
    let browser = app.browser();
    let authorize = app.start_sign_in(&browser).await;
    let state = query_param(&authorize, "state");
    let response = browser
        .get(app.at(&format!("/auth/callback?error=access_denied&error_description=denied&state={state}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("Sign-in cancelled"));
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn the_authorize_url_carries_state_and_a_pkce_challenge(db: Db) {
    let app = TestApp::spawn(db).await;
    let authorize = app.start_sign_in(&app.browser()).await;
    assert!(authorize.starts_with(&format!("{}/login/oauth/authorize?", app.github.url())));
    assert_eq!(query_param(&authorize, "code_challenge_method"), "S256");
    assert_eq!(query_param(&authorize, "scope"), "read%3Aorg");
    assert!(query_param(&authorize, "state").len() >= 16);
    assert!(query_param(&authorize, "code_challenge").len() >= 43);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn signing_in_again_replaces_the_session(db: Db) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    let response = app.sign_in(&browser, "bob").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let sessions: i64 = sqlx::query_scalar("select count(*) from session").fetch_one(&app.db).await.unwrap();
    assert_eq!(sessions, 1, "the earlier session of this browser ended (no fixation, no pile-up)");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn sign_out_ends_the_session(db: Db) {
    let app = TestApp::spawn(db).await;
    let browser = app.browser();
    let response = app.sign_in(&browser, "bob").await;
    let cookie = response.cookies().find(|c| c.name() == "shipyard_session").expect("a session cookie");
    let replay = format!("shipyard_session={}", cookie.value());
    let stranger = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let with_old_cookie = || stranger.get(app.at("/services")).header("cookie", &replay).send();
    // Just read, so the server has it in mind (sessions are remembered for a few seconds).
    assert_eq!(with_old_cookie().await.unwrap().status(), StatusCode::OK);
    let token = app.csrf_token(&browser).await;
    let response = browser.post(app.at("/logout")).form(&[("csrf_token", token)]).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/");
    assert_eq!(browser.get(app.at("/services")).send().await.unwrap().status(), StatusCode::SEE_OTHER);
    assert_eq!(
        with_old_cookie().await.unwrap().status(),
        StatusCode::SEE_OTHER,
        "a copy of the old cookie is signed out at once too"
    );
    let sessions: i64 = sqlx::query_scalar("select count(*) from session").fetch_one(&app.db).await.unwrap();
    assert_eq!(sessions, 0, "the session is gone server-side, not only from the browser");
    assert!(app.audit_actions().await.contains(&("logout".into(), "success".into(), Some("bob".into()))));
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_post_without_a_valid_csrf_token_is_403_and_changes_nothing(db: Db) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    let forms: [&[(&str, &str)]; 3] = [&[], &[("csrf_token", "")], &[("csrf_token", "forged")]];
    for form in forms {
        let response = browser.post(app.at("/logout")).form(form).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{form:?}");
        assert!(response.text().await.unwrap().contains("did not come from Shipyard"));
    }
    let json = browser.post(app.at("/logout")).json(&serde_json::json!({})).send().await.unwrap();
    assert_eq!(json.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        browser.get(app.at("/services")).send().await.unwrap().status(),
        StatusCode::OK,
        "still signed in"
    );
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_cross_site_post_is_403_even_with_the_token(db: Db) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    let token = app.csrf_token(&browser).await;
    let cross_site = browser
        .post(app.at("/logout"))
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .form(&[("csrf_token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        browser.get(app.at("/services")).send().await.unwrap().status(),
        StatusCode::OK,
        "still signed in"
    );
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn every_response_has_a_request_id_and_unknown_pages_are_a_404_page(db: Db) {
    let app = TestApp::spawn(db).await;
    let response = app.browser().get(app.at("/no/such/page")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let id = response.headers().get("x-request-id").expect("x-request-id").to_str().unwrap().to_owned();
    let html = response.text().await.unwrap();
    assert!(html.contains(&id), "the error page shows the request id");
    let api = app.browser().get(app.at("/api/v1/nothing")).send().await.unwrap();
    assert_eq!(api.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = api.json().await.unwrap();
    assert_eq!(body["code"], "not_found");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn the_csrf_token_is_not_the_session_id(db: Db) {
    let app = TestApp::spawn(db).await;
    let browser = app.browser();
    let response = app.sign_in(&browser, "bob").await;
    let cookie = response.cookies().find(|c| c.name() == "shipyard_session").unwrap().value().to_owned();
    let html = browser.get(app.at("/services")).send().await.unwrap().text().await.unwrap();
    let token = csrf_in(&html).unwrap();
    assert_ne!(token, cookie);
    assert!(!html.contains(&cookie), "the page never shows the session id");
}

fn query_param(url: &str, name: &str) -> String {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("{name} in {url}"))
        .to_owned()
}
