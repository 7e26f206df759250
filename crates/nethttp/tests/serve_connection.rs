//! `Server::serve_connection` over IO that is not a socket (`tokio::io::duplex`, in memory):
//! HTTP/1.1 keep-alive and pipelining, request bodies, HTTP/2 by prior knowledge (the `h2`
//! crate's client), HTTP/1.1 and HTTP/2 over TLS over the pipe, the read-header and idle
//! timeouts, a client that leaves while its handler runs, graceful shutdown of one
//! connection, a TCP socket handed over by the caller (served with its addresses), and
//! `Server::serve` on an `Accept` of in-memory connections.

mod common;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use nethttp::http::{Request, StatusCode};
use nethttp::net::Accept;
use nethttp::{text_response, ConnInfo, ConnState, HttpRequest, HttpResponse, Server};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::sync::{mpsc, Notify};

/// Upper bound on any wait, so a bug fails a test instead of hanging it.
const WAIT: Duration = Duration::from_secs(5);

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// Answers `<method> <path> <body length>`, reading the whole body.
async fn summary(req: HttpRequest) -> HttpResponse {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let body = req
        .into_body()
        .to_bytes(1 << 20)
        .await
        .expect("request body");
    text_response(StatusCode::OK, format!("{method} {path} {}", body.len()))
}

/// Serves `server` on one end of an in-memory pipe in a task; returns the other end and the
/// task (which ends when the connection does).
fn serve_pipe(server: &Server) -> (DuplexStream, tokio::task::JoinHandle<()>) {
    let (client, server_io) = tokio::io::duplex(64 * 1024);
    let conn = server.serve_connection(server_io, Arc::new(summary));
    (client, tokio::spawn(conn))
}

/// Reads one HTTP/1.1 response (head and a Content-Length body) from `io`, keeping bytes of
/// the next one in `buf`. Returns the head (lowercase field names as sent) and the body.
async fn read_response<R: AsyncRead + Unpin>(io: &mut R, buf: &mut Vec<u8>) -> (String, String) {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8(buf[..end + 4].to_vec()).expect("UTF-8 head");
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .map_or(0, |v| v.trim().parse::<usize>().expect("length"));
            if buf.len() >= end + 4 + len {
                let body = String::from_utf8(buf[end + 4..end + 4 + len].to_vec()).expect("body");
                buf.drain(..end + 4 + len);
                return (head, body);
            }
        }
        let mut chunk = [0u8; 4096];
        let n = within("response bytes", io.read(&mut chunk))
            .await
            .expect("read");
        assert!(
            n > 0,
            "closed mid-response: {:?}",
            String::from_utf8_lossy(buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Reads until the end of stream, returning what came.
async fn read_to_end<R: AsyncRead + Unpin>(io: &mut R) -> Vec<u8> {
    let mut all = Vec::new();
    within("end of stream", io.read_to_end(&mut all))
        .await
        .expect("read to end");
    all
}

#[tokio::test]
async fn http1_keep_alive_and_pipelining_over_a_pipe() {
    let (mut client, served) = serve_pipe(&Server::new());
    let mut buf = Vec::new();
    client
        .write_all(b"GET /one HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let (head, body) = read_response(&mut client, &mut buf).await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("keep-alive: timeout=60\r\n"), "{head}");
    assert_eq!(body, "GET /one 0");
    // Three pipelined requests in one write: three answers, in order.
    client
        .write_all(
            b"GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\n\r\n\
              GET /c HTTP/1.1\r\nHost: t\r\n\r\n",
        )
        .await
        .unwrap();
    for path in ["/a", "/b", "/c"] {
        let (_, body) = read_response(&mut client, &mut buf).await;
        assert_eq!(body, format!("GET {path} 0"));
    }
    // The client hangs up: the connection ends.
    drop(client);
    within("connection end", served).await.unwrap();
}

#[tokio::test]
async fn request_bodies_over_a_pipe() {
    let (mut client, served) = serve_pipe(&Server::new());
    let mut buf = Vec::new();
    client
        .write_all(b"POST /len HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world")
        .await
        .unwrap();
    assert_eq!(read_response(&mut client, &mut buf).await.1, "POST /len 11");
    client
        .write_all(
            b"POST /chunked HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
              5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET /after HTTP/1.1\r\nHost: t\r\n\r\n",
        )
        .await
        .unwrap();
    assert_eq!(
        read_response(&mut client, &mut buf).await.1,
        "POST /chunked 11"
    );
    assert_eq!(read_response(&mut client, &mut buf).await.1, "GET /after 0");
    // A body sent in pieces, the handler waiting for each.
    client
        .write_all(b"PUT /slow HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nabc")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    client.write_all(b"def").await.unwrap();
    assert_eq!(read_response(&mut client, &mut buf).await.1, "PUT /slow 6");
    drop(client);
    within("connection end", served).await.unwrap();
}

#[tokio::test]
async fn http2_by_prior_knowledge_over_a_pipe() {
    let (client, served) = serve_pipe(&Server::new());
    let (send, conn) = within("h2 handshake", h2::client::handshake(client))
        .await
        .expect("h2 handshake");
    let driver = tokio::spawn(conn);
    let mut answers = Vec::new();
    for path in ["/x", "/y", "/z"] {
        let mut send = send.clone().ready().await.expect("stream slot");
        let req = Request::post(format!("http://t{path}")).body(()).unwrap();
        let (resp, mut stream) = send.send_request(req, false).expect("send request");
        stream
            .send_data(Bytes::from_static(b"body"), true)
            .expect("send body");
        answers.push(resp);
    }
    for (answer, path) in answers.into_iter().zip(["/x", "/y", "/z"]) {
        let resp = within("h2 response", answer).await.expect("response");
        assert_eq!(resp.status(), StatusCode::OK);
        let mut body = resp.into_body();
        let mut got = Vec::new();
        while let Some(chunk) = within("h2 body", body.data()).await {
            let chunk = chunk.expect("data");
            let _ = body.flow_control().release_capacity(chunk.len());
            got.extend_from_slice(&chunk);
        }
        assert_eq!(String::from_utf8(got).unwrap(), format!("POST {path} 4"));
    }
    drop(send);
    within("h2 connection end", served).await.unwrap();
    driver.abort();
}

#[tokio::test]
async fn a_silent_peer_is_closed_at_the_read_header_timeout() {
    let timeout = Duration::from_millis(300);
    let (mut client, served) = serve_pipe(&Server::new().read_header_timeout(timeout));
    let start = Instant::now();
    // Nothing sent: the preface sniff waits, then HTTP/1.1 does, both within the one timeout
    // from the start of the connection; it closes without a response.
    assert_eq!(read_to_end(&mut client).await, b"");
    let took = start.elapsed();
    assert!(
        took >= timeout - Duration::from_millis(50),
        "closed early: {took:?}"
    );
    assert!(
        took < timeout + Duration::from_secs(2),
        "closed late: {took:?}"
    );
    within("connection end", served).await.unwrap();
}

#[tokio::test]
async fn half_a_head_gets_408_at_the_read_header_timeout() {
    let server = Server::new().read_header_timeout(Duration::from_millis(300));
    let (mut client, served) = serve_pipe(&server);
    client.write_all(b"GET / HTTP/1.1\r\nHo").await.unwrap();
    let all = String::from_utf8(read_to_end(&mut client).await).unwrap();
    assert!(all.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{all}");
    within("connection end", served).await.unwrap();
}

#[tokio::test]
async fn an_idle_keep_alive_connection_closes_at_the_idle_timeout() {
    let idle = Duration::from_millis(300);
    let (mut client, served) = serve_pipe(&Server::new().idle_timeout(idle));
    let mut buf = Vec::new();
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    read_response(&mut client, &mut buf).await;
    let start = Instant::now();
    assert_eq!(read_to_end(&mut client).await, b"");
    let took = start.elapsed();
    assert!(
        took >= idle - Duration::from_millis(50),
        "closed early: {took:?}"
    );
    within("connection end", served).await.unwrap();
}

/// A handler that waits to be released; `dropped` is set if its future is dropped first.
struct Waiting {
    release: Arc<Notify>,
    started: Arc<Notify>,
    dropped: Arc<AtomicBool>,
}

struct DropFlag(Arc<AtomicBool>, bool);

impl Drop for DropFlag {
    fn drop(&mut self) {
        if !self.1 {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

impl nethttp::Handler for Waiting {
    async fn call(&self, _req: HttpRequest) -> HttpResponse {
        let mut flag = DropFlag(self.dropped.clone(), false);
        self.started.notify_one();
        self.release.notified().await;
        flag.1 = true;
        text_response(StatusCode::OK, "released")
    }
}

fn waiting() -> (Arc<Waiting>, Arc<Notify>, Arc<Notify>, Arc<AtomicBool>) {
    let (release, started, dropped) = (
        Arc::new(Notify::new()),
        Arc::new(Notify::new()),
        Arc::new(AtomicBool::new(false)),
    );
    let handler = Arc::new(Waiting {
        release: release.clone(),
        started: started.clone(),
        dropped: dropped.clone(),
    });
    (handler, release, started, dropped)
}

#[tokio::test]
async fn a_client_that_hangs_up_while_its_handler_runs_drops_the_handler() {
    let (handler, _release, started, dropped) = waiting();
    let (mut client, server_io) = tokio::io::duplex(64 * 1024);
    let served = tokio::spawn(Server::new().serve_connection(server_io, handler));
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    within("handler start", started.notified()).await;
    // The pipe reports an end of stream to the server: the handler is dropped, unanswered.
    drop(client);
    within("connection end", served).await.unwrap();
    assert!(dropped.load(Ordering::SeqCst), "the handler ran on");
}

#[tokio::test]
async fn graceful_shutdown_finishes_the_request_in_flight_then_closes() {
    let (handler, release, started, dropped) = waiting();
    let (mut client, server_io) = tokio::io::duplex(64 * 1024);
    let mut conn = Server::new().serve_connection(server_io, handler);
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    // Drive the connection until the handler runs, then ask for a graceful shutdown.
    tokio::select! {
        _ = &mut conn => panic!("the connection ended before its handler ran"),
        _ = within("handler start", started.notified()) => {}
    }
    conn.graceful_shutdown();
    release.notify_one();
    let reading = tokio::spawn(async move { read_to_end(&mut client).await });
    within("connection end", &mut conn).await;
    let all = String::from_utf8(reading.await.unwrap()).unwrap();
    assert!(all.starts_with("HTTP/1.1 200 OK\r\n"), "{all}");
    assert!(all.contains("connection: close\r\n"), "{all}");
    assert!(all.ends_with("released"), "{all}");
    assert!(!dropped.load(Ordering::SeqCst));
}

#[tokio::test]
async fn graceful_shutdown_closes_an_idle_connection_at_once() {
    let (mut client, server_io) = tokio::io::duplex(64 * 1024);
    let mut conn = Server::new().serve_connection(server_io, Arc::new(summary));
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    tokio::select! {
        _ = &mut conn => panic!("the connection ended early"),
        r = read_response(&mut client, &mut buf) => assert_eq!(r.1, "GET / 0"),
    }
    conn.graceful_shutdown();
    within("idle connection closed", &mut conn).await;
    assert_eq!(read_to_end(&mut client).await, b"");
}

#[tokio::test]
async fn graceful_shutdown_of_http2_sends_goaway() {
    let (client, server_io) = tokio::io::duplex(64 * 1024);
    let mut conn = Server::new().serve_connection(server_io, Arc::new(summary));
    let handshake = h2::client::handshake(client);
    let (send, h2_conn) = tokio::select! {
        _ = &mut conn => panic!("the connection ended early"),
        r = within("h2 handshake", handshake) => r.expect("handshake"),
    };
    let driver = tokio::spawn(h2_conn);
    let mut send = send.ready().await.expect("ready");
    let (resp, _) = send
        .send_request(Request::get("http://t/").body(()).unwrap(), true)
        .expect("request");
    let resp = tokio::select! {
        _ = &mut conn => panic!("the connection ended early"),
        r = within("response", resp) => r.expect("response"),
    };
    assert_eq!(resp.status(), StatusCode::OK);
    conn.graceful_shutdown();
    within("connection end", &mut conn).await;
    // The client's side of the connection saw a clean end (GOAWAY, then close).
    within("client connection end", driver)
        .await
        .unwrap()
        .expect("a clean close");
}

#[tokio::test]
async fn tls_over_a_pipe_speaks_http1_or_http2_by_alpn() {
    let cert = common::certs::self_signed();
    let server = Server::new().tls(cert.server_tls());
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();

    // HTTP/1.1, keep-alive.
    let (client, served) = serve_pipe(&server);
    let connector = common::certs::tls_connector(&cert.cert_pem, &[b"http/1.1"]);
    let mut tls = within("TLS handshake", connector.connect(name.clone(), client))
        .await
        .expect("TLS handshake");
    let mut buf = Vec::new();
    for path in ["/1", "/2"] {
        let req = format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n");
        tls.write_all(req.as_bytes()).await.unwrap();
        assert_eq!(
            read_response(&mut tls, &mut buf).await.1,
            format!("GET {path} 0")
        );
    }
    drop(tls);
    within("connection end", served).await.unwrap();

    // HTTP/2.
    let (client, served) = serve_pipe(&server);
    let connector = common::certs::tls_connector(&cert.cert_pem, &[b"h2"]);
    let tls = within("TLS handshake", connector.connect(name, client))
        .await
        .expect("TLS handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (send, h2_conn) = within("h2 handshake", h2::client::handshake(tls))
        .await
        .expect("h2 handshake");
    let driver = tokio::spawn(h2_conn);
    let mut send = send.ready().await.expect("ready");
    let (resp, _) = send
        .send_request(Request::get("https://t/h2").body(()).unwrap(), true)
        .expect("request");
    let resp = within("response", resp).await.expect("response");
    assert_eq!(resp.status(), StatusCode::OK);
    // The client closes once nothing uses the connection: the server's side ends too.
    drop((resp, send));
    within("connection end", served).await.unwrap();
    driver.abort();
}

#[tokio::test]
async fn a_tcp_stream_is_served_as_an_accepted_socket() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (stream, _) = listener.accept().await.unwrap();
    let states = Arc::new(Mutex::new(Vec::new()));
    let log = states.clone();
    let server = Server::new()
        .conn_info(true)
        .conn_state_hook(move |peer, state| log.lock().unwrap().push((peer, state)));
    let handler = Arc::new(|req: HttpRequest| async move {
        let info = req.extensions().get::<ConnInfo>().copied();
        let text = match info {
            Some(i) => format!("{} {}", i.remote_addr, i.local_addr),
            None => "none".to_owned(),
        };
        text_response(StatusCode::OK, text)
    });
    let served = tokio::spawn(server.serve_connection(stream, handler));
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let (_, body) = read_response(&mut client, &mut buf).await;
    let me = client.local_addr().unwrap();
    assert_eq!(body, format!("{me} {addr}"));
    drop(client);
    within("connection end", served).await.unwrap();
    let states = states.lock().unwrap().clone();
    assert_eq!(states.first(), Some(&(me, ConnState::New)));
    assert_eq!(states.last(), Some(&(me, ConnState::Closed)));
}

#[tokio::test]
async fn a_pipe_reports_states_with_no_address_and_no_conn_info() {
    let states = Arc::new(Mutex::new(Vec::new()));
    let log = states.clone();
    let server = Server::new()
        .conn_info(true)
        .conn_state_hook(move |peer, state| log.lock().unwrap().push((peer, state)));
    let handler = Arc::new(|req: HttpRequest| async move {
        let has = req.extensions().get::<ConnInfo>().is_some();
        text_response(StatusCode::OK, format!("conn info: {has}"))
    });
    let (mut client, server_io) = tokio::io::duplex(4096);
    let served = tokio::spawn(server.serve_connection(server_io, handler));
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    assert_eq!(
        read_response(&mut client, &mut buf).await.1,
        "conn info: false"
    );
    drop(client);
    within("connection end", served).await.unwrap();
    let none: SocketAddr = "0.0.0.0:0".parse().unwrap();
    let states: Vec<_> = states.lock().unwrap().clone();
    assert!(states.iter().all(|(peer, _)| *peer == none), "{states:?}");
    let states: Vec<_> = states.into_iter().map(|(_, s)| s).collect();
    use ConnState::*;
    assert_eq!(states, [New, Active, Idle, Closed]);
}

/// In-memory connections handed to the server's accept loop.
struct Pipes(mpsc::Receiver<DuplexStream>);

impl Accept for Pipes {
    type Io = DuplexStream;

    async fn accept(&mut self) -> std::io::Result<(DuplexStream, Option<SocketAddr>)> {
        match self.0.recv().await {
            Some(io) => Ok((io, None)),
            None => Err(std::io::ErrorKind::NotConnected.into()),
        }
    }
}

#[tokio::test]
async fn serve_takes_any_accept() {
    let (tx, rx) = mpsc::channel(4);
    let handle = Server::new().serve(Pipes(rx), summary);
    assert!(handle.local_addrs().is_empty());
    let mut clients = Vec::new();
    for _ in 0..3 {
        let (client, server_io) = tokio::io::duplex(4096);
        tx.send(server_io).await.unwrap();
        clients.push(client);
    }
    for (i, client) in clients.iter_mut().enumerate() {
        let req = format!("GET /{i} HTTP/1.1\r\nHost: t\r\n\r\n");
        client.write_all(req.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        assert_eq!(
            read_response(client, &mut buf).await.1,
            format!("GET /{i} 0")
        );
    }
    assert_eq!(handle.live_connections(), 3);
    // Graceful shutdown closes the idle connections and stops accepting.
    let report = within("shutdown", handle.shutdown(Duration::from_secs(2))).await;
    assert_eq!(report.forced, 0);
    for client in &mut clients {
        assert_eq!(read_to_end(client).await, b"");
    }
}

/// An IO that is `Send` but not `Sync`, as some transports are: served all the same.
struct NotSync<T>(T, std::cell::Cell<()>);

impl<T: AsyncRead + Unpin> AsyncRead for NotSync<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for NotSync<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[tokio::test]
async fn an_io_that_is_not_sync_is_served() {
    let (mut client, server_io) = tokio::io::duplex(4096);
    let io = NotSync(server_io, std::cell::Cell::new(()));
    let served = tokio::spawn(Server::new().serve_connection(io, Arc::new(summary)));
    client
        .write_all(b"GET /ns HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    assert_eq!(read_response(&mut client, &mut buf).await.1, "GET /ns 0");
    drop(client);
    within("connection end", served).await.unwrap();
}
