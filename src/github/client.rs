//! The GitHub REST client Shipyard provisions with: intent-level calls, each retried on transient
//! errors and answering a [`ProviderError`] the reconciler can branch on.
//!
//! Requests go out through octocrab's raw `build_request`/`execute`, not its typed handlers: octocrab's
//! `Error::GitHub` drops the response headers, and we need `retry-after` and `x-ratelimit-*` to honour
//! GitHub's rate limits, and the exact status to tell 201 from 204 and 409 from 404.
//! Repository calls live in `repos.rs`, Actions calls in `actions.rs`.

use std::{fmt, sync::Arc, time::Duration};

use futures::future::BoxFuture;

use http::Method;
use http_body_util::BodyExt;
use octocrab::Octocrab;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::{ExposeSecret, SecretString};

use super::{
    app_auth::AppAuth,
    budget::{Budget, Spender},
    classify::{Reply, error, transport_error},
    models::{GitHubUser, Membership},
    scopes::TokenScope,
    transport::build_octocrab,
};
use crate::{
    config::GitHubCredential,
    provider::{ErrorKind, ProviderError, RetryPolicy, retry_transient},
};

pub use super::models::{DispatchOutcome, Repo, Workflow, WorkflowRun};

/// The call that mints installation tokens (see `app_auth.rs`).
pub(super) const MINT: &str = "github:installation_token";

/// Characters kept as-is in a path segment (RFC 3986 unreserved); everything else is percent-encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A GitHub API client acting as one credential: the server's own (a classic token or a GitHub App
/// installation), or a user's token via [`GitHub::as_token`].
#[derive(Clone)]
pub struct GitHub {
    octo: Octocrab,
    pub(super) retry: RetryPolicy,
    /// Set when acting as a GitHub App installation; `octo` then carries no credential of its own.
    app: Option<Arc<AppAuth>>,
    /// This credential's pacing and remembered ETags, shared by every clone (all reconciler workers).
    spender: Arc<Spender>,
}

impl fmt::Debug for GitHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHub").field("retry", &self.retry).finish_non_exhaustive()
    }
}

impl GitHub {
    /// A client for `api_url` (`https://api.github.com`, or github-sim) acting as `token`.
    ///
    /// Must be called inside a tokio runtime.
    pub fn new(api_url: &str, token: SecretString, retry: RetryPolicy) -> anyhow::Result<Self> {
        let octo = build_octocrab(api_url, Some(&token))?;
        Ok(Self { octo, retry, app: None, spender: Spender::new(Budget::GITHUB) })
    }

    /// A client acting as the GitHub App `app_id`'s installation on `org`: installation tokens are minted
    /// on first use and replaced before they expire.
    pub fn as_app(
        api_url: &str,
        app_id: u64,
        private_key: &SecretString,
        org: &str,
        retry: RetryPolicy,
    ) -> anyhow::Result<Self> {
        let app = AppAuth::new(app_id, private_key, org)?;
        let octo = build_octocrab(api_url, None)?;
        Ok(Self { octo, retry, app: Some(Arc::new(app)), spender: Spender::new(Budget::GITHUB) })
    }

    /// The server's client for the configured credential.
    pub fn for_credential(
        api_url: &str,
        credential: &GitHubCredential,
        org: &str,
        retry: RetryPolicy,
    ) -> anyhow::Result<Self> {
        match credential {
            GitHubCredential::Token(token) => Self::new(api_url, token.clone(), retry),
            GitHubCredential::App { app_id, private_key } => {
                Self::as_app(api_url, *app_id, private_key, org, retry)
            }
        }
    }

    /// A client acting as another token (a user's OAuth token or PAT), sharing the HTTP client.
    /// For identity and membership checks only: provisioning always uses the server's credential.
    pub fn as_token(&self, token: &SecretString) -> anyhow::Result<GitHub> {
        // Another credential, with limits of its own; used for a call or two, so nothing to remember.
        let spender = Spender::new(Budget { etag_entries: 0, ..Budget::GITHUB });
        Ok(Self { octo: self.octo.user_access_token(token.clone())?, retry: self.retry, app: None, spender })
    }

    /// The same credential paced to `budget` (GitHub Enterprise Server's limits, or github-sim's scaled
    /// ones in tests). Starts afresh: call it once, before the client is shared.
    pub fn with_budget(self, budget: Budget) -> GitHub {
        Self { spender: Spender::new(budget), ..self }
    }

    /// The same credential (and cached App token) with another retry policy.
    pub fn with_retry(&self, retry: RetryPolicy) -> GitHub {
        Self { retry, ..self.clone() }
    }

    /// The user the token belongs to (`GET /user`).
    #[tracing::instrument(skip_all)]
    pub async fn current_user(&self) -> Result<GitHubUser, ProviderError> {
        self.call("github:current_user", Method::GET, "/user", None, &[]).await?.json("user")
    }

    /// The token owner's membership of `org`; `None` when not affiliated (GitHub answers 404).
    #[tracing::instrument(skip_all, fields(org = %org))]
    pub async fn org_membership(&self, org: &str) -> Result<Option<Membership>, ProviderError> {
        let path = format!("/user/memberships/orgs/{}", seg(org));
        let reply = self.call("github:org_membership", Method::GET, &path, None, &[404]).await?;
        if reply.status == 404 {
            return Ok(None);
        }
        Ok(Some(reply.json("membership")?))
    }

    /// `username`'s membership of `org` as the server's credential sees it
    /// (`GET /orgs/{org}/memberships/{username}`); `None` when GitHub says they are not a member (404).
    /// A classic token needs `read:org` and a member behind it; an App installation `members: read`.
    #[tracing::instrument(skip_all, fields(org = %org, username = %username))]
    pub async fn member_of(&self, org: &str, username: &str) -> Result<Option<Membership>, ProviderError> {
        let path = format!("/orgs/{}/memberships/{}", seg(org), seg(username));
        let reply = self.call("github:member_of", Method::GET, &path, None, &[404]).await?;
        if reply.status == 404 {
            return Ok(None);
        }
        Ok(Some(reply.json("membership")?))
    }

    /// Sends one request, retrying transient failures. Replies with a 2xx status or one listed in
    /// `expected` come back as they are; any other status becomes a classified error.
    ///
    /// Returns a boxed `Send` future: octocrab's and backon's futures are built from closures returning
    /// async blocks, and without the box rustc cannot prove `Send` for callers that hold borrows across
    /// the await (axum handlers fail with "implementation of `Send` is not general enough").
    pub(super) fn call<'a>(
        &'a self,
        what: &'a str,
        method: Method,
        path: &'a str,
        body: Option<&'a serde_json::Value>,
        expected: &'a [u16],
    ) -> BoxFuture<'a, Result<Reply, ProviderError>> {
        self.call_as(what, method, path, body, expected, None)
    }

    /// [`GitHub::call`] with an explicit bearer (the App's JWT) instead of the client's credential.
    pub(super) fn call_as<'a>(
        &'a self,
        what: &'a str,
        method: Method,
        path: &'a str,
        body: Option<&'a serde_json::Value>,
        expected: &'a [u16],
        bearer: Option<&'a SecretString>,
    ) -> BoxFuture<'a, Result<Reply, ProviderError>> {
        Box::pin(retry_transient(&self.retry, what, move || {
            let method = method.clone();
            async move {
                let reply = self.send(what, method, path, body, bearer).await?;
                if reply.status.is_success() || expected.contains(&reply.status.as_u16()) {
                    Ok(reply)
                } else {
                    Err(reply.into_error(self.retry.max_delay))
                }
            }
        }))
    }

    /// One attempt, no retry, no classification of the status.
    async fn send(
        &self,
        what: &str,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        bearer: Option<&SecretString>,
    ) -> Result<Reply, ProviderError> {
        let mut request = http::Request::builder().method(method.clone()).uri(path);
        // Paced before the token is chosen, so a token is never used after waiting its life away in
        // the queue. Minting a token is authentication, not content: it is not paced as a write.
        let pace_as = if what == MINT { Method::GET } else { method.clone() };
        let slot = self.spender.admit(&pace_as).await;
        let installation_token = match (&self.app, bearer) {
            (Some(app), None) => {
                let scope = TokenScope::of(what, app.org(), path)?;
                let Some(token) = app.token(self, &scope).await? else {
                    // What GitHub answers a token of the whole installation for a repository it
                    // cannot see.
                    let body = bytes::Bytes::from_static(br#"{"message":"Not Found","status":"404"}"#);
                    let reply =
                        Reply { status: http::StatusCode::NOT_FOUND, headers: Default::default(), body };
                    return Ok(reply);
                };
                Some((token, scope))
            }
            _ => None,
        };
        if let Some(token) = bearer.or(installation_token.as_ref().map(|(token, _)| token)) {
            let mut value = http::HeaderValue::try_from(format!("Bearer {}", token.expose_secret()))
                .map_err(|_| error(ErrorKind::Other, "a GitHub credential is not a valid header value"))?;
            value.set_sensitive(true);
            request = request.header(http::header::AUTHORIZATION, value);
        }
        let conditional = method == Method::GET;
        let cached = if conditional { self.spender.cached(path).await } else { None };
        if let Some((tag, _)) = &cached {
            request = request.header(http::header::IF_NONE_MATCH, tag.clone());
        }
        let request = self
            .octo
            .build_request(request, body)
            .map_err(|e| error(ErrorKind::Other, format!("could not build a GitHub request: {e}")))?;
        let response = self.octo.execute(request).await.map_err(|e| transport_error(&e))?;
        let (mut parts, body) = response.into_parts();
        let mut body = body.collect().await.map_err(|e| transport_error(&e))?.to_bytes();
        drop(slot);
        if conditional {
            match (parts.status, cached) {
                // Unchanged, and free on GitHub's primary limit: the remembered reply stands in.
                (http::StatusCode::NOT_MODIFIED, Some((_, cached))) => {
                    parts.status = http::StatusCode::OK;
                    body = cached;
                }
                (http::StatusCode::OK, _) => match parts.headers.get(http::header::ETAG) {
                    Some(tag) => self.spender.remember(path, tag, &body).await,
                    None => self.spender.forget(path).await,
                },
                _ => {}
            }
        }
        if parts.status == http::StatusCode::UNAUTHORIZED
            && let Some((_, scope)) = &installation_token
            && let Some(app) = &self.app
        {
            // Revoked or expired early (a clock ahead of GitHub's): the next attempt mints a new one.
            app.forget_token(scope).await;
        }
        Ok(Reply { status: parts.status, headers: parts.headers, body })
    }
}

/// Percent-encodes one path segment (owner, repository, branch, secret or workflow file name).
pub(super) fn seg(value: &str) -> String {
    utf8_percent_encode(value, SEGMENT).to_string()
}

/// `/repos/{owner}/{name}`.
pub(super) fn repo_path(owner: &str, name: &str) -> String {
    format!("/repos/{}/{}", seg(owner), seg(name))
}

/// How long to wait between polls of something GitHub is still doing.
pub(super) fn next_poll_delay(current: Duration, retry: &RetryPolicy) -> Duration {
    (current * 2).min(retry.max_delay.min(Duration::from_secs(2)))
}
