//! A page of live services with how many match, shared by the inventory page and the API.
//!
//! The page itself is one keyset query. The count is the expensive half (an index range of up to
//! [`COUNT_CAP`](crate::db::inventory::COUNT_CAP) + 1 entries), so it is skipped when the page
//! shows every match and otherwise remembered per filter for [`COUNT_TTL`]: a busy inventory
//! counts each filter once every two seconds instead of on every request, and concurrent misses
//! share one count. A remembered count is never shown below what the page proves (a service
//! created a moment ago is counted on the page that shows it); a last page counts afresh.

use std::time::Duration;

use moka::future::Cache;

use crate::{
    db::{
        self,
        inventory::{Filters, Matching, Page, Seek, SortDir, SortKey},
        services::Service,
    },
    error::AppError,
    web::AppState,
};

/// How long a count is reused.
pub const COUNT_TTL: Duration = Duration::from_secs(2);

/// Distinct filters remembered at once (typed search text makes new ones).
const CAPACITY: u64 = 1_000;

/// Recent counts of live services, per filter.
#[derive(Clone)]
pub struct LiveCounts(Cache<Filters, Matching>);

impl Default for LiveCounts {
    fn default() -> Self {
        Self(Cache::builder().max_capacity(CAPACITY).time_to_live(COUNT_TTL).build())
    }
}

/// One page of services, whether there are rows on either side, and how many match in all.
#[derive(Debug, Clone)]
pub struct Listing {
    pub services: Vec<Service>,
    pub more_before: bool,
    pub more_after: bool,
    pub matching: Matching,
}

/// Up to `limit` live services matching `filters` in `(key, dir)` order from `seek`, and how many match.
pub async fn list_live(
    state: &AppState,
    filters: &Filters,
    (key, dir): (SortKey, SortDir),
    seek: &Seek,
    limit: i64,
) -> Result<Listing, AppError> {
    let page = db::inventory::list_live_services(&state.db, filters, key, dir, seek, limit).await?;
    let matching = match (page.whole(), seek) {
        (Some(exact), _) => exact,
        (None, _) => {
            let counted = state
                .counts
                .0
                .try_get_with_by_ref(filters, db::inventory::count_live_services(&state.db, filters))
                .await
                .map_err(|e| AppError::Internal(anyhow::anyhow!(e).context("database: counting services")))?;
            // A last page (nothing after it) is where a count read a moment ago shows most, and the
            // `before=end` page numbers its rows from the count: an exact count is read afresh there.
            // Past the cap there is no number to be exact about ("1,000+"), so the remembered one
            // stands and the last page costs what the first does.
            let last = !page.more_after || matches!(seek, Seek::End);
            let counted = if last && counted.exact().is_some() {
                db::inventory::count_live_services(&state.db, filters).await?
            } else {
                counted
            };
            let shown = page.services.len() as i64;
            counted.at_least_as_many_as(proven(shown, page.more_before, page.more_after, seek))
        }
    };
    let Page { services, more_before, more_after } = page;
    Ok(Listing { services, more_before, more_after, matching })
}

/// How many matches a page of `shown` rows proves exist: its rows, one more on either side where
/// there is more, and the rows an offset skipped to reach a row (a cursor's claimed position is the
/// client's word, so it proves nothing).
fn proven(shown: i64, more_before: bool, more_after: bool, seek: &Seek) -> i64 {
    let skipped = match seek {
        Seek::Offset(offset) if shown > 0 => *offset,
        _ => i64::from(more_before),
    };
    skipped + shown + i64::from(more_after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_proves_its_rows_its_neighbours_and_the_rows_an_offset_skipped() {
        assert_eq!(proven(50, false, true, &Seek::Offset(0)), 51);
        assert_eq!(proven(50, true, true, &Seek::Offset(100)), 151);
        assert_eq!(proven(20, true, false, &Seek::Offset(100)), 120);
        // Past the end: the offset reached no row, so only "something before" is proven.
        assert_eq!(proven(0, true, false, &Seek::Offset(400)), 1);
        let anywhere = Seek::End;
        assert_eq!(proven(50, true, false, &anywhere), 51);
    }
}
