//! The public face of a connection's life: its states (Go's `ConnState`), the hook told of
//! them, and the addresses a request can learn its connection by ([`ConnInfo`]).

use std::net::SocketAddr;
use std::sync::Arc;

/// The life cycle of a connection, reported to [`crate::Server::conn_state_hook`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnState {
    /// Just accepted; no request byte read yet.
    New,
    /// Reading a request, running the handler, or writing the response.
    Active,
    /// Between requests, waiting for the next one (keep-alive).
    Idle,
    /// Closed; the last state a connection reports, unless it was upgraded.
    Closed,
    /// Handed over after a protocol upgrade (`101`, or a `2xx` answer to `CONNECT`): the
    /// server no longer serves, times or closes it, and reports nothing more of it (Go's
    /// `StateHijacked`). See [`crate::upgrade`].
    Upgraded,
}

/// What a request can learn of the connection it arrived on: Go's `Request.RemoteAddr` and
/// `LocalAddrContextKey`, and for a Unix domain socket the peer process's credentials.
/// Present in the request's extensions when [`crate::Server::conn_info`] is on and the
/// connection is a TCP or Unix socket: `req.extensions().get::<ConnInfo>()`.
///
/// A connection of another IO (an in-memory pipe or anything else given to
/// [`crate::Server::serve_connection`]) carries none. The struct is `non_exhaustive` so that
/// fields can be added without breaking code that reads these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnInfo {
    /// The client's address; the unspecified `0.0.0.0:0` when the peer has no IP address
    /// (a Unix socket: see [`ConnInfo::peer`]).
    pub remote_addr: SocketAddr,
    /// The server's address the client connected to; `0.0.0.0:0` when it has none.
    pub local_addr: SocketAddr,
    /// What kind of peer it is.
    pub peer: Peer,
    /// Whether the connection is TLS (the server's [`crate::ServerTls`]): Go's
    /// `Request.TLS != nil`, what a proxy's `X-Forwarded-Proto` says. The handshake's details
    /// (the client's certificates among them) are a [`crate::tls::TlsInfo`] in the same
    /// extensions.
    pub tls: bool,
    /// The load balancer's address when the connection was relayed with a PROXY protocol
    /// header ([`crate::Server::proxy_protocol`]) naming a TCP client: `remote_addr` and
    /// `local_addr` are then the header's (the client, and the address it reached the
    /// balancer at), and this is the socket's own peer (`0.0.0.0:0` for a balancer on a
    /// Unix socket). `None` for a direct connection, and for a header that names no client
    /// (v2 `LOCAL` health checks, v1 `UNKNOWN`), which keeps the socket's addresses.
    pub proxied_by: Option<SocketAddr>,
}

/// The kind of peer a connection has, in [`ConnInfo::peer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Peer {
    /// A TCP connection: [`ConnInfo::remote_addr`] and [`ConnInfo::local_addr`] are its
    /// addresses.
    Tcp,
    /// A Unix domain socket. Its peer has no address worth reporting (clients bind none); the
    /// kernel says which process connected (`SO_PEERCRED`), `None` if it could not.
    Unix(Option<PeerCred>),
}

/// The credentials of the process at the other end of a Unix domain socket, as the kernel
/// recorded them when it connected (`SO_PEERCRED`): what a server behind a Unix socket
/// checks to let only some users in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerCred {
    /// The peer's effective user id.
    pub uid: u32,
    /// The peer's effective group id.
    pub gid: u32,
    /// The peer's process id, where the OS tells it.
    pub pid: Option<i32>,
}

impl ConnInfo {
    pub(crate) fn tcp(remote_addr: SocketAddr, local_addr: SocketAddr) -> Self {
        ConnInfo {
            remote_addr,
            local_addr,
            peer: Peer::Tcp,
            tls: false,
            proxied_by: None,
        }
    }

    pub(crate) fn unix(cred: Option<PeerCred>) -> Self {
        ConnInfo {
            remote_addr: NO_ADDR,
            local_addr: NO_ADDR,
            peer: Peer::Unix(cred),
            tls: false,
            proxied_by: None,
        }
    }

    /// The connection as the PROXY header `client -> server` describes it, relayed by the
    /// socket's peer.
    pub(crate) fn relayed(&mut self, client: SocketAddr, server: SocketAddr) {
        self.proxied_by = Some(match self.peer {
            Peer::Tcp => self.remote_addr,
            Peer::Unix(_) => NO_ADDR,
        });
        self.remote_addr = client;
        self.local_addr = server;
        self.peer = Peer::Tcp;
    }
}

/// The address reported for a peer without one.
pub(crate) const NO_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);

/// A callback told of every connection state change: `(remote address, new state)`. A
/// connection with no IP peer (a Unix socket, or see [`crate::Server::serve_connection`]) is
/// reported with the unspecified address `0.0.0.0:0`.
pub type ConnStateHook = Arc<dyn Fn(SocketAddr, ConnState) + Send + Sync>;
