//! The service inventory, the create form, the service page (with its progress feed) and retry.

pub mod delete;
pub mod drift;
pub mod inventory;
pub mod live;
pub mod roles;
pub mod team;
pub mod view;

use axum::{
    Extension, Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};

use super::{
    errors::request_id,
    session::{CsrfForm, CurrentUser, NoFields},
};
use crate::commands::{
    self,
    request::{DESCRIPTION_MAX, FieldErrors, ServiceInput},
};
use crate::{
    db::{self, services::Service},
    error::AppError,
    web::AppState,
    web::pages::{Layout, NewServicePage, ServicePage},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/services", get(inventory::inventory).post(create))
        .route("/services/new", get(new_form))
        .route("/services/{name}", get(show))
        .route("/services/{name}/progress", get(progress))
        .route("/services/{name}/retry", post(retry))
        .merge(delete::router())
        .merge(drift::router())
        .merge(roles::router())
        .merge(team::router())
}

/// The create form. The team select lists the teams this person may choose (GitHub asked with the
/// server's credential, see `commands::team`); when GitHub does not answer, the form says so and
/// takes a typed slug instead, checked on submit like any other.
async fn form_page(
    state: &AppState,
    user: &CurrentUser,
    values: ServiceInput,
    errors: FieldErrors,
) -> NewServicePage {
    // A person is waiting: one quick retry, never a wait for a rate-limit reset.
    let github = state.github.with_retry(crate::provider::RetryPolicy::interactive());
    let (teams, teams_error) = match commands::team::teams_for(&github, &state.config, &user.actor("")).await
    {
        Ok(teams) => (teams, None),
        Err(e) => {
            tracing::warn!(error = %e, "the teams for the create form could not be listed");
            (
                Vec::new(),
                Some(format!("GitHub did not list the teams ({}); type the team's slug.", e.message)),
            )
        }
    };
    NewServicePage {
        layout: Layout::for_user(user),
        org: state.config.github_org.clone(),
        environments: state.config.environments.clone(),
        templates: state.config.templates.clone(),
        values,
        errors,
        description_max: DESCRIPTION_MAX,
        visibilities: commands::visibilities_for(&state.config, &user.actor("")),
        teams,
        teams_error,
        team_required: state.config.team_required,
        team_permission: state.config.team_permission.as_str(),
    }
}

async fn new_form(State(state): State<AppState>, Extension(user): Extension<CurrentUser>) -> NewServicePage {
    let blank = ServiceInput::blank(&state.config);
    form_page(&state, &user, blank, FieldErrors::new()).await
}

/// The form's POST: the page again (422) with messages next to the bad fields, or on to the service.
#[tracing::instrument(skip_all)]
async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    CsrfForm(user, input): CsrfForm<ServiceInput>,
) -> Result<Response, AppError> {
    let request_id = request_id(&headers);
    let github = state.github.with_retry(crate::provider::RetryPolicy::interactive());
    let actor = user.actor(&request_id);
    match commands::create_service(&state.db, &github, &state.config, actor, &input).await {
        Ok(service) => Ok(Redirect::to(&format!("/services/{}", service.name)).into_response()),
        Err(AppError::Invalid(errors)) => {
            Ok((StatusCode::UNPROCESSABLE_ENTITY, form_page(&state, &user, input, errors).await)
                .into_response())
        }
        Err(AppError::NameTaken(name)) => {
            let errors = commands::name_taken(&name);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, form_page(&state, &user, input, errors).await)
                .into_response())
        }
        Err(e) => Err(e),
    }
}

#[tracing::instrument(skip_all, fields(service = %name))]
async fn show(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(name): Path<String>,
) -> Result<ServicePage, AppError> {
    service_page(&state, &user, commands::find(&state.db, &name).await?).await
}

/// The service page as `user` sees it (the delete form comes back through here with a message).
async fn service_page(
    state: &AppState,
    user: &CurrentUser,
    service: Service,
) -> Result<ServicePage, AppError> {
    let steps = db::steps::list_steps(&state.db, service.service_id).await?;
    let service_roles = db::roles::list_roles(&state.db, service.service_id).await?;
    let created_at = service
        .created_at
        .format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC"))
        .unwrap_or_default();
    Ok(ServicePage {
        layout: Layout::for_user(user),
        delete: delete::DeleteSection::for_page(&state.config, user, &service),
        owner: team::OwnerSection::for_page(&state.config, user, &service),
        created_at,
        in_progress: service.status.is_in_progress(),
        steps: view::step_views(&steps, time::OffsetDateTime::now_utc()),
        outputs: view::outputs(&service, &steps),
        failure: view::failure(&service),
        events: super::audit::service_events(&state.db, service.service_id).await?,
        live: live::look_up(state, &service, &steps).await,
        drift: drift::DriftView::load(&state.db, &service).await?,
        owner_refusal: drift::owner_refusal(state, user, &service),
        roles: roles::RolesSection {
            roles: roles::role_views(&service, &service_roles, &steps),
            refusal: commands::delete_refusal(&state.config, &user.actor(""), &service),
            changeable: commands::roles::check_changeable(&service).is_ok(),
            kind: "tag".into(),
            ..Default::default()
        },
        service,
    })
}

/// Polled by the page's script every second while the service is being built.
#[tracing::instrument(skip_all, fields(service = %name))]
async fn progress(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<view::Progress>, AppError> {
    let service = commands::find(&state.db, &name).await?;
    let steps = db::steps::list_steps(&state.db, service.service_id).await?;
    Ok(Json(view::progress(&service, &steps, time::OffsetDateTime::now_utc())))
}

#[tracing::instrument(skip_all, fields(service = %name))]
async fn retry(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    CsrfForm(user, NoFields {}): CsrfForm<NoFields>,
) -> Result<Redirect, AppError> {
    let request_id = request_id(&headers);
    let service = commands::retry_service(&state.db, &state.config, user.actor(&request_id), &name).await?;
    Ok(Redirect::to(&format!("/services/{}", service.name)))
}
