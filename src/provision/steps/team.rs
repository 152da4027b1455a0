//! The owning team's access to the repository: `SHIPYARD_TEAM_PERMISSION` for the team the service
//! names, and on a transfer the previous team's grant removed. Without it a plain member of an
//! organization whose base permission is `read` cannot push to the repository they just created.

use serde::{Deserialize, Serialize};

use super::{Cx, Ensured, Phase, Step, github::GithubRepository};
use crate::{
    domain::{StepName, TeamPermission},
    provider::ProviderError,
};

pub struct TeamAccess;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TeamAccessOutput {
    /// The team granted access: the one a later transfer removes. None: the service has no team.
    #[serde(default)]
    pub team: Option<String>,
    #[serde(default)]
    pub permission: Option<TeamPermission>,
    /// What was done, in words (shown on the page).
    pub note: String,
}

impl Step for TeamAccess {
    const NAME: StepName = StepName::TeamAccess;
    const LABEL: &'static str = "Give the owning team access";
    const PHASE: Phase = Phase::Create;
    const DEPENDS_ON: &'static [StepName] = &[StepName::GithubRepository];
    type Output = TeamAccessOutput;

    /// Reads the repository's teams, grants the owning team the configured permission when it has
    /// less (a grant someone raised by hand is left alone), then removes the grant of the team
    /// recorded before a transfer. Granting first means a crash in between leaves both teams with
    /// access, never neither; the re-run still knows the old team, since the record changes last.
    async fn ensure(cx: &Cx<'_>) -> Result<Ensured<TeamAccessOutput>, ProviderError> {
        let github = &cx.providers.github;
        let repo = cx.output::<GithubRepository>()?;
        let (owner, name) = (repo.owner(), repo.name());
        let wanted = cx.service.team.as_deref();
        let previous =
            cx.previous::<TeamAccess>()?.and_then(|o| o.team).filter(|p| Some(p.as_str()) != wanted);
        if wanted.is_none() && previous.is_none() {
            return Ok(Ensured::Done(TeamAccessOutput {
                team: None,
                permission: None,
                note: "no owning team".into(),
            }));
        }
        let current = github.repo_teams(owner, name).await?;
        let has = |slug: &str| current.iter().find(|(s, _)| s == slug).map(|(_, p)| *p);
        let permission = cx.settings.team_permission;
        let mut note = match wanted {
            Some(team) if has(team).is_some_and(|p| p >= permission) => {
                format!("{team} has {} access", has(team).map_or("", |p| p.as_str()))
            }
            Some(team) => {
                github.grant_team(cx.org(), team, owner, name, permission).await?;
                format!("{team} granted {permission}")
            }
            None => "no owning team".into(),
        };
        if let Some(old) = previous {
            if has(&old).is_some() {
                github.remove_team(cx.org(), &old, owner, name).await?;
            }
            note.push_str(&format!("; {old}'s access removed"));
        }
        Ok(Ensured::Done(TeamAccessOutput {
            team: wanted.map(str::to_owned),
            permission: Some(permission),
            note,
        }))
    }
}
