//! `TestApp`: the real router on a random port with its own database and an in-process github-sim.

use std::collections::HashMap;

use std::{sync::Arc, time::Duration};

use github_sim::{RunningSim, Sim, SimConfig};
use reqwest::{Client, StatusCode, redirect::Policy};
use shipyard::{
    Application, Config,
    aws::Aws,
    domain::ServiceStatus,
    provision::{Providers, Reconciler, Settings},
};
use sqlx::PgPool;
use tokio::net::TcpListener;

/// A member of the organization signed in to Shipyard: their browser (cookies kept) and who they are.
/// It derefs to the browser's `reqwest::Client`, so requests are made on it directly.
pub struct Member {
    pub client: Client,
    pub login: String,
}

impl std::ops::Deref for Member {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

pub struct TestApp {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub url: String,
    pub db: PgPool,
    pub github: RunningSim,
    pub config: Config,
    /// AWS calls go to moto through this fault layer; tests inject throttling and denials here.
    pub aws_faults: super::aws_faults::Faults,
    /// The same AWS client the reconciler uses, for reading back what exists.
    pub aws: Arc<Aws>,
    providers: Providers,
    /// The router's `Debug` text, which names every route's path (tests/it/contract.rs reads it).
    router_debug: String,
}

/// The sandbox's variables, pointed at this test's sim and port.
pub fn test_vars(app_url: &str, sim_url: &str) -> HashMap<String, String> {
    [
        ("DATABASE_URL", "postgres://unused-in-tests"),
        ("PUBLIC_URL", app_url),
        ("GITHUB_ORG", "acme"),
        ("GITHUB_TOKEN", "ghp_sandbox_shipyard_bot"),
        ("GITHUB_OAUTH_CLIENT_ID", "shipyard-sandbox"),
        ("GITHUB_OAUTH_CLIENT_SECRET", "sandbox-client-secret"),
        ("GITHUB_API_URL", sim_url),
        ("GITHUB_WEB_URL", sim_url),
        ("SHIPYARD_TEMPLATES", "acme/service-template,acme/worker-template"),
        ("SHIPYARD_IAM_PROPAGATION_DELAY_SECS", "0"),
        ("SHIPYARD_PERMISSIONS_BOUNDARY", super::fixtures::BOUNDARY_ARN),
        // Tests check again right after a change; the cooldown's own test sets it.
        ("SHIPYARD_CHECK_COOLDOWN_SECS", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Reconciler settings for tests: no propagation wait, short leases, quick polls and looks.
pub fn test_settings(config: &Config) -> Settings {
    Settings {
        iam_propagation_delay: Duration::ZERO,
        generate_timeout: Duration::from_secs(10),
        build_wait: Duration::from_secs(10),
        build_poll_min: Duration::from_millis(20),
        build_poll_max: Duration::from_millis(200),
        lease: Duration::from_millis(600),
        poll_interval: Duration::from_millis(50),
        concurrency: 2,
        ..Settings::from_config(config)
    }
}

impl TestApp {
    pub async fn spawn(db: PgPool) -> Self {
        Self::spawn_with(db, SimConfig::default(), |_| {}).await
    }

    /// Starts github-sim with `sim_config`, then Shipyard with the sandbox configuration as `tweak` leaves it.
    pub async fn spawn_with(db: PgPool, sim_config: SimConfig, tweak: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_wired(db, None, sim_config, tweak).await.0
    }

    /// As production wires the pools: the web on a pool of its own of `size` connections, and the reconciler
    /// (the application's own, returned) on `db`'s. The web pool is returned too, to be exhausted.
    pub async fn spawn_with_web_pool(db: PgPool, size: u32) -> (Self, PgPool, Reconciler) {
        let web = sqlx::postgres::PgPoolOptions::new()
            .max_connections(size)
            .acquire_timeout(Duration::from_secs(1))
            .connect_with((*db.connect_options()).clone())
            .await
            .expect("the web pool connects");
        let (app, reconciler) = Self::spawn_wired(db, Some(web.clone()), SimConfig::default(), |_| {}).await;
        (app, web, reconciler)
    }

    async fn spawn_wired(
        db: PgPool,
        web_db: Option<PgPool>,
        mut sim_config: SimConfig,
        tweak: impl FnOnce(&mut Config),
    ) -> (Self, Reconciler) {
        // The sim's runner assumes the role and pushes in the same moto Shipyard provisions in.
        sim_config.aws_endpoint_url.get_or_insert_with(|| {
            std::env::var("MOTO_URL").unwrap_or_else(|_| "http://127.0.0.1:5000".to_owned())
        });
        let github = github_sim::spawn(sim_config).await.expect("github-sim starts");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let mut config =
            Config::from_vars(&test_vars(&url, &github.url())).expect("test configuration is valid");
        config.retry = shipyard::provider::RetryPolicy::fast();
        tweak(&mut config);
        let aws_faults = super::aws_faults::Faults::default();
        let sdk = super::aws_faults::moto_sdk_config(&aws_faults).await;
        super::fixtures::ensure_boundary_policy().await;
        let aws = Arc::new(
            Aws::new(&sdk, config.retry)
                // moto throttles nothing and the tests are not about pacing (the drift bench is): Shipyard's
                // 10 calls a second per account would add seconds to every service provisioned.
                .with_call_rate(1_000)
                .with_oidc_issuer(config.github_oidc_issuer.clone())
                .with_permissions_boundary(config.permissions_boundary.clone())
                .with_ecr_rules(config.ecr.clone()),
        );
        let settings = test_settings(&config);
        let web_db = web_db.unwrap_or_else(|| db.clone());
        let app =
            Application::build_with_worker_pool(web_db, db.clone(), config.clone(), aws.clone(), settings)
                .expect("the app builds");
        let (router, providers, reconciler) = (app.router, app.providers, app.reconciler);
        let router_debug = format!("{router:?}");
        // The production server (timeouts, TCP_NODELAY, client addresses), stopped with the test's runtime.
        let edge = config.edge;
        tokio::spawn(async move {
            shipyard::web::serve::serve(listener, router, edge, Default::default())
                .await
                .expect("server runs")
        });
        (Self { url, db, github, config, aws_faults, aws, providers, router_debug }, reconciler)
    }

    pub fn router_debug(&self) -> &str {
        &self.router_debug
    }

    /// The server's own GitHub client (the bot token), as the reconciler uses it.
    pub fn github_client(&self) -> shipyard::github::GitHub {
        self.providers.github.clone()
    }

    /// The clients the reconciler acts through (the bot token at github-sim, the AWS SDK at moto).
    pub fn providers(&self) -> Providers {
        self.providers.clone()
    }

    pub fn sim(&self) -> Sim {
        self.github.sim()
    }

    /// Reconciler settings for tests: no propagation wait, short leases, quick polls.
    pub fn reconciler_settings(&self) -> Settings {
        test_settings(&self.config)
    }

    /// A reconciler of its own (a separate "process"), on this app's database, sim and moto.
    pub fn reconciler(&self) -> Reconciler {
        Reconciler::new(self.db.clone(), self.providers.clone(), self.reconciler_settings())
    }

    /// Runs `reconciler` until the service is no longer in progress (waiting out leases left
    /// by a "crashed" reconciler). Panics after 30 s.
    pub async fn settle(&self, reconciler: &Reconciler, name: &str) -> ServiceStatus {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            reconciler.run_until_idle().await.expect("reconciler runs");
            let status = self.status_of(name).await;
            if !status.is_in_progress() {
                return status;
            }
            if tokio::time::Instant::now() >= deadline {
                // Where it stuck: each step's state, so a failure here says which step was waiting on what.
                let steps: Vec<(String, String, String, Option<String>, String)> = sqlx::query_as(
                    "select step, instance, step.status, error, left(outputs::text, 400) from step \
                     join service using (service_id) where name = $1 and step.status <> 'done' order by step",
                )
                .bind(name)
                .fetch_all(&self.db)
                .await
                .unwrap_or_default();
                panic!("{name} still {status} after 30 s; steps not done: {steps:#?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn status_of(&self, name: &str) -> ServiceStatus {
        sqlx::query_scalar("select status from service where name = $1 order by created_at desc limit 1")
            .bind(name)
            .fetch_one(&self.db)
            .await
            .expect("the service exists")
    }

    /// `DELETE /api/v1/services/{name}` as the signed-in `browser`, with its CSRF header.
    pub async fn delete_via_api(&self, browser: &Client, name: &str) -> reqwest::Response {
        let token = self.csrf_token(browser).await;
        browser
            .delete(self.at(&format!("/api/v1/services/{name}")))
            .header("x-csrf-token", token)
            .send()
            .await
            .unwrap()
    }

    /// Submits the "New service" form as the signed-in `browser`; returns the response.
    pub async fn submit_service(&self, browser: &Client, fields: &[(&str, &str)]) -> reqwest::Response {
        let token = self.csrf_token(browser).await;
        let mut form: Vec<(&str, &str)> = vec![("csrf_token", token.as_str())];
        form.extend_from_slice(fields);
        browser.post(self.at("/services")).form(&form).send().await.unwrap()
    }

    /// Creates a service through the form with sensible defaults and the given name.
    pub async fn create_service(&self, browser: &Client, name: &str) {
        let response = self
            .submit_service(
                browser,
                &[
                    ("name", name),
                    ("environment", "dev"),
                    ("visibility", "private"),
                    ("template", "acme/service-template"),
                    ("default_branch", "main"),
                    ("description", "made by a test"),
                    ("team", "payments"),
                ],
            )
            .await;
        let status = response.status();
        if status != StatusCode::SEE_OTHER {
            panic!("creating {name} failed with {status}: {}", response.text().await.unwrap());
        }
    }

    /// A browser-like client: keeps cookies, does not follow redirects (tests look at each hop).
    pub fn browser(&self) -> Client {
        Client::builder().cookie_store(true).redirect(Policy::none()).build().unwrap()
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    /// Starts a sign-in and follows it to GitHub's authorize URL; returns that URL.
    pub async fn start_sign_in(&self, browser: &Client) -> String {
        let response = browser.get(self.at("/login")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "GET /login redirects to GitHub");
        location(&response)
    }

    /// Approves the sign-in at github-sim as `login` and returns the callback URL GitHub redirects to.
    pub async fn approve_as(&self, browser: &Client, authorize_url: &str, login: &str) -> String {
        let response = browser.get(format!("{authorize_url}&login={login}")).send().await.unwrap();
        assert!(response.status().is_redirection(), "github-sim approves at once with `login`");
        location(&response)
    }

    /// The whole sign-in as `login`; returns the callback's response.
    pub async fn sign_in(&self, browser: &Client, login: &str) -> reqwest::Response {
        let authorize = self.start_sign_in(browser).await;
        let callback = self.approve_as(browser, &authorize, login).await;
        browser.get(callback).send().await.unwrap()
    }

    /// A client signed in as `login` (who must be allowed in).
    pub async fn signed_in(&self, login: &str) -> Member {
        let browser = self.browser();
        let response = self.sign_in(&browser, login).await;
        if response.status() != StatusCode::SEE_OTHER {
            panic!(
                "sign-in as {login} failed with {}: {}",
                response.status(),
                response.text().await.unwrap()
            );
        }
        assert_eq!(location(&response), "/services");
        Member { client: browser, login: login.to_owned() }
    }

    /// The CSRF token embedded in a page the signed-in browser gets.
    pub async fn csrf_token(&self, browser: &Client) -> String {
        let html = browser.get(self.at("/services")).send().await.unwrap().text().await.unwrap();
        csrf_in(&html).expect("a signed-in page carries a CSRF token")
    }

    pub async fn audit_actions(&self) -> Vec<(String, String, Option<String>)> {
        sqlx::query_as("select action, outcome, actor_login from audit_event order by audit_event_id")
            .fetch_all(&self.db)
            .await
            .unwrap()
    }
}

/// A service name no other test (or earlier run against the same moto) uses.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

pub fn location(response: &reqwest::Response) -> String {
    response.headers().get("location").expect("a Location header").to_str().unwrap().to_owned()
}

pub fn csrf_in(html: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker)? + marker.len();
    Some(html[start..].split('"').next()?.to_owned())
}
