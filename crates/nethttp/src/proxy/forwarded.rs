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
    // Usually none is there: one walk over the names instead of four lookups.
    let forwarding = |name: &HeaderName| {
        *name == header::FORWARDED
            || *name == X_FORWARDED_FOR
            || *name == X_FORWARDED_HOST
            || *name == X_FORWARDED_PROTO
    };
    if !headers.keys().any(forwarding) {
        return;
    }
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
    /// The `Host` field `host` was read from, if it was: copied as it is (no new value).
    pub host_field: Option<&'a HeaderValue>,
    /// `http` or `https`.
    pub proto: &'static str,
}

/// Sets `X-Forwarded-For` (appending to a value already in `headers`, as Go does),
/// `X-Forwarded-Host` and `X-Forwarded-Proto`.
pub(crate) fn set_x_forwarded(headers: &mut HeaderMap, origin: &Origin<'_>) {
    if let Some(ip) = origin.client {
        let mut text = IpText::default();
        let ip = text.format(ip);
        let mut earlier = headers.get_all(X_FORWARDED_FOR).iter().peekable();
        let value = if earlier.peek().is_none() {
            // The common case (the client's own were removed): the address alone, formatted
            // on the stack.
            HeaderValue::from_bytes(ip).ok()
        } else {
            let mut chain = String::new();
            for v in earlier {
                if let Ok(s) = v.to_str() {
                    chain.push_str(s);
                    chain.push_str(", ");
                }
            }
            chain.push_str(std::str::from_utf8(ip).unwrap_or_default());
            HeaderValue::try_from(chain).ok()
        };
        if let Some(v) = value {
            headers.insert(X_FORWARDED_FOR, v);
        }
    }
    let host = match (origin.host_field, origin.host) {
        (Some(field), _) => Some(field.clone()),
        (None, Some(host)) => HeaderValue::from_str(host).ok(),
        (None, None) => None,
    };
    match host {
        Some(host) => {
            headers.insert(X_FORWARDED_HOST, host);
        }
        None => {
            headers.remove(X_FORWARDED_HOST);
        }
    }
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(origin.proto));
}

/// An IP address as text, formatted on the stack: IPv4 by hand (the common case, a tenth of
/// what `Display` costs), IPv6 through `Display` (the longest, with an embedded IPv4
/// address, is 45 bytes).
struct IpText {
    buf: [u8; 48],
}

impl Default for IpText {
    fn default() -> Self {
        IpText { buf: [0; 48] }
    }
}

impl IpText {
    fn format(&mut self, ip: IpAddr) -> &[u8] {
        match ip {
            IpAddr::V4(v4) => {
                let mut len = 0;
                for (i, octet) in v4.octets().into_iter().enumerate() {
                    if i > 0 {
                        self.buf[len] = b'.';
                        len += 1;
                    }
                    let mut digits = itoa::Buffer::new();
                    let digits = digits.format(octet).as_bytes();
                    self.buf[len..len + digits.len()].copy_from_slice(digits);
                    len += digits.len();
                }
                &self.buf[..len]
            }
            IpAddr::V6(v6) => {
                let mut w = SliceWriter {
                    buf: &mut self.buf,
                    len: 0,
                };
                // Cannot fail: 48 bytes hold any IPv6 address's text.
                let _ = write!(w, "{v6}");
                let len = w.len;
                &self.buf[..len]
            }
        }
    }
}

/// `fmt::Write` into a fixed buffer; writing past its end fails.
struct SliceWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl std::fmt::Write for SliceWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Appends one RFC 7239 element, `for=...;host=...;proto=...`, to `Forwarded` (§7.1: a
/// proxy adds its element after those already there, comma separated, in one field).
pub(crate) fn append_forwarded(headers: &mut HeaderMap, origin: &Origin<'_>) {
    let mut element = String::new();
    if let Some(ip) = origin.client {
        // §6: an IPv6 address is in brackets, and so in a quoted string (`:` is not a token
        // character); an IPv4 address is a token.
        let mut text = IpText::default();
        let shown = std::str::from_utf8(text.format(ip)).unwrap_or_default();
        match ip {
            IpAddr::V4(_) => {
                element.push_str("for=");
                element.push_str(shown);
            }
            IpAddr::V6(_) => {
                element.push_str("for=\"[");
                element.push_str(shown);
                element.push_str("]\"");
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
            host_field: None,
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
    fn strip_removes_each_forwarding_field_alone() {
        for name in [
            header::FORWARDED,
            X_FORWARDED_FOR,
            X_FORWARDED_HOST,
            X_FORWARDED_PROTO,
        ] {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, HeaderValue::from_static("a"));
            h.append(name.clone(), HeaderValue::from_static("1.2.3.4"));
            h.append(name.clone(), HeaderValue::from_static("5.6.7.8"));
            strip(&mut h);
            assert_eq!(h.len(), 1, "{name} left: {h:?}");
        }
    }

    #[test]
    fn the_host_field_is_copied_as_it_is() {
        // A field that differs from the text shows which of the two was used.
        let field = HeaderValue::from_static("field.example:8080");
        let mut h = HeaderMap::new();
        let o = Origin {
            host_field: Some(&field),
            ..origin(Some("192.0.2.7"), Some("text.example:8080"))
        };
        set_x_forwarded(&mut h, &o);
        assert_eq!(h[X_FORWARDED_HOST], field);
    }

    proptest::proptest! {
        #[test]
        fn ip_text_is_what_display_writes(v4: u32, v6: u128, mapped: u32) {
            for ip in [
                IpAddr::from(v4.to_be_bytes()),
                IpAddr::from(v6.to_be_bytes()),
                IpAddr::V6(std::net::Ipv4Addr::from(mapped).to_ipv6_mapped()),
            ] {
                let (mut text, shown) = (IpText::default(), ip.to_string());
                proptest::prop_assert_eq!(text.format(ip), shown.as_bytes());
            }
        }
    }

    #[test]
    fn ip_text_at_the_edges() {
        for ip in [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.0.1",
            "::",
            "::1",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "::ffff:255.255.255.255",
            "0:0:0:0:0:ffff:255.255.255.255",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut text = IpText::default();
            assert_eq!(text.format(ip), ip.to_string().as_bytes(), "{ip}");
        }
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
