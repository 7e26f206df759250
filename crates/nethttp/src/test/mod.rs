//! Go's `net/http/httptest` for nethttp (feature `test-util`): [`TestServer`], a real server
//! on a loopback port (plain or HTTPS with a certificate made on the spot) with a [`Client`]
//! that trusts it; [`call`], which runs a handler on a request without any socket (Go's
//! `ResponseRecorder`); and [`duplex`], an in-memory connection served through the real
//! HTTP/1.1 and HTTP/2 codecs, for tests that want the bytes on the wire without a port.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), nethttp::Error> {
//! use nethttp::test::TestServer;
//! use nethttp::{text_response, HttpRequest};
//! use nethttp::http::StatusCode;
//!
//! let server = TestServer::start(|_req: HttpRequest| async {
//!     text_response(StatusCode::OK, "hello")
//! })
//! .await;
//! let res = server.client().get(&server.url("/")).send().await?;
//! assert_eq!(res.status(), StatusCode::OK);
//! assert_eq!(res.into_body().to_bytes(1024).await?, "hello");
//! server.close().await;
//! # Ok(()) }
//! ```
//!
//! [`Client`]: crate::Client

mod call;
mod cert;
mod duplex;
mod server;

pub use call::{call, call_text};
pub use cert::TestCertificate;
pub use duplex::{duplex, duplex_with};
pub use server::TestServer;
