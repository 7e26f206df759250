//! The plain port's HTTP/2 preface sniff against clients that send part of a preface, or
//! nothing: waiting for them costs no CPU (the server sleeps until bytes arrive instead of
//! looking every few milliseconds), and the read-header timeout counts from the accept
//! across the sniff and the HTTP/1.1 head together, so a silent connection is closed at the
//! timeout, not at twice it. Against the real `nethttp serve`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::Served;

fn serve(read_header_timeout: &str) -> Served {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--threads", "1"])
        .args(["--read-header-timeout", read_header_timeout]);
    Served::spawn(cmd)
}

/// 300 connections with half a preface and 300 silent ones, held for two seconds: the server
/// spends under 0.1 s of CPU on them (looking every 5 ms, it spent most of a core).
#[test]
fn connections_with_half_a_preface_or_nothing_cost_no_cpu_while_they_wait() {
    let server = serve("30s");
    let mut held = Vec::new();
    for i in 0..600 {
        let mut s = TcpStream::connect(server.addr).expect("connect");
        if i % 2 == 0 {
            s.write_all(b"PRI * HTTP/2.0\r\n").expect("half a preface");
        }
        held.push(s);
    }
    // Let the server take them all in and settle.
    std::thread::sleep(Duration::from_millis(500));
    let before = server.cpu_time();
    std::thread::sleep(Duration::from_secs(2));
    let used = server.cpu_time() - before;
    assert!(
        used <= Duration::from_millis(100),
        "600 waiting connections cost the server {used:?} of CPU in 2 s"
    );
    // They are still being waited for, not dropped: finishing the preface gets SETTINGS.
    let s = &mut held[0];
    s.write_all(b"\r\nSM\r\n\r\n").expect("rest of the preface");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut head = [0u8; 9];
    s.read_exact(&mut head).expect("the server's SETTINGS");
    assert_eq!(head[3], 0x4, "first frame is SETTINGS: {head:?}");
}

/// Reads until the server closes; returns what it sent and when it closed, from `start`.
fn until_closed(mut s: TcpStream, start: Instant) -> (Vec<u8>, Duration) {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (got, start.elapsed()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return (got, start.elapsed())
            }
            Err(e) => panic!("no close within 10 s: {e}"),
        }
    }
}

/// With a 1 s read-header timeout, each of these is closed 1 s after it connected: silence,
/// half a preface, and an HTTP/1.1 head begun 0.5 s in and never finished (408). Before,
/// the sniff and the head each had the whole timeout: 2 s for silence, 1.5 s for the head.
#[test]
fn the_read_header_timeout_counts_from_the_accept_across_the_sniff() {
    let server = serve("1s");
    let start = Instant::now();
    let silent = TcpStream::connect(server.addr).expect("connect");
    let mut half = TcpStream::connect(server.addr).expect("connect");
    half.write_all(b"PRI * HTTP/2.0\r\n").unwrap();
    let mut late = TcpStream::connect(server.addr).expect("connect");
    let closes = [
        std::thread::spawn(move || until_closed(silent, start)),
        std::thread::spawn(move || until_closed(half, start)),
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            late.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
            until_closed(late, start)
        }),
    ];
    let [silent, half, late] = closes.map(|t| t.join().expect("reader"));
    for (what, (_, at)) in [
        ("silent", &silent),
        ("half a preface", &half),
        ("late head", &late),
    ] {
        assert!(
            *at >= Duration::from_millis(900) && *at < Duration::from_millis(1600),
            "{what} connection closed after {at:?}, want about 1 s"
        );
    }
    assert_eq!(
        silent.0, b"",
        "nothing is said to a client that said nothing"
    );
    assert!(
        late.0.starts_with(b"HTTP/1.1 408 "),
        "{:?}",
        String::from_utf8_lossy(&late.0)
    );
}
