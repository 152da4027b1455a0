//! Branches, refs and contents. All of them answer 409 "Git Repository is empty." until a generated
//! repository's content has landed (GitHub copies template content asynchronously).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Sim;
use crate::access::{Access, find_repo, find_writable_repo};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, Body};
use crate::model::{glob, now};

pub(crate) fn router() -> Router<Sim> {
    Router::new()
        .route("/repos/{owner}/{repo}/branches", get(list_branches))
        .route("/repos/{owner}/{repo}/branches/{branch}", get(get_branch))
        .route("/repos/{owner}/{repo}/branches/{branch}/rename", post(rename_branch))
        .route("/repos/{owner}/{repo}/git/ref/heads/{branch}", get(get_ref))
        .route("/repos/{owner}/{repo}/contents/{*path}", get(get_contents))
}

/// The repository index, once its content exists.
fn find_with_content(world: &crate::model::World, owner: &str, repo: &str, auth: &Auth) -> ApiResult<usize> {
    let i = find_repo(world, owner, repo, auth, Access::Pull)?;
    if world.repos[i].content_landed { Ok(i) } else { Err(ApiError::empty_repository()) }
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}")))]
async fn list_branches(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo)): Path<(String, String)>,
) -> ApiResult<Json<Vec<Value>>> {
    let world = sim.world();
    let i = find_repo(&world, &owner, &repo, &auth, Access::Pull)?;
    let r = &world.repos[i];
    let full = r.full_name();
    let base = sim.base_url();
    let branches = r
        .branches
        .iter()
        .map(|b| {
            json!({
                "name": b.name,
                "commit": { "sha": b.sha, "url": format!("{base}/repos/{full}/commits/{}", b.sha) },
                "protected": r.branch_protections.iter().any(|rule| glob(rule, &b.name)),
            })
        })
        .collect();
    Ok(Json(branches))
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), branch = %branch))]
async fn get_branch(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, branch)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    let i = find_with_content(&world, &owner, &repo, &auth)?;
    let r = &world.repos[i];
    let b =
        r.branch(&branch).ok_or_else(|| ApiError::Basic(StatusCode::NOT_FOUND, "Branch not found".into()))?;
    Ok(Json(crate::json::branch(sim.base_url(), &world, r, &b.name, &b.sha)))
}

#[derive(Deserialize)]
struct RenameRequest {
    new_name: Option<String>,
}

/// Renaming the default branch needs admin rights and moves `default_branch`; runs keep their `head_branch`.
#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), branch = %branch))]
async fn rename_branch(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, branch)): Path<(String, String, String)>,
    Body(request): Body<RenameRequest>,
) -> ApiResult<Response> {
    auth.require()?;
    let new_name =
        request.new_name.filter(|n| !n.is_empty()).ok_or_else(|| ApiError::missing_field("new_name"))?;
    let mut world = sim.world();
    let i = find_writable_repo(&world, &owner, &repo, &auth, Access::Push)?;
    let is_default = world.repos[i].default_branch == branch;
    if is_default {
        find_repo(&world, &owner, &repo, &auth, Access::Admin)?;
    }
    let r = &mut world.repos[i];
    if !r.content_landed {
        return Err(ApiError::empty_repository());
    }
    if r.branch(&new_name).is_some() {
        return Err(ApiError::invalid(format!("Branch {new_name} already exists.")));
    }
    let b = r
        .branches
        .iter_mut()
        .find(|b| b.name == branch)
        .ok_or_else(|| ApiError::Basic(StatusCode::NOT_FOUND, "Branch not found".into()))?;
    b.name = new_name.clone();
    let sha = b.sha.clone();
    if is_default {
        r.default_branch = new_name.clone();
    }
    r.updated_at = now();
    let r = &world.repos[i];
    let body = crate::json::branch(sim.base_url(), &world, r, &new_name, &sha);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), branch = %branch))]
async fn get_ref(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, branch)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let world = sim.world();
    let i = find_with_content(&world, &owner, &repo, &auth)?;
    let r = &world.repos[i];
    let b = r.branch(&branch).ok_or_else(ApiError::not_found)?;
    let base = sim.base_url();
    let full = r.full_name();
    Ok(Json(json!({
        "ref": format!("refs/heads/{}", b.name),
        "node_id": crate::json::node_id("REF_", r.id),
        "url": format!("{base}/repos/{full}/git/refs/heads/{}", b.name),
        "object": { "sha": b.sha, "type": "commit", "url": format!("{base}/repos/{full}/git/commits/{}", b.sha) },
    })))
}

#[derive(Deserialize)]
struct ContentsQuery {
    /// A branch (or `refs/heads/B`); the default branch when absent.
    #[serde(rename = "ref")]
    git_ref: Option<String>,
}

/// A file of the branch (workflows as YAML, other files as committed) or a directory listing of the
/// paths under it; anything else is 404.
#[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{repo}"), path = %path))]
async fn get_contents(
    State(sim): State<Sim>,
    Extension(auth): Extension<Auth>,
    Path((owner, repo, path)): Path<(String, String, String)>,
    Query(query): Query<ContentsQuery>,
) -> ApiResult<Json<Value>> {
    use base64::Engine as _;
    let world = sim.world();
    let i = find_with_content(&world, &owner, &repo, &auth)?;
    let r = &world.repos[i];
    let base = sim.base_url();
    let path = path.trim_matches('/');
    let branch =
        query.git_ref.as_deref().map_or(r.default_branch.as_str(), |b| b.trim_start_matches("refs/heads/"));
    let head = r.branch(branch).ok_or_else(|| {
        ApiError::Basic(StatusCode::NOT_FOUND, format!("No commit found for the ref {branch}"))
    })?;
    let mut tree: Vec<(String, String)> =
        r.workflows.iter().map(|w| (w.path.clone(), workflow_yaml(w))).collect();
    tree.extend(head.files.iter().map(|(p, c)| (p.clone(), c.clone())));
    if let Some((p, text)) = tree.iter().find(|(p, _)| p == path) {
        let mut body = file_entry(base, r, branch, p, text);
        crate::json::merge(
            &mut body,
            json!({ "encoding": "base64", "content": base64::engine::general_purpose::STANDARD.encode(text) }),
        );
        return Ok(Json(body));
    }
    // A directory: its files and subdirectories, one entry each, as GitHub lists them.
    let prefix = format!("{path}/");
    let mut entries: Vec<Value> = Vec::new();
    let mut dirs: Vec<String> = Vec::new();
    for (p, text) in tree.iter().filter(|(p, _)| path.is_empty() || p.starts_with(&prefix)) {
        let rest = if path.is_empty() { p.as_str() } else { &p[prefix.len()..] };
        match rest.split_once('/') {
            None => entries.push(file_entry(base, r, branch, p, text)),
            Some((dir, _)) => {
                let dir = if path.is_empty() { dir.to_string() } else { format!("{path}/{dir}") };
                if !dirs.contains(&dir) {
                    dirs.push(dir);
                }
            }
        }
    }
    for dir in &dirs {
        let mut entry = file_entry(base, r, branch, dir, dir);
        crate::json::merge(&mut entry, json!({ "type": "dir", "size": 0, "download_url": null }));
        entries.push(entry);
    }
    if entries.is_empty() {
        return Err(ApiError::not_found());
    }
    Ok(Json(Value::Array(entries)))
}

/// One `content-file`-shaped entry of `path` on `branch` (without its content).
pub(crate) fn file_entry(base: &str, r: &crate::model::Repo, branch: &str, p: &str, content: &str) -> Value {
    let full = r.full_name();
    let name = p.rsplit('/').next().unwrap_or(p);
    let sha = blob_sha(content);
    let (url, git_url) =
        (format!("{base}/repos/{full}/contents/{p}"), format!("{base}/repos/{full}/git/blobs/{sha}"));
    let html_url = format!("{base}/{full}/blob/{branch}/{p}");
    json!({
        "type": "file", "name": name, "path": p, "size": content.len(), "sha": sha,
        "url": url, "git_url": git_url, "html_url": html_url,
        "download_url": format!("{base}/{full}/raw/{branch}/{p}"),
        "_links": { "self": url, "git": git_url, "html": html_url },
    })
}

/// A stable stand-in for git's blob id (40 hex digits derived from the content), so unchanged files keep
/// their `sha` and their ETag.
pub(crate) fn blob_sha(content: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(format!("blob {}\0{content}", content.len())))[..40].to_string()
}

/// A `permissions:` block at `indent`, or nothing when the workflow (or job) has no such key.
fn permissions_yaml(
    permissions: Option<&std::collections::BTreeMap<String, String>>,
    indent: &str,
) -> String {
    let Some(permissions) = permissions else { return String::new() };
    let scopes: String = permissions.iter().map(|(k, v)| format!("{indent}  {k}: {v}\n")).collect();
    format!("{indent}permissions:\n{scopes}")
}

/// A plausible workflow file: the triggers, an env block reading the secrets it uses and, for a job that pushes
/// an image, the configure-aws-credentials / ECR login / build-push steps that read them.
fn workflow_yaml(w: &crate::model::Workflow) -> String {
    let on: String = w.on.iter().map(|e| format!("  {e}:\n")).collect();
    let env: String = w.job.secrets.iter().map(|s| format!("      {s}: ${{{{ secrets.{s} }}}}\n")).collect();
    let environment =
        w.job.environment.as_ref().map(|e| format!("    environment: {e}\n")).unwrap_or_default();
    let push = w.job.aws_push.as_ref().map(|p| {
        format!(
            "      - uses: aws-actions/configure-aws-credentials@v4\n        with:\n          role-to-assume: ${{{{ secrets.{} }}}}\n          aws-region: ${{{{ secrets.{} }}}}\n      - uses: aws-actions/amazon-ecr-login@v2\n      - uses: docker/metadata-action@v5\n        id: meta\n        with:\n          images: ${{{{ secrets.{} }}}}\n          tags: |\n            type=sha,prefix=sha-\n            type=ref,event=branch\n            type=ref,event=tag\n      - uses: docker/build-push-action@v6\n        with:\n          push: true\n          tags: ${{{{ steps.meta.outputs.tags }}}}\n",
            p.role_secret, p.region_secret, p.repository_secret
        )
    });
    format!(
        "name: {}\non:\n{on}{}jobs:\n  build:\n    runs-on: ubuntu-latest\n{}{environment}    env:\n{env}    steps:\n      - uses: actions/checkout@v4\n{}",
        w.name,
        permissions_yaml(w.job.permissions.as_ref(), ""),
        permissions_yaml(w.job.job_permissions.as_ref(), "    "),
        push.unwrap_or_default()
    )
}
