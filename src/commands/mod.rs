//! What people can ask Shipyard to do: create a service, retry a failed one, delete one. The pages
//! and the JSON API both call these, so each command has one permission check, one audit row
//! (written in the same transaction as the change it records), and one set of messages. The
//! reconciler is woken by the database trigger on the change.

pub mod drift;
pub mod request;
pub mod roles;
pub mod team;

use uuid::Uuid;

use crate::{
    config::Config,
    db::{
        self,
        audit::{AuditAction, NewAuditEvent, Outcome},
        services::{LIVE_NAME_CONSTRAINT, NewService, Service},
    },
    domain::{ServiceStatus, Visibility},
    error::AppError,
    provision::{Phase, steps::service_steps},
};
use request::{FieldErrors, ServiceInput, parse_service_request};

/// Who is asking, as the commands need to know it (the web layer makes it from the session).
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub user_id: Uuid,
    pub github_id: i64,
    pub login: &'a str,
    /// An admin of the organization, as GitHub last said.
    pub is_org_admin: bool,
    /// The request this came with, for the audit trail.
    pub request_id: &'a str,
}

/// The visibilities `actor` may choose: `SHIPYARD_ALLOWED_VISIBILITIES`, or any for an organization
/// admin (making the organization's code public is theirs to decide).
pub fn visibilities_for(config: &Config, actor: &Actor<'_>) -> Vec<Visibility> {
    if actor.is_org_admin { Visibility::ALL.to_vec() } else { config.allowed_visibilities.clone() }
}

/// The form's message for a taken name (the API answers [`AppError::NameTaken`], a 409).
pub fn name_taken(name: &str) -> FieldErrors {
    FieldErrors::from([("name".to_owned(), format!("A service named {name} already exists."))])
}

/// Parses the input, refuses a visibility this person may not choose (422 naming `visibility`), a
/// team they may not choose (422 naming `team`, see [`team::check_team`]), a name a live service holds ([`AppError::NameTaken`], 409), and a creator at `SHIPYARD_MAX_SERVICES_PER_USER` live services (409),
/// then records the service (its pending create steps come with it) and the audit row. Invalid
/// input is [`AppError::Invalid`] and writes nothing.
#[tracing::instrument(skip_all, fields(service = %input.name.trim()))]
pub async fn create_service(
    db: &sqlx::PgPool,
    github: &crate::github::GitHub,
    config: &Config,
    actor: Actor<'_>,
    input: &ServiceInput,
) -> Result<Service, AppError> {
    let request = parse_service_request(config, input).map_err(AppError::Invalid)?;
    let allowed = visibilities_for(config, &actor);
    if !allowed.contains(&request.visibility) {
        let offered = allowed.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ");
        let message = format!(
            "Only an organization admin may create a {} repository here; choose {offered}.",
            request.visibility.as_str()
        );
        return Err(AppError::Invalid(FieldErrors::from([("visibility".to_owned(), message)])));
    }
    if let Some(team) = &request.team {
        team::check_team(github, config, &actor, team).await?;
    }
    let name = request.name.as_str();
    if db::services::find_service_by_name(db, name).await?.is_some_and(|s| s.status != ServiceStatus::Deleted)
    {
        return Err(AppError::NameTaken(name.to_owned()));
    }
    // Checked before the insert: requests racing each other can pass it together, which is fine
    // for a cap meant to stop a runaway script, not to count exactly.
    let live = db::services::count_live_created_by(db, actor.user_id).await?;
    if live >= i64::from(config.max_services_per_user) {
        return Err(AppError::Conflict(format!(
            "You have {live} services; Shipyard allows {} per person. Delete one you no longer need, or ask a Shipyard admin.",
            config.max_services_per_user
        )));
    }
    let mut tx = db.begin().await?;
    let new = NewService {
        name,
        org: &config.github_org,
        environment: request.environment.as_str(),
        visibility: request.visibility,
        template: &request.template.full_name(),
        default_branch: request.default_branch.as_str(),
        description: &request.description,
        team: request.team.as_ref().map(|t| t.as_str()),
        created_by: actor.user_id,
    };
    // Two people submitting the same name at once both pass the check above; the unique index
    // lets one through and the other gets the same message as if the check had caught it.
    let service_id = match db::services::insert_service(&mut tx, &new, &service_steps(Phase::Create)).await {
        Ok(id) => id,
        Err(e) if db::violates(&e, LIVE_NAME_CONSTRAINT) => return Err(AppError::NameTaken(name.to_owned())),
        Err(e) => return Err(e.into()),
    };
    for (prefix, role) in &request.roles {
        roles::insert_checked(&mut tx, service_id, role, actor.user_id, prefix).await?;
    }
    audit(&mut *tx, actor, AuditAction::Create, service_id, name, Outcome::Success, &request.summary())
        .await?;
    tx.commit().await?;
    find_by_id(db, service_id).await
}

/// Resumes a failed service from the step that failed. Only the people who may delete it may
/// (403, audited): a Retry re-runs steps that adopt what carries the service's name, so it is as
/// much the owner's act as a Delete. Anything but a failed service is a 409: retrying a service
/// that is running or ready would do nothing useful.
#[tracing::instrument(skip_all, fields(service = name))]
pub async fn retry_service(
    db: &sqlx::PgPool,
    config: &Config,
    actor: Actor<'_>,
    name: &str,
) -> Result<Service, AppError> {
    let service = find(db, name).await?;
    let id = service.service_id;
    if let Some(reason) = owner_refusal(config, &actor, &service, "retry it") {
        audit(db, actor, AuditAction::Retry, id, name, Outcome::Denied, NOT_AN_OWNER).await?;
        return Err(AppError::Forbidden(reason));
    }
    let mut tx = db.begin().await?;
    if !db::services::retry_service(&mut tx, id).await? {
        return Err(AppError::Conflict(format!(
            "Only a failed service can be retried; {name} is {}.",
            service.status.label()
        )));
    }
    let detail = service.error_step.map(|step| format!("from {step}")).unwrap_or_default();
    audit(&mut *tx, actor, AuditAction::Retry, service.service_id, name, Outcome::Success, &detail).await?;
    tx.commit().await?;
    find_by_id(db, service.service_id).await
}

/// The audit detail of a refusal by [`owner_refusal`].
pub const NOT_AN_OWNER: &str = "not the creator, an organization admin or a Shipyard admin";

/// Only the creator, an organization admin or someone in `SHIPYARD_ADMINS` may delete a service.
/// `None` when this person may; otherwise the reason, in words.
pub fn delete_refusal(config: &Config, actor: &Actor<'_>, service: &Service) -> Option<String> {
    owner_refusal(config, actor, service, "delete it")
}

/// The one rule for acting on a service as its owner (delete, retry, repair, check, role changes):
/// the creator, an organization admin or a Shipyard admin. `None` when this person may; otherwise
/// the reason, ending in `what` ("retry it").
pub fn owner_refusal(config: &Config, actor: &Actor<'_>, service: &Service, what: &str) -> Option<String> {
    let allowed = service.created_by == actor.user_id
        || actor.is_org_admin
        || config.is_shipyard_admin(actor.github_id, actor.login);
    (!allowed).then(|| {
        format!(
            "Only {} (who created {}), an organization admin or a Shipyard admin can {what}.",
            service.created_by_login, service.name
        )
    })
}

fn already_gone(service: &Service) -> AppError {
    AppError::Conflict(format!("{} is already {}.", service.name, service.status.label()))
}

/// Checks who may delete (a refusal is a 403 written to the audit trail) and that the service is
/// not already being deleted or gone (409), without changing anything.
pub async fn check_may_delete(
    db: &sqlx::PgPool,
    config: &Config,
    actor: Actor<'_>,
    service: &Service,
) -> Result<(), AppError> {
    if let Some(reason) = delete_refusal(config, &actor, service) {
        let detail = "not the creator, an organization admin or a Shipyard admin";
        let (id, name) = (service.service_id, service.name.as_str());
        audit(db, actor, AuditAction::DeleteRequested, id, name, Outcome::Denied, detail).await?;
        return Err(AppError::Forbidden(reason));
    }
    if !service.status.is_deletable() {
        return Err(already_gone(service));
    }
    Ok(())
}

/// Turns the service towards deletion (after [`check_may_delete`]): the request and its audit row
/// in one transaction, the delete steps with it.
#[tracing::instrument(skip_all, fields(service = %service.name))]
pub async fn request_deletion(
    db: &sqlx::PgPool,
    config: &Config,
    actor: Actor<'_>,
    service: &Service,
    keep_repository: bool,
) -> Result<Service, AppError> {
    check_may_delete(db, config, actor, service).await?;
    let mut tx = db.begin().await?;
    // Someone else may have asked a moment ago: only one request wins.
    let steps = service_steps(Phase::Delete);
    if !db::services::request_deletion(&mut tx, service.service_id, keep_repository, &steps).await? {
        return Err(already_gone(service));
    }
    let detail = if keep_repository {
        "archive the GitHub repository; delete the IAM role, IAM policy and ECR repository"
    } else {
        "delete the GitHub repository, IAM role, IAM policy and ECR repository"
    };
    let (id, name) = (service.service_id, service.name.as_str());
    audit(&mut *tx, actor, AuditAction::DeleteRequested, id, name, Outcome::Success, detail).await?;
    tx.commit().await?;
    find_by_id(db, service.service_id).await
}

/// The live service with this name (or the most recently deleted one), else 404.
pub async fn find(db: &sqlx::PgPool, name: &str) -> Result<Service, AppError> {
    db::services::find_service_by_name(db, name).await?.ok_or(AppError::NotFound)
}

async fn find_by_id(db: &sqlx::PgPool, service_id: Uuid) -> Result<Service, AppError> {
    db::services::find_service(db, service_id).await?.ok_or(AppError::NotFound)
}

async fn audit(
    db: impl sqlx::PgExecutor<'_>,
    actor: Actor<'_>,
    action: AuditAction,
    service_id: Uuid,
    service_name: &str,
    outcome: Outcome,
    detail: &str,
) -> Result<(), AppError> {
    let event = NewAuditEvent {
        actor_user_id: Some(actor.user_id),
        actor_login: Some(actor.login),
        service_id: Some(service_id),
        service_name: Some(service_name),
        outcome,
        detail,
        request_id: Some(actor.request_id),
        ..NewAuditEvent::new(action)
    };
    db::audit::insert_audit_event(db, &event).await?;
    Ok(())
}
