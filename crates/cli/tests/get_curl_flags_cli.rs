//! `nethttp get`'s curl-shaped flags against a raw-TCP server that answers with the request
//! it read: `--json` (POST, JSON body, `Content-Type` and `Accept`), `-u` (Basic
//! credentials), `--max-redirs 0` (the redirect is the answer), `-o FILE` (the body in the
//! file, nothing on stdout) and `--connect-to` (the connection elsewhere, the URL kept).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use common::{run_nethttp, Ran};

const LIMIT: Duration = Duration::from_secs(20);

/// A server for one request: it answers `status` with the request's head and body as its
/// body (and `extra` fields), then closes.
fn echo_once(status: &'static str, extra: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(LIMIT)).unwrap();
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut head = String::new();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).unwrap();
        let mut answer = head.into_bytes();
        answer.extend_from_slice(&body);
        let mut conn = conn;
        let _ = write!(
            conn,
            "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
            answer.len()
        );
        let _ = conn.write_all(&answer);
    });
    format!("http://{addr}/path")
}

fn get(args: &[&str]) -> Ran {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    run_nethttp(&all, LIMIT)
}

#[test]
fn json_is_posted_with_its_fields() {
    let url = echo_once("200 OK", "");
    let ran = get(&["--json", r#"{"name":"gopher"}"#, &url]);
    assert!(ran.status.success(), "{}", ran.stderr);
    let seen = ran.stdout_str().to_ascii_lowercase();
    assert!(seen.starts_with("post /path http/1.1\r\n"), "{seen}");
    assert!(
        seen.contains("\r\ncontent-type: application/json\r\n"),
        "{seen}"
    );
    assert!(seen.contains("\r\naccept: application/json\r\n"), "{seen}");
    assert!(seen.ends_with(r#"{"name":"gopher"}"#), "{seen}");

    // From a file, and a -H Content-Type wins over --json's.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body.json");
    std::fs::write(&file, "[1,2,3]").unwrap();
    let url = echo_once("200 OK", "");
    let at = format!("@{}", file.display());
    let ran = get(&[
        "--json",
        &at,
        "-H",
        "Content-Type: application/vnd.api+json",
        &url,
    ]);
    assert!(ran.status.success(), "{}", ran.stderr);
    let seen = ran.stdout_str().to_ascii_lowercase();
    assert!(
        seen.contains("\r\ncontent-type: application/vnd.api+json\r\n"),
        "{seen}"
    );
    assert_eq!(seen.matches("content-type:").count(), 1, "{seen}");
    assert!(seen.ends_with("[1,2,3]"), "{seen}");
}

#[test]
fn user_sends_basic_credentials() {
    let url = echo_once("200 OK", "");
    let ran = get(&["-u", "aladdin:open sesame", &url]);
    assert!(ran.status.success(), "{}", ran.stderr);
    // RFC 7617 §2's example.
    assert!(
        ran.stdout_str()
            .contains("\r\nauthorization: Basic YWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n"),
        "{}",
        ran.stdout_str()
    );
}

#[test]
fn max_redirs_zero_returns_the_redirect() {
    let url = echo_once("302 Found", "Location: /elsewhere\r\n");
    let ran = get(&["-i", "-L", "--max-redirs", "0", &url]);
    assert!(ran.status.success(), "{}", ran.stderr);
    assert!(
        ran.stdout_str().starts_with("HTTP/1.1 302 Found\r\n"),
        "{}",
        ran.stdout_str()
    );
}

#[test]
fn output_writes_the_body_to_a_file() {
    let url = echo_once("200 OK", "");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.txt");
    let ran = get(&["-o", file.to_str().unwrap(), &url]);
    assert!(ran.status.success(), "{}", ran.stderr);
    assert!(ran.stdout.is_empty(), "{}", ran.stdout_str());
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(saved.starts_with("GET /path HTTP/1.1\r\n"), "{saved}");
    // Not a terminal: no progress line.
    assert!(ran.stderr.is_empty(), "{}", ran.stderr);
}

#[test]
fn connect_to_sends_a_host_and_port_elsewhere_keeping_the_url() {
    let url = echo_once("200 OK", "");
    let addr = url
        .strip_prefix("http://")
        .and_then(|r| r.strip_suffix("/path"))
        .unwrap()
        .to_owned();
    let port = addr.rsplit(':').next().unwrap();
    // example.test does not resolve; the connection goes to the echo server, Host stays.
    let to = format!("example.test:80:127.0.0.1:{port}");
    let ran = get(&["--connect-to", &to, "http://example.test/path"]);
    assert!(ran.status.success(), "{}", ran.stderr);
    let seen = ran.stdout_str().to_ascii_lowercase();
    assert!(seen.starts_with("get /path http/1.1\r\n"), "{seen}");
    assert!(seen.contains("\r\nhost: example.test\r\n"), "{seen}");
}
