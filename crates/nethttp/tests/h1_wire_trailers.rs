//! Raw-TCP tests of the trailer filter on the server (RFC 9110 §6.5.1, Go's `badTrailer`): a
//! request trailer that must not be a trailer (framing, routing, request modifiers,
//! authentication, content handling, response control data) never reaches the handler, and a
//! handler's trailer of that kind is never written — so a body streamed back cannot reflect
//! `Transfer-Encoding` or `Host` into the response's trailer section.

mod common;

use common::wire::{ok_text, start, Conn, DATE};
use http_body_util::BodyExt;
use nethttp::http::{HeaderMap, HeaderValue, Response, StatusCode};
use nethttp::{text_response, Body, HttpRequest, Server};

/// Trailer fields a client may not smuggle in, one of each kind, in mixed case.
const FORBIDDEN: &str = "Transfer-Encoding: chunked\r\nContent-Length: 5\r\nHOST: evil\r\n\
                         Authorization: Basic eA==\r\nCookie: a=b\r\nSet-Cookie: a=b\r\n\
                         Content-Type: text/html\r\nContent-Encoding: gzip\r\n\
                         Content-Range: bytes 0-1/2\r\nTrailer: x-a\r\nCache-Control: no-store\r\n\
                         Expect: 100-continue\r\nMax-Forwards: 1\r\nPragma: no-cache\r\n\
                         Range: bytes=0-1\r\nTE: trailers\r\nIf-Match: \"x\"\r\n\
                         If-None-Match: \"y\"\r\nConnection: close\r\nKeep-Alive: timeout=1\r\n\
                         Upgrade: h2c\r\nProxy-Authorization: Basic eA==\r\n\
                         WWW-Authenticate: Basic\r\nProxy-Authenticate: Basic\r\n\
                         Location: /x\r\nRetry-After: 1\r\nVary: *\r\nAge: 1\r\n\
                         Expires: 0\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n";

/// The streaming echo of `nethttp serve`'s `/echo`: the request body, trailers included, is
/// the response body.
async fn echo(req: HttpRequest) -> nethttp::HttpResponse {
    Response::new(req.into_body())
}

#[tokio::test]
async fn request_trailers_that_must_not_be_trailers_never_reach_the_handler() {
    let handle = start(Server::new(), |req: HttpRequest| async move {
        let mut body = req.into_body();
        let mut seen = String::new();
        while let Some(frame) = body.frame().await {
            if let Ok(t) = frame.expect("chunked body").into_trailers() {
                for (name, value) in &t {
                    seen.push_str(&format!("{name}={};", value.to_str().unwrap()));
                }
                seen.push('|');
            }
        }
        text_response(StatusCode::OK, format!("trailers:{seen}"))
    });
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send(format!(
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
         3\r\nabc\r\n0\r\nX-Checksum: 1\r\n{FORBIDDEN}Server-Timing: db;dur=5\r\n\r\n"
    ))
    .await;
    assert_eq!(
        c.response().await,
        ok_text("trailers:x-checksum=1;server-timing=db;dur=5;|")
    );
    // Only forbidden fields: no trailers frame at all, and the connection goes on.
    c.send(format!(
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n{FORBIDDEN}\r\n"
    ))
    .await;
    assert_eq!(c.response().await, ok_text("trailers:"));
}

#[tokio::test]
async fn a_streamed_back_body_does_not_reflect_forbidden_trailers() {
    let handle = start(Server::new(), echo);
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send(
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
         3\r\nabc\r\n0\r\nTransfer-Encoding: chunked\r\nHost: evil\r\nX-Ok: 1\r\n\r\n",
    )
    .await;
    assert_eq!(
        c.response().await,
        format!(
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n{DATE}keep-alive: timeout=60\r\n\r\n\
             3\r\nabc\r\n0\r\nx-ok: 1\r\n\r\n"
        )
    );
}

#[tokio::test]
async fn handler_trailers_that_must_not_be_trailers_are_not_written() {
    let handle = start(Server::new(), |_req: HttpRequest| async move {
        let (tx, body) = Body::channel(4);
        tokio::spawn(async move {
            tx.send_data("abc").await.unwrap();
            let mut t = HeaderMap::new();
            t.insert("x-checksum", HeaderValue::from_static("900150983cd24fb0"));
            for name in [
                "content-length",
                "transfer-encoding",
                "host",
                "set-cookie",
                "content-type",
                "trailer",
                "if-modified-since",
                "www-authenticate",
                "location",
                "connection",
            ] {
                t.insert(name, HeaderValue::from_static("1"));
            }
            t.insert("grpc-status", HeaderValue::from_static("0"));
            tx.send_trailers(t).await.unwrap();
        });
        Response::new(body)
    });
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(
        c.response().await,
        format!(
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n{DATE}keep-alive: timeout=60\r\n\r\n\
             3\r\nabc\r\n0\r\nx-checksum: 900150983cd24fb0\r\ngrpc-status: 0\r\n\r\n"
        )
    );
    // The response is whole and the connection is still usable.
    c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let again = c.response().await;
    assert!(again.ends_with("0\r\nx-checksum: 900150983cd24fb0\r\ngrpc-status: 0\r\n\r\n"));
}
