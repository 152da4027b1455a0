//! Branch writes judged as GitHub's git server judges them. git's protocol is not REST, so `git push` is
//! modelled by a sandbox route, `POST /_sim/repos/{owner}/{repo}/push` with `{login, branch, force?,
//! delete?}` (and [`Sim::push`] for in-process tests): the pusher needs write access (their effective
//! permission, `access.rs`), then every active ruleset covering the branch, the repository's and its
//! organization's, may refuse the update. Refusals carry GitHub's GH013 text, one line per violated rule:
//!
//! ```text
//! GH013: Repository rule violations found for refs/heads/main.
//! Review all repository rules at https://github.com/acme/svc/rules?ref=refs%2Fheads%2Fmain
//!
//! - Changes must be made through a pull request.
//! ```
//!
//! Rulesets in `evaluate` or `disabled` enforcement block nothing; an actor in a ruleset's
//! `bypass_actors` (mode `always`) is not held to it. Any other branch writer (the contents API) calls
//! [`refused_update`] before it moves a branch.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Sim;
use crate::access::{Access, user_role};
use crate::model::{Branch, Repo, Ruleset, Workflow, World, now, random_hex};
use crate::rulesets::branch_rulesets;

/// What a write does to a branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateKind {
    /// Creates the branch, or moves it forward (a fast-forward).
    Push,
    /// Moves it to a commit that does not descend from its head (`git push --force`).
    ForcePush,
    /// Deletes it (`git push origin :branch`).
    Delete,
}

/// A refused branch write: the ref and what each violated rule says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub git_ref: String,
    /// GitHub's line for each violated rule, in the order the rules were found.
    pub rules: Vec<String>,
    /// Where GitHub points the pusher (`{html}/{owner}/{repo}/rules?ref=...`).
    pub review_url: String,
}

impl Violation {
    /// The remote's text, as `git push` prints it after `remote: `.
    pub fn message(&self) -> String {
        let mut text = format!(
            "GH013: Repository rule violations found for {}.\nReview all repository rules at {}\n",
            self.git_ref, self.review_url
        );
        for rule in &self.rules {
            text.push_str(&format!("\n- {rule}\n"));
        }
        text
    }
}

/// Whether `actor` may skip `ruleset` on a direct write: a bypass actor in mode `always` (the default)
/// naming an organization admin, a repository role they hold (GitHub's ids: 2 maintain, 4 write, 5
/// admin), a team they are in, or the App whose bot they are.
fn bypasses(world: &World, repo: &Repo, ruleset: &Ruleset, actor: u64) -> bool {
    let org_admin =
        world.membership(repo.owner_id, actor).is_some_and(|m| m.state == "active" && m.role == "admin");
    ruleset.bypass_actors.iter().any(|b| {
        if b["bypass_mode"].as_str().unwrap_or("always") != "always" {
            return false;
        }
        let id = b["actor_id"].as_u64();
        match b["actor_type"].as_str().unwrap_or_default() {
            "OrganizationAdmin" => org_admin,
            "RepositoryRole" => {
                let needed = match id {
                    Some(2) => Access::Maintain,
                    Some(4) => Access::Push,
                    Some(5) => Access::Admin,
                    _ => return false,
                };
                user_role(world, repo, actor) >= needed
            }
            "Team" => world.teams.iter().any(|t| {
                Some(t.id) == id && t.org_id == repo.owner_id && t.members.iter().any(|(u, _)| *u == actor)
            }),
            "Integration" => world.apps.iter().any(|a| Some(a.id) == id && a.bot_user_id == actor),
            _ => false,
        }
    })
}

/// GitHub's line for a `required_status_checks` rule on a commit that has no statuses yet.
fn checks_expected(rule: &Value) -> String {
    let checks: Vec<&str> = rule["parameters"]["required_status_checks"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["context"].as_str()).collect())
        .unwrap_or_default();
    match checks.as_slice() {
        [one] => format!("Required status check \"{one}\" is expected."),
        many => format!("{n} of {n} required status checks are expected.", n = many.len()),
    }
}

/// Why the active rulesets covering `branch` refuse `actor`'s `kind` of write, if they do. Permission
/// to write at all is the caller's to check first.
pub(crate) fn refused_update(
    world: &World,
    repo: &Repo,
    branch: &str,
    actor: u64,
    kind: UpdateKind,
) -> Option<Violation> {
    let exists = repo.branch(branch).is_some();
    let mut rules: Vec<String> = Vec::new();
    for (ruleset, _) in branch_rulesets(world, repo, branch) {
        if ruleset.enforcement != "active" || bypasses(world, repo, ruleset, actor) {
            continue;
        }
        for rule in &ruleset.rules {
            let line = match (rule["type"].as_str().unwrap_or_default(), kind, exists) {
                ("deletion", UpdateKind::Delete, true) => "Cannot delete this branch".to_string(),
                ("non_fast_forward", UpdateKind::ForcePush, true) => {
                    "Cannot force-push to this branch".to_string()
                }
                ("creation", UpdateKind::Push | UpdateKind::ForcePush, false) => {
                    "Cannot create ref due to creations being restricted.".to_string()
                }
                ("update", UpdateKind::Push | UpdateKind::ForcePush, true) => {
                    "Cannot update this protected ref.".to_string()
                }
                ("pull_request", UpdateKind::Push | UpdateKind::ForcePush, true) => {
                    "Changes must be made through a pull request.".to_string()
                }
                ("required_status_checks", UpdateKind::Push | UpdateKind::ForcePush, true) => {
                    checks_expected(rule)
                }
                _ => continue,
            };
            if !rules.contains(&line) {
                rules.push(line);
            }
        }
    }
    if rules.is_empty() {
        return None;
    }
    let git_ref = format!("refs/heads/{branch}");
    let encoded = git_ref.replace('/', "%2F");
    let review_url = format!("https://github.com/{}/rules?ref={encoded}", repo.full_name());
    Some(Violation { git_ref, rules, review_url })
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    pub git_ref: String,
    /// The branch head before (`None`: the push created it).
    pub before: Option<String>,
    /// The head after (`None`: the push deleted it).
    pub after: Option<String>,
    /// The `push` runs it queued.
    pub run_ids: Vec<u64>,
}

/// Why a push was refused, worded as GitHub's git server words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushRefused {
    /// The repository is invisible to the pusher (or does not exist): `Repository not found.`
    NotFound,
    /// Visible, but the pusher may not write: `Permission to acme/svc.git denied to bob.`
    Denied(String),
    /// Archived repositories take no pushes.
    Archived(String),
    /// `git push --delete` of a branch that does not exist.
    NoSuchRef(String),
    /// A ruleset refused the update.
    Rules(Violation),
}

impl PushRefused {
    pub fn message(&self) -> String {
        match self {
            PushRefused::NotFound => "Repository not found.".into(),
            PushRefused::Denied(m) | PushRefused::Archived(m) | PushRefused::NoSuchRef(m) => m.clone(),
            PushRefused::Rules(v) => v.message(),
        }
    }
}

impl Sim {
    /// `login` pushes a new commit to `branch` of `owner/repo` (creating it when missing), force-pushes,
    /// or deletes it. A new head queues a `push` run of each workflow with that trigger, as GitHub does.
    pub fn push(
        &self,
        owner: &str,
        repo: &str,
        login: &str,
        branch: &str,
        kind: UpdateKind,
    ) -> Result<Pushed, PushRefused> {
        let mut world = self.world();
        let i = world.repo_index(owner, repo).ok_or(PushRefused::NotFound)?;
        let actor = world.user_by_login(login).map(|u| (u.id, u.login.clone()));
        let r = &world.repos[i];
        let role = actor.as_ref().map_or(Access::None, |(id, _)| user_role(&world, r, *id));
        let visible = role > Access::None || !r.private;
        let (actor, login) = match actor {
            Some(a) if visible => a,
            _ => return Err(PushRefused::NotFound),
        };
        if role < Access::Push {
            return Err(PushRefused::Denied(format!(
                "Permission to {}.git denied to {login}.",
                r.full_name()
            )));
        }
        if r.archived {
            return Err(PushRefused::Archived(format!(
                "This repository was archived so it is read-only.\n{}.git",
                r.full_name()
            )));
        }
        if kind == UpdateKind::Delete && r.branch(branch).is_none() {
            return Err(PushRefused::NoSuchRef(format!(
                "unable to delete '{branch}': remote ref does not exist"
            )));
        }
        if let Some(violation) = refused_update(&world, r, branch, actor, kind) {
            return Err(PushRefused::Rules(violation));
        }
        let git_ref = format!("refs/heads/{branch}");
        let before = r.branch(branch).map(|b| b.sha.clone());
        if kind == UpdateKind::Delete {
            world.repos[i].branches.retain(|b| b.name != branch);
            return Ok(Pushed { git_ref, before, after: None, run_ids: Vec::new() });
        }
        let sha = random_hex(40);
        let at = now();
        let r = &mut world.repos[i];
        match r.branches.iter_mut().find(|b| b.name == branch) {
            Some(b) => b.sha = sha.clone(),
            None => {
                // A new branch starts from the default branch's files (as a branch pushed from a clone).
                let files = r.branch(&r.default_branch).map(|b| b.files.clone()).unwrap_or_default();
                r.branches.push(Branch { name: branch.to_string(), sha: sha.clone(), files })
            }
        }
        r.pushed_at = at;
        let pushes: Vec<Workflow> =
            r.workflows.iter().filter(|w| w.on.iter().any(|e| e == "push")).cloned().collect();
        let mut run_ids = Vec::new();
        for workflow in &pushes {
            let ids = (world.next_id(), world.next_id());
            world.repos[i].queue_run(ids, workflow, "push", &git_ref, &sha, actor, at);
            run_ids.push(ids.0);
        }
        Ok(Pushed { git_ref, before, after: Some(sha), run_ids })
    }
}

pub(crate) fn router() -> Router<Sim> {
    Router::new().route("/repos/{owner}/{repo}/push", post(push))
}

#[derive(Deserialize)]
struct PushRequest {
    login: String,
    branch: String,
    #[serde(default)]
    force: bool,
    #[serde(default)]
    delete: bool,
}

/// 200 with `{ref, before, after, run_ids}`, or the refusal as git shows it: 404 not found, 403 denied
/// (permission, archive or rules, with `rejected` as git prints it), 422 for deleting a missing ref.
async fn push(
    State(sim): State<Sim>,
    Path((owner, repo)): Path<(String, String)>,
    Json(p): Json<PushRequest>,
) -> Response {
    let kind = match (p.delete, p.force) {
        (true, _) => UpdateKind::Delete,
        (false, true) => UpdateKind::ForcePush,
        (false, false) => UpdateKind::Push,
    };
    match sim.push(&owner, &repo, &p.login, &p.branch, kind) {
        Ok(pushed) => Json(json!({
            "ref": pushed.git_ref, "before": pushed.before, "after": pushed.after, "run_ids": pushed.run_ids,
        }))
        .into_response(),
        Err(refused) => {
            let status = match &refused {
                PushRefused::NotFound => StatusCode::NOT_FOUND,
                PushRefused::NoSuchRef(_) => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::FORBIDDEN,
            };
            let rejected = matches!(refused, PushRefused::Rules(_)).then(|| {
                format!("{b} -> {b} (push declined due to repository rule violations)", b = p.branch)
            });
            (status, Json(json!({ "message": refused.message(), "rejected": rejected }))).into_response()
        }
    }
}
