//! Repository rulesets: the `shipyard-default-branch` ruleset that protects a service's default branch,
//! and the rules GitHub already applies to a branch (`GET .../rules/branches/{branch}`, which includes the
//! organization's rulesets). Writes need the App's Administration: write (a token: admin rights on the
//! repository); reading a branch's rules needs only Metadata: read. GitHub refuses rulesets on a private
//! repository of a Free organization with a 403 "Upgrade to GitHub Pro or make this repository public to
//! enable this feature.": [`is_plan_refusal`] tells that apart from a missing permission.

use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    classify::naming_permission,
    client::{GitHub, repo_path, seg},
};
use crate::provider::{ErrorKind, ProviderError};

/// The name of the ruleset Shipyard keeps on every service's repository.
pub const RULESET_NAME: &str = "shipyard-default-branch";

/// One rule as GitHub shows it: its `type` and `parameters` (absent for rules without any).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Rule {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub parameters: Value,
}

/// A rule in force on a branch, with the ruleset it comes from.
#[derive(Debug, Clone, Deserialize)]
pub struct BranchRule {
    #[serde(flatten)]
    pub rule: Rule,
    /// `Repository` or `Organization` (or `Enterprise`).
    pub ruleset_source_type: String,
    pub ruleset_id: u64,
}

/// A ruleset as `GET .../rulesets/{id}` shows it.
#[derive(Debug, Clone, Deserialize)]
pub struct Ruleset {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub source_type: String,
    #[serde(default)]
    pub target: String,
    pub enforcement: String,
    #[serde(default)]
    pub conditions: Value,
    #[serde(default)]
    pub rules: Vec<Rule>,
}

#[derive(Deserialize)]
struct RulesetSummary {
    id: u64,
    name: String,
    #[serde(default)]
    source_type: String,
}

/// What the default branch's ruleset requires (from `SHIPYARD_REQUIRED_APPROVALS` and
/// `SHIPYARD_REQUIRED_CHECKS`), and how a ruleset found on GitHub falls short of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultBranchRules {
    pub required_approvals: u8,
    pub required_checks: Vec<String>,
}

impl From<&crate::config::BranchProtection> for DefaultBranchRules {
    fn from(p: &crate::config::BranchProtection) -> Self {
        Self { required_approvals: p.required_approvals, required_checks: p.required_checks.clone() }
    }
}

impl DefaultBranchRules {
    /// The rules, as GitHub's schema wants them (every `pull_request` parameter is required).
    pub fn rules(&self) -> Vec<Value> {
        let mut rules = vec![
            json!({"type": "deletion"}),
            json!({"type": "non_fast_forward"}),
            json!({"type": "pull_request", "parameters": {
                "required_approving_review_count": self.required_approvals,
                "require_code_owner_review": true,
                "dismiss_stale_reviews_on_push": false,
                "require_last_push_approval": false,
                "required_review_thread_resolution": false,
            }}),
        ];
        if !self.required_checks.is_empty() {
            let checks: Vec<Value> = self.required_checks.iter().map(|c| json!({"context": c})).collect();
            rules.push(json!({"type": "required_status_checks", "parameters": {
                "required_status_checks": checks,
                "strict_required_status_checks_policy": false,
            }}));
        }
        rules
    }

    /// The whole ruleset: `~DEFAULT_BRANCH`, active, no bypass.
    pub fn body(&self) -> Value {
        json!({
            "name": RULESET_NAME,
            "target": "branch",
            "enforcement": "active",
            "bypass_actors": [],
            "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []}},
            "rules": self.rules(),
        })
    }

    /// Where `rules` (of one ruleset, or all those in force on a branch) ask less than these: a rule
    /// missing, fewer approvals, code owners not required, a check not required. Stricter is fine.
    pub fn shortfalls(&self, rules: &[Rule]) -> Vec<Shortfall> {
        let find = |kind: &'static str| rules.iter().filter(move |r| r.kind == kind);
        let mut short = Vec::new();
        for kind in ["deletion", "non_fast_forward", "pull_request"] {
            if find(kind).next().is_none() {
                short.push(Shortfall::Removed(kind.to_owned()));
            }
        }
        if find("pull_request").next().is_some() {
            let approvals = find("pull_request")
                .filter_map(|r| r.parameters["required_approving_review_count"].as_u64())
                .max()
                .unwrap_or(0);
            if approvals < u64::from(self.required_approvals) {
                short.push(Shortfall::Loosened(format!(
                    "pull_request: {approvals} approving reviews instead of {}",
                    self.required_approvals
                )));
            }
            if !find("pull_request").any(|r| r.parameters["require_code_owner_review"] == true) {
                short.push(Shortfall::Loosened("pull_request: code owner review not required".into()));
            }
        }
        let required: Vec<String> = find("required_status_checks")
            .flat_map(|r| r.parameters["required_status_checks"].as_array().cloned().unwrap_or_default())
            .filter_map(|c| c["context"].as_str().map(str::to_owned))
            .collect();
        let missing: Vec<&str> =
            self.required_checks.iter().filter(|c| !required.contains(c)).map(String::as_str).collect();
        if !missing.is_empty() {
            let names = missing;
            short.push(if find("required_status_checks").next().is_none() {
                Shortfall::Removed("required_status_checks".into())
            } else {
                Shortfall::Loosened(format!("required_status_checks: {} not required", names.join(", ")))
            });
        }
        short
    }

    /// Where a ruleset found on GitHub differs from ours in ways that weaken it: not active, not on the
    /// default branch, or rules that fall short.
    pub fn ruleset_shortfalls(&self, found: &Ruleset) -> Vec<Shortfall> {
        let mut short = Vec::new();
        if found.enforcement != "active" {
            short.push(Shortfall::NotActive(found.enforcement.clone()));
        }
        let includes_default = found.conditions["ref_name"]["include"]
            .as_array()
            .is_some_and(|a| a.iter().any(|p| p == "~DEFAULT_BRANCH" || p == "~ALL"));
        if found.target != "branch" || !includes_default {
            short.push(Shortfall::Loosened(format!(
                "conditions: {} no longer includes ~DEFAULT_BRANCH",
                found.conditions["ref_name"]
            )));
        }
        short.extend(self.shortfalls(&found.rules));
        short
    }
}

/// How a ruleset falls short of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shortfall {
    /// The enforcement is not `active` (`evaluate` or `disabled` block nothing).
    NotActive(String),
    /// A rule type is missing.
    Removed(String),
    /// A rule is there but asks less (what, in words).
    Loosened(String),
}

impl std::fmt::Display for Shortfall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shortfall::NotActive(e) => write!(f, "enforcement {e}"),
            Shortfall::Removed(kind) => write!(f, "no {kind} rule"),
            Shortfall::Loosened(what) => f.write_str(what),
        }
    }
}

/// Whether `error` is GitHub refusing rulesets for the repository's plan (not a missing permission).
pub fn is_plan_refusal(error: &ProviderError) -> bool {
    error.kind == ErrorKind::Denied && error.message.contains("Upgrade to GitHub")
}

/// A refusal that is not the plan's names what the call needs, whatever the credential.
fn name_permission(error: ProviderError) -> ProviderError {
    if is_plan_refusal(&error) {
        return error;
    }
    naming_permission(error, "Administration: write for rulesets (a token: admin rights on the repository)")
}

impl GitHub {
    /// The rules in force on `branch` (every active ruleset covering it, the organization's included).
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}"), branch = %branch))]
    pub async fn branch_rules(
        &self,
        owner: &str,
        name: &str,
        branch: &str,
    ) -> Result<Vec<BranchRule>, ProviderError> {
        let path = format!("{}/rules/branches/{}", repo_path(owner, name), seg(branch));
        self.call("github:branch_rules", Method::GET, &path, None, &[]).await?.json("branch rules")
    }

    /// The repository's own ruleset called `ruleset_name`, if it has one (the organization's are skipped).
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}")))]
    pub async fn find_repo_ruleset(
        &self,
        owner: &str,
        name: &str,
        ruleset_name: &str,
    ) -> Result<Option<u64>, ProviderError> {
        let path = format!("{}/rulesets?includes_parents=false&per_page=100", repo_path(owner, name));
        let list: Vec<RulesetSummary> = self
            .call("github:list_rulesets", Method::GET, &path, None, &[])
            .await
            .map_err(name_permission)?
            .json("rulesets")?;
        Ok(list
            .into_iter()
            .find(|r| r.name == ruleset_name && matches!(r.source_type.as_str(), "Repository" | ""))
            .map(|r| r.id))
    }

    /// A ruleset by id as it applies to the repository (an organization's included); `None` if gone.
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}"), ruleset = id))]
    pub async fn ruleset(&self, owner: &str, name: &str, id: u64) -> Result<Option<Ruleset>, ProviderError> {
        let path = format!("{}/rulesets/{id}", repo_path(owner, name));
        let reply = self
            .call("github:get_ruleset", Method::GET, &path, None, &[404])
            .await
            .map_err(name_permission)?;
        if reply.status == 404 {
            return Ok(None);
        }
        Ok(Some(reply.json("ruleset")?))
    }

    /// Creates the ruleset `body`; returns it as GitHub made it.
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}")))]
    pub async fn create_ruleset(
        &self,
        owner: &str,
        name: &str,
        body: &Value,
    ) -> Result<Ruleset, ProviderError> {
        let path = format!("{}/rulesets", repo_path(owner, name));
        self.call("github:create_ruleset", Method::POST, &path, Some(body), &[])
            .await
            .map_err(name_permission)?
            .json("ruleset")
    }

    /// Replaces ruleset `id` with `body`.
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}"), ruleset = id))]
    pub async fn update_ruleset(
        &self,
        owner: &str,
        name: &str,
        id: u64,
        body: &Value,
    ) -> Result<Ruleset, ProviderError> {
        let path = format!("{}/rulesets/{id}", repo_path(owner, name));
        self.call("github:update_ruleset", Method::PUT, &path, Some(body), &[])
            .await
            .map_err(name_permission)?
            .json("ruleset")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::System;

    fn wanted() -> DefaultBranchRules {
        DefaultBranchRules { required_approvals: 1, required_checks: vec!["build".into()] }
    }

    fn rules_of(body: &Value) -> Vec<Rule> {
        serde_json::from_value(body["rules"].clone()).unwrap()
    }

    #[test]
    fn our_own_rules_fall_short_of_nothing_and_stricter_ones_neither() {
        let ours = rules_of(&wanted().body());
        assert_eq!(wanted().shortfalls(&ours), vec![]);
        let stricter = DefaultBranchRules {
            required_approvals: 3,
            required_checks: vec!["build".into(), "lint".into()],
        };
        assert_eq!(wanted().shortfalls(&rules_of(&stricter.body())), vec![]);
    }

    #[test]
    fn a_missing_rule_fewer_approvals_and_a_dropped_check_are_each_named() {
        let mut body = wanted().body();
        body["rules"] = json!([
            {"type": "deletion"},
            {"type": "pull_request", "parameters": {"required_approving_review_count": 0, "require_code_owner_review": false}},
        ]);
        let short: Vec<String> =
            wanted().shortfalls(&rules_of(&body)).iter().map(ToString::to_string).collect();
        assert_eq!(
            short,
            [
                "no non_fast_forward rule",
                "pull_request: 0 approving reviews instead of 1",
                "pull_request: code owner review not required",
                "no required_status_checks rule",
            ]
        );
    }

    #[test]
    fn only_the_plan_refusal_is_a_plan_refusal_and_other_refusals_name_the_permission() {
        let plan = ProviderError::new(
            System::GitHub,
            ErrorKind::Denied,
            "403 Upgrade to GitHub Pro or make this repository public to enable this feature.",
        );
        assert!(is_plan_refusal(&plan));
        assert_eq!(name_permission(plan.clone()).message, plan.message, "left as GitHub said it");
        let admin = ProviderError::new(
            System::GitHub,
            ErrorKind::Denied,
            "403 Must have admin rights to Repository.",
        );
        assert!(!is_plan_refusal(&admin));
        assert!(name_permission(admin).message.contains("Administration: write"));
    }
}
