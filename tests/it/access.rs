//! Access follows the organization on GitHub: who may sign in, sessions that re-check membership and
//! role on a TTL (and ride out a GitHub outage for a bounded grace), and `SHIPYARD_ADMINS`.

use shipyard::domain::ServiceStatus;

use std::time::Duration;

use crate::common::{
    app::{TestApp, location, unique_name},
    fixtures::page,
};
use github_sim::{Fault, SimConfig};
use reqwest::StatusCode;
use serde_json::json;
use shipyard::config::AdminRef;
use sqlx::PgPool;

type Db = PgPool;

const TTL: Duration = Duration::from_secs(1);

/// Shipyard with a one-second membership TTL (and `grace`), against a fresh sim.
async fn spawn_with_ttl(db: Db, grace: Duration) -> TestApp {
    TestApp::spawn_with(db, SimConfig::default(), |c| {
        c.membership_ttl = TTL;
        c.membership_grace = grace;
    })
    .await
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.db).await.unwrap()
}

async fn past_the_ttl() {
    tokio::time::sleep(TTL + Duration::from_millis(100)).await;
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_billing_manager_is_refused_at_sign_in_with_no_session_and_no_user(db: Db) {
    let app = TestApp::spawn(db).await;
    app.sim().set_membership("acme", "bob", "billing_manager", "active");
    let browser = app.browser();
    let response = app.sign_in(&browser, "bob").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.cookies().all(|c| c.name() != "shipyard_session"));
    let html = response.text().await.unwrap();
    assert!(html.contains("GitHub lists you as billing manager of acme"), "{html}");
    assert!(html.contains("does not make you a member"), "{html}");

    assert_eq!(count(&app, "select count(*) from session").await, 0);
    assert_eq!(count(&app, "select count(*) from app_user").await, 0);
    assert_eq!(app.audit_actions().await, [("login".into(), "denied".into(), None)]);
    let after = browser.get(app.at("/services")).send().await.unwrap();
    assert_eq!(location(&after), "/", "no session: back to the sign-in page");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_billing_managers_token_is_refused_by_the_api_as_at_sign_in(db: Db) {
    let app = TestApp::spawn(db).await;
    app.sim().set_membership("acme", "bob", "billing_manager", "active");
    let response =
        app.browser().get(app.at("/api/v1/services")).bearer_auth("ghp_sandbox_bob").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(count(&app, "select count(*) from app_user").await, 0);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_removed_member_loses_the_session_at_the_first_request_after_the_ttl(db: Db) {
    let app = spawn_with_ttl(db, Duration::from_secs(3600)).await;
    let browser = app.signed_in("bob").await;
    app.sim().remove_member("acme", "bob");

    // Within the TTL the session still stands, and no request asks GitHub.
    assert_eq!(page(&app, &browser, "/services").await.0, StatusCode::OK);
    assert_eq!(page(&app, &browser, "/audit").await.0, StatusCode::OK);
    assert_eq!(app.sim().request_count("GET", "/orgs/acme/memberships/*"), 0);

    past_the_ttl().await;
    let response = browser.get(app.at("/services")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/", "sent back to sign in");
    assert_eq!(app.sim().request_count("GET", "/orgs/acme/memberships/bob"), 1);
    assert_eq!(count(&app, "select count(*) from session").await, 0, "the session row is gone");
    let api = browser.get(app.at("/api/v1/services")).send().await.unwrap();
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    let audit = app.audit_actions().await;
    assert!(audit.contains(&("session_ended".into(), "denied".into(), Some("bob".into()))), "{audit:?}");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_member_still_in_the_organization_is_checked_once_per_ttl_not_per_request(db: Db) {
    let app = spawn_with_ttl(db, Duration::from_secs(3600)).await;
    let browser = app.signed_in("bob").await;
    past_the_ttl().await;
    for _ in 0..5 {
        assert_eq!(page(&app, &browser, "/services").await.0, StatusCode::OK);
    }
    assert_eq!(app.sim().request_count("GET", "/orgs/acme/memberships/bob"), 1);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_demoted_admin_loses_delete_any_after_the_ttl(db: Db) {
    let app = spawn_with_ttl(db, Duration::from_secs(3600)).await;
    let bob = app.signed_in("bob").await;
    let alice = app.signed_in("alice").await;
    let name = unique_name("demoted");
    app.create_service(&bob, &name).await;
    let (_, html) = page(&app, &alice, &format!("/services/{name}")).await;
    assert!(!html.contains("Only bob"), "an admin is offered the deletion");

    app.sim().set_membership("acme", "alice", "member", "active");
    past_the_ttl().await;
    let response = app.delete_via_api(&alice, &name).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body = response.text().await.unwrap();
    assert!(body.contains("Only bob"), "{body}");
    let role: String = sqlx::query_scalar(
        "select s.org_role from session s join app_user u using (user_id) where u.login = 'alice'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(role, "member", "the session carries the role GitHub reports now");
    assert_eq!(app.status_of(&name).await, ServiceStatus::Provisioning, "nothing was deleted");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn during_a_github_outage_the_last_answer_is_kept_for_the_grace_then_the_session_is_refused(db: Db) {
    let grace = Duration::from_secs(2);
    let app = spawn_with_ttl(db, grace).await;
    let browser = app.signed_in("bob").await;
    app.sim().inject_fault(Fault::new("/orgs/acme/memberships/*", 502));

    past_the_ttl().await;
    assert_eq!(page(&app, &browser, "/services").await.0, StatusCode::OK, "within the grace");

    tokio::time::sleep(grace).await;
    let (status, html) = page(&app, &browser, "/services").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        html.contains("has not been able to confirm with GitHub that you are still a member of acme"),
        "{html}"
    );
    let api = browser.get(app.at("/api/v1/services")).send().await.unwrap();
    assert_eq!(api.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(api.text().await.unwrap().contains("membership_unconfirmed"));

    // Signing in again is not blocked by the unconfirmed session it replaces.
    let again = app.sign_in(&browser, "bob").await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER, "a fresh sign-in replaces the unconfirmed session");
    assert_eq!(count(&app, "select count(*) from session").await, 1);
    assert_eq!(page(&app, &browser, "/services").await.0, StatusCode::OK);

    app.sim().clear_faults();
    assert_eq!(
        page(&app, &browser, "/services").await.0,
        StatusCode::OK,
        "GitHub answers again: the session is back"
    );
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_login_in_shipyard_admins_still_works(db: Db) {
    let admins = vec![AdminRef::Login("Bob".into())];
    let app = TestApp::spawn_with(db, SimConfig::default(), |c| c.admins = admins).await;
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    let name = unique_name("by-login");
    app.create_service(&alice, &name).await;
    let response = app.delete_via_api(&bob, &name).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_member_not_in_shipyard_admins_may_not_delete_anothers_service(db: Db) {
    // 2001 is alice's id: naming her does not make bob an admin.
    let app = TestApp::spawn_with(db, SimConfig::default(), |c| c.admins = vec![AdminRef::Id(2001)]).await;
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    let name = unique_name("not-bobs");
    app.create_service(&alice, &name).await;
    let response = app.delete_via_api(&bob, &name).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_session_does_not_follow_its_login_to_the_account_that_takes_it_after_a_rename(db: Db) {
    let app = spawn_with_ttl(db, Duration::from_secs(3600)).await;
    let browser = app.signed_in("bob").await;
    // bob renames his account, and alice (an organization admin) takes the free login "bob".
    app.sim().rename_user("bob", "bob-elsewhere");
    app.sim().rename_user("alice", "bob");

    past_the_ttl().await;
    let response = browser.get(app.at("/services")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "the session does not take alice's admin role");
    assert_eq!(location(&response), "/", "sent back to sign in");
    assert_eq!(app.sim().request_count("GET", "/orgs/acme/memberships/bob"), 1);
    assert_eq!(count(&app, "select count(*) from session").await, 0, "the session row is gone");
    let detail: String = sqlx::query_scalar("select detail from audit_event where action = 'session_ended'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(detail.contains("now belongs to another GitHub account"), "{detail}");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_secondary_limit_on_the_re_check_keeps_the_last_answer_instead_of_waiting_out_its_retry_after(
    db: Db,
) {
    let app = spawn_with_ttl(db, Duration::from_secs(3600)).await;
    let browser = app.signed_in("bob").await;
    let limited =
        json!({ "message": "You have exceeded a secondary rate limit. Please wait a few minutes." });
    app.sim()
        .inject_fault(Fault::new("/orgs/acme/memberships/*", 403).body(limited).retry_after(60).times(1));

    past_the_ttl().await;
    // Waiting the 60 s GitHub asks for would end in the request timeout's bare 408.
    let (status, html) = page(&app, &browser, "/services").await;
    assert_eq!(status, StatusCode::OK, "within the grace, the last answer stands: {html}");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_re_check_github_is_slow_to_answer_keeps_the_last_answer_within_the_check_deadline(db: Db) {
    let app = spawn_with_ttl(db, Duration::from_secs(3600)).await;
    let browser = app.signed_in("bob").await;
    app.sim().set_latency(Some("GET"), "/orgs/acme/memberships/*", Duration::from_secs(60));

    past_the_ttl().await;
    // Without a deadline on the re-check, the request timeout's bare 408 would answer first.
    let (status, html) = page(&app, &browser, "/services").await;
    assert_eq!(status, StatusCode::OK, "within the grace, the last answer stands: {html}");
    let checked: bool =
        sqlx::query_scalar("select s.membership_checked_at < now() - interval '1 second' from session s")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(checked, "no answer from GitHub was recorded as a check");
}
