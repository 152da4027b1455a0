//! Steps of a service: status, attempts, timings, the provider's error and the step's outputs.
//! Every write is fenced by the claim's lease token, so a claim that lost its lease records nothing.

use sqlx::{PgExecutor, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use super::services::Claim;
use crate::domain::{StepName, StepStatus};

#[derive(Debug, Clone)]
pub struct Step {
    pub step: StepName,
    /// Which of the service's push roles the row is for (`""`: the service's own step).
    pub instance: String,
    pub status: StepStatus,
    pub attempts: i32,
    /// Starts since a result was last recorded: more than one means a run died mid-step.
    pub unfinished_starts: i32,
    pub started_at: Option<OffsetDateTime>,
    /// When the step first started; Retry and Repair keep it (the adoption window's anchor).
    pub first_started_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
    /// When a waiting step is to be looked at again.
    pub wake_at: Option<OffsetDateTime>,
    pub error: Option<String>,
    pub outputs: serde_json::Value,
}

#[tracing::instrument(skip_all)]
pub async fn list_steps(db: impl PgExecutor<'_>, service_id: Uuid) -> sqlx::Result<Vec<Step>> {
    sqlx::query_as!(
        Step,
        r#"
        select step as "step: StepName", instance, status as "status: StepStatus", attempts, unfinished_starts,
            started_at, first_started_at, finished_at,
            wake_at, error, outputs
        from step where service_id = $1
        "#,
        service_id
    )
    .fetch_all(db)
    .await
}

/// Marks the step running (one more attempt, unless it resumes from waiting); a step with no row yet
/// (a push role's) gets one. False when the claim no longer holds the lease.
pub async fn start_step(db: &PgPool, claim: &Claim, step: StepName, instance: &str) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        r#"
        insert into step (service_id, step, instance, status, attempts, unfinished_starts, started_at, first_started_at)
        select $1, $3, $4, 'running', 1, 1, now(), now()
        where exists (select 1 from service where service_id = $1 and lease_token = $2 and lease_until > now())
        on conflict on constraint step_pkey do update
        set status = 'running', unfinished_starts = step.unfinished_starts + 1,
            -- Resuming a parked step continues its attempt; anything else is a new one.
            attempts = step.attempts + case when step.status = 'waiting' then 0 else 1 end,
            started_at = now(), first_started_at = coalesce(step.first_started_at, now()), finished_at = null,
            wake_at = null, error = null
        "#,
        claim.service_id,
        claim.token,
        step as StepName,
        instance
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// How a step run ended, as it is recorded.
pub enum StepResult<'a> {
    Done(&'a serde_json::Value),
    /// Parked until `wake_at`, with the state it will resume from.
    Waiting {
        state: &'a serde_json::Value,
        wake_at: OffsetDateTime,
    },
    Failed(&'a str),
}

/// Records the step's result: `None` when the claim no longer holds the lease, else when the step is
/// due again. A step that parks stays due at the earlier of its own time and a wake-up that came
/// while it ran (`start_step` clears `wake_at`, so one set since is such a wake-up: a webhook
/// delivery that landed during the look would otherwise be lost).
pub async fn finish_step(
    db: &PgPool,
    claim: &Claim,
    step: StepName,
    instance: &str,
    result: StepResult<'_>,
) -> sqlx::Result<Option<Option<OffsetDateTime>>> {
    let (status, outputs, error, wake_at) = match result {
        StepResult::Done(outputs) => (StepStatus::Done, Some(outputs), None, None),
        StepResult::Waiting { state, wake_at } => (StepStatus::Waiting, Some(state), None, Some(wake_at)),
        StepResult::Failed(message) => (StepStatus::Failed, None, Some(message), None),
    };
    sqlx::query_scalar!(
        r#"
        update step set status = $4, outputs = coalesce($5, outputs), error = $6, unfinished_starts = 0,
            wake_at = case when $4 = 'waiting' and step.status = 'running' then least(step.wake_at, $7) else $7 end,
            finished_at = case when $4 = 'waiting' then null else now() end
        where service_id = $1 and step = $3 and instance = $8
          and exists (select 1 from service where service_id = $1 and lease_token = $2 and lease_until > now())
        returning wake_at
        "#,
        claim.service_id,
        claim.token,
        step as StepName,
        status as StepStatus,
        outputs,
        error,
        wake_at,
        instance
    )
    .fetch_optional(db)
    .await
}

/// Makes these steps pending again (a row for each, kept outputs and all): what Repair re-runs.
pub async fn reset_steps(
    db: impl PgExecutor<'_>,
    service_id: Uuid,
    keys: &[crate::provision::steps::StepKey],
) -> sqlx::Result<()> {
    let steps: Vec<StepName> = keys.iter().map(|k| k.step).collect();
    let instances: Vec<String> = keys.iter().map(|k| k.instance.clone()).collect();
    sqlx::query!(
        r#"
        insert into step (service_id, step, instance) select $1, s, i from unnest($2::text[], $3::text[]) as t(s, i)
        on conflict on constraint step_pkey do update
            set status = 'pending', error = null, started_at = null, finished_at = null, wake_at = null
        "#,
        service_id,
        &steps as &[StepName],
        &instances
    )
    .execute(db)
    .await?;
    Ok(())
}
