//! The protected default branch: every ready service's repository has the `shipyard-default-branch`
//! ruleset (read back from github-sim), which github-sim then enforces on a direct push; a Free plan's
//! private repository is ready with the ruleset skipped; an organization ruleset that already covers the
//! branch is reported instead of duplicated; a loosened ruleset is drift that Repair puts back.

use reqwest::{Client, Method, StatusCode};
use scraper::Html;
use serde_json::{Value, json};
use shipyard::{domain::ServiceStatus, provision::drift::DriftCheck};
use sqlx::PgPool;

use crate::common::{
    app::{TestApp, unique_name},
    checks::{assert_fully_provisioned, default_branch_ruleset},
    fixtures::texts,
};
use github_sim::{PushRefused, SimConfig, UpdateKind};

const BOT: &str = "ghp_sandbox_shipyard_bot";
const UPGRADE: &str = "Upgrade to GitHub Pro or make this repository public to enable this feature.";

async fn github(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Client::new()
        .request(method, format!("{}{path}", app.github.url()))
        .bearer_auth(token)
        .header("accept", "application/vnd.github+json")
        .header("user-agent", "shipyard-tests");
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn ready_service(app: &TestApp, browser: &Client, prefix: &str) -> String {
    let name = unique_name(prefix);
    app.create_service(browser, &name).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Ready);
    name
}

async fn service_json(app: &TestApp, browser: &Client, name: &str) -> Value {
    let response = browser.get(app.at(&format!("/api/v1/services/{name}"))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn page_protection(app: &TestApp, browser: &Client, name: &str) -> Vec<String> {
    let html = browser.get(app.at(&format!("/services/{name}"))).send().await.unwrap().text().await.unwrap();
    texts(&Html::parse_document(&html), "[data-testid=branch-protection]")
}

/// The repository's own rulesets (the organization's left out).
async fn repo_rulesets(app: &TestApp, name: &str) -> Vec<Value> {
    let path = format!("/repos/acme/{name}/rulesets?includes_parents=false");
    let (status, body) = github(app, Method::GET, &path, BOT, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().cloned().unwrap_or_default()
}

fn rule_lines(refused: PushRefused) -> String {
    match refused {
        PushRefused::Rules(v) => v.message(),
        other => panic!("refused for another reason: {other:?}"),
    }
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_ready_service_protects_its_default_branch_and_a_direct_push_is_then_refused(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    let name = ready_service(&app, &bob, "guarded").await;
    assert_fully_provisioned(&app, &name).await;
    let ruleset = default_branch_ruleset(&app, &name).await;

    let body = service_json(&app, &bob, &name).await;
    let protection = &body["outputs"]["branch_protection"];
    assert_eq!(protection["state"], "active", "{body}");
    assert_eq!(protection["ruleset_id"], ruleset["id"]);
    assert_eq!(protection["ruleset_name"], "shipyard-default-branch");
    let shown = page_protection(&app, &bob, &name).await.join(" ");
    assert!(shown.contains("active") && shown.contains("shipyard-default-branch"), "{shown}");

    // Bob gets write access (as his team would): only the rules stand between him and main.
    let path = format!("/repos/acme/{name}/collaborators/bob");
    let (status, _) = github(&app, Method::PUT, &path, BOT, Some(json!({"permission": "push"}))).await;
    assert!(status.is_success(), "{status}");
    let sim = app.sim();
    let head = sim.repo("acme", &name).unwrap().branches;
    let refused = sim.push("acme", &name, "bob", "main", UpdateKind::Push).unwrap_err();
    let message = rule_lines(refused);
    assert!(message.starts_with("GH013: Repository rule violations found for refs/heads/main."), "{message}");
    assert!(message.contains("- Changes must be made through a pull request."), "{message}");
    let message = rule_lines(sim.push("acme", &name, "bob", "main", UpdateKind::ForcePush).unwrap_err());
    assert!(message.contains("- Cannot force-push to this branch"), "{message}");
    let message = rule_lines(sim.push("acme", &name, "bob", "main", UpdateKind::Delete).unwrap_err());
    assert!(message.contains("- Cannot delete this branch"), "{message}");
    assert_eq!(sim.repo("acme", &name).unwrap().branches, head, "main is untouched");
    sim.push("acme", &name, "bob", "feature", UpdateKind::Push).expect("other branches take pushes");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_private_repository_of_a_free_organization_is_ready_with_the_ruleset_skipped(db: PgPool) {
    let mut sim = SimConfig::default();
    sim.seed.orgs[0].plan = "free".into();
    let app = TestApp::spawn_with(db, sim, |_| {}).await;
    let bob = app.signed_in("bob").await;
    let name = ready_service(&app, &bob, "freeplan").await;
    let (status, outputs): (String, Value) = sqlx::query_as(
        "select st.status, st.outputs from step st join service s using (service_id)
         where s.name = $1 and st.step = 'branch_ruleset'",
    )
    .bind(&name)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(status, "done");
    assert_eq!(outputs["state"], "skipped");
    assert!(outputs["skipped"].as_str().unwrap().contains(UPGRADE), "{outputs}");
    assert!(repo_rulesets(&app, &name).await.is_empty(), "nothing was created");

    let body = service_json(&app, &bob, &name).await;
    assert_eq!(body["status"], "ready");
    assert_eq!(body["outputs"]["branch_protection"]["state"], "skipped");
    assert!(body["outputs"]["branch_protection"]["reason"].as_str().unwrap().contains(UPGRADE));
    let shown = page_protection(&app, &bob, &name).await.join(" ");
    assert!(shown.contains("skipped") && shown.contains(UPGRADE), "{shown}");

    let check = DriftCheck::new(app.db.clone(), app.providers(), app.reconciler_settings());
    check.check_all().await.unwrap();
    assert_eq!(app.status_of(&name).await, ServiceStatus::Ready, "a skipped ruleset is not drift");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn an_organization_ruleset_covering_the_branch_is_reported_and_no_repository_ruleset_is_made(
    db: PgPool,
) {
    let mut sim = SimConfig::default();
    let alice = sim.seed.users.iter_mut().find(|u| u.login == "alice").unwrap();
    alice.tokens[0].scopes.push("admin:org".into());
    let app = TestApp::spawn_with(db, sim, |_| {}).await;
    let org_ruleset = json!({
        "name": "acme-default-branches", "target": "branch", "enforcement": "active",
        "conditions": {
            "ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []},
            "repository_name": {"include": ["~ALL"], "exclude": []},
        },
        "rules": [
            {"type": "deletion"}, {"type": "non_fast_forward"},
            {"type": "pull_request", "parameters": {
                "required_approving_review_count": 2, "require_code_owner_review": true,
                "dismiss_stale_reviews_on_push": true, "require_last_push_approval": false,
                "required_review_thread_resolution": false}},
        ],
    });
    let (status, created) =
        github(&app, Method::POST, "/orgs/acme/rulesets", "ghp_sandbox_alice", Some(org_ruleset)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");

    let bob = app.signed_in("bob").await;
    let name = ready_service(&app, &bob, "orgcovered").await;
    assert!(repo_rulesets(&app, &name).await.is_empty(), "the organization's ruleset is not duplicated");
    let protection = &service_json(&app, &bob, &name).await["outputs"]["branch_protection"];
    assert_eq!(protection["state"], "covered_by_organization");
    assert_eq!(protection["ruleset_id"], created["id"]);
    assert_eq!(protection["note"], "covered by organization ruleset acme-default-branches");
    let shown = page_protection(&app, &bob, &name).await.join(" ");
    assert!(shown.contains("covered by organization ruleset acme-default-branches"), "{shown}");
}

/// Repair through the API (202), then the reconciler finishes it: `ready`.
async fn repair(app: &TestApp, browser: &Client, name: &str) {
    let token = app.csrf_token(browser).await;
    let response = browser
        .post(app.at(&format!("/api/v1/services/{name}/repair")))
        .header("x-csrf-token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(app.settle(&app.reconciler(), name).await, ServiceStatus::Ready);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_loosened_or_deleted_ruleset_is_drift_and_repair_puts_it_back(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    let name = ready_service(&app, &bob, "loosened").await;
    let ruleset = default_branch_ruleset(&app, &name).await;
    let one = format!("/repos/acme/{name}/rulesets/{}", ruleset["id"]);

    // A repository admin weakens it: evaluate only, no force-push rule, no approvals needed.
    let weaker = json!({
        "enforcement": "evaluate",
        "rules": [
            {"type": "deletion"},
            {"type": "pull_request", "parameters": {
                "required_approving_review_count": 0, "require_code_owner_review": true,
                "dismiss_stale_reviews_on_push": false, "require_last_push_approval": false,
                "required_review_thread_resolution": false}},
        ],
    });
    let (status, _) = github(&app, Method::PUT, &one, BOT, Some(weaker)).await;
    assert_eq!(status, StatusCode::OK);
    let check = DriftCheck::new(app.db.clone(), app.providers(), app.reconciler_settings());
    check.check_all().await.unwrap();
    assert_eq!(app.status_of(&name).await, ServiceStatus::Drifted);
    let body = service_json(&app, &bob, &name).await;
    let problems: Vec<(&str, &str)> = body["drift"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["resource"].as_str().unwrap(), f["problem"].as_str().unwrap()))
        .collect();
    assert_eq!(
        problems,
        [
            ("branch_ruleset", "not_active"),
            ("branch_ruleset", "rule_removed"),
            ("branch_ruleset", "rule_loosened")
        ],
        "{body}"
    );
    assert_eq!(body["drift"]["findings"][2]["found"], "pull_request: 0 approving reviews instead of 1");
    assert_eq!(body["drift"]["repairable"], true);

    repair(&app, &bob, &name).await;
    assert_fully_provisioned(&app, &name).await;
    assert_eq!(default_branch_ruleset(&app, &name).await["id"], ruleset["id"], "the same ruleset, put back");

    // Deleted outright: missing, and Repair makes it again.
    let (status, _) = github(&app, Method::DELETE, &one, BOT, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    check.check_all().await.unwrap();
    let body = service_json(&app, &bob, &name).await;
    assert_eq!(body["drift"]["findings"][0]["problem"], "missing", "{body}");
    repair(&app, &bob, &name).await;
    assert_fully_provisioned(&app, &name).await;
    check.check_all().await.unwrap();
    assert_eq!(app.status_of(&name).await, ServiceStatus::Ready);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn required_approvals_and_checks_come_from_the_configuration(db: PgPool) {
    let app = TestApp::spawn_with(db, SimConfig::default(), |c| {
        c.branch_protection.required_approvals = 2;
        c.branch_protection.required_checks = vec!["build".into()];
    })
    .await;
    let bob = app.signed_in("bob").await;
    let name = ready_service(&app, &bob, "strict").await;
    let path = format!("/repos/acme/{name}/rules/branches/main");
    let (_, rules) = github(&app, Method::GET, &path, BOT, None).await;
    let pull = rules.as_array().unwrap().iter().find(|r| r["type"] == "pull_request").unwrap();
    assert_eq!(pull["parameters"]["required_approving_review_count"], 2);
    let checks = rules.as_array().unwrap().iter().find(|r| r["type"] == "required_status_checks").unwrap();
    assert_eq!(checks["parameters"]["required_status_checks"], json!([{"context": "build"}]));
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_refusal_other_than_the_plan_fails_the_step_naming_the_permission_and_retry_finishes_it(
    db: PgPool,
) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    // GitHub's answer to a credential without admin rights on the repository.
    let refusal = json!({"message": "Must have admin rights to Repository.", "status": "403"});
    app.sim().inject_fault(github_sim::Fault::new("/repos/*/*/rulesets", 403).method("POST").body(refusal));
    let name = unique_name("noadmin");
    app.create_service(&bob, &name).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Failed, "not skipped");
    let (_, step, message) = crate::common::fixtures::service_failure(&app, &name).await;
    assert_eq!(step, "branch_ruleset");
    assert!(message.contains("403 Must have admin rights to Repository."), "{message}");
    assert!(message.contains("Administration: write"), "{message}");
    assert!(repo_rulesets(&app, &name).await.is_empty());

    app.sim().clear_faults();
    let response = crate::common::fixtures::retry_via_form(&app, &bob, &name).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Ready);
    assert_fully_provisioned(&app, &name).await;
}
