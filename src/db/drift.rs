//! The drift check's columns on `service`: the last check's findings and when it ran.

use sqlx::{PgExecutor, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{domain::ServiceStatus, provision::drift::Finding};

/// Services the drift check looks at: ready and drifted ones, least recently checked first.
pub async fn checkable_services(db: &PgPool) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "select service_id from service where status in ('ready', 'drifted')
         order by drift_checked_at nulls first, service_id",
    )
    .fetch_all(db)
    .await
}

/// The `drift` and `drift_checked_at` columns as read.
type LastCheckRow = (Option<sqlx::types::Json<Vec<Finding>>>, Option<OffsetDateTime>);

/// The findings the last check stored (`None` when it found nothing) and when it ran.
pub async fn last_check(
    db: impl PgExecutor<'_>,
    service_id: Uuid,
) -> sqlx::Result<(Option<Vec<Finding>>, Option<OffsetDateTime>)> {
    let row: Option<LastCheckRow> =
        sqlx::query_as("select drift, drift_checked_at from service where service_id = $1")
            .bind(service_id)
            .fetch_optional(db)
            .await?;
    Ok(row.map(|(f, at)| (f.map(|j| j.0), at)).unwrap_or_default())
}

/// The findings the last check stored, if it found any.
pub async fn findings(db: impl PgExecutor<'_>, service_id: Uuid) -> sqlx::Result<Option<Vec<Finding>>> {
    Ok(last_check(db, service_id).await?.0)
}

/// Records a check: status `to` with `findings` (none stored when empty), only while the service is
/// still `from` (a delete or repair asked for meanwhile wins). False when it was not.
pub async fn record_check(
    db: &PgPool,
    service_id: Uuid,
    from: ServiceStatus,
    to: ServiceStatus,
    findings: &[Finding],
) -> sqlx::Result<bool> {
    let stored = (!findings.is_empty()).then_some(sqlx::types::Json(findings));
    let done = sqlx::query(
        "update service set status = $3, drift = $4, drift_checked_at = now()
         where service_id = $1 and status = $2",
    )
    .bind(service_id)
    .bind(from)
    .bind(to)
    .bind(stored)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Turns a drifted service back to `provisioning` with `steps` pending again (their recorded
/// outputs stay, so later steps still read them), its findings cleared. False (nothing changed)
/// when it is no longer drifted.
pub async fn start_repair(
    tx: &mut sqlx::PgConnection,
    service_id: Uuid,
    steps: &[crate::provision::steps::StepKey],
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "update service set status = 'provisioning', drift = null, drift_checked_at = null,
             error_step = null, error_message = null, not_before = null, idle_claims = 0
         where service_id = $1 and status = 'drifted'",
    )
    .bind(service_id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    super::steps::reset_steps(&mut *tx, service_id, steps).await?;
    Ok(true)
}
