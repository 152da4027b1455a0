//! A real headless Chromium, driven over WebDriver (fantoccini → chromedriver), one per test.
//!
//! Each `Browser` starts its own chromedriver on a free port in a process group of its own, with a
//! fresh Chromium profile. `close()` ends the session so Chromium quits cleanly; dropping the
//! `Browser` (also on a panic) kills the whole group, so no Chromium outlives its test.

use std::{
    future::Future,
    ops::Deref,
    os::unix::process::CommandExt,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tokio::time::{Instant, sleep};

use super::app::TestApp;

/// How long any wait for the page may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(30);
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(100);

pub struct Browser {
    client: Client,
    /// Declared after `client` so the session is dropped before the driver is killed.
    _driver: ChromeDriver,
}

impl Deref for Browser {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium (paths from `CHROMEDRIVER` / `CHROMIUM`).
    pub async fn launch() -> Self {
        let driver = ChromeDriver::start().await;
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let profile = format!("--user-data-dir={}", driver.profile.display());
        // The machine is offline and runs as root: no sandbox, and none of Chromium's own traffic.
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,900",
            profile.as_str(),
        ];
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": args },
        });
        let Value::Object(capabilities) = capabilities else { unreachable!("a JSON object") };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .unwrap_or_else(|e| panic!("Chromium starts under chromedriver ({}): {e}", driver.url));
        Self { client, _driver: driver }
    }

    /// Ends the WebDriver session (Chromium quits); the driver goes when `self` drops.
    pub async fn close(self) {
        let Self { client, _driver } = self;
        if let Err(e) = client.close().await {
            eprintln!("closing the browser session failed (the driver is killed anyway): {e}");
        }
    }

    /// Waits for an element with `data-testid="{id}"`.
    pub async fn testid(&self, id: &str) -> Element {
        self.element(&format!("[data-testid=\"{id}\"]")).await
    }

    /// Waits for an element matching the CSS selector.
    pub async fn element(&self, css: &str) -> Element {
        match self.client.wait().at_most(PATIENCE).every(POLL).for_element(Locator::Css(css)).await {
            Ok(element) => element,
            Err(e) => panic!("no element {css} on {} within {PATIENCE:?}: {e}", self.where_am_i().await),
        }
    }

    /// Waits for a link with exactly this text.
    pub async fn link(&self, text: &str) -> Element {
        match self.client.wait().at_most(PATIENCE).every(POLL).for_element(Locator::LinkText(text)).await {
            Ok(element) => element,
            Err(e) => panic!("no link \"{text}\" on {} within {PATIENCE:?}: {e}", self.where_am_i().await),
        }
    }

    /// Waits until the browser shows `url` (compared without query or fragment).
    pub async fn wait_for_url(&self, url: &str) {
        eventually(&format!("the browser arrives at {url}"), || async {
            let mut current = self.client.current_url().await.ok()?;
            current.set_query(None);
            current.set_fragment(None);
            (current.as_str().trim_end_matches('/') == url.trim_end_matches('/')).then_some(())
        })
        .await
    }

    /// The page's text content of the first element matching `css`, if there is one.
    pub async fn text_of(&self, css: &str) -> Option<String> {
        let element = self.client.find(Locator::Css(css)).await.ok()?;
        element.text().await.ok().map(|t| t.trim().to_owned())
    }

    /// Saves a PNG of the whole page (the window grows to fit it for the shot, then shrinks back).
    pub async fn save_screenshot(&self, path: &str) {
        let height = self
            .client
            .execute(
                "return Math.max(document.documentElement.scrollHeight, window.innerHeight) \
                 + (window.outerHeight - window.innerHeight);",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_u64())
            .unwrap_or(900);
        let (width, old_height) = self.client.get_window_size().await.unwrap_or((1280, 900));
        let _ = self.client.set_window_size(width as u32, height.min(4000) as u32).await;
        let png = self.client.screenshot().await.expect("a screenshot");
        let _ = self.client.set_window_size(width as u32, old_height as u32).await;
        std::fs::write(path, png).unwrap_or_else(|e| panic!("writing {path}: {e}"));
    }

    /// For failure messages: the URL and the start of the page's text.
    pub async fn where_am_i(&self) -> String {
        let url = self.client.current_url().await.map(|u| u.to_string()).unwrap_or_else(|e| format!("<{e}>"));
        let text = self.text_of("body").await.unwrap_or_default();
        let text: String = text.chars().take(600).collect();
        format!("{url} (page text: {text:?})")
    }

    /// Signs in through the pages as a person would: the landing page's button, github-sim's
    /// account picker, back to the inventory.
    pub async fn sign_in(&self, app: &TestApp, login: &str) {
        self.client.goto(&app.at("/")).await.expect("the landing page loads");
        self.testid("sign-in").await.click().await.expect("the sign-in button clicks");
        self.link(&format!("Authorize as {login}")).await.click().await.expect("the account clicks");
        self.wait_for_url(&app.at("/services")).await;
    }

    /// Fills the "New service" form the browser shows (dev, private, the service template, `main`)
    /// and submits it; waits for the new service's page.
    pub async fn submit_new_service(&self, app: &TestApp, name: &str, description: &str) {
        self.element("#name").await.send_keys(name).await.unwrap();
        self.element("#environment").await.select_by_value("dev").await.unwrap();
        self.element("input[name=visibility][value=private]").await.click().await.unwrap();
        self.element("#template").await.select_by_value("acme/service-template").await.unwrap();
        let branch = self.element("#default_branch").await;
        branch.clear().await.unwrap();
        branch.send_keys("main").await.unwrap();
        self.element("#description").await.send_keys(description).await.unwrap();
        self.element("form.form button[type=submit]").await.click().await.unwrap();
        self.wait_for_url(&app.at(&format!("/services/{name}"))).await;
    }
}

/// Polls `probe` every 100 ms until it gives `Some`; panics after `PATIENCE` naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {PATIENCE:?} waiting until {what}");
        sleep(POLL).await;
    }
}

/// A chromedriver child in its own process group, with the Chromium profile directory it serves.
struct ChromeDriver {
    child: Child,
    url: String,
    profile: PathBuf,
}

impl ChromeDriver {
    /// Starts chromedriver on a free port and waits until `/status` says it is ready. A port taken
    /// between choosing and binding it makes the driver fail to answer; then it tries another.
    async fn start() -> Self {
        let binary = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        for _attempt in 0..3 {
            let port = free_port();
            let profile =
                std::env::temp_dir().join(format!("shipyard-chromium-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&profile).expect("a profile directory");
            let child = Command::new(&binary)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("{binary} starts (install chromium-driver, or set CHROMEDRIVER): {e}")
                });
            let driver = ChromeDriver { child, url: format!("http://127.0.0.1:{port}"), profile };
            if driver.answers().await {
                return driver;
            }
        }
        panic!("{binary} did not answer /status within 10 s, three times");
    }

    async fn answers(&self) -> bool {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let status =
                http.get(format!("{}/status", self.url)).timeout(Duration::from_secs(1)).send().await;
            if let Ok(response) = status
                && let Ok(body) = response.json::<Value>().await
                && body["value"]["ready"] == json!(true)
            {
                return true;
            }
            sleep(POLL).await;
        }
        false
    }
}

impl Drop for ChromeDriver {
    /// Kills chromedriver and anything it started (Chromium and its helpers share its process group).
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("a bound address").port()
}
