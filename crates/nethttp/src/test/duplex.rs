//! In-memory connections to a handler: one end of a pipe is served by a [`Server`] through the
//! real HTTP/1.1 and HTTP/2 codecs (with its timeouts and limits), the other is the test's, so
//! a test sees real framing on the wire without opening a port.

use std::sync::Arc;

use tokio::io::DuplexStream;

use crate::handler::Handler;
use crate::server::Server;

/// Bytes each direction of the pipe buffers before a write waits for the other end to read.
const PIPE_BUFFER: usize = 64 * 1024;

/// Serves `handler` on one end of a fresh in-memory pipe with a default [`Server`] and returns
/// the other end: write a request's bytes to it and read the response's, exactly as they
/// would cross a socket. HTTP/1.1, or HTTP/2 if the first bytes are its preface (prior
/// knowledge, as `h2c`). The connection is served by a spawned task that ends when the
/// returned end is dropped (or a timeout closes it); call inside a tokio runtime.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use nethttp::{text_response, HttpRequest};
/// use nethttp::http::StatusCode;
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// let mut pipe = nethttp::test::duplex(|_req: HttpRequest| async {
///     text_response(StatusCode::OK, "hi")
/// });
/// pipe.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await.unwrap();
/// let mut wire = String::new();
/// pipe.read_to_string(&mut wire).await.unwrap();
/// assert!(wire.starts_with("HTTP/1.1 200 OK\r\n"));
/// assert!(wire.ends_with("\r\n\r\nhi"));
/// # }
/// ```
pub fn duplex<H: Handler>(handler: H) -> DuplexStream {
    duplex_with(&Server::new(), handler)
}

/// [`duplex`] with the given server's configuration (timeouts, limits, HTTP/2 settings).
pub fn duplex_with<H: Handler>(server: &Server, handler: H) -> DuplexStream {
    let (client, served) = tokio::io::duplex(PIPE_BUFFER);
    tokio::spawn(server.serve_connection(served, Arc::new(handler)));
    client
}
