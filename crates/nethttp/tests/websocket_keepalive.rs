//! The WebSocket keepalive over real loopback sockets, on both sides, with short settings
//! (Ping after 200 ms of silence, idle timeout 600 ms): a raw-TCP peer that completes the
//! handshake and goes silent gets a Ping, then a Close 1001, then the end of the connection,
//! no sooner than the settings say; a peer that answers Pings stays open well past the idle
//! timeout; a peer that never reads (its socket buffers full) is dropped by the timeout too.
//! (The exact deadlines are tested on a paused clock in `websocket::socket`'s unit tests.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use nethttp::test::TestServer;
use nethttp::websocket::{Message, WebSocketUpgrade, WsError};
use nethttp::HttpRequest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

const PING: Duration = Duration::from_millis(200);
const IDLE: Duration = Duration::from_millis(600);
/// Upper bound on any wait, so a missing timeout fails the test instead of hanging it.
const LIMIT: Duration = Duration::from_secs(10);

/// The opening handshake of RFC 6455 §1.3's example, and the head of its answer.
const OPENING: &str =
    "GET /ws HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\
     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// Reads an HTTP head (up to the blank line) byte by byte, so nothing after it is consumed.
async fn read_head(tcp: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(LIMIT, tcp.read(&mut byte))
            .await
            .expect("a head in time")
            .unwrap();
        assert_eq!(n, 1, "the connection ended in the head: {head:?}");
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// Reads one frame: opcode byte and payload (unmasked if it was masked).
async fn read_frame(tcp: &mut TcpStream) -> (u8, Vec<u8>) {
    let read = async {
        let mut head = [0u8; 2];
        tcp.read_exact(&mut head).await.unwrap();
        let len = (head[1] & 0x7f) as usize;
        assert!(len < 126, "a short frame");
        let mut mask = [0u8; 4];
        if head[1] & 0x80 != 0 {
            tcp.read_exact(&mut mask).await.unwrap();
        }
        let mut payload = vec![0u8; len];
        tcp.read_exact(&mut payload).await.unwrap();
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
        (head[0], payload)
    };
    tokio::time::timeout(LIMIT, read)
        .await
        .expect("a frame in time")
}

/// Waits for the end of the connection (EOF or reset), reading and discarding what comes.
async fn read_to_end(tcp: &mut TcpStream) {
    let mut buf = vec![0u8; 64 << 10];
    tokio::time::timeout(LIMIT, async {
        while let Ok(n) = tcp.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await
    .expect("the connection closed in time");
}

fn assert_idle_close(op: u8, payload: &[u8]) {
    assert_eq!(op, 0x88, "a Close");
    assert_eq!(&payload[..2], &1001u16.to_be_bytes(), "1001 going away");
    assert_eq!(&payload[2..], b"idle timeout");
}

/// A server whose sockets have the short keepalive and report how their reads ended; `send`
/// makes them push 64 KiB messages without reading instead.
async fn server(send: bool) -> (TestServer, mpsc::UnboundedReceiver<(WsError, Instant)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let tx = Arc::new(tx);
    let server = TestServer::start(move |mut req: HttpRequest| {
        let tx = tx.clone();
        async move {
            match WebSocketUpgrade::from_request(&mut req) {
                Ok(ws) => {
                    ws.keepalive(Some(PING), Some(IDLE))
                        .on_upgrade(move |mut socket| async move {
                            let err = if send {
                                let chunk = vec![3u8; 64 << 10];
                                loop {
                                    if let Err(e) =
                                        socket.send(Message::binary(chunk.clone())).await
                                    {
                                        break e;
                                    }
                                }
                            } else {
                                loop {
                                    match socket.next().await {
                                        Some(Ok(msg)) if msg.is_text() => {
                                            if let Err(e) = socket.send(msg).await {
                                                break e;
                                            }
                                        }
                                        Some(Ok(_)) => {}
                                        Some(Err(e)) => break e,
                                        None => break WsError::ConnectionClosed,
                                    }
                                }
                            };
                            let _ = tx.send((err, Instant::now()));
                        })
                }
                Err(refusal) => refusal,
            }
        }
    })
    .await;
    (server, rx)
}

fn assert_timed_out(err: &WsError) {
    match err {
        WsError::Io(e) => assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{e}"),
        other => panic!("expected the idle timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn our_server_pings_then_closes_a_silent_peer() {
    let (server, mut ended) = server(false).await;
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    tcp.write_all(OPENING.as_bytes()).await.unwrap();
    let head = read_head(&mut tcp).await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    let t0 = Instant::now();
    assert_eq!(read_frame(&mut tcp).await, (0x89, vec![]), "a Ping");
    let pinged = t0.elapsed();
    let (op, payload) = read_frame(&mut tcp).await;
    let closed = t0.elapsed();
    assert_idle_close(op, &payload);
    read_to_end(&mut tcp).await;
    assert!(
        pinged >= PING - Duration::from_millis(20),
        "Ping after {pinged:?}"
    );
    assert!(
        closed >= IDLE - Duration::from_millis(20),
        "Close after {closed:?}"
    );
    let (err, _) = tokio::time::timeout(LIMIT, ended.recv())
        .await
        .unwrap()
        .unwrap();
    assert_timed_out(&err);
}

#[tokio::test]
async fn our_client_pings_then_closes_a_silent_server() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let head = read_head(&mut tcp).await;
        let key = head
            .lines()
            .find_map(|l| l.strip_prefix("sec-websocket-key: "))
            .expect("a key")
            .to_owned();
        let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
        tcp.write_all(
            format!(
                "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\
                 Sec-WebSocket-Accept: {accept}\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        let t0 = Instant::now();
        let ping = read_frame(&mut tcp).await;
        let pinged = t0.elapsed();
        let close = read_frame(&mut tcp).await;
        (ping, pinged, close, t0.elapsed())
    });
    let (mut socket, _) = nethttp::websocket::connect(&format!("ws://{addr}/"))
        .await
        .unwrap();
    socket.set_keepalive(Some(PING), Some(IDLE));
    let got = tokio::time::timeout(LIMIT, socket.next())
        .await
        .expect("the timeout fired");
    match got {
        Some(Err(e)) => assert_timed_out(&e),
        other => panic!("expected the idle timeout, got {other:?}"),
    }
    let (ping, pinged, (op, payload), closed) = peer.await.unwrap();
    assert_eq!(ping, (0x89, vec![]), "a (masked, empty) Ping");
    assert_idle_close(op, &payload);
    assert!(
        pinged >= PING - Duration::from_millis(20),
        "Ping after {pinged:?}"
    );
    assert!(
        closed >= IDLE - Duration::from_millis(20),
        "Close after {closed:?}"
    );
}

#[tokio::test]
async fn a_peer_that_answers_pings_stays_open_past_the_idle_timeout() {
    let (server, mut ended) = server(false).await;
    let url = server.url("/ws").replace("http://", "ws://");
    let (mut socket, _) = nethttp::websocket::connect(&url).await.unwrap();
    // Our client sends nothing of its own (no keepalive), only answers the server's Pings.
    socket.set_keepalive(None, None);
    let t0 = Instant::now();
    let mut pings = 0;
    while t0.elapsed() < 4 * IDLE {
        match tokio::time::timeout(IDLE, socket.next()).await {
            Ok(Some(Ok(Message::Ping(_)))) => pings += 1,
            Ok(other) => panic!("only Pings expected, got {other:?}"),
            Err(_) => {}
        }
    }
    assert!(pings >= 4, "{pings} Pings in {:?}", t0.elapsed());
    socket.send(Message::text("still here")).await.unwrap();
    let echo = tokio::time::timeout(LIMIT, async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Ping(_))) => continue,
                other => break other,
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(echo.unwrap().unwrap(), Message::text("still here"));
    assert!(
        ended.try_recv().is_err(),
        "the server's socket is still open"
    );
}

#[tokio::test]
async fn a_peer_that_never_reads_is_dropped_by_the_timeout() {
    let (server, mut ended) = server(true).await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut tcp = socket.connect(server.addr()).await.unwrap();
    // Before the server's idle clock starts (at its 101), so `at - t0` never undercounts.
    let t0 = Instant::now();
    tcp.write_all(OPENING.as_bytes()).await.unwrap();
    let head = read_head(&mut tcp).await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    // Never read again: the server's sends fill both socket buffers, then wait.
    let (err, at) = tokio::time::timeout(LIMIT, ended.recv())
        .await
        .expect("the server gave up in time")
        .unwrap();
    assert_timed_out(&err);
    assert!(at - t0 >= IDLE, "after {:?}", at - t0);
    // The socket was dropped: the connection is gone from the server's count, and the peer
    // sees its end after what was buffered.
    let t1 = Instant::now();
    while server.handle().upgraded_connections() != 0 {
        assert!(
            t1.elapsed() < LIMIT,
            "the upgraded connection is still open"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    read_to_end(&mut tcp).await;
}
