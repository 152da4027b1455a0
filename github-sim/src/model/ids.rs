//! Clock, identifiers and GitHub's timestamp format.

use time::OffsetDateTime;

/// The current instant (precise; [`ts`] truncates for display).
pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

pub(crate) fn random_hex(len: usize) -> String {
    use rand::Rng as _;
    let mut rng = rand::thread_rng();
    (0..len).map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0')).collect()
}

pub(crate) fn random_digits(len: usize) -> String {
    use rand::Rng as _;
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|i| char::from_digit(rng.gen_range(if i == 0 { 1 } else { 0 }..10), 10).unwrap_or('1'))
        .collect()
}

pub(crate) fn random_token(prefix: &str) -> String {
    use rand::{Rng as _, distributions::Alphanumeric};
    let body: String = rand::thread_rng().sample_iter(&Alphanumeric).take(36).map(char::from).collect();
    format!("{prefix}{body}")
}

/// GitHub's timestamp format: RFC 3339, whole seconds, `Z`.
pub(crate) fn ts(t: OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}
