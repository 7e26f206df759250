//! The proxy a transport sends through, parsed from its URL — `[http://]`, `https://`,
//! `socks5://` or `socks5h://`, then `[user:password@]host[:port]` — with what each kind needs
//! ready: Basic credentials (RFC 7617) to send as `Proxy-Authorization` (RFC 9110 §11.7.2) to an
//! HTTP or HTTPS proxy, the user name and password for a SOCKS5 proxy (RFC 1929), and the
//! proxy's part of the pool key. [`ProxyUrl`] is the public face, for per-request proxy choice.

use std::fmt;
use std::hash::BuildHasher;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use http::HeaderValue;

use crate::error::{Error, Kind};
use crate::percent;

/// How the transport speaks to a proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProxyKind {
    /// Plain HTTP: http requests in absolute form (RFC 9112 §3.2.2), https through a CONNECT
    /// tunnel (RFC 9110 §9.3.6).
    Http,
    /// The same, over TLS to the proxy (its own host checked against its certificate); an
    /// https target's TLS then runs inside the proxy's.
    Https,
    /// SOCKS5 (RFC 1928): the stream becomes a connection to the target, used as a direct
    /// one. `remote_dns` (`socks5h://`) sends the target's name for the proxy to resolve;
    /// otherwise (`socks5://`) the client resolves it and sends an address.
    Socks5 { remote_dns: bool },
}

/// A SOCKS5 proxy's user name and password (RFC 1929 §2: 1 to 255 bytes, and up to 255).
#[derive(Clone)]
pub(crate) struct SocksAuth {
    pub user: Vec<u8>,
    pub password: Vec<u8>,
}

/// A proxy, parsed.
#[derive(Clone)]
pub(crate) struct Proxy {
    pub kind: ProxyKind,
    /// The proxy's host: a name, or an IP literal without brackets.
    pub host: String,
    pub port: u16,
    /// The proxy's part of the pool key, shown in pool stats: `scheme://host:port`, and when
    /// it has credentials a fingerprint of them (never the credentials), so that requests
    /// sent with other credentials never share a connection (a tunnel or SOCKS connection is
    /// authenticated once, when it opens).
    pub key: Box<str>,
    /// `Basic ...` for `Proxy-Authorization`, for an HTTP or HTTPS proxy given credentials.
    pub auth: Option<HeaderValue>,
    /// For a SOCKS5 proxy given credentials.
    pub socks_auth: Option<SocksAuth>,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("key", &self.key)
            .field("auth", &self.auth.as_ref().map(|_| "<redacted>"))
            .field(
                "socks_auth",
                &self.socks_auth.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl Proxy {
    /// Parses `[scheme://][user:password@]host[:port]`: the scheme `http` (also when absent),
    /// `https`, `socks5` or `socks5h`; the port, when absent, the scheme's (80, 443, 1080).
    /// User and password may be percent-encoded, as in a URL.
    pub(crate) fn parse(s: &str) -> Result<Proxy, Error> {
        let usage = |msg| Error::new(Kind::Usage, msg);
        let (kind, scheme, rest) =
            match s.split_once("://") {
                None => (ProxyKind::Http, "http", s),
                Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
                    "http" => (ProxyKind::Http, "http", rest),
                    "https" => (ProxyKind::Https, "https", rest),
                    "socks5" => (ProxyKind::Socks5 { remote_dns: false }, "socks5", rest),
                    "socks5h" => (ProxyKind::Socks5 { remote_dns: true }, "socks5h", rest),
                    _ => return Err(usage(
                        "the proxy's scheme is none of http://, https://, socks5://, socks5h://",
                    )),
                },
            };
        let default_port = match kind {
            ProxyKind::Http => 80,
            ProxyKind::Https => 443,
            ProxyKind::Socks5 { .. } => 1080,
        };
        let rest = rest.trim_end_matches('/');
        let (userinfo, authority) = match rest.rsplit_once('@') {
            Some((u, a)) => (Some(u), a),
            None => (None, rest),
        };
        let (host, port) = split_host_port(authority, default_port).ok_or(usage(
            "proxy must be [scheme://][user:password@]host[:port]",
        ))?;
        let credentials = match userinfo {
            None => None,
            Some(u) => {
                let (user, password) = u.split_once(':').unwrap_or((u, ""));
                let user = percent::decode(user).ok_or(usage("bad %-escape in the proxy user"))?;
                let password =
                    percent::decode(password).ok_or(usage("bad %-escape in the proxy password"))?;
                Some((user, password))
            }
        };
        let (mut auth, mut socks_auth) = (None, None);
        match (kind, credentials) {
            (_, None) => {}
            (ProxyKind::Http | ProxyKind::Https, Some((user, password))) => {
                auth = Some(basic_auth(&user, &password));
            }
            // `socks5://:@host`: no credentials at all.
            (ProxyKind::Socks5 { .. }, Some((user, password)))
                if user.is_empty() && password.is_empty() => {}
            (ProxyKind::Socks5 { .. }, Some((user, password))) => {
                // RFC 1929 §2: ULEN and PLEN are one byte each, and a user name has at
                // least one.
                if user.is_empty() || user.len() > 255 || password.len() > 255 {
                    return Err(usage(
                        "a SOCKS5 proxy's user name must be 1 to 255 bytes and its password at \
                         most 255 (RFC 1929)",
                    ));
                }
                socks_auth = Some(SocksAuth { user, password });
            }
        }
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let mut key = format!("{scheme}://{authority}");
        let fingerprint = match (&auth, &socks_auth) {
            (Some(a), _) => Some(fingerprint(a.as_bytes())),
            (None, Some(a)) => Some(fingerprint(&[&a.user[..], b"\0", &a.password[..]].concat())),
            (None, None) => None,
        };
        if let Some(f) = fingerprint {
            key.push_str(&format!(" (credentials {f:016x})"));
        }
        Ok(Proxy {
            kind,
            host: host.to_owned(),
            port,
            key: key.into(),
            auth,
            socks_auth,
        })
    }

    /// Whether http requests are sent to the proxy itself, in absolute form (an HTTP or HTTPS
    /// proxy), rather than to the target over a connection the proxy opened (SOCKS5).
    pub(crate) fn speaks_http(&self) -> bool {
        matches!(self.kind, ProxyKind::Http | ProxyKind::Https)
    }
}

/// A keyed hash of credentials, to tell them apart in pool keys without showing them: the key
/// is random per process, so the value says nothing outside it.
fn fingerprint(secret: &[u8]) -> u64 {
    static KEYS: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
    KEYS.get_or_init(Default::default).hash_one(secret)
}

/// A proxy to send requests through (Go's `Transport.Proxy` returns one per request), parsed
/// from `[scheme://][user:password@]host[:port]`:
///
/// | scheme | the proxy is spoken to | default port |
/// |---|---|---|
/// | `http` (or none) | in plain HTTP: http requests in absolute form, https through a `CONNECT` tunnel | 80 |
/// | `https` | the same inside TLS to the proxy (its certificate checked against its host, with [`TransportBuilder::proxy_tls`](super::TransportBuilder::proxy_tls)) | 443 |
/// | `socks5` | in SOCKS5 (RFC 1928), naming the target by an address the client resolved | 1080 |
/// | `socks5h` | in SOCKS5, naming the target by its host name, for the proxy to resolve | 1080 |
///
/// User and password may be percent-encoded, as in a URL: an HTTP(S) proxy gets them as
/// `Proxy-Authorization: Basic`, a SOCKS5 proxy by username/password authentication (RFC
/// 1929). They never show in [`Display`](fmt::Display), [`Debug`] or pool stats. Cheap to
/// clone.
///
/// ```
/// use nethttp::client::ProxyUrl;
///
/// let p: ProxyUrl = "socks5h://user:pa%20ss@127.0.0.1:1080".parse()?;
/// assert_eq!(p.to_string(), "socks5h://127.0.0.1:1080");
/// assert!(ProxyUrl::parse("ftp://proxy.test").is_err());
/// # Ok::<(), nethttp::Error>(())
/// ```
#[derive(Clone)]
pub struct ProxyUrl(pub(crate) Arc<Proxy>);

impl ProxyUrl {
    /// Parses a proxy URL (see the table above). A malformed one, or another scheme, is an
    /// [`ErrorKind::Usage`](crate::ErrorKind::Usage) error.
    pub fn parse(s: &str) -> Result<ProxyUrl, Error> {
        Proxy::parse(s).map(|p| ProxyUrl(Arc::new(p)))
    }
}

impl FromStr for ProxyUrl {
    type Err = Error;
    fn from_str(s: &str) -> Result<ProxyUrl, Error> {
        ProxyUrl::parse(s)
    }
}

/// `scheme://host:port`, without credentials.
impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = &self.0.key;
        f.write_str(key.split_once(' ').map_or(&**key, |(url, _)| url))
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ProxyUrl").field(&self.0).finish()
    }
}

/// `host[:port]` or `[v6][:port]` into host (no brackets) and port (`default` when absent).
fn split_host_port(authority: &str, default: u16) -> Option<(&str, u16)> {
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
        "" => default,
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
    crate::base64::encode(&plain, &mut value);
    let mut value = HeaderValue::from_bytes(&value).expect("base64 is a valid header value");
    value.set_sensitive(true);
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_credentialed_proxies() {
        let p = Proxy::parse("127.0.0.1:3128").unwrap();
        assert_eq!(
            (p.kind, p.host.as_str(), p.port, &*p.key),
            (ProxyKind::Http, "127.0.0.1", 3128, "http://127.0.0.1:3128")
        );
        assert!(p.auth.is_none());

        let p = Proxy::parse("http://[::1]:8080/").unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, &*p.key),
            ("::1", 8080, "http://[::1]:8080")
        );

        let p = Proxy::parse("HTTP://proxy.test").unwrap();
        assert_eq!((p.port, &*p.key), (80, "http://proxy.test:80"));

        // RFC 7617 §2's example: Aladdin / open sesame.
        let p = Proxy::parse("http://Aladdin:open%20sesame@proxy.test:3128").unwrap();
        assert!(
            p.key.starts_with("http://proxy.test:3128 (credentials "),
            "{}",
            p.key
        );
        assert!(!p.key.contains("Aladdin") && !p.key.contains("QWxh"));
        let auth = p.auth.clone().unwrap();
        assert_eq!(auth, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert!(auth.is_sensitive());
        assert!(!format!("{:?}", Proxy::parse("u:secret@h:1").unwrap()).contains("secret"));
        assert_eq!(
            ProxyUrl(Arc::new(p)).to_string(),
            "http://proxy.test:3128",
            "no credentials in Display"
        );
    }

    #[test]
    fn parses_https_and_socks_proxies_with_their_default_ports() {
        let p = Proxy::parse("https://proxy.test").unwrap();
        assert_eq!(
            (p.kind, p.port, &*p.key),
            (ProxyKind::Https, 443, "https://proxy.test:443")
        );
        let p = Proxy::parse("socks5://127.0.0.1").unwrap();
        assert_eq!(
            (p.kind, p.port, &*p.key),
            (
                ProxyKind::Socks5 { remote_dns: false },
                1080,
                "socks5://127.0.0.1:1080"
            )
        );
        let p = Proxy::parse("SOCKS5H://[::1]:9050").unwrap();
        assert_eq!(
            (p.kind, p.host.as_str(), &*p.key),
            (
                ProxyKind::Socks5 { remote_dns: true },
                "::1",
                "socks5h://[::1]:9050"
            )
        );
        assert!(!p.speaks_http());

        let p = Proxy::parse("socks5h://us%3Aer:p%40ss@h:1").unwrap();
        let a = p.socks_auth.as_ref().unwrap();
        assert_eq!(
            (&a.user[..], &a.password[..]),
            (&b"us:er"[..], &b"p@ss"[..])
        );
        assert!(p.auth.is_none(), "no Basic header for SOCKS");
        assert!(!format!("{p:?}").contains("p@ss"));
        // `:@` is no credentials at all; a password alone is not RFC 1929.
        assert!(Proxy::parse("socks5://:@h:1").unwrap().socks_auth.is_none());
        for bad in [
            "socks5://:pw@h:1".to_owned(),
            format!("socks5://{}:pw@h:1", "u".repeat(256)),
            format!("socks5://u:{}@h:1", "p".repeat(256)),
        ] {
            assert_eq!(Proxy::parse(&bad).unwrap_err().kind(), Kind::Usage, "{bad}");
        }
        assert!(Proxy::parse(&format!(
            "socks5://{}:{}@h:1",
            "u".repeat(255),
            "p".repeat(255)
        ))
        .is_ok());
    }

    #[test]
    fn credentials_part_the_key_without_showing_in_it() {
        let key = |s: &str| Proxy::parse(s).unwrap().key;
        assert_eq!(key("socks5://a:1@h:1"), key("socks5://a:1@h:1"));
        assert_ne!(key("socks5://a:1@h:1"), key("socks5://a:2@h:1"));
        assert_ne!(key("socks5://a:1@h:1"), key("socks5://h:1"));
        assert_ne!(key("http://a:1@h:1"), key("http://a:2@h:1"));
        assert_ne!(key("socks5://h:1"), key("socks5h://h:1"));
        assert_ne!(key("http://h:1"), key("https://h:1"));
    }

    #[test]
    fn rejects_what_is_not_a_proxy_address() {
        for bad in [
            "",
            "host:",
            "a:b:c",
            "[::1",
            "ho st:1",
            ":80",
            "host:99999",
            "ftp://h:1",
            "socks4://h:1080",
            "socks://h:1080",
            "u:%zz@h:1",
            "u:%+1@h:1",
        ] {
            let err = Proxy::parse(bad).expect_err(bad);
            assert_eq!(err.kind(), Kind::Usage, "{bad}");
        }
    }
}
