//! People who signed in with GitHub.

use sqlx::PgExecutor;
use uuid::Uuid;

/// A user as the pages show them.
#[derive(Debug, Clone)]
pub struct User {
    pub user_id: Uuid,
    pub github_id: i64,
    pub login: String,
    pub name: Option<String>,
    pub avatar_url: String,
}

/// Inserts the user or refreshes their login, name and avatar (keyed by GitHub's numeric id).
#[tracing::instrument(skip_all, fields(login = %login))]
pub async fn upsert_user(
    db: impl PgExecutor<'_>,
    github_id: i64,
    login: &str,
    name: Option<&str>,
    avatar_url: &str,
) -> sqlx::Result<User> {
    sqlx::query_as!(
        User,
        r#"
        insert into app_user (github_id, login, name, avatar_url)
        values ($1, $2, $3, $4)
        on conflict on constraint app_user_github_id_key do update
            set login = excluded.login, name = excluded.name, avatar_url = excluded.avatar_url,
                last_login_at = now()
        returning user_id, github_id, login, name, avatar_url
        "#,
        github_id,
        login,
        name,
        avatar_url
    )
    .fetch_one(db)
    .await
}
