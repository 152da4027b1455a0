//! What a create or a retry writes: the service change and its audit row, in one transaction,
//! so the trail never claims something that did not happen (or misses something that did).

use uuid::Uuid;

use super::form::{FieldErrors, ServiceInput, parse_service_request};
use crate::{
    app::AppState,
    db::{
        self,
        audit::NewAuditEvent,
        services::{LIVE_NAME_CONSTRAINT, NewService, Service},
    },
    error::AppError,
    web::session::CurrentUser,
};

fn name_taken(name: &str) -> FieldErrors {
    FieldErrors::from([("name".to_owned(), format!("A service named {name} already exists."))])
}

/// Parses the input, refuses a name a live service holds, then records the service (its pending
/// steps come with it) and the audit row. The reconciler is woken by the database trigger.
/// Invalid input is [`AppError::Invalid`] and writes nothing.
#[tracing::instrument(skip_all, fields(service = %input.name.trim()))]
pub async fn create_service(
    state: &AppState,
    user: &CurrentUser,
    input: &ServiceInput,
    request_id: &str,
) -> Result<Service, AppError> {
    let request = parse_service_request(&state.config, input).map_err(AppError::Invalid)?;
    let name = request.name.as_str();
    if db::services::find_service_by_name(&state.db, name).await?.is_some_and(|s| s.status != "deleted") {
        return Err(AppError::Invalid(name_taken(name)));
    }
    let mut tx = state.db.begin().await?;
    let new = NewService {
        name,
        org: &state.config.github_org,
        environment: request.environment.as_str(),
        visibility: request.visibility.as_str(),
        template: &request.template.full_name(),
        default_branch: request.default_branch.as_str(),
        description: &request.description,
        created_by: user.user.user_id,
    };
    // Two people submitting the same name at once both pass the check above; the unique index
    // lets one through and the other gets the same message as if the check had caught it.
    let service_id = match db::services::insert_service(&mut tx, &new).await {
        Ok(id) => id,
        Err(e) if db::violates(&e, LIVE_NAME_CONSTRAINT) => return Err(AppError::Invalid(name_taken(name))),
        Err(e) => return Err(e.into()),
    };
    audit(&mut tx, user, "create", service_id, name, &request.summary(), request_id).await?;
    tx.commit().await?;
    db::services::find_service(&state.db, service_id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("service {service_id} vanished after insert")))
}

/// Resumes a failed service from the step that failed. Anything but a failed service is a 409:
/// retrying a service that is running or ready would do nothing useful.
#[tracing::instrument(skip_all, fields(service = name))]
pub async fn retry_service(
    state: &AppState,
    user: &CurrentUser,
    name: &str,
    request_id: &str,
) -> Result<Service, AppError> {
    let service = db::services::find_service_by_name(&state.db, name).await?.ok_or(AppError::NotFound)?;
    let mut tx = state.db.begin().await?;
    if !db::services::retry_service(&mut tx, service.service_id).await? {
        return Err(AppError::Conflict(format!(
            "Only a failed service can be retried; {name} is {}.",
            service.status.replace('_', " ")
        )));
    }
    let detail = match &service.error_step {
        Some(step) => format!("from {step}"),
        None => String::new(),
    };
    audit(&mut tx, user, "retry", service.service_id, name, &detail, request_id).await?;
    tx.commit().await?;
    db::services::find_service(&state.db, service.service_id).await?.ok_or(AppError::NotFound)
}

async fn audit(
    tx: &mut sqlx::PgConnection,
    user: &CurrentUser,
    action: &str,
    service_id: Uuid,
    service_name: &str,
    detail: &str,
    request_id: &str,
) -> Result<(), AppError> {
    let event = NewAuditEvent {
        actor_user_id: Some(user.user.user_id),
        actor_login: Some(&user.user.login),
        action,
        service_id: Some(service_id),
        service_name: Some(service_name),
        detail,
        request_id: Some(request_id),
        ..Default::default()
    };
    db::audit::insert_audit_event(tx, &event).await?;
    Ok(())
}
