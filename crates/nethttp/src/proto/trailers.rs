//! Which fields may travel in a trailer section, for both protocol engines and both
//! directions: a trailer that must not be one is dropped when a trailer section is received
//! (before a handler or a caller sees it) and skipped when one is sent.
//!
//! RFC 9110 §6.5.1: fields that are needed before the content can be processed must not be
//! trailers — message framing, routing, request modifiers (controls and conditionals),
//! authentication, response control data, and how to process the content — and a recipient
//! must not merge such a trailer into the header section. Merging is exactly what a careless
//! reader of trailers does, and a peer that puts `Transfer-Encoding`, `Host` or `Set-Cookie`
//! in a trailer is counting on it. The list is Go's (`httpguts.badTrailer`, with every
//! `If-*` conditional) plus what RFC 9110 §6.5.1 names and Go leaves out: `Cookie` and
//! `Set-Cookie` (credentials and state), `Upgrade` (connection control, §7.8) and the response
//! control data of RFC 9110 §10.2 and RFC 9111 (`Age`, `Date`, `Expires`, `Location`,
//! `Retry-After`, `Vary`, `Warning`).

use http::header::{HeaderMap, HeaderName};

/// Whether `name` may be a trailer field.
pub(crate) fn allowed(name: &HeaderName) -> bool {
    // Names are lowercase; every conditional (RFC 9110 §13.1) starts with `if-`.
    let name = name.as_str();
    !(name.starts_with("if-") || FORBIDDEN.contains(&name))
}

/// Fields that must not be trailers, lowercase (see the file comment for where each comes from).
const FORBIDDEN: &[&str] = &[
    // Framing and connection control (RFC 9110 §6.6.2, §7.6.1, §7.8, §8.6, §10.1.4;
    // RFC 9112 §6.1).
    "content-length",
    "transfer-encoding",
    "trailer",
    "te",
    "connection",
    "keep-alive",
    "proxy-connection",
    "upgrade",
    // Routing (RFC 9110 §7.2).
    "host",
    // Request modifiers: controls (RFC 9110 §7.6.2, §10.1.1, §14.2; RFC 9111 §5.2, §5.4).
    "cache-control",
    "expect",
    "max-forwards",
    "pragma",
    "range",
    // Authentication and state (RFC 9110 §11; RFC 6265).
    "authorization",
    "proxy-authorization",
    "www-authenticate",
    "proxy-authenticate",
    "realm",
    "cookie",
    "set-cookie",
    // How to process the content (RFC 9110 §8.3, §8.4, §14.4).
    "content-type",
    "content-encoding",
    "content-range",
    // Response control data (RFC 9110 §6.6.1, §10.2.2, §10.2.3, §12.5.5; RFC 9111 §5.1,
    // §5.3, §5.5).
    "age",
    "date",
    "expires",
    "location",
    "retry-after",
    "vary",
    "warning",
];

/// `trailers` without the fields that must not be trailers. The map is returned as it is when
/// it has none (the usual case), so only a section that needs filtering costs a new map.
pub(crate) fn filter(trailers: HeaderMap) -> HeaderMap {
    if trailers.keys().all(allowed) {
        return trailers;
    }
    let mut kept = HeaderMap::with_capacity(trailers.len());
    let mut current = None;
    // `into_iter` yields a name only with the first of its values.
    for (name, value) in trailers {
        if let Some(name) = name {
            current = allowed(&name).then_some(name);
        }
        if let Some(name) = &current {
            kept.append(name.clone(), value);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn go_and_rfc_9110_names_are_refused_others_kept() {
        for name in [
            "host",
            "content-length",
            "transfer-encoding",
            "if-match",
            "if-none-match",
            "if-modified-since",
            "if-unmodified-since",
            "if-range",
            "if-anything",
            "set-cookie",
            "cookie",
            "authorization",
            "www-authenticate",
            "location",
            "te",
            "trailer",
        ] {
            assert!(!allowed(&HeaderName::from_static(name)), "{name}");
        }
        for name in [
            "x-checksum",
            "grpc-status",
            "grpc-message",
            "server-timing",
            "digest",
            "authentication-info",
            "etag",
            "if",
            "ifx",
            "x-if-match",
        ] {
            assert!(allowed(&HeaderName::from_static(name)), "{name}");
        }
    }

    #[test]
    fn filter_keeps_order_and_repeated_values() {
        let mut t = HeaderMap::new();
        t.append("x-a", HeaderValue::from_static("1"));
        t.append("host", HeaderValue::from_static("evil"));
        t.append("x-a", HeaderValue::from_static("2"));
        t.append("set-cookie", HeaderValue::from_static("s=1"));
        t.append("set-cookie", HeaderValue::from_static("s=2"));
        t.append("x-b", HeaderValue::from_static("3"));
        let kept = filter(t);
        let got: Vec<(&str, &str)> = kept
            .iter()
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(got, [("x-a", "1"), ("x-a", "2"), ("x-b", "3")]);
        let mut clean = HeaderMap::new();
        clean.append("x-a", HeaderValue::from_static("1"));
        assert_eq!(filter(clean.clone()), clean);
    }
}
