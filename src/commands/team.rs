//! The owning team: which teams a person may choose, the check that they may choose the one they
//! named, and the transfer of a service to another team.
//!
//! GitHub is asked with Shipyard's own credential (see `github::teams` for why not the user's token).
//! Checking a choice costs two calls (the team, then the person's membership of it) or one for an
//! organization admin, who may choose any team. The form's list costs one call for an admin and one
//! more per team for anyone else: GitHub's REST API has no "teams of user X" an App may ask, so each
//! team's membership is asked (eight at a time; unchanged answers come back as free 304s).

use futures::{StreamExt, TryStreamExt};

use super::{Actor, NOT_AN_OWNER, audit, find_by_id, owner_refusal, request::FieldErrors};
use crate::{
    config::Config,
    db::{self, audit::AuditAction, audit::Outcome, services::Service},
    domain::{ServiceStatus, StepName, TeamSlug},
    error::AppError,
    github::{GitHub, Team},
    provider::ProviderError,
    provision::steps::StepKey,
};

/// Membership look-ups in flight at once while building the form's list.
const MEMBERSHIP_LOOKUPS: usize = 8;

fn team_error(message: String) -> AppError {
    AppError::Invalid(FieldErrors::from([("team".to_owned(), message)]))
}

fn not_confirmed(e: &ProviderError) -> AppError {
    team_error(format!("GitHub did not confirm the team, so nothing was changed; try again ({}).", e.message))
}

/// The teams `actor` may own a service with: every team of the organization for an organization
/// admin, otherwise the teams they are an active member of.
#[tracing::instrument(skip_all, fields(login = %actor.login))]
pub async fn teams_for(
    github: &GitHub,
    config: &Config,
    actor: &Actor<'_>,
) -> Result<Vec<Team>, ProviderError> {
    let org = config.github_org.as_str();
    let teams = github.list_teams(org).await?;
    if actor.is_org_admin {
        return Ok(teams);
    }
    let login = actor.login;
    futures::stream::iter(teams)
        .map(|team| async move {
            let member = github.is_team_member(org, &team.slug, login).await?;
            Ok::<_, ProviderError>(member.then_some(team))
        })
        .buffered(MEMBERSHIP_LOOKUPS)
        .try_filter_map(|team| async move { Ok(team) })
        .try_collect()
        .await
}

/// Refuses (422 naming `team`) a team GitHub does not know, or, for anyone but an organization
/// admin, one `actor` is not an active member of. A GitHub that does not answer refuses too: a
/// grant of access is never made on a guess.
pub async fn check_team(
    github: &GitHub,
    config: &Config,
    actor: &Actor<'_>,
    team: &TeamSlug,
) -> Result<(), AppError> {
    let org = config.github_org.as_str();
    match github.find_team(org, team.as_str()).await {
        Ok(Some(_)) => {}
        Ok(None) => return Err(team_error(format!("{org} has no team {team}; choose one of its teams."))),
        Err(e) => return Err(not_confirmed(&e)),
    }
    if actor.is_org_admin {
        return Ok(());
    }
    match github.is_team_member(org, team.as_str(), actor.login).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(team_error(format!(
            "You are not a member of {team}; choose a team you belong to (an organization admin may choose any)."
        ))),
        Err(e) => Err(not_confirmed(&e)),
    }
}

/// Moves `service` to the team `raw`: the same people as Delete may (403, audited), the team is
/// checked like a new service's (422 naming `team`), and only a ready or failed service moves (409).
/// The change, its audit row and the owning team's step made pending again are one transaction; a
/// ready service goes back to provisioning so the reconciler grants the new team and removes the old
/// one's grant now (a failed one does it when retried). The same team again changes nothing.
#[tracing::instrument(skip_all, fields(service = %service.name))]
pub async fn transfer_team(
    db: &sqlx::PgPool,
    github: &GitHub,
    config: &Config,
    actor: Actor<'_>,
    service: &Service,
    raw: &str,
) -> Result<Service, AppError> {
    let (id, name) = (service.service_id, service.name.as_str());
    if let Some(reason) = owner_refusal(config, &actor, service, "transfer it to another team") {
        audit(db, actor, AuditAction::TeamChanged, id, name, Outcome::Denied, NOT_AN_OWNER).await?;
        return Err(AppError::Forbidden(reason));
    }
    let team = TeamSlug::parse(raw).map_err(team_error)?;
    check_transferable(service)?;
    if service.team.as_deref() == Some(team.as_str()) {
        return Ok(service.clone());
    }
    check_team(github, config, &actor, &team).await?;
    let mut tx = db.begin().await?;
    let Some(from) = db::services::set_team(&mut tx, id, team.as_str()).await? else {
        return Err(AppError::Conflict(format!("{name} changed meanwhile; reload and try again.")));
    };
    db::steps::reset_steps(&mut *tx, id, &[StepKey::service(StepName::TeamAccess)]).await?;
    db::services::resume_for_change(&mut tx, id).await?;
    let detail = format!("from {} to {team}", from.as_deref().unwrap_or("no team"));
    audit(&mut *tx, actor, AuditAction::TeamChanged, id, name, Outcome::Success, &detail).await?;
    tx.commit().await?;
    find_by_id(db, id).await
}
/// Whether the service may move to another team in its state: ready or failed (409 otherwise).
pub fn check_transferable(service: &Service) -> Result<(), AppError> {
    let name = &service.name;
    match service.status {
        ServiceStatus::Ready | ServiceStatus::Failed => Ok(()),
        ServiceStatus::Provisioning => {
            Err(AppError::Conflict(format!("{name} is still provisioning; transfer it once it is ready.")))
        }
        ServiceStatus::Drifted => {
            Err(AppError::Conflict(format!("{name} has drifted; repair it before transferring it.")))
        }
        status => {
            Err(AppError::Conflict(format!("{name} is {}; its team can no longer change.", status.label())))
        }
    }
}
