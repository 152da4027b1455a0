//! Organization rulesets: `GET/POST /orgs/{org}/rulesets` and `GET /orgs/{org}/rulesets/{ruleset_id}`.
//! Only an organization owner (a token with `admin:org`, or an installation with organization
//! administration) reads or writes them. Their conditions name repositories as well as refs
//! (`repository_name` or `repository_id` is required); their rules appear in each covered repository's
//! `rules/branches/{branch}` and are enforced on its pushes like the repository's own.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};

use crate::Sim;
use crate::auth::{Auth, Caller};
use crate::error::{ApiError, ApiResult, Body};
use crate::model::{Ruleset, World};
use crate::rulesets::{RulesetRequest, Source, apply, blank, invalid_property, ruleset_body, summary};

pub(crate) fn router() -> Router<Sim> {
    Router::new()
        .route("/orgs/{org}/rulesets", get(list_org_rulesets).post(create_org_ruleset))
        .route("/orgs/{org}/rulesets/{ruleset_id}", get(get_org_ruleset))
}

/// The organization's index for an owner of it; 404 for anyone else (GitHub hides owner-only settings).
fn find_owned_org(world: &World, org: &str, auth: &Auth) -> ApiResult<usize> {
    let caller: &Caller = auth.require()?;
    let o =
        world.orgs.iter().position(|o| o.login.eq_ignore_ascii_case(org)).ok_or_else(ApiError::not_found)?;
    let id = world.orgs[o].id;
    let owner = if caller.integration.is_some() {
        caller.installed_on(id)
    } else {
        caller.has_scope("admin:org")
            && world.membership(id, caller.user_id).is_some_and(|m| m.state == "active" && m.role == "admin")
    };
    if owner { Ok(o) } else { Err(ApiError::not_found()) }
}

/// An organization ruleset must say which repositories it covers.
fn names_repositories(request: &RulesetRequest) -> bool {
    request.conditions.as_ref().is_some_and(|c| {
        c["ref_name"].is_object()
            && ["repository_name", "repository_id", "repository_property"].iter().any(|k| c[k].is_object())
    })
}

#[tracing::instrument(skip_all, fields(org = %org))]
async fn list_org_rulesets(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path(org): Path<String>,
) -> ApiResult<Json<Vec<serde_json::Value>>> {
    let world = sim.world();
    let o = &world.orgs[find_owned_org(&world, &org, &auth)?];
    let list = o.rulesets.iter().map(|r| summary(ruleset_body(sim.base_url(), Source::Organization(o), r)));
    Ok(Json(list.collect()))
}

#[tracing::instrument(skip_all, fields(org = %org))]
async fn create_org_ruleset(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path(org): Path<String>,
    Body(request): Body<RulesetRequest>,
) -> ApiResult<Response> {
    let mut world = sim.world();
    let o = find_owned_org(&world, &org, &auth)?;
    if world.orgs[o].plan == "free" {
        return Err(ApiError::forbidden("Upgrade to GitHub Team to enable this feature."));
    }
    if !names_repositories(&request) {
        return Err(invalid_property("/conditions"));
    }
    let mut ruleset = blank(world.next_id() % 10_000_000);
    let others: Vec<&Ruleset> = world.orgs[o].rulesets.iter().collect();
    apply(&mut ruleset, request, &others)?;
    let body = ruleset_body(sim.base_url(), Source::Organization(&world.orgs[o]), &ruleset);
    world.orgs[o].rulesets.push(ruleset);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[tracing::instrument(skip_all, fields(org = %org, id = %id))]
async fn get_org_ruleset(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult<Json<serde_json::Value>> {
    let world = sim.world();
    let o = &world.orgs[find_owned_org(&world, &org, &auth)?];
    let r = o.rulesets.iter().find(|r| r.id.to_string() == id).ok_or_else(ApiError::not_found)?;
    Ok(Json(ruleset_body(sim.base_url(), Source::Organization(o), r)))
}
