//! The tokio-tungstenite side: an echo server and a client written as an application uses the crate (a `Stream` of messages and a `Sink` for them), configured as nethttp's `websocket::default_config`.

use std::io;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::WebSocketStream;

use crate::cases::{Case, Mode, MAX_MESSAGE};

/// The crate's default read buffer, which nethttp's default_config keeps.
pub const READ_BUFFER_DEFAULT: usize = 128 << 10;
/// The smaller read buffer measured beside it.
pub const READ_BUFFER_SMALL: usize = 16 << 10;

/// nethttp's `websocket::default_config()`, with the read buffer size given (the crate's
/// default, which nethttp keeps, is 128 KiB).
fn config(read_buffer: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(read_buffer)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
        .write_buffer_size(128 << 10)
        .max_write_buffer_size(MAX_MESSAGE + (1 << 20))
}

fn err(e: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::other(e)
}

/// Echoes every data message until the peer closes. The stream is already upgraded: the
/// crate frames it from the first byte, as nethttp hands it an upgraded connection.
pub async fn serve(stream: TcpStream, read_buffer: usize) -> io::Result<()> {
    let mut ws =
        WebSocketStream::from_raw_socket(stream, Role::Server, Some(config(read_buffer))).await;
    // Pings are answered and a close is replied to by the crate as it reads; the stream
    // ends once the close handshake is done.
    while let Some(msg) = ws.next().await {
        if let msg @ (Message::Binary(_) | Message::Text(_)) = msg.map_err(err)? {
            ws.send(msg).await.map_err(err)?;
        }
    }
    Ok(())
}

fn message(case: Case, payload: &[u8]) -> Message {
    if case.text {
        Message::text(String::from_utf8(payload.to_vec()).expect("text payload is UTF-8"))
    } else {
        Message::Binary(Bytes::copy_from_slice(payload))
    }
}

fn check(
    reply: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    case: Case,
    payload: &[u8],
) -> io::Result<()> {
    let reply = reply.ok_or(io::ErrorKind::UnexpectedEof)?.map_err(err)?;
    if reply.is_text() != case.text || reply.into_data() != payload {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "echo differs"));
    }
    Ok(())
}

/// The client-role run: `count` messages to the echo server, their echoes checked; returns
/// the time the exchanges took.
pub async fn client(
    stream: TcpStream,
    read_buffer: usize,
    case: Case,
    mode: Mode,
    count: usize,
) -> io::Result<Duration> {
    stream.set_nodelay(true)?;
    let mut ws =
        WebSocketStream::from_raw_socket(stream, Role::Client, Some(config(read_buffer))).await;
    let payload = case.payload();
    let msg = message(case, &payload);
    let start = Instant::now();
    match mode {
        Mode::Seq => {
            for _ in 0..count {
                ws.send(msg.clone()).await.map_err(err)?;
                check(ws.next().await, case, &payload)?;
            }
        }
        Mode::Pipe => {
            let (mut tx, mut rx) = ws.split();
            let writer = async {
                for _ in 0..count {
                    tx.send(msg.clone()).await.map_err(err)?;
                }
                Ok::<_, io::Error>(())
            };
            let reader = async {
                for _ in 0..count {
                    check(rx.next().await, case, &payload)?;
                }
                Ok(())
            };
            tokio::try_join!(writer, reader)?;
            ws = tx.reunite(rx).map_err(err)?;
        }
    }
    let elapsed = start.elapsed();
    ws.close(None).await.map_err(err)?;
    while let Some(m) = ws.next().await {
        m.map_err(err)?;
    }
    Ok(elapsed)
}
