//! How our HTTP/2 server sends response bodies, seen frame by frame from the `h2` crate's
//! client: small chunks that a body has ready together go out as a few full DATA frames,
//! a chunk that is alone goes out at once (nothing waits for company, so server-sent events
//! stay live), and many streams sharing a small per-connection send budget
//! (`http2_max_send_buffer`) each receive every byte, in order. The hostile side (a client
//! that never reads) is `crates/cli/tests/h2_unread_memory.rs`.

mod common;
#[path = "common/h2peers.rs"]
mod h2peers;

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use h2peers::*;
use nethttp::http::{self, Response};
use nethttp::{Body, HttpRequest, HttpResponse, Server};
use tokio::net::TcpStream;

/// A body of `n` chunks `"chunk {i}\n"`, every one ready whenever it is polled.
struct Counter {
    next: usize,
    end: usize,
}

impl http_body::Body for Counter {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if self.next >= self.end {
            return Poll::Ready(None);
        }
        let chunk = format!("chunk {}\n", self.next);
        self.next += 1;
        Poll::Ready(Some(Ok(http_body::Frame::data(chunk.into()))))
    }
}

fn expected(n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| format!("chunk {i}\n").into_bytes())
        .collect()
}

/// `GET /count/{n}` answers the counter body of `n` chunks.
async fn counting(req: HttpRequest) -> HttpResponse {
    let n = req
        .uri()
        .path()
        .strip_prefix("/count/")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Response::new(Body::wrap(Counter { next: 0, end: n }))
}

/// An `h2` client connection to `addr`, its driver spawned.
async fn h2_client(addr: std::net::SocketAddr) -> h2::client::SendRequest<Bytes> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (send, conn) = within("h2 handshake", h2::client::handshake(tcp))
        .await
        .expect("h2 handshake");
    tokio::spawn(conn);
    within("ready", send.ready()).await.expect("ready")
}

/// Sends `GET path` and returns the DATA frames of the answer, as the client received them.
async fn data_frames(send: &mut h2::client::SendRequest<Bytes>, path: &str) -> Vec<Bytes> {
    let req = http::Request::get(format!("http://localhost{path}"))
        .body(())
        .unwrap();
    let (resp, _) = send.send_request(req, true).expect("send request");
    let resp = within("response head", resp).await.expect("response");
    assert_eq!(resp.status(), http::StatusCode::OK);
    let mut body = resp.into_body();
    let mut frames = Vec::new();
    while let Some(frame) = within("DATA frame", body.data()).await {
        let frame = frame.expect("DATA frame");
        let _ = body.flow_control().release_capacity(frame.len());
        frames.push(frame);
    }
    frames
}

/// 10,000 chunks of about 12 bytes, all ready at once: without coalescing they would be
/// 10,000 DATA frames (and as many queue entries on the server); they arrive as full frames.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_small_chunks_are_coalesced_into_full_frames() {
    let handle = start(&Server::new(), counting);
    let mut send = h2_client(handle.local_addr()).await;
    let frames = data_frames(&mut send, "/count/10000").await;
    let got: Vec<u8> = frames.iter().flat_map(|f| f.iter().copied()).collect();
    assert_eq!(got, expected(10_000));
    let bytes = got.len();
    // 128,890 bytes: 8 frames of 16 KiB at best; allow for frames cut short by the window.
    assert!(
        frames.len() <= 40,
        "{bytes} bytes came in {} DATA frames",
        frames.len()
    );
    assert!(frames.iter().all(|f| f.len() <= 16 * 1024));
}

/// A chunk whose successor is not ready yet is sent at once: the producer sends the next
/// chunk only after the client has received the previous one, which deadlocks (and times
/// out) if the server held a chunk back waiting to fill a frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_chunk_is_sent_without_waiting_for_more() {
    let (received_tx, received_rx) = tokio::sync::mpsc::channel::<()>(1);
    let received_rx = std::sync::Arc::new(tokio::sync::Mutex::new(Some(received_rx)));
    let handle = start(&Server::new(), move |_req: HttpRequest| {
        let received_rx = received_rx.clone();
        async move {
            let mut received = received_rx.lock().await.take().expect("one request");
            let (tx, body) = Body::channel(1);
            tokio::spawn(async move {
                for i in 0..5 {
                    tx.send_data(format!("event {i}\n")).await?;
                    if received.recv().await.is_none() {
                        break;
                    }
                }
                Ok::<_, nethttp::Error>(())
            });
            Response::new(body)
        }
    });
    let mut send = h2_client(handle.local_addr()).await;
    let req = http::Request::get("http://localhost/events")
        .body(())
        .unwrap();
    let (resp, _) = send.send_request(req, true).expect("send request");
    let mut body = within("response head", resp)
        .await
        .expect("response")
        .into_body();
    for i in 0..5 {
        let frame = within("the next event", body.data())
            .await
            .expect("a frame")
            .expect("DATA frame");
        assert_eq!(&frame[..], format!("event {i}\n").as_bytes());
        let _ = body.flow_control().release_capacity(frame.len());
        received_tx.send(()).await.expect("producer alive");
    }
}

/// 40 streams of ~1 MB each share a 32 KiB send budget (two frames' worth): each waits its
/// turn, and every stream gets every byte in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_streams_share_a_small_budget_and_lose_nothing() {
    let server = Server::new().http2_max_send_buffer(32 * 1024);
    let handle = start(&server, counting);
    let send = h2_client(handle.local_addr()).await;
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let mut send = send.clone();
        tasks.push(tokio::spawn(async move {
            let frames = data_frames(&mut send, "/count/80000").await;
            frames
                .iter()
                .flat_map(|f| f.iter().copied())
                .collect::<Vec<u8>>()
        }));
    }
    let want = expected(80_000);
    for t in tasks {
        let got = within("stream", t).await.expect("stream task");
        assert!(
            got == want,
            "a stream got {} of {} bytes",
            got.len(),
            want.len()
        );
    }
}
