//! The authority a request names — the HTTP/1.1 `Host` field, an absolute-form target's
//! authority, HTTP/2's `:authority` — checked against RFC 3986 §3.2.2's grammar with one
//! byte scan and no allocation, and two authorities compared after scheme-based
//! normalisation, for both protocol engines.
//!
//! The grammar (RFC 9110 §7.2: `Host = uri-host [ ":" port ]`; RFC 3986 §3.2.2, §3.2.3):
//!
//! ```text
//! uri-host    = IP-literal / IPv4address / reg-name
//! IP-literal  = "[" ( IPv6address / IPvFuture ) "]"
//! IPvFuture   = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
//! reg-name    = *( unreserved / pct-encoded / sub-delims )
//! port        = *DIGIT
//! ```
//!
//! An IPv4 address is a reg-name too, so it needs no branch of its own. What the grammar
//! leaves out is refused: userinfo (`user@host`, which RFC 9113 §8.3.1 and RFC 9110 §4.2.4
//! also forbid), `/ ? #`, spaces, controls, `< > " \`, bytes above 0x7F. Go's server
//! (`httpguts.ValidHostHeader`) refuses the same bytes with a table that is looser on shape
//! (it takes `a:b:c` or an unclosed `[`); this one follows the grammar. An empty value is
//! valid: RFC 9112 §3.2 has clients send it when the target URI has no authority.

use std::net::Ipv6Addr;

use http::header::{HeaderMap, HOST};
use http::{Request, Uri};

/// Bytes allowed in a reg-name besides `%` escapes: unreserved (`ALPHA DIGIT - . _ ~`) and
/// sub-delims (`! $ & ' ( ) * + , ; =`).
const REG_NAME: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
            );
        b += 1;
    }
    t
};

/// Whether `v` is `uri-host [ ":" port ]` by the grammar above.
pub(crate) fn is_valid(v: &[u8]) -> bool {
    split(v).is_some()
}

/// Splits a valid authority into its host and its port (`None` when there is no `:`; an
/// empty port, `host:`, is allowed by the grammar). `None` if `v` is not valid.
fn split(v: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    let (host, rest) = if v.first() == Some(&b'[') {
        let close = v.iter().position(|&b| b == b']')?;
        if !is_ip_literal(&v[1..close]) {
            return None;
        }
        v.split_at(close + 1)
    } else {
        let end = reg_name_len(v)?;
        v.split_at(end)
    };
    match rest.split_first() {
        None => Some((host, None)),
        Some((b':', port)) if port.iter().all(u8::is_ascii_digit) => Some((host, Some(port))),
        Some(_) => None,
    }
}

/// The length of the reg-name at the start of `v` (up to a `:` or the end), or `None` if a
/// byte there is not allowed or a `%` is not followed by two hex digits.
fn reg_name_len(v: &[u8]) -> Option<usize> {
    let mut i = 0;
    loop {
        // The usual bytes cost one table lookup each; only what stops the run is looked at.
        while i < v.len() && REG_NAME[usize::from(v[i])] {
            i += 1;
        }
        match v.get(i) {
            None | Some(b':') => return Some(i),
            Some(b'%') => {
                let escape = v.get(i + 1..i + 3)?;
                if !escape.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                i += 3;
            }
            Some(_) => return None,
        }
    }
}

/// What is between the brackets of an IP-literal: an IPv6 address (std's parser takes exactly
/// RFC 4291's text forms, embedded IPv4 included, and no zone) or an IPvFuture.
fn is_ip_literal(inner: &[u8]) -> bool {
    if let Some(rest) = inner
        .strip_prefix(b"v")
        .or_else(|| inner.strip_prefix(b"V"))
    {
        let Some(dot) = rest.iter().position(|&b| b == b'.') else {
            return false;
        };
        let (version, tail) = (&rest[..dot], &rest[dot + 1..]);
        return !version.is_empty()
            && version.iter().all(u8::is_ascii_hexdigit)
            && !tail.is_empty()
            && tail
                .iter()
                .all(|&b| b == b':' || (b != b'%' && REG_NAME[usize::from(b)]));
    }
    std::str::from_utf8(inner).is_ok_and(|s| s.parse::<Ipv6Addr>().is_ok())
}

/// Whether two valid authorities name the same entity for `scheme` (RFC 9113 §8.3.1 asks for
/// scheme-based normalisation, RFC 3986 §6.2.3): the host compared without ASCII case, and an
/// absent or empty port equal to the scheme's default (80 for http, 443 for https). `false` if
/// either is not valid.
pub(crate) fn same(scheme: Option<&str>, a: &[u8], b: &[u8]) -> bool {
    let (Some((host_a, port_a)), Some((host_b, port_b))) = (split(a), split(b)) else {
        return false;
    };
    let default: &[u8] = match scheme {
        Some(s) if s.eq_ignore_ascii_case("https") => b"443",
        _ => b"80",
    };
    host_a.eq_ignore_ascii_case(host_b)
        && or_default(port_a, default) == or_default(port_b, default)
}

/// A port as written, or `default` when absent or empty.
fn or_default<'a>(port: Option<&'a [u8]>, default: &'a [u8]) -> &'a [u8] {
    match port {
        Some(p) if !p.is_empty() => p,
        _ => default,
    }
}

/// The `host[:port]` a request is for: HTTP/2's `:authority` and an absolute-form target are
/// in the URI (without userinfo, which the engines refuse but a request made by hand may
/// carry), HTTP/1.1's `Host` in the header (the engines have made the two agree); empty when
/// there is neither.
pub(crate) fn of_request<B>(req: &Request<B>) -> &str {
    match req.uri().authority() {
        Some(a) => a.as_str().rsplit_once('@').map_or(a.as_str(), |(_, h)| h),
        None => req
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or(""),
    }
}

/// The authority rules of an HTTP/2 request (RFC 9113 §8.3.1), on what h2 made of its
/// pseudo-header fields: `:authority`, when present, is valid (no userinfo); there is at most
/// one `Host`, valid too; and when both are present they name the same entity. A request that
/// breaks one is malformed. Go's HTTP/2 server refuses the same requests
/// (`authority_host_mismatch`, `multiple_host_headers`).
pub(crate) fn h2_authority_ok(uri: &Uri, headers: &HeaderMap) -> bool {
    let mut hosts = headers.get_all(HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return false;
    }
    match (uri.authority(), host) {
        (Some(a), Some(h)) => same(uri.scheme_str(), a.as_str().as_bytes(), h.as_bytes()),
        (Some(a), None) => is_valid(a.as_str().as_bytes()),
        (None, Some(h)) => is_valid(h.as_bytes()),
        (None, None) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_requests_authority_is_the_uris_else_host() {
        let req = |uri: &str, host: Option<&str>| {
            let mut b = Request::builder().uri(uri);
            if let Some(h) = host {
                b = b.header(HOST, h);
            }
            b.body(()).unwrap()
        };
        assert_eq!(
            of_request(&req("/x", Some("a.example:8080"))),
            "a.example:8080"
        );
        assert_eq!(
            of_request(&req("http://b.example:81/x", Some("a"))),
            "b.example:81"
        );
        assert_eq!(of_request(&req("http://u:p@[::1]:81/x", None)), "[::1]:81");
        assert_eq!(of_request(&req("/x", None)), "");
        let mut bad = req("/x", None);
        bad.headers_mut()
            .insert(HOST, http::HeaderValue::from_bytes(b"\xff").unwrap());
        assert_eq!(of_request(&bad), "");
    }

    #[test]
    fn valid_authorities() {
        for v in [
            "",
            "a",
            "example.com",
            "EXAMPLE.com.",
            "example.com:8080",
            "example.com:",
            ":80",
            "127.0.0.1",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:8080",
            "[fe80::1:2:3:4]",
            "[::ffff:192.0.2.1]",
            "[v1.fe80::a+en1]",
            "[V7.x]",
            "a_b-c~d",
            "a%41b",
            "!$&'()*+,;=",
            "300.1.1.1",
        ] {
            assert!(is_valid(v.as_bytes()), "{v:?}");
        }
    }

    #[test]
    fn invalid_authorities() {
        for v in [
            "a b",
            "<script>",
            "evil@b",
            "user:pass@b",
            "a/b",
            "a?b",
            "a#b",
            "a\\b",
            "\"a\"",
            "a:8o",
            "a:80:81",
            "[::1",
            "[::1]x",
            "[::1]:8o",
            "[::1]]",
            "[not-ipv6]",
            "[]",
            "[fe80::1%25en0]",
            "[v.x]",
            "[v1.]",
            "[v1x]",
            "[1.2.3.4]",
            "a%zzb",
            "a%4",
            "a%",
            "caf\u{e9}",
            "a\tb",
            "a\0b",
            "::1",
        ] {
            assert!(!is_valid(v.as_bytes()), "{v:?}");
        }
    }

    #[test]
    fn same_entity_after_normalisation() {
        let http = Some("http");
        assert!(same(http, b"a.example", b"A.Example"));
        assert!(same(http, b"a.example", b"a.example:80"));
        assert!(same(http, b"a.example:", b"a.example:80"));
        assert!(same(Some("https"), b"a.example:443", b"a.example"));
        assert!(same(http, b"[::1]:8080", b"[::1]:8080"));
        assert!(!same(http, b"a.example", b"b.example"));
        assert!(!same(http, b"a.example", b"a.example:8080"));
        assert!(!same(Some("https"), b"a.example:80", b"a.example"));
        assert!(!same(http, b"a.example", b"evil@a.example"));
        assert!(!same(http, b"a.example", b""));
    }
}
