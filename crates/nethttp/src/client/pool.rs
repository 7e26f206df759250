//! The connection pool: idle connections per (scheme, host, port, proxy), most recently used
//! first; a per-host connection limit whose excess requests wait in FIFO order; idle expiry
//! (the pool's timeout, or sooner when the server's `Keep-Alive: timeout` says so); stale
//! connections detected before use (through the kernel, for a request that could not be sent
//! again); hosts remembered for closing connections right after their responses; and
//! counters readable at any time.
//!
//! HTTP/2 connections (`h2_pool`) are shared instead of lent: a request takes a stream on one
//! with room under the server's MAX_CONCURRENT_STREAMS, and a host known to speak HTTP/2
//! waits for a dial in progress rather than dialing one connection per request.
//!
//! A connection is counted against its host from the moment a dial is permitted until it is
//! closed, so the limit holds while dials are in flight. Ownership is tracked by two guards:
//! [`DialPermit`] (a slot reserved for a dial) and [`Pooled`] (a connection lent to a request);
//! dropping either gives the slot back and lets the next waiter in.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use http::Uri;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::h2_pool::{self, H2Conn, H2Stream};
use crate::error::{Error, Kind};
use crate::proto::h1::client::{ClientConn, ConnSlot, Release};
use crate::proto::h2::client::ClientConnection;

/// The IO of every client connection: TCP, TLS over TCP, or any other stream (a Unix socket, a
/// connector's; TLS over it) boxed once. The transport dials it, the HTTP/1.1 exchange and
/// the HTTP/2 handshake take it whole (both are generic over their IO).
pub(crate) type Stream = crate::tls::MaybeTls;
/// A pooled HTTP/1.1 connection.
pub(crate) type Conn = ClientConn<Stream>;

/// The URL scheme of a pooled connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain TCP.
    Http,
    /// TLS.
    Https,
}

/// What makes two requests able to share a connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConnectKey {
    /// The target's scheme.
    pub scheme: Scheme,
    /// The target's host, lowercase (IPv6 literals without brackets).
    pub host: Box<str>,
    /// The target's port (the scheme's default when the URL has none).
    pub port: u16,
    /// The proxy the connection goes through, as `host:port`, if any.
    pub proxy: Option<Box<str>>,
}

impl ConnectKey {
    /// The key for a request to `uri`, optionally through `proxy` (`host:port`).
    pub(crate) fn from_uri(uri: &Uri, proxy: Option<&str>) -> Result<ConnectKey, Error> {
        let scheme = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("http") => Scheme::Http,
            Some(s) if s.eq_ignore_ascii_case("https") => Scheme::Https,
            Some(_) => return Err(Error::new(Kind::Usage, "unsupported URL scheme")),
            None => return Err(Error::new(Kind::Usage, "URL has no scheme (http://...)")),
        };
        let (host, port) = uri
            .authority()
            .map_or(("", None), |a| host_and_port(a.as_str()));
        if host.is_empty() {
            return Err(Error::new(Kind::Usage, "URL has no host"));
        }
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port = port.unwrap_or(match scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
        });
        let host: Box<str> = if host.bytes().any(|b| b.is_ascii_uppercase()) {
            host.to_ascii_lowercase().into()
        } else {
            host.into()
        };
        Ok(ConnectKey {
            scheme,
            host,
            port,
            proxy: proxy.map(Into::into),
        })
    }
}

/// An authority's host and port, as `Uri::host` and `Uri::port_u16` read them, by byte
/// searches: their char-pattern searches (`rsplit('@')`, `rfind(':')`) cost ~200
/// instructions each on a short authority, and every request builds its key.
fn host_and_port(authority: &str) -> (&str, Option<u16>) {
    let bytes = authority.as_bytes();
    let start = bytes
        .iter()
        .rposition(|&b| b == b'@')
        .map_or(0, |at| at + 1);
    let host_port = &bytes[start..];
    let host_len = if host_port.first() == Some(&b'[') {
        host_port
            .iter()
            .position(|&b| b == b']')
            .map_or(host_port.len(), |at| at + 1)
    } else {
        host_port
            .iter()
            .position(|&b| b == b':')
            .unwrap_or(host_port.len())
    };
    // As `Authority::port`: what follows the authority's last `:`, if it is a number.
    let port = bytes
        .iter()
        .rposition(|&b| b == b':')
        .and_then(|at| authority[at + 1..].parse().ok());
    (&authority[start..start + host_len], port)
}

impl fmt::Display for ConnectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)?;
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)?;
        }
        if let Some(p) = &self.proxy {
            write!(f, " via {p}")?;
        }
        Ok(())
    }
}

/// Limits of the pool.
#[derive(Debug, Clone)]
pub(crate) struct PoolConfig {
    pub max_idle_per_host: usize,
    pub max_idle: usize,
    pub idle_timeout: Duration,
    pub max_conns_per_host: usize,
    pub pool_timeout: Duration,
    /// Most requests one HTTP/2 connection carries at once (below the server's own limit).
    pub http2_max_streams: usize,
    /// HTTP/2 keepalive: PING interval and the time allowed for the answer.
    pub http2_keepalive: Option<(Duration, Duration)>,
}

/// Connections of one host, over the whole life of the pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostStats {
    /// Which host (`scheme://host:port`, and the proxy if any).
    pub key: String,
    /// Connections waiting in the pool for a request.
    pub idle: usize,
    /// Connections lent to requests, or being dialed.
    pub active: usize,
    /// Requests waiting for a connection (`max_conns_per_host` reached).
    pub waiting: usize,
    /// Open streams on each HTTP/2 connection of the host (empty for HTTP/1.1): requests
    /// the server is working on or whose response body is still being read.
    pub http2_streams: Vec<usize>,
    /// Requests waiting on each HTTP/2 connection for a stream, because the connection is at
    /// the server's MAX_CONCURRENT_STREAMS (same order as `http2_streams`).
    pub http2_waiting: Vec<usize>,
}

/// A snapshot of the pool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Per host, for hosts with any connection or waiter.
    pub hosts: Vec<HostStats>,
    /// Connections opened (TCP, or a connector's streams).
    pub dials: u64,
    /// Requests served by a connection taken from the pool.
    pub reuses: u64,
    /// Connections closed (by either side, for any reason).
    pub closes: u64,
    /// Idle connections found closed by the server, or past their expiry, when taken.
    pub stale: u64,
}

impl PoolStats {
    /// Sum of idle connections over all hosts.
    pub fn idle(&self) -> usize {
        self.hosts.iter().map(|h| h.idle).sum()
    }

    /// Sum of active connections over all hosts.
    pub fn active(&self) -> usize {
        self.hosts.iter().map(|h| h.active).sum()
    }

    /// Sum of waiting requests over all hosts.
    pub fn waiting(&self) -> usize {
        self.hosts.iter().map(|h| h.waiting).sum()
    }
}

/// The pool; cheap to clone.
#[derive(Clone)]
pub(crate) struct Pool {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    cfg: PoolConfig,
    state: Mutex<State>,
    dials: AtomicU64,
    reuses: AtomicU64,
    closes: AtomicU64,
    stale: AtomicU64,
}

/// The pool's maps hash their keys with foldhash, seeded per map: a keyed hash as std's
/// SipHash is (a forward proxy's keys are its clients' hosts), at a sixth of its cost on
/// a short key, which every request pays twice (take, give back).
type KeyMap<V> = HashMap<Arc<ConnectKey>, V, foldhash::fast::RandomState>;

#[derive(Default)]
struct State {
    hosts: KeyMap<Host>,
    idle_total: usize,
    reaper_running: bool,
    /// Hosts taken to close connections right after their responses without saying so, until
    /// the instant given: a reused connection of theirs failed before any response byte, and
    /// none has been answered since. Requests that cannot be sent again get a new connection
    /// meanwhile, instead of betting on a FIN that has not arrived yet. Kept apart from
    /// `hosts`, whose entries go when their last connection closes.
    closing: KeyMap<Instant>,
}

struct Host {
    key: Arc<ConnectKey>,
    /// Most recently used last: taken with `pop`.
    idle: Vec<Idle>,
    /// Connections counted against this host: idle, lent out, or being dialed.
    open: usize,
    waiters: VecDeque<oneshot::Sender<Grant>>,
    /// Shared HTTP/2 connections, oldest first.
    h2: Vec<Arc<H2Conn>>,
    /// The host answered with HTTP/2 last time (or is expected to): wait for a dial under
    /// way instead of starting another.
    h2_known: bool,
    /// HTTP/2 dials under way.
    h2_dialing: usize,
    /// Requests waiting for one of those dials.
    h2_waiters: Vec<oneshot::Sender<()>>,
}

impl Host {
    fn new(key: Arc<ConnectKey>) -> Host {
        Host {
            key,
            idle: Vec::new(),
            open: 0,
            waiters: VecDeque::new(),
            h2: Vec::new(),
            h2_known: false,
            h2_dialing: 0,
            h2_waiters: Vec::new(),
        }
    }

    /// A shared connection for one more request: the first with room; with `overcommit`
    /// (no new connection allowed), the least busy, where the request queues inside h2 for a
    /// stream.
    fn h2_pick(&self, overcommit: bool) -> Option<&Arc<H2Conn>> {
        if let Some(c) = self.h2.iter().find(|c| c.has_capacity()) {
            return Some(c);
        }
        if !overcommit {
            return None;
        }
        self.h2
            .iter()
            .filter(|c| !c.is_dead())
            .min_by_key(|c| c.in_flight())
    }

    /// Joins the line of requests waiting for a connection (the host is at its limit).
    fn wait(&mut self) -> oneshot::Receiver<Grant> {
        let (tx, rx) = oneshot::channel();
        self.waiters.push_back(tx);
        rx
    }

    /// A dial's outcome is known: requests waiting for it look again.
    fn wake_h2_waiters(&mut self) {
        for w in self.h2_waiters.drain(..) {
            let _ = w.send(());
        }
    }
}

struct Idle {
    conn: Conn,
    since: Instant,
    retire_at: Instant,
}

/// What a waiting request is given.
enum Grant {
    Conn(Pooled),
    Dial(DialPermit),
    /// Look again: an HTTP/2 connection that can take the request may be there now.
    Retry,
}

/// How long an idle connection of a host remembered for closing connections after their
/// responses must have been idle, and still be open, to carry a request that cannot be
/// resent: such a host's FIN comes within moments of its response (thread hand-offs, a
/// scheduler tick), so a connection that outlived this is one the host keeps.
const SETTLE: Duration = Duration::from_millis(100);

/// How long a host is remembered for closing connections after their responses, from the last
/// sign of it (a reused connection failing under a request, or an idle one found closed while
/// remembered), unless a reused connection is answered sooner. A host that always closes so
/// keeps giving signs and stays remembered; one that merely restarted, or closed a connection
/// idle too long, and then gets only requests that cannot be resent (which take new
/// connections meanwhile) is forgotten after this.
const CLOSES_AFTER_RESPONSE_MEMORY: Duration = Duration::from_secs(5);

/// What a request asks of the pool.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Want {
    /// The connection will likely speak HTTP/2 (https offering `h2`, or h2c by prior
    /// knowledge). Then, while a host has no connection yet, concurrent requests wait for the
    /// first dial instead of each dialing: that one connection may carry them all.
    pub expect_h2: bool,
    /// A new connection, not an idle one: the request is being resent after a reused
    /// connection failed under it. At the host's limit an idle connection is closed to make
    /// room.
    pub fresh: bool,
    /// The request could not be sent again if the connection failed under it (not
    /// idempotent, or its body is streamed): an idle connection is checked with the kernel
    /// before use, and a host known to close connections after responses gets a new one.
    pub cannot_resend: bool,
    /// An HTTP/1.1 connection of its own, whatever the host speaks: an upgrade that the
    /// host's HTTP/2 connections cannot carry (no extended CONNECT). HTTP/2 connections
    /// are passed over and not waited for, and the dial is not counted as an HTTP/2 one.
    pub h1_only: bool,
}

/// The result of asking the pool for a connection.
pub(crate) enum Checkout {
    /// An idle connection, how long it sat idle, and whether its host is remembered as
    /// closing connections after responses (a response on it proves otherwise: see
    /// [`Pool::reused_answered`]).
    Idle(Pooled, Duration, bool),
    /// No idle connection: permission to dial one.
    Dial(DialPermit),
    /// A stream on a shared HTTP/2 connection.
    H2(H2Stream),
}

/// What the checkout loop does next, decided under the lock.
enum Step {
    /// An idle connection to check and lend, and whether its host is remembered as closing
    /// connections after responses.
    Idle(Idle, Arc<ConnectKey>, bool),
    /// A new connection in the slot of an idle one, closed to make room.
    Replace(Idle, DialPermit),
    Wait(oneshot::Receiver<Grant>),
    WaitH2(oneshot::Receiver<()>),
}

/// What a pool's handles share, named for the debug registry's weak references.
pub(crate) type PoolShared = Shared;

impl Pool {
    /// A weak reference to the pool, for the debug registry.
    pub(crate) fn downgrade(&self) -> std::sync::Weak<Shared> {
        Arc::downgrade(&self.shared)
    }

    /// The pool a registry reference leads back to.
    pub(crate) fn from_shared(shared: Arc<Shared>) -> Pool {
        Pool { shared }
    }

    pub(crate) fn new(cfg: PoolConfig) -> Pool {
        Pool {
            shared: Arc::new(Shared {
                cfg,
                state: Mutex::new(State::default()),
                dials: AtomicU64::new(0),
                reuses: AtomicU64::new(0),
                closes: AtomicU64::new(0),
                stale: AtomicU64::new(0),
            }),
        }
    }

    /// An idle connection to `key` if one is usable (and `want` allows one), else a permit
    /// to dial, waiting in line when the host is at its connection limit.
    pub(crate) async fn checkout(&self, key: &ConnectKey, want: Want) -> Result<Checkout, Error> {
        let cfg = &self.shared.cfg;
        loop {
            // The host is remembered for closing connections after responses, and the request
            // cannot be resent (decided under the lock below).
            let wary;
            let step = {
                let mut st = self.shared.lock();
                let st = &mut *st;
                // One map lookup only while some host is remembered.
                let remembered = match st.closing.is_empty() {
                    true => None,
                    false => st.closing.get(key).copied(),
                };
                let host = match st.hosts.get_mut(key) {
                    Some(h) => h,
                    None => {
                        let key = Arc::new(key.clone());
                        let mut host = Host::new(key.clone());
                        host.h2_known = want.expect_h2;
                        st.hosts.entry(key).or_insert(host)
                    }
                };
                let can_open = cfg.max_conns_per_host == 0 || host.open < cfg.max_conns_per_host;
                if let Some(conn) = host.h2_pick(!can_open).filter(|_| !want.h1_only) {
                    self.shared.reuses.fetch_add(1, Relaxed);
                    return Ok(Checkout::H2(H2Stream::take(conn)));
                }
                wary = want.cannot_resend && remembered.is_some_and(|t| Instant::now() < t);
                if host.h2_known && host.h2_dialing > 0 && !want.h1_only {
                    let (tx, rx) = oneshot::channel();
                    host.h2_waiters.push(tx);
                    Step::WaitH2(rx)
                } else if want.fresh {
                    // A resend after a reused connection died under the request: a new
                    // connection, at the limit in the slot of the least recently used idle one.
                    if can_open {
                        return Ok(Checkout::Dial(self.permit(host, want.h1_only)));
                    } else if !host.idle.is_empty() {
                        st.idle_total -= 1;
                        let idle = host.idle.remove(0);
                        Step::Replace(idle, self.permit_in_slot(host))
                    } else {
                        Step::Wait(host.wait())
                    }
                } else if wary {
                    // The host closes connections right after their responses, unannounced:
                    // a request that cannot be resent takes only an idle connection that has
                    // outlived that habit, idle for SETTLE and still open. Below the limit a
                    // younger one is passed over for a new connection; at the limit the
                    // oldest gives up its slot for one.
                    let settled = host
                        .idle
                        .first()
                        .is_some_and(|i| i.since + SETTLE <= Instant::now());
                    if settled {
                        st.idle_total -= 1;
                        Step::Idle(host.idle.remove(0), host.key.clone(), true)
                    } else if can_open {
                        return Ok(Checkout::Dial(self.permit(host, want.h1_only)));
                    } else if !host.idle.is_empty() {
                        st.idle_total -= 1;
                        let idle = host.idle.remove(0);
                        Step::Replace(idle, self.permit_in_slot(host))
                    } else {
                        Step::Wait(host.wait())
                    }
                } else if let Some(idle) = host.idle.pop() {
                    st.idle_total -= 1;
                    Step::Idle(idle, host.key.clone(), remembered.is_some())
                } else if can_open {
                    return Ok(Checkout::Dial(self.permit(host, want.h1_only)));
                } else {
                    Step::Wait(host.wait())
                }
            };
            match step {
                Step::Idle(mut idle, key, remembered) => {
                    // Checked outside the lock: it may cost a syscall.
                    if idle.retire_at <= Instant::now()
                        || !idle.conn.is_reusable_idle(want.cannot_resend)
                    {
                        self.shared.stale.fetch_add(1, Relaxed);
                        if wary {
                            self.remember_closing(&key);
                        }
                        self.shared.closed(&key, Some(idle.conn));
                        continue;
                    }
                    self.shared.reuses.fetch_add(1, Relaxed);
                    let idle_for = idle.since.elapsed();
                    return Ok(Checkout::Idle(
                        Pooled {
                            conn: Some(idle.conn),
                            key,
                            pool: self.shared.clone(),
                        },
                        idle_for,
                        remembered,
                    ));
                }
                Step::Replace(mut idle, permit) => {
                    // Found closed already: more evidence of the host's habit.
                    if wary && !idle.conn.is_reusable_idle(true) {
                        self.shared.stale.fetch_add(1, Relaxed);
                        self.remember_closing(key);
                    }
                    self.shared.closes.fetch_add(1, Relaxed);
                    drop(idle);
                    return Ok(Checkout::Dial(permit));
                }
                Step::WaitH2(rx) => {
                    if tokio::time::timeout(cfg.pool_timeout, rx).await.is_err() {
                        return Err(pool_timeout());
                    }
                }
                Step::Wait(rx) => {
                    let granted = tokio::time::timeout(cfg.pool_timeout, rx).await;
                    match granted {
                        Ok(Ok(Grant::Conn(mut p))) => {
                            if want.fresh {
                                return Ok(Checkout::Dial(p.into_dial_permit()));
                            }
                            // Handed over the moment its last response ended: the riskiest
                            // connection to bet a request on that cannot be resent, and one
                            // not to bet it on at all if its host closes connections so.
                            if wary || (want.cannot_resend && !p.conn().is_reusable_idle(true)) {
                                self.shared.stale.fetch_add(1, Relaxed);
                                return Ok(Checkout::Dial(p.into_dial_permit()));
                            }
                            self.shared.reuses.fetch_add(1, Relaxed);
                            return Ok(Checkout::Idle(p, Duration::ZERO, wary));
                        }
                        Ok(Ok(Grant::Dial(permit))) => return Ok(Checkout::Dial(permit)),
                        Ok(Ok(Grant::Retry)) | Ok(Err(_)) => continue,
                        Err(_) => return Err(pool_timeout()),
                    }
                }
            }
        }
    }

    /// Counts a new connection against `host` and permits its dial.
    fn permit(&self, host: &mut Host, h1_only: bool) -> DialPermit {
        host.open += 1;
        let h2 = host.h2_known && !h1_only;
        if h2 {
            host.h2_dialing += 1;
        }
        DialPermit {
            key: Some(host.key.clone()),
            pool: self.shared.clone(),
            h2,
        }
    }

    /// A permit to dial in the slot of an idle connection being closed to make room (the
    /// host's count stays: one closes, one is dialed).
    fn permit_in_slot(&self, host: &Host) -> DialPermit {
        DialPermit {
            key: Some(host.key.clone()),
            pool: self.shared.clone(),
            h2: false,
        }
    }

    /// A reused HTTP/1.1 connection of `key` failed before any response byte (EOF or a
    /// reset), or was found closed while the host was remembered for it: the host closes
    /// connections after their responses, as far as we know.
    pub(crate) fn remember_closing(&self, key: &ConnectKey) {
        let now = Instant::now();
        let mut st = self.shared.lock();
        // Pruned here, the only place entries are added: the map holds only hosts that
        // closed a connection so within the memory.
        st.closing.retain(|_, until| *until > now);
        st.closing
            .insert(Arc::new(key.clone()), now + CLOSES_AFTER_RESPONSE_MEMORY);
    }

    /// A reused connection of `key` was answered: the host keeps connections open after all.
    pub(crate) fn reused_answered(&self, key: &ConnectKey) {
        self.shared.lock().closing.remove(key);
    }

    /// A snapshot of the counters and per-host connection counts.
    pub(crate) fn stats(&self) -> PoolStats {
        let st = self.shared.lock();
        let mut hosts: Vec<HostStats> = st
            .hosts
            .values()
            .map(|h| {
                let (http2_streams, http2_waiting): (Vec<usize>, Vec<usize>) =
                    h.h2.iter().map(|c| c.streams()).unzip();
                let h2_idle = http2_streams.iter().zip(&http2_waiting);
                let idle = h.idle.len() + h2_idle.filter(|(s, w)| **s + **w == 0).count();
                HostStats {
                    key: h.key.to_string(),
                    idle,
                    active: h.open.saturating_sub(idle),
                    waiting: h.waiters.iter().filter(|w| !w.is_closed()).count()
                        + h.h2_waiters.iter().filter(|w| !w.is_closed()).count(),
                    http2_streams,
                    http2_waiting,
                }
            })
            .collect();
        drop(st);
        hosts.sort_by(|a, b| a.key.cmp(&b.key));
        PoolStats {
            hosts,
            dials: self.shared.dials.load(Relaxed),
            reuses: self.shared.reuses.load(Relaxed),
            closes: self.shared.closes.load(Relaxed),
            stale: self.shared.stale.load(Relaxed),
        }
    }

    /// Closes every idle connection now; connections in use are not touched.
    pub(crate) fn close_idle(&self) {
        let mut st = self.shared.lock();
        let (closing, _) = st.take_idle(None);
        for conn in st.hosts.values().flat_map(|h| &h.h2) {
            if conn.in_flight() == 0 {
                // Its driver closes it and leaves the pool.
                conn.retire();
            }
        }
        drop(st);
        self.shared.closes.fetch_add(closing.len() as u64, Relaxed);
    }
}

fn pool_timeout() -> Error {
    Error::new(
        Kind::PoolTimeout,
        "timed out waiting for a connection (max_conns_per_host reached)",
    )
}

impl State {
    /// Removes idle connections — all of them, or with `expired_at`, those retired by then —
    /// keeping the counts true and forgetting hosts left with nothing. Returns the removed
    /// connections (for the caller to close outside the lock) and the earliest retirement
    /// among those kept.
    fn take_idle(&mut self, expired_at: Option<Instant>) -> (Vec<Conn>, Option<Instant>) {
        let mut taken = Vec::new();
        let mut next: Option<Instant> = None;
        for host in self.hosts.values_mut() {
            let before = host.idle.len();
            // Rebuilt in order, so the most recently used stays last.
            for idle in std::mem::take(&mut host.idle) {
                if expired_at.is_none_or(|now| idle.retire_at <= now) {
                    taken.push(idle.conn);
                } else {
                    next = Some(next.map_or(idle.retire_at, |n| n.min(idle.retire_at)));
                    host.idle.push(idle);
                }
            }
            host.open -= before - host.idle.len();
        }
        self.idle_total -= taken.len();
        self.hosts
            .retain(|_, h| h.open > 0 || !h.waiters.is_empty());
        (taken, next)
    }
}

/// The last handle on the pool is gone (the client and its clones, and no request holds it):
/// its shared HTTP/2 connections are retired, so each closes as soon as it is idle instead
/// of after the idle timeout (its driver holds its own handle, so h2 alone would keep it).
/// HTTP/1.1 idle connections close as they are dropped here.
impl Drop for Shared {
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        for conn in st.hosts.values().flat_map(|h| &h.h2) {
            conn.retire();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves counts that are still consistent enough to
        // keep serving; poisoning would turn one bug into a dead client.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A shared HTTP/2 connection ended: forget it and free its slot.
    pub(crate) fn h2_closed(self: &Arc<Self>, key: &Arc<ConnectKey>, conn: &Arc<H2Conn>) {
        let mut st = self.lock();
        let Some(host) = st.hosts.get_mut(key) else {
            return;
        };
        let before = host.h2.len();
        host.h2.retain(|c| !Arc::ptr_eq(c, conn));
        if host.h2.len() == before {
            return;
        }
        drop(st);
        self.closes.fetch_add(1, Relaxed);
        self.closed(key, None);
    }

    /// An HTTP/2 dial ended (`conn`: it gave a shared connection, which joins the host).
    /// Whoever waited for it looks again.
    fn h2_dial_done(&self, key: &Arc<ConnectKey>, counted: bool, conn: Option<Arc<H2Conn>>) {
        let mut st = self.lock();
        let Some(host) = st.hosts.get_mut(key) else {
            return;
        };
        if counted {
            host.h2_dialing = host.h2_dialing.saturating_sub(1);
        }
        if let Some(conn) = conn {
            host.h2_known = true;
            host.h2.push(conn);
            // Requests queued at the connection limit may fit on it now.
            for w in host.waiters.drain(..) {
                let _ = w.send(Grant::Retry);
            }
        } else if counted {
            // It did not turn out as HTTP/2 (or failed): stop assuming it will.
            host.h2_known = false;
        }
        host.wake_h2_waiters();
    }

    /// A connection of `key` is gone (closed, or a dial failed): its slot passes to the first
    /// waiter still waiting, as permission to dial.
    fn closed(self: &Arc<Self>, key: &Arc<ConnectKey>, conn: Option<Conn>) {
        if conn.is_some() {
            self.closes.fetch_add(1, Relaxed);
        }
        let mut st = self.lock();
        if let Some(host) = st.hosts.get_mut(key) {
            let mut permit = Some(DialPermit {
                key: Some(host.key.clone()),
                pool: self.clone(),
                h2: false,
            });
            while let Some(w) = host.waiters.pop_front() {
                match w.send(Grant::Dial(permit.take().expect("permit held"))) {
                    Ok(()) => break,
                    Err(Grant::Dial(back)) => permit = Some(back),
                    Err(_) => unreachable!("sent a dial grant"),
                }
            }
            if let Some(mut unused) = permit {
                // Nobody waits: the slot is simply free. Disarm so its drop does nothing.
                unused.key = None;
                host.open -= 1;
                if host.open == 0 && host.waiters.is_empty() {
                    st.hosts.remove(key);
                }
            }
        }
        drop(st);
        drop(conn);
    }

    /// A lent connection comes back able to carry another request: to the first waiter, else
    /// to the idle list, else (pool full) closed.
    fn put(self: &Arc<Self>, key: Arc<ConnectKey>, mut conn: Conn, idle_hint: Option<Duration>) {
        let mut st = self.lock();
        let st_ref = &mut *st;
        let Some(host) = st_ref.hosts.get_mut(&key) else {
            drop(st);
            return;
        };
        while let Some(w) = host.waiters.pop_front() {
            let lent = Pooled {
                conn: Some(conn),
                key: key.clone(),
                pool: self.clone(),
            };
            match w.send(Grant::Conn(lent)) {
                Ok(()) => return,
                Err(Grant::Conn(mut back)) => conn = back.conn.take().expect("conn was just lent"),
                Err(_) => unreachable!("sent a conn grant"),
            }
        }
        let lifetime = retire_after(self.cfg.idle_timeout, idle_hint);
        if host.idle.len() < self.cfg.max_idle_per_host
            && st_ref.idle_total < self.cfg.max_idle
            && !lifetime.is_zero()
        {
            conn.shed_buffers();
            let now = Instant::now();
            host.idle.push(Idle {
                conn,
                since: now,
                retire_at: now + lifetime,
            });
            st_ref.idle_total += 1;
            if !st_ref.reaper_running {
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    st_ref.reaper_running = true;
                    rt.spawn(reap(Arc::downgrade(self)));
                }
            }
            return;
        }
        drop(st);
        self.closed(&key, Some(conn));
    }
}

/// How long an idle connection may wait for reuse: the pool's idle timeout, cut short to end
/// safely before the server's own advertised timeout — a request sent just as the server
/// closes is the stale-connection race this avoids.
fn retire_after(idle_timeout: Duration, hint: Option<Duration>) -> Duration {
    let Some(hint) = hint else {
        return idle_timeout;
    };
    let margin = if hint >= Duration::from_secs(2) {
        Duration::from_secs(1)
    } else {
        hint / 2
    };
    idle_timeout.min(hint - margin)
}

/// Closes idle connections as they expire; runs while any connection is idle, and stops when
/// the pool is dropped.
async fn reap(pool: Weak<Shared>) {
    loop {
        let next = {
            let Some(shared) = pool.upgrade() else { return };
            let now = Instant::now();
            let mut st = shared.lock();
            let (expired, next) = st.take_idle(Some(now));
            st.reaper_running = st.idle_total > 0;
            let running = st.reaper_running;
            drop(st);
            shared.closes.fetch_add(expired.len() as u64, Relaxed);
            drop(expired);
            if !running {
                return;
            }
            next.unwrap_or(now + shared.cfg.idle_timeout)
        };
        tokio::time::sleep_until(next).await;
    }
}

/// A reserved connection slot for a dial in progress. Dropped without a connection (the dial
/// failed or was cancelled), the slot is given back.
pub(crate) struct DialPermit {
    key: Option<Arc<ConnectKey>>,
    pool: Arc<Shared>,
    /// Counted as an HTTP/2 dial others wait for.
    h2: bool,
}

impl DialPermit {
    /// The dial succeeded: the new connection is lent to the request that dialed it.
    pub(crate) fn fulfil(mut self, conn: Conn) -> Pooled {
        self.pool.dials.fetch_add(1, Relaxed);
        let key = self.key.take().expect("permit used once");
        if self.h2 {
            self.pool.h2_dial_done(&key, true, None);
        }
        Pooled {
            conn: Some(conn),
            key,
            pool: self.pool.clone(),
        }
    }

    /// The dial gave an HTTP/2 connection: it joins the pool, shared, with one stream taken
    /// for the request that dialed it.
    pub(crate) fn fulfil_h2(
        mut self,
        send: h2::client::SendRequest<bytes::Bytes>,
        conn: ClientConnection<Stream>,
        local_addr: Option<std::net::SocketAddr>,
    ) -> H2Stream {
        self.pool.dials.fetch_add(1, Relaxed);
        let key = self.key.take().expect("permit used once");
        let cfg = &self.pool.cfg;
        let limits = h2_pool::H2Limits {
            idle_timeout: cfg.idle_timeout,
            stream_cap: cfg.http2_max_streams,
            keepalive: cfg.http2_keepalive,
        };
        let shared = h2_pool::start(send, conn, key.clone(), &self.pool, limits, local_addr);
        let stream = H2Stream::take(&shared);
        self.pool.h2_dial_done(&key, self.h2, Some(shared));
        stream
    }
}

impl Drop for DialPermit {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            if self.h2 {
                self.pool.h2_dial_done(&key, true, None);
            }
            self.pool.closed(&key, None);
        }
    }
}

/// A connection lent to one request. Released through [`ConnSlot::release`]; dropped
/// otherwise, it is closed.
pub(crate) struct Pooled {
    conn: Option<Conn>,
    key: Arc<ConnectKey>,
    pool: Arc<Shared>,
}

impl Pooled {
    /// Closes the connection and keeps its slot, for a new connection to be dialed in it.
    fn into_dial_permit(mut self) -> DialPermit {
        if self.conn.take().is_some() {
            self.pool.closes.fetch_add(1, Relaxed);
        }
        DialPermit {
            key: Some(self.key.clone()),
            pool: self.pool.clone(),
            h2: false,
        }
    }
}

impl ConnSlot for Pooled {
    type Io = Stream;

    fn conn(&mut self) -> &mut Conn {
        self.conn
            .as_mut()
            .expect("a lent connection is present until released")
    }

    fn release(mut self, how: Release) {
        let Some(conn) = self.conn.take() else { return };
        match how {
            Release::Keep { idle_hint } => self.pool.put(self.key.clone(), conn, idle_hint),
            Release::Close => self.pool.closed(&self.key, Some(conn)),
        }
    }

    fn detach(mut self) -> Option<Conn> {
        let conn = self.conn.take()?;
        // Its place in the host's limit is free: the pool never sees it again.
        self.pool.closed(&self.key, None);
        Some(conn)
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.closed(&self.key, Some(conn));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// `host_and_port` reads every authority `http` accepts as `Uri::host` and
        /// `Uri::port_u16` do.
        #[test]
        fn host_and_port_is_what_uri_reads(
            user in proptest::option::of("[a-z:%0-9]{0,6}"),
            host in proptest::prop_oneof![
                "[a-zA-Z0-9.-]{1,12}",
                "\\[[0-9a-f:]{2,12}\\]",
                "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
            ],
            port in proptest::option::of("[0-9]{0,6}"),
        ) {
            let mut authority = String::new();
            if let Some(user) = &user {
                authority.push_str(user);
                authority.push('@');
            }
            authority.push_str(&host);
            if let Some(port) = &port {
                authority.push(':');
                authority.push_str(port);
            }
            if let Ok(uri) = format!("http://{authority}/p").parse::<Uri>() {
                let a = uri.authority().unwrap().as_str();
                proptest::prop_assert_eq!(host_and_port(a), (uri.host().unwrap(), uri.port_u16()));
            }
        }
    }

    #[test]
    fn keys_normalise_host_and_port() {
        let k = ConnectKey::from_uri(&"http://Example.COM/x".parse().unwrap(), None).unwrap();
        assert_eq!(
            (&*k.host, k.port, k.scheme),
            ("example.com", 80, Scheme::Http)
        );
        let k =
            ConnectKey::from_uri(&"http://[::1]:8443/".parse().unwrap(), Some("p:3128")).unwrap();
        assert_eq!((&*k.host, k.port), ("::1", 8443));
        assert_eq!(k.to_string(), "http://[::1]:8443 via p:3128");
        let k = ConnectKey::from_uri(&"https://h/".parse().unwrap(), None).unwrap();
        assert_eq!((k.scheme, k.port), (Scheme::Https, 443));
        assert!(ConnectKey::from_uri(&"/relative".parse().unwrap(), None).is_err());
        assert!(ConnectKey::from_uri(&"ftp://h/".parse().unwrap(), None).is_err());
    }

    #[test]
    fn retirement_precedes_the_servers_timeout() {
        let ninety = Duration::from_secs(90);
        assert_eq!(retire_after(ninety, None), ninety);
        assert_eq!(
            retire_after(ninety, Some(Duration::from_secs(5))),
            Duration::from_secs(4)
        );
        assert_eq!(
            retire_after(ninety, Some(Duration::from_secs(1))),
            Duration::from_millis(500)
        );
        assert_eq!(retire_after(ninety, Some(Duration::ZERO)), Duration::ZERO);
        assert_eq!(
            retire_after(Duration::from_secs(3), Some(Duration::from_secs(60))),
            Duration::from_secs(3)
        );
    }
}
