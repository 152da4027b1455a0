//! Shipyard in a real headless Chromium: signing in through github-sim's pages, and creating a
//! service through the form while the page follows the reconciler's progress by itself.
//!
//! Needs chromium and chromedriver (Debian: `chromium`, `chromium-driver`; `CHROMIUM` and
//! `CHROMEDRIVER` override the paths), Postgres, and moto at `MOTO_URL`.

mod common;

use std::time::Duration;

use common::{
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
    browser.element("#name").await.send_keys(&name).await.unwrap();
    browser.element("#environment").await.select_by_value("dev").await.unwrap();
    browser.element("input[name=visibility][value=private]").await.click().await.unwrap();
    browser.element("#template").await.select_by_value("acme/service-template").await.unwrap();
    let branch = browser.element("#default_branch").await;
    branch.clear().await.unwrap();
    branch.send_keys("main").await.unwrap();
    browser.element("#description").await.send_keys("made in a browser").await.unwrap();
    browser.element("form.form button[type=submit]").await.click().await.unwrap();

    browser.wait_for_url(&app.at(&format!("/services/{name}"))).await;
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
    assert_eq!(app.status_of(&name).await, "ready");

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
