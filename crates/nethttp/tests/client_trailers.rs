//! The client's side of the trailer filter (RFC 9110 §6.5.1, Go's `badTrailer`), against
//! scripted raw-TCP servers: response trailers that must not be trailers (framing, routing,
//! authentication, content handling, response control data) never reach the caller, and the
//! caller's request trailers of that kind are never written.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::script::{answering, body_of, bounded, ok, Peer, Script, IO_TIMEOUT};
use http_body_util::BodyExt;
use nethttp::http::{HeaderMap, HeaderValue};
use nethttp::{Body, Client};

/// What the client adds to every request: its User-Agent, and the codings it decodes (the
/// tests build the library with all of them: `nethttp::client::ACCEPT_ENCODING`).
const UA: &str = "user-agent: nethttp/0.1.0\r\naccept-encoding: gzip, br, zstd, deflate\r\n";

#[tokio::test]
async fn response_trailers_that_must_not_be_trailers_are_dropped() {
    let s = answering(
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
         5\r\nhello\r\n0\r\nX-Sum: 5\r\nContent-Length: 999\r\nSet-Cookie: session=evil\r\n\
         Transfer-Encoding: chunked\r\nLocation: http://evil/\r\nWWW-Authenticate: Basic\r\n\
         Content-Type: text/html\r\nGrpc-Status: 0\r\n\r\n",
    )
    .await;
    let c = Client::new();
    // Twice: the connection is reused after a filtered trailer section.
    for _ in 0..2 {
        let res = bounded("GET", c.get(s.url("/")).send()).await.unwrap();
        let mut body = res.into_body();
        let mut data = Vec::new();
        let mut trailers = Vec::new();
        while let Some(frame) = bounded("frame", body.frame()).await {
            match frame.unwrap().into_data() {
                Ok(d) => data.extend_from_slice(&d),
                Err(f) => {
                    for (name, value) in &f.into_trailers().unwrap() {
                        trailers.push(format!("{name}: {}", value.to_str().unwrap()));
                    }
                }
            }
        }
        assert_eq!(data, b"hello");
        assert_eq!(trailers, ["x-sum: 5", "grpc-status: 0"]);
    }
    assert_eq!(s.accepted(), 1);
}

#[tokio::test]
async fn request_trailers_that_must_not_be_trailers_are_not_sent() {
    let s = answering(ok("got it")).await;
    let c = Client::new();
    let (tx, body) = Body::channel(1);
    let producer = tokio::spawn(async move {
        tx.send_data("hello").await.unwrap();
        let mut t = HeaderMap::new();
        t.insert("x-checksum", HeaderValue::from_static("42"));
        for name in [
            "host",
            "content-length",
            "transfer-encoding",
            "authorization",
            "cookie",
            "if-none-match",
            "expect",
            "max-forwards",
        ] {
            t.insert(name, HeaderValue::from_static("1"));
        }
        tx.send_trailers(t).await.unwrap();
    });
    let res = c.post(s.url("/up")).body(body).send();
    let res = bounded("POST", res).await.unwrap();
    assert_eq!(body_of(res).await.unwrap(), "got it");
    producer.await.unwrap();
    assert_eq!(
        s.requests()[0].raw_text(),
        format!(
            "POST /up HTTP/1.1\r\nhost: {}\r\n{UA}transfer-encoding: chunked\r\n\r\n\
             5\r\nhello\r\n0\r\nx-checksum: 42\r\n\r\n",
            s.addr()
        )
    );
}

/// The full-duplex path (the response began before the upload ended) writes its own last
/// chunk: the same filter applies there. The server answers at once, then sends back the
/// request body exactly as it arrived, framing and trailers included.
#[tokio::test]
async fn request_trailers_are_filtered_on_a_duplex_upload() {
    let s = Script::start(|mut p: Peer| async move {
        let Some(head) = p.read_head().await else {
            return;
        };
        p.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            .await;
        let Some((_, raw)) = p.read_body(&head).await else {
            return;
        };
        let mut out = format!("{:x}\r\n", raw.len()).into_bytes();
        out.extend_from_slice(&raw);
        out.extend_from_slice(b"\r\n0\r\n\r\n");
        p.write(out).await;
        p.hold(IO_TIMEOUT).await;
    })
    .await;
    let (tx, body) = Body::channel(1);
    tokio::spawn(async move {
        // Late enough that the response head has arrived: the rest goes as a duplex upload.
        tokio::time::sleep(Duration::from_millis(100)).await;
        tx.send_data(Bytes::from_static(b"abc")).await.unwrap();
        let mut t = HeaderMap::new();
        t.insert("trailer", HeaderValue::from_static("x"));
        t.insert("x-ok", HeaderValue::from_static("1"));
        t.insert("content-type", HeaderValue::from_static("text/html"));
        tx.send_trailers(t).await.unwrap();
    });
    let res = bounded("PUT", Client::new().put(s.url("/d")).body(body).send())
        .await
        .unwrap();
    assert_eq!(
        body_of(res).await.unwrap(),
        "3\r\nabc\r\n0\r\nx-ok: 1\r\n\r\n"
    );
}
