//! Drift on the service page: what the last check found, Repair, and Check now. The rules are the
//! `commands::drift` module's; the API's endpoints are in `web::api::drift`.

use axum::{
    Router,
    extract::{Path, State},
    http::HeaderMap,
    response::Redirect,
    routing::post,
};
use serde::Serialize;
use serde_json::Value;

use crate::{
    commands::{self, drift::unrepairable},
    db::{self, services::Service},
    domain::ServiceStatus,
    error::AppError,
    provision::{
        Providers, Settings,
        drift::{DriftCheck, Finding},
    },
    web::{
        AppState,
        errors::request_id,
        session::{CsrfForm, CurrentUser, NoFields},
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/services/{name}/repair", post(repair_from_page))
        .route("/services/{name}/check", post(check_from_page))
}

/// The drift check on the server's own clients (the same the reconciler acts through).
pub fn drift_check(state: &AppState) -> DriftCheck {
    let providers = Providers::with_accounts(state.github.clone(), state.accounts.clone());
    DriftCheck::new(state.db.clone(), providers, Settings::from_config(&state.config))
}

/// What the page's Drift section and the API's `drift` show.
#[derive(Debug, Clone, Serialize)]
pub struct DriftView {
    /// When the last check ran (UTC), if one has.
    pub checked_at: Option<String>,
    pub findings: Vec<Finding>,
    /// Why Repair cannot help (the page offers deletion instead); `None` when it can.
    pub unrepairable: Option<String>,
}

impl DriftView {
    /// For a ready or drifted service; `None` for any other (nothing is checked then).
    pub async fn load(db: &sqlx::PgPool, service: &Service) -> Result<Option<Self>, AppError> {
        if !matches!(service.status, ServiceStatus::Ready | ServiceStatus::Drifted) {
            return Ok(None);
        }
        let (findings, at) = db::drift::last_check(db, service.service_id).await?;
        let findings = findings.unwrap_or_default();
        let checked_at = at.and_then(|at| at.format(&time::format_description::well_known::Rfc3339).ok());
        let unrepairable = unrepairable(service, &findings);
        Ok(Some(Self { checked_at, findings, unrepairable }))
    }

    pub fn repairable(&self) -> bool {
        !self.findings.is_empty() && self.unrepairable.is_none()
    }

    pub fn json(&self) -> Value {
        serde_json::json!({
            "checked_at": self.checked_at,
            "findings": self.findings,
            "repairable": self.repairable(),
            "unrepairable": self.unrepairable,
        })
    }
}

#[tracing::instrument(skip_all, fields(service = %name))]
async fn repair_from_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    CsrfForm(user, NoFields {}): CsrfForm<NoFields>,
) -> Result<Redirect, AppError> {
    let request_id = request_id(&headers);
    let service = commands::find(&state.db, &name).await?;
    commands::drift::repair_service(&state.db, &state.config, user.actor(&request_id), &service).await?;
    Ok(Redirect::to(&format!("/services/{}", service.name)))
}

#[tracing::instrument(skip_all, fields(service = %name))]
async fn check_from_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    CsrfForm(user, NoFields {}): CsrfForm<NoFields>,
) -> Result<Redirect, AppError> {
    let service = commands::find(&state.db, &name).await?;
    commands::drift::check_may_check(&state.db, &state.config, user.actor(&request_id(&headers)), &service)
        .await?;
    state.checks.spend(user.user.user_id)?;
    commands::drift::check_now(&state.db, &drift_check(&state), &service, state.config.check_cooldown)
        .await?;
    Ok(Redirect::to(&format!("/services/{}", service.name)))
}

/// Who may press Retry, Repair and Check now: the delete rule (`None` when `user` may).
pub fn owner_refusal(state: &AppState, user: &CurrentUser, service: &Service) -> Option<String> {
    commands::owner_refusal(&state.config, &user.actor(""), service, "retry, repair or check it")
}
