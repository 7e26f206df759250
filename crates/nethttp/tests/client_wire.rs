//! The client against scripted raw-TCP servers: the exact request bytes it writes (heads,
//! Content-Length and chunked bodies with trailers, `Connection: close`), how it reads every
//! response framing (1xx, bodiless statuses, lengths, chunks, close-delimited, dribbled bytes),
//! how it rejects broken framing, `Expect: 100-continue`, early responses to uploads, and the
//! timeout of each phase.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::script::{answering, body_of, bounded, client_with, ok, Peer, Script, IO_TIMEOUT};
use http_body_util::BodyExt;
use nethttp::http::{HeaderMap, HeaderValue, StatusCode};
use nethttp::{Body, Client, Error, ErrorKind};

/// What the client adds to every request: its User-Agent, and the codings it decodes (the
/// tests build the library with all of them: `nethttp::client::ACCEPT_ENCODING`).
const UA: &str = "user-agent: nethttp/0.1.0\r\naccept-encoding: gzip, br, zstd, deflate\r\n";

/// A server answering every request with `ok(body)` on keep-alive connections.
async fn ok_server(body: &'static str) -> Script {
    answering(ok(body)).await
}

/// A server that reads one request per connection, writes `response`, then keeps the
/// connection open (doing nothing) so that whatever the client does comes from the bytes.
async fn one_shot(response: impl Into<Bytes>) -> Script {
    let response: Bytes = response.into();
    Script::start(move |mut p: Peer| {
        let response = response.clone();
        async move {
            if p.read_request().await.is_some() {
                p.write(response).await;
                p.hold(IO_TIMEOUT).await;
            }
        }
    })
    .await
}

// ---------------------------------------------------------------------------------------
// What the client writes
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn get_sends_exactly_the_head() {
    let s = ok_server("hi").await;
    let c = Client::new();
    let res = bounded("GET", c.get(s.url("/p?q")).send()).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body_of(res).await.unwrap(), "hi");
    let reqs = s.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        reqs[0].raw_text(),
        format!("GET /p?q HTTP/1.1\r\nhost: {}\r\n{UA}\r\n", s.addr())
    );
}

#[tokio::test]
async fn caller_headers_come_after_host_and_before_defaults() {
    let s = ok_server("").await;
    let c = Client::builder()
        .default_header(
            nethttp::http::header::ACCEPT,
            HeaderValue::from_static("*/*"),
        )
        .build()
        .unwrap();
    let res = c
        .get(s.url("/h"))
        .header("x-one", "1")
        .header("x-one", "2")
        .header("accept", "text/plain")
        .send();
    bounded("GET", res).await.unwrap();
    assert_eq!(
        s.requests()[0].raw_text(),
        format!(
            "GET /h HTTP/1.1\r\nhost: {}\r\nx-one: 1\r\nx-one: 2\r\naccept: text/plain\r\n{UA}\r\n",
            s.addr()
        )
    );
}

#[tokio::test]
async fn post_with_a_full_body_sends_its_length() {
    let s = ok_server("done").await;
    let c = Client::new();
    let res = c
        .post(s.url("/submit"))
        .header("content-type", "text/plain")
        .body("hello")
        .send();
    assert_eq!(
        body_of(bounded("POST", res).await.unwrap()).await.unwrap(),
        "done"
    );
    // An empty POST still says it has no content.
    let res = c.post(s.url("/empty")).send();
    bounded("POST", res).await.unwrap();
    // A caller's Content-Length is replaced by the real one.
    let res = c
        .put(s.url("/put"))
        .header("content-length", "99")
        .body(vec![b'x'; 3])
        .send();
    bounded("PUT", res).await.unwrap();
    let host = s.addr();
    let raw: Vec<String> = s.requests().iter().map(|r| r.raw_text()).collect();
    assert_eq!(
        raw,
        [
            format!(
                "POST /submit HTTP/1.1\r\nhost: {host}\r\ncontent-type: text/plain\r\n{UA}content-length: 5\r\n\r\nhello"
            ),
            format!("POST /empty HTTP/1.1\r\nhost: {host}\r\n{UA}content-length: 0\r\n\r\n"),
            format!("PUT /put HTTP/1.1\r\nhost: {host}\r\n{UA}content-length: 3\r\n\r\nxxx"),
        ]
    );
    // All three on one connection.
    assert_eq!(s.accepted(), 1);
}

#[tokio::test]
async fn a_large_full_body_is_sent_whole() {
    let s = ok_server("").await;
    let c = Client::new();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let res = c.post(s.url("/big")).body(data.clone()).send();
    bounded("POST", res).await.unwrap();
    let r = &s.requests()[0];
    assert_eq!(r.header("content-length"), Some("200000"));
    assert_eq!(r.body, data);
}

#[tokio::test]
async fn a_streamed_body_is_sent_chunked_with_trailers() {
    let s = ok_server("got it").await;
    let c = Client::new();
    let (tx, body) = Body::channel(1);
    let producer = tokio::spawn(async move {
        tx.send_data("hello").await.unwrap();
        // An empty frame must not end the body (a zero-size chunk would).
        tx.send_data(Bytes::new()).await.unwrap();
        tx.send_data("abcdefghijklmnopqrstuvwxyz").await.unwrap();
        let mut t = HeaderMap::new();
        t.insert("x-checksum", HeaderValue::from_static("42"));
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
             5\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nx-checksum: 42\r\n\r\n",
            s.addr()
        )
    );
}

#[tokio::test]
async fn a_streamed_body_without_trailers_ends_with_the_last_chunk() {
    let s = ok_server("").await;
    let c = Client::new();
    let (tx, body) = Body::channel(4);
    tokio::spawn(async move {
        for part in ["a", "bc"] {
            tx.send_data(part).await.unwrap();
        }
    });
    let res = c.put(s.url("/s")).body(body).send();
    bounded("PUT", res).await.unwrap();
    assert!(s.requests()[0]
        .raw_text()
        .ends_with("transfer-encoding: chunked\r\n\r\n1\r\na\r\n2\r\nbc\r\n0\r\n\r\n"));
}

#[tokio::test]
async fn keep_alives_disabled_sends_connection_close_and_closes() {
    let closed = Arc::new(Mutex::new(Vec::new()));
    let log = closed.clone();
    let s = Script::start(move |mut p: Peer| {
        let log = log.clone();
        async move {
            if p.read_request().await.is_some() {
                p.write(ok("x")).await;
                // The client closes its side once it has the response.
                let eof = p.wait_closed(Duration::from_secs(2)).await;
                log.lock().unwrap().push(eof.is_some());
            }
        }
    })
    .await;
    let c = client_with(|t| t.disable_keep_alives(true));
    for _ in 0..2 {
        let res = bounded("GET", c.get(s.url("/k")).send()).await.unwrap();
        assert_eq!(body_of(res).await.unwrap(), "x");
    }
    assert_eq!(
        s.requests()[0].raw_text(),
        format!(
            "GET /k HTTP/1.1\r\nhost: {}\r\n{UA}connection: close\r\n\r\n",
            s.addr()
        )
    );
    assert_eq!(s.accepted(), 2, "each request on its own connection");
    let start = Instant::now();
    while closed.lock().unwrap().len() < 2 && start.elapsed() < IO_TIMEOUT {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(*closed.lock().unwrap(), [true, true]);
}

#[tokio::test]
async fn a_callers_connection_close_is_sent_once_and_honoured() {
    let s = ok_server("y").await;
    let c = Client::new();
    for _ in 0..2 {
        let res = c.get(s.url("/c")).header("connection", "close").send();
        assert_eq!(
            body_of(bounded("GET", res).await.unwrap()).await.unwrap(),
            "y"
        );
    }
    assert_eq!(
        s.requests()[0].raw_text(),
        format!(
            "GET /c HTTP/1.1\r\nhost: {}\r\n{UA}connection: close\r\n\r\n",
            s.addr()
        )
    );
    assert_eq!(s.accepted(), 2);
}

#[tokio::test]
async fn a_callers_host_replaces_the_urls_and_defaults_can_be_removed() {
    let s = ok_server("").await;
    let c = Client::builder()
        .no_default_headers()
        .transport(|t| t.disable_compression(true))
        .build()
        .unwrap();
    let res = c.get(s.url("/v")).header("host", "example.test").send();
    bounded("GET", res).await.unwrap();
    assert_eq!(
        s.requests()[0].raw_text(),
        "GET /v HTTP/1.1\r\nhost: example.test\r\n\r\n"
    );
}

#[tokio::test]
async fn an_ipv6_literal_is_bracketed_in_host() {
    let listener = tokio::net::TcpListener::bind("[::1]:0").await.unwrap();
    let s = Script::serve(listener, |mut p: Peer| async move {
        while p.read_request().await.is_some() {
            p.write(ok("six")).await;
        }
    });
    let port = s.addr().port();
    let res = Client::new().get(format!("http://[::1]:{port}/six")).send();
    assert_eq!(
        body_of(bounded("GET", res).await.unwrap()).await.unwrap(),
        "six"
    );
    assert_eq!(
        s.requests()[0].raw_text(),
        format!("GET /six HTTP/1.1\r\nhost: [::1]:{port}\r\n{UA}\r\n")
    );
}

#[tokio::test]
async fn through_a_proxy_the_target_is_in_absolute_form() {
    let proxy = ok_server("proxied").await;
    let c = client_with(|t| t.proxy(proxy.addr().to_string()));
    for url in ["http://origin.test:8080/p?q=1", "http://origin.test/"] {
        let res = bounded("GET", c.get(url).send()).await.unwrap();
        assert_eq!(body_of(res).await.unwrap(), "proxied");
    }
    let raw: Vec<String> = proxy.requests().iter().map(|r| r.raw_text()).collect();
    assert_eq!(
        raw,
        [
            format!(
                "GET http://origin.test:8080/p?q=1 HTTP/1.1\r\nhost: origin.test:8080\r\n{UA}\r\n"
            ),
            format!("GET http://origin.test/ HTTP/1.1\r\nhost: origin.test\r\n{UA}\r\n"),
        ]
    );
}

#[tokio::test]
async fn an_https_url_is_never_sent_in_cleartext() {
    // A server on the https URL's port that would answer a plaintext request (and never
    // answers a TLS hello). The client must not send the request (and its credentials)
    // unencrypted; it fails the handshake instead.
    let s = ok_server("cleartext").await;
    let url = format!("https://{}/secret", s.addr());
    let client = client_with(|t| {
        t.tls(nethttp::ClientTls::new().handshake_timeout(Duration::from_millis(300)))
    });
    let r = bounded(
        "GET",
        client
            .get(&url)
            .header("authorization", "Bearer secret")
            .send(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let leaked: Vec<String> = s.requests().iter().map(|r| r.raw_text()).collect();
    assert!(leaked.is_empty(), "sent in cleartext to {url}: {leaked:?}");
    let err = r.expect_err("a plaintext server cannot complete a TLS handshake");
    assert_eq!(
        err.kind(),
        nethttp::ErrorKind::TlsHandshakeTimeout,
        "{err:?}"
    );
}

/// A server that reads one request head and then everything the client sends until it
/// closes, recording the head and the raw bytes after it.
async fn head_then_everything() -> (Script, Arc<Mutex<Option<(String, Vec<u8>)>>>) {
    let got = Arc::new(Mutex::new(None));
    let log = got.clone();
    let s = Script::start(move |mut p: Peer| {
        let log = log.clone();
        async move {
            let Some(head) = p.read_head().await else {
                return;
            };
            p.wait_closed(Duration::from_secs(3)).await;
            *log.lock().unwrap() = Some((head, std::mem::take(&mut p.buf)));
        }
    })
    .await;
    (s, got)
}

async fn wait_for<T: Clone>(slot: &Mutex<Option<T>>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = slot.lock().unwrap().clone() {
            return v;
        }
        assert!(start.elapsed() < IO_TIMEOUT, "the server never finished");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn an_aborted_streamed_body_never_looks_complete() {
    let (s, got) = head_then_everything().await;
    let (tx, body) = Body::channel(1);
    tokio::spawn(async move {
        tx.send_data("abc").await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        tx.abort("the source failed").await;
    });
    let e = bounded("POST", Client::new().post(s.url("/")).body(body).send())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Body, "{e}");
    let (head, rest) = wait_for(&got).await;
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    // The chunk that was sent, and no last chunk: the server cannot mistake it for a whole body.
    assert_eq!(rest, b"3\r\nabc\r\n");
}

#[tokio::test]
async fn a_streamed_body_shorter_than_its_declared_length_fails_and_closes() {
    let (s, got) = head_then_everything().await;
    let (tx, body) = Body::channel(1);
    tokio::spawn(async move {
        tx.send_data("abc").await.unwrap();
    });
    let res = c_post_with_length(&s, body, "10").await;
    let e = res.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Body, "{e}");
    let (head, rest) = wait_for(&got).await;
    assert!(head.ends_with("content-length: 10\r\n\r\n"), "{head}");
    assert_eq!(rest, b"abc");
}

#[tokio::test]
async fn a_streamed_body_longer_than_its_declared_length_is_never_sent_past_it() {
    let (s, got) = head_then_everything().await;
    let (tx, body) = Body::channel(1);
    tokio::spawn(async move {
        tx.send_data("ab").await.unwrap();
        tx.send_data("cdef").await.unwrap();
    });
    let e = c_post_with_length(&s, body, "3").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Body, "{e}");
    let (head, rest) = wait_for(&got).await;
    assert!(head.ends_with("content-length: 3\r\n\r\n"), "{head}");
    assert!(rest.len() <= 3, "sent past the declared length: {rest:?}");
}

async fn c_post_with_length(
    s: &Script,
    body: Body,
    length: &str,
) -> Result<nethttp::http::Response<Body>, Error> {
    let req = Client::new()
        .post(s.url("/"))
        .header("content-length", length)
        .body(body)
        .send();
    bounded("POST", req).await
}

// ---------------------------------------------------------------------------------------
// How the client reads responses
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn informational_responses_are_skipped() {
    let s = Script::start(|mut p: Peer| async move {
        while let Some(r) = p.read_request().await {
            let reply = if r.target() == "/first" {
                "HTTP/1.1 100 Continue\r\n\r\n\
                 HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n\
                 HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-final: 1\r\n\r\nfinal"
                    .to_owned()
            } else {
                ok("second")
            };
            p.write(reply).await;
        }
    })
    .await;
    let c = Client::new();
    let res = bounded("GET", c.get(s.url("/first")).send()).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-final"], "1");
    assert!(res.headers().get("link").is_none(), "1xx headers leaked");
    assert_eq!(body_of(res).await.unwrap(), "final");
    let res = bounded("GET", c.get(s.url("/second")).send())
        .await
        .unwrap();
    assert_eq!(body_of(res).await.unwrap(), "second");
    assert_eq!(s.accepted(), 1, "the connection stayed in step");
}

#[tokio::test]
async fn bodiless_responses_leave_the_connection_in_step() {
    let s = Script::start(|mut p: Peer| async move {
        while let Some(r) = p.read_request().await {
            let reply = match (r.method(), r.target()) {
                (_, "/204") => "HTTP/1.1 204 No Content\r\n\r\n".to_owned(),
                // A 304 repeats the length the full response would have had; no body follows.
                (_, "/304") => "HTTP/1.1 304 Not Modified\r\ncontent-length: 5\r\n\r\n".to_owned(),
                ("HEAD", _) => "HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n".to_owned(),
                _ => ok("next-body"),
            };
            p.write(reply).await;
        }
    })
    .await;
    let c = Client::new();
    let res = bounded("204", c.get(s.url("/204")).send()).await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(body_of(res).await.unwrap(), "");
    let res = bounded("304", c.get(s.url("/304")).send()).await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(body_of(res).await.unwrap(), "");
    let res = bounded("HEAD", c.head(s.url("/h")).send()).await.unwrap();
    assert_eq!(res.headers()["content-length"], "9");
    assert_eq!(body_of(res).await.unwrap(), "");
    // Had the client taken 5 or 9 bytes of this response as a body, it would now be lost.
    let res = bounded("GET", c.get(s.url("/next")).send()).await.unwrap();
    assert_eq!(body_of(res).await.unwrap(), "next-body");
    let reqs = s.requests();
    assert_eq!(reqs.len(), 4);
    assert!(reqs.iter().all(|r| r.conn == 0), "all on one connection");
}

#[tokio::test]
async fn bytes_past_a_bodiless_response_retire_the_connection() {
    // The server pipelines an unasked-for response behind a HEAD response: the connection is
    // out of step and must not carry the next request.
    let s = Script::start(|mut p: Peer| async move {
        while let Some(r) = p.read_request().await {
            let reply = if r.method() == "HEAD" {
                "HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n\
                 HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\njunk"
                    .to_owned()
            } else {
                ok("fresh")
            };
            p.write(reply).await;
        }
    })
    .await;
    let c = Client::new();
    let res = bounded("HEAD", c.head(s.url("/")).send()).await.unwrap();
    assert_eq!(body_of(res).await.unwrap(), "");
    let res = bounded("GET", c.get(s.url("/")).send()).await.unwrap();
    assert_eq!(body_of(res).await.unwrap(), "fresh");
    assert_eq!(s.accepted(), 2);
}

#[tokio::test]
async fn too_many_informational_responses_or_a_protocol_switch_are_errors() {
    let hints = format!(
        "{}HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
        "HTTP/1.1 103 Early Hints\r\n\r\n".repeat(9)
    );
    let e = framing_error(hints).await;
    assert_eq!(e.kind(), ErrorKind::Parse, "{e}");
    let e = framing_error("HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\n\r\n").await;
    assert_eq!(e.kind(), ErrorKind::Parse, "{e}");
}

#[tokio::test]
async fn a_servers_connection_close_is_honoured() {
    // The server says it will close but leaves the socket open: the client must not reuse it.
    let s = answering("HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 3\r\n\r\nbye").await;
    let c = Client::new();
    for _ in 0..2 {
        let res = bounded("GET", c.get(s.url("/")).send()).await.unwrap();
        assert_eq!(body_of(res).await.unwrap(), "bye");
    }
    assert_eq!(s.accepted(), 2);
}

#[tokio::test]
async fn chunked_wins_over_content_length_and_the_connection_is_retired() {
    let s = answering(
        "HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n\
         5\r\nhello\r\n0\r\n\r\n",
    )
    .await;
    let c = Client::new();
    for _ in 0..2 {
        let res = bounded("GET", c.get(s.url("/")).send()).await.unwrap();
        // RFC 9112 §6.3 point 3: the Content-Length is wrong; the caller never sees it.
        assert_eq!(res.headers().get("content-length"), None);
        assert_eq!(res.headers()["transfer-encoding"], "chunked");
        assert_eq!(body_of(res).await.unwrap(), "hello");
    }
    assert_eq!(s.accepted(), 2);
}

/// Each response is written whole and the connection closed: a client that took the
/// body as close-delimited would get it, still encoded.
#[tokio::test]
async fn transfer_codings_other_than_exactly_chunked_are_a_parse_error() {
    let gzip_chunked: &[u8] = b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n\
        a\r\n\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\r\n0\r\n\r\n";
    for response in [
        gzip_chunked,
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: identity\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\ncontent-length: 5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntransfer-encoding: chunked\r\n\r\n\
          5\r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    ] {
        let what = String::from_utf8_lossy(response).into_owned();
        let s = Script::start(move |mut p: Peer| async move {
            if p.read_request().await.is_some() {
                p.write(response).await;
            }
        })
        .await;
        let c = Client::new();
        let e = match bounded(&what, c.get(s.url("/")).send()).await {
            Err(e) => e,
            Ok(res) => {
                let body = body_of(res).await;
                panic!("{what:?} was accepted, body {body:?}")
            }
        };
        assert_eq!(e.kind(), ErrorKind::Parse, "{what:?}: {e}");
        assert!(e.to_string().contains("Transfer-Encoding"), "{what:?}: {e}");
        assert_eq!(c.pool_stats().idle(), 0, "{what:?}");
    }
}

#[tokio::test]
async fn http10_response_with_keep_alive_is_reused() {
    let s =
        answering("HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 2\r\n\r\nok").await;
    let c = Client::new();
    for _ in 0..2 {
        let res = bounded("GET", c.get(s.url("/")).send()).await.unwrap();
        assert_eq!(body_of(res).await.unwrap(), "ok");
    }
    assert_eq!(s.accepted(), 1);
}

#[tokio::test]
async fn content_length_body_across_writes() {
    let s = Script::start(|mut p: Peer| async move {
        while p.read_request().await.is_some() {
            p.write("HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\nhello")
                .await;
            tokio::time::sleep(Duration::from_millis(20)).await;
            p.write(" world").await;
        }
    })
    .await;
    let c = Client::new();
    for _ in 0..2 {
        let res = bounded("GET", c.get(s.url("/")).send()).await.unwrap();
        assert_eq!(res.headers()["content-length"], "11");
        assert_eq!(body_of(res).await.unwrap(), "hello world");
    }
    assert_eq!(s.accepted(), 1);
}

#[tokio::test]
async fn chunked_body_with_extensions_and_trailers() {
    let s = answering(
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
         5;name=value\r\nhello\r\n6;flag;q=\"a b\"\r\n world\r\n0;last\r\n\
         x-trailer: yes\r\nx-sum: 11\r\n\r\n",
    )
    .await;
    let c = Client::new();
    for _ in 0..2 {
        let res = bounded("GET", c.get(s.url("/")).send()).await.unwrap();
        let mut body = res.into_body();
        let mut data = Vec::new();
        let mut trailers = None;
        while let Some(frame) = bounded("frame", body.frame()).await {
            let frame = frame.unwrap();
            match frame.into_data() {
                Ok(d) => data.extend_from_slice(&d),
                Err(f) => trailers = Some(f.into_trailers().unwrap()),
            }
        }
        assert_eq!(data, b"hello world");
        let t = trailers.expect("trailers as the last frame");
        assert_eq!(t["x-trailer"], "yes");
        assert_eq!(t["x-sum"], "11");
    }
    assert_eq!(s.accepted(), 1);
}

#[tokio::test]
async fn close_delimited_body_reads_to_eof_and_is_not_reused() {
    let s = Script::start(|mut p: Peer| async move {
        if p.read_request().await.is_some() {
            p.write("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil ")
                .await;
            tokio::time::sleep(Duration::from_millis(20)).await;
            p.write("the close").await;
        }
        // Dropping the peer closes the connection: that ends the body.
    })
    .await;
    let c = Client::new();
    for _ in 0..2 {
        let res = bounded("GET", c.get(s.url("/")).send()).await.unwrap();
        assert_eq!(body_of(res).await.unwrap(), "until the close");
        assert_eq!(c.pool_stats().idle(), 0);
    }
    assert_eq!(s.accepted(), 2);
}

#[tokio::test]
async fn http10_response_without_keep_alive_is_not_reused() {
    let s = answering("HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
    let c = Client::new();
    for _ in 0..2 {
        let res = bounded("GET", c.get(s.url("/")).send()).await.unwrap();
        assert_eq!(res.version(), nethttp::http::Version::HTTP_10);
        assert_eq!(body_of(res).await.unwrap(), "ok");
    }
    assert_eq!(s.accepted(), 2);
}

#[tokio::test]
async fn a_response_dribbled_a_byte_at_a_time() {
    const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nx-a: 1\r\ntransfer-encoding: chunked\r\n\r\n\
        3;e=1\r\nabc\r\n4\r\ndefg\r\n0\r\nx-t: done\r\n\r\n";
    let s = Script::start(|mut p: Peer| async move {
        while p.read_request().await.is_some() {
            p.dribble(RESPONSE, 1, Duration::from_millis(1)).await;
        }
    })
    .await;
    let c = Client::new();
    for _ in 0..2 {
        let res = bounded("GET", c.get(s.url("/")).send()).await.unwrap();
        assert_eq!(res.headers()["x-a"], "1");
        let collected = bounded("body", res.into_body().collect()).await.unwrap();
        assert_eq!(collected.trailers().unwrap()["x-t"], "done");
        assert_eq!(collected.to_bytes(), "abcdefg");
    }
    assert_eq!(s.accepted(), 1);
}

/// Sends a GET to a server answering with `response` and returns the error it must cause,
/// from the head or else from the body.
async fn framing_error(response: impl Into<Bytes>) -> Error {
    let response: Bytes = response.into();
    let what = String::from_utf8_lossy(&response).into_owned();
    let s = one_shot(response).await;
    let c = Client::new();
    match bounded(&what, c.get(s.url("/")).send()).await {
        Err(e) => e,
        Ok(res) => match body_of(res).await {
            Err(e) => e,
            Ok(b) => panic!("{what:?} was accepted, body {b:?}"),
        },
    }
}

#[tokio::test]
async fn invalid_framing_is_a_parse_error() {
    for response in [
        &b"HTTP/1.1 200 OK\r\ncontent-length: abc\r\n\r\nabc"[..],
        b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!",
        b"HTTP/1.1 200 OK\r\ncontent-length: 5, 6\r\n\r\nhello!",
        b"HTTP/1.1 2000 OK\r\ncontent-length: 0\r\n\r\n",
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n",
    ] {
        let e = framing_error(response).await;
        assert_eq!(
            e.kind(),
            ErrorKind::Parse,
            "{:?}: {e}",
            String::from_utf8_lossy(response)
        );
    }
}

#[tokio::test]
async fn invalid_chunk_framing_fails_the_body_with_a_parse_error() {
    for response in [
        &b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n11111111111111111\r\n",
    ] {
        let e = framing_error(response).await;
        assert_eq!(
            e.kind(),
            ErrorKind::Parse,
            "{:?}: {e}",
            String::from_utf8_lossy(response)
        );
    }
}

#[tokio::test]
async fn a_head_over_the_limit_is_an_error() {
    // Complete but too large.
    let big = Bytes::from(format!(
        "HTTP/1.1 200 OK\r\nx-big: {}\r\ncontent-length: 0\r\n\r\n",
        "a".repeat(2000)
    ));
    let s = one_shot(big.clone()).await;
    let c = client_with(|t| t.max_response_header_bytes(1024));
    let e = bounded("GET", c.get(s.url("/")).send()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Parse, "{e}");
    // Never ending: the client gives up at the limit, not at the response-header timeout.
    let s = one_shot(format!("HTTP/1.1 200 OK\r\nx-big: {}", "a".repeat(4000))).await;
    let start = Instant::now();
    let e = bounded("GET", c.get(s.url("/")).send()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Parse, "{e}");
    assert!(start.elapsed() < Duration::from_secs(2));
    // The same head under a larger limit is fine.
    let s = one_shot(big).await;
    let c = client_with(|t| t.max_response_header_bytes(4096));
    let res = bounded("GET", c.get(s.url("/")).send()).await.unwrap();
    assert_eq!(res.headers()["x-big"].len(), 2000);
}

#[tokio::test]
async fn a_close_mid_body_is_an_incomplete_message() {
    for response in [
        &b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhello"[..],
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n",
    ] {
        let s = Script::start(move |mut p: Peer| async move {
            if p.read_request().await.is_some() {
                p.write(response).await;
            }
        })
        .await;
        let c = Client::new();
        let res = bounded("GET", c.get(s.url("/")).send()).await.unwrap();
        let e = body_of(res).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::IncompleteMessage, "{e}");
        assert_eq!(c.pool_stats().idle(), 0);
    }
}

#[tokio::test]
async fn a_close_mid_head_is_an_incomplete_message() {
    let s = Script::start(|mut p: Peer| async move {
        if p.read_request().await.is_some() {
            p.write("HTTP/1.1 200 OK\r\ncontent-le").await;
        }
    })
    .await;
    let c = Client::new();
    let e = bounded("GET", c.get(s.url("/")).send()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::IncompleteMessage, "{e}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(s.requests().len(), 1, "a response had begun: never resent");
}

#[tokio::test]
async fn a_fresh_connection_closed_without_a_response_is_not_retried() {
    let s = Script::start(|mut p: Peer| async move {
        p.read_request().await;
    })
    .await;
    let c = Client::new();
    let e = bounded("GET", c.get(s.url("/once")).send())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::IncompleteMessage, "{e}");
    // Give a wrongful retry time to show up.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(s.requests().len(), 1);
    assert_eq!(s.accepted(), 1);
}

// ---------------------------------------------------------------------------------------
// Expect: 100-continue
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn expect_continue_sends_the_body_after_100() {
    let early = Arc::new(Mutex::new(None));
    let seen = early.clone();
    let s = Script::start(move |mut p: Peer| {
        let seen = seen.clone();
        async move {
            let Some(head) = p.read_head().await else {
                return;
            };
            // The body must wait for our go-ahead.
            let quiet = p.silent_for(Duration::from_millis(200)).await;
            *seen.lock().unwrap() = Some(quiet);
            p.write("HTTP/1.1 100 Continue\r\n\r\n").await;
            let (body, raw) = p.read_body(&head).await.unwrap();
            p.record(head, body, raw);
            p.write(ok("thanks")).await;
            p.hold(IO_TIMEOUT).await;
        }
    })
    .await;
    let c = client_with(|t| t.expect_continue_timeout(Duration::from_secs(4)));
    let start = Instant::now();
    let res = c
        .post(s.url("/up"))
        .header("expect", "100-continue")
        .body("0123456789")
        .send();
    let res = bounded("POST", res).await.unwrap();
    assert_eq!(body_of(res).await.unwrap(), "thanks");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "the body went after the 100, not after the timeout"
    );
    assert_eq!(
        *early.lock().unwrap(),
        Some(true),
        "body sent before the 100"
    );
    assert_eq!(
        s.requests()[0].raw_text(),
        format!(
            "POST /up HTTP/1.1\r\nhost: {}\r\nexpect: 100-continue\r\n{UA}content-length: 10\r\n\r\n0123456789",
            s.addr()
        )
    );
}

#[tokio::test]
async fn expect_continue_answered_with_a_final_status_sends_no_body() {
    let leftover = Arc::new(Mutex::new(None));
    let log = leftover.clone();
    let s = Script::start(move |mut p: Peer| {
        let log = log.clone();
        async move {
            if p.read_head().await.is_none() {
                return;
            }
            p.write("HTTP/1.1 417 Expectation Failed\r\ncontent-length: 4\r\n\r\nnope")
                .await;
            // Whatever arrives until the client closes would be the body it should not send.
            let closed = p.wait_closed(Duration::from_secs(3)).await;
            *log.lock().unwrap() = Some((closed.is_some(), p.buf.len()));
        }
    })
    .await;
    let c = client_with(|t| t.expect_continue_timeout(Duration::from_secs(4)));
    let res = c
        .put(s.url("/up"))
        .header("expect", "100-continue")
        .body(vec![b'b'; 1000])
        .send();
    let res = bounded("PUT", res).await.unwrap();
    assert_eq!(res.status(), StatusCode::EXPECTATION_FAILED);
    assert_eq!(body_of(res).await.unwrap(), "nope");
    let start = Instant::now();
    while leftover.lock().unwrap().is_none() && start.elapsed() < IO_TIMEOUT {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        *leftover.lock().unwrap(),
        Some((true, 0)),
        "(client closed the connection, body bytes received)"
    );
}

#[tokio::test]
async fn expect_continue_without_an_answer_sends_the_body_after_the_timeout() {
    let waited = Arc::new(Mutex::new(None));
    let log = waited.clone();
    let s = Script::start(move |mut p: Peer| {
        let log = log.clone();
        async move {
            let Some(head) = p.read_head().await else {
                return;
            };
            let start = Instant::now();
            let (body, raw) = p.read_body(&head).await.unwrap();
            *log.lock().unwrap() = Some(start.elapsed());
            p.record(head, body, raw);
            p.write(ok("late")).await;
        }
    })
    .await;
    let c = client_with(|t| t.expect_continue_timeout(Duration::from_millis(300)));
    let res = c
        .post(s.url("/up"))
        .header("expect", "100-continue")
        .body("payload")
        .send();
    let res = bounded("POST", res).await.unwrap();
    assert_eq!(body_of(res).await.unwrap(), "late");
    let waited = waited.lock().unwrap().unwrap();
    assert!(
        waited >= Duration::from_millis(250),
        "body came after {waited:?}"
    );
    assert_eq!(s.requests()[0].body, b"payload");
}

/// A body streamed in two parts, the second `gap` after the first.
fn two_part_body(gap: Duration) -> Body {
    let (tx, body) = Body::channel(1);
    tokio::spawn(async move {
        tx.send_data("part1").await.unwrap();
        tokio::time::sleep(gap).await;
        let _ = tx.send_data("part2").await;
    });
    body
}

/// A server that reads the head, waits `delay`, writes `interim`, then reads the whole body
/// and answers `ok(body)`.
async fn interim_then_body(delay: Duration, interim: &'static str) -> Script {
    Script::start(move |mut p: Peer| async move {
        let Some(head) = p.read_head().await else {
            return;
        };
        tokio::time::sleep(delay).await;
        p.write(interim).await;
        let Some((body, raw)) = p.read_body(&head).await else {
            return;
        };
        p.record(head, body.clone(), raw);
        p.write(ok(std::str::from_utf8(&body).unwrap())).await;
        p.hold(IO_TIMEOUT).await;
    })
    .await
}

#[tokio::test]
async fn a_late_100_continue_mid_upload_does_not_stop_the_body() {
    // The client gave up waiting for the 100 and started sending; the server's 100 arrives
    // while the body is still streaming (servers send it when they start reading). It is not
    // the response: the rest of the body must still go out.
    let s = interim_then_body(Duration::from_millis(300), "HTTP/1.1 100 Continue\r\n\r\n").await;
    let c = client_with(|t| {
        t.expect_continue_timeout(Duration::from_millis(100))
            .response_header_timeout(Duration::from_secs(1))
    });
    let res = c
        .post(s.url("/up"))
        .header("expect", "100-continue")
        .body(two_part_body(Duration::from_millis(400)))
        .send();
    let res = bounded("POST", res).await.expect("the final response");
    assert_eq!(body_of(res).await.unwrap(), "part1part2");
}

#[tokio::test]
async fn an_interim_response_mid_upload_does_not_stop_the_body() {
    // 103 Early Hints may come at any time before the final response, also while the request
    // body is still being sent.
    let s = interim_then_body(
        Duration::from_millis(50),
        "HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n",
    )
    .await;
    let c = client_with(|t| t.response_header_timeout(Duration::from_secs(1)));
    let res = c
        .post(s.url("/up"))
        .body(two_part_body(Duration::from_millis(200)))
        .send();
    let res = bounded("POST", res).await.expect("the final response");
    assert_eq!(body_of(res).await.unwrap(), "part1part2");
}

// ---------------------------------------------------------------------------------------
// Early responses to uploads
// ---------------------------------------------------------------------------------------

/// A streaming upload of up to 64 MiB, produced as fast as the connection takes it.
fn large_upload() -> Body {
    static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
    let (tx, body) = Body::channel(2);
    tokio::spawn(async move {
        for _ in 0..1024 {
            if tx.send_data(Bytes::from_static(&ZEROS)).await.is_err() {
                return;
            }
        }
    });
    body
}

const TOO_LARGE: &str =
    "HTTP/1.1 413 Payload Too Large\r\ncontent-length: 9\r\nconnection: close\r\n\r\ntoo large";

#[tokio::test]
async fn early_413_with_lingering_close_is_returned() {
    let s = Script::start(|mut p: Peer| async move {
        if p.read_head().await.is_none() {
            return;
        }
        p.write(TOO_LARGE).await;
        // Like Go's and nginx's lingering close: read and discard until the client stops.
        p.discard_for(Duration::from_secs(4)).await;
    })
    .await;
    let c = Client::new();
    let res = bounded("upload", c.post(s.url("/up")).body(large_upload()).send()).await;
    let res = res.expect("the server's answer, not an error");
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body_of(res).await.unwrap(), "too large");
}

#[tokio::test]
async fn early_413_while_a_large_full_body_is_blocked_writing_is_returned() {
    // As above, with the body in memory (Content-Length) instead of streamed.
    let s = Script::start(|mut p: Peer| async move {
        if p.read_head().await.is_none() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        p.write(TOO_LARGE).await;
        p.hold(Duration::from_secs(3)).await;
    })
    .await;
    let c = Client::new();
    let start = Instant::now();
    let sent = tokio::time::timeout(
        Duration::from_millis(1500),
        c.post(s.url("/up")).body(vec![0u8; 32 << 20]).send(),
    )
    .await;
    let res = sent
        .unwrap_or_else(|_| {
            panic!(
                "no result {:?} after the upload began (the 413 was sent at 300 ms)",
                start.elapsed()
            )
        })
        .expect("the server's 413");
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn a_response_streamed_while_the_upload_streams_gets_all_of_it() {
    // An echo that answers at once and returns each chunk as it arrives: the client must keep
    // sending the body while it reads the response.
    let s = Script::start(|mut p: Peer| async move {
        if p.read_head().await.is_none() {
            return;
        }
        p.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            .await;
        while let Some(chunk) = p.read_chunk().await {
            if chunk.is_empty() {
                p.write("0\r\n\r\n").await;
                break;
            }
            let mut out = format!("{:x}\r\n", chunk.len()).into_bytes();
            out.extend_from_slice(&chunk);
            out.extend_from_slice(b"\r\n");
            p.write(out).await;
        }
        p.hold(IO_TIMEOUT).await;
    })
    .await;
    let (tx, body) = Body::channel(1);
    tokio::spawn(async move {
        for part in ["one ", "two ", "three"] {
            tx.send_data(part).await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let res = bounded("POST", Client::new().post(s.url("/echo")).body(body).send())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body_of(res).await.unwrap(), "one two three");
}

#[tokio::test]
async fn early_413_then_abrupt_close_is_returned_or_a_clear_error() {
    let s = Script::start(|mut p: Peer| async move {
        if p.read_head().await.is_none() {
            return;
        }
        p.write(TOO_LARGE).await;
        // Closing with unread request bytes makes the kernel send a reset.
    })
    .await;
    let c = Client::new();
    let start = Instant::now();
    match bounded("upload", c.post(s.url("/up")).body(large_upload()).send()).await {
        Ok(res) => {
            assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
            // The body was buffered with the head, or is cut by the reset.
            let _ = body_of(res).await;
        }
        Err(e) => {
            assert!(
                matches!(e.kind(), ErrorKind::Io | ErrorKind::IncompleteMessage),
                "an I/O error naming the failure, not {:?}: {e}",
                e.kind()
            );
        }
    }
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn early_413_while_the_client_is_blocked_writing_is_returned() {
    // The server reads only the head, lets the client fill the socket buffers, answers, and
    // then neither reads nor closes for a while (RFC 9112 §9.5: a client sending a body
    // should watch for a response while it transmits).
    let s = Script::start(|mut p: Peer| async move {
        if p.read_head().await.is_none() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        p.write(TOO_LARGE).await;
        p.hold(Duration::from_secs(3)).await;
    })
    .await;
    let c = Client::new();
    let start = Instant::now();
    let sent = tokio::time::timeout(
        Duration::from_millis(1500),
        c.post(s.url("/up")).body(large_upload()).send(),
    )
    .await;
    let res = sent
        .unwrap_or_else(|_| {
            panic!(
                "no result {:?} after the upload began (the 413 was sent at 300 ms)",
                start.elapsed()
            )
        })
        .expect("the server's 413");
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

// ---------------------------------------------------------------------------------------
// Timeouts
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn response_header_timeout() {
    let s = Script::start(|mut p: Peer| async move {
        if p.read_request().await.is_some() {
            p.hold(IO_TIMEOUT).await;
        }
    })
    .await;
    let c = client_with(|t| t.response_header_timeout(Duration::from_millis(200)));
    let start = Instant::now();
    let e = bounded("GET", c.get(s.url("/")).send()).await.unwrap_err();
    let took = start.elapsed();
    assert_eq!(e.kind(), ErrorKind::ResponseHeaderTimeout, "{e}");
    assert!(e.is_timeout() && !e.is_connect());
    assert!(
        took >= Duration::from_millis(190) && took < Duration::from_secs(2),
        "{took:?}"
    );
    assert_eq!(s.requests().len(), 1);
}

#[tokio::test]
async fn response_header_timeout_counts_dribbled_heads() {
    // Bytes of a head arriving slowly do not reset the timeout: it bounds the whole head.
    let s = Script::start(|mut p: Peer| async move {
        if p.read_request().await.is_some() {
            let head = b"HTTP/1.1 200 OK\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
            p.dribble(head, 1, Duration::from_millis(50)).await;
        }
    })
    .await;
    let c = client_with(|t| t.response_header_timeout(Duration::from_millis(300)));
    let start = Instant::now();
    let e = bounded("GET", c.get(s.url("/")).send()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ResponseHeaderTimeout, "{e}");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn read_timeout_fires_on_a_stalled_body() {
    let s = Script::start(|mut p: Peer| async move {
        if p.read_request().await.is_some() {
            p.write("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
                .await;
            p.hold(IO_TIMEOUT).await;
        }
    })
    .await;
    let c = client_with(|t| t.read_timeout(Duration::from_millis(200)));
    let res = bounded("GET", c.get(s.url("/")).send()).await.unwrap();
    let start = Instant::now();
    let mut body = res.into_body();
    let first = bounded("frame", body.frame()).await.unwrap().unwrap();
    assert_eq!(first.into_data().unwrap(), "0123456789");
    let e = bounded("frame", body.frame()).await.unwrap().unwrap_err();
    let took = start.elapsed();
    assert_eq!(e.kind(), ErrorKind::BodyReadTimeout, "{e}");
    assert!(e.is_timeout());
    // Between one and two read timeouts of silence.
    assert!(
        took >= Duration::from_millis(190) && took < Duration::from_secs(1),
        "{took:?}"
    );
}

#[tokio::test]
async fn read_timeout_is_about_silence_not_total_time() {
    let s = Script::start(|mut p: Peer| async move {
        if p.read_request().await.is_some() {
            p.write("HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n")
                .await;
            p.dribble(b"0123456789", 1, Duration::from_millis(80)).await;
        }
    })
    .await;
    let c = client_with(|t| t.read_timeout(Duration::from_millis(300)));
    let res = bounded("GET", c.get(s.url("/")).send()).await.unwrap();
    assert_eq!(body_of(res).await.unwrap(), "0123456789");
}

#[tokio::test]
async fn total_timeout_covers_the_body() {
    let s = Script::start(|mut p: Peer| async move {
        if p.read_request().await.is_some() {
            p.write("HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")
                .await;
            // Never silent long enough for the read timeout; never finished either.
            p.dribble(&[b'z'; 1000], 1, Duration::from_millis(50)).await;
        }
    })
    .await;
    let c = client_with(|t| t.read_timeout(Duration::from_secs(2)));
    let start = Instant::now();
    let res = c.get(s.url("/")).timeout(Duration::from_millis(400)).send();
    let res = bounded("GET", res).await.unwrap();
    let e = body_of(res).await.unwrap_err();
    let took = start.elapsed();
    assert_eq!(e.kind(), ErrorKind::TotalTimeout, "{e}");
    assert!(
        took >= Duration::from_millis(390) && took < Duration::from_millis(1500),
        "{took:?}"
    );
}

#[tokio::test]
async fn total_timeout_covers_the_wait_for_the_head() {
    let s = Script::start(|mut p: Peer| async move {
        if p.read_request().await.is_some() {
            p.hold(IO_TIMEOUT).await;
        }
    })
    .await;
    let c = Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let start = Instant::now();
    let e = bounded("GET", c.get(s.url("/")).send()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TotalTimeout, "{e}");
    assert!(start.elapsed() < Duration::from_secs(2));
}

/// A loopback listener whose accept queue is full (it never accepts), so a new connect to it
/// gets no answer: Linux drops a SYN that finds the queue full. Returns the listener, the
/// connections that filled it, and its address. The fill is checked: the last probe hung.
async fn unanswering_listener() -> (
    socket2::Socket,
    Vec<tokio::net::TcpStream>,
    std::net::SocketAddr,
) {
    use socket2::{Domain, Protocol, Socket, Type};
    let l = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
    l.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    l.listen(0).unwrap();
    let addr = l.local_addr().unwrap().as_socket().unwrap();
    let mut filled = Vec::new();
    for _ in 0..16 {
        match tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            Ok(Ok(s)) => filled.push(s),
            Ok(Err(e)) => panic!("probe connect failed: {e}"),
            Err(_) => return (l, filled, addr),
        }
    }
    panic!("a listener with a full accept queue still completed 16 connects");
}

#[tokio::test]
async fn connect_timeout_against_a_host_that_does_not_answer() {
    let (_listener, _filled, addr) = unanswering_listener().await;
    let c = client_with(|t| t.connect_timeout(Duration::from_millis(300)));
    let start = Instant::now();
    let e = bounded("GET", c.get(format!("http://{addr}/")).send())
        .await
        .unwrap_err();
    let took = start.elapsed();
    assert_eq!(e.kind(), ErrorKind::ConnectTimeout, "{e}");
    assert!(e.is_connect() && e.is_timeout());
    assert!(
        took >= Duration::from_millis(290) && took < Duration::from_secs(2),
        "{took:?}"
    );
    // A timed-out dial is not retried like a refused one.
    assert!(took < Duration::from_millis(600), "{took:?}");
}

#[tokio::test]
async fn zero_connect_timeout_fails_at_once() {
    // Documented: "Zero means the dial fails at once" — even against a listener that would
    // accept.
    let s = ok_server("up").await;
    let c = client_with(|t| t.connect_timeout(Duration::ZERO));
    for i in 0..20 {
        let r = bounded("GET", c.get(s.url("/")).send()).await;
        let e = r
            .err()
            .unwrap_or_else(|| panic!("attempt {i}: a zero connect timeout let a dial through"));
        assert_eq!(e.kind(), ErrorKind::ConnectTimeout, "{e}");
    }
}
