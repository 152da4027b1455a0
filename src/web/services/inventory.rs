//! `GET /services`: the live services, filtered, sorted and a page at a time. The query string is
//! parsed whole into an [`InventoryQuery`] first; anything it cannot be is a 400 that names the
//! parameter, so a bad bookmark is explained instead of silently showing something else.

use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::view;
use crate::{
    db::{
        self,
        inventory::{Boundary, Filters, INVENTORY_PAGE_SIZE, Seek, SortDir, SortKey},
        services::Service,
    },
    domain::ServiceStatus,
    error::AppError,
    web::AppState,
    web::cursor::{self, Cursor},
    web::listing::{self, Listing},
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
    team: Option<String>,
    sort: Option<String>,
    dir: Option<String>,
    page: Option<String>,
    after: Option<String>,
    before: Option<String>,
}

/// Which page of the listing: the links the page renders use cursors; `page=N` (an offset) keeps
/// older bookmarks working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum At {
    Page(u32),
    After(Cursor),
    Before(Cursor),
    /// `before=end`: the last page.
    End,
}

/// What the inventory shows: live services matching the filters, in one order, one page of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryQuery {
    pub filters: Filters,
    pub sort: SortKey,
    pub dir: SortDir,
    pub at: At,
}

impl Default for InventoryQuery {
    fn default() -> Self {
        Self { filters: Filters::default(), sort: SortKey::Created, dir: SortDir::Desc, at: At::Page(1) }
    }
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
        query.filters.text = Some(q.to_owned());
    }
    if let Some(env) = given(&params.environment) {
        if environments.iter().any(|e| e == env) {
            query.filters.environment = Some(env.to_owned());
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
            Some(s) => query.filters.status = Some(s),
            None => problems.push(format!("Unknown status “{status}”: choose one of {}.", names.join(", "))),
        }
    }
    if let Some(team) = given(&params.team) {
        match crate::domain::TeamSlug::parse(team) {
            Ok(team) => query.filters.team = Some(team.as_str().to_owned()),
            Err(why) => problems.push(format!("Team: {why}")),
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
    let given_at =
        [("page", given(&params.page)), ("after", given(&params.after)), ("before", given(&params.before))];
    match given_at.iter().filter(|(_, value)| value.is_some()).collect::<Vec<_>>()[..] {
        [] => {}
        [("page", Some(page))] => match page.parse::<u32>() {
            Ok(n) if n >= 1 => query.at = At::Page(n),
            _ => problems.push(format!("Page “{page}” is not a page number: use a whole number from 1 up.")),
        },
        [("before", Some(cursor::END))] => query.at = At::End,
        [(name, Some(value))] => match Cursor::parse(value, query.sort) {
            Ok(c) if *name == "after" => query.at = At::After(c),
            Ok(c) => query.at = At::Before(c),
            Err(why) => problems.push(format!("The cursor ({name}) {why}.")),
        },
        _ => problems.push("Use only one of page, after and before.".to_owned()),
    }
    if problems.is_empty() { Ok(query) } else { Err(problems.join(" ")) }
}

/// The address of `query` at `at`, leaving out what is the default so links stay short.
pub fn inventory_url(query: &InventoryQuery, at: &At) -> String {
    let mut url = url::form_urlencoded::Serializer::new(String::new());
    let filters = &query.filters;
    if let Some(text) = &filters.text {
        url.append_pair("q", text);
    }
    if let Some(env) = &filters.environment {
        url.append_pair("environment", env);
    }
    if let Some(status) = filters.status {
        url.append_pair("status", status.as_str());
    }
    if let Some(team) = &filters.team {
        url.append_pair("team", team);
    }
    if (query.sort, query.dir) != (SortKey::Created, SortDir::Desc) {
        url.append_pair("sort", if query.sort == SortKey::Name { "name" } else { "created" });
        url.append_pair("dir", if query.dir == SortDir::Asc { "asc" } else { "desc" });
    }
    match at {
        At::Page(1) => {}
        At::Page(page) => {
            url.append_pair("page", &page.to_string());
        }
        At::After(c) => {
            url.append_pair("after", &c.encode());
        }
        At::Before(c) => {
            url.append_pair("before", &c.encode());
        }
        At::End => {
            url.append_pair("before", cursor::END);
        }
    }
    let encoded = url.finish();
    if encoded.is_empty() { "/services".to_owned() } else { format!("/services?{encoded}") }
}

/// The link behind a column heading: sort by `key` (name A→Z, created newest first), or the
/// other way round when that is already the order. Filters stay; the page goes back to the first.
fn sort_url(query: &InventoryQuery, key: SortKey) -> String {
    let natural = if key == SortKey::Name { SortDir::Asc } else { SortDir::Desc };
    let dir = match (query.sort == key, query.dir) {
        (true, SortDir::Asc) if natural == SortDir::Asc => SortDir::Desc,
        (true, SortDir::Desc) if natural == SortDir::Desc => SortDir::Asc,
        _ => natural,
    };
    inventory_url(&InventoryQuery { sort: key, dir, at: At::Page(1), ..query.clone() }, &At::Page(1))
}

/// Where to start reading for `at`.
fn seek(at: &At) -> Seek {
    match at {
        At::Page(page) => Seek::Offset(i64::from(page.saturating_sub(1)) * INVENTORY_PAGE_SIZE),
        At::After(c) => Seek::After(c.boundary.clone()),
        At::Before(c) => Seek::Before(c.boundary.clone()),
        At::End => Seek::End,
    }
}

/// The 1-based place of the page's first row, when it is known: from the offset, the cursor's
/// label, or the exact count for the last page.
fn first_shown(at: &At, listing: &Listing) -> Option<i64> {
    let shown = listing.services.len() as i64;
    if !listing.more_before {
        return Some(1);
    }
    match at {
        At::Page(page) => Some(i64::from(page.saturating_sub(1)) * INVENTORY_PAGE_SIZE + 1),
        At::After(c) => c.position.map(|p| i64::from(p) + 1),
        At::Before(c) => c.position.map(|p| (i64::from(p) - shown).max(1)),
        At::End => listing.matching.exact().map(|total| (total - shown + 1).max(1)),
    }
}

fn row(service: &Service) -> InventoryRow<'_> {
    let created = service.created_at.to_offset(time::UtcOffset::UTC);
    let html_url = service.html_url.as_deref().filter(|u| view::is_web_url(u));
    InventoryRow {
        name: &service.name,
        description: &service.description,
        environment: &service.environment,
        team: service.team.as_deref(),
        status: service.status,
        status_label: service.status.label(),
        created_by_login: &service.created_by_login,
        created_by_avatar: &service.created_by_avatar,
        created_at: created
            .format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC"))
            .unwrap_or_default(),
        created_at_iso: created.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        html_url,
        actions_url: html_url.map(view::actions_url),
        ecr_repository_uri: service.ecr_repository_uri.as_deref(),
    }
}

fn inventory_page<'a>(
    user: &CurrentUser,
    environments: &[String],
    query: InventoryQuery,
    listing: &'a Listing,
) -> InventoryPage<'a> {
    let shown = listing.services.len() as i64;
    let first = first_shown(&query.at, listing);
    let cursor_at = |service: &Service, position: Option<i64>| Cursor {
        boundary: Boundary::of(service, query.sort),
        position: position.and_then(|p| u32::try_from(p).ok()).filter(|p| *p >= 1),
    };
    // A count read a moment ago (web::listing) may lag services created since: what this page shows
    // of its place and its neighbours wins. (The place may come from the cursor's position label,
    // which is the client's word: it only ever shapes that client's own numbering.)
    let matching = match first {
        Some(first) if shown > 0 => {
            listing.matching.at_least_as_many_as(first + shown - 1 + i64::from(listing.more_after))
        }
        _ => listing.matching,
    };
    let noun = if matching.exact() == Some(1) { "service" } else { "services" };
    let count = match first {
        Some(first) => format!("Showing {first}–{} of {} {noun}.", first + shown - 1, matching.label()),
        None => format!("Showing the last {shown} of {} {noun}.", matching.label()),
    };
    let page_of = match (first, matching.exact()) {
        (Some(first), Some(total)) => format!(
            "Page {} of {}",
            (first - 1) / INVENTORY_PAGE_SIZE + 1,
            ((total + INVENTORY_PAGE_SIZE - 1) / INVENTORY_PAGE_SIZE).max(1)
        ),
        (Some(first), None) => format!("Page {}", (first - 1) / INVENTORY_PAGE_SIZE + 1),
        (None, _) => String::new(),
    };
    let last_page_url = inventory_url(&query, &At::End);
    let next_url = match listing.services.last() {
        Some(last) if listing.more_after => {
            Some(inventory_url(&query, &At::After(cursor_at(last, first.map(|f| f + shown - 1)))))
        }
        _ => None,
    };
    let prev_url = match listing.services.first() {
        Some(top) if listing.more_before => Some(inventory_url(&query, &At::Before(cursor_at(top, first)))),
        // Past the end (an old page number, or rows deleted since the link was made).
        None if listing.more_before && matching.at_least() > 0 => Some(last_page_url.clone()),
        _ => None,
    };
    InventoryPage {
        layout: Layout::for_user(user),
        services: listing.services.iter().map(row).collect(),
        environments: environments.to_vec(),
        statuses: listed_statuses(),
        filtered: query.filters.any(),
        q: query.filters.text.clone().unwrap_or_default(),
        environment: query.filters.environment.clone().unwrap_or_default(),
        status: query.filters.status.map(ServiceStatus::as_str).unwrap_or_default().to_owned(),
        team: query.filters.team.clone().unwrap_or_default(),
        sort: if query.sort == SortKey::Name { "name" } else { "created" },
        dir: if query.dir == SortDir::Asc { "asc" } else { "desc" },
        name_sort_url: sort_url(&query, SortKey::Name),
        created_sort_url: sort_url(&query, SortKey::Created),
        none_match: matching.at_least() == 0,
        count,
        page_of,
        prev_url,
        next_url,
        last_page_url,
    }
}

#[tracing::instrument(skip_all)]
pub async fn inventory(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let environments = &state.config.environments;
    let query =
        parse_inventory_query(raw.as_deref().unwrap_or(""), environments).map_err(AppError::BadRequest)?;
    // An old `page=N` link is an offset, which costs every row before it: it goes to the cursor page it
    // means (the one page N-1's "next" link names), found from the order's keys alone. Past the end
    // it is answered here (nothing to read, and a link to the last page).
    if let At::Page(page) = query.at
        && page > 1
    {
        let before = i64::from(page - 1) * INVENTORY_PAGE_SIZE;
        let found =
            db::inventory::boundary_at(&state.db, &query.filters, query.sort, query.dir, before - 1).await?;
        if let Some(boundary) = found {
            let position = u32::try_from(before).ok();
            let url = inventory_url(&query, &At::After(Cursor { boundary, position }));
            return Ok(Redirect::to(&url).into_response());
        }
    }
    let listing = listing::list_live(
        &state,
        &query.filters,
        (query.sort, query.dir),
        &seek(&query.at),
        INVENTORY_PAGE_SIZE,
    )
    .await?;
    Ok(inventory_page(&user, environments, query, &listing).into_response())
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
        assert_eq!(inventory_url(&query, &At::Page(1)), "/services");
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
        assert!(
            parse_inventory_query("after=bm90LWEtY3Vyc29y", &envs()).unwrap_err().contains("cursor (after)")
        );
        assert!(parse_inventory_query("before=%21", &envs()).unwrap_err().contains("cursor (before)"));
        assert!(parse_inventory_query("page=2&before=end", &envs()).unwrap_err().contains("only one of"));
        assert_eq!(parse_inventory_query("before=end", &envs()).unwrap().at, At::End);
    }

    #[test]
    fn links_keep_the_filters_and_the_order() {
        let query = parse_inventory_query("q=pay+ments&status=ready&sort=name&dir=desc", &envs()).unwrap();
        assert_eq!(
            inventory_url(&query, &At::Page(3)),
            "/services?q=pay+ments&status=ready&sort=name&dir=desc&page=3"
        );
        let service_id = uuid::Uuid::nil();
        let after =
            Cursor { boundary: Boundary::Name { name: "payments".into(), service_id }, position: Some(50) };
        let url = inventory_url(&query, &At::After(after.clone()));
        let (_, raw) = url.split_once('?').unwrap();
        assert!(raw.starts_with("q=pay+ments&status=ready&sort=name&dir=desc&after="), "{url}");
        assert_eq!(parse_inventory_query(raw, &envs()).unwrap().at, At::After(after));
        assert_eq!(sort_url(&query, SortKey::Name), "/services?q=pay+ments&status=ready&sort=name&dir=asc");
        assert_eq!(sort_url(&query, SortKey::Created), "/services?q=pay+ments&status=ready");
    }
}
