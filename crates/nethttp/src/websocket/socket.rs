//! The [`WebSocket`] both sides get: tokio-tungstenite's framing over our upgraded
//! connection, and the keepalive around it — a Ping after `ping_interval` without a frame
//! from the peer, the connection failed (Close 1001, then an error) after `idle_timeout`
//! without one, and a send failed once the peer has taken no byte for `idle_timeout`.
//!
//! The timers are lazy: each direction has one `Sleep`, armed at the next deadline and moved
//! only when it fires (or, rarely, when a deadline comes earlier), never per message; a
//! message costs one clock read. They run while the socket is polled: a socket read in a
//! loop (`next()` in a `select!` beside the sends, or its halves after `split`) gets them;
//! one nobody polls is nobody's to time out.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::sink::Sink;
use futures_util::stream::{FusedStream, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

use super::{Message, WsError};
use crate::upgrade::Upgraded;

/// Silence from the peer after which a Ping goes out, by default: 30 s, half of
/// [`DEFAULT_IDLE_TIMEOUT`], so a peer that answers has a whole 30 s to do it, and a
/// connection quiet in both directions still carries a frame each 30 s through proxies that
/// close idle ones (nginx's `proxy_read_timeout` and common load balancers: 60 s).
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(30);

/// Silence from the peer after which the connection is failed, by default: 60 s, gorilla's
/// `pongWait` in its examples and nginx's `proxy_read_timeout`.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A WebSocket connection: a `Stream` of incoming [`Message`]s and a `Sink` for outgoing
/// ones (`futures_util::{StreamExt, SinkExt}`), tokio-tungstenite's framing over the
/// upgraded connection. Pings are answered as they are read.
///
/// Keepalive (both sides, on by default, [`set_keepalive`](WebSocket::set_keepalive)):
/// after [`DEFAULT_PING_INTERVAL`] without a frame from the peer a Ping goes out; after
/// [`DEFAULT_IDLE_TIMEOUT`] without one (a Pong counts, as does any message) the read fails
/// with an `Io` error of kind `TimedOut`, a Close 1001 "idle timeout" sent if the socket
/// takes it; and a send that the peer takes no byte of for `idle_timeout` (it stopped
/// reading) fails the same way. After either, the stream ends and sends fail: drop the
/// socket. The timers run while the socket is polled (see the module docs).
pub struct WebSocket {
    inner: WebSocketStream<Counted>,
    ping_interval: Option<Duration>,
    idle_timeout: Option<Duration>,
    /// When the peer's last frame came to the reader (or the socket opened).
    heard: Instant,
    /// A Ping went out (or could not) since `heard`.
    pinged: bool,
    /// The read side's deadline: the next ping, or the idle timeout.
    read_timer: Option<Pin<Box<Sleep>>>,
    /// The write side's deadline while a send waits for the peer to read.
    write_timer: Option<Pin<Box<Sleep>>>,
    /// A send is waiting for the socket (armed `write_timer`).
    stalled: bool,
    /// The keepalive failed the connection.
    timed_out: bool,
}

impl WebSocket {
    /// The socket over `io` after a completed handshake, with the default keepalive.
    pub(crate) async fn new(io: Upgraded, role: Role, config: WebSocketConfig) -> WebSocket {
        let io = Counted {
            io,
            last_write: Instant::now(),
        };
        let inner = WebSocketStream::from_raw_socket(io, role, Some(config)).await;
        WebSocket {
            inner,
            ping_interval: Some(DEFAULT_PING_INTERVAL),
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            heard: Instant::now(),
            pinged: false,
            read_timer: None,
            write_timer: None,
            stalled: false,
            timed_out: false,
        }
    }

    /// Sets the keepalive: a Ping after `ping_interval` without a frame from the peer, the
    /// connection failed after `idle_timeout` without one or with a send the peer takes
    /// nothing of. `None` turns either off; `(None, None)` is no keepalive at all (the
    /// application's own timeouts then). A `ping_interval` not shorter than `idle_timeout`
    /// sends no Ping before the connection fails. Default: 30 s and 60 s
    /// ([`DEFAULT_PING_INTERVAL`], [`DEFAULT_IDLE_TIMEOUT`]). The silence counts from the
    /// peer's last frame, not from this call.
    pub fn set_keepalive(
        &mut self,
        ping_interval: Option<Duration>,
        idle_timeout: Option<Duration>,
    ) {
        self.ping_interval = ping_interval;
        self.idle_timeout = idle_timeout;
        // Deadlines may now come earlier than the armed timers: re-arm from scratch.
        self.read_timer = None;
        self.write_timer = None;
        self.stalled = false;
    }

    /// The keepalive: `(ping_interval, idle_timeout)`.
    pub fn keepalive(&self) -> (Option<Duration>, Option<Duration>) {
        (self.ping_interval, self.idle_timeout)
    }

    /// The limits the socket runs with.
    pub fn get_config(&self) -> &WebSocketConfig {
        self.inner.get_config()
    }

    /// Sends a Close (with `frame`, or none) and flushes it; the stream then ends when the
    /// peer answers with its own.
    pub async fn close(&mut self, frame: Option<CloseFrame>) -> Result<(), WsError> {
        self.inner.close(frame).await
    }

    /// The read side's keepalive: `Pending` (its timer armed on `cx`) or, on the idle
    /// timeout, the error that ends the stream. Sends the Ping when it is due.
    fn poll_keepalive_read(&mut self, cx: &mut Context<'_>) -> Poll<WsError> {
        loop {
            // The Ping is due first, if one is to go before the idle deadline.
            let ping_due = match (self.ping_interval, self.idle_timeout) {
                (Some(p), Some(i)) if p >= i => None,
                (Some(p), _) if !self.pinged => Some(self.heard + p),
                _ => None,
            };
            let Some(due) = ping_due.or(self.idle_timeout.map(|i| self.heard + i)) else {
                return Poll::Pending;
            };
            if due > Instant::now() {
                let timer = self
                    .read_timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
                // Moved when it fired or when the deadline came earlier (after a Pong, the
                // next ping may be due before the idle deadline it was armed at); a later
                // deadline waits for it to fire.
                if timer.is_elapsed() || timer.deadline() > due {
                    timer.as_mut().reset(due);
                }
                if timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                continue;
            }
            if ping_due.is_some() {
                // A peer that does not read may leave no room for it: the idle timeout
                // then decides.
                self.pinged = true;
                self.try_send(cx, Message::Ping(Default::default()));
                continue;
            }
            self.timed_out = true;
            self.try_send(
                cx,
                Message::Close(Some(CloseFrame {
                    code: CloseCode::Away,
                    reason: "idle timeout".into(),
                })),
            );
            return Poll::Ready(timed_out(
                "no frame from the WebSocket peer within the idle timeout",
            ));
        }
    }

    /// The write side's keepalive while a send waits: `Pending`, or the error once the
    /// peer has taken no byte for `idle_timeout`.
    fn poll_keepalive_write(&mut self, cx: &mut Context<'_>) -> Poll<WsError> {
        let Some(idle) = self.idle_timeout else {
            return Poll::Pending;
        };
        let timer = self
            .write_timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
        if !self.stalled {
            self.stalled = true;
            timer.as_mut().reset(Instant::now() + idle);
        }
        loop {
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            // Bytes went out meanwhile: the peer reads, slowly. Wait from the last of them.
            let due = self.inner.get_ref().last_write + idle;
            if due > Instant::now() {
                timer.as_mut().reset(due);
                continue;
            }
            self.timed_out = true;
            return Poll::Ready(timed_out(
                "the WebSocket peer took no data within the idle timeout",
            ));
        }
    }

    /// Queues `msg` and starts flushing it, without waiting: no room, no message.
    fn try_send(&mut self, cx: &mut Context<'_>, msg: Message) {
        let mut inner = Pin::new(&mut self.inner);
        if let Poll::Ready(Ok(())) = inner.as_mut().poll_ready(cx) {
            if inner.as_mut().start_send(msg).is_ok() {
                let _ = inner.poll_flush(cx);
            }
        }
    }

    /// Runs a send-side poll of the inner socket under the write keepalive.
    fn poll_send_side(
        &mut self,
        cx: &mut Context<'_>,
        f: impl FnOnce(
            Pin<&mut WebSocketStream<Counted>>,
            &mut Context<'_>,
        ) -> Poll<Result<(), WsError>>,
    ) -> Poll<Result<(), WsError>> {
        if self.timed_out {
            return Poll::Ready(Err(WsError::AlreadyClosed));
        }
        match f(Pin::new(&mut self.inner), cx) {
            Poll::Ready(r) => {
                self.stalled = false;
                Poll::Ready(r)
            }
            Poll::Pending => self.poll_keepalive_write(cx).map(Err),
        }
    }
}

fn timed_out(msg: &'static str) -> WsError {
    WsError::Io(io::Error::new(io::ErrorKind::TimedOut, msg))
}

impl std::fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("ping_interval", &self.ping_interval)
            .field("idle_timeout", &self.idle_timeout)
            .field("timed_out", &self.timed_out)
            .finish_non_exhaustive()
    }
}

impl Stream for WebSocket {
    type Item = Result<Message, WsError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.timed_out {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(msg))) => {
                this.heard = Instant::now();
                this.pinged = false;
                Poll::Ready(Some(Ok(msg)))
            }
            Poll::Ready(other) => Poll::Ready(other),
            Poll::Pending => this.poll_keepalive_read(cx).map(|e| Some(Err(e))),
        }
    }
}

impl FusedStream for WebSocket {
    fn is_terminated(&self) -> bool {
        self.timed_out || self.inner.is_terminated()
    }
}

impl Sink<Message> for WebSocket {
    type Error = WsError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        self.poll_send_side(cx, |s, cx| s.poll_ready(cx))
    }

    fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), WsError> {
        if self.timed_out {
            return Err(WsError::AlreadyClosed);
        }
        Pin::new(&mut self.inner).start_send(item)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        self.poll_send_side(cx, |s, cx| s.poll_flush(cx))
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        self.poll_send_side(cx, |s, cx| s.poll_close(cx))
    }
}

/// The upgraded connection, noting when the peer last took bytes from us (the write side's
/// progress, for its keepalive).
struct Counted {
    io: Upgraded,
    last_write: Instant,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            if n > 0 {
                self.last_write = Instant::now();
            }
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = r {
            if n > 0 {
                self.last_write = Instant::now();
            }
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    //! The keepalive on a clock that only moves when every task waits (`start_paused`), so
    //! the deadlines are met exactly, over in-memory pipes.

    use super::*;
    use bytes::Bytes;
    use futures_util::{SinkExt, StreamExt};
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    const PING: Duration = Duration::from_secs(30);
    const IDLE: Duration = Duration::from_secs(60);

    /// Our server's socket over one end of a pipe of `buffer` bytes; the other end is the peer.
    async fn server(buffer: usize) -> (WebSocket, DuplexStream) {
        let (ours, peer) = tokio::io::duplex(buffer);
        let io = Upgraded::whole(Bytes::new(), ours);
        let socket = WebSocket::new(io, Role::Server, super::super::default_config()).await;
        (socket, peer)
    }

    /// Bounds a wait on the paused clock, so a missing deadline fails instead of hanging.
    async fn within<F: std::future::Future>(f: F) -> F::Output {
        tokio::time::timeout(20 * IDLE, f)
            .await
            .expect("done within 20 idle timeouts")
    }

    /// Reads one unmasked frame (as a server sends them) off `peer`: opcode and payload.
    async fn frame(peer: &mut DuplexStream) -> (u8, Vec<u8>) {
        let mut head = [0u8; 2];
        within(peer.read_exact(&mut head)).await.unwrap();
        assert!(head[1] < 126, "a short frame");
        let mut payload = vec![0u8; head[1] as usize];
        peer.read_exact(&mut payload).await.unwrap();
        (head[0], payload)
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_gets_a_ping_then_a_close_and_the_read_fails() {
        let (mut socket, mut peer) = server(64 << 10).await;
        let t0 = Instant::now();
        let reader = tokio::spawn(async move {
            let got = socket.next().await;
            let after = socket.next().await;
            (got, after, Instant::now())
        });
        assert_eq!(frame(&mut peer).await, (0x89, vec![]), "a Ping");
        assert_eq!(t0.elapsed(), PING);
        let (op, payload) = frame(&mut peer).await;
        assert_eq!(op, 0x88, "a Close");
        assert_eq!(&payload[..2], &1001u16.to_be_bytes());
        assert_eq!(&payload[2..], b"idle timeout");
        let (got, after, at) = within(reader).await.unwrap();
        assert_eq!(at - t0, IDLE);
        match got {
            Some(Err(WsError::Io(e))) => assert_eq!(e.kind(), io::ErrorKind::TimedOut),
            other => panic!("expected the idle timeout, got {other:?}"),
        }
        assert!(after.is_none(), "the stream ended");
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_answers_pings_stays_open_past_the_idle_timeout() {
        let (mut socket, peer) = server(64 << 10).await;
        // tungstenite answers each Ping as it reads it.
        let mut client = WebSocketStream::from_raw_socket(peer, Role::Client, None).await;
        let client = tokio::spawn(async move {
            let mut pings = 0;
            while let Some(Ok(msg)) = client.next().await {
                if msg.is_ping() {
                    pings += 1;
                }
                if pings == 5 {
                    client.send(Message::text("still here")).await.unwrap();
                }
            }
            pings
        });
        let t0 = Instant::now();
        // Five idle timeouts of no data, only Pings and Pongs; then the message.
        match within(socket.next()).await {
            Some(Ok(Message::Pong(_))) => {}
            other => panic!("expected the first Pong, got {other:?}"),
        }
        let mut pongs = 1;
        loop {
            match within(socket.next()).await {
                Some(Ok(Message::Pong(_))) => pongs += 1,
                Some(Ok(Message::Text(t))) => {
                    assert_eq!(t.as_str(), "still here");
                    break;
                }
                other => panic!("expected Pongs then the text, got {other:?}"),
            }
        }
        // The fifth Pong may trail the text (tungstenite queues it behind).
        assert!(pongs >= 4, "{pongs} Pongs");
        assert_eq!(t0.elapsed(), 5 * PING, "a Ping per 30 s of silence");
        drop(socket);
        assert_eq!(client.await.unwrap(), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn a_send_the_peer_takes_nothing_of_fails_after_the_idle_timeout() {
        let (mut socket, _peer) = server(4 << 10).await;
        let t0 = Instant::now();
        let mut sent = 0usize;
        let err = loop {
            match within(socket.send(Message::binary(vec![0u8; 16 << 10]))).await {
                Ok(()) => sent += 1,
                Err(e) => break e,
            }
        };
        assert_eq!(sent, 0, "the first message did not fit the pipe");
        assert_eq!(t0.elapsed(), IDLE);
        match err {
            WsError::Io(e) => assert_eq!(e.kind(), io::ErrorKind::TimedOut),
            other => panic!("expected the idle timeout, got {other:?}"),
        }
        assert!(matches!(
            socket.send(Message::text("x")).await,
            Err(WsError::AlreadyClosed)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_reader_is_not_a_stalled_one() {
        let (mut socket, mut peer) = server(1 << 10).await;
        // 1 KiB each 40 s: a 32 KiB message takes over 20 minutes, far past the idle timeout,
        // and the peer says nothing all along (a Ping goes out, no Pong comes back).
        let reader = tokio::spawn(async move {
            let mut buf = vec![0u8; 1 << 10];
            let mut total = 0;
            while total < (32 << 10) + 4 {
                tokio::time::sleep(Duration::from_secs(40)).await;
                total += peer.read(&mut buf).await.unwrap();
            }
            total
        });
        let t0 = Instant::now();
        tokio::time::timeout(
            100 * IDLE,
            socket.send(Message::binary(vec![1u8; 32 << 10])),
        )
        .await
        .expect("done in time")
        .expect("a send that makes progress goes on");
        assert!(t0.elapsed() > 10 * IDLE);
        assert!(reader.await.unwrap() >= 32 << 10);
    }

    #[tokio::test(start_paused = true)]
    async fn no_keepalive_when_turned_off() {
        let (mut socket, mut peer) = server(64 << 10).await;
        socket.set_keepalive(None, None);
        assert!(tokio::time::timeout(100 * IDLE, socket.next())
            .await
            .is_err());
        let mut byte = [0u8; 1];
        let quiet = tokio::time::timeout(Duration::from_secs(1), peer.read(&mut byte)).await;
        assert!(quiet.is_err(), "nothing was sent");
    }

    #[tokio::test(start_paused = true)]
    async fn the_idle_timeout_alone_sends_no_ping() {
        let (mut socket, mut peer) = server(64 << 10).await;
        socket.set_keepalive(None, Some(IDLE));
        let t0 = Instant::now();
        let got = within(socket.next()).await;
        assert_eq!(t0.elapsed(), IDLE);
        assert!(matches!(got, Some(Err(WsError::Io(_)))), "{got:?}");
        assert_eq!(frame(&mut peer).await.0, 0x88, "straight to the Close");
        peer.write_all(b"").await.unwrap();
    }
}
