//! `Client`, the high-level entry: builds requests, applies default headers and the total
//! timeout, and follows redirects by the policy; each hop is one [`Transport`] round trip.

use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, Uri};
use tokio::time::Instant;

use super::cookie_jar::{CookieJar, JarHandle};
use super::redirect::{self, Action, Attempt, Policy};
use super::request::RequestBuilder;
use super::transport::{default_user_agent, Transport, TransportBuilder};
use super::PoolStats;
use crate::body::Body;
use crate::error::{Error, Kind};

/// An HTTP client; cheap to clone (clones share the connection pool).
///
/// Follows up to 10 redirects, sends `User-Agent: nethttp/VERSION`, asks for gzip and
/// inflates it, and takes its proxy from the environment, as Go's `http.Client` with the
/// default transport does; every wait is bounded by the [`Transport`]'s timeouts, and
/// [`ClientBuilder::timeout`] bounds a whole request, body included.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), nethttp::Error> {
/// # let server = nethttp::test::TestServer::start(|req: nethttp::HttpRequest| async move {
/// #     let body = req.into_body().to_bytes(1024).await.unwrap();
/// #     nethttp::text_response(nethttp::http::StatusCode::CREATED, body)
/// # }).await;
/// # let url = server.url("/items");
/// use nethttp::http::StatusCode;
/// use nethttp::Client;
///
/// let client = Client::new();
/// let res = client
///     .post(&url)
///     .header("content-type", "application/json")
///     .body(r#"{"name":"gopher"}"#)
///     .send()
///     .await?;
/// assert_eq!(res.status(), StatusCode::CREATED);
/// assert_eq!(res.into_body().to_bytes(1 << 20).await?, r#"{"name":"gopher"}"#);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    transport: Transport,
    cfg: Arc<Config>,
}

#[derive(Debug)]
struct Config {
    timeout: Option<Duration>,
    redirect: Policy,
    default_headers: HeaderMap,
    jar: Option<JarHandle>,
}

/// Configures a [`Client`].
#[derive(Debug)]
pub struct ClientBuilder {
    transport: Option<Transport>,
    transport_builder: TransportBuilder,
    timeout: Option<Duration>,
    redirect: Policy,
    default_headers: HeaderMap,
    jar: Option<JarHandle>,
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

impl Client {
    /// A client with the default configuration: every phase has a finite timeout (connect
    /// 30 s, response head 60 s, 60 s of silence in a body), up to 10 redirects, no total
    /// timeout (set one per client or per request for downloads of bounded size), and the
    /// proxy the environment names (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`).
    pub fn new() -> Client {
        Client::builder()
            .build()
            .expect("the default configuration is valid")
    }

    /// Starts configuring a client.
    pub fn builder() -> ClientBuilder {
        let mut default_headers = HeaderMap::new();
        default_headers.insert(header::USER_AGENT, default_user_agent());
        ClientBuilder {
            transport: None,
            transport_builder: TransportBuilder::default(),
            timeout: None,
            redirect: Policy::default(),
            default_headers,
            jar: None,
        }
    }

    /// A GET request to `url`.
    pub fn get(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    /// A POST request to `url`.
    pub fn post(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::POST, url)
    }

    /// A PUT request to `url`.
    pub fn put(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::PUT, url)
    }

    /// A DELETE request to `url`.
    pub fn delete(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::DELETE, url)
    }

    /// A HEAD request to `url`.
    pub fn head(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::HEAD, url)
    }

    /// A request with any method.
    pub fn request(&self, method: Method, url: impl AsRef<str>) -> RequestBuilder {
        RequestBuilder::new(self.clone(), method, url.as_ref())
    }

    /// The transport underneath, for its pool statistics or a bare round trip.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Counters and per-host connection counts of the pool.
    pub fn pool_stats(&self) -> PoolStats {
        self.transport.pool_stats()
    }

    /// Sends a request, following redirects, within the client's total timeout.
    pub async fn execute(&self, req: Request<Body>) -> Result<Response<Body>, Error> {
        self.execute_with_timeout(req, self.cfg.timeout).await
    }

    pub(crate) async fn execute_with_timeout(
        &self,
        req: Request<Body>,
        timeout: Option<Duration>,
    ) -> Result<Response<Body>, Error> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let (mut parts, mut body) = req.into_parts();
        let defaults = Some(&self.cfg.default_headers).filter(|h| !h.is_empty());
        let mut chain: Vec<Uri> = Vec::new();
        let mut jar_cookie = false;
        loop {
            let follow = !self.cfg.redirect.is_never();
            let spare = if follow { body.try_clone() } else { None };
            if let Some(jar) = &self.cfg.jar {
                jar.before_send(&mut parts.headers, &parts.uri, &mut jar_cookie);
            }
            let res = self
                .transport
                .send(&parts, body, deadline, defaults)
                .await?;
            if let Some(jar) = &self.cfg.jar {
                jar.after_response(&parts.uri, res.headers());
            }
            if !follow || !res.status().is_redirection() {
                return Ok(res);
            }
            let Some((method, keeps_body)) = redirect::next_method(res.status(), &parts.method)
            else {
                return Ok(res);
            };
            let Some(location) = res.headers().get(header::LOCATION) else {
                return Ok(res);
            };
            let Some(next) = location
                .to_str()
                .ok()
                .and_then(|l| redirect::resolve(&parts.uri, l))
            else {
                return Err(Error::new(
                    Kind::Redirect,
                    "redirect Location is not a usable URL",
                ));
            };
            chain.push(parts.uri.clone());
            let attempt = Attempt {
                status: res.status(),
                next: &next,
                previous: &chain,
            };
            let status = res.status();
            match self.cfg.redirect.decide(&attempt) {
                Action::Follow => {}
                Action::Stop => return Ok(res),
                Action::Error => {
                    return Err(Error::new(
                        Kind::Redirect,
                        "stopped after too many redirects",
                    ))
                }
            }
            body = if keeps_body {
                // A body that could be read only once cannot follow a 307/308: the caller
                // gets the redirect itself.
                match spare {
                    Some(b) => b,
                    None => return Ok(res),
                }
            } else {
                Body::empty()
            };
            // The redirect's own body is not wanted; dropping it drains it in the background
            // so its connection is reused.
            drop(res);
            if let Some(hook) = parts.extensions.get::<super::TraceHook>() {
                hook.0.redirect(status, &next);
            }
            redirect::next_headers(&mut parts.headers, &parts.uri, &next, keeps_body);
            parts.method = method;
            parts.uri = next;
        }
    }
}

impl ClientBuilder {
    /// A total timeout for each request: connecting, redirects, and reading the body.
    /// Default: none (each phase still has its own finite timeout).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// The redirect policy. Default: follow up to 10.
    pub fn redirect(mut self, policy: Policy) -> Self {
        self.redirect = policy;
        self
    }

    /// A header sent on every request that does not set it. `User-Agent: nethttp/VERSION` is
    /// there by default.
    pub fn default_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.default_headers.insert(name, value);
        self
    }

    /// Removes every default header, `User-Agent` included.
    pub fn no_default_headers(mut self) -> Self {
        self.default_headers.clear();
        self
    }

    /// Keeps cookies across requests and redirects in a fresh [`Jar`](super::Jar) (RFC 6265),
    /// as a browser does. Default: off, as in Go and reqwest: no cookie is stored or sent but
    /// those the caller sets. `false` removes any jar.
    #[cfg(feature = "cookies")]
    pub fn cookie_store(mut self, enable: bool) -> Self {
        self.jar = enable.then(|| JarHandle(Arc::new(super::Jar::new())));
        self
    }

    /// Keeps cookies in `jar` (shared with whoever else holds it): before each request and
    /// each redirect it follows, the client sends the jar's `Cookie` field unless the request
    /// has its own, and it hands every response's `Set-Cookie` fields to the jar, a
    /// redirect's included. Go's `Client.Jar`.
    pub fn cookie_provider<J: CookieJar + 'static>(mut self, jar: Arc<J>) -> Self {
        self.jar = Some(JarHandle(jar));
        self
    }

    /// Configures the transport (pool, dialer, timeouts) in place.
    pub fn transport(mut self, f: impl FnOnce(TransportBuilder) -> TransportBuilder) -> Self {
        self.transport_builder = f(self.transport_builder);
        self
    }

    /// Uses an existing transport (and its pool).
    pub fn with_transport(mut self, transport: Transport) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<Client, Error> {
        let transport = match self.transport {
            Some(t) => t,
            None => self.transport_builder.build()?,
        };
        Ok(Client {
            transport,
            cfg: Arc::new(Config {
                timeout: self.timeout,
                redirect: self.redirect,
                default_headers: self.default_headers,
                jar: self.jar,
            }),
        })
    }
}
