//! `nethttp serve` stopping: SIGTERM while a request runs whose client has already left ends
//! at once (the handler was dropped when the client went, so there is nothing to wait for),
//! and a second SIGTERM during the grace period closes every connection and exits, as most
//! servers do; a connection made before SIGTERM whose request comes after it is still
//! answered within `--first-request-grace`, and a silent one holds the exit only that long.
//! Against the real binary.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::Served;

fn serve() -> Served {
    serve_with(&[])
}

fn serve_with(args: &[&str]) -> Served {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    cmd.args([
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--shutdown-timeout",
        "30s",
    ]);
    cmd.args(args);
    Served::spawn(cmd)
}

fn slow_request(server: &Served) -> TcpStream {
    let mut s = TcpStream::connect(server.addr).expect("connect");
    s.write_all(b"GET /delay/60000 HTTP/1.1\r\nHost: t\r\n\r\n")
        .expect("request");
    s
}

#[test]
fn sigterm_after_the_client_left_exits_without_waiting_for_its_handler() {
    let mut server = serve();
    let client = slow_request(&server);
    std::thread::sleep(Duration::from_millis(300));
    drop(client);
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    server.signal(libc::SIGTERM);
    let status = server.wait_exit(Duration::from_secs(5));
    let log = server.log();
    assert!(
        status.is_some_and(|s| s.success()),
        "not stopped cleanly {:?} after SIGTERM: {status:?}\n{log}",
        start.elapsed()
    );
    assert!(!log.contains("forced"), "{log}");
}

#[test]
fn a_second_sigterm_stops_the_grace_period() {
    let mut server = serve();
    let _client = slow_request(&server);
    std::thread::sleep(Duration::from_millis(300));
    server.signal(libc::SIGTERM);
    // The client still waits for its answer: the grace period (30 s) holds the server.
    assert!(
        server.wait_exit(Duration::from_millis(700)).is_none(),
        "exited during the grace period:\n{}",
        server.log()
    );
    let start = Instant::now();
    server.signal(libc::SIGTERM);
    let status = server.wait_exit(Duration::from_secs(5));
    let log = server.log();
    assert!(
        status.is_some(),
        "still running {:?} after the second SIGTERM\n{log}",
        start.elapsed()
    );
    assert!(log.contains("second signal"), "{log}");
    assert!(log.contains("forced=1"), "{log}");
}

#[test]
fn a_request_on_a_connection_made_before_sigterm_is_answered_within_the_grace() {
    let mut server = serve_with(&["--first-request-grace", "1500ms"]);
    let mut late = TcpStream::connect(server.addr).expect("connect");
    let silent = TcpStream::connect(server.addr).expect("connect");
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    server.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(300));
    late.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .expect("request");
    late.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    late.read_to_end(&mut got).expect("response, then close");
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
    assert!(got.contains("\r\nconnection: close\r\n"), "{got}");
    assert!(got.ends_with("Hello, World!"), "{got}");
    // The silent connection holds the exit until the grace ends, not past it.
    let status = server.wait_exit(Duration::from_secs(5));
    let took = start.elapsed();
    let log = server.log();
    assert!(status.is_some_and(|s| s.success()), "{status:?}\n{log}");
    assert!(
        took >= Duration::from_millis(1500),
        "exited after {took:?}\n{log}"
    );
    assert!(!log.contains("forced=1"), "{log}");
    drop(silent);
}
