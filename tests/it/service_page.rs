//! The service page, its progress feed and retry. Services are created through the API; the
//! states the reconciler would reach are written straight into the database.

use crate::common::app::{Member, TestApp, location};
use crate::common::fixtures::{attrs, create_service_via_api, page, texts};
use reqwest::{Client, Response, StatusCode};
use scraper::{Html, Selector};
use serde_json::{Value, json};
use shipyard::domain::StepName;
use sqlx::PgPool;

type Db = PgPool;

/// Signs bob in and creates `payments` (status provisioning, every step pending).
async fn app_with_service(db: Db) -> (TestApp, Member) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    create_service_via_api(&app, &browser, "payments").await;
    (app, browser)
}

async fn exec(app: &TestApp, sql: &str) {
    sqlx::query(sql).execute(&app.db).await.unwrap();
}

/// A provider message with markup in it, as GitHub might echo a name back.
const HOSTILE_ERROR: &str =
    "GitHub said 422: name <script>alert('x')</script> already exists on this account";

/// Puts `payments` where the reconciler leaves it when the GitHub repository step gives up.
async fn fail_at_github_repository(app: &TestApp) {
    exec(app, "update step set status = 'done', attempts = 1, started_at = now() - interval '3 s',
               finished_at = now() - interval '2 s' where step in ('preflight', 'oidc_provider', 'ecr_repository')")
    .await;
    sqlx::query(
        "update step set status = 'failed', attempts = 3, started_at = now() - interval '2 s', finished_at = now(),
                error = $1 where step = 'github_repository'",
    )
    .bind(HOSTILE_ERROR)
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query("update service set status = 'failed', error_step = 'github_repository', error_message = $1")
        .bind(HOSTILE_ERROR)
        .execute(&app.db)
        .await
        .unwrap();
}

/// Puts `payments` where the reconciler leaves it when everything worked.
async fn make_ready(app: &TestApp, html_url: &str) {
    exec(app, "update step set status = 'done', attempts = 1, started_at = now() - interval '1 s', finished_at = now()")
        .await;
    let outputs = [
        (
            "github_repository",
            json!({"id": 7, "full_name": "acme/payments", "html_url": html_url,
                   "ssh_url": "git@github.example:acme/payments.git",
                   "clone_url": "https://github.example/acme/payments.git", "default_branch": "main", "owner_id": 1000}),
        ),
        (
            "ecr_repository",
            json!({"name": "payments", "arn": "arn:aws:ecr:us-east-1:123456789012:repository/payments",
                                  "uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/payments"}),
        ),
        (
            "iam_role",
            json!({"name": "gha.acme.payments.dev.main",
                            "arn": "arn:aws:iam::123456789012:role/gha.acme.payments.dev.main"}),
        ),
        (
            "first_build",
            json!({"action": "rerun", "run_id": 42,
                               "run_url": "https://github.example/acme/payments/actions/runs/42",
                               "conclusion": "success", "note": null}),
        ),
    ];
    for (step, output) in outputs {
        sqlx::query("update step set outputs = $2 where step = $1")
            .bind(step)
            .bind(output)
            .execute(&app.db)
            .await
            .unwrap();
    }
    sqlx::query(
        "update service set status = 'ready', html_url = $1, ssh_url = 'git@github.example:acme/payments.git',
                ecr_repository_uri = '123456789012.dkr.ecr.us-east-1.amazonaws.com/payments',
                role_arn = 'arn:aws:iam::123456789012:role/gha.acme.payments.dev.main'",
    )
    .bind(html_url)
    .execute(&app.db)
    .await
    .unwrap();
}

/// Posts payments' Retry form as `browser` with `token` as its CSRF token.
async fn post_retry_form(app: &TestApp, browser: &Client, token: &str) -> Response {
    browser.post(app.at("/services/payments/retry")).form(&[("csrf_token", token)]).send().await.unwrap()
}

/// Asks the API to retry payments as `browser` with `token` in the CSRF header.
async fn post_retry_api(app: &TestApp, browser: &Client, token: &str) -> Response {
    browser
        .post(app.at("/api/v1/services/payments/retry"))
        .header("x-csrf-token", token)
        .send()
        .await
        .unwrap()
}

async fn service_state(app: &TestApp) -> (String, Option<String>, String, Option<String>) {
    sqlx::query_as(
        "select s.status, s.error_step, t.status, t.error from service s
         join step t on t.service_id = s.service_id and t.step = 'github_repository'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_new_service_shows_every_create_step_pending_and_follows_progress(db: Db) {
    let (app, browser) = app_with_service(db).await;
    let (status, body) = page(&app, &browser, "/services/payments").await;
    assert_eq!(status, StatusCode::OK);
    let html = Html::parse_document(&body);
    assert_eq!(texts(&html, "[data-testid=service-status]"), ["provisioning"]);
    let labels: Vec<String> = shipyard::provision::steps::service_steps(shipyard::provision::Phase::Create)
        .iter()
        .map(|s| shipyard::provision::steps::def(*s).label.to_owned())
        .collect();
    assert_eq!(texts(&html, "#steps li [data-part=label]"), labels);
    assert_eq!(texts(&html, "#steps li [data-part=status]"), vec!["pending"; labels.len()]);
    assert_eq!(attrs(&html, "#steps", "data-progress-url"), ["/services/payments/progress"]);
    assert_eq!(attrs(&html, "a#refresh", "href"), ["/services/payments"], "works without JavaScript");
    assert!(texts(&html, "dl.facts dd").contains(&"acme/service-template".to_owned()));
    assert!(texts(&html, "dl.facts dd").contains(&"bob".to_owned()));
    // The CSP allows only our own script file: no inline code or styles on the page.
    assert_eq!(attrs(&html, "script", "src"), [shipyard::web::assets::url("shipyard.js")]);
    assert_eq!(html.select(&Selector::parse("script").unwrap()).count(), 1);
    assert_eq!(html.select(&Selector::parse("[style]").unwrap()).count(), 0);
    let script = browser.get(app.at("/static/shipyard.js")).send().await.unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert!(script.text().await.unwrap().contains("data-progress-url"));
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn an_unknown_service_is_a_404_page(db: Db) {
    let (app, browser) = app_with_service(db).await;
    let (status, body) = page(&app, &browser, "/services/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("There is nothing at this address."), "{body}");
    assert_eq!(browser.get(app.at("/services/nothing-here/progress")).send().await.unwrap().status(), 404);
    assert_eq!(browser.get(app.at("/api/v1/services/nothing-here")).send().await.unwrap().status(), 404);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn progress_reports_each_steps_state_in_order_with_durations(db: Db) {
    let (app, browser) = app_with_service(db).await;
    exec(
        &app,
        "update step set status = 'done', attempts = 1, started_at = '2026-01-01T00:00:00Z',
               finished_at = '2026-01-01T00:00:01.5Z' where step = 'preflight'",
    )
    .await;
    exec(
        &app,
        "update step set status = 'running', attempts = 2, started_at = now() - interval '4 s'
               where step = 'ecr_repository'",
    )
    .await;
    exec(
        &app,
        "update step set status = 'failed', attempts = 1, started_at = now(), finished_at = now(),
               error = 'rate limited' where step = 'oidc_provider'",
    )
    .await;

    let response = browser.get(app.at("/services/payments/progress")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let progress: Value = response.json().await.unwrap();
    assert_eq!(progress["status"], "provisioning");
    assert_eq!(progress["terminal"], false);
    let steps = progress["steps"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["name"].as_str().unwrap()).collect();
    let expected: Vec<&str> = shipyard::provision::steps::service_steps(shipyard::provision::Phase::Create)
        .iter()
        .map(|s| s.as_str())
        .collect();
    assert_eq!(names, expected);
    assert_eq!(steps[0]["status"], "done");
    assert_eq!(steps[0]["duration_ms"], 1500);
    assert_eq!(steps[0]["label"], shipyard::provision::steps::def(StepName::Preflight).label);
    assert_eq!(steps[1]["status"], "failed");
    assert_eq!(steps[1]["error"], "rate limited");
    assert_eq!(steps[2]["status"], "running");
    assert!(steps[2]["duration_ms"].as_i64().unwrap() >= 4000, "{}", steps[2]);
    assert!(steps[2]["duration"].as_str().unwrap().starts_with("running for 4"), "{}", steps[2]);
    assert_eq!(steps[2]["attempts"], 2);
    assert_eq!(steps[3]["status"], "pending");
    assert!(steps[3]["duration_ms"].is_null() && steps[3]["error"].is_null());

    // The page shows the same states, attempts and timings.
    let html = Html::parse_document(&page(&app, &browser, "/services/payments").await.1);
    let row =
        |step: &str, part: &str| texts(&html, &format!("li[data-step={step}] [data-part={part}]")).join("");
    assert_eq!(row("preflight", "duration"), "1.5 s");
    assert_eq!(row("ecr_repository", "attempts"), "2 attempts");
    assert_eq!(row("preflight", "attempts"), "");
    assert!(row("ecr_repository", "duration").starts_with("running for"));
    assert_eq!(row("oidc_provider", "error"), "rate limited");

    make_ready(&app, "https://github.example/acme/payments").await;
    let progress: Value =
        browser.get(app.at("/services/payments/progress")).send().await.unwrap().json().await.unwrap();
    assert_eq!(progress["status"], "ready");
    assert_eq!(progress["terminal"], true, "the script stops polling and reloads");
    assert_eq!(progress["outputs"]["ssh_url"], "git@github.example:acme/payments.git");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_failed_service_says_which_step_failed_escaped_and_offers_retry(db: Db) {
    let (app, browser) = app_with_service(db).await;
    fail_at_github_repository(&app).await;
    let (status, body) = page(&app, &browser, "/services/payments").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!body.contains("<script>alert"), "provider text must be escaped");
    assert!(body.contains("&#60;script&#62;alert("), "{body}");

    let html = Html::parse_document(&body);
    assert_eq!(
        attrs(&html, "script", "src"),
        [shipyard::web::assets::url("shipyard.js")],
        "no script element from the provider"
    );
    assert_eq!(texts(&html, "[data-testid=service-status]"), ["failed"]);
    let failure = texts(&html, "[data-testid=failure] p").join(" ");
    assert!(failure.contains("The step GitHub repository from the template failed:"), "{failure}");
    assert!(failure.contains(HOSTILE_ERROR), "{failure}");
    assert_eq!(attrs(&html, "[data-testid=failure] form", "action"), ["/services/payments/retry"]);
    let csrf = attrs(&html, "[data-testid=failure] form input[name=csrf_token]", "value");
    assert_eq!(csrf, [app.csrf_token(&browser).await]);
    assert_eq!(texts(&html, "li[data-step=github_repository] [data-part=error]"), [HOSTILE_ERROR]);
    assert_eq!(texts(&html, "li[data-step=github_repository] [data-part=attempts]"), ["3 attempts"]);
    assert!(attrs(&html, "#steps", "data-progress-url").is_empty(), "nothing to follow until someone acts");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn retry_resumes_a_failed_service_from_its_failed_step_and_is_audited(db: Db) {
    let (app, browser) = app_with_service(db).await;
    fail_at_github_repository(&app).await;
    let token = app.csrf_token(&browser).await;

    let forged = post_retry_form(&app, &browser, "forged").await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(service_state(&app).await.0, "failed");

    let response = post_retry_form(&app, &browser, &token).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/services/payments");
    assert_eq!(service_state(&app).await, ("provisioning".into(), None, "pending".into(), None));
    let done: i64 = sqlx::query_scalar("select count(*) from step where status = 'done'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(done, 3, "the steps that were done stay done");
    let retry: (String, Option<String>, Option<String>, String) = sqlx::query_as(
        "select action, actor_login, service_name, detail from audit_event where action = 'retry'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        retry,
        ("retry".into(), Some("bob".into()), Some("payments".into()), "from github_repository".into())
    );

    let html = Html::parse_document(&page(&app, &browser, "/services/payments").await.1);
    assert!(texts(&html, "[data-testid=failure]").is_empty());
    assert_eq!(attrs(&html, "#steps", "data-progress-url"), ["/services/payments/progress"]);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn the_api_retries_with_the_csrf_header(db: Db) {
    let (app, browser) = app_with_service(db).await;
    fail_at_github_repository(&app).await;
    let without = browser.post(app.at("/api/v1/services/payments/retry")).send().await.unwrap();
    assert_eq!(without.status(), StatusCode::FORBIDDEN);
    assert_eq!(service_state(&app).await.0, "failed");

    let token = app.csrf_token(&browser).await;
    let response = post_retry_api(&app, &browser, &token).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let service: Value = response.json().await.unwrap();
    assert_eq!(service["status"], "provisioning");
    assert!(service["error"].is_null());
    assert_eq!(service_state(&app).await, ("provisioning".into(), None, "pending".into(), None));
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn retrying_a_service_that_has_not_failed_is_a_409_and_changes_nothing(db: Db) {
    let (app, browser) = app_with_service(db).await;
    let token = app.csrf_token(&browser).await;
    exec(
        &app,
        "update step set status = 'running', attempts = 1, started_at = now() where step = 'preflight'",
    )
    .await;
    let before: Vec<(String, String, i32)> =
        sqlx::query_as("select step, status, attempts from step order by step")
            .fetch_all(&app.db)
            .await
            .unwrap();

    let response = post_retry_form(&app, &browser, &token).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.text().await.unwrap().contains("Only a failed service can be retried"));
    let response = post_retry_api(&app, &browser, &token).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "conflict");

    let after: Vec<(String, String, i32)> =
        sqlx::query_as("select step, status, attempts from step order by step")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(after, before);
    assert_eq!(service_state(&app).await.0, "provisioning");
    assert!(!app.audit_actions().await.iter().any(|(action, _, _)| action == "retry"));
    let unknown =
        browser.post(app.at("/services/nothing/retry")).form(&[("csrf_token", &token)]).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

/// The Retry refusals in the audit trail: (actor, outcome, service).
async fn denied_retries(app: &TestApp) -> Vec<(Option<String>, String, Option<String>)> {
    sqlx::query_as(
        "select actor_login, outcome, service_name from audit_event where action = 'retry' order by audit_event_id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn another_members_retry_of_bobs_failed_service_is_a_403_and_audited_on_the_page_and_the_api(db: Db) {
    let (app, _bob) = app_with_service(db).await;
    fail_at_github_repository(&app).await;
    app.sim().set_membership("acme", "carol", "member", "active");
    let carol = app.signed_in("carol").await;
    let token = app.csrf_token(&carol).await;
    // The page offers carol no Retry button, and says who may retry.
    let html = Html::parse_document(
        &carol.get(app.at("/services/payments")).send().await.unwrap().text().await.unwrap(),
    );
    assert!(texts(&html, "[data-testid=retry]").is_empty());
    let refusal = texts(&html, "[data-testid=retry-refusal]");
    assert!(refusal.len() == 1 && refusal[0].contains("Only bob (who created payments)"), "{refusal:?}");

    let from_page = post_retry_form(&app, &carol, &token).await;
    assert_eq!(from_page.status(), StatusCode::FORBIDDEN);
    let body = from_page.text().await.unwrap();
    assert!(body.contains("Only bob (who created payments)") && body.contains("can retry it"), "{body}");
    let from_api = post_retry_api(&app, &carol, &token).await;
    assert_eq!(from_api.status(), StatusCode::FORBIDDEN);
    let problem: Value = from_api.json().await.unwrap();
    assert_eq!(problem["code"], "forbidden", "{problem}");

    // Nothing moved: still failed at the same step, and each refusal is on record.
    assert_eq!(
        service_state(&app).await,
        ("failed".into(), Some("github_repository".into()), "failed".into(), Some(HOSTILE_ERROR.into()))
    );
    let denied = (Some("carol".to_owned()), "denied".to_owned(), Some("payments".to_owned()));
    assert_eq!(denied_retries(&app).await, [denied.clone(), denied]);

    // An organization admin may (alice), as may the creator.
    let alice = app.signed_in("alice").await;
    let token = app.csrf_token(&alice).await;
    assert_eq!(post_retry_form(&app, &alice, &token).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(service_state(&app).await.0, "provisioning");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_ready_service_shows_how_to_clone_build_and_deploy(db: Db) {
    let (app, browser) = app_with_service(db).await;
    make_ready(&app, "https://github.example/acme/payments").await;
    let (status, body) = page(&app, &browser, "/services/payments").await;
    assert_eq!(status, StatusCode::OK);
    let html = Html::parse_document(&body);
    assert_eq!(texts(&html, "[data-testid=service-status]"), ["ready"]);
    assert_eq!(texts(&html, "#ssh-url"), ["git@github.example:acme/payments.git"]);
    assert_eq!(texts(&html, "#clone-url"), ["https://github.example/acme/payments.git"]);
    assert_eq!(attrs(&html, "button[data-copy]", "data-copy"), ["ssh-url", "clone-url", "ecr-uri"]);
    assert_eq!(
        attrs(&html, "[data-testid=actions-link]", "href"),
        ["https://github.example/acme/payments/actions"]
    );
    assert_eq!(
        attrs(&html, "[data-testid=run-link]", "href"),
        ["https://github.example/acme/payments/actions/runs/42"]
    );
    assert!(texts(&html, "[data-testid=outputs] .badge").contains(&"success".to_owned()));
    assert_eq!(texts(&html, "#ecr-uri"), ["123456789012.dkr.ecr.us-east-1.amazonaws.com/payments"]);
    assert!(body.contains("arn:aws:iam::123456789012:role/gha.acme.payments.dev.main"));
    assert!(attrs(&html, "#steps", "data-progress-url").is_empty(), "a ready page does not poll");
    assert!(attrs(&html, "a#refresh", "href").is_empty());
    let create_steps = shipyard::provision::steps::service_steps(shipyard::provision::Phase::Create).len();
    assert_eq!(texts(&html, "#steps li [data-part=status]"), vec!["done"; create_steps]);

    let api: Value =
        browser.get(app.at("/api/v1/services/payments")).send().await.unwrap().json().await.unwrap();
    assert_eq!(api["urls"]["ssh"], "git@github.example:acme/payments.git");
    assert_eq!(api["urls"]["role_arn"], "arn:aws:iam::123456789012:role/gha.acme.payments.dev.main");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_repository_url_that_is_not_a_web_url_is_never_made_a_link(db: Db) {
    let (app, browser) = app_with_service(db).await;
    make_ready(&app, "javascript:alert(document.cookie)").await;
    let (status, body) = page(&app, &browser, "/services/payments").await;
    assert_eq!(status, StatusCode::OK);
    let html = Html::parse_document(&body);
    assert!(attrs(&html, "a", "href").iter().all(|href| !href.starts_with("javascript:")), "{body}");
    assert!(texts(&html, "[data-testid=actions-link]").is_empty());
    assert_eq!(texts(&html, "#ssh-url"), ["git@github.example:acme/payments.git"], "the rest still shows");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_service_being_deleted_lists_the_delete_steps_after_the_create_steps(db: Db) {
    let (app, browser) = app_with_service(db).await;
    make_ready(&app, "https://github.example/acme/payments").await;
    exec(
        &app,
        "insert into step (service_id, step) select service_id, unnest(array['delete_role', 'delete_policy',
               'delete_ecr_repository', 'delete_github_repository']) from service",
    )
    .await;
    exec(&app, "update service set status = 'deleting', desired = 'absent'").await;
    let html = Html::parse_document(&page(&app, &browser, "/services/payments").await.1);
    let order: Vec<String> = attrs(&html, "#steps li", "data-step");
    // A service without extra roles: its own create steps, then its own delete steps.
    use shipyard::provision::{Phase, steps::service_steps};
    let expected: Vec<String> = [service_steps(Phase::Create), service_steps(Phase::Delete)]
        .concat()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(order, expected);
    assert_eq!(texts(&html, "[data-testid=service-status]"), ["deleting"]);
    assert_eq!(attrs(&html, "#steps", "data-progress-url"), ["/services/payments/progress"]);
}
