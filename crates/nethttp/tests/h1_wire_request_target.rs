//! Raw-TCP tests of the request-target forms (RFC 9112 §3.2): `OPTIONS *` answered by the
//! server itself with an empty 200 (as Go's server does) unless that is turned off, the
//! asterisk form refused with 400 for any other method, and the absolute form served.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::wire::{echo_summary, error_response, ok_text, start, Conn, DATE};
use nethttp::http::StatusCode;
use nethttp::{text_response, HttpRequest, Server};

#[tokio::test]
async fn options_asterisk_is_answered_by_the_server() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let handle = start(Server::new(), move |_req: HttpRequest| {
        seen.fetch_add(1, Ordering::SeqCst);
        async { text_response(StatusCode::OK, "handler") }
    });
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(
        c.response().await,
        format!("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n{DATE}keep-alive: timeout=60\r\n\r\n")
    );
    // The connection goes on, and other requests reach the handler.
    c.send("OPTIONS /x HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(c.response().await, ok_text("handler"));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// An `OPTIONS *` with a body: the server's answer skips the body, and the connection goes
/// on to the next request.
#[tokio::test]
async fn options_asterisk_with_a_body_is_answered_and_the_body_skipped() {
    let handle = start(Server::new(), echo_summary);
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send("OPTIONS * HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        .await;
    assert_eq!(
        c.response().await,
        format!("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n{DATE}keep-alive: timeout=60\r\n\r\n")
    );
    c.send("GET /next HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(c.response().await, ok_text("GET /next: "));
}

#[tokio::test]
async fn options_asterisk_reaches_the_handler_when_turned_off() {
    let handle = start(Server::new().options_asterisk(false), echo_summary);
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(c.response().await, ok_text("OPTIONS *: "));
}

#[tokio::test]
async fn the_asterisk_form_is_only_for_options() {
    let handle = start(Server::new(), echo_summary);
    for method in ["GET", "POST", "HEAD"] {
        let mut c = Conn::connect(handle.local_addr()).await;
        c.send(format!("{method} * HTTP/1.1\r\nHost: x\r\n\r\n"))
            .await;
        assert_eq!(
            c.response().await,
            error_response(
                "400 Bad Request",
                "asterisk-form target is only for OPTIONS"
            ),
            "{method}"
        );
        c.expect_eof().await;
    }
}

#[tokio::test]
async fn the_absolute_form_is_served() {
    let handle = start(Server::new(), echo_summary);
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send("GET http://x/abs?q=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    assert_eq!(c.response().await, ok_text("GET /abs: "));
}

/// A space inside the target makes the request line four tokens: a malformed request (400),
/// not a well-formed one in an unsupported version (505).
#[tokio::test]
async fn a_space_inside_the_target_is_400_not_505() {
    let handle = start(Server::new(), echo_summary);
    for line in [
        "GET /a b HTTP/1.1",
        "GET /a b HTTP/2.0",
        "GET /a  HTTP/1.1",
        "GET /a b c HTTP/1.1",
    ] {
        let mut c = Conn::connect(handle.local_addr()).await;
        c.send(format!("{line}\r\nHost: x\r\n\r\n")).await;
        assert_eq!(
            c.response().await,
            error_response("400 Bad Request", "invalid request line"),
            "{line:?}"
        );
        c.expect_eof().await;
    }
    // A well-formed line in another version is still 505.
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send("GET /a HTTP/2.0\r\nHost: x\r\n\r\n").await;
    assert_eq!(
        c.response().await,
        error_response(
            "505 HTTP Version Not Supported",
            "HTTP version not supported"
        )
    );
}
