//! Teams of the organization and their access to a repository.
//!
//! Shipyard asks these with its own credential (the App installation, or the bot's token), never the
//! user's: the user's OAuth token is not kept after sign-in, and `GET /user/teams` would need the
//! `read:org` scope on it, which Shipyard does not request of people (security-contracts.md §1.3).
//! The App needs `members: read` for the reads and `administration: write` to grant or remove a
//! team's access (GitHub's `x-accepted-github-permissions`); a classic token needs `read:org` and
//! admin rights on the repository.

use http::Method;
use serde::Deserialize;
use serde_json::json;

use super::{
    classify::{error, naming_permission},
    client::{GitHub, repo_path, seg},
};
use crate::{
    domain::TeamPermission,
    provider::{ErrorKind, ProviderError},
};

/// The most teams a page of `GET /orgs/{org}/teams` carries (GitHub's maximum `per_page`).
const TEAMS_PER_PAGE: usize = 100;
/// Pages read at most: ten thousand teams is more than any picker can offer.
const MAX_TEAM_PAGES: usize = 100;

/// A team as the organization's list shows it.
#[derive(Debug, Clone, Deserialize)]
pub struct Team {
    pub slug: String,
    pub name: String,
}

#[derive(Deserialize)]
struct RepoTeamJson {
    slug: String,
    permission: String,
}

#[derive(Deserialize)]
struct TeamMembershipJson {
    state: String,
}

fn team_path(org: &str, slug: &str) -> String {
    format!("/orgs/{}/teams/{}", seg(org), seg(slug))
}

impl GitHub {
    /// Every team of `org` (`GET /orgs/{org}/teams`, a hundred a page), in GitHub's order.
    #[tracing::instrument(skip_all, fields(org = %org))]
    pub async fn list_teams(&self, org: &str) -> Result<Vec<Team>, ProviderError> {
        let mut teams = Vec::new();
        for page in 1..=MAX_TEAM_PAGES {
            let path = format!("/orgs/{}/teams?per_page={TEAMS_PER_PAGE}&page={page}", seg(org));
            let reply = self.call("github:list_teams", Method::GET, &path, None, &[]).await;
            let batch: Vec<Team> = reply.map_err(|e| naming_permission(e, "Members: read"))?.json("teams")?;
            let last = batch.len() < TEAMS_PER_PAGE;
            teams.extend(batch);
            if last {
                break;
            }
        }
        Ok(teams)
    }

    /// The team `slug` of `org`; `None` when GitHub knows no such team (404).
    #[tracing::instrument(skip_all, fields(org = %org, team = %slug))]
    pub async fn find_team(&self, org: &str, slug: &str) -> Result<Option<Team>, ProviderError> {
        let reply = self.call("github:get_team", Method::GET, &team_path(org, slug), None, &[404]).await;
        let reply = reply.map_err(|e| naming_permission(e, "Members: read"))?;
        if reply.status == http::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        Ok(Some(reply.json("team")?))
    }

    /// Whether `username` is an active member (or maintainer) of the team. A pending invitation is
    /// not membership; an organization owner is a member only of the teams they joined.
    #[tracing::instrument(skip_all, fields(org = %org, team = %slug, username = %username))]
    pub async fn is_team_member(&self, org: &str, slug: &str, username: &str) -> Result<bool, ProviderError> {
        let path = format!("{}/memberships/{}", team_path(org, slug), seg(username));
        let reply = self.call("github:team_membership", Method::GET, &path, None, &[404]).await;
        let reply = reply.map_err(|e| naming_permission(e, "Members: read"))?;
        if reply.status == http::StatusCode::NOT_FOUND {
            return Ok(false);
        }
        Ok(reply.json::<TeamMembershipJson>("team membership")?.state == "active")
    }

    /// The teams with access to the repository and each one's permission
    /// (`GET /repos/{owner}/{repo}/teams`): one call answers for every team, the owner's and any other.
    /// A permission GitHub names that Shipyard does not know (a custom role) is left out.
    #[tracing::instrument(skip_all, fields(repo = %format!("{owner}/{name}")))]
    pub async fn repo_teams(
        &self,
        owner: &str,
        name: &str,
    ) -> Result<Vec<(String, TeamPermission)>, ProviderError> {
        let path = format!("{}/teams?per_page=100", repo_path(owner, name));
        let reply = self.call("github:list_repo_teams", Method::GET, &path, None, &[]).await?;
        let teams: Vec<RepoTeamJson> = reply.json("repository teams")?;
        Ok(teams.into_iter().filter_map(|t| Some((t.slug, TeamPermission::parse(&t.permission)?))).collect())
    }

    /// Grants the team `permission` on the repository
    /// (`PUT /orgs/{org}/teams/{slug}/repos/{owner}/{repo}`; replaces the grant it had).
    #[tracing::instrument(skip_all, fields(team = %slug, repo = %format!("{owner}/{name}"), %permission))]
    pub async fn grant_team(
        &self,
        org: &str,
        slug: &str,
        owner: &str,
        name: &str,
        permission: TeamPermission,
    ) -> Result<(), ProviderError> {
        let path = format!("{}/repos/{}/{}", team_path(org, slug), seg(owner), seg(name));
        let body = json!({ "permission": permission.as_str() });
        match self.call("github:grant_team", Method::PUT, &path, Some(&body), &[]).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind == ErrorKind::NotFound => Err(error(
                ErrorKind::NotFound,
                format!(
                    "{}: GitHub has no team {slug} in {org} that Shipyard can see (a team renamed or deleted since it was chosen; transfer the service to another team, or check the App's Members: read)",
                    e.message
                ),
            )),
            Err(e) => Err(naming_permission(e, "Administration: write")),
        }
    }

    /// Removes the team's access to the repository; a team or grant already gone is done.
    #[tracing::instrument(skip_all, fields(team = %slug, repo = %format!("{owner}/{name}")))]
    pub async fn remove_team(
        &self,
        org: &str,
        slug: &str,
        owner: &str,
        name: &str,
    ) -> Result<(), ProviderError> {
        let path = format!("{}/repos/{}/{}", team_path(org, slug), seg(owner), seg(name));
        let reply = self.call("github:remove_team", Method::DELETE, &path, None, &[404]).await;
        reply.map_err(|e| naming_permission(e, "Administration: write"))?;
        Ok(())
    }
}
