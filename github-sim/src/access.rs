//! Who may do what to a repository, the way GitHub decides it for OAuth-app tokens and classic PATs.
//!
//! Org admins and a repository's creator have admin rights; other *active* org members can push (GitHub's
//! default "members can create repositories" setup); pending members and outsiders see only public
//! repositories. A private repository is invisible (404, never 403) without the `repo` scope; writing to a
//! public one needs `public_repo` (covered by `repo`).

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::model::{Repo, World};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Access {
    None,
    Pull,
    Push,
    Admin,
}

pub(crate) fn access(world: &World, repo: &Repo, auth: &Auth) -> Access {
    let role = match &auth.0 {
        None => Access::None,
        Some(caller) if caller.user_id == repo.owner_id => Access::Admin,
        // An installation token reaches every repository of its account ("all repositories" selected);
        // what it may do there was decided by its permissions before the handler ran.
        Some(caller) if caller.installed_on(repo.owner_id) => Access::Admin,
        Some(caller) => match world.membership(repo.owner_id, caller.user_id) {
            Some(m)
                if m.state == "active" && (m.role == "admin" || repo.admins.contains(&caller.user_id)) =>
            {
                Access::Admin
            }
            Some(m) if m.state == "active" => Access::Push,
            _ => Access::None,
        },
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
