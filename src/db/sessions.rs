//! Signed-in browsers and started sign-ins. Only SHA-256 hashes of the secrets are stored.

use sqlx::PgExecutor;
use time::OffsetDateTime;

use super::users::User;

/// What a valid session cookie resolves to.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub user: User,
    pub org_role: String,
}

#[tracing::instrument(skip_all)]
pub async fn insert_session(
    db: impl PgExecutor<'_>,
    session_id_hash: Vec<u8>,
    user_id: uuid::Uuid,
    org_role: &str,
    expires_at: OffsetDateTime,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into session (session_id_hash, user_id, org_role, expires_at) values ($1, $2, $3, $4)",
        &session_id_hash,
        user_id,
        org_role,
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
        select u.user_id, u.github_id, u.login, u.name, u.avatar_url, s.org_role
        from session s join app_user u using (user_id)
        where s.session_id_hash = $1 and s.expires_at > now()
        "#,
        &session_id_hash
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| SessionRecord {
        user: User {
            user_id: r.user_id,
            github_id: r.github_id,
            login: r.login,
            name: r.name,
            avatar_url: r.avatar_url,
        },
        org_role: r.org_role,
    }))
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
