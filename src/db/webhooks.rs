//! What a GitHub webhook delivery may touch: the service its repository belongs to, the record that the
//! delivery was acted on (so a redelivery changes nothing), and the wake-up of a parked first build.

use sqlx::PgExecutor;
use uuid::Uuid;

/// The live service whose `github_repository` step recorded repository `repository_id`.
#[tracing::instrument(skip_all)]
pub async fn find_service_by_repository_id(
    db: impl PgExecutor<'_>,
    repository_id: i64,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        r#"
        select st.service_id from step st join service s using (service_id)
        where st.step = 'github_repository' and (st.outputs ->> 'id')::bigint = $1 and s.status <> 'deleted'
        order by s.created_at desc
        limit 1
        "#,
        repository_id
    )
    .fetch_optional(db)
    .await
}

/// What a `workflow_run` delivery reports: that attempt `run_attempt` of run `run_id` did `action`.
/// Signed with the body, unlike the delivery id, and true once only: the key replays are refused on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunEvent<'a> {
    pub run_id: i64,
    pub run_attempt: i32,
    pub action: &'a str,
}

/// Records that delivery `delivery_id` was acted on; false when it already was: a redelivery (same id),
/// or the same run event under another id (a replay of a captured body).
#[tracing::instrument(skip_all)]
pub async fn record_delivery(
    db: impl PgExecutor<'_>,
    delivery_id: &str,
    service_id: Uuid,
    event: &str,
    run_event: Option<&RunEvent<'_>>,
) -> sqlx::Result<bool> {
    // No conflict target: a clash on either key (delivery id, run event) is a duplicate.
    let inserted = sqlx::query!(
        r#"
        insert into webhook_delivery (delivery_id, service_id, event, run_id, run_attempt, action)
        values ($1, $2, $3, $4, $5, $6)
        on conflict do nothing
        "#,
        delivery_id,
        service_id,
        event,
        run_event.map(|r| r.run_id),
        run_event.map(|r| r.run_attempt),
        run_event.map(|r| r.action),
    )
    .execute(db)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// How long a delivery's record is kept: GitHub redelivers (on request) deliveries of the past three
/// days, so a week covers every redelivery with room to spare.
pub const DELIVERY_RECORD_DAYS: i32 = 7;

/// Removes the records of deliveries older than [`DELIVERY_RECORD_DAYS`]; run periodically.
#[tracing::instrument(skip_all)]
pub async fn delete_old_deliveries(db: impl PgExecutor<'_>) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "delete from webhook_delivery where received_at < now() - make_interval(days => $1)",
        DELIVERY_RECORD_DAYS
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Makes the service's parked first build due now and wakes the reconcilers, as a delete request
/// clears parking; a first build being looked at right now is marked so that it looks again at once
/// instead of parking (`steps::finish_step`). False (and nothing changed) when the first build is
/// neither parked nor running.
#[tracing::instrument(skip_all)]
pub async fn wake_first_build(tx: &mut sqlx::PgConnection, service_id: Uuid) -> sqlx::Result<bool> {
    let woken = sqlx::query!(
        r#"
        update step set wake_at = now()
        where service_id = $1 and step = 'first_build' and status in ('waiting', 'running')
        "#,
        service_id
    )
    .execute(&mut *tx)
    .await?;
    if woken.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query!(
        r#"
        update service set not_before = null, idle_claims = 0
        where service_id = $1 and status = 'provisioning'
        "#,
        service_id
    )
    .execute(&mut *tx)
    .await?;
    // The status did not change, so the trigger stays quiet: notify as it would.
    // `from`: a bare `select pg_notify(..)` yields a `void` column, which has no Rust type.
    sqlx::query!("select from pg_notify('shipyard_service_work', $1)", service_id.to_string())
        .execute(&mut *tx)
        .await?;
    Ok(true)
}
