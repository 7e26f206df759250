//! `wrap::timeout_handler` on the wire: the exact `503` a handler too slow to answer gets,
//! the handler's future dropped at that moment (a guard it holds is dropped while the sleep
//! it awaits still had most of its time to run), a fast handler untouched, and a response
//! whose head came in time streaming on past the duration.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::wire::{normalize, ok_text, start, Conn};
use nethttp::http::{Response, StatusCode};
use nethttp::wrap::timeout_handler;
use nethttp::{text_response, Body, HttpRequest, ServeMux, Server};

/// Sets its flag when dropped: proof the future holding it was dropped.
struct DropGuard(Arc<AtomicBool>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_slow_handler_gets_the_503_and_is_dropped() {
    let dropped = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(AtomicUsize::new(0));
    let (d, f) = (dropped.clone(), finished.clone());
    let slow = move |_req: HttpRequest| {
        let guard = DropGuard(d.clone());
        let finished = f.clone();
        async move {
            let _guard = guard;
            tokio::time::sleep(Duration::from_secs(30)).await;
            finished.fetch_add(1, Ordering::SeqCst);
            text_response(StatusCode::OK, "late")
        }
    };
    let mux = ServeMux::new()
        .route(
            "/slow",
            timeout_handler(slow, Duration::from_millis(200), "too slow\n"),
        )
        .route(
            "/fast",
            timeout_handler(
                |_req: HttpRequest| async { text_response(StatusCode::OK, "quick") },
                Duration::from_millis(200),
                "",
            ),
        );
    let h = start(Server::new(), mux);
    let mut c = Conn::connect(h.local_addr()).await;
    let t0 = Instant::now();
    c.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let resp = normalize(&c.raw_response(false).await);
    let took = t0.elapsed();
    assert_eq!(
        resp,
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: 9\r\ndate: <DATE>\r\nkeep-alive: timeout=60\r\n\r\ntoo slow\n"
    );
    assert!(
        took >= Duration::from_millis(190),
        "answered after {took:?}"
    );
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
    // The guard is dropped with the future: by the time the 503 is read, not 30 s later.
    assert!(
        dropped.load(Ordering::SeqCst),
        "the handler's future still lives"
    );
    assert_eq!(finished.load(Ordering::SeqCst), 0);
    // The connection goes on; a fast handler's answer is its own.
    c.send("GET /fast HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(normalize(&c.raw_response(false).await), ok_text("quick"));
}

#[tokio::test]
async fn an_empty_message_is_gos_page() {
    let h = start(
        Server::new(),
        timeout_handler(
            |_req: HttpRequest| std::future::pending::<nethttp::HttpResponse>(),
            Duration::from_millis(50),
            "",
        ),
    );
    let mut c = Conn::connect(h.local_addr()).await;
    c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let page = "<html><head><title>Timeout</title></head><body><h1>Timeout</h1></body></html>";
    assert_eq!(
        normalize(&c.raw_response(false).await),
        format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/html; charset=utf-8\r\n\
             content-length: {}\r\ndate: <DATE>\r\nkeep-alive: timeout=60\r\n\r\n{page}",
            page.len()
        )
    );
}

/// A response whose head comes at once and whose body is `first,`, then `gap` later `second`.
async fn two_chunks(gap: Duration) -> nethttp::HttpResponse {
    let (tx, body) = Body::channel(1);
    tokio::spawn(async move {
        tx.send_data("first,").await?;
        tokio::time::sleep(gap).await;
        tx.send_data("second").await
    });
    Response::new(body)
}

#[tokio::test]
async fn a_body_streamed_after_the_head_is_not_cut() {
    // The head comes at once; the body takes longer than the duration and is sent whole.
    let h = start(
        Server::new(),
        timeout_handler(
            |_req: HttpRequest| two_chunks(Duration::from_millis(300)),
            Duration::from_millis(100),
            "too slow\n",
        ),
    );
    let mut c = Conn::connect(h.local_addr()).await;
    c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let resp = normalize(&c.raw_response(false).await);
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    assert!(
        resp.ends_with("6\r\nfirst,\r\n6\r\nsecond\r\n0\r\n\r\n"),
        "{resp}"
    );
}

/// A handler whose head comes at once and whose body sends a chunk every 50 ms for 3 s.
async fn slow_stream(_req: HttpRequest) -> nethttp::HttpResponse {
    let (tx, body) = Body::channel(1);
    tokio::spawn(async move {
        for i in 0..60 {
            tx.send_data(format!("chunk {i}\n")).await?;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok::<(), nethttp::Error>(())
    });
    Response::new(body)
}

#[tokio::test]
async fn covering_the_body_cuts_a_stream_still_going_at_the_deadline() {
    let handler = timeout_handler(slow_stream, Duration::from_millis(400), "too slow\n");
    let h = start(Server::new(), handler.covering_body(true));
    let mut c = Conn::connect(h.local_addr()).await;
    let start = Instant::now();
    c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let got = String::from_utf8(c.read_to_eof().await).unwrap();
    let took = start.elapsed();
    // The head and the chunks of the first 400 ms, then the connection ends without the
    // body's last chunk: the client knows the response is cut short.
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
    assert!(
        got.contains("chunk 0\n") && got.contains("chunk 5\n"),
        "{got}"
    );
    assert!(
        !got.contains("chunk 20\n") && !got.ends_with("0\r\n\r\n"),
        "{got}"
    );
    assert!(took >= Duration::from_millis(400), "{took:?}");
    assert!(took < Duration::from_secs(2), "cut after {took:?}");
}

#[tokio::test]
async fn covering_the_body_lets_a_body_that_ends_in_time_through_whole() {
    let handler = timeout_handler(
        |_req: HttpRequest| two_chunks(Duration::from_millis(50)),
        Duration::from_secs(5),
        "too slow\n",
    );
    let h = start(Server::new(), handler.covering_body(true));
    let mut c = Conn::connect(h.local_addr()).await;
    for _ in 0..2 {
        c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let resp = normalize(&c.raw_response(false).await);
        assert!(
            resp.ends_with("6\r\nfirst,\r\n6\r\nsecond\r\n0\r\n\r\n"),
            "{resp}"
        );
    }
}

#[tokio::test]
async fn covering_the_body_resets_an_http2_stream_at_the_deadline() {
    let handler = timeout_handler(slow_stream, Duration::from_millis(400), "too slow\n");
    let h = start(Server::new(), handler.covering_body(true));
    let t = nethttp::Transport::builder()
        .http2_prior_knowledge(true)
        .build()
        .unwrap();
    let url = format!("http://{}/", h.local_addr());
    let start = Instant::now();
    let res = t
        .round_trip(
            nethttp::http::Request::get(&url)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let err = res.into_body().to_bytes(1 << 20).await.unwrap_err();
    let took = start.elapsed();
    assert!(took < Duration::from_secs(2), "cut after {took:?}: {err}");
    // The connection is fine: the next request on it is answered.
    let res = t
        .round_trip(
            nethttp::http::Request::get(&url)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}
