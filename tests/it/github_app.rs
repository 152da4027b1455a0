//! Shipyard's GitHub credential as a GitHub App: the installation found from the organization,
//! installation tokens minted and replaced before they expire, used for provisioning and for the
//! membership re-check; a permission the installation lacks is a clear provisioning error.

use shipyard::domain::ServiceStatus;

use std::time::Duration;

use crate::common::{
    app::{TestApp, unique_name},
    checks::assert_fully_provisioned,
    fixtures::{page, service_failure},
};
use github_sim::{SANDBOX_APP_PRIVATE_KEY, SimConfig};
use reqwest::StatusCode;
use secrecy::SecretString;
use shipyard::{
    config::{GitHubCredential, WEBHOOK_PATH, WebhookConfig},
    github::GitHub,
    provider::RetryPolicy,
};
use sqlx::PgPool;

/// The sandbox App (github-sim's seed): id 424242, installed on acme with the README's permissions.
fn sandbox_app() -> GitHubCredential {
    GitHubCredential::App { app_id: 424_242, private_key: SecretString::from(SANDBOX_APP_PRIVATE_KEY) }
}

async fn spawn_as_app(db: PgPool, sim: SimConfig) -> TestApp {
    TestApp::spawn_with(db, sim, |c| {
        c.github_credential = sandbox_app();
        c.membership_ttl = Duration::from_secs(1);
    })
    .await
}

fn tokens_minted(app: &TestApp) -> usize {
    app.sim().request_count("POST", "/app/installations/*/access_tokens")
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_service_is_provisioned_end_to_end_with_the_app_credential(db: PgPool) {
    let app = spawn_as_app(db, SimConfig::default()).await;
    // The bot's classic token is spent: only the App's installation can do the work.
    app.sim().set_rate_limit("shipyard-bot", 0, Duration::from_secs(3600));
    let browser = app.signed_in("bob").await;
    let name = unique_name("by-app");
    app.create_service(&browser, &name).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Ready);
    assert_fully_provisioned(&app, &name).await;
    assert_eq!(
        app.sim().request_count("GET", "/orgs/acme/installation"),
        1,
        "the installation is looked up once"
    );
    // Every token names the one repository it acts on and only the permission that call needs; the
    // one token for all repositories is the one that creates the repository (it cannot name it yet).
    let scopes = app.sim().installation_token_scopes();
    // Mints that named a repository not made yet (the name check before generating) were refused.
    assert!((scopes.len()..=scopes.len() + 2).contains(&tokens_minted(&app)), "{scopes:?}");
    for (repositories, permissions) in &scopes {
        let asked: Vec<&str> = permissions.keys().map(String::as_str).filter(|p| *p != "metadata").collect();
        assert!(asked.len() <= 1, "one permission per token: {permissions:?}");
        match repositories {
            // The template is only read (that it exists, and its files while GitHub copies them).
            Some(repositories) if repositories == &["service-template"] => {
                assert!(permissions.values().all(|level| level == "read"), "{permissions:?}")
            }
            Some(repositories) => assert_eq!(repositories, std::slice::from_ref(&name), "{permissions:?}"),
            // Generating the repository (it has no name a token could carry yet) and reading the
            // organization's teams and memberships are the only calls not limited to one repository.
            None => assert!(
                asked == ["administration"] || asked == ["members"],
                "only generating and organization reads are unscoped: {permissions:?}"
            ),
        }
        assert!(permissions.values().all(|level| level != "admin"), "{permissions:?}");
    }
    assert!(
        scopes.iter().any(|(r, p)| r.is_some() && p.get("secrets").map(String::as_str) == Some("write")),
        "the secrets were written with a token for this repository's secrets: {scopes:?}"
    );
    // Tokens are reused per scope: a dozen scopes, not one token per request.
    assert!(scopes.len() < 16, "{scopes:?}");

    // Tearing down works with the App's permissions too (administration: write deletes the repository).
    let response = app.delete_via_api(&browser, &name).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Deleted);
    assert!(app.sim().repo("acme", &name).is_none(), "the repository is gone");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn the_membership_re_check_uses_the_app_installation(db: PgPool) {
    let app = spawn_as_app(db, SimConfig::default()).await;
    let browser = app.signed_in("bob").await;
    app.sim().remove_member("acme", "bob");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let response = browser.get(app.at("/services")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "the removed member is signed out");
    assert_eq!(app.sim().request_count("GET", "/orgs/acme/memberships/bob"), 1);
    assert_eq!(tokens_minted(&app), 1);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn provisioning_across_a_token_expiry_mints_and_uses_the_next_token(db: PgPool) {
    let sim = SimConfig { installation_token_ttl: Duration::from_secs(2), ..SimConfig::default() };
    let app = spawn_as_app(db, sim).await;
    let browser = app.signed_in("bob").await;
    let first = unique_name("before");
    app.create_service(&browser, &first).await;
    assert_eq!(app.settle(&app.reconciler(), &first).await, ServiceStatus::Ready);
    let minted = tokens_minted(&app);

    // The first token is now past its expiry: using it would be a 401 "Bad credentials".
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let second = unique_name("after");
    app.create_service(&browser, &second).await;
    let settled = app.settle(&app.reconciler(), &second).await;
    assert_eq!(
        settled,
        ServiceStatus::Ready,
        "no 401 reached a step: {:?}",
        service_failure(&app, &second).await
    );
    assert!(tokens_minted(&app) > minted, "a new token was minted for the second service");
}

#[tokio::test]
async fn a_token_is_replaced_before_it_expires_not_after() {
    let sim = github_sim::spawn(SimConfig {
        installation_token_ttl: Duration::from_secs(2),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let github = GitHub::as_app(
        &sim.url(),
        424_242,
        &SecretString::from(SANDBOX_APP_PRIVATE_KEY),
        "acme",
        RetryPolicy::fast(),
    )
    .unwrap();
    assert!(github.find_repo("acme", "service-template").await.unwrap().is_some());
    assert!(github.find_repo("acme", "service-template").await.unwrap().is_some());
    let minted = || sim.sim().request_count("POST", "/app/installations/*/access_tokens");
    assert_eq!(minted(), 1, "a fresh token is reused");

    // Into the last half of a 2 s lifetime, before the expiry: replaced ahead of time.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(github.find_repo("acme", "service-template").await.unwrap().is_some());
    assert_eq!(minted(), 2);
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_permission_the_installation_lacks_is_a_clear_provisioning_error(db: PgPool) {
    let mut sim = SimConfig::default();
    sim.seed.apps[0].installations[0].permissions.remove("secrets");
    let app = spawn_as_app(db, sim).await;
    let browser = app.signed_in("bob").await;
    let name = unique_name("no-secrets");
    app.create_service(&browser, &name).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Failed);

    let (_, step, message) = service_failure(&app, &name).await;
    assert_eq!(step, "actions_secrets");
    // GitHub refuses to mint a token with a permission the installation lacks.
    assert!(message.contains("The permissions requested are not granted to this installation"), "{message}");
    assert!(message.contains("needs the permission secrets=read"), "{message}");
    let (_, html) = page(&app, &browser, &format!("/services/{name}")).await;
    assert!(html.contains("needs the permission secrets=read"), "the page shows why");
}

/// The App credential with webhooks on (pointed at this Shipyard).
async fn spawn_as_app_with_webhooks(db: PgPool, sim: SimConfig) -> TestApp {
    TestApp::spawn_with(db, sim, |c| {
        c.github_credential = sandbox_app();
        let url = format!("{}{WEBHOOK_PATH}", c.public_url.as_str().trim_end_matches('/'));
        let key = SecretString::from("a-test-webhook-key-of-at-least-32-characters");
        c.webhooks = Some(WebhookConfig { url: url.parse().unwrap(), key });
    })
    .await
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn the_installation_creates_the_webhook_with_its_webhooks_permission(db: PgPool) {
    let app = spawn_as_app_with_webhooks(db, SimConfig::default()).await;
    app.sim().set_rate_limit("shipyard-bot", 0, Duration::from_secs(3600));
    let browser = app.signed_in("bob").await;
    let name = unique_name("app-hooked");
    app.create_service(&browser, &name).await;
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Ready);
    let hooks = app.sim().hooks("acme", &name);
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert_eq!(hooks[0].events, ["workflow_run"]);
    assert_eq!(hooks[0].url, app.at(WEBHOOK_PATH));
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn an_installation_without_the_webhooks_permission_still_provisions_and_says_why(db: PgPool) {
    let mut sim = SimConfig::default();
    sim.seed.apps[0].installations[0].permissions.remove("repository_hooks");
    let app = spawn_as_app_with_webhooks(db, sim).await;
    let browser = app.signed_in("bob").await;
    let name = unique_name("app-unhooked");
    app.create_service(&browser, &name).await;
    assert_eq!(
        app.settle(&app.reconciler(), &name).await,
        ServiceStatus::Ready,
        "the build is polled instead"
    );
    assert!(app.sim().hooks("acme", &name).is_empty());
    let (status, error): (String, Option<String>) =
        sqlx::query_as("select st.status, st.error from step st join service s using (service_id) where s.name = $1 and st.step = 'github_webhook'")
            .bind(&name)
            .fetch_one(&app.db)
            .await
            .unwrap();
    let error = error.unwrap_or_default();
    assert_eq!(status, "failed");
    assert!(error.contains("needs the permission repository_hooks="), "{error}");
    let (_, html) = page(&app, &browser, &format!("/services/{name}")).await;
    assert!(html.contains("needs the permission repository_hooks="), "the page shows why");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn an_app_not_installed_on_the_organization_says_so(db: PgPool) {
    let mut sim = SimConfig::default();
    sim.seed.apps[0].installations.clear();
    let app = TestApp::spawn_with(db, sim, |c| {
        c.github_credential = sandbox_app();
        c.team_required = false;
    })
    .await;
    let browser = app.signed_in("bob").await;
    let name = unique_name("uninstalled");
    let fields = [
        ("name", name.as_str()),
        ("environment", "dev"),
        ("template", "acme/service-template"),
        ("default_branch", "main"),
    ];
    // A team cannot be checked without the installation: the create form says why, naming the field.
    let mut with_team = fields.to_vec();
    with_team.push(("team", "payments"));
    let refused = app.submit_service(&browser, &with_team).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = refused.text().await.unwrap();
    let said = scraper::Html::parse_document(&page)
        .select(&scraper::Selector::parse("#team-error").unwrap())
        .map(|e| e.text().collect::<String>())
        .collect::<Vec<_>>();
    assert!(said.len() == 1 && said[0].contains("is not installed on the acme organization"), "{said:?}");
    // Without a team the first step says so.
    assert_eq!(app.submit_service(&browser, &fields).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Failed);
    let (_, _, message) = service_failure(&app, &name).await;
    assert!(message.contains("GitHub App 424242 is not installed on the acme organization"), "{message}");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn api_bearer_tokens_still_work_with_the_app_credential(db: PgPool) {
    let app = spawn_as_app(db, SimConfig::default()).await;
    let response =
        app.browser().get(app.at("/api/v1/services")).bearer_auth("ghp_sandbox_bob").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
