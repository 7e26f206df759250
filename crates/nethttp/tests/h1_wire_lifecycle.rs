//! Raw-TCP tests of a connection's and the server's life: a panicking handler (500, close, the
//! server lives on), `max_connections`, the connection-state hook's sequence, and graceful
//! shutdown (idle connections closed, new ones refused, in-flight requests finished).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::wire::{error_response, ok_text, ok_text_close, start, Conn, StateLog, IO_TIMEOUT};
use nethttp::http::StatusCode;
use nethttp::{text_response, ConnState, HttpRequest, HttpResponse, Server};
use tokio::sync::Notify;

async fn path_only(req: HttpRequest) -> HttpResponse {
    text_response(StatusCode::OK, req.uri().path().to_string())
}

#[tokio::test]
async fn panicking_handler_gets_500_and_the_server_lives_on() {
    let handle = start(Server::new(), |req: HttpRequest| async move {
        if req.uri().path() == "/panic" {
            panic!("handler panic (expected by the test)");
        }
        text_response(StatusCode::OK, req.uri().path().to_string())
    });
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\nGET /panic HTTP/1.1\r\nHost: x\r\n\r\nGET /never HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    assert_eq!(c.response().await, ok_text("/ok"));
    assert_eq!(
        c.response().await,
        error_response("500 Internal Server Error", "internal server error")
    );
    c.expect_eof().await;

    // Other connections, new and already open, are still served.
    let mut d = Conn::connect(handle.local_addr()).await;
    d.send("GET /after HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(d.response().await, ok_text("/after"));
    let mut e = Conn::connect(handle.local_addr()).await;
    e.send("GET /panic HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(
        e.response().await,
        error_response("500 Internal Server Error", "internal server error")
    );
    d.send("GET /again HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(d.response().await, ok_text("/again"));
}

#[tokio::test]
async fn max_connections_holds_newcomers_until_a_slot_frees() {
    let handle = start(Server::new().max_connections(Some(1)), path_only);
    let mut a = Conn::connect(handle.local_addr()).await;
    a.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(a.response().await, ok_text("/a"));

    // The kernel completes the handshake (backlog), but the server does not serve it.
    let mut b = Conn::connect(handle.local_addr()).await;
    b.send("GET /b HTTP/1.1\r\nHost: x\r\n\r\n").await;
    b.expect_silence(Duration::from_millis(300)).await;
    assert_eq!(handle.live_connections(), 1);

    drop(a);
    assert_eq!(b.response().await, ok_text("/b"));
    assert_eq!(handle.accepted_connections(), 2);
}

#[tokio::test]
async fn conn_state_hook_reports_the_life_cycle() {
    let log = StateLog::default();
    let handle = start(Server::new().conn_state_hook(log.hook()), path_only);
    let mut c = Conn::connect(handle.local_addr()).await;
    let peer = c.local_addr();
    for path in ["/1", "/2"] {
        c.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"))
            .await;
        assert_eq!(c.response().await, ok_text(path));
    }
    drop(c);
    log.wait_closed(peer, IO_TIMEOUT)
        .await
        .expect("Closed reported");
    use ConnState::*;
    assert_eq!(log.states(peer), [New, Active, Idle, Active, Idle, Closed]);

    // A connection closed by a rejected request: New, Active, Closed.
    let mut c = Conn::connect(handle.local_addr()).await;
    let peer = c.local_addr();
    c.send("GET / HTTP/1.1\r\n\r\n").await;
    assert_eq!(
        c.response().await,
        error_response("400 Bad Request", "missing Host header")
    );
    c.expect_eof().await;
    log.wait_closed(peer, IO_TIMEOUT)
        .await
        .expect("Closed reported");
    assert_eq!(log.states(peer), [New, Active, Closed]);
}

#[tokio::test]
async fn graceful_shutdown_closes_idle_refuses_new_and_finishes_in_flight() {
    let started = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let (s, r) = (started.clone(), release.clone());
    let handle = start(Server::new(), move |req: HttpRequest| {
        let (s, r) = (s.clone(), r.clone());
        async move {
            if req.uri().path() == "/slow" {
                s.notify_one();
                r.notified().await;
            }
            text_response(StatusCode::OK, req.uri().path().to_string())
        }
    });
    let addr = handle.local_addr();
    let mut idle = Conn::connect(addr).await;
    idle.send("GET /fast HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(idle.response().await, ok_text("/fast"));

    let mut busy = Conn::connect(addr).await;
    busy.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").await;
    tokio::time::timeout(IO_TIMEOUT, started.notified())
        .await
        .expect("slow handler started");

    let h = handle.clone();
    let shutdown = tokio::spawn(async move { h.shutdown(Duration::from_secs(10)).await });

    // The idle connection is closed without a response.
    idle.expect_eof().await;
    // New connections are refused once the listener is gone.
    let t0 = Instant::now();
    loop {
        match tokio::time::timeout(IO_TIMEOUT, tokio::net::TcpStream::connect(addr))
            .await
            .expect("connect timed out")
        {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
            Err(e) => panic!("connect failed oddly: {e}"),
            // Raced with the listener closing; try again.
            Ok(_) => assert!(t0.elapsed() < IO_TIMEOUT, "the listener still accepts"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The in-flight request completes in full, and is the connection's last.
    assert!(
        !shutdown.is_finished(),
        "shutdown returned with a request in flight"
    );
    release.notify_one();
    assert_eq!(busy.response().await, ok_text_close("/slow"));
    busy.expect_eof().await;
    let report = tokio::time::timeout(IO_TIMEOUT, shutdown)
        .await
        .expect("shutdown finished")
        .unwrap();
    assert_eq!((report.forced, report.upgraded), (0, 0));
    assert_eq!(handle.live_connections(), 0);
}

#[tokio::test]
async fn shutdown_grace_expiry_forces_stuck_requests_closed() {
    let started = Arc::new(Notify::new());
    let s = started.clone();
    let handle = start(Server::new(), move |_req: HttpRequest| {
        let s = s.clone();
        async move {
            s.notify_one();
            std::future::pending::<HttpResponse>().await
        }
    });
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send("GET /stuck HTTP/1.1\r\nHost: x\r\n\r\n").await;
    tokio::time::timeout(IO_TIMEOUT, started.notified())
        .await
        .expect("handler started");
    let grace = Duration::from_millis(200);
    let t0 = Instant::now();
    let report = tokio::time::timeout(IO_TIMEOUT, handle.shutdown(grace))
        .await
        .expect("shutdown ends");
    assert_eq!((report.forced, report.upgraded), (1, 0));
    assert!(t0.elapsed() >= grace - Duration::from_millis(50));
    c.expect_closed().await;
}

/// With `conn_info(true)` a handler sees the client's and the server's addresses (Go's
/// `RemoteAddr`); without it the extension is absent.
#[tokio::test]
async fn conn_info_carries_both_addresses_only_when_enabled() {
    async fn report(req: HttpRequest) -> HttpResponse {
        let text = match req.extensions().get::<nethttp::ConnInfo>() {
            Some(info) => format!("{} {}", info.remote_addr, info.local_addr),
            None => "none".to_string(),
        };
        text_response(StatusCode::OK, text)
    }
    let on = start(Server::new().conn_info(true), report);
    let mut c = Conn::connect(on.local_addr()).await;
    c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let want = format!("{} {}", c.local_addr(), on.local_addr());
    assert!(c.response().await.ends_with(&format!("\r\n\r\n{want}")));

    let off = start(Server::new(), report);
    let mut c = Conn::connect(off.local_addr()).await;
    c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(c.response().await.ends_with("\r\n\r\nnone"));
}

/// A handler answering with an interim (1xx) status as its final response gets a 500
/// instead: a client would otherwise wait for a final response that never comes.
#[tokio::test]
async fn interim_status_as_final_response_becomes_500() {
    let handle = start(Server::new(), |_req: HttpRequest| async {
        text_response(StatusCode::EARLY_HINTS, "")
    });
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(
        c.response().await,
        error_response("500 Internal Server Error", "internal server error")
    );
    c.expect_eof().await;
}
