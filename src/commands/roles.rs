//! Extra push roles on an existing service: add one (another branch, release tags, a deployment
//! environment) or remove one. The same people who may delete the service may change its roles;
//! each request is audited in the transaction that records it, and the reconciler does the work.

use serde::Deserialize;

use super::{Actor, audit, delete_refusal, find_by_id, request::FieldErrors};
use crate::{
    config::Config,
    db::{
        self,
        audit::{AuditAction, Outcome},
        roles::{
            ENVIRONMENT_CONSTRAINT, IAM_ROLE_CONSTRAINT, NAME_CONSTRAINT, NewRole, SECRET_CONSTRAINT,
            ServiceRole,
        },
        services::Service,
    },
    domain::{
        Desired, IamNames, PushRoleSpec, RoleKind, ServiceName, ServiceStatus, push_role::iam_role_name,
    },
    error::AppError,
};

/// One role as asked for: exactly one of the three fields. Unknown fields are refused.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoleInput {
    pub branch: Option<String>,
    pub tag_pattern: Option<String>,
    pub environment: Option<String>,
}

/// Described as the server reads it: one of three objects, each with its one field a non-blank
/// string and the other two absent or null.
impl utoipa::PartialSchema for RoleInput {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Type};
        const FIELDS: [(&str, &str); 3] = [
            ("branch", "The one branch whose pushes may assume the role, such as `release`."),
            ("tag_pattern", "Release tags, a literal prefix with an optional `*` at the end, such as `v*`."),
            ("environment", "A GitHub deployment environment, such as `production`."),
        ];
        let mut one_of = OneOfBuilder::new();
        for (field, description) in FIELDS {
            let mut object = ObjectBuilder::new()
                .schema_type(Type::Object)
                .additional_properties(Some(AdditionalProperties::FreeForm(false)))
                .required(field);
            for (other, _) in FIELDS {
                object = if other == field {
                    object.property(
                        other,
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .min_length(Some(1))
                            .pattern(Some(r"\S"))
                            .description(Some(description)),
                    )
                } else {
                    object.property(other, ObjectBuilder::new().schema_type(Type::Null))
                };
            }
            one_of = one_of.item(object);
        }
        one_of.into()
    }
}

impl utoipa::ToSchema for RoleInput {}

impl RoleInput {
    pub fn of(kind: RoleKind, value: &str) -> Self {
        let value = Some(value.to_owned());
        match kind {
            RoleKind::Branch => Self { branch: value, ..Self::default() },
            RoleKind::Tag => Self { tag_pattern: value, ..Self::default() },
            RoleKind::Environment => Self { environment: value, ..Self::default() },
        }
    }

    /// The one kind and value given; the error names the field (`prefix` + `branch`, ...).
    fn parse(&self, prefix: &str) -> Result<PushRoleSpec, FieldErrors> {
        let given: Vec<(RoleKind, &str)> = [
            (RoleKind::Branch, &self.branch),
            (RoleKind::Tag, &self.tag_pattern),
            (RoleKind::Environment, &self.environment),
        ]
        .into_iter()
        .filter_map(|(kind, value)| value.as_deref().map(|v| (kind, v)))
        .collect();
        let error = |field: &str, message: String| FieldErrors::from([(format!("{prefix}{field}"), message)]);
        match given.as_slice() {
            [(kind, value)] => PushRoleSpec::parse(*kind, value)
                .map_err(|message| error(PushRoleSpec::field(*kind), message)),
            [] => Err(error("role", "Give one of branch, tag_pattern or environment.".into())),
            _ => Err(error("role", "Give only one of branch, tag_pattern or environment per role.".into())),
        }
    }
}

/// A role checked against the service it is for: its IAM name fits, it is not the default role.
#[derive(Debug, Clone)]
pub struct CheckedRole {
    pub spec: PushRoleSpec,
    pub iam_role: String,
}

/// Parses `input` for a service named `name` in `environment` with `default_branch`: every error
/// a request can be refused for without asking the database (field names start with `prefix`).
pub fn check_role(
    config: &Config,
    name: &ServiceName,
    environment: &str,
    default_branch: &str,
    input: &RoleInput,
    prefix: &str,
) -> Result<CheckedRole, FieldErrors> {
    let spec = input.parse(prefix)?;
    let field = format!("{prefix}{}", PushRoleSpec::field(spec.kind));
    let refuse = |message: String| Err(FieldErrors::from([(field.clone(), message)]));
    if spec.kind == RoleKind::Branch && spec.value == default_branch {
        return refuse(format!("{default_branch} is the default branch; its role exists already."));
    }
    let iam_role = iam_role_name(&config.github_org, name, environment, &spec.name());
    if iam_role.len() > IamNames::ROLE_MAX {
        return refuse(format!(
            "The IAM role name {iam_role:?} would be {} characters; IAM allows {}. Shorten it by {} characters.",
            iam_role.len(),
            IamNames::ROLE_MAX,
            iam_role.len() - IamNames::ROLE_MAX
        ));
    }
    // IAM role names are unique regardless of case: `Main` beside `main` would be the default role.
    if iam_role.eq_ignore_ascii_case(&default_role_name(config, name, environment, default_branch)) {
        return refuse(format!("Its IAM role would be the default branch's ({iam_role}); choose another."));
    }
    Ok(CheckedRole { spec, iam_role })
}

fn default_role_name(config: &Config, name: &ServiceName, environment: &str, branch: &str) -> String {
    iam_role_name(&config.github_org, name, environment, &crate::domain::iam_clean(branch))
}

/// Records `role` for the service in `tx`. Another role of the service with the same name,
/// repository secret or environment is a 422 naming the field and the role it collides with.
pub async fn insert_checked(
    tx: &mut sqlx::PgConnection,
    service_id: uuid::Uuid,
    role: &CheckedRole,
    created_by: uuid::Uuid,
    prefix: &str,
) -> Result<(), AppError> {
    let new = NewRole { spec: &role.spec, iam_role: &role.iam_role, created_by };
    let collides = |why: String| {
        AppError::Invalid(FieldErrors::from([(
            format!("{prefix}{}", PushRoleSpec::field(role.spec.kind)),
            why,
        )]))
    };
    // A savepoint: the failed insert must not abort the caller's transaction.
    let mut savepoint = sqlx::Acquire::begin(&mut *tx).await?;
    match db::roles::insert_role(&mut *savepoint, service_id, &new).await {
        Ok(()) => Ok(savepoint.commit().await?),
        Err(e) if db::violates(&e, NAME_CONSTRAINT) => Err(collides(format!(
            "The service already has a role named {} ({}).",
            role.spec.name(),
            role.spec.describe()
        ))),
        Err(e) if db::violates(&e, SECRET_CONSTRAINT) => Err(collides(format!(
            "Its secret {} is already another role's; choose a branch or pattern that differs in more than case or punctuation.",
            role.spec.secret()
        ))),
        Err(e) if db::violates(&e, IAM_ROLE_CONSTRAINT) => Err(collides(format!(
            "Its IAM role {} differs from another role's only in case; IAM names ignore case, so choose another.",
            role.iam_role
        ))),
        Err(e) if db::violates(&e, ENVIRONMENT_CONSTRAINT) => {
            Err(collides(format!("The service already has a role for environment {}.", role.spec.value)))
        }
        Err(e) => Err(e.into()),
    }
}

/// Statuses in which roles may change: the reconciler will (or, once retried, does) run the work.
pub fn check_changeable(service: &Service) -> Result<(), AppError> {
    match service.status {
        ServiceStatus::Ready | ServiceStatus::Provisioning | ServiceStatus::Failed => Ok(()),
        ServiceStatus::Drifted => Err(AppError::Conflict(format!(
            "{} has drifted; repair it (or let the check clear it) before changing its roles.",
            service.name
        ))),
        status => Err(AppError::Conflict(format!(
            "{} is {}; its roles can no longer change.",
            service.name,
            status.label()
        ))),
    }
}

fn check_allowed(config: &Config, actor: &Actor<'_>, service: &Service) -> Option<String> {
    delete_refusal(config, actor, service).map(|r| r.replace("can delete it", "can change its roles"))
}

/// Adds a push role: 422 for bad input (nothing written), 403 (audited) for someone who may not,
/// 409 when the service cannot change now. A ready service goes back to provisioning for the work.
#[tracing::instrument(skip_all, fields(service = %service.name))]
pub async fn add_role(
    db: &sqlx::PgPool,
    config: &Config,
    actor: Actor<'_>,
    service: &Service,
    input: &RoleInput,
) -> Result<ServiceRole, AppError> {
    let (id, name) = (service.service_id, service.name.as_str());
    if let Some(reason) = check_allowed(config, &actor, service) {
        audit(
            db,
            actor,
            AuditAction::RoleRequested,
            id,
            name,
            Outcome::Denied,
            "not the creator or an admin",
        )
        .await?;
        return Err(AppError::Forbidden(reason));
    }
    let service_name = ServiceName::parse(name).map_err(|e| anyhow::anyhow!("stored name: {e}"))?;
    let role = check_role(config, &service_name, &service.environment, &service.default_branch, input, "")
        .map_err(AppError::Invalid)?;
    check_changeable(service)?;
    if let Some(existing) = db::roles::list_roles(db, id)
        .await?
        .into_iter()
        .find(|r| r.iam_role.eq_ignore_ascii_case(&role.iam_role))
        && existing.desired == Desired::Absent
    {
        return Err(AppError::Conflict(format!(
            "The role {} is being removed; add it again once that is done.",
            existing.name
        )));
    }
    let mut tx = db.begin().await?;
    insert_checked(&mut tx, id, &role, actor.user_id, "").await?;
    db::services::resume_for_change(&mut tx, id).await?;
    audit(&mut *tx, actor, AuditAction::RoleRequested, id, name, Outcome::Success, &role.spec.describe())
        .await?;
    tx.commit().await?;
    let roles = db::roles::list_roles(db, id).await?;
    roles.into_iter().find(|r| r.name == role.spec.name()).ok_or(AppError::NotFound)
}

/// Removes an extra role (its secret, its attachment, then the role). The default-branch role is
/// the service's own and goes only with the service (409); an unknown role is a 404.
#[tracing::instrument(skip_all, fields(service = %service.name, role = %role_name))]
pub async fn remove_role(
    db: &sqlx::PgPool,
    config: &Config,
    actor: Actor<'_>,
    service: &Service,
    role_name: &str,
) -> Result<Service, AppError> {
    let (id, name) = (service.service_id, service.name.as_str());
    if let Some(reason) = check_allowed(config, &actor, service) {
        let detail = "not the creator or an admin";
        audit(db, actor, AuditAction::RoleRemovalRequested, id, name, Outcome::Denied, detail).await?;
        return Err(AppError::Forbidden(reason));
    }
    let roles = db::roles::list_roles(db, id).await?;
    let Some(role) = roles.iter().find(|r| r.name == role_name) else {
        if role_name == crate::domain::iam_clean(&service.default_branch) {
            return Err(AppError::Conflict(
                "The default-branch role cannot be removed; it goes when the service is deleted.".into(),
            ));
        }
        return Err(AppError::NotFound);
    };
    check_changeable(service)?;
    let mut tx = db.begin().await?;
    if !db::roles::mark_absent(&mut *tx, id, role_name).await? {
        return Err(AppError::Conflict(format!("The role {} is already being removed.", role.name)));
    }
    db::services::resume_for_change(&mut tx, id).await?;
    let detail = role.spec().describe();
    audit(&mut *tx, actor, AuditAction::RoleRemovalRequested, id, name, Outcome::Success, &detail).await?;
    tx.commit().await?;
    find_by_id(db, id).await
}
