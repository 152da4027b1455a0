//! The ownership files (CODEOWNERS, catalog-info.yaml) and the security baseline (secret scanning,
//! Dependabot alerts and security updates, topics): read back from github-sim, shown in the API and on
//! the page, skipped with the reason where GitHub refuses, drift found and repaired, crash-safe.
//!
//! The owning team is set with SQL right after the form created the service (before any step ran):
//! the form's team field is another change.

use reqwest::{Client, StatusCode};
use scraper::Html;
use serde_json::Value;
use shipyard::{domain::ServiceStatus, provision::drift::DriftCheck};
use sqlx::PgPool;

use crate::common::{
    app::{TestApp, unique_name},
    fixtures::texts,
};

const CODEOWNERS: &str = ".github/CODEOWNERS";
const CATALOG: &str = "catalog-info.yaml";

/// Creates `name` through the form as `browser`, owned by `team` when given, and settles it.
async fn ready_service(app: &TestApp, browser: &Client, prefix: &str, team: Option<&str>) -> String {
    let name = unique_name(prefix);
    app.create_service(browser, &name).await;
    // Before any step runs: the owning team the service is made for, or none.
    sqlx::query("update service set team = $1 where name = $2")
        .bind(team)
        .bind(&name)
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Ready);
    name
}

async fn show(app: &TestApp, browser: &Client, name: &str) -> Value {
    let response = browser.get(app.at(&format!("/api/v1/services/{name}"))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// `(path, state)` of each ownership file in the service JSON.
fn files(body: &Value) -> Vec<(String, String)> {
    body["outputs"]["ownership_files"]["files"]
        .as_array()
        .expect("ownership files in the outputs")
        .iter()
        .map(|f| (f["path"].as_str().unwrap().to_owned(), f["state"].as_str().unwrap().to_owned()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
}

async fn check_now(app: &TestApp, browser: &Client, name: &str) -> Value {
    let token = app.csrf_token(browser).await;
    let response = browser
        .post(app.at(&format!("/api/v1/services/{name}/check")))
        .header("x-csrf-token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

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
    let body = check_now(app, browser, name).await;
    assert_eq!(findings(&body), vec![], "nothing left after the repair");
}

async fn attempts(app: &TestApp, name: &str, step: &str) -> i32 {
    sqlx::query_scalar(
        "select attempts from step join service using (service_id) where name = $1 and step = $2",
    )
    .bind(name)
    .bind(step)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_ready_service_has_its_ownership_files_and_security_baseline(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    let name = ready_service(&app, &bob, "owned", Some("payments")).await;
    let sim = app.sim();

    let codeowners = sim.file("acme", &name, CODEOWNERS).expect("CODEOWNERS on main");
    assert!(codeowners.lines().any(|l| l == "* @acme/payments"), "{codeowners}");
    let catalog = sim.file("acme", &name, CATALOG).expect("catalog-info.yaml on main");
    for line in [
        "apiVersion: backstage.io/v1alpha1".to_owned(),
        "kind: Component".to_owned(),
        format!("  name: {name}"),
        format!("    github.com/project-slug: acme/{name}"),
        "  type: service".to_owned(),
        "  lifecycle: experimental".to_owned(),
        "  owner: payments".to_owned(),
    ] {
        assert!(catalog.lines().any(|l| l == line), "{line:?} in\n{catalog}");
    }
    assert_eq!(sim.api_commits("acme", &name), 2, "one commit per file");
    // The commits asked Actions to skip them: every run is of the initial commit.
    let runs = sim.runs("acme", &name);
    let commits: std::collections::BTreeSet<&str> = runs.iter().map(|r| r.head_sha.as_str()).collect();
    assert_eq!(commits.len(), 1, "{runs:?}");

    let security = sim.repo_security("acme", &name);
    assert!(security.secret_scanning && security.push_protection);
    assert!(security.vulnerability_alerts && security.automated_security_fixes);
    assert_eq!(security.topics, ["shipyard", "dev", "payments"]);

    let body = show(&app, &bob, &name).await;
    assert_eq!(files(&body), pairs(&[(CODEOWNERS, "committed"), (CATALOG, "committed")]));
    let baseline = &body["outputs"]["security_baseline"];
    for part in ["secret_scanning", "dependabot_alerts", "dependabot_security_updates"] {
        assert_eq!(baseline[part]["on"], true, "{part}: {baseline}");
    }
    assert_eq!(baseline["topics"], serde_json::json!(["shipyard", "dev", "payments"]));

    let html = bob.get(app.at(&format!("/services/{name}"))).send().await.unwrap().text().await.unwrap();
    let html = Html::parse_document(&html);
    assert_eq!(texts(&html, "[data-testid=file-committed] code"), [CODEOWNERS, CATALOG]);
    let scanning = texts(&html, "[data-testid=baseline-secret-scanning] .badge");
    assert_eq!(scanning, ["on"]);
    assert_eq!(texts(&html, "[data-testid=baseline-topics] code"), ["shipyard", "dev", "payments"]);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_codeowners_file_the_template_has_is_left_alone_and_reported(db: PgPool) {
    let mut sim = github_sim::SimConfig::default();
    let template = sim.seed.repos.iter_mut().find(|r| r.name == "service-template").unwrap();
    template.files.insert("CODEOWNERS".into(), "* @acme/platform\n".into());
    let app = TestApp::spawn_with(db, sim, |_| {}).await;
    let bob = app.signed_in("bob").await;
    let name = ready_service(&app, &bob, "kept", Some("payments")).await;

    assert_eq!(app.sim().file("acme", &name, "CODEOWNERS").as_deref(), Some("* @acme/platform\n"));
    assert_eq!(app.sim().file("acme", &name, CODEOWNERS), None, "no second CODEOWNERS that would win");
    let body = show(&app, &bob, &name).await;
    assert_eq!(files(&body), pairs(&[("CODEOWNERS", "kept"), (CATALOG, "committed")]));
    let note = body["outputs"]["ownership_files"]["files"][0]["note"].as_str().unwrap();
    assert!(note.contains("template already has"), "{note}");
    // The template's file removed is drift too. Repair would write Shipyard's, but the default branch
    // is now protected by Shipyard's own ruleset: GitHub refuses the direct commit, and the file is
    // reported as needing a pull request rather than failing the service.
    app.sim().remove_file("acme", &name, "CODEOWNERS");
    assert_eq!(findings(&check_now(&app, &bob, &name).await), pairs(&[("ownership_files", "missing")]));
    repair(&app, &bob, &name).await;
    assert_eq!(app.sim().file("acme", &name, CODEOWNERS), None);
    let body = show(&app, &bob, &name).await;
    let note = body["outputs"]["ownership_files"]["files"][0]["note"].as_str().unwrap();
    assert!(note.contains("Changes must be made through a pull request"), "{note}");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn without_a_team_codeowners_is_skipped_with_the_reason(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    let name = ready_service(&app, &bob, "teamless", None).await;
    assert_eq!(app.sim().file("acme", &name, CODEOWNERS), None);
    let catalog = app.sim().file("acme", &name, CATALOG).expect("catalog-info.yaml");
    assert!(catalog.lines().any(|l| l == "  owner: user:bob"), "{catalog}");
    let body = show(&app, &bob, &name).await;
    assert_eq!(files(&body), pairs(&[(CODEOWNERS, "skipped"), (CATALOG, "committed")]));
    let note = body["outputs"]["ownership_files"]["files"][0]["note"].as_str().unwrap();
    assert!(note.contains("no owning team"), "{note}");
    assert_eq!(app.sim().repo_security("acme", &name).topics, ["shipyard", "dev"]);
    // A skipped file is not drift.
    assert_eq!(findings(&check_now(&app, &bob, &name).await), vec![]);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn without_the_licence_secret_scanning_is_skipped_and_the_service_is_ready(db: PgPool) {
    let mut sim = github_sim::SimConfig::default();
    sim.seed.orgs.iter_mut().find(|o| o.login == "acme").unwrap().secret_protection = false;
    let app = TestApp::spawn_with(db, sim, |_| {}).await;
    let bob = app.signed_in("bob").await;
    let name = ready_service(&app, &bob, "nolicence", Some("payments")).await;

    let security = app.sim().repo_security("acme", &name);
    assert!(!security.secret_scanning && !security.push_protection);
    assert!(security.vulnerability_alerts && security.automated_security_fixes, "the rest still applies");
    let body = show(&app, &bob, &name).await;
    let scanning = &body["outputs"]["security_baseline"]["secret_scanning"];
    assert_eq!(scanning["on"], false);
    assert_eq!(scanning["skipped"], "422 Advanced security has not been purchased.");
    let html = bob.get(app.at(&format!("/services/{name}"))).send().await.unwrap().text().await.unwrap();
    let html = Html::parse_document(&html);
    assert_eq!(texts(&html, "[data-testid=baseline-secret-scanning] .badge"), ["skipped"]);
    assert!(html.html().contains("Advanced security has not been purchased."));
    // A skipped part is not drift.
    assert_eq!(findings(&check_now(&app, &bob, &name).await), vec![]);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn each_guardrail_drift_is_found_and_repair_re_runs_only_its_step(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    let name = ready_service(&app, &bob, "guarded", Some("payments")).await;
    let sim = app.sim();

    // 1. A file removed by a push.
    sim.remove_file("acme", &name, CATALOG);
    assert_eq!(
        DriftCheck::new(app.db.clone(), app.providers(), app.reconciler_settings())
            .check_all()
            .await
            .unwrap(),
        1
    );
    let body = show(&app, &bob, &name).await;
    assert_eq!(body["status"], "drifted");
    assert_eq!(findings(&body), pairs(&[("ownership_files", "missing")]));
    assert_eq!(body["drift"]["findings"][0]["expected"], CATALOG);
    let (files_before, baseline_before) =
        (attempts(&app, &name, "ownership_files").await, attempts(&app, &name, "security_baseline").await);
    repair(&app, &bob, &name).await;
    // Shipyard's ruleset now guards the branch: the direct commit is refused, and the file is reported
    // as one to add by pull request (the service stays ready; CODEOWNERS is untouched).
    assert!(sim.file("acme", &name, CATALOG).is_none(), "GitHub refused the direct commit");
    let body = show(&app, &bob, &name).await;
    let catalog = &body["outputs"]["ownership_files"]["files"][1];
    assert_eq!((catalog["path"].as_str(), catalog["state"].as_str()), (Some(CATALOG), Some("skipped")));
    assert!(catalog["note"].as_str().unwrap().contains("through a pull request"), "{catalog}");
    assert_eq!(sim.file("acme", &name, CODEOWNERS).map(|t| t.contains("@acme/payments")), Some(true));
    assert_eq!(attempts(&app, &name, "ownership_files").await, files_before + 1);
    assert_eq!(attempts(&app, &name, "security_baseline").await, baseline_before);

    // 2. Everything switched off and a topic removed by a repository admin (who added one of their own).
    sim.set_repo_security(
        "acme",
        &name,
        github_sim::RepoSecurity { topics: vec!["dev".into(), "mine".into()], ..Default::default() },
    );
    let body = check_now(&app, &bob, &name).await;
    assert_eq!(
        findings(&body),
        pairs(&[
            ("security_baseline", "secret_scanning_off"),
            ("security_baseline", "push_protection_off"),
            ("security_baseline", "dependabot_alerts_off"),
            ("security_baseline", "security_updates_off"),
            ("security_baseline", "topic_missing"),
        ])
    );
    let topic = body["drift"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["problem"] == "topic_missing")
        .unwrap();
    assert_eq!(topic["expected"], "shipyard, payments");
    let files_before = attempts(&app, &name, "ownership_files").await;
    repair(&app, &bob, &name).await;
    let security = sim.repo_security("acme", &name);
    assert!(security.secret_scanning && security.push_protection);
    assert!(security.vulnerability_alerts && security.automated_security_fixes);
    assert_eq!(security.topics, ["dev", "mine", "shipyard", "payments"], "the admin's own topic is kept");
    assert_eq!(attempts(&app, &name, "ownership_files").await, files_before);
    assert_eq!(sim.api_commits("acme", &name), 3, "the two files and the removal; the rewrite was refused");
}

/// Kill the reconciler right after `ownership_files`, and right after `security_baseline`: the fresh
/// reconciler finishes the service and no file is committed twice.
#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_crash_after_the_files_or_the_baseline_resumes_without_a_second_commit(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let bob = app.signed_in("bob").await;
    let mut seen = Vec::new();
    for k in 9..=16 {
        let name = unique_name(&format!("gcrash{k}"));
        app.create_service(&bob, &name).await;
        sqlx::query("update service set team = 'payments' where name = $1")
            .bind(&name)
            .execute(&app.db)
            .await
            .unwrap();
        app.reconciler().stopping_after_steps(k).run_until_idle().await.unwrap();
        let done: Vec<String> = sqlx::query_scalar(
            "select step from step join service using (service_id) where name = $1 and step.status = 'done'",
        )
        .bind(&name)
        .fetch_all(&app.db)
        .await
        .unwrap();
        let has = |s: &str| done.iter().any(|d| d == s);
        let boundary = match (has("ownership_files"), has("security_baseline"), has("first_build")) {
            (true, false, _) => Some("ownership_files"),
            (true, true, false) => Some("security_baseline"),
            _ => None,
        };
        assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Ready, "k={k}");
        assert_eq!(app.sim().api_commits("acme", &name), 2, "k={k}: one commit per file, never a second");
        let security = app.sim().repo_security("acme", &name);
        assert_eq!(security.topics, ["shipyard", "dev", "payments"], "k={k}");
        seen.extend(boundary);
    }
    assert!(seen.contains(&"ownership_files"), "a crash right after ownership_files: {seen:?}");
    assert!(seen.contains(&"security_baseline"), "a crash right after security_baseline: {seen:?}");
}
