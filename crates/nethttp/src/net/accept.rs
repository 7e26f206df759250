//! What a server's accept loop takes connections from: any [`Accept`]or — the TCP
//! [`Listener`] here, the Unix one in `unix`, and any other transport's listener that yields
//! an IO per connection. The loop handles shutdown and the connection cap; an `Accept` only
//! accepts (retrying its own temporary failures) and says who connected.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::Listener;

/// A source of connections for [`crate::Server::serve`]: bind/listen happen before, the
/// server calls [`Accept::accept`] in its loop.
///
/// A TCP socket (`tokio::net::TcpStream`) is served with everything TCP allows: the server's
/// socket options, the h2c preface peek, idle connections that hold no buffer, and the
/// client-gone watch; a Unix socket (`tokio::net::UnixStream`, from [`super::UnixListener`]
/// or any other `Accept`) with all of it but the TCP options. Any other IO is served with
/// what works on any byte stream (see [`crate::Server::serve_connection`]).
pub trait Accept: Send + 'static {
    /// One connection's byte stream.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Waits for the next connection: its IO and the peer's IP address, when the transport
    /// has one (connection state hooks and [`crate::ConnInfo`] report it). Temporary
    /// failures (descriptor exhaustion, a connection aborted before it was accepted) should
    /// be retried inside, with a backoff, as [`Listener`] does: an error returned here ends
    /// the accept loop.
    fn accept(
        &mut self,
    ) -> impl Future<Output = io::Result<(Self::Io, Option<SocketAddr>)>> + Send + '_;

    /// The IP address being served, reported by [`crate::ServerHandle::local_addr`]. `None`
    /// when the transport has none. Default: `None`.
    fn local_addr(&self) -> Option<SocketAddr> {
        None
    }

    /// Whether every connection is a `TcpStream`: the server then builds no path for other IO
    /// into the program (which would change what the compiler inlines on the TCP one). Only
    /// [`Listener`] says so; an implementation that says so wrongly has its other IO closed.
    #[doc(hidden)]
    const TCP_ONLY: bool = false;

    /// As [`Accept::TCP_ONLY`], for a listener whose connections are all `UnixStream`s: their
    /// task holds the Unix path inline instead of boxing it beside room for a TCP one.
    #[doc(hidden)]
    const UNIX_ONLY: bool = false;
}

impl Accept for Listener {
    type Io = TcpStream;

    const TCP_ONLY: bool = true;

    async fn accept(&mut self) -> io::Result<(TcpStream, Option<SocketAddr>)> {
        let (stream, remote) = Listener::accept(self).await?;
        Ok((stream, Some(remote)))
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        Listener::local_addr(self).ok()
    }
}
