//! The default branch's protection: the repository ruleset `shipyard-default-branch` (no deletion, no
//! force push, changes through a pull request with code owner review, optionally required checks). The
//! IAM role trusts the default branch only, so this is what makes that trust mean something.
//!
//! An organization ruleset that already asks as much of the branch is reported, not duplicated; a plan
//! that has no rulesets for the repository (a private repository of a Free organization) is skipped with
//! GitHub's reason. Either is a Done outcome, shown on the page.

use serde::{Deserialize, Serialize};

use super::{Cx, Ensured, Phase, Step, github::our_repo};
use crate::{
    domain::StepName,
    github::rulesets::{DefaultBranchRules, RULESET_NAME, is_plan_refusal},
    provider::ProviderError,
};

pub struct BranchRuleset;

/// How the default branch is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RulesetState {
    /// Shipyard's ruleset is there and active.
    Active,
    /// An organization ruleset already asks as much of the branch.
    CoveredByOrganization,
    /// GitHub offers no rulesets for this repository (its plan): nothing protects the branch.
    Skipped,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RulesetOutput {
    pub state: RulesetState,
    /// Shipyard's ruleset, or the organization's that covers the branch; none when skipped.
    #[serde(default)]
    pub ruleset_id: Option<u64>,
    /// Its name.
    #[serde(default)]
    pub ruleset_name: Option<String>,
    /// Why there is no ruleset (GitHub's words), when skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// The outcome in words, for the page.
    pub note: String,
}

impl Step for BranchRuleset {
    const NAME: StepName = StepName::BranchRuleset;
    const LABEL: &'static str = "Protect the default branch";
    const PHASE: Phase = Phase::Create;
    // After the commits Shipyard itself makes, so none of them is refused by the rules.
    const DEPENDS_ON: &'static [StepName] = &[
        StepName::GithubRepository,
        StepName::ActionsSecrets,
        StepName::GithubWebhook,
        StepName::OwnershipFiles,
    ];
    type Output = RulesetOutput;

    async fn ensure(cx: &Cx<'_>) -> Result<Ensured<RulesetOutput>, ProviderError> {
        match protect(cx).await {
            Err(e) if is_plan_refusal(&e) => {
                let reason = e.message.clone();
                Ok(Ensured::Done(RulesetOutput {
                    state: RulesetState::Skipped,
                    ruleset_id: None,
                    ruleset_name: None,
                    note: format!("skipped: {reason}"),
                    skipped: Some(reason),
                }))
            }
            other => other.map(Ensured::Done),
        }
    }
}

/// Reads what protects the branch already, then creates or tightens Shipyard's ruleset.
async fn protect(cx: &Cx<'_>) -> Result<RulesetOutput, ProviderError> {
    // By id, now: whatever holds the recorded name may not be ours any more.
    let repo = our_repo(cx).await?;
    let (owner, name) = (repo.owner.as_str(), repo.name.as_str());
    let github = &cx.providers.github;
    let wanted = DefaultBranchRules::from(&cx.settings.branch_protection);
    let in_force = github.branch_rules(owner, name, cx.branch.as_str()).await?;
    let inherited: Vec<_> = in_force.iter().filter(|r| r.ruleset_source_type != "Repository").collect();
    let inherited_rules: Vec<_> = inherited.iter().map(|r| r.rule.clone()).collect();
    if let Some(first) = inherited.first()
        && wanted.shortfalls(&inherited_rules).is_empty()
    {
        let id = first.ruleset_id;
        let ruleset_name =
            github.ruleset(owner, name, id).await?.map_or_else(|| format!("id {id}"), |r| r.name);
        return Ok(RulesetOutput {
            state: RulesetState::CoveredByOrganization,
            ruleset_id: Some(id),
            note: format!("covered by organization ruleset {ruleset_name}"),
            ruleset_name: Some(ruleset_name),
            skipped: None,
        });
    }
    let body = wanted.body();
    let id = match github.find_repo_ruleset(owner, name, RULESET_NAME).await? {
        None => github.create_ruleset(owner, name, &body).await?.id,
        Some(id) => match github.ruleset(owner, name, id).await? {
            Some(found) if wanted.ruleset_shortfalls(&found).is_empty() => id,
            Some(_) => github.update_ruleset(owner, name, id, &body).await?.id,
            // Deleted between the list and the read: make it again.
            None => github.create_ruleset(owner, name, &body).await?.id,
        },
    };
    Ok(RulesetOutput {
        state: RulesetState::Active,
        ruleset_id: Some(id),
        ruleset_name: Some(RULESET_NAME.to_owned()),
        skipped: None,
        note: format!("ruleset {RULESET_NAME} active on {}", cx.branch.as_str()),
    })
}
