//! What each call needs of a GitHub App installation token, so every token Shipyard mints carries
//! only that: the one repository the call acts on and the one or two fine-grained permissions GitHub
//! requires for it ("Permissions required for GitHub Apps" in GitHub's REST reference).
//!
//! A token minted with no body holds every permission of the installation on every repository of the
//! organization (security review N8): a bug or a stolen token could then delete any repository or
//! rewrite another team's secrets. A token minted for `PUT .../actions/secrets/...` on `payments`
//! holds `secrets: write` on `payments` and nothing else; GitHub refuses it anything more (another
//! repository is a 404, another permission a 403).
//!
//! Calls are known by the name they are sent under (`github:put_secret`); a call with no row here is
//! refused before it leaves, so a new call cannot silently run with a wide token.

use super::classify::error;
use crate::provider::{ErrorKind, ProviderError};

/// Where a call's token may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// Only the repository the request path names.
    Repository,
    /// Every repository: creating a repository (which does not exist yet) and organization calls.
    Organization,
}

use Reach::{Organization, Repository};

/// Fine-grained permissions and their levels (`("secrets", "write")`).
type Permissions = &'static [(&'static str, &'static str)];

/// `(call, reach, permissions)`: one row per call Shipyard makes with the App's installation token.
/// GitHub always adds `metadata: read`.
const NEEDS: &[(&str, Reach, Permissions)] = &[
    ("github:get_repo", Repository, &[("metadata", "read")]),
    // The repository does not exist until GitHub has made it, so the token cannot name it.
    ("github:generate", Organization, &[("administration", "write")]),
    ("github:set_visibility", Repository, &[("administration", "write")]),
    ("github:archive_repo", Repository, &[("administration", "write")]),
    ("github:delete_repo", Repository, &[("administration", "write")]),
    ("github:rename_branch", Repository, &[("administration", "write")]),
    ("github:get_branch", Repository, &[("contents", "read")]),
    ("github:oidc_sub", Repository, &[("actions", "read")]),
    ("github:secret_public_key", Repository, &[("secrets", "read")]),
    ("github:list_secrets", Repository, &[("secrets", "read")]),
    ("github:put_secret", Repository, &[("secrets", "write")]),
    ("github:delete_secret", Repository, &[("secrets", "write")]),
    ("github:list_runs", Repository, &[("actions", "read")]),
    ("github:get_run", Repository, &[("actions", "read")]),
    ("github:list_workflows", Repository, &[("actions", "read")]),
    ("github:list_jobs", Repository, &[("actions", "read")]),
    ("github:job_logs", Repository, &[("actions", "read")]),
    ("github:rerun_failed_jobs", Repository, &[("actions", "write")]),
    ("github:dispatch_workflow", Repository, &[("actions", "write")]),
    ("github:put_environment", Repository, &[("administration", "write")]),
    ("github:create_deployment_branch_policy", Repository, &[("administration", "write")]),
    ("github:environment_public_key", Repository, &[("environments", "read")]),
    ("github:list_environment_secrets", Repository, &[("environments", "read")]),
    ("github:put_environment_secret", Repository, &[("environments", "write")]),
    ("github:delete_environment_secret", Repository, &[("environments", "write")]),
    ("github:list_hooks", Repository, &[("repository_hooks", "read")]),
    ("github:create_hook", Repository, &[("repository_hooks", "write")]),
    ("github:update_hook", Repository, &[("repository_hooks", "write")]),
    ("github:delete_hook", Repository, &[("repository_hooks", "write")]),
    ("github:member_of", Organization, &[("members", "read")]),
    // The owning team: the organization's teams are read organization-wide; a grant names the repository.
    ("github:list_teams", Organization, &[("members", "read")]),
    ("github:get_team", Organization, &[("members", "read")]),
    ("github:team_membership", Organization, &[("members", "read")]),
    ("github:grant_team", Repository, &[("administration", "write")]),
    ("github:remove_team", Repository, &[("administration", "write")]),
    ("github:list_repo_teams", Repository, &[("metadata", "read")]),
    // The default branch's ruleset.
    ("github:branch_rules", Repository, &[("metadata", "read")]),
    ("github:list_rulesets", Repository, &[("administration", "read")]),
    ("github:get_ruleset", Repository, &[("administration", "read")]),
    ("github:create_ruleset", Repository, &[("administration", "write")]),
    ("github:update_ruleset", Repository, &[("administration", "write")]),
    // Ownership files and the security baseline.
    ("github:get_file", Repository, &[("contents", "read")]),
    ("github:create_file", Repository, &[("contents", "write")]),
    ("github:security_and_analysis", Repository, &[("administration", "write")]),
    ("github:vulnerability_alerts", Repository, &[("administration", "read")]),
    ("github:enable_vulnerability_alerts", Repository, &[("administration", "write")]),
    ("github:automated_security_fixes", Repository, &[("administration", "read")]),
    ("github:enable_automated_security_fixes", Repository, &[("administration", "write")]),
    ("github:replace_topics", Repository, &[("administration", "write")]),
    // An environment role's environment and its deployment rules.
    ("github:get_environment", Repository, &[("actions", "read")]),
    ("github:list_deployment_branch_policies", Repository, &[("actions", "read")]),
];

/// The repository a token is limited to: by name from a `/repos/{org}/{name}` path, or by id from a
/// `/repositories/{id}` one (GitHub then follows the repository across renames).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum TokenRepository {
    Name(String),
    Id(u64),
}

/// What one installation token is minted for; tokens are cached per scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct TokenScope {
    pub repository: Option<TokenRepository>,
    pub permissions: &'static [(&'static str, &'static str)],
}

impl TokenScope {
    /// The scope of the call `what` to `path` on behalf of the installation on `org`.
    pub fn of(what: &str, org: &str, path: &str) -> Result<Self, ProviderError> {
        let (_, reach, permissions) = NEEDS.iter().find(|(call, ..)| *call == what).ok_or_else(|| {
            error(
                ErrorKind::Other,
                format!("internal: Shipyard declares no GitHub App permission for {what}; it is not sent"),
            )
        })?;
        let repository = match reach {
            Organization => None,
            Repository => Some(repository_of(org, path).ok_or_else(|| {
                error(ErrorKind::Other, format!("internal: {what} names no repository of {org}"))
            })?),
        };
        Ok(Self { repository, permissions })
    }

    /// The body of `POST /app/installations/{id}/access_tokens` for this scope.
    pub fn request_body(&self) -> serde_json::Value {
        let permissions: serde_json::Map<String, serde_json::Value> =
            self.permissions.iter().map(|(name, level)| ((*name).to_owned(), (*level).into())).collect();
        let mut body = serde_json::json!({ "permissions": permissions });
        match &self.repository {
            Some(TokenRepository::Name(name)) => body["repositories"] = serde_json::json!([name]),
            Some(TokenRepository::Id(id)) => body["repository_ids"] = serde_json::json!([id]),
            None => {}
        }
        body
    }
}

/// The repository of the organization a request path acts on.
fn repository_of(org: &str, path: &str) -> Option<TokenRepository> {
    let path = path.split('?').next().unwrap_or(path);
    let mut segments = path.trim_start_matches('/').split('/');
    match (segments.next()?, segments.next()?, segments.next()) {
        ("repos", owner, Some(name)) if owner.eq_ignore_ascii_case(org) && !name.is_empty() => {
            Some(TokenRepository::Name(name.to_owned()))
        }
        ("repositories", id, _) => id.parse().ok().map(TokenRepository::Id),
        // `/orgs/{org}/teams/{slug}/repos/{owner}/{name}`: a team's grant on one repository.
        ("orgs", _, Some(_)) => {
            let rest: Vec<&str> = segments.collect();
            match rest.as_slice() {
                [_, "repos", owner, name] if owner.eq_ignore_ascii_case(org) => {
                    Some(TokenRepository::Name((*name).to_owned()))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repository_call_is_limited_to_its_repository_and_its_permission() {
        let scope =
            TokenScope::of("github:put_secret", "acme", "/repos/acme/payments/actions/secrets/X").unwrap();
        assert_eq!(scope.repository, Some(TokenRepository::Name("payments".into())));
        assert_eq!(
            scope.request_body(),
            serde_json::json!({"permissions": {"secrets": "write"}, "repositories": ["payments"]})
        );
        let grant =
            TokenScope::of("github:grant_team", "acme", "/orgs/acme/teams/payments/repos/acme/svc").unwrap();
        assert_eq!(grant.repository, Some(TokenRepository::Name("svc".into())));
        let by_id = TokenScope::of("github:get_repo", "acme", "/repositories/42").unwrap();
        assert_eq!(by_id.request_body()["repository_ids"], serde_json::json!([42]));
        let paged = TokenScope::of(
            "github:list_secrets",
            "Acme",
            "/repos/acme/payments/actions/secrets?per_page=100",
        );
        assert_eq!(paged.unwrap().repository, Some(TokenRepository::Name("payments".into())));
    }

    #[test]
    fn generating_a_repository_cannot_name_it_and_an_undeclared_call_is_refused() {
        let generate = TokenScope::of("github:generate", "acme", "/repos/acme/template/generate").unwrap();
        assert_eq!(generate.request_body(), serde_json::json!({"permissions": {"administration": "write"}}));
        let undeclared = TokenScope::of("github:something_new", "acme", "/repos/acme/payments").unwrap_err();
        assert!(undeclared.message.contains("declares no GitHub App permission"), "{undeclared:?}");
        // A repository call whose path names another owner's repository is not sent with a wide token.
        assert!(TokenScope::of("github:get_repo", "acme", "/repos/other/payments").is_err());
    }
}
