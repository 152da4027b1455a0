//! The append-only audit trail.

use sqlx::PgExecutor;
use time::OffsetDateTime;
use uuid::Uuid;

pub use crate::domain::{AuditAction, Outcome};

/// Something that happened, by whom, to what. `detail` never holds a secret.
#[derive(Debug, Clone)]
pub struct NewAuditEvent<'a> {
    pub actor_user_id: Option<Uuid>,
    pub actor_login: Option<&'a str>,
    pub action: AuditAction,
    pub service_id: Option<Uuid>,
    pub service_name: Option<&'a str>,
    pub outcome: Outcome,
    pub detail: &'a str,
    pub request_id: Option<&'a str>,
    pub source_ip: Option<&'a str>,
}

impl NewAuditEvent<'_> {
    /// An event with nothing but its action: set the other fields with struct update syntax.
    pub fn new(action: AuditAction) -> Self {
        Self {
            actor_user_id: None,
            actor_login: None,
            action,
            service_id: None,
            service_name: None,
            outcome: Outcome::Success,
            detail: "",
            request_id: None,
            source_ip: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub audit_event_id: i64,
    pub at: OffsetDateTime,
    pub actor_login: Option<String>,
    pub action: AuditAction,
    pub service_name: Option<String>,
    pub outcome: Outcome,
    pub detail: String,
    pub request_id: Option<String>,
}

#[tracing::instrument(skip_all, fields(action = %event.action))]
pub async fn insert_audit_event(db: impl PgExecutor<'_>, event: &NewAuditEvent<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        insert into audit_event
            (actor_user_id, actor_login, action, service_id, service_name, outcome, detail, request_id, source_ip)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        "#,
        event.actor_user_id,
        event.actor_login,
        event.action as AuditAction,
        event.service_id,
        event.service_name,
        event.outcome as Outcome,
        event.detail,
        event.request_id,
        event.source_ip
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The newest events first (by the time shown, ties in insertion order), optionally for one
/// service name and/or one actor.
#[tracing::instrument(skip_all)]
pub async fn list_audit_events(
    db: impl PgExecutor<'_>,
    service_name: Option<&str>,
    actor_login: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<AuditEvent>> {
    sqlx::query_as!(
        AuditEvent,
        r#"
        select audit_event_id, at, actor_login, action as "action: AuditAction", service_name,
            outcome as "outcome: Outcome", detail, request_id
        from audit_event
        where ($1::text is null or service_name = $1) and ($2::text is null or actor_login = $2)
        order by at desc, audit_event_id desc
        limit $3
        "#,
        service_name,
        actor_login,
        limit
    )
    .fetch_all(db)
    .await
}

/// The newest events of one service (by id: a name can be reused after a delete).
#[tracing::instrument(skip_all)]
pub async fn list_service_events(
    db: impl PgExecutor<'_>,
    service_id: Uuid,
    limit: i64,
) -> sqlx::Result<Vec<AuditEvent>> {
    sqlx::query_as!(
        AuditEvent,
        r#"
        select audit_event_id, at, actor_login, action as "action: AuditAction", service_name,
            outcome as "outcome: Outcome", detail, request_id
        from audit_event
        where service_id = $1
        order by at desc, audit_event_id desc
        limit $2
        "#,
        service_id,
        limit
    )
    .fetch_all(db)
    .await
}
