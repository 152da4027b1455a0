//! Teams and collaborators as GitHub's REST schemas shape them: `team` (in lists, with a repository's
//! grant when listed for one), `team-full`, `team-membership`, `team-repository` and `collaborator`.

use serde_json::{Value, json};

use super::{Account, OrgDetails, merge, node_id, org_full, simple_user};
use crate::access::Access;
use crate::model::{Org, Repo, Team, User, World, ts};

/// `team`; `grant` is the team's role on the repository it is listed for (`GET /repos/{o}/{r}/teams`),
/// else its default `pull`.
pub(crate) fn team(base: &str, org: &Org, team: &Team, grant: Option<Access>) -> Value {
    let api = format!("{base}/orgs/{}/teams/{}", org.login, team.slug);
    let mut body = json!({
        "id": team.id,
        "node_id": node_id("T_", team.id),
        "url": api,
        "html_url": format!("{base}/orgs/{}/teams/{}", org.login, team.slug),
        "name": team.name,
        "slug": team.slug,
        "description": team.description,
        "privacy": "closed",
        "notification_setting": "notifications_enabled",
        "permission": grant.unwrap_or(Access::Pull).grant_name(),
        "members_url": format!("{api}/members{{/member}}"),
        "repositories_url": format!("{api}/repos"),
        "parent": null,
        "type": "organization",
        "organization_id": org.id,
    });
    if let Some(grant) = grant {
        merge(&mut body, json!({ "permissions": grant.permissions_json() }));
    }
    body
}

/// `team-full`: the team with its counts and organization.
pub(crate) fn team_full(base: &str, world: &World, org: &Org, t: &Team) -> Value {
    let mut body = team(base, org, t, None);
    let repos = t.repos.keys().filter(|id| world.repo_by_id(**id).is_some()).count();
    merge(
        &mut body,
        json!({
            "members_count": t.members.len(),
            "repos_count": repos,
            "created_at": ts(t.created_at),
            "updated_at": ts(t.created_at),
            "organization": org_full(base, world, org, OrgDetails::default()),
        }),
    );
    body
}

/// `team-membership` of `user` (role `member` or `maintainer`; seeded members are active).
pub(crate) fn team_membership(base: &str, org: &Org, t: &Team, user: &User, role: &str) -> Value {
    json!({
        "url": format!("{base}/orgs/{}/teams/{}/memberships/{}", org.login, t.slug, user.login),
        "role": role,
        "state": "active",
    })
}

/// `collaborator`: the user with their `permissions` and `role_name` on a repository.
pub(crate) fn collaborator(base: &str, user: &User, role: Access) -> Value {
    let mut body = simple_user(base, &Account::user(user));
    merge(&mut body, json!({ "permissions": role.permissions_json(), "role_name": role.role_name() }));
    body
}

/// `team-repository`: the repository with the team's `permissions` and `role_name` on it.
pub(crate) fn team_repository(base: &str, world: &World, repo: &Repo, grant: Access) -> Value {
    let mut body = super::repo::repository(base, world, repo);
    merge(&mut body, json!({ "permissions": grant.permissions_json(), "role_name": grant.role_name() }));
    body
}
