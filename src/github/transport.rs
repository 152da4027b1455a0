//! The HTTP stack under octocrab: octocrab's request building, auth and base URI, sent by reqwest.
//!
//! Why not `Octocrab::builder().build()`: its stack always sends `User-Agent: octocrab`, and a second
//! `User-Agent` added with `add_header` is appended, not substituted, so GitHub would see two. Its retry
//! layer would also repeat POSTs behind our back (we retry in [`crate::provider::retry_transient`]).
//! reqwest gives us one `User-Agent`, connect/read timeouts, and redirects (GitHub answers 301/307 for
//! renamed repositories) that drop the `Authorization` header when they leave the API host.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use anyhow::Context as _;
use http::{HeaderMap, HeaderValue, header};
use http_body_util::BodyExt;
use octocrab::{AuthState, OctoBody, Octocrab, OctocrabBuilder, service::middleware::base_uri::BaseUriLayer};
use secrecy::SecretString;

/// Sent on every request; GitHub rejects requests without a `User-Agent`.
pub const USER_AGENT: &str = "shipyard";
/// Pinned so a GitHub API version change never reaches us unannounced (2026-03-10 changes dispatch replies).
pub const API_VERSION: &str = "2022-11-28";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest silence while waiting for a response; GitHub's slowest calls we make (generate) take a few seconds.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
const TOTAL_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_REDIRECTS: usize = 5;

/// Builds an octocrab client for `api_url` acting as `token`, with no retries of its own. Without a
/// token octocrab adds no `Authorization`: the caller sets it per request (GitHub App installation tokens).
///
/// Must be called inside a tokio runtime (octocrab spawns its request buffer there).
pub fn build_octocrab(api_url: &str, token: Option<&SecretString>) -> anyhow::Result<Octocrab> {
    let base: http::Uri =
        api_url.parse().with_context(|| format!("GITHUB_API_URL {api_url:?} is not a URL"))?;
    anyhow::ensure!(
        base.scheme().is_some() && base.host().is_some(),
        "GITHUB_API_URL {api_url:?} is not absolute"
    );
    let mut headers = HeaderMap::new();
    headers.insert(header::ACCEPT, HeaderValue::from_static("application/vnd.github+json"));
    headers.insert("x-github-api-version", HeaderValue::from_static(API_VERSION));
    let http = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .default_headers(headers)
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .timeout(TOTAL_TIMEOUT)
        .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
        .build()
        .context("building the GitHub HTTP client")?;
    let octo = OctocrabBuilder::new_empty()
        .with_service(ReqwestService(http))
        .with_layer(&BaseUriLayer::new(base))
        .with_auth(match token {
            Some(token) => AuthState::AccessToken { token: token.clone() },
            None => AuthState::None,
        })
        .build()
        .context("building the octocrab client")?;
    Ok(octo)
}

/// Adapts `reqwest::Client` to the `tower::Service` octocrab sends its requests through.
#[derive(Clone)]
struct ReqwestService(reqwest::Client);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower::Service<http::Request<OctoBody>> for ReqwestService {
    type Response = http::Response<reqwest::Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<OctoBody>) -> Self::Future {
        let client = self.0.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            // Our request bodies are small JSON documents built in memory.
            let body = body.collect().await?.to_bytes();
            let request = reqwest::Request::try_from(http::Request::from_parts(parts, body))?;
            let response = client.execute(request).await?;
            Ok(http::Response::from(response))
        })
    }
}
