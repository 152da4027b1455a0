//! The owning team (issue 15, item 1): chosen at creation among the teams GitHub says the person is in,
//! granted `SHIPYARD_TEAM_PERMISSION` on the repository (checked as GitHub answers it, through
//! github-sim's REST API with the people's own tokens), shown and filtered by in the inventory,
//! transferred by the owner, drift-checked and repaired.

use reqwest::{Client, StatusCode};
use scraper::Html;
use serde_json::{Value, json};
use shipyard::{
    domain::{ServiceStatus, StepName},
    provision::{Reconciler, Settings, drift::DriftCheck},
};
use sqlx::PgPool;

use crate::common::{
    app::{TestApp, unique_name},
    browser::Browser,
    fixtures::{page, texts},
};

const ALICE_TOKEN: &str = "ghp_sandbox_alice";

/// `method path` at github-sim as the holder of `token`: the status and the JSON body (if any).
async fn github(app: &TestApp, token: &str, method: reqwest::Method, path: &str) -> (StatusCode, Value) {
    let response = Client::new()
        .request(method, format!("{}{path}", app.github.url()))
        .bearer_auth(token)
        .header("accept", "application/vnd.github+json")
        .header("user-agent", "shipyard-tests")
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// What GitHub says `login`'s effective role on the repository is (asked as alice, an organization admin):
/// `role_name`, since GitHub's legacy `permission` folds `maintain` into `write` (checked here too).
async fn permission_of(app: &TestApp, name: &str, login: &str) -> String {
    let path = format!("/repos/acme/{name}/collaborators/{login}/permission");
    let (status, body) = github(app, ALICE_TOKEN, reqwest::Method::GET, &path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let role = body["role_name"].as_str().unwrap().to_owned();
    if role == "maintain" {
        assert_eq!(body["permission"], "write", "{body}");
    }
    role
}

/// `(slug, permission)` of every team with access to the repository, as GitHub lists them.
async fn repo_teams(app: &TestApp, name: &str) -> Vec<(String, String)> {
    let (status, body) =
        github(app, ALICE_TOKEN, reqwest::Method::GET, &format!("/repos/acme/{name}/teams")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array()
        .unwrap()
        .iter()
        .map(|t| (t["slug"].as_str().unwrap().to_owned(), t["permission"].as_str().unwrap().to_owned()))
        .collect()
}

/// `POST /api/v1/services` with `body` as the signed-in `browser`.
async fn create(app: &TestApp, browser: &Client, body: Value) -> (StatusCode, Value) {
    let token = app.csrf_token(browser).await;
    let response = browser
        .post(app.at("/api/v1/services"))
        .header("x-csrf-token", token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn transfer(app: &TestApp, browser: &Client, name: &str, body: &str) -> (StatusCode, Value) {
    let token = app.csrf_token(browser).await;
    let response = browser
        .patch(app.at(&format!("/api/v1/services/{name}")))
        .header("x-csrf-token", token)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn body(name: &str, team: &str) -> Value {
    json!({"name": name, "environment": "dev", "template": "acme/service-template", "team": team})
}

async fn ready_service(app: &TestApp, browser: &Client, name: &str, team: &str) {
    let (status, created) = create(app, browser, body(name, team)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    assert_eq!(app.settle(&app.reconciler(), name).await, ServiceStatus::Ready);
}

async fn services_named(app: &TestApp, name: &str) -> i64 {
    sqlx::query_scalar("select count(*) from service where name = $1")
        .bind(name)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

async fn team_audit(app: &TestApp) -> Vec<(String, String, String)> {
    sqlx::query_as(
        "select outcome, actor_login, detail from audit_event where action = 'team_changed' order by audit_event_id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_service_for_payments_lets_bob_maintain_the_repository_he_could_only_read(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    let name = unique_name("owned");
    ready_service(&app, &bob, &name, "payments").await;
    // The organization's base permission is read: the team's grant is what lets bob push.
    assert_eq!(permission_of(&app, &name, "bob").await, "maintain");
    assert_eq!(repo_teams(&app, &name).await, [("payments".to_owned(), "maintain".to_owned())]);

    let shown: Value =
        bob.get(app.at(&format!("/api/v1/services/{name}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(shown["team"], "payments");
    let step = shown["steps"].as_array().unwrap().iter().find(|s| s["name"] == "team_access").cloned();
    assert_eq!(step.as_ref().map(|s| s["status"].clone()), Some(json!("done")), "{shown}");
    let (_, html) = page(&app, &bob, &format!("/services/{name}")).await;
    assert_eq!(texts(&Html::parse_document(&html), "[data-testid=owner]"), ["team payments"]);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_team_the_requester_is_not_in_or_that_does_not_exist_is_refused_and_nothing_is_made(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    for (team, message) in [
        ("platform", "You are not a member of platform"),
        ("ghosts", "acme has no team ghosts"),
        ("", "Choose the team"),
        ("Payments", "not a team slug"),
    ] {
        let (status, problem) = create(&app, &bob, body("refused", team)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{team}: {problem}");
        let said = problem["errors"]["team"].as_str().unwrap_or_default();
        assert!(said.contains(message), "{team}: {problem}");
    }
    assert_eq!(services_named(&app, "refused").await, 0, "nothing was created");
    assert!(app.sim().repos("acme").iter().all(|r| r.name != "refused"));
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn an_organization_admin_may_choose_any_team_and_sees_every_team_in_the_form(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    let options = |html: String| {
        let html = Html::parse_document(&html);
        crate::common::fixtures::attrs(&html, "#team option", "value")
    };
    assert_eq!(options(page(&app, &alice, "/services/new").await.1), ["payments", "platform"]);
    assert_eq!(options(page(&app, &bob, "/services/new").await.1), ["payments"], "bob is only in payments");
    // alice is a maintainer of platform, not a member of payments: as an admin she may still choose it.
    let name = unique_name("adminpick");
    ready_service(&app, &alice, &name, "payments").await;
    assert_eq!(permission_of(&app, &name, "bob").await, "maintain");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn without_shipyard_team_required_a_service_may_have_no_team(db: PgPool) {
    let app = TestApp::spawn_with(db, Default::default(), |c| c.team_required = false).await;
    let bob = app.signed_in("bob").await;
    let name = unique_name("ownerless");
    let (status, created) =
        create(&app, &bob, json!({"name": name, "environment": "dev", "template": "acme/service-template"}))
            .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    assert_eq!(created["team"], Value::Null);
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Ready);
    assert!(repo_teams(&app, &name).await.is_empty());
    assert_eq!(permission_of(&app, &name, "bob").await, "read", "the base permission only");
    let (_, html) = page(&app, &bob, "/services/new").await;
    let html = Html::parse_document(&html);
    assert_eq!(crate::common::fixtures::attrs(&html, "#team option", "value"), ["", "payments"]);
    // A team that is named is still checked.
    let (status, _) = create(&app, &bob, body("stillchecked", "platform")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn the_inventory_filters_by_team_on_the_page_and_in_the_api(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let alice = app.signed_in("alice").await;
    let (pay, plat) = (unique_name("pay"), unique_name("plat"));
    for (name, team) in [(&pay, "payments"), (&plat, "platform")] {
        let (status, created) = create(&app, &alice, body(name, team)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    }
    let (status, html) = page(&app, &alice, "/services?team=platform").await;
    assert_eq!(status, StatusCode::OK);
    let html = Html::parse_document(&html);
    assert_eq!(texts(&html, "td [data-part=team], td[data-part=team]"), ["platform"]);
    assert_eq!(crate::common::fixtures::attrs(&html, "tr[data-service]", "data-service"), [plat.as_str()]);
    let listed: Value =
        alice.get(app.at("/api/v1/services?team=payments")).send().await.unwrap().json().await.unwrap();
    let names: Vec<&str> =
        listed["services"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, [pay.as_str()]);
    assert_eq!(listed["services"][0]["team"], "payments");
    let combined: Value = alice
        .get(app.at("/api/v1/services?team=payments&environment=prod"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(combined["services"], json!([]), "combined with the other filters");
    let bad = alice.get(app.at("/api/v1/services?team=Not%20A%20Slug")).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = page(&app, &alice, "/services?team=Not%20A%20Slug").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn the_creator_transfers_a_service_the_new_team_gets_access_and_the_old_grant_goes(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    let name = unique_name("moving");
    ready_service(&app, &alice, &name, "payments").await;

    // bob is a member, but neither the creator nor an admin: refused, audited, nothing changes.
    let (status, problem) = transfer(&app, &bob, &name, r#"{"team": "payments"}"#).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    assert_eq!(
        team_audit(&app).await,
        [("denied".into(), "bob".into(), shipyard::commands::NOT_AN_OWNER.into())]
    );
    // Bad bodies: nothing changes.
    for bad in [r#"{}"#, r#"{"team": "ghosts"}"#, r#"{"team": "platform", "name": "x"}"#, r#"{"team": 5}"#] {
        let (status, problem) = transfer(&app, &alice, &name, bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {problem}");
    }
    let (status, _) = transfer(&app, &alice, &name, "not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(app.status_of(&name).await, ServiceStatus::Ready);
    assert_eq!(repo_teams(&app, &name).await, [("payments".to_owned(), "maintain".to_owned())]);

    let (status, moved) = transfer(&app, &alice, &name, r#"{"team": "platform"}"#).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{moved}");
    assert_eq!((moved["team"].as_str(), moved["status"].as_str()), (Some("platform"), Some("provisioning")));
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Ready);
    assert_eq!(repo_teams(&app, &name).await, [("platform".to_owned(), "maintain".to_owned())]);
    assert_eq!(permission_of(&app, &name, "bob").await, "read", "payments' grant was removed");
    let audit = team_audit(&app).await;
    assert_eq!(
        audit.last().unwrap(),
        &("success".into(), "alice".into(), "from payments to platform".into())
    );
    let (_, html) = page(&app, &alice, &format!("/services/{name}")).await;
    assert_eq!(texts(&Html::parse_document(&html), "[data-testid=owner]"), ["team platform"]);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn the_transfer_form_refuses_a_team_the_creator_is_not_in_next_to_the_field(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    let name = unique_name("formmove");
    ready_service(&app, &bob, &name, "payments").await;
    let token = app.csrf_token(&bob).await;
    let response = bob
        .post(app.at(&format!("/services/{name}/team")))
        .form(&[("csrf_token", token.as_str()), ("team", "platform")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = Html::parse_document(&response.text().await.unwrap());
    let said = texts(&html, "#transfer-team-error");
    assert!(said.len() == 1 && said[0].contains("not a member of platform"), "{said:?}");
    assert_eq!(repo_teams(&app, &name).await, [("payments".to_owned(), "maintain".to_owned())]);
    assert!(team_audit(&app).await.is_empty());
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn an_admin_removing_the_teams_grant_is_drift_and_repair_grants_it_again(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    let name = unique_name("ungranted");
    ready_service(&app, &bob, &name, "payments").await;
    let path = format!("/orgs/acme/teams/payments/repos/acme/{name}");
    let (status, _) = github(&app, ALICE_TOKEN, reqwest::Method::DELETE, &path).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(permission_of(&app, &name, "bob").await, "read");

    let check = DriftCheck::new(app.db.clone(), app.providers(), app.reconciler_settings());
    check.check_all().await.unwrap();
    assert_eq!(app.status_of(&name).await, ServiceStatus::Drifted);
    let shown: Value =
        bob.get(app.at(&format!("/api/v1/services/{name}"))).send().await.unwrap().json().await.unwrap();
    let found = &shown["drift"]["findings"][0];
    assert_eq!(
        (found["resource"].as_str(), found["problem"].as_str()),
        (Some("team_access"), Some("missing")),
        "{shown}"
    );

    let token = app.csrf_token(&bob).await;
    let repair = bob
        .post(app.at(&format!("/api/v1/services/{name}/repair")))
        .header("x-csrf-token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(repair.status(), StatusCode::ACCEPTED);
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Ready);
    assert_eq!(permission_of(&app, &name, "bob").await, "maintain");
    check.check_all().await.unwrap();
    assert_eq!(app.status_of(&name).await, ServiceStatus::Ready, "nothing left to find");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_lowered_grant_is_drift_too(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    let name = unique_name("lowered");
    ready_service(&app, &bob, &name, "payments").await;
    let response = Client::new()
        .put(format!("{}/orgs/acme/teams/payments/repos/acme/{name}", app.github.url()))
        .bearer_auth(ALICE_TOKEN)
        .header("user-agent", "shipyard-tests")
        .json(&json!({"permission": "pull"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let check = DriftCheck::new(app.db.clone(), app.providers(), app.reconciler_settings());
    check.check_all().await.unwrap();
    let findings: Value = sqlx::query_scalar("select drift from service where name = $1")
        .bind(&name)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(findings[0]["problem"], "permission_lowered", "{findings}");
    assert_eq!(findings[0]["found"], "payments: pull");
}

/// One step at a time, in table order, so "after five steps" is after `team_access`.
fn sequential(app: &TestApp) -> Reconciler {
    let settings = Settings { parallel_steps: false, ..app.reconciler_settings() };
    Reconciler::new(app.db.clone(), app.providers(), settings)
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_crash_between_team_access_and_the_next_step_is_finished_with_one_grant(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    let name = unique_name("teamcrash");
    let (status, _) = create(&app, &bob, body(&name, "payments")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // preflight, oidc_provider, ecr_repository, ecr_settings, github_repository, team_access: then the
    // process dies.
    sequential(&app).stopping_after_steps(6).run_until_idle().await.unwrap();
    let done: Vec<String> = sqlx::query_scalar(
        "select step from step join service using (service_id) where name = $1 and step.status = 'done' order by step",
    )
    .bind(&name)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert!(done.contains(&StepName::TeamAccess.to_string()), "{done:?}");
    assert!(!done.contains(&StepName::OidcSubject.to_string()), "{done:?}");
    assert_eq!(permission_of(&app, &name, "bob").await, "maintain");

    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Ready);
    assert_eq!(repo_teams(&app, &name).await, [("payments".to_owned(), "maintain".to_owned())]);
    let puts = app.sim().request_count("PUT", "/orgs/*/teams/*/repos/*/*");
    assert_eq!(puts, 1, "the grant was made once: the re-run read it back");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_member_creates_a_service_choosing_the_team_from_the_select(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let browser = Browser::launch().await;
    browser.sign_in(&app, "bob").await;
    browser.goto(&app.at("/services/new")).await.unwrap();
    browser.element("#team").await.select_by_value("payments").await.unwrap();
    let name = unique_name("picked");
    browser.submit_new_service(&app, &name, "owned by payments").await;
    assert_eq!(browser.text_of("[data-testid=owner]").await.as_deref(), Some("team payments"));
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Ready);
    assert_eq!(permission_of(&app, &name, "bob").await, "maintain");
    browser.close().await;
}
