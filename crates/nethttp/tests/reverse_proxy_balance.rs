//! A reverse proxy with several upstreams: requests shared by weight in nginx's order or by
//! least connections, upstreams that refuse, drop requests or stall skipped for the next
//! where that is safe (never a non-idempotent request once sent), failing upstreams left
//! out for their `fail_timeout` and tried again by one request, "no live upstreams"
//! answered at once, a flood through failing upstreams bounded by the tries, and upgraded
//! connections counted for their whole life.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use nethttp::proxy::{Balance, ReverseProxy, ReverseProxyBuilder};
use nethttp::test::TestServer;
use nethttp::{text_response, Body, HttpRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// An upstream that answers its name and the length of the body it read, and counts its
/// requests.
struct Named {
    server: TestServer,
    calls: Arc<AtomicUsize>,
}

async fn named(name: &'static str) -> Named {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let server = TestServer::start(move |req: HttpRequest| {
        c.fetch_add(1, Ordering::SeqCst);
        async move {
            let method = req.method().clone();
            let body = req.into_body().to_bytes(1 << 20).await.unwrap_or_default();
            text_response(StatusCode::OK, format!("{name} {method} {}", body.len()))
        }
    })
    .await;
    Named { server, calls }
}

/// A loopback port nothing listens on (a listener bound and closed).
async fn dead_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

/// An upstream that reads each request's head and closes without an answer; counts them.
async fn dropper() -> (String, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = l.accept().await {
            let s = s.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                s.fetch_add(1, Ordering::SeqCst);
                let _ = sock.shutdown().await;
            });
        }
    });
    (url, seen)
}

async fn start(builder: ReverseProxyBuilder) -> (TestServer, ReverseProxy) {
    let proxy = builder.build().unwrap();
    (TestServer::start(proxy.clone()).await, proxy)
}

/// Status and body text of one request through the proxy.
async fn get(proxy: &TestServer, path: &str) -> (StatusCode, String) {
    let res = proxy.client().get(proxy.url(path)).send().await.unwrap();
    let status = res.status();
    let body = res.into_body().to_bytes(1 << 20).await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn post(proxy: &TestServer, body: impl Into<Body>, key: bool) -> (StatusCode, String) {
    let mut req = proxy.client().post(proxy.url("/")).body(body);
    if key {
        req = req.header("idempotency-key", "6f1c2a");
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let body = res.into_body().to_bytes(1 << 20).await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn requests_are_shared_by_weight_in_nginx_order() {
    let (a, b, c) = (named("a").await, named("b").await, named("c").await);
    let (proxy, handle) = start(
        ReverseProxy::builder()
            .weighted_upstream(&a.server.url("/"), 2)
            .upstream(&b.server.url("/"))
            .upstream(&c.server.url("/")),
    )
    .await;
    let mut order = String::new();
    for _ in 0..8 {
        let (status, text) = get(&proxy, "/").await;
        assert_eq!(status, StatusCode::OK);
        order.push_str(&text[..1]);
    }
    // Smooth weighted round robin over 2, 1, 1: a b c a, again.
    assert_eq!(order, "abcaabca");
    let stats = handle.upstreams();
    assert_eq!(
        stats.iter().map(|s| s.requests).collect::<Vec<_>>(),
        [4, 2, 2]
    );
    assert!(stats.iter().all(|s| s.available && s.failures == 0));
    assert_eq!(stats[0].weight, 2);
    assert_eq!(stats[0].url, a.server.url("/"));
}

#[tokio::test]
async fn a_dead_upstream_costs_no_request_and_is_left_out() {
    let live = named("live").await;
    let dead = dead_url().await;
    let (proxy, handle) = start(
        ReverseProxy::builder()
            .upstream(&dead)
            .upstream(&live.server.url("/")),
    )
    .await;
    for i in 0..6 {
        let (status, text) = get(&proxy, "/").await;
        assert_eq!(
            (status, text.as_str()),
            (StatusCode::OK, "live GET 0"),
            "GET {i}"
        );
        // Nothing was sent to the dead one: a POST goes on too, its body whole.
        let (status, text) = post(&proxy, "hello", false).await;
        assert_eq!(
            (status, text.as_str()),
            (StatusCode::OK, "live POST 5"),
            "POST {i}"
        );
    }
    let stats = handle.upstreams();
    // Tried once (its refusal left it out for 10 s), then skipped.
    assert_eq!((stats[0].requests, stats[0].failures), (1, 1));
    assert!(!stats[0].available);
    assert_eq!(stats[1].requests, 12);
    assert_eq!(live.calls.load(Ordering::SeqCst), 12);

    // The live page's JSON says so too.
    let page = nethttp::test::call(
        &nethttp::debug::handler(),
        http::Request::get("/?format=json")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let doc: serde_json::Value =
        serde_json::from_slice(&page.into_body().to_bytes(1 << 20).await.unwrap()).unwrap();
    let groups = doc["upstream_groups"].as_array().unwrap();
    let ours = groups
        .iter()
        .find(|g| g["upstreams"][0]["url"] == dead.as_str())
        .expect("the proxy's group on the page");
    let shown = &ours["upstreams"];
    assert_eq!(shown[0]["available"], false);
    assert_eq!(shown[0]["failures"], 1);
    assert_eq!(shown[1]["url"], live.server.url("/").as_str());
    assert_eq!(shown[1]["requests"], 12);
    assert_eq!(shown[1]["in_flight"], 0);
}

#[tokio::test]
async fn a_streamed_body_goes_to_the_next_upstream_when_no_connection_was_had() {
    let live = named("live").await;
    let (proxy, _handle) = start(
        ReverseProxy::builder()
            .upstream(&dead_url().await)
            .upstream(&live.server.url("/")),
    )
    .await;
    let (tx, body) = Body::channel(4);
    tokio::spawn(async move {
        for _ in 0..8 {
            tx.send_data(Bytes::from(vec![b'x'; 10_000])).await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let (status, text) = post(&proxy, body, false).await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "live POST 80000"));
}

#[tokio::test]
async fn a_dropped_request_goes_again_only_when_idempotent_and_whole() {
    let live = named("live").await;
    // A fresh proxy per case, the dropper first in turn and never left out.
    let proxy_for = |dropper: &str| {
        ReverseProxy::builder()
            .weighted_upstream(dropper, 100)
            .upstream(&live.server.url("/"))
            .max_fails(0, Duration::from_secs(10))
    };
    let (url, seen) = dropper().await;

    let (proxy, _h) = start(proxy_for(&url)).await;
    let (status, text) = get(&proxy, "/").await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "live GET 0"));
    assert_eq!(seen.load(Ordering::SeqCst), 1);

    let (proxy, _h) = start(proxy_for(&url)).await;
    let (status, _) = post(&proxy, "pay once", false).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(seen.load(Ordering::SeqCst), 2);
    assert_eq!(
        live.calls.load(Ordering::SeqCst),
        1,
        "a POST that reached an upstream must not be sent to another"
    );

    // A client's Idempotency-Key does not make it the proxy's to resend.
    let (proxy, _h) = start(proxy_for(&url)).await;
    let (status, _) = post(&proxy, "pay once", true).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(live.calls.load(Ordering::SeqCst), 1);

    // A PUT whose body came whole goes again.
    let (proxy, _h) = start(proxy_for(&url)).await;
    let res = proxy
        .client()
        .put(proxy.url("/"))
        .body("replace it")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.into_body().to_bytes(64).await.unwrap(), "live PUT 10");

    // A PUT whose body streams is not had whole: not sent again.
    let (proxy, _h) = start(proxy_for(&url)).await;
    let (tx, body) = Body::channel(2);
    tokio::spawn(async move {
        for _ in 0..3 {
            let _ = tx.send_data(Bytes::from_static(b"part")).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let res = proxy
        .client()
        .put(proxy.url("/"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(live.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_upstream_that_does_not_answer_in_time_gets_only_idempotent_requests_moved() {
    let live = named("live").await;
    let stalled = TestServer::start(|_req: HttpRequest| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        text_response(StatusCode::OK, "late")
    })
    .await;
    let transport = ReverseProxy::default_transport()
        .response_header_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let builder = || {
        ReverseProxy::builder()
            .transport(transport.clone())
            .upstream(&stalled.url("/"))
            .upstream(&live.server.url("/"))
    };
    let (proxy, handle) = start(builder()).await;
    let t0 = Instant::now();
    let (status, text) = get(&proxy, "/").await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "live GET 0"));
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert_eq!(handle.upstreams()[0].failures, 1);

    let (proxy, _h) = start(builder()).await;
    let (status, _) = post(&proxy, "x", false).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);

    // Past next_upstream_timeout, not even a GET goes to the next.
    let (proxy, _h) = start(builder().next_upstream_timeout(Duration::from_millis(100))).await;
    let (status, _) = get(&proxy, "/").await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(live.calls.load(Ordering::SeqCst), 1);
}

/// A least-connections proxy over `a` and an upstream named `b`.
async fn least_conn_over(a: &TestServer) -> (TestServer, ReverseProxy, Named) {
    let b = named("b").await;
    let (proxy, handle) = start(
        ReverseProxy::builder()
            .balance(Balance::LeastConn)
            .upstream(&a.url("/"))
            .upstream(&b.server.url("/")),
    )
    .await;
    (proxy, handle, b)
}

#[tokio::test]
async fn least_conn_sends_to_the_upstream_with_fewest_in_flight_bodies_included() {
    let release = Arc::new(Notify::new());
    let r = release.clone();
    // `a` answers /hold with a head at once and a body that waits for the release.
    let a = TestServer::start(move |req: HttpRequest| {
        let r = r.clone();
        async move {
            if req.uri().path() == "/hold" {
                let (tx, body) = Body::channel(1);
                tokio::spawn(async move {
                    r.notified().await;
                    let _ = tx.send_data(Bytes::from_static(b"done")).await;
                });
                return http::Response::new(body);
            }
            text_response(StatusCode::OK, "a")
        }
    })
    .await;
    let (proxy, handle, _b) = least_conn_over(&a).await;
    let held = proxy.client().get(proxy.url("/hold")).send().await.unwrap();
    assert_eq!(held.status(), StatusCode::OK);
    // Its head is here and its body is not: still in flight at a.
    assert_eq!(handle.upstreams()[0].in_flight, 1);
    for _ in 0..5 {
        let (_, text) = get(&proxy, "/").await;
        assert_eq!(text, "b GET 0");
    }
    release.notify_one();
    assert_eq!(&held.into_body().to_bytes(64).await.unwrap()[..], b"done");
    assert!(handle.upstreams().iter().all(|s| s.in_flight == 0));
    // Both idle: they take turns again.
    let mut names = String::new();
    for _ in 0..4 {
        names.push_str(&get(&proxy, "/").await.1[..1]);
    }
    assert_eq!(names.matches('a').count(), 2, "{names}");
}

#[tokio::test]
async fn with_every_upstream_out_requests_are_answered_502_at_once_then_one_tries() {
    let (d1, d2) = (dead_url().await, dead_url().await);
    let (proxy, handle) = start(
        ReverseProxy::builder()
            .upstream(&d1)
            .upstream(&d2)
            // Long enough for the five requests below on a loaded machine.
            .max_fails(1, Duration::from_secs(2)),
    )
    .await;
    let (status, _) = get(&proxy, "/").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    let tried = |h: &ReverseProxy| h.upstreams().iter().map(|s| s.requests).sum::<u64>();
    assert_eq!(tried(&handle), 2, "each upstream tried once");
    for _ in 0..5 {
        let (status, text) = get(&proxy, "/").await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        assert!(text.starts_with("Bad Gateway"), "{text}");
    }
    assert_eq!(tried(&handle), 2, "no upstream dialed while both are out");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, _) = get(&proxy, "/").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(tried(&handle), 4, "after fail_timeout each is tried again");
}

#[tokio::test]
async fn a_flood_through_failing_upstreams_tries_each_at_most_once_per_request() {
    let live = named("live").await;
    // Two upstreams that take each request and close without an answer: every connection
    // they accept is counted, so a resend to the same one would show.
    let (d1, seen1) = dropper().await;
    let (d2, seen2) = dropper().await;
    let (proxy, handle) = start(
        ReverseProxy::builder()
            .upstream(&d1)
            .upstream(&d2)
            .upstream(&live.server.url("/"))
            // Never left out: every request may meet both failing ones.
            .max_fails(0, Duration::from_secs(10)),
    )
    .await;
    let client = proxy.client();
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let (client, url) = (client.clone(), proxy.url("/"));
        tasks.push(tokio::spawn(async move {
            client.get(url).send().await.unwrap().status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    let stats = handle.upstreams();
    assert_eq!(stats[2].requests, 200);
    // Each failing upstream was sent a request once per pick, and picked at most once per
    // request: no resend to the same upstream, by the group or by the transport.
    let seen = [seen1.load(Ordering::SeqCst), seen2.load(Ordering::SeqCst)];
    for (i, s) in seen.iter().enumerate() {
        assert_eq!(*s as u64, stats[i].requests, "{stats:?} {seen:?}");
        assert!(*s <= 200, "{stats:?} {seen:?}");
        assert_eq!(stats[i].failures, stats[i].requests);
    }
    assert!(
        seen[0] + seen[1] >= 100,
        "round robin sent them requests: {seen:?}"
    );

    // One try: a request that meets a dead upstream fails.
    let (proxy, _h) = start(
        ReverseProxy::builder()
            .upstream(&dead_url().await)
            .upstream(&live.server.url("/"))
            .next_upstream_tries(1),
    )
    .await;
    assert_eq!(get(&proxy, "/").await.0, StatusCode::BAD_GATEWAY);
}

#[tokio::test]
async fn an_upgraded_connection_counts_in_flight_for_its_whole_life() {
    // `a` switches /echo to a byte echo.
    let a = TestServer::start(|mut req: HttpRequest| async move {
        if req.uri().path() != "/echo" {
            return text_response(StatusCode::OK, "a");
        }
        let on = nethttp::upgrade::on(&mut req);
        tokio::spawn(async move {
            if let Ok(mut io) = on.await {
                let mut buf = [0u8; 64];
                while let Ok(n) = io.read(&mut buf).await {
                    if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        });
        http::Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(http::header::UPGRADE, "echo")
            .body(Body::empty())
            .unwrap()
    })
    .await;
    let (proxy, handle, _b) = least_conn_over(&a).await;
    let mut sock = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    sock.write_all(
        b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), sock.read(&mut buf))
            .await
            .expect("the 101 in time")
            .unwrap();
        assert!(n > 0, "closed before the 101");
        head.extend_from_slice(&buf[..n]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    sock.write_all(b"ping").await.unwrap();
    let mut echo = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(10), sock.read_exact(&mut echo))
        .await
        .expect("the echo in time")
        .unwrap();
    assert_eq!(&echo, b"ping");
    // The socket is open: a is busy, and plain requests go to b.
    assert_eq!(handle.upstreams()[0].in_flight, 1);
    for _ in 0..3 {
        assert_eq!(get(&proxy, "/").await.1, "b GET 0");
    }
    drop(sock);
    let t0 = Instant::now();
    while handle.upstreams()[0].in_flight != 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the socket's place was never given back"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn statuses_named_send_idempotent_requests_on_and_count_as_failures() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let draining = TestServer::start(move |_req: HttpRequest| {
        c.fetch_add(1, Ordering::SeqCst);
        async move { text_response(StatusCode::SERVICE_UNAVAILABLE, "draining") }
    })
    .await;
    let live = named("live").await;
    let builder = || {
        ReverseProxy::builder()
            .weighted_upstream(&draining.url("/"), 100)
            .upstream(&live.server.url("/"))
            .next_upstream_statuses([StatusCode::BAD_GATEWAY, StatusCode::SERVICE_UNAVAILABLE])
    };
    let (proxy, handle) = start(builder()).await;
    let (status, text) = get(&proxy, "/").await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "live GET 0"));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let stats = handle.upstreams();
    assert_eq!((stats[0].failures, stats[0].available), (1, false));

    // A POST gets the draining upstream's answer as it is, and goes nowhere else.
    let (proxy, _h) = start(builder()).await;
    let (status, text) = post(&proxy, "x", false).await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "draining")
    );
    assert_eq!(live.calls.load(Ordering::SeqCst), 1);

    // Without the status named, the 503 is the client's.
    let (proxy, _h) = start(
        ReverseProxy::builder()
            .weighted_upstream(&draining.url("/"), 100)
            .upstream(&live.server.url("/")),
    )
    .await;
    assert_eq!(get(&proxy, "/").await.0, StatusCode::SERVICE_UNAVAILABLE);

    // When every upstream answers it, the last answer is the client's.
    let (proxy, _h) = start(
        ReverseProxy::builder()
            .upstream(&draining.url("/"))
            .upstream(&draining.url("/"))
            .next_upstream_statuses([StatusCode::SERVICE_UNAVAILABLE]),
    )
    .await;
    let before = calls.load(Ordering::SeqCst);
    let (status, text) = get(&proxy, "/").await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "draining")
    );
    assert_eq!(calls.load(Ordering::SeqCst), before + 2);
}
