//! `PUT /repos/{owner}/{repo}/contents/{path}`: create or update one file, one commit on the branch.
//!
//! GitHub's contract ("Create or update file contents"): `message` and `content` (base64) are required;
//! `branch` defaults to the default branch; updating an existing file needs its blob `sha` (missing: 422
//! `"sha" wasn't supplied`; stale: 409 `PATH does not match SHA`). 201 for a new file, 200 for an update,
//! both with the file and the commit. The commit is a push like any other: it fires `push` runs of the
//! workflows, unless its message asks GitHub Actions to skip them (`[skip ci]` and its spellings).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::{Extension, Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Sim;
use crate::access::{Access, find_writable_repo};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, Body};
use crate::model::{Workflow, World, now, random_hex, ts};

/// What GitHub Actions reads in a head commit's message as "no runs for this push"
/// ("Skipping workflow runs" in GitHub's Actions documentation).
const SKIP_MARKERS: [&str; 5] = ["[skip ci]", "[ci skip]", "[no ci]", "[skip actions]", "[actions skip]"];

pub(crate) fn router() -> Router<Sim> {
    Router::new().route("/repos/{owner}/{repo}/contents/{*path}", put(put_contents))
}

#[derive(Deserialize)]
struct PutRequest {
    message: Option<String>,
    content: Option<String>,
    sha: Option<String>,
    branch: Option<String>,
}

/// Makes one commit on `branch` of `world.repos[i]` whose tree is the branch's files after `change`,
/// moves the branch to it and queues the `push` runs GitHub would. Every commit the API makes goes
/// through here, so a check of the branch's rules belongs here too. Returns the new commit's sha.
pub(crate) fn commit(
    world: &mut World,
    i: usize,
    branch: &str,
    message: &str,
    actor: u64,
    change: impl FnOnce(&mut BTreeMap<String, String>),
) -> ApiResult<String> {
    let b = world.repos[i]
        .branches
        .iter()
        .position(|b| b.name == branch)
        .ok_or_else(|| ApiError::Basic(StatusCode::NOT_FOUND, format!("Branch {branch} not found")))?;
    let sha = random_hex(40);
    let at = now();
    {
        let r = &mut world.repos[i];
        change(&mut r.branches[b].files);
        r.branches[b].sha = sha.clone();
        r.api_commits += 1;
        r.pushed_at = at;
        r.updated_at = at;
    }
    let lowered = message.to_ascii_lowercase();
    if SKIP_MARKERS.iter().any(|m| lowered.contains(m)) {
        return Ok(sha);
    }
    let pushes: Vec<Workflow> =
        world.repos[i].workflows.iter().filter(|w| w.on.iter().any(|e| e == "push")).cloned().collect();
    let git_ref = format!("refs/heads/{branch}");
    for workflow in &pushes {
        let ids = (world.next_id(), world.next_id());
        world.repos[i].queue_run(ids, workflow, "push", &git_ref, &sha, actor, at);
    }
    Ok(sha)
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), path = %path))]
async fn put_contents(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, path)): Path<(String, String, String)>,
    Body(request): Body<PutRequest>,
) -> ApiResult<Response> {
    let caller = auth.require()?.clone();
    let message = request.message.ok_or_else(|| ApiError::missing_field("message"))?;
    let content = request.content.ok_or_else(|| ApiError::missing_field("content"))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(content.trim())
        .map_err(|_| ApiError::invalid("content is not valid Base64"))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| ApiError::invalid("github-sim stores text files only: content is not UTF-8"))?;
    let path = path.trim_matches('/').to_string();
    let mut world = sim.world();
    let i = find_writable_repo(&world, &owner, &repo, &auth, Access::Push)?;
    if !world.repos[i].content_landed {
        return Err(ApiError::empty_repository());
    }
    let r = &world.repos[i];
    let branch = request.branch.unwrap_or_else(|| r.default_branch.clone());
    let head = r
        .branch(&branch)
        .ok_or_else(|| ApiError::Basic(StatusCode::NOT_FOUND, format!("Branch {branch} not found")))?;
    let is_workflow = r.workflows.iter().any(|w| w.path == path);
    if is_workflow {
        // The sim generates workflow files from their spec; it cannot take a new text for one.
        return Err(ApiError::invalid("github-sim cannot replace a workflow file"));
    }
    let parent = head.sha.clone();
    let existing = head.files.get(&path).map(|c| crate::branches::blob_sha(c));
    match (&existing, request.sha.as_deref()) {
        (Some(_), None) => return Err(ApiError::missing_field("sha")),
        (Some(current), Some(given)) if current != given => {
            return Err(ApiError::conflict(format!("{path} does not match {given}")));
        }
        (None, Some(given)) => {
            return Err(ApiError::conflict(format!("{path} does not match {given}")));
        }
        _ => {}
    }
    // The branch's rulesets judge an API commit as they judge a push (GitHub answers the REST call
    // with a 409 listing the rules).
    if let Some(violation) = crate::push::refused_update(
        &world,
        &world.repos[i],
        &branch,
        caller.user_id,
        crate::push::UpdateKind::Push,
    ) {
        let mut message = "Repository rule violations found\n\n".to_string();
        for rule in &violation.rules {
            message.push_str(&format!("{rule}\n\n"));
        }
        return Err(ApiError::conflict(message));
    }
    let created = existing.is_none();
    let stored = text.clone();
    let file_path = path.clone();
    let sha = commit(&mut world, i, &branch, &message, caller.user_id, move |files| {
        files.insert(file_path, stored);
    })?;
    let r = &world.repos[i];
    let base = sim.base_url();
    let full = r.full_name();
    let login = world.user(caller.user_id).map_or("ghost", |u| u.login.as_str());
    let person =
        json!({ "name": login, "email": format!("{login}@users.noreply.github.com"), "date": ts(now()) });
    let tree = random_hex(40);
    let body = json!({
        "content": crate::branches::file_entry(base, r, &branch, &path, &text),
        "commit": {
            "sha": sha,
            "node_id": crate::json::node_id("C_", r.id),
            "url": format!("{base}/repos/{full}/git/commits/{sha}"),
            "html_url": format!("{base}/{full}/commit/{sha}"),
            "author": person,
            "committer": person,
            "message": message,
            "tree": { "sha": tree, "url": format!("{base}/repos/{full}/git/trees/{tree}") },
            "parents": [{
                "sha": parent,
                "url": format!("{base}/repos/{full}/git/commits/{parent}"),
                "html_url": format!("{base}/{full}/commit/{parent}"),
            }],
            "verification": { "verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null },
        },
    });
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json::<Value>(body)).into_response())
}

impl Sim {
    /// The text of `path` at the head of the default branch, if it is there (workflow files excepted).
    /// Panics on an unknown repository.
    pub fn file(&self, owner: &str, repo: &str, path: &str) -> Option<String> {
        let world = self.world();
        let i = world
            .repo_index(owner, repo)
            .unwrap_or_else(|| panic!("github-sim: unknown repo {owner}/{repo}"));
        let r = &world.repos[i];
        r.branch(&r.default_branch)?.files.get(path).cloned()
    }

    /// How many commits the API made on the repository's branches (the initial content not counted).
    /// Panics on an unknown repository.
    pub fn api_commits(&self, owner: &str, repo: &str) -> usize {
        let world = self.world();
        let i = world
            .repo_index(owner, repo)
            .unwrap_or_else(|| panic!("github-sim: unknown repo {owner}/{repo}"));
        world.repos[i].api_commits
    }

    /// Deletes `path` from the default branch in a commit of the repository's creator (as `git rm` and a
    /// push would). Panics on an unknown or empty repository.
    pub fn remove_file(&self, owner: &str, repo: &str, path: &str) {
        let mut world = self.world();
        let i = world
            .repo_index(owner, repo)
            .unwrap_or_else(|| panic!("github-sim: unknown repo {owner}/{repo}"));
        let (branch, actor) = (world.repos[i].default_branch.clone(), world.repos[i].creator);
        let path = path.to_string();
        commit(&mut world, i, &branch, &format!("Remove {path}"), actor, move |files| {
            files.remove(&path);
        })
        .expect("github-sim: the repository is empty");
    }
}
