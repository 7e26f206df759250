//! Raw-TCP tests of the request smuggling defences (RFC 9112 §6.3, §5, §3.2): every ambiguous
//! or malformed head is refused with an exact error response and `connection: close`, the
//! handler never runs, and a request pipelined behind it is never answered.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::wire::{error_response, ok_text, start, Conn, DATE};
use nethttp::http::Response;
use nethttp::http::StatusCode;
use nethttp::{text_response, HttpRequest, Server, ServerHandle};

/// A request that would be answered if the server (wrongly) kept reading after a rejection.
const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";

/// A server whose handler counts its calls and answers with the path.
fn counting_server() -> (ServerHandle, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let handle = start(Server::new(), move |req: HttpRequest| {
        c.fetch_add(1, Ordering::SeqCst);
        async move { text_response(StatusCode::OK, req.uri().path().to_string()) }
    });
    (handle, calls)
}

/// Sends `request` followed by a pipelined request, and asserts the exact error response,
/// then EOF (the pipelined request unanswered), and that the handler never ran.
async fn assert_rejected(request: &str, status_line: &str, reason: &str) {
    let (handle, calls) = counting_server();
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send(format!("{request}{SMUGGLED}")).await;
    assert_eq!(
        c.response().await,
        error_response(status_line, reason),
        "request {request:?}"
    );
    c.expect_eof().await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "handler ran for {request:?}"
    );
}

async fn assert_bad_request(request: &str, reason: &str) {
    assert_rejected(request, "400 Bad Request", reason).await;
}

#[tokio::test]
async fn rejection_response_is_exact() {
    let (handle, _) = counting_server();
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send("GET / HTTP/1.1\r\n\r\n").await;
    assert_eq!(
        c.response().await,
        format!(
            "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n\
             content-length: 20\r\n{DATE}connection: close\r\n\r\nmissing Host header\n"
        )
    );
    c.expect_eof().await;
}

#[tokio::test]
async fn transfer_encoding_with_content_length() {
    for req in [
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n",
    ] {
        assert_bad_request(req, "both Transfer-Encoding and Content-Length").await;
    }
}

#[tokio::test]
async fn differing_content_lengths() {
    assert_bad_request(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        "conflicting Content-Length values",
    )
    .await;
    assert_bad_request(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello",
        "invalid Content-Length",
    )
    .await;
}

#[tokio::test]
async fn identical_content_lengths_are_one() {
    // RFC 9110 §8.6: a list of identical values may be accepted as that value.
    let (handle, calls) = counting_server();
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\nhello")
        .await;
    assert_eq!(c.response().await, ok_text("/a"));
    c.send("GET /b HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(c.response().await, ok_text("/b"));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn malformed_content_length() {
    for value in [
        "+5",
        "-5",
        "0x5",
        "5 5",
        "5.0",
        "",
        "99999999999999999999",
        "18446744073709551616",
    ] {
        let req = format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {value}\r\n\r\nhello");
        assert_bad_request(&req, "invalid Content-Length").await;
    }
}

#[tokio::test]
async fn transfer_encoding_must_end_in_chunked_once() {
    for te in [
        "Transfer-Encoding: chunked, identity\r\n",
        "Transfer-Encoding: gzip\r\n",
        "Transfer-Encoding: identity\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked, chunked\r\n",
    ] {
        let req = format!("POST / HTTP/1.1\r\nHost: x\r\n{te}\r\n0\r\n\r\n");
        assert_bad_request(&req, "Transfer-Encoding must end in chunked").await;
    }
}

#[tokio::test]
async fn transfer_encoding_in_http10() {
    assert_bad_request(
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "Transfer-Encoding in an HTTP/1.0 request",
    )
    .await;
}

#[tokio::test]
async fn unsupported_coding_before_chunked_is_501() {
    assert_rejected(
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        "501 Not Implemented",
        "unsupported transfer coding",
    )
    .await;
}

#[tokio::test]
async fn unknown_expectation_is_417() {
    assert_rejected(
        "GET / HTTP/1.1\r\nHost: x\r\nExpect: foo\r\n\r\n",
        "417 Expectation Failed",
        "unsupported expectation",
    )
    .await;
}

#[tokio::test]
async fn obs_fold_is_rejected() {
    for req in [
        "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n",
    ] {
        assert_bad_request(req, "invalid header name").await;
    }
}

#[tokio::test]
async fn whitespace_before_colon_is_rejected() {
    for req in [
        "GET / HTTP/1.1\r\nHost: x\r\nX-A : a\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding\t: chunked\r\n\r\n0\r\n\r\n",
    ] {
        assert_bad_request(req, "invalid header name").await;
    }
}

#[tokio::test]
async fn control_characters_are_rejected() {
    for req in [
        "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
    ] {
        assert_bad_request(req, "invalid header value").await;
    }
    for req in [
        "GET / HTTP/1.1\r\nHost: x\r\nX\x01A: a\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nX\x00A: a\r\n\r\n",
    ] {
        assert_bad_request(req, "invalid header name").await;
    }
}

#[tokio::test]
async fn host_header_rules() {
    assert_bad_request("GET / HTTP/1.1\r\n\r\n", "missing Host header").await;
    assert_bad_request(
        "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
        "multiple Host headers",
    )
    .await;
    assert_bad_request(
        "GET / HTTP/1.1\r\nHost: x\r\nhost: x\r\n\r\n",
        "multiple Host headers",
    )
    .await;
    assert_bad_request(
        "GET / HTTP/1.0\r\nHost: x\r\nHost: y\r\n\r\n",
        "multiple Host headers",
    )
    .await;
    // HTTP/1.0 does not require Host.
    let (handle, calls) = counting_server();
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send("GET /old HTTP/1.0\r\n\r\n").await;
    assert_eq!(
        c.response().await,
        common::wire::ok_text_close("/old"),
        "an HTTP/1.0 request without Host is served"
    );
    c.expect_eof().await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// A chunked body with a bad size line: the head is fine, so the handler runs, but its body
/// read fails as a parse error. Whatever it answers, the connection must close after it and
/// the bytes behind the bad chunk must never be parsed as a request.
#[tokio::test]
async fn invalid_chunk_size_fails_the_body_and_closes() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c2 = calls.clone();
    let handle = start(Server::new(), move |req: HttpRequest| {
        c2.fetch_add(1, Ordering::SeqCst);
        async move {
            let msg = match req.into_body().to_bytes(1 << 20).await {
                Ok(b) => format!("body {:?}", b),
                Err(e) => format!("body error, parse={}", e.is_parse()),
            };
            text_response(StatusCode::BAD_REQUEST, msg)
        }
    });
    for body in [
        "x\r\nhello\r\n0\r\n\r\n",
        "-5\r\nhello\r\n0\r\n\r\n",
        "+5\r\nhello\r\n0\r\n\r\n",
        "0x5\r\nhello\r\n0\r\n\r\n",
        " 5\r\nhello\r\n0\r\n\r\n",
        "5\nhello\r\n0\r\n\r\n",
        "5\r\nhelloXX0\r\n\r\n",
        "10000000000000000\r\n",
        "ffffffffffffffffff\r\n",
    ] {
        calls.store(0, Ordering::SeqCst);
        let mut c = Conn::connect(handle.local_addr()).await;
        c.send(format!(
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{body}{SMUGGLED}"
        ))
        .await;
        let msg = "body error, parse=true";
        assert_eq!(
            c.response().await,
            format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n\
                 content-length: {}\r\n{DATE}connection: close\r\n\r\n{msg}",
                msg.len()
            ),
            "chunked body {body:?}"
        );
        c.expect_eof().await;
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "only the first request ran for {body:?}"
        );
    }
}

/// A handler that streams the request body back answers before reading it. When that body's
/// chunked framing turns out broken (or over the limit) before any byte of the response has
/// gone out, the client gets a 400 (413) instead of a connection closed without an answer;
/// the bytes behind the bad chunk are still never parsed as a request.
#[tokio::test]
async fn broken_body_streamed_back_is_answered_before_the_close() {
    let echo = |req: HttpRequest| async move { Response::new(req.into_body()) };
    let handle = start(Server::new(), echo);
    for body in [
        "zz\r\n",
        "-5\r\nhello\r\n0\r\n\r\n",
        "5\r\nhelloXX0\r\n\r\n",
        "3\r\nabc\r\n0\r\nbad trailer\r\n\r\n",
    ] {
        let mut c = Conn::connect(handle.local_addr()).await;
        c.send(format!(
            "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{body}{SMUGGLED}"
        ))
        .await;
        assert_eq!(
            c.response().await,
            error_response("400 Bad Request", "malformed chunked request body"),
            "chunked body {body:?}"
        );
        c.expect_eof().await;
    }
    let handle = start(Server::new().max_body_bytes(Some(4)), echo);
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send(format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
         5\r\nhello\r\n0\r\n\r\n{SMUGGLED}"
    ))
    .await;
    assert_eq!(
        c.response().await,
        error_response("413 Payload Too Large", "request body too large")
    );
    c.expect_eof().await;
}
