//! The OAuth web application flow: `GET /login/oauth/authorize` and `POST /login/oauth/access_token`.
//!
//! Quirks kept from GitHub: a bad `redirect_uri` sends the browser to the *registered* callback with
//! `error=redirect_uri_mismatch` (docs: "Troubleshooting authorization request errors"); token errors come
//! back with HTTP 200 and an `error` field; `scope` in the token response is comma-separated; the token
//! response is form-encoded unless the client asks for JSON. Codes are single-use and expire (10 minutes).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::json;
use sha2::{Digest, Sha256};
use url::Url;

use crate::Sim;
use crate::model::{Grant, PendingCode, now, random_token};
use crate::pages::{escape, page};
use crate::redirect::redirect_uri_allowed;

const KNOWN_SCOPES: &[&str] = &[
    "repo",
    "repo:status",
    "repo_deployment",
    "public_repo",
    "repo:invite",
    "security_events",
    "admin:repo_hook",
    "write:repo_hook",
    "read:repo_hook",
    "admin:org",
    "write:org",
    "read:org",
    "admin:public_key",
    "write:public_key",
    "read:public_key",
    "admin:org_hook",
    "gist",
    "notifications",
    "user",
    "read:user",
    "user:email",
    "user:follow",
    "project",
    "read:project",
    "delete_repo",
    "write:packages",
    "read:packages",
    "delete:packages",
    "admin:gpg_key",
    "write:gpg_key",
    "read:gpg_key",
    "codespace",
    "workflow",
];
const AUTH_ERRORS_DOC: &str =
    "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors";
const TOKEN_ERRORS_DOC: &str =
    "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors";

pub(crate) fn router() -> Router<Sim> {
    Router::new()
        .route("/login/oauth/authorize", get(authorize))
        .route("/login/oauth/access_token", post(exchange_code))
}

/// Requested scopes (space- or comma-separated), unknown ones dropped, sorted like GitHub reports them.
fn parse_scopes(raw: Option<&String>) -> Vec<String> {
    let mut scopes: Vec<String> = raw
        .map(|s| s.split([' ', ',']).filter(|s| KNOWN_SCOPES.contains(s)).map(str::to_string).collect())
        .unwrap_or_default();
    scopes.sort();
    scopes.dedup();
    scopes
}

fn with_params(base: &str, params: &[(&str, &str)]) -> String {
    match Url::parse(base) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(params);
            url.to_string()
        }
        Err(_) => base.to_string(),
    }
}

/// A 302 Found, which is what github.com answers (axum's `Redirect::to` would be 303).
fn found(location: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location.to_string())]).into_response()
}

fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    (status, page(title, &format!("<h1>{}</h1><p>{}</p>", escape(title), escape(message)))).into_response()
}

#[tracing::instrument(skip_all)]
async fn authorize(State(sim): State<Sim>, Query(q): Query<HashMap<String, String>>) -> Response {
    let client_id = q.get("client_id").map(String::as_str).unwrap_or_default();
    let Some(app) = sim.settings().oauth_apps.iter().find(|a| a.client_id == client_id) else {
        return error_page(
            StatusCode::NOT_FOUND,
            "404 – Application not found",
            "No OAuth app has this client_id.",
        );
    };
    let Some(registered) = app.callback_urls.first() else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Misconfigured application",
            "The app has no callback URL.",
        );
    };
    let state = q.get("state").cloned().unwrap_or_default();
    let redirect_uri = match q.get("redirect_uri") {
        None => registered.clone(),
        Some(uri) if app.callback_urls.iter().any(|cb| redirect_uri_allowed(cb, uri)) => uri.clone(),
        Some(_) => {
            let description = "The redirect_uri MUST match the registered callback URL for this application.";
            let uri = format!("{AUTH_ERRORS_DOC}/#redirect-uri-mismatch");
            let params = [
                ("error", "redirect_uri_mismatch"),
                ("error_description", description),
                ("error_uri", &uri),
                ("state", &state),
            ];
            return found(&with_params(registered, &params));
        }
    };
    let challenge = q.get("code_challenge").cloned();
    if challenge.is_some() && q.get("code_challenge_method").map(String::as_str) != Some("S256") {
        return error_page(StatusCode::BAD_REQUEST, "Invalid request", "code_challenge_method must be S256.");
    }
    let scopes = parse_scopes(q.get("scope"));
    let chosen = q.get("login").and_then(|login| sim.world().user_by_login(login).map(|u| u.id));
    match chosen {
        Some(user_id) => {
            let code = random_token("");
            let pending = PendingCode {
                client_id: client_id.to_string(),
                redirect_uri: redirect_uri.clone(),
                grant: Grant { user_id, scopes },
                code_challenge: challenge,
                issued_at: now(),
            };
            sim.world().codes.insert(code.clone(), pending);
            tracing::info!(user_id, "authorization approved");
            found(&with_params(&redirect_uri, &[("code", &code), ("state", &state)]))
        }
        None => consent_page(&sim, &q, &redirect_uri, &state, &scopes),
    }
}

/// The account picker: one link per seeded user (approving as them) and a Cancel that denies access.
fn consent_page(
    sim: &Sim,
    q: &HashMap<String, String>,
    redirect_uri: &str,
    state: &str,
    scopes: &[String],
) -> Response {
    let here = format!("{}/login/oauth/authorize", sim.base_url());
    let logins: Vec<String> = sim.world().users.iter().map(|u| u.login.clone()).collect();
    let links: String = logins
        .iter()
        .map(|login| {
            let mut params: Vec<(&str, &str)> = q
                .iter()
                .filter(|(k, _)| k.as_str() != "login")
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            params.push(("login", login));
            let href = with_params(&here, &params);
            format!(
                "<li><a class=\"approve\" href=\"{}\">Authorize as {}</a></li>",
                escape(&href),
                escape(login)
            )
        })
        .collect();
    let denied = "The user has denied your application access.";
    let uri = format!("{AUTH_ERRORS_DOC}/#access-denied");
    let cancel = with_params(
        redirect_uri,
        &[("error", "access_denied"), ("error_description", denied), ("error_uri", &uri), ("state", state)],
    );
    let body = format!(
        "<h1>Authorize application</h1><p>Requested scopes: {}</p><ul>{links}</ul><p><a class=\"cancel\" href=\"{}\">Cancel</a></p>",
        escape(&scopes.join(", ")),
        escape(&cancel)
    );
    page("Authorize application", &body).into_response()
}

/// Token request parameters from the query string and a form or JSON body.
fn read_params(query: HashMap<String, String>, headers: &HeaderMap, body: &[u8]) -> HashMap<String, String> {
    let mut params = query;
    let is_json =
        headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("json"));
    if is_json {
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) {
            params.extend(map.into_iter().filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string()))));
        }
    } else {
        params.extend(url::form_urlencoded::parse(body).into_owned());
    }
    if let Some((id, secret)) = basic_credentials(headers) {
        params.entry("client_id".into()).or_insert(id);
        params.entry("client_secret".into()).or_insert(secret);
    }
    params
}

/// Client credentials sent as HTTP Basic auth (RFC 6749 §2.3.1: each part form-urlencoded first).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded =
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("v={s}").as_bytes()).next().map(|(_, v)| v.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}

#[tracing::instrument(skip_all)]
async fn exchange_code(
    State(sim): State<Sim>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let params = read_params(query, &headers, &body);
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    let outcome = issue_token(&sim, &params);
    let pairs: Vec<(&str, String)> = match &outcome {
        Ok((token, scope)) => {
            vec![("access_token", token.clone()), ("token_type", "bearer".into()), ("scope", scope.clone())]
        }
        Err((error, description)) => {
            let uri = format!("{TOKEN_ERRORS_DOC}/#{}", error.replace('_', "-"));
            vec![
                ("error", error.to_string()),
                ("error_description", description.to_string()),
                ("error_uri", uri),
            ]
        }
    };
    if wants_json {
        let map: serde_json::Map<String, serde_json::Value> =
            pairs.into_iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
        return Json(map).into_response();
    }
    let encoded = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    ([(header::CONTENT_TYPE, "application/x-www-form-urlencoded; charset=utf-8")], encoded).into_response()
}

type TokenError = (&'static str, &'static str);

/// Checks client credentials, the code, its redirect_uri and PKCE verifier; consumes the code on success.
fn issue_token(sim: &Sim, params: &HashMap<String, String>) -> Result<(String, String), TokenError> {
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or_default();
    let app_ok = sim
        .settings()
        .oauth_apps
        .iter()
        .any(|a| a.client_id == get("client_id") && a.client_secret == get("client_secret"));
    if !app_ok {
        return Err((
            "incorrect_client_credentials",
            "The client_id and/or client_secret passed are incorrect.",
        ));
    }
    let bad_code = ("bad_verification_code", "The code passed is incorrect or expired.");
    let mut world = sim.world();
    let code = world.codes.get(get("code")).ok_or(bad_code)?;
    let ttl = time::Duration::try_from(sim.settings().code_ttl).unwrap_or(time::Duration::MAX);
    if code.client_id != get("client_id") || now() - code.issued_at >= ttl {
        return Err(bad_code);
    }
    if params.get("redirect_uri").is_some_and(|uri| *uri != code.redirect_uri) {
        return Err((
            "redirect_uri_mismatch",
            "The redirect_uri MUST match the registered callback URL for this application.",
        ));
    }
    if let Some(challenge) = &code.code_challenge {
        let digest = Sha256::digest(get("code_verifier").as_bytes());
        let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
        if computed != *challenge {
            return Err(bad_code);
        }
    }
    let code = world.codes.remove(get("code")).ok_or(bad_code)?;
    let token = random_token("gho_");
    let scope = code.grant.scopes.join(",");
    world.tokens.insert(token.clone(), code.grant);
    tracing::info!("access token issued");
    Ok((token, scope))
}
