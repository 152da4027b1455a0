//! Deployment environments of a repository: protection settings and secrets sealed to a key pair of their
//! own (GitHub gives each environment its own public key, distinct from the repository's).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use crypto_box::SecretKey;
use time::OffsetDateTime;

use super::{Secret, random_digits};

/// Environment and protection-rule ids. A process-wide counter rather than `World::next_id`: a workflow
/// job creates its environment while a run is queued on a [`super::Repo`], which cannot reach the world's
/// counter. Ids only have to be unique and stable, and these are.
static NEXT_ID: AtomicU64 = AtomicU64::new(161_088_000);

fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed) + 1
}

/// `deployment_branch_policy`: exactly one of the two is true (GitHub refuses equal values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BranchPolicy {
    pub protected_branches: bool,
    pub custom_branch_policies: bool,
}

/// What a custom deployment policy's pattern is matched against (`type` in the API).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RefKind {
    Branch,
    Tag,
}

/// One "selected branches and tags" rule (`POST .../deployment-branch-policies`).
#[derive(Clone, Debug)]
pub(crate) struct DeploymentPolicy {
    pub id: u64,
    /// A name pattern: `*` matches any run of characters but `/`, `**` any run at all.
    pub name: String,
    pub kind: RefKind,
}

/// Why a job may not run in an environment now ([`Environment::gate`]).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Gate {
    /// The job may go on.
    Open,
    /// The ref is outside the deployment policy: the job fails before its steps with this message.
    Refused(String),
    /// Required reviewers must approve first: the job (and its run) wait.
    Waiting,
}

pub(crate) struct Environment {
    pub id: u64,
    /// As first written; look-ups ignore case (GitHub's names are case-insensitive).
    pub name: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// Minutes; 0 means no wait-timer rule.
    pub wait_timer: u64,
    pub prevent_self_review: bool,
    /// Required reviewers (user ids; the sim has no teams).
    pub reviewers: Vec<u64>,
    /// `None`: every branch may deploy.
    pub branch_policy: Option<BranchPolicy>,
    /// The name patterns that apply with `custom_branch_policies: true`.
    pub deployment_policies: Vec<DeploymentPolicy>,
    /// Ids of the wait-timer, required-reviewers and branch-policy rules, fixed at creation so a rule
    /// keeps its id across updates.
    pub rule_ids: [u64; 3],
    pub secret_key: SecretKey,
    pub key_id: String,
    pub secrets: BTreeMap<String, Secret>,
}

impl Environment {
    /// A new environment with no protection rules and no secrets (what a workflow job naming an unknown
    /// environment creates).
    pub fn new(name: &str, at: OffsetDateTime) -> Self {
        Environment {
            id: next_id(),
            name: name.to_string(),
            created_at: at,
            updated_at: at,
            wait_timer: 0,
            prevent_self_review: false,
            reviewers: Vec::new(),
            branch_policy: None,
            deployment_policies: Vec::new(),
            rule_ids: [next_id(), next_id(), next_id()],
            secret_key: SecretKey::generate(&mut crypto_box::aead::OsRng),
            key_id: random_digits(18),
            secrets: BTreeMap::new(),
        }
    }

    /// Whether a job on `git_ref` (`refs/heads/B` or `refs/tags/T`) may run in this environment, as GitHub
    /// decides before the job starts (docs: "Managing environments for deployment", § Deployment branches
    /// and tags):
    /// - *protected branches only*: only branches that a branch protection rule covers; "if no branch
    ///   protection rules are defined for any branch in the repository, then all branches can deploy".
    ///   Rulesets are not branch protection rules, and a tag never deploys (not even one named like a
    ///   protected branch). `protection_rules` are the repository's branch protection rule patterns.
    /// - *selected branches and tags*: only refs whose name matches a policy of their kind; none without one.
    ///
    /// The branch policy is checked first: a refused job never waits for a reviewer.
    pub fn gate(&self, git_ref: &str, protection_rules: &[String]) -> Gate {
        let (kind, name) = match (git_ref.strip_prefix("refs/heads/"), git_ref.strip_prefix("refs/tags/")) {
            (Some(branch), _) => (RefKind::Branch, branch),
            (None, Some(tag)) => (RefKind::Tag, tag),
            (None, None) => (RefKind::Branch, git_ref),
        };
        let allowed = match self.branch_policy {
            None => true,
            Some(p) if p.protected_branches => {
                protection_rules.is_empty()
                    || (kind == RefKind::Branch && protection_rules.iter().any(|rule| glob(rule, name)))
            }
            Some(_) => self.deployment_policies.iter().any(|p| p.kind == kind && glob(&p.name, name)),
        };
        if !allowed {
            let what = match kind {
                RefKind::Branch => "Branch",
                RefKind::Tag => "Tag",
            };
            return Gate::Refused(format!(
                "{what} \"{name}\" is not allowed to deploy to {} due to environment protection rules.",
                self.name
            ));
        }
        if self.reviewers.is_empty() { Gate::Open } else { Gate::Waiting }
    }

    /// Whether `name` names this environment (case-insensitively, Unicode-aware).
    pub fn is_named(&self, name: &str) -> bool {
        self.name == name || self.name.to_lowercase() == name.to_lowercase()
    }
}

/// GitHub's name patterns for deployment policies and branch protection rules (fnmatch-like): `*` matches
/// any characters but `/`, `**` any characters, `?` one character but `/`; the rest literally.
pub(crate) fn glob(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p {
            [] => n.is_empty(),
            ['*', '*', rest @ ..] => (0..=n.len()).any(|i| go(rest, &n[i..])),
            ['*', rest @ ..] => {
                (0..=n.len()).take_while(|&i| i == 0 || n[i - 1] != '/').any(|i| go(rest, &n[i..]))
            }
            ['?', rest @ ..] => n.first().is_some_and(|c| *c != '/') && go(rest, &n[1..]),
            [c, rest @ ..] => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    go(&p, &n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(policy: Option<BranchPolicy>, policies: &[(&str, RefKind)], reviewers: &[u64]) -> Environment {
        let mut e = Environment::new("production", crate::model::now());
        e.branch_policy = policy;
        e.reviewers = reviewers.to_vec();
        e.deployment_policies = policies
            .iter()
            .enumerate()
            .map(|(i, (name, kind))| DeploymentPolicy { id: i as u64, name: (*name).into(), kind: *kind })
            .collect();
        e
    }

    const PROTECTED: Option<BranchPolicy> =
        Some(BranchPolicy { protected_branches: true, custom_branch_policies: false });
    const CUSTOM: Option<BranchPolicy> =
        Some(BranchPolicy { protected_branches: false, custom_branch_policies: true });

    #[test]
    fn patterns_match_as_github_documents() {
        assert!(glob("releases/*", "releases/1.0"));
        assert!(!glob("releases/*", "releases/1/hotfix"), "* does not match /");
        assert!(glob("release/*/*", "release/1/hotfix"));
        assert!(glob("**", "any/thing"));
        assert!(glob("main", "main") && !glob("main", "mainline"));
        assert!(glob("v?", "v1") && !glob("v?", "v10"));
    }

    #[test]
    fn protected_branches_only_admits_only_branches_a_protection_rule_covers() {
        let e = env(PROTECTED, &[], &[]);
        let rules = vec!["main".to_owned()];
        assert_eq!(e.gate("refs/heads/main", &rules), Gate::Open);
        let refused = e.gate("refs/heads/feature", &rules);
        assert_eq!(
            refused,
            Gate::Refused(
                "Branch \"feature\" is not allowed to deploy to production due to environment protection rules."
                    .into()
            )
        );
        assert!(
            matches!(e.gate("refs/tags/main", &rules), Gate::Refused(m) if m.starts_with("Tag \"main\""))
        );
    }

    #[test]
    fn protected_branches_only_admits_every_branch_while_no_branch_is_protected() {
        let e = env(PROTECTED, &[], &[]);
        assert_eq!(e.gate("refs/heads/feature", &[]), Gate::Open);
    }

    #[test]
    fn selected_branches_and_tags_match_by_name_pattern_and_kind() {
        let e = env(CUSTOM, &[("release/*", RefKind::Branch), ("v*", RefKind::Tag)], &[]);
        assert_eq!(e.gate("refs/heads/release/1", &[]), Gate::Open);
        assert_eq!(e.gate("refs/tags/v1.0", &[]), Gate::Open);
        assert!(matches!(e.gate("refs/heads/v1.0", &[]), Gate::Refused(_)), "a branch is not a tag");
        assert!(matches!(e.gate("refs/heads/main", &[]), Gate::Refused(_)));
        assert!(matches!(env(CUSTOM, &[], &[]).gate("refs/heads/main", &[]), Gate::Refused(_)));
    }

    #[test]
    fn required_reviewers_park_a_job_the_branch_policy_admits_and_never_a_refused_one() {
        let e = env(PROTECTED, &[], &[2001]);
        let rules = vec!["main".to_owned()];
        assert_eq!(e.gate("refs/heads/main", &rules), Gate::Waiting);
        assert!(matches!(e.gate("refs/heads/feature", &rules), Gate::Refused(_)));
        assert_eq!(env(None, &[], &[2001]).gate("refs/heads/any", &[]), Gate::Waiting);
    }
}
