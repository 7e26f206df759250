//! `ServeMux`, the request router of Go 1.22's `net/http`: registering patterns, refusing
//! conflicting ones, and serving a request with the most specific match, or a 404, 405 or
//! redirect as Go does.
//!
//! # Patterns
//!
//! A pattern is `[METHOD ][HOST]/[PATH]`:
//!
//! - `METHOD`: the route serves only that method. A `GET` pattern serves `HEAD` too.
//! - `HOST`: the route serves only requests for that host (ASCII case ignored; the request's
//!   port is ignored, so a pattern's host may not have one).
//! - `PATH`: segments separated by `/`. A segment is a literal, `{name}` (any one segment),
//!   `{name...}` (the rest of the path; last only) or `{$}` (the end of a path that ends in
//!   `/`; last only). A path ending in `/` matches everything below it (`/static/`), `/`
//!   included. Literals are compared after percent-decoding, segment by segment. Wildcard
//!   names are identifiers, unique within a pattern.
//!
//! Examples: `/`, `/index.html`, `GET /items/{id}`, `POST /items/{$}`, `example.com/`,
//! `/files/{path...}`.
//!
//! # Precedence
//!
//! When several patterns match a request, the most specific one wins: the one whose requests
//! are a strict subset of the other's (`/images/thumbnails/` over `/images/`, `GET /posts/latest`
//! over `GET /posts/{id}`, `GET /x` over `/x`). A pattern with a host beats every pattern without
//! one. Two patterns that match some request in common while neither is more specific conflict
//! (`/posts/{id}` and `/{resource}/latest`; `GET /` and `/index.html`), as do two patterns that
//! match exactly the same requests: registering the second fails with an error naming both.
//!
//! # Serving
//!
//! - A path that is not clean (`//`, `.` or `..` segments) is redirected (301) to its clean
//!   form, query kept. CONNECT requests are matched as they come.
//! - A request for `/dir` where `/dir/` is registered (and `/dir` itself is not) is redirected
//!   to `/dir/`.
//! - No pattern matches: `404 page not found`. Patterns match the path but not the method:
//!   `405 Method Not Allowed` with an `Allow` header listing the methods that would.
//! - A handler reads its pattern's wildcards with [`PathValue::path_value`].
//! - `OPTIONS *` (a request-target of `*`) is answered `400 Bad Request`.

mod literal;
mod path;
mod path_values;
mod pattern;
mod precedence;
mod tree;

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::header::{HeaderValue, ALLOW, CONNECTION, CONTENT_TYPE, LOCATION};
use http::{Method, Request, StatusCode};

use crate::error::{Error, Kind};
use crate::handler::{
    text_response, DynHandler, Handler, HandlerFuture, HttpRequest, HttpResponse,
};
use crate::proto::host;

use path::{clean_path, strip_port, ReqPath};
use pattern::Pattern;
use tree::{is_exact, RouteId, Tree};

pub use path_values::{path_value, PathValue, PathValues};

/// A request router: matches each request against registered patterns and calls the handler
/// of the most specific match. See the [module documentation](self) for the pattern syntax,
/// the precedence rules and how unmatched requests are answered.
///
/// ```
/// use nethttp::mux::PathValue;
/// use nethttp::{text_response, HttpRequest, ServeMux};
/// use nethttp::http::StatusCode;
///
/// let mux = ServeMux::new()
///     .route("GET /items/{id}", |req: HttpRequest| async move {
///         let id = req.path_value("id").unwrap_or_default().to_owned();
///         text_response(StatusCode::OK, format!("item {id}\n"))
///     })
///     .route("/static/", |_req: HttpRequest| async {
///         text_response(StatusCode::OK, "static file\n")
///     });
/// # let _ = mux;
/// ```
///
/// Routes are added while the mux is owned (`&mut self`); once it serves it is shared and
/// immutable, so matching takes no lock.
pub struct ServeMux {
    routes: Vec<Route>,
    tree: Tree,
    /// The literal patterns, for the common request that names one exactly.
    literals: literal::Literals,
}

struct Route {
    pattern: Pattern,
    handler: Box<dyn DynHandler>,
}

impl ServeMux {
    /// A mux with no routes: it answers every request `404 Not Found`.
    pub fn new() -> ServeMux {
        ServeMux {
            routes: Vec::new(),
            tree: Tree::default(),
            literals: literal::Literals::default(),
        }
    }

    /// Registers `handler` for `pattern`.
    ///
    /// Fails with an error of kind [`Kind::Usage`] if the pattern is malformed or could never
    /// match, or if it conflicts with a registered pattern (the message names both); the mux
    /// is unchanged then. Returns `&mut self` so registrations chain with `?`.
    pub fn handle<H: Handler>(&mut self, pattern: &str, handler: H) -> Result<&mut Self, Error> {
        let pattern = Pattern::parse(pattern)?;
        // Registration is rare and off the hot path: checking every pattern keeps it simple.
        if let Some(old) = self
            .routes
            .iter()
            .find(|r| precedence::conflicts(&pattern, &r.pattern))
        {
            let why = precedence::describe_conflict(&pattern, &old.pattern);
            return Err(Error::with_cause(Kind::Usage, "conflicting patterns", why));
        }
        let id: RouteId = self.routes.len();
        self.tree.insert(&pattern, id);
        self.literals.insert(&pattern, id);
        self.routes.push(Route {
            pattern,
            handler: Box::new(handler),
        });
        Ok(self)
    }

    /// Registers `handler` for `pattern`, builder style.
    ///
    /// # Panics
    ///
    /// If [`handle`](Self::handle) would fail: the pattern is malformed or conflicts with a
    /// registered one. Routes are usually fixed in the program, so this is a programming error
    /// found at startup; use `handle` for patterns that come from configuration.
    #[track_caller]
    pub fn route<H: Handler>(mut self, pattern: &str, handler: H) -> Self {
        if let Err(err) = self.handle(pattern, handler) {
            panic!("ServeMux::route({pattern:?}): {err}");
        }
        self
    }

    /// The registered patterns, in registration order.
    pub fn patterns(&self) -> impl Iterator<Item = &str> + '_ {
        self.routes.iter().map(|r| &*r.pattern.text)
    }

    /// The pattern that would serve `req`, or `None` if the mux would answer it itself (404,
    /// 405, a redirect). Go's `ServeMux.Handler`; useful for logging and metrics.
    pub fn matched_pattern<B>(&self, req: &Request<B>) -> Option<&str> {
        match self.resolve(req, false) {
            Outcome::Route { id, .. } => Some(&self.routes[id].pattern.text),
            _ => None,
        }
    }

    /// Decides what to do with a request, capturing wildcard values if `capture`. Allocates
    /// only for captured values, a redirect's location or a 405's method list.
    fn resolve<B>(&self, req: &Request<B>, capture: bool) -> Outcome {
        let uri = req.uri();
        let raw = uri.path();
        if raw == "*" {
            return Outcome::BadRequest;
        }
        // Finding the host costs a header lookup; skip it when no pattern names one.
        let host_patterns = self.tree.has_hosts();
        let host = if host_patterns { request_host(req) } else { "" };
        let method = req.method();
        let query = uri.query().filter(|q| !q.is_empty());

        // Requests are matched on their clean path, except CONNECT requests, which are matched
        // as they come. A CONNECT target is usually `host:port`, without a path: that is `/`.
        // `clean_path` borrows exactly when the path is already clean.
        let path = if *method == Method::CONNECT {
            Cow::Borrowed(if raw.is_empty() { "/" } else { raw })
        } else {
            clean_path(raw)
        };
        if !path.starts_with('/') {
            // Only an odd CONNECT target gets here: no pattern could match it.
            return Outcome::NotFound;
        }
        // A clean path that is a literal pattern's: that pattern, found by one search (no
        // host pattern can beat it, none being registered; it captures nothing; an exact
        // match never redirects).
        if !host_patterns && *method != Method::CONNECT && matches!(path, Cow::Borrowed(_)) {
            if let Some(id) = self.literals.find(method, &path) {
                return Outcome::Route { id, values: None };
            }
        }
        let found = self.tree.find(host, method, ReqPath::new(&path));

        // `/dir` when only the subtree `/dir/` (or `/dir/{$}`, `/dir/{rest...}`) serves it
        // exactly: redirect to `/dir/`. Checked before cleaning's redirect, as Go does, so an
        // unclean `//dir` gets there in one redirect. An uncleaned CONNECT path may start with
        // `//`, which a client would read as another host: never redirect there.
        if !path.ends_with('/')
            && !path.starts_with("//")
            && !found.is_some_and(|id| self.exact_match(id, ReqPath::new(&path)))
            && self.serves_exactly(host, method, ReqPath::with_trailing_slash(&path))
        {
            return Outcome::Redirect(location(&path, "/", query));
        }
        if let Cow::Owned(clean) = &path {
            return Outcome::Redirect(location(clean, "", query));
        }

        match found {
            Some(id) => {
                let values = if capture {
                    PathValues::capture(&self.routes[id].pattern, &path)
                } else {
                    None
                };
                Outcome::Route { id, values }
            }
            None => {
                let allowed = self.tree.allowed_methods(host, &path);
                if allowed.is_empty() {
                    Outcome::NotFound
                } else {
                    Outcome::MethodNotAllowed(allowed.join(", "))
                }
            }
        }
    }

    fn exact_match(&self, id: RouteId, path: ReqPath<'_>) -> bool {
        is_exact(&self.routes[id].pattern, path)
    }

    /// Whether some pattern matches `path` with nothing left for a final `{...}`.
    fn serves_exactly(&self, host: &str, method: &Method, path: ReqPath<'_>) -> bool {
        self.tree
            .find(host, method, path)
            .is_some_and(|id| self.exact_match(id, path))
    }
}

/// What the mux does with a request: computed before the response future starts, so the
/// future holds no borrow of the request.
enum Outcome {
    Route {
        id: RouteId,
        values: Option<PathValues>,
    },
    Redirect(String),
    NotFound,
    MethodNotAllowed(String),
    BadRequest,
}

impl Handler for ServeMux {
    fn call(&self, mut req: HttpRequest) -> impl Future<Output = HttpResponse> + Send + '_ {
        let answer = match self.resolve(&req, true) {
            Outcome::Route { id, values } => {
                match values {
                    Some(values) => {
                        req.extensions_mut().insert(values);
                    }
                    // Values from an outer mux belong to its pattern, not this one.
                    None if !req.extensions().is_empty() => {
                        req.extensions_mut().remove::<PathValues>();
                    }
                    None => {}
                }
                // Through the trait object: `call_boxed` on the `Box` itself would take the
                // blanket impl (a `Box<dyn DynHandler>` is a Handler too) and box the boxed
                // future again. Called here, not from a future of the mux's own: the request
                // moves once, into the route's future.
                let route = &self.routes[id];
                let handler: &dyn DynHandler = &*route.handler;
                return MuxFuture::Routed {
                    future: handler.call_boxed(req),
                    pattern: Some(&route.pattern.text),
                };
            }
            Outcome::Redirect(location) => redirect(req.method(), &location),
            Outcome::NotFound => error_response(StatusCode::NOT_FOUND, "404 page not found\n"),
            Outcome::MethodNotAllowed(allow) => {
                let mut resp =
                    error_response(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
                if let Ok(value) = HeaderValue::from_str(&allow) {
                    resp.headers_mut().insert(ALLOW, value);
                }
                resp
            }
            Outcome::BadRequest => {
                let mut resp = error_response(StatusCode::BAD_REQUEST, "400 Bad Request\n");
                resp.headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
                resp
            }
        };
        MuxFuture::Answered(Some(answer))
    }
}

/// What a [`ServeMux`] call runs: its route's future, or the mux's own answer (a redirect,
/// 404, 405 or 400).
enum MuxFuture<'a> {
    Routed {
        future: HandlerFuture<'a>,
        /// Recorded on the request's span at the first poll, which runs inside it.
        pattern: Option<&'a str>,
    },
    Answered(Option<HttpResponse>),
}

impl Future for MuxFuture<'_> {
    type Output = HttpResponse;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<HttpResponse> {
        match self.get_mut() {
            MuxFuture::Routed { future, pattern } => {
                if let Some(pattern) = pattern.take() {
                    crate::conn::spans::route(pattern);
                }
                Pin::new(future).poll(cx)
            }
            MuxFuture::Answered(answer) => {
                Poll::Ready(answer.take().expect("MuxFuture polled after it finished"))
            }
        }
    }
}

impl Default for ServeMux {
    fn default() -> Self {
        ServeMux::new()
    }
}

impl fmt::Debug for ServeMux {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeMux")
            .field("patterns", &self.patterns().collect::<Vec<_>>())
            .finish()
    }
}

/// The host a request is for, without port: the URI's authority (absolute-form, CONNECT),
/// else the `Host` header, else empty.
fn request_host<B>(req: &Request<B>) -> &str {
    strip_port(host::of_request(req))
}

/// A redirect target: `path`, then `suffix`, then the query if there is one.
fn location(path: &str, suffix: &str, query: Option<&str>) -> String {
    match query {
        Some(q) => format!("{path}{suffix}?{q}"),
        None => format!("{path}{suffix}"),
    }
}

/// A `text/plain` error answer, marked `nosniff` as Go's `http.Error` does.
fn error_response(status: StatusCode, body: &'static str) -> HttpResponse {
    let mut resp = text_response(status, body);
    resp.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// A 301 to `location` (a path, maybe with a query). Like Go, GET and HEAD get a short HTML
/// body for clients that do not follow redirects.
fn redirect(method: &Method, location: &str) -> HttpResponse {
    // The location is built from the request's own path and query, which are valid header
    // text; should that ever not hold, refuse rather than send a redirect without a target.
    let Ok(value) = HeaderValue::from_str(location) else {
        return error_response(StatusCode::BAD_REQUEST, "400 Bad Request\n");
    };
    let mut resp = if *method == Method::GET || *method == Method::HEAD {
        let body = format!(
            "<a href=\"{}\">Moved Permanently</a>.\n\n",
            crate::html::escape(location)
        );
        let mut resp = text_response(StatusCode::MOVED_PERMANENTLY, body);
        resp.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        resp
    } else {
        let mut resp = HttpResponse::new(crate::body::Body::empty());
        *resp.status_mut() = StatusCode::MOVED_PERMANENTLY;
        resp
    };
    resp.headers_mut().insert(LOCATION, value);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the mux decides for `method uri` (with an optional Host header), as text.
    fn decide(mux: &ServeMux, method: &str, uri: &str, host: Option<&str>) -> String {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(h) = host {
            req = req.header(
                http::header::HOST,
                HeaderValue::from_bytes(h.as_bytes()).unwrap(),
            );
        }
        let req = req.body(()).unwrap();
        match mux.resolve(&req, true) {
            Outcome::Route { id, values } => {
                let mut s = format!("route {}", mux.routes[id].pattern);
                for (n, v) in values.iter().flat_map(|v| v.iter()) {
                    s.push_str(&format!(" {n}={v}"));
                }
                s
            }
            Outcome::Redirect(to) => format!("redirect {to}"),
            Outcome::NotFound => "404".into(),
            Outcome::MethodNotAllowed(allow) => format!("405 {allow}"),
            Outcome::BadRequest => "400".into(),
        }
    }

    fn ok() -> impl Handler {
        |_req: HttpRequest| async { text_response(StatusCode::OK, "ok") }
    }

    fn mux(patterns: &[&str]) -> ServeMux {
        let mut mux = ServeMux::new();
        for p in patterns {
            mux.handle(p, ok()).unwrap();
        }
        mux
    }

    #[test]
    fn conflicts_are_refused_and_name_both_patterns() {
        let cases = [
            ("/a", "/a"),
            ("GET /a", "GET /a"),
            ("/posts/{id}", "/{resource}/latest"),
            ("GET /", "/index.html"),
            ("GET /", "/{$}"),
            ("/a/{x}", "/a/{y}"),
            ("/a/{x...}", "/a/"),
            ("example.com/", "EXAMPLE.COM/"),
        ];
        for (first, second) in cases {
            let mut m = mux(&[first]);
            let err = m.handle(second, ok()).map(|_| ()).unwrap_err();
            assert_eq!(err.kind(), Kind::Usage);
            let msg = err.to_string();
            assert!(msg.starts_with("conflicting patterns: "), "{msg}");
            assert!(msg.contains(&format!("{first:?}")), "{msg}");
            assert!(msg.contains(&format!("{second:?}")), "{msg}");
            assert_eq!(
                m.patterns().collect::<Vec<_>>(),
                [first],
                "the mux is unchanged"
            );
        }
    }

    #[test]
    fn non_conflicting_neighbours_register() {
        mux(&[
            "/",
            "/{$}",
            "GET /{$}",
            "HEAD /{$}",
            "POST /{$}",
            "/a",
            "/a/",
            "/a/{$}",
            "/a/{x}",
            "/a/b",
            "GET /a/b",
            "example.com/",
            "example.com/a",
            "other.com/{x...}",
            "/posts/{id}",
            "/posts/latest",
        ]);
    }

    #[test]
    fn bad_patterns_are_usage_errors() {
        let mut m = ServeMux::new();
        let err = m.handle("GET /{id", ok()).map(|_| ()).unwrap_err();
        assert_eq!(err.kind(), Kind::Usage);
        assert!(err.to_string().contains("\"GET /{id\""), "{err}");
        assert_eq!(m.patterns().count(), 0);
    }

    #[test]
    #[should_panic(expected = "conflicts with pattern")]
    fn route_panics_on_conflict() {
        let _ = ServeMux::new().route("/a", ok()).route("/a", ok());
    }

    #[test]
    fn dispatch() {
        let m = mux(&[
            "/",
            "GET /items/{id}",
            "/files/{path...}",
            "/{$}",
            "example.com/",
        ]);
        assert_eq!(decide(&m, "GET", "/", None), "route /{$}");
        assert_eq!(decide(&m, "GET", "/x", None), "route /");
        assert_eq!(
            decide(&m, "GET", "/items/42", None),
            "route GET /items/{id} id=42"
        );
        assert_eq!(
            decide(&m, "HEAD", "/items/42", None),
            "route GET /items/{id} id=42"
        );
        assert_eq!(decide(&m, "POST", "/items/42", None), "route /");
        assert_eq!(
            decide(&m, "GET", "/files/a/b%20c", None),
            "route /files/{path...} path=a/b c"
        );
        assert_eq!(
            decide(&m, "GET", "/x", Some("example.com:8080")),
            "route example.com/"
        );
        assert_eq!(
            decide(&m, "GET", "http://Example.com/x", None),
            "route example.com/"
        );
        assert_eq!(decide(&m, "GET", "/x", Some("other.com")), "route /");
    }

    #[test]
    fn not_found_and_method_not_allowed() {
        let m = mux(&["GET /a", "POST /a", "PUT /b/", "DELETE /c/{x}"]);
        assert_eq!(decide(&m, "GET", "/nope", None), "404");
        assert_eq!(decide(&m, "PATCH", "/a", None), "405 GET, HEAD, POST");
        assert_eq!(decide(&m, "GET", "/b/x", None), "405 PUT");
        assert_eq!(decide(&m, "GET", "/b", None), "405 PUT");
        assert_eq!(decide(&m, "GET", "/c/1", None), "405 DELETE");
        assert_eq!(decide(&m, "GET", "/c/", None), "404");
        assert_eq!(decide(&ServeMux::new(), "GET", "/", None), "404");
    }

    #[test]
    fn clean_path_redirects_keep_the_query() {
        let m = mux(&["/a/b", "/dir/"]);
        assert_eq!(decide(&m, "GET", "/a//b", None), "redirect /a/b");
        assert_eq!(
            decide(&m, "GET", "/a/./b?x=1&y", None),
            "redirect /a/b?x=1&y"
        );
        assert_eq!(decide(&m, "GET", "/x/../a/b", None), "redirect /a/b");
        assert_eq!(decide(&m, "POST", "/a/b/.", None), "redirect /a/b");
        // Go redirects unclean paths even when nothing would serve the clean one.
        assert_eq!(decide(&m, "GET", "//nothing", None), "redirect /nothing");
        // An unclean path to a subtree root goes straight to the subtree.
        assert_eq!(decide(&m, "GET", "//dir?q=1", None), "redirect /dir/?q=1");
        // Encoded dots are not path syntax.
        assert_eq!(decide(&m, "GET", "/a/%2e%2e/b", None), "404");
    }

    #[test]
    fn subtree_redirects() {
        let m = mux(&[
            "/",
            "/dir/",
            "/exact",
            "/exact/",
            "/end/{$}",
            "/rest/{r...}",
            "GET /g/",
        ]);
        assert_eq!(decide(&m, "GET", "/dir", None), "redirect /dir/");
        assert_eq!(decide(&m, "GET", "/dir?a=b", None), "redirect /dir/?a=b");
        assert_eq!(decide(&m, "GET", "/dir/", None), "route /dir/");
        // A registered `/exact` overrides the redirect.
        assert_eq!(decide(&m, "GET", "/exact", None), "route /exact");
        assert_eq!(decide(&m, "GET", "/end", None), "redirect /end/");
        assert_eq!(decide(&m, "GET", "/rest", None), "redirect /rest/");
        assert_eq!(decide(&m, "GET", "/g", None), "redirect /g/");
        // Only for a method the subtree serves.
        assert_eq!(decide(&m, "POST", "/g", None), "route /");
        // No redirect into a deeper part of a subtree.
        assert_eq!(decide(&m, "GET", "/dir/sub", None), "route /dir/");
        assert_eq!(decide(&m, "GET", "/other", None), "route /");
    }

    #[test]
    fn connect_paths_are_not_cleaned() {
        let m = mux(&["CONNECT /a//b", "CONNECT /", "GET /x/"]);
        assert_eq!(decide(&m, "CONNECT", "/a//b", None), "route CONNECT /a//b");
        assert_eq!(
            decide(&m, "CONNECT", "example.com:443", None),
            "route CONNECT /"
        );
        assert_eq!(decide(&m, "CONNECT", "/y/../z", None), "route CONNECT /");
        let m = mux(&["CONNECT /t/"]);
        assert_eq!(decide(&m, "CONNECT", "/t", None), "redirect /t/");
        let m = mux(&["CONNECT /{x}/{y}/"]);
        // Never a redirect to `//host/`, which clients read as another host.
        assert_eq!(decide(&m, "CONNECT", "/a/b", None), "redirect /a/b/");
        assert_eq!(decide(&m, "CONNECT", "//evil.com", None), "405 CONNECT");
    }

    #[test]
    fn asterisk_is_a_bad_request() {
        assert_eq!(decide(&mux(&["/"]), "OPTIONS", "*", None), "400");
    }

    #[test]
    fn odd_hosts_do_not_panic() {
        let m = mux(&["example.com/", "::1/x", "/"]);
        for host in [
            "",
            ":",
            ":80",
            "[",
            "[::1",
            "[::1]:",
            "EXAMPLE.com.",
            "a:b:c",
            "é.com",
        ] {
            let got = decide(&m, "GET", "/x", Some(host));
            assert!(got.starts_with("route"), "{host:?}: {got}");
        }
        assert_eq!(decide(&m, "GET", "/x", Some("[::1]:8080")), "route ::1/x");
        assert_eq!(
            decide(&m, "GET", "/x", Some("EXAMPLE.COM")),
            "route example.com/"
        );
        assert_eq!(decide(&m, "GET", "http://[::1]:80/x", None), "route ::1/x");
    }

    #[test]
    fn matched_pattern() {
        let m = mux(&["/a", "GET /b/{x}"]);
        let req = |uri: &str| Request::get(uri).body(()).unwrap();
        assert_eq!(m.matched_pattern(&req("/a")), Some("/a"));
        assert_eq!(m.matched_pattern(&req("/b/1")), Some("GET /b/{x}"));
        assert_eq!(m.matched_pattern(&req("/c")), None);
        assert_eq!(m.matched_pattern(&req("//a")), None);
        assert!(format!("{m:?}").contains("GET /b/{x}"));
    }
}
