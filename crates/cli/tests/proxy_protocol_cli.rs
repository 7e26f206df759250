//! `--proxy-protocol` on the real binary: `nethttp serve` reads a PROXY header before HTTP and
//! closes connections without one, `--proxy-protocol-from` limits who may send one (others
//! refused, or served directly with `--proxy-protocol-allow-direct`), and `nethttp proxy`
//! forwards the header's client in `X-Forwarded-For`.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use common::Served;

const TIMEOUT: Duration = Duration::from_secs(10);

fn nethttp(sub: &str, extra: &[&str]) -> Served {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    cmd.args([sub, "--addr", "127.0.0.1:0", "--threads", "1"])
        .args(extra);
    Served::spawn(cmd)
}

/// Sends `bytes` on a new connection and reads until the server closes: what it wrote
/// (a reset counts as a close: the server may leave a refused client's bytes unread).
fn exchange(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut c = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect");
    c.set_read_timeout(Some(TIMEOUT)).unwrap();
    let _ = c.write_all(bytes);
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match c.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("reading: {e}; got {:?}", String::from_utf8_lossy(&got)),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

const GET: &str = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

#[test]
fn serve_reads_the_header_and_closes_connections_without_one() {
    let server = nethttp("serve", &["--proxy-protocol"]);
    let v1 = format!("PROXY TCP4 192.0.2.1 192.0.2.2 1000 80\r\n{GET}");
    let text = exchange(server.addr, v1.as_bytes());
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("Hello, World!"), "{text}");
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00".to_vec(); // LOCAL
    v2.extend_from_slice(GET.as_bytes());
    assert!(exchange(server.addr, &v2).ends_with("Hello, World!"));
    // No header: closed, not a byte written.
    assert_eq!(exchange(server.addr, GET.as_bytes()), "");
}

#[test]
fn proxy_protocol_from_refuses_or_serves_other_peers_directly() {
    let v1 = format!("PROXY TCP4 192.0.2.1 192.0.2.2 1000 80\r\n{GET}");
    // 127.0.0.1 is not 10.0.0.0/8: refused, header or not.
    let strict = nethttp("serve", &["--proxy-protocol-from", "10.0.0.0/8"]);
    assert_eq!(exchange(strict.addr, v1.as_bytes()), "");
    assert_eq!(exchange(strict.addr, GET.as_bytes()), "");
    // Trusted: the header is read.
    let trusted = nethttp("serve", &["--proxy-protocol-from", "10.0.0.0/8,127.0.0.1"]);
    assert!(exchange(trusted.addr, v1.as_bytes()).ends_with("Hello, World!"));
    // Untrusted but allowed direct: plain HTTP is served, and a header is not read as one.
    let direct = nethttp(
        "serve",
        &[
            "--proxy-protocol-from",
            "10.0.0.0/8",
            "--proxy-protocol-allow-direct",
        ],
    );
    assert!(exchange(direct.addr, GET.as_bytes()).ends_with("Hello, World!"));
    assert!(exchange(direct.addr, v1.as_bytes()).starts_with("HTTP/1.1 400 "));
    // A bad network is a usage error.
    let ran = common::run_nethttp(&["serve", "--proxy-protocol-from", "10.0.0.0/33"], TIMEOUT);
    assert!(!ran.status.success());
    assert!(ran.stderr.contains("10.0.0.0/33"), "{}", ran.stderr);
}

#[tokio::test]
async fn proxy_forwards_the_headers_client_in_x_forwarded_for() {
    let server = nethttp::Server::new();
    let listener = server.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let upstream = server.serve(listener, |req: nethttp::HttpRequest| async move {
        let xff = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none")
            .to_owned();
        nethttp::text_response(nethttp::http::StatusCode::OK, format!("xff={xff}"))
    });
    let to = format!("http://{}", upstream.local_addr());
    let front = nethttp("proxy", &["--to", &to, "--proxy-protocol"]);
    let addr = front.addr;
    let text = tokio::task::spawn_blocking(move || {
        exchange(
            addr,
            format!("PROXY TCP6 2001:db8::5 ::1 1000 80\r\n{GET}").as_bytes(),
        )
    })
    .await
    .unwrap();
    assert!(text.ends_with("xff=2001:db8::5"), "{text}");
}
