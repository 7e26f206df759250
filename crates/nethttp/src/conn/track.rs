//! Live records of a server's open connections (`Server::track_connections`): one entry per
//! connection, inserted when its task starts and removed when it ends, updated with relaxed
//! atomics as its state, protocol and requests change, and read by the debug page and the
//! metrics gauges. Nothing here is touched on the accept loop.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use http::Method;

use super::metrics::ServerMetrics;
use super::ConnState;

/// The longest request target shown; longer ones are cut (at a char boundary).
const MAX_TARGET: usize = 200;

/// The protocol a connection speaks, once known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Proto {
    /// Not yet known: nothing read.
    Unknown = 0,
    Http1 = 1,
    Http2 = 2,
}

impl Proto {
    fn from_u8(v: u8) -> Proto {
        match v {
            1 => Proto::Http1,
            2 => Proto::Http2,
            _ => Proto::Unknown,
        }
    }

    /// The name shown on the page and in metric labels.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Proto::Unknown => "unknown",
            Proto::Http1 => "http1",
            Proto::Http2 => "h2",
        }
    }
}

fn state_to_u8(s: ConnState) -> u8 {
    match s {
        ConnState::New => 0,
        ConnState::Active => 1,
        ConnState::Idle => 2,
        ConnState::Closed => 3,
        ConnState::Upgraded => 4,
    }
}

/// The name of a state on the page and in metric labels.
pub(crate) fn state_name(s: ConnState) -> &'static str {
    match s {
        ConnState::New => "new",
        ConnState::Active => "active",
        ConnState::Idle => "idle",
        ConnState::Closed => "closed",
        ConnState::Upgraded => "upgraded",
    }
}

fn state_from_u8(v: u8) -> ConnState {
    match v {
        1 => ConnState::Active,
        2 => ConnState::Idle,
        3 => ConnState::Closed,
        4 => ConnState::Upgraded,
        _ => ConnState::New,
    }
}

/// The open connections of one server.
pub(crate) struct ConnTable {
    next_id: AtomicU64,
    conns: Mutex<HashMap<u64, Arc<ConnEntry>>>,
    /// The addresses it listens on, for the page's heading.
    pub(crate) addrs: Vec<SocketAddr>,
    /// When it started serving.
    pub(crate) started: SystemTime,
    /// Connections it has accepted (tracked) since it started.
    pub(crate) accepted: AtomicU64,
    /// Requests answered on connections that have closed (open ones count their own).
    closed_requests: AtomicU64,
    /// The server's event metrics, when it reports them.
    metrics: Option<Arc<ServerMetrics>>,
}

/// One open connection.
pub(crate) struct ConnEntry {
    pub(crate) id: u64,
    pub(crate) remote: SocketAddr,
    pub(crate) local: Option<SocketAddr>,
    pub(crate) opened: Instant,
    /// The socket's descriptor, for `TCP_INFO` when the page is drawn.
    pub(crate) fd: Option<RawFd>,
    proto: AtomicU8,
    tls: AtomicBool,
    state: AtomicU8,
    requests: AtomicU64,
    /// HTTP/2: streams running now.
    streams: AtomicU32,
    current: Mutex<Option<Current>>,
    /// The server's event metrics, for the HTTP/2 stream tasks.
    pub(crate) metrics: Option<Arc<ServerMetrics>>,
}

/// The request a connection is busy with (HTTP/1.1), or its latest stream (HTTP/2).
#[derive(Clone)]
pub(crate) struct Current {
    pub(crate) method: Method,
    /// The request's URI: a clone shares the request's bytes (no copy per request).
    pub(crate) uri: http::Uri,
    pub(crate) since: Instant,
}

/// What the page shows of a connection, read at one moment.
pub(crate) struct ConnView {
    pub(crate) id: u64,
    pub(crate) remote: SocketAddr,
    pub(crate) local: Option<SocketAddr>,
    pub(crate) age_ms: u128,
    pub(crate) fd: Option<RawFd>,
    pub(crate) proto: Proto,
    pub(crate) tls: bool,
    pub(crate) state: ConnState,
    pub(crate) requests: u64,
    pub(crate) streams: u32,
    pub(crate) current: Option<Current>,
}

impl Current {
    /// The request target as shown: path and query, cut at [`MAX_TARGET`] bytes.
    pub(crate) fn target(&self) -> &str {
        let target = self.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut cut = target.len().min(MAX_TARGET);
        while !target.is_char_boundary(cut) {
            cut -= 1;
        }
        &target[..cut]
    }
}

impl ConnTable {
    /// A connection was closed at once: its client had its most connections open.
    pub(crate) fn refused_per_ip(&self) {
        if let Some(m) = &self.metrics {
            m.refused_per_ip();
        }
    }

    /// A table for a server listening on `addrs`, reporting event metrics if `metrics`.
    pub(crate) fn new(addrs: Vec<SocketAddr>, metrics: bool) -> Arc<ConnTable> {
        Arc::new(ConnTable {
            metrics: metrics.then(|| Arc::new(ServerMetrics::new())),
            next_id: AtomicU64::new(1),
            conns: Mutex::new(HashMap::new()),
            addrs,
            started: SystemTime::now(),
            accepted: AtomicU64::new(0),
            closed_requests: AtomicU64::new(0),
        })
    }

    /// Records a new connection; the returned guard removes it when dropped.
    pub(crate) fn open(
        self: &Arc<Self>,
        remote: SocketAddr,
        local: Option<SocketAddr>,
        fd: Option<RawFd>,
    ) -> Tracked {
        let entry = Arc::new(ConnEntry {
            id: self.next_id.fetch_add(1, Relaxed),
            remote,
            local,
            opened: Instant::now(),
            fd,
            proto: AtomicU8::new(Proto::Unknown as u8),
            tls: AtomicBool::new(false),
            state: AtomicU8::new(0),
            requests: AtomicU64::new(0),
            streams: AtomicU32::new(0),
            current: Mutex::new(None),
            metrics: self.metrics.clone(),
        });
        self.accepted.fetch_add(1, Relaxed);
        if let Some(m) = &self.metrics {
            m.accepted();
        }
        self.lock().insert(entry.id, entry.clone());
        Tracked {
            table: self.clone(),
            entry,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<ConnEntry>>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every open connection, oldest first.
    pub(crate) fn view(&self) -> Vec<ConnView> {
        let entries: Vec<Arc<ConnEntry>> = self.lock().values().cloned().collect();
        let now = Instant::now();
        let mut views: Vec<ConnView> = entries
            .iter()
            .map(|e| ConnView {
                id: e.id,
                remote: e.remote,
                local: e.local,
                age_ms: now.saturating_duration_since(e.opened).as_millis(),
                fd: e.fd,
                proto: Proto::from_u8(e.proto.load(Relaxed)),
                tls: e.tls.load(Relaxed),
                state: state_from_u8(e.state.load(Relaxed)),
                requests: e.requests.load(Relaxed),
                streams: e.streams.load(Relaxed),
                current: e.current.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            })
            .collect();
        views.sort_by_key(|v| v.id);
        views
    }

    /// Requests answered since the server started, on open and closed connections.
    pub(crate) fn requests(&self) -> u64 {
        let open: u64 = self.lock().values().map(|e| e.requests.load(Relaxed)).sum();
        open + self.closed_requests.load(Relaxed)
    }
}

/// A connection's entry, removed from its table when this drops.
pub(crate) struct Tracked {
    table: Arc<ConnTable>,
    entry: Arc<ConnEntry>,
}

impl Tracked {
    #[inline]
    pub(crate) fn set_state(&self, s: ConnState) {
        self.entry.state.store(state_to_u8(s), Relaxed);
    }

    pub(crate) fn set_proto(&self, p: Proto, tls: bool) {
        self.entry.proto.store(p as u8, Relaxed);
        self.entry.tls.store(tls, Relaxed);
    }

    /// A request began: it is the current one.
    pub(crate) fn request_begins(&self, method: &Method, uri: &http::Uri) {
        let cur = Current {
            method: method.clone(),
            uri: uri.clone(),
            since: Instant::now(),
        };
        *self.entry.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(cur);
    }

    /// The current request was answered with `status` (its head is being written).
    pub(crate) fn request_ends(&self, status: http::StatusCode) {
        self.entry.requests.fetch_add(1, Relaxed);
        let current = self
            .entry
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let (Some(m), Some(cur)) = (&self.entry.metrics, current) {
            m.request(&cur.method, status, cur.since.elapsed());
        }
    }

    /// A request was refused with `status` before any handler saw it.
    pub(crate) fn rejected(&self, status: http::StatusCode) {
        if let Some(m) = &self.entry.metrics {
            m.rejected(status);
        }
    }

    /// The TLS handshake failed (or timed out).
    pub(crate) fn tls_failed(&self) {
        if let Some(m) = &self.entry.metrics {
            m.tls_failed();
        }
    }

    /// The entry, for the HTTP/2 stream tasks, which run apart from the connection's task.
    pub(crate) fn entry(&self) -> &Arc<ConnEntry> {
        &self.entry
    }
}

impl ConnEntry {
    /// As [`Tracked::request_begins`], from an HTTP/2 stream task.
    pub(crate) fn stream_begins(&self, method: &Method, uri: &http::Uri) {
        self.streams.fetch_add(1, Relaxed);
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(Current {
            method: method.clone(),
            uri: uri.clone(),
            since: Instant::now(),
        });
    }

    /// An HTTP/2 stream's request (`method`, begun at `since`) was answered with `status`.
    pub(crate) fn stream_answered(
        &self,
        method: &Method,
        since: Instant,
        status: http::StatusCode,
    ) {
        if let Some(m) = &self.metrics {
            m.request(method, status, since.elapsed());
        }
    }

    /// The client reset an HTTP/2 stream whose handler ran.
    pub(crate) fn stream_reset(&self) {
        if let Some(m) = &self.metrics {
            m.h2_reset();
        }
    }

    /// An HTTP/2 stream ended.
    pub(crate) fn stream_ends(&self) {
        self.streams.fetch_sub(1, Relaxed);
        self.requests.fetch_add(1, Relaxed);
        if self.streams.load(Relaxed) == 0 {
            *self.current.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.table
            .closed_requests
            .fetch_add(self.entry.requests.load(Relaxed), Relaxed);
        self.table.lock().remove(&self.entry.id);
        if let Some(m) = &self.entry.metrics {
            m.closed(Proto::from_u8(self.entry.proto.load(Relaxed)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_come_and_go_and_requests_are_counted_after_close() {
        let table = ConnTable::new(vec![], false);
        let a = table.open("127.0.0.1:1".parse().unwrap(), None, None);
        let b = table.open("127.0.0.1:2".parse().unwrap(), None, None);
        a.set_proto(Proto::Http1, false);
        a.set_state(ConnState::Active);
        let long: http::Uri = format!("/{}", "x".repeat(500)).parse().unwrap();
        a.request_begins(&Method::GET, &long);
        let v = table.view();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].state, ConnState::Active);
        assert_eq!(v[0].current.as_ref().unwrap().target().len(), MAX_TARGET);
        a.request_ends(http::StatusCode::OK);
        b.entry()
            .stream_begins(&Method::POST, &"/%C3%A9".parse().unwrap());
        assert_eq!(table.view()[1].streams, 1);
        b.entry().stream_ends();
        drop(a);
        assert_eq!(table.view().len(), 1);
        assert_eq!(table.requests(), 2);
        drop(b);
        assert_eq!((table.view().len(), table.requests()), (0, 2));
        assert_eq!(table.accepted.load(Relaxed), 2);
    }
}
