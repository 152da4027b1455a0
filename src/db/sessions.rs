//! Signed-in browsers and started sign-ins. Only SHA-256 hashes of the secrets are stored.

use sqlx::PgExecutor;
use time::OffsetDateTime;

use super::users::User;
use crate::domain::OrgRole;

/// What a valid session cookie resolves to.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub user: User,
    /// The role GitHub reported at the last membership check.
    pub org_role: OrgRole,
    /// When GitHub last confirmed the membership (at sign-in, then at each re-check).
    pub membership_checked_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

#[tracing::instrument(skip_all)]
pub async fn insert_session(
    db: impl PgExecutor<'_>,
    session_id_hash: Vec<u8>,
    user_id: uuid::Uuid,
    org_role: OrgRole,
    expires_at: OffsetDateTime,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into session (session_id_hash, user_id, org_role, expires_at) values ($1, $2, $3, $4)",
        &session_id_hash,
        user_id,
        org_role as OrgRole,
        expires_at
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The live session with this hash, if any (expired sessions count as none).
#[tracing::instrument(skip_all)]
pub async fn find_session(
    db: impl PgExecutor<'_>,
    session_id_hash: Vec<u8>,
) -> sqlx::Result<Option<SessionRecord>> {
    let row = sqlx::query!(
        r#"
        select u.user_id, u.github_id, u.login, u.name, u.avatar_url, s.org_role as "org_role: OrgRole",
            s.membership_checked_at, s.expires_at
        from session s join app_user u using (user_id)
        where s.session_id_hash = $1 and s.expires_at > now()
        "#,
        &session_id_hash
    )
    .fetch_optional(db)
    .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(SessionRecord {
        user: User {
            user_id: r.user_id,
            github_id: r.github_id,
            login: r.login,
            name: r.name,
            avatar_url: r.avatar_url,
        },
        org_role: r.org_role,
        membership_checked_at: r.membership_checked_at,
        expires_at: r.expires_at,
    }))
}

/// Records what GitHub just said about a user's membership, on every session of theirs.
#[tracing::instrument(skip_all)]
pub async fn record_membership_check(
    db: impl PgExecutor<'_>,
    user_id: uuid::Uuid,
    org_role: OrgRole,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update session set org_role = $2, membership_checked_at = now() where user_id = $1",
        user_id,
        org_role as OrgRole
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Ends every session of a user (GitHub says they are no longer an active member).
#[tracing::instrument(skip_all)]
pub async fn delete_user_sessions(db: impl PgExecutor<'_>, user_id: uuid::Uuid) -> sqlx::Result<u64> {
    let done = sqlx::query!("delete from session where user_id = $1", user_id).execute(db).await?;
    Ok(done.rows_affected())
}

#[tracing::instrument(skip_all)]
pub async fn delete_session(db: impl PgExecutor<'_>, session_id_hash: Vec<u8>) -> sqlx::Result<bool> {
    let done =
        sqlx::query!("delete from session where session_id_hash = $1", &session_id_hash).execute(db).await?;
    Ok(done.rows_affected() > 0)
}

/// Records a started sign-in; its `state` must come back within the expiry, once.
#[tracing::instrument(skip_all)]
pub async fn insert_oauth_attempt(
    db: impl PgExecutor<'_>,
    state_hash: Vec<u8>,
    expires_at: OffsetDateTime,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into oauth_attempt (state_hash, expires_at) values ($1, $2)",
        &state_hash,
        expires_at
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Consumes a started sign-in: true only the first time, and only before it expired.
#[tracing::instrument(skip_all)]
pub async fn take_oauth_attempt(db: impl PgExecutor<'_>, state_hash: Vec<u8>) -> sqlx::Result<bool> {
    let row = sqlx::query_scalar!(
        "delete from oauth_attempt where state_hash = $1 returning expires_at > now() as \"fresh!\"",
        &state_hash
    )
    .fetch_optional(db)
    .await?;
    Ok(row.unwrap_or(false))
}

/// Removes expired sessions and sign-in attempts; run periodically.
#[tracing::instrument(skip_all)]
pub async fn delete_expired(db: &sqlx::PgPool) -> sqlx::Result<u64> {
    let sessions = sqlx::query!("delete from session where expires_at < now()").execute(db).await?;
    let attempts = sqlx::query!("delete from oauth_attempt where expires_at < now()").execute(db).await?;
    Ok(sessions.rows_affected() + attempts.rows_affected())
}
