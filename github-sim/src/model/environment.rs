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
            rule_ids: [next_id(), next_id(), next_id()],
            secret_key: SecretKey::generate(&mut crypto_box::aead::OsRng),
            key_id: random_digits(18),
            secrets: BTreeMap::new(),
        }
    }

    /// Whether `name` names this environment (case-insensitively, Unicode-aware).
    pub fn is_named(&self, name: &str) -> bool {
        self.name == name || self.name.to_lowercase() == name.to_lowercase()
    }
}
