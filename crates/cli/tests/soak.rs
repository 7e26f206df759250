//! The soak suite (ignored by default; `SOAK_SECS`, default 600): two `nethttp serve`
//! processes, plain (HTTP/1.1 and h2c) and TLS (h2 and HTTP/1.1 by ALPN), under bounded mixed
//! load for the whole run — `nethttp bench` on every protocol, uploads, clients that trickle
//! their heads until the header timeout cuts them, and clients that abandon connections
//! half-way (mid-head, mid-response, mid-handshake). Every 5 s it samples each server's RSS,
//! open descriptors and open connections (from its `--debug-addr` page) into
//! `target/soak/curve.csv`. It asserts that the load ran clean, that RSS and descriptors stay
//! flat, and that after the load every connection is gone.
//!
//! `SOAK_SECS=600 cargo test -p nethttp-cli --test soak -- --ignored --nocapture`

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::restart::{assert_clean, bench};
use common::tls::TestCert;
use common::Served;

fn soak_secs() -> u64 {
    std::env::var("SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600)
        .max(20)
}

fn serve(extra: &[&str]) -> Served {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    cmd.args([
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--debug-addr",
        "127.0.0.1:0",
        "--read-header-timeout",
        "2s",
        "--idle-timeout",
        "5s",
        "--threads",
        "2",
    ])
    .args(extra);
    Served::spawn(cmd)
}

/// (RSS in kB, open descriptors) of `pid`.
fn rss_and_fds(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0);
    (rss, fds)
}

/// The open connections the server's page lists.
fn open_connections(debug: SocketAddr) -> usize {
    let text = common::http_get(debug, "/?format=json");
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    let doc: serde_json::Value = serde_json::from_str(body).unwrap();
    doc["servers"][0]["connections"]
        .as_array()
        .map_or(0, Vec::len)
}

/// Clients that trickle a request head, a byte every 200 ms, until the server cuts them at
/// its 2 s header timeout; `n` at a time until `stop`. Returns how many were cut.
fn tricklers(
    addr: SocketAddr,
    n: usize,
    stop: Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<u64>> {
    (0..n)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut cut = 0;
                let head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
                while !stop.load(Ordering::Relaxed) {
                    let Ok(mut tcp) = TcpStream::connect(addr) else {
                        continue;
                    };
                    for b in head {
                        if stop.load(Ordering::Relaxed) || tcp.write_all(&[*b]).is_err() {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(200));
                    }
                    // The server answers 408 (or just closes) at its header timeout.
                    tcp.set_read_timeout(Some(Duration::from_secs(5))).ok();
                    let mut buf = Vec::new();
                    let _ = tcp.read_to_end(&mut buf);
                    cut += 1;
                }
                cut
            })
        })
        .collect()
}

/// Clients that leave half-way: mid-head, mid-response (a long chunked stream read for 100
/// bytes), and for TLS mid-handshake; one after another until `stop`. Returns how many left.
fn abandoners(
    plain: SocketAddr,
    tls: SocketAddr,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let left = AtomicU64::new(0);
        while !stop.load(Ordering::Relaxed) {
            if let Ok(mut t) = TcpStream::connect(plain) {
                let _ = t.write_all(b"GET /stream/100000 HTTP/1.1\r\nHo");
            }
            if let Ok(mut t) = TcpStream::connect(plain) {
                let _ = t.write_all(b"GET /stream/100000 HTTP/1.1\r\nHost: x\r\n\r\n");
                let mut first = [0u8; 100];
                t.set_read_timeout(Some(Duration::from_secs(5))).ok();
                let _ = t.read(&mut first);
            }
            if let Ok(mut t) = TcpStream::connect(tls) {
                // The first bytes of a TLS record header, then gone.
                let _ = t.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]);
            }
            left.fetch_add(3, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(20));
        }
        left.load(Ordering::Relaxed)
    })
}

#[test]
#[ignore = "the soak suite: minutes long; run with --ignored (SOAK_SECS)"]
fn soak_mixed_protocols_and_hostile_clients_stay_flat() {
    let secs = soak_secs();
    let cert = TestCert::new();
    let plain = serve(&[]);
    let tls = serve(&[
        "--tls-cert",
        &cert.cert_path(),
        "--tls-key",
        &cert.key_path(),
    ]);
    let plain_debug = plain.logged_addr("debug page");
    let tls_debug = tls.logged_addr("debug page");
    let servers = [
        ("plain", plain.child.id(), plain_debug),
        ("tls", tls.child.id(), tls_debug),
    ];
    let baseline: Vec<(u64, usize)> = servers.iter().map(|s| rss_and_fds(s.1)).collect();

    let run = format!("{secs}s");
    let within = Duration::from_secs(secs + 60);
    let https = format!("https://localhost:{}/", tls.addr.port());
    let loads = vec![
        (
            "h1",
            bench(plain.url("/"), &["-c", "8", "-d", &run], within),
        ),
        (
            "h2c",
            bench(
                plain.url("/"),
                &["--http2", "-c", "2", "-m", "4", "-d", &run],
                within,
            ),
        ),
        (
            "h1 uploads",
            bench(
                plain.url("/echo"),
                &["-X", "POST", "--body-size", "16384", "-c", "2", "-d", &run],
                within,
            ),
        ),
        (
            "tls h2",
            bench(
                https.clone(),
                &[
                    "--cacert",
                    &cert.cert_path(),
                    "-c",
                    "2",
                    "-m",
                    "4",
                    "-d",
                    &run,
                ],
                within,
            ),
        ),
        (
            "tls h1",
            bench(
                https,
                &[
                    "--cacert",
                    &cert.cert_path(),
                    "--no-http2",
                    "-c",
                    "4",
                    "-d",
                    &run,
                ],
                within,
            ),
        ),
    ];
    let stop = Arc::new(AtomicBool::new(false));
    let slow = tricklers(plain.addr, 8, stop.clone());
    let gone = abandoners(plain.addr, tls.addr, stop.clone());

    let _ = std::fs::create_dir_all("target/soak");
    let mut csv = String::from("t_s,server,rss_kb,fds,connections\n");
    let mut samples: Vec<Vec<(u64, usize)>> = vec![Vec::new(), Vec::new()];
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_secs(5));
        for (i, (name, pid, debug)) in servers.iter().enumerate() {
            let (rss, fds) = rss_and_fds(*pid);
            let conns = open_connections(*debug);
            csv.push_str(&format!(
                "{},{name},{rss},{fds},{conns}\n",
                start.elapsed().as_secs()
            ));
            samples[i].push((rss, fds));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for (name, load) in loads {
        let report = load.join().expect("bench thread");
        eprintln!(
            "{name}: {} requests, {} req/s",
            report["requests"], report["rps"]
        );
        assert_clean(&report);
    }
    let cut: u64 = slow.into_iter().map(|t| t.join().unwrap()).sum();
    let left = gone.join().unwrap();
    eprintln!("tricklers cut: {cut}; abandoned connections: {left}");
    assert!(cut >= 8, "the header timeout cut the tricklers");

    // Every connection gone within 15 s of the load's end (idle timeout 5 s).
    let deadline = Instant::now() + Duration::from_secs(15);
    for (name, pid, debug) in servers {
        loop {
            let conns = open_connections(debug);
            if conns == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: {conns} connections still open"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = pid;
    }
    let end: Vec<(u64, usize)> = servers.iter().map(|s| rss_and_fds(s.1)).collect();
    csv.push_str(&format!(
        "{},plain,{},{},0\n{},tls,{},{},0\n",
        start.elapsed().as_secs(),
        end[0].0,
        end[0].1,
        start.elapsed().as_secs(),
        end[1].0,
        end[1].1
    ));
    std::fs::write("target/soak/curve.csv", &csv).unwrap();
    eprintln!("{csv}");

    for (i, (name, _, _)) in servers.iter().enumerate() {
        // Descriptors back where they started (the debug listener and runtime's own included).
        assert!(
            end[i].1 <= baseline[i].1 + 2,
            "{name}: {} descriptors at the end, {} at the start",
            end[i].1,
            baseline[i].1
        );
        // RSS flat: the last quarter's peak within 10 MB and 25% of the second quarter's
        // (the first quarter warms the allocator and the runtime's threads).
        let s = &samples[i];
        let q = s.len() / 4;
        let early = s[q..2 * q].iter().map(|x| x.0).max().unwrap_or(0);
        let late = s[3 * q..].iter().map(|x| x.0).max().unwrap_or(0);
        eprintln!(
            "{name}: RSS {} kB at start, {early} kB early peak, {late} kB late peak",
            baseline[i].0
        );
        assert!(
            late <= early + early / 4 && late <= early + 10 * 1024,
            "{name}: RSS grew from {early} kB to {late} kB"
        );
    }
}
