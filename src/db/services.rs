//! Services: what a user asked for, where it stands, and the reconciler's lease on it.

use sqlx::{PgExecutor, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::{Desired, ServiceStatus, StepName, Visibility};

/// A service row as the pages and the reconciler read it.
#[derive(Debug, Clone)]
pub struct Service {
    pub service_id: Uuid,
    pub name: String,
    pub org: String,
    pub environment: String,
    pub visibility: Visibility,
    pub template: String,
    pub default_branch: String,
    pub description: String,
    /// The slug of the owning GitHub team (none for services made before teams, or when not required).
    pub team: Option<String>,
    pub desired: Desired,
    pub status: ServiceStatus,
    pub keep_repository: bool,
    pub created_by: Uuid,
    pub created_by_login: String,
    pub created_by_avatar: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub deleted_at: Option<OffsetDateTime>,
    pub html_url: Option<String>,
    pub ssh_url: Option<String>,
    pub ecr_repository_uri: Option<String>,
    pub role_arn: Option<String>,
    pub error_step: Option<StepName>,
    pub error_message: Option<String>,
}

/// What the create form produced, already parsed.
pub struct NewService<'a> {
    pub name: &'a str,
    pub org: &'a str,
    pub environment: &'a str,
    pub visibility: Visibility,
    pub template: &'a str,
    pub default_branch: &'a str,
    pub description: &'a str,
    pub team: Option<&'a str>,
    pub created_by: Uuid,
}

/// The unique index that makes a live name taken (matched to turn the error into a form message).
pub const LIVE_NAME_CONSTRAINT: &str = "service_live_name_key";

/// One claim on a service: whoever holds an unexpired lease with this token may write its steps
/// and status. A new claim gets a new token, even in the same process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub service_id: Uuid,
    pub token: Uuid,
}

/// Inserts the service with one pending row per step of `steps` (the create phase).
#[tracing::instrument(skip_all, fields(service = new.name))]
pub async fn insert_service(
    tx: &mut sqlx::PgConnection,
    new: &NewService<'_>,
    steps: &[StepName],
) -> sqlx::Result<Uuid> {
    let service_id = sqlx::query_scalar!(
        r#"
        insert into service (name, org, environment, visibility, template, default_branch, description, team, created_by)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        returning service_id
        "#,
        new.name,
        new.org,
        new.environment,
        new.visibility as Visibility,
        new.template,
        new.default_branch,
        new.description,
        new.team,
        new.created_by
    )
    .fetch_one(&mut *tx)
    .await?;
    insert_steps(&mut *tx, service_id, steps).await?;
    Ok(service_id)
}

/// Adds pending rows for `steps` (existing rows are reset to pending).
pub async fn insert_steps(db: impl PgExecutor<'_>, service_id: Uuid, steps: &[StepName]) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        insert into step (service_id, step) select $1, unnest($2::text[])
        on conflict on constraint step_pkey do update
            set status = 'pending', error = null, started_at = null, finished_at = null, wake_at = null
        "#,
        service_id,
        steps as &[StepName]
    )
    .execute(db)
    .await?;
    Ok(())
}

macro_rules! select_service {
    ($where:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            Service,
            r#"select s.service_id, s.name, s.org, s.environment, s.visibility as "visibility: Visibility",
                    s.template, s.default_branch, s.description, s.team, s.desired as "desired: Desired",
                    s.status as "status: ServiceStatus", s.keep_repository, s.created_by,
                    u.login as created_by_login, u.avatar_url as created_by_avatar,
                    s.created_at, s.updated_at, s.deleted_at, s.html_url, s.ssh_url, s.ecr_repository_uri,
                    s.role_arn, s.error_step as "error_step: StepName", s.error_message
             from service s join app_user u on u.user_id = s.created_by "# + $where
            $(, $arg)*
        )
    };
}

/// The live service with this name, or else the most recently deleted one.
#[tracing::instrument(skip_all, fields(service = name))]
pub async fn find_service_by_name(db: impl PgExecutor<'_>, name: &str) -> sqlx::Result<Option<Service>> {
    select_service!("where s.name = $1 order by (s.status = 'deleted'), s.created_at desc limit 1", name)
        .fetch_optional(db)
        .await
}

#[tracing::instrument(skip_all)]
pub async fn find_service(db: impl PgExecutor<'_>, service_id: Uuid) -> sqlx::Result<Option<Service>> {
    select_service!("where s.service_id = $1", service_id).fetch_optional(db).await
}

/// Claims the next service with work to do whose lease is free or expired and that is due (not
/// parked, not backing off). Short transaction: the row lock lasts only for this statement; the
/// lease is what keeps others away afterwards.
#[tracing::instrument(skip_all)]
pub async fn claim_next_service(db: &PgPool, lease: std::time::Duration) -> sqlx::Result<Option<Claim>> {
    let claimed = sqlx::query!(
        r#"
        update service set lease_token = gen_random_uuid(), lease_until = now() + make_interval(secs => $1)
        where service_id = (
            select service_id from service
            where status in ('provisioning', 'deleting') and (lease_until is null or lease_until < now())
              and coalesce(not_before, updated_at) <= now()
            order by coalesce(not_before, updated_at)
            limit 1
            for update skip locked
        )
        returning service_id, lease_token as "lease_token!"
        "#,
        lease.as_secs_f64()
    )
    .fetch_optional(db)
    .await?;
    Ok(claimed.map(|row| Claim { service_id: row.service_id, token: row.lease_token }))
}

/// When the next unclaimed service with work falls due (parked, backing off, or already due: then
/// a time in the past), if there is any.
pub async fn next_due(db: &PgPool) -> sqlx::Result<Option<OffsetDateTime>> {
    sqlx::query_scalar!(
        r#"
        select min(coalesce(not_before, updated_at)) from service
        where status in ('provisioning', 'deleting') and (lease_until is null or lease_until < now())
        "#
    )
    .fetch_one(db)
    .await
}

/// Extends the claim's lease; false when it is no longer the claim's (expired and taken over).
pub async fn renew_lease(db: &PgPool, claim: &Claim, lease: std::time::Duration) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        r#"
        update service set lease_until = now() + make_interval(secs => $3)
        where service_id = $1 and lease_token = $2 and lease_until > now()
        "#,
        claim.service_id,
        claim.token,
        lease.as_secs_f64()
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// How a claim is given up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Release {
    /// The pass recorded progress: claimable again at once.
    Progressed,
    /// A step is parked: claim again at this time (a delete request or retry clears it sooner).
    ParkedUntil(OffsetDateTime),
    /// The pass recorded nothing: back off, longer each time this happens in a row.
    NoProgress,
}

/// Gives up the claim's lease, with when the service may be claimed next.
pub async fn release_lease(db: &PgPool, claim: &Claim, how: Release) -> sqlx::Result<()> {
    let (not_before, idle) = match how {
        Release::Progressed => (None, false),
        Release::ParkedUntil(at) => (Some(at), false),
        Release::NoProgress => (None, true),
    };
    sqlx::query!(
        r#"
        update service set lease_token = null, lease_until = null,
            idle_claims = case when $4 then idle_claims + 1 else 0 end,
            -- Back-off: 1 s, 2 s, 4 s ... at most 5 minutes.
            not_before = case when $4 then now() + make_interval(secs => least(300, power(2, least(idle_claims, 9))))
                              else $3 end
        where service_id = $1 and lease_token = $2
        "#,
        claim.service_id,
        claim.token,
        not_before,
        idle
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Moves the service from `from` to `status` (with the failing step and message, or none), only
/// while the claim holds its lease and nobody changed its status meanwhile (a delete request wins).
pub async fn set_service_status(
    db: &PgPool,
    claim: &Claim,
    from: ServiceStatus,
    status: ServiceStatus,
    error: Option<(StepName, &str)>,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        r#"
        update service
        set status = $3, error_step = $4, error_message = $5,
            deleted_at = case when $3 = 'deleted' then now() else deleted_at end
        where service_id = $1 and lease_token = $2 and lease_until > now() and status = $6
        "#,
        claim.service_id,
        claim.token,
        status as ServiceStatus,
        error.map(|(step, _)| step) as Option<StepName>,
        error.map(|(_, message)| message),
        from as ServiceStatus
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// What the inventory shows of a ready service, copied from the steps so it reads one table.
#[derive(Debug, Clone, Default)]
pub struct ServiceOutputs {
    pub html_url: Option<String>,
    pub ssh_url: Option<String>,
    pub ecr_repository_uri: Option<String>,
    pub role_arn: Option<String>,
}

/// Copies the outputs the inventory shows onto the service row.
pub async fn set_service_outputs(
    db: &PgPool,
    service_id: Uuid,
    outputs: &ServiceOutputs,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        update service set html_url = coalesce($2, html_url), ssh_url = coalesce($3, ssh_url),
            ecr_repository_uri = coalesce($4, ecr_repository_uri), role_arn = coalesce($5, role_arn)
        where service_id = $1
        "#,
        service_id,
        outputs.html_url,
        outputs.ssh_url,
        outputs.ecr_repository_uri,
        outputs.role_arn
    )
    .execute(db)
    .await?;
    Ok(())
}

/// How many live (not deleted) services `user_id` created: what the per-person cap counts.
pub async fn count_live_created_by(db: impl sqlx::PgExecutor<'_>, user_id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "count!" from service where created_by = $1 and status <> 'deleted'"#,
        user_id
    )
    .fetch_one(db)
    .await
}

/// Resumes a failed service from its failed step: the failed steps become pending again.
/// Returns false when the service was not in a failed state (nothing changes then).
#[tracing::instrument(skip_all)]
pub async fn retry_service(tx: &mut sqlx::PgConnection, service_id: Uuid) -> sqlx::Result<bool> {
    let resumed = sqlx::query_scalar!(
        r#"
        update service
        set status = case status when 'failed' then 'provisioning' else 'deleting' end,
            error_step = null, error_message = null, not_before = null, idle_claims = 0
        where service_id = $1 and status in ('failed', 'delete_failed')
        returning status
        "#,
        service_id
    )
    .fetch_optional(&mut *tx)
    .await?;
    if resumed.is_none() {
        return Ok(false);
    }
    sqlx::query!(
        r#"
        update step set status = 'pending', error = null, unfinished_starts = 0
        where service_id = $1 and status in ('failed', 'running')
        "#,
        service_id
    )
    .execute(&mut *tx)
    .await?;
    Ok(true)
}

/// A push role was added or removed: a ready service goes back to `provisioning` and a provisioning
/// one is unparked, so a reconciler takes the change now. A failed service keeps its status: the
/// change runs when it is retried.
pub async fn resume_for_change(tx: &mut sqlx::PgConnection, service_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        update service set status = 'provisioning', not_before = null, idle_claims = 0
        where service_id = $1 and status in ('ready', 'provisioning')
        "#,
        service_id
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Records `team` as the service's owner, if it is ready or failed; returns the team it had before
/// (`Some(None)` for none), or `None` when the service is in another state (nothing changed).
pub async fn set_team(
    tx: &mut sqlx::PgConnection,
    service_id: Uuid,
    team: &str,
) -> sqlx::Result<Option<Option<String>>> {
    // A sub-select in RETURNING reads the row as the statement found it: the team before the update.
    sqlx::query_scalar!(
        r#"
        update service set team = $2
        where service_id = $1 and status in ('ready', 'failed')
        returning (select s.team from service s where s.service_id = $1) as "before"
        "#,
        service_id,
        team
    )
    .fetch_optional(&mut *tx)
    .await
}

/// Turns a live service towards deletion: desired absent, status deleting, the repository choice
/// recorded, any earlier error and any parking cleared (so a reconciler takes it at once), and one
/// pending row per step of `steps` (the delete phase). Returns false (and changes nothing) when the
/// service is already deleting or deleted. A create pass still running notices the new status
/// after its running steps and switches to the delete pass.
#[tracing::instrument(skip_all)]
pub async fn request_deletion(
    tx: &mut sqlx::PgConnection,
    service_id: Uuid,
    keep_repository: bool,
    steps: &[StepName],
) -> sqlx::Result<bool> {
    let requested = sqlx::query!(
        r#"
        update service
        set desired = 'absent', status = 'deleting', keep_repository = $2,
            error_step = null, error_message = null, not_before = null, idle_claims = 0
        where service_id = $1 and status in ('provisioning', 'ready', 'drifted', 'failed', 'delete_failed')
        "#,
        service_id,
        keep_repository
    )
    .execute(&mut *tx)
    .await?;
    if requested.rows_affected() == 0 {
        return Ok(false);
    }
    insert_steps(&mut *tx, service_id, steps).await?;
    Ok(true)
}
