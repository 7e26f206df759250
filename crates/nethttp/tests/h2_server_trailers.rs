//! The trailer filter on HTTP/2 (RFC 9110 §6.5.1, Go's `badTrailer`), through the `h2` crate's
//! client over h2c on loopback: a handler's trailer that must not be a trailer is not sent in
//! the final HEADERS frame, and a client's such trailer never reaches the handler.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::wire::start;
use http_body_util::BodyExt;
use nethttp::http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use nethttp::{text_response, Body, HttpRequest, Server};

const TIMEOUT: Duration = Duration::from_secs(5);

async fn connect(addr: std::net::SocketAddr) -> h2::client::SendRequest<Bytes> {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (send, conn) = tokio::time::timeout(TIMEOUT, h2::client::handshake(tcp))
        .await
        .expect("handshake in time")
        .expect("handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    send
}

fn names(t: &HeaderMap) -> Vec<String> {
    t.iter()
        .map(|(n, v)| format!("{n}: {}", v.to_str().unwrap()))
        .collect()
}

#[tokio::test]
async fn handler_trailers_that_must_not_be_trailers_are_not_sent() {
    let handle = start(Server::new(), |_req: HttpRequest| async move {
        let (tx, body) = Body::channel(4);
        tokio::spawn(async move {
            tx.send_data("abc").await.unwrap();
            let mut t = HeaderMap::new();
            t.insert("x-checksum", HeaderValue::from_static("1"));
            for name in ["host", "content-length", "set-cookie", "authorization"] {
                t.insert(name, HeaderValue::from_static("evil"));
            }
            t.insert("grpc-status", HeaderValue::from_static("0"));
            tx.send_trailers(t).await.unwrap();
        });
        Response::new(body)
    });
    let mut send = connect(handle.local_addr()).await;
    let trailers = tokio::time::timeout(TIMEOUT, async {
        std::future::poll_fn(|cx| send.poll_ready(cx))
            .await
            .unwrap();
        let req = Request::get("http://a.example/").body(()).unwrap();
        let (response, _) = send.send_request(req, true).unwrap();
        let mut body = response.await.unwrap().into_body();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.unwrap();
            let _ = body.flow_control().release_capacity(chunk.len());
        }
        body.trailers().await.unwrap()
    })
    .await
    .expect("the response in time")
    .expect("a trailers frame");
    assert_eq!(names(&trailers), ["x-checksum: 1", "grpc-status: 0"]);
}

#[tokio::test]
async fn request_trailers_that_must_not_be_trailers_never_reach_the_handler() {
    let handle = start(Server::new(), |req: HttpRequest| async move {
        let collected = req.into_body().collect().await.expect("body");
        let trailers = collected.trailers().map(names).unwrap_or_default();
        text_response(StatusCode::OK, trailers.join(", "))
    });
    let mut send = connect(handle.local_addr()).await;
    let body = tokio::time::timeout(TIMEOUT, async {
        std::future::poll_fn(|cx| send.poll_ready(cx))
            .await
            .unwrap();
        let req = Request::post("http://a.example/").body(()).unwrap();
        let (response, mut stream) = send.send_request(req, false).unwrap();
        stream.send_data(Bytes::from_static(b"abc"), false).unwrap();
        let mut t = HeaderMap::new();
        t.insert("x-ok", HeaderValue::from_static("1"));
        for name in [
            "host",
            "authorization",
            "cookie",
            "if-match",
            "content-type",
        ] {
            t.insert(name, HeaderValue::from_static("evil"));
        }
        stream.send_trailers(t).unwrap();
        let mut body = response.await.unwrap().into_body();
        let mut out = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.unwrap();
            let _ = body.flow_control().release_capacity(chunk.len());
            out.extend_from_slice(&chunk);
        }
        String::from_utf8(out).unwrap()
    })
    .await
    .expect("the response in time");
    assert_eq!(body, "x-ok: 1");
}
