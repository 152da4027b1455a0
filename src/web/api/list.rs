//! `GET /api/v1/services`: live services, newest first, a page at a time, with GitHub-style
//! `Link` headers and the same links in the body (`next`, `prev`). The links carry cursors
//! (`after=` / `before=`, see [`crate::web::cursor`]), so every page costs what the first does and
//! a client paging through misses and repeats nothing while services are created; `page=N` still
//! works for old links. `total` is exact up to 1,000 matches and null past that
//! (`total_at_least` says 1000): counting every live row on each request is what cursors avoid, and a
//! count is reused for a moment ([`crate::web::listing`]).

use std::collections::BTreeMap;

use axum::{
    Json,
    extract::{RawQuery, State},
    http::{HeaderMap, HeaderValue, header},
};
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use crate::{
    db::inventory::{Boundary, Filters, Seek, SortDir, SortKey},
    domain::ServiceStatus,
    error::AppError,
    web::AppState,
    web::cursor::{self, Cursor},
    web::listing,
};

pub const DEFAULT_PER_PAGE: i64 = 30;
pub const MAX_PER_PAGE: i64 = 100;
/// Deep enough for any real inventory; keeps `(page - 1) * per_page` far from overflow.
const MAX_PAGE: i64 = 1_000_000;

/// The query string as sent: every value is text until parsed, so a bad one is a 422 naming it.
#[derive(Deserialize, Default)]
struct RawParams {
    status: Option<String>,
    environment: Option<String>,
    team: Option<String>,
    page: Option<String>,
    per_page: Option<String>,
    after: Option<String>,
    before: Option<String>,
}

/// Which page: an offset for old `page=N` links, or a cursor from a `next`/`prev`/`last` link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum At {
    Page(i64),
    After(Cursor),
    Before(Cursor),
    End,
}

/// A parsed list request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListParams {
    pub status: Option<ServiceStatus>,
    pub environment: Option<String>,
    /// The owning team's slug.
    pub team: Option<String>,
    pub at: At,
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
    let page_given = raw.page.as_ref().is_some_and(|p| !p.is_empty());
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
    let team = match raw.team.filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => crate::domain::TeamSlug::parse(&t)
            .map(|t| t.as_str().to_owned())
            .map_err(|why| errors.insert("team".to_owned(), why))
            .ok(),
    };
    let after = raw.after.filter(|c| !c.is_empty());
    let before = raw.before.filter(|c| !c.is_empty());
    let cursor = |name: &str, value: &str, errors: &mut BTreeMap<String, String>| {
        Cursor::parse(value, SortKey::Created)
            .map_err(|why| errors.insert(name.to_owned(), format!("The cursor {why}.")))
            .ok()
    };
    let at = match (page_given, after, before) {
        (false, None, None) => At::Page(1),
        (true, None, None) => At::Page(page),
        (false, Some(value), None) => cursor("after", &value, &mut errors).map_or(At::Page(1), At::After),
        (false, None, Some(value)) if value == cursor::END => At::End,
        (false, None, Some(value)) => cursor("before", &value, &mut errors).map_or(At::Page(1), At::Before),
        (page_given, after, before) => {
            let names = [("page", page_given), ("after", after.is_some()), ("before", before.is_some())];
            for (name, _) in names.iter().filter(|(_, given)| *given) {
                errors.insert((*name).to_owned(), "Use only one of page, after and before.".to_owned());
            }
            At::Page(1)
        }
    };
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    Ok(ListParams { status, environment, team, at, per_page })
}

/// The absolute URL of another page of the same listing.
fn page_url(base: &Url, params: &ListParams, at: &At) -> String {
    let mut url = base.join("/api/v1/services").expect("a path joins onto an http(s) URL");
    {
        let mut query = url.query_pairs_mut();
        if let Some(status) = params.status {
            query.append_pair("status", status.as_str());
        }
        if let Some(environment) = &params.environment {
            query.append_pair("environment", environment);
        }
        if let Some(team) = &params.team {
            query.append_pair("team", team);
        }
        match at {
            At::Page(page) => query.append_pair("page", &page.to_string()),
            At::After(c) => query.append_pair("after", &c.encode()),
            At::Before(c) => query.append_pair("before", &c.encode()),
            At::End => query.append_pair("before", cursor::END),
        };
        query.append_pair("per_page", &params.per_page.to_string());
    }
    url.into()
}

fn seek(at: &At, per_page: i64) -> Seek {
    match at {
        At::Page(page) => Seek::Offset((page - 1) * per_page),
        At::After(c) => Seek::After(c.boundary.clone()),
        At::Before(c) => Seek::Before(c.boundary.clone()),
        At::End => Seek::End,
    }
}

/// Live services, newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/services", operation_id = "listServices", tag = "services", summary = "List services",
    params(
        ("status" = Option<ServiceStatus>, Query, description = "Only services in this state (not `deleted`)."),
        ("environment" = Option<String>, Query, max_length = 64, description = "Only services of this environment."),
        ("team" = Option<String>, Query, description = "Only services the team with this slug owns."),
        ("per_page" = Option<i64>, Query, minimum = 1, maximum = 100, description = "At most this many (default 30)."),
        ("after" = Option<String>, Query, max_length = 200, pattern = r"^[A-Za-z0-9_-]*$",
            description = "A cursor from a `next` link: opaque (URL-safe base64), only cursors Shipyard made are \
                           accepted. Empty means none. Give at most one of `page`, `after` and `before` (422 otherwise)."),
        ("before" = Option<String>, Query, max_length = 200, pattern = r"^[A-Za-z0-9_-]*$",
            description = "A cursor from a `prev` link, or `end` for the last page: opaque (URL-safe base64), only \
                           cursors Shipyard made are accepted; empty means none. Give at most one of `page`, `after` \
                           and `before` (422 otherwise)."),
        ("page" = Option<i64>, Query, minimum = 1, maximum = 1000000, deprecated, description = "An old page number; use the links."),
    ),
    responses((status = 200, description = "A page of services.", body = super::doc::ServiceList,
        headers(("link" = String, description = "`next`, `prev`, `first` and `last` links, as GitHub sends them.")))))]
#[tracing::instrument(skip_all)]
pub async fn list(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<(HeaderMap, Json<Value>), AppError> {
    let params = parse_params(query.as_deref())?;
    let filters = Filters {
        text: None,
        environment: params.environment.clone(),
        status: params.status,
        team: params.team.clone(),
    };
    let listing = listing::list_live(
        &state,
        &filters,
        (SortKey::Created, SortDir::Desc),
        &seek(&params.at, params.per_page),
        params.per_page,
    )
    .await?;
    let link = |at: &At| page_url(&state.config.public_url, &params, at);
    // API cursors carry no position: clients page by links, not by numbers.
    let cursor_of = |service| Cursor { boundary: Boundary::of(service, SortKey::Created), position: None };
    let next = match listing.services.last() {
        Some(last) if listing.more_after => Some(link(&At::After(cursor_of(last)))),
        _ => None,
    };
    let prev = match (listing.services.first(), listing.more_before) {
        (Some(first), true) => Some(link(&At::Before(cursor_of(first)))),
        // Past the end: the way back is the last page.
        (None, true) if listing.matching.at_least() > 0 => Some(link(&At::End)),
        _ => None,
    };
    let mut rels = vec![];
    rels.extend(next.iter().map(|u| format!("<{u}>; rel=\"next\"")));
    rels.extend(prev.iter().map(|u| format!("<{u}>; rel=\"prev\"")));
    rels.push(format!("<{}>; rel=\"first\"", link(&At::Page(1))));
    rels.push(format!("<{}>; rel=\"last\"", link(&At::End)));
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&rels.join(", ")) {
        headers.insert(header::LINK, value);
    }
    let body = json!({
        "services": listing.services.iter().map(super::service_resource).collect::<Vec<_>>(),
        "page": match params.at { At::Page(page) => Some(page), _ => None },
        "per_page": params.per_page,
        "total": listing.matching.exact(),
        "total_at_least": listing.matching.at_least(),
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
            ListParams {
                status: None,
                environment: None,
                team: None,
                at: At::Page(1),
                per_page: DEFAULT_PER_PAGE
            }
        );
    }

    #[test]
    fn every_bad_parameter_is_named() {
        let Err(AppError::Invalid(errors)) = parse_params(Some("page=0&per_page=101&status=deleted")) else {
            panic!("invalid parameters are refused")
        };
        assert_eq!(errors.keys().collect::<Vec<_>>(), ["page", "per_page", "status"]);
        assert!(errors["status"].contains("delete_failed"), "{}", errors["status"]);
        for (query, names) in [
            ("after=bm9wZQ", vec!["after"]),
            ("before=%3F%3F", vec!["before"]),
            ("page=2&after=x&before=end", vec!["after", "before", "page"]),
        ] {
            let Err(AppError::Invalid(errors)) = parse_params(Some(query)) else {
                panic!("{query} is refused")
            };
            assert_eq!(errors.keys().collect::<Vec<_>>(), names, "{query}");
        }
    }

    #[test]
    fn a_page_link_keeps_the_filters() {
        let params = parse_params(Some("status=ready&environment=dev&per_page=2")).unwrap();
        let base = Url::parse("https://shipyard.example").unwrap();
        assert_eq!(
            page_url(&base, &params, &At::Page(3)),
            "https://shipyard.example/api/v1/services?status=ready&environment=dev&page=3&per_page=2"
        );
    }
}
