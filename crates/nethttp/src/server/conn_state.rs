//! Connection states (Go's `ConnState`) and the per-connection view of the server a
//! connection task carries: its state hook, the shutdown signal, and request bookkeeping.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::time::Instant;

use super::shutdown::Phase;

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
/// [`crate::Server::conn_info`] is on: `req.extensions().get::<ConnInfo>()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnInfo {
    /// The client's address.
    pub remote_addr: SocketAddr,
    /// The server's address the client connected to.
    pub local_addr: SocketAddr,
}

/// A callback told of every connection state change: `(remote address, new state)`.
pub type ConnStateHook = Arc<dyn Fn(SocketAddr, ConnState) + Send + Sync>;

/// What a connection task knows of its server.
pub(crate) struct ConnEvents {
    remote: SocketAddr,
    hook: Option<ConnStateHook>,
    state: ConnState,
    phase: watch::Receiver<Phase>,
    /// When the server first waited for the current request's head, if it had to; the
    /// request read deadline counts from it (else from when the body is first set up).
    pub request_start: Option<Instant>,
    /// Set when the server attaches connection addresses to requests.
    pub info: Option<ConnInfo>,
}

impl ConnEvents {
    pub(crate) fn new(
        remote: SocketAddr,
        hook: Option<ConnStateHook>,
        phase: watch::Receiver<Phase>,
    ) -> Self {
        let ev = ConnEvents {
            remote,
            hook,
            state: ConnState::New,
            phase,
            request_start: None,
            info: None,
        };
        ev.report(ConnState::New);
        ev
    }

    /// Moves to `state`, telling the hook if it changed.
    pub(crate) fn set(&mut self, state: ConnState) {
        if self.state != state {
            self.state = state;
            self.report(state);
        }
    }

    fn report(&self, state: ConnState) {
        if let Some(hook) = &self.hook {
            hook(self.remote, state);
        }
    }

    /// The server has begun shutting down: finish the current response, then close.
    /// One atomic load: the phase only ever moves away from `Running`, so any change seen
    /// means shutdown (and a dropped sender means the server is gone).
    pub(crate) fn shutting_down(&self) -> bool {
        self.phase.has_changed().unwrap_or(true)
    }
}

impl Drop for ConnEvents {
    fn drop(&mut self) {
        self.set(ConnState::Closed);
    }
}

impl fmt::Debug for ConnEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnEvents")
            .field("remote", &self.remote)
            .field("state", &self.state)
            .finish()
    }
}
