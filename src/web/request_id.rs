//! Request ids: a client's own `X-Request-Id` is kept only when it is short and plain, so a caller
//! can correlate its logs with ours, but cannot make our logs, pages or audit rows carry kilobytes
//! or markup of its choosing. Anything else is dropped and `SetRequestIdLayer` makes a UUID.

use axum::extract::Request;

use super::errors::REQUEST_ID_HEADER;

/// The longest request id accepted from a client (a UUID is 36).
const MAX_LEN: usize = 64;

/// Removes the request's `X-Request-Id` (every one, if repeated) unless it is a single safe value.
pub fn drop_unsafe_request_id(mut request: Request) -> Request {
    let headers = request.headers_mut();
    let mut values = headers.get_all(REQUEST_ID_HEADER).iter();
    let keep = matches!((values.next(), values.next()), (Some(v), None) if is_safe(v.as_bytes()));
    if !keep {
        headers.remove(REQUEST_ID_HEADER);
    }
    request
}

/// 1 to [`MAX_LEN`] characters of `A-Z a-z 0-9 . _ -`.
fn is_safe(id: &[u8]) -> bool {
    (1..=MAX_LEN).contains(&id.len()) && id.iter().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(values: &[&str]) -> Option<String> {
        let mut request = Request::new(axum::body::Body::empty());
        for v in values {
            request.headers_mut().append(REQUEST_ID_HEADER, v.parse().unwrap());
        }
        let request = drop_unsafe_request_id(request);
        request.headers().get(REQUEST_ID_HEADER).map(|v| v.to_str().unwrap().to_owned())
    }

    #[test]
    fn a_short_plain_id_is_kept() {
        assert_eq!(kept(&["build-42.step_7"]).as_deref(), Some("build-42.step_7"));
        assert_eq!(
            kept(&["1b4e28ba-2fa1-11d2-883f-0016d3cca427"]).as_deref(),
            Some("1b4e28ba-2fa1-11d2-883f-0016d3cca427")
        );
        assert_eq!(kept(&[&"a".repeat(64)]).map(|v| v.len()), Some(64));
    }

    #[test]
    fn long_empty_odd_or_repeated_ids_are_dropped() {
        for bad in ["", &"a".repeat(65), "<script>", "a b", "id;drop", "x/y", "é"] {
            let mut request = Request::new(axum::body::Body::empty());
            if let Ok(value) = axum::http::HeaderValue::from_bytes(bad.as_bytes()) {
                request.headers_mut().insert(REQUEST_ID_HEADER, value);
            }
            let request = drop_unsafe_request_id(request);
            assert!(request.headers().get(REQUEST_ID_HEADER).is_none(), "{bad:?} was kept");
        }
        assert_eq!(kept(&["one", "two"]), None);
    }
}
