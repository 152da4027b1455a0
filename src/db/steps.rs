//! Steps of a service: status, attempts, timings, the provider's error and the step's outputs.
//! Every write is fenced by the service's lease, so a process that lost its lease records nothing.

use sqlx::{PgExecutor, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::{StepName, StepStatus};

#[derive(Debug, Clone)]
pub struct Step {
    pub step: String,
    pub status: String,
    pub attempts: i32,
    pub started_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
    pub error: Option<String>,
    pub outputs: serde_json::Value,
}

impl Step {
    pub fn name(&self) -> Option<StepName> {
        StepName::parse(&self.step)
    }

    pub fn status(&self) -> StepStatus {
        StepStatus::parse(&self.status).unwrap_or(StepStatus::Pending)
    }
}

#[tracing::instrument(skip_all)]
pub async fn list_steps(db: impl PgExecutor<'_>, service_id: Uuid) -> sqlx::Result<Vec<Step>> {
    sqlx::query_as!(
        Step,
        r#"
        select step, status, attempts, started_at, finished_at, error, outputs
        from step where service_id = $1
        "#,
        service_id
    )
    .fetch_all(db)
    .await
}

/// Marks the step running (one more attempt). False when the lease is no longer ours.
pub async fn start_step(db: &PgPool, service_id: Uuid, owner: Uuid, step: StepName) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        r#"
        update step set status = 'running', attempts = attempts + 1, started_at = now(), finished_at = null,
            error = null
        where service_id = $1 and step = $3
          and exists (select 1 from service where service_id = $1 and lease_owner = $2 and lease_until > now())
        "#,
        service_id,
        owner,
        step.as_str()
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records the step's result: done with outputs, or failed with the provider's message.
pub async fn finish_step(
    db: &PgPool,
    service_id: Uuid,
    owner: Uuid,
    step: StepName,
    result: Result<&serde_json::Value, &str>,
) -> sqlx::Result<bool> {
    let (status, outputs, error) = match result {
        Ok(outputs) => (StepStatus::Done, Some(outputs), None),
        Err(message) => (StepStatus::Failed, None, Some(message)),
    };
    let done = sqlx::query!(
        r#"
        update step set status = $4, outputs = coalesce($5, outputs), error = $6, finished_at = now()
        where service_id = $1 and step = $3
          and exists (select 1 from service where service_id = $1 and lease_owner = $2 and lease_until > now())
        "#,
        service_id,
        owner,
        step.as_str(),
        status.as_str(),
        outputs,
        error
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}
