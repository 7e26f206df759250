//! The authority of an HTTP/2 request (RFC 9113 §8.3.1), through the `h2` crate's client over
//! h2c on loopback: an `:authority` with userinfo, a `Host` field naming another entity than
//! `:authority` (after scheme-based normalisation: case, default port), or more than one
//! `Host`, makes the request malformed — a stream error `PROTOCOL_ERROR` (RST_STREAM), the
//! handler never runs, and the connection serves the next stream. Go's HTTP/2 server refuses
//! the same requests (`authority_host_mismatch`, `multiple_host_headers`).

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::wire::start;
use nethttp::http::{Request, StatusCode};
use nethttp::{text_response, HttpRequest, Server, ServerHandle};

const TIMEOUT: Duration = Duration::from_secs(5);

/// A server whose handler counts its calls and answers with the authority and Host it saw.
fn authority_echo() -> (ServerHandle, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let handle = start(Server::new(), move |req: HttpRequest| {
        c.fetch_add(1, Ordering::SeqCst);
        let authority = req.uri().authority().map(|a| a.to_string());
        let host = req.headers().get("host").cloned();
        async move { text_response(StatusCode::OK, format!("{authority:?} {host:?}")) }
    });
    (handle, calls)
}

/// An h2c connection by prior knowledge.
async fn connect(addr: SocketAddr) -> h2::client::SendRequest<Bytes> {
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

/// Sends `req` (no body) and returns the status and body, or the stream error.
async fn exchange(
    send: &mut h2::client::SendRequest<Bytes>,
    req: Request<()>,
) -> Result<(StatusCode, String), h2::Error> {
    let result = tokio::time::timeout(TIMEOUT, async {
        std::future::poll_fn(|cx| send.poll_ready(cx)).await?;
        let (response, _) = send.send_request(req, true)?;
        let res = response.await?;
        let status = res.status();
        let mut body = res.into_body();
        let mut out = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk?;
            let _ = body.flow_control().release_capacity(chunk.len());
            out.extend_from_slice(&chunk);
        }
        Ok((status, String::from_utf8_lossy(&out).into_owned()))
    })
    .await;
    result.expect("an answer in time")
}

fn get(uri: &str, hosts: &[&str]) -> Request<()> {
    let mut b = Request::get(uri);
    for h in hosts {
        b = b.header("host", *h);
    }
    b.body(()).unwrap()
}

async fn assert_malformed(uri: &str, hosts: &[&str]) {
    let (handle, calls) = authority_echo();
    let mut send = connect(handle.local_addr()).await;
    let err = exchange(&mut send, get(uri, hosts))
        .await
        .expect_err(&format!("{uri} with Host {hosts:?} should be refused"));
    assert_eq!(
        err.reason(),
        Some(h2::Reason::PROTOCOL_ERROR),
        "{uri} with Host {hosts:?}: {err}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0, "handler ran for {uri}");
    // A stream error: the connection goes on.
    let (status, _) = exchange(&mut send, get("http://a.example/", &[]))
        .await
        .expect("the next stream is served");
    assert_eq!(status, StatusCode::OK);
}

async fn assert_served(uri: &str, hosts: &[&str], body: &str) {
    let (handle, _) = authority_echo();
    let mut send = connect(handle.local_addr()).await;
    let (status, got) = exchange(&mut send, get(uri, hosts))
        .await
        .unwrap_or_else(|e| panic!("{uri} with Host {hosts:?} refused: {e}"));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, body, "{uri} with Host {hosts:?}");
}

#[tokio::test]
async fn host_disagreeing_with_authority_is_a_stream_error() {
    assert_malformed("http://a.example/", &["b.example"]).await;
    assert_malformed("http://a.example/", &["a.example:8080"]).await;
    assert_malformed("http://a.example:8080/", &["a.example"]).await;
    assert_malformed("http://a.example/", &["a b"]).await;
    assert_malformed("http://a.example/", &[""]).await;
}

#[tokio::test]
async fn userinfo_in_authority_is_a_stream_error() {
    assert_malformed("http://evil@a.example/", &[]).await;
    assert_malformed("http://user:pass@a.example/", &["a.example"]).await;
}

#[tokio::test]
async fn more_than_one_host_is_a_stream_error() {
    assert_malformed("http://a.example/", &["a.example", "a.example"]).await;
}

#[tokio::test]
async fn host_naming_the_same_entity_is_served() {
    assert_served("http://a.example/", &[], "Some(\"a.example\") None").await;
    assert_served(
        "http://a.example/",
        &["a.example"],
        "Some(\"a.example\") Some(\"a.example\")",
    )
    .await;
    // Scheme-based normalisation (RFC 3986 §6.2.3): case, and the default port.
    assert_served(
        "http://a.example/",
        &["A.Example:80"],
        "Some(\"a.example\") Some(\"A.Example:80\")",
    )
    .await;
    assert_served(
        "http://a.example:80/",
        &["a.example"],
        "Some(\"a.example:80\") Some(\"a.example\")",
    )
    .await;
    assert_served(
        "http://[::1]:8080/",
        &["[::1]:8080"],
        "Some(\"[::1]:8080\") Some(\"[::1]:8080\")",
    )
    .await;
}
