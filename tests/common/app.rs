//! `TestApp`: the real router on a random port with its own database and an in-process github-sim.

use std::collections::HashMap;

use github_sim::{RunningSim, SimConfig};
use reqwest::{Client, StatusCode, redirect::Policy};
use shipyard::{AppState, Config, build_app};
use sqlx::PgPool;
use tokio::net::TcpListener;

pub struct TestApp {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub url: String,
    pub db: PgPool,
    pub github: RunningSim,
    pub config: Config,
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
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

impl TestApp {
    pub async fn spawn(db: PgPool) -> Self {
        Self::spawn_with(db, SimConfig::default(), |_| {}).await
    }

    /// Starts github-sim with `sim_config`, then Shipyard with the sandbox configuration as `tweak` leaves it.
    pub async fn spawn_with(db: PgPool, sim_config: SimConfig, tweak: impl FnOnce(&mut Config)) -> Self {
        let github = github_sim::spawn(sim_config).await.expect("github-sim starts");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let mut config = Config::from_vars(&test_vars(&url, &github.url())).expect("test configuration is valid");
        config.retry = shipyard::provider::RetryPolicy::fast();
        tweak(&mut config);
        let state = AppState::new(db.clone(), config.clone()).expect("app state builds");
        tokio::spawn(async move { axum::serve(listener, build_app(state)).await.expect("server runs") });
        Self { url, db, github, config }
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
    pub async fn signed_in(&self, login: &str) -> Client {
        let browser = self.browser();
        let response = self.sign_in(&browser, login).await;
        if response.status() != StatusCode::SEE_OTHER {
            panic!("sign-in as {login} failed with {}: {}", response.status(), response.text().await.unwrap());
        }
        assert_eq!(location(&response), "/services");
        browser
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

pub fn location(response: &reqwest::Response) -> String {
    response.headers().get("location").expect("a Location header").to_str().unwrap().to_owned()
}

pub fn csrf_in(html: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker)? + marker.len();
    Some(html[start..].split('"').next()?.to_owned())
}
