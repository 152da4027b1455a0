//! GitHub Apps, their installations and the installation tokens they were issued.

use std::collections::BTreeMap;

use time::OffsetDateTime;

pub(crate) struct App {
    pub id: u64,
    pub slug: String,
    pub name: String,
    /// Verifies the RS256 JWTs the App signs.
    pub public_key: jsonwebtoken::DecodingKey,
    pub bot_user_id: u64,
    pub created_at: OffsetDateTime,
}

pub(crate) struct Installation {
    pub id: u64,
    pub app_id: u64,
    pub account_id: u64,
    pub permissions: BTreeMap<String, String>,
    pub created_at: OffsetDateTime,
}

/// An installation access token (`ghs_...`): what it may do and until when.
#[derive(Clone)]
pub(crate) struct InstallationGrant {
    pub installation_id: u64,
    pub account_id: u64,
    pub bot_user_id: u64,
    pub permissions: BTreeMap<String, String>,
    /// The repositories (by id, so a rename keeps them) a token minted with `repositories` or
    /// `repository_ids` is limited to; `None` for every repository of the installation.
    pub repositories: Option<std::collections::BTreeSet<u64>>,
    pub expires_at: OffsetDateTime,
}

/// `read` < `write` < `admin`; a level covers the ones below it.
pub(crate) fn level_covers(granted: &str, needed: &str) -> bool {
    let rank = |level: &str| match level {
        "read" => 1,
        "write" => 2,
        "admin" => 3,
        _ => 0,
    };
    rank(granted) >= rank(needed) && rank(needed) > 0
}
