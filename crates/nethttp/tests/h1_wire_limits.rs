//! Raw-TCP tests of the limits on what a client controls: head size (431, with the 64 KiB
//! default), URI length (414), protocol version (505), body size by Content-Length (413 before
//! the handler runs) and by a growing chunked body (413 after the handler's read fails).

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use common::wire::{error_response, ok_text, start, Conn};
use nethttp::http::StatusCode;
use nethttp::{text_response, HttpRequest, Server, ServerHandle};

/// Serves `server` with a handler that counts calls and answers with the path.
fn counting(server: Server) -> (ServerHandle, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let handle = start(server, move |req: HttpRequest| {
        c.fetch_add(1, Ordering::SeqCst);
        async move { text_response(StatusCode::OK, req.uri().path().to_string()) }
    });
    (handle, calls)
}

/// A request head of exactly `total` bytes, padded with `X-Pad-N` fields of up to 4 KiB.
fn head_of_size(total: usize) -> String {
    let mut head = String::from("GET /big HTTP/1.1\r\nHost: x\r\n");
    let mut i = 0;
    while head.len() + 2 < total {
        let room = total - head.len() - 2;
        let prefix = format!("X-Pad-{i}: ");
        // A field is `prefix value \r\n`; keep at least one byte of value.
        let take = room.min(4096);
        if take < prefix.len() + 3 {
            // Too little room for another field: lengthen the first one instead.
            let at = head.find("X-Pad-0: ").expect("a first pad field") + "X-Pad-0: ".len();
            head.insert_str(at, &"b".repeat(room));
            break;
        }
        head.push_str(&prefix);
        head.push_str(&"a".repeat(take - prefix.len() - 2));
        head.push_str("\r\n");
        i += 1;
    }
    head.push_str("\r\n");
    assert_eq!(head.len(), total);
    head
}

#[tokio::test]
async fn default_head_limit_is_64_kib() {
    let (handle, calls) = counting(Server::new());
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send(head_of_size(60 * 1024)).await;
    assert_eq!(
        c.response().await,
        ok_text("/big"),
        "a 60 KiB head is accepted"
    );
    c.send(head_of_size(64 * 1024)).await;
    assert_eq!(
        c.response().await,
        ok_text("/big"),
        "a head of exactly 64 KiB is accepted"
    );

    let mut c = Conn::connect(handle.local_addr()).await;
    c.send(head_of_size(70 * 1024)).await;
    assert_eq!(
        c.response().await,
        error_response(
            "431 Request Header Fields Too Large",
            "request header fields too large"
        )
    );
    c.expect_eof().await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn head_over_configured_limit_is_431() {
    let (handle, calls) = counting(Server::new().max_header_bytes(1024));
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send(head_of_size(1024)).await;
    assert_eq!(c.response().await, ok_text("/big"));
    c.send(head_of_size(1025)).await;
    assert_eq!(
        c.response().await,
        error_response(
            "431 Request Header Fields Too Large",
            "request header fields too large"
        )
    );
    c.expect_eof().await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // A head that never ends is refused as soon as it passes the limit, not when it ends.
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send(format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Long: {}",
        "a".repeat(2000)
    ))
    .await;
    assert_eq!(
        c.response().await,
        error_response(
            "431 Request Header Fields Too Large",
            "request header fields too large"
        )
    );
    c.expect_eof().await;
}

#[tokio::test]
async fn too_many_header_fields_is_431() {
    let (handle, calls) = counting(Server::new());
    let fields: String = (0..200).map(|i| format!("h{i}: v\r\n")).collect();
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send(format!("GET / HTTP/1.1\r\nHost: x\r\n{fields}\r\n"))
        .await;
    assert_eq!(
        c.response().await,
        error_response(
            "431 Request Header Fields Too Large",
            "too many header fields"
        )
    );
    c.expect_eof().await;
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn long_uri_is_414() {
    let (handle, calls) = counting(Server::new().max_uri_bytes(256));
    let mut c = Conn::connect(handle.local_addr()).await;
    let ok_path = format!("/{}", "a".repeat(255));
    c.send(format!("GET {ok_path} HTTP/1.1\r\nHost: x\r\n\r\n"))
        .await;
    assert_eq!(
        c.response().await,
        ok_text(&ok_path),
        "a 256-byte target is accepted"
    );
    c.send(format!(
        "GET /{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(256)
    ))
    .await;
    assert_eq!(
        c.response().await,
        error_response("414 URI Too Long", "URI too long")
    );
    c.expect_eof().await;

    // A request line still arriving is refused once it is longer than any allowed URI.
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send(format!("GET /{}", "a".repeat(1000))).await;
    assert_eq!(
        c.response().await,
        error_response("414 URI Too Long", "URI too long")
    );
    c.expect_eof().await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn default_uri_limit_is_16_kib() {
    let (handle, _) = counting(Server::new());
    let mut c = Conn::connect(handle.local_addr()).await;
    let ok_path = format!("/{}", "a".repeat(16 * 1024 - 1));
    c.send(format!("GET {ok_path} HTTP/1.1\r\nHost: x\r\n\r\n"))
        .await;
    assert_eq!(c.response().await, ok_text(&ok_path));
    c.send(format!(
        "GET /{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(16 * 1024)
    ))
    .await;
    assert_eq!(
        c.response().await,
        error_response("414 URI Too Long", "URI too long")
    );
    c.expect_eof().await;
}

#[tokio::test]
async fn other_http_versions_are_505() {
    let (handle, calls) = counting(Server::new());
    for line in ["GET / HTTP/2.0", "GET / HTTP/3.0", "GET / HTTP/0.9"] {
        let mut c = Conn::connect(handle.local_addr()).await;
        c.send(format!("{line}\r\nHost: x\r\n\r\n")).await;
        assert_eq!(
            c.response().await,
            error_response(
                "505 HTTP Version Not Supported",
                "HTTP version not supported"
            ),
            "{line}"
        );
        c.expect_eof().await;
    }
    // Not a version at all: a plain 400.
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send("GET / HTTP/1.x\r\nHost: x\r\n\r\n").await;
    assert_eq!(
        c.response().await,
        error_response("400 Bad Request", "malformed HTTP version")
    );
    c.expect_eof().await;
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn content_length_over_limit_is_413_without_the_handler() {
    let (handle, calls) = counting(Server::new().max_body_bytes(Some(100)));
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send(format!(
        "POST /exact HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{}",
        "a".repeat(100)
    ))
    .await;
    assert_eq!(
        c.response().await,
        ok_text("/exact"),
        "a body of exactly the limit is accepted"
    );
    // Only the head (and a little body) is sent: the answer must not wait for the rest.
    c.send("POST /over HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\naaaa")
        .await;
    assert_eq!(
        c.response().await,
        error_response("413 Payload Too Large", "request body too large")
    );
    c.expect_eof().await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the handler never saw the oversized request"
    );
}

#[tokio::test]
async fn chunked_body_growing_past_limit_is_413() {
    let saw_too_large = Arc::new(AtomicBool::new(false));
    let flag = saw_too_large.clone();
    let handle = start(
        Server::new().max_body_bytes(Some(100)),
        move |req: HttpRequest| {
            let flag = flag.clone();
            async move {
                match req.into_body().to_bytes(1 << 20).await {
                    Ok(b) => text_response(StatusCode::OK, format!("{} bytes", b.len())),
                    Err(e) => {
                        flag.store(e.is_body_too_large(), Ordering::SeqCst);
                        // Whatever the handler says, the server answers 413.
                        text_response(StatusCode::OK, "handler ignored the error")
                    }
                }
            }
        },
    );
    let mut c = Conn::connect(handle.local_addr()).await;
    let chunk = format!("32\r\n{}\r\n", "a".repeat(50));
    c.send(format!(
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{chunk}{chunk}0\r\n\r\n"
    ))
    .await;
    assert_eq!(
        c.response().await,
        ok_text("100 bytes"),
        "exactly the limit is accepted"
    );
    assert!(!saw_too_large.load(Ordering::SeqCst));

    c.send(format!(
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{chunk}{chunk}1\r\na\r\n"
    ))
    .await;
    assert_eq!(
        c.response().await,
        error_response("413 Payload Too Large", "request body too large")
    );
    c.expect_eof().await;
    assert!(
        saw_too_large.load(Ordering::SeqCst),
        "the handler's read failed as too large"
    );
}
