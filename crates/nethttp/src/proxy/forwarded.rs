//! The fields that tell the upstream who the client was: the de facto `X-Forwarded-For`,
//! `X-Forwarded-Host` and `X-Forwarded-Proto`, RFC 7239's `Forwarded`, and RFC 9110 §7.6.3's
//! `Via`.
//!
//! What the client sent in these fields is not trusted: the proxy removes them before its
//! rewrite hook runs (as Go 1.20's `Rewrite` does), so an upstream sees only what this proxy
//! vouches for. A rewrite hook that trusts an earlier proxy copies them from the inbound
//! request itself.

use std::fmt::Write as _;
use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::Version;

/// `X-Forwarded-For`: the chain of client addresses, the nearest last.
pub(crate) const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `X-Forwarded-Host`: the `Host` the client asked for.
pub(crate) const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
/// `X-Forwarded-Proto`: `http` or `https`, the scheme the client used.
pub(crate) const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// Which fields a proxy adds to say who the client was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ForwardedHeaders {
    /// `X-Forwarded-For` (the client's IP appended), `X-Forwarded-Host` and
    /// `X-Forwarded-Proto`: what Go's `SetXForwarded` sets and most applications read. The
    /// default.
    #[default]
    XForwarded,
    /// RFC 7239's `Forwarded: for=...;host=...;proto=...`, appended as a new element.
    Rfc7239,
    /// Both of the above.
    Both,
    /// Neither: the upstream learns nothing of the client (the inbound ones are still
    /// removed).
    None,
}

/// Removes every client-supplied forwarding field from `headers`.
pub(crate) fn strip(headers: &mut HeaderMap) {
    headers.remove(header::FORWARDED);
    headers.remove(X_FORWARDED_FOR);
    headers.remove(X_FORWARDED_HOST);
    headers.remove(X_FORWARDED_PROTO);
}

/// What the proxy knows of the inbound request that the forwarding fields report.
pub(crate) struct Origin<'a> {
    /// The client's IP address, if the connection has one and the server attached it.
    pub client: Option<IpAddr>,
    /// The authority the client asked for (`Host`, or HTTP/2's `:authority`).
    pub host: Option<&'a str>,
    /// `http` or `https`.
    pub proto: &'static str,
}

/// Sets `X-Forwarded-For` (appending to a value already in `headers`, as Go does),
/// `X-Forwarded-Host` and `X-Forwarded-Proto`.
pub(crate) fn set_x_forwarded(headers: &mut HeaderMap, origin: &Origin<'_>) {
    if let Some(ip) = origin.client {
        let mut chain = String::new();
        for v in headers.get_all(X_FORWARDED_FOR) {
            if let Ok(s) = v.to_str() {
                chain.push_str(s);
                chain.push_str(", ");
            }
        }
        let _ = write!(chain, "{ip}");
        if let Ok(v) = HeaderValue::try_from(chain) {
            headers.insert(X_FORWARDED_FOR, v);
        }
    }
    match origin.host.map(HeaderValue::from_str) {
        Some(Ok(host)) => {
            headers.insert(X_FORWARDED_HOST, host);
        }
        _ => {
            headers.remove(X_FORWARDED_HOST);
        }
    }
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(origin.proto));
}

/// Appends one RFC 7239 element, `for=...;host=...;proto=...`, to `Forwarded` (§7.1: a
/// proxy adds its element after those already there, comma separated, in one field).
pub(crate) fn append_forwarded(headers: &mut HeaderMap, origin: &Origin<'_>) {
    let mut element = String::new();
    if let Some(ip) = origin.client {
        // §6: an IPv6 address is in brackets, and so in a quoted string (`:` is not a token
        // character); an IPv4 address is a token.
        match ip {
            IpAddr::V4(v4) => {
                let _ = write!(element, "for={v4}");
            }
            IpAddr::V6(v6) => {
                let _ = write!(element, "for=\"[{v6}]\"");
            }
        }
    }
    if let Some(host) = origin.host {
        if !element.is_empty() {
            element.push(';');
        }
        element.push_str("host=");
        push_value(&mut element, host);
    }
    if !element.is_empty() {
        element.push(';');
    }
    element.push_str("proto=");
    element.push_str(origin.proto);

    let mut value = String::new();
    for v in headers.get_all(header::FORWARDED) {
        if let Ok(s) = v.to_str() {
            value.push_str(s);
            value.push_str(", ");
        }
    }
    value.push_str(&element);
    if let Ok(v) = HeaderValue::try_from(value) {
        headers.insert(header::FORWARDED, v);
    }
}

/// A parameter value: a token as it is, anything else as a quoted string (RFC 7239 §4,
/// RFC 9110 §5.6.4), with `"` and `\` escaped.
fn push_value(out: &mut String, v: &str) {
    if crate::token::is_token(v) {
        out.push_str(v);
        return;
    }
    out.push('"');
    for c in v.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// Appends this proxy to `Via` (RFC 9110 §7.6.3): the protocol version the message arrived
/// with and the proxy's pseudonym, e.g. `1.1 nethttp`.
pub(crate) fn append_via(headers: &mut HeaderMap, version: Version, pseudonym: &str) {
    let version = match version {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "1.1",
    };
    let mut value = String::new();
    for v in headers.get_all(header::VIA) {
        if let Ok(s) = v.to_str() {
            value.push_str(s);
            value.push_str(", ");
        }
    }
    let _ = write!(value, "{version} {pseudonym}");
    if let Ok(v) = HeaderValue::try_from(value) {
        headers.insert(header::VIA, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(client: Option<&str>, host: Option<&'static str>) -> Origin<'static> {
        Origin {
            client: client.map(|c| c.parse().unwrap()),
            host,
            proto: "https",
        }
    }

    #[test]
    fn x_forwarded_appends_the_client_and_sets_host_and_proto() {
        let mut h = HeaderMap::new();
        set_x_forwarded(&mut h, &origin(Some("192.0.2.7"), Some("example.com:8443")));
        assert_eq!(h[X_FORWARDED_FOR], "192.0.2.7");
        assert_eq!(h[X_FORWARDED_HOST], "example.com:8443");
        assert_eq!(h[X_FORWARDED_PROTO], "https");
        h.append(X_FORWARDED_FOR, "10.0.0.1".parse().unwrap());
        set_x_forwarded(&mut h, &origin(Some("::1"), None));
        assert_eq!(h[X_FORWARDED_FOR], "192.0.2.7, 10.0.0.1, ::1");
        assert!(!h.contains_key(X_FORWARDED_HOST));
        let mut h = HeaderMap::new();
        set_x_forwarded(&mut h, &origin(None, Some("a")));
        assert!(!h.contains_key(X_FORWARDED_FOR));
    }

    #[test]
    fn forwarded_quotes_ipv6_and_hosts_with_ports() {
        let mut h = HeaderMap::new();
        append_forwarded(&mut h, &origin(Some("192.0.2.7"), Some("example.com")));
        assert_eq!(
            h[header::FORWARDED],
            "for=192.0.2.7;host=example.com;proto=https"
        );
        append_forwarded(
            &mut h,
            &origin(Some("2001:db8::1"), Some("example.com:8443")),
        );
        assert_eq!(
            h[header::FORWARDED],
            "for=192.0.2.7;host=example.com;proto=https, \
             for=\"[2001:db8::1]\";host=\"example.com:8443\";proto=https"
        );
        let mut h = HeaderMap::new();
        append_forwarded(&mut h, &origin(None, None));
        assert_eq!(h[header::FORWARDED], "proto=https");
    }

    #[test]
    fn via_appends_version_and_pseudonym() {
        let mut h = HeaderMap::new();
        append_via(&mut h, Version::HTTP_2, "edge");
        append_via(&mut h, Version::HTTP_11, "nethttp");
        assert_eq!(h[header::VIA], "2 edge, 1.1 nethttp");
    }
}
