//! GitHub Apps: JWT authentication, the organization's installation, installation tokens and their
//! permissions, and `GET /orgs/{org}/memberships/{username}`.

mod common;

use std::time::Duration;

use common::{BOB, BOT, MALLORY, api, get_json, start, start_with};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};

const APP_ID: u64 = 424_242;
const INSTALLATION_ID: u64 = 31_000_001;

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn sign(claims: Value) -> String {
    let key = EncodingKey::from_rsa_pem(github_sim::SANDBOX_APP_PRIVATE_KEY.as_bytes()).unwrap();
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).unwrap()
}

/// A JWT as GitHub recommends it: issued a minute ago, valid for nine more minutes.
fn app_jwt() -> String {
    sign(json!({"iss": APP_ID, "iat": now() - 60, "exp": now() + 540}))
}

async fn installation_token(sim: &github_sim::RunningSim) -> Value {
    let path = format!("/app/installations/{INSTALLATION_ID}/access_tokens");
    let response = api(Method::POST, sim, &path, &app_jwt()).send().await.unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

#[tokio::test]
async fn an_app_finds_its_installation_on_the_organization_with_its_jwt() {
    let sim = start().await;
    let installation = get_json(&sim, "/orgs/acme/installation", &app_jwt()).await;
    assert_eq!(installation["id"], INSTALLATION_ID);
    assert_eq!(installation["app_id"], APP_ID);
    assert_eq!(installation["account"]["login"], "acme");
    assert_eq!(installation["permissions"]["administration"], "write");
    assert_eq!(installation["target_type"], "Organization");

    let elsewhere = api(Method::GET, &sim, "/orgs/nowhere/installation", &app_jwt()).send().await.unwrap();
    assert_eq!(elsewhere.status(), 404);
}

#[tokio::test]
async fn jwts_github_would_refuse_get_its_401_messages() {
    let sim = start().await;
    let cases = [
        (
            sign(json!({"iss": APP_ID, "iat": now() - 60, "exp": now() + 900})),
            "'Expiration time' claim ('exp') is too far in the future",
        ),
        (
            sign(json!({"iss": APP_ID, "iat": now() - 700, "exp": now() - 10})),
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
        ),
        (
            sign(json!({"iss": APP_ID, "iat": now() + 300, "exp": now() + 500})),
            "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
        ),
        (
            sign(json!({"iss": 999, "iat": now() - 60, "exp": now() + 540})),
            "A JSON web token could not be decoded",
        ),
        (format!("{}x", app_jwt()), "A JSON web token could not be decoded"),
    ];
    for (jwt, message) in cases {
        let response = api(Method::GET, &sim, "/orgs/acme/installation", &jwt).send().await.unwrap();
        assert_eq!(response.status(), 401, "{message}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["message"], message);
    }
}

#[tokio::test]
async fn an_installation_token_lasts_an_hour_and_acts_as_the_apps_bot() {
    let sim = start().await;
    let token = installation_token(&sim).await;
    let value = token["token"].as_str().unwrap();
    assert!(value.starts_with("ghs_"), "{value}");
    assert_eq!(token["permissions"]["secrets"], "write");
    let expires = time::OffsetDateTime::parse(
        token["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let left = expires.unix_timestamp() - now();
    assert!((3590..=3600).contains(&left), "{left} s left");

    let repo = get_json(&sim, "/repos/acme/service-template", value).await;
    assert_eq!(repo["full_name"], "acme/service-template");
    let generated = api(Method::POST, &sim, "/repos/acme/service-template/generate", value)
        .json(&json!({"owner": "acme", "name": "by-the-app", "private": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(generated.status(), 201);
    // Installation tokens are not a person: the /user endpoints are closed to them.
    let user = api(Method::GET, &sim, "/user", value).send().await.unwrap();
    assert_eq!(user.status(), 403);
    assert_eq!(user.json::<Value>().await.unwrap()["message"], "Resource not accessible by integration");
}

#[tokio::test]
async fn an_expired_installation_token_is_bad_credentials() {
    let sim = start_with(|c| c.installation_token_ttl = Duration::from_millis(300)).await;
    let token = installation_token(&sim).await;
    let value = token["token"].as_str().unwrap();
    assert_eq!(
        api(Method::GET, &sim, "/repos/acme/service-template", value).send().await.unwrap().status(),
        200
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let response = api(Method::GET, &sim, "/repos/acme/service-template", value).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.json::<Value>().await.unwrap()["message"], "Bad credentials");
}

#[tokio::test]
async fn a_route_outside_the_installations_permissions_is_not_accessible_by_integration() {
    let sim = start_with(|c| {
        c.seed.apps[0].installations[0].permissions.remove("secrets");
    })
    .await;
    let token = installation_token(&sim).await;
    let value = token["token"].as_str().unwrap();
    let response = api(Method::GET, &sim, "/repos/acme/service-template/actions/secrets/public-key", value)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(response.headers()["x-accepted-github-permissions"], "secrets=read");
    assert_eq!(response.json::<Value>().await.unwrap()["message"], "Resource not accessible by integration");
    // Asking for a permission the installation lacks is refused when the token is minted.
    let path = format!("/app/installations/{INSTALLATION_ID}/access_tokens");
    let asked = api(Method::POST, &sim, &path, &app_jwt())
        .json(&json!({"permissions": {"secrets": "write"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), 422);
}

#[tokio::test]
async fn the_app_endpoints_want_the_jwt_not_a_token() {
    let sim = start().await;
    let path = format!("/app/installations/{INSTALLATION_ID}/access_tokens");
    let response = api(Method::POST, &sim, &path, BOT).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let jwt_elsewhere =
        api(Method::GET, &sim, "/repos/acme/service-template", &app_jwt()).send().await.unwrap();
    assert_eq!(jwt_elsewhere.status(), 401);
}

#[tokio::test]
async fn an_installation_has_its_own_rate_limit_budget() {
    let sim = start().await;
    let token = installation_token(&sim).await;
    let value = token["token"].as_str().unwrap();
    sim.sim().set_installation_rate_limit(INSTALLATION_ID, 0, Duration::from_secs(30));
    let response = api(Method::GET, &sim, "/repos/acme/service-template", value).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(response.headers()["x-ratelimit-remaining"], "0");
    let reset: i64 = response.headers()["x-ratelimit-reset"].to_str().unwrap().parse().unwrap();
    assert!((now() + 28..=now() + 31).contains(&reset), "reset {reset}");
    let body: Value = response.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("installation ID 31000001"), "{body}");
    // The bot user's own token is a separate budget.
    assert_eq!(
        api(Method::GET, &sim, "/repos/acme/service-template", BOT).send().await.unwrap().status(),
        200
    );
}

#[tokio::test]
async fn a_members_membership_is_readable_by_an_installation_with_members_read() {
    let sim = start().await;
    let token = installation_token(&sim).await;
    let value = token["token"].as_str().unwrap();
    let alice = get_json(&sim, "/orgs/acme/memberships/alice", value).await;
    assert_eq!((alice["state"].as_str(), alice["role"].as_str()), (Some("active"), Some("admin")));
    assert_eq!(alice["user"]["login"], "alice");
    let mallory = api(Method::GET, &sim, "/orgs/acme/memberships/mallory", value).send().await.unwrap();
    assert_eq!(mallory.status(), 404);

    sim.sim().set_membership("acme", "bob", "billing_manager", "active");
    assert_eq!(get_json(&sim, "/orgs/acme/memberships/bob", value).await["role"], "billing_manager");
    sim.sim().remove_member("acme", "bob");
    let gone = api(Method::GET, &sim, "/orgs/acme/memberships/bob", value).send().await.unwrap();
    assert_eq!(gone.status(), 404);
}

#[tokio::test]
async fn a_members_membership_is_readable_by_another_member_but_not_by_an_outsider() {
    let sim = start().await;
    let bob_sees = get_json(&sim, "/orgs/acme/memberships/alice", BOB).await;
    assert_eq!(bob_sees["role"], "admin");
    let outsider = api(Method::GET, &sim, "/orgs/acme/memberships/alice", MALLORY).send().await.unwrap();
    assert_eq!(outsider.status(), 403);
    let without_members_read = start_with(|c| {
        c.seed.apps[0].installations[0].permissions.remove("members");
    })
    .await;
    let token = installation_token(&without_members_read).await;
    let response = api(
        Method::GET,
        &without_members_read,
        "/orgs/acme/memberships/alice",
        token["token"].as_str().unwrap(),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn memberships_are_steered_over_http_like_in_process() {
    let sim = start().await;
    let admin =
        |method: Method, path: &str| common::http().request(method, format!("{}/_sim{path}", sim.url()));
    let set = admin(Method::PUT, "/orgs/acme/memberships/bob")
        .json(&json!({"role": "billing_manager", "state": "active"}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 204);
    assert_eq!(get_json(&sim, "/orgs/acme/memberships/bob", BOT).await["role"], "billing_manager");
    assert_eq!(admin(Method::DELETE, "/orgs/acme/memberships/bob").send().await.unwrap().status(), 204);
    let gone = api(Method::GET, &sim, "/orgs/acme/memberships/bob", BOT).send().await.unwrap();
    assert_eq!(gone.status(), 404);
    let unknown = admin(Method::PUT, "/orgs/acme/memberships/nobody")
        .json(&json!({"role": "member", "state": "active"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn a_token_limited_to_one_repository_sees_no_other_and_cannot_create_repositories() {
    let sim = start().await;
    let path = format!("/app/installations/{INSTALLATION_ID}/access_tokens");
    let mint = |body: Value| {
        let sim = &sim;
        let path = &path;
        async move { api(Method::POST, sim, path, &app_jwt()).json(&body).send().await.unwrap() }
    };
    let minted =
        mint(json!({"repositories": ["service-template"], "permissions": {"contents": "read"}})).await;
    assert_eq!(minted.status(), 201);
    let minted: Value = minted.json().await.unwrap();
    assert_eq!(minted["repository_selection"], "selected");
    assert_eq!(minted["repositories"][0]["name"], "service-template");
    // GitHub adds metadata: read to every token.
    assert_eq!(minted["permissions"], json!({"contents": "read", "metadata": "read"}));
    let token = minted["token"].as_str().unwrap();

    let own = api(Method::GET, &sim, "/repos/acme/service-template", token).send().await.unwrap();
    assert_eq!(own.status(), 200);
    let id = own.json::<Value>().await.unwrap()["id"].as_u64().unwrap();
    let by_id = api(Method::GET, &sim, &format!("/repositories/{id}"), token).send().await.unwrap();
    assert_eq!(by_id.status(), 200);
    // Any other repository of the organization is as if it did not exist.
    sim.sim().create_repo("acme", "other");
    let other = api(Method::GET, &sim, "/repos/acme/other", token).send().await.unwrap();
    assert_eq!(other.status(), 404);
    // A permission the token was not minted with is refused even on its repository.
    let secrets =
        api(Method::GET, &sim, "/repos/acme/service-template/actions/secrets", token).send().await.unwrap();
    assert_eq!(secrets.status(), 403);
    // Creating a repository needs a token for all of them.
    let wide =
        mint(json!({"repositories": ["service-template"], "permissions": {"administration": "write"}})).await;
    let wide: Value = wide.json().await.unwrap();
    let generate =
        api(Method::POST, &sim, "/repos/acme/service-template/generate", wide["token"].as_str().unwrap())
            .json(&json!({"owner": "acme", "name": "made-with-a-narrow-token"}))
            .send()
            .await
            .unwrap();
    assert_eq!(generate.status(), 403);
    assert_eq!(generate.json::<Value>().await.unwrap()["message"], "Resource not accessible by integration");

    // Naming a repository the installation cannot see is refused when minting.
    let unknown = mint(json!({"repositories": ["no-such-repository"]})).await;
    assert_eq!(unknown.status(), 422);
    assert_eq!(
        unknown.json::<Value>().await.unwrap()["message"],
        "There is at least one repository that does not exist or is not accessible to the parent installation."
    );
}
