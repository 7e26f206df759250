//! `nethttp serve --metrics-addr` and `--debug-addr`: each operator listener is its own
//! (the public one answers 404 for `/metrics`), the metrics count the public traffic, and
//! the page's JSON lists the open connection a raw client holds; one address serves both.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use common::{http_get, Served};

#[test]
fn metrics_and_the_page_have_listeners_of_their_own() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    cmd.args([
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--metrics-addr",
        "127.0.0.1:0",
        "--debug-addr",
        "127.0.0.1:0",
    ]);
    let served = Served::spawn(cmd);
    let metrics = served.logged_addr("metrics");
    let debug = served.logged_addr("debug page");
    assert_ne!(metrics, debug);
    assert_ne!(metrics, served.addr);

    // Public traffic: two answered requests and one the server refuses.
    for _ in 0..2 {
        assert!(http_get(served.addr, "/").starts_with("HTTP/1.1 200 "));
    }
    let not_public = http_get(served.addr, "/metrics");
    assert!(not_public.starts_with("HTTP/1.1 404 "), "{not_public}");
    let mut bad = TcpStream::connect(served.addr).unwrap();
    bad.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    bad.write_all(b"GET / HTTP/1.1\r\nbroken header\r\n\r\n")
        .unwrap();
    let mut refused = String::new();
    let _ = bad.read_to_string(&mut refused);
    assert!(refused.starts_with("HTTP/1.1 400 "), "{refused}");

    // A connection held open with a request in its buffer: shows on the page.
    let mut held = TcpStream::connect(served.addr).unwrap();
    held.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 12];
    held.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    held.read_exact(&mut first).unwrap();
    let me = held.local_addr().unwrap().to_string();

    // The held connection turns idle once its response is written, which can be a moment
    // after the client has read the first bytes of it, and the closed ones leave the gauge
    // when their tasks end: scrape until it says so (at most 5 s), then check everything.
    let idle_one = "nethttp_server_connections{protocol=\"http1\",state=\"idle\"} 1";
    let t0 = std::time::Instant::now();
    let text = loop {
        let text = http_get(metrics, "/metrics");
        if text.contains(idle_one) || t0.elapsed() > Duration::from_secs(5) {
            break text;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    assert!(
        text.contains("content-type: text/plain; version=0.0.4"),
        "{text}"
    );
    // The 404 for /metrics on the public listener is the third answered request.
    assert!(
        text.contains("nethttp_server_requests_total{method=\"GET\",status=\"2xx\"} 3")
            && text.contains("nethttp_server_requests_total{method=\"GET\",status=\"4xx\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("nethttp_server_rejections_total{kind=\"bad_request\"} 1"),
        "{text}"
    );
    assert!(text.contains(idle_one), "{text}");

    let page = http_get(debug, "/?format=json");
    assert!(page.starts_with("HTTP/1.1 200 "), "{page}");
    assert!(page.contains(&format!("\"remote\":\"{me}\"")), "{page}");
    let html = http_get(debug, "/");
    assert!(
        html.contains("<script src=\"?format=js\"></script>"),
        "{html}"
    );
    // The debug listener serves the page only.
    assert!(http_get(debug, "/metrics").starts_with("HTTP/1.1 404 "));
    drop(held);
}

#[test]
fn one_address_serves_both() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    // A fixed free port for both flags: found by binding and releasing it.
    let port = common::free_port();
    let admin = format!("127.0.0.1:{port}");
    cmd.args([
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--metrics-addr",
        &admin,
        "--debug-addr",
        &admin,
    ]);
    let served = Served::spawn(cmd);
    let metrics = served.logged_addr("metrics");
    assert_eq!(served.logged_addr("debug page"), metrics);
    assert!(http_get(metrics, "/metrics").contains("nethttp_server_connections"));
    assert!(http_get(metrics, "/?format=json").contains("\"servers\":["));
}

/// A SIGUSR2 successor binds the same operator address while the old process drains, and
/// from then on its metrics are the ones served (a fresh count).
#[test]
fn a_successor_takes_over_the_operator_listener() {
    use common::restart::{self, signal, wait_exited, wait_pid_change, KillAtEnd};
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("serve.pid");
    let _kill = KillAtEnd(&pid_file);
    let port = common::free_port();
    let admin = format!("127.0.0.1:{port}");
    let served = restart::serve_with_pid_file(&pid_file, &["--metrics-addr", &admin]);
    let metrics = served.logged_addr("metrics");
    for _ in 0..3 {
        assert!(http_get(served.addr, "/").starts_with("HTTP/1.1 200 "));
    }
    let before = http_get(metrics, "/metrics");
    assert!(
        before.contains("nethttp_server_requests_total{method=\"GET\",status=\"2xx\"} 3"),
        "{before}"
    );
    let old = served.child.id();
    signal(old, libc::SIGUSR2);
    let new = wait_pid_change(&pid_file, old, Duration::from_secs(10));
    assert!(
        wait_exited(old, Duration::from_secs(10)),
        "{}",
        served.log()
    );
    assert_ne!(new, old);
    assert!(http_get(served.addr, "/").starts_with("HTTP/1.1 200 "));
    let after = http_get(metrics, "/metrics");
    assert!(
        after.contains("nethttp_server_requests_total{method=\"GET\",status=\"2xx\"} 1"),
        "the successor counts afresh: {after}"
    );
}
