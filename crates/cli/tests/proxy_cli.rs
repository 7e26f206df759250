//! `nethttp proxy`: the real binary in front of a real `nethttp serve` (over TCP, over a
//! Unix socket, and over TLS with a private CA and a client certificate), asked by curl and
//! by `nethttp get`; WebSockets to an HTTP/2 upstream on connections of their own or, with
//! `--websockets-over-http2`, on its HTTP/2 connection; its usage errors; its graceful stop.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::peers::peer;
use common::tls::{client_pki, https_url, serve_plain, serve_tls, TestCert};
use common::{run_nethttp, Served};

const LIMIT: Duration = Duration::from_secs(20);

fn proxy(to: &str, extra: &[&str]) -> Served {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    cmd.args(["proxy", "--addr", "127.0.0.1:0", "--to", to])
        .args(extra);
    Served::spawn(cmd)
}

fn curl(bin: &Path, args: &[&str]) -> String {
    let out = Command::new(bin)
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn proxies_to_serve_for_curl_and_our_client() {
    let upstream = serve_plain();
    let front = proxy(&upstream.url(""), &["--threads", "1"]);
    assert!(front
        .log()
        .contains(&format!("proxying to {}", upstream.url(""))));

    let ran = run_nethttp(
        &["get", "-d", "through the proxy", &front.url("/echo")],
        LIMIT,
    );
    assert!(ran.status.success(), "{}", ran.stderr);
    assert_eq!(ran.stdout_str(), "through the proxy");

    let ran = run_nethttp(&["get", "-i", &front.url("/status/418")], LIMIT);
    assert!(
        ran.stdout_str().starts_with("HTTP/1.1 418"),
        "{}",
        ran.stdout_str()
    );

    let Some(curl_bin) = peer("curl", "--version") else {
        return;
    };
    assert_eq!(curl(&curl_bin, &[&front.url("/")]), "Hello, World!");
    let streamed = curl(
        &curl_bin,
        &["--http2-prior-knowledge", &front.url("/stream/3")],
    );
    assert_eq!(streamed.lines().count(), 3, "{streamed}");
}

/// A `nethttp serve --unix PATH` upstream, once its socket answers.
struct UnixUpstream(Child);

impl Drop for UnixUpstream {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve_unix(path: &Path) -> UnixUpstream {
    let child = Command::new(env!("CARGO_BIN_EXE_nethttp"))
        .args(["serve", "--unix"])
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn nethttp serve --unix");
    let t0 = Instant::now();
    while std::os::unix::net::UnixStream::connect(path).is_err() {
        assert!(t0.elapsed() < LIMIT, "serve --unix never listened");
        std::thread::sleep(Duration::from_millis(10));
    }
    UnixUpstream(child)
}

#[test]
fn proxies_to_a_unix_socket_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("app.sock");
    let _upstream = serve_unix(&sock);
    let to = format!("unix:{}", sock.display());
    let front = proxy(&to, &[]);
    for _ in 0..3 {
        let ran = run_nethttp(&["get", "-d", "over unix", &front.url("/echo")], LIMIT);
        assert!(ran.status.success(), "{}", ran.stderr);
        assert_eq!(ran.stdout_str(), "over unix");
    }
}

/// The upstream listens on an abstract name (`serve --unix @NAME`), the proxy reaches it by
/// `--to unix:@NAME`.
#[cfg(target_os = "linux")]
#[test]
fn proxies_to_an_abstract_unix_socket_upstream() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("nethttp-proxy-cli-{}", std::process::id());
    let child = Command::new(env!("CARGO_BIN_EXE_nethttp"))
        .args(["serve", "--unix", &format!("@{name}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn nethttp serve --unix @NAME");
    let _upstream = UnixUpstream(child);
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let t0 = Instant::now();
    while std::os::unix::net::UnixStream::connect_addr(&addr).is_err() {
        assert!(t0.elapsed() < LIMIT, "serve --unix @NAME never listened");
        std::thread::sleep(Duration::from_millis(10));
    }
    let front = proxy(&format!("unix:@{name}"), &[]);
    let ran = run_nethttp(&["get", "-d", "over abstract", &front.url("/echo")], LIMIT);
    assert!(ran.status.success(), "{}", ran.stderr);
    assert_eq!(ran.stdout_str(), "over abstract");
}

/// An `https://` upstream with a self-signed certificate that requires a client certificate
/// from its own CA: reached with `--upstream-cacert` and `--upstream-cert/--upstream-key`,
/// a `502` without either.
#[test]
fn proxies_to_an_https_upstream_by_its_own_ca_with_a_client_certificate() {
    let server_cert = TestCert::new();
    let pki = client_pki();
    let upstream = serve_tls(&server_cert, &["--tls-client-ca", &pki.ca]);
    let to = https_url(&upstream, "");
    let cacert = server_cert.cert_path();
    let status_through = |extra: &[&str]| {
        let front = proxy(&to, extra);
        let ran = run_nethttp(&["get", "-i", &front.url("/")], LIMIT);
        ran.stdout_str()
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    let all = [
        "--upstream-cacert",
        &cacert,
        "--upstream-cert",
        &pki.cert,
        "--upstream-key",
        &pki.key,
    ];
    assert!(status_through(&all).starts_with("HTTP/1.1 200"));
    // The upstream's certificate is not trusted without its CA.
    assert!(status_through(&all[2..]).starts_with("HTTP/1.1 502"));
    // The upstream refuses a proxy without a client certificate.
    assert!(status_through(&all[..2]).starts_with("HTTP/1.1 502"));
    // Or with one from another CA.
    let other = [
        "--upstream-cacert",
        &cacert,
        "--upstream-cert",
        &pki.other_cert,
        "--upstream-key",
        &pki.other_key,
    ];
    assert!(status_through(&other).starts_with("HTTP/1.1 502"));
    // --upstream-insecure instead of the CA: through, unauthenticated.
    assert!(status_through(&[
        "--upstream-insecure",
        "--upstream-cert",
        &pki.cert,
        "--upstream-key",
        &pki.key
    ])
    .starts_with("HTTP/1.1 200"));
}

/// The proxy's dials to its upstream, from its `/metrics`.
fn upstream_dials(metrics: std::net::SocketAddr) -> u64 {
    let text = common::http_get(metrics, "/metrics");
    text.lines()
        .filter(|l| l.starts_with("nethttp_client_dials_total"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

/// A WebSocket through the proxy to an upstream whose connections are HTTP/2 (TLS, ALPN):
/// on an HTTP/1.1 connection of its own by default (a second dial), on the HTTP/2
/// connection with `--websockets-over-http2` (none).
#[test]
fn websockets_to_an_http2_upstream_dial_their_own_unless_asked_to_ride_it() {
    use futures_util::{SinkExt, StreamExt};
    use nethttp::websocket::Message;
    let server_cert = TestCert::new();
    let upstream = serve_tls(&server_cert, &[]);
    let to = https_url(&upstream, "");
    let cacert = server_cert.cert_path();
    let rt = tokio::runtime::Runtime::new().unwrap();
    for (extra, dials) in [(&[][..], 2), (&["--websockets-over-http2"][..], 1)] {
        let mut args = vec![
            "--upstream-cacert",
            &cacert,
            "--metrics-addr",
            "127.0.0.1:0",
        ];
        args.extend_from_slice(extra);
        let front = proxy(&to, &args);
        let metrics = front.logged_addr("metrics");
        let ran = run_nethttp(&["get", &front.url("/")], LIMIT);
        assert_eq!(ran.stdout_str(), "Hello, World!");
        assert_eq!(upstream_dials(metrics), 1, "the HTTP/2 connection");
        let url = front.url("/ws").replace("http://", "ws://");
        rt.block_on(async {
            let (mut ws, _) = tokio::time::timeout(LIMIT, nethttp::websocket::connect(&url))
                .await
                .expect("the handshake in time")
                .unwrap();
            ws.send(Message::text("through")).await.unwrap();
            let echo = tokio::time::timeout(LIMIT, ws.next()).await.unwrap();
            assert_eq!(echo.unwrap().unwrap(), Message::text("through"));
        });
        assert_eq!(upstream_dials(metrics), dials, "{extra:?}");
    }
}

#[test]
fn cross_origin_protection_refuses_forged_posts_before_the_upstream() {
    let Some(curl_bin) = peer("curl", "--version") else {
        return;
    };
    let upstream = serve_plain();
    let front = proxy(
        &upstream.url(""),
        &[
            "--cross-origin-protection",
            "--trusted-origin",
            "https://Admin.example:443",
            "--cross-origin-bypass",
            "POST /status/{code}",
        ],
    );
    let own = format!("Origin: {}", front.url(""));
    let echo = front.url("/echo");
    let hook = front.url("/status/201");
    // (fields, URL, status, body): the upstream answers `POST /status/..` with 405, so a 405
    // is a request that got through the proxy.
    let cases: &[(&[&str], &str, &str, &str)] = &[
        (&["-H", "Sec-Fetch-Site: cross-site"], &echo, "403", "cross-origin request detected from Sec-Fetch-Site header\n"),
        (&["-H", "Sec-Fetch-Site: same-site"], &echo, "403", "cross-origin request detected from Sec-Fetch-Site header\n"),
        (&["-H", "Sec-Fetch-Site: same-origin"], &echo, "200", "a=1"),
        (&["-H", "Origin: http://evil.example"], &echo, "403", "cross-origin request detected, and/or browser is out of date: Sec-Fetch-Site is missing, and Origin does not match Host\n"),
        (&["-H", &own], &echo, "200", "a=1"),
        (&["-H", "Sec-Fetch-Site: cross-site", "-H", "Origin: https://admin.example"], &echo, "200", "a=1"),
        (&[], &echo, "200", "a=1"),
        (&["-H", "Sec-Fetch-Site: cross-site"], &hook, "405", ""),
    ];
    for proto in ["--http1.1", "--http2-prior-knowledge"] {
        for (fields, url, status, body) in cases {
            // A body only where the upstream reads it: curl 7.88 (Debian 12) fails a request
            // whose stream the server ends with RST_STREAM(NO_ERROR) after a complete
            // answer but before curl sent its body (RFC 9113 §8.1 allows it; Go's server
            // and the `h2` crate do it; later curls accept it).
            let data: &[&str] = if *status == "200" {
                &["-d", "a=1"]
            } else {
                &["-X", "POST"]
            };
            let mut args = vec![proto, "-w", "\n%{http_code}", url];
            args.extend_from_slice(data);
            args.extend_from_slice(fields);
            let out = curl(&curl_bin, &args);
            let (got_body, got_status) = out.rsplit_once('\n').unwrap();
            assert_eq!(got_status, *status, "{args:?}: {out}");
            if !body.is_empty() {
                assert_eq!(got_body, *body, "{args:?}");
            }
        }
    }
    // A safe method passes whatever it carries.
    let args = [
        "-w",
        "%{http_code}",
        "-o",
        "/dev/null",
        "-H",
        "Sec-Fetch-Site: cross-site",
    ];
    let url = front.url("/");
    assert_eq!(
        curl(&curl_bin, &[&args[..], &[url.as_str()]].concat()),
        "200"
    );
}

#[test]
fn an_upstream_that_is_down_is_502() {
    let port = common::free_port();
    let front = proxy(&format!("http://127.0.0.1:{port}"), &[]);
    let ran = run_nethttp(&["get", "-i", &front.url("/")], LIMIT);
    assert!(
        ran.stdout_str().starts_with("HTTP/1.1 502"),
        "{}",
        ran.stdout_str()
    );
}

#[test]
fn bad_flags_are_usage_errors() {
    let cases: [&[&str]; 10] = [
        &["proxy", "--addr", "127.0.0.1:0"],
        &[
            "proxy",
            "--to",
            "http://a",
            "--trusted-origin",
            "https://a.example",
        ],
        &[
            "proxy",
            "--to",
            "http://a",
            "--cross-origin-protection",
            "--trusted-origin",
            "a.example",
        ],
        &[
            "proxy",
            "--to",
            "http://a",
            "--cross-origin-protection",
            "--cross-origin-bypass",
            "/{x",
        ],
        &["proxy", "--forward", "--cross-origin-protection"],
        &["proxy", "--to", "ftp://x"],
        &["proxy", "--to", "127.0.0.1:9000"],
        &["proxy", "--to", "unix:"],
        &["proxy", "--to", "http://a", "--tls-cert", "c.pem"],
        &["proxy", "--to", "http://a", "--upstream-timeout", "soon"],
    ];
    for args in cases {
        let ran = run_nethttp(args, LIMIT);
        assert_eq!(ran.status.code(), Some(2), "{args:?}: {}", ran.stderr);
    }
}

#[test]
fn sigterm_stops_the_proxy_gracefully() {
    let upstream = serve_plain();
    let mut front = proxy(&upstream.url(""), &["--shutdown-timeout", "5s"]);
    let ran = run_nethttp(&["get", &front.url("/")], LIMIT);
    assert!(ran.status.success(), "{}", ran.stderr);
    front.signal(libc::SIGTERM);
    let status = front
        .wait_exit(LIMIT)
        .expect("the proxy exits after SIGTERM");
    assert!(status.success(), "{status:?}\n{}", front.log());
    assert!(front.log().contains("stopped"), "{}", front.log());
}

#[test]
fn forward_proxy_tunnels_and_forwards_for_curl() {
    let Some(bin) = peer("curl", "--version") else {
        return;
    };
    let target = serve_plain();
    let port = target.addr.port().to_string();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    cmd.args(["proxy", "--forward", "--addr", "127.0.0.1:0"])
        .args(["--allow-connect-ports", &port])
        .args(["--proxy-auth", "alice:s3cret"]);
    let fwd = Served::spawn(cmd);
    let via = format!("http://alice:s3cret@{}", fwd.addr);
    // Absolute form.
    assert_eq!(
        curl(&bin, &["--noproxy", "", "-x", &via, &target.url("/")]),
        "Hello, World!"
    );
    // Through a CONNECT tunnel (curl's --proxytunnel for an http URL).
    assert_eq!(
        curl(&bin, &["--noproxy", "", "-p", "-x", &via, &target.url("/")]),
        "Hello, World!"
    );
    // Without the credentials: 407.
    let code = curl(
        &bin,
        &[
            "--noproxy",
            "",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-x",
            &format!("http://{}", fwd.addr),
            &target.url("/"),
        ],
    );
    assert_eq!(code, "407");
}

#[test]
fn forward_proxy_flags_are_checked() {
    for args in [
        vec!["proxy", "--forward", "--to", "http://127.0.0.1:1"],
        vec!["proxy", "--forward", "--allow-connect-ports", "https"],
        vec![
            "proxy",
            "--to",
            "http://127.0.0.1:1",
            "--allow-connect-ports",
            "443",
        ],
        vec!["proxy"],
        // Upstream TLS is the reverse proxy's; a forward proxy has no one upstream.
        vec!["proxy", "--forward", "--upstream-insecure"],
        vec!["proxy", "--forward", "--upstream-cacert", "ca.pem"],
        vec!["proxy", "--forward", "--websockets-over-http2"],
        // Both ways of trusting at once, a certificate without its key.
        vec![
            "proxy",
            "--to",
            "https://127.0.0.1:1",
            "--upstream-insecure",
            "--upstream-cacert",
            "ca.pem",
        ],
        vec![
            "proxy",
            "--to",
            "https://127.0.0.1:1",
            "--upstream-cert",
            "c.pem",
        ],
    ] {
        let ran = run_nethttp(&args, LIMIT);
        assert_eq!(ran.status.code(), Some(2), "{args:?}: {}", ran.stderr);
    }
}

/// An upstream that sends a head and a first chunk, waits `gap`, then ends its body.
fn gappy_upstream(gap: Duration) -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in l.incoming().take(2) {
            let Ok(mut s) = conn else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nfirst\n\r\n",
                );
                std::thread::sleep(gap);
                let _ = s.write_all(b"5\r\nlast\n\r\n0\r\n\r\n");
            });
        }
    });
    addr
}

#[test]
fn upstream_read_timeout_bounds_silence_inside_a_body() {
    let Some(bin) = peer("curl", "--version") else {
        return;
    };
    let upstream = gappy_upstream(Duration::from_millis(1500));
    let to = format!("http://{upstream}");
    // The default (60 s) waits out the gap.
    let patient = proxy(&to, &[]);
    assert_eq!(curl(&bin, &[&patient.url("/")]), "first\nlast\n");
    // 500 ms does not: the body is cut after its first chunk.
    let strict = proxy(&to, &["--upstream-read-timeout", "500ms"]);
    let out = Command::new(&bin)
        .args(["-sS", "--max-time", "10", &strict.url("/")])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "first\n");
}
