//! Git objects as GitHub's REST schemas shape them: `commit` and `branch-with-protection`.
//! A repository in the sim has one commit per branch: the template's content, authored by whoever created
//! the repository.

use serde_json::{Value, json};

use super::{node_id, simple_user};
use crate::model::{Repo, World, ts};

/// `commit`: the repository's single (root) commit `sha`, unsigned, without parents.
pub(crate) fn commit(base: &str, world: &World, repo: &Repo, sha: &str) -> Value {
    let full = repo.full_name();
    let api = format!("{base}/repos/{full}");
    let creator = world.user(repo.creator);
    let git_user = json!({
        "name": creator.map_or("GitHub", |u| u.name.as_str()),
        "email": creator.map_or("noreply@github.com".to_string(), |u| format!("{}+{}@users.noreply.github.com", u.id, u.login)),
        "date": ts(repo.pushed_at),
    });
    let account = creator.map(|u| simple_user(base, &super::Account::user(u)));
    json!({
        "sha": sha,
        "node_id": node_id("C_", repo.id),
        "url": format!("{api}/commits/{sha}"),
        "html_url": format!("{base}/{full}/commit/{sha}"),
        "comments_url": format!("{api}/commits/{sha}/comments"),
        "commit": {
            "url": format!("{api}/git/commits/{sha}"),
            "author": git_user,
            "committer": git_user,
            "message": "Initial commit",
            "comment_count": 0,
            "tree": { "sha": sha, "url": format!("{api}/git/trees/{sha}") },
            "verification": {
                "verified": false, "reason": "unsigned", "payload": null, "signature": null, "verified_at": null,
            },
        },
        "author": account,
        "committer": account,
        "parents": [],
    })
}

/// `branch-with-protection` for an unprotected branch.
pub(crate) fn branch(base: &str, world: &World, repo: &Repo, name: &str, sha: &str) -> Value {
    let full = repo.full_name();
    json!({
        "name": name,
        "commit": commit(base, world, repo, sha),
        "_links": {
            "self": format!("{base}/repos/{full}/branches/{name}"),
            "html": format!("{base}/{full}/tree/{name}"),
        },
        "protected": false,
        "protection": {
            "enabled": false,
            "required_status_checks": { "enforcement_level": "off", "contexts": [], "checks": [] },
        },
        "protection_url": format!("{base}/repos/{full}/branches/{name}/protection"),
    })
}
