//! Which proxy, if any, each request goes through: none, one proxy for every request, the
//! environment's `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY` (read the way Go's
//! `ProxyFromEnvironment` reads the first three, with curl's `ALL_PROXY` as the fallback of
//! both), or a function of the caller's asked for each request (Go's `Transport.Proxy`).

use std::net::IpAddr;
use std::sync::Arc;

use http::request::Parts;

use super::no_proxy::NoProxy;
use super::pool::Scheme;
use super::proxy::{Proxy, ProxyUrl};
use crate::error::{BoxError, Error, Kind};

/// A caller's choice of proxy per request: `None` goes direct.
pub(crate) type ProxyFn =
    Arc<dyn Fn(&Parts) -> Result<Option<ProxyUrl>, BoxError> + Send + Sync + 'static>;

/// The proxy choice of a transport, settled when it is built.
#[derive(Clone, Default)]
pub(crate) struct Proxies {
    http: Slot,
    https: Slot,
    /// Hosts that go direct.
    bypass: NoProxy,
    /// Set for proxies from the environment: `localhost` and loopback addresses go direct,
    /// as in Go (a proxy elsewhere cannot reach this machine's loopback anyway).
    loopback_direct: bool,
    /// When set, it alone decides, for every request.
    custom: Option<ProxyFn>,
}

impl std::fmt::Debug for Proxies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxies")
            .field("http", &self.http)
            .field("https", &self.https)
            .field("bypass", &self.bypass)
            .field("loopback_direct", &self.loopback_direct)
            .field("custom", &self.custom.is_some())
            .finish()
    }
}

#[derive(Debug, Clone, Default)]
enum Slot {
    #[default]
    None,
    Proxy(Arc<Proxy>),
    /// The environment named a proxy that is not usable; each request it would take fails
    /// with this reason instead of quietly going direct.
    Bad(String),
}

impl Proxies {
    /// Every request through `proxy`, except the hosts `bypass` matches.
    pub(crate) fn fixed(proxy: Proxy, bypass: NoProxy) -> Proxies {
        let proxy = Arc::new(proxy);
        Proxies {
            http: Slot::Proxy(proxy.clone()),
            https: Slot::Proxy(proxy),
            bypass,
            loopback_direct: false,
            custom: None,
        }
    }

    /// Every request through what `f` returns for it.
    pub(crate) fn custom(f: ProxyFn) -> Proxies {
        Proxies {
            custom: Some(f),
            ..Proxies::default()
        }
    }

    /// The proxies the environment names, through `var` (which returns a variable's value).
    /// Uppercase names win over lowercase; an empty value is unset. `ALL_PROXY` serves the
    /// schemes whose own variable is unset, as in curl. `bypass`, when given, replaces
    /// `NO_PROXY`. As in Go, under CGI (`REQUEST_METHOD` set) `HTTP_PROXY` is ignored,
    /// because a request's `Proxy:` header arrives there as `HTTP_PROXY` ("httpoxy");
    /// `ALL_PROXY` cannot arrive that way, and still serves http.
    pub(crate) fn from_env(
        var: impl Fn(&str) -> Option<String>,
        bypass: Option<NoProxy>,
    ) -> Proxies {
        let any = |names: [&'static str; 2]| {
            names
                .into_iter()
                .find_map(|n| var(n).filter(|v| !v.trim().is_empty()).map(|v| (n, v)))
        };
        let slot = |found: Option<(&str, String)>| match found {
            None => Slot::None,
            Some((name, v)) => match Proxy::parse(v.trim()) {
                Ok(p) => Slot::Proxy(Arc::new(p)),
                Err(e) => Slot::Bad(format!("{name}: {e}")),
            },
        };
        let cgi = var("REQUEST_METHOD").is_some_and(|v| !v.is_empty());
        let all = || any(["ALL_PROXY", "all_proxy"]);
        let http = match cgi {
            true => None,
            false => any(["HTTP_PROXY", "http_proxy"]),
        };
        Proxies {
            http: slot(http.or_else(all)),
            https: slot(any(["HTTPS_PROXY", "https_proxy"]).or_else(all)),
            bypass: bypass.unwrap_or_else(|| {
                NoProxy::parse(
                    &any(["NO_PROXY", "no_proxy"])
                        .map(|(_, v)| v)
                        .unwrap_or_default(),
                )
            }),
            loopback_direct: true,
            custom: None,
        }
    }

    /// The proxy for `request`, to `scheme://host:port` (host lowercase, IPv6 without
    /// brackets), or `None` to go direct.
    pub(crate) fn select(
        &self,
        request: &Parts,
        scheme: Scheme,
        host: &str,
        port: u16,
    ) -> Result<Option<Arc<Proxy>>, Error> {
        if let Some(f) = &self.custom {
            return match f(request) {
                Ok(p) => Ok(p.map(|p| p.0)),
                // The caller's function may pass on one of ours (a `ProxyUrl` that did not
                // parse) with `?`: it keeps its kind.
                Err(e) => Err(match e.downcast::<Error>() {
                    Ok(ours) => *ours,
                    Err(theirs) => {
                        Error::with_cause(Kind::Usage, "the proxy function failed", theirs)
                    }
                }),
            };
        }
        self.select_for(scheme, host, port)
    }

    /// The environment's or the fixed proxy for `scheme://host:port`.
    fn select_for(
        &self,
        scheme: Scheme,
        host: &str,
        port: u16,
    ) -> Result<Option<Arc<Proxy>>, Error> {
        let slot = match scheme {
            Scheme::Http => &self.http,
            Scheme::Https => &self.https,
        };
        let proxy = match slot {
            Slot::None => return Ok(None),
            Slot::Proxy(p) => Ok(p),
            Slot::Bad(why) => Err(why),
        };
        if (self.loopback_direct && is_loopback(host)) || self.bypass.matches(host, port) {
            return Ok(None);
        }
        proxy.map(|p| Some(p.clone())).map_err(|why| {
            Error::with_cause(
                Kind::Usage,
                "the proxy named in the environment is not usable",
                why.clone(),
            )
        })
    }
}

/// `localhost`, a name under it (RFC 6761 §6.3), or a loopback address.
fn is_loopback(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| match ip {
            IpAddr::V6(v6) => {
                v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
            IpAddr::V4(v4) => v4.is_loopback(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    /// The proxy's `host:port`, for a request to `scheme://host:port`.
    fn via(p: &Proxies, scheme: Scheme, host: &str, port: u16) -> Option<String> {
        p.select_for(scheme, host, port)
            .unwrap()
            .map(|p| p.key.split_once("://").unwrap().1.to_owned())
    }

    #[test]
    fn each_scheme_takes_its_own_variable() {
        let p = Proxies::from_env(
            env(&[("http_proxy", "http://p1:3128"), ("HTTPS_PROXY", "p2:8443")]),
            None,
        );
        assert_eq!(
            via(&p, Scheme::Http, "example.com", 80).as_deref(),
            Some("p1:3128")
        );
        assert_eq!(
            via(&p, Scheme::Https, "example.com", 443).as_deref(),
            Some("p2:8443")
        );

        let p = Proxies::from_env(env(&[("HTTP_PROXY", "p1:1")]), None);
        assert_eq!(
            via(&p, Scheme::Https, "example.com", 443),
            None,
            "no fallback to HTTP_PROXY"
        );
        let p = Proxies::from_env(env(&[]), None);
        assert_eq!(via(&p, Scheme::Http, "example.com", 80), None);
        assert_eq!(via(&p, Scheme::Https, "example.com", 443), None);
    }

    #[test]
    fn uppercase_wins_and_empty_is_unset() {
        let p = Proxies::from_env(
            env(&[("HTTPS_PROXY", "upper:1"), ("https_proxy", "lower:1")]),
            None,
        );
        assert_eq!(
            via(&p, Scheme::Https, "example.com", 443).as_deref(),
            Some("upper:1")
        );
        let p = Proxies::from_env(
            env(&[("HTTPS_PROXY", " "), ("https_proxy", "lower:1")]),
            None,
        );
        assert_eq!(
            via(&p, Scheme::Https, "example.com", 443).as_deref(),
            Some("lower:1")
        );
    }

    #[test]
    fn loopback_and_no_proxy_go_direct() {
        let vars = [
            ("HTTP_PROXY", "p:1"),
            ("NO_PROXY", "internal.test,10.0.0.0/8"),
        ];
        let p = Proxies::from_env(env(&vars), None);
        for host in [
            "localhost",
            "api.localhost",
            "127.0.0.1",
            "127.8.9.1",
            "::1",
            "internal.test",
            "a.internal.test",
            "10.2.3.4",
        ] {
            assert_eq!(via(&p, Scheme::Http, host, 80), None, "{host}");
        }
        assert!(via(&p, Scheme::Http, "example.com", 80).is_some());
        // An explicit bypass list replaces NO_PROXY.
        let p = Proxies::from_env(env(&vars), Some(NoProxy::parse("example.com")));
        assert_eq!(via(&p, Scheme::Http, "example.com", 80), None);
        assert!(via(&p, Scheme::Http, "internal.test", 80).is_some());
        // A fixed proxy also carries loopback (its owner chose it for this machine).
        let p = Proxies::fixed(Proxy::parse("p:1").unwrap(), NoProxy::default());
        assert!(via(&p, Scheme::Http, "127.0.0.1", 80).is_some());
    }

    #[test]
    fn cgi_ignores_http_proxy() {
        let p = Proxies::from_env(
            env(&[
                ("REQUEST_METHOD", "GET"),
                ("HTTP_PROXY", "evil:1"),
                ("HTTPS_PROXY", "p:1"),
            ]),
            None,
        );
        assert_eq!(via(&p, Scheme::Http, "example.com", 80), None);
        assert!(via(&p, Scheme::Https, "example.com", 443).is_some());
    }

    #[test]
    fn an_unusable_proxy_fails_the_requests_it_would_carry() {
        let p = Proxies::from_env(
            env(&[
                ("HTTPS_PROXY", "socks4://p:1080"),
                ("NO_PROXY", "direct.test"),
            ]),
            None,
        );
        let err = p.select_for(Scheme::Https, "example.com", 443).unwrap_err();
        assert_eq!(err.kind(), Kind::Usage);
        assert!(format!("{err:?}").contains("HTTPS_PROXY"), "{err:?}");
        assert!(p
            .select_for(Scheme::Https, "direct.test", 443)
            .unwrap()
            .is_none());
        assert!(p
            .select_for(Scheme::Http, "example.com", 80)
            .unwrap()
            .is_none());
    }

    #[test]
    fn all_proxy_serves_the_schemes_without_their_own_variable() {
        let p = Proxies::from_env(env(&[("all_proxy", "socks5h://all:1080")]), None);
        assert_eq!(
            via(&p, Scheme::Http, "example.com", 80).as_deref(),
            Some("all:1080")
        );
        assert_eq!(
            via(&p, Scheme::Https, "example.com", 443).as_deref(),
            Some("all:1080")
        );
        // The scheme's own variable wins, in either case; uppercase ALL_PROXY over lowercase.
        let p = Proxies::from_env(
            env(&[
                ("ALL_PROXY", "socks5://upper:1"),
                ("all_proxy", "socks5://lower:1"),
                ("https_proxy", "http://own:3128"),
            ]),
            None,
        );
        assert_eq!(
            via(&p, Scheme::Https, "example.com", 443).as_deref(),
            Some("own:3128")
        );
        assert_eq!(
            via(&p, Scheme::Http, "example.com", 80).as_deref(),
            Some("upper:1")
        );
        // NO_PROXY and loopback hold for it too.
        let p = Proxies::from_env(
            env(&[
                ("ALL_PROXY", "socks5://all:1"),
                ("NO_PROXY", "internal.test"),
            ]),
            None,
        );
        assert_eq!(via(&p, Scheme::Https, "a.internal.test", 443), None);
        assert_eq!(via(&p, Scheme::Http, "127.0.0.1", 80), None);
        assert!(via(&p, Scheme::Http, "example.com", 80).is_some());
        // Under CGI, HTTP_PROXY is the request's `Proxy:` header; ALL_PROXY is not.
        let p = Proxies::from_env(
            env(&[
                ("REQUEST_METHOD", "GET"),
                ("HTTP_PROXY", "evil:1"),
                ("ALL_PROXY", "socks5://all:1"),
            ]),
            None,
        );
        assert_eq!(
            via(&p, Scheme::Http, "example.com", 80).as_deref(),
            Some("all:1")
        );
    }

    #[test]
    fn a_proxy_function_decides_alone_and_its_errors_keep_their_kind() {
        let f: ProxyFn =
            Arc::new(
                |parts: &Parts| match parts.headers.get("x-via").map(|v| v.as_bytes()) {
                    Some(b"a") => Ok(Some(ProxyUrl::parse("socks5://a:1")?)),
                    Some(b"bad") => Ok(Some(ProxyUrl::parse("gopher://a:1")?)),
                    Some(b"err") => Err("no route for this request".into()),
                    _ => Ok(None),
                },
            );
        let p = Proxies::custom(f);
        let parts = |via: &str| {
            http::Request::get("http://127.0.0.1/")
                .header("x-via", via)
                .body(())
                .unwrap()
                .into_parts()
                .0
        };
        let pick = |via: &str| p.select(&parts(via), Scheme::Http, "127.0.0.1", 80);
        let chosen = pick("a").unwrap().expect("a proxy, loopback or not");
        assert_eq!(&*chosen.key, "socks5://a:1");
        assert!(pick("none").unwrap().is_none());
        let err = pick("bad").unwrap_err();
        assert_eq!(err.kind(), Kind::Usage);
        assert!(err.to_string().contains("scheme"), "{err}");
        let err = pick("err").unwrap_err();
        assert_eq!(err.kind(), Kind::Usage);
        assert_eq!(
            err.to_string(),
            "the proxy function failed: no route for this request"
        );
    }
}
