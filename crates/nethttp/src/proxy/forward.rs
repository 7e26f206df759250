//! The forward proxy: a [`Handler`] that clients configure as their proxy (`curl -x`,
//! `HTTP_PROXY`). `CONNECT host:port` opens a TCP tunnel to an allowed port (RFC 9110
//! §9.3.6); a request with an absolute URI is sent on through the pooled transport with the
//! reverse proxy's rules (hop-by-hop fields removed both ways, streaming, 502/504). Optional
//! Basic proxy authentication (RFC 9110 §11.7.1, RFC 7617) answers `407` to a client without
//! the credentials.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderValue};
use http::{Method, Response, StatusCode, Uri};

use super::{ForwardedHeaders, ReverseProxy};
use crate::body::Body;
use crate::error::Error;
use crate::handler::{text_response, Handler, HttpRequest, HttpResponse};
use crate::net::Dialer;

/// Which ports `CONNECT` may open tunnels to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectPorts {
    /// Only these (the default is `[443]`: HTTPS, so the proxy does not become a way to reach
    /// mail servers, databases or SSH).
    Only(Vec<u16>),
    /// Any port.
    All,
}

impl ConnectPorts {
    fn allows(&self, port: u16) -> bool {
        match self {
            ConnectPorts::Only(ports) => ports.contains(&port),
            ConnectPorts::All => true,
        }
    }
}

impl Default for ConnectPorts {
    fn default() -> Self {
        ConnectPorts::Only(vec![443])
    }
}

/// A forward proxy, as tinyproxy or Squid serve: clients name it as their proxy.
///
/// ```no_run
/// use nethttp::proxy::{ConnectPorts, ForwardProxy};
/// use nethttp::Server;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let proxy = ForwardProxy::builder()
///     .connect_ports(ConnectPorts::Only(vec![443, 8443]))
///     .basic_auth("alice", "s3cret")
///     .build()?;
/// let server = Server::new();
/// let listener = server.bind("127.0.0.1:3128".parse()?)?;
/// server.serve(listener, proxy).wait().await?;  // curl -x http://alice:s3cret@127.0.0.1:3128 ...
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ForwardProxy {
    inner: Arc<Inner>,
}

struct Inner {
    http: ReverseProxy,
    ports: ConnectPorts,
    /// The whole expected `Proxy-Authorization` value (`Basic ...`).
    auth: Option<HeaderValue>,
    dialer: Dialer,
    tunnel_idle: Duration,
}

impl std::fmt::Debug for ForwardProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForwardProxy")
            .field("ports", &self.inner.ports)
            .field("auth", &self.inner.auth.is_some())
            .finish_non_exhaustive()
    }
}

/// Configures a [`ForwardProxy`].
#[derive(Debug, Default)]
pub struct ForwardProxyBuilder {
    ports: ConnectPorts,
    auth: Option<(String, String)>,
    connect_timeout: Option<Duration>,
    tunnel_idle: Option<Duration>,
    transport: Option<crate::client::Transport>,
}

impl ForwardProxy {
    /// Starts configuring a forward proxy.
    pub fn builder() -> ForwardProxyBuilder {
        ForwardProxyBuilder::default()
    }

    /// A forward proxy with the defaults: `CONNECT` to port 443 only, no authentication.
    pub fn new() -> Result<ForwardProxy, Error> {
        ForwardProxy::builder().build()
    }

    async fn handle(&self, mut req: HttpRequest) -> HttpResponse {
        let inner = &*self.inner;
        if let Some(expected) = &inner.auth {
            let given = req.headers().get(header::PROXY_AUTHORIZATION);
            if given != Some(expected) {
                let mut resp = text_response(
                    StatusCode::PROXY_AUTHENTICATION_REQUIRED,
                    "proxy authentication required\n",
                );
                resp.headers_mut().insert(
                    header::PROXY_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"nethttp\""),
                );
                return resp;
            }
        }
        if req.method() == Method::CONNECT {
            return self.tunnel(&mut req).await;
        }
        if req.uri().scheme().is_none() || req.uri().authority().is_none() {
            return text_response(
                StatusCode::BAD_REQUEST,
                "this is a proxy: requests name their target with an absolute URI\n",
            );
        }
        inner.http.call(req).await
    }

    /// `CONNECT host:port`: dial, answer 200, then join the client's connection to the
    /// target's until either ends.
    async fn tunnel(&self, req: &mut HttpRequest) -> HttpResponse {
        let inner = &*self.inner;
        // RFC 9112 §3.2.3: the target is `host:port`, the port required.
        let Some((host, port)) = req
            .uri()
            .authority()
            .and_then(|a| Some((a.host().trim_matches(['[', ']']).to_owned(), a.port_u16()?)))
        else {
            return text_response(
                StatusCode::BAD_REQUEST,
                "CONNECT needs a host:port target\n",
            );
        };
        if !inner.ports.allows(port) {
            return text_response(
                StatusCode::FORBIDDEN,
                format!("CONNECT to port {port} is not allowed\n"),
            );
        }
        let mut target = match inner.dialer.dial(&host, port).await {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                return text_response(StatusCode::GATEWAY_TIMEOUT, "connecting timed out\n")
            }
            Err(e) => {
                tracing::debug!(error = %e, %host, port, "CONNECT dial failed");
                return text_response(StatusCode::BAD_GATEWAY, "cannot reach the target\n");
            }
        };
        let on_upgrade = crate::upgrade::on(req);
        let idle = inner.tunnel_idle;
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(mut client) => super::splice::splice(&mut client, &mut target, idle).await,
                Err(e) => tracing::debug!(error = %e, "tunnel not opened"),
            }
        });
        Response::new(Body::empty())
    }
}

impl Handler for ForwardProxy {
    fn call(&self, req: HttpRequest) -> impl Future<Output = HttpResponse> + Send + '_ {
        self.handle(req)
    }
}

impl ForwardProxyBuilder {
    /// The ports `CONNECT` may reach. Default: `ConnectPorts::Only(vec![443])`.
    pub fn connect_ports(mut self, ports: ConnectPorts) -> Self {
        self.ports = ports;
        self
    }

    /// Requires Basic proxy credentials (`Proxy-Authorization`); others get `407` with
    /// `Proxy-Authenticate: Basic realm="nethttp"`. Default: none required.
    pub fn basic_auth(mut self, user: &str, password: &str) -> Self {
        self.auth = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// Time allowed to connect a `CONNECT` tunnel's target. Default: 10 s.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = Some(d);
        self
    }

    /// How long a CONNECT tunnel may carry no byte either way before it is closed. Default:
    /// 5 minutes.
    pub fn tunnel_idle_timeout(mut self, d: Duration) -> Self {
        self.tunnel_idle = Some(d);
        self
    }

    /// The transport absolute-URI requests go through. Default:
    /// [`ReverseProxy::default_transport`]'s.
    pub fn transport(mut self, transport: crate::client::Transport) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Builds the proxy.
    pub fn build(self) -> Result<ForwardProxy, Error> {
        let transport = match self.transport {
            Some(t) => t,
            None => ReverseProxy::default_transport().build()?,
        };
        let http = ReverseProxy::builder()
            .transport(transport)
            .forwarded(ForwardedHeaders::None)
            .via("nethttp")
            // The target is the request's own absolute URI; `Host` follows it.
            .rewrite(|r| {
                let target = origin_of(&r.inbound().uri);
                if let Some(target) = target {
                    r.set_url(&target);
                }
            })
            .build()?;
        let auth = self.auth.map(|(user, password)| {
            crate::client::basic_auth(user.as_bytes(), password.as_bytes())
        });
        let dialer = Dialer {
            connect_timeout: self.connect_timeout.unwrap_or(Duration::from_secs(10)),
            ..Dialer::default()
        };
        Ok(ForwardProxy {
            inner: Arc::new(Inner {
                http,
                ports: self.ports,
                auth,
                dialer,
                tunnel_idle: self.tunnel_idle.unwrap_or(Duration::from_secs(300)),
            }),
        })
    }
}

/// `scheme://authority/` of an absolute URI.
fn origin_of(uri: &Uri) -> Option<Uri> {
    Uri::builder()
        .scheme(uri.scheme()?.clone())
        .authority(uri.authority()?.clone())
        .path_and_query("/")
        .build()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_ports_default_to_https_only() {
        let p = ConnectPorts::default();
        assert!(p.allows(443));
        assert!(!p.allows(22));
        assert!(ConnectPorts::All.allows(22));
    }
}
