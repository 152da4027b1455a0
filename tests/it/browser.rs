//! Shipyard in a real headless Chromium: signing in through github-sim's pages, creating a service
//! through the form while the page follows the reconciler's progress by itself, and deleting it
//! from its page by typing its name.
//!
//! Needs chromium and chromedriver (Debian: `chromium`, `chromium-driver`; `CHROMIUM` and
//! `CHROMEDRIVER` override the paths), Postgres, and moto at `MOTO_URL`.

use shipyard::domain::ServiceStatus;

use std::time::Duration;

use crate::common::{
    app::{TestApp, unique_name},
    browser::{Browser, PATIENCE, eventually},
};
use github_sim::SimConfig;
use serde::Deserialize;
use sqlx::PgPool;

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_member_signs_in_and_sees_their_login(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let browser = Browser::launch().await;

    browser.goto(&app.at("/")).await.unwrap();
    browser.testid("sign-in").await.click().await.unwrap();
    // github-sim's account picker, on its own origin.
    browser.wait_for_url(&format!("{}/login/oauth/authorize", app.github.url())).await;
    browser.link("Authorize as bob").await.click().await.unwrap();

    browser.wait_for_url(&app.at("/services")).await;
    assert_eq!(browser.testid("current-login").await.text().await.unwrap(), "bob");
    assert_eq!(browser.text_of("h1").await.as_deref(), Some("Services"));
    assert_eq!(
        browser.text_of(".empty h2").await.as_deref(),
        Some("No services yet"),
        "the inventory is empty"
    );

    browser.close().await;
}

/// What the service page shows at one moment, read in one go from the DOM.
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct PageState {
    /// Set by the test right after landing; a reload (by anyone) clears it.
    same_document: bool,
    status: Option<String>,
    /// (step, status) in page order.
    steps: Vec<(String, String)>,
    outputs: bool,
    /// The note a deleted service's page shows instead of the Delete section.
    deleted_note: bool,
}

impl PageState {
    fn is_intermediate(&self) -> bool {
        self.status.as_deref() == Some("provisioning")
            && self.steps.iter().any(|(_, s)| s == "done")
            && self.steps.iter().any(|(_, s)| s == "pending" || s == "running")
    }
}

const READ_PAGE: &str = r#"
const badge = document.querySelector('[data-testid="service-status"]');
return {
  same_document: window.__shipyardProbe === true,
  status: badge ? badge.textContent.trim() : null,
  steps: Array.from(document.querySelectorAll('#steps li[data-step]')).map(li =>
    [li.getAttribute('data-step'), li.querySelector('[data-part="status"]').textContent.trim()]),
  outputs: document.querySelector('[data-testid="outputs"]') !== null,
  deleted_note: document.querySelector('[data-testid="deleted-note"]') !== null,
};
"#;

async fn read_page(browser: &Browser) -> Option<PageState> {
    // While the page reloads itself the script can fail; the caller simply looks again.
    let value = browser.execute(READ_PAGE, vec![]).await.ok()?;
    serde_json::from_value(value).ok()
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_member_creates_a_service_and_watches_it_become_ready(db: PgPool) {
    // Content lands a second after /generate and the first build takes two: visible progress.
    let sim = SimConfig {
        generate_delay: Duration::from_secs(1),
        run_duration: Duration::from_secs(2),
        ..Default::default()
    };
    let app = TestApp::spawn_with(db, sim, |_| {}).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let reconciler = tokio::spawn(app.reconciler().run(async {
        let _ = stopped.await;
    }));
    let browser = Browser::launch().await;
    browser.sign_in(&app, "alice").await;

    browser.link("New service").await.click().await.unwrap();
    browser.wait_for_url(&app.at("/services/new")).await;
    browser.element("form.form").await;
    browser.save_screenshot("/tmp/shipyard-new-service.png").await;

    let name = unique_name("web");
    browser.submit_new_service(&app, &name, "made in a browser").await;
    assert_eq!(
        browser.text_of("h1").await.map(|h| h.starts_with(&name)),
        Some(true),
        "{}",
        browser.where_am_i().await
    );
    browser.testid("service-status").await;
    browser.execute("window.__shipyardProbe = true;", vec![]).await.unwrap();
    let first = eventually("the service page can be read", || read_page(&browser)).await;
    assert!(first.same_document);
    assert!(!first.steps.is_empty(), "the page lists the steps: {first:?}");

    // Watch, without touching the page, until it shows the outputs of a ready service.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut seen_live: Option<PageState> = None;
    let last = loop {
        if let Some(now) = read_page(&browser).await {
            assert_ne!(
                now.status.as_deref(),
                Some("failed"),
                "provisioning failed: {}",
                browser.where_am_i().await
            );
            if seen_live.is_none() && now.same_document && now != first && now.is_intermediate() {
                browser.save_screenshot("/tmp/shipyard-service-progress.png").await;
                seen_live = Some(now.clone());
            }
            if now.status.as_deref() == Some("ready") && now.outputs {
                break now;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not ready after {PATIENCE:?}: {}",
            browser.where_am_i().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let live =
        seen_live.expect("the page updated itself with a step done and others still to go before ready");
    assert!(live.steps.iter().any(|(_, s)| s == "pending" || s == "running"), "{live:?}");
    assert!(last.steps.iter().all(|(_, s)| s == "done"), "all steps done once ready: {last:?}");
    assert_eq!(app.status_of(&name).await, ServiceStatus::Ready);

    let sim_host = app.github.url().trim_start_matches("http://").split(':').next().unwrap().to_owned();
    assert_eq!(browser.text_of("#ssh-url").await, Some(format!("git@{sim_host}:acme/{name}.git")));
    let actions = browser.testid("actions-link").await;
    assert_eq!(
        actions.attr("href").await.unwrap(),
        Some(format!("{}/acme/{name}/actions", app.github.url()))
    );
    assert!(actions.is_displayed().await.unwrap());
    browser.save_screenshot("/tmp/shipyard-service-ready.png").await;

    // The copy button answers: copied, or (clipboard refused) the text selected for Ctrl-C.
    let copy = browser.element("button[data-copy=ssh-url]").await;
    copy.click().await.unwrap();
    let answer = eventually("the copy button says what it did", || async {
        let text = copy.text().await.ok()?;
        (text != "Copy").then_some(text)
    })
    .await;
    assert!(["Copied", "Press Ctrl-C"].contains(&answer.as_str()), "copy button said {answer:?}");
    browser.set_window_size(500, 900).await.unwrap();
    browser.save_screenshot("/tmp/shipyard-service-ready-narrow.png").await;

    browser.close().await;
    let _ = stop.send(());
    reconciler.await.expect("the reconciler task ends").expect("the reconciler stops cleanly");
}

/// Watches the service page, without touching it, until `done` holds for a reading; panics when
/// the badge shows `failure` or after `PATIENCE`.
async fn watch_page(browser: &Browser, failure: &str, mut done: impl FnMut(&PageState) -> bool) -> PageState {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(now) = read_page(browser).await {
            assert_ne!(now.status.as_deref(), Some(failure), "{}", browser.where_am_i().await);
            if done(&now) {
                return now;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the page did not get there within {PATIENCE:?}: {}",
            browser.where_am_i().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The delete steps' (step, status), in page order.
fn delete_steps(page: &PageState) -> Vec<(&str, &str)> {
    page.steps
        .iter()
        .filter(|(step, _)| step.starts_with("delete_"))
        .map(|(step, status)| (step.as_str(), status.as_str()))
        .collect()
}

/// The audit table's rows as (action, service, outcome, actor), newest first, as the page shows them.
const READ_AUDIT: &str = r#"
return Array.from(document.querySelectorAll('[data-testid="audit"] tbody tr')).map(tr =>
  ['action', 'service', 'outcome', 'actor'].map(part =>
    tr.querySelector('[data-part="' + part + '"]').textContent.trim()));
"#;

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_member_deletes_a_service_from_the_ui(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let reconciler = tokio::spawn(app.reconciler().run(async {
        let _ = stopped.await;
    }));
    let browser = Browser::launch().await;
    browser.sign_in(&app, "bob").await;
    browser.link("New service").await.click().await.unwrap();
    browser.wait_for_url(&app.at("/services/new")).await;
    let name = unique_name("doomed");
    browser.submit_new_service(&app, &name, "deleted in a browser").await;
    watch_page(&browser, "failed", |now| now.status.as_deref() == Some("ready") && now.outputs).await;

    // What the ready page says Shipyard made, to look for again once the service is deleted.
    let ecr_uri = browser.text_of("#ecr-uri").await.expect("the ready page shows the ECR repository");
    let role_arn = browser.text_of("[data-testid=role-arn]").await.expect("and the IAM role");
    let ecr_name = ecr_uri.rsplit('/').next().unwrap().to_owned();
    let role_name = role_arn.rsplit('/').next().unwrap().to_owned();
    assert!(app.sim().repo("acme", &name).is_some(), "acme/{name} exists in github-sim");
    assert!(app.aws.get_role(&role_name).await.unwrap().is_some(), "{role_arn} exists in moto");
    assert!(app.aws.find_ecr_repository(&ecr_name).await.unwrap().is_some(), "{ecr_uri} exists in moto");

    // The name typed short: refused next to the field, and the service stays as it was.
    let typo = &name[..name.len() - 1];
    browser.element("#confirm_name").await.send_keys(typo).await.unwrap();
    browser.testid("delete").await.click().await.unwrap();
    let error = browser.element("#confirm_name-error").await;
    assert_eq!(error.text().await.unwrap(), format!("Type the service name, {name}, to confirm."));
    let field = browser.element("#confirm_name").await;
    assert_eq!(field.prop("value").await.unwrap().as_deref(), Some(typo), "what was typed comes back");
    assert_eq!(field.attr("aria-invalid").await.unwrap().as_deref(), Some("true"));
    assert_eq!(browser.text_of("[data-testid=service-status]").await.as_deref(), Some("ready"));
    assert!(browser.text_of("[data-testid=outputs]").await.is_some(), "{}", browser.where_am_i().await);
    browser.save_screenshot("/tmp/shipyard-delete-mismatch.png").await;
    assert_eq!(app.status_of(&name).await, ServiceStatus::Ready);
    assert!(app.sim().repo("acme", &name).is_some(), "the repository is untouched");

    // GitHub takes its time removing the repository, so the page has a teardown to follow.
    app.sim().set_latency(Some("DELETE"), "/repos/*/*", Duration::from_millis(2500));
    field.clear().await.unwrap();
    field.send_keys(&name).await.unwrap();
    browser.testid("delete").await.click().await.unwrap();
    browser.wait_for_url(&app.at(&format!("/services/{name}"))).await;
    browser.execute("window.__shipyardProbe = true;", vec![]).await.unwrap();
    let first = eventually("the service page can be read", || read_page(&browser)).await;
    assert_eq!(first.status.as_deref(), Some("deleting"), "{first:?}");
    assert!(first.same_document);
    assert_eq!(delete_steps(&first).len(), 4, "the page lists the delete steps: {first:?}");
    assert!(browser.text_of("[data-testid=delete-section]").await.is_none(), "no second Delete");

    // Without a hand on the page: steps tick over in place, then it reloads itself as deleted.
    let mut midway: Option<PageState> = None;
    let last = watch_page(&browser, "delete_failed", |now| {
        let steps = delete_steps(now);
        if midway.is_none()
            && now.same_document
            && steps.iter().any(|(_, s)| *s == "done")
            && steps.iter().any(|(_, s)| *s != "done")
        {
            midway = Some(now.clone());
        }
        now.deleted_note
    })
    .await;
    let midway = midway.expect("the page showed a delete step done and another still going, in place");
    assert_eq!(midway.status.as_deref(), Some("deleting"), "{midway:?}");
    assert_eq!(last.status.as_deref(), Some("deleted"), "{last:?}");
    assert!(delete_steps(&last).iter().all(|(_, s)| *s == "done"), "{last:?}");
    assert!(!last.same_document, "the page reloaded itself once the deletion was done");
    assert!(browser.text_of("#live-note").await.is_none(), "no 'updates itself' note once deleted");
    browser.save_screenshot("/tmp/shipyard-service-deleted.png").await;

    browser.link("Services").await.click().await.unwrap();
    browser.wait_for_url(&app.at("/services")).await;
    browser.testid("empty-inventory").await;
    let row = format!("tr[data-service=\"{name}\"]");
    assert!(browser.text_of(&row).await.is_none(), "{name} is not listed: {}", browser.where_am_i().await);

    browser.link("Audit").await.click().await.unwrap();
    browser.wait_for_url(&app.at("/audit")).await;
    browser.element("#filter-service").await.send_keys(&name).await.unwrap();
    browser.element("[data-testid=filters] button[type=submit]").await.click().await.unwrap();
    eventually("the audit trail is filtered by the service", || async {
        let url = browser.current_url().await.ok()?;
        url.query_pairs().any(|(k, v)| k == "service" && v == name.as_str()).then_some(())
    })
    .await;
    let rows: Vec<(String, String, String, String)> =
        serde_json::from_value(browser.execute(READ_AUDIT, vec![]).await.unwrap()).unwrap();
    let seen: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|(action, _, outcome, actor)| (action.as_str(), outcome.as_str(), actor.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("delete_done", "success", "shipyard"),
            ("delete_requested", "success", "bob"),
            ("provisioned", "success", "shipyard"),
            ("create", "success", "bob"),
        ],
        "newest first"
    );
    assert!(rows.iter().all(|(_, service, ..)| *service == name), "{rows:?}");
    browser.save_screenshot("/tmp/shipyard-audit.png").await;

    assert!(app.sim().repo("acme", &name).is_none(), "acme/{name} is gone from github-sim");
    assert!(app.aws.get_role(&role_name).await.unwrap().is_none(), "{role_arn} is gone from moto");
    assert!(app.aws.find_ecr_repository(&ecr_name).await.unwrap().is_none(), "{ecr_uri} is gone from moto");

    browser.close().await;
    let _ = stop.send(());
    reconciler.await.expect("the reconciler task ends").expect("the reconciler stops cleanly");
}

/// A release-tag role added from the ready service's page: the page follows the work in place (the
/// role's steps appear with the rest) and lists the role, its secret and its trust once it is ready.
#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_member_adds_a_release_tag_role_from_the_service_page(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let reconciler = tokio::spawn(app.reconciler().run(async {
        let _ = stopped.await;
    }));
    let browser = Browser::launch().await;
    browser.sign_in(&app, "bob").await;
    browser.link("New service").await.click().await.unwrap();
    browser.wait_for_url(&app.at("/services/new")).await;
    let name = unique_name("tagrole");
    browser.submit_new_service(&app, &name, "gets a tag role").await;
    watch_page(&browser, "failed", |now| now.status.as_deref() == Some("ready") && now.outputs).await;

    // The form offers release tags first; a lone * is refused next to the field.
    browser.element("#role-value").await.send_keys("*").await.unwrap();
    browser.element("[data-testid=add-role] button[type=submit]").await.click().await.unwrap();
    let error = browser.testid("role-error").await;
    assert!(error.text().await.unwrap().contains("lone *"), "{}", browser.where_am_i().await);
    let field = browser.element("#role-value").await;
    field.clear().await.unwrap();
    field.send_keys("v*").await.unwrap();
    browser.element("[data-testid=add-role] button[type=submit]").await.click().await.unwrap();
    browser.wait_for_url(&app.at(&format!("/services/{name}"))).await;
    let last = watch_page(&browser, "failed", |now| {
        now.status.as_deref() == Some("ready") && now.steps.iter().any(|(s, _)| s == "push_role_secret:tag-v")
    })
    .await;
    assert!(last.steps.iter().all(|(_, s)| s == "done"), "{last:?}");
    let row = browser.text_of("tr[data-role=\"tag-v\"]").await.expect("the role is listed");
    assert!(row.contains("tags v*") && row.contains("GHA_TAG_V_ROLE_ARN") && row.contains("ready"), "{row}");
    assert!(row.contains(":ref:refs/tags/v*"), "the subject it admits: {row}");
    browser.save_screenshot("/tmp/shipyard-service-roles.png").await;
    assert!(app.aws.get_role(&format!("gha.acme.{name}.dev.tag-v")).await.unwrap().is_some());

    browser.close().await;
    let _ = stop.send(());
    reconciler.await.expect("the reconciler task ends").expect("the reconciler stops cleanly");
}
