//! JSON shapes of users, organizations and repositories, as GitHub's REST schemas define them
//! (`simple-user`, `private-user`/`public-user`, `organization-simple`/`organization-full`; repositories in
//! [`repo`], GitHub Apps and their installations in [`app`]). `tests/openapi.rs` validates them against
//! GitHub's OpenAPI description. URL fields point at the sim: API URLs at `{base}/...`, web URLs at
//! `{base}/{login}` etc., so clients never need to build URLs.

use serde_json::{Value, json};

use crate::model::{Org, Repo, User, World, ts};

mod app;
mod git;
mod repo;
mod team;

pub(crate) use app::{installation, integration};
pub(crate) use git::branch;
pub(crate) use repo::{full_repo, minimal_repo, repo_in_list, repository};
pub(crate) use team::{collaborator, team, team_full, team_membership, team_repository};

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
    let mut body = public_account(base, world, &Account::user(user), Some(&user.name), user.created_at);
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

/// `public-user`: what `GET /users/{login}` shows of a user, and of an organization (with
/// `"type": "Organization"`), as GitHub answers both on that route.
pub(crate) fn public_account(
    base: &str,
    world: &World,
    account: &Account,
    name: Option<&str>,
    created_at: time::OffsetDateTime,
) -> Value {
    let mut body = simple_user(base, account);
    let public_repos = world.repos.iter().filter(|r| r.owner_id == account.id && !r.private).count();
    merge(
        &mut body,
        json!({
            "name": name,
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
            "created_at": ts(created_at),
            "updated_at": ts(created_at),
        }),
    );
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

/// What of an organization's settings a caller may see on `GET /orgs/{org}`.
#[derive(Clone, Copy, Default)]
pub(crate) struct OrgDetails {
    /// Owner-only settings (`default_repository_permission`, private repository counts, ...).
    pub settings: bool,
    /// `plan`.
    pub plan: bool,
}

/// `organization-full` (GET /orgs/{org}): the simple shape plus counts and settings anyone may see, and
/// the owner-only settings and plan when `details` says the caller may see them.
pub(crate) fn org_full(base: &str, world: &World, org: &Org, details: OrgDetails) -> Value {
    let mut body = crate::json::org(base, org);
    let public_repos = world.repos.iter().filter(|r| r.owner_id == org.id && !r.private).count();
    // The schema types `company`, `email` and `location` as non-null strings: unset ones are left out.
    merge(
        &mut body,
        json!({
            "blog": "",
            "twitter_username": null,
            "is_verified": false,
            "has_organization_projects": true,
            "has_repository_projects": true,
            "public_repos": public_repos,
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "updated_at": ts(org.created_at),
            "archived_at": null,
        }),
    );
    if details.settings {
        let private = world.repos.iter().filter(|r| r.owner_id == org.id && r.private).count();
        merge(
            &mut body,
            json!({
                "default_repository_permission": org.default_repository_permission,
                "members_can_create_repositories": true,
                "two_factor_requirement_enabled": false,
                "total_private_repos": private,
                "owned_private_repos": private,
                "collaborators": 0,
                "billing_email": null,
            }),
        );
    }
    if details.plan {
        let seats = org.members.iter().filter(|m| m.state == "active").count();
        let plan = json!({
            "name": org.plan,
            "space": 976562499,
            "private_repos": 999999,
            "filled_seats": seats,
            "seats": if org.plan == "free" { 0 } else { seats },
        });
        merge(&mut body, json!({ "plan": plan }));
    }
    body
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

/// Shallow merge of `extra`'s keys into `body`.
pub(crate) fn merge(body: &mut Value, extra: Value) {
    if let (Value::Object(target), Value::Object(source)) = (body, extra) {
        target.extend(source);
    }
}
