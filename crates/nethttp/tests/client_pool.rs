//! The client's connection management, seen from the servers it talks to: reuse, the per-host
//! limit and its FIFO queue, stale and expiring idle connections, which failed requests are
//! sent again (and which never are), draining unread bodies, dial retries and their budget,
//! redirects, and the trace hooks.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::script::{body_of, bounded, client_with, ok, Peer, Script, IO_TIMEOUT};
use common::wire::start;
use http_body_util::BodyExt;
use nethttp::client::redirect::{Action, Policy};
use nethttp::client::{ConnectKey, DialRetry, GotConn, Trace};
use nethttp::http::{HeaderMap, Response, StatusCode};
use nethttp::{text_response, Body, Client, Error, ErrorKind, HttpRequest, HttpResponse, Server};

/// GETs `url` and returns the body as text, failing the test on any error.
async fn fetch(c: &Client, url: &str) -> String {
    let res = bounded(url, c.get(url).send()).await.unwrap();
    String::from_utf8(body_of(res).await.unwrap().to_vec()).unwrap()
}

/// Polls `cond` every few milliseconds until it holds, failing the test after [`IO_TIMEOUT`].
async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < IO_TIMEOUT,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Answers with the request path.
async fn path(req: HttpRequest) -> HttpResponse {
    text_response(StatusCode::OK, req.uri().path().to_owned())
}

// ---------------------------------------------------------------------------------------
// Reuse and the per-host limit
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn sequential_requests_share_one_connection() {
    let h = start(Server::new(), path);
    let c = Client::new();
    for i in 0..50 {
        assert_eq!(
            fetch(&c, &format!("http://{}/r{i}", h.local_addr())).await,
            format!("/r{i}")
        );
    }
    assert_eq!(h.accepted_connections(), 1);
    let st = c.pool_stats();
    assert_eq!((st.dials, st.reuses, st.idle(), st.active()), (1, 49, 1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_workers_each_keep_one_connection() {
    // The first eight requests are held until all eight are in flight, so eight connections
    // must exist; after that each worker always finds an idle one.
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let arrivals = Arc::new(AtomicUsize::new(0));
    let h = start(Server::new(), move |req: HttpRequest| {
        let (barrier, arrivals) = (barrier.clone(), arrivals.clone());
        async move {
            if arrivals.fetch_add(1, SeqCst) < 8 {
                barrier.wait().await;
            }
            path(req).await
        }
    });
    let c = Client::new();
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..8 {
        let (c, addr) = (c.clone(), h.local_addr());
        workers.spawn(async move {
            for i in 0..25 {
                let url = format!("http://{addr}/w{w}/{i}");
                assert_eq!(fetch(&c, &url).await, format!("/w{w}/{i}"));
            }
        });
    }
    bounded("workers", async {
        while let Some(r) = workers.join_next().await {
            r.unwrap();
        }
    })
    .await;
    assert_eq!(h.accepted_connections(), 8);
    let st = c.pool_stats();
    assert_eq!((st.dials, st.reuses, st.idle()), (8, 192, 8));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_limit_queues_requests_in_fifo_order() {
    // Handlers line up on a fair mutex the test holds until every request is queued, then
    // run one at a time: a connection frees up every 50 ms, and the waiter it goes to must be
    // the one that has waited longest.
    let gate = Arc::new(tokio::sync::Mutex::new(()));
    let held = gate.clone().lock_owned().await;
    let arrivals = Arc::new(Mutex::new(Vec::<usize>::new()));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (g, a, f, m) = (
        gate.clone(),
        arrivals.clone(),
        in_flight.clone(),
        most.clone(),
    );
    let h = start(Server::new(), move |req: HttpRequest| {
        let (g, a, f, m) = (g.clone(), a.clone(), f.clone(), m.clone());
        async move {
            let id: usize = req.uri().path()[3..].parse().unwrap();
            a.lock().unwrap().push(id);
            m.fetch_max(f.fetch_add(1, SeqCst) + 1, SeqCst);
            let turn = g.lock().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(turn);
            f.fetch_sub(1, SeqCst);
            text_response(StatusCode::OK, id.to_string())
        }
    });
    let c = client_with(|t| t.max_conns_per_host(2).pool_timeout(Duration::from_secs(5)));
    let mut queued = Vec::new();
    for i in 0..10 {
        let (c2, url) = (c.clone(), format!("http://{}/q/{i}", h.local_addr()));
        queued.push(tokio::spawn(async move {
            let res = c2.get(url).send().await?;
            res.into_body().to_bytes(100).await
        }));
        // Each request takes its place before the next one is made.
        if i < 2 {
            wait_until("the request reached the server", || {
                arrivals.lock().unwrap().len() == i + 1
            })
            .await;
        } else {
            wait_until("the request waits for a connection", || {
                c.pool_stats().waiting() == i - 1
            })
            .await;
        }
    }
    let st = c.pool_stats();
    assert_eq!((st.active(), st.idle(), st.waiting()), (2, 0, 8), "{st:?}");
    drop(held);
    for (i, t) in queued.into_iter().enumerate() {
        let body = bounded("queued request", t).await.unwrap().unwrap();
        assert_eq!(body, i.to_string());
    }
    assert_eq!(*arrivals.lock().unwrap(), (0..10).collect::<Vec<_>>());
    assert_eq!(most.load(SeqCst), 2, "concurrent requests at the server");
    assert_eq!(h.accepted_connections(), 2);
    assert_eq!(c.pool_stats().waiting(), 0);
}

/// A server whose `/hold` requests wait until the test adds a permit; every request is
/// counted on arrival.
fn holding_server() -> (
    nethttp::ServerHandle,
    Arc<tokio::sync::Semaphore>,
    Arc<AtomicUsize>,
) {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let arrived = Arc::new(AtomicUsize::new(0));
    let (g, a) = (gate.clone(), arrived.clone());
    let h = start(Server::new(), move |req: HttpRequest| {
        let (g, a) = (g.clone(), a.clone());
        async move {
            a.fetch_add(1, SeqCst);
            if req.uri().path() == "/hold" {
                g.acquire().await.unwrap().forget();
            }
            path(req).await
        }
    });
    (h, gate, arrived)
}

#[tokio::test]
async fn a_cancelled_waiter_gives_its_place_back() {
    let (h, gate, arrived) = holding_server();
    let addr = h.local_addr();
    let c = client_with(|t| t.max_conns_per_host(1).pool_timeout(Duration::from_secs(5)));
    let c2 = c.clone();
    let holder = tokio::spawn(async move { fetch(&c2, &format!("http://{addr}/hold")).await });
    wait_until("the holder reached the server", || {
        arrived.load(SeqCst) == 1
    })
    .await;
    for _ in 0..3 {
        let r = tokio::time::timeout(
            Duration::from_millis(50),
            c.get(format!("http://{addr}/cancelled")).send(),
        )
        .await;
        assert!(r.is_err(), "the host limit let a second request through");
    }
    assert_eq!(
        c.pool_stats().waiting(),
        0,
        "cancelled waiters still counted"
    );
    gate.add_permits(1);
    assert_eq!(bounded("holder", holder).await.unwrap(), "/hold");
    let start = Instant::now();
    assert_eq!(fetch(&c, &format!("http://{addr}/after")).await, "/after");
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(h.accepted_connections(), 1);
    assert_eq!(
        arrived.load(SeqCst),
        2,
        "no cancelled request reached the server"
    );
}

#[tokio::test]
async fn a_cancelled_request_frees_its_connection_slot() {
    let (h, gate, arrived) = holding_server();
    let addr = h.local_addr();
    let c = client_with(|t| t.max_conns_per_host(1).pool_timeout(Duration::from_secs(5)));
    // Cancelled while waiting for its response head: its connection is closed and the slot
    // freed, so the next request dials at once.
    let r = tokio::time::timeout(
        Duration::from_millis(200),
        c.get(format!("http://{addr}/hold")).send(),
    )
    .await;
    assert!(r.is_err());
    assert_eq!(arrived.load(SeqCst), 1);
    let start = Instant::now();
    assert_eq!(fetch(&c, &format!("http://{addr}/next")).await, "/next");
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(h.accepted_connections(), 2);
    gate.add_permits(1);
}

#[tokio::test]
async fn waiting_past_the_pool_timeout_fails() {
    let (h, gate, arrived) = holding_server();
    let addr = h.local_addr();
    let c = client_with(|t| {
        t.max_conns_per_host(1)
            .pool_timeout(Duration::from_millis(200))
    });
    let c2 = c.clone();
    let holder = tokio::spawn(async move { fetch(&c2, &format!("http://{addr}/hold")).await });
    wait_until("the holder reached the server", || {
        arrived.load(SeqCst) == 1
    })
    .await;
    let start = Instant::now();
    let e = bounded("GET", c.get(format!("http://{addr}/late")).send())
        .await
        .unwrap_err();
    let took = start.elapsed();
    assert_eq!(e.kind(), ErrorKind::PoolTimeout, "{e}");
    assert!(e.is_timeout() && !e.is_connect());
    assert!(
        took >= Duration::from_millis(190) && took < Duration::from_secs(2),
        "{took:?}"
    );
    gate.add_permits(1);
    assert_eq!(bounded("holder", holder).await.unwrap(), "/hold");
    assert_eq!(arrived.load(SeqCst), 1);
}

// ---------------------------------------------------------------------------------------
// Stale connections and which failed requests are sent again
// ---------------------------------------------------------------------------------------

/// Answers `ok("fine")`, and closes a connection left idle for 100 ms without saying so
/// beforehand (no `Keep-Alive` hint, no `Connection: close`).
async fn idle_closer() -> Script {
    Script::start(|mut p: Peer| async move {
        while let Ok(Some(_)) =
            tokio::time::timeout(Duration::from_millis(100), p.read_request()).await
        {
            if !p.write(ok("fine")).await {
                return;
            }
        }
    })
    .await
}

#[tokio::test]
async fn connections_closed_while_idle_are_detected_before_use() {
    let s = idle_closer().await;
    let c = Client::new();
    for _ in 0..5 {
        assert_eq!(fetch(&c, &s.url("/g")).await, "fine");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let st = c.pool_stats();
    assert_eq!(st.stale, 4, "{st:?}");
    assert_eq!(st.dials, 5);
    assert_eq!(s.accepted(), 5);
    assert_eq!(
        s.requests().len(),
        5,
        "no request was sent on a dead connection"
    );
}

#[tokio::test]
async fn posts_to_a_server_closing_idle_connections_arrive_once_each() {
    let s = idle_closer().await;
    let c = Client::new();
    for i in 0..3 {
        let res = c.post(s.url("/p")).body(format!("post {i}")).send();
        assert_eq!(
            body_of(bounded("POST", res).await.unwrap()).await.unwrap(),
            "fine"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let bodies: Vec<Vec<u8>> = s.requests().into_iter().map(|r| r.body).collect();
    assert_eq!(bodies, [&b"post 0"[..], b"post 1", b"post 2"]);
    assert!(c.pool_stats().stale >= 2);
}

/// Connection 0 answers its first request, then reads the second one whole and closes
/// without a word: the server closed an idle connection just as the request went out. Later
/// connections answer everything with `ok("again")`.
async fn closes_as_the_second_request_arrives() -> Script {
    Script::start(|mut p: Peer| async move {
        if p.index == 0 {
            if p.read_request().await.is_some() {
                p.write(ok("first")).await;
            }
            p.read_request().await;
            return;
        }
        while p.read_request().await.is_some() {
            if !p.write(ok("again")).await {
                return;
            }
        }
    })
    .await
}

/// The (method, target, connection) of each request the server read.
fn seen(s: &Script) -> Vec<(String, String, usize)> {
    s.requests()
        .iter()
        .map(|r| (r.method().to_owned(), r.target().to_owned(), r.conn))
        .collect()
}

fn triple(m: &str, t: &str, c: usize) -> (String, String, usize) {
    (m.to_owned(), t.to_owned(), c)
}

#[tokio::test]
async fn an_idempotent_request_lost_on_a_reused_connection_is_resent() {
    let s = closes_as_the_second_request_arrives().await;
    let c = Client::new();
    assert_eq!(fetch(&c, &s.url("/1")).await, "first");
    assert_eq!(fetch(&c, &s.url("/2")).await, "again");
    assert_eq!(
        seen(&s),
        [
            triple("GET", "/1", 0),
            triple("GET", "/2", 0),
            triple("GET", "/2", 1)
        ]
    );
}

#[tokio::test]
async fn a_post_lost_on_a_reused_connection_is_not_resent() {
    let s = closes_as_the_second_request_arrives().await;
    let c = Client::new();
    assert_eq!(fetch(&c, &s.url("/1")).await, "first");
    let e = bounded("POST", c.post(s.url("/2")).body("data").send())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::IncompleteMessage, "{e}");
    assert!(
        e.to_string()
            .contains("not retried because the method is not idempotent"),
        "{e}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(seen(&s), [triple("GET", "/1", 0), triple("POST", "/2", 0)]);
}

#[tokio::test]
async fn a_post_with_an_idempotency_key_is_resent() {
    let s = closes_as_the_second_request_arrives().await;
    let c = Client::new();
    assert_eq!(fetch(&c, &s.url("/1")).await, "first");
    let res = c
        .post(s.url("/2"))
        .header("idempotency-key", "8e03978e")
        .body("data")
        .send();
    assert_eq!(
        body_of(bounded("POST", res).await.unwrap()).await.unwrap(),
        "again"
    );
    let reqs = s.requests();
    assert_eq!(
        seen(&s),
        [
            triple("GET", "/1", 0),
            triple("POST", "/2", 0),
            triple("POST", "/2", 1)
        ]
    );
    assert_eq!(reqs[1].raw, reqs[2].raw, "the same request, byte for byte");
}

#[tokio::test]
async fn a_streamed_body_lost_on_a_reused_connection_is_not_resent() {
    let s = closes_as_the_second_request_arrives().await;
    let c = Client::new();
    assert_eq!(fetch(&c, &s.url("/1")).await, "first");
    let (tx, body) = Body::channel(2);
    tokio::spawn(async move {
        let _ = tx.send_data("streamed").await;
    });
    let e = bounded("PUT", c.put(s.url("/2")).body(body).send())
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("not retried because the body cannot be sent again"),
        "{e}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(seen(&s), [triple("GET", "/1", 0), triple("PUT", "/2", 0)]);
    assert_eq!(s.requests()[1].body, b"streamed");
}

#[tokio::test]
async fn a_response_header_timeout_on_a_reused_connection_is_not_resent() {
    // The server took the request and is slow: sending it again doubles its load and the
    // caller's wait. Only a connection found dead is a reason to resend.
    let s = Script::start(|mut p: Peer| async move {
        if p.index == 0 && p.read_request().await.is_some() {
            p.write(ok("first")).await;
        }
        while p.read_request().await.is_some() {}
    })
    .await;
    let c = client_with(|t| t.response_header_timeout(Duration::from_millis(300)));
    assert_eq!(fetch(&c, &s.url("/1")).await, "first");
    let start = Instant::now();
    let e = bounded("GET", c.get(s.url("/2")).send()).await.unwrap_err();
    let took = start.elapsed();
    assert_eq!(e.kind(), ErrorKind::ResponseHeaderTimeout, "{e}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        seen(&s),
        [triple("GET", "/1", 0), triple("GET", "/2", 0)],
        "the timed-out request was sent again (failed after {took:?})"
    );
}

// ---------------------------------------------------------------------------------------
// Idle expiry
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_servers_keep_alive_hint_retires_connections_before_it_closes_them() {
    // The server advertises `keep-alive: timeout=2` and closes idle connections at 2 s.
    let h = start(Server::new().idle_timeout(Duration::from_secs(2)), path);
    let url = format!("http://{}/k", h.local_addr());
    let c = Client::new();
    let res = bounded("GET", c.get(&url).send()).await.unwrap();
    assert_eq!(res.headers()["keep-alive"], "timeout=2");
    body_of(res).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(fetch(&c, &url).await, "/k");
    assert_eq!(h.accepted_connections(), 1, "reused well within the hint");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let st = c.pool_stats();
    assert_eq!(
        (st.idle(), st.closes),
        (0, 1),
        "retired before the server's close: {st:?}"
    );
    assert_eq!(fetch(&c, &url).await, "/k");
    assert_eq!(h.accepted_connections(), 2);
    assert_eq!(c.pool_stats().dials, 2);
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    let closed_after = Arc::new(Mutex::new(None));
    let log = closed_after.clone();
    let s = Script::start(move |mut p: Peer| {
        let log = log.clone();
        async move {
            if p.read_request().await.is_some() {
                p.write(ok("idle")).await;
                *log.lock().unwrap() = Some(p.wait_closed(Duration::from_secs(2)).await);
            }
        }
    })
    .await;
    let c = client_with(|t| t.idle_timeout(Duration::from_millis(200)));
    assert_eq!(fetch(&c, &s.url("/")).await, "idle");
    assert_eq!(c.pool_stats().idle(), 1);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let st = c.pool_stats();
    assert_eq!((st.idle(), st.closes), (0, 1), "{st:?}");
    wait_until("the server saw the close", || {
        closed_after.lock().unwrap().is_some()
    })
    .await;
    let after = closed_after.lock().unwrap().unwrap();
    let after = after.expect("the client closed the idle connection");
    assert!(
        after >= Duration::from_millis(150) && after <= Duration::from_millis(450),
        "closed {after:?} after the response"
    );
}

/// Answers `ok("kept?")` and records, per connection, whether the client closed it within
/// `within` of the response.
async fn close_watcher(within: Duration) -> (Script, Arc<Mutex<Vec<bool>>>) {
    let closed = Arc::new(Mutex::new(Vec::new()));
    let log = closed.clone();
    let s = Script::start(move |mut p: Peer| {
        let log = log.clone();
        async move {
            if p.read_request().await.is_some() {
                p.write(ok("kept?")).await;
                let eof = p.wait_closed(within).await;
                log.lock().unwrap().push(eof.is_some());
            }
        }
    })
    .await;
    (s, closed)
}

#[tokio::test]
async fn a_zero_idle_timeout_keeps_no_idle_connection() {
    let (s, closed) = close_watcher(Duration::from_millis(500)).await;
    let c = client_with(|t| t.idle_timeout(Duration::ZERO));
    for _ in 0..2 {
        assert_eq!(fetch(&c, &s.url("/")).await, "kept?");
        assert_eq!(c.pool_stats().idle(), 0);
    }
    assert_eq!(s.accepted(), 2);
    wait_until("both connections are reported", || {
        closed.lock().unwrap().len() == 2
    })
    .await;
    assert_eq!(*closed.lock().unwrap(), [true, true]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_beyond_the_per_host_limit_are_closed() {
    // Three requests at once make three connections; only one may stay idle.
    let barrier = Arc::new(tokio::sync::Barrier::new(3));
    let b = barrier.clone();
    let h = start(Server::new(), move |req: HttpRequest| {
        let b = b.clone();
        async move {
            b.wait().await;
            path(req).await
        }
    });
    let c = client_with(|t| t.max_idle_per_host(1));
    let mut reqs = tokio::task::JoinSet::new();
    for i in 0..3 {
        let (c, url) = (c.clone(), format!("http://{}/{i}", h.local_addr()));
        reqs.spawn(async move { fetch(&c, &url).await });
    }
    bounded("requests", async {
        while let Some(r) = reqs.join_next().await {
            r.unwrap();
        }
    })
    .await;
    let st = c.pool_stats();
    assert_eq!((st.dials, st.idle(), st.closes), (3, 1, 2), "{st:?}");
    assert_eq!(st.hosts.len(), 1);
    assert_eq!(st.hosts[0].key, format!("http://{}", h.local_addr()));
}

#[tokio::test]
async fn close_idle_connections_closes_them_now() {
    let (s, closed) = close_watcher(Duration::from_secs(2)).await;
    let c = Client::new();
    assert_eq!(fetch(&c, &s.url("/")).await, "kept?");
    assert_eq!(c.pool_stats().idle(), 1);
    c.transport().close_idle_connections();
    let st = c.pool_stats();
    assert_eq!((st.idle(), st.closes), (0, 1), "{st:?}");
    wait_until("the server saw the close", || {
        closed.lock().unwrap().len() == 1
    })
    .await;
    assert_eq!(*closed.lock().unwrap(), [true]);
    assert_eq!(fetch(&c, &s.url("/")).await, "kept?");
    assert_eq!(s.accepted(), 2);
}

// ---------------------------------------------------------------------------------------
// Bodies dropped unread
// ---------------------------------------------------------------------------------------

fn big_bodies_server() -> nethttp::ServerHandle {
    start(Server::new(), |req: HttpRequest| async move {
        match req.uri().path() {
            "/100k" => Response::new(Body::from(vec![b'a'; 100 * 1024])),
            "/1m" => Response::new(Body::from(vec![b'b'; 1024 * 1024])),
            "/chunked" => {
                let (tx, body) = Body::channel(1);
                tokio::spawn(async move {
                    for _ in 0..20 {
                        if tx.send_data(vec![b'c'; 4096]).await.is_err() {
                            return;
                        }
                    }
                });
                Response::new(body)
            }
            p => text_response(StatusCode::OK, p.to_owned()),
        }
    })
}

#[tokio::test]
async fn a_dropped_body_under_the_drain_limit_keeps_its_connection() {
    let h = big_bodies_server();
    let c = Client::new();
    let res = bounded(
        "GET",
        c.get(format!("http://{}/100k", h.local_addr())).send(),
    )
    .await
    .unwrap();
    drop(res);
    wait_until("the drained connection is idle", || {
        c.pool_stats().idle() == 1
    })
    .await;
    assert_eq!(
        fetch(&c, &format!("http://{}/small", h.local_addr())).await,
        "/small"
    );
    assert_eq!(h.accepted_connections(), 1);
}

#[tokio::test]
async fn the_next_request_waits_for_a_draining_connection_at_the_host_limit() {
    let h = big_bodies_server();
    let c = client_with(|t| t.max_conns_per_host(1));
    let res = bounded(
        "GET",
        c.get(format!("http://{}/100k", h.local_addr())).send(),
    )
    .await
    .unwrap();
    drop(res);
    assert_eq!(
        fetch(&c, &format!("http://{}/small", h.local_addr())).await,
        "/small"
    );
    assert_eq!(h.accepted_connections(), 1);
}

#[tokio::test]
async fn a_dropped_body_over_the_drain_limit_closes_its_connection() {
    let h = big_bodies_server();
    let c = Client::new();
    let res = bounded("GET", c.get(format!("http://{}/1m", h.local_addr())).send())
        .await
        .unwrap();
    drop(res);
    let st = c.pool_stats();
    assert_eq!((st.idle(), st.active(), st.closes), (0, 0, 1), "{st:?}");
    assert_eq!(
        fetch(&c, &format!("http://{}/small", h.local_addr())).await,
        "/small"
    );
    assert_eq!(h.accepted_connections(), 2);
}

#[tokio::test]
async fn a_zero_drain_limit_closes_at_once() {
    let h = big_bodies_server();
    let c = client_with(|t| t.drain_limits(0, Duration::from_secs(2)));
    let res = bounded(
        "GET",
        c.get(format!("http://{}/100k", h.local_addr())).send(),
    )
    .await
    .unwrap();
    drop(res);
    assert_eq!(
        fetch(&c, &format!("http://{}/small", h.local_addr())).await,
        "/small"
    );
    assert_eq!(h.accepted_connections(), 2);
}

#[tokio::test]
async fn a_chunked_body_dropped_partway_keeps_its_connection() {
    let h = big_bodies_server();
    let c = Client::new();
    let res = bounded(
        "GET",
        c.get(format!("http://{}/chunked", h.local_addr())).send(),
    )
    .await
    .unwrap();
    let mut body = res.into_body();
    let first = bounded("frame", body.frame()).await.unwrap().unwrap();
    assert!(!first.into_data().unwrap().is_empty());
    drop(body);
    wait_until("the drained connection is idle", || {
        c.pool_stats().idle() == 1
    })
    .await;
    assert_eq!(
        fetch(&c, &format!("http://{}/small", h.local_addr())).await,
        "/small"
    );
    assert_eq!(h.accepted_connections(), 1);
}

// ---------------------------------------------------------------------------------------
// Dialing
// ---------------------------------------------------------------------------------------

/// Records every trace event as a line of text.
#[derive(Default)]
struct Events(Mutex<Vec<String>>);

impl Events {
    fn push(&self, e: impl Into<String>) {
        self.0.lock().unwrap().push(e.into());
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    fn count(&self, prefix: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.starts_with(prefix))
            .count()
    }
}

impl Trace for Events {
    fn get_conn(&self, _key: &ConnectKey) {
        self.push("get_conn");
    }
    fn got_conn(&self, info: &GotConn) {
        self.push(format!(
            "got_conn reused={} was_idle={}",
            info.reused, info.was_idle
        ));
    }
    fn dns_start(&self, host: &str) {
        self.push(format!("dns_start {host}"));
    }
    fn dns_done(&self, _addrs: &[SocketAddr], err: Option<&std::io::Error>) {
        self.push(format!("dns_done ok={}", err.is_none()));
    }
    fn connect_start(&self, _addr: SocketAddr) {
        self.push("connect_start");
    }
    fn connect_done(&self, _addr: SocketAddr, err: Option<&std::io::Error>) {
        self.push(format!("connect_done ok={}", err.is_none()));
    }
    fn wrote_request(&self, err: Option<&Error>) {
        self.push(format!("wrote_request ok={}", err.is_none()));
    }
    fn got_first_response_byte(&self) {
        self.push("got_first_response_byte");
    }
}

/// A loopback address where nothing listens (a port just released).
fn refused_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

#[tokio::test]
async fn refused_dials_are_retried_with_backoff_then_fail() {
    let addr = refused_addr();
    let c = client_with(|t| {
        t.dial_retry(DialRetry {
            max_retries: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        })
    });
    let events = Arc::new(Events::default());
    let start = Instant::now();
    let e = bounded(
        "GET",
        c.get(format!("http://{addr}/"))
            .trace(events.clone())
            .send(),
    )
    .await
    .unwrap_err();
    let took = start.elapsed();
    assert_eq!(e.kind(), ErrorKind::Connect, "{e}");
    assert!(e.is_connect() && !e.is_timeout());
    assert_eq!(events.count("connect_start"), 4, "{:?}", events.take());
    assert_eq!(events.count("connect_done ok=false"), 4);
    // Backoffs of 50-100, 100-200 and 200-400 ms.
    assert!(
        took >= Duration::from_millis(340) && took < Duration::from_secs(2),
        "{took:?}"
    );
}

#[tokio::test]
async fn without_dial_retries_a_refused_dial_fails_at_once() {
    let addr = refused_addr();
    let c = client_with(|t| {
        t.dial_retry(DialRetry {
            max_retries: 0,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(1),
        })
    });
    let events = Arc::new(Events::default());
    let start = Instant::now();
    let e = bounded(
        "GET",
        c.get(format!("http://{addr}/"))
            .trace(events.clone())
            .send(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connect, "{e}");
    assert_eq!(events.count("connect_start"), 1);
    // One retry would have waited at least 500 ms.
    assert!(start.elapsed() < Duration::from_millis(500));
}

#[tokio::test]
async fn a_dial_retry_reaches_a_listener_that_appears_late() {
    let addr = refused_addr();
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let l = tokio::net::TcpListener::bind(addr).await.unwrap();
        Script::serve(l, |mut p: Peer| async move {
            while p.read_request().await.is_some() {
                p.write(ok("late")).await;
            }
        })
    });
    let c = client_with(|t| {
        t.dial_retry(DialRetry {
            max_retries: 6,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(400),
        })
    });
    let events = Arc::new(Events::default());
    let res = c
        .get(format!("http://{addr}/"))
        .trace(events.clone())
        .send();
    let res = bounded("GET", res).await.unwrap();
    assert_eq!(body_of(res).await.unwrap(), "late");
    let s = late.await.unwrap();
    assert_eq!(s.accepted(), 1);
    let starts = events.count("connect_start");
    assert!(starts >= 2, "{:?}", events.take());
    assert_eq!(events.count("connect_done ok=false"), starts - 1);
}

#[tokio::test]
async fn the_retry_budget_caps_dial_retries() {
    let addr = refused_addr();
    // No share of requests, a floor of one retry per minute.
    let c = client_with(|t| {
        t.dial_retry(DialRetry {
            max_retries: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(10),
        })
        .retry_budget(0.0, 1, Duration::from_secs(60))
    });
    for expected in [2, 1] {
        let events = Arc::new(Events::default());
        let r = c
            .get(format!("http://{addr}/"))
            .trace(events.clone())
            .send();
        let e = bounded("GET", r).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Connect);
        assert_eq!(events.count("connect_start"), expected);
    }
}

// ---------------------------------------------------------------------------------------
// Redirects
// ---------------------------------------------------------------------------------------

/// One request as a redirecting server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: HeaderMap,
    body: Bytes,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// A server of redirects: `/s/CODE` answers CODE with `Location: /target`; `/loop/N` and
/// `/chain/N` redirect to N+1 (the chain ends at 10); `/a/b/c` redirects to `../d/e?x=1`;
/// `/away?to=URL` redirects to URL; `/same` to `/landing`. Every request is logged.
fn redirect_server() -> (nethttp::ServerHandle, Log) {
    let log: Log = Arc::default();
    let l = log.clone();
    let h = start(Server::new(), move |req: HttpRequest| {
        let l = l.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = body.to_bytes(1 << 20).await.unwrap_or_default();
            let target = parts.uri.path_and_query().unwrap().as_str().to_owned();
            l.lock().unwrap().push(Seen {
                method: parts.method.to_string(),
                target: target.clone(),
                headers: parts.headers.clone(),
                body,
            });
            let redirect = |code: u16, to: String| {
                Response::builder()
                    .status(code)
                    .header("location", to)
                    .body(Body::empty())
                    .unwrap()
            };
            let path = parts.uri.path();
            if let Some(code) = path.strip_prefix("/s/") {
                return redirect(code.parse().unwrap(), "/target".into());
            }
            if let Some(n) = path.strip_prefix("/loop/") {
                let n: u32 = n.parse().unwrap();
                return redirect(302, format!("/loop/{}", n + 1));
            }
            if let Some(n) = path.strip_prefix("/chain/") {
                let n: u32 = n.parse().unwrap();
                if n < 10 {
                    return redirect(302, format!("/chain/{}", n + 1));
                }
                return text_response(StatusCode::OK, "end");
            }
            match path {
                "/a/b/c" => redirect(302, "../d/e?x=1".into()),
                "/away" => redirect(302, parts.uri.query().unwrap()[3..].to_owned()),
                "/same" => redirect(302, "/landing".into()),
                _ => text_response(StatusCode::OK, format!("at {target}")),
            }
        }
    });
    (h, log)
}

fn last(log: &Log) -> Seen {
    log.lock().unwrap().last().cloned().unwrap()
}

#[tokio::test]
async fn redirects_301_302_303_turn_a_post_into_a_get_without_body() {
    let (h, log) = redirect_server();
    let c = Client::new();
    for code in [301, 302, 303] {
        let res = c
            .post(format!("http://{}/s/{code}", h.local_addr()))
            .header("content-type", "text/plain")
            .body("payload")
            .send();
        let res = bounded("POST", res).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(body_of(res).await.unwrap(), "at /target");
        let seen = log.lock().unwrap().clone();
        let [.., first, next] = &seen[..] else {
            panic!("{seen:?}")
        };
        assert_eq!((&*first.method, &*first.body), ("POST", &b"payload"[..]));
        assert_eq!((&*next.method, &*next.target), ("GET", "/target"), "{code}");
        assert!(next.body.is_empty());
        for h in ["content-length", "content-type", "transfer-encoding"] {
            assert!(!next.headers.contains_key(h), "{code}: {h} kept");
        }
    }
    assert_eq!(h.accepted_connections(), 1);
}

#[tokio::test]
async fn redirects_307_308_keep_the_method_and_body() {
    let (h, log) = redirect_server();
    let c = Client::new();
    for code in [307, 308] {
        let res = c
            .post(format!("http://{}/s/{code}", h.local_addr()))
            .header("content-type", "text/plain")
            .body("payload")
            .send();
        let res = bounded("POST", res).await.unwrap();
        assert_eq!(body_of(res).await.unwrap(), "at /target");
        let next = last(&log);
        assert_eq!(
            (&*next.method, &*next.target),
            ("POST", "/target"),
            "{code}"
        );
        assert_eq!(next.body, "payload");
        assert_eq!(next.headers["content-length"], "7");
        assert_eq!(next.headers["content-type"], "text/plain");
    }
}

#[tokio::test]
async fn a_307_with_a_streamed_body_is_returned_as_is() {
    let (h, log) = redirect_server();
    let c = Client::new();
    let (tx, body) = Body::channel(1);
    tokio::spawn(async move {
        let _ = tx.send_data("once").await;
    });
    let res = c
        .put(format!("http://{}/s/307", h.local_addr()))
        .body(body)
        .send();
    let res = bounded("PUT", res).await.unwrap();
    assert_eq!(res.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(res.headers()["location"], "/target");
    assert_eq!(log.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn credentials_are_dropped_on_a_redirect_to_another_host() {
    let (a, a_log) = redirect_server();
    let (b, b_log) = redirect_server();
    let c = Client::new();
    let port = a.local_addr().port();
    for to in [
        format!("http://{}/landing", b.local_addr()),
        // Same port, another host name.
        format!("http://localhost:{port}/landing"),
    ] {
        let res = c
            .get(format!("http://{}/away?to={to}", a.local_addr()))
            .header("authorization", "Bearer secret")
            .header("cookie", "session=1")
            .header("x-other", "kept")
            .send();
        let res = bounded("GET", res).await.unwrap();
        assert_eq!(body_of(res).await.unwrap(), "at /landing");
        let log = if to.contains("localhost") {
            &a_log
        } else {
            &b_log
        };
        let landed = last(log);
        assert_eq!(landed.target, "/landing");
        assert!(!landed.headers.contains_key("authorization"), "{to}");
        assert!(!landed.headers.contains_key("cookie"), "{to}");
        assert_eq!(landed.headers["x-other"], "kept");
    }
}

#[tokio::test]
async fn credentials_are_kept_on_a_redirect_to_the_same_host() {
    let (h, log) = redirect_server();
    let c = Client::new();
    let res = c
        .get(format!("http://{}/same", h.local_addr()))
        .header("authorization", "Bearer secret")
        .header("cookie", "session=1")
        .send();
    assert_eq!(
        body_of(bounded("GET", res).await.unwrap()).await.unwrap(),
        "at /landing"
    );
    let landed = last(&log);
    assert_eq!(landed.headers["authorization"], "Bearer secret");
    assert_eq!(landed.headers["cookie"], "session=1");
}

#[tokio::test]
async fn ten_redirects_are_followed_and_the_eleventh_is_an_error() {
    let (h, log) = redirect_server();
    let c = Client::new();
    assert_eq!(
        fetch(&c, &format!("http://{}/chain/0", h.local_addr())).await,
        "end"
    );
    assert_eq!(log.lock().unwrap().len(), 11);
    log.lock().unwrap().clear();
    let e = bounded(
        "GET",
        c.get(format!("http://{}/loop/0", h.local_addr())).send(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Redirect, "{e}");
    assert!(e.is_redirect());
    assert_eq!(log.lock().unwrap().len(), 11);
    // Every hop reused the one connection.
    assert_eq!(h.accepted_connections(), 1);
}

#[tokio::test]
async fn a_lower_limit_is_honoured() {
    let (h, log) = redirect_server();
    let c = Client::builder()
        .redirect(Policy::limited(2))
        .build()
        .unwrap();
    let e = bounded(
        "GET",
        c.get(format!("http://{}/chain/0", h.local_addr())).send(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Redirect, "{e}");
    assert_eq!(log.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn policy_none_returns_the_redirect() {
    let (h, log) = redirect_server();
    let c = Client::builder().redirect(Policy::none()).build().unwrap();
    let res = bounded(
        "GET",
        c.get(format!("http://{}/s/302", h.local_addr())).send(),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(res.headers()["location"], "/target");
    assert_eq!(log.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_custom_policy_can_stop() {
    let (h, log) = redirect_server();
    let c = Client::builder()
        .redirect(Policy::custom(|a| {
            if a.next.path() == "/chain/3" {
                Action::Stop
            } else {
                Action::Follow
            }
        }))
        .build()
        .unwrap();
    let res = bounded(
        "GET",
        c.get(format!("http://{}/chain/0", h.local_addr())).send(),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(res.headers()["location"], "/chain/3");
    assert_eq!(log.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_relative_location_is_resolved_against_the_request() {
    let (h, log) = redirect_server();
    let c = Client::new();
    assert_eq!(
        fetch(&c, &format!("http://{}/a/b/c", h.local_addr())).await,
        "at /a/d/e?x=1"
    );
    assert_eq!(last(&log).target, "/a/d/e?x=1");
}

// ---------------------------------------------------------------------------------------
// Trace
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn trace_reports_a_new_then_a_reused_connection() {
    let h = start(Server::new(), path);
    let url = format!("http://{}/t", h.local_addr());
    let c = Client::new();
    let events = Arc::new(Events::default());
    for _ in 0..2 {
        let res = c.get(&url).trace(events.clone()).send();
        body_of(bounded("GET", res).await.unwrap()).await.unwrap();
    }
    let all = events.take();
    let (first, second) = all.split_at(6.min(all.len()));
    assert_eq!(
        first,
        [
            "get_conn",
            "connect_start",
            "connect_done ok=true",
            "got_conn reused=false was_idle=false",
            "wrote_request ok=true",
            "got_first_response_byte",
        ],
        "{all:?}"
    );
    assert_eq!(
        second,
        [
            "get_conn",
            "got_conn reused=true was_idle=true",
            "wrote_request ok=true",
            "got_first_response_byte",
        ],
        "{all:?}"
    );
}
