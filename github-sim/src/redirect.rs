//! GitHub's `redirect_uri` rules for OAuth apps (docs: "Authorizing OAuth apps" → "Redirect URLs" and
//! "Loopback redirect urls"): the redirect must have the registered callback's scheme and host (sub-domains
//! allowed), its port, and its path or a sub-path. When the registered host is a loopback IP literal
//! (127.0.0.1, ::1) the port may differ, so native/desktop apps can listen on any free port.

use std::net::IpAddr;

use url::{Host, Url};

/// Whether `requested` is an acceptable `redirect_uri` for the registered callback URL.
pub(crate) fn redirect_uri_allowed(registered: &str, requested: &str) -> bool {
    let (Ok(registered), Ok(requested)) = (Url::parse(registered), Url::parse(requested)) else {
        return false;
    };
    registered.scheme() == requested.scheme()
        && host_matches(&registered, &requested)
        && (is_loopback_ip(&registered)
            || registered.port_or_known_default() == requested.port_or_known_default())
        && path_is_within(registered.path(), requested.path())
}

fn host_matches(registered: &Url, requested: &Url) -> bool {
    match (registered.host(), requested.host()) {
        (Some(Host::Domain(reg)), Some(Host::Domain(req))) => {
            let (reg, req) = (reg.to_ascii_lowercase(), req.to_ascii_lowercase());
            req == reg || req.ends_with(&format!(".{reg}"))
        }
        (Some(reg), Some(req)) => reg == req,
        _ => false,
    }
}

fn is_loopback_ip(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        _ => false,
    }
}

fn path_is_within(registered: &str, requested: &str) -> bool {
    let base = registered.trim_end_matches('/');
    requested == registered
        || requested == base
        || requested.strip_prefix(base).is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::redirect_uri_allowed as ok;

    const CALLBACK: &str = "http://example.com/path";

    #[test]
    fn the_docs_examples_hold() {
        assert!(ok(CALLBACK, "http://example.com/path"));
        assert!(ok(CALLBACK, "http://example.com/path/subdir/other"));
        assert!(ok(CALLBACK, "http://oauth.example.com/path"));
        assert!(ok(CALLBACK, "http://oauth.example.com/path/subdir/other"));
        assert!(!ok(CALLBACK, "http://example.com/bar"));
        assert!(!ok(CALLBACK, "http://example.com/"));
        assert!(!ok(CALLBACK, "http://example.com:8080/path"));
        assert!(!ok(CALLBACK, "http://oauth.example.com:8080/path"));
        assert!(!ok(CALLBACK, "http://example.org"));
    }

    #[test]
    fn a_sibling_path_with_the_same_prefix_is_not_a_sub_path() {
        assert!(!ok(CALLBACK, "http://example.com/pathological"));
    }

    #[test]
    fn a_loopback_ip_callback_accepts_any_port() {
        assert!(ok("http://127.0.0.1/auth/callback", "http://127.0.0.1:54321/auth/callback"));
        assert!(!ok("http://127.0.0.1/auth/callback", "http://127.0.0.2:54321/auth/callback"));
        assert!(!ok("http://127.0.0.1/auth/callback", "http://127.0.0.1:54321/other"));
    }

    #[test]
    fn localhost_by_name_needs_the_registered_port() {
        assert!(ok("http://localhost:8080/auth/callback", "http://localhost:8080/auth/callback"));
        assert!(!ok("http://localhost:8080/auth/callback", "http://localhost:9090/auth/callback"));
    }
}
