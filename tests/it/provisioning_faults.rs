//! Provider faults during provisioning: transient ones are ridden out, permanent ones stop the
//! service with the provider's message and can be retried, taken names are caught before anything
//! is created.

use shipyard::domain::ServiceStatus;

use crate::common::{
    app::{TestApp, unique_name},
    aws_faults::Fault as AwsFault,
    checks::assert_fully_provisioned,
    fixtures::{create_foreign_ecr_repository, create_foreign_role, retry_via_form, service_failure},
};
use github_sim::Fault;
use serde_json::json;
use sqlx::PgPool;

/// Every GitHub route Shipyard calls while provisioning, as the sim matches them.
const GITHUB_ROUTES: [(&str, &str); 12] = [
    ("GET", "/repos/*/*"),
    ("POST", "/repos/*/*/generate"),
    ("GET", "/repos/*/*/branches/*"),
    ("GET", "/repos/*/*/actions/oidc/customization/sub"),
    ("GET", "/repos/*/*/actions/secrets/public-key"),
    ("PUT", "/repos/*/*/actions/secrets/*"),
    ("GET", "/repos/*/*/actions/runs"),
    ("GET", "/repos/*/*/actions/runs/*"),
    ("POST", "/repos/*/*/actions/runs/*/rerun-failed-jobs"),
    ("GET", "/repos/*/*/actions/workflows"),
    ("POST", "/repos/*/*/actions/workflows/*/dispatches"),
    ("POST", "/repos/*/*/branches/*/rename"),
];

const AWS_OPERATIONS: [&str; 9] = [
    "GetCallerIdentity",
    "ListOpenIDConnectProviders",
    "DescribeRepositories",
    "CreateRepository",
    "CreatePolicy",
    "CreateRole",
    "GetRole",
    "AttachRolePolicy",
    "ListAttachedRolePolicies",
];

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn transient_faults_on_every_route_still_end_ready_without_duplicates(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    let sim = app.sim();
    for (i, (method, route)) in GITHUB_ROUTES.iter().enumerate() {
        let fault = match i % 3 {
            0 => Fault::new(*route, 502).body(json!({ "message": "Server Error" })),
            1 => Fault::new(*route, 403)
                .body(json!({ "message": "You have exceeded a secondary rate limit. Please wait a few minutes." }))
                .retry_after(0),
            _ => Fault::new(*route, 429).body(json!({ "message": "Too Many Requests" })),
        };
        sim.inject_fault(fault.method(*method).times(2));
    }
    for (i, op) in AWS_OPERATIONS.iter().enumerate() {
        let fault = if i % 2 == 0 { AwsFault::Throttling } else { AwsFault::ServiceUnavailable };
        app.aws_faults.inject(op, 2, fault);
    }
    let name = unique_name("flaky");
    app.create_service(&browser, &name).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Ready);
    assert_fully_provisioned(&app, &name).await;
    for op in ["CreateRepository", "CreatePolicy", "CreateRole"] {
        assert_eq!(app.aws_faults.calls(op), 3, "{op}: two throttled calls and one that got through");
    }
    assert_eq!(sim.request_count("POST", "/repos/*/*/generate"), 1, "the repository was generated once");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_permanent_github_error_fails_the_service_with_the_message_and_retry_finishes_it(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    let sim = app.sim();
    sim.inject_fault(
        Fault::new("/repos/*/*/actions/secrets/*", 403)
            .method("PUT")
            .body(json!({ "message": "Resource not accessible by integration" })),
    );
    let name = unique_name("denied");
    app.create_service(&browser, &name).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Failed);

    let (_, step, message) = service_failure(&app, &name).await;
    assert_eq!(step, "actions_secrets");
    assert!(message.contains("Resource not accessible by integration"), "{message}");
    let page = browser.get(app.at(&format!("/services/{name}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Resource not accessible by integration"), "the page shows the provider's message");
    assert!(page.contains("/retry"), "the page offers Retry");

    sim.clear_faults();
    let retry = retry_via_form(&app, &browser, &name).await;
    assert_eq!(retry.status(), 303);
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Ready);
    assert_fully_provisioned(&app, &name).await;
    assert_eq!(sim.request_count("POST", "/repos/*/*/generate"), 1, "retry resumed; it did not start over");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn access_denied_from_aws_fails_the_service_and_retry_finishes_it(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    app.aws_faults.inject("CreateRole", 1, AwsFault::AccessDenied);
    let name = unique_name("nokeys");
    app.create_service(&browser, &name).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Failed);
    let (_, step, message) = service_failure(&app, &name).await;
    assert_eq!(step, "iam_role");
    assert!(message.contains("AccessDenied"), "{message}");

    retry_via_form(&app, &browser, &name).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Ready);
    assert_fully_provisioned(&app, &name).await;
}

async fn preflight_failure(app: &TestApp, name: &str) -> String {
    let (status, step, message) = service_failure(app, name).await;
    assert_eq!((status.as_str(), step.as_str()), ("failed", "preflight"));
    message
}

async fn assert_nothing_created(app: &TestApp, name: &str) {
    let role = format!("gha.acme.{name}.dev.main");
    assert!(app.aws.get_role(&role).await.unwrap().is_none(), "no role was created");
    assert_eq!(app.sim().request_count("POST", "/repos/*/*/generate"), 0, "no repository was generated");
    let done: i64 = sqlx::query_scalar(
        "select count(*) from step join service using (service_id) where name = $1 and step.status = 'done'",
    )
    .bind(name)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(done, 0);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_repository_name_taken_in_github_fails_in_preflight_and_creates_nothing(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    let name = unique_name("taken");
    app.sim().create_repo("acme", &name);
    app.create_service(&browser, &name).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Failed);
    let message = preflight_failure(&app, &name).await;
    assert!(message.starts_with("GitHub:") && message.contains(&format!("acme/{name}")), "{message}");
    assert_nothing_created(&app, &name).await;
    assert!(app.aws.find_ecr_repository(&name).await.unwrap().is_none());
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn an_ecr_repository_made_outside_shipyard_fails_in_preflight(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    let name = unique_name("ecrtaken");
    create_foreign_ecr_repository(&name).await;
    app.create_service(&browser, &name).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Failed);
    let message = preflight_failure(&app, &name).await;
    assert!(message.starts_with("AWS ECR:") && message.contains(&name), "{message}");
    assert_nothing_created(&app, &name).await;
    let untouched = app.aws.find_ecr_repository(&name).await.unwrap().unwrap();
    assert!(untouched.tags.is_empty(), "the foreign repository was not adopted or tagged");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn an_iam_role_made_outside_shipyard_fails_in_preflight(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    let name = unique_name("roletaken");
    create_foreign_role(&format!("gha.acme.{name}.dev.main")).await;
    app.create_service(&browser, &name).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Failed);
    let message = preflight_failure(&app, &name).await;
    assert!(
        message.starts_with("AWS IAM:") && message.contains(&format!("gha.acme.{name}.dev.main")),
        "{message}"
    );
    assert_eq!(app.sim().request_count("POST", "/repos/*/*/generate"), 0);
    assert!(app.aws.find_ecr_repository(&name).await.unwrap().is_none());
}
