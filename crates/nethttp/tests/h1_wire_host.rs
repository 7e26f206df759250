//! Raw-TCP tests of the `Host` field (RFC 9112 §3.2): a value that is not `uri-host [":" port]`
//! (RFC 3986 §3.2.2: reg-name, IPv4 or IP-literal, no userinfo) is refused with 400 and the
//! handler never runs; a valid one, IPv6 literals and empty values included, is served; and on
//! an absolute-form request the target's authority wins over whatever Host says (RFC 9112
//! §3.2.2; Go sets `req.Host` from the URL the same way), so a handler never sees a Host that
//! disagrees with the target.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::wire::{error_response, ok_text, start, Conn};
use nethttp::http::StatusCode;
use nethttp::{text_response, HttpRequest, Server, ServerHandle};

/// A request that would be answered if the server (wrongly) kept reading after a rejection.
const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";

/// A server whose handler counts its calls and answers with the Host it saw and the target.
fn host_echo() -> (ServerHandle, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let handle = start(Server::new(), move |req: HttpRequest| {
        c.fetch_add(1, Ordering::SeqCst);
        let hosts: Vec<String> = req
            .headers()
            .get_all("host")
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        let target = req.uri().to_string();
        async move { text_response(StatusCode::OK, format!("{target} host={hosts:?}")) }
    });
    (handle, calls)
}

async fn assert_bad_request(request: &str, reason: &str) {
    let (handle, calls) = host_echo();
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send(format!("{request}{SMUGGLED}")).await;
    assert_eq!(
        c.response().await,
        error_response("400 Bad Request", reason),
        "request {request:?}"
    );
    c.expect_eof().await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "handler ran for {request:?}"
    );
}

async fn assert_served(request: &str, body: &str) {
    let (handle, calls) = host_echo();
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send(request).await;
    assert_eq!(c.response().await, ok_text(body), "request {request:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn invalid_host_values_are_400() {
    for host in [
        "a b",
        "<script>",
        "evil@b",
        "user:pass@b",
        "a/b",
        "a?b",
        "a#b",
        "a\\b",
        "\"a\"",
        "a:8o",
        "a:80:81",
        "[::1",
        "[::1]x",
        "[::1]:8o",
        "[not-ipv6]",
        "a%zzb",
        "a%4",
        "caf\u{e9}",
    ] {
        assert_bad_request(
            &format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n"),
            "invalid Host header",
        )
        .await;
    }
    // HTTP/1.0 does not require Host, but one it sends must be valid.
    assert_bad_request("GET / HTTP/1.0\r\nHost: a b\r\n\r\n", "invalid Host header").await;
    // An absolute-form target does not excuse an invalid Host (Go checks it too).
    assert_bad_request(
        "GET http://a/ HTTP/1.1\r\nHost: evil@a\r\n\r\n",
        "invalid Host header",
    )
    .await;
}

#[tokio::test]
async fn valid_host_values_are_served() {
    for host in [
        "example.com",
        "example.com:8080",
        "EXAMPLE.com.",
        "127.0.0.1:80",
        "[::1]",
        "[::1]:8080",
        "[fe80::1:2:3:4]",
        "[::ffff:192.0.2.1]",
        "[v1.fe80::a+en1]",
        "xn--caf-dma.example",
        "a_b-c~d",
        "a%41b",
        "host:",
        "",
    ] {
        assert_served(
            &format!("GET /p HTTP/1.1\r\nHost: {host}\r\n\r\n"),
            &format!("/p host=[{host:?}]"),
        )
        .await;
    }
}

#[tokio::test]
async fn missing_or_repeated_host_is_still_400() {
    assert_bad_request("GET / HTTP/1.1\r\n\r\n", "missing Host header").await;
    assert_bad_request(
        "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
        "multiple Host headers",
    )
    .await;
    assert_bad_request(
        "GET http://a/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "multiple Host headers",
    )
    .await;
}

/// RFC 9112 §3.2.2: a server receiving an absolute-form target MUST ignore the Host field and
/// use the target's authority. The handler sees the target's authority as Host, whether the
/// client sent a disagreeing Host or an empty one.
#[tokio::test]
async fn absolute_form_authority_replaces_host() {
    assert_served(
        "GET http://a.example/x HTTP/1.1\r\nHost: evil.example\r\n\r\n",
        "http://a.example/x host=[\"a.example\"]",
    )
    .await;
    assert_served(
        "GET http://a.example:8080/x HTTP/1.1\r\nHost: \r\n\r\n",
        "http://a.example:8080/x host=[\"a.example:8080\"]",
    )
    .await;
    assert_served(
        "GET http://a.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n",
        "http://a.example/x host=[\"a.example\"]",
    )
    .await;
    // HTTP/1.0 without Host: the target names the host.
    let (handle, _) = host_echo();
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send("GET http://a.example/x HTTP/1.0\r\n\r\n").await;
    assert_eq!(
        c.response().await,
        common::wire::ok_text_close("http://a.example/x host=[\"a.example\"]")
    );
}

/// RFC 9110 §4.2.4: userinfo in an http(s) URI received from an untrusted source is an error.
#[tokio::test]
async fn userinfo_in_an_absolute_form_target_is_400() {
    assert_bad_request(
        "GET http://evil@a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n",
        "invalid authority in request target",
    )
    .await;
}
