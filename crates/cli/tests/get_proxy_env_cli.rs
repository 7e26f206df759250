//! `nethttp get` and the proxy environment: `http_proxy` carries http URLs to the proxy in
//! absolute form, loopback targets go direct even with it set, `-x` overrides it, and a
//! variable naming an unusable proxy fails the request with a message naming the variable.
//! The "proxy" is a raw listener on loopback that records each request line; targets under
//! `.invalid` (RFC 6761) are never resolved, because the proxy receives the name.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{run_nethttp_env, Ran};

const TIMEOUT: Duration = Duration::from_secs(20);

/// A listener that answers every request `200 via raw` and records its request line.
struct RawProxy {
    port: u16,
    lines: Arc<Mutex<Vec<String>>>,
}

impl RawProxy {
    fn start() -> RawProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let seen = lines.clone();
        // Serves at most 8 connections; the thread ends with the test process.
        std::thread::spawn(move || {
            for stream in listener.incoming().take(8) {
                let Ok(stream) = stream else { continue };
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let mut reader = BufReader::new(stream);
                let mut first = String::new();
                if reader.read_line(&mut first).is_err() {
                    continue;
                }
                seen.lock().unwrap().push(first.trim_end().to_owned());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let _ = reader.get_mut().write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nvia raw",
                );
            }
        });
        RawProxy { port, lines }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

fn get(args: &[&str], vars: &[(&str, &str)]) -> Ran {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    run_nethttp_env(&all, vars, TIMEOUT)
}

#[test]
fn http_proxy_from_the_environment_carries_http_urls() {
    let proxy = RawProxy::start();
    let ran = get(
        &["http://example.invalid/x?y=1"],
        &[("http_proxy", &proxy.url())],
    );
    assert!(ran.status.success(), "{}", ran.stderr);
    assert_eq!(ran.stdout_str(), "via raw");
    assert_eq!(proxy.lines(), ["GET http://example.invalid/x?y=1 HTTP/1.1"]);
}

#[test]
fn loopback_goes_direct_despite_the_environment() {
    // The target is the raw listener itself: proxied, it would see the absolute form.
    let target = RawProxy::start();
    let url = format!("{}/direct", target.url());
    let ran = get(
        &[&url],
        &[
            ("HTTP_PROXY", "http://proxy.invalid:3128"),
            ("NO_PROXY", ""),
        ],
    );
    assert!(ran.status.success(), "{}", ran.stderr);
    assert_eq!(target.lines(), ["GET /direct HTTP/1.1"]);
}

#[test]
fn dash_x_overrides_the_environment() {
    let proxy = RawProxy::start();
    let ran = get(
        &[
            "-x",
            &format!("127.0.0.1:{}", proxy.port),
            "http://example.invalid/",
        ],
        &[
            ("http_proxy", "socks5://127.0.0.1:1"),
            ("all_proxy", "http://127.0.0.1:1"),
        ],
    );
    assert!(ran.status.success(), "{}", ran.stderr);
    assert_eq!(proxy.lines(), ["GET http://example.invalid/ HTTP/1.1"]);
}

#[test]
fn an_unusable_proxy_variable_fails_the_request_and_names_itself() {
    let ran = get(
        &["https://example.invalid/"],
        &[("https_proxy", "socks4://127.0.0.1:1080")],
    );
    assert!(!ran.status.success());
    assert!(
        ran.stderr.contains("https_proxy") && ran.stderr.contains("the proxy's scheme is none of"),
        "{}",
        ran.stderr
    );
}
