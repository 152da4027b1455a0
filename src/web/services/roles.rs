//! A service's push roles as the page and the API show them (the default-branch role first), and
//! the page's forms to add and remove extra ones. The checks and audit rows are `commands::roles`'.

use axum::{
    Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::post,
};
use serde::{Deserialize, Serialize};

use crate::{
    commands::{
        self,
        roles::{RoleInput, add_role, remove_role},
    },
    db::{roles::ServiceRole, services::Service, steps::Step},
    domain::{Desired, RoleKind, StepName, StepStatus, SubjectPrefix, iam_clean},
    error::AppError,
    provision::steps::{GithubRepository, OidcSubject, ROLE_SECRET, RoleSecretOutput},
    web::{
        AppState,
        errors::request_id,
        session::{CsrfForm, NoFields},
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/services/{name}/roles", post(add_from_page))
        .route("/services/{name}/roles/{role}/remove", post(remove_from_page))
}

/// One push role.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoleView {
    /// The last part of its IAM role name; what `DELETE .../roles/{name}` takes.
    pub name: String,
    pub kind: RoleKind,
    /// `branch main`, `tags v*`, `environment production`.
    pub admits: String,
    /// The `sub` its trust admits, once the repository's subject is known.
    pub subject: Option<String>,
    pub arn: Option<String>,
    /// The secret holding the ARN (an environment secret for an environment role).
    pub secret: String,
    pub environment: Option<String>,
    /// `creating`, `ready`, `failed` or `removing`.
    #[schema(value_type = crate::web::api::doc::RoleStatus)]
    pub status: &'static str,
    /// The default-branch role: it goes only with the service.
    pub default: bool,
    /// An environment role's gate: who may deploy to its environment, once its secret step has run.
    pub protection: Option<ProtectionView>,
}

/// An environment's deployment rules as the page and the API show them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProtectionView {
    /// `custom: main` (Shipyard's), `protected branches only`, `custom: main, tag v*`, `reviewers: alice`.
    pub rules: String,
    /// `shipyard` (its rule, restored by Repair) or `team` (the team's own, left as they are).
    #[schema(value_type = String)]
    pub set_by: &'static str,
}

/// How a role's steps stand: ready when all are done, failed when one failed.
fn status_of(steps: &[Step], names: &[StepName], instance: &str) -> &'static str {
    let rows: Vec<&Step> =
        steps.iter().filter(|s| names.contains(&s.step) && s.instance == instance).collect();
    if rows.iter().any(|s| s.status == StepStatus::Failed) {
        "failed"
    } else if rows.len() == names.len() && rows.iter().all(|s| s.status == StepStatus::Done) {
        "ready"
    } else {
        "creating"
    }
}

fn output(steps: &[Step], step: StepName, instance: &str, field: &str) -> Option<String> {
    let row =
        steps.iter().find(|s| s.step == step && s.instance == instance && s.status == StepStatus::Done)?;
    row.outputs.get(field)?.as_str().map(str::to_owned)
}

fn protection(steps: &[Step], instance: &str) -> Option<ProtectionView> {
    let row = steps.iter().find(|s| {
        s.step == StepName::PushRoleSecret && s.instance == instance && s.status == StepStatus::Done
    })?;
    let output: RoleSecretOutput = serde_json::from_value(row.outputs.clone()).ok()?;
    let p = output.protection?;
    Some(ProtectionView { rules: p.rules, set_by: if p.ours { "shipyard" } else { "team" } })
}

pub fn role_views(service: &Service, roles: &[ServiceRole], steps: &[Step]) -> Vec<RoleView> {
    // The subject as the trust admits it: the recorded prefix checked against the recorded ids.
    let prefix =
        super::view::recorded::<OidcSubject>(steps).zip(super::view::recorded::<GithubRepository>(steps));
    let prefix = prefix.and_then(|(s, r)| SubjectPrefix::parse(&s.sub_claim_prefix, r.owner_id, r.id).ok());
    let default = RoleView {
        name: iam_clean(&service.default_branch),
        kind: RoleKind::Branch,
        admits: format!("branch {} (the default)", service.default_branch),
        subject: prefix.as_ref().map(|p| p.subject(&format!("ref:refs/heads/{}", service.default_branch))),
        arn: service.role_arn.clone().or_else(|| output(steps, StepName::IamRole, "", "arn")),
        secret: ROLE_SECRET.to_owned(),
        environment: None,
        status: status_of(steps, &[StepName::IamRole, StepName::IamAttachment, StepName::ActionsSecrets], ""),
        default: true,
        protection: None,
    };
    let extra = roles.iter().map(|role| {
        let spec = role.spec();
        let made = [StepName::PushRole, StepName::PushRoleAttachment, StepName::PushRoleSecret];
        RoleView {
            name: role.name.clone(),
            kind: role.kind,
            admits: spec.describe(),
            subject: output(steps, StepName::PushRole, &role.name, "subject")
                .or_else(|| prefix.as_ref().map(|p| p.subject(&spec.context()))),
            arn: output(steps, StepName::PushRole, &role.name, "arn"),
            secret: role.secret.clone(),
            environment: (role.kind == RoleKind::Environment).then(|| role.value.clone()),
            status: match role.desired {
                Desired::Absent => "removing",
                Desired::Present => status_of(steps, &made, &role.name),
            },
            default: false,
            protection: protection(steps, &role.name),
        }
    });
    std::iter::once(default).chain(extra).collect()
}

/// The page's Roles section: the add form's values and message when it comes back.
#[derive(Debug, Clone, Default)]
pub struct RolesSection {
    pub roles: Vec<RoleView>,
    /// Why this person may not change roles; the forms are not offered then.
    pub refusal: Option<String>,
    /// The service is in a state where roles may change.
    pub changeable: bool,
    pub kind: String,
    pub value: String,
    pub error: Option<String>,
}

/// The add form: a kind and its value.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AddRoleForm {
    kind: String,
    value: String,
}

#[tracing::instrument(skip_all, fields(service = %name))]
async fn add_from_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    CsrfForm(user, form): CsrfForm<AddRoleForm>,
) -> Result<Response, AppError> {
    let request_id = request_id(&headers);
    let service = commands::find(&state.db, &name).await?;
    let input = match RoleKind::parse(&form.kind) {
        Some(kind) => RoleInput::of(kind, &form.value),
        None => RoleInput::default(),
    };
    match add_role(&state.db, &state.config, user.actor(&request_id), &service, &input).await {
        Ok(_) => Ok(Redirect::to(&format!("/services/{}", service.name)).into_response()),
        Err(AppError::Invalid(errors)) => {
            let mut page = super::service_page(&state, &user, service).await?;
            page.roles.error = Some(errors.into_values().collect::<Vec<_>>().join(" "));
            page.roles.kind = form.kind;
            page.roles.value = form.value;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e),
    }
}

#[tracing::instrument(skip_all, fields(service = %name, role = %role))]
async fn remove_from_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((name, role)): Path<(String, String)>,
    CsrfForm(user, NoFields {}): CsrfForm<NoFields>,
) -> Result<Redirect, AppError> {
    let request_id = request_id(&headers);
    let service = commands::find(&state.db, &name).await?;
    let service = remove_role(&state.db, &state.config, user.actor(&request_id), &service, &role).await?;
    Ok(Redirect::to(&format!("/services/{}", service.name)))
}
