//! Interim (1xx) responses: a handler's `103 Early Hints` on the wire (exact bytes over
//! HTTP/1.1, ahead of the final response, written while the handler still works, none for
//! HTTP/1.0, in order among pipelined responses, refused after the final response), over
//! HTTP/2 to curl, heard by hyper's client and ours over both protocols (`Trace::got_1xx_response`), and passed
//! on by the reverse proxy (hop-by-hop fields removed; an upstream flooding 1xx is a 502); a
//! client that never reads them is cut by the write timeout with bounded memory.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::peers::peer;
use common::script::{Peer, Script};
use common::wire::{normalize, ok_text, start, Conn};
use nethttp::client::Trace;
use nethttp::http::{header, HeaderMap, HeaderValue, StatusCode};
use nethttp::interim::InterimSender;
use nethttp::proxy::ReverseProxy;
use nethttp::{text_response, HttpRequest, Server};
use tokio::sync::Notify;

const LIMIT: Duration = Duration::from_secs(10);

const HINTS_103: &str =
    "HTTP/1.1 103 Early Hints\r\nlink: </app.css>; rel=preload; as=style\r\n\r\n";

fn hints() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        header::LINK,
        HeaderValue::from_static("</app.css>; rel=preload; as=style"),
    );
    h
}

#[derive(Default)]
struct State {
    /// Released by the test once it has seen the interim response of `/spawned`.
    gate: Notify,
    /// The sender `/late` kept past its final response.
    late: Mutex<Option<InterimSender>>,
}

fn handler(state: Arc<State>) -> impl nethttp::Handler {
    move |req: HttpRequest| {
        let state = state.clone();
        async move {
            match req.uri().path() {
                // Sent and awaited, with fields a 1xx must not carry (left out on the wire).
                "/hints" => {
                    let mut h = hints();
                    h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("5"));
                    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
                    let s = nethttp::interim::sender().expect("HTTP/1.1 and HTTP/2 take 1xx");
                    s.send(StatusCode::EARLY_HINTS, h).await.unwrap();
                    text_response(StatusCode::OK, "page")
                }
                // Queued, and the handler returns at once: both still precede the page.
                "/queued" => {
                    let s = nethttp::interim::sender().unwrap();
                    s.try_send(StatusCode::PROCESSING, HeaderMap::new())
                        .unwrap();
                    s.try_send(StatusCode::EARLY_HINTS, hints()).unwrap();
                    text_response(StatusCode::OK, "page")
                }
                // Sent from another task while the handler waits for the test.
                "/spawned" => {
                    let s = nethttp::interim::sender().unwrap();
                    tokio::spawn(async move { s.send(StatusCode::EARLY_HINTS, hints()).await });
                    state.gate.notified().await;
                    text_response(StatusCode::OK, "page")
                }
                "/late" => {
                    *state.late.lock().unwrap() = nethttp::interim::sender();
                    text_response(StatusCode::OK, "page")
                }
                "/has-sender" => {
                    let has = nethttp::interim::sender().is_some();
                    text_response(StatusCode::OK, if has { "yes" } else { "no" })
                }
                _ => text_response(StatusCode::OK, "plain"),
            }
        }
    }
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n")
}

#[tokio::test]
async fn early_hints_precede_the_final_response_byte_for_byte() {
    let h = start(Server::new(), handler(Arc::default()));
    let mut c = Conn::connect(h.local_addr()).await;
    c.send(get("/hints")).await;
    let interim = c.raw_response(false).await;
    assert_eq!(String::from_utf8(interim).unwrap(), HINTS_103);
    let last = c.raw_response(false).await;
    assert_eq!(normalize(&last), ok_text("page"));
    // The connection goes on, with nothing stray on it.
    c.send(get("/plain")).await;
    assert_eq!(normalize(&c.raw_response(false).await), ok_text("plain"));
}

#[tokio::test]
async fn queued_interim_responses_go_out_in_order_when_the_handler_returns() {
    let h = start(Server::new(), handler(Arc::default()));
    let mut c = Conn::connect(h.local_addr()).await;
    c.send(get("/queued")).await;
    let first = c.raw_response(false).await;
    assert_eq!(
        String::from_utf8(first).unwrap(),
        "HTTP/1.1 102 Processing\r\n\r\n"
    );
    assert_eq!(
        String::from_utf8(c.raw_response(false).await).unwrap(),
        HINTS_103
    );
    assert_eq!(normalize(&c.raw_response(false).await), ok_text("page"));
}

#[tokio::test]
async fn an_interim_response_is_written_while_the_handler_still_works() {
    let state = Arc::new(State::default());
    let h = start(Server::new(), handler(state.clone()));
    let mut c = Conn::connect(h.local_addr()).await;
    c.send(get("/spawned")).await;
    // The handler is blocked until the test sees the hints: they cannot ride with the page.
    let interim = c.raw_response(false).await;
    assert_eq!(String::from_utf8(interim).unwrap(), HINTS_103);
    state.gate.notify_one();
    assert_eq!(normalize(&c.raw_response(false).await), ok_text("page"));
}

#[tokio::test]
async fn an_http10_client_gets_no_interim_response() {
    let h = start(Server::new(), handler(Arc::default()));
    let mut c = Conn::connect(h.local_addr()).await;
    c.send("GET /has-sender HTTP/1.0\r\n\r\n").await;
    let resp = normalize(&c.raw_response(false).await);
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    assert!(resp.ends_with("\r\n\r\nno"), "{resp}");
    let mut c = Conn::connect(h.local_addr()).await;
    c.send(get("/has-sender")).await;
    assert_eq!(normalize(&c.raw_response(false).await), ok_text("yes"));
}

#[tokio::test]
async fn pipelined_interim_responses_stay_with_their_request() {
    let h = start(Server::new(), handler(Arc::default()));
    let mut c = Conn::connect(h.local_addr()).await;
    c.send(format!(
        "{}{}{}",
        get("/plain"),
        get("/hints"),
        get("/plain")
    ))
    .await;
    assert_eq!(normalize(&c.raw_response(false).await), ok_text("plain"));
    assert_eq!(
        String::from_utf8(c.raw_response(false).await).unwrap(),
        HINTS_103
    );
    assert_eq!(normalize(&c.raw_response(false).await), ok_text("page"));
    assert_eq!(normalize(&c.raw_response(false).await), ok_text("plain"));
}

#[tokio::test]
async fn a_sender_kept_past_the_final_response_is_refused() {
    let state = Arc::new(State::default());
    let h = start(Server::new(), handler(state.clone()));
    let mut c = Conn::connect(h.local_addr()).await;
    c.send(get("/late")).await;
    assert_eq!(normalize(&c.raw_response(false).await), ok_text("page"));
    let late = state
        .late
        .lock()
        .unwrap()
        .take()
        .expect("the handler kept it");
    let err = tokio::time::timeout(LIMIT, late.send(StatusCode::EARLY_HINTS, hints()))
        .await
        .expect("refused at once, not hung")
        .unwrap_err();
    assert_eq!(err.kind(), nethttp::ErrorKind::Usage);
    assert!(late.try_send(StatusCode::EARLY_HINTS, hints()).is_err());
    // Nothing from it reaches the connection's next exchange.
    c.send(get("/plain")).await;
    assert_eq!(normalize(&c.raw_response(false).await), ok_text("plain"));
}

/// Records the interim responses a client heard.
#[derive(Default)]
struct Heard(Mutex<Vec<(StatusCode, Option<String>)>>);

impl Trace for Heard {
    fn got_1xx_response(&self, status: StatusCode, headers: &HeaderMap) {
        let link = headers
            .get(header::LINK)
            .map(|v| v.to_str().unwrap().to_owned());
        self.0.lock().unwrap().push((status, link));
    }
}

#[tokio::test]
async fn our_client_hears_interim_responses_over_http11_and_http2() {
    let h = start(Server::new(), handler(Arc::default()));
    for h2 in [false, true] {
        let heard = Arc::new(Heard::default());
        let client = nethttp::Client::builder()
            .transport(|t| t.http2_prior_knowledge(h2))
            .build()
            .unwrap();
        let res = client
            .get(format!("http://{}/queued", h.local_addr()))
            .trace(heard.clone())
            .send()
            .await
            .unwrap();
        let want = if h2 {
            nethttp::http::Version::HTTP_2
        } else {
            nethttp::http::Version::HTTP_11
        };
        assert_eq!(res.version(), want);
        assert_eq!(res.into_body().to_bytes(1024).await.unwrap(), "page");
        let link = Some("</app.css>; rel=preload; as=style".to_owned());
        assert_eq!(
            *heard.0.lock().unwrap(),
            vec![
                (StatusCode::PROCESSING, None),
                (StatusCode::EARLY_HINTS, link)
            ],
            "http2: {h2}"
        );
    }
}

#[tokio::test]
async fn hyper_client_hears_early_hints() {
    let h = start(Server::new(), handler(Arc::default()));
    let tcp = tokio::net::TcpStream::connect(h.local_addr())
        .await
        .unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let heard = Arc::new(Mutex::new(Vec::new()));
    let mut req = http::Request::get("/hints")
        .header("host", "t")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let sink = heard.clone();
    hyper::ext::on_informational(&mut req, move |res| {
        sink.lock()
            .unwrap()
            .push((res.status(), res.headers().clone()));
    });
    let res = tokio::time::timeout(LIMIT, send.send_request(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let heard = heard.lock().unwrap();
    assert_eq!(heard.len(), 1, "{heard:?}");
    assert_eq!(heard[0].0, StatusCode::EARLY_HINTS);
    assert_eq!(
        heard[0].1,
        hints(),
        "only the link field, no framing fields"
    );
}

#[tokio::test]
async fn curl_sees_early_hints_over_http2_and_http11() {
    let Some(curl) = peer("curl", "--version", &[]) else {
        return;
    };
    let h = start(Server::new(), handler(Arc::default()));
    for flag in ["--http2-prior-knowledge", "--http1.1"] {
        let out = tokio::time::timeout(
            LIMIT,
            tokio::process::Command::new(&curl)
                .args(["-sS", "-i", "--noproxy", "*", "--max-time", "8", flag])
                .arg(format!("http://{}/hints", h.local_addr()))
                .output(),
        )
        .await
        .unwrap()
        .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
        assert!(out.status.success(), "{flag}: {text}");
        let at_103 = text
            .find(" 103")
            .unwrap_or_else(|| panic!("{flag}: no 103 in {text}"));
        let at_200 = text
            .find(" 200")
            .unwrap_or_else(|| panic!("{flag}: no 200 in {text}"));
        assert!(at_103 < at_200, "{flag}: {text}");
        let interim = &text[at_103..at_200];
        assert!(interim.contains("link: </app.css>"), "{flag}: {interim}");
        assert!(!interim.contains("content-length"), "{flag}: {interim}");
        assert!(text.ends_with("page"), "{flag}: {text}");
    }
}

/// An upstream that sends interim responses (one with a hop-by-hop field) and then `page`.
async fn hinting_upstream(interims: usize) -> Script {
    Script::start(move |mut p: Peer| async move {
        while p.read_request().await.is_some() {
            let mut out = String::new();
            for _ in 0..interims {
                out.push_str(
                    "HTTP/1.1 103 Early Hints\r\nLink: </app.css>; rel=preload; as=style\r\n\
                     Connection: x-hop\r\nX-Hop: 1\r\n\r\n",
                );
            }
            out.push_str("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\npage");
            if !p.write(out).await {
                return;
            }
        }
    })
    .await
}

#[tokio::test]
async fn the_reverse_proxy_passes_early_hints_on_without_hop_by_hop_fields() {
    let upstream = hinting_upstream(2).await;
    let proxy = ReverseProxy::builder()
        .upstream(&upstream.url("/"))
        .build()
        .unwrap();
    let h = start(Server::new(), proxy);
    let mut c = Conn::connect(h.local_addr()).await;
    for _ in 0..2 {
        c.send(get("/x")).await;
        for _ in 0..2 {
            assert_eq!(
                String::from_utf8(c.raw_response(false).await).unwrap(),
                HINTS_103
            );
        }
        let last = normalize(&c.raw_response(false).await);
        assert!(last.starts_with("HTTP/1.1 200 OK\r\n"), "{last}");
        assert!(last.ends_with("\r\n\r\npage"), "{last}");
    }
}

#[tokio::test]
async fn a_trace_the_rewrite_hook_sets_still_hears_the_upstreams_hints() {
    let upstream = hinting_upstream(1).await;
    let heard = Arc::new(Heard::default());
    let proxy = ReverseProxy::builder()
        .upstream(&upstream.url("/"))
        .rewrite({
            let heard = heard.clone();
            move |pr| {
                pr.out()
                    .extensions
                    .insert(nethttp::client::TraceHook(heard.clone()));
            }
        })
        .build()
        .unwrap();
    let h = start(Server::new(), proxy);
    let mut c = Conn::connect(h.local_addr()).await;
    c.send(get("/x")).await;
    // The client gets the hint, and so does the hook's trace.
    assert_eq!(
        String::from_utf8(c.raw_response(false).await).unwrap(),
        HINTS_103
    );
    let last = normalize(&c.raw_response(false).await);
    assert!(last.ends_with("\r\n\r\npage"), "{last}");
    assert_eq!(
        *heard.0.lock().unwrap(),
        [(
            StatusCode::EARLY_HINTS,
            Some("</app.css>; rel=preload; as=style".to_owned())
        )]
    );
}

#[tokio::test]
async fn the_reverse_proxy_passes_early_hints_on_to_an_http2_client() {
    let Some(curl) = peer("curl", "--version", &[]) else {
        return;
    };
    let upstream = hinting_upstream(1).await;
    let proxy = ReverseProxy::builder()
        .upstream(&upstream.url("/"))
        .build()
        .unwrap();
    let h = start(Server::new(), proxy);
    let out = tokio::time::timeout(
        LIMIT,
        tokio::process::Command::new(&curl)
            .args(["-sS", "-i", "--noproxy", "*", "--max-time", "8"])
            .arg("--http2-prior-knowledge")
            .arg(format!("http://{}/x", h.local_addr()))
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(text.starts_with("http/2 103"), "{text}");
    let interim = &text[..text.find("http/2 200").expect("a 200")];
    assert!(interim.contains("link: </app.css>"), "{interim}");
    assert!(!interim.contains("x-hop"), "{interim}");
    assert!(text.ends_with("page"), "{text}");
}

#[tokio::test]
async fn an_upstream_flooding_interim_responses_is_a_502() {
    let upstream = hinting_upstream(50).await;
    let proxy = ReverseProxy::builder()
        .upstream(&upstream.url("/"))
        .build()
        .unwrap();
    let h = start(Server::new(), proxy);
    let mut c = Conn::connect(h.local_addr()).await;
    c.send(get("/x")).await;
    // The client's bound on interim responses (8) ends the exchange; what got through first
    // is at most what the server's queue holds.
    let mut interims = 0;
    let last = loop {
        let r = normalize(&c.raw_response(false).await);
        if r.starts_with("HTTP/1.1 103") {
            interims += 1;
            continue;
        }
        break r;
    };
    assert!(interims <= 8, "{interims} passed on");
    assert!(last.starts_with("HTTP/1.1 502 Bad Gateway\r\n"), "{last}");
}

#[tokio::test]
async fn a_client_that_never_reads_interim_responses_is_cut_by_the_write_timeout() {
    // The handler sends 8 KiB interim responses as fast as the connection takes them; the
    // client never reads. Each send waits for its own write, so what got through is bounded
    // by the socket buffers; then the write timeout closes the connection and the handler,
    // still sending, is dropped.
    struct Count(Arc<Mutex<Option<usize>>>, usize);
    impl Drop for Count {
        fn drop(&mut self) {
            *self.0.lock().unwrap() = Some(self.1);
        }
    }
    let sent: Arc<Mutex<Option<usize>>> = Arc::default();
    let seen = sent.clone();
    let handler = move |_req: HttpRequest| {
        let seen = seen.clone();
        async move {
            let s = nethttp::interim::sender().unwrap();
            let mut h = HeaderMap::new();
            h.insert(
                "x-pad",
                HeaderValue::from_str(&"p".repeat(8 << 10)).unwrap(),
            );
            let mut count = Count(seen, 0);
            while count.1 < 100_000 && s.send(StatusCode::EARLY_HINTS, h.clone()).await.is_ok() {
                count.1 += 1;
            }
            text_response(StatusCode::OK, "never reached")
        }
    };
    let server = Server::new().write_timeout(Duration::from_millis(300));
    let h = start(server, handler);
    let mut c = Conn::connect(h.local_addr()).await;
    c.send(get("/")).await;
    let started = std::time::Instant::now();
    let sent = loop {
        if let Some(n) = *sent.lock().unwrap() {
            break n;
        }
        assert!(started.elapsed() < LIMIT, "the handler was never stopped");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(sent > 0, "some went out before the buffers filled");
    // Loopback socket buffers hold a few MB at most: far below 100,000 × 8 KiB.
    assert!(
        sent * (8 << 10) < 64 << 20,
        "{sent} interim responses went out"
    );
    while h.live_connections() > 0 {
        assert!(started.elapsed() < LIMIT, "the connection was never closed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
