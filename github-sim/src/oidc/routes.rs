//! Discovery documents under the issuer's path (no auth, like GitHub's token host) and the OIDC subject
//! customization endpoints (REST "GitHub Actions OIDC": org `GET`/`PUT`, repository `GET`/`PUT`).
//!
//! GHES mode (`oidc_customization_endpoint: false`) answers 404 on all four, as GHES versions without them do.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Sim;
use crate::access::{Access, find_repo};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, Body};
use crate::model::SubjectTemplate;

/// `{issuer path}/.well-known/openid-configuration` and `{issuer path}/.well-known/jwks`.
pub(crate) fn discovery_router(issuer_path: &str) -> Router<Sim> {
    Router::new()
        .route(&format!("{issuer_path}/.well-known/openid-configuration"), get(configuration))
        .route(&format!("{issuer_path}/.well-known/jwks"), get(jwks))
}

pub(crate) fn router() -> Router<Sim> {
    Router::new()
        .route("/orgs/{org}/actions/oidc/customization/sub", get(get_org_template).put(put_org_template))
        .route(
            "/repos/{owner}/{repo}/actions/oidc/customization/sub",
            get(get_repo_template).put(put_repo_template),
        )
}

async fn configuration(State(sim): State<Sim>) -> Json<Value> {
    Json(sim.issuer().configuration())
}

async fn jwks(State(sim): State<Sim>) -> Json<Value> {
    Json(sim.issuer().jwks())
}

fn require_endpoint(sim: &Sim) -> ApiResult<()> {
    if sim.settings().oidc_customization_endpoint { Ok(()) } else { Err(ApiError::not_found()) }
}

/// Claim keys: alphanumerics and underscores, as GitHub's schema says; anything else is a 422.
fn parse_claim_keys(keys: Vec<String>) -> ApiResult<Vec<String>> {
    if let Some(bad) =
        keys.iter().find(|k| k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    {
        return Err(ApiError::invalid(format!(
            "Invalid request.\n\nFor 'items', \"{bad}\" is invalid: claim keys contain only alphanumeric characters and underscores."
        )));
    }
    Ok(keys)
}

/// An org's template; with none set, GitHub's default keys (`repo`, `context`).
#[tracing::instrument(skip_all, fields(org = %org))]
async fn get_org_template(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path(org): Path<String>,
) -> ApiResult<Json<Value>> {
    require_endpoint(&sim)?;
    let caller = auth.require()?.user_id;
    let world = sim.world();
    let org = world.org(&org).ok_or_else(ApiError::not_found)?;
    if world.membership(org.id, caller).is_none_or(|m| m.state != "active") {
        return Err(ApiError::not_found());
    }
    let keys = world
        .org_subject_templates
        .get(&org.id)
        .cloned()
        .unwrap_or_else(|| vec!["repo".into(), "context".into()]);
    Ok(Json(json!({ "include_claim_keys": keys })))
}

#[derive(Deserialize)]
struct OrgTemplate {
    include_claim_keys: Option<Vec<String>>,
}

/// Org owners only; 201 with an empty object.
#[tracing::instrument(skip_all, fields(org = %org))]
async fn put_org_template(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path(org): Path<String>,
    Body(body): Body<OrgTemplate>,
) -> ApiResult<Response> {
    require_endpoint(&sim)?;
    let caller = auth.require()?.user_id;
    let keys = parse_claim_keys(
        body.include_claim_keys.ok_or_else(|| ApiError::missing_field("include_claim_keys"))?,
    )?;
    let mut world = sim.world();
    let org_id = world.org(&org).ok_or_else(ApiError::not_found)?.id;
    match world.membership(org_id, caller) {
        Some(m) if m.state == "active" && m.role == "admin" => {}
        Some(m) if m.state == "active" => return Err(ApiError::forbidden("Must be an organization owner.")),
        _ => return Err(ApiError::not_found()),
    }
    world.org_subject_templates.insert(org_id, keys);
    Ok((StatusCode::CREATED, Json(json!({}))).into_response())
}

/// Repositories the sim generates use GitHub's immutable subject `repo:OWNER@OWNER_ID/REPO@REPO_ID`; seeded
/// ones keep the legacy `repo:OWNER/REPO`. As on github.com since the 2026 cut-over, `sub_claim_prefix` carries
/// the form in use while `use_immutable_subject` stays `false` (research/review-2026-12/fidelity.md §1.2).
#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}")))]
async fn get_repo_template(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo)): Path<(String, String)>,
) -> ApiResult<Response> {
    require_endpoint(&sim)?;
    let world = sim.world();
    let i = find_repo(&world, &owner, &repo, &auth, Access::Pull)?;
    let r = &world.repos[i];
    let prefix = if r.immutable_subject {
        format!("repo:{}@{}/{}@{}", r.owner_login, r.owner_id, r.name, r.id)
    } else {
        format!("repo:{}", r.full_name())
    };
    let mut body = json!({ "use_default": true, "use_immutable_subject": false, "sub_claim_prefix": prefix });
    let keys = match &r.subject_template {
        SubjectTemplate::Default => None,
        SubjectTemplate::Custom(keys) => Some(keys.clone()),
        SubjectTemplate::Organization => {
            Some(world.org_subject_templates.get(&r.owner_id).cloned().unwrap_or_default())
        }
    };
    if let Some(keys) = keys {
        crate::json::merge(&mut body, json!({ "use_default": false, "include_claim_keys": keys }));
    }
    Ok(Json(body).into_response())
}

#[derive(Deserialize)]
struct RepoTemplate {
    use_default: Option<bool>,
    include_claim_keys: Option<Vec<String>>,
}

/// Admins only. `use_default: true` ignores the keys; `false` without keys opts into the org's template.
#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}")))]
async fn put_repo_template(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo)): Path<(String, String)>,
    Body(body): Body<RepoTemplate>,
) -> ApiResult<Response> {
    require_endpoint(&sim)?;
    auth.require()?;
    let use_default = body.use_default.ok_or_else(|| ApiError::missing_field("use_default"))?;
    let template = match (use_default, body.include_claim_keys) {
        (true, _) => SubjectTemplate::Default,
        (false, None) => SubjectTemplate::Organization,
        (false, Some(keys)) => SubjectTemplate::Custom(parse_claim_keys(keys)?),
    };
    let mut world = sim.world();
    let i = find_repo(&world, &owner, &repo, &auth, Access::Admin)?;
    world.repos[i].subject_template = template;
    Ok((StatusCode::CREATED, Json(json!({}))).into_response())
}
