//! JSON shapes of users, organizations and repositories, as GitHub's REST schemas define them
//! (`simple-user`, `private-user`, `organization-simple`, `full-repository`). URL fields point at the sim:
//! API URLs at `{base}/...`, web URLs at `{base}/{login}` etc., so clients never need to build URLs.

use serde_json::{Value, json};

use crate::access::{Access, access};
use crate::auth::Auth;
use crate::model::{Org, Repo, User, World, ts};

/// An account for rendering: users and organizations share the `simple-user` shape.
pub(crate) struct Account<'a> {
    pub id: u64,
    pub login: &'a str,
    pub kind: &'a str,
}

impl<'a> Account<'a> {
    pub fn user(user: &'a User) -> Self {
        Account { id: user.id, login: &user.login, kind: "User" }
    }

    pub fn org(org: &'a Org) -> Self {
        Account { id: org.id, login: &org.login, kind: "Organization" }
    }
}

pub(crate) fn node_id(prefix: &str, id: u64) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(format!("{prefix}{id}"))
}

/// `simple-user`: every field octocrab's `Author` requires.
pub(crate) fn simple_user(base: &str, account: &Account) -> Value {
    let (login, id) = (account.login, account.id);
    let api = format!("{base}/users/{login}");
    json!({
        "login": login,
        "id": id,
        "node_id": node_id(if account.kind == "User" { "U_" } else { "O_" }, id),
        "avatar_url": format!("{base}/avatars/u/{id}?v=4"),
        "gravatar_id": "",
        "url": api,
        "html_url": format!("{base}/{login}"),
        "followers_url": format!("{api}/followers"),
        "following_url": format!("{api}/following{{/other_user}}"),
        "gists_url": format!("{api}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/subscriptions"),
        "organizations_url": format!("{api}/orgs"),
        "repos_url": format!("{api}/repos"),
        "events_url": format!("{api}/events{{/privacy}}"),
        "received_events_url": format!("{api}/received_events"),
        "type": account.kind,
        "user_view_type": "public",
        "site_admin": false,
    })
}

/// `private-user` (GET /user) or `public-user` (GET /users/{login}).
pub(crate) fn full_user(base: &str, world: &World, user: &User, private: bool) -> Value {
    let mut body = simple_user(base, &Account::user(user));
    let public_repos = world.repos.iter().filter(|r| r.owner_id == user.id && !r.private).count();
    let extra = json!({
        "name": user.name,
        "company": null,
        "blog": "",
        "location": null,
        "email": null,
        "hireable": null,
        "bio": null,
        "twitter_username": null,
        "public_repos": public_repos,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "created_at": ts(user.created_at),
        "updated_at": ts(user.created_at),
    });
    merge(&mut body, extra);
    if private {
        let owned_private = world.repos.iter().filter(|r| r.owner_id == user.id && r.private).count();
        merge(
            &mut body,
            json!({
                "user_view_type": "private",
                "private_gists": 0,
                "total_private_repos": owned_private,
                "owned_private_repos": owned_private,
                "disk_usage": 0,
                "collaborators": 0,
                "two_factor_authentication": true,
                "plan": { "name": "free", "space": 976562499, "private_repos": 10000, "collaborators": 0 },
            }),
        );
    }
    body
}

/// `organization-simple` (+ `name`/`html_url`, as `GET /orgs/{org}` adds).
pub(crate) fn org(base: &str, org: &Org) -> Value {
    let login = &org.login;
    let api = format!("{base}/orgs/{login}");
    json!({
        "login": login,
        "id": org.id,
        "node_id": node_id("O_", org.id),
        "url": api,
        "repos_url": format!("{api}/repos"),
        "events_url": format!("{api}/events"),
        "hooks_url": format!("{api}/hooks"),
        "issues_url": format!("{api}/issues"),
        "members_url": format!("{api}/members{{/member}}"),
        "public_members_url": format!("{api}/public_members{{/member}}"),
        "avatar_url": format!("{base}/avatars/u/{}?v=4", org.id),
        "description": null,
        "name": org.name,
        "html_url": format!("{base}/{login}"),
        "created_at": ts(org.created_at),
        "type": "Organization",
    })
}

/// The owner of a repository as `simple-user`.
pub(crate) fn owner(base: &str, world: &World, repo: &Repo) -> Value {
    let account = world
        .orgs
        .iter()
        .find(|o| o.id == repo.owner_id)
        .map(Account::org)
        .or_else(|| world.user(repo.owner_id).map(Account::user))
        .unwrap_or(Account { id: repo.owner_id, login: &repo.owner_login, kind: "User" });
    simple_user(base, &account)
}

/// `full-repository`, with `permissions` for the caller and the template as a nested repository.
pub(crate) fn repo(base: &str, world: &World, repo: &Repo, auth: &Auth) -> Value {
    let mut body = repo_core(base, world, repo);
    let level = access(world, repo, auth);
    merge(
        &mut body,
        json!({
            "permissions": {
                "admin": level >= Access::Admin,
                "maintain": level >= Access::Admin,
                "push": level >= Access::Push,
                "triage": level >= Access::Push,
                "pull": level >= Access::Pull,
            },
            "template_repository": repo.template_id.and_then(|id| world.repo_by_id(id)).map(|t| repo_core(base, world, t)),
            "network_count": 0,
            "subscribers_count": 0,
        }),
    );
    body
}

fn repo_core(base: &str, world: &World, repo: &Repo) -> Value {
    let full = repo.full_name();
    let api = format!("{base}/repos/{full}");
    let host = base.split("://").nth(1).unwrap_or(base).split([':', '/']).next().unwrap_or("localhost");
    let u = |suffix: &str| format!("{api}{suffix}");
    json!({
        "id": repo.id,
        "node_id": node_id("R_", repo.id),
        "name": repo.name,
        "full_name": full,
        "owner": owner(base, world, repo),
        "private": repo.private,
        "visibility": repo.visibility,
        "html_url": format!("{base}/{full}"),
        "description": repo.description,
        "fork": false,
        "url": api,
        "archive_url": u("/{archive_format}{/ref}"),
        "branches_url": u("/branches{/branch}"),
        "collaborators_url": u("/collaborators{/collaborator}"),
        "commits_url": u("/commits{/sha}"),
        "contents_url": u("/contents/{+path}"),
        "deployments_url": u("/deployments"),
        "events_url": u("/events"),
        "git_refs_url": u("/git/refs{/sha}"),
        "hooks_url": u("/hooks"),
        "issues_url": u("/issues{/number}"),
        "pulls_url": u("/pulls{/number}"),
        "git_url": format!("git://{host}/{full}.git"),
        "ssh_url": format!("git@{host}:{full}.git"),
        "clone_url": format!("{base}/{full}.git"),
        "svn_url": format!("{base}/{full}"),
        "homepage": null,
        "language": null,
        "forks_count": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "size": 0,
        "default_branch": repo.default_branch,
        "open_issues_count": 0,
        "is_template": repo.is_template,
        "topics": [],
        "has_issues": true,
        "has_projects": true,
        "has_wiki": true,
        "has_pages": false,
        "has_downloads": true,
        "has_discussions": false,
        "archived": repo.archived,
        "disabled": false,
        "pushed_at": ts(repo.pushed_at),
        "created_at": ts(repo.created_at),
        "updated_at": ts(repo.updated_at),
        "allow_forking": true,
        "web_commit_signoff_required": false,
        "forks": 0,
        "open_issues": 0,
        "watchers": 0,
    })
}

/// Shallow merge of `extra`'s keys into `body`.
pub(crate) fn merge(body: &mut Value, extra: Value) {
    if let (Value::Object(target), Value::Object(source)) = (body, extra) {
        target.extend(source);
    }
}
