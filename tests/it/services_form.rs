//! Creating a service through the form and the JSON API: every refusal, every success, and
//! that nothing is written unless the whole request is valid.

use crate::common::app::{TestApp, location};
use reqwest::{Client, Response, StatusCode};
use scraper::{Html, Selector};
use serde_json::{Value, json};
use sqlx::PgPool;

type Db = PgPool;
/// A raw body, the status it gets, and the field and message it names (when it names one).
type JsonCase = (String, StatusCode, Option<(&'static str, &'static str)>);

/// A valid request that differs from every default, so a re-rendered form shows whether it kept
/// what was typed rather than falling back to defaults.
const BASE: [(&str, &str); 7] = [
    ("name", "payments"),
    ("environment", "staging"),
    ("visibility", "internal"),
    ("template", "acme/worker-template"),
    ("default_branch", "trunk"),
    ("description", "Takes payments & <refunds>"),
    ("team", "payments"),
];

/// One invalid request: what it changes from [`BASE`], the only field that must be refused, and
/// a piece of the message the person must see next to it.
struct Case {
    changes: Vec<(&'static str, String)>,
    field: &'static str,
    message: &'static str,
}

fn case(changes: &[(&'static str, &str)], field: &'static str, message: &'static str) -> Case {
    Case { changes: changes.iter().map(|(k, v)| (*k, v.to_string())).collect(), field, message }
}

fn invalid_cases() -> Vec<Case> {
    let a41 = "a".repeat(41);
    let a40 = "a".repeat(40);
    let long_description = "d".repeat(351);
    let long_branch = "b".repeat(60);
    vec![
        case(&[("name", "")], "name", "Enter a service name"),
        case(&[("name", "a")], "name", "2 to 40 characters"),
        case(&[("name", &a41)], "name", "this one has 41"),
        case(&[("name", "payMents")], "name", "only lower-case letters, digits and hyphens"),
        case(&[("name", "9lives")], "name", "Start with a lower-case letter"),
        case(&[("name", "pay_ments")], "name", "only lower-case letters, digits and hyphens"),
        case(&[("name", "pay--ments")], "name", "one at a time"),
        case(&[("name", "payments-")], "name", "one at a time"),
        case(&[("environment", "qa")], "environment", "Choose one of: dev, staging, prod"),
        case(&[("visibility", "secret")], "visibility", "Choose private, internal or public"),
        case(&[("template", "evil/template")], "template", "Choose one of the offered templates"),
        case(&[("default_branch", "")], "default_branch", "Enter a default branch"),
        case(&[("default_branch", "a..b")], "default_branch", "Not a valid git branch name"),
        case(&[("default_branch", "my branch")], "default_branch", "Not a valid git branch name"),
        case(&[("default_branch", "-x")], "default_branch", "Not a valid git branch name"),
        case(&[("default_branch", "x.lock")], "default_branch", "Not a valid git branch name"),
        case(&[("default_branch", "feature/")], "default_branch", "Not a valid git branch name"),
        case(&[("description", &long_description)], "description", "at most 350 characters"),
        case(&[("description", "two\nlines")], "description", "single line"),
        case(&[("team", "")], "team", "Choose the team that owns this service"),
        case(&[("team", "Payments")], "team", "not a team slug"),
        case(&[("team", "platform")], "team", "You are not a member of platform"),
        case(&[("team", "ghosts")], "team", "acme has no team ghosts"),
        // gha.acme. (9) + 40 + .staging. (9) + main-branch-x (13) = 71 characters for the role.
        case(
            &[("name", &a40), ("default_branch", "main-branch-x")],
            "name",
            "would be 71 characters; IAM allows 64. Shorten the service name or branch by 7 characters",
        ),
        // No service name is short enough to make this branch fit: the branch is what must change.
        case(&[("name", "ab"), ("default_branch", &long_branch)], "default_branch", "IAM allows 64"),
    ]
}

fn fields_of(case: &Case) -> Vec<(&'static str, String)> {
    BASE.iter()
        .map(|(k, v)| {
            let changed = case.changes.iter().find(|(c, _)| c == k).map(|(_, v)| v.clone());
            (*k, changed.unwrap_or_else(|| v.to_string()))
        })
        .collect()
}

async fn post_form(app: &TestApp, browser: &Client, fields: &[(&str, String)]) -> Response {
    let mut form = vec![("csrf_token", app.csrf_token(browser).await)];
    form.extend(fields.iter().cloned());
    browser.post(app.at("/services")).form(&form).send().await.unwrap()
}

async fn post_json(app: &TestApp, browser: &Client, body: &Value) -> Response {
    let token = app.csrf_token(browser).await;
    browser.post(app.at("/api/v1/services")).header("x-csrf-token", token).json(body).send().await.unwrap()
}

/// Rows a create writes: services, steps, and audit events other than sign-ins.
/// How many step rows one new service has: one per create step.
fn create_steps() -> i64 {
    shipyard::provision::steps::service_steps(shipyard::provision::Phase::Create).len() as i64
}

async fn written(db: &PgPool) -> (i64, i64, i64) {
    sqlx::query_as(
        "select (select count(*) from service), (select count(*) from step),
                (select count(*) from audit_event where action <> 'login')",
    )
    .fetch_one(db)
    .await
    .unwrap()
}

fn select_one<'a>(html: &'a Html, selector: &str) -> Option<scraper::ElementRef<'a>> {
    html.select(&Selector::parse(selector).unwrap()).next()
}

/// The value the re-rendered form shows for `field`, the way a browser would submit it.
fn shown_value(html: &Html, field: &str) -> Option<String> {
    let value =
        |selector: &str| select_one(html, selector).and_then(|e| e.value().attr("value").map(str::to_owned));
    match field {
        "environment" | "template" | "team" => value(&format!("select[name={field}] option[selected]")),
        "visibility" => value("input[name=visibility][checked]"),
        _ => value(&format!("input[name={field}]")),
    }
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn the_blank_form_offers_the_configured_choices_and_safe_defaults(db: Db) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    let response = browser.get(app.at("/services/new")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let html = Html::parse_document(&response.text().await.unwrap());
    let options = |name: &str| -> Vec<String> {
        html.select(&Selector::parse(&format!("select[name={name}] option")).unwrap())
            .map(|o| o.value().attr("value").unwrap().to_owned())
            .collect()
    };
    assert_eq!(options("environment"), ["dev", "staging", "prod"]);
    assert_eq!(options("template"), ["acme/service-template", "acme/worker-template"]);
    assert_eq!(shown_value(&html, "visibility").as_deref(), Some("private"));
    assert_eq!(shown_value(&html, "default_branch").as_deref(), Some("main"));
    assert_eq!(shown_value(&html, "name").as_deref(), Some(""));
    let csrf = select_one(&html, "form[action='/services'] input[name=csrf_token]").expect("a CSRF field");
    assert_eq!(csrf.value().attr("value").unwrap(), app.csrf_token(&browser).await);
    let hint = select_one(&html, "#name-hint").unwrap().text().collect::<String>();
    assert!(hint.contains("2 to 40 characters"), "{hint}");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn each_invalid_form_field_is_refused_next_to_the_field_keeping_what_was_typed(db: Db) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    for case in invalid_cases() {
        let fields = fields_of(&case);
        let response = post_form(&app, &browser, &fields).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{:?}", case.changes);
        let html = Html::parse_document(&response.text().await.unwrap());

        let errors: Vec<String> = html
            .select(&Selector::parse(".field .error").unwrap())
            .map(|e| e.value().attr("id").unwrap_or_default().to_owned())
            .collect();
        assert_eq!(errors, [format!("{}-error", case.field)], "{:?}", case.changes);
        let message =
            select_one(&html, &format!("#{}-error", case.field)).unwrap().text().collect::<String>();
        assert!(message.contains(case.message), "{:?}: {message}", case.changes);

        for (field, typed) in &fields {
            let offered = match *field {
                "environment" => ["dev", "staging", "prod"].contains(&typed.as_str()),
                "template" => typed.starts_with("acme/"),
                "visibility" => typed != "secret",
                // The select offers bob's own teams only.
                "team" => typed == "payments",
                _ => !typed.contains('\n'), // an input's value cannot hold a line break
            };
            if offered {
                assert_eq!(
                    shown_value(&html, field).as_ref(),
                    Some(typed),
                    "{field} kept for {:?}",
                    case.changes
                );
            }
        }
        assert_eq!(written(&app.db).await, (0, 0, 0), "nothing written for {:?}", case.changes);
    }
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn each_invalid_api_field_is_a_422_problem_naming_the_field(db: Db) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    for case in invalid_cases() {
        let body: serde_json::Map<String, Value> =
            fields_of(&case).into_iter().map(|(k, v)| (k.to_owned(), Value::String(v))).collect();
        let response = post_json(&app, &browser, &Value::Object(body)).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{:?}", case.changes);
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        let problem: Value = response.json().await.unwrap();
        let errors = problem["errors"].as_object().expect("errors by field");
        assert_eq!(errors.keys().collect::<Vec<_>>(), [case.field], "{:?}", case.changes);
        let message = errors[case.field].as_str().unwrap();
        assert!(message.contains(case.message), "{:?}: {message}", case.changes);
        assert_eq!(written(&app.db).await, (0, 0, 0), "nothing written for {:?}", case.changes);
    }
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn bodies_that_are_not_the_expected_json_are_problems_and_write_nothing(db: Db) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    let token = app.csrf_token(&browser).await;
    let base = r#""environment": "dev", "template": "acme/service-template", "team": "payments""#;
    let cases: Vec<JsonCase> = vec![
        (r#"{"name": "#.into(), StatusCode::BAD_REQUEST, None),
        ("[1, 2]".into(), StatusCode::BAD_REQUEST, None),
        (r#"["payments", "dev", "private", "acme/service-template"]"#.into(), StatusCode::BAD_REQUEST, None),
        (r#"{"name": "payments"} trailing"#.into(), StatusCode::BAD_REQUEST, None),
        (format!(r#"{{"name": 5, {base}}}"#), StatusCode::UNPROCESSABLE_ENTITY, Some(("name", "Wrong type"))),
        (
            format!(r#"{{"name": "payments", "visibility": true, {base}}}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(("visibility", "Wrong type")),
        ),
        (
            format!(r#"{{"name": "payments", "branch": "main", {base}}}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(("branch", "not part of the request")),
        ),
    ];
    for (body, status, field) in cases {
        let response = browser
            .post(app.at("/api/v1/services"))
            .header("x-csrf-token", &token)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{body}");
        assert_eq!(response.headers()["content-type"], "application/problem+json", "{body}");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["status"], status.as_u16(), "{body}");
        assert!(problem["request_id"].as_str().is_some_and(|id| id.len() > 8), "{problem}");
        if let Some((field, message)) = field {
            let said = problem["errors"][field].as_str().unwrap_or_default();
            assert!(said.contains(message), "{body}: {problem}");
        }
    }
    let form = browser
        .post(app.at("/api/v1/services"))
        .header("x-csrf-token", &token)
        .form(&[("name", "payments"), ("environment", "dev"), ("template", "acme/service-template")])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::BAD_REQUEST, "the API reads JSON only");
    assert_eq!(written(&app.db).await, (0, 0, 0));
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn writes_without_the_csrf_token_are_403_and_change_nothing(db: Db) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    let fields: Vec<(&str, String)> = BASE.iter().map(|(k, v)| (*k, v.to_string())).collect();
    for token in [None, Some("forged")] {
        let mut form = fields.clone();
        if let Some(token) = token {
            form.push(("csrf_token", token.to_owned()));
        }
        let response = browser.post(app.at("/services")).form(&form).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "form with token {token:?}");

        let body: serde_json::Map<String, Value> =
            fields.iter().map(|(k, v)| (k.to_string(), Value::String(v.clone()))).collect();
        let mut request = browser.post(app.at("/api/v1/services")).json(&body);
        if let Some(token) = token {
            request = request.header("x-csrf-token", token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "API with header {token:?}");
        assert_eq!(response.headers()["content-type"], "application/problem+json");
    }
    let anonymous =
        app.browser().post(app.at("/api/v1/services")).json(&json!({"name": "x"})).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(written(&app.db).await, (0, 0, 0));
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_valid_form_creates_the_service_its_pending_steps_and_an_audit_row(db: Db) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    let fields: Vec<(&str, String)> = BASE.iter().map(|(k, v)| (*k, v.to_string())).collect();
    let response = post_form(&app, &browser, &fields).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/services/payments");
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();

    let service: (String, String, String, String, String, String, String, String) = sqlx::query_as(
        "select s.status, s.org, s.environment, s.visibility, s.template, s.default_branch, s.description, u.login
         from service s join app_user u on u.user_id = s.created_by where s.name = 'payments'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        service,
        (
            "provisioning".into(),
            "acme".into(),
            "staging".into(),
            "internal".into(),
            "acme/worker-template".into(),
            "trunk".into(),
            "Takes payments & <refunds>".into(),
            "bob".into()
        )
    );
    let steps: Vec<(String, String)> =
        sqlx::query_as("select step, status from step order by step").fetch_all(&app.db).await.unwrap();
    let mut expected: Vec<(String, String)> =
        shipyard::provision::steps::service_steps(shipyard::provision::Phase::Create)
            .iter()
            .map(|s| (s.as_str().to_owned(), "pending".to_owned()))
            .collect();
    expected.sort();
    assert_eq!(steps, expected);

    let audit: (String, String, Option<String>, Option<String>, String, Option<String>, bool) =
        sqlx::query_as(
            "select a.action, a.outcome, a.actor_login, a.service_name, a.detail, a.request_id,
                a.service_id = s.service_id
         from audit_event a join service s on true where a.action <> 'login'",
        )
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(
        audit,
        (
            "create".into(),
            "success".into(),
            Some("bob".into()),
            Some("payments".into()),
            "staging · internal · acme/worker-template · trunk · team payments".into(),
            Some(request_id),
            true
        )
    );
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn the_api_creates_with_defaults_and_answers_202_with_the_service(db: Db) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("alice").await;
    let body = json!({"name": "ledger", "environment": "dev", "template": "acme/service-template", "team": "payments"});
    let response = post_json(&app, &browser, &body).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let service: Value = response.json().await.unwrap();
    assert_eq!(service["name"], "ledger");
    assert_eq!(service["status"], "provisioning");
    assert_eq!(service["environment"], "dev");
    assert_eq!(service["visibility"], "private");
    assert_eq!(service["template"], "acme/service-template");
    assert_eq!(service["default_branch"], "main");
    assert_eq!(service["created_by"], "alice");
    assert!(service["urls"]["html"].is_null() && service["urls"]["ssh"].is_null());
    assert_eq!(service["links"]["self"], "/api/v1/services/ledger");

    let again = browser.get(app.at("/api/v1/services/ledger")).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.json::<Value>().await.unwrap()["status"], "provisioning");
    assert_eq!(written(&app.db).await, (1, create_steps(), 1));
    assert_eq!(
        app.audit_actions().await.last().unwrap(),
        &("create".into(), "success".into(), Some("alice".into()))
    );
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_name_held_by_a_live_service_is_refused_but_a_deleted_ones_is_free(db: Db) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    let fields: Vec<(&str, String)> = BASE.iter().map(|(k, v)| (*k, v.to_string())).collect();
    assert_eq!(post_form(&app, &browser, &fields).await.status(), StatusCode::SEE_OTHER);

    let response = post_form(&app, &browser, &fields).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = Html::parse_document(&response.text().await.unwrap());
    let message = select_one(&html, "#name-error").unwrap().text().collect::<String>();
    assert_eq!(message, "A service named payments already exists.");
    assert_eq!(shown_value(&html, "default_branch").as_deref(), Some("trunk"));

    let body = json!({"name": "payments", "environment": "dev", "template": "acme/service-template", "team": "payments"});
    // The API says it is a clash with what exists (409 `name_taken`), not bad input.
    let response = post_json(&app, &browser, &body).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "name_taken");
    assert_eq!(problem["errors"]["name"], "A service named payments already exists.");
    assert_eq!(written(&app.db).await, (1, create_steps(), 1));

    sqlx::query("update service set status = 'deleted', deleted_at = now()").execute(&app.db).await.unwrap();
    assert_eq!(post_form(&app, &browser, &fields).await.status(), StatusCode::SEE_OTHER);
    let live: i64 = sqlx::query_scalar("select count(*) from service where status <> 'deleted'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(live, 1);
}

/// Simultaneous requests can all pass the "is the name free" check; the unique index decides, and
/// the losers must get the same answer as if the check had caught it (409 naming the field), not a 500.
#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn simultaneous_creates_of_one_name_make_one_service_and_name_errors(db: Db) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    let token = app.csrf_token(&browser).await;
    let body = json!({"name": "racer", "environment": "dev", "template": "acme/service-template", "team": "payments"});
    let requests = (0..8)
        .map(|_| browser.post(app.at("/api/v1/services")).header("x-csrf-token", &token).json(&body).send());
    let responses = futures::future::join_all(requests).await;
    let mut statuses = Vec::new();
    for response in responses {
        let response = response.unwrap();
        statuses.push(response.status());
        if response.status() == StatusCode::CONFLICT {
            let problem: Value = response.json().await.unwrap();
            assert_eq!(problem["code"], "name_taken");
            assert_eq!(problem["errors"]["name"], "A service named racer already exists.");
        }
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::ACCEPTED).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count(), 7, "{statuses:?}");
    assert_eq!(written(&app.db).await, (1, create_steps(), 1));
}

fn visibility_radios(html: &Html) -> Vec<String> {
    html.select(&Selector::parse("input[name=visibility]").unwrap())
        .map(|e| e.value().attr("value").unwrap().to_owned())
        .collect()
}

/// `public` is for organization admins unless `SHIPYARD_ALLOWED_VISIBILITIES` allows it: a member's
/// form does not offer it, and the form and the API refuse it naming `visibility`, writing nothing.
#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn public_visibility_is_an_org_admins_choice_by_default(db: Db) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    let form =
        Html::parse_document(&bob.get(app.at("/services/new")).send().await.unwrap().text().await.unwrap());
    assert_eq!(visibility_radios(&form), ["private", "internal"]);

    let public = fields_of(&case(&[("visibility", "public")], "visibility", ""));
    let response = post_form(&app, &bob, &public).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = Html::parse_document(&response.text().await.unwrap());
    let error = select_one(&html, "#visibility-error").expect("an error next to visibility");
    assert!(error.text().collect::<String>().contains("organization admin"), "{}", error.html());
    let body: serde_json::Map<String, Value> =
        public.iter().map(|(k, v)| ((*k).to_owned(), Value::String(v.clone()))).collect();
    let response = post_json(&app, &bob, &Value::Object(body.clone())).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = response.json().await.unwrap();
    assert!(
        problem["errors"]["visibility"].as_str().unwrap().contains("choose private, internal"),
        "{problem}"
    );
    assert_eq!(written(&app.db).await, (0, 0, 0));

    let alice = app.signed_in("alice").await;
    let form =
        Html::parse_document(&alice.get(app.at("/services/new")).send().await.unwrap().text().await.unwrap());
    assert_eq!(visibility_radios(&form), ["private", "internal", "public"]);
    let response = post_json(&app, &alice, &Value::Object(body)).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(response.json::<Value>().await.unwrap()["visibility"], "public");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn an_organization_that_allows_public_offers_it_to_members(db: Db) {
    use shipyard::domain::Visibility;
    let app = TestApp::spawn_with(db, github_sim::SimConfig::default(), |c| {
        c.allowed_visibilities = Visibility::ALL.to_vec();
    })
    .await;
    let bob = app.signed_in("bob").await;
    let form =
        Html::parse_document(&bob.get(app.at("/services/new")).send().await.unwrap().text().await.unwrap());
    assert_eq!(visibility_radios(&form), ["private", "internal", "public"]);
    let public = fields_of(&case(&[("visibility", "public")], "visibility", ""));
    assert_eq!(post_form(&app, &bob, &public).await.status(), StatusCode::SEE_OTHER);
}

/// `SHIPYARD_MAX_SERVICES_PER_USER` caps a person's live services: one more is a 409 saying so,
/// from the form and the API; a deleted service no longer counts, and others are not affected.
#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_person_at_the_service_cap_is_refused_until_one_is_deleted(db: Db) {
    let app =
        TestApp::spawn_with(db, github_sim::SimConfig::default(), |c| c.max_services_per_user = 2).await;
    let bob = app.signed_in("bob").await;
    let create = |name: &'static str| json!({"name": name, "environment": "dev", "template": "acme/service-template", "team": "payments"});
    for name in ["one", "two"] {
        assert_eq!(post_json(&app, &bob, &create(name)).await.status(), StatusCode::ACCEPTED);
    }
    let refused = post_json(&app, &bob, &create("three")).await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let problem: Value = refused.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("Shipyard allows 2 per person"), "{problem}");
    let three = fields_of(&case(&[("name", "three")], "name", ""));
    let from_form = post_form(&app, &bob, &three).await;
    assert_eq!(from_form.status(), StatusCode::CONFLICT);
    assert!(from_form.text().await.unwrap().contains("Shipyard allows 2 per person"));
    assert_eq!(written(&app.db).await.0, 2, "no third service");

    let alice = app.signed_in("alice").await;
    assert_eq!(post_json(&app, &alice, &create("alices")).await.status(), StatusCode::ACCEPTED);
    sqlx::query("update service set status = 'deleted', deleted_at = now() where name = 'one'")
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(post_json(&app, &bob, &create("three")).await.status(), StatusCode::ACCEPTED);
}
