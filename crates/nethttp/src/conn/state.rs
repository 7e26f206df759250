//! The public face of a connection's life: its states (Go's `ConnState`), the hook told of
//! them, and the addresses a request can learn its connection by ([`ConnInfo`]).

use std::net::SocketAddr;
use std::sync::Arc;

/// The life cycle of a connection, reported to [`crate::Server::conn_state_hook`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnState {
    /// Just accepted; no request byte read yet.
    New,
    /// Reading a request, running the handler, or writing the response.
    Active,
    /// Between requests, waiting for the next one (keep-alive).
    Idle,
    /// Closed; the last state a connection reports.
    Closed,
}

/// The addresses of the connection a request arrived on, Go's `Request.RemoteAddr` and
/// `LocalAddrContextKey`. Present in the request's extensions when
/// [`crate::Server::conn_info`] is on and the connection is a TCP one:
/// `req.extensions().get::<ConnInfo>()`.
///
/// A connection without IP addresses (an in-memory pipe or another IO given to
/// [`crate::Server::serve_connection`]) carries none. The struct is `non_exhaustive` so that
/// a description of other peers (a Unix socket's path, say) can be added as a field without
/// breaking code that reads these two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnInfo {
    /// The client's address.
    pub remote_addr: SocketAddr,
    /// The server's address the client connected to.
    pub local_addr: SocketAddr,
}

impl ConnInfo {
    pub(crate) fn new(remote_addr: SocketAddr, local_addr: SocketAddr) -> Self {
        ConnInfo {
            remote_addr,
            local_addr,
        }
    }
}

/// A callback told of every connection state change: `(remote address, new state)`. A
/// connection with no IP peer (see [`crate::Server::serve_connection`]) is reported with the
/// unspecified address `0.0.0.0:0`.
pub type ConnStateHook = Arc<dyn Fn(SocketAddr, ConnState) + Send + Sync>;
