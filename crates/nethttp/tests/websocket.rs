//! WebSocket on nethttp: our client and server over HTTP/1.1 and TLS, RFC 8441 over HTTP/2
//! with hyper's client and tungstenite's framing, Python's `websockets` and Node's `ws` as
//! client and as server, the handshake's refusals on the wire, and the limits (a message too big is closed
//! with 1009; a peer that never reads holds the sender, not the sender's memory).

mod common;

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use nethttp::http::{header, Method, Request, StatusCode};
use nethttp::test::TestServer;
use nethttp::websocket::{Message, WebSocketUpgrade};
use nethttp::{HttpRequest, HttpResponse};

const LIMIT: Duration = Duration::from_secs(10);

/// Echoes text and binary messages; `/small` allows messages of at most 1 KiB.
async fn echo(mut req: HttpRequest) -> HttpResponse {
    let small = req.uri().path() == "/small";
    match WebSocketUpgrade::from_request(&mut req) {
        Ok(ws) => {
            let mut ws = ws.protocols(["echo.v1"]);
            if small {
                ws = ws.config(nethttp::websocket::default_config().max_message_size(Some(1024)));
            }
            ws.on_upgrade(|mut socket| async move {
                while let Some(msg) = socket.next().await {
                    match msg {
                        Ok(msg) if msg.is_text() || msg.is_binary() => {
                            if socket.send(msg).await.is_err() {
                                break;
                            }
                        }
                        Ok(_) => {}
                        Err(e) => {
                            if let Some(frame) = nethttp::websocket::close_frame_for(&e) {
                                let _ = socket.close(Some(frame)).await;
                            }
                            break;
                        }
                    }
                }
            })
        }
        Err(refusal) => refusal,
    }
}

async fn next(socket: &mut nethttp::websocket::WebSocket) -> Message {
    tokio::time::timeout(LIMIT, socket.next())
        .await
        .expect("a message in time")
        .expect("the socket is open")
        .expect("a valid message")
}

#[tokio::test]
async fn our_client_and_server_exchange_text_binary_pings_and_close() {
    let server = TestServer::start(echo).await;
    let url = server.url("/ws").replace("http://", "ws://");
    let (mut socket, res) = nethttp::websocket::connect(&url).await.unwrap();
    assert_eq!(res.status(), StatusCode::SWITCHING_PROTOCOLS);
    socket.send(Message::text("héllo")).await.unwrap();
    assert_eq!(next(&mut socket).await, Message::text("héllo"));
    let big = vec![0xabu8; 300_000];
    socket.send(Message::binary(big.clone())).await.unwrap();
    assert_eq!(next(&mut socket).await, Message::binary(big));
    socket.send(Message::Ping("p".into())).await.unwrap();
    assert_eq!(next(&mut socket).await, Message::Pong("p".into()));
    socket.close(None).await.unwrap();
    // The server answers the close; the stream then ends.
    let end = tokio::time::timeout(LIMIT, async {
        while let Some(Ok(_)) = socket.next().await {}
    })
    .await;
    assert!(end.is_ok(), "no close from the server");
}

#[tokio::test]
async fn subprotocols_are_chosen_from_the_offer_and_sent_back() {
    let server = TestServer::start(echo).await;
    let req = Request::get(server.url("/ws"))
        .header(header::SEC_WEBSOCKET_PROTOCOL, "echo.v2, echo.v1")
        .body(nethttp::Body::empty())
        .unwrap();
    let client = server.client();
    let (mut socket, res) =
        nethttp::websocket::connect_with(&client, req, nethttp::websocket::default_config())
            .await
            .unwrap();
    assert_eq!(res.headers()[header::SEC_WEBSOCKET_PROTOCOL], "echo.v1");
    socket.send(Message::text("x")).await.unwrap();
    assert_eq!(next(&mut socket).await, Message::text("x"));
}

#[tokio::test]
async fn over_tls_with_wss() {
    let server = TestServer::start_tls(echo).await;
    let client = server
        .client_builder()
        .transport(|t| t.http2(false))
        .build()
        .unwrap();
    let req = Request::get(server.url("/ws").replace("https://", "wss://"))
        .body(nethttp::Body::empty())
        .unwrap();
    let (mut socket, _) =
        nethttp::websocket::connect_with(&client, req, nethttp::websocket::default_config())
            .await
            .unwrap();
    socket.send(Message::text("secure")).await.unwrap();
    assert_eq!(next(&mut socket).await, Message::text("secure"));
}

#[tokio::test]
async fn over_http2_by_extended_connect_with_hyper_and_tungstenite() {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let server = TestServer::start(echo).await;
    let tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(Method::CONNECT)
        .uri(format!("http://{}/ws", server.addr()))
        .header(header::SEC_WEBSOCKET_VERSION, "13")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    req.extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    let res = send.send_request(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "RFC 8441 §5: 200 accepts");
    assert!(res.headers().get(header::SEC_WEBSOCKET_ACCEPT).is_none());
    let io = TokioIo::new(hyper::upgrade::on(res).await.unwrap());
    let mut socket = tokio_tungstenite::WebSocketStream::from_raw_socket(
        io,
        tokio_tungstenite::tungstenite::protocol::Role::Client,
        None,
    )
    .await;
    socket.send(Message::text("over h2")).await.unwrap();
    let got = tokio::time::timeout(LIMIT, socket.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(got, Message::text("over h2"));
}

#[tokio::test]
async fn handshake_refusals_on_the_wire() {
    let handle = common::wire::start(nethttp::Server::new(), echo);
    let mut c = common::wire::Conn::connect(handle.local_addr()).await;
    c.send(
        "GET /ws HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
    )
    .await;
    let got = c.response().await;
    assert!(
        got.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
        "{got}"
    );
    assert!(got.contains("sec-websocket-version: 13\r\n"), "{got}");
    // The refusal was an ordinary response: the connection serves on.
    c.send(
        "GET /ws HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n",
    )
    .await;
    let got = c.response().await;
    assert!(got.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{got}");
    assert!(got.ends_with("missing Sec-WebSocket-Key\n"), "{got}");
    // A valid opening: the exact accept key of RFC 6455 §1.3.
    c.send(
        "GET /ws HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await;
    let head = common::wire::normalize(&c.raw_response(true).await);
    assert_eq!(
        head,
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\
         sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\ndate: <DATE>\r\n\
         connection: upgrade\r\n\r\n"
    );
}

#[tokio::test]
async fn a_message_over_the_limit_is_closed_with_1009() {
    let server = TestServer::start(echo).await;
    let url = server.url("/small").replace("http://", "ws://");
    let (mut socket, _) = nethttp::websocket::connect(&url).await.unwrap();
    socket.send(Message::text("a".repeat(512))).await.unwrap();
    assert_eq!(next(&mut socket).await, Message::text("a".repeat(512)));
    socket.send(Message::text("a".repeat(4096))).await.unwrap();
    // The server fails the connection: 1009 is what tungstenite sends for "too big".
    let mut closed = None;
    let deadline = Instant::now() + LIMIT;
    while Instant::now() < deadline {
        match tokio::time::timeout(LIMIT, socket.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => {
                closed = Some(frame.map(|f| u16::from(f.code)));
                break;
            }
            Ok(Some(Ok(_))) => continue,
            _ => break,
        }
    }
    assert_eq!(closed, Some(Some(1009)));
}

#[tokio::test]
async fn a_peer_that_never_reads_holds_the_sender_not_its_memory() {
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = sent.clone();
    let server = TestServer::start(move |mut req: HttpRequest| {
        let counter = counter.clone();
        async move {
            match WebSocketUpgrade::from_request(&mut req) {
                Ok(ws) => ws.on_upgrade(move |mut socket| async move {
                    let chunk = vec![1u8; 64 * 1024];
                    for _ in 0..1000 {
                        if socket.send(Message::binary(chunk.clone())).await.is_err() {
                            break;
                        }
                        counter.fetch_add(chunk.len(), std::sync::atomic::Ordering::SeqCst);
                    }
                }),
                Err(r) => r,
            }
        }
    })
    .await;
    let url = server.url("/ws").replace("http://", "ws://");
    let (socket, _) = nethttp::websocket::connect(&url).await.unwrap();
    // Never read: the sender stops when the socket buffers and its 1 MiB of buffering fill.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let held = sent.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        held < 24 << 20,
        "{held} bytes accepted for a peer that reads nothing"
    );
    drop(socket);
}

// ---- Python's websockets ---------------------------------------------------------------

fn python_websockets() -> Option<std::path::PathBuf> {
    common::peers::python_with(&["websockets"])
}

#[tokio::test]
async fn python_websockets_client_talks_to_our_server() {
    let Some(py) = python_websockets() else {
        return;
    };
    let server = TestServer::start(echo).await;
    let url = server.url("/ws").replace("http://", "ws://");
    let script = r#"
import asyncio, sys
from websockets.asyncio.client import connect
async def main():
    async with connect(sys.argv[1], subprotocols=["echo.v1"]) as ws:
        assert ws.subprotocol == "echo.v1", ws.subprotocol
        await ws.send("text from python")
        print(await ws.recv())
        await ws.send(b"\x00\x01binary")
        print((await ws.recv()).hex())
        await ws.ping()
asyncio.run(main())
"#;
    let out = tokio::time::timeout(
        LIMIT,
        tokio::process::Command::new(py)
            .args(["-c", script, &url])
            .output(),
    )
    .await
    .expect("python finished in time")
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "text from python\n000162696e617279\n"
    );
}

#[tokio::test]
async fn our_client_talks_to_a_python_websockets_server() {
    let Some(py) = python_websockets() else {
        return;
    };
    let script = r#"
import asyncio
from websockets.asyncio.server import serve
async def handler(ws):
    async for msg in ws:
        await ws.send(("py:" + msg) if isinstance(msg, str) else msg[::-1])
async def main():
    async with serve(handler, "127.0.0.1", 0) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.sleep(30)
asyncio.run(main())
"#;
    let mut child = tokio::process::Command::new(py)
        .args(["-c", script])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(
        LIMIT,
        tokio::io::AsyncBufReadExt::read_line(&mut out, &mut line),
    )
    .await
    .expect("the python server started")
    .unwrap();
    let port: u16 = line.trim().parse().unwrap();
    let (mut socket, _) = nethttp::websocket::connect(&format!("ws://127.0.0.1:{port}/"))
        .await
        .unwrap();
    socket.send(Message::text("hi")).await.unwrap();
    assert_eq!(next(&mut socket).await, Message::text("py:hi"));
    socket.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    assert_eq!(next(&mut socket).await, Message::binary(vec![3, 2, 1]));
    socket.close(None).await.unwrap();
}

// ---- Node's ws --------------------------------------------------------------------------

#[tokio::test]
async fn node_ws_client_talks_to_our_server() {
    let Some((node, modules)) = common::peers::node_ws() else {
        return;
    };
    let server = TestServer::start(echo).await;
    let url = server.url("/ws").replace("http://", "ws://");
    let script = r#"
const WebSocket = require('ws');
const ws = new WebSocket(process.argv[1], ['echo.v1']);
const got = [];
ws.on('open', () => { ws.send('text from node'); ws.send(Buffer.from([9, 8, 7])); });
ws.on('message', (data, isBinary) => {
  got.push(isBinary ? 'bin:' + Buffer.from(data).toString('hex') : data.toString());
  if (got.length === 2) { console.log(ws.protocol + ' ' + got.join(' ')); ws.close(1000); }
});
ws.on('error', (e) => { console.error(e); process.exit(1); });
"#;
    let out = tokio::time::timeout(
        LIMIT,
        tokio::process::Command::new(node)
            .env("NODE_PATH", modules)
            .args(["-e", script, &url])
            .output(),
    )
    .await
    .expect("node finished in time")
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "echo.v1 text from node bin:090807\n"
    );
}

#[tokio::test]
async fn our_client_talks_to_a_node_ws_server() {
    let Some((node, modules)) = common::peers::node_ws() else {
        return;
    };
    let script = r#"
const WebSocket = require('ws');
const wss = new WebSocket.Server({ host: '127.0.0.1', port: 0 }, () => {
  console.log(wss.address().port);
});
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(isBinary ? data : 'node:' + data.toString(), { binary: isBinary }));
});
setTimeout(() => process.exit(0), 30000);
"#;
    let mut child = tokio::process::Command::new(node)
        .env("NODE_PATH", modules)
        .args(["-e", script])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(
        LIMIT,
        tokio::io::AsyncBufReadExt::read_line(&mut out, &mut line),
    )
    .await
    .expect("the node server started")
    .unwrap();
    let port: u16 = line.trim().parse().unwrap();
    let (mut socket, _) = nethttp::websocket::connect(&format!("ws://127.0.0.1:{port}/"))
        .await
        .unwrap();
    socket.send(Message::text("hi")).await.unwrap();
    assert_eq!(next(&mut socket).await, Message::text("node:hi"));
    socket.send(Message::binary(vec![5, 6])).await.unwrap();
    assert_eq!(next(&mut socket).await, Message::binary(vec![5, 6]));
    socket.close(None).await.unwrap();
}
