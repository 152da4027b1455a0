//! Static files: `static/` compiled into the binary and served from memory under content-hashed
//! names (`/static/shipyard.<hash>.css`) that browsers may cache for a year, because a changed
//! file gets a new name. Pages link the hashed names through [`url`]. The plain names still
//! answer (bookmarks, old pages), but must be revalidated; both carry an ETag and answer
//! `If-None-Match` with 304.

use std::{collections::HashMap, sync::LazyLock};

use axum::{
    Router,
    extract::Path,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use rust_embed::Embed;

use crate::{error::AppError, web::AppState};

/// For names that change whenever the content does.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// For the plain names: cache, but ask (with the ETag) before each use.
const REVALIDATE: &str = "no-cache";
/// Hex digits of the content's SHA-256 in a hashed name: 40 bits, plenty for a handful of files.
const NAME_HASH_LEN: usize = 10;

#[derive(Embed)]
#[folder = "static/"]
struct Files;

struct Asset {
    body: &'static [u8],
    content_type: HeaderValue,
    etag: HeaderValue,
    hashed_name: String,
}

/// Every file by plain name, and the plain name of every hashed one.
struct Assets {
    by_name: HashMap<String, Asset>,
    plain_of_hashed: HashMap<String, String>,
}

static ASSETS: LazyLock<Assets> = LazyLock::new(|| {
    let mut by_name = HashMap::new();
    let mut plain_of_hashed = HashMap::new();
    for name in Files::iter() {
        let file = Files::get(&name).expect("an embedded file lists only files it has");
        let digest = hex::encode(file.metadata.sha256_hash());
        let hashed_name = hashed(&name, &digest[..NAME_HASH_LEN]);
        let body: &'static [u8] = match file.data {
            std::borrow::Cow::Borrowed(bytes) => bytes,
            // Only without `debug-embed` are files read at run time; leak the one copy we serve.
            std::borrow::Cow::Owned(bytes) => Vec::leak(bytes),
        };
        let asset = Asset {
            body,
            content_type: HeaderValue::from_str(file.metadata.mimetype())
                .expect("a MIME type is a header value"),
            etag: HeaderValue::from_str(&format!("\"{}\"", &digest[..32])).expect("hex is a header value"),
            hashed_name: hashed_name.clone(),
        };
        plain_of_hashed.insert(hashed_name, name.to_string());
        by_name.insert(name.to_string(), asset);
    }
    Assets { by_name, plain_of_hashed }
});

/// `shipyard.css` → `shipyard.<hash>.css` (the hash goes before the last extension).
fn hashed(name: &str, hash: &str) -> String {
    match name.rsplit_once('.') {
        Some((stem, extension)) => format!("{stem}.{hash}.{extension}"),
        None => format!("{name}.{hash}"),
    }
}

/// The URL pages use for a static file: its content-hashed name. Templates call it, as
/// `crate::web::assets::url("shipyard.css")`. An unknown name is a bug in a template; it gets the
/// plain path (which will 404) rather than taking the page down.
pub fn url(name: &str) -> String {
    match ASSETS.by_name.get(name) {
        Some(asset) => format!("/static/{}", asset.hashed_name),
        None => {
            tracing::error!(name, "a page links a static file that does not exist");
            format!("/static/{name}")
        }
    }
}

pub fn router() -> Router<AppState> {
    Router::new().route("/static/{*path}", get(serve_file))
}

async fn serve_file(Path(path): Path<String>, headers: HeaderMap) -> Result<Response, AppError> {
    let (asset, cache_control) = match ASSETS.plain_of_hashed.get(&path) {
        Some(plain) => (&ASSETS.by_name[plain], IMMUTABLE),
        None => (ASSETS.by_name.get(&path).ok_or(AppError::NotFound)?, REVALIDATE),
    };
    let cache = [
        (header::ETAG, asset.etag.clone()),
        (header::CACHE_CONTROL, HeaderValue::from_static(cache_control)),
    ];
    if matches_etag(&headers, &asset.etag) {
        return Ok((StatusCode::NOT_MODIFIED, cache).into_response());
    }
    Ok((cache, [(header::CONTENT_TYPE, asset.content_type.clone())], asset.body).into_response())
}

/// RFC 9110 §13.1.2: `If-None-Match` is `*` or a list of entity tags, compared weakly.
fn matches_etag(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let ours = etag.as_bytes();
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|candidate| {
            let candidate = candidate.trim();
            candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate).as_bytes() == ours
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_goes_before_the_extension() {
        assert_eq!(hashed("shipyard.css", "0123456789"), "shipyard.0123456789.css");
        assert_eq!(hashed("LICENSE", "0123456789"), "LICENSE.0123456789");
    }

    #[test]
    fn every_file_the_pages_link_exists_under_a_hashed_name() {
        for name in ["shipyard.css", "shipyard.js", "favicon.svg"] {
            let url = url(name);
            let hashed = url.strip_prefix("/static/").unwrap();
            assert_ne!(hashed, name, "{name} has a hashed name");
            assert_eq!(ASSETS.plain_of_hashed[hashed], name);
        }
    }

    #[test]
    fn if_none_match_accepts_lists_weak_tags_and_a_star() {
        let etag = HeaderValue::from_static("\"abc\"");
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static(value));
            matches_etag(&headers, &etag)
        };
        assert!(with("\"abc\""));
        assert!(with("\"x\", W/\"abc\""));
        assert!(with("*"));
        assert!(!with("\"abd\""));
        assert!(!matches_etag(&HeaderMap::new(), &etag));
    }
}
