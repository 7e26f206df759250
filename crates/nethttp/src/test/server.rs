//! [`TestServer`]: a real nethttp server on `127.0.0.1:0` for a test, plain or HTTPS, with a
//! client configured to reach it, closed when the test is done (Go's `httptest.Server`).

use std::net::SocketAddr;
use std::time::Duration;

use super::TestCertificate;
use crate::client::{Client, ClientBuilder};
use crate::handler::Handler;
use crate::server::{Server, ServerHandle, ShutdownReport};

/// How long [`TestServer::close`] lets requests in flight finish before cutting them.
const CLOSE_GRACE: Duration = Duration::from_secs(30);

/// A server for one test, listening on a free loopback port. It serves with the server's
/// defaults (or the [`Server`] given to [`TestServer::start_with`]): timeouts, limits,
/// HTTP/1.1 and HTTP/2. Dropping it closes it at once; [`TestServer::close`] waits for the
/// requests in flight first, as Go's `Server.Close` does.
#[derive(Debug)]
pub struct TestServer {
    handle: ServerHandle,
    addr: SocketAddr,
    cert: Option<TestCertificate>,
    closed: bool,
}

impl TestServer {
    /// Serves `handler` over plain HTTP (HTTP/1.1, and HTTP/2 by prior knowledge).
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound (a broken test machine, not a test failure to
    /// handle).
    pub async fn start<H: Handler>(handler: H) -> TestServer {
        TestServer::start_with(Server::new(), handler).await
    }

    /// Serves `handler` with `server`'s configuration (timeouts, limits, TLS if it has one).
    pub async fn start_with<H: Handler>(server: Server, handler: H) -> TestServer {
        TestServer::launch(server, handler, None)
    }

    /// Serves `handler` over HTTPS with a certificate made for this server (`localhost`,
    /// `127.0.0.1`, `::1`): HTTP/2 and HTTP/1.1 by ALPN. [`TestServer::client`] trusts it;
    /// [`TestServer::certificate`] hands it to other clients (curl's `--cacert`).
    ///
    /// # Panics
    ///
    /// If the certificate cannot be made or no loopback port can be bound.
    pub async fn start_tls<H: Handler>(handler: H) -> TestServer {
        TestServer::start_tls_with(Server::new(), handler).await
    }

    /// [`TestServer::start_tls`] with `server`'s configuration (its own TLS, if any, is
    /// replaced by the test certificate's).
    pub async fn start_tls_with<H: Handler>(server: Server, handler: H) -> TestServer {
        let cert = TestCertificate::new().expect("making a test certificate");
        let tls = cert
            .server_tls()
            .expect("the test certificate makes a server config");
        TestServer::launch(server.tls(tls), handler, Some(cert))
    }

    fn launch<H: Handler>(server: Server, handler: H, cert: Option<TestCertificate>) -> TestServer {
        let listener = server
            .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("binding 127.0.0.1:0 for a test server");
        let handle = server.serve(listener, handler);
        let addr = handle.local_addr();
        TestServer {
            handle,
            addr,
            cert,
            closed: false,
        }
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The full URL of `path` on this server: `http://127.0.0.1:PORT/path`, or
    /// `https://localhost:PORT/path` over TLS (the name the certificate is for).
    pub fn url(&self, path: &str) -> String {
        let sep = if path.starts_with('/') { "" } else { "/" };
        match self.cert {
            Some(_) => format!("https://localhost:{}{sep}{path}", self.addr.port()),
            None => format!("http://{}{sep}{path}", self.addr),
        }
    }

    /// A client for this server: it trusts the server's certificate (and only it) and offers
    /// HTTP/2 over TLS; no proxy from the environment. Each call builds a new client with a
    /// pool of its own.
    pub fn client(&self) -> Client {
        self.client_builder()
            .build()
            .expect("a client with the test server's settings")
    }

    /// The builder behind [`TestServer::client`], for a client with more settings: the
    /// transport already trusts the certificate and ignores the environment's proxy, and
    /// further `transport(|t| ...)` calls add to that (`t.http2(false)`,
    /// `t.http2_prior_knowledge(true)`).
    pub fn client_builder(&self) -> ClientBuilder {
        let cert = self.cert.clone();
        Client::builder().transport(move |t| {
            let t = t.no_proxy();
            match &cert {
                Some(cert) => t.tls(cert.client_tls().expect("the test certificate is a root")),
                None => t,
            }
        })
    }

    /// The certificate an HTTPS test server presents.
    pub fn certificate(&self) -> Option<&TestCertificate> {
        self.cert.as_ref()
    }

    /// The running server's handle: counters, connection states.
    pub fn handle(&self) -> &ServerHandle {
        &self.handle
    }

    /// Stops accepting, lets the requests in flight finish (up to 30 s, then cuts them) and
    /// waits until every connection has closed, as Go's `Server.Close`.
    pub async fn close(mut self) -> ShutdownReport {
        self.closed = true;
        self.handle.shutdown(CLOSE_GRACE).await
    }

    /// Closes every connection now, mid-request or not.
    pub async fn close_now(mut self) {
        self.closed = true;
        self.handle.close().await;
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        // Not awaited: a drop cannot wait. The connections end at once; the task only
        // collects them.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let handle = self.handle.clone();
            rt.spawn(async move { handle.close().await });
        }
    }
}
