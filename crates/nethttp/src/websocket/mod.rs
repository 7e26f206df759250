//! WebSocket (RFC 6455) on nethttp's upgrades (feature `websocket`): the server's handshake
//! ([`WebSocketUpgrade`]) and the client's ([`connect`], [`connect_with`]), each over
//! HTTP/1.1 and over HTTP/2 by RFC 8441's extended CONNECT (the client uses HTTP/2 when its
//! connection to the host is HTTP/2 and the server enabled extended CONNECT; several
//! WebSockets and ordinary requests then share that one connection). The frames are
//! tokio-tungstenite's: a [`WebSocket`] is its `WebSocketStream` over our
//! [`Upgraded`](crate::upgrade::Upgraded) connection, a `Stream` of [`Message`]s and a `Sink`
//! for them, with a keepalive around it.
//!
//! Limits, all finite by default ([`default_config`]): a message (and a frame) at most
//! 16 MiB (larger ones fail the read; [`close_frame_for`] gives the 1009 "message too big" to
//! send), and a send waits for the socket when 128 KiB are buffered, so a peer that does not
//! read holds the sender rather than growing its memory.
//!
//! Timeouts: once upgraded, the connection is outside the server's (see [`crate::upgrade`]);
//! the socket's keepalive takes over, on both sides. A Ping goes out after 30 s without a
//! frame from the peer, and 60 s without one (its Pong would have been one) fail the
//! connection: a Close 1001 "idle timeout", then the read's error; a send the peer takes
//! nothing of for 60 s fails too. [`WebSocket::set_keepalive`] and
//! [`WebSocketUpgrade::keepalive`] change both, `None` turns either off.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use futures_util::{SinkExt, StreamExt};
//! use nethttp::websocket::{Message, WebSocketUpgrade};
//! use nethttp::{HttpRequest, Server};
//!
//! // An echo server.
//! let handler = |mut req: HttpRequest| async move {
//!     match WebSocketUpgrade::from_request(&mut req) {
//!         Ok(ws) => ws.on_upgrade(|mut socket| async move {
//!             while let Some(Ok(msg)) = socket.next().await {
//!                 if msg.is_text() || msg.is_binary() {
//!                     if socket.send(msg).await.is_err() {
//!                         break;
//!                     }
//!                 }
//!             }
//!         }),
//!         Err(refusal) => refusal,
//!     }
//! };
//! let server = Server::new();
//! let handle = server.serve(server.bind("127.0.0.1:0".parse()?)?, handler);
//!
//! let url = format!("ws://{}/", handle.local_addr());
//! let (mut socket, _response) = nethttp::websocket::connect(&url).await?;
//! socket.send(Message::text("hello")).await?;
//! assert_eq!(socket.next().await.unwrap()?, Message::text("hello"));
//! # Ok(()) }
//! ```

mod client;
mod server;
mod socket;

pub use client::{connect, connect_with};
pub use server::WebSocketUpgrade;
pub use socket::{WebSocket, DEFAULT_IDLE_TIMEOUT, DEFAULT_PING_INTERVAL};
pub use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
pub use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// The limits a [`WebSocket`] gets unless the caller gives its own: messages (and so frames)
/// up to 16 MiB, writes buffered up to 128 KiB before they go out, reads 16 KiB at a time. A
/// send (or a `feed` without a flush) waits for the socket once 128 KiB are queued, so a peer
/// that does not read holds the sender, not more memory; one message larger than that is
/// taken whole, up to the 17 MiB cap.
///
/// The read buffer is 16 KiB rather than tungstenite's 128 KiB: tungstenite zeroes the
/// buffer's free room before each read, which is half its cost per small message at 128 KiB
/// (`bench/ws_framing`: 11.4k → 5.1k instructions per 16-byte echo), and a quiet connection
/// holds less.
pub fn default_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
        .read_buffer_size(16 << 10)
        .write_buffer_size(128 << 10)
        // tungstenite fails a message larger than this buffer: it must hold the largest.
        .max_write_buffer_size(MAX_MESSAGE + (1 << 20))
}

/// The largest message (and frame) [`default_config`] accepts.
const MAX_MESSAGE: usize = 16 << 20;

/// The close frame that tells the peer why a read failed (RFC 6455 §7.4.1): 1009 for a
/// message or frame over the limits, 1007 for text that is not UTF-8, 1002 for other
/// protocol violations; `None` for errors that are not the peer's (the connection is gone, or
/// already closed). Send it with `socket.close(Some(frame))` before dropping the socket:
///
/// ```no_run
/// # async fn run(mut socket: nethttp::websocket::WebSocket) {
/// use futures_util::StreamExt;
/// while let Some(msg) = socket.next().await {
///     match msg {
///         Ok(_msg) => { /* ... */ }
///         Err(e) => {
///             if let Some(frame) = nethttp::websocket::close_frame_for(&e) {
///                 let _ = socket.close(Some(frame)).await;
///             }
///             break;
///         }
///     }
/// }
/// # }
/// ```
pub fn close_frame_for(err: &WsError) -> Option<CloseFrame> {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    let (code, reason) = match err {
        WsError::Capacity(_) => (CloseCode::Size, "message too big"),
        WsError::Utf8(_) => (CloseCode::Invalid, "invalid UTF-8"),
        WsError::Protocol(_) => (CloseCode::Protocol, "protocol error"),
        _ => return None,
    };
    Some(CloseFrame {
        code,
        reason: reason.into(),
    })
}

/// The `Sec-WebSocket-Version` this implementation speaks (RFC 6455 §4.1).
const VERSION: &str = "13";
