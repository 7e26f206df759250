//! Hostile peers of a WebSocket over HTTP/2 (RFC 8441 extended CONNECT), played with the `h2`
//! crate's client against our server (keepalive: Ping after 200 ms, idle timeout 600 ms): one
//! that floods frames and never reads, one that trickles a frame a byte at a time, and liars
//! whose frame headers announce 16 MiB and send ten bytes; and our client's socket on HTTP/2
//! against a server that stops reading. Each ends by the keepalive, the connection's other
//! streams go on, and what the server holds meanwhile is measured with a counting allocator
//! (the tests run one at a time so the counts are theirs).

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::poll_fn;
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use nethttp::http::{Method, Request, StatusCode};
use nethttp::test::TestServer;
use nethttp::websocket::{Message, WebSocketUpgrade, WsError};
use nethttp::{text_response, HttpRequest};
use tokio::sync::mpsc;

struct Counting;

/// Bytes allocated and not yet freed, process-wide.
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: defers to the system allocator; only counts the bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// One test at a time: the allocation counts are process-wide.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const PING: Duration = Duration::from_millis(200);
const IDLE: Duration = Duration::from_millis(600);
const LIMIT: Duration = Duration::from_secs(10);

/// Our server: a WebSocket echo on `/ws` with the short keepalive, reporting how each socket
/// ended and when; `hi` to anything else.
async fn server() -> (TestServer, mpsc::UnboundedReceiver<(WsError, Instant)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let tx = Arc::new(tx);
    let server = TestServer::start(move |mut req: HttpRequest| {
        let tx = tx.clone();
        async move {
            if req.uri().path() != "/ws" {
                return text_response(StatusCode::OK, "hi");
            }
            match WebSocketUpgrade::from_request(&mut req) {
                Ok(ws) => {
                    ws.keepalive(Some(PING), Some(IDLE))
                        .on_upgrade(move |mut socket| async move {
                            let err = loop {
                                match socket.next().await {
                                    Some(Ok(msg)) if msg.is_binary() || msg.is_text() => {
                                        if let Err(e) = socket.send(msg).await {
                                            break e;
                                        }
                                    }
                                    Some(Ok(_)) => {}
                                    Some(Err(e)) => break e,
                                    None => break WsError::ConnectionClosed,
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

type Sender = h2::client::SendRequest<Bytes>;

/// An HTTP/2 connection to `server`, its SETTINGS known (a first GET answered).
async fn connect(server: &TestServer) -> Sender {
    let tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let (send, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(conn);
    let send = get_hi(send, server).await;
    assert!(send.is_extended_connect_protocol_enabled());
    send
}

/// `GET /` on the connection answers `hi`.
async fn get_hi(send: Sender, server: &TestServer) -> Sender {
    let mut send = tokio::time::timeout(LIMIT, send.ready())
        .await
        .unwrap()
        .unwrap();
    let req = Request::get(server.url("/")).body(()).unwrap();
    let (resp, _) = send.send_request(req, true).unwrap();
    let resp = tokio::time::timeout(LIMIT, resp).await.unwrap().unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let data = tokio::time::timeout(LIMIT, body.data())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(&data[..], b"hi");
    send
}

/// Opens a WebSocket stream by extended CONNECT: the server's answer body and our send side.
async fn open(send: &mut Sender, server: &TestServer) -> (h2::RecvStream, h2::SendStream<Bytes>) {
    let mut ready = tokio::time::timeout(LIMIT, send.clone().ready())
        .await
        .unwrap()
        .unwrap();
    let mut req = Request::builder()
        .method(Method::CONNECT)
        .uri(server.url("/ws"))
        .header("sec-websocket-version", "13")
        .body(())
        .unwrap();
    req.extensions_mut()
        .insert(h2::ext::Protocol::from_static("websocket"));
    let (resp, stream) = ready.send_request(req, false).unwrap();
    let resp = tokio::time::timeout(LIMIT, resp).await.unwrap().unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    (resp.into_body(), stream)
}

/// A client frame's head (FIN, `opcode`, masked with a zero key) announcing `len` bytes.
fn frame_head(opcode: u8, len: usize) -> Vec<u8> {
    let mut head = vec![0x80 | opcode];
    match len {
        0..=125 => head.push(0x80 | len as u8),
        126..=0xffff => {
            head.push(0x80 | 126);
            head.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            head.push(0x80 | 127);
            head.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    head.extend_from_slice(&[0, 0, 0, 0]);
    head
}

fn assert_timed_out(err: &WsError) {
    match err {
        WsError::Io(e) => assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{e}"),
        other => panic!("expected the keepalive's timeout, got {other:?}"),
    }
}

async fn upgraded_gone(server: &TestServer) {
    let t0 = Instant::now();
    while server.handle().upgraded_connections() != 0 {
        assert!(t0.elapsed() < LIMIT, "upgraded streams still open");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_flood_that_never_reads_is_held_by_flow_control_then_dropped() {
    let _serial = SERIAL.lock().await;
    let (server, mut ended) = server().await;
    let mut send = connect(&server).await;
    let before = LIVE.load(Relaxed);
    // Never read: `recv` is kept, its window never given back.
    let (recv, mut stream) = open(&mut send, &server).await;
    let mut frame = frame_head(0x2, 16 << 10);
    frame.resize(frame.len() + (16 << 10), 0xab);
    let mut queue = BytesMut::new();
    let mut sent = 0usize;
    let mut held = 0isize;
    let t0 = Instant::now();
    // Sends as fast as the server's window allows, up to 64 MiB or 10 s; 300 ms without
    // credit (half the idle timeout) means flow control stopped it.
    while sent < 64 << 20 && t0.elapsed() < LIMIT {
        stream.reserve_capacity(64 << 10);
        match tokio::time::timeout(IDLE / 2, poll_fn(|cx| stream.poll_capacity(cx))).await {
            Ok(Some(Ok(0))) => continue,
            Ok(Some(Ok(n))) => {
                while queue.len() < n {
                    queue.extend_from_slice(&frame);
                }
                if stream.send_data(queue.split_to(n).freeze(), false).is_err() {
                    break;
                }
                sent += n;
            }
            // Stalled: measure what the server holds now, then wait for the keepalive.
            Err(_) => {
                held = LIVE.load(Relaxed) - before;
                break;
            }
            // The stream ended (the server dropped the socket).
            Ok(_) => break,
        }
    }
    assert!(
        held > 0,
        "the flood was stalled by flow control ({sent} bytes sent)"
    );
    assert!(
        sent < 4 << 20,
        "{sent} bytes taken from a peer that reads nothing"
    );
    assert!(held < 8 << 20, "{held} bytes held for one stalled stream");
    eprintln!("flood: {sent} bytes taken, {held} bytes held while stalled");
    let (err, _) = tokio::time::timeout(LIMIT, ended.recv())
        .await
        .unwrap()
        .unwrap();
    assert_timed_out(&err);
    upgraded_gone(&server).await;
    // The connection's other streams go on, once the peer lets go of what it left unread (the
    // echoes on `recv` hold its own connection window).
    drop(recv);
    get_hi(send, &server).await;
}

#[tokio::test]
async fn a_frame_trickled_a_byte_at_a_time_ends_at_the_idle_timeout() {
    let _serial = SERIAL.lock().await;
    let (server, mut ended) = server().await;
    let mut send = connect(&server).await;
    let (mut recv, mut stream) = open(&mut send, &server).await;
    let t0 = Instant::now();
    stream
        .send_data(Bytes::from(frame_head(0x2, 1000)), false)
        .unwrap();
    // One payload byte each 50 ms: bytes keep coming, a frame never completes.
    let trickle = async {
        for _ in 0..200 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if stream.send_data(Bytes::from_static(&[1]), false).is_err() {
                break;
            }
        }
    };
    let (err, at) = tokio::select! {
        got = ended.recv() => got.unwrap(),
        _ = trickle => panic!("still open after 10 s of trickling"),
    };
    assert_timed_out(&err);
    assert!(at - t0 >= IDLE, "ended after {:?}", at - t0);
    // What the server said before it went: a Ping at 200 ms of silence, then a Close 1001
    // (the stream ends after what was queued on it, as a socket's close sends FIN).
    let mut got = Vec::new();
    while let Ok(Some(Ok(data))) = tokio::time::timeout(LIMIT, recv.data()).await {
        got.extend_from_slice(&data);
    }
    assert!(got.starts_with(&[0x89, 0x00]), "{got:?}");
    let close = &got[2..];
    assert!(
        close.len() >= 4 && close[0] == 0x88 && close[2..4] == 1001u16.to_be_bytes(),
        "a Close 1001 after the Ping: {got:?}"
    );
    upgraded_gone(&server).await;
    get_hi(send, &server).await;
}

#[tokio::test]
async fn frames_announcing_16_mib_hold_at_most_the_frame_limit_and_end() {
    let _serial = SERIAL.lock().await;
    let (server, mut ended) = server().await;
    let mut send = connect(&server).await;
    const LIARS: usize = 20;
    let before = LIVE.load(Relaxed);
    let t0 = Instant::now();
    let mut streams = Vec::new();
    for _ in 0..LIARS {
        let (recv, mut stream) = open(&mut send, &server).await;
        let mut lie = frame_head(0x2, (16 << 20) - 1);
        lie.extend_from_slice(&[7; 10]);
        stream.send_data(Bytes::from(lie), false).unwrap();
        streams.push((recv, stream));
    }
    // Every server socket has read its liar's head by now.
    tokio::time::sleep(PING / 2).await;
    let held = LIVE.load(Relaxed) - before;
    eprintln!(
        "{LIARS} liars: {held} bytes held ({} per stream)",
        held / LIARS as isize
    );
    // tungstenite reserves a frame's announced length when it reads the head, so each liar
    // holds up to the frame limit (16 MiB by default; virtual until written): bounded by
    // `max_frame_size`, not by what was sent.
    assert!(
        held < LIARS as isize * (17 << 20),
        "{held} bytes for {LIARS} liars: past the frame limit"
    );
    for _ in 0..LIARS {
        let (err, at) = tokio::time::timeout(LIMIT, ended.recv())
            .await
            .unwrap()
            .unwrap();
        assert_timed_out(&err);
        assert!(at - t0 >= IDLE);
    }
    upgraded_gone(&server).await;
    drop(streams);
    get_hi(send, &server).await;
}

#[tokio::test]
async fn our_client_over_h2_is_held_by_a_server_that_stops_reading() {
    // The client's side of the flood: our socket on an HTTP/2 stream whose server reads
    // nothing; the send stalls on flow control and the keepalive fails it.
    let _serial = SERIAL.lock().await;
    let server = TestServer::start(|mut req: HttpRequest| async move {
        match WebSocketUpgrade::from_request(&mut req) {
            Ok(ws) => ws.keepalive(None, None).on_upgrade(|socket| async move {
                // Holds the socket, never reads it.
                tokio::time::sleep(Duration::from_secs(30)).await;
                drop(socket);
            }),
            Err(refusal) => refusal,
        }
    })
    .await;
    let client = server
        .client_builder()
        .transport(|t| t.http2_prior_knowledge(true))
        .build()
        .unwrap();
    let req = Request::get(server.url("/ws"))
        .body(nethttp::Body::empty())
        .unwrap();
    let (mut socket, res) =
        nethttp::websocket::connect_with(&client, req, nethttp::websocket::default_config())
            .await
            .unwrap();
    assert_eq!(res.version(), nethttp::http::Version::HTTP_2);
    socket.set_keepalive(Some(PING), Some(IDLE));
    let t0 = Instant::now();
    let chunk = vec![5u8; 64 << 10];
    let mut sent = 0usize;
    let err = tokio::time::timeout(LIMIT, async {
        loop {
            match socket.send(Message::binary(chunk.clone())).await {
                Ok(()) => sent += chunk.len(),
                Err(e) => break e,
            }
        }
    })
    .await
    .expect("the send failed in time");
    assert_timed_out(&err);
    assert!(t0.elapsed() >= IDLE);
    assert!(
        sent < 8 << 20,
        "{sent} bytes sent to a server that reads nothing"
    );
}
