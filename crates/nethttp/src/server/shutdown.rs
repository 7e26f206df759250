//! Stopping a server: the phases every accept loop and connection watches, and the
//! `ServerHandle` that moves them — graceful (stop accepting, close idle connections, let
//! in-flight requests finish within a deadline, then close the rest) or immediate.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::conn::Phase;

/// State shared by the handle, the accept loops and the connection tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    pub phase: watch::Sender<Phase>,
    live: AtomicUsize,
    all_closed: Notify,
    /// Upgraded connections still open (counted by their guards).
    pub upgraded: Arc<AtomicUsize>,
    pub accepted: AtomicU64,
    /// When the phase left `Running`: the start of the first-request grace.
    stopped_at: OnceLock<Instant>,
}

impl Shared {
    pub(crate) fn new() -> Arc<Shared> {
        Arc::new(Shared {
            phase: watch::Sender::new(Phase::Running),
            live: AtomicUsize::new(0),
            all_closed: Notify::new(),
            upgraded: Arc::new(AtomicUsize::new(0)),
            accepted: AtomicU64::new(0),
            stopped_at: OnceLock::new(),
        })
    }

    pub(crate) fn advance(&self, to: Phase) {
        self.phase.send_if_modified(|p| {
            // Phases only move forward.
            let later = matches!(
                (*p, to),
                (Phase::Running, Phase::Draining | Phase::Closing)
                    | (Phase::Draining, Phase::Closing)
            );
            if later {
                if *p == Phase::Running {
                    // Set before the receivers are woken, so whoever sees the new phase
                    // finds the time.
                    let _ = self.stopped_at.set(Instant::now());
                }
                *p = to;
            }
            later
        });
    }

    /// When a connection that has not started its first request stops waiting for it: the
    /// stop's start plus `grace` (see [`crate::Server::first_request_grace`]). Asked only
    /// once the phase has left `Running`.
    pub(crate) fn first_request_due(&self, grace: Duration) -> Instant {
        *self.stopped_at.get_or_init(Instant::now) + grace
    }

    async fn wait_all_closed(&self) {
        loop {
            let notified = self.all_closed.notified();
            if self.live.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Counts a live connection from accept until its task ends.
pub(crate) struct LiveGuard(Arc<Shared>);

impl LiveGuard {
    pub(crate) fn new(shared: &Arc<Shared>) -> Self {
        shared.live.fetch_add(1, Ordering::AcqRel);
        shared.accepted.fetch_add(1, Ordering::Relaxed);
        LiveGuard(shared.clone())
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        if self.0.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.all_closed.notify_waiters();
        }
    }
}

/// How a shutdown ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Connections still open when the grace period ended, closed without finishing.
    pub forced: usize,
    /// Upgraded connections (WebSocket, CONNECT tunnels) still open when the shutdown ended.
    /// The server neither waits for nor closes them: their owners do (Go's hijacked
    /// connections).
    pub upgraded: usize,
}

/// Controls a running server: its address, its counters, and shutting it down.
/// Dropping the handle does not stop the server.
#[derive(Debug, Clone)]
pub struct ServerHandle {
    pub(crate) shared: Arc<Shared>,
    pub(crate) addrs: Vec<SocketAddr>,
    pub(crate) loops: Arc<Mutex<Vec<JoinHandle<std::io::Result<()>>>>>,
    pub(crate) per_ip: Option<Arc<super::per_ip::PerIp>>,
}

impl ServerHandle {
    /// The address the (first) listener is bound to.
    ///
    /// # Panics
    ///
    /// If no listener has an IP address (every [`crate::net::Accept::local_addr`] was
    /// `None`); [`ServerHandle::local_addrs`] is then empty.
    pub fn local_addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Every listener's address (several with SO_REUSEPORT workers, all the same port).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Connections open right now (upgraded ones are not among them: see
    /// [`ServerHandle::upgraded_connections`]).
    pub fn live_connections(&self) -> usize {
        self.shared.live.load(Ordering::Acquire)
    }

    /// Upgraded connections (WebSocket, CONNECT tunnels) open right now.
    pub fn upgraded_connections(&self) -> usize {
        self.shared.upgraded.load(Ordering::Acquire)
    }

    /// Connections accepted since the server started.
    pub fn accepted_connections(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// Connections closed at once because their client had
    /// [`Server::max_connections_per_ip`](crate::Server::max_connections_per_ip) open
    /// already: by every server sharing this one's configuration, since it started. 0 when
    /// there is no such limit.
    pub fn refused_per_ip(&self) -> u64 {
        self.per_ip.as_ref().map_or(0, |l| l.refused())
    }

    /// Graceful shutdown: stop accepting (new connections are refused), close idle
    /// connections, let in-flight requests finish (and give connections that have not begun
    /// their first request [`crate::Server::first_request_grace`] to begin one); after
    /// `grace`, close whatever remains. Returns when every connection has closed.
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        self.shared.advance(Phase::Draining);
        let _ = self.join_loops().await;
        let forced = match tokio::time::timeout(grace, self.shared.wait_all_closed()).await {
            Ok(()) => 0,
            Err(_) => {
                let n = self.live_connections();
                self.shared.advance(Phase::Closing);
                self.shared.wait_all_closed().await;
                n
            }
        };
        ShutdownReport {
            forced,
            upgraded: self.shared.upgraded.load(Ordering::Acquire),
        }
    }

    /// Immediate close: stop accepting and close every connection now, mid-request or not.
    pub async fn close(&self) {
        self.shared.advance(Phase::Closing);
        let _ = self.join_loops().await;
        self.shared.wait_all_closed().await;
    }

    /// Waits until the server stops: every accept loop ended (after a shutdown, or a fatal
    /// listener error, which is returned) and every connection closed.
    pub async fn wait(&self) -> std::io::Result<()> {
        let result = self.join_loops().await;
        self.shared.wait_all_closed().await;
        result
    }

    async fn join_loops(&self) -> std::io::Result<()> {
        let loops = std::mem::take(&mut *self.loops.lock().unwrap_or_else(|p| p.into_inner()));
        let mut result = Ok(());
        for l in loops {
            match l.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = Err(e),
                Err(e) => result = Err(std::io::Error::other(e)),
            }
        }
        result
    }
}
