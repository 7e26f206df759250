//! Behaviours of the two crates that matter for the choice besides speed, pinned as tests (`cargo test`) so RESULTS.md states only what these show.

use std::time::Duration;

use fastwebsockets::{FragmentCollector, OpCode, Role as FRole, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio_tungstenite::tungstenite::protocol::{Role as TRole, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as TError, Message};
use tokio_tungstenite::WebSocketStream;

use crate::cases::{self, MASK, OP_BINARY};

const OP_CONTINUATION: u8 = 0x0;

/// A frame with FIN as given (the helpers in `cases` always set it).
fn raw_frame(fin: bool, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut f = cases::frame(opcode, payload, mask);
    if !fin {
        f[0] &= 0x7f;
    }
    f
}

fn pair() -> (DuplexStream, DuplexStream) {
    duplex(1 << 20)
}

/// A server echoing the frames of the frame-level `WebSocket` (no `FragmentCollector`), as
/// the crate's own top-level example does, sends them back with the mask bit and the
/// client's key in the header (RFC 6455 §5.1: a server must not mask) and the payload in the
/// clear: a conforming client must fail the connection.
#[tokio::test]
async fn fastwebsockets_raw_echo_sends_masked_server_frames() {
    let (server_io, mut client) = pair();
    let server = tokio::spawn(async move {
        let mut ws = WebSocket::after_handshake(server_io, FRole::Server);
        let frame = ws.read_frame().await.unwrap();
        ws.write_frame(frame).await.unwrap();
    });
    client
        .write_all(&cases::frame(OP_BINARY, b"hello", Some(MASK)))
        .await
        .unwrap();
    let mut reply = [0u8; 11];
    client.read_exact(&mut reply).await.unwrap();
    server.await.unwrap();
    assert_eq!(reply[1] & 0x80, 0x80, "mask bit set on a server frame");
    assert_eq!(&reply[2..6], &MASK);
    assert_eq!(&reply[6..], b"hello");
}

/// RFC 6455 §5.1: a server must close the connection on an unmasked client frame.
/// fastwebsockets takes it as data; tungstenite refuses it (unless configured otherwise).
#[tokio::test]
async fn unmasked_client_frames() {
    let (server_io, mut client) = pair();
    let mut ws = FragmentCollector::new(WebSocket::after_handshake(server_io, FRole::Server));
    client
        .write_all(&cases::frame(OP_BINARY, b"plain", None))
        .await
        .unwrap();
    let frame = ws.read_frame().await.unwrap();
    assert_eq!(&frame.payload[..], b"plain", "fastwebsockets accepts it");

    let (server_io, mut client) = pair();
    let mut ws = WebSocketStream::from_raw_socket(server_io, TRole::Server, None).await;
    client
        .write_all(&cases::frame(OP_BINARY, b"plain", None))
        .await
        .unwrap();
    let got = ws.next().await.unwrap();
    assert!(
        matches!(got, Err(TError::Protocol(_))),
        "tungstenite refuses it: {got:?}"
    );
}

/// fastwebsockets' limit applies to each frame; `FragmentCollector` joins any number of
/// fragments under it into one message without a total limit. tungstenite bounds the
/// message as a whole (`max_message_size`) as well as each frame.
#[tokio::test]
async fn message_limit_across_fragments() {
    let piece = vec![b'x'; 1000];
    let fragments: Vec<u8> = [
        raw_frame(false, OP_BINARY, &piece, Some(MASK)),
        raw_frame(false, OP_CONTINUATION, &piece, Some(MASK)),
        raw_frame(false, OP_CONTINUATION, &piece, Some(MASK)),
        raw_frame(true, OP_CONTINUATION, &piece, Some(MASK)),
    ]
    .concat();

    let (server_io, mut client) = pair();
    let mut ws = WebSocket::after_handshake(server_io, FRole::Server);
    ws.set_max_message_size(1024);
    let mut ws = FragmentCollector::new(ws);
    client.write_all(&fragments).await.unwrap();
    let frame = ws.read_frame().await.unwrap();
    assert_eq!(frame.opcode, OpCode::Binary);
    assert_eq!(
        frame.payload.len(),
        4000,
        "fastwebsockets: 4000 bytes past a 1024 limit"
    );

    let (server_io, mut client) = pair();
    let config = WebSocketConfig::default()
        .max_message_size(Some(1024))
        .max_frame_size(Some(1024));
    let mut ws = WebSocketStream::from_raw_socket(server_io, TRole::Server, Some(config)).await;
    client.write_all(&fragments).await.unwrap();
    let got = ws.next().await.unwrap();
    assert!(
        matches!(got, Err(TError::Capacity(_))),
        "tungstenite: {got:?}"
    );
}

/// fastwebsockets refuses a frame whose length equals its limit (the check is `>=`), so a
/// limit of N admits N − 1 bytes; tungstenite admits exactly its limit.
#[tokio::test]
async fn limit_boundary() {
    let body = vec![7u8; 1024];
    let (server_io, mut client) = pair();
    let mut ws = WebSocket::after_handshake(server_io, FRole::Server);
    ws.set_max_message_size(1024);
    client
        .write_all(&cases::frame(OP_BINARY, &body, Some(MASK)))
        .await
        .unwrap();
    assert!(
        ws.read_frame().await.is_err(),
        "fastwebsockets: 1024 refused at limit 1024"
    );

    let (server_io, mut client) = pair();
    let config = WebSocketConfig::default()
        .max_message_size(Some(1024))
        .max_frame_size(Some(1024));
    let mut ws = WebSocketStream::from_raw_socket(server_io, TRole::Server, Some(config)).await;
    client
        .write_all(&cases::frame(OP_BINARY, &body, Some(MASK)))
        .await
        .unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap().len(),
        1024,
        "tungstenite: admitted"
    );
}

/// Backpressure: to a peer that reads nothing, both crates' sends stop once the transport
/// is full (here a 64 KiB pipe) rather than buffering without bound. fastwebsockets writes
/// each frame through; tungstenite's `feed` (queue without flushing) buffers up to
/// `write_buffer_size` and then waits for the transport too, well before
/// `max_write_buffer_size`.
#[tokio::test]
async fn sends_wait_for_a_full_transport() {
    let msg = vec![1u8; 16 << 10];

    let (io, _peer) = duplex(64 << 10);
    let mut ws = WebSocket::after_handshake(io, FRole::Server);
    let mut sent = 0;
    let stalled = tokio::time::timeout(Duration::from_millis(300), async {
        loop {
            let f = fastwebsockets::Frame::binary(fastwebsockets::Payload::Borrowed(&msg));
            ws.write_frame(f).await.unwrap();
            sent += 1;
        }
    })
    .await
    .is_err();
    assert!(
        stalled && sent <= 4,
        "fastwebsockets wrote {sent} before stalling"
    );

    let (io, _peer) = duplex(64 << 10);
    let mut ws = WebSocketStream::from_raw_socket(io, TRole::Server, None).await;
    let mut sent = 0;
    let stalled = tokio::time::timeout(Duration::from_millis(300), async {
        loop {
            ws.send(Message::binary(msg.clone())).await.unwrap();
            sent += 1;
        }
    })
    .await
    .is_err();
    assert!(
        stalled && sent <= 4,
        "tungstenite sent {sent} before stalling"
    );

    for (write_buffer, max) in [(0, 256 << 10), (128 << 10, 512 << 10)] {
        let (io, _peer) = duplex(64 << 10);
        let config = WebSocketConfig::default()
            .write_buffer_size(write_buffer)
            .max_write_buffer_size(max);
        let mut ws = WebSocketStream::from_raw_socket(io, TRole::Server, Some(config)).await;
        let mut fed = 0usize;
        let end = loop {
            let feed = ws.feed(Message::binary(msg.clone()));
            match tokio::time::timeout(Duration::from_millis(300), feed).await {
                Ok(Ok(())) => fed += 1,
                Ok(Err(e)) => break format!("error {e}"),
                Err(_) => break "stalled".to_string(),
            }
        };
        eprintln!("tungstenite write_buffer_size {write_buffer}: fed {fed} x 16 KiB, then {end}");
        assert!(
            end == "stalled" && fed * msg.len() <= write_buffer + (128 << 10),
            "fed {fed}, then {end}"
        );
    }
}
