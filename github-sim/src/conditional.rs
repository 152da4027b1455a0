//! Conditional requests, once for every API route: a `200` to a `GET` carries a weak `ETag` derived from
//! its body, with GitHub's `Cache-Control` and `Vary`; a request whose `If-None-Match` names that tag gets
//! `304 Not Modified` with no body. [`crate::auth`] gives the call back to the rate limit when an
//! authorized request ends in a 304, as GitHub documents ("Use conditional requests if appropriate" in
//! "Best practices for using the REST API").

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest as _, Sha256};

/// GitHub's caching headers: private for authorized calls, public otherwise, 60 seconds either way.
const PRIVATE: &str = "private, max-age=60, s-maxage=60";
const PUBLIC: &str = "public, max-age=60, s-maxage=60";
const VARY: &str = "Accept, Authorization, Cookie, X-GitHub-OTP";

/// Middleware for API routes.
pub(crate) async fn etag(request: Request, next: Next) -> Response {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return next.run(request).await;
    }
    let if_none_match = request.headers().get(header::IF_NONE_MATCH).cloned();
    let authorized = request.headers().contains_key(header::AUTHORIZATION);
    let response = next.run(request).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let tag = format!("W/\"{}\"", hex::encode(Sha256::digest(&bytes)));
    set_caching_headers(&mut parts.headers, &tag, authorized);
    if if_none_match.as_ref().is_some_and(|wanted| names_tag(wanted, &tag)) {
        parts.status = StatusCode::NOT_MODIFIED;
        parts.headers.remove(header::CONTENT_TYPE);
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::empty());
    }
    Response::from_parts(parts, Body::from(bytes))
}

fn set_caching_headers(headers: &mut HeaderMap, tag: &str, authorized: bool) {
    if let Ok(value) = HeaderValue::from_str(tag) {
        headers.insert(header::ETAG, value);
    }
    headers
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(if authorized { PRIVATE } else { PUBLIC }));
    headers.insert(header::VARY, HeaderValue::from_static(VARY));
}

/// `If-None-Match` uses weak comparison (RFC 9110 §13.1.2): `W/` prefixes are ignored, `*` matches any.
fn names_tag(if_none_match: &HeaderValue, tag: &str) -> bool {
    let opaque = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let tag = opaque(tag);
    if_none_match.to_str().is_ok_and(|list| list.split(',').any(|t| t.trim() == "*" || opaque(t) == tag))
}

#[cfg(test)]
mod tests {
    use super::names_tag;
    use axum::http::HeaderValue;

    #[test]
    fn weak_and_strong_forms_of_a_tag_match_and_others_do_not() {
        let tag = "W/\"abc\"";
        assert!(names_tag(&HeaderValue::from_static("W/\"abc\""), tag));
        assert!(names_tag(&HeaderValue::from_static("\"abc\""), tag));
        assert!(names_tag(&HeaderValue::from_static("\"x\", W/\"abc\""), tag));
        assert!(names_tag(&HeaderValue::from_static("*"), tag));
        assert!(!names_tag(&HeaderValue::from_static("W/\"abd\""), tag));
    }
}
