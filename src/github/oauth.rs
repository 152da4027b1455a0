//! The GitHub OAuth web flow (authorization code with `state` and PKCE S256), used for sign-in only.
//!
//! GitHub answers a failed code exchange with HTTP 200 and an `error` field
//! (<https://docs.github.com/en/apps/oauth-apps/maintaining-oauth-apps/troubleshooting-oauth-app-access-token-request-errors>).
//! The `oauth2` crate expects an error status, so [`exchange_http`] turns such answers into 400s
//! before the crate parses them: a 200-with-`error` is a failed sign-in, never a token.

use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    HttpRequest, HttpResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    TokenResponse, TokenUrl, basic::BasicClient,
};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::config::Config;

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// The scope sign-in asks for: enough to read the user's organization membership.
pub const SIGN_IN_SCOPE: &str = "read:org";

/// Starts and finishes sign-ins against the configured GitHub.
#[derive(Clone)]
pub struct OAuth {
    client: Client,
    http: reqwest::Client,
}

/// A started sign-in: send the browser to `url`; keep `state` and `verifier` for the callback.
pub struct Authorization {
    pub url: Url,
    pub state: String,
    pub verifier: String,
}

/// Why a code could not be exchanged for a token.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// GitHub refused the exchange (`bad_verification_code`, `redirect_uri_mismatch`, ...).
    #[error("GitHub refused the sign-in: {code}{}", .description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Refused { code: String, description: Option<String> },
    /// GitHub could not be reached or answered something unreadable.
    #[error("GitHub could not complete the sign-in: {0}")]
    Unavailable(String),
}

impl OAuth {
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let web = &config.github_web_url;
        let client = BasicClient::new(ClientId::new(config.oauth_client_id.clone()))
            .set_client_secret(ClientSecret::new(config.oauth_client_secret.expose_secret().to_owned()))
            .set_auth_uri(AuthUrl::from_url(web.join("/login/oauth/authorize")?))
            .set_token_uri(TokenUrl::from_url(web.join("/login/oauth/access_token")?))
            .set_redirect_uri(RedirectUrl::from_url(config.oauth_redirect_url()))
            // GitHub documents client_id and client_secret as body parameters of the token request.
            .set_auth_type(AuthType::RequestBody);
        // No redirects on the token endpoint: an open redirect there would leak the code (RFC 6749 §10.6).
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .user_agent("shipyard")
            .build()?;
        Ok(Self { client, http })
    }

    /// A fresh authorization URL with a random `state` and a PKCE S256 challenge.
    pub fn authorize(&self) -> Authorization {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = self
            .client
            .authorize_url(CsrfToken::new_random)
            .add_scope(Scope::new(SIGN_IN_SCOPE.into()))
            .set_pkce_challenge(challenge)
            .url();
        Authorization { url, state: state.secret().clone(), verifier: verifier.secret().clone() }
    }

    /// Exchanges the callback's code (with the PKCE verifier) for the user's access token.
    pub async fn exchange(&self, code: &str, verifier: &str) -> Result<SecretString, ExchangeError> {
        let token = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
            .request_async(&TokenHttp(&self.http))
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(err) => ExchangeError::Refused {
                    code: err.error().to_string(),
                    description: err.error_description().cloned(),
                },
                RequestTokenError::Request(e) => ExchangeError::Unavailable(e.to_string()),
                RequestTokenError::Parse(e, _) => {
                    ExchangeError::Unavailable(format!("unreadable answer: {e}"))
                }
                RequestTokenError::Other(e) => ExchangeError::Unavailable(e),
            })?;
        Ok(SecretString::from(token.access_token().secret().to_owned()))
    }
}

/// The HTTP client for the token endpoint. A named type (rather than a closure) so the exchange
/// future is `Send` for every lifetime, as axum's handler bounds require.
struct TokenHttp<'h>(&'h reqwest::Client);

impl<'c> oauth2::AsyncHttpClient<'c> for TokenHttp<'_> {
    type Error = reqwest::Error;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<HttpResponse, reqwest::Error>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(exchange_http(self.0, request))
    }
}

/// Sends the token request; a 200 answer carrying `error` is handed on as a 400 so it parses as an error.
async fn exchange_http(http: &reqwest::Client, request: HttpRequest) -> Result<HttpResponse, reqwest::Error> {
    let response = http.execute(reqwest::Request::try_from(request)?).await?;
    let mut status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await?.to_vec();
    if status == reqwest::StatusCode::OK
        && serde_json::from_slice::<serde_json::Value>(&body).is_ok_and(|v| v.get("error").is_some())
    {
        status = reqwest::StatusCode::BAD_REQUEST;
    }
    let mut answer = HttpResponse::new(body);
    *answer.status_mut() = status;
    *answer.headers_mut() = headers;
    Ok(answer)
}
