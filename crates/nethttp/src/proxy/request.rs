//! [`ProxyRequest`]: what the rewrite hook sees (Go 1.20's `httputil.ProxyRequest`): the
//! inbound request's head, read-only, and the outbound request's head, to change; with
//! `set_url` (Go's `SetURL`: the upstream's scheme and authority, its path joined with the
//! request's, queries merged) and the forwarding fields.

use std::net::IpAddr;

use http::header;
use http::request::Parts;
use http::uri::{PathAndQuery, Uri};
use http::Version;

use super::forwarded::{self, Origin};
use crate::conn::{ConnInfo, Peer};

/// The request on its way through a [`super::ReverseProxy`], as the rewrite hook
/// ([`super::ReverseProxyBuilder::rewrite`]) sees it.
///
/// When the hook runs, the outbound head is a copy of the inbound one without its hop-by-hop
/// fields (RFC 9110 §7.6.1) and without the forwarding fields the client sent
/// (`Forwarded`, `X-Forwarded-*`); the proxy's upstream URL (if it has one) is already set
/// with [`ProxyRequest::set_url`], and the forwarding fields chosen with
/// [`super::ReverseProxyBuilder::forwarded`] already added. The hook may change anything:
/// point the request elsewhere, set `Host` (which [`ProxyRequest::set_url`] removed, so
/// the upstream's authority is sent: Go's `SetURL` semantics), add or drop fields.
///
/// ```
/// use nethttp::proxy::ReverseProxy;
/// use nethttp::http::HeaderValue;
///
/// let proxy = ReverseProxy::builder()
///     .upstream("http://127.0.0.1:9000/api")
///     .rewrite(|r| {
///         // Keep the Host the client asked for, as nginx's `proxy_set_header Host $host`.
///         if let Some(host) = r.inbound().headers.get("host").cloned() {
///             r.out().headers.insert("host", host);
///         }
///         r.out().headers.insert("x-from-proxy", HeaderValue::from_static("1"));
///     })
///     .build()
///     .unwrap();
/// # let _ = proxy;
/// ```
#[derive(Debug)]
pub struct ProxyRequest<'a> {
    inbound: &'a Parts,
    out: &'a mut Parts,
}

impl<'a> ProxyRequest<'a> {
    pub(crate) fn new(inbound: &'a Parts, out: &'a mut Parts) -> Self {
        ProxyRequest { inbound, out }
    }

    /// The inbound request's head, as the server received it (its extensions hold the
    /// [`ConnInfo`] when the server has [`crate::Server::conn_info`] on).
    pub fn inbound(&self) -> &Parts {
        self.inbound
    }

    /// The outbound request's head, to change. Its URI is absolute (scheme and authority are
    /// the upstream's) once [`ProxyRequest::set_url`] ran.
    pub fn out(&mut self) -> &mut Parts {
        self.out
    }

    /// Points the outbound request at `target` (Go's `ProxyRequest.SetURL`): the target's
    /// scheme and authority, the target's path joined with the request's by one slash
    /// (`/api` + `/v1/x` = `/api/v1/x`), the target's query then the request's, joined by
    /// `&`. The outbound `Host` field is removed, so the upstream gets its own authority; set
    /// `Host` afterwards to send another.
    pub fn set_url(&mut self, target: &Uri) {
        self.out.uri = join_url(target, &self.out.uri);
        self.out.headers.remove(header::HOST);
    }

    /// Sets `X-Forwarded-For` (the client's IP appended to the outbound value, which the
    /// proxy emptied unless the hook copied the inbound one), `X-Forwarded-Host` (the
    /// inbound `Host`) and `X-Forwarded-Proto` (`https` if the client connected over TLS):
    /// Go's `SetXForwarded`. The client's IP is known only when the server attaches
    /// [`ConnInfo`] ([`crate::Server::conn_info`]) and the client has an IP (not a Unix
    /// socket); otherwise `X-Forwarded-For` is left as it is.
    pub fn set_x_forwarded(&mut self) {
        let origin = origin(self.inbound);
        forwarded::set_x_forwarded(&mut self.out.headers, &origin);
    }

    /// Appends an RFC 7239 element for this hop to `Forwarded`:
    /// `for=CLIENT;host=HOST;proto=http|https` (`for` only when the client's IP is known, as
    /// for [`ProxyRequest::set_x_forwarded`]).
    pub fn set_forwarded(&mut self) {
        let origin = origin(self.inbound);
        forwarded::append_forwarded(&mut self.out.headers, &origin);
    }

    /// The client's IP address, when the server attached [`ConnInfo`] and the connection is
    /// TCP.
    pub fn client_ip(&self) -> Option<IpAddr> {
        client_ip(self.inbound)
    }
}

fn client_ip(inbound: &Parts) -> Option<IpAddr> {
    match inbound.extensions.get::<ConnInfo>() {
        Some(info) if info.peer == Peer::Tcp => Some(info.remote_addr.ip()),
        _ => None,
    }
}

/// What the forwarding fields say of `inbound`.
fn origin(inbound: &Parts) -> Origin<'_> {
    let tls = inbound.extensions.get::<ConnInfo>().is_some_and(|i| i.tls)
        // An HTTP/2 request carries its scheme (`:scheme`), which says TLS without ConnInfo.
        || inbound.uri.scheme_str() == Some("https");
    let field = inbound
        .headers
        .get(header::HOST)
        .and_then(|h| Some((h, h.to_str().ok()?)));
    let host = field
        .map(|(_, s)| s)
        .or_else(|| inbound.uri.authority().map(|a| a.as_str()));
    Origin {
        client: client_ip(inbound),
        host,
        host_field: field.map(|(h, _)| h),
        proto: if tls { "https" } else { "http" },
    }
}

/// The outbound head: the inbound method, path and query (origin form until `set_url`) and
/// fields; version HTTP/1.1 (the transport picks the upstream's protocol); no extensions.
pub(crate) fn outbound_parts(inbound: &Parts) -> Parts {
    let (mut out, ()) = http::Request::new(()).into_parts();
    out.method = inbound.method.clone();
    out.uri = inbound
        .uri
        .path_and_query()
        .map(|pq| Uri::from(pq.clone()))
        .unwrap_or_else(|| Uri::from_static("/"));
    out.version = Version::HTTP_11;
    out.headers = inbound.headers.clone();
    let accepts_trailers = super::hop::accepts_trailers(&out.headers);
    super::hop::remove(&mut out.headers);
    forwarded::strip(&mut out.headers);
    if accepts_trailers {
        out.headers.insert(header::TE, super::hop::TE_TRAILERS);
    }
    out
}

/// `target` with `req`'s path and query joined on (Go's `joinURLPath` and query merge).
pub(crate) fn join_url(target: &Uri, req: &Uri) -> Uri {
    // The common case, an upstream with no path or query of its own and an origin-form
    // request: the joined path and query are the request's, taken as they are (no new string
    // built and parsed again). An empty query (`/a?`) takes the general path, which drops
    // the `?`.
    let bare_target = target.query().is_none_or(str::is_empty)
        && target
            .path_and_query()
            .is_none_or(|p| matches!(p.path(), "" | "/"));
    match req
        .path_and_query()
        .filter(|pq| bare_target && pq.path().starts_with('/') && pq.query() != Some(""))
    {
        Some(pq) => with_path(target, Some(pq.clone())),
        None => join_url_general(target, req),
    }
}

/// `target`'s scheme and authority with `path_and_query`.
fn with_path(target: &Uri, path_and_query: Option<PathAndQuery>) -> Uri {
    let mut parts = http::uri::Parts::default();
    parts.scheme = target.scheme().cloned();
    parts.authority = target.authority().cloned();
    parts.path_and_query = path_and_query;
    Uri::from_parts(parts).unwrap_or_else(|_| target.clone())
}

/// [`join_url`] for any target and request.
fn join_url_general(target: &Uri, req: &Uri) -> Uri {
    let t_path = target.path();
    let r_path = req.path();
    let mut pq = String::with_capacity(t_path.len() + r_path.len() + 16);
    // An upstream URL without a path (`http://host`) is `/` to the http crate.
    let t_path = if target
        .path_and_query()
        .is_none_or(|p| p.as_str().is_empty() || p.as_str().starts_with('?'))
    {
        ""
    } else {
        t_path
    };
    match (t_path.ends_with('/'), r_path.starts_with('/')) {
        (true, true) => {
            pq.push_str(t_path);
            pq.push_str(&r_path[1..]);
        }
        (false, false) if !r_path.is_empty() => {
            pq.push_str(t_path);
            pq.push('/');
            pq.push_str(r_path);
        }
        _ => {
            pq.push_str(t_path);
            pq.push_str(r_path);
        }
    }
    if pq.is_empty() {
        pq.push('/');
    }
    match (
        target.query().filter(|q| !q.is_empty()),
        req.query().filter(|q| !q.is_empty()),
    ) {
        (Some(t), Some(r)) => {
            pq.push('?');
            pq.push_str(t);
            pq.push('&');
            pq.push_str(r);
        }
        (Some(q), None) | (None, Some(q)) => {
            pq.push('?');
            pq.push_str(q);
        }
        (None, None) => {}
    }
    // Both halves were valid URI parts, and joining adds only `/`, `?` and `&`.
    with_path(target, PathAndQuery::try_from(pq).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(t: &str, r: &str) -> String {
        join_url(&t.parse().unwrap(), &r.parse().unwrap()).to_string()
    }

    #[test]
    fn paths_join_with_one_slash_and_queries_merge() {
        assert_eq!(join("http://u:1", "/a?x=1"), "http://u:1/a?x=1");
        assert_eq!(join("http://u:1/", "/a"), "http://u:1/a");
        assert_eq!(join("http://u:1/base", "/a"), "http://u:1/base/a");
        assert_eq!(join("http://u:1/base/", "/a/"), "http://u:1/base/a/");
        assert_eq!(join("http://u:1/base", "/"), "http://u:1/base/");
        assert_eq!(join("http://u:1/b?k=v", "/a?x=1"), "http://u:1/b/a?k=v&x=1");
        assert_eq!(join("http://u:1?k=v", "/a"), "http://u:1/a?k=v");
        assert_eq!(join("https://u/b", "/"), "https://u/b/");
    }

    proptest::proptest! {
        /// The shortcut for bare upstreams gives what the general join gives.
        #[test]
        fn the_bare_target_shortcut_is_the_general_join(
            target in proptest::prop_oneof![
                proptest::strategy::Just("http://u:1"),
                proptest::strategy::Just("http://u:1/"),
                proptest::strategy::Just("https://u/?"),
                proptest::strategy::Just("http://[::1]:8080"),
                proptest::strategy::Just("http://u/base"),
                proptest::strategy::Just("http://u?k=v"),
            ],
            path in "(/[a-z%0-9.]{0,4}){0,3}/?",
            query in proptest::option::of("[a-z=&%0-9]{0,6}"),
        ) {
            let path = if path.is_empty() { "/".to_owned() } else { path };
            let req = match &query {
                Some(q) => format!("{path}?{q}"),
                None => path,
            };
            let (t, r): (Uri, Uri) = (target.parse().unwrap(), req.parse().unwrap());
            proptest::prop_assert_eq!(join_url(&t, &r), join_url_general(&t, &r));
        }
    }

    #[test]
    fn asterisk_and_empty_queries_take_the_general_join() {
        assert_eq!(join("http://u:1", "/a?"), "http://u:1/a");
        assert_eq!(join("http://u:1", "*"), "http://u:1/*");
    }

    #[test]
    fn outbound_head_drops_hop_by_hop_and_forwarding_fields() {
        let req = http::Request::post("/up?q=1")
            .header("host", "front.example")
            .header("connection", "x-hop")
            .header("x-hop", "1")
            .header("te", "trailers")
            .header("x-forwarded-for", "6.6.6.6")
            .header("forwarded", "for=6.6.6.6")
            .header("x-end", "2")
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        let out = outbound_parts(&parts);
        assert_eq!(out.uri, "/up?q=1");
        let mut names: Vec<&str> = out.headers.keys().map(|k| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["host", "te", "x-end"]);
        assert_eq!(out.headers["te"], "trailers");
    }
}
