//! Repositories in GitHub's three shapes: `minimal-repository` (nested in workflow runs), `repository`
//! (lists, `template_repository`) and `full-repository` (`GET /repos/{owner}/{repo}`, `/generate`).
//! Each shape is the previous one plus fields, as on api.github.com.

use serde_json::{Map, Value, json};

use super::{merge, node_id, owner, simple_user};
use crate::access::access;
use crate::auth::Auth;
use crate::model::{Repo, World, ts};

/// The hypermedia URL templates every repository shape carries, relative to the repository's API URL.
const URL_TEMPLATES: &[(&str, &str)] = &[
    ("archive_url", "/{archive_format}{/ref}"),
    ("assignees_url", "/assignees{/user}"),
    ("blobs_url", "/git/blobs{/sha}"),
    ("branches_url", "/branches{/branch}"),
    ("collaborators_url", "/collaborators{/collaborator}"),
    ("comments_url", "/comments{/number}"),
    ("commits_url", "/commits{/sha}"),
    ("compare_url", "/compare/{base}...{head}"),
    ("contents_url", "/contents/{+path}"),
    ("contributors_url", "/contributors"),
    ("deployments_url", "/deployments"),
    ("downloads_url", "/downloads"),
    ("events_url", "/events"),
    ("forks_url", "/forks"),
    ("git_commits_url", "/git/commits{/sha}"),
    ("git_refs_url", "/git/refs{/sha}"),
    ("git_tags_url", "/git/tags{/sha}"),
    ("hooks_url", "/hooks"),
    ("issue_comment_url", "/issues/comments{/number}"),
    ("issue_events_url", "/issues/events{/number}"),
    ("issues_url", "/issues{/number}"),
    ("keys_url", "/keys{/key_id}"),
    ("labels_url", "/labels{/name}"),
    ("languages_url", "/languages"),
    ("merges_url", "/merges"),
    ("milestones_url", "/milestones{/number}"),
    ("notifications_url", "/notifications{?since,all,participating}"),
    ("pulls_url", "/pulls{/number}"),
    ("releases_url", "/releases{/id}"),
    ("stargazers_url", "/stargazers"),
    ("statuses_url", "/statuses/{sha}"),
    ("subscribers_url", "/subscribers"),
    ("subscription_url", "/subscription"),
    ("tags_url", "/tags"),
    ("teams_url", "/teams"),
    ("trees_url", "/git/trees{/sha}"),
];

/// `minimal-repository`: identity, owner and the URL templates.
pub(crate) fn minimal_repo(base: &str, world: &World, repo: &Repo) -> Value {
    let full = repo.full_name();
    let api = format!("{base}/repos/{full}");
    let mut body = json!({
        "id": repo.id,
        "node_id": node_id("R_", repo.id),
        "name": repo.name,
        "full_name": full,
        "owner": owner(base, world, repo),
        "private": repo.private,
        "html_url": format!("{base}/{full}"),
        "description": repo.description,
        "fork": false,
        "url": api,
    });
    let urls: Map<String, Value> = URL_TEMPLATES
        .iter()
        .map(|(field, suffix)| (field.to_string(), json!(format!("{api}{suffix}"))))
        .collect();
    merge(&mut body, Value::Object(urls));
    body
}

/// `repository`: the minimal shape plus clone URLs, counters, flags and timestamps.
pub(crate) fn repository(base: &str, world: &World, repo: &Repo) -> Value {
    let full = repo.full_name();
    let host = base.split("://").nth(1).unwrap_or(base).split([':', '/']).next().unwrap_or("localhost");
    let mut body = minimal_repo(base, world, repo);
    merge(
        &mut body,
        json!({
            "git_url": format!("git://{host}/{full}.git"),
            "ssh_url": format!("git@{host}:{full}.git"),
            "clone_url": format!("{base}/{full}.git"),
            "svn_url": format!("{base}/{full}"),
            "mirror_url": null,
            "homepage": null,
            "language": null,
            "license": null,
            "forks_count": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "size": 0,
            "default_branch": repo.default_branch,
            "open_issues_count": 0,
            "is_template": repo.is_template,
            "topics": repo.topics,
            "has_issues": true,
            "has_projects": true,
            "has_wiki": true,
            "has_pages": false,
            "has_downloads": true,
            "has_discussions": false,
            "archived": repo.archived,
            "disabled": false,
            "visibility": repo.visibility,
            "pushed_at": ts(repo.pushed_at),
            "created_at": ts(repo.created_at),
            "updated_at": ts(repo.updated_at),
            "allow_forking": true,
            "web_commit_signoff_required": false,
            "forks": 0,
            "open_issues": 0,
            "watchers": 0,
        }),
    );
    body
}

/// The caller's rights, as GitHub adds them for authenticated callers.
fn permissions(world: &World, repo: &Repo, auth: &Auth) -> Value {
    access(world, repo, auth).permissions_json()
}

/// A `repository` in a list (`GET /orgs/{org}/repos`), with the caller's `permissions`.
pub(crate) fn repo_in_list(base: &str, world: &World, repo: &Repo, auth: &Auth) -> Value {
    let mut body = repository(base, world, repo);
    merge(&mut body, json!({ "permissions": permissions(world, repo, auth) }));
    body
}

/// `full-repository`, with `permissions` for the caller, the template as a nested `repository`, and the
/// owning organization when there is one.
pub(crate) fn full_repo(base: &str, world: &World, repo: &Repo, auth: &Auth) -> Value {
    let mut body = repo_in_list(base, world, repo, auth);
    let template = repo.template_id.and_then(|id| world.repo_by_id(id)).map(|t| repository(base, world, t));
    let organization =
        world.orgs.iter().find(|o| o.id == repo.owner_id).map(|o| simple_user(base, &super::Account::org(o)));
    merge(
        &mut body,
        json!({
            "template_repository": template,
            "network_count": 0,
            "subscribers_count": 0,
            "allow_merge_commit": true,
            "allow_squash_merge": true,
            "allow_rebase_merge": true,
            "allow_auto_merge": false,
            "delete_branch_on_merge": false,
            "allow_update_branch": false,
        }),
    );
    if let Some(organization) = organization {
        merge(&mut body, json!({ "organization": organization }));
    }
    // GitHub shows `security_and_analysis` only to those with admin rights on the repository.
    if access(world, repo, auth) >= crate::access::Access::Admin {
        merge(&mut body, json!({ "security_and_analysis": security_and_analysis(repo) }));
    }
    body
}

/// `security-and-analysis`: each feature's `status`.
fn security_and_analysis(repo: &Repo) -> Value {
    let status = |on: bool| json!({ "status": if on { "enabled" } else { "disabled" } });
    let s = &repo.security;
    json!({
        "secret_scanning": status(s.secret_scanning),
        "secret_scanning_push_protection": status(s.push_protection),
        "dependabot_security_updates": status(s.automated_security_fixes),
    })
}
