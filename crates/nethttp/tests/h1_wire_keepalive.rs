//! Raw-TCP tests of connection reuse: HTTP/1.1 and HTTP/1.0 keep-alive rules and their
//! `connection`/`keep-alive` headers, pipelining (order, and flushing while a handler waits),
//! `Expect: 100-continue`, and what happens to request bodies the handler leaves unread.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::wire::{echo_summary, ok_text, ok_text_close, start, Conn, DATE};
use nethttp::http::{HeaderValue, Response, StatusCode};
use nethttp::{text_response, Body, HttpRequest, HttpResponse, Server};
use tokio::sync::Notify;

/// Answers with the path, never touching the body.
async fn path_only(req: HttpRequest) -> HttpResponse {
    text_response(StatusCode::OK, req.uri().path().to_string())
}

#[tokio::test]
async fn http11_keeps_alive_and_advertises_the_idle_timeout() {
    let handle = start(Server::new(), path_only);
    let mut c = Conn::connect(handle.local_addr()).await;
    for path in ["/1", "/2", "/3"] {
        c.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"))
            .await;
        assert_eq!(c.response().await, ok_text(path));
    }
    // `keep-alive: timeout=N` follows the configured idle timeout.
    let handle = start(
        Server::new().idle_timeout(Duration::from_secs(7)),
        path_only,
    );
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
        .await;
    assert_eq!(
        c.response().await,
        ok_text("/").replace("timeout=60", "timeout=7")
    );
}

#[tokio::test]
async fn client_connection_close_ends_the_connection() {
    let handle = start(Server::new(), path_only);
    for value in ["close", "Close", "foo, close", "keep-alive, close"] {
        let mut c = Conn::connect(handle.local_addr()).await;
        c.send(format!(
            "GET /c HTTP/1.1\r\nHost: x\r\nConnection: {value}\r\n\r\n"
        ))
        .await;
        assert_eq!(
            c.response().await,
            ok_text_close("/c"),
            "Connection: {value}"
        );
        c.expect_eof().await;
    }
}

#[tokio::test]
async fn handler_connection_close_ends_the_connection() {
    let handle = start(Server::new(), |_req: HttpRequest| async {
        let mut resp = text_response(StatusCode::OK, "bye");
        resp.headers_mut()
            .insert("connection", HeaderValue::from_static("close"));
        resp
    });
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /never HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    assert_eq!(c.response().await, ok_text_close("bye"));
    c.expect_eof().await;
}

#[tokio::test]
async fn keep_alive_disabled_by_config_closes_every_connection() {
    let handle = start(Server::new().keep_alive(false), path_only);
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send("GET /k HTTP/1.1\r\nHost: x\r\n\r\nGET /never HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    assert_eq!(c.response().await, ok_text_close("/k"));
    c.expect_eof().await;
}

#[tokio::test]
async fn http10_closes_unless_it_asks_for_keep_alive() {
    let handle = start(Server::new(), path_only);
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send("GET /old HTTP/1.0\r\n\r\n").await;
    assert_eq!(c.response().await, ok_text_close("/old"));
    c.expect_eof().await;

    let mut c = Conn::connect(handle.local_addr()).await;
    for path in ["/ka1", "/ka2"] {
        c.send(format!(
            "GET {path} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        ))
        .await;
        assert_eq!(
            c.response().await,
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 4\r\n\
                 {DATE}connection: keep-alive\r\nkeep-alive: timeout=60\r\n\r\n{path}"
            )
        );
    }
    // Without the token again, the exchange is the last.
    c.send("GET /last HTTP/1.0\r\n\r\n").await;
    assert_eq!(c.response().await, ok_text_close("/last"));
    c.expect_eof().await;
}

#[tokio::test]
async fn http10_streamed_body_is_close_delimited() {
    let handle = start(Server::new(), |_req: HttpRequest| async {
        let (tx, body) = Body::channel(2);
        tokio::spawn(async move {
            tx.send_data("hello ").await.unwrap();
            tx.send_data("world").await.unwrap();
        });
        Response::new(body)
    });
    let mut c = Conn::connect(handle.local_addr()).await;
    // Even a keep-alive 1.0 client gets a body that ends when the connection does: 1.0 has
    // no chunked coding.
    c.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .await;
    let got = common::wire::normalize(&c.read_to_eof().await);
    assert_eq!(
        got,
        format!("HTTP/1.1 200 OK\r\n{DATE}connection: close\r\n\r\nhello world")
    );
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let handle = start(Server::new(), echo_summary);
    let mut c = Conn::connect(handle.local_addr()).await;
    let mut wire = String::new();
    let mut expected = Vec::new();
    for i in 0..16 {
        if i % 3 == 1 {
            let body = format!("body-{i}");
            wire.push_str(&format!(
                "POST /{i} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ));
            expected.push(ok_text(&format!("POST /{i}: {body}")));
        } else if i % 3 == 2 {
            wire.push_str(&format!(
                "PUT /{i} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{i:02}\r\n0\r\n\r\n"
            ));
            expected.push(ok_text(&format!("PUT /{i}: {i:02}")));
        } else {
            wire.push_str(&format!("GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n"));
            expected.push(ok_text(&format!("GET /{i}: ")));
        }
    }
    c.send(&wire).await;
    for (i, want) in expected.iter().enumerate() {
        assert_eq!(&c.response().await, want, "response {i}");
    }
    // Nothing extra follows.
    c.expect_silence(Duration::from_millis(50)).await;
}

#[tokio::test]
async fn pipelined_responses_are_flushed_while_a_handler_waits() {
    let release = Arc::new(Notify::new());
    let r = release.clone();
    let handle = start(Server::new(), move |req: HttpRequest| {
        let r = r.clone();
        async move {
            if req.uri().path() == "/wait" {
                r.notified().await;
            }
            text_response(StatusCode::OK, req.uri().path().to_string())
        }
    });
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send(
        "GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /wait HTTP/1.1\r\nHost: x\r\n\r\n\
         GET /third HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    // /wait only finishes once we have read /first: if the server held /first back until
    // /wait finished, this read would time out.
    assert_eq!(c.response().await, ok_text("/first"));
    c.expect_silence(Duration::from_millis(50)).await;
    release.notify_one();
    assert_eq!(c.response().await, ok_text("/wait"));
    assert_eq!(c.response().await, ok_text("/third"));
}

const CONTINUE: &str = "HTTP/1.1 100 Continue\r\n\r\n";

#[tokio::test]
async fn continue_is_sent_before_the_body_when_the_handler_reads_it() {
    let handle = start(Server::new(), echo_summary);
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send("POST /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        .await;
    // No body sent yet: the interim response must come first, alone.
    assert_eq!(c.response().await, CONTINUE);
    c.expect_silence(Duration::from_millis(30)).await;
    c.send("hello").await;
    assert_eq!(c.response().await, ok_text("POST /up: hello"));

    // Chunked too, and the connection stays usable.
    c.send("POST /ch HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await;
    assert_eq!(c.response().await, CONTINUE);
    c.send("3\r\nabc\r\n0\r\n\r\n").await;
    assert_eq!(c.response().await, ok_text("POST /ch: abc"));
}

#[tokio::test]
async fn no_continue_when_the_handler_ignores_the_body() {
    let handle = start(Server::new(), path_only);
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send("POST /skip HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        .await;
    // The final response comes straight away, and since the client may or may not now send
    // the body, the connection ends with it.
    assert_eq!(c.response().await, ok_text_close("/skip"));
    c.expect_eof().await;
}

#[tokio::test]
async fn continue_precedes_a_response_that_streams_the_request_body_back() {
    // The handler answers at once with the request body as the response body: it is read
    // only while the response is written.
    let handle = start(Server::new(), |req: HttpRequest| async move {
        Response::new(req.into_body())
    });
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send("PUT /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        .await;
    assert_eq!(c.response().await, CONTINUE);
    c.send("hello").await;
    // The body, still alive inside the response, is read to its end while the response is
    // written, so the exchange ends cleanly and the connection is kept.
    assert_eq!(
        c.response().await,
        format!(
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n{DATE}keep-alive: timeout=60\r\n\r\nhello"
        )
    );
    c.send("PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok")
        .await;
    assert_eq!(
        c.response().await,
        format!("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n{DATE}keep-alive: timeout=60\r\n\r\nok")
    );

    // Without Expect the same handler keeps the connection.
    let mut c = Conn::connect(handle.local_addr()).await;
    for body in ["abc", "defg"] {
        c.send(format!(
            "PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ))
        .await;
        assert_eq!(
            c.response().await,
            format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n{DATE}keep-alive: timeout=60\r\n\r\n{body}",
                body.len()
            )
        );
    }
}

#[tokio::test]
async fn http10_expect_continue_is_ignored() {
    let handle = start(Server::new(), echo_summary);
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send("POST /old HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi")
        .await;
    assert_eq!(c.response().await, ok_text_close("POST /old: hi"));
    c.expect_eof().await;
}

#[tokio::test]
async fn small_unread_body_is_drained_and_the_connection_reused() {
    let handle = start(Server::new(), path_only);
    let mut c = Conn::connect(handle.local_addr()).await;
    let body = "b".repeat(10 * 1024);
    c.send(format!(
        "POST /unread HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ))
    .await;
    assert_eq!(c.response().await, ok_text("/unread"));
    c.send("GET /next HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(c.response().await, ok_text("/next"));

    // Chunked, and up to 200 KiB (under the 256 KiB default drain limit), in one write with
    // the next request.
    let big = "c".repeat(200 * 1024);
    c.send(format!(
        "POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n\
         GET /after HTTP/1.1\r\nHost: x\r\n\r\n",
        big.len()
    ))
    .await;
    assert_eq!(c.response().await, ok_text("/chunked"));
    assert_eq!(c.response().await, ok_text("/after"));
}

#[tokio::test]
async fn unread_body_over_the_drain_limit_closes_the_connection() {
    let handle = start(Server::new().max_drain_bytes(4096), path_only);
    let mut c = Conn::connect(handle.local_addr()).await;
    let body = "b".repeat(10 * 1024);
    c.send(format!(
        "POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}GET /never HTTP/1.1\r\nHost: x\r\n\r\n",
        body.len()
    ))
    .await;
    assert_eq!(c.response().await, ok_text_close("/big"));
    c.expect_eof().await;

    // Exactly at the limit is still drained.
    let mut c = Conn::connect(handle.local_addr()).await;
    let body = "b".repeat(4096);
    c.send(format!(
        "POST /edge HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n{body}"
    ))
    .await;
    assert_eq!(c.response().await, ok_text("/edge"));
    c.send("GET /next HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(c.response().await, ok_text("/next"));
}

#[tokio::test]
async fn default_drain_limit_is_256_kib() {
    let handle = start(Server::new(), path_only);
    let mut c = Conn::connect(handle.local_addr()).await;
    // Only part of the announced body is sent: the server knows from Content-Length that
    // more than 256 KiB would be left, so this response is the last.
    c.send(format!(
        "POST /huge HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{}",
        256 * 1024 + 1,
        "h".repeat(1024)
    ))
    .await;
    assert_eq!(c.response().await, ok_text_close("/huge"));
    c.expect_eof().await;
}
