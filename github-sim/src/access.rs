//! Who may do what to a repository, the way GitHub decides it for OAuth-app tokens and classic PATs.
//!
//! A person's role on a repository is the highest of: the organization's base permission (for *active*
//! members), the grants of the teams they are in, their direct collaborator grant, and admin for org
//! owners and the repository's creator (GitHub makes the creator an admin). Pending members and outsiders
//! without a grant see only public repositories. A private repository is invisible (404, never 403) without the `repo` scope; writing to a
//! public one needs `public_repo` (covered by `repo`).

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::model::{Repo, World};

/// GitHub's repository roles, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Access {
    None,
    Pull,
    Triage,
    Push,
    Maintain,
    Admin,
}

impl Access {
    /// A grant's permission as the team and collaborator APIs name it: `pull`, `triage`, `push`,
    /// `maintain`, `admin`.
    pub fn from_grant(permission: &str) -> Option<Access> {
        Some(match permission {
            "pull" => Access::Pull,
            "triage" => Access::Triage,
            "push" => Access::Push,
            "maintain" => Access::Maintain,
            "admin" => Access::Admin,
            _ => return None,
        })
    }

    /// An organization's base permission (`default_repository_permission`): `none`, `read`, `write`, `admin`.
    pub fn from_base(permission: &str) -> Access {
        match permission {
            "read" => Access::Pull,
            "write" => Access::Push,
            "admin" => Access::Admin,
            _ => Access::None,
        }
    }

    /// The grant name (`pull` ... `admin`; `none` for no access).
    pub fn grant_name(self) -> &'static str {
        match self {
            Access::None => "none",
            Access::Pull => "pull",
            Access::Triage => "triage",
            Access::Push => "push",
            Access::Maintain => "maintain",
            Access::Admin => "admin",
        }
    }

    /// `role_name` as GitHub shows it: `read`, `triage`, `write`, `maintain`, `admin` (`none`).
    pub fn role_name(self) -> &'static str {
        match self {
            Access::None => "none",
            Access::Pull => "read",
            Access::Triage => "triage",
            Access::Push => "write",
            Access::Maintain => "maintain",
            Access::Admin => "admin",
        }
    }

    /// The legacy `permission` of `GET .../collaborators/{username}/permission`: `admin`, `write`, `read`
    /// or `none` (maintain shows as `write`, triage as `read`).
    pub fn legacy_name(self) -> &'static str {
        match self {
            Access::None => "none",
            Access::Pull | Access::Triage => "read",
            Access::Push | Access::Maintain => "write",
            Access::Admin => "admin",
        }
    }

    /// The `permissions` object repositories and collaborators carry.
    pub fn permissions_json(self) -> serde_json::Value {
        serde_json::json!({
            "admin": self >= Access::Admin,
            "maintain": self >= Access::Maintain,
            "push": self >= Access::Push,
            "triage": self >= Access::Triage,
            "pull": self >= Access::Pull,
        })
    }
}

/// A person's role on `repo`, before token scopes: see the module doc.
pub(crate) fn user_role(world: &World, repo: &Repo, user_id: u64) -> Access {
    if user_id == repo.owner_id {
        return Access::Admin;
    }
    let direct = repo.collaborators.get(&user_id).and_then(|p| Access::from_grant(p)).unwrap_or(Access::None);
    let Some(org) = world.orgs.iter().find(|o| o.id == repo.owner_id) else { return direct };
    match world.membership(org.id, user_id) {
        Some(m) if m.state == "active" && (m.role == "admin" || repo.admins.contains(&user_id)) => {
            Access::Admin
        }
        Some(m) if m.state == "active" => {
            let teams = world
                .teams
                .iter()
                .filter(|t| t.org_id == org.id && t.members.iter().any(|(id, _)| *id == user_id))
                .filter_map(|t| t.repos.get(&repo.id).and_then(|p| Access::from_grant(p)))
                .max()
                .unwrap_or(Access::None);
            direct.max(teams).max(Access::from_base(&org.default_repository_permission))
        }
        _ => direct,
    }
}

pub(crate) fn access(world: &World, repo: &Repo, auth: &Auth) -> Access {
    let role = match &auth.0 {
        None => Access::None,
        // An installation token reaches every repository of its account ("all repositories" selected);
        // what it may do there was decided by its permissions before the handler ran.
        Some(caller) if caller.installed_on(repo.owner_id) => Access::Admin,
        Some(caller) => user_role(world, repo, caller.user_id),
    };
    if repo.private {
        if auth.has_scope("repo") { role } else { Access::None }
    } else if auth.has_scope("public_repo") {
        role.max(Access::Pull)
    } else {
        Access::Pull
    }
}

/// Finds a repository the caller can see with at least `needed` rights.
/// Invisible → 404; visible but not enough rights → 403.
pub(crate) fn find_repo(
    world: &World,
    owner: &str,
    name: &str,
    auth: &Auth,
    needed: Access,
) -> ApiResult<usize> {
    let index = world.repo_index(owner, name).ok_or_else(ApiError::not_found)?;
    let have = access(world, &world.repos[index], auth);
    if have == Access::None {
        return Err(ApiError::not_found());
    }
    if have < needed {
        return Err(match needed {
            Access::Admin => ApiError::admin_required(),
            _ => ApiError::forbidden("Resource not accessible by personal access token"),
        });
    }
    Ok(index)
}

/// Like [`find_repo`] for writes: also refuses archived repositories.
pub(crate) fn find_writable_repo(
    world: &World,
    owner: &str,
    name: &str,
    auth: &Auth,
    needed: Access,
) -> ApiResult<usize> {
    let index = find_repo(world, owner, name, auth, needed)?;
    if world.repos[index].archived {
        return Err(ApiError::archived());
    }
    Ok(index)
}
