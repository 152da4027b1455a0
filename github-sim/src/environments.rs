//! Deployment environments (`/repos/{owner}/{repo}/environments`) and their Actions secrets.
//!
//! Names are case-insensitive and at most 255 characters (GitHub's documented rules). Creating or updating
//! needs admin rights; reading needs read access. Each environment seals its secrets to a key pair of its
//! own; the secret routes reuse `secrets.rs` (same sealed-box format, key_id check and naming rules) and
//! answer 404 while the environment does not exist. Custom deployment policies ("selected branches and
//! tags") are listed and added under `.../deployment-branch-policies`. The runner enforces the branch
//! policy and required reviewers ([`crate::model::Environment::gate`]); wait timers are stored only.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::Sim;
use crate::access::{Access, find_repo, find_writable_repo};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, Body};
use crate::json::{Account, node_id, simple_user};
use crate::model::{BranchPolicy, DeploymentPolicy, Environment, RefKind, Repo, World, now, ts};
use crate::secrets::{PutSecret, Sealed, get_json, list_json, public_key_json, remove};

/// GitHub's documented maximum environment name length.
const MAX_NAME_CHARS: usize = 255;
/// `wait_timer` is in minutes, 0 to 43,200 (30 days), per the schema.
const MAX_WAIT_TIMER: u64 = 43_200;
/// "You can list up to six users or teams as reviewers."
const MAX_REVIEWERS: usize = 6;

pub(crate) fn router() -> Router<Sim> {
    Router::new()
        .route("/repos/{owner}/{repo}/environments", get(list_environments))
        .route(
            "/repos/{owner}/{repo}/environments/{environment_name}",
            get(get_environment).put(put_environment).delete(delete_environment),
        )
        .route(
            "/repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies",
            get(list_deployment_policies).post(create_deployment_policy),
        )
        .route("/repos/{owner}/{repo}/environments/{environment_name}/secrets", get(list_secrets))
        .route(
            "/repos/{owner}/{repo}/environments/{environment_name}/secrets/public-key",
            get(get_public_key),
        )
        .route(
            "/repos/{owner}/{repo}/environments/{environment_name}/secrets/{secret_name}",
            get(get_secret).put(put_secret).delete(delete_secret),
        )
}

#[derive(Deserialize)]
struct Paging {
    per_page: Option<usize>,
    page: Option<usize>,
}

/// `{total_count, environments}`, oldest first, paginated like GitHub's lists (with a `Link` header).
#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}")))]
async fn list_environments(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo)): Path<(String, String)>,
    Query(paging): Query<Paging>,
) -> ApiResult<Response> {
    let world = sim.world();
    let i = find_repo(&world, &owner, &repo, &auth, Access::Pull)?;
    let r = &world.repos[i];
    let per_page = paging.per_page.unwrap_or(30).clamp(1, 100);
    let page = paging.page.unwrap_or(1).max(1);
    let environments: Vec<Value> = r
        .environments
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|e| environment_json(sim.base_url(), &world, r, e))
        .collect();
    let total = r.environments.len();
    let mut response = Json(json!({ "total_count": total, "environments": environments })).into_response();
    let last = total.div_ceil(per_page).max(1);
    if page < last {
        let url = format!("{}/repos/{}/environments?per_page={per_page}", sim.base_url(), r.full_name());
        let link = format!("<{url}&page={}>; rel=\"next\", <{url}&page={last}>; rel=\"last\"", page + 1);
        if let Ok(value) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    Ok(response)
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), environment = %name))]
async fn get_environment(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, name)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    let i = find_repo(&world, &owner, &repo, &auth, Access::Pull)?;
    let r = &world.repos[i];
    let e = r.environment(&name).ok_or_else(ApiError::not_found)?;
    Ok(Json(environment_json(sim.base_url(), &world, r, e)))
}

/// Creates the environment or updates it, answering 200 with it either way (GitHub's only success
/// status here). A field left out keeps its value; `reviewers: null` clears the reviewers and
/// `deployment_branch_policy: null` lets every branch deploy, as the schema describes.
#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), environment = %name))]
async fn put_environment(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, name)): Path<(String, String, String)>,
    Body(body): Body<Value>,
) -> ApiResult<Json<Value>> {
    auth.require()?;
    check_name(&name)?;
    let update = Update::parse(body)?;
    let mut world = sim.world();
    let i = find_writable_repo(&world, &owner, &repo, &auth, Access::Admin)?;
    if let Some(Some(reviewers)) = &update.reviewers {
        check_reviewers(&world, &world.repos[i], reviewers)?;
    }
    let at = now();
    let r = &mut world.repos[i];
    if r.environment(&name).is_none() {
        r.environments.push(Environment::new(&name, at));
        tracing::info!(environment = %name, "environment created");
    }
    let e = r.environment_mut(&name).ok_or_else(ApiError::not_found)?;
    update.apply(e);
    e.updated_at = at;
    let (world, r) = (&world, &world.repos[i]);
    let e = r.environment(&name).ok_or_else(ApiError::not_found)?;
    Ok(Json(environment_json(sim.base_url(), world, r, e)))
}

/// 204; the environment's secrets and rules go with it. 404 when there is no such environment.
#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), environment = %name))]
async fn delete_environment(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, name)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    auth.require()?;
    let mut world = sim.world();
    let i = find_writable_repo(&world, &owner, &repo, &auth, Access::Admin)?;
    let r = &mut world.repos[i];
    let index = r.environments.iter().position(|e| e.is_named(&name)).ok_or_else(ApiError::not_found)?;
    let removed = r.environments.remove(index);
    tracing::info!(environment = %removed.name, secrets = removed.secrets.len(), "environment deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// GitHub's documented rules: case-insensitive (see [`Environment::is_named`]), at most 255 characters.
/// GitHub does not document which characters it refuses, so the sim is conservative and refuses what a
/// client should not rely on: empty or blank names, surrounding whitespace, control characters, and
/// `'`, `"`, `` ` ``, `,`, `;` and `\`. `/` is allowed (GitHub asks for it URL-encoded as `%2F`).
fn check_name(name: &str) -> ApiResult<()> {
    let refused = |c: char| c.is_control() || matches!(c, '\'' | '"' | '`' | ',' | ';' | '\\');
    if name.trim().is_empty() || name.trim() != name {
        return Err(ApiError::invalid("Environment name must not be blank or have surrounding whitespace."));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::invalid("Environment name must be 255 characters or fewer."));
    }
    if let Some(c) = name.chars().find(|c| refused(*c)) {
        return Err(ApiError::invalid(format!("Environment name contains an invalid character: {c:?}.")));
    }
    Ok(())
}

/// A reviewer as the body names one.
#[derive(Debug, Clone, PartialEq)]
struct Reviewer {
    kind: String,
    id: u64,
}

/// A validated PUT body: `None` = leave as is; `Some(None)` = an explicit `null`.
#[derive(Default)]
struct Update {
    wait_timer: Option<u64>,
    prevent_self_review: Option<bool>,
    reviewers: Option<Option<Vec<Reviewer>>>,
    deployment_branch_policy: Option<Option<BranchPolicy>>,
}

/// `Invalid request.\n\nFor 'properties/FIELD', VALUE is not a KIND.`, GitHub's schema-failure text.
fn not_a(field: &str, value: &Value, kind: &str) -> ApiError {
    ApiError::invalid(format!("Invalid request.\n\nFor 'properties/{field}', {value} is not {kind}."))
}

impl Update {
    /// Checks the body against the request schema (`additionalProperties: false`, the types, the ranges)
    /// and GitHub's rule that the two branch-policy flags differ.
    fn parse(body: Value) -> ApiResult<Self> {
        let fields = match body {
            Value::Null => return Ok(Update::default()),
            Value::Object(fields) => fields,
            other => return Err(ApiError::invalid(format!("Invalid request.\n\n{other} is not an object."))),
        };
        let allowed = ["wait_timer", "prevent_self_review", "reviewers", "deployment_branch_policy"];
        if let Some(key) = fields.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(ApiError::invalid(format!("Invalid request.\n\n\"{key}\" is not a permitted key.")));
        }
        let mut update = Update::default();
        if let Some(value) = fields.get("wait_timer") {
            let out_of_range =
                || ApiError::invalid("Invalid request.\n\nwait_timer must be between 0 and 43200 minutes.");
            update.wait_timer = Some(match value.as_u64() {
                Some(minutes) if minutes <= MAX_WAIT_TIMER => minutes,
                Some(_) => return Err(out_of_range()),
                None if value.is_i64() => return Err(out_of_range()),
                None => return Err(not_a("wait_timer", value, "an integer")),
            });
        }
        if let Some(value) = fields.get("prevent_self_review") {
            update.prevent_self_review =
                Some(value.as_bool().ok_or_else(|| not_a("prevent_self_review", value, "a boolean"))?);
        }
        if let Some(value) = fields.get("reviewers") {
            update.reviewers = Some(match value {
                Value::Null => None,
                Value::Array(items) => Some(parse_reviewers(items)?),
                other => return Err(not_a("reviewers", other, "an array")),
            });
        }
        if let Some(value) = fields.get("deployment_branch_policy") {
            update.deployment_branch_policy = Some(match value {
                Value::Null => None,
                Value::Object(policy) => Some(parse_branch_policy(policy)?),
                other => return Err(not_a("deployment_branch_policy", other, "an object")),
            });
        }
        Ok(update)
    }

    fn apply(self, e: &mut Environment) {
        if let Some(minutes) = self.wait_timer {
            e.wait_timer = minutes;
        }
        if let Some(prevent) = self.prevent_self_review {
            e.prevent_self_review = prevent;
        }
        if let Some(reviewers) = self.reviewers {
            e.reviewers = reviewers.unwrap_or_default().iter().map(|r| r.id).collect();
        }
        if let Some(policy) = self.deployment_branch_policy {
            e.branch_policy = policy;
        }
    }
}

fn parse_reviewers(items: &[Value]) -> ApiResult<Vec<Reviewer>> {
    if items.len() > MAX_REVIEWERS {
        return Err(ApiError::invalid("Invalid request.\n\nYou can list up to 6 reviewers."));
    }
    let mut reviewers = Vec::new();
    for item in items {
        let Value::Object(fields) = item else { return Err(not_a("reviewers/items", item, "an object")) };
        let kind = match fields.get("type") {
            Some(Value::String(kind)) if kind == "User" || kind == "Team" => kind.clone(),
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "Invalid request.\n\nFor 'properties/type', {other} is not a member of [\"User\", \"Team\"]."
                )));
            }
            None => return Err(ApiError::missing_field("type")),
        };
        let id = match fields.get("id") {
            Some(value) => value.as_u64().ok_or_else(|| not_a("id", value, "an integer"))?,
            None => return Err(ApiError::missing_field("id")),
        };
        let reviewer = Reviewer { kind, id };
        if !reviewers.contains(&reviewer) {
            reviewers.push(reviewer);
        }
    }
    Ok(reviewers)
}

fn parse_branch_policy(policy: &Map<String, Value>) -> ApiResult<BranchPolicy> {
    let flag = |field: &str| match policy.get(field) {
        Some(value) => value.as_bool().ok_or_else(|| not_a(field, value, "a boolean")),
        None => Err(ApiError::missing_field(field)),
    };
    let (protected_branches, custom_branch_policies) =
        (flag("protected_branches")?, flag("custom_branch_policies")?);
    if protected_branches == custom_branch_policies {
        return Err(ApiError::invalid(
            "Invalid request.\n\nprotected_branches and custom_branch_policies cannot have the same value.",
        ));
    }
    Ok(BranchPolicy { protected_branches, custom_branch_policies })
}

/// Reviewers must be users with at least read access to the repository; the sim has no teams, so a team
/// reviewer is never found.
fn check_reviewers(world: &World, repo: &Repo, reviewers: &[Reviewer]) -> ApiResult<()> {
    for reviewer in reviewers {
        let readable = reviewer.kind == "User"
            && world.user(reviewer.id).is_some()
            && can_read(world, repo, reviewer.id);
        if !readable {
            return Err(ApiError::invalid(format!(
                "Invalid request.\n\n{} {} is not a valid reviewer: reviewers must have read access to the repository.",
                reviewer.kind, reviewer.id
            )));
        }
    }
    Ok(())
}

/// Whether a user can read `repo`: anyone for a public one; the owner and active members of the owning
/// organization for a private one (the sim has no outside collaborators).
fn can_read(world: &World, repo: &Repo, user_id: u64) -> bool {
    !repo.private
        || repo.owner_id == user_id
        || world.membership(repo.owner_id, user_id).is_some_and(|m| m.state == "active")
}

/// Characters kept as they are in an environment name inside a URL (`/` becomes `%2F`, as GitHub asks).
const NAME_IN_URL: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// The `environment` schema: protection rules appear only when set (a wait timer above 0, reviewers, a
/// branch policy), in GitHub's order.
fn environment_json(base: &str, world: &World, repo: &Repo, e: &Environment) -> Value {
    let encoded = utf8_percent_encode(&e.name, NAME_IN_URL).to_string();
    let full = repo.full_name();
    let rule = |index: usize, kind: &str| {
        let id = e.rule_ids[index];
        json!({ "id": id, "node_id": node_id("GA_", id), "type": kind })
    };
    let mut rules = Vec::new();
    if e.wait_timer > 0 {
        let mut r = rule(0, "wait_timer");
        crate::json::merge(&mut r, json!({ "wait_timer": e.wait_timer }));
        rules.push(r);
    }
    if !e.reviewers.is_empty() {
        let reviewers: Vec<Value> = e
            .reviewers
            .iter()
            .filter_map(|id| world.user(*id))
            .map(|u| json!({ "type": "User", "reviewer": simple_user(base, &Account::user(u)) }))
            .collect();
        let mut r = rule(1, "required_reviewers");
        crate::json::merge(
            &mut r,
            json!({ "prevent_self_review": e.prevent_self_review, "reviewers": reviewers }),
        );
        rules.push(r);
    }
    if e.branch_policy.is_some() {
        rules.push(rule(2, "branch_policy"));
    }
    let policy = e.branch_policy.map(|p| {
        json!({ "protected_branches": p.protected_branches, "custom_branch_policies": p.custom_branch_policies })
    });
    json!({
        "id": e.id,
        "node_id": node_id("EN_", e.id),
        "name": e.name,
        "url": format!("{base}/repos/{full}/environments/{encoded}"),
        "html_url": format!("{base}/{full}/deployments/activity_log?environments_filter={encoded}"),
        "created_at": ts(e.created_at),
        "updated_at": ts(e.updated_at),
        "protection_rules": rules,
        "deployment_branch_policy": policy,
    })
}

/// The `deployment-branch-policy` schema.
fn deployment_policy_json(p: &DeploymentPolicy) -> Value {
    let kind = match p.kind {
        RefKind::Branch => "branch",
        RefKind::Tag => "tag",
    };
    json!({ "id": p.id, "node_id": node_id("MDE2OkdhdGVCcmFuY2hQb2xpY3k", p.id), "name": p.name, "type": kind })
}

/// `{total_count, branch_policies}`, oldest first; anyone who can read the repository may list them.
#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), environment = %env))]
async fn list_deployment_policies(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, env)): Path<(String, String, String)>,
    Query(paging): Query<Paging>,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    let i = find_repo(&world, &owner, &repo, &auth, Access::Pull)?;
    let e = &world.repos[i].environments[find_environment(&world, i, &env)?];
    let per_page = paging.per_page.unwrap_or(30).clamp(1, 100);
    let page = paging.page.unwrap_or(1).max(1);
    let policies: Vec<Value> = e
        .deployment_policies
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(deployment_policy_json)
        .collect();
    Ok(Json(json!({ "total_count": e.deployment_policies.len(), "branch_policies": policies })))
}

/// Adds a name pattern (`type` `branch`, the default, or `tag`): admin only; 404 while the environment does
/// not exist or its `deployment_branch_policy` is not `custom_branch_policies: true` (GitHub's documented
/// answer); 303 to the existing policy when the pattern and type are there already.
#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), environment = %env))]
async fn create_deployment_policy(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, env)): Path<(String, String, String)>,
    Body(body): Body<Value>,
) -> ApiResult<Response> {
    auth.require()?;
    let Value::Object(fields) = body else {
        return Err(ApiError::invalid("Invalid request.\n\nBody is not an object."));
    };
    if let Some(key) = fields.keys().find(|k| !matches!(k.as_str(), "name" | "type")) {
        return Err(ApiError::invalid(format!("Invalid request.\n\n\"{key}\" is not a permitted key.")));
    }
    let name = match fields.get("name") {
        Some(Value::String(name)) if !name.is_empty() => name.clone(),
        Some(other) => return Err(not_a("name", other, "a string")),
        None => return Err(ApiError::missing_field("name")),
    };
    let kind = match fields.get("type") {
        None => RefKind::Branch,
        Some(Value::String(t)) if t == "branch" => RefKind::Branch,
        Some(Value::String(t)) if t == "tag" => RefKind::Tag,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "Invalid request.\n\nFor 'properties/type', {other} is not a member of [\"branch\", \"tag\"]."
            )));
        }
    };
    let mut world = sim.world();
    let i = find_writable_repo(&world, &owner, &repo, &auth, Access::Admin)?;
    let k = find_environment(&world, i, &env)?;
    let custom = world.repos[i].environments[k].branch_policy.is_some_and(|p| p.custom_branch_policies);
    if !custom {
        return Err(ApiError::not_found());
    }
    let id = world.next_id();
    let e = &mut world.repos[i].environments[k];
    if let Some(existing) = e.deployment_policies.iter().find(|p| p.name == name && p.kind == kind) {
        let url = format!(
            "{}/repos/{}/{}/environments/{}/deployment-branch-policies/{}",
            sim.base_url(),
            owner,
            repo,
            utf8_percent_encode(&e.name, NAME_IN_URL),
            existing.id
        );
        let mut response = StatusCode::SEE_OTHER.into_response();
        if let Ok(value) = HeaderValue::from_str(&url) {
            response.headers_mut().insert(header::LOCATION, value);
        }
        return Ok(response);
    }
    let policy = DeploymentPolicy { id, name, kind };
    let body = deployment_policy_json(&policy);
    e.deployment_policies.push(policy);
    Ok(Json(body).into_response())
}

/// The index of the environment called `name` in repository `repo`, or 404.
fn find_environment(world: &World, repo: usize, name: &str) -> ApiResult<usize> {
    world.repos[repo].environments.iter().position(|e| e.is_named(name)).ok_or_else(ApiError::not_found)
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), environment = %env))]
async fn get_public_key(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, env)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    // Like the repository's key: "anyone with read access to the repository can use this endpoint".
    let i = find_repo(&world, &owner, &repo, &auth, Access::Pull)?;
    let e = &world.repos[i].environments[find_environment(&world, i, &env)?];
    Ok(Json(public_key_json(&e.secret_key, &e.key_id)))
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), environment = %env))]
async fn list_secrets(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, env)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    let i = find_repo(&world, &owner, &repo, &auth, Access::Push)?;
    let e = &world.repos[i].environments[find_environment(&world, i, &env)?];
    Ok(Json(list_json(&e.secrets)))
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), environment = %env, secret = %name))]
async fn get_secret(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, env, name)): Path<(String, String, String, String)>,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    let i = find_repo(&world, &owner, &repo, &auth, Access::Push)?;
    let e = &world.repos[i].environments[find_environment(&world, i, &env)?];
    get_json(&e.secrets, &name).map(Json)
}

/// 201 `{}` when created, 204 when updated, as for repository secrets; the value must be sealed to this
/// environment's key (`key_id` names it), not the repository's.
#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), environment = %env, secret = %name))]
async fn put_secret(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, env, name)): Path<(String, String, String, String)>,
    Body(request): Body<PutSecret>,
) -> ApiResult<Response> {
    auth.require()?;
    let sealed = Sealed::parse(&name, request)?;
    let mut world = sim.world();
    let i = find_writable_repo(&world, &owner, &repo, &auth, Access::Push)?;
    let k = find_environment(&world, i, &env)?;
    let e = &mut world.repos[i].environments[k];
    sealed.store(&e.secret_key, &e.key_id, &mut e.secrets, "environment")
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), environment = %env, secret = %name))]
async fn delete_secret(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, env, name)): Path<(String, String, String, String)>,
) -> ApiResult<StatusCode> {
    auth.require()?;
    let mut world = sim.world();
    let i = find_writable_repo(&world, &owner, &repo, &auth, Access::Push)?;
    let k = find_environment(&world, i, &env)?;
    remove(&mut world.repos[i].environments[k].secrets, &name)
}

#[cfg(test)]
mod tests {
    use super::{Update, check_name};
    use serde_json::json;

    #[test]
    fn names_follow_githubs_rules() {
        assert!(check_name("production").is_ok());
        assert!(check_name("customer/prod eu").is_ok());
        assert!(check_name(&"a".repeat(255)).is_ok());
        assert!(check_name(&"a".repeat(256)).is_err());
        assert!(check_name("").is_err());
        assert!(check_name(" prod").is_err());
        assert!(check_name("a\nb").is_err());
        assert!(check_name("a,b").is_err());
    }

    #[test]
    fn bodies_are_checked_against_the_schema() {
        assert!(Update::parse(json!(null)).is_ok());
        assert!(Update::parse(json!({"wait_timer": 43200, "prevent_self_review": true})).is_ok());
        assert!(Update::parse(json!({"wait_timer": 43201})).is_err());
        assert!(Update::parse(json!({"wait_timer": -1})).is_err());
        assert!(Update::parse(json!({"wait_timer": "5"})).is_err());
        assert!(Update::parse(json!({"colour": "red"})).is_err());
        let same =
            json!({"deployment_branch_policy": {"protected_branches": true, "custom_branch_policies": true}});
        assert!(Update::parse(same).is_err());
        let half = json!({"deployment_branch_policy": {"protected_branches": true}});
        assert!(Update::parse(half).is_err());
        let seven: Vec<_> = (1..=7).map(|id| json!({"type": "User", "id": id})).collect();
        assert!(Update::parse(json!({ "reviewers": seven })).is_err());
        assert!(Update::parse(json!({"reviewers": [{"type": "Bot", "id": 1}]})).is_err());
    }
}
