//! `wrap::max_bytes` crossed both ways on both protocols: a declared length over the limit
//! is answered `413` without calling the handler (raw TCP with exact bytes on HTTP/1.1, the
//! `h2` crate's client on HTTP/2), and a body of unknown length (chunked; HTTP/2 without
//! `content-length`) fails the handler's read with `BodyTooLarge` at the crossing and is
//! answered `413` whatever the handler returns; a body at the limit passes.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::wire::{normalize, ok_text, start, Conn, DATE};
use nethttp::http::{Request, StatusCode};
use nethttp::wrap::max_bytes;
use nethttp::{text_response, ErrorKind, HttpRequest, Server, ServerHandle};

const LIMIT: u64 = 10;
const TIMEOUT: Duration = Duration::from_secs(5);

/// What each handler call saw: the body's length, or the kind of error its read failed with.
type Seen = Arc<Mutex<Vec<Result<usize, ErrorKind>>>>;

fn serve() -> (ServerHandle, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let handler = move |req: HttpRequest| {
        let s = s.clone();
        async move {
            let got = req.into_body().to_bytes(usize::MAX).await;
            let got = got.map(|b| b.len()).map_err(|e| e.kind());
            s.lock().unwrap().push(got);
            // A handler that swallows the error: the wrapper answers 413 anyway.
            text_response(StatusCode::OK, format!("{got:?}"))
        }
    };
    (start(Server::new(), max_bytes(handler, LIMIT)), seen)
}

fn too_large(close: bool) -> String {
    let last = if close {
        "connection: close"
    } else {
        "keep-alive: timeout=60"
    };
    format!(
        "HTTP/1.1 413 Payload Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: 23\r\n{DATE}{last}\r\n\r\nrequest body too large\n"
    )
}

#[tokio::test]
async fn http1_declared_length_over_the_limit_never_reaches_the_handler() {
    let (h, seen) = serve();
    let mut c = Conn::connect(h.local_addr()).await;
    c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world")
        .await;
    assert_eq!(normalize(&c.raw_response(false).await), too_large(false));
    assert!(seen.lock().unwrap().is_empty(), "the handler was called");
    // The unread body was drained: the connection serves the next request, at the limit.
    c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhelloworld")
        .await;
    assert_eq!(normalize(&c.raw_response(false).await), ok_text("Ok(10)"));
    assert_eq!(*seen.lock().unwrap(), [Ok(10)]);
}

#[tokio::test]
async fn http1_chunked_body_crossing_fails_the_read_and_answers_413() {
    let (h, seen) = serve();
    let mut c = Conn::connect(h.local_addr()).await;
    // 6 + 6 bytes: the second chunk crosses 10.
    c.send(
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
         6\r\nhello \r\n6\r\nworld!\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(normalize(&c.raw_response(false).await), too_large(true));
    c.expect_eof().await;
    assert_eq!(*seen.lock().unwrap(), [Err(ErrorKind::BodyTooLarge)]);

    // Exactly the limit, chunked: the handler's own answer.
    let mut c = Conn::connect(h.local_addr()).await;
    c.send(
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
         6\r\nhello \r\n4\r\nworl\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(normalize(&c.raw_response(false).await), ok_text("Ok(10)"));
}

async fn h2_post(
    addr: std::net::SocketAddr,
    declared: Option<usize>,
    chunks: &[&'static str],
) -> (StatusCode, String) {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (send, conn) = h2::client::handshake(tcp).await.expect("handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut send = send.ready().await.expect("ready");
    let mut req = Request::post(format!("http://{addr}/"));
    if let Some(n) = declared {
        req = req.header("content-length", n);
    }
    let (response, mut body) = send.send_request(req.body(()).unwrap(), false).unwrap();
    let chunks: Vec<&'static str> = chunks.to_vec();
    tokio::spawn(async move {
        let last = chunks.len().saturating_sub(1);
        for (i, chunk) in chunks.into_iter().enumerate() {
            // Each chunk a DATA frame of its own; the server may refuse the rest.
            if body.send_data(Bytes::from(chunk), i == last).is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let resp = response.await.expect("response");
    let status = resp.status();
    let mut body = resp.into_body();
    let mut text = Vec::new();
    while let Some(chunk) = body.data().await {
        let Ok(chunk) = chunk else { break };
        let _ = body.flow_control().release_capacity(chunk.len());
        text.extend_from_slice(&chunk);
    }
    (status, String::from_utf8_lossy(&text).into_owned())
}

#[tokio::test]
async fn http2_both_ways() {
    let (h, seen) = serve();
    let addr = h.local_addr();
    tokio::time::timeout(TIMEOUT, async {
        // Declared over the limit: answered before the handler, no body read.
        let (status, text) = h2_post(addr, Some(11), &["hello ", "world"]).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(text, "request body too large\n");
        assert!(seen.lock().unwrap().is_empty(), "the handler was called");

        // No length, crossing in the second DATA frame.
        let (status, text) = h2_post(addr, None, &["hello ", "world!"]).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(text, "request body too large\n");
        assert_eq!(*seen.lock().unwrap(), [Err(ErrorKind::BodyTooLarge)]);

        // No length, exactly the limit.
        let (status, text) = h2_post(addr, None, &["hello ", "worl"]).await;
        assert_eq!((status, text.as_str()), (StatusCode::OK, "Ok(10)"));
    })
    .await
    .expect("the exchanges in time");
}
