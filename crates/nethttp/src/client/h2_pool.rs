//! HTTP/2 connections in the pool: one connection carries many requests at once, up to the
//! server's MAX_CONCURRENT_STREAMS. Each shared connection has a task that drives it and
//! takes it out of the pool when it ends (GOAWAY, error, or idle past the pool's timeout);
//! each request holds an [`H2Stream`] that counts it in flight until its response body ends
//! (or, for an extended `CONNECT`, until its upgraded stream is dropped).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::pool::{ConnectKey, Shared, Stream};
use crate::proto::h2::client::ClientConnection;

/// One HTTP/2 connection as the pool shares it.
pub(crate) struct H2Conn {
    send: SendRequest<Bytes>,
    /// Our own cap on streams per connection, below the server's limit.
    stream_cap: usize,
    local_addr: Option<std::net::SocketAddr>,
    /// Requests using it now.
    in_flight: AtomicUsize,
    /// No new request may use it (GOAWAY seen, failed, or being closed).
    dead: AtomicBool,
    /// When it last had no request in flight.
    idle_since: Mutex<Instant>,
    /// Wakes the driving task: the connection went idle, or must close, or a request waits
    /// for the server's SETTINGS.
    wake: Notify,
    /// The server's first SETTINGS are known to be applied (a PONG came after them).
    settings_known: AtomicBool,
    /// A request waits for `settings_known`: the driver sends a PING to learn it.
    settings_wanted: AtomicBool,
    /// Wakes the requests waiting for `settings_known` (or for the connection's end).
    settings_seen: Notify,
}

impl H2Conn {
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Requests in flight split into `(open streams, waiting for a stream)`. h2 opens streams
    /// in request order up to the server's MAX_CONCURRENT_STREAMS and queues the rest inside,
    /// without saying which is which, so the split follows from that limit.
    pub(crate) fn streams(&self) -> (usize, usize) {
        let in_flight = self.in_flight();
        let open = in_flight.min(self.send.current_max_send_streams());
        (open, in_flight - open)
    }

    pub(crate) fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    /// Whether another stream fits under the server's limit.
    pub(crate) fn has_capacity(&self) -> bool {
        !self.is_dead()
            && self.in_flight() < self.send.current_max_send_streams().min(self.stream_cap)
    }

    /// Whether the server allows extended `CONNECT` (RFC 8441: it sent
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL = 1), waiting up to `wait` for its first SETTINGS
    /// if they may not have been applied yet; `None` if they did not come in time. h2's
    /// handshake returns before the server's SETTINGS arrive, and says nothing of them, so
    /// the driver learns it with a PING: the server sends its SETTINGS first (RFC 9113
    /// §3.4), and h2 applies them before it reads the next frame, so once the PONG is in,
    /// the setting h2 reports is the server's.
    pub(crate) async fn extended_connect(&self, wait: Duration) -> Option<bool> {
        let known = async {
            loop {
                if self.send.is_extended_connect_protocol_enabled() {
                    return true;
                }
                let seen = self.settings_seen.notified();
                let mut seen = std::pin::pin!(seen);
                seen.as_mut().enable();
                if self.settings_known.load(Ordering::Acquire) || self.is_dead() {
                    return self.send.is_extended_connect_protocol_enabled();
                }
                self.settings_wanted.store(true, Ordering::Release);
                self.wake.notify_one();
                seen.await;
            }
        };
        tokio::time::timeout(wait, known).await.ok()
    }

    /// Takes no new requests; closes once idle (at once if idle now).
    pub(crate) fn retire(&self) {
        self.dead.store(true, Ordering::Release);
        self.wake.notify_one();
    }
}

/// How a shared connection is kept: idle expiry, our stream cap, keepalive PINGs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct H2Limits {
    pub idle_timeout: Duration,
    pub stream_cap: usize,
    /// PING every `.0`; no answer within `.1` and the connection is closed.
    pub keepalive: Option<(Duration, Duration)>,
}

/// Starts sharing a new connection: spawns its driver and returns the connection (the
/// caller takes the first stream, for the request that dialed it).
pub(crate) fn start(
    send: SendRequest<Bytes>,
    mut conn: ClientConnection<Stream>,
    key: Arc<ConnectKey>,
    pool: &Arc<Shared>,
    limits: H2Limits,
    local_addr: Option<std::net::SocketAddr>,
) -> Arc<H2Conn> {
    // Taken whether or not keepalive PINGs are on: a PING also tells when the server's
    // SETTINGS are in (see `H2Conn::extended_connect`).
    let pinger = conn.ping_pong();
    let shared = Arc::new(H2Conn {
        send,
        stream_cap: limits.stream_cap,
        local_addr,
        in_flight: AtomicUsize::new(0),
        dead: AtomicBool::new(false),
        idle_since: Mutex::new(Instant::now()),
        wake: Notify::new(),
        settings_known: AtomicBool::new(false),
        settings_wanted: AtomicBool::new(false),
        settings_seen: Notify::new(),
    });
    tokio::spawn(drive(
        conn,
        shared.clone(),
        key,
        Arc::downgrade(pool),
        limits.idle_timeout,
        pinger,
        limits.keepalive,
    ));
    shared
}

/// Drives the connection until it ends, or until it has been idle for `idle_timeout` (or
/// is retired while idle), or a keepalive PING goes unanswered; then removes it from the
/// pool. A connection whose peer vanished without closing is found dead by the PING, not
/// by each of its requests timing out in turn. A PING is also sent when a request asks
/// whether the server's SETTINGS are in (any PONG answers that).
async fn drive(
    conn: ClientConnection<Stream>,
    shared: Arc<H2Conn>,
    key: Arc<ConnectKey>,
    pool: Weak<Shared>,
    idle_timeout: Duration,
    mut ping: Option<h2::PingPong>,
    keepalive: Option<(Duration, Duration)>,
) {
    let mut conn = std::pin::pin!(conn);
    let (interval, ping_timeout) = keepalive.unwrap_or((Duration::from_secs(3600), Duration::ZERO));
    let mut awaiting_pong = false;
    let mut ping_timer = std::pin::pin!(tokio::time::sleep(interval));
    loop {
        if shared.settings_wanted.swap(false, Ordering::AcqRel) && !awaiting_pong {
            match ping.as_mut().map(|p| p.send_ping(h2::Ping::opaque())) {
                Some(Ok(())) => {
                    awaiting_pong = true;
                    // Answered within the keepalive's time like its own PINGs.
                    if keepalive.is_some() {
                        ping_timer.as_mut().reset(Instant::now() + ping_timeout);
                    }
                }
                // No PING to be had: say what h2 knows now.
                _ => {
                    shared.settings_known.store(true, Ordering::Release);
                    shared.settings_seen.notify_waiters();
                }
            }
        }
        let idle = shared.in_flight() == 0;
        let idle_until =
            *shared.idle_since.lock().unwrap_or_else(|p| p.into_inner()) + idle_timeout;
        if idle && (shared.is_dead() || idle_until <= Instant::now()) {
            break;
        }
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(host = %key, error = %e, "HTTP/2 connection ended");
                }
                break;
            }
            _ = shared.wake.notified() => {}
            _ = tokio::time::sleep_until(idle_until), if idle => {}
            _ = ping_timer.as_mut(), if keepalive.is_some() && ping.is_some() => {
                if awaiting_pong {
                    tracing::debug!(host = %key, "HTTP/2 keepalive PING unanswered; closing");
                    break;
                }
                if ping.as_mut().is_some_and(|p| p.send_ping(h2::Ping::opaque()).is_err()) {
                    break;
                }
                awaiting_pong = true;
                ping_timer.as_mut().reset(Instant::now() + ping_timeout);
            }
            pong = std::future::poll_fn(|cx| match ping.as_mut() {
                Some(p) => p.poll_pong(cx),
                None => std::task::Poll::Pending,
            }), if awaiting_pong => {
                if pong.is_err() {
                    break;
                }
                awaiting_pong = false;
                shared.settings_known.store(true, Ordering::Release);
                shared.settings_seen.notify_waiters();
                ping_timer.as_mut().reset(Instant::now() + interval);
            }
        }
    }
    shared.dead.store(true, Ordering::Release);
    shared.settings_seen.notify_waiters();
    if let Some(pool) = pool.upgrade() {
        pool.h2_closed(&key, &shared);
    }
}

/// One request's use of a shared connection; dropping it (when the response body ends or
/// is dropped, or the request fails) frees the stream.
pub(crate) struct H2Stream {
    conn: Arc<H2Conn>,
}

impl H2Stream {
    /// Counts a new request on `conn`.
    pub(crate) fn take(conn: &Arc<H2Conn>) -> H2Stream {
        conn.in_flight.fetch_add(1, Ordering::AcqRel);
        H2Stream { conn: conn.clone() }
    }

    /// A handle to send on (clones share the connection).
    pub(crate) fn sender(&self) -> SendRequest<Bytes> {
        self.conn.send.clone()
    }

    /// The connection itself.
    pub(crate) fn conn(&self) -> Arc<H2Conn> {
        self.conn.clone()
    }

    /// The connection's local address.
    pub(crate) fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.conn.local_addr
    }

    /// Requests in flight on this connection, this one included.
    pub(crate) fn in_flight(&self) -> usize {
        self.conn.in_flight()
    }
}

impl Drop for H2Stream {
    fn drop(&mut self) {
        if self.conn.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            *self
                .conn
                .idle_since
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Instant::now();
            self.conn.wake.notify_one();
        }
    }
}
