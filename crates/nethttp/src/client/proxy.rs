//! The HTTP proxy a transport sends through: parsed from `[http://][user:password@]host:port`,
//! with its Basic credentials (RFC 7617) ready to send as `Proxy-Authorization` (RFC 9110
//! §11.7.2) on CONNECT and on absolute-form requests.

use http::HeaderValue;

use crate::error::{Error, Kind};
use crate::percent;

/// An HTTP proxy: http requests go to it with absolute-form targets (RFC 9112 §3.2.2);
/// https requests go through a CONNECT tunnel it opens to the target.
#[derive(Clone)]
pub(crate) struct Proxy {
    pub host: String,
    pub port: u16,
    /// `host:port` (never the credentials): part of the pool key, shown in pool stats.
    pub authority: String,
    /// `Basic ...` for `Proxy-Authorization`, when the proxy was given credentials.
    pub auth: Option<HeaderValue>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("authority", &self.authority)
            .field("auth", &self.auth.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Proxy {
    /// Parses `[http://][user:password@]host[:port]` (port 80 when absent, as for any http
    /// URL); user and password may be percent-encoded, as in a URL. Other schemes (`https://`
    /// for TLS to the proxy, `socks5://`) are not supported and say so.
    pub(crate) fn parse(s: &str) -> Result<Proxy, Error> {
        let usage = |msg| Error::new(Kind::Usage, msg);
        let rest = match s.split_once("://") {
            None => s,
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some(_) => return Err(usage("only http:// proxies are supported")),
        };
        let rest = rest.trim_end_matches('/');
        let (userinfo, authority) = match rest.rsplit_once('@') {
            Some((u, a)) => (Some(u), a),
            None => (None, rest),
        };
        let (host, port) =
            split_host_port(authority).ok_or(usage("proxy must be [user:password@]host[:port]"))?;
        let auth = match userinfo {
            None => None,
            Some(u) => {
                let (user, password) = u.split_once(':').unwrap_or((u, ""));
                let user = percent::decode(user).ok_or(usage("bad %-escape in the proxy user"))?;
                let password =
                    percent::decode(password).ok_or(usage("bad %-escape in the proxy password"))?;
                Some(basic_auth(&user, &password))
            }
        };
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        Ok(Proxy {
            host: host.to_owned(),
            port,
            authority,
            auth,
        })
    }
}

/// `host[:port]` or `[v6][:port]` into host (no brackets) and port (80 when absent).
fn split_host_port(authority: &str) -> Option<(&str, u16)> {
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']')?;
            (host, after)
        }
        None => match authority.split_once(':') {
            Some((host, _)) => (host, &authority[host.len()..]),
            None => (authority, ""),
        },
    };
    let port = match port {
        "" => 80,
        p => p.strip_prefix(':')?.parse::<u16>().ok()?,
    };
    let valid = |b: u8| b.is_ascii_alphanumeric() || b"-._:".contains(&b);
    (!host.is_empty() && host.bytes().all(valid)).then_some((host, port))
}

/// `Basic base64(user:password)` (RFC 7617 §2), marked sensitive so it is not logged or
/// HPACK-indexed.
pub(crate) fn basic_auth(user: &[u8], password: &[u8]) -> HeaderValue {
    let mut plain = Vec::with_capacity(user.len() + 1 + password.len());
    plain.extend_from_slice(user);
    plain.push(b':');
    plain.extend_from_slice(password);
    let mut value = b"Basic ".to_vec();
    base64_encode(&plain, &mut value);
    let mut value = HeaderValue::from_bytes(&value).expect("base64 is a valid header value");
    value.set_sensitive(true);
    value
}

/// Standard base64 with padding (RFC 4648 §4), appended to `out`.
pub(crate) fn base64_encode(input: &[u8], out: &mut Vec<u8>) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextet = |i: u32| ALPHABET[((n >> (18 - 6 * i)) & 63) as usize];
        out.push(sextet(0));
        out.push(sextet(1));
        out.push(if chunk.len() > 1 { sextet(2) } else { b'=' });
        out.push(if chunk.len() > 2 { sextet(3) } else { b'=' });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            let mut out = Vec::new();
            base64_encode(plain.as_bytes(), &mut out);
            assert_eq!(out, encoded.as_bytes(), "{plain:?}");
        }
    }

    #[test]
    fn parses_plain_and_credentialed_proxies() {
        let p = Proxy::parse("127.0.0.1:3128").unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, p.authority.as_str()),
            ("127.0.0.1", 3128, "127.0.0.1:3128")
        );
        assert!(p.auth.is_none());

        let p = Proxy::parse("http://[::1]:8080/").unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, p.authority.as_str()),
            ("::1", 8080, "[::1]:8080")
        );

        let p = Proxy::parse("HTTP://proxy.test").unwrap();
        assert_eq!((p.port, p.authority.as_str()), (80, "proxy.test:80"));

        // RFC 7617 §2's example: Aladdin / open sesame.
        let p = Proxy::parse("http://Aladdin:open%20sesame@proxy.test:3128").unwrap();
        assert_eq!(
            p.authority, "proxy.test:3128",
            "credentials stay out of the key"
        );
        let auth = p.auth.unwrap();
        assert_eq!(auth, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert!(auth.is_sensitive());
        assert!(!format!("{:?}", Proxy::parse("u:secret@h:1").unwrap()).contains("secret"));
    }

    #[test]
    fn rejects_what_is_not_an_http_proxy_address() {
        for bad in [
            "",
            "host:",
            "a:b:c",
            "[::1",
            "ho st:1",
            ":80",
            "host:99999",
            "https://h:1",
            "socks5://h:1080",
            "u:%zz@h:1",
            "u:%+1@h:1",
        ] {
            let err = Proxy::parse(bad).expect_err(bad);
            assert_eq!(err.kind(), Kind::Usage, "{bad}");
        }
    }
}
