//! `Client`, the high-level entry: builds requests, applies default headers and the total
//! timeout, and follows redirects by the policy; each hop is one [`Transport`] round trip.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, Uri};
use tokio::time::Instant;

use super::auth;
use super::cookie_jar::{CookieJar, JarHandle};
use super::redirect::{self, Action, Attempt, Policy, RedirectChain};
use super::request::RequestBuilder;
use super::retry;
use super::status_retry::StatusRetry;
use super::transport::{default_user_agent, Transport, TransportBuilder};
use super::PoolStats;
use crate::body::Body;
use crate::error::{Error, Kind};

/// An HTTP client; cheap to clone (clones share the connection pool).
///
/// Follows up to 10 redirects, sends `User-Agent: nethttp/VERSION`, asks for gzip (and br,
/// zstd, deflate with their features) and decodes the answer, and takes its proxy from the
/// environment, as Go's `http.Client` with the default transport does; every wait is bounded by the [`Transport`]'s timeouts, and
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
    status_retry: Option<StatusRetry>,
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
    status_retry: Option<StatusRetry>,
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
            status_retry: None,
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

    /// The redirect loop. Every error names the request that failed (the hop that failed,
    /// its method and URL); a response that came through redirects carries the URLs it went
    /// through ([`RedirectChain`]). Neither costs anything on a response without redirects:
    /// the error's details are attached only on the error path, and the chain is inserted
    /// only when a redirect was followed (four allocations then: the `Vec` of URLs, the
    /// extension map, its table and its entry; `tests/client_alloc.rs` holds the plain
    /// path to the bare transport's count).
    pub(crate) async fn execute_with_timeout(
        &self,
        req: Request<Body>,
        timeout: Option<Duration>,
    ) -> Result<Response<Body>, Error> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let (mut parts, mut body) = req.into_parts();
        let defaults = Some(&self.cfg.default_headers).filter(|h| !h.is_empty());
        // Every URL requested before the current one; allocated at the first redirect.
        let mut chain: Vec<Uri> = Vec::new();
        auth::move_userinfo(&mut parts.uri, &mut parts.headers);
        // Retries of `429`/`503` made for this request so far.
        let mut status_retries = 0;
        // Whether the `Cookie` field on the request is the jar's (replaced on the next hop).
        let mut jar_cookie = false;
        loop {
            let follow = !self.cfg.redirect.is_never();
            let retry = self.cfg.status_retry.as_ref();
            let spare = if follow || retry.is_some() {
                body.try_clone()
            } else {
                None
            };
            if let Some(jar) = &self.cfg.jar {
                jar.before_send(&mut parts.headers, &parts.uri, &mut jar_cookie);
            }
            let res = match self
                .transport
                .send(&parts, body, deadline, defaults, None, None)
                .await
            {
                Ok(res) => res,
                Err(e) => return Err(e.with_request(&parts.method, &parts.uri)),
            };
            if let Some(jar) = &self.cfg.jar {
                jar.after_response(&parts.uri, res.headers());
            }
            if let Some(policy) = retry {
                let wait = policy.wait(
                    res.status(),
                    res.headers(),
                    status_retries,
                    SystemTime::now(),
                );
                let again = wait.filter(|w| {
                    spare.is_some()
                        && retry::method_allows_resend(&parts.method, &parts.headers)
                        && deadline.is_none_or(|d| Instant::now() + *w < d)
                        && self.transport.withdraw_retry()
                });
                if let Some(wait) = again {
                    // The refusal's body is not wanted: dropped, it drains in the background
                    // so its connection is reused.
                    drop(res);
                    tokio::time::sleep(wait).await;
                    status_retries += 1;
                    body = spare.unwrap_or_default();
                    continue;
                }
            }
            if !follow || !res.status().is_redirection() {
                return Ok(with_chain(res, chain, parts.uri));
            }
            let Some((method, keeps_body)) = redirect::next_method(res.status(), &parts.method)
            else {
                return Ok(with_chain(res, chain, parts.uri));
            };
            let Some(location) = res.headers().get(header::LOCATION) else {
                return Ok(with_chain(res, chain, parts.uri));
            };
            let Some(next) = location
                .to_str()
                .ok()
                .and_then(|l| redirect::resolve(&parts.uri, l))
            else {
                return Err(
                    Error::new(Kind::Redirect, "redirect Location is not a usable URL")
                        .with_request(&parts.method, &parts.uri),
                );
            };
            let status = res.status();
            // The next request as it will go, so the policy sees it and may change it
            // (RFC 9110 §15.4 for the method and body; credentials stay with their host).
            let from = std::mem::replace(&mut parts.uri, next);
            redirect::next_headers(&mut parts.headers, &from, &parts.uri, keeps_body);
            let from_method = std::mem::replace(&mut parts.method, method);
            chain.push(from);
            let mut attempt = Attempt {
                status,
                next: &mut parts.uri,
                method: &mut parts.method,
                headers: &mut parts.headers,
                previous: &chain,
            };
            match self.cfg.redirect.decide(&mut attempt) {
                Action::Follow => {}
                Action::Stop => return Ok(stopped_at(res, chain)),
                Action::Error => {
                    let last = chain.last().unwrap_or(&parts.uri);
                    return Err(Error::new(Kind::Redirect, self.cfg.redirect.refusal())
                        .with_request(&from_method, last));
                }
            }
            body = if keeps_body {
                // A body that could be read only once cannot follow a 307/308: the caller
                // gets the redirect itself.
                match spare {
                    Some(b) => b,
                    None => return Ok(stopped_at(res, chain)),
                }
            } else {
                Body::empty()
            };
            // The redirect's own body is not wanted; dropping it drains it in the background
            // so its connection is reused.
            drop(res);
            // A Location (or a policy) may name `user:password@` too.
            auth::move_userinfo(&mut parts.uri, &mut parts.headers);
            if let Some(hook) = parts.extensions.get::<super::TraceHook>() {
                hook.0.redirect(status, &parts.uri);
            }
        }
    }
}

/// `res`, answered by `url` after the redirects through `chain`: the chain goes into its
/// extensions if there was one.
fn with_chain(mut res: Response<Body>, mut chain: Vec<Uri>, url: Uri) -> Response<Body> {
    if !chain.is_empty() {
        chain.push(url);
        res.extensions_mut().insert(RedirectChain(chain));
    }
    res
}

/// A redirect response handed to the caller as it is: it answered the last URL of `chain`.
fn stopped_at(res: Response<Body>, mut chain: Vec<Uri>) -> Response<Body> {
    match chain.pop() {
        Some(last) => with_chain(res, chain, last),
        None => res,
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

    /// Sends a request again after a `429` or `503`, honouring `Retry-After`, as
    /// [`StatusRetry`] describes (only what is safe to resend, under the retry budget,
    /// within the total timeout). Default: off; the response is returned as it came.
    pub fn retry_status(mut self, policy: StatusRetry) -> Self {
        self.status_retry = Some(policy);
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
                status_retry: self.status_retry,
                jar: self.jar,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ResponseExt;
    use crate::{handler::HttpRequest, text_response, Server};
    use http::StatusCode;

    /// A response without redirects carries nothing extra (no extension map allocated); one
    /// after redirects carries the chain.
    #[tokio::test]
    async fn the_redirect_chain_is_there_only_after_redirects() {
        let server = Server::new();
        let listener = server.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let handle = server.serve(listener, |req: HttpRequest| async move {
            match req.uri().path() {
                "/a" => crate::redirect("/b", StatusCode::FOUND),
                "/b" => crate::redirect("/c", StatusCode::MOVED_PERMANENTLY),
                _ => text_response(StatusCode::OK, "c"),
            }
        });
        let base = format!("http://{}", handle.local_addr());
        let client = Client::new();

        let res = client.get(format!("{base}/c")).send().await.unwrap();
        assert!(res.extensions().is_empty(), "{:?}", res.extensions());
        assert_eq!((res.final_url(), res.redirects()), (None, &[][..]));

        let res = client.get(format!("{base}/a")).send().await.unwrap();
        let urls: Vec<String> = res.redirects().iter().map(Uri::to_string).collect();
        assert_eq!(urls, [format!("{base}/a"), format!("{base}/b")]);
        assert_eq!(res.final_url().unwrap().to_string(), format!("{base}/c"));

        let stopping = Client::builder()
            .redirect(Policy::custom(|a| {
                if a.previous.len() < 2 {
                    Action::Follow
                } else {
                    Action::Stop
                }
            }))
            .build()
            .unwrap();
        let res = stopping.get(format!("{base}/a")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(res.final_url().unwrap().to_string(), format!("{base}/b"));
        assert_eq!(res.redirects().len(), 1);
        handle.shutdown(Duration::from_secs(1)).await;
    }
}
