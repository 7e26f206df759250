//! One connection served on its own, by [`Server::serve_connection`]: any IO, with the
//! server's timeouts and limits, until the client leaves, a timeout closes it, a graceful
//! shutdown asked of it completes, or the [`Connection`] is dropped (closed at once). Hyper's
//! `serve_connection`, for a caller who runs its own accept loop or has a byte stream that
//! is not a socket.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite};

use super::serve::{serve_conn, Ctx};
use super::shutdown::Shared;
use super::Server;
use crate::conn::Phase;
use crate::handler::Handler;

/// A connection being served by [`Server::serve_connection`]: a future that completes when
/// the connection has closed. Dropping it closes the connection at once, mid-request or not.
#[must_use = "a connection is served only while its future is polled"]
pub struct Connection {
    shared: Arc<Shared>,
    serving: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl Connection {
    /// Starts a graceful shutdown of this connection, as [`crate::ServerHandle::shutdown`]
    /// does for a server's: an HTTP/1.1 connection idle between requests closes at once, one
    /// that has not begun its first request is given [`Server::first_request_grace`] to
    /// begin it, and a busy one closes after its current response (which says
    /// `Connection: close`); HTTP/2 sends GOAWAY and lets the open streams finish. Keep
    /// awaiting the connection for it to end; to bound the wait, drop it after a deadline.
    pub fn graceful_shutdown(&self) {
        self.shared.advance(Phase::Draining);
    }
}

impl Future for Connection {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.serving.as_mut().poll(cx)
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection").finish_non_exhaustive()
    }
}

impl Server {
    /// Serves one connection of any IO with this server's configuration: HTTP/1.1, and
    /// HTTP/2 when the client opens with the HTTP/2 preface (or chose `h2` by ALPN, when
    /// the server has [`Server::tls`], whose handshake then runs over `io` first). Every
    /// timeout and limit applies as for connections [`Server::serve`] accepts: the read-header
    /// timeout from this call, the read, write and idle timeouts, the size limits, the
    /// minimum body rate, the HTTP/2 limits, `conn_info` and the connection state hook.
    ///
    /// The returned [`Connection`] is a future that completes when the connection closes;
    /// spawn it, or await it. It belongs to no [`crate::ServerHandle`]: stop it with
    /// [`Connection::graceful_shutdown`], or by dropping it (closed at once).
    /// [`Server::max_connections`] does not count it; the caller's accept loop decides.
    ///
    /// A `tokio::net::TcpStream` is served exactly as an accepted socket is, with this
    /// server's socket options and everything TCP allows; a `tokio::net::UnixStream` gets
    /// the same (but the TCP options), and its peer's credentials in [`crate::ConnInfo`].
    /// Any other IO is served with what works on any byte stream, so some behaviour differs:
    /// - the h2c preface is found by reading the first bytes (then given to whichever
    ///   protocol they belong to), not by peeking;
    /// - an idle keep-alive connection waits in a read, holding its 8 KiB read buffer
    ///   (a TCP one holds no buffer);
    /// - a client leaving while its handler runs is noticed only when a read reports an end
    ///   of stream or an error (TCP asks the kernel, consuming nothing);
    /// - at a graceful shutdown, an idle connection is closed without checking whether a
    ///   request just arrived unread;
    /// - the state hook is told the unspecified address `0.0.0.0:0`, and requests carry no
    ///   [`crate::ConnInfo`];
    /// - HTTP/1.1 shares the IO between its reading and writing halves behind a lock
    ///   (`tokio::io::split`).
    ///
    /// ```no_run
    /// # async fn run(io: tokio::io::DuplexStream) {
    /// use std::sync::Arc;
    /// use nethttp::{Body, HttpRequest, Server};
    /// let handler = Arc::new(|_req: HttpRequest| async {
    ///     http::Response::new(Body::from("hello\n"))
    /// });
    /// Server::new().serve_connection(io, handler).await;
    /// # }
    /// ```
    pub fn serve_connection<T, H>(&self, io: T, handler: Arc<H>) -> Connection
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        H: Handler,
    {
        let shared = Shared::new();
        let phase = shared.phase.subscribe();
        let ctx = Ctx::new(self, handler, shared.clone(), None);
        let serving = async move { serve_conn(io, None, &ctx, phase).await };
        Connection {
            shared,
            serving: Box::pin(serving),
        }
    }
}
