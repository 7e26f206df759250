//! Fuzzing driver for the authority checks (`proto::host`): the byte-scan validator of `Host`
//! and `:authority` values, the same-entity comparison HTTP/2 uses, and both as the HTTP/1.1
//! head parser and the HTTP/2 request check apply them. Invariants (a panic is the finding):
//!
//! - the validator agrees with a reference written straight from RFC 3986 §3.2.2's ABNF in
//!   another shape (split at the last colon, escapes checked by window);
//! - an accepted value has no userinfo, path, query, fragment, whitespace, control or
//!   non-ASCII byte;
//! - the comparison is reflexive, symmetric, blind to ASCII case, true only for valid values,
//!   and treats an absent port as the scheme's default;
//! - a request head with that Host is accepted exactly when the value is valid (400
//!   otherwise), and an absolute-form target's authority becomes its Host;
//! - the HTTP/2 check accepts `:authority` with `Host` exactly when both are valid and name
//!   the same entity.

use std::net::Ipv6Addr;

use bytes::BytesMut;
use http::header::{HeaderMap, HeaderValue, HOST};
use http::Uri;

use crate::proto::h1::parse::{self, HeadLimits};
use crate::proto::host;

const LIMITS: HeadLimits = HeadLimits {
    max_head_bytes: 64 * 1024,
    max_uri_bytes: 16 * 1024,
};

/// Checks every invariant above on `a` and `b`, two candidate authorities.
pub fn authorities(a: &[u8], b: &[u8]) {
    for v in [a, b] {
        let valid = host::is_valid(v);
        assert_eq!(
            valid,
            reference_valid(v),
            "validator and reference differ on {v:?}"
        );
        if valid {
            assert!(
                !v.iter().any(|&c| matches!(
                    c,
                    b'@' | b'/' | b'?' | b'#' | b'\\' | b'"' | b'<' | b'>'
                ) || c <= b' '
                    || c >= 0x7f),
                "accepted {v:?}"
            );
            let upper = v.to_ascii_uppercase();
            assert!(host::is_valid(&upper), "{v:?} valid but not in upper case");
            assert!(
                host::same(Some("http"), v, &upper),
                "case matters for {v:?}"
            );
            assert!(
                host::same(Some("https"), v, v),
                "{v:?} not the same as itself"
            );
        } else {
            assert!(
                !host::same(Some("http"), v, v),
                "invalid {v:?} compared equal"
            );
        }
        h1_host(v);
    }
    for scheme in [Some("http"), Some("https"), None] {
        assert_eq!(
            host::same(scheme, a, b),
            host::same(scheme, b, a),
            "comparison of {a:?} and {b:?} is not symmetric"
        );
    }
    if host::same(Some("http"), a, b) {
        assert!(
            host::is_valid(a) && host::is_valid(b),
            "invalid values compared equal"
        );
    }
    default_ports(a);
    h1_absolute(a, b);
    h2_check(a, b);
}

/// RFC 3986 §3.2.2 and §3.2.3, read literally.
fn reference_valid(v: &[u8]) -> bool {
    let unreserved_or_sub = |c: u8| c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(&c);
    let (host, port) = if v.starts_with(b"[") {
        let Some(close) = v.iter().rposition(|&c| c == b']') else {
            return false;
        };
        let after = &v[close + 1..];
        let port = match after {
            [] => None,
            [b':', port @ ..] => Some(port),
            _ => return false,
        };
        (&v[..=close], port)
    } else {
        match v.iter().rposition(|&c| c == b':') {
            Some(i) => (&v[..i], Some(&v[i + 1..])),
            None => (v, None),
        }
    };
    if port.is_some_and(|p| !p.iter().all(u8::is_ascii_digit)) {
        return false;
    }
    if let Some(inner) = host.strip_prefix(b"[").and_then(|h| h.strip_suffix(b"]")) {
        if inner.contains(&b']') {
            return false;
        }
        if matches!(inner.first(), Some(b'v' | b'V')) {
            // IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
            let Some(dot) = inner.iter().position(|&c| c == b'.') else {
                return false;
            };
            return dot > 1
                && inner[1..dot].iter().all(u8::is_ascii_hexdigit)
                && dot + 1 < inner.len()
                && inner[dot + 1..]
                    .iter()
                    .all(|&c| c == b':' || unreserved_or_sub(c));
        }
        return std::str::from_utf8(inner).is_ok_and(|s| s.parse::<Ipv6Addr>().is_ok());
    }
    // reg-name = *( unreserved / pct-encoded / sub-delims )
    let mut i = 0;
    while i < host.len() {
        let c = host[i];
        if c == b'%' {
            let ok = host
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
            if !ok {
                return false;
            }
            i += 3;
        } else if unreserved_or_sub(c) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// An absent port is the scheme's default, a written default port is the same entity.
fn default_ports(v: &[u8]) {
    let has_port = if v.starts_with(b"[") {
        !v.ends_with(b"]")
    } else {
        v.contains(&b':')
    };
    if !host::is_valid(v) || has_port {
        return;
    }
    let mut with = v.to_vec();
    with.extend_from_slice(b":80");
    assert!(host::same(Some("http"), v, &with), "{v:?} vs :80");
    assert!(
        !host::same(Some("https"), v, &with),
        "{v:?} vs :80 on https"
    );
    with.truncate(v.len());
    with.extend_from_slice(b":443");
    assert!(host::same(Some("https"), v, &with), "{v:?} vs :443");
}

/// Whether httparse would deliver `v` as a field value unchanged (it trims surrounding
/// whitespace and ends the line at CR or LF).
fn survives_as_value(v: &[u8]) -> bool {
    HeaderValue::from_bytes(v).is_ok()
        && !v.contains(&b'\r')
        && !v.contains(&b'\n')
        && !matches!(v.first(), Some(b' ' | b'\t'))
        && !matches!(v.last(), Some(b' ' | b'\t'))
}

/// `Host: v` on an origin-form request: accepted exactly when `v` is valid.
fn h1_host(v: &[u8]) {
    if !survives_as_value(v) {
        return;
    }
    let mut req = b"GET / HTTP/1.1\r\nHost: ".to_vec();
    req.extend_from_slice(v);
    req.extend_from_slice(b"\r\n\r\n");
    let mut buf = BytesMut::from(&req[..]);
    match parse::parse_request(&mut buf, &LIMITS) {
        Ok(Some(head)) => {
            assert!(host::is_valid(v), "accepted Host {v:?}");
            assert_eq!(head.headers().get(HOST).map(|h| h.as_bytes()), Some(v));
        }
        Ok(None) => panic!("a whole head with Host {v:?} is incomplete"),
        Err(e) => {
            assert!(!host::is_valid(v), "refused valid Host {v:?}: {}", e.reason);
            assert_eq!(e.status, http::StatusCode::BAD_REQUEST);
        }
    }
}

/// `GET http://a/ HTTP/1.1` with `Host: b`: when accepted, Host is `a` (checked by the head
/// invariants of `parse_request_split`), and `a` is valid.
fn h1_absolute(a: &[u8], b: &[u8]) {
    if !survives_as_value(b) || a.iter().any(|&c| c <= b' ' || c >= 0x7f) {
        return;
    }
    let mut req = b"GET http://".to_vec();
    req.extend_from_slice(a);
    req.extend_from_slice(b"/ HTTP/1.1\r\nHost: ");
    req.extend_from_slice(b);
    req.extend_from_slice(b"\r\n\r\n");
    if let super::HeadOutcome::Parsed(head) =
        super::parse_request_split(&req, &[], 64 * 1024, 16 * 1024)
    {
        let hosts: Vec<&[u8]> = head
            .headers
            .iter()
            .filter(|(n, _)| n == "host")
            .map(|(_, v)| v.as_slice())
            .collect();
        assert_eq!(hosts.len(), 1, "{hosts:?}");
        assert!(
            host::is_valid(hosts[0]),
            "Host {:?} after the rewrite",
            hosts[0]
        );
        assert!(
            host::is_valid(b),
            "accepted an invalid Host {b:?} beside a target"
        );
    }
}

/// The HTTP/2 check on `:authority` a (as h2 would build the URI) and `Host` b.
fn h2_check(a: &[u8], b: &[u8]) {
    let Ok(authority) = http::uri::Authority::try_from(a) else {
        return;
    };
    if authority.as_str().as_bytes() != a {
        return;
    }
    let Ok(uri) = Uri::builder()
        .scheme("https")
        .authority(authority)
        .path_and_query("/")
        .build()
    else {
        return;
    };
    let empty = HeaderMap::new();
    assert_eq!(
        host::h2_authority_ok(&uri, &empty),
        host::is_valid(a),
        ":authority {a:?} alone"
    );
    let Ok(value) = HeaderValue::from_bytes(b) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(HOST, value.clone());
    assert_eq!(
        host::h2_authority_ok(&uri, &headers),
        host::same(Some("https"), a, b),
        ":authority {a:?} with Host {b:?}"
    );
    headers.append(HOST, value);
    assert!(
        !host::h2_authority_ok(&uri, &headers),
        "two Host fields accepted"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drives_valid_and_invalid_pairs() {
        for (a, b) in [
            (&b"a.example"[..], &b"A.EXAMPLE:80"[..]),
            (b"[::1]:8080", b"[::1]:8080"),
            (b"evil@a", b"a"),
            (b"a b", b""),
            (b"[v1.x]", b"[V1.X]:"),
            (b"a%41", b"a%4"),
        ] {
            authorities(a, b);
        }
        assert!(reference_valid(b"a.example:80") && !reference_valid(b"a:b:80"));
    }
}
