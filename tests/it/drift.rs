//! Drift: resources changed behind Shipyard's back (with the AWS SDK against moto, and github-sim's REST
//! API, as an outsider would) are noticed by the check, shown on the page and in the API, and put
//! right by Repair; what cannot be repaired offers deletion instead.

use reqwest::{Client, StatusCode};
use scraper::Html;
use serde_json::{Value, json};
use shipyard::{domain::ServiceStatus, provision::drift::DriftCheck};
use sqlx::PgPool;

use crate::common::{
    app::{TestApp, location, unique_name},
    aws_faults::moto_sdk_config,
    checks::assert_fully_provisioned,
    fixtures::{attrs, texts},
};

/// The bot token the test configuration gives Shipyard: github-sim lets it change the repository.
const BOT_TOKEN: &str = "ghp_sandbox_shipyard_bot";

fn role_name(name: &str) -> String {
    format!("gha.acme.{name}.dev.main")
}

async fn iam() -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&moto_sdk_config(&Default::default()).await)
}

/// The drift check on the app's own clients, as the background task runs it.
fn drift_check(app: &TestApp) -> DriftCheck {
    DriftCheck::new(app.db.clone(), app.providers(), app.reconciler_settings())
}

/// A service created through the form by `browser` and provisioned to `ready`.
async fn ready_service(app: &TestApp, browser: &Client, prefix: &str) -> String {
    let name = unique_name(prefix);
    app.create_service(browser, &name).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Ready);
    name
}

async fn api_post(app: &TestApp, browser: &Client, path: &str) -> (StatusCode, Value) {
    let token = app.csrf_token(browser).await;
    let response = browser.post(app.at(path)).header("x-csrf-token", token).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `POST /api/v1/services/{name}/check`: 200 with the service and its drift.
async fn check_now(app: &TestApp, browser: &Client, name: &str) -> Value {
    let (status, body) = api_post(app, browser, &format!("/api/v1/services/{name}/check")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn show(app: &TestApp, browser: &Client, name: &str) -> Value {
    let response = browser.get(app.at(&format!("/api/v1/services/{name}"))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// `(resource, problem)` of every finding in an API answer.
fn findings(body: &Value) -> Vec<(String, String)> {
    body["drift"]["findings"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|f| {
                    (f["resource"].as_str().unwrap().to_owned(), f["problem"].as_str().unwrap().to_owned())
                })
                .collect()
        })
        .unwrap_or_default()
}

fn pair(resource: &str, problem: &str) -> Vec<(String, String)> {
    vec![(resource.to_owned(), problem.to_owned())]
}

/// Repairs through the API (202, `provisioning`), lets the reconciler finish, and checks that
/// everything is wired again and that a new check finds nothing.
async fn repair_via_api(app: &TestApp, browser: &Client, name: &str) {
    let (status, body) = api_post(app, browser, &format!("/api/v1/services/{name}/repair")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["status"], "provisioning");
    settle_repaired(app, browser, name).await;
}

async fn settle_repaired(app: &TestApp, browser: &Client, name: &str) {
    assert_eq!(app.settle(&app.reconciler(), name).await, ServiceStatus::Ready);
    assert_fully_provisioned(app, name).await;
    let body = check_now(app, browser, name).await;
    assert_eq!(body["status"], "ready");
    assert_eq!(findings(&body), vec![]);
}

/// How many times each step has been attempted, by name.
async fn attempts(app: &TestApp, name: &str) -> Vec<(String, i32)> {
    sqlx::query_as(
        "select step, attempts from step join service using (service_id) where name = $1 order by step",
    )
    .bind(name)
    .fetch_all(&app.db)
    .await
    .unwrap()
}

fn attempts_of(all: &[(String, i32)], step: &str) -> i32 {
    all.iter().find(|(s, _)| s == step).map_or(0, |(_, n)| *n)
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn each_change_is_found_and_repair_puts_it_right(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    let name = ready_service(&app, &bob, "drifty").await;
    let role = role_name(&name);
    let iam = iam().await;
    let policy_arn = app.aws.account().await.unwrap().policy_arn(&format!("{role}-ecr-push"));

    // 1. The policy detached: found by the periodic check, shown on the page, repaired from the page.
    iam.detach_role_policy().role_name(&role).policy_arn(&policy_arn).send().await.unwrap();
    assert_eq!(drift_check(&app).check_all().await.unwrap(), 1);
    assert_eq!(app.status_of(&name).await, ServiceStatus::Drifted);
    let body = show(&app, &bob, &name).await;
    assert_eq!(body["status"], "drifted");
    assert_eq!(findings(&body), pair("iam_attachment", "not_attached"));
    assert_eq!(body["drift"]["findings"][0]["expected"], json!(policy_arn));
    assert_eq!(body["drift"]["repairable"], true);
    let html = Html::parse_document(
        &bob.get(app.at(&format!("/services/{name}"))).send().await.unwrap().text().await.unwrap(),
    );
    assert_eq!(texts(&html, "[data-testid=service-status]"), ["drifted"]);
    assert_eq!(attrs(&html, "[data-testid=drift] tr[data-resource]", "data-resource"), ["iam_attachment"]);
    assert_eq!(attrs(&html, "[data-testid=drift] tr[data-problem]", "data-problem"), ["not_attached"]);
    assert_eq!(texts(&html, "[data-testid=repair]"), ["Repair"]);
    let before = attempts(&app, &name).await;
    let token = app.csrf_token(&bob).await;
    let response = bob
        .post(app.at(&format!("/services/{name}/repair")))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), format!("/services/{name}"));
    settle_repaired(&app, &bob, &name).await;
    // Only the attachment ran again; the role, the secrets and the first build did not.
    let after = attempts(&app, &name).await;
    assert_eq!(attempts_of(&after, "iam_attachment"), attempts_of(&before, "iam_attachment") + 1);
    for step in ["iam_role", "iam_policy", "actions_secrets", "first_build"] {
        assert_eq!(attempts_of(&after, step), attempts_of(&before, step), "{step}");
    }
    let actions: Vec<(String, String)> = sqlx::query_as(
        "select action, outcome from audit_event where service_name = $1 and action in
         ('drift_detected', 'repair_requested', 'drift_resolved') order by audit_event_id",
    )
    .bind(&name)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        actions,
        [
            ("drift_detected".to_owned(), "success".to_owned()),
            ("repair_requested".to_owned(), "success".to_owned())
        ]
    );

    // 2. The trust policy edited to trust every branch.
    let role_view = app.aws.get_role(&role).await.unwrap().unwrap();
    let mut loose = role_view.trust_policy.clone();
    let condition = &mut loose["Statement"][0]["Condition"];
    let sub = condition["StringLike"].as_object_mut().unwrap();
    let (sub_key, sub_value) =
        sub.iter().find(|(k, _)| k.ends_with(":sub")).map(|(k, v)| (k.clone(), v.clone())).unwrap();
    let wildcard = sub_value.as_str().unwrap().replace(":ref:refs/heads/main", ":*");
    sub.insert(sub_key, json!(wildcard));
    iam.update_assume_role_policy().role_name(&role).policy_document(loose.to_string()).send().await.unwrap();
    let body = check_now(&app, &bob, &name).await;
    assert_eq!(body["status"], "drifted");
    assert_eq!(findings(&body), pair("iam_role", "trust_changed"));
    assert!(body["drift"]["findings"][0]["found"].as_str().unwrap().contains(":*"), "{body}");
    repair_via_api(&app, &bob, &name).await;

    // 3. A secret deleted through GitHub's API.
    let response = Client::new()
        .delete(format!("{}/repos/acme/{name}/actions/secrets/ECR_REPO_URL", app.github.url()))
        .bearer_auth(BOT_TOKEN)
        .header("user-agent", "drift-test")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let body = check_now(&app, &bob, &name).await;
    assert_eq!(findings(&body), pair("actions_secrets", "missing"));
    assert_eq!(body["drift"]["findings"][0]["expected"], "ECR_REPO_URL");
    repair_via_api(&app, &bob, &name).await;

    // 4. The role deleted (its policy detached first, as IAM requires).
    iam.detach_role_policy().role_name(&role).policy_arn(&policy_arn).send().await.unwrap();
    iam.delete_role().role_name(&role).send().await.unwrap();
    let body = check_now(&app, &bob, &name).await;
    assert_eq!(findings(&body), pair("iam_role", "missing"));
    repair_via_api(&app, &bob, &name).await;
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn an_archived_repository_cannot_be_repaired_and_deletion_is_offered(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    let name = ready_service(&app, &bob, "archived").await;
    let response = Client::new()
        .patch(format!("{}/repos/acme/{name}", app.github.url()))
        .bearer_auth(BOT_TOKEN)
        .header("user-agent", "drift-test")
        .json(&json!({ "archived": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let body = check_now(&app, &bob, &name).await;
    assert_eq!(body["status"], "drifted");
    assert_eq!(findings(&body), pair("github_repository", "archived"));
    assert_eq!(body["drift"]["repairable"], false);
    assert!(body["drift"]["unrepairable"].as_str().unwrap().contains("cannot be repaired"), "{body}");

    let (status, problem) = api_post(&app, &bob, &format!("/api/v1/services/{name}/repair")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(app.status_of(&name).await, ServiceStatus::Drifted, "a refused repair changes nothing");

    let html = Html::parse_document(
        &bob.get(app.at(&format!("/services/{name}"))).send().await.unwrap().text().await.unwrap(),
    );
    assert!(texts(&html, "[data-testid=drift-unrepairable]")[0].contains("cannot be repaired"));
    assert!(texts(&html, "[data-testid=repair]").is_empty(), "no Repair button");
    assert_eq!(texts(&html, "[data-testid=delete]").len(), 1, "the Delete section is offered");

    // A drifted service can be deleted (the repository is kept archived: it is archived already).
    let token = app.csrf_token(&bob).await;
    let response = bob
        .post(app.at(&format!("/services/{name}/delete")))
        .form(&[("csrf_token", token.as_str()), ("confirm_name", name.as_str()), ("keep_repository", "on")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Deleted);
}

/// Every request github-sim answered, whatever its method and path.
fn github_requests(app: &TestApp) -> usize {
    let sim = app.sim();
    ["GET", "POST", "PUT", "PATCH", "DELETE"].iter().map(|m| sim.request_count(m, "**")).sum()
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn an_untouched_service_has_no_drift_and_a_check_costs_three_github_calls(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    let name = ready_service(&app, &bob, "steady").await;
    let check = drift_check(&app);
    let (before, by_id) = (github_requests(&app), app.sim().request_count("GET", "/repositories/*"));
    let secrets = app.sim().request_count("GET", "/repos/*/*/actions/secrets");
    let (teams, ruleset) = (
        app.sim().request_count("GET", "/repos/*/*/teams"),
        app.sim().request_count("GET", "/repos/*/*/rulesets/*"),
    );
    assert_eq!(check.check_all().await.unwrap(), 1);
    // The repository by id, the secret names, the owning team's access, the ruleset; and, for the
    // guardrails, the two ownership files. Dependabot alerts and security updates come with the
    // repository (its security_and_analysis says updates are on, which GitHub allows only with alerts).
    let spent = github_requests(&app) - before;
    assert_eq!(spent, 6, "repository, secrets, team, ruleset, CODEOWNERS, catalog-info.yaml");
    assert_eq!(app.sim().request_count("GET", "/repos/*/*/teams") - teams, 1);
    assert_eq!(app.sim().request_count("GET", "/repos/*/*/rulesets/*") - ruleset, 1);
    assert_eq!(app.sim().request_count("GET", "/repositories/*") - by_id, 1);
    assert_eq!(app.sim().request_count("GET", "/repos/*/*/actions/secrets") - secrets, 1);
    assert_eq!(app.status_of(&name).await, ServiceStatus::Ready);
    let body = show(&app, &bob, &name).await;
    assert_eq!(findings(&body), vec![]);
    assert!(body["drift"]["checked_at"].is_string(), "{body}");
    let drift_events: i64 = sqlx::query_scalar(
        "select count(*) from audit_event where action in ('drift_detected', 'drift_resolved')",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(drift_events, 0);
    // Repairing what has not drifted is refused.
    let (status, _) = api_post(&app, &bob, &format!("/api/v1/services/{name}/repair")).await;
    assert_eq!(status, StatusCode::CONFLICT);

    // The next pass asks again with the ETags it was given: nothing changed, so GitHub answers each
    // read 304, which its rate limit does not count.
    let charged = || {
        let sim = app.sim();
        ["GET", "POST", "PUT", "PATCH", "DELETE"].iter().map(|m| sim.charged_count(m, "**")).sum::<usize>()
    };
    let (asked, counted) = (github_requests(&app), charged());
    assert_eq!(check.check_all().await.unwrap(), 1);
    assert_eq!(github_requests(&app) - asked, 6, "the same reads");
    assert_eq!(charged() - counted, 0, "all of them 304s");
    // A change behind Shipyard's back changes the answer (and its ETag): the next pass finds it.
    let response = Client::new()
        .delete(format!("{}/repos/acme/{name}/actions/secrets/ECR_REPO_URL", app.github.url()))
        .bearer_auth(BOT_TOKEN)
        .header("user-agent", "drift-test")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let counted = charged();
    assert_eq!(check.check_all().await.unwrap(), 1);
    assert_eq!(charged() - counted, 1, "only the changed secret list is counted");
    assert_eq!(findings(&show(&app, &bob, &name).await), pair("actions_secrets", "missing"));
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_drifted_service_comes_back_to_ready_by_itself_and_others_may_not_repair_it(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    let name = ready_service(&app, &alice, "alices").await;
    let role = role_name(&name);
    let iam = iam().await;
    let policy_arn = app.aws.account().await.unwrap().policy_arn(&format!("{role}-ecr-push"));
    iam.detach_role_policy().role_name(&role).policy_arn(&policy_arn).send().await.unwrap();
    // Check now follows the owner rule too (it spends the account's IAM budget): bob is refused
    // and audited, alice (the creator) checks.
    let (status, _) = api_post(&app, &bob, &format!("/api/v1/services/{name}/check")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let refused_checks: i64 = sqlx::query_scalar(
        "select count(*) from audit_event where action = 'drift_check_requested' and outcome = 'denied' and actor_login = 'bob'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(refused_checks, 1);
    assert_eq!(app.status_of(&name).await, ServiceStatus::Ready, "the refused check found nothing");
    let body = check_now(&app, &alice, &name).await;
    assert_eq!(findings(&body), pair("iam_attachment", "not_attached"));

    let (status, _) = api_post(&app, &bob, &format!("/api/v1/services/{name}/repair")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let token = app.csrf_token(&bob).await;
    let response = bob
        .post(app.at(&format!("/services/{name}/repair")))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.status_of(&name).await, ServiceStatus::Drifted);
    let denied: i64 = sqlx::query_scalar(
        "select count(*) from audit_event where action = 'repair_requested' and outcome = 'denied' and actor_login = 'bob'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(denied, 2);
    let html = Html::parse_document(
        &bob.get(app.at(&format!("/services/{name}"))).send().await.unwrap().text().await.unwrap(),
    );
    assert_eq!(texts(&html, "[data-testid=repair-refusal]").len(), 1);
    // Neither Repair nor Check now is offered to someone the rule refuses.
    assert!(texts(&html, "[data-testid=repair]").is_empty());
    assert!(texts(&html, "[data-testid=check-now]").is_empty());
    // The inventory's filter, the API's filter and the gauge know the status.
    let listed: Value =
        bob.get(app.at("/api/v1/services?status=drifted")).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["total"], 1, "{listed}");
    let html = Html::parse_document(
        &bob.get(app.at("/services?status=drifted")).send().await.unwrap().text().await.unwrap(),
    );
    assert_eq!(texts(&html, "table.inventory tbody a.service-name"), [name.as_str()]);
    let metrics = reqwest::get(app.at("/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.lines().any(|l| l == r#"shipyard_services{status="drifted"} 1"#), "{metrics}");

    // Someone puts it back by hand: the next check finds nothing and the service is ready again.
    iam.attach_role_policy().role_name(&role).policy_arn(&policy_arn).send().await.unwrap();
    drift_check(&app).check_all().await.unwrap();
    assert_eq!(app.status_of(&name).await, ServiceStatus::Ready);
    let resolved: i64 =
        sqlx::query_scalar("select count(*) from audit_event where action = 'drift_resolved'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(resolved, 1);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_deleted_repository_cannot_be_repaired_and_the_service_can_still_be_deleted(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    let name = ready_service(&app, &bob, "gone").await;
    let response = Client::new()
        .delete(format!("{}/repos/acme/{name}", app.github.url()))
        .bearer_auth(BOT_TOKEN)
        .header("user-agent", "drift-test")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    drift_check(&app).check_all().await.unwrap();
    let body = show(&app, &bob, &name).await;
    assert_eq!(body["status"], "drifted");
    // The secrets cannot be read without the repository: only the repository is reported.
    assert_eq!(findings(&body), pair("github_repository", "missing"));
    let (status, problem) = api_post(&app, &bob, &format!("/api/v1/services/{name}/repair")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(problem.to_string().contains("cannot be repaired"), "{problem}");
    let response = bob
        .delete(app.at(&format!("/api/v1/services/{name}")))
        .header("x-csrf-token", app.csrf_token(&bob).await)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Deleted);
    assert!(app.aws.get_role(&role_name(&name)).await.unwrap().is_none(), "the role is gone too");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_trust_that_still_names_the_repository_is_drift_and_repair_pins_it_on_the_ids(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    let name = ready_service(&app, &bob, "byname").await;
    let role = role_name(&name);
    let pinned = app.aws.get_role(&role).await.unwrap().unwrap().trust_policy;
    // The trust Shipyard wrote before it pinned ids: the names, which a rename breaks.
    let id = app.sim().repo("acme", &name).unwrap().id;
    let mut by_name = pinned.clone();
    by_name["Statement"][0]["Condition"] = json!({ "StringEquals": {
        "token.actions.githubusercontent.com:sub": format!("repo:acme@1000/{name}@{id}:ref:refs/heads/main"),
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
    }});
    let iam = iam().await;
    iam.update_assume_role_policy()
        .role_name(&role)
        .policy_document(by_name.to_string())
        .send()
        .await
        .unwrap();
    let body = check_now(&app, &bob, &name).await;
    assert_eq!(body["status"], "drifted");
    assert_eq!(findings(&body), pair("iam_role", "trust_changed"));
    repair_via_api(&app, &bob, &name).await;
    assert_eq!(app.aws.get_role(&role).await.unwrap().unwrap().trust_policy, pinned);
}

/// A role whose permissions boundary was removed (by someone allowed to; Shipyard's policy never
/// allows it) is drift, and Repair recreates the role with the boundary under the same ARN.
#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_role_without_its_permissions_boundary_is_found_and_repair_recreates_it(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    let name = ready_service(&app, &bob, "unbounded").await;
    let role = role_name(&name);
    let before = app.aws.get_role(&role).await.unwrap().unwrap();
    let boundary = app.config.permissions_boundary.arn().to_owned();
    assert_eq!(before.permissions_boundary.as_deref(), Some(boundary.as_str()), "created with the boundary");

    iam().await.delete_role_permissions_boundary().role_name(&role).send().await.unwrap();
    let body = check_now(&app, &bob, &name).await;
    assert_eq!(body["status"], "drifted");
    assert_eq!(findings(&body), pair("iam_role", "boundary_changed"));
    assert_eq!(body["drift"]["findings"][0]["expected"], json!(boundary));
    assert_eq!(body["drift"]["findings"][0]["found"], "no permissions boundary");
    assert_eq!(body["drift"]["repairable"], true);
    repair_via_api(&app, &bob, &name).await;

    let after = app.aws.get_role(&role).await.unwrap().unwrap();
    assert_eq!(after.permissions_boundary.as_deref(), Some(boundary.as_str()));
    assert_eq!(after.arn, before.arn, "the same ARN, so the stored secret still names it");
    assert_eq!(after.attached_policy_arns, before.attached_policy_arns);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_removed_lifecycle_policy_and_mutable_tags_are_found_and_repair_keeps_the_repository_again(
    db: PgPool,
) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    let name = ready_service(&app, &bob, "untidy").await;
    let ecr = aws_sdk_ecr::Client::new(&moto_sdk_config(&Default::default()).await);
    ecr.delete_lifecycle_policy().repository_name(&name).send().await.unwrap();
    ecr.put_image_tag_mutability()
        .repository_name(&name)
        .image_tag_mutability(aws_sdk_ecr::types::ImageTagMutability::Mutable)
        .send()
        .await
        .unwrap();

    let body = check_now(&app, &bob, &name).await;
    assert_eq!(body["status"], "drifted");
    assert_eq!(
        findings(&body),
        [
            ("ecr_settings".to_owned(), "mutability_changed".to_owned()),
            ("ecr_settings".into(), "missing".into())
        ]
    );
    let all = body["drift"]["findings"].as_array().unwrap();
    assert_eq!(
        (all[0]["expected"].as_str(), all[0]["found"].as_str()),
        (Some("IMMUTABLE_WITH_EXCLUSION except main"), Some("MUTABLE"))
    );
    let before = attempts(&app, &name).await;
    repair_via_api(&app, &bob, &name).await;
    let after = attempts(&app, &name).await;
    assert_eq!(attempts_of(&after, "ecr_settings"), attempts_of(&before, "ecr_settings") + 1);
    assert_eq!(
        attempts_of(&after, "ecr_repository"),
        attempts_of(&before, "ecr_repository"),
        "only the settings"
    );
    let repo = ecr
        .describe_repositories()
        .repository_names(&name)
        .send()
        .await
        .unwrap()
        .repositories
        .unwrap()
        .remove(0);
    assert_eq!(repo.image_tag_mutability().map(|m| m.as_str()), Some("IMMUTABLE_WITH_EXCLUSION"));
    assert_eq!(repo.image_tag_mutability_exclusion_filters()[0].filter(), "main");
    assert!(ecr.get_lifecycle_policy().repository_name(&name).send().await.is_ok(), "the policy is back");

    // Exclusions removed (tags immutable, even main's) is drift too: the next build of main would fail.
    ecr.put_image_tag_mutability()
        .repository_name(&name)
        .image_tag_mutability(aws_sdk_ecr::types::ImageTagMutability::Immutable)
        .send()
        .await
        .unwrap();
    let body = check_now(&app, &bob, &name).await;
    assert_eq!(findings(&body), pair("ecr_settings", "mutability_changed"));
    repair_via_api(&app, &bob, &name).await;
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn check_now_answers_with_the_last_result_within_the_cooldown_and_is_limited_per_user(db: PgPool) {
    let app = TestApp::spawn_with(db, github_sim::SimConfig::default(), |config| {
        config.check_cooldown = std::time::Duration::from_secs(60);
        config.checks_per_user_per_minute = 3.try_into().unwrap();
    })
    .await;
    let bob = app.signed_in("bob").await;
    let name = ready_service(&app, &bob, "cooled").await;
    let first = check_now(&app, &bob, &name).await;
    assert_eq!(findings(&first), vec![]);
    let checked_at = first["drift"]["checked_at"].clone();
    assert!(checked_at.is_string(), "{first}");

    // Drift now, but a second Check now within the cooldown asks no provider: the last result stands.
    let role = role_name(&name);
    let policy_arn = app.aws.account().await.unwrap().policy_arn(&format!("{role}-ecr-push"));
    iam().await.detach_role_policy().role_name(&role).policy_arn(&policy_arn).send().await.unwrap();
    let before = github_requests(&app);
    let cooled = check_now(&app, &bob, &name).await;
    assert_eq!(findings(&cooled), vec![]);
    assert_eq!(cooled["drift"]["checked_at"], checked_at, "the last check's result");
    assert_eq!(github_requests(&app), before, "no GitHub call within the cooldown");

    // Once the cooldown has passed (the last check a minute old), Check now reads everything again.
    sqlx::query("update service set drift_checked_at = now() - interval '61 seconds' where name = $1")
        .bind(&name)
        .execute(&app.db)
        .await
        .unwrap();
    let fresh = check_now(&app, &bob, &name).await;
    assert_eq!(findings(&fresh), pair("iam_attachment", "not_attached"));

    // Three checks a minute per user: bob's fourth is a 429 with Retry-After, alice still has hers.
    let token = app.csrf_token(&bob).await;
    let refused = bob
        .post(app.at(&format!("/api/v1/services/{name}/check")))
        .header("x-csrf-token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    let alice = app.signed_in("alice").await;
    check_now(&app, &alice, &name).await;
}
