//! The service page and the API show the latest workflow runs (from github-sim) and the images the
//! build pushed to ECR (in moto), looked up live with a short cache, and a provider's fault only
//! puts a notice in its own section.

use std::time::Duration;

use github_sim::{Fault, SimConfig};
use serde_json::Value;
use shipyard::domain::ServiceStatus;
use sqlx::PgPool;

use crate::common::{
    app::{Member, TestApp, unique_name},
    aws_faults::{self, Fault as AwsFault},
};

/// A ready service, provisioned through the form and the reconciler as a person would.
async fn ready_service(app: &TestApp, prefix: &str) -> (Member, String) {
    let browser = app.signed_in("bob").await;
    let name = unique_name(prefix);
    app.create_service(&browser, &name).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Ready);
    (browser, name)
}

/// The commit `main` points at, as GitHub's API tells it (the template's initial commit).
async fn head_of_main(app: &TestApp, name: &str) -> String {
    let branch: Value = reqwest::Client::new()
        .get(format!("{}/repos/acme/{name}/branches/main", app.github.url()))
        .bearer_auth("ghp_sandbox_shipyard_bot")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    branch["commit"]["sha"].as_str().expect("the branch names its commit").to_owned()
}

async fn page(app: &TestApp, browser: &Member, name: &str) -> String {
    let response = browser.get(app.at(&format!("/services/{name}"))).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

async fn api(app: &TestApp, browser: &Member, name: &str) -> Value {
    let response = browser.get(app.at(&format!("/api/v1/services/{name}"))).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// The page's `<section data-testid="...">`, up to its end.
fn section<'a>(html: &'a str, testid: &str) -> &'a str {
    let start =
        html.find(&format!("data-testid=\"{testid}\"")).unwrap_or_else(|| panic!("no {testid} section"));
    let rest = &html[start..];
    &rest[..rest.find("</section>").unwrap()]
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn after_provisioning_the_page_and_the_api_show_the_build_run_and_its_image(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let (browser, name) = ready_service(&app, "live").await;
    // The initial commit, which the first build built: Shipyard's own commits since (CODEOWNERS,
    // catalog-info.yaml) moved main's head but ran nothing ([skip ci]).
    let sha = app.sim().runs("acme", &name).into_iter().find(|r| r.head_branch == "main").unwrap().head_sha;
    assert_ne!(head_of_main(&app, &name).await, sha, "main moved on with Shipyard's commits");
    let sha_tag = format!("sha-{}", &sha[..7]);

    let images = app.aws.list_images(&name).await.unwrap();
    let pushed = images.iter().find(|i| i.tags.contains(&sha_tag)).unwrap_or_else(|| {
        panic!("moto holds an image tagged {sha_tag}: {images:?}");
    });
    assert!(pushed.tags.contains(&"main".to_owned()), "the branch tag too: {pushed:?}");

    let html = page(&app, &browser, &name).await;
    let runs = section(&html, "runs");
    let build = app.sim().runs("acme", &name).into_iter().find(|r| r.head_branch == "main").unwrap();
    assert!(runs.contains(&format!("href=\"{}\"", build.html_url)), "the run links to GitHub: {runs}");
    assert!(runs.contains(">success</span>"), "the run concluded success: {runs}");
    assert!(runs.contains(&format!(">{}</code>", &sha[..7])), "the short commit: {runs}");
    assert!(runs.contains("<code>main</code>"), "the branch: {runs}");
    let on_page = section(&html, "images");
    assert!(on_page.contains(&format!(">{sha_tag}</code>")), "the image tag: {on_page}");
    let short_digest = &pushed.digest[..7 + 12];
    assert!(on_page.contains(&format!(">{short_digest}</code>")), "the short digest: {on_page}");
    assert!(!on_page.contains("No images yet"));

    let body = api(&app, &browser, &name).await;
    assert_eq!(body["runs_error"], Value::Null);
    assert_eq!(body["images_error"], Value::Null);
    let runs = body["runs"].as_array().expect("runs is an array");
    assert!(!runs.is_empty() && runs.len() <= 10, "{runs:?}");
    let run = runs.iter().find(|r| r["id"] == build.id).expect("the build's run is listed");
    assert_eq!(run["conclusion"], "success");
    assert_eq!(run["status"], "completed");
    assert_eq!(run["head_sha"], sha.as_str());
    assert_eq!(run["short_sha"], &sha[..7]);
    assert_eq!(run["branch"], "main");
    assert_eq!(run["html_url"], build.html_url.as_str());
    assert_eq!(run["attempt"], build.run_attempt);
    assert_eq!(run["event"], build.event.as_str());
    let image = &body["images"][0];
    assert_eq!(image["digest"], pushed.digest.as_str(), "the API shows the whole digest, newest first");
    assert!(image["tags"].as_array().unwrap().contains(&Value::from(sha_tag)));
    assert!(image["pushed_at"].is_string());
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn while_the_first_build_runs_the_page_shows_it_in_progress(db: PgPool) {
    let sim = SimConfig { run_duration: Duration::from_secs(120), ..SimConfig::default() };
    let app = TestApp::spawn_with(db, sim, |_| {}).await;
    let browser = app.signed_in("bob").await;
    let name = unique_name("building");
    app.create_service(&browser, &name).await;
    assert!(page(&app, &browser, &name).await.find("data-testid=\"runs\"").is_none(), "nothing to show yet");

    let reconciler = app.reconciler();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while first_build_status(&app, &name).await != "waiting" {
        assert!(tokio::time::Instant::now() < deadline, "the first build never started being watched");
        reconciler.run_until_idle().await.unwrap();
    }

    let html = page(&app, &browser, &name).await;
    assert_eq!(app.status_of(&name).await, ServiceStatus::Provisioning);
    let runs = section(&html, "runs");
    assert!(runs.contains(">in_progress</span>") || runs.contains(">queued</span>"), "{runs}");
    assert!(!runs.contains(">success</span>"), "{runs}");
    section(&html, "images");
}

async fn first_build_status(app: &TestApp, name: &str) -> String {
    sqlx::query_scalar(
        "select st.status from step st join service s using (service_id) where s.name = $1 and st.step = 'first_build'",
    )
    .bind(name)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn an_empty_ecr_repository_says_so(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let (browser, name) = ready_service(&app, "empty").await;
    let ecr = aws_sdk_ecr::Client::new(&aws_faults::moto_sdk_config(&Default::default()).await);
    let pushed = app.aws.list_images(&name).await.unwrap();
    assert!(!pushed.is_empty(), "the build pushed an image");
    for image in pushed {
        let id = aws_sdk_ecr::types::ImageIdentifier::builder().image_digest(image.digest).build();
        ecr.batch_delete_image().repository_name(&name).image_ids(id).send().await.unwrap();
    }

    let html = page(&app, &browser, &name).await;
    let images = section(&html, "images");
    assert!(images.contains("No images yet: the first build pushes one."), "{images}");
    assert!(section(&html, "runs").contains(">success</span>"), "the runs still show");

    let body = api(&app, &browser, &name).await;
    assert_eq!(body["images"], serde_json::json!([]));
    assert_eq!(body["images_error"], Value::Null);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_github_fault_on_the_runs_list_shows_a_notice_and_the_rest_of_the_page(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let (browser, name) = ready_service(&app, "fault").await;
    app.sim().inject_fault(
        Fault::new("/repos/*/*/actions/runs", 500)
            .body(serde_json::json!({"message": "internal runs-store detail"})),
    );

    let html = page(&app, &browser, &name).await;
    let runs = section(&html, "runs");
    assert!(runs.contains("data-testid=\"runs-notice\""), "{runs}");
    assert!(runs.contains("GitHub did not give us the runs just now"), "{runs}");
    assert!(!html.contains("internal runs-store detail"), "the provider's message stays in the log");
    assert!(section(&html, "images").contains(">sha-"), "the images still show");
    assert!(section(&html, "outputs").contains("ECR repository"), "the rest of the page too");

    let body = api(&app, &browser, &name).await;
    assert_eq!(body["runs"], serde_json::json!([]));
    assert!(body["runs_error"].as_str().unwrap().starts_with("GitHub did not give us the runs"));
    assert!(!body["images"].as_array().unwrap().is_empty());
    assert_eq!(body["images_error"], Value::Null);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn an_aws_fault_on_the_images_shows_a_notice_and_the_runs_still_show(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let (browser, name) = ready_service(&app, "denied").await;
    app.aws_faults.inject("DescribeImages", 100, AwsFault::AccessDenied);

    let html = page(&app, &browser, &name).await;
    let images = section(&html, "images");
    assert!(images.contains("AWS did not give us the images just now"), "{images}");
    assert!(!images.contains("AccessDenied"), "{images}");
    assert!(section(&html, "runs").contains(">success</span>"));
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn reloads_within_the_cache_time_cost_one_runs_list_and_one_image_list(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let (browser, name) = ready_service(&app, "cached").await;
    let runs_lists = || app.sim().request_count("GET", "/repos/*/*/actions/runs");
    let (runs_before, images_before) = (runs_lists(), app.aws_faults.calls("DescribeImages"));

    let first = page(&app, &browser, &name).await;
    let second = page(&app, &browser, &name).await;
    let body = api(&app, &browser, &name).await;

    assert_eq!(runs_lists() - runs_before, 1, "one runs list for two pages and the API");
    assert_eq!(app.aws_faults.calls("DescribeImages") - images_before, 1);
    assert_eq!(section(&first, "runs"), section(&second, "runs"));
    assert!(!body["runs"].as_array().unwrap().is_empty(), "the API reads the same cache");
}
