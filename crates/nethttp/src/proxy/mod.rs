//! The reverse proxy (Go's `httputil.ReverseProxy`): a [`Handler`] that sends each request
//! on to an upstream through a pooled [`Transport`] and streams the answer back. It sits
//! above `client` and `handler` and never touches a socket itself.
//!
//! One request's way through it:
//!
//! ```text
//! inbound request (already checked by our server: framing, Host, limits)
//!   -> Max-Forwards (TRACE/OPTIONS at 0 answered here)
//!   -> outbound head: hop-by-hop and client-sent forwarding fields removed   (hop, request)
//!   -> set_url(upstream), X-Forwarded-* / Forwarded, Via, then the rewrite hook (forwarded)
//!   -> HTTP/1.x body: first frame read (a malformed one never reaches the upstream) (body)
//!   -> Transport::round_trip (no redirects; pool keep-alive; HTTP/1.1 or HTTP/2)
//!   -> response: hop-by-hop removed, Via, modify_response hook; body streamed as it comes
//!   -> on failure: 502 / 504 / 400 through the error hook                       (error)
//! ```
//!
//! Protocol upgrades (WebSocket) on HTTP/1.1 pass through (`upgrade`): the client's
//! `Upgrade` is said again upstream, and after the upstream's `101` both connections are
//! handed over by our server and client and joined. Interim responses (`103 Early Hints`)
//! from the upstream are passed on to the client as they arrive (`interim`).

mod body;
mod error;
mod forward;
mod forwarded;
mod hop;
mod interim;
mod max_forwards;
mod next_upstream;
mod request;
mod splice;
mod upgrade;
pub(crate) mod upstreams;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::HeaderValue;
use http::{Request, Response, Uri, Version};

pub use error::{default_error_response, status_for, ErrorHandler};
pub use forward::{ConnectPorts, ForwardProxy, ForwardProxyBuilder};
pub use forwarded::ForwardedHeaders;
pub use request::ProxyRequest;
pub use upstreams::{Balance, UpstreamStats};

use crate::body::Body;
use crate::client::{DialRetry, TraceHook, Transport, TransportBuilder};
use crate::error::{Error, Kind};
use crate::handler::{Handler, HttpRequest, HttpResponse};
use next_upstream::Again;
use upstreams::{Group, Outcome, Picked, Upstream};

/// The HTTP/2 stream window [`ReverseProxy::default_transport`] grants an upstream: 256 KiB.
/// An answer the client does not read holds its stream's window in the proxy until the
/// server's write timeout cuts the client, and one HTTP/2 client can have as many such
/// answers as its connection's concurrent streams (250 by default): 62.5 MiB at this
/// window, where the client's own default (2 MiB) would make it 500 MiB. 256 KiB still
/// moves about 130 MB/s per stream to an upstream 2 ms away (a window per round trip).
pub const UPSTREAM_STREAM_WINDOW: u32 = 256 * 1024;

/// The rewrite hook: changes the outbound request (Go 1.20's `ReverseProxy.Rewrite`).
type RewriteFn = Arc<dyn Fn(&mut ProxyRequest<'_>) + Send + Sync>;
/// The response hook: changes the upstream's response before it goes back.
type ModifyFn = Arc<dyn Fn(&mut HttpResponse) + Send + Sync>;

/// A reverse proxy: a [`Handler`] that forwards every request to an upstream and streams
/// the response back (Go's `httputil.ReverseProxy`). Cheap to clone (clones share the
/// transport and its pool).
///
/// What it does to each request (RFC 9110 §7.6):
///
/// - removes the hop-by-hop fields (`Connection` and every field it names, `Keep-Alive`,
///   `Proxy-*`, `TE` (kept as `TE: trailers` if the client sent that), `Transfer-Encoding`,
///   `Upgrade`) from the request and from the response;
/// - removes the forwarding fields the client sent and adds its own
///   ([`ForwardedHeaders`]: `X-Forwarded-For/-Host/-Proto` by default), and `Via` if asked;
/// - sends the upstream's authority as `Host` (Go's `SetURL`); a rewrite hook may set `Host`
///   to keep the client's;
/// - streams both bodies frame by frame, trailers included, flushing each frame as it
///   comes: server-sent events are never held back (Go's `FlushInterval` is always `-1`);
/// - answers `502` when the upstream cannot be reached or breaks the protocol, `504` when it
///   does not answer in time, `400` when the client's own body fails (see [`status_for`]),
///   through a hook that can replace those answers;
/// - never follows redirects: a `3xx` goes back to the client as it is.
///
/// The client's address reaches the upstream only if the server attaches it:
/// [`crate::Server::conn_info`]`(true)`. Without it (or for a Unix socket client) no
/// `X-Forwarded-For` is added, and `X-Forwarded-Proto` says `https` only for HTTP/2 requests
/// over TLS (whose `:scheme` says so).
///
/// Every request reaches the proxy through our server, so what the server refuses (malformed
/// framing, a smuggling attempt, a bad `Host`, a head or body over its limits) never reaches
/// the upstream; a request body that turns out malformed midway reaches it as an incomplete
/// message (the upstream connection is cut), never as a complete request.
///
/// ```no_run
/// use nethttp::proxy::ReverseProxy;
/// use nethttp::Server;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let proxy = ReverseProxy::new("http://127.0.0.1:9000")?;
/// let server = Server::new().conn_info(true); // the client's IP for X-Forwarded-For
/// let listener = server.bind("127.0.0.1:8080".parse()?)?;
/// server.serve(listener, proxy).wait().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ReverseProxy {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    /// The one upstream; `None` with a group, or when the rewrite hook sets the URL.
    upstream: Option<Uri>,
    /// Two upstreams or more.
    group: Option<Arc<Group>>,
    /// Upstreams a request may be sent to, at most (the first included).
    tries: usize,
    /// No attempt at another upstream starts past this after the first began.
    next_timeout: Option<Duration>,
    /// Response statuses that send an idempotent request on to the next upstream.
    next_statuses: Vec<http::StatusCode>,
    forwarded: ForwardedHeaders,
    via: Option<HeaderValue>,
    rewrite: Option<RewriteFn>,
    modify_response: Option<ModifyFn>,
    error_handler: Option<ErrorHandler>,
    websockets_over_http2: bool,
}

/// The outbound request and its trace hook, or the proxy's own answer.
enum Outbound {
    Send(http::request::Parts, Option<TraceHook>),
    Answer(HttpResponse),
}

/// One attempt of a request at an upstream of a group.
struct Attempt {
    picked: Picked,
    out: http::request::Parts,
    hook: Option<TraceHook>,
    body: Body,
}

impl std::fmt::Debug for ReverseProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReverseProxy")
            .field("upstream", &self.inner.upstream)
            .field("upstreams", &self.inner.group.as_ref().map(|g| g.len()))
            .field("forwarded", &self.inner.forwarded)
            .finish_non_exhaustive()
    }
}

impl ReverseProxy {
    /// A proxy to one upstream URL (Go's `NewSingleHostReverseProxy`, with `Rewrite`'s
    /// `SetURL` and `SetXForwarded`): `http://` or `https://` with an authority; its path
    /// prefixes every request's path, its query comes before the request's. The transport is
    /// [`ReverseProxy::default_transport`]'s.
    pub fn new(upstream: &str) -> Result<ReverseProxy, Error> {
        ReverseProxy::builder().upstream(upstream).build()
    }

    /// Starts configuring a proxy.
    pub fn builder() -> ReverseProxyBuilder {
        ReverseProxyBuilder::default()
    }

    /// The transport a proxy uses unless given one: the library's defaults (pooled
    /// keep-alive connections, every timeout finite) with three changes for a proxy: no
    /// proxy from the environment (an upstream is reached directly), no transparent
    /// decompression (the client's `Accept-Encoding` goes to the upstream as it is, and the
    /// upstream's encoding comes back untouched), and HTTP/2 stream windows of
    /// [`UPSTREAM_STREAM_WINDOW`] (the connection's stays at the client's 1 GiB). Add to it,
    /// e.g. `.unix_socket(path)` or `.response_header_timeout(d)`, and pass the result to
    /// [`ReverseProxyBuilder::transport`].
    pub fn default_transport() -> TransportBuilder {
        Transport::builder()
            .no_proxy()
            .disable_compression(true)
            .http2_initial_window_sizes(
                UPSTREAM_STREAM_WINDOW,
                crate::client::DEFAULT_HTTP2_CONN_WINDOW,
            )
    }

    /// `transport` as a proxy with several upstreams wants it (what
    /// [`ReverseProxyBuilder::build`] does to the default one): a refused dial is not
    /// dialed again after a backoff, nor is a request resent from the retry budget, on the
    /// same upstream, since the group sends it to the next at once; a request that met a
    /// reused connection's end of life is still resent once on a new one, and one the
    /// upstream did not process on the same. Pass a transport of one's own through it
    /// before [`ReverseProxyBuilder::transport`].
    pub fn group_transport(transport: TransportBuilder) -> TransportBuilder {
        transport
            .dial_retry(DialRetry {
                max_retries: 0,
                ..DialRetry::default()
            })
            .retry_budget(0.0, 0, Duration::from_secs(10))
    }

    /// The transport the proxy sends through (its pool's counters are in `pool_stats`).
    pub fn transport(&self) -> &Transport {
        &self.inner.transport
    }

    /// What the proxy knows of each upstream of its group, in the order they were given:
    /// requests in flight and sent, failures, and whether it is left out now. Empty for a
    /// proxy with one upstream, which keeps no such count (its connections are in the
    /// transport's `pool_stats`).
    pub fn upstreams(&self) -> Vec<UpstreamStats> {
        self.inner
            .group
            .as_ref()
            .map_or_else(Vec::new, |g| g.stats())
    }

    async fn forward(&self, req: HttpRequest) -> HttpResponse {
        let inner = &*self.inner;
        let (mut inbound, mut body) = req.into_parts();
        let upgrading = upgrade::asked(&mut inbound, inner.websockets_over_http2);
        // RFC 9112 bodies are checked by our own decoder as they are read: read the first
        // frame before anything goes upstream (see `body::first_frame`), and before an
        // upstream of a group is picked, so a client that stalls its body holds no place
        // (nor the trial of an upstream left out).
        let http1 = matches!(
            inbound.version,
            Version::HTTP_09 | Version::HTTP_10 | Version::HTTP_11
        );
        let first = if http1 && !http_body::Body::is_end_stream(&body) {
            match body::first_frame(&mut body).await {
                Ok(f) => f,
                Err(e) => return self.error(Error::user(error::InboundBodyFailed(e))),
            }
        } else {
            None
        };
        let picked = match &inner.group {
            None => None,
            Some(group) => match group.pick(&[], None) {
                Some(p) => Some(p),
                None => return self.error(next_upstream::no_live_upstreams()),
            },
        };
        let upstream = match &picked {
            Some(p) => Some(&p.upstream().uri),
            None => inner.upstream.as_ref(),
        };
        let (out, hook) = match self.outbound(&inbound, upgrading.as_ref(), upstream) {
            Outbound::Send(out, hook) => (out, hook),
            Outbound::Answer(answer) => return answer,
        };
        let failed = Arc::new(AtomicBool::new(false));
        let (upload, again) = if first.is_none() && http_body::Body::is_end_stream(&body) {
            (Body::empty(), Again::Empty)
        } else {
            match first {
                // Whole in hand, so another upstream of a group can have it too.
                Some(f)
                    if picked.is_some() && f.is_data() && http_body::Body::is_end_stream(&body) =>
                {
                    let data = f.into_data().unwrap_or_default();
                    (Body::from(data.clone()), Again::Whole(data))
                }
                first => (
                    Body::wrap(body::Upload::new(first, body, failed.clone())),
                    Again::Streamed,
                ),
            }
        };

        let (result, picked) = match picked {
            None => {
                let req = Request::from_parts(out, upload);
                (inner.transport.round_trip_traced(req, hook).await, None)
            }
            Some(picked) => {
                let first = Attempt {
                    picked,
                    out,
                    hook,
                    body: upload,
                };
                self.across_group(first, &inbound, upgrading.as_ref(), &again, &failed)
                    .await
            }
        };
        match result {
            // The upstream switched, or took the WebSocket as an extended CONNECT stream of
            // its HTTP/2 connection.
            Ok(resp)
                if resp.status() == http::StatusCode::SWITCHING_PROTOCOLS
                    || upgrading
                        .as_ref()
                        .is_some_and(|asked| upgrade::accepted_as_stream(asked, &resp)) =>
            {
                match upgrading {
                    Some(asked) => match upgrade::join(asked, resp, picked) {
                        Ok(resp) => resp,
                        Err(e) => self.error(e),
                    },
                    None => self.respond(resp, inbound.version, picked),
                }
            }
            // An extended CONNECT answered 2xx over HTTP/1.1 is accepted: the upstream must
            // have switched.
            Ok(resp)
                if resp.status().is_success()
                    && upgrading
                        .as_ref()
                        .is_some_and(upgrade::Asked::by_extended_connect) =>
            {
                self.error(Error::new(
                    Kind::Upgrade,
                    "the upstream answered the upgrade without switching protocols",
                ))
            }
            Ok(resp) => self.respond(resp, inbound.version, picked),
            Err(e) if failed.load(Ordering::Acquire) => {
                self.error(Error::user(error::InboundBodyFailed(e)))
            }
            Err(e) => self.error(e),
        }
    }

    /// The outbound request for `upstream`: hop-by-hop and forwarding fields as the proxy
    /// is configured, the rewrite hook run, and the trace hook that passes interim
    /// responses on; or the proxy's own answer when `Max-Forwards` reached it.
    fn outbound(
        &self,
        inbound: &http::request::Parts,
        upgrading: Option<&upgrade::Asked>,
        upstream: Option<&Uri>,
    ) -> Outbound {
        let inner = &*self.inner;
        let mut out = request::outbound_parts(inbound);
        if let Some(asked) = upgrading {
            upgrade::ask_upstream(asked, &mut out);
        }
        if let max_forwards::Hop::Answer(resp) = max_forwards::check(inbound, &mut out.headers) {
            return Outbound::Answer(resp);
        }
        {
            let mut pr = ProxyRequest::new(inbound, &mut out);
            if let Some(upstream) = upstream {
                pr.set_url(upstream);
            }
            match inner.forwarded {
                ForwardedHeaders::XForwarded => pr.set_x_forwarded(),
                ForwardedHeaders::Rfc7239 => pr.set_forwarded(),
                ForwardedHeaders::Both => {
                    pr.set_x_forwarded();
                    pr.set_forwarded();
                }
                ForwardedHeaders::None => {}
            }
            if let Some(via) = &inner.via {
                append_via(&mut pr.out().headers, inbound.version, via);
            }
            if let Some(rewrite) = &inner.rewrite {
                rewrite(&mut pr);
            }
        }
        let hook = interim::pass_on(&mut out);
        Outbound::Send(out, hook)
    }

    /// Sends the request to the upstream picked for it and, when that fails in a way that
    /// allows it ([`next_upstream`]), to the next the group picks, up to the proxy's tries.
    /// Gives back the last attempt's result, and the upstream that answered (kept with the
    /// response body, as in flight there, until it ends).
    async fn across_group(
        &self,
        mut attempt: Attempt,
        inbound: &http::request::Parts,
        upgrading: Option<&upgrade::Asked>,
        again: &Again,
        failed: &AtomicBool,
    ) -> (Result<Response<Body>, Error>, Option<Picked>) {
        let inner = &*self.inner;
        let mut tried: Vec<usize> = Vec::new();
        let due = inner.next_timeout.map(|d| Instant::now() + d);
        loop {
            let Attempt {
                mut picked,
                out,
                hook,
                body,
            } = attempt;
            let mut unsent = None;
            let req = Request::from_parts(out, body);
            let result = inner
                .transport
                .round_trip_or_unsent(req, hook, &mut unsent)
                .await;
            if result.is_err() && failed.load(Ordering::Acquire) {
                return (result, None);
            }
            // What this attempt says of the upstream, and the body for another, if the
            // request may go to one.
            let (outcome, body) = match &result {
                Ok(resp) if inner.next_statuses.contains(&resp.status()) => {
                    let body = match next_upstream::may_resend_answered(&inbound.method) {
                        true => again.body(),
                        false => None,
                    };
                    (next_upstream::status_outcome(resp.status()), body)
                }
                Ok(_) => {
                    picked.record(Outcome::Answered);
                    return (result, Some(picked));
                }
                Err(err) => {
                    let body = match unsent {
                        Some(body) => Some(body),
                        None if next_upstream::may_resend(&inbound.method, err) => again.body(),
                        None => None,
                    };
                    (next_upstream::outcome(err), body)
                }
            };
            picked.record(outcome);
            tried.push(picked.index());
            let next = match (body, &inner.group) {
                (Some(body), Some(group))
                    if tried.len() < inner.tries && due.is_none_or(|d| Instant::now() < d) =>
                {
                    group.pick(&tried, None).map(|p| (p, body))
                }
                _ => None,
            };
            let Some((next, body)) = next else {
                // The last attempt's answer or failure is the client's.
                let held = result.is_ok().then_some(picked);
                return (result, held);
            };
            tracing::debug!(
                failed = %picked.upstream().url,
                next = %next.upstream().url,
                status = ?result.as_ref().ok().map(|r| r.status()),
                error = ?result.as_ref().err(),
                "proxy: trying the next upstream"
            );
            // An answer not passed on: its connection is drained or closed as the
            // transport's rules say.
            drop(result);
            drop(picked);
            let (out, hook) = match self.outbound(inbound, upgrading, Some(&next.upstream().uri)) {
                Outbound::Send(out, hook) => (out, hook),
                // `Max-Forwards` let the first attempt go, and says the same again.
                Outbound::Answer(answer) => return (Ok(answer), None),
            };
            attempt = Attempt {
                picked: next,
                out,
                hook,
                body,
            };
        }
    }

    /// The upstream's response on its way back: hop-by-hop fields removed, `Via`, the
    /// response hook.
    /// An upstream of a group that answered is counted in flight until the body ends.
    fn respond(
        &self,
        resp: Response<Body>,
        inbound_version: Version,
        picked: Option<Picked>,
    ) -> HttpResponse {
        let inner = &*self.inner;
        let (mut parts, body) = resp.into_parts();
        if parts.status.is_informational() {
            // A 1xx as a final answer (a `101` to an upgrade the proxy did not ask for):
            // nothing the client could use.
            return self.error(Error::new(
                Kind::Parse,
                "upstream answered with an informational status as its final response",
            ));
        }
        hop::remove(&mut parts.headers);
        if let Some(via) = &inner.via {
            append_via(&mut parts.headers, parts.version, via);
        }
        let mut resp = Response::from_parts(parts, body);
        if let Some(modify) = &inner.modify_response {
            modify(&mut resp);
        }
        // The client's protocol from here on; the transport's extensions stay behind.
        *resp.version_mut() = inbound_version;
        resp.extensions_mut().clear();
        match picked {
            // A body already in memory (a small answer read with its head) has left the
            // upstream: nothing is in flight there, and the connection keeps its one-write
            // path for it.
            Some(picked) if !resp.body().is_buffered() => {
                resp.map(|body| Body::wrap(body::Held::new(body, picked)))
            }
            _ => resp,
        }
    }

    fn error(&self, err: Error) -> HttpResponse {
        match &self.inner.error_handler {
            Some(hook) => hook(&err),
            None => default_error_response(&err),
        }
    }
}

fn append_via(headers: &mut http::HeaderMap, version: Version, via: &HeaderValue) {
    // The pseudonym was checked to be visible ASCII when it was set.
    forwarded::append_via(headers, version, via.to_str().unwrap_or("nethttp"));
}

impl Handler for ReverseProxy {
    fn call(
        &self,
        req: HttpRequest,
    ) -> impl std::future::Future<Output = HttpResponse> + Send + '_ {
        self.forward(req)
    }
}

/// Configures a [`ReverseProxy`]; from [`ReverseProxy::builder`].
pub struct ReverseProxyBuilder {
    transport: Option<Transport>,
    /// URLs, weights, and whether each is a backup.
    upstreams: Vec<(String, u32, bool)>,
    balance: Balance,
    max_fails: u32,
    fail_timeout: Duration,
    tries: Option<usize>,
    next_timeout: Option<Duration>,
    next_statuses: Vec<http::StatusCode>,
    forwarded: ForwardedHeaders,
    via: Option<String>,
    rewrite: Option<RewriteFn>,
    modify_response: Option<ModifyFn>,
    error_handler: Option<ErrorHandler>,
    websockets_over_http2: bool,
}

impl Default for ReverseProxyBuilder {
    fn default() -> Self {
        ReverseProxyBuilder {
            transport: None,
            upstreams: Vec::new(),
            balance: Balance::default(),
            max_fails: 1,
            fail_timeout: Duration::from_secs(10),
            tries: None,
            next_timeout: None,
            next_statuses: Vec::new(),
            forwarded: ForwardedHeaders::default(),
            via: None,
            rewrite: None,
            modify_response: None,
            error_handler: None,
            websockets_over_http2: false,
        }
    }
}

impl std::fmt::Debug for ReverseProxyBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReverseProxyBuilder")
            .field("upstreams", &self.upstreams)
            .field("balance", &self.balance)
            .field("forwarded", &self.forwarded)
            .finish_non_exhaustive()
    }
}

impl ReverseProxyBuilder {
    /// The upstream every request goes to (`http://host:port/prefix?query` or https),
    /// applied with [`ProxyRequest::set_url`] before the rewrite hook runs. Default: none,
    /// in which case the rewrite hook must set the outbound URI (or every request fails with
    /// `502`).
    ///
    /// Called again, it adds another upstream, and requests are shared among them (nginx's
    /// `upstream` block): see [`ReverseProxyBuilder::balance`] for how, and
    /// [`ReverseProxyBuilder::max_fails`] for what happens when one fails. The rewrite hook
    /// then sees the upstream chosen for each attempt (it runs again for the next); one that
    /// sends the request elsewhere leaves the group's counts to the upstream it chose.
    /// A protocol upgrade (WebSocket) counts in flight until the joined connections end.
    pub fn upstream(self, url: &str) -> Self {
        self.weighted_upstream(url, 1)
    }

    /// Adds an upstream that gets `weight` times the share of one of weight 1 (nginx's
    /// `server ... weight=N`). A weight of 0 is taken as 1.
    pub fn weighted_upstream(mut self, url: &str, weight: u32) -> Self {
        self.upstreams.push((url.to_owned(), weight.max(1), false));
        self
    }

    /// Adds a backup upstream (nginx's `server ... backup`): requests go to it, by `weight`
    /// among the backups, only when no other upstream can take them (each is left out after
    /// failing, or was tried for this request). One upstream with backups beside it is left
    /// out after failing as any other is.
    pub fn backup_upstream(mut self, url: &str, weight: u32) -> Self {
        self.upstreams.push((url.to_owned(), weight.max(1), true));
        self
    }

    /// How requests are shared among several upstreams. Default: [`Balance::RoundRobin`].
    pub fn balance(mut self, balance: Balance) -> Self {
        self.balance = balance;
        self
    }

    /// Passive health checks for several upstreams (nginx's `max_fails` and
    /// `fail_timeout`): an upstream that fails `max_fails` exchanges in a row (no
    /// connection, or no response head: refused, reset, timed out; each failure within
    /// `fail_timeout` of the one before) is left out for `fail_timeout`; then one request
    /// tries it, and it is back if that one is answered. Any response head, whatever its
    /// status, is an answer. When every upstream is left out, requests are answered `502`
    /// at once ("no live upstreams", as nginx). `max_fails` 0: never left out. Default:
    /// 1 and 10 s, as nginx.
    pub fn max_fails(mut self, max_fails: u32, fail_timeout: Duration) -> Self {
        self.max_fails = max_fails;
        self.fail_timeout = fail_timeout;
        self
    }

    /// Upstreams a request may be tried at, the first included, when several are given
    /// (nginx's `proxy_next_upstream_tries`). A request goes to the next upstream only when
    /// nothing of it was sent (no connection could be had), or when it is idempotent, its
    /// body was read whole (none, or a body that came in one piece), and its connection
    /// failed or no response head came in time; never once a response head came (nginx's
    /// `proxy_next_upstream error timeout`). Default: each upstream once. 1: never to
    /// another.
    pub fn next_upstream_tries(mut self, tries: usize) -> Self {
        self.tries = Some(tries.max(1));
        self
    }

    /// Answers with these statuses send an idempotent request whose body the proxy holds
    /// whole on to the next upstream, as a failed exchange would (nginx's
    /// `proxy_next_upstream http_502 http_503 ...`): for upstreams that answer `503` while
    /// they start or drain. Each counts as a failure toward `max_fails`, except `403` and
    /// `404`, which never do (as nginx). The last upstream's answer goes to the client
    /// whatever its status, and so does the answer to a request that may not go again.
    /// Default: none.
    pub fn next_upstream_statuses(
        mut self,
        statuses: impl IntoIterator<Item = http::StatusCode>,
    ) -> Self {
        self.next_statuses = statuses.into_iter().collect();
        self
    }

    /// No request goes to another upstream once this long has passed since its first
    /// attempt began (nginx's `proxy_next_upstream_timeout`): it is answered with the last
    /// failure. Without it a request may take up to its tries times the transport's connect
    /// or response header timeout. Default: none, as nginx.
    pub fn next_upstream_timeout(mut self, timeout: Duration) -> Self {
        self.next_timeout = Some(timeout);
        self
    }

    /// The transport requests go through. Default:
    /// [`ReverseProxy::default_transport`]`().build()`. A transport of one's own should
    /// have compression off (`disable_compression(true)`), or requests without
    /// `Accept-Encoding` are sent asking for compression and the answers decoded on the way.
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Uses a [`crate::Client`]'s transport (its pool and settings; its redirect policy and
    /// total timeout do not apply: a proxy returns redirects as they are).
    pub fn client(self, client: &crate::Client) -> Self {
        self.transport(client.transport().clone())
    }

    /// Which forwarding fields are added. Default: [`ForwardedHeaders::XForwarded`].
    pub fn forwarded(mut self, which: ForwardedHeaders) -> Self {
        self.forwarded = which;
        self
    }

    /// Adds `Via: <version> <pseudonym>` to requests and responses (RFC 9110 §7.6.3), e.g.
    /// `1.1 edge`. Default: none (as Go and nginx). The pseudonym must be a token (letters,
    /// digits, `-._~` and the like).
    pub fn via(mut self, pseudonym: &str) -> Self {
        self.via = Some(pseudonym.to_owned());
        self
    }

    /// The rewrite hook (Go 1.20's `Rewrite`): runs for each request after the upstream URL
    /// and forwarding fields are set, and may change the outbound request in any way. See
    /// [`ProxyRequest`].
    pub fn rewrite<F>(mut self, f: F) -> Self
    where
        F: Fn(&mut ProxyRequest<'_>) + Send + Sync + 'static,
    {
        self.rewrite = Some(Arc::new(f));
        self
    }

    /// The response hook (Go's `ModifyResponse`): runs on each upstream response, after its
    /// hop-by-hop fields are removed, before it goes to the client. It sees the version the
    /// upstream answered with; the body is the upstream's stream, and replacing it is allowed.
    pub fn modify_response<F>(mut self, f: F) -> Self
    where
        F: Fn(&mut HttpResponse) + Send + Sync + 'static,
    {
        self.modify_response = Some(Arc::new(f));
        self
    }

    /// The error hook (Go's `ErrorHandler`): makes the response for a failed exchange.
    /// Default: [`default_error_response`] (`502`/`504`/`400` by [`status_for`], logged).
    pub fn error_handler<F>(mut self, f: F) -> Self
    where
        F: Fn(&Error) -> HttpResponse + Send + Sync + 'static,
    {
        self.error_handler = Some(Arc::new(f));
        self
    }

    /// Lets a WebSocket go to the upstream as a stream of its HTTP/2 connection (RFC 8441
    /// extended CONNECT) where that connection allows it, instead of on an HTTP/1.1
    /// connection of its own. Default: off, as nginx: a socket's flow is its application's,
    /// and on a shared connection a socket whose upstream stops reading holds the
    /// connection's window; with our server's windows (1 MiB per stream, 2 MiB per
    /// connection) two such sockets stop every other client's upload on the connection.
    /// Turn it on for an upstream that speaks only HTTP/2, or whose connection window is
    /// far above its stream window times the sockets it carries (e.g. a nethttp server with
    /// `http2_initial_window_sizes(1 << 20, 1 << 30)`).
    pub fn websockets_over_http2(mut self, on: bool) -> Self {
        self.websockets_over_http2 = on;
        self
    }

    /// Builds the proxy. Fails if the upstream URL is not an absolute `http`/`https` URL, the
    /// `Via` pseudonym is not a token, or the default transport cannot be built.
    pub fn build(self) -> Result<ReverseProxy, Error> {
        let mut parsed = Vec::with_capacity(self.upstreams.len());
        for (url, weight, backup) in &self.upstreams {
            parsed.push(Upstream {
                uri: parse_upstream(url)?,
                url: url.clone(),
                weight: *weight,
                backup: *backup,
            });
        }
        if !parsed.is_empty() && parsed.iter().all(|u| u.backup) {
            return Err(Error::new(
                Kind::Usage,
                "a proxy's upstreams cannot all be backups",
            ));
        }
        let several = parsed.len() > 1;
        let tries = self.tries.unwrap_or(parsed.len()).max(1);
        let (upstream, group) = if several {
            let group = Group::new(parsed, self.balance, self.max_fails, self.fail_timeout);
            let group = Arc::new(group);
            crate::debug::registry::add_group(&group);
            (None, Some(group))
        } else {
            (parsed.pop().map(|u| u.uri), None)
        };
        let via = match &self.via {
            Some(p) if crate::token::is_token(p) => {
                Some(HeaderValue::from_str(p).map_err(|_| bad_via())?)
            }
            Some(_) => return Err(bad_via()),
            None => None,
        };
        let transport = match self.transport {
            Some(t) => t,
            None if several => {
                ReverseProxy::group_transport(ReverseProxy::default_transport()).build()?
            }
            None => ReverseProxy::default_transport().build()?,
        };
        Ok(ReverseProxy {
            inner: Arc::new(Inner {
                transport,
                upstream,
                group,
                tries,
                next_timeout: self.next_timeout,
                next_statuses: self.next_statuses,
                forwarded: self.forwarded,
                via,
                rewrite: self.rewrite,
                modify_response: self.modify_response,
                error_handler: self.error_handler,
                websockets_over_http2: self.websockets_over_http2,
            }),
        })
    }
}

fn bad_via() -> Error {
    Error::new(Kind::Usage, "the Via pseudonym must be a token")
}

/// An upstream URL: absolute, `http` or `https`, with a host and no userinfo.
fn parse_upstream(s: &str) -> Result<Uri, Error> {
    let uri: Uri = s
        .parse()
        .map_err(|e| Error::with_cause(Kind::Usage, "invalid upstream URL", e))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => {
            return Err(Error::new(
                Kind::Usage,
                "the upstream URL must start with http:// or https://",
            ))
        }
    }
    match uri.authority() {
        Some(a) if !a.host().is_empty() && !a.as_str().contains('@') => Ok(uri),
        _ => Err(Error::new(
            Kind::Usage,
            "the upstream URL needs a host and no userinfo",
        )),
    }
}
