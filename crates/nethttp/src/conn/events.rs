//! The per-connection view of the server that an engine's connection task carries: the
//! state hook it reports [`ConnState`] changes to, the shutdown phase it watches, and request
//! bookkeeping (when the current request began, the addresses to attach to requests).

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::watch;
use tokio::time::Instant;

use super::{ConnInfo, ConnState, ConnStateHook, Phase};

/// What a connection task knows of its server.
pub(crate) struct ConnEvents {
    remote: SocketAddr,
    hook: Option<ConnStateHook>,
    state: ConnState,
    phase: watch::Receiver<Phase>,
    /// When the server first waited for the current request's head, if it had to; the
    /// request read deadline counts from it (else from when the body is first set up).
    pub request_start: Option<Instant>,
    /// What only some servers keep per connection, boxed: a connection of a server that keeps
    /// none of it carries one pointer for them all (every idle connection holds this struct).
    extras: Option<Box<Extras>>,
}

/// The per-connection state of optional features.
#[derive(Default)]
struct Extras {
    /// Set when the server attaches connection addresses to requests.
    info: Option<ConnInfo>,
    /// The TLS connection's details, set with `info` on a TLS connection.
    tls: Option<crate::tls::TlsInfo>,
    /// The connection's live record, when the server tracks its connections.
    track: Option<super::track::Tracked>,
    /// The connection's `tracing` span, when a subscriber wants it.
    span: Option<tracing::Span>,
    /// Its place among its client's connections, given back when the connection ends (an
    /// upgraded connection's guard takes it over).
    per_ip: Option<crate::server::IpSlot>,
}

/// What the server attaches to each request of a connection when `conn_info` is on: its
/// [`ConnInfo`], and on TLS its [`crate::tls::TlsInfo`].
#[derive(Clone)]
pub(crate) struct Attached {
    info: ConnInfo,
    tls: Option<crate::tls::TlsInfo>,
}

impl Attached {
    /// Puts both in a request's extensions.
    pub(crate) fn insert_into(self, ext: &mut http::Extensions) {
        ext.insert(self.info);
        if let Some(tls) = self.tls {
            ext.insert(tls);
        }
    }
}

impl ConnEvents {
    /// What to attach to the connection's next request, if anything.
    #[inline]
    pub(crate) fn attached(&self) -> Option<Attached> {
        let extras = self.extras.as_deref()?;
        extras.info.map(|info| Attached {
            info,
            tls: extras.tls.clone(),
        })
    }

    fn extras_mut(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Box::default)
    }

    /// The connection's addresses, when the server attaches them to requests.
    pub(crate) fn info_mut(&mut self) -> Option<&mut ConnInfo> {
        self.extras.as_deref_mut()?.info.as_mut()
    }

    pub(crate) fn set_info(&mut self, info: Option<ConnInfo>) {
        if info.is_some() {
            self.extras_mut().info = info;
        }
    }

    /// Keeps the TLS handshake's details for the requests.
    pub(crate) fn set_tls(&mut self, tls: crate::tls::TlsInfo) {
        self.extras_mut().tls = Some(tls);
    }

    /// The connection's live record, if the server tracks its connections.
    #[inline]
    pub(crate) fn track(&self) -> Option<&super::track::Tracked> {
        self.extras.as_deref()?.track.as_ref()
    }

    /// Keeps the connection counted against its client until it ends.
    pub(crate) fn hold(&mut self, slot: crate::server::IpSlot) {
        self.extras_mut().per_ip = Some(slot);
    }

    pub(crate) fn set_track(&mut self, track: super::track::Tracked) {
        self.extras_mut().track = Some(track);
    }

    /// The client's address; `None` for a peer without one (a Unix socket).
    pub(crate) fn remote(&self) -> Option<SocketAddr> {
        (self.remote != super::NO_ADDR).then_some(self.remote)
    }

    /// The connection's span, if a subscriber wants it.
    #[inline]
    pub(crate) fn span(&self) -> Option<&tracing::Span> {
        self.extras.as_deref()?.span.as_ref()
    }

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
            extras: super::spans::connection(remote).map(|span| {
                Box::new(Extras {
                    span: Some(span),
                    ..Extras::default()
                })
            }),
        };
        ev.report(ConnState::New);
        ev
    }

    /// Moves to `state`, telling the hook if it changed.
    #[inline]
    pub(crate) fn set(&mut self, state: ConnState) {
        if self.state != state {
            self.state = state;
            self.report(state);
            if let Some(t) = self.track() {
                t.set_state(state);
            }
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
    #[inline]
    pub(crate) fn shutting_down(&self) -> bool {
        self.phase.has_changed().unwrap_or(true)
    }
}

impl ConnEvents {
    /// The connection is handed over after a protocol upgrade: the hook hears `Upgraded`
    /// (and no `Closed` after it), and `count` (the server's) counts it until the returned
    /// guard drops, which the upgraded connection holds. So does its client's count of
    /// connections ([`crate::Server::max_connections_per_ip`]): a WebSocket is one of them.
    pub(crate) fn upgraded(&mut self, count: &Arc<AtomicUsize>) -> Box<dyn Send + Sync> {
        self.set(ConnState::Upgraded);
        count.fetch_add(1, Ordering::AcqRel);
        let per_ip = self.extras.as_deref_mut().and_then(|e| e.per_ip.take());
        Box::new(UpgradeGuard {
            count: count.clone(),
            _per_ip: per_ip,
        })
    }
}

/// Counts an upgraded connection while it lives, among the server's and among its client's.
struct UpgradeGuard {
    count: Arc<AtomicUsize>,
    /// Given back when the guard drops.
    _per_ip: Option<crate::server::IpSlot>,
}

impl Drop for UpgradeGuard {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for ConnEvents {
    fn drop(&mut self) {
        // An upgraded connection's last state is `Upgraded`.
        if self.state != ConnState::Upgraded {
            self.set(ConnState::Closed);
        }
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
