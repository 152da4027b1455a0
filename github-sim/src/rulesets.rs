//! Repository rulesets: `GET/POST /repos/{o}/{r}/rulesets`, `GET/PUT/DELETE .../rulesets/{ruleset_id}`
//! and `GET /repos/{o}/{r}/rules/branches/{branch}` (the rules of every *active* branch ruleset, the
//! repository's and its organization's, whose `ref_name` condition matches: `~DEFAULT_BRANCH`, `~ALL`,
//! `refs/heads/NAME` with `*` globs; an organization ruleset's repository condition must match too).
//! Listing and reading by id include the organization's rulesets covering the repository
//! (`includes_parents`, default true). Writes need admin rights; a private repository of a Free organization cannot have rulesets (GitHub's
//! 403). Organization rulesets' routes are in `org_rulesets.rs`, their enforcement on pushes in `push.rs`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Sim;
use crate::access::{Access, find_repo, find_writable_repo};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, Body};
use crate::model::{Org, Repo, Ruleset, World, now, ts};

pub(crate) fn router() -> Router<Sim> {
    Router::new()
        .route("/repos/{owner}/{repo}/rulesets", get(list_rulesets).post(create_ruleset))
        .route(
            "/repos/{owner}/{repo}/rulesets/{ruleset_id}",
            get(get_ruleset).put(update_ruleset).delete(delete_ruleset),
        )
        .route("/repos/{owner}/{repo}/rules/branches/{*branch}", get(branch_rules))
}

/// The rule types GitHub knows, and the parameters each requires (`None`: no parameters).
const RULES: &[(&str, Option<&[&str]>)] = &[
    ("creation", None),
    ("update", None),
    ("deletion", None),
    ("required_linear_history", None),
    ("required_signatures", None),
    ("non_fast_forward", None),
    (
        "pull_request",
        Some(&[
            "dismiss_stale_reviews_on_push",
            "require_code_owner_review",
            "require_last_push_approval",
            "required_approving_review_count",
            "required_review_thread_resolution",
        ]),
    ),
    ("required_status_checks", Some(&["required_status_checks", "strict_required_status_checks_policy"])),
    ("required_deployments", Some(&["required_deployment_environments"])),
];

#[derive(Deserialize)]
pub(crate) struct RulesetRequest {
    pub name: Option<String>,
    target: Option<String>,
    enforcement: Option<String>,
    #[serde(default)]
    bypass_actors: Option<Vec<Value>>,
    pub conditions: Option<Value>,
    rules: Option<Vec<Value>>,
}

pub(crate) fn invalid_property(path: &str) -> ApiError {
    ApiError::invalid(format!(
        "Invalid request.\n\nInvalid property {path}: data matches no possible input. See `documentation_url`."
    ))
}

/// Checks the rules as GitHub's schema does: a known `type`, and the parameters that type requires.
fn validate_rules(rules: &[Value]) -> ApiResult<()> {
    for (n, rule) in rules.iter().enumerate() {
        let kind = rule["type"].as_str().unwrap_or_default();
        let Some((_, required)) = RULES.iter().find(|(name, _)| *name == kind) else {
            return Err(invalid_property(&format!("/rules/{n}")));
        };
        if let Some(required) = required
            && !required.iter().all(|p| rule["parameters"].get(p).is_some())
        {
            return Err(invalid_property(&format!("/rules/{n}")));
        }
        if kind == "pull_request"
            && rule["parameters"]["required_approving_review_count"].as_u64().is_none_or(|c| c > 10)
        {
            return Err(invalid_property(&format!("/rules/{n}")));
        }
    }
    Ok(())
}

/// GitHub's refusal of rulesets on a private repository of a Free organization (or user).
fn plan_refuses(world: &World, repo: &Repo) -> bool {
    let plan = world.orgs.iter().find(|o| o.id == repo.owner_id).map_or("free", |o| o.plan.as_str());
    repo.private && plan == "free"
}

fn upgrade_required() -> ApiError {
    ApiError::forbidden("Upgrade to GitHub Pro or make this repository public to enable this feature.")
}

/// Applies `request` to `ruleset` (a new one has every field unset), validating what GitHub validates.
/// `others` are the rulesets whose names it must not take (same repository, or same organization).
pub(crate) fn apply(ruleset: &mut Ruleset, request: RulesetRequest, others: &[&Ruleset]) -> ApiResult<()> {
    if let Some(name) = request.name {
        if name.trim().is_empty() {
            return Err(ApiError::missing_field("name"));
        }
        if others.iter().any(|r| r.name.eq_ignore_ascii_case(&name)) {
            return Err(ApiError::Validation {
                message: "Validation Failed".into(),
                errors: vec![json!({"resource": "Ruleset", "field": "name", "code": "already_exists",
                    "message": "Name must be unique"})],
            });
        }
        ruleset.name = name;
    }
    if ruleset.name.is_empty() {
        return Err(ApiError::missing_field("name"));
    }
    if let Some(enforcement) = request.enforcement {
        if !["disabled", "active", "evaluate"].contains(&enforcement.as_str()) {
            return Err(invalid_property("/enforcement"));
        }
        ruleset.enforcement = enforcement;
    }
    if ruleset.enforcement.is_empty() {
        return Err(ApiError::missing_field("enforcement"));
    }
    if let Some(target) = request.target {
        if !["branch", "tag", "push"].contains(&target.as_str()) {
            return Err(invalid_property("/target"));
        }
        ruleset.target = target;
    }
    if let Some(conditions) = request.conditions {
        let names_ok = |key: &str| {
            conditions["ref_name"]
                .get(key)
                .is_none_or(|v| v.as_array().is_some_and(|a| a.iter().all(Value::is_string)))
        };
        if !conditions.is_object() || !names_ok("include") || !names_ok("exclude") {
            return Err(invalid_property("/conditions"));
        }
        ruleset.conditions = conditions;
    }
    if let Some(rules) = request.rules {
        validate_rules(&rules)?;
        ruleset.rules = rules;
    }
    if let Some(bypass) = request.bypass_actors {
        ruleset.bypass_actors = bypass;
    }
    Ok(())
}

/// `repository-ruleset`.
pub(crate) fn ruleset_json(base: &str, repo: &Repo, r: &Ruleset) -> Value {
    ruleset_body(base, Source::Repository(repo), r)
}

/// `repository-ruleset` for a ruleset from `source` (an organization's shows `source_type: Organization`).
pub(crate) fn ruleset_body(base: &str, source: Source<'_>, r: &Ruleset) -> Value {
    let (source_type, name) = source.describe();
    let (own, html) = match source {
        Source::Repository(_) => {
            (format!("{base}/repos/{name}/rulesets/{}", r.id), format!("{base}/{name}/rules/{}", r.id))
        }
        Source::Organization(_) => (
            format!("{base}/orgs/{name}/rulesets/{}", r.id),
            format!("{base}/organizations/{name}/settings/rules/{}", r.id),
        ),
    };
    json!({
        "id": r.id,
        "name": r.name,
        "target": r.target,
        "source_type": source_type,
        "source": name,
        "enforcement": r.enforcement,
        "bypass_actors": r.bypass_actors,
        "current_user_can_bypass": "never",
        "node_id": crate::json::node_id("RRS_", r.id),
        "_links": { "self": { "href": own }, "html": { "href": html } },
        "conditions": r.conditions,
        "rules": r.rules,
        "created_at": ts(r.created_at),
        "updated_at": ts(r.updated_at),
    })
}

/// A ruleset as the list routes show it: without bypass actors, conditions and rules.
pub(crate) fn summary(mut body: Value) -> Value {
    if let Some(o) = body.as_object_mut() {
        for key in ["bypass_actors", "conditions", "rules", "current_user_can_bypass"] {
            o.remove(key);
        }
    }
    body
}

/// A new ruleset with every field unset, for [`apply`] to fill.
pub(crate) fn blank(id: u64) -> Ruleset {
    let at = now();
    Ruleset {
        id,
        name: String::new(),
        target: "branch".into(),
        enforcement: String::new(),
        bypass_actors: Vec::new(),
        conditions: json!({"ref_name": {"include": [], "exclude": []}}),
        rules: Vec::new(),
        created_at: at,
        updated_at: at,
    }
}

/// The patterns of `condition[key]` (`include` or `exclude`), as strings.
fn patterns(condition: &Value, key: &str) -> Vec<String> {
    condition[key]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// Whether `ruleset`'s `ref_name` condition covers `branch` of `repo`.
pub(crate) fn covers(repo: &Repo, ruleset: &Ruleset, branch: &str) -> bool {
    let full_ref = format!("refs/heads/{branch}");
    let matches = |pattern: &str| match pattern {
        "~ALL" => true,
        "~DEFAULT_BRANCH" => branch == repo.default_branch,
        p => glob(p.strip_prefix("refs/heads/").unwrap_or(p), branch) || glob(p, &full_ref),
    };
    let names = &ruleset.conditions["ref_name"];
    patterns(names, "include").iter().any(|p| matches(p))
        && !patterns(names, "exclude").iter().any(|p| matches(p))
}

/// Whether an organization ruleset's repository condition takes in `repo`: `repository_name`
/// (fnmatch, `~ALL`) or `repository_id`. Custom properties are not modelled: such a ruleset covers nothing.
pub(crate) fn covers_repository(repo: &Repo, ruleset: &Ruleset) -> bool {
    let by_name = &ruleset.conditions["repository_name"];
    if by_name.is_object() {
        let matches = |p: &str| p == "~ALL" || glob(&p.to_ascii_lowercase(), &repo.name.to_ascii_lowercase());
        return patterns(by_name, "include").iter().any(|p| matches(p))
            && !patterns(by_name, "exclude").iter().any(|p| matches(p));
    }
    ruleset.conditions["repository_id"]["repository_ids"]
        .as_array()
        .is_some_and(|ids| ids.iter().any(|id| id.as_u64() == Some(repo.id)))
}

/// Where a ruleset comes from: its repository, or the organization that owns the repository.
#[derive(Clone, Copy)]
pub(crate) enum Source<'a> {
    Repository(&'a Repo),
    Organization(&'a Org),
}

impl Source<'_> {
    /// `ruleset_source_type` and `ruleset_source` as `rules/branches` shows them.
    pub fn describe(self) -> (&'static str, String) {
        match self {
            Source::Repository(r) => ("Repository", r.full_name()),
            Source::Organization(o) => ("Organization", o.login.clone()),
        }
    }
}

/// Every branch ruleset covering `branch` of `repo`, whatever its enforcement: the repository's own, then
/// its organization's.
pub(crate) fn branch_rulesets<'a>(
    world: &'a World,
    repo: &'a Repo,
    branch: &str,
) -> Vec<(&'a Ruleset, Source<'a>)> {
    let own = repo.rulesets.iter().map(|r| (r, Source::Repository(repo)));
    let org = world.orgs.iter().find(|o| o.id == repo.owner_id);
    let inherited = org.into_iter().flat_map(|o| {
        o.rulesets.iter().filter(|r| covers_repository(repo, r)).map(move |r| (r, Source::Organization(o)))
    });
    own.chain(inherited).filter(|(r, _)| r.target == "branch" && covers(repo, r, branch)).collect()
}

/// fnmatch with `*` (anything but `/`) and `**` (anything).
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else { return false };
            let (tail, crosses) = match tail.strip_prefix('*') {
                Some(t) => (t, true),
                None => (tail, false),
            };
            (0..=rest.len())
                .filter(|i| rest.is_char_boundary(*i))
                .any(|i| (crosses || !rest[..i].contains('/')) && glob(tail, &rest[i..]))
        }
    }
}

/// The active rules on `branch`, each with the ruleset it comes from.
pub(crate) fn active_rules<'a>(
    world: &'a World,
    repo: &'a Repo,
    branch: &str,
) -> Vec<(Value, &'a Ruleset, Source<'a>)> {
    branch_rulesets(world, repo, branch)
        .into_iter()
        .filter(|(r, _)| r.enforcement == "active")
        .flat_map(|(r, source)| r.rules.iter().map(move |rule| (rule.clone(), r, source)))
        .collect()
}

#[derive(Deserialize)]
struct Parents {
    /// GitHub's `includes_parents` (default true): also the organization's rulesets that cover the repository.
    includes_parents: Option<bool>,
}

/// The organization rulesets covering `repo` (any ref, any enforcement): what `includes_parents` adds.
fn parent_rulesets<'a>(world: &'a World, repo: &'a Repo) -> Vec<(&'a Ruleset, Source<'a>)> {
    world
        .orgs
        .iter()
        .filter(|o| o.id == repo.owner_id)
        .flat_map(|o| {
            o.rulesets
                .iter()
                .filter(|r| covers_repository(repo, r))
                .map(move |r| (r, Source::Organization(o)))
        })
        .collect()
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}")))]
async fn list_rulesets(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo)): Path<(String, String)>,
    Query(parents): Query<Parents>,
) -> ApiResult<Json<Vec<Value>>> {
    let world = sim.world();
    let i = find_repo(&world, &owner, &repo, &auth, Access::Pull)?;
    let r = &world.repos[i];
    let mut list: Vec<Value> =
        r.rulesets.iter().map(|s| summary(ruleset_json(sim.base_url(), r, s))).collect();
    if parents.includes_parents.unwrap_or(true) {
        list.extend(
            parent_rulesets(&world, r)
                .into_iter()
                .map(|(s, source)| summary(ruleset_body(sim.base_url(), source, s))),
        );
    }
    Ok(Json(list))
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}")))]
async fn create_ruleset(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo)): Path<(String, String)>,
    Body(request): Body<RulesetRequest>,
) -> ApiResult<Response> {
    auth.require()?;
    let mut world = sim.world();
    let i = find_writable_repo(&world, &owner, &repo, &auth, Access::Admin)?;
    if plan_refuses(&world, &world.repos[i]) {
        return Err(upgrade_required());
    }
    let mut ruleset = blank(world.next_id() % 10_000_000);
    let others: Vec<&Ruleset> = world.repos[i].rulesets.iter().collect();
    apply(&mut ruleset, request, &others)?;
    let body = ruleset_json(sim.base_url(), &world.repos[i], &ruleset);
    world.repos[i].rulesets.push(ruleset);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), id = %id))]
async fn get_ruleset(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, id)): Path<(String, String, String)>,
    Query(parents): Query<Parents>,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    let i = find_repo(&world, &owner, &repo, &auth, Access::Pull)?;
    let r = &world.repos[i];
    if let Some(s) = r.rulesets.iter().find(|s| s.id.to_string() == id) {
        return Ok(Json(ruleset_json(sim.base_url(), r, s)));
    }
    let inherited =
        if parents.includes_parents.unwrap_or(true) { parent_rulesets(&world, r) } else { Vec::new() };
    let (s, source) =
        inherited.into_iter().find(|(s, _)| s.id.to_string() == id).ok_or_else(ApiError::not_found)?;
    Ok(Json(ruleset_body(sim.base_url(), source, s)))
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), id = %id))]
async fn update_ruleset(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, id)): Path<(String, String, String)>,
    Body(request): Body<RulesetRequest>,
) -> ApiResult<Json<Value>> {
    auth.require()?;
    let mut world = sim.world();
    let i = find_writable_repo(&world, &owner, &repo, &auth, Access::Admin)?;
    if plan_refuses(&world, &world.repos[i]) {
        return Err(upgrade_required());
    }
    let r = &mut world.repos[i];
    let k = r.rulesets.iter().position(|s| s.id.to_string() == id).ok_or_else(ApiError::not_found)?;
    let mut updated = r.rulesets[k].clone();
    let others: Vec<&Ruleset> = r.rulesets.iter().filter(|s| s.id != updated.id).collect();
    let renaming = request.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(&updated.name));
    let request = if renaming { RulesetRequest { name: None, ..request } } else { request };
    apply(&mut updated, request, &others)?;
    updated.updated_at = now();
    r.rulesets[k] = updated;
    Ok(Json(ruleset_json(sim.base_url(), r, &r.rulesets[k])))
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), id = %id))]
async fn delete_ruleset(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, id)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let mut world = sim.world();
    let i = find_writable_repo(&world, &owner, &repo, &auth, Access::Admin)?;
    let r = &mut world.repos[i];
    let k = r.rulesets.iter().position(|s| s.id.to_string() == id).ok_or_else(ApiError::not_found)?;
    r.rulesets.remove(k);
    Ok(StatusCode::NO_CONTENT)
}

/// Every active rule on `branch` (the branch need not exist), the organization's included, with `ruleset_source_type`,
/// `ruleset_source` and `ruleset_id`.
#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), branch = %branch))]
async fn branch_rules(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, branch)): Path<(String, String, String)>,
) -> ApiResult<Json<Vec<Value>>> {
    let world = sim.world();
    let i = find_repo(&world, &owner, &repo, &auth, Access::Pull)?;
    let r = &world.repos[i];
    let rules = active_rules(&world, r, &branch)
        .into_iter()
        .map(|(mut rule, s, source)| {
            let (kind, name) = source.describe();
            crate::json::merge(
                &mut rule,
                json!({"ruleset_source_type": kind, "ruleset_source": name, "ruleset_id": s.id}),
            );
            rule
        })
        .collect();
    Ok(Json(rules))
}
