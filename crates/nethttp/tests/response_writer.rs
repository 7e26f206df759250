//! `response_writer::ResponseWriter` on the wire: trailers after a chunked HTTP/1.1 body
//! (raw TCP, exact bytes) and in HTTP/2's last HEADERS frame (the `h2` crate's client, and
//! curl when present), server-sent events reaching the client while the handler still runs
//! (the handler waits until the test has read the first event), and a client that never
//! reads: the writer waits with bounded memory and the server's write timeout ends it.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::peers::peer;
use common::wire::{normalize, start, Conn, DATE};
use nethttp::http::{HeaderValue, Request, StatusCode};
use nethttp::response_writer::{sse_event, ResponseWriter};
use nethttp::{HttpRequest, HttpResponse, Server};
use tokio::sync::Notify;

const TIMEOUT: Duration = Duration::from_secs(5);

/// Writes `hello` in two writes, sets a trailer and finishes.
async fn with_trailer(_req: HttpRequest) -> HttpResponse {
    let mut resp = ResponseWriter::stream(|mut w| async move {
        w.write("hel").await?;
        w.write("lo").await?;
        w.set_trailer("x-checksum", HeaderValue::from_static("42"));
        w.finish().await
    });
    resp.headers_mut()
        .insert("trailer", HeaderValue::from_static("x-checksum"));
    resp
}

#[tokio::test]
async fn trailers_after_a_chunked_http1_body() {
    let h = start(Server::new(), with_trailer);
    let mut c = Conn::connect(h.local_addr()).await;
    c.send("GET / HTTP/1.1\r\nHost: x\r\nTE: trailers\r\n\r\n")
        .await;
    assert_eq!(
        normalize(&c.raw_response(false).await),
        format!(
            "HTTP/1.1 200 OK\r\ntrailer: x-checksum\r\ntransfer-encoding: chunked\r\n{DATE}\
             keep-alive: timeout=60\r\n\r\n5\r\nhello\r\n0\r\nx-checksum: 42\r\n\r\n"
        )
    );
}

async fn h2_connect(addr: std::net::SocketAddr) -> h2::client::SendRequest<bytes::Bytes> {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (send, conn) = h2::client::handshake(tcp).await.expect("handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    send.ready().await.expect("ready")
}

#[tokio::test]
async fn trailers_in_http2s_last_headers_frame() {
    let h = start(Server::new(), with_trailer);
    let mut send = h2_connect(h.local_addr()).await;
    let (body, trailers) = tokio::time::timeout(TIMEOUT, async {
        let req = Request::get("http://x/").body(()).unwrap();
        let (response, _) = send.send_request(req, true).unwrap();
        let mut body = response.await.unwrap().into_body();
        let mut got = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.unwrap();
            let _ = body.flow_control().release_capacity(chunk.len());
            got.extend_from_slice(&chunk);
        }
        (got, body.trailers().await.unwrap())
    })
    .await
    .expect("the response in time");
    assert_eq!(body, b"hello");
    let trailers = trailers.expect("a trailers frame");
    assert_eq!(trailers.len(), 1);
    assert_eq!(trailers["x-checksum"], "42");

    // curl shows trailers with the headers (-i) after the body.
    let Some(bin) = peer("curl", "--version", &[]) else {
        return;
    };
    let url = format!("http://{}/", h.local_addr());
    let out = tokio::process::Command::new(bin)
        .args(["-sS", "-i", "--noproxy", "*", "--max-time", "10"])
        .args(["--http2-prior-knowledge", &url])
        .output()
        .await
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("HTTP/2 200"), "{text}");
    assert!(text.ends_with("\n\nhellox-checksum: 42\n"), "{text:?}");
}

/// An SSE handler that sends one event, waits until `read` is notified (the test read it),
/// then sends a second. Were the first event held back, the test would wait for it forever.
fn sse(read: Arc<Notify>) -> impl nethttp::Handler {
    move |_req: HttpRequest| {
        let read = read.clone();
        async move {
            let mut resp = ResponseWriter::stream(|mut w| async move {
                w.write(sse_event("hello", "one\ntwo")).await?;
                w.flush().await?;
                read.notified().await;
                w.write(sse_event("", "bye")).await?;
                w.finish().await
            });
            resp.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("text/event-stream"),
            );
            resp
        }
    }
}

#[tokio::test]
async fn an_event_reaches_an_http1_client_before_the_handler_ends() {
    let read = Arc::new(Notify::new());
    let h = start(Server::new(), sse(read.clone()));
    let mut c = Conn::connect(h.local_addr()).await;
    c.send("GET /events HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                transfer-encoding: chunked\r\ndate: <DATE>\r\nkeep-alive: timeout=60\r\n\r\n";
    let first = "22\r\nevent: hello\ndata: one\ndata: two\n\n\r\n";
    let got = c.read_bytes(head.len() + first.len() + 29 - 6).await;
    assert_eq!(normalize(&got), format!("{head}{first}"));
    read.notify_one();
    let rest = c.read_bytes("b\r\ndata: bye\n\n\r\n0\r\n\r\n".len()).await;
    assert_eq!(rest, b"b\r\ndata: bye\n\n\r\n0\r\n\r\n");
}

#[tokio::test]
async fn an_event_reaches_an_http2_client_before_the_handler_ends() {
    let read = Arc::new(Notify::new());
    let h = start(Server::new(), sse(read.clone()));
    let mut send = h2_connect(h.local_addr()).await;
    tokio::time::timeout(TIMEOUT, async {
        let req = Request::get("http://x/events").body(()).unwrap();
        let (response, _) = send.send_request(req, true).unwrap();
        let resp = response.await.unwrap();
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        let mut body = resp.into_body();
        let first = body.data().await.unwrap().unwrap();
        assert_eq!(first, "event: hello\ndata: one\ndata: two\n\n");
        let _ = body.flow_control().release_capacity(first.len());
        read.notify_one();
        let second = body.data().await.unwrap().unwrap();
        assert_eq!(second, "data: bye\n\n");
        assert!(body.data().await.is_none());
    })
    .await
    .expect("both events in time");
}

#[tokio::test]
async fn a_client_that_never_reads_holds_bounded_memory_and_the_write_timeout_ends_it() {
    // The handler writes 64 KiB at a time from its own task for as long as writes succeed
    // (at most 1 GiB); the client never reads. The writer's buffer (16 KiB) is all that is
    // held in the process beside the connection's own write; the rest sits in the kernel's
    // socket buffers. Then the write timeout closes the connection and `write` fails.
    let written = Arc::new(AtomicU64::new(0));
    let outcome: Arc<Mutex<Option<(String, Duration)>>> = Arc::default();
    let (wr, out) = (written.clone(), outcome.clone());
    let handler = move |_req: HttpRequest| {
        let (written, outcome) = (wr.clone(), out.clone());
        async move {
            let (mut w, resp) = ResponseWriter::new(StatusCode::OK);
            tokio::spawn(async move {
                let chunk = vec![b'x'; 64 << 10];
                let mut last_ok = Instant::now();
                let err = loop {
                    if written.load(Ordering::SeqCst) >= 1 << 30 {
                        break "wrote 1 GiB unread".to_owned();
                    }
                    match w.write(&chunk).await {
                        Ok(()) => {
                            written.fetch_add(chunk.len() as u64, Ordering::SeqCst);
                            last_ok = Instant::now();
                        }
                        Err(e) => break e.to_string(),
                    }
                };
                *outcome.lock().unwrap() = Some((err, last_ok.elapsed()));
            });
            resp
        }
    };
    let write_timeout = Duration::from_millis(500);
    let h = start(Server::new().write_timeout(write_timeout), handler);
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let stream = sock.connect(h.local_addr()).await.expect("connect");
    let mut c = Conn::from_stream(stream);
    c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let started = Instant::now();
    let (err, stalled_for) = loop {
        if let Some(o) = outcome.lock().unwrap().take() {
            break o;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the writer never failed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let written = written.load(Ordering::SeqCst);
    eprintln!("written before the stall: {written} bytes; failed after {stalled_for:?}: {err}");
    assert!(err.contains("client went away"), "{err}");
    // The last successful write was followed by a wait of about the write timeout.
    assert!(
        stalled_for >= write_timeout / 2,
        "failed after {stalled_for:?}"
    );
    // Kernel buffers: the server's send buffer (at most tcp_wmem's maximum) and the client's
    // small receive buffer; ours: the writer's buffer and the chunk the connection writes.
    let wmem_max: u64 = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|s| s.split_whitespace().nth(2)?.parse().ok())
        .unwrap_or(4 << 20);
    let bound = wmem_max + (64 << 10) + 3 * (64 << 10);
    assert!(written <= bound, "{written} bytes written, bound {bound}");
}
