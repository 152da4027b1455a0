//! `GET /api/v1/services`: live services, newest first, a page at a time, with GitHub-style
//! `Link` headers and the same links in the body (`next`, `prev`).

use std::collections::BTreeMap;

use axum::{
    Json,
    extract::{RawQuery, State},
    http::{HeaderMap, HeaderValue, header},
};
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use crate::{db, domain::ServiceStatus, error::AppError, web::AppState};

pub const DEFAULT_PER_PAGE: i64 = 30;
pub const MAX_PER_PAGE: i64 = 100;
/// Deep enough for any real inventory; keeps `(page - 1) * per_page` far from overflow.
const MAX_PAGE: i64 = 1_000_000;

/// The query string as sent: every value is text until parsed, so a bad one is a 422 naming it.
#[derive(Deserialize, Default)]
struct RawParams {
    status: Option<String>,
    environment: Option<String>,
    page: Option<String>,
    per_page: Option<String>,
}

/// A parsed list request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListParams {
    pub status: Option<ServiceStatus>,
    pub environment: Option<String>,
    pub page: i64,
    pub per_page: i64,
}

/// Parses the query string, collecting a message per bad parameter.
pub fn parse_params(query: Option<&str>) -> Result<ListParams, AppError> {
    let raw: RawParams = serde_urlencoded::from_str(query.unwrap_or_default())
        .map_err(|e| AppError::BadRequest(format!("The query string could not be read: {e}.")))?;
    let mut errors = BTreeMap::new();
    let mut number = |name: &str, value: Option<String>, default: i64, max: i64| -> i64 {
        let Some(value) = value.filter(|v| !v.is_empty()) else { return default };
        match value.parse::<i64>() {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => {
                errors.insert(name.to_owned(), format!("A whole number from 1 to {max}."));
                default
            }
        }
    };
    let page = number("page", raw.page, 1, MAX_PAGE);
    let per_page = number("per_page", raw.per_page, DEFAULT_PER_PAGE, MAX_PER_PAGE);
    let status = match raw.status.filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match ServiceStatus::parse(&s).filter(|s| *s != ServiceStatus::Deleted) {
            Some(status) => Some(status),
            None => {
                let live: Vec<&str> = ServiceStatus::ALL
                    .iter()
                    .filter(|s| **s != ServiceStatus::Deleted)
                    .map(|s| s.as_str())
                    .collect();
                errors.insert("status".to_owned(), format!("Choose one of: {}.", live.join(", ")));
                None
            }
        },
    };
    let environment = raw.environment.filter(|e| !e.is_empty());
    if environment.as_ref().is_some_and(|e| e.len() > 64) {
        errors.insert("environment".to_owned(), "At most 64 characters.".to_owned());
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    Ok(ListParams { status, environment, page, per_page })
}

/// The absolute URL of another page of the same listing.
fn page_url(base: &Url, params: &ListParams, page: i64) -> String {
    let mut url = base.join("/api/v1/services").expect("a path joins onto an http(s) URL");
    {
        let mut query = url.query_pairs_mut();
        if let Some(status) = params.status {
            query.append_pair("status", status.as_str());
        }
        if let Some(environment) = &params.environment {
            query.append_pair("environment", environment);
        }
        query.append_pair("page", &page.to_string()).append_pair("per_page", &params.per_page.to_string());
    }
    url.into()
}

#[tracing::instrument(skip_all)]
pub async fn list(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<(HeaderMap, Json<Value>), AppError> {
    let params = parse_params(query.as_deref())?;
    let offset = (params.page - 1) * params.per_page;
    let (services, total) = db::services::list_services_api(
        &state.db,
        params.status,
        params.environment.as_deref(),
        params.per_page,
        offset,
    )
    .await?;
    let last = ((total + params.per_page - 1) / params.per_page).max(1);
    let link = |page: i64| page_url(&state.config.public_url, &params, page);
    let next = (params.page < last).then(|| link(params.page + 1));
    let prev = (params.page > 1).then(|| link((params.page - 1).min(last)));
    let mut rels = vec![];
    rels.extend(next.iter().map(|u| format!("<{u}>; rel=\"next\"")));
    rels.extend(prev.iter().map(|u| format!("<{u}>; rel=\"prev\"")));
    rels.push(format!("<{}>; rel=\"first\"", link(1)));
    rels.push(format!("<{}>; rel=\"last\"", link(last)));
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&rels.join(", ")) {
        headers.insert(header::LINK, value);
    }
    let body = json!({
        "services": services.iter().map(super::service_resource).collect::<Vec<_>>(),
        "page": params.page,
        "per_page": params.per_page,
        "total": total,
        "next": next,
        "prev": prev,
    });
    Ok((headers, Json(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_when_nothing_is_asked() {
        let params = parse_params(None).unwrap();
        assert_eq!(
            params,
            ListParams { status: None, environment: None, page: 1, per_page: DEFAULT_PER_PAGE }
        );
    }

    #[test]
    fn every_bad_parameter_is_named() {
        let Err(AppError::Invalid(errors)) = parse_params(Some("page=0&per_page=101&status=deleted")) else {
            panic!("invalid parameters are refused")
        };
        assert_eq!(errors.keys().collect::<Vec<_>>(), ["page", "per_page", "status"]);
        assert!(errors["status"].contains("delete_failed"), "{}", errors["status"]);
    }

    #[test]
    fn a_page_link_keeps_the_filters() {
        let params = parse_params(Some("status=ready&environment=dev&per_page=2")).unwrap();
        let base = Url::parse("https://shipyard.example").unwrap();
        assert_eq!(
            page_url(&base, &params, 3),
            "https://shipyard.example/api/v1/services?status=ready&environment=dev&page=3&per_page=2"
        );
    }
}
