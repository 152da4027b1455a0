//! Check now and Repair: the drift check run at once for one service, and the ensures of its
//! drifted resources run again. Both follow the delete permission rule: Repair rewrites the
//! service's IAM and secrets, and Check now spends the account's IAM and GitHub budgets.

use super::{Actor, NOT_AN_OWNER, audit, delete_refusal, find_by_id, owner_refusal};
use crate::{
    config::Config,
    db::{self, audit::AuditAction, audit::Outcome, services::Service},
    domain::ServiceStatus,
    error::AppError,
    provision::drift::{Checked, DriftCheck, Finding, repair_steps},
};

/// Runs the drift check for `service` now; returns the service as it then stands. Within `cooldown`
/// of its last check, that check's result is the answer (no provider is asked again).
#[tracing::instrument(skip_all, fields(service = %service.name))]
pub async fn check_now(
    db: &sqlx::PgPool,
    check: &DriftCheck,
    service: &Service,
    cooldown: std::time::Duration,
) -> Result<Service, AppError> {
    if !matches!(service.status, ServiceStatus::Ready | ServiceStatus::Drifted) {
        return Err(AppError::Conflict(format!(
            "Only a ready or drifted service can be checked; {} is {}.",
            service.name,
            service.status.label()
        )));
    }
    let (_, last) = db::drift::last_check(db, service.service_id).await?;
    if last.is_some_and(|at| time::OffsetDateTime::now_utc() - at < cooldown) {
        return find_by_id(db, service.service_id).await;
    }
    match check.check_service(service.service_id).await {
        Ok(Checked::Found(_)) => {}
        // Its status changed meanwhile (a delete or repair): the page shows what it is now.
        Ok(Checked::Skipped) => {}
        // A provider that did not answer: nothing was recorded, the status stays.
        Err(e) => return Err(AppError::Internal(e.context("the drift check could not read every resource"))),
    }
    find_by_id(db, service.service_id).await
}

/// Check now is for the people who may delete the service: a refusal is a 403 written to the
/// audit trail. Call before [`check_now`].
pub async fn check_may_check(
    db: &sqlx::PgPool,
    config: &Config,
    actor: Actor<'_>,
    service: &Service,
) -> Result<(), AppError> {
    let Some(reason) = owner_refusal(config, &actor, service, "check it now") else { return Ok(()) };
    let (id, name) = (service.service_id, service.name.as_str());
    audit(db, actor, AuditAction::DriftCheckRequested, id, name, Outcome::Denied, NOT_AN_OWNER).await?;
    Err(AppError::Forbidden(reason))
}

/// Why Repair cannot put these findings right, in words; `None` when it can.
pub fn unrepairable(service: &Service, findings: &[Finding]) -> Option<String> {
    let blocked: Vec<String> = findings.iter().filter(|f| !f.repairable()).map(Finding::summary).collect();
    (!blocked.is_empty()).then(|| {
        format!(
            "{} cannot be repaired by Shipyard ({}). Delete the service and create it again, or put it back by hand and run Check now.",
            service.name,
            blocked.join("; ")
        )
    })
}

/// Re-runs the ensures of the drifted resources and what depends on them: those create steps become
/// pending, the service `provisioning`, and the reconciler settles it `ready` again. Only for the
/// people who may delete it (403, audited); anything but a repairable drifted service is a 409.
#[tracing::instrument(skip_all, fields(service = %service.name))]
pub async fn repair_service(
    db: &sqlx::PgPool,
    config: &Config,
    actor: Actor<'_>,
    service: &Service,
) -> Result<Service, AppError> {
    let (id, name) = (service.service_id, service.name.as_str());
    if let Some(reason) = delete_refusal(config, &actor, service) {
        let detail = "not the creator, an organization admin or a Shipyard admin";
        audit(db, actor, AuditAction::RepairRequested, id, name, Outcome::Denied, detail).await?;
        return Err(AppError::Forbidden(reason.replace("can delete it", "can repair it")));
    }
    let not_drifted = || {
        AppError::Conflict(format!(
            "Only a drifted service can be repaired; {name} is {}.",
            service.status.label()
        ))
    };
    if service.status != ServiceStatus::Drifted {
        return Err(not_drifted());
    }
    let findings = db::drift::findings(db, id).await?.unwrap_or_default();
    if let Some(reason) = unrepairable(service, &findings) {
        return Err(AppError::Conflict(reason));
    }
    let steps = repair_steps(&findings).unwrap_or_default();
    let mut tx = db.begin().await?;
    if !db::drift::start_repair(&mut tx, id, &steps).await? {
        return Err(not_drifted());
    }
    let detail = format!(
        "{}; re-run {}",
        findings.iter().map(Finding::summary).collect::<Vec<_>>().join("; "),
        steps.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    );
    audit(&mut *tx, actor, AuditAction::RepairRequested, id, name, Outcome::Success, &detail).await?;
    tx.commit().await?;
    find_by_id(db, id).await
}
