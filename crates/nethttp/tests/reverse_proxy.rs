//! `nethttp::proxy::ReverseProxy` between real peers: our server in front, our server (or a
//! scripted raw-TCP one) as the upstream. Asserts what the upstream received (hop-by-hop
//! fields gone, forwarding fields, Host, joined paths), bodies streamed both ways with
//! trailers, promptness of streamed responses, the 502/504 answers and the hooks, HTTP/2 on
//! either side, and a Unix socket upstream.

mod common;

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::script::{bounded, Peer, Script};
use common::wire::Conn;
use http_body::Body as _;
use nethttp::http::{HeaderMap, HeaderValue, Request, StatusCode, Version};
use nethttp::proxy::{ForwardedHeaders, ReverseProxy};
use nethttp::test::TestServer;
use nethttp::{text_response, Body, HttpRequest, HttpResponse, Server};
use tokio::sync::Notify;

/// The upstream's answer: the request line it saw and its fields, one per line, sorted.
async fn describe(req: HttpRequest) -> HttpResponse {
    let mut lines: Vec<String> = req
        .headers()
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("<bytes>")))
        .collect();
    lines.sort();
    let text = format!(
        "{} {} {:?}\n{}\n",
        req.method(),
        req.uri(),
        req.version(),
        lines.join("\n")
    );
    text_response(StatusCode::OK, text)
}

/// The proxy served by our server with client addresses attached.
async fn front(proxy: ReverseProxy) -> TestServer {
    TestServer::start_with(Server::new().conn_info(true), proxy).await
}

/// Reads a whole body, data and trailers, within the test timeout.
async fn collect(mut body: Body) -> (Vec<u8>, Option<HeaderMap>) {
    bounded("reading a body", async move {
        let mut data = Vec::new();
        let mut trailers = None;
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            let frame = frame.expect("body frame");
            match frame.into_data() {
                Ok(d) => data.extend_from_slice(&d),
                Err(f) => trailers = f.into_trailers().ok(),
            }
        }
        (data, trailers)
    })
    .await
}

#[tokio::test]
async fn hop_by_hop_and_connection_named_fields_never_reach_the_upstream() {
    let upstream = TestServer::start(describe).await;
    let proxy = front(ReverseProxy::new(&upstream.url("/")).unwrap()).await;
    let mut c = Conn::connect(proxy.addr()).await;
    c.send(
        "GET /x?q=1 HTTP/1.1\r\nHost: front.example\r\nConnection: X-Secret, close\r\n\
         X-Secret: s\r\nKeep-Alive: timeout=9\r\nProxy-Connection: keep-alive\r\n\
         Proxy-Authorization: Basic Zm9vOmJhcg==\r\nTE: trailers, deflate\r\nUpgrade: websocket\r\n\
         X-Forwarded-For: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\nX-Forwarded-Host: evil\r\n\
         X-End: kept\r\n\r\n",
    )
    .await;
    let raw = String::from_utf8(c.read_to_eof().await).unwrap();
    let body = &raw[raw.find("\r\n\r\n").unwrap() + 4..];
    let want = format!(
        "GET /x?q=1 HTTP/1.1\n\
         host: {}\n\
         te: trailers\n\
         x-end: kept\n\
         x-forwarded-for: 127.0.0.1\n\
         x-forwarded-host: front.example\n\
         x-forwarded-proto: http\n",
        upstream.addr()
    );
    assert_eq!(body, want, "the whole answer: {raw}");
}

#[tokio::test]
async fn response_hop_by_hop_fields_are_removed() {
    let upstream = Script::start(|mut p: Peer| async move {
        while p.read_request().await.is_some() {
            let resp = "HTTP/1.1 200 OK\r\nConnection: X-Resp-Hop\r\nX-Resp-Hop: 1\r\n\
                        Keep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\nUpgrade: h2c\r\n\
                        X-End: 2\r\nContent-Length: 2\r\n\r\nok";
            if !p.write(resp).await {
                return;
            }
        }
    })
    .await;
    let proxy = front(ReverseProxy::new(&upstream.url("")).unwrap()).await;
    let res = proxy.client().get(proxy.url("/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers();
    for gone in [
        "x-resp-hop",
        "proxy-authenticate",
        "upgrade",
        "keep-alive",
        "connection",
    ] {
        if gone == "keep-alive" {
            // Our own server's keep-alive line is allowed; the upstream's value is not.
            assert_ne!(h.get(gone).map(|v| v.as_bytes()), Some(&b"timeout=5"[..]));
            continue;
        }
        assert!(!h.contains_key(gone), "{gone} reached the client: {h:?}");
    }
    assert_eq!(h["x-end"], "2");
    assert_eq!(collect(res.into_body()).await.0, b"ok");
}

#[tokio::test]
async fn upstream_path_prefix_and_queries_are_joined_as_go_does() {
    let upstream = TestServer::start(describe).await;
    let proxy = front(ReverseProxy::new(&upstream.url("/base?k=v")).unwrap()).await;
    let res = proxy
        .client()
        .get(proxy.url("/a/b?x=1"))
        .send()
        .await
        .unwrap();
    let (body, _) = collect(res.into_body()).await;
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.starts_with("GET /base/a/b?k=v&x=1 HTTP/1.1\n"),
        "{text}"
    );
}

#[tokio::test]
async fn forwarded_rfc7239_and_via_when_asked() {
    let upstream = TestServer::start(describe).await;
    let proxy = ReverseProxy::builder()
        .upstream(&upstream.url("/"))
        .forwarded(ForwardedHeaders::Rfc7239)
        .via("edge")
        .build()
        .unwrap();
    let proxy = front(proxy).await;
    let res = proxy.client().get(proxy.url("/")).send().await.unwrap();
    assert_eq!(res.headers()["via"], "1.1 edge");
    let text = String::from_utf8(collect(res.into_body()).await.0).unwrap();
    let want = format!(
        "forwarded: for=127.0.0.1;host=\"{}\";proto=http\n",
        proxy.addr()
    );
    assert!(text.contains(&want), "{text}");
    assert!(text.contains("via: 1.1 edge\n"), "{text}");
    assert!(!text.contains("x-forwarded"), "{text}");
}

#[tokio::test]
async fn without_conn_info_no_client_address_is_sent() {
    let upstream = TestServer::start(describe).await;
    let proxy = TestServer::start(ReverseProxy::new(&upstream.url("/")).unwrap()).await;
    let res = proxy.client().get(proxy.url("/")).send().await.unwrap();
    let text = String::from_utf8(collect(res.into_body()).await.0).unwrap();
    assert!(!text.contains("x-forwarded-for"), "{text}");
    assert!(text.contains("x-forwarded-proto: http\n"), "{text}");
}

/// A chunked upload of several MB goes up as it is sent: the upstream has the first piece
/// before the client sends the second, and gets every byte.
#[tokio::test]
async fn request_body_streams_to_the_upstream_piece_by_piece() {
    const PIECE: usize = 256 * 1024;
    const PIECES: usize = 16;
    let got_first = Arc::new(Notify::new());
    let g = got_first.clone();
    let upstream = TestServer::start(move |req: HttpRequest| {
        let g = g.clone();
        async move {
            let te = req.headers().get("transfer-encoding").cloned();
            let mut body = req.into_body();
            let mut total = 0usize;
            let mut sum = 0u64;
            let mut notified = false;
            while let Some(f) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
            {
                if let Ok(d) = f.unwrap().into_data() {
                    total += d.len();
                    sum += d.iter().map(|&b| b as u64).sum::<u64>();
                    if !notified && total >= PIECE {
                        g.notify_one();
                        notified = true;
                    }
                }
            }
            text_response(StatusCode::OK, format!("{total} {sum} {te:?}"))
        }
    })
    .await;
    let proxy = front(ReverseProxy::new(&upstream.url("/")).unwrap()).await;
    let (tx, body) = Body::channel(1);
    let sender = tokio::spawn(async move {
        let piece = Bytes::from(vec![7u8; PIECE]);
        tx.send_data(piece.clone()).await.unwrap();
        // The rest only once the upstream has the first piece: a proxy that buffered the
        // whole body would wait here for ever (and the test would time out).
        bounded("the upstream's first piece", got_first.notified()).await;
        for _ in 1..PIECES {
            tx.send_data(piece.clone()).await.unwrap();
        }
    });
    let res = proxy
        .client()
        .post(proxy.url("/up"))
        .body(body)
        .send()
        .await
        .unwrap();
    let text = String::from_utf8(collect(res.into_body()).await.0).unwrap();
    sender.await.unwrap();
    let n = PIECE * PIECES;
    assert_eq!(text, format!("{n} {} Some(\"chunked\")", n as u64 * 7));
}

/// Server-sent events: the client has the first event while the upstream still holds the
/// second, which it sends only once the client has read the first.
#[tokio::test]
async fn streamed_response_pieces_reach_the_client_before_the_upstream_ends() {
    let client_read = Arc::new(Notify::new());
    let r = client_read.clone();
    let upstream = TestServer::start(move |_req: HttpRequest| {
        let r = r.clone();
        async move {
            let (tx, body) = Body::channel(1);
            tokio::spawn(async move {
                let _ = tx.send_data("data: one\n\n").await;
                r.notified().await;
                let _ = tx.send_data("data: two\n\n").await;
            });
            let mut resp = HttpResponse::new(body);
            resp.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("text/event-stream"),
            );
            resp
        }
    })
    .await;
    let proxy = front(ReverseProxy::new(&upstream.url("/")).unwrap()).await;
    let res = proxy
        .client()
        .get(proxy.url("/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut body = res.into_body();
    let first = bounded(
        "the first event, while the upstream holds the second",
        std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)),
    )
    .await;
    let first = first.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first, "data: one\n\n");
    client_read.notify_one();
    let (rest, _) = collect(body).await;
    assert_eq!(rest, b"data: two\n\n");
}

#[tokio::test]
async fn trailers_travel_both_ways() {
    let upstream = TestServer::start(|req: HttpRequest| async move {
        let te = req.headers().get("te").cloned();
        let (data, trailers) = collect(req.into_body()).await;
        let (tx, body) = Body::channel(2);
        tokio::spawn(async move {
            let _ = tx
                .send_data(format!("{} bytes, te {te:?}", data.len()))
                .await;
            let mut t = HeaderMap::new();
            let seen = trailers
                .and_then(|t| t.get("x-up-sum").cloned())
                .unwrap_or(HeaderValue::from_static("none"));
            t.insert("x-down-sum", seen);
            let _ = tx.send_trailers(t).await;
        });
        HttpResponse::new(body)
    })
    .await;
    let proxy = front(ReverseProxy::new(&upstream.url("/")).unwrap()).await;
    let (tx, body) = Body::channel(2);
    tokio::spawn(async move {
        tx.send_data("hello").await.unwrap();
        let mut t = HeaderMap::new();
        t.insert("x-up-sum", HeaderValue::from_static("42"));
        tx.send_trailers(t).await.unwrap();
    });
    let res = proxy
        .client()
        .post(proxy.url("/"))
        .header("te", "trailers")
        .body(body)
        .send()
        .await
        .unwrap();
    let (data, trailers) = collect(res.into_body()).await;
    assert_eq!(
        String::from_utf8(data).unwrap(),
        "5 bytes, te Some(\"trailers\")"
    );
    let trailers = trailers.expect("the upstream's trailers");
    assert_eq!(trailers["x-down-sum"], "42");
}

#[tokio::test]
async fn refused_upstream_is_502() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let proxy = front(ReverseProxy::new(&format!("http://127.0.0.1:{port}")).unwrap()).await;
    let res = proxy.client().get(proxy.url("/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(collect(res.into_body()).await.0, b"Bad Gateway\n");
}

/// An upstream that takes the request and never answers: 504 at the response header
/// timeout, not a client held for the transport's default minute.
#[tokio::test]
async fn silent_upstream_is_504_at_the_response_header_timeout() {
    let upstream = Script::start(|mut p: Peer| async move {
        let _ = p.read_request().await;
        p.hold(Duration::from_secs(30)).await;
    })
    .await;
    let transport = ReverseProxy::default_transport()
        .response_header_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let proxy = ReverseProxy::builder()
        .upstream(&upstream.url(""))
        .transport(transport)
        .build()
        .unwrap();
    let proxy = front(proxy).await;
    let t0 = std::time::Instant::now();
    let res = bounded("the 504", proxy.client().get(proxy.url("/")).send())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
}

#[tokio::test]
async fn error_hook_makes_the_answer() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let proxy = ReverseProxy::builder()
        .upstream(&format!("http://127.0.0.1:{port}"))
        .error_handler(|e| {
            let status = nethttp::proxy::status_for(e);
            text_response(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("custom {} {}", status.as_u16(), e.kind()),
            )
        })
        .build()
        .unwrap();
    let proxy = front(proxy).await;
    let res = proxy.client().get(proxy.url("/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(collect(res.into_body()).await.0, b"custom 502 connect");
}

#[tokio::test]
async fn rewrite_and_modify_response_hooks_change_both_directions() {
    let upstream = TestServer::start(describe).await;
    let other =
        TestServer::start(|_req: HttpRequest| async { text_response(StatusCode::OK, "other") })
            .await;
    let other_uri: nethttp::http::Uri = other.url("/").parse().unwrap();
    let proxy = ReverseProxy::builder()
        .upstream(&upstream.url("/"))
        .rewrite(move |r| {
            if r.inbound().uri.path() == "/other" {
                r.set_url(&other_uri);
                return;
            }
            // Keep the client's Host, and say so.
            let host = r.inbound().headers["host"].clone();
            r.out().headers.insert("host", host);
            r.out()
                .headers
                .insert("x-rewritten", HeaderValue::from_static("yes"));
        })
        .modify_response(|resp| {
            resp.headers_mut()
                .insert("x-modified", HeaderValue::from_static("yes"));
        })
        .build()
        .unwrap();
    let proxy = front(proxy).await;
    let res = proxy.client().get(proxy.url("/x")).send().await.unwrap();
    assert_eq!(res.headers()["x-modified"], "yes");
    let text = String::from_utf8(collect(res.into_body()).await.0).unwrap();
    assert!(
        text.contains(&format!("host: {}\n", proxy.addr())),
        "{text}"
    );
    assert!(text.contains("x-rewritten: yes\n"), "{text}");
    let res = proxy
        .client()
        .get(proxy.url("/other"))
        .send()
        .await
        .unwrap();
    assert_eq!(collect(res.into_body()).await.0, b"other");
}

#[tokio::test]
async fn http2_client_through_the_proxy_to_an_http1_upstream() {
    let upstream = TestServer::start(describe).await;
    let proxy = front(ReverseProxy::new(&upstream.url("/")).unwrap()).await;
    let client = proxy
        .client_builder()
        .transport(|t| t.http2_prior_knowledge(true))
        .build()
        .unwrap();
    let res = client
        .post(proxy.url("/h2"))
        .body("abc")
        .send()
        .await
        .unwrap();
    assert_eq!(res.version(), Version::HTTP_2);
    let text = String::from_utf8(collect(res.into_body()).await.0).unwrap();
    assert!(text.starts_with("POST /h2 HTTP/1.1\n"), "{text}");
    assert!(
        text.contains(&format!("x-forwarded-host: {}\n", proxy.addr())),
        "{text}"
    );
}

#[tokio::test]
async fn http1_client_through_the_proxy_to_an_http2_upstream_over_tls() {
    let upstream = TestServer::start_tls(|req: HttpRequest| async move {
        let (data, _) = collect(req.into_body()).await;
        text_response(StatusCode::OK, format!("{} bytes", data.len()))
    })
    .await;
    let seen = Arc::new(std::sync::Mutex::new(None));
    let transport = ReverseProxy::default_transport()
        .tls(upstream.certificate().unwrap().client_tls().unwrap())
        .build()
        .unwrap();
    let s = seen.clone();
    let proxy = ReverseProxy::builder()
        .upstream(&upstream.url("/"))
        .transport(transport)
        .modify_response(move |resp| *s.lock().unwrap() = Some(resp.version()))
        .build()
        .unwrap();
    let proxy = front(proxy).await;
    let client = proxy
        .client_builder()
        .transport(|t| t.http2(false))
        .build()
        .unwrap();
    let res = client
        .post(proxy.url("/"))
        .body("12345")
        .send()
        .await
        .unwrap();
    assert_eq!(res.version(), Version::HTTP_11);
    assert_eq!(collect(res.into_body()).await.0, b"5 bytes");
    // The version the upstream's response came on, before the proxy set the client's.
    assert_eq!(*seen.lock().unwrap(), Some(Version::HTTP_2));
}

#[tokio::test]
async fn unix_socket_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("up.sock");
    let upstream = Server::new();
    let listener = upstream.bind_unix(&path).unwrap();
    let handle = upstream.serve(listener, describe);
    let transport = ReverseProxy::default_transport()
        .unix_socket(&path)
        .build()
        .unwrap();
    let proxy = ReverseProxy::builder()
        .upstream("http://backend")
        .transport(transport)
        .build()
        .unwrap();
    let proxy = front(proxy).await;
    for _ in 0..3 {
        let res = proxy.client().get(proxy.url("/u")).send().await.unwrap();
        let text = String::from_utf8(collect(res.into_body()).await.0).unwrap();
        assert!(text.starts_with("GET /u HTTP/1.1\n"), "{text}");
        assert!(text.contains("\nhost: backend\n"), "{text}");
    }
    handle.shutdown(Duration::from_secs(1)).await;
}

/// `Max-Forwards: 0` on OPTIONS is answered by the proxy (RFC 9110 §7.6.2); above 0 it is
/// forwarded one lower.
#[tokio::test]
async fn max_forwards_is_answered_at_zero_and_lowered_otherwise() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let upstream = TestServer::start(move |req: HttpRequest| {
        c.fetch_add(1, Ordering::SeqCst);
        describe(req)
    })
    .await;
    let proxy = front(ReverseProxy::new(&upstream.url("/")).unwrap()).await;
    let client = proxy.client();
    let req = |mf: &str| {
        Request::options(proxy.url("/"))
            .header("max-forwards", mf)
            .body(Body::empty())
            .unwrap()
    };
    let res = client.execute(req("0")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let res = client.execute(req("5")).await.unwrap();
    let text = String::from_utf8(collect(res.into_body()).await.0).unwrap();
    assert!(text.contains("max-forwards: 4\n"), "{text}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
