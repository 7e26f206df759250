//! Hop-by-hop fields: what one connection says to the next hop only, removed from a request
//! before it goes upstream and from a response before it goes back (RFC 9110 §7.6.1).
//!
//! Removed: every field the `Connection` header names, then `Connection` itself and the
//! fields that are hop-by-hop by definition or by long practice (Go's `hopHeaders`):
//! `Keep-Alive`, `Proxy-Connection`, `Proxy-Authenticate`, `Proxy-Authorization`, `TE`,
//! `Transfer-Encoding` and `Upgrade`. `Trailer` is kept: RFC 9110 §6.6.2 makes it end to end
//! (Go drops it only to announce the trailers again itself).

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// The fields removed whatever `Connection` says.
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    // Not in the `http` crate's constants.
    HeaderName::from_static("keep-alive"),
];

/// `Proxy-Connection`: never standard, still sent by old clients (RFC 9112 §9.6 calls it
/// out as a field intermediaries must not forward).
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Whether `name` is removed whatever `Connection` says.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(name) || *name == PROXY_CONNECTION
}

/// Removes the hop-by-hop fields from `headers`, including every field `Connection` names.
pub(crate) fn remove(headers: &mut HeaderMap) {
    // Most heads carry none: one walk over their names tells, where a removal per name would
    // hash and look up eight names (twice per proxied exchange). `Connection` is among them,
    // so the fields it names are never missed.
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    // Names listed in `Connection` go first, while `Connection` is still there to read.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .filter_map(|t| HeaderName::from_bytes(t.trim_ascii()).ok())
        .collect();
    for name in named {
        headers.remove(&name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(&PROXY_CONNECTION);
}

/// Whether the request's `TE` lists `trailers`: the client will take trailers, which the
/// proxy says again to the upstream after `TE` is removed (RFC 9110 §10.1.4; what gRPC
/// servers check for, and what Go's ReverseProxy does).
pub(crate) fn accepts_trailers(headers: &HeaderMap) -> bool {
    headers.get_all(header::TE).iter().any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .any(|t| t.split(|&b| b == b';').next().unwrap_or(&[]).trim_ascii() == b"trailers")
    })
}

/// `TE: trailers`, for a request whose client accepts trailers.
pub(crate) const TE_TRAILERS: HeaderValue = HeaderValue::from_static("trailers");

#[cfg(test)]
mod tests {
    use super::*;

    fn map(fields: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in fields {
            m.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        m
    }

    #[test]
    fn removes_named_and_standard_hop_by_hop_fields() {
        let mut h = map(&[
            ("connection", "keep-alive, X-Secret , x-other"),
            ("connection", "close"),
            ("x-secret", "1"),
            ("x-other", "2"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("proxy-authorization", "Basic abc"),
            ("te", "trailers, gzip"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("trailer", "x-sum"),
            ("x-kept", "3"),
        ]);
        assert!(accepts_trailers(&h));
        remove(&mut h);
        let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["trailer", "x-kept"]);
    }

    #[test]
    fn each_hop_by_hop_field_alone_is_removed_and_a_head_without_any_is_untouched() {
        for name in HOP_BY_HOP.iter().chain([&PROXY_CONNECTION]) {
            let mut h = map(&[("x-kept", "1"), (name.as_str(), "v")]);
            remove(&mut h);
            assert_eq!(h.len(), 1, "{name} left: {h:?}");
            assert!(h.contains_key("x-kept"));
        }
        let mut h = map(&[("host", "a"), ("x-kept", "1"), ("trailer", "x-sum")]);
        let before = h.clone();
        remove(&mut h);
        assert_eq!(h, before);
    }

    #[test]
    fn te_trailers_is_recognised_among_other_codings() {
        assert!(accepts_trailers(&map(&[("te", "gzip;q=0.5, trailers")])));
        assert!(!accepts_trailers(&map(&[("te", "gzip")])));
        assert!(!accepts_trailers(&map(&[("te", "trailersx")])));
        assert!(!accepts_trailers(&HeaderMap::new()));
    }
}
