//! The cursors in the inventory's `after=` / `before=` links: a row's place in an order, opaque
//! and URL-safe (base64url of `n.<position>.<service_id>.<name>` or `c.<position>.<service_id>.<µs>`).
//! The position (the row's 1-based place when the link was made, empty when unknown) only labels
//! the page ("showing 51–100"); the rows are found by the sort value and id, so inserts between page
//! fetches neither skip nor repeat a row.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::db::inventory::{Boundary, SortKey};

/// Longer than any cursor we hand out: refused before decoding.
const MAX_ENCODED: usize = 200;
/// Positions past this are not ones we made.
const MAX_POSITION: u32 = 100_000_000;
/// Longer than any service name.
const MAX_NAME: usize = 100;

/// The value `before=end` asks for the last page.
pub const END: &str = "end";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub boundary: Boundary,
    /// Only for the label: never used to find rows.
    pub position: Option<u32>,
}

impl Cursor {
    pub fn encode(&self) -> String {
        let position = self.position.map(|p| p.to_string()).unwrap_or_default();
        let text = match &self.boundary {
            Boundary::Name { name, service_id } => format!("n.{position}.{service_id}.{name}"),
            Boundary::Created { created_at, service_id } => {
                let micros = created_at.unix_timestamp_nanos() / 1000;
                format!("c.{position}.{service_id}.{micros}")
            }
        };
        URL_SAFE_NO_PAD.encode(text)
    }

    /// A cursor we handed out for an order by `key`; the error says what is wrong with it.
    pub fn parse(encoded: &str, key: SortKey) -> Result<Self, &'static str> {
        const UNREADABLE: &str = "is not a cursor this inventory made: follow the page's own links";
        if encoded.len() > MAX_ENCODED {
            return Err(UNREADABLE);
        }
        let bytes = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| UNREADABLE)?;
        let text = String::from_utf8(bytes).map_err(|_| UNREADABLE)?;
        let mut parts = text.splitn(4, '.');
        let (Some(kind), Some(position), Some(id), Some(value)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(UNREADABLE);
        };
        let position = match position {
            "" => None,
            p => Some(p.parse::<u32>().ok().filter(|p| (1..=MAX_POSITION).contains(p)).ok_or(UNREADABLE)?),
        };
        let service_id = Uuid::parse_str(id).map_err(|_| UNREADABLE)?;
        let boundary = match kind {
            "n" if value.is_empty() || value.chars().count() > MAX_NAME => return Err(UNREADABLE),
            "n" => Boundary::Name { name: value.to_owned(), service_id },
            "c" => {
                let micros = value.parse::<i64>().map_err(|_| UNREADABLE)?;
                let created_at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
                    .map_err(|_| UNREADABLE)?;
                Boundary::Created { created_at, service_id }
            }
            _ => return Err(UNREADABLE),
        };
        if boundary.key() != key {
            return Err("belongs to the other sort order: follow the links of the page in this order");
        }
        Ok(Cursor { boundary, position })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> Uuid {
        Uuid::parse_str("0190b3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b").unwrap()
    }

    #[test]
    fn a_cursor_reads_back_as_itself_and_is_url_safe() {
        let created_at = OffsetDateTime::from_unix_timestamp_nanos(1_767_225_600_123_456_000).unwrap();
        for cursor in [
            Cursor {
                boundary: Boundary::Name { name: "pay-ments.v2".into(), service_id: id() },
                position: Some(51),
            },
            Cursor { boundary: Boundary::Created { created_at, service_id: id() }, position: None },
        ] {
            let encoded = cursor.encode();
            assert!(encoded.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{encoded}");
            assert_eq!(Cursor::parse(&encoded, cursor.boundary.key()), Ok(cursor));
        }
    }

    #[test]
    fn a_cursor_we_did_not_make_is_refused() {
        let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
        let uuid = id().to_string();
        for bad in [
            "".to_owned(),
            "not base64!".to_owned(),
            b64("n.1"),
            b64(&format!("x.1.{uuid}.a")),
            b64(&format!("n.0.{uuid}.a")),
            b64("n.1.not-a-uuid.a"),
            b64(&format!("n.1.{uuid}.")),
            b64(&format!("c.1.{uuid}.soon")),
            b64(&format!("c.1.{uuid}.999999999999999999")),
            "A".repeat(201),
        ] {
            assert!(
                Cursor::parse(&bad, SortKey::Name).is_err() && Cursor::parse(&bad, SortKey::Created).is_err(),
                "{bad}"
            );
        }
        let by_name = b64(&format!("n.1.{uuid}.payments"));
        assert!(Cursor::parse(&by_name, SortKey::Created).unwrap_err().contains("other sort order"));
    }
}
