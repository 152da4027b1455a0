//! The inventory's queries: live services, filtered, in one of four orders, a page at a time.
//!
//! Pages are found by keyset ("the rows after this one"), not by OFFSET: each order has a btree
//! index on (sort column, service_id) (migration 0007), so any page costs one short index range
//! scan however deep it is. `service_id` breaks ties, which makes every order total: a row is on
//! exactly one page even when others are inserted between page fetches. A page before a row is
//! the page after it in the reverse order, read backwards.

use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use super::services::Service;
use crate::domain::{Desired, ServiceStatus, StepName, Visibility};

/// Rows per inventory page.
pub const INVENTORY_PAGE_SIZE: i64 = 50;

/// The most matching rows counted per request: past it the page says "1,000+" instead of
/// counting every live row each time.
pub const COUNT_CAP: i64 = 1000;

/// The inventory's sort column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Name,
    Created,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortDir {
    Asc,
    Desc,
}

impl SortDir {
    pub fn reversed(self) -> Self {
        match self {
            SortDir::Asc => SortDir::Desc,
            SortDir::Desc => SortDir::Asc,
        }
    }
}

/// Which live services to list: every filter that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Filters {
    /// Part of the name, matched case-insensitively (`%` and `_` match themselves).
    pub text: Option<String>,
    pub environment: Option<String>,
    /// Any status but `deleted`: deleted services are never listed.
    pub status: Option<ServiceStatus>,
    /// The owning team's slug (migration 0011's index serves it newest first).
    pub team: Option<String>,
}

impl Filters {
    pub fn any(&self) -> bool {
        self.text.is_some() || self.environment.is_some() || self.status.is_some() || self.team.is_some()
    }
}

/// One row's place in an order: its sort value and its id (the tie-breaker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Boundary {
    Name { name: String, service_id: Uuid },
    Created { created_at: OffsetDateTime, service_id: Uuid },
}

impl Boundary {
    /// `service`'s place in the orders by `key`.
    pub fn of(service: &Service, key: SortKey) -> Self {
        match key {
            SortKey::Name => Boundary::Name { name: service.name.clone(), service_id: service.service_id },
            SortKey::Created => {
                Boundary::Created { created_at: service.created_at, service_id: service.service_id }
            }
        }
    }

    pub fn key(&self) -> SortKey {
        match self {
            Boundary::Name { .. } => SortKey::Name,
            Boundary::Created { .. } => SortKey::Created,
        }
    }
}

/// Where a page starts, in the order asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seek {
    /// Skip this many rows (the first page, and old `page=N` links).
    Offset(i64),
    /// The rows after this one.
    After(Boundary),
    /// The rows before this one.
    Before(Boundary),
    /// The last rows.
    End,
}

/// How many services match, counted up to [`COUNT_CAP`] + 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matching(i64);

impl Matching {
    /// This count, or `n` when a page proves at least that many match (a count read a moment ago
    /// can lag a service created since).
    pub fn at_least_as_many_as(self, n: i64) -> Self {
        Self(self.0.max(n))
    }

    /// The exact number, when it is at most [`COUNT_CAP`].
    pub fn exact(self) -> Option<i64> {
        (self.0 <= COUNT_CAP).then_some(self.0)
    }

    /// The exact number, or [`COUNT_CAP`] when there are more.
    pub fn at_least(self) -> i64 {
        self.0.min(COUNT_CAP)
    }

    /// "437", "1,000+".
    pub fn label(self) -> String {
        match self.exact() {
            Some(n) => thousands(n),
            None => format!("{}+", thousands(COUNT_CAP)),
        }
    }
}

fn thousands(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One page of services, in the order asked for, and whether there are rows on either side.
#[derive(Debug, Clone)]
pub struct Page {
    pub services: Vec<Service>,
    pub more_before: bool,
    pub more_after: bool,
}

impl Page {
    /// How many match, when this page alone says so: it shows them all.
    pub fn whole(&self) -> Option<Matching> {
        // Every match is on this page: it counts them itself.
        (!self.more_before && !self.more_after).then_some(Matching(self.services.len() as i64))
    }
}

/// `text` as an `ilike` pattern that matches it anywhere, with LIKE's wildcards taken literally.
fn contains_pattern(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

/// The filter parameters ($1..$4) every inventory query starts with.
struct Bound<'a> {
    pattern: Option<String>,
    environment: Option<&'a str>,
    status: Option<ServiceStatus>,
    team: Option<&'a str>,
    /// Some filter is set ([`Filters::any`]).
    filtered: bool,
}

impl<'a> Bound<'a> {
    fn of(filters: &'a Filters) -> Self {
        Self {
            filtered: filters.any(),
            pattern: filters.text.as_deref().map(contains_pattern),
            environment: filters.environment.as_deref(),
            status: filters.status,
            team: filters.team.as_deref(),
        }
    }
}

/// Live services (with their creator's login and avatar) meeting `$conditions`, then `$tail` (a keyset
/// condition, the order and the limit): one compile-checked query per order so each walks its index.
macro_rules! live_services {
    ($conditions:literal, $tail:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            Service,
            r#"select s.service_id, s.name, s.org, s.environment, s.visibility as "visibility: Visibility",
                    s.template, s.default_branch, s.description, s.team, s.desired as "desired: Desired",
                    s.status as "status: ServiceStatus", s.keep_repository, s.created_by,
                    u.login as created_by_login, u.avatar_url as created_by_avatar,
                    s.created_at, s.updated_at, s.deleted_at, s.html_url, s.ssh_url, s.ecr_repository_uri,
                    s.role_arn, s.error_step as "error_step: StepName", s.error_message
             from service s join app_user u on u.user_id = s.created_by
             where s.status <> 'deleted' "#
                + $conditions
                + $tail
            $(, $arg)*
        )
    };
}

/// Live services matching `$f`'s filters ($1..$4), then `$tail`.
macro_rules! live_page {
    ($f:expr, $tail:literal $(, $arg:expr)* $(,)?) => {
        live_services!(
            "and ($1::text is null or s.name ilike $1)
               and ($2::text is null or s.environment = $2) and ($3::text is null or s.status = $3)
               and ($4::text is null or s.team = $4) ",
            $tail,
            $f.pattern.as_deref(),
            $f.environment,
            $f.status as Option<ServiceStatus>,
            $f.team
            $(, $arg)*
        )
    };
}

/// Every live service, then `$tail`: no filter parameters and a literal LIMIT (see
/// [`fetch_unfiltered_page`]).
macro_rules! unfiltered_page {
    ($tail:literal $(, $arg:expr)* $(,)?) => {
        live_services!("", $tail $(, $arg)*)
    };
}

/// Rows an inventory page reads: one more than it shows says whether there is more. The unfiltered
/// page's SQL spells it out as `limit 51`.
const PAGE_FETCH: i64 = INVENTORY_PAGE_SIZE + 1;
const _: () = assert!(PAGE_FETCH == 51, "fetch_unfiltered_page's SQL says `limit 51`");

/// The first page, or the page after (`Asc`/`Desc` from) a boundary, of every live service: what
/// nearly every inventory request asks for, in statements Postgres plans once per connection. With
/// no filter parameters and a literal LIMIT, a generic plan costs what a custom one does, so after
/// five executions Postgres stops planning each one; the filtered statements' `$n is null or ...`
/// conditions and parameter LIMIT keep a plan per execution (right for a search, which wants the
/// trigram index for its text), and planning the page costs about what running it does.
async fn fetch_unfiltered_page(
    db: &PgPool,
    key: SortKey,
    dir: SortDir,
    after: Option<&Boundary>,
) -> sqlx::Result<Vec<Service>> {
    use SortDir::{Asc, Desc};
    match (after, key, dir) {
        (None, SortKey::Name, Asc) => {
            unfiltered_page!("order by s.name, s.service_id limit 51").fetch_all(db).await
        }
        (None, SortKey::Name, Desc) => {
            unfiltered_page!("order by s.name desc, s.service_id desc limit 51").fetch_all(db).await
        }
        (None, SortKey::Created, Asc) => {
            unfiltered_page!("order by s.created_at, s.service_id limit 51").fetch_all(db).await
        }
        (None, SortKey::Created, Desc) => {
            unfiltered_page!("order by s.created_at desc, s.service_id desc limit 51").fetch_all(db).await
        }
        (Some(Boundary::Name { name, service_id }), _, Asc) => {
            unfiltered_page!(
                "and (s.name, s.service_id) > ($1, $2) order by s.name, s.service_id limit 51",
                name,
                service_id
            )
            .fetch_all(db)
            .await
        }
        (Some(Boundary::Name { name, service_id }), _, Desc) => {
            unfiltered_page!(
                "and (s.name, s.service_id) < ($1, $2) order by s.name desc, s.service_id desc limit 51",
                name,
                service_id
            )
            .fetch_all(db)
            .await
        }
        (Some(Boundary::Created { created_at, service_id }), _, Asc) => {
            unfiltered_page!(
                "and (s.created_at, s.service_id) > ($1, $2) order by s.created_at, s.service_id limit 51",
                created_at,
                service_id
            )
            .fetch_all(db)
            .await
        }
        (Some(Boundary::Created { created_at, service_id }), _, Desc) => {
            unfiltered_page!(
                "and (s.created_at, s.service_id) < ($1, $2)
             order by s.created_at desc, s.service_id desc limit 51",
                created_at,
                service_id
            )
            .fetch_all(db)
            .await
        }
    }
}

/// Up to `limit` rows in `(key, dir)` order from `start`: an offset, or just after `after` (whose
/// kind fixes the column).
async fn fetch(
    db: &PgPool,
    f: &Bound<'_>,
    key: SortKey,
    dir: SortDir,
    after: Option<&Boundary>,
    offset: i64,
    limit: i64,
) -> sqlx::Result<Vec<Service>> {
    if !f.filtered && limit == PAGE_FETCH && offset == 0 {
        return fetch_unfiltered_page(db, key, dir, after).await;
    }
    use SortDir::{Asc, Desc};
    match (after, key, dir) {
        (None, SortKey::Name, Asc) => {
            live_page!(f, "order by s.name, s.service_id limit $5 offset $6", limit, offset)
                .fetch_all(db)
                .await
        }
        (None, SortKey::Name, Desc) => {
            live_page!(f, "order by s.name desc, s.service_id desc limit $5 offset $6", limit, offset)
                .fetch_all(db)
                .await
        }
        (None, SortKey::Created, Asc) => {
            live_page!(f, "order by s.created_at, s.service_id limit $5 offset $6", limit, offset)
                .fetch_all(db)
                .await
        }
        (None, SortKey::Created, Desc) => {
            live_page!(f, "order by s.created_at desc, s.service_id desc limit $5 offset $6", limit, offset)
                .fetch_all(db)
                .await
        }
        (Some(Boundary::Name { name, service_id }), _, Asc) => {
            live_page!(
                f,
                "and (s.name, s.service_id) > ($5, $6) order by s.name, s.service_id limit $7",
                name,
                service_id,
                limit
            )
            .fetch_all(db)
            .await
        }
        (Some(Boundary::Name { name, service_id }), _, Desc) => {
            live_page!(
                f,
                "and (s.name, s.service_id) < ($5, $6) order by s.name desc, s.service_id desc limit $7",
                name,
                service_id,
                limit
            )
            .fetch_all(db)
            .await
        }
        (Some(Boundary::Created { created_at, service_id }), _, Asc) => {
            live_page!(
                f,
                "and (s.created_at, s.service_id) > ($5, $6) order by s.created_at, s.service_id limit $7",
                created_at,
                service_id,
                limit
            )
            .fetch_all(db)
            .await
        }
        (Some(Boundary::Created { created_at, service_id }), _, Desc) => {
            live_page!(
                f,
                "and (s.created_at, s.service_id) < ($5, $6)
             order by s.created_at desc, s.service_id desc limit $7",
                created_at,
                service_id,
                limit
            )
            .fetch_all(db)
            .await
        }
    }
}

/// The place of the live service `offset` rows into `(key, dir)` order among those matching `filters`
/// (`None` past the end): what an old `page=N` link means as a cursor. Reads the order's keys alone
/// (the keyset indexes hold them), not the rows before it joined with their creators.
#[tracing::instrument(skip_all, fields(?key, ?dir, offset))]
pub async fn boundary_at(
    db: &PgPool,
    filters: &Filters,
    key: SortKey,
    dir: SortDir,
    offset: i64,
) -> sqlx::Result<Option<Boundary>> {
    let f = Bound::of(filters);
    macro_rules! keys {
        ($order:literal) => {
            sqlx::query!(
                r#"select s.name, s.created_at, s.service_id from service s
                   where s.status <> 'deleted' and ($1::text is null or s.name ilike $1)
                     and ($2::text is null or s.environment = $2) and ($3::text is null or s.status = $3)
                     and ($4::text is null or s.team = $4) "#
                    + $order
                    + " offset $5 limit 1",
                f.pattern.as_deref(),
                f.environment,
                f.status as Option<ServiceStatus>,
                f.team,
                offset
            )
            .fetch_optional(db)
            .await?
            .map(|r| (r.name, r.created_at, r.service_id))
        };
    }
    let row = match (key, dir) {
        (SortKey::Name, SortDir::Asc) => keys!("order by s.name, s.service_id"),
        (SortKey::Name, SortDir::Desc) => keys!("order by s.name desc, s.service_id desc"),
        (SortKey::Created, SortDir::Asc) => keys!("order by s.created_at, s.service_id"),
        (SortKey::Created, SortDir::Desc) => keys!("order by s.created_at desc, s.service_id desc"),
    };
    Ok(row.map(|(name, created_at, service_id)| match key {
        SortKey::Name => Boundary::Name { name, service_id },
        SortKey::Created => Boundary::Created { created_at, service_id },
    }))
}

/// How many live services match `filters`, up to [`COUNT_CAP`] + 1: an index range of at most that
/// many entries instead of every live row.
#[tracing::instrument(skip_all)]
pub async fn count_live_services(db: &PgPool, filters: &Filters) -> sqlx::Result<Matching> {
    let f = Bound::of(filters);
    let n = sqlx::query_scalar!(
        r#"
        select count(*) as "count!" from (
            select 1 from service s
            where s.status <> 'deleted' and ($1::text is null or s.name ilike $1)
              and ($2::text is null or s.environment = $2) and ($3::text is null or s.status = $3)
              and ($4::text is null or s.team = $4)
            limit $5
        ) capped
        "#,
        f.pattern.as_deref(),
        f.environment,
        f.status as Option<ServiceStatus>,
        f.team,
        COUNT_CAP + 1
    )
    .fetch_one(db)
    .await?;
    Ok(Matching(n))
}

/// Up to `limit` live services matching `filters` in `(key, dir)` order from `seek`, with whether
/// more lie before and after them (not how many: see [`count_live_services`]). A `Before`/`After` boundary sorts by its own column (callers
/// check it is `key`'s).
#[tracing::instrument(skip_all, fields(?key, ?dir, limit))]
pub async fn list_live_services(
    db: &PgPool,
    filters: &Filters,
    key: SortKey,
    dir: SortDir,
    seek: &Seek,
    limit: i64,
) -> sqlx::Result<Page> {
    let f = Bound::of(filters);
    // One row more than the page says whether there is more in the direction read.
    let (services, more_before, more_after) = match seek {
        Seek::Offset(offset) => {
            let mut rows = fetch(db, &f, key, dir, None, *offset, limit + 1).await?;
            let more = rows.len() as i64 > limit;
            rows.truncate(limit as usize);
            (rows, *offset > 0, more)
        }
        Seek::After(boundary) => {
            let mut rows = fetch(db, &f, key, dir, Some(boundary), 0, limit + 1).await?;
            let more = rows.len() as i64 > limit;
            rows.truncate(limit as usize);
            (rows, true, more)
        }
        Seek::Before(_) | Seek::End => {
            let boundary = match seek {
                Seek::Before(b) => Some(b),
                _ => None,
            };
            let mut rows = fetch(db, &f, key, dir.reversed(), boundary, 0, limit + 1).await?;
            let more = rows.len() as i64 > limit;
            rows.truncate(limit as usize);
            rows.reverse();
            (rows, more, boundary.is_some())
        }
    };
    Ok(Page { services, more_before, more_after })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_past_the_cap_read_as_the_cap_and_more() {
        assert_eq!(Matching(7).label(), "7");
        assert_eq!(Matching(1000).label(), "1,000");
        assert_eq!(Matching(1001).label(), "1,000+");
        assert_eq!((Matching(1001).exact(), Matching(1001).at_least()), (None, 1000));
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
