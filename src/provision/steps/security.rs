//! The repository's security baseline: secret scanning with push protection, Dependabot alerts and
//! security updates, and the topics `shipyard`, the environment and the owning team (added to the
//! repository's own topics, never replacing them).
//!
//! Where GitHub refuses a feature for the plan or licence (its 422 for secret scanning on a private
//! repository of an organization without Secret Protection), that part is skipped with GitHub's words
//! and the step is done: the rest of the baseline still applies, and the page says what is missing.

use serde::{Deserialize, Serialize};

use super::{Cx, Ensured, Phase, Step, github::our_repo, ownership::OwnershipFiles};
use crate::{domain::StepName, github::Switched, provider::ProviderError};

pub struct SecurityBaseline;

/// One part of the baseline: on, or skipped with the reason.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Part {
    pub on: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

impl Part {
    fn of(switched: Switched) -> Self {
        match switched {
            Switched::On => Part { on: true, skipped: None },
            Switched::Unavailable(why) => Part { on: false, skipped: Some(why) },
        }
    }

    const ON: Part = Part { on: true, skipped: None };
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BaselineOutput {
    /// Secret scanning and its push protection (switched together).
    pub secret_scanning: Part,
    /// Dependabot alerts (`vulnerability-alerts`).
    pub dependabot_alerts: Part,
    /// Dependabot security updates (`automated-security-fixes`).
    pub dependabot_security_updates: Part,
    /// The topics Shipyard keeps on the repository (the repository may have more of its own).
    pub topics: Vec<String>,
}

impl Step for SecurityBaseline {
    const NAME: StepName = StepName::SecurityBaseline;
    const LABEL: &'static str = "Security baseline and topics";
    const PHASE: Phase = Phase::Create;
    const DEPENDS_ON: &'static [StepName] = &[StepName::GithubRepository, OwnershipFiles::NAME];
    type Output = BaselineOutput;

    async fn ensure(cx: &Cx<'_>) -> Result<Ensured<BaselineOutput>, ProviderError> {
        // The repository as GitHub shows it to an admin: `security_and_analysis` and the topics.
        let repo = our_repo(cx).await?;
        let github = &cx.providers.github;
        let (owner, name) = (repo.owner.as_str(), repo.name.as_str());

        let scanning_on = repo.security.is_some_and(|s| s.secret_scanning && s.push_protection);
        let secret_scanning =
            if scanning_on { Part::ON } else { Part::of(github.enable_secret_scanning(owner, name).await?) };

        let dependabot_alerts = if github.vulnerability_alerts(owner, name).await? {
            Part::ON
        } else {
            Part::of(github.enable_vulnerability_alerts(owner, name).await?)
        };
        let dependabot_security_updates = if !dependabot_alerts.on {
            Part { on: false, skipped: Some("Dependabot security updates need Dependabot alerts".into()) }
        } else if github.automated_security_fixes(owner, name).await? {
            Part::ON
        } else {
            Part::of(github.enable_automated_security_fixes(owner, name).await?)
        };

        let topics = wanted_topics(cx);
        let missing: Vec<&String> = topics.iter().filter(|t| !repo.topics.contains(t)).collect();
        if !missing.is_empty() {
            let mut merged = repo.topics.clone();
            merged.extend(missing.into_iter().cloned());
            github.replace_topics(owner, name, &merged).await?;
        }
        Ok(Ensured::Done(BaselineOutput {
            secret_scanning,
            dependabot_alerts,
            dependabot_security_updates,
            topics,
        }))
    }
}

/// `shipyard`, the environment and the team, as GitHub accepts topics: lowercase letters, digits and
/// hyphens (anything else becomes a hyphen).
pub fn wanted_topics(cx: &Cx<'_>) -> Vec<String> {
    let topic = |s: &str| -> String {
        let t: String =
            s.to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
        t.trim_matches('-').chars().take(50).collect()
    };
    let mut topics = vec!["shipyard".to_owned()];
    for wanted in [Some(cx.service.environment.as_str()), cx.service.team.as_deref()].into_iter().flatten() {
        let t = topic(wanted);
        if !t.is_empty() && !topics.contains(&t) {
            topics.push(t);
        }
    }
    topics
}
