//! Deleting a service from its page: the Delete section and its form. The permission check, the
//! request and its audit row are the `commands` module's; the reconciler tears the resources down
//! (IAM first) and writes `delete_done` itself. The API's `DELETE` is in `web::api`.

use axum::{
    Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::post,
};
use serde::Deserialize;

use crate::{
    commands,
    config::Config,
    db::services::Service,
    error::AppError,
    web::{
        AppState,
        errors::request_id,
        session::{CsrfForm, CurrentUser},
    },
};

pub fn router() -> Router<AppState> {
    Router::new().route("/services/{name}/delete", post(delete_from_page))
}

/// What the service page's Delete section shows.
#[derive(Debug, Clone, Default)]
pub struct DeleteSection {
    /// The service is live and not already being deleted.
    pub offered: bool,
    /// Why this person may not delete it; the section is shown disabled with this reason.
    pub refusal: Option<String>,
    /// What the form sent, when it comes back with a message.
    pub confirm_name: String,
    pub keep_repository: bool,
    pub error: Option<String>,
}

impl DeleteSection {
    pub fn for_page(config: &Config, user: &CurrentUser, service: &Service) -> Self {
        Self {
            offered: service.status.is_deletable(),
            refusal: commands::delete_refusal(config, &user.actor(""), service),
            ..Self::default()
        }
    }
}

/// The Delete form. The name must be typed again, so a stray click deletes nothing.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeleteInput {
    confirm_name: String,
    /// A checkbox: present (any value) when ticked.
    keep_repository: Option<String>,
}

/// The form's POST: 303 back to the page (which then follows the deletion), or the page again
/// (422) with a message next to the confirmation field.
#[tracing::instrument(skip_all, fields(service = %name))]
async fn delete_from_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    CsrfForm(user, input): CsrfForm<DeleteInput>,
) -> Result<Response, AppError> {
    let request_id = request_id(&headers);
    let actor = user.actor(&request_id);
    let service = commands::find(&state.db, &name).await?;
    let keep_repository = input.keep_repository.is_some();
    commands::check_may_delete(&state.db, &state.config, actor, &service).await?;
    if input.confirm_name.trim() != service.name {
        let mut page = super::service_page(&state, &user, service).await?;
        page.delete.error = Some(format!("Type the service name, {}, to confirm.", page.service.name));
        page.delete.confirm_name = input.confirm_name;
        page.delete.keep_repository = keep_repository;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    let service =
        commands::request_deletion(&state.db, &state.config, actor, &service, keep_repository).await?;
    Ok(Redirect::to(&format!("/services/{}", service.name)).into_response())
}
