//! `GET /services`: the live services, filtered, sorted and a page at a time. The query string is
//! parsed whole into an [`InventoryQuery`] first; anything it cannot be is a 400 that names the
//! parameter, so a bad bookmark is explained instead of silently showing something else.

use axum::Extension;
use axum::extract::{RawQuery, State};
use serde::Deserialize;

use super::view;
use crate::{
    db::{
        self,
        services::{INVENTORY_PAGE_SIZE, InventoryQuery, Service, SortDir, SortKey},
    },
    domain::ServiceStatus,
    error::AppError,
    web::AppState,
    web::pages::{InventoryPage, InventoryRow, Layout},
    web::session::CurrentUser,
};

/// Longer search text than any service name is a mistake, not a search.
const TEXT_MAX: usize = 100;

/// The query string as typed; every field is checked by [`parse_inventory_query`].
#[derive(Debug, Default, Deserialize)]
struct InventoryParams {
    q: Option<String>,
    environment: Option<String>,
    status: Option<String>,
    sort: Option<String>,
    dir: Option<String>,
    page: Option<String>,
}

/// The statuses one can filter by, as (value, label): every status but `deleted`.
pub fn listed_statuses() -> Vec<(&'static str, String)> {
    ServiceStatus::ALL
        .iter()
        .filter(|s| **s != ServiceStatus::Deleted)
        .map(|s| (s.as_str(), s.as_str().replace('_', " ")))
        .collect()
}

/// Present and not blank: an empty form field means "no filter".
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Parses the whole query string; the error lists every parameter that is wrong.
pub fn parse_inventory_query(raw: &str, environments: &[String]) -> Result<InventoryQuery, String> {
    let params: InventoryParams =
        serde_urlencoded::from_str(raw).map_err(|e| format!("The query string could not be read: {e}."))?;
    let mut problems = Vec::new();
    let mut query = InventoryQuery::default();

    if let Some(q) = given(&params.q) {
        if q.chars().count() > TEXT_MAX {
            problems.push(format!("The search text (q) is too long: at most {TEXT_MAX} characters."));
        }
        query.text = Some(q.to_owned());
    }
    if let Some(env) = given(&params.environment) {
        if environments.iter().any(|e| e == env) {
            query.environment = Some(env.to_owned());
        } else {
            problems.push(format!("Unknown environment “{env}”: choose one of {}.", environments.join(", ")));
        }
    }
    if let Some(status) = given(&params.status) {
        let names: Vec<&str> = listed_statuses().into_iter().map(|(value, _)| value).collect();
        match ServiceStatus::parse(status) {
            Some(ServiceStatus::Deleted) => problems.push(format!(
                "Deleted services are not listed; choose a status among {}.",
                names.join(", ")
            )),
            Some(s) => query.status = Some(s),
            None => problems.push(format!("Unknown status “{status}”: choose one of {}.", names.join(", "))),
        }
    }
    match given(&params.sort) {
        None | Some("created") => {}
        Some("name") => (query.sort, query.dir) = (SortKey::Name, SortDir::Asc),
        Some(other) => problems.push(format!("Unknown sort “{other}”: use name or created.")),
    }
    match given(&params.dir) {
        None => {}
        Some("asc") => query.dir = SortDir::Asc,
        Some("desc") => query.dir = SortDir::Desc,
        Some(other) => problems.push(format!("Unknown direction (dir) “{other}”: use asc or desc.")),
    }
    if let Some(page) = given(&params.page) {
        match page.parse::<u32>() {
            Ok(n) if n >= 1 => query.page = n,
            _ => problems.push(format!("Page “{page}” is not a page number: use a whole number from 1 up.")),
        }
    }
    if problems.is_empty() { Ok(query) } else { Err(problems.join(" ")) }
}

/// The address of `query` at `page`, leaving out what is the default so links stay short.
pub fn inventory_url(query: &InventoryQuery, page: u32) -> String {
    let mut url = url::form_urlencoded::Serializer::new(String::new());
    if let Some(text) = &query.text {
        url.append_pair("q", text);
    }
    if let Some(env) = &query.environment {
        url.append_pair("environment", env);
    }
    if let Some(status) = query.status {
        url.append_pair("status", status.as_str());
    }
    if (query.sort, query.dir) != (SortKey::Created, SortDir::Desc) {
        url.append_pair("sort", if query.sort == SortKey::Name { "name" } else { "created" });
        url.append_pair("dir", if query.dir == SortDir::Asc { "asc" } else { "desc" });
    }
    if page > 1 {
        url.append_pair("page", &page.to_string());
    }
    let encoded = url.finish();
    if encoded.is_empty() { "/services".to_owned() } else { format!("/services?{encoded}") }
}

/// The link behind a column heading: sort by `key` (name A→Z, created newest first), or the
/// other way round when that is already the order. Filters stay; the page goes back to 1.
fn sort_url(query: &InventoryQuery, key: SortKey) -> String {
    let natural = if key == SortKey::Name { SortDir::Asc } else { SortDir::Desc };
    let dir = match (query.sort == key, query.dir) {
        (true, SortDir::Asc) if natural == SortDir::Asc => SortDir::Desc,
        (true, SortDir::Desc) if natural == SortDir::Desc => SortDir::Asc,
        _ => natural,
    };
    inventory_url(&InventoryQuery { sort: key, dir, page: 1, ..query.clone() }, 1)
}

fn row(service: &Service) -> InventoryRow {
    let outputs = view::outputs(service, &[]);
    let created = service.created_at.to_offset(time::UtcOffset::UTC);
    InventoryRow {
        name: service.name.clone(),
        description: service.description.clone(),
        environment: service.environment.clone(),
        status: service.status,
        status_label: service.status.label(),
        created_by_login: service.created_by_login.clone(),
        created_by_avatar: service.created_by_avatar.clone(),
        created_at: created
            .format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC"))
            .unwrap_or_default(),
        created_at_iso: created.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        html_url: outputs.html_url,
        actions_url: outputs.actions_url,
        ecr_repository_uri: outputs.ecr_repository_uri,
    }
}

fn inventory_page(
    user: &CurrentUser,
    environments: &[String],
    query: InventoryQuery,
    services: &[Service],
    total: i64,
) -> InventoryPage {
    let pages = ((total + INVENTORY_PAGE_SIZE - 1) / INVENTORY_PAGE_SIZE).max(1);
    let page = i64::from(query.page);
    let first_shown = (page - 1) * INVENTORY_PAGE_SIZE + 1;
    InventoryPage {
        layout: Layout::for_user(user),
        services: services.iter().map(row).collect(),
        environments: environments.to_vec(),
        statuses: listed_statuses(),
        filtered: query.text.is_some() || query.environment.is_some() || query.status.is_some(),
        q: query.text.clone().unwrap_or_default(),
        environment: query.environment.clone().unwrap_or_default(),
        status: query.status.map(ServiceStatus::as_str).unwrap_or_default().to_owned(),
        sort: if query.sort == SortKey::Name { "name" } else { "created" },
        dir: if query.dir == SortDir::Asc { "asc" } else { "desc" },
        name_sort_url: sort_url(&query, SortKey::Name),
        created_sort_url: sort_url(&query, SortKey::Created),
        total,
        page,
        pages,
        first_shown,
        last_shown: (first_shown + services.len() as i64 - 1).max(0),
        prev_url: (page > 1).then(|| inventory_url(&query, (page - 1).min(pages) as u32)),
        next_url: (page < pages).then(|| inventory_url(&query, query.page + 1)),
        last_page_url: inventory_url(&query, pages as u32),
    }
}

#[tracing::instrument(skip_all)]
pub async fn inventory(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    RawQuery(raw): RawQuery,
) -> Result<InventoryPage, AppError> {
    let environments = &state.config.environments;
    let query =
        parse_inventory_query(raw.as_deref().unwrap_or(""), environments).map_err(AppError::BadRequest)?;
    let (services, total) = db::services::list_services(&state.db, &query).await?;
    Ok(inventory_page(&user, environments, query, &services, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envs() -> Vec<String> {
        vec!["dev".into(), "prod".into()]
    }

    #[test]
    fn blank_fields_are_no_filter_and_defaults_are_newest_first() {
        let query = parse_inventory_query("q=+&environment=&status=&page=", &envs()).unwrap();
        assert_eq!(query, InventoryQuery::default());
        assert_eq!(inventory_url(&query, 1), "/services");
    }

    #[test]
    fn every_bad_parameter_is_named() {
        let message =
            parse_inventory_query("status=gone&page=0&sort=size&environment=qa", &envs()).unwrap_err();
        for part in ["status “gone”", "Page “0”", "sort “size”", "environment “qa”"] {
            assert!(message.contains(part), "{message} lacks {part}");
        }
        assert!(parse_inventory_query("status=deleted", &envs()).unwrap_err().contains("not listed"));
        assert!(parse_inventory_query("page=x", &envs()).is_err());
        assert!(parse_inventory_query("dir=up", &envs()).is_err());
    }

    #[test]
    fn links_keep_the_filters_and_the_order() {
        let query = parse_inventory_query("q=pay+ments&status=ready&sort=name&dir=desc", &envs()).unwrap();
        assert_eq!(inventory_url(&query, 3), "/services?q=pay+ments&status=ready&sort=name&dir=desc&page=3");
        assert_eq!(sort_url(&query, SortKey::Name), "/services?q=pay+ments&status=ready&sort=name&dir=asc");
        assert_eq!(sort_url(&query, SortKey::Created), "/services?q=pay+ments&status=ready");
    }
}
