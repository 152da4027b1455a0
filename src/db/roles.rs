//! A service's extra push roles: what was asked for, and whether it is wanted or being removed.

use sqlx::PgExecutor;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::{Desired, PushRoleSpec, RoleKind};

/// The unique indexes that make two roles of one service collide.
pub const NAME_CONSTRAINT: &str = "service_role_pkey";
pub const SECRET_CONSTRAINT: &str = "service_role_secret_key";
pub const ENVIRONMENT_CONSTRAINT: &str = "service_role_environment_key";
/// IAM role names ignore case: `(service_id, lower(iam_role))`.
pub const IAM_ROLE_CONSTRAINT: &str = "service_role_iam_role_key";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRole {
    pub service_id: Uuid,
    pub name: String,
    pub kind: RoleKind,
    pub value: String,
    pub iam_role: String,
    pub secret: String,
    pub desired: Desired,
    pub created_at: OffsetDateTime,
}

impl ServiceRole {
    pub fn spec(&self) -> PushRoleSpec {
        PushRoleSpec { kind: self.kind, value: self.value.clone() }
    }
}

/// The new role's row; see [`insert_role`].
pub struct NewRole<'a> {
    pub spec: &'a PushRoleSpec,
    pub iam_role: &'a str,
    pub created_by: Uuid,
}

pub async fn list_roles(db: impl PgExecutor<'_>, service_id: Uuid) -> sqlx::Result<Vec<ServiceRole>> {
    sqlx::query_as!(
        ServiceRole,
        r#"
        select service_id, name, kind as "kind: RoleKind", value, iam_role, secret,
            desired as "desired: Desired", created_at
        from service_role where service_id = $1 order by created_at, name
        "#,
        service_id
    )
    .fetch_all(db)
    .await
}

/// Records a wanted role. A name, repository secret or environment another role of the service
/// holds is a violation of one of the constraints above.
pub async fn insert_role(db: impl PgExecutor<'_>, service_id: Uuid, new: &NewRole<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        insert into service_role (service_id, name, kind, value, iam_role, secret, created_by)
        values ($1, $2, $3, $4, $5, $6, $7)
        "#,
        service_id,
        new.spec.name(),
        new.spec.kind as RoleKind,
        new.spec.value,
        new.iam_role,
        new.spec.secret(),
        new.created_by
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Marks a wanted role for removal. False when there is no such wanted role.
pub async fn mark_absent(db: impl PgExecutor<'_>, service_id: Uuid, name: &str) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update service_role set desired = 'absent' where service_id = $1 and name = $2 and desired = 'present'",
        service_id,
        name
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Forgets roles whose removal is done: their rows and their steps' rows. Only the roles named,
/// which the caller saw removed; one marked for removal since is left for the next pass.
pub async fn forget_removed(
    tx: &mut sqlx::PgConnection,
    service_id: Uuid,
    names: &[String],
) -> sqlx::Result<()> {
    sqlx::query!("delete from step where service_id = $1 and instance = any($2)", service_id, names)
        .execute(&mut *tx)
        .await?;
    sqlx::query!(
        "delete from service_role where service_id = $1 and name = any($2) and desired = 'absent'",
        service_id,
        names
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}
