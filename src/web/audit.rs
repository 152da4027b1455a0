//! `GET /audit`: who did what to which service, newest first; and the same rows for one service's
//! page. The trail is append-only in the database (a trigger refuses UPDATE and DELETE).

use axum::{
    Extension, Router,
    extract::{RawQuery, State},
    routing::get,
};
use serde::Deserialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::{AuditAction, Outcome};

use crate::{
    db::{self, audit::AuditEvent},
    error::AppError,
    web::AppState,
    web::pages::{AuditPage, Layout},
    web::session::CurrentUser,
};

/// The audit page shows at most this many events; filters reach older ones.
const PAGE_LIMIT: i64 = 200;
/// How many events the service page shows.
const SERVICE_PAGE_EVENTS: i64 = 10;
/// Longer than any service name or GitHub login: a mistake, not a filter.
const FILTER_MAX: usize = 100;

pub fn router() -> Router<AppState> {
    Router::new().route("/audit", get(audit_page))
}

/// One event as the pages show it.
#[derive(Debug, Clone)]
pub struct AuditRow {
    /// "2026-01-31 14:05:09 UTC".
    pub at: String,
    pub at_iso: String,
    pub actor: Option<String>,
    pub action: AuditAction,
    pub service_name: Option<String>,
    pub outcome: Outcome,
    pub detail: String,
}

fn audit_row(event: &AuditEvent) -> AuditRow {
    let at = event.at.to_offset(time::UtcOffset::UTC);
    AuditRow {
        at: at
            .format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC"))
            .unwrap_or_default(),
        at_iso: at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        actor: event.actor_login.clone(),
        action: event.action,
        service_name: event.service_name.clone(),
        outcome: event.outcome,
        detail: event.detail.clone(),
    }
}

/// The latest events of one service, for its page.
pub async fn service_events(db: &PgPool, service_id: Uuid) -> Result<Vec<AuditRow>, AppError> {
    let events = db::audit::list_service_events(db, service_id, SERVICE_PAGE_EVENTS).await?;
    Ok(events.iter().map(audit_row).collect())
}

#[derive(Debug, Default, Deserialize)]
struct AuditParams {
    service: Option<String>,
    actor: Option<String>,
}

/// The filters: exact service name and actor login, blank meaning "any".
#[derive(Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub service: Option<String>,
    pub actor: Option<String>,
}

pub fn parse_audit_filter(raw: &str) -> Result<AuditFilter, String> {
    let params: AuditParams =
        serde_urlencoded::from_str(raw).map_err(|e| format!("The query string could not be read: {e}."))?;
    let clean = |value: Option<String>, what: &str| -> Result<Option<String>, String> {
        let value = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        match value {
            Some(v) if v.chars().count() > FILTER_MAX => {
                Err(format!("The {what} filter is too long: at most {FILTER_MAX} characters."))
            }
            v => Ok(v),
        }
    };
    Ok(AuditFilter { service: clean(params.service, "service")?, actor: clean(params.actor, "actor")? })
}

#[tracing::instrument(skip_all)]
async fn audit_page(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    RawQuery(raw): RawQuery,
) -> Result<AuditPage, AppError> {
    let filter = parse_audit_filter(raw.as_deref().unwrap_or("")).map_err(AppError::BadRequest)?;
    // One more than we show, to know whether there are older ones.
    let mut events = db::audit::list_audit_events(
        &state.db,
        filter.service.as_deref(),
        filter.actor.as_deref(),
        PAGE_LIMIT + 1,
    )
    .await?;
    let truncated = events.len() as i64 > PAGE_LIMIT;
    events.truncate(PAGE_LIMIT as usize);
    Ok(AuditPage {
        layout: Layout::for_user(&user),
        events: events.iter().map(audit_row).collect(),
        service: filter.service.unwrap_or_default(),
        actor: filter.actor.unwrap_or_default(),
        truncated,
        limit: PAGE_LIMIT,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_filters_are_none_and_long_ones_are_refused() {
        assert_eq!(parse_audit_filter("service=+&actor=").unwrap(), AuditFilter::default());
        let filter = parse_audit_filter("service=payments&actor=bob").unwrap();
        assert_eq!(filter.service.as_deref(), Some("payments"));
        assert_eq!(filter.actor.as_deref(), Some("bob"));
        let long = format!("actor={}", "x".repeat(101));
        assert!(parse_audit_filter(&long).unwrap_err().contains("actor filter is too long"));
    }
}
