//! Raw-TCP tests of message framing both ways: request bodies by Content-Length and chunked
//! (extensions, trailers) reach the handler exactly; responses carry `content-length` when
//! their size is known, chunked framing (and trailers) when streamed, no body for HEAD, 204
//! and 304; and the `Date` header is a current IMF-fixdate.

mod common;

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use common::wire::{echo_summary, ok_text, start, Conn, DATE};
use http_body_util::BodyExt;
use nethttp::http::{HeaderMap, HeaderValue, Response, StatusCode};
use nethttp::{text_response, Body, HttpRequest, Server};
use tokio::sync::oneshot;

#[tokio::test]
async fn content_length_body_is_delivered_exactly() {
    let handle = start(Server::new(), echo_summary);
    let mut c = Conn::connect(handle.local_addr()).await;
    c.stream.set_nodelay(true).unwrap();
    // The body arrives in two pieces; the second shares a write with the next request, whose
    // bytes must not be taken as body.
    c.send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello")
        .await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    c.send(" worldGET /next HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(c.response().await, ok_text("POST /a: hello world"));
    assert_eq!(c.response().await, ok_text("GET /next: "));
    // Content-Length: 0 is an empty body, and the connection goes on.
    c.send("POST /z HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        .await;
    assert_eq!(c.response().await, ok_text("POST /z: "));
}

#[tokio::test]
async fn chunked_body_with_extensions_and_trailers_reaches_the_handler() {
    let handle = start(Server::new(), |req: HttpRequest| async move {
        let mut body = req.into_body();
        let mut data = Vec::new();
        let mut trailers = String::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.expect("chunked body");
            match frame.into_data() {
                Ok(d) => data.extend_from_slice(&d),
                Err(frame) => {
                    let t = frame.into_trailers().expect("a trailers frame");
                    for (name, value) in &t {
                        trailers.push_str(&format!("{name}={};", value.to_str().unwrap()));
                    }
                }
            }
        }
        let data = String::from_utf8(data).unwrap();
        text_response(StatusCode::OK, format!("data={data:?} trailers={trailers}"))
    });
    let mut c = Conn::connect(handle.local_addr()).await;
    c.stream.set_nodelay(true).unwrap();
    let wire = "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
                5;name=\"v;al\"\r\nhello\r\n6 ; x\r\n world\r\n\
                A;a=b;c\r\n0123456789\r\n0;last\r\nX-T: 1\r\nX-U: 2\r\n\r\n\
                GET /next HTTP/1.1\r\nHost: x\r\n\r\n";
    // Split at awkward places: inside a size line, inside data, inside the trailers.
    for piece in [
        &wire[..62],
        &wire[62..80],
        &wire[80..95],
        &wire[95..130],
        &wire[130..],
    ] {
        c.send(piece).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        c.response().await,
        ok_text("data=\"hello world0123456789\" trailers=x-t=1;x-u=2;")
    );
    assert_eq!(c.response().await, ok_text("data=\"\" trailers="));

    // A chunked body without trailers ends at the empty line, and the connection goes on.
    c.send(
        "POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(c.response().await, ok_text("data=\"abc\" trailers="));
}

#[tokio::test]
async fn known_size_responses_get_content_length() {
    let handle = start(Server::new(), |req: HttpRequest| async move {
        match req.uri().path() {
            "/full" => Response::new(Body::from("hello")),
            "/empty" => Response::new(Body::empty()),
            // A stream of unknown size whose length the handler declares.
            "/declared" => {
                let (tx, body) = Body::channel(4);
                tokio::spawn(async move {
                    tx.send_data("hello").await.unwrap();
                    tx.send_data("world").await.unwrap();
                });
                let mut resp = Response::new(body);
                resp.headers_mut()
                    .insert("content-length", HeaderValue::from_static("10"));
                resp
            }
            // The handler's own framing and connection headers never reach the wire.
            _ => {
                let mut resp = Response::new(Body::from("abc"));
                let h = resp.headers_mut();
                h.insert("content-length", HeaderValue::from_static("999"));
                h.insert("transfer-encoding", HeaderValue::from_static("gzip"));
                h.insert("connection", HeaderValue::from_static("keep-alive, x-foo"));
                h.insert("keep-alive", HeaderValue::from_static("timeout=1"));
                h.insert("x-app", HeaderValue::from_static("1"));
                resp
            }
        }
    });
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send("GET /full HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(
        c.response().await,
        format!(
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n{DATE}keep-alive: timeout=60\r\n\r\nhello"
        )
    );
    c.send("GET /empty HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(
        c.response().await,
        format!("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n{DATE}keep-alive: timeout=60\r\n\r\n")
    );
    c.send("GET /declared HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(
        c.response().await,
        format!("HTTP/1.1 200 OK\r\ncontent-length: 10\r\n{DATE}keep-alive: timeout=60\r\n\r\nhelloworld")
    );
    c.send("GET /override HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(
        c.response().await,
        format!(
            "HTTP/1.1 200 OK\r\nx-app: 1\r\ncontent-length: 3\r\n{DATE}keep-alive: timeout=60\r\n\r\nabc"
        )
    );
}

#[tokio::test]
async fn body_shorter_than_declared_length_closes_the_connection() {
    let handle = start(Server::new(), |_req: HttpRequest| async move {
        let (tx, body) = Body::channel(4);
        tokio::spawn(async move {
            tx.send_data("hello").await.unwrap();
        });
        let mut resp = Response::new(body);
        resp.headers_mut()
            .insert("content-length", HeaderValue::from_static("10"));
        resp
    });
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let got = common::wire::normalize(&c.read_to_eof().await);
    assert_eq!(
        got,
        format!(
            "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n{DATE}keep-alive: timeout=60\r\n\r\nhello"
        ),
        "the client sees a short body, then the connection closes"
    );
}

#[tokio::test]
async fn streamed_body_is_chunked_and_flushed_as_produced() {
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let go_rx = std::sync::Mutex::new(Some(go_rx));
    let big = "z".repeat(20_000);
    let big2 = big.clone();
    let handle = start(Server::new(), move |_req: HttpRequest| {
        let go = go_rx.lock().unwrap().take();
        let big = big2.clone();
        async move {
            let (tx, body) = Body::channel(1);
            tokio::spawn(async move {
                tx.send_data("hello").await.unwrap();
                if let Some(go) = go {
                    // Wait until the client has seen the first chunk.
                    go.await.unwrap();
                }
                tx.send_data("world!").await.unwrap();
                tx.send_data(Bytes::new()).await.unwrap(); // empty data must not end the body
                tx.send_data(big).await.unwrap();
            });
            Response::new(body)
        }
    });
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n").await;
    // The head and the first chunk arrive while the producer still waits.
    let first = format!(
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n{DATE}keep-alive: timeout=60\r\n\r\n5\r\nhello\r\n"
    );
    let got = c.read_bytes(first.len() + common::wire::DATE_EXTRA).await;
    assert_eq!(common::wire::normalize(&got), first);
    go_tx.send(()).unwrap();
    let rest = format!("6\r\nworld!\r\n4e20\r\n{big}\r\n0\r\n\r\n");
    assert_eq!(
        String::from_utf8(c.read_bytes(rest.len()).await).unwrap(),
        rest
    );
    // The connection is reusable after a chunked response.
    c.send("GET /again HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let again = c.response().await;
    assert_eq!(
        again,
        format!(
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n{DATE}keep-alive: timeout=60\r\n\r\n\
             5\r\nhello\r\n6\r\nworld!\r\n4e20\r\n{big}\r\n0\r\n\r\n"
        )
    );
}

#[tokio::test]
async fn handler_trailers_follow_the_last_chunk() {
    let handle = start(Server::new(), |_req: HttpRequest| async move {
        let (tx, body) = Body::channel(4);
        tokio::spawn(async move {
            tx.send_data("abc").await.unwrap();
            let mut t = HeaderMap::new();
            t.insert("x-checksum", HeaderValue::from_static("900150983cd24fb0"));
            t.insert("x-other", HeaderValue::from_static("y"));
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
             3\r\nabc\r\n0\r\nx-checksum: 900150983cd24fb0\r\nx-other: y\r\n\r\n"
        )
    );
}

#[tokio::test]
async fn head_gets_the_get_headers_and_no_body() {
    let handle = start(Server::new(), |req: HttpRequest| async move {
        match req.uri().path() {
            "/declared" => {
                let (tx, body) = Body::channel(1);
                tokio::spawn(async move {
                    let _ = tx.send_data("0123456789").await;
                });
                let mut resp = Response::new(body);
                resp.headers_mut()
                    .insert("content-length", HeaderValue::from_static("10"));
                resp
            }
            _ => text_response(StatusCode::OK, "hello world\n"),
        }
    });
    let mut c = Conn::connect(handle.local_addr()).await;
    // HEAD then GET in one write: no body bytes may follow the HEAD response's head.
    c.send("HEAD /x HTTP/1.1\r\nHost: x\r\n\r\nGET /x HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    assert_eq!(
        c.head_response().await,
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 12\r\n\
             {DATE}keep-alive: timeout=60\r\n\r\n"
        )
    );
    assert_eq!(c.response().await, ok_text("hello world\n"));
    c.send("HEAD /declared HTTP/1.1\r\nHost: x\r\n\r\nGET /x HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    assert_eq!(
        c.head_response().await,
        format!("HTTP/1.1 200 OK\r\ncontent-length: 10\r\n{DATE}keep-alive: timeout=60\r\n\r\n")
    );
    assert_eq!(c.response().await, ok_text("hello world\n"));
}

#[tokio::test]
async fn no_content_and_not_modified_have_no_body() {
    let handle = start(Server::new(), |req: HttpRequest| async move {
        let status = match req.uri().path() {
            "/204" => StatusCode::NO_CONTENT,
            "/304" => StatusCode::NOT_MODIFIED,
            _ => return text_response(StatusCode::OK, "next"),
        };
        // A body the handler wrongly supplies must not reach the wire.
        let mut resp = Response::new(Body::from("ignored"));
        *resp.status_mut() = status;
        resp
    });
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send(
        "GET /204 HTTP/1.1\r\nHost: x\r\n\r\nGET /304 HTTP/1.1\r\nHost: x\r\n\r\n\
         GET /n HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert_eq!(
        c.response().await,
        format!("HTTP/1.1 204 No Content\r\n{DATE}keep-alive: timeout=60\r\n\r\n")
    );
    assert_eq!(
        c.response().await,
        format!("HTTP/1.1 304 Not Modified\r\n{DATE}keep-alive: timeout=60\r\n\r\n")
    );
    assert_eq!(c.response().await, ok_text("next"));
}

#[tokio::test]
async fn date_header_is_a_current_imf_fixdate() {
    let handle = start(Server::new(), |req: HttpRequest| async move {
        let mut resp = Response::new(Body::from("x"));
        if req.uri().path() == "/own" {
            resp.headers_mut().insert(
                "date",
                HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
            );
        }
        resp
    });
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let raw = String::from_utf8(c.raw_response(false).await).unwrap();
    let line = raw
        .lines()
        .find(|l| l.starts_with("date: "))
        .expect("a date header");
    let value = &line["date: ".len()..];
    assert_eq!(value.len(), 29, "{value:?}");
    // `Sun, 06 Nov 1994 08:49:37 GMT`: day name, comma, 2-digit day, month, year, time, GMT.
    let b = value.as_bytes();
    assert_eq!(
        (b[3], b[4], b[7], b[11], b[16], b[19], b[22]),
        (b',', b' ', b' ', b' ', b' ', b':', b':')
    );
    assert!(value.ends_with(" GMT"));
    let when = httpdate::parse_http_date(value).expect("parseable date");
    let skew = SystemTime::now()
        .duration_since(when)
        .unwrap_or_else(|e| e.duration());
    assert!(
        skew < Duration::from_secs(3),
        "date {value} is {skew:?} off"
    );
    assert_eq!(raw.matches("date: ").count(), 1);

    // A handler's own Date is kept, and not doubled.
    c.send("GET /own HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let raw = String::from_utf8(c.raw_response(false).await).unwrap();
    assert_eq!(
        raw,
        "HTTP/1.1 200 OK\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\ncontent-length: 1\r\n\
         keep-alive: timeout=60\r\n\r\nx"
    );
}
