//! `CrossOriginProtection`: Go's `http.CrossOriginProtection` (Go 1.25), a defence against
//! cross-site request forgery that refuses unsafe requests a browser sent from another
//! origin, told by the browser's `Sec-Fetch-Site` field or, from older browsers, by `Origin`
//! naming another host than the request's.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use http::header::ORIGIN;
use http::{Method, Request, StatusCode};

use crate::error::{Error, Kind};
use crate::handler::{DynHandler, Handler, HttpRequest, HttpResponse};
use crate::mux::ServeMux;
use crate::proto::host;
use crate::response::error;

/// Why [`CrossOriginProtection::check`] refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CrossOriginError {
    /// `Sec-Fetch-Site` said the request came from another origin (`cross-site`, or
    /// `same-site`: another port or subdomain of the same site is another origin).
    CrossOrigin,
    /// No `Sec-Fetch-Site` (a browser from before 2023), and `Origin` names another host
    /// than the request's `Host` (or is not an origin at all, such as `null`).
    OriginMismatch,
}

impl fmt::Display for CrossOriginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CrossOriginError::CrossOrigin => {
                "cross-origin request detected from Sec-Fetch-Site header"
            }
            CrossOriginError::OriginMismatch => {
                "cross-origin request detected, and/or browser is out of date: \
                 Sec-Fetch-Site is missing, and Origin does not match Host"
            }
        })
    }
}

impl std::error::Error for CrossOriginError {}

/// The rules of a cross-origin (CSRF) defence, Go's `http.CrossOriginProtection`: a request
/// is refused when
///
/// 1. its method is not a safe one (`GET`, `HEAD` and `OPTIONS` always pass: they must not
///    change anything, RFC 9110 §9.2.1), and
/// 2. the browser said it came from another origin: `Sec-Fetch-Site` is present and is neither
///    `same-origin` nor `none` (`none`: the user typed the URL or used a bookmark), or, with
///    no `Sec-Fetch-Site`, `Origin` is present and its host (with port) is not the request's
///    `Host` (HTTP/2's `:authority`), compared without regard to case, and
/// 3. the request is not exempt: its `Origin` is one of the [trusted
///    origins](Self::add_trusted_origin), or its method and path match a [bypass
///    pattern](Self::add_insecure_bypass_pattern).
///
/// Requests with neither field pass: they come from the same origin through a browser too old
/// to say so, or from a program that is not a browser and carries no user's ambient
/// credentials. The `Origin` fallback cannot see the scheme (`Host` has none), so a plain
/// `http://` page of the same host passes it; HSTS closes that gap, and every browser since
/// 2023 sends `Sec-Fetch-Site`.
///
/// Behind a reverse proxy that rewrites `Host`, only the fallback is affected: have the proxy
/// pass the client's `Host` on (with [`ReverseProxy`](crate::proxy::ReverseProxy), copy the
/// inbound `Host` in the rewrite hook, as nginx's `proxy_set_header Host $host`), or trust
/// the public origin.
///
/// Cloning is cheap (the rules are shared); handlers made by [`handler`](Self::handler) keep
/// the rules as they were when made, so configure first, then wrap. Unlike Go's, this type is
/// not changed while it serves: a change made afterwards is a new set of rules.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), nethttp::Error> {
/// use nethttp::http::{Request, StatusCode};
/// use nethttp::wrap::CrossOriginProtection;
/// use nethttp::{text_response, Body, Handler, HttpRequest};
///
/// let mut cop = CrossOriginProtection::new();
/// cop.add_trusted_origin("https://admin.example.com")?
///     .add_insecure_bypass_pattern("POST /hooks/{provider}")?;
/// let app = cop.handler(|_req: HttpRequest| async { text_response(StatusCode::OK, "done\n") });
///
/// let forged = Request::post("/account/delete")
///     .header("host", "example.com")
///     .header("sec-fetch-site", "cross-site")
///     .body(Body::empty())
///     .unwrap();
/// assert_eq!(app.call(forged).await.status(), StatusCode::FORBIDDEN);
///
/// let own = Request::post("/account/delete")
///     .header("host", "example.com")
///     .header("sec-fetch-site", "same-origin")
///     .body(Body::empty())
///     .unwrap();
/// assert_eq!(app.call(own).await.status(), StatusCode::OK);
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct CrossOriginProtection {
    rules: Arc<Rules>,
}

#[derive(Clone, Default)]
struct Rules {
    /// Serialized origins (`scheme://host[:port]`, lowercase, default port left out), as
    /// browsers send them.
    trusted: HashSet<Box<str>>,
    /// The bypass patterns, in a mux whose routes are never called: matching is all it does.
    bypass: Option<Arc<ServeMux>>,
    deny: Option<Arc<dyn DynHandler>>,
}

impl fmt::Debug for CrossOriginProtection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut trusted: Vec<&str> = self.rules.trusted.iter().map(|o| &**o).collect();
        trusted.sort_unstable();
        let bypass: Vec<&str> = match &self.rules.bypass {
            Some(mux) => mux.patterns().collect(),
            None => Vec::new(),
        };
        f.debug_struct("CrossOriginProtection")
            .field("trusted", &trusted)
            .field("bypass", &bypass)
            .field("deny_handler", &self.rules.deny.is_some())
            .finish()
    }
}

impl CrossOriginProtection {
    /// Rules with no trusted origin, no bypass pattern and the default answer to a refused
    /// request: `403 Forbidden` with the reason as a `text/plain` body.
    pub fn new() -> CrossOriginProtection {
        CrossOriginProtection::default()
    }

    /// Lets every request whose `Origin` is `origin` through: another site of the
    /// application's, say, that posts to this one. `origin` is `scheme://host[:port]`, as a
    /// browser writes it in `Origin`; it is compared after lowercasing and leaving out a
    /// default port (`:443` for `https`, `:80` for `http`), as browsers serialize origins.
    ///
    /// Fails with an error of kind [`Kind::Usage`](crate::ErrorKind::Usage) if `origin` has
    /// no scheme or host, or has user information, a path (even `/`), a query or a fragment.
    pub fn add_trusted_origin(&mut self, origin: &str) -> Result<&mut Self, Error> {
        let serialized = serialize_origin(origin).map_err(|why| {
            Error::with_cause(
                Kind::Usage,
                "invalid trusted origin",
                format!("{origin:?}: {why}"),
            )
        })?;
        Arc::make_mut(&mut self.rules)
            .trusted
            .insert(serialized.into_boxed_str());
        Ok(self)
    }

    /// Lets every request that matches `pattern` through, whatever its origin: webhooks and
    /// other endpoints that authenticate requests by something a browser does not attach on
    /// its own (a signature, a token in a header). The pattern is a
    /// [`ServeMux`] one, with its precedence; only a request that matches it as it is passes,
    /// not one the mux would redirect to it (an unclean path, a missing trailing slash).
    ///
    /// Fails with an error of kind [`Kind::Usage`](crate::ErrorKind::Usage) if the pattern is
    /// malformed or conflicts with a bypass pattern already added, as
    /// [`ServeMux::handle`] does.
    pub fn add_insecure_bypass_pattern(&mut self, pattern: &str) -> Result<&mut Self, Error> {
        let rules = Arc::make_mut(&mut self.rules);
        if let Some(mux) = rules.bypass.as_mut().and_then(Arc::get_mut) {
            mux.handle(pattern, never_called)?;
            return Ok(self);
        }
        // Shared with handlers made earlier (or none yet): a mux of our own, so theirs stays
        // as it was.
        let mut mux = ServeMux::new();
        if let Some(old) = &rules.bypass {
            for p in old.patterns() {
                mux.handle(p, never_called)?;
            }
        }
        mux.handle(pattern, never_called)?;
        rules.bypass = Some(Arc::new(mux));
        Ok(self)
    }

    /// Answers refused requests with `deny` instead of the default `403 Forbidden`. `deny`
    /// gets the refused request; [`check`](Self::check) on it says why.
    pub fn set_deny_handler(&mut self, deny: impl Handler) -> &mut Self {
        Arc::make_mut(&mut self.rules).deny = Some(Arc::new(deny));
        self
    }

    /// Whether `req` passes the rules, and if not, why. The deny handler is not called.
    pub fn check<B>(&self, req: &Request<B>) -> Result<(), CrossOriginError> {
        let method = req.method();
        if method == Method::GET || method == Method::HEAD || method == Method::OPTIONS {
            return Ok(());
        }
        let headers = req.headers();
        match headers.get("sec-fetch-site").map(|v| v.as_bytes()) {
            Some(b"same-origin" | b"none") => return Ok(()),
            // An empty value is no value, as Go's `Header.Get` sees it.
            Some(b"") | None => {}
            Some(_) => {
                return match self.exempt(req) {
                    true => Ok(()),
                    false => Err(CrossOriginError::CrossOrigin),
                }
            }
        }
        let origin = match headers.get(ORIGIN) {
            Some(o) if !o.is_empty() => o.as_bytes(),
            // Neither field: the same origin through an old browser, or not a browser.
            _ => return Ok(()),
        };
        if origin_host(origin).is_some_and(|host| host.eq_ignore_ascii_case(host::of_request(req)))
        {
            return Ok(());
        }
        match self.exempt(req) {
            true => Ok(()),
            false => Err(CrossOriginError::OriginMismatch),
        }
    }

    /// Wraps `handler` so requests these rules refuse get the deny answer instead.
    pub fn handler<H: Handler>(&self, handler: H) -> CrossOriginHandler<H> {
        CrossOriginHandler {
            rules: self.clone(),
            inner: handler,
        }
    }

    /// A trusted origin or a bypass pattern lets `req` through. Checked last, as the rarer
    /// and costlier test.
    fn exempt<B>(&self, req: &Request<B>) -> bool {
        if let Some(mux) = &self.rules.bypass {
            if mux.matched_pattern(req).is_some() {
                return true;
            }
        }
        let trusted = &self.rules.trusted;
        !trusted.is_empty()
            && req
                .headers()
                .get(ORIGIN)
                .and_then(|o| o.to_str().ok())
                .is_some_and(|o| trusted.contains(o))
    }
}

/// The route of a bypass pattern: matching is all the bypass mux is asked for.
async fn never_called(_req: HttpRequest) -> HttpResponse {
    error(StatusCode::INTERNAL_SERVER_ERROR, "bypass route called")
}

/// The handler [`CrossOriginProtection::handler`] returns.
#[derive(Clone, Debug)]
pub struct CrossOriginHandler<H> {
    rules: CrossOriginProtection,
    inner: H,
}

impl<H: Handler> Handler for CrossOriginHandler<H> {
    async fn call(&self, req: HttpRequest) -> HttpResponse {
        match self.rules.check(&req) {
            Ok(()) => self.inner.call(req).await,
            Err(why) => match &self.rules.rules.deny {
                Some(deny) => deny.call_boxed(req).await,
                None => error(StatusCode::FORBIDDEN, why),
            },
        }
    }
}

/// Wraps `handler` in [`CrossOriginProtection`]'s default rules: unsafe requests a browser
/// sent from another origin are answered `403 Forbidden`.
pub fn cross_origin_protection<H: Handler>(handler: H) -> CrossOriginHandler<H> {
    CrossOriginProtection::new().handler(handler)
}

/// The `host[:port]` of an `Origin` value (`scheme://host[:port]`, RFC 6454 §6.1), or `None`
/// when it is not one (`null`, a path, user information): such a value matches no host.
fn origin_host(origin: &[u8]) -> Option<&str> {
    let origin = std::str::from_utf8(origin).ok()?;
    let (scheme, host) = origin.split_once("://")?;
    let scheme_ok = scheme
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if scheme.is_empty() || !scheme_ok || host.is_empty() {
        return None;
    }
    if host
        .bytes()
        .any(|b| matches!(b, b'/' | b'?' | b'#' | b'@') || b <= b' ')
    {
        return None;
    }
    Some(host)
}

/// `origin` as a browser serializes it: lowercase, without the scheme's default port.
fn serialize_origin(origin: &str) -> Result<String, &'static str> {
    let (scheme, _) = origin.split_once("://").ok_or("not scheme://host[:port]")?;
    if scheme.is_empty() {
        return Err("scheme is required");
    }
    let host = origin_host(origin.as_bytes()).ok_or(
        "host is required, and user information, a path, a query and a fragment are not allowed",
    )?;
    let scheme = scheme.to_ascii_lowercase();
    let mut host = host.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" | "wss" => Some(":443"),
        "http" | "ws" => Some(":80"),
        _ => None,
    };
    if let Some(port) = default_port {
        if let Some(bare) = host.strip_suffix(port) {
            host = bare.to_owned();
        }
    }
    if host.is_empty() || host.starts_with(':') {
        return Err("host is required");
    }
    Ok(format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::Body;
    use proptest::prelude::*;

    proptest! {
        /// Any fields a client sends: safe methods pass, a `Sec-Fetch-Site` other than
        /// `same-origin`/`none` is refused (nothing is exempt here), and an `Origin` passes
        /// the fallback only when its host is the request's.
        #[test]
        fn the_rules_hold_for_any_fields(
            method in prop_oneof![Just("GET"), Just("HEAD"), Just("OPTIONS"), Just("POST"), Just("DELETE")],
            site in proptest::option::of(prop_oneof![
                Just("same-origin".to_owned()), Just("none".to_owned()),
                Just("same-site".to_owned()), "[ -~]{0,12}",
            ]),
            origin in proptest::option::of("[ -~]{0,30}"),
            host in "[a-z0-9.:]{1,20}",
        ) {
            let mut fields = vec![("host", host.clone())];
            if let Some(s) = &site {
                fields.push(("sec-fetch-site", s.clone()));
            }
            if let Some(o) = &origin {
                fields.push(("origin", o.clone()));
            }
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.trim())).collect();
            let r = req(method, "/", &fields);
            let got = CrossOriginProtection::new().check(&r);
            let site = site.as_deref().map(str::trim).filter(|s| !s.is_empty());
            let origin = origin.as_deref().map(str::trim).filter(|s| !s.is_empty());
            if matches!(method, "GET" | "HEAD" | "OPTIONS") {
                prop_assert_eq!(got, Ok(()));
            } else if let Some(s) = site {
                let ok = s == "same-origin" || s == "none";
                prop_assert_eq!(got.is_ok(), ok, "{:?}", s);
            } else if let Some(o) = origin {
                let same = o.split_once("://").is_some_and(|(_, h)| h.eq_ignore_ascii_case(&host));
                if !same {
                    prop_assert_eq!(got, Err(CrossOriginError::OriginMismatch));
                }
            } else {
                prop_assert_eq!(got, Ok(()));
            }
        }

        /// The other direction of the fallback: an unsafe request whose `Origin` names the
        /// request's own host (any scheme, any case, with its port) passes.
        #[test]
        fn an_origin_naming_the_requests_host_passes(
            method in prop_oneof![Just("POST"), Just("PUT"), Just("DELETE"), Just("PATCH")],
            scheme in "[a-z][a-z0-9+.-]{0,6}",
            host in "[a-z0-9-]{1,10}(\\.[a-z0-9-]{1,10}){0,2}(:[0-9]{1,5})?",
            upper in proptest::collection::vec(any::<bool>(), 30),
            in_uri in any::<bool>(),
        ) {
            let cased: String = host
                .chars()
                .zip(upper.iter().cycle())
                .map(|(c, &u)| if u { c.to_ascii_uppercase() } else { c })
                .collect();
            let origin = format!("{scheme}://{cased}");
            // HTTP/1.1's `Host`, or an authority in the URI (absolute-form, HTTP/2).
            let r = if in_uri {
                req(method, &format!("http://{host}/x"), &[("origin", origin.as_str())])
            } else {
                req(method, "/x", &[("host", host.as_str()), ("origin", origin.as_str())])
            };
            prop_assert_eq!(CrossOriginProtection::new().check(&r), Ok(()), "{}", origin);
        }
    }

    fn req(method: &str, path: &str, fields: &[(&str, &str)]) -> Request<Body> {
        let mut b = Request::builder().method(method).uri(path);
        for (k, v) in fields {
            b = b.header(*k, *v);
        }
        b.body(Body::empty()).unwrap()
    }

    fn rules() -> CrossOriginProtection {
        let mut cop = CrossOriginProtection::new();
        cop.add_trusted_origin("https://Trusted.example:443")
            .unwrap()
            .add_insecure_bypass_pattern("POST /hooks/{name}")
            .unwrap()
            .add_insecure_bypass_pattern("/open/")
            .unwrap();
        cop
    }

    #[test]
    fn the_decision_table() {
        use CrossOriginError::*;
        let host = ("host", "example.com");
        type Case<'a> = (
            &'a str,
            &'a str,
            &'a [(&'a str, &'a str)],
            Result<(), CrossOriginError>,
        );
        let cases: &[Case] = &[
            // Safe methods pass whatever they carry.
            (
                "GET",
                "/",
                &[host, ("sec-fetch-site", "cross-site")],
                Ok(()),
            ),
            (
                "HEAD",
                "/",
                &[host, ("sec-fetch-site", "cross-site")],
                Ok(()),
            ),
            (
                "OPTIONS",
                "/",
                &[host, ("origin", "https://evil.example")],
                Ok(()),
            ),
            // Sec-Fetch-Site decides when present.
            (
                "POST",
                "/",
                &[host, ("sec-fetch-site", "same-origin")],
                Ok(()),
            ),
            ("POST", "/", &[host, ("sec-fetch-site", "none")], Ok(())),
            (
                "POST",
                "/",
                &[host, ("sec-fetch-site", "same-site")],
                Err(CrossOrigin),
            ),
            (
                "PUT",
                "/",
                &[host, ("sec-fetch-site", "cross-site")],
                Err(CrossOrigin),
            ),
            (
                "DELETE",
                "/",
                &[host, ("sec-fetch-site", "Same-Origin")],
                Err(CrossOrigin),
            ),
            // ... even when Origin would have matched.
            (
                "POST",
                "/",
                &[
                    host,
                    ("sec-fetch-site", "cross-site"),
                    ("origin", "https://example.com"),
                ],
                Err(CrossOrigin),
            ),
            // Neither field: not a browser, or the same origin.
            ("POST", "/", &[host], Ok(())),
            ("POST", "/", &[host, ("sec-fetch-site", "")], Ok(())),
            // Origin against Host, port included, case aside.
            (
                "POST",
                "/",
                &[host, ("origin", "https://example.com")],
                Ok(()),
            ),
            (
                "POST",
                "/",
                &[host, ("origin", "http://EXAMPLE.com")],
                Ok(()),
            ),
            (
                "POST",
                "/",
                &[host, ("origin", "https://example.com:8443")],
                Err(OriginMismatch),
            ),
            (
                "POST",
                "/",
                &[host, ("origin", "https://evil.example")],
                Err(OriginMismatch),
            ),
            (
                "POST",
                "/",
                &[host, ("origin", "null")],
                Err(OriginMismatch),
            ),
            (
                "POST",
                "/",
                &[host, ("origin", "https://example.com/")],
                Err(OriginMismatch),
            ),
            (
                "POST",
                "/",
                &[host, ("origin", "https://u@example.com")],
                Err(OriginMismatch),
            ),
            (
                "POST",
                "/",
                &[("origin", "https://example.com")],
                Err(OriginMismatch),
            ),
            // A trusted origin passes either check.
            (
                "POST",
                "/",
                &[
                    host,
                    ("sec-fetch-site", "cross-site"),
                    ("origin", "https://trusted.example"),
                ],
                Ok(()),
            ),
            (
                "POST",
                "/",
                &[host, ("origin", "https://trusted.example")],
                Ok(()),
            ),
            (
                "POST",
                "/",
                &[
                    host,
                    ("sec-fetch-site", "cross-site"),
                    ("origin", "http://trusted.example"),
                ],
                Err(CrossOrigin),
            ),
            // Bypass patterns match method and path as the mux does, without its redirects.
            (
                "POST",
                "/hooks/github",
                &[host, ("sec-fetch-site", "cross-site")],
                Ok(()),
            ),
            (
                "PUT",
                "/hooks/github",
                &[host, ("sec-fetch-site", "cross-site")],
                Err(CrossOrigin),
            ),
            (
                "POST",
                "/hooks/a/b",
                &[host, ("sec-fetch-site", "cross-site")],
                Err(CrossOrigin),
            ),
            (
                "POST",
                "/open/x",
                &[host, ("origin", "https://evil.example")],
                Ok(()),
            ),
            (
                "POST",
                "/open",
                &[host, ("sec-fetch-site", "cross-site")],
                Err(CrossOrigin),
            ),
            (
                "POST",
                "/x/../open/",
                &[host, ("sec-fetch-site", "cross-site")],
                Err(CrossOrigin),
            ),
        ];
        let cop = rules();
        for (method, path, fields, want) in cases {
            let got = cop.check(&req(method, path, fields));
            assert_eq!(got, *want, "{method} {path} {fields:?}");
        }
    }

    #[test]
    fn the_authority_of_an_http2_request_is_its_host() {
        let cop = CrossOriginProtection::new();
        let r = req(
            "POST",
            "https://example.com:8443/x",
            &[("origin", "https://example.com:8443")],
        );
        assert_eq!(cop.check(&r), Ok(()));
        let r = req(
            "POST",
            "https://example.com/x",
            &[("origin", "https://example.com:8443")],
        );
        assert_eq!(cop.check(&r), Err(CrossOriginError::OriginMismatch));
    }

    #[test]
    fn trusted_origins_are_checked_and_serialized_as_browsers_send_them() {
        let ok = [
            ("https://A.example", "https://a.example"),
            ("https://a.example:443", "https://a.example"),
            ("http://a.example:80", "http://a.example"),
            ("http://a.example:443", "http://a.example:443"),
            ("http://[::1]:8080", "http://[::1]:8080"),
        ];
        for (given, want) in ok {
            assert_eq!(serialize_origin(given).as_deref(), Ok(want), "{given}");
        }
        for bad in [
            "a.example",
            "://a.example",
            "https://",
            "https://a.example/",
            "https://a.example?q",
            "https://a.example#f",
            "https://u:p@a.example",
            "https://:443",
            "null",
        ] {
            let err = CrossOriginProtection::new()
                .add_trusted_origin(bad)
                .unwrap_err();
            assert_eq!(err.kind(), Kind::Usage, "{bad}");
        }
    }

    #[test]
    fn a_bad_bypass_pattern_is_refused_and_leaves_the_rules_as_they_were() {
        let mut cop = rules();
        assert_eq!(
            cop.add_insecure_bypass_pattern("POST /hooks/{other}")
                .unwrap_err()
                .kind(),
            Kind::Usage
        );
        assert_eq!(
            cop.add_insecure_bypass_pattern("/{bad").unwrap_err().kind(),
            Kind::Usage
        );
        let r = req("POST", "/hooks/x", &[("sec-fetch-site", "cross-site")]);
        assert_eq!(cop.check(&r), Ok(()));
    }

    #[test]
    fn handlers_made_earlier_keep_their_rules() {
        let mut cop = CrossOriginProtection::new();
        cop.add_insecure_bypass_pattern("/a").unwrap();
        let before = cop.handler(never_called);
        cop.add_insecure_bypass_pattern("/b").unwrap();
        cop.add_trusted_origin("https://t.example").unwrap();
        let cross = |path| {
            req(
                "POST",
                path,
                &[
                    ("sec-fetch-site", "cross-site"),
                    ("origin", "https://t.example"),
                ],
            )
        };
        assert_eq!(before.rules.check(&cross("/a")), Ok(()));
        assert_eq!(
            before.rules.check(&cross("/b")),
            Err(CrossOriginError::CrossOrigin)
        );
        assert_eq!(cop.check(&cross("/b")), Ok(()));
        assert_eq!(cop.check(&cross("/c")), Ok(()));
        assert_eq!(
            format!("{cop:?}"),
            "CrossOriginProtection { trusted: [\"https://t.example\"], bypass: [\"/a\", \"/b\"], \
             deny_handler: false }"
        );
    }
}
