//! GitHub Apps: JWT authentication as the App, the installation of an organization, installation access
//! tokens, and which fine-grained permission each route needs from an installation token.
//!
//! GitHub's contract ("Authenticating as a GitHub App", "Generating an installation access token"): the
//! App signs an RS256 JWT with `iss` = its id (or client id), `iat` and `exp` at most ten minutes ahead;
//! `GET /orgs/{org}/installation` and `POST /app/installations/{id}/access_tokens` take that JWT; the 201
//! carries a `ghs_` token that expires after an hour and acts as `{slug}[bot]` with the installation's
//! permissions. A route the permissions do not cover answers 403 "Resource not accessible by integration".

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Sim;
use crate::auth::{Auth, Caller, Integration};
use crate::error::{ApiError, ApiResult, Body};
use crate::faults::path_matches;
use crate::json;
use crate::model::{InstallationGrant, World, level_covers, now, random_token, ts};

/// GitHub refuses JWTs that expire more than ten minutes after they reach it.
const MAX_JWT_LIFETIME: i64 = 600;

pub(crate) fn router() -> Router<Sim> {
    Router::new()
        .route("/app", get(get_app))
        .route("/orgs/{org}/installation", get(get_org_installation))
        .route("/app/installations/{id}/access_tokens", post(create_access_token))
}

/// Whether a bearer value has the shape of a JWT (three base64url parts); GitHub tells them from tokens
/// by their shape too (`ghp_`, `gho_`, `ghs_` tokens have no dots).
pub(crate) fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3 && token.starts_with("eyJ")
}

/// Verifies an App JWT the way GitHub does; the error is the 401 GitHub answers with.
pub(crate) fn verify_jwt(world: &World, token: &str) -> Result<u64, ApiError> {
    let undecodable =
        || ApiError::Basic(StatusCode::UNAUTHORIZED, "A JSON web token could not be decoded".into());
    let header = jsonwebtoken::decode_header(token).map_err(|_| undecodable())?;
    if header.alg != jsonwebtoken::Algorithm::RS256 {
        return Err(undecodable());
    }
    // The issuer says whose key to verify with, so read it before the signature is checked.
    let payload = token.split('.').nth(1).ok_or_else(undecodable)?;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| undecodable())?;
    let claims: Value = serde_json::from_slice(&payload).map_err(|_| undecodable())?;
    let issuer = match &claims["iss"] {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    };
    let app = issuer.and_then(|id| world.app(id)).ok_or_else(undecodable)?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.validate_exp = false; // checked below, with GitHub's messages
    validation.required_spec_claims.clear();
    validation.leeway = 0;
    jsonwebtoken::decode::<Value>(token, &app.public_key, &validation).map_err(|_| undecodable())?;

    let now = now().unix_timestamp();
    let unauthorized = |m: &str| ApiError::Basic(StatusCode::UNAUTHORIZED, m.to_string());
    match claims["iat"].as_i64() {
        Some(iat) if iat <= now + 60 => {}
        _ => {
            return Err(unauthorized(
                "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
            ));
        }
    }
    match claims["exp"].as_i64() {
        Some(exp) if exp > now + MAX_JWT_LIFETIME => {
            Err(unauthorized("'Expiration time' claim ('exp') is too far in the future"))
        }
        Some(exp) if exp > now => Ok(app.id),
        _ => Err(unauthorized(
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
        )),
    }
}

fn undecodable_jwt() -> ApiError {
    ApiError::Basic(StatusCode::UNAUTHORIZED, "A JSON web token could not be decoded".into())
}

fn require_app(auth: &Auth) -> ApiResult<u64> {
    match auth.0.as_ref().and_then(|c| c.integration.as_ref()) {
        Some(Integration::App { app_id }) => Ok(*app_id),
        // GitHub: these endpoints need the App's JWT; a token is not one.
        _ => Err(ApiError::Basic(StatusCode::UNAUTHORIZED, "A JSON web token could not be decoded".into())),
    }
}

#[tracing::instrument(skip_all)]
async fn get_app(State(sim): State<Sim>, Extension(auth): Extension<Auth>) -> ApiResult<Json<Value>> {
    let app_id = require_app(&auth)?;
    let world = sim.world();
    let app = world.app(app_id).ok_or_else(ApiError::not_found)?;
    Ok(Json(json::integration(sim.base_url(), &world, app)))
}

/// `GET /orgs/{org}/installation`: this App's installation on the organization, 404 when there is none.
#[tracing::instrument(skip_all, fields(org = %org))]
async fn get_org_installation(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path(org): Path<String>,
) -> ApiResult<Json<Value>> {
    let app_id = require_app(&auth)?;
    let world = sim.world();
    let org = world.org(&org).ok_or_else(ApiError::not_found)?;
    let installation = world
        .installations
        .iter()
        .find(|i| i.app_id == app_id && i.account_id == org.id)
        .ok_or_else(ApiError::not_found)?;
    let app = world.app(app_id).ok_or_else(ApiError::not_found)?;
    Ok(Json(json::installation(sim.base_url(), app, installation, org)))
}

#[derive(Deserialize, Default)]
struct TokenRequest {
    /// A subset of the installation's permissions to scope the token down to.
    #[serde(default)]
    permissions: Option<BTreeMap<String, String>>,
    /// Repository names (without the owner) to limit the token to.
    #[serde(default)]
    repositories: Option<Vec<String>>,
    /// Repository ids to limit the token to.
    #[serde(default)]
    repository_ids: Option<Vec<u64>>,
}

/// GitHub lists at most this many repositories in one token request.
const MAX_TOKEN_REPOSITORIES: usize = 500;

/// The ids of the repositories a token request names, each one of the installation account's, or
/// GitHub's 422. `None` when it names none (the token covers every repository).
fn requested_repositories(
    world: &World,
    account_id: u64,
    request: &TokenRequest,
) -> ApiResult<Option<std::collections::BTreeSet<u64>>> {
    if request.repositories.is_none() && request.repository_ids.is_none() {
        return Ok(None);
    }
    let inaccessible = || {
        ApiError::invalid(
            "There is at least one repository that does not exist or is not accessible to the parent installation.",
        )
    };
    let names = request.repositories.iter().flatten();
    let ids = request.repository_ids.iter().flatten();
    if names.clone().count() + ids.clone().count() > MAX_TOKEN_REPOSITORIES {
        return Err(ApiError::invalid("Too many repositories were requested; the maximum is 500."));
    }
    let mut found = std::collections::BTreeSet::new();
    for name in names {
        let repo = world.repos.iter().find(|r| r.owner_id == account_id && r.name.eq_ignore_ascii_case(name));
        found.insert(repo.ok_or_else(inaccessible)?.id);
    }
    for id in ids {
        let repo = world.repo_by_id(*id).filter(|r| r.owner_id == account_id);
        found.insert(repo.ok_or_else(inaccessible)?.id);
    }
    Ok(Some(found))
}

/// `POST /app/installations/{id}/access_tokens`: 201 with a fresh `ghs_` token.
#[tracing::instrument(skip_all, fields(installation = id))]
async fn create_access_token(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<u64>,
    Body(request): Body<TokenRequest>,
) -> ApiResult<Response> {
    let app_id = require_app(&auth)?;
    let ttl = sim.settings().installation_token_ttl;
    let mut world = sim.world();
    let installation =
        world.installation(id).filter(|i| i.app_id == app_id).ok_or_else(ApiError::not_found)?;
    let repositories = requested_repositories(&world, installation.account_id, &request)?;
    let permissions = match request.permissions {
        None => installation.permissions.clone(),
        Some(asked) => {
            let granted = asked.iter().all(|(name, level)| {
                installation.permissions.get(name).is_some_and(|have| level_covers(have, level))
            });
            if !granted {
                return Err(ApiError::invalid(
                    "The permissions requested are not granted to this installation.",
                ));
            }
            // Every token can read the metadata of the repositories it reaches, asked for or not.
            let mut asked = asked;
            if installation.permissions.contains_key("metadata") {
                asked.entry("metadata".into()).or_insert_with(|| "read".into());
            }
            asked
        }
    };
    let bot_user_id = world.app(app_id).map(|a| a.bot_user_id).ok_or_else(ApiError::not_found)?;
    let expires_at = now() + time::Duration::try_from(ttl).unwrap_or(time::Duration::HOUR);
    let token = random_token("ghs_");
    let grant = InstallationGrant {
        installation_id: id,
        account_id: installation.account_id,
        bot_user_id,
        permissions: permissions.clone(),
        repositories: repositories.clone(),
        expires_at,
    };
    world.installation_tokens.insert(token.clone(), grant);
    let mut body = json!({
        "token": token,
        "expires_at": ts(expires_at),
        "permissions": permissions,
        "repository_selection": if repositories.is_some() { "selected" } else { "all" },
    });
    if let Some(ids) = &repositories {
        let listed: Vec<Value> = ids
            .iter()
            .filter_map(|id| world.repo_by_id(*id))
            .map(|r| json::repository(sim.base_url(), &world, r))
            .collect();
        body["repositories"] = Value::Array(listed);
    }
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// What an installation token needs for a route: `Some((permission, level))`, or `None` when no
/// installation token may call it (the `/user` endpoints act for a person).
type Need = Option<(&'static str, &'static str)>;

/// The fine-grained permission each route needs, from GitHub's REST reference ("Permissions required
/// for GitHub Apps"). First match wins; a route not listed is not open to installation tokens.
const ROUTE_PERMISSIONS: &[(&str, &str, Need)] = &[
    ("GET", "/orgs/*/memberships/*", Some(("members", "read"))),
    ("GET", "/orgs/*/rulesets", Some(("organization_administration", "read"))),
    ("GET", "/orgs/*/rulesets/*", Some(("organization_administration", "read"))),
    ("POST", "/orgs/*/rulesets", Some(("organization_administration", "write"))),
    ("PUT", "/orgs/*/teams/*/repos/*/*", Some(("administration", "write"))),
    ("DELETE", "/orgs/*/teams/*/repos/*/*", Some(("administration", "write"))),
    ("GET", "/orgs/*/teams/**", Some(("members", "read"))),
    ("GET", "/orgs/*/teams", Some(("members", "read"))),
    ("GET", "/repos/*/*/collaborators/**", Some(("metadata", "read"))),
    ("GET", "/repos/*/*/collaborators", Some(("metadata", "read"))),
    ("PUT", "/repos/*/*/collaborators/*", Some(("administration", "write"))),
    ("DELETE", "/repos/*/*/collaborators/*", Some(("administration", "write"))),
    ("GET", "/repos/*/*/teams", Some(("metadata", "read"))),
    ("GET", "/repos/*/*/rules/branches/**", Some(("metadata", "read"))),
    ("GET", "/repos/*/*/rulesets/**", Some(("administration", "read"))),
    ("POST", "/repos/*/*/rulesets", Some(("administration", "write"))),
    ("PUT", "/repos/*/*/rulesets/*", Some(("administration", "write"))),
    ("DELETE", "/repos/*/*/rulesets/*", Some(("administration", "write"))),
    ("GET", "/orgs/*/members/**", Some(("members", "read"))),
    ("GET", "/orgs/*/repos", Some(("metadata", "read"))),
    ("GET", "/orgs/*", Some(("metadata", "read"))),
    ("POST", "/repos/*/*/generate", Some(("administration", "write"))),
    ("GET", "/repos/*/*/branches/**", Some(("contents", "read"))),
    ("GET", "/repos/*/*/contents/**", Some(("contents", "read"))),
    ("PUT", "/repos/*/*/contents/**", Some(("contents", "write"))),
    ("GET", "/repos/*/*/vulnerability-alerts", Some(("administration", "read"))),
    ("PUT", "/repos/*/*/vulnerability-alerts", Some(("administration", "write"))),
    ("DELETE", "/repos/*/*/vulnerability-alerts", Some(("administration", "write"))),
    ("GET", "/repos/*/*/automated-security-fixes", Some(("administration", "read"))),
    ("PUT", "/repos/*/*/automated-security-fixes", Some(("administration", "write"))),
    ("DELETE", "/repos/*/*/automated-security-fixes", Some(("administration", "write"))),
    ("GET", "/repos/*/*/topics", Some(("metadata", "read"))),
    ("PUT", "/repos/*/*/topics", Some(("administration", "write"))),
    ("POST", "/repos/*/*/branches/*/rename", Some(("administration", "write"))),
    ("GET", "/repos/*/*/actions/oidc/**", Some(("actions", "read"))),
    ("GET", "/repos/*/*/actions/secrets/**", Some(("secrets", "read"))),
    ("PUT", "/repos/*/*/actions/secrets/*", Some(("secrets", "write"))),
    ("DELETE", "/repos/*/*/actions/secrets/*", Some(("secrets", "write"))),
    ("GET", "/repos/*/*/environments/*/secrets/**", Some(("environments", "read"))),
    ("PUT", "/repos/*/*/environments/*/secrets/*", Some(("environments", "write"))),
    ("DELETE", "/repos/*/*/environments/*/secrets/*", Some(("environments", "write"))),
    ("GET", "/repos/*/*/environments/**", Some(("actions", "read"))),
    ("PUT", "/repos/*/*/environments/*", Some(("administration", "write"))),
    ("POST", "/repos/*/*/environments/*/deployment-branch-policies", Some(("administration", "write"))),
    ("DELETE", "/repos/*/*/environments/*", Some(("administration", "write"))),
    ("GET", "/repos/*/*/actions/**", Some(("actions", "read"))),
    ("GET", "/repos/*/*/hooks/**", Some(("repository_hooks", "read"))),
    ("POST", "/repos/*/*/hooks", Some(("repository_hooks", "write"))),
    ("DELETE", "/repos/*/*/hooks/*", Some(("repository_hooks", "write"))),
    ("POST", "/repos/*/*/actions/**", Some(("actions", "write"))),
    ("GET", "/repos/*/*", Some(("metadata", "read"))),
    ("GET", "/repositories/*", Some(("metadata", "read"))),
    ("PATCH", "/repos/*/*", Some(("administration", "write"))),
    ("DELETE", "/repos/*/*", Some(("administration", "write"))),
    ("GET", "/users/*", Some(("metadata", "read"))),
    ("GET", "/user/**", None),
    ("GET", "/user", None),
];

fn not_accessible() -> ApiError {
    ApiError::forbidden("Resource not accessible by integration")
}

/// Refuses a request an App credential may not make: a JWT outside the App endpoints, an installation
/// token outside its permissions (or on the App endpoints, which want the JWT). Like GitHub, a refusal
/// for a missing permission names it in `x-accepted-github-permissions` (`secrets=write`).
pub(crate) fn integration_refusal(
    world: &World,
    caller: &Caller,
    method: &Method,
    path: &str,
) -> Option<Response> {
    if let Some(refusal) = repository_refusal(world, caller, method, path) {
        return Some(refusal.into_response());
    }
    let (refusal, need) = check(caller, method, path).err()?;
    let mut response = refusal.into_response();
    if let Some((name, level)) = need
        && let Ok(value) = axum::http::HeaderValue::from_str(&format!("{name}={level}"))
    {
        response.headers_mut().insert("x-accepted-github-permissions", value);
    }
    Some(response)
}

/// A token limited to some repositories sees no other: a route on another repository is a 404, as if
/// it did not exist, and it cannot create repositories (that takes a token for all of them).
fn repository_refusal(world: &World, caller: &Caller, method: &Method, path: &str) -> Option<ApiError> {
    let Some(Integration::Installation { repositories: Some(allowed), .. }) = &caller.integration else {
        return None;
    };
    if method == Method::POST
        && (path_matches("/repos/*/*/generate", path) || path_matches("/orgs/*/repos", path))
    {
        return Some(not_accessible());
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let repo_id = match segments.as_slice() {
        ["repositories", id, ..] => id.parse().ok(),
        ["repos", owner, name, ..] | ["orgs", _, "teams", _, "repos", owner, name, ..] => {
            world.repo_index(owner, name).map(|i| world.repos[i].id)
        }
        _ => None,
    }?;
    (!allowed.contains(&repo_id)).then(ApiError::not_found)
}

fn check(caller: &Caller, method: &Method, path: &str) -> Result<(), (ApiError, Need)> {
    let app_route = path_matches("/app/**", path) || path_matches("/orgs/*/installation", path);
    match &caller.integration {
        None => Ok(()),
        Some(Integration::App { .. }) if app_route => Ok(()),
        // A JWT outside the App endpoints, or an installation token on them: the wrong kind of credential.
        Some(Integration::App { .. }) => Err((undecodable_jwt(), None)),
        Some(Integration::Installation { .. }) if app_route => Err((undecodable_jwt(), None)),
        Some(Integration::Installation { permissions, .. }) => {
            let need = ROUTE_PERMISSIONS
                .iter()
                .find(|(m, pattern, _)| method.as_str() == *m && path_matches(pattern, path))
                .map(|(_, _, need)| *need);
            match need {
                Some(Some((name, level)))
                    if permissions.get(name).is_some_and(|have| level_covers(have, level)) =>
                {
                    Ok(())
                }
                Some(need) => Err((not_accessible(), need)),
                None => Err((not_accessible(), None)),
            }
        }
    }
}
