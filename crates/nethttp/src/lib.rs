//! nethttp: Go's net/http rebuilt in Rust — the socket management underneath HTTP, with safe
//! defaults: every timeout finite, every buffer and queue bounded, graceful shutdown, and a
//! client pool you can see into.
//!
//! # A server
//!
//! A [`Server`] binds a [`net::Listener`] (TCP, with an explicit backlog and an accept loop
//! that backs off on temporary errors) or a [`net::UnixListener`], runs one task per
//! connection, speaks HTTP/1.1 (keep-alive, pipelining) and HTTP/2 (h2c by prior knowledge,
//! or by ALPN under [`ServerTls`]), and calls your [`Handler`]: any
//! `Fn(HttpRequest) -> impl Future<Output = R>` where `R` is an [`IntoResponse`] (an
//! `HttpResponse`, or a `Result` whose error answers for itself, so `?` works), often a
//! [`ServeMux`]. [`request::RequestExt`] reads cookies, queries, forms, JSON and multipart
//! within limits; [`response`] has `error`, `redirect`, `not_found` and `json`.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use nethttp::http::StatusCode;
//! use nethttp::{text_response, HttpRequest, PathValue, ServeMux, Server};
//!
//! let mux = ServeMux::new()
//!     .route("GET /hello/{name}", |req: HttpRequest| async move {
//!         let name = req.path_value("name").unwrap_or("world").to_owned();
//!         text_response(StatusCode::OK, format!("hello, {name}\n"))
//!     });
//! let server = Server::new().read_header_timeout(Duration::from_secs(5));
//! let listener = server.bind("127.0.0.1:0".parse()?)?;
//! let handle = server.serve(listener, mux);
//! # let url = format!("http://{}/hello/gopher", handle.local_addr());
//! # let text = nethttp::Client::new().get(&url).send().await?.into_body().to_bytes(1024).await?;
//! # assert_eq!(text, "hello, gopher\n");
//! // ... later: stop accepting, let requests in flight finish for up to 10 s.
//! let report = handle.shutdown(Duration::from_secs(10)).await;
//! assert_eq!(report.forced, 0);
//! # Ok(()) }
//! ```
//!
//! [`Server::serve_connection`] serves one connection of any IO (an in-memory pipe, a TLS
//! stream you made, a socket from your own accept loop) with the same timeouts and limits.
//!
//! # A client
//!
//! A [`Client`] (redirects, a total timeout, default headers) sends requests through a
//! [`Transport`]: a pool of idle connections per (scheme, host, port, proxy), limits per
//! host, dialing with a timeout and retries (names through a [`net::Resolve`], or any stream
//! a [`client::Connect`] opens: a Unix socket, a transport of your own), safe automatic retry
//! on stale connections, and HTTP/2 connections shared by concurrent requests. A response's body streams from the
//! connection, and the connection goes back to the pool when the body ends, or is drained
//! (within limits) when the body is dropped unread.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), nethttp::Error> {
//! # let server = nethttp::test::TestServer::start(|_req: nethttp::HttpRequest| async {
//! #     nethttp::text_response(nethttp::http::StatusCode::OK, "hi")
//! # }).await;
//! # let url = server.url("/");
//! use std::time::Duration;
//! use nethttp::Client;
//!
//! let client = Client::builder()
//!     .timeout(Duration::from_secs(30))
//!     .transport(|t| t.max_conns_per_host(8))
//!     .build()?;
//! let res = client.get(&url).header("accept", "text/plain").send().await?;
//! let status = res.status();
//! let body = res.into_body().to_bytes(1 << 20).await?;
//! assert!(status.is_success());
//! assert_eq!(body, "hi");
//! assert_eq!(client.pool_stats().idle(), 1); // the connection went back to the pool
//! # Ok(()) }
//! ```
//!
//! # tower and axum
//!
//! With the `tower` feature (on by default), [`tower`] bridges both ways: any tower `Service`
//! (an axum `Router` included) is a [`Handler`] through [`tower::ServiceHandler`], any
//! `Handler` is a `Service` through [`tower::HandlerService`], and `Client` is a `Service`,
//! so tower and tower-http layers wrap either side.
//!
//! ```
//! # #[cfg(feature = "tower")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use nethttp::tower::ServiceHandler;
//! use nethttp::Server;
//!
//! let app = axum::Router::new().route("/", axum::routing::get(|| async { "from axum" }));
//! let server = Server::new();
//! let handle = server.serve(server.bind("127.0.0.1:0".parse()?)?, ServiceHandler::new(app));
//! # let url = format!("http://{}/", handle.local_addr());
//! # let text = nethttp::Client::new().get(&url).send().await?.into_body().to_bytes(1024).await?;
//! # assert_eq!(text, "from axum");
//! # handle.shutdown(std::time::Duration::from_secs(1)).await;
//! # Ok(()) }
//! # #[cfg(not(feature = "tower"))]
//! # fn main() {}
//! ```
//!
//! # Testing
//!
//! With the `test-util` feature, the module `test` is Go's `httptest`: a `test::TestServer`
//! on a loopback port (HTTPS with a fresh certificate if you like) and a client that trusts
//! it, `test::call` to run a handler on a request without a socket, and `test::duplex` for
//! an in-memory connection through the real codecs.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), nethttp::Error> {
//! use nethttp::http::StatusCode;
//! use nethttp::test::TestServer;
//! use nethttp::{text_response, HttpRequest};
//!
//! let server = TestServer::start_tls(|_req: HttpRequest| async {
//!     text_response(StatusCode::OK, "secure")
//! })
//! .await;
//! let res = server.client().get(&server.url("/")).send().await?;
//! assert_eq!(res.version(), nethttp::http::Version::HTTP_2);
//! assert_eq!(res.into_body().to_bytes(64).await?, "secure");
//! server.close().await;
//! # Ok(()) }
//! ```
//!
//! # Layers
//!
//! `net` (sockets, no HTTP) → `conn` (connection states and info) → `proto` (the HTTP/1.1
//! and HTTP/2 codecs and engines, over any IO) → `server` and `client` → `mux`, `tower`,
//! `test`. `tls` wraps rustls for both sides. `SECURITY.md` lists every bound and the test
//! that proves it.

pub mod access_log;
mod base64;
mod blocks;
pub mod body;
pub mod client;
pub(crate) mod conn;
#[cfg(feature = "cookie")]
pub mod cookie;
pub mod debug;
pub mod error;
pub mod fs;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod handler;
mod html;
pub mod interim;
pub mod mux;
pub mod net;
mod percent;
pub(crate) mod proto;
pub mod proxy;
pub mod request;
pub mod response;
pub mod response_writer;
pub mod server;
#[cfg(feature = "test-util")]
pub mod test;
pub mod tls;
mod token;
#[cfg(feature = "tower")]
pub mod tower;
pub mod upgrade;
#[cfg(feature = "websocket")]
pub mod websocket;
pub mod wrap;

pub use body::{Body, BodySender};
pub use client::{Client, Transport};
pub use error::{CertificateProblem, Error, Kind as ErrorKind, Result};
pub use handler::{
    text_response, BoxFuture, DynHandler, Handler, HandlerFuture, HttpRequest, HttpResponse,
};
pub use mux::{PathValue, ServeMux};
#[cfg(feature = "json")]
pub use response::json;
pub use response::{error, not_found, redirect, IntoResponse};
pub use server::{
    ConnInfo, ConnState, Connection, MinDataRate, Peer, PeerCred, ProxyProtocol, Rejection, Server,
    ServerHandle, ShutdownReport,
};
pub use tls::{ClientTls, ServerTls};

pub use http;

/// The README's example, compiled as a doc-test so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
mod readme {}
