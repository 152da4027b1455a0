//! The owning team on the service page: who owns it, and the form that transfers it to another team.
//! The check and the change are `commands::team`'s; the API's `PATCH` goes through the same command.

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
    provider::RetryPolicy,
    web::{
        AppState,
        errors::request_id,
        session::{CsrfForm, CurrentUser},
    },
};

pub fn router() -> Router<AppState> {
    Router::new().route("/services/{name}/team", post(transfer_from_page))
}

/// What the page's Owner section shows.
#[derive(Debug, Clone, Default)]
pub struct OwnerSection {
    /// Why this person may not transfer it (the delete rule); the form is not offered then.
    pub refusal: Option<String>,
    /// The service can be transferred in its state (ready or failed).
    pub transferable: bool,
    /// What the form sent, when it comes back with a message.
    pub team: String,
    pub error: Option<String>,
}

impl OwnerSection {
    pub fn for_page(config: &Config, user: &CurrentUser, service: &Service) -> Self {
        Self {
            refusal: commands::owner_refusal(config, &user.actor(""), service, "transfer it to another team"),
            transferable: commands::team::check_transferable(service).is_ok(),
            ..Self::default()
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TransferInput {
    team: String,
}

/// The form's POST: 303 back to the page (which then shows the new team's access being granted),
/// or the page again (422) with the message next to the field.
#[tracing::instrument(skip_all, fields(service = %name))]
async fn transfer_from_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    CsrfForm(user, input): CsrfForm<TransferInput>,
) -> Result<Response, AppError> {
    let request_id = request_id(&headers);
    let service = commands::find(&state.db, &name).await?;
    // A person is waiting: one quick retry, never a wait for a rate-limit reset.
    let github = state.github.with_retry(RetryPolicy::interactive());
    let actor = user.actor(&request_id);
    match commands::team::transfer_team(&state.db, &github, &state.config, actor, &service, &input.team).await
    {
        Ok(service) => Ok(Redirect::to(&format!("/services/{}", service.name)).into_response()),
        Err(AppError::Invalid(errors)) => {
            let mut page = super::service_page(&state, &user, service).await?;
            page.owner.error = errors.get("team").cloned();
            page.owner.team = input.team;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e),
    }
}
