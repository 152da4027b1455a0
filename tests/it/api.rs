//! The JSON API with `Authorization: Bearer <GitHub token>`: every route, every refusal as a
//! problem document, the verdict cache, and that cookie-borne writes still need the CSRF header.

use shipyard::domain::ServiceStatus;

use crate::common::app::TestApp;
use github_sim::Fault;
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use sqlx::PgPool;

type Db = PgPool;

/// github-sim's seeded tokens: bob is a member, alice an org admin, carol's invitation is
/// pending, mallory is not in the organization.
const BOB: &str = "ghp_sandbox_bob";
const ALICE: &str = "ghp_sandbox_alice";
const CAROL: &str = "ghp_sandbox_carol";
const MALLORY: &str = "ghp_sandbox_mallory";
const GARBAGE: &str = "ghp_made_up_0123456789abcdef";

const PAYMENTS: &str =
    r#"{"name": "payments", "environment": "dev", "template": "acme/service-template", "team": "payments"}"#;

/// A client with no cookies: the token is its only credential.
fn call(app: &TestApp, method: Method, path: &str, token: &str) -> RequestBuilder {
    Client::new().request(method, app.at(path)).bearer_auth(token)
}

async fn get(app: &TestApp, path: &str, token: &str) -> Response {
    call(app, Method::GET, path, token).send().await.unwrap()
}

async fn post(app: &TestApp, path: &str, token: &str, body: &str) -> Response {
    call(app, Method::POST, path, token)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

async fn delete(app: &TestApp, path: &str, token: &str) -> Response {
    call(app, Method::DELETE, path, token).send().await.unwrap()
}

/// Asserts a problem document with `status` and `code`; returns it.
async fn problem(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status.as_u16());
    assert!(body["request_id"].as_str().is_some_and(|id| id.len() > 8), "{body}");
    body
}

async fn accepted(response: Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    body
}

async fn exec(app: &TestApp, sql: &str) {
    sqlx::query(sql).execute(&app.db).await.unwrap();
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.db).await.unwrap()
}

/// Where the reconciler leaves a service whose GitHub repository step gave up.
async fn fail_at_github_repository(app: &TestApp, name: &str) {
    sqlx::query(
        "update step set status = 'failed', error = 'GitHub: 403 no' from service s
         where s.service_id = step.service_id and s.name = $1 and step.step = 'github_repository'",
    )
    .bind(name)
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "update service set status = 'failed', error_step = 'github_repository', error_message = 'GitHub: 403 no'
         where name = $1",
    )
    .bind(name)
    .execute(&app.db)
    .await
    .unwrap();
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_member_uses_every_route_with_a_bearer_token_and_no_csrf_header(db: Db) {
    let app = TestApp::spawn(db).await;

    let created = accepted(post(&app, "/api/v1/services", BOB, PAYMENTS).await).await;
    assert_eq!(
        (created["name"].as_str(), created["status"].as_str()),
        (Some("payments"), Some("provisioning"))
    );
    assert_eq!(created["created_by"], "bob");
    assert_eq!(created["links"]["self"], "/api/v1/services/payments");

    let list: Value = get(&app, "/api/v1/services", BOB).await.json().await.unwrap();
    assert_eq!(list["total"], 1);
    assert_eq!(list["services"][0]["name"], "payments");
    assert!(list["services"][0]["urls"].as_object().unwrap().contains_key("actions"));

    let shown = get(&app, "/api/v1/services/payments", BOB).await;
    assert_eq!(shown.status(), StatusCode::OK);
    let shown: Value = shown.json().await.unwrap();
    let steps: Vec<(&str, &str)> = shown["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps.len(),
        shipyard::provision::steps::service_steps(shipyard::provision::Phase::Create).len()
    );
    assert_eq!(steps[0], ("preflight", "pending"));
    assert_eq!(steps.last(), Some(&("first_build", "pending")));
    assert!(shown["outputs"]["ssh_url"].is_null() && shown["outputs"]["role_arn"].is_null());

    let busy = post(&app, "/api/v1/services/payments/retry", BOB, "").await;
    let body = problem(busy, StatusCode::CONFLICT, "conflict").await;
    assert_eq!(body["detail"], "Only a failed service can be retried; payments is provisioning.");

    fail_at_github_repository(&app, "payments").await;
    let retried = accepted(post(&app, "/api/v1/services/payments/retry", BOB, "").await).await;
    assert_eq!(retried["status"], "provisioning");

    let deleting = accepted(delete(&app, "/api/v1/services/payments", BOB).await).await;
    assert_eq!(deleting["status"], "deleting");

    let trail: Vec<(String, Option<String>)> = sqlx::query_as(
        "select action, actor_login from audit_event where action in ('create', 'retry', 'delete_requested')
         order by audit_event_id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    let bob = Some("bob".to_owned());
    assert_eq!(
        trail,
        [("create".into(), bob.clone()), ("retry".into(), bob.clone()), ("delete_requested".into(), bob)]
    );
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn an_admin_token_may_delete_anyones_service_and_a_member_only_their_own(db: Db) {
    let app = TestApp::spawn(db).await;
    accepted(post(&app, "/api/v1/services", BOB, PAYMENTS).await).await;
    let ledger = r#"{"name": "ledger", "environment": "dev", "template": "acme/service-template", "team": "payments"}"#;
    accepted(post(&app, "/api/v1/services", ALICE, ledger).await).await;

    let refused =
        problem(delete(&app, "/api/v1/services/ledger", BOB).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert!(refused["detail"].as_str().unwrap().contains("alice"), "{refused}");
    assert_eq!(app.status_of("ledger").await, ServiceStatus::Provisioning);

    let deleting = accepted(delete(&app, "/api/v1/services/payments", ALICE).await).await;
    assert_eq!(deleting["status"], "deleting");
}

/// Every API route, with a body where it takes one.
const ROUTES: [(&str, &str, &str); 5] = [
    ("GET", "/api/v1/services", ""),
    ("POST", "/api/v1/services", PAYMENTS),
    ("GET", "/api/v1/services/payments", ""),
    ("POST", "/api/v1/services/payments/retry", ""),
    ("DELETE", "/api/v1/services/payments", ""),
];

async fn send(app: &TestApp, (method, path, body): (&str, &str, &str), token: &str) -> Response {
    call(app, method.parse().unwrap(), path, token)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_token_github_does_not_accept_is_a_401_problem_on_every_route(db: Db) {
    let app = TestApp::spawn(db).await;
    accepted(post(&app, "/api/v1/services", BOB, PAYMENTS).await).await;
    fail_at_github_repository(&app, "payments").await;

    for route in ROUTES {
        for token in [GARBAGE, "", "not a token"] {
            let body =
                problem(send(&app, route, token).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
            assert!(body["detail"].as_str().unwrap().contains("Authorization: Bearer"), "{body}");
            assert!(!body.to_string().contains(GARBAGE), "the token is never echoed");
        }
    }
    assert_eq!(count(&app, "select count(*) from service").await, 1);
    assert_eq!(app.status_of("payments").await, ServiceStatus::Failed, "nothing was retried or deleted");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_non_member_is_a_403_problem_on_every_route(db: Db) {
    let app = TestApp::spawn(db).await;
    accepted(post(&app, "/api/v1/services", BOB, PAYMENTS).await).await;
    fail_at_github_repository(&app, "payments").await;

    for route in ROUTES {
        for (token, login) in [(MALLORY, "mallory"), (CAROL, "carol")] {
            let body = problem(send(&app, route, token).await, StatusCode::FORBIDDEN, "forbidden").await;
            let detail = body["detail"].as_str().unwrap();
            assert!(detail.contains("acme") && detail.contains(login), "{detail}");
        }
    }
    assert_eq!(count(&app, "select count(*) from service").await, 1);
    assert_eq!(app.status_of("payments").await, ServiceStatus::Failed);
    assert_eq!(count(&app, "select count(*) from app_user where login in ('mallory', 'carol')").await, 0);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn unknown_services_and_invalid_bodies_are_problem_documents(db: Db) {
    let app = TestApp::spawn(db).await;
    problem(get(&app, "/api/v1/services/nothing-here", BOB).await, StatusCode::NOT_FOUND, "not_found").await;
    problem(
        post(&app, "/api/v1/services/nothing-here/retry", BOB, "").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    problem(delete(&app, "/api/v1/services/nothing-here", BOB).await, StatusCode::NOT_FOUND, "not_found")
        .await;

    let bad = r#"{"name": "Pay_Ments", "environment": "qa", "template": "acme/service-template", "team": "payments"}"#;
    let body =
        problem(post(&app, "/api/v1/services", BOB, bad).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid")
            .await;
    assert!(body["errors"]["name"].as_str().unwrap().contains("lower-case"), "{body}");
    assert!(body["errors"]["environment"].as_str().unwrap().contains("dev, staging, prod"), "{body}");
    problem(post(&app, "/api/v1/services", BOB, "{not json").await, StatusCode::BAD_REQUEST, "bad_request")
        .await;
    assert_eq!(count(&app, "select count(*) from service").await, 0);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn githubs_verdict_is_cached_so_repeated_calls_ask_github_once(db: Db) {
    let app = TestApp::spawn(db).await;
    let sim = app.sim();
    let user_calls = || sim.request_count("GET", "/user");
    let membership_calls = || sim.request_count("GET", "/user/memberships/orgs/acme");

    for _ in 0..3 {
        assert_eq!(get(&app, "/api/v1/services", BOB).await.status(), StatusCode::OK);
    }
    assert_eq!((user_calls(), membership_calls()), (1, 1));

    // Another token is another verdict; a refusal is remembered too.
    assert_eq!(get(&app, "/api/v1/services", ALICE).await.status(), StatusCode::OK);
    for _ in 0..2 {
        assert_eq!(get(&app, "/api/v1/services", MALLORY).await.status(), StatusCode::FORBIDDEN);
        assert_eq!(get(&app, "/api/v1/services", GARBAGE).await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!((user_calls(), membership_calls()), (4, 3));
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn github_unreachable_is_a_503_problem_and_is_not_remembered(db: Db) {
    let app = TestApp::spawn(db).await;
    app.sim().inject_fault(Fault::new("/user", 503));
    let body = problem(
        get(&app, "/api/v1/services", BOB).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "github_unavailable",
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("GitHub"), "{body}");

    app.sim().clear_faults();
    assert_eq!(get(&app, "/api/v1/services", BOB).await.status(), StatusCode::OK);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn cookie_api_writes_still_need_the_csrf_header(db: Db) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    let json = |request: RequestBuilder| request.header("content-type", "application/json").body(PAYMENTS);

    let forged = json(browser.post(app.at("/api/v1/services"))).send().await.unwrap();
    problem(forged, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(count(&app, "select count(*) from service").await, 0);

    // A bearer header decides for itself: a bad one is refused even beside a good cookie.
    let mixed = json(browser.post(app.at("/api/v1/services")).bearer_auth(GARBAGE)).send().await.unwrap();
    problem(mixed, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let token = app.csrf_token(&browser).await;
    let sent =
        json(browser.post(app.at("/api/v1/services")).header("x-csrf-token", token)).send().await.unwrap();
    assert_eq!(accepted(sent).await["created_by"], "bob");
    // Reads with the cookie need no header, as before.
    assert_eq!(browser.get(app.at("/api/v1/services")).send().await.unwrap().status(), StatusCode::OK);
}

/// Inserts `n` services made by bob, the newest first in name order (`svc-00001` is the newest).
async fn insert_services(app: &TestApp, n: i32, status: &str, environment: &str) {
    get(app, "/api/v1/services", BOB).await; // bob's user row
    sqlx::query(
        "insert into service (name, org, environment, visibility, template, default_branch, created_by, status,
                              created_at)
         select $4 || '-' || lpad(i::text, 5, '0'), 'acme', $3, 'private', 'acme/service-template', 'main',
                (select user_id from app_user where login = 'bob'), $2, now() - make_interval(secs => i)
         from generate_series(1, $1) i",
    )
    .bind(n)
    .bind(status)
    .bind(environment)
    .bind(format!("{status}-{environment}").replace('_', "-"))
    .execute(&app.db)
    .await
    .unwrap();
}

fn names(page: &Value) -> Vec<String> {
    page["services"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_owned()).collect()
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn the_list_pages_newest_first_with_link_headers_and_filters(db: Db) {
    let app = TestApp::spawn(db).await;
    insert_services(&app, 4, "ready", "dev").await;
    insert_services(&app, 2, "failed", "prod").await;
    insert_services(&app, 3, "deleted", "dev").await;
    exec(&app, "update service set created_at = created_at - interval '1 hour' where status = 'failed'")
        .await;

    let mut seen = vec![];
    let mut url = app.at("/api/v1/services?per_page=4");
    loop {
        let response = Client::new().get(&url).bearer_auth(BOB).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let link = response.headers().get("link").map(|v| v.to_str().unwrap().to_owned()).unwrap();
        let page: Value = response.json().await.unwrap();
        assert_eq!((page["total"].as_i64(), page["per_page"].as_i64()), (Some(6), Some(4)));
        seen.extend(names(&page));
        assert!(link.contains(r#"rel="first""#) && link.contains(r#"rel="last""#), "{link}");
        match page["next"].as_str() {
            Some(next) => {
                assert!(link.contains(&format!("<{next}>; rel=\"next\"")), "{link}");
                url = next.to_owned();
            }
            None => {
                assert!(!link.contains(r#"rel="next""#) && link.contains(r#"rel="prev""#), "{link}");
                break;
            }
        }
    }
    let expected = [
        "ready-dev-00001",
        "ready-dev-00002",
        "ready-dev-00003",
        "ready-dev-00004",
        "failed-prod-00001",
        "failed-prod-00002",
    ];
    assert_eq!(seen, expected, "newest first, each once, no deleted service");

    let failed: Value = get(&app, "/api/v1/services?status=failed", BOB).await.json().await.unwrap();
    assert_eq!(names(&failed), ["failed-prod-00001", "failed-prod-00002"]);
    let dev_ready: Value = get(&app, "/api/v1/services?environment=dev&status=ready&per_page=1&page=2", BOB)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (names(&dev_ready), dev_ready["total"].as_i64()),
        (vec!["ready-dev-00002".to_owned()], Some(4))
    );
    let next = dev_ready["next"].as_str().unwrap();
    assert!(next.contains("?status=ready&environment=dev&after=") && next.ends_with("&per_page=1"), "{next}");
    let third: Value = Client::new().get(next).bearer_auth(BOB).send().await.unwrap().json().await.unwrap();
    assert_eq!(names(&third), ["ready-dev-00003"], "the cursor keeps the filters");
    let prev = third["prev"].as_str().unwrap();
    assert!(prev.contains("before="), "{prev}");
    let second: Value = Client::new().get(prev).bearer_auth(BOB).send().await.unwrap().json().await.unwrap();
    assert_eq!(names(&second), ["ready-dev-00002"]);
    let none: Value = get(&app, "/api/v1/services?environment=staging", BOB).await.json().await.unwrap();
    assert_eq!((none["total"].as_i64(), none["next"].is_null()), (Some(0), true));

    let bad = get(&app, "/api/v1/services?per_page=101&page=0&status=deleted", BOB).await;
    let body = problem(bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;
    let fields: Vec<&String> = body["errors"].as_object().unwrap().keys().collect();
    assert_eq!(fields, ["page", "per_page", "status"]);
    assert_eq!(body["errors"]["per_page"], "A whole number from 1 to 100.");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn ten_thousand_services_page_to_the_oldest(db: Db) {
    let app = TestApp::spawn(db).await;
    insert_services(&app, 10_000, "ready", "dev").await;
    exec(&app, "analyze service").await;

    let last: Value = get(&app, "/api/v1/services?per_page=100&page=100", BOB).await.json().await.unwrap();
    let oldest = names(&last);
    assert_eq!(oldest.len(), 100);
    assert_eq!((oldest[0].as_str(), oldest[99].as_str()), ("ready-dev-09901", "ready-dev-10000"));
    assert!(last["next"].is_null());
    // Past a thousand the count stops: the total is unknown, at least 1000.
    assert_eq!((last["total"].is_null(), last["total_at_least"].as_i64()), (true, Some(1000)));
    let beyond: Value = get(&app, "/api/v1/services?per_page=100&page=101", BOB).await.json().await.unwrap();
    assert_eq!(beyond["services"].as_array().unwrap().len(), 0);
    assert!(beyond["prev"].as_str().unwrap().contains("before=end&"), "{beyond}");

    // The `last` link is the same page, found from the end instead of by skipping 9,900 rows.
    let response = get(&app, "/api/v1/services?per_page=100", BOB).await;
    let link = response.headers()["link"].to_str().unwrap().to_owned();
    let last_url = link.split(", ").find(|l| l.ends_with(r#"rel="last""#)).unwrap();
    let last_url = last_url.trim_start_matches('<').split('>').next().unwrap();
    let from_end: Value =
        Client::new().get(last_url).bearer_auth(BOB).send().await.unwrap().json().await.unwrap();
    assert_eq!(names(&from_end), oldest);
    assert!(from_end["next"].is_null());
    let before: Value = Client::new()
        .get(from_end["prev"].as_str().unwrap())
        .bearer_auth(BOB)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let before = names(&before);
    assert_eq!((before[0].as_str(), before[99].as_str()), ("ready-dev-09801", "ready-dev-09900"));
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_cursor_the_api_did_not_make_is_a_422_naming_the_parameter(db: Db) {
    let app = TestApp::spawn(db).await;
    insert_services(&app, 3, "ready", "dev").await;
    for (query, field) in [
        ("after=garbage", "after"),
        ("before=bm9wZQ", "before"),
        // A cursor of the page's name order: the API lists newest first only.
        ("after=bi4xLjAxOTBiM2M0LTVkNmUtN2Y4MC05YTFiLTJjM2Q0ZTVmNmE3Yi5wYXk", "after"),
        ("page=2&before=end", "page"),
    ] {
        let response = get(&app, &format!("/api/v1/services?{query}"), BOB).await;
        let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;
        assert!(body["errors"][field].is_string(), "{query}: {body}");
    }
}
