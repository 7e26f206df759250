//! `nethttp get` and `nethttp bench` with `--unix-socket PATH` and `--resolve HOST:PORT:ADDR`,
//! the real binary against raw servers that record each request head: the output and the
//! request line and Host match curl's with the same flags (curl is the reference), https runs
//! TLS over the socket (our library's server behind it), a bench run over a socket completes,
//! and bad values are usage errors (exit 2) naming the flag.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::peers::peer;
use common::tls::TestCert;
use common::{run_nethttp, Ran};

/// Bound on any single run of the binary or curl.
const TIMEOUT: Duration = Duration::from_secs(20);

const BODY: &str = "hello over the socket\n";

/// The response every raw server gives: lowercase names, as `get -i` prints them, so its
/// output can equal curl's byte for byte.
fn response() -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    )
}

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "nethttp-cli-unix-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The request heads a raw server read, in order.
type Heads = Arc<Mutex<Vec<String>>>;

/// Serves one connection: reads request heads (bodyless requests only) and answers each with
/// [`response`], until the client closes.
fn answer_all(mut stream: impl Read + Write, heads: &Heads) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head: Vec<u8> = buf.drain(..i + 4).collect();
            heads
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(&head).into_owned());
            if stream.write_all(response().as_bytes()).is_err() {
                return;
            }
        }
        match stream.read(&mut chunk) {
            Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return,
        }
    }
}

/// Runs [`answer_all`] on a thread of its own for every stream `accept` gives, until it gives
/// none; the heads read.
fn serve_each<S, A>(mut accept: A) -> Heads
where
    S: Read + Write + Send + 'static,
    A: FnMut() -> Option<S> + Send + 'static,
{
    let heads = Heads::default();
    let seen = heads.clone();
    std::thread::spawn(move || {
        while let Some(stream) = accept() {
            let seen = seen.clone();
            std::thread::spawn(move || answer_all(stream, &seen));
        }
    });
    heads
}

/// A raw server on a Unix socket in a fresh directory.
fn unix_server() -> (TempDir, String, Heads) {
    let dir = TempDir::new();
    let path = dir.0.join("s.sock");
    let listener = UnixListener::bind(&path).expect("bind the unix socket");
    let heads = serve_each(move || {
        let (stream, _) = listener.accept().ok()?;
        stream.set_read_timeout(Some(TIMEOUT)).ok();
        Some(stream)
    });
    let path = path.into_os_string().into_string().expect("utf-8 path");
    (dir, path, heads)
}

/// A raw server on a loopback TCP port of `ip`, if it can be bound.
fn tcp_server(ip: &str) -> Option<(SocketAddr, Heads)> {
    let listener = TcpListener::bind((ip, 0)).ok()?;
    let addr = listener.local_addr().unwrap();
    let heads = serve_each(move || {
        let (stream, _) = listener.accept().ok()?;
        stream.set_read_timeout(Some(TIMEOUT)).ok();
        Some(stream)
    });
    Some((addr, heads))
}

fn nethttp_ok(args: &[&str]) -> Ran {
    let ran = run_nethttp(args, TIMEOUT);
    assert!(
        ran.status.success(),
        "nethttp {args:?} failed: {}\nstderr:\n{}",
        ran.status,
        ran.stderr
    );
    ran
}

/// Runs curl with `args` (and `-s`), bounded; its stdout.
fn curl(bin: &std::path::Path, args: &[&str]) -> Vec<u8> {
    let mut child = Command::new(bin)
        .arg("-s")
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn curl");
    let deadline = std::time::Instant::now() + TIMEOUT;
    while child.try_wait().unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "curl {args:?} hung");
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "curl {args:?}: {}", out.status);
    out.stdout
}

/// The request line and the Host header of a head, the header's name lowercased.
fn line_and_host(head: &str) -> (String, String) {
    let mut lines = head.split("\r\n");
    let line = lines.next().unwrap_or_default().to_owned();
    let host = lines
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("host")
                .then(|| format!("host: {}", v.trim()))
        })
        .unwrap_or_default();
    (line, host)
}

#[test]
fn get_over_a_unix_socket_prints_what_curl_prints_and_sends_the_urls_host() {
    let (_dir, path, heads) = unix_server();
    let url = "http://example.test:8080/x?y=1";
    let ran = nethttp_ok(&["get", "--unix-socket", &path, url]);
    assert_eq!(ran.stdout_str(), BODY);
    let with_head = nethttp_ok(&["get", "-i", "--unix-socket", &path, url]);
    let ours = heads.lock().unwrap().clone();
    assert_eq!(ours.len(), 2);
    assert_eq!(
        line_and_host(&ours[0]),
        (
            "GET /x?y=1 HTTP/1.1".to_owned(),
            "host: example.test:8080".to_owned()
        )
    );
    let Some(curl_bin) = peer("curl", "--version") else {
        return;
    };
    heads.lock().unwrap().clear();
    let theirs_body = curl(&curl_bin, &["--unix-socket", &path, url]);
    let theirs_head = curl(&curl_bin, &["-i", "--unix-socket", &path, url]);
    assert_eq!(theirs_body, ran.stdout, "the body as curl prints it");
    assert_eq!(
        String::from_utf8_lossy(&theirs_head),
        with_head.stdout_str(),
        "-i as curl prints it"
    );
    let curls = heads.lock().unwrap().clone();
    assert_eq!(
        line_and_host(&curls[0]),
        line_and_host(&ours[0]),
        "{curls:?}"
    );
}

#[test]
fn verbose_names_the_socket() {
    let (_dir, path, _) = unix_server();
    let ran = nethttp_ok(&["get", "-v", "--unix-socket", &path, "http://example.test/"]);
    assert!(
        ran.stderr.contains(&format!(
            "* every connection goes to the Unix socket {path}"
        )),
        "{}",
        ran.stderr
    );
}

/// https over the socket: TLS with the URL's host, ALPN h2, served by our library.
#[test]
fn get_https_over_a_unix_socket_checks_the_certificate_for_the_urls_host() {
    let cert = TestCert::new();
    let dir = TempDir::new();
    let path = dir.0.join("tls.sock");
    let tls = nethttp::ServerTls::from_pem_files(cert.cert_path(), cert.key_path()).unwrap();
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::UnixListener::from_std(listener).unwrap();
            let server = nethttp::Server::new().tls(tls);
            let handler = Arc::new(|req: nethttp::HttpRequest| async move {
                let authority = req.uri().authority().map(|a| a.to_string());
                nethttp::text_response(http::StatusCode::OK, authority.unwrap_or_default())
            });
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(server.serve_connection(stream, handler.clone()));
            }
        });
    });
    let path = path.to_str().unwrap().to_owned();
    let cacert = cert.cert_path();
    let ran = nethttp_ok(&[
        "get",
        "-i",
        "--unix-socket",
        &path,
        "--cacert",
        &cacert,
        "https://localhost:8443/",
    ]);
    let out = ran.stdout_str();
    assert!(out.starts_with("HTTP/2 200 OK\r\n"), "{out}");
    assert!(out.ends_with("\r\n\r\nlocalhost:8443"), "{out}");
    // The certificate names localhost, not the socket nor another host.
    let ran = run_nethttp(
        &[
            "get",
            "--unix-socket",
            &path,
            "--cacert",
            &cacert,
            "https://example.test/",
        ],
        TIMEOUT,
    );
    assert_eq!(ran.status.code(), Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("certificate is for other names"),
        "{}",
        ran.stderr
    );
}

#[test]
fn get_resolve_connects_to_the_address_and_keeps_the_host() {
    let (addr, heads) = tcp_server("127.0.0.1").unwrap();
    let port = addr.port();
    let pin = format!("example.test:{port}:127.0.0.1");
    let url = format!("http://example.test:{port}/r");
    let ran = nethttp_ok(&["get", "--resolve", &pin, &url]);
    assert_eq!(ran.stdout_str(), BODY);
    let ours = heads.lock().unwrap()[0].clone();
    assert_eq!(
        line_and_host(&ours),
        (
            "GET /r HTTP/1.1".to_owned(),
            format!("host: example.test:{port}")
        )
    );
    if let Some(curl_bin) = peer("curl", "--version") {
        heads.lock().unwrap().clear();
        let theirs = curl(&curl_bin, &["--resolve", &pin, &url]);
        let ours = nethttp_ok(&["get", "--resolve", &pin, &url]);
        assert_eq!(theirs, ours.stdout, "the body as curl prints it");
        let seen = heads.lock().unwrap().clone();
        assert_eq!(line_and_host(&seen[0]), line_and_host(&seen[1]), "{seen:?}");
    }
}

/// `get --resolve PIN http://HOST:PORT/` reaches the server with `Host: HOST:PORT`.
fn get_pinned(pin: &str, host: &str, port: u16, heads: &Heads) {
    let url = format!("http://{host}:{port}/");
    let ran = nethttp_ok(&["get", "--resolve", pin, &url]);
    assert_eq!(ran.stdout_str(), BODY);
    let head = heads.lock().unwrap()[0].clone();
    assert_eq!(line_and_host(&head).1, format!("host: {host}:{port}"));
}

#[test]
fn get_resolve_for_another_port_does_not_apply() {
    let (addr, heads) = tcp_server("127.0.0.1").unwrap();
    let port = addr.port();
    // Were it applied, nothing listens on 127.0.0.2 and the request would fail.
    let other = format!("localhost:{}:127.0.0.2", port.wrapping_add(1).max(1));
    get_pinned(&other, "localhost", port, &heads);
}

#[test]
fn get_resolve_takes_a_bracketed_ipv6_address() {
    let Some((addr, heads)) = tcp_server("::1") else {
        eprintln!("note: no IPv6 loopback here; the [::1] case is not run");
        return;
    };
    let port = addr.port();
    get_pinned(&format!("v6.test:{port}:[::1]"), "v6.test", port, &heads);
}

#[test]
fn bench_over_a_unix_socket_completes_a_short_run() {
    let (_dir, path, heads) = unix_server();
    let ran = nethttp_ok(&[
        "bench",
        "--unix-socket",
        &path,
        "-n",
        "20",
        "-c",
        "2",
        "--json",
        "http://example.test/",
    ]);
    let r: serde_json::Value = serde_json::from_str(ran.stdout_str().trim()).unwrap();
    assert_eq!(r["requests"], 20, "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(r["status"], serde_json::json!({"200": 20}), "{r}");
    assert_eq!(r["connections_opened"], 2, "{r}");
    let heads = heads.lock().unwrap();
    assert_eq!(heads.len(), 20);
    assert!(heads
        .iter()
        .all(|h| line_and_host(h).1 == "host: example.test"));
}

#[test]
fn bench_resolve_pins_the_host() {
    let (addr, heads) = tcp_server("127.0.0.1").unwrap();
    let port = addr.port();
    let pin = format!("bench.test:{port}:127.0.0.1");
    let url = format!("http://bench.test:{port}/");
    let ran = nethttp_ok(&[
        "bench",
        "--resolve",
        &pin,
        "-n",
        "5",
        "-c",
        "1",
        "--json",
        &url,
    ]);
    let r: serde_json::Value = serde_json::from_str(ran.stdout_str().trim()).unwrap();
    assert_eq!(r["status"], serde_json::json!({"200": 5}), "{r}");
    assert_eq!(heads.lock().unwrap().len(), 5);
}

/// Exit status 2, nothing on stdout, and `needle` in the message.
fn usage_error(args: &[&str], needle: &str) {
    let ran = run_nethttp(args, TIMEOUT);
    assert_eq!(
        ran.status.code(),
        Some(2),
        "{args:?}: exit status {}; stderr:\n{}",
        ran.status,
        ran.stderr
    );
    assert!(ran.stdout.is_empty(), "{}", ran.stdout_str());
    assert!(
        ran.stderr.contains(needle),
        "{args:?}: no {needle:?} in:\n{}",
        ran.stderr
    );
}

#[test]
fn bad_dial_flags_are_usage_errors() {
    for cmd in ["get", "bench"] {
        let url = "http://example.test/";
        usage_error(
            &[cmd, "--resolve", "example.test", url],
            "expected HOST:PORT:ADDR",
        );
        usage_error(
            &[cmd, "--resolve", "example.test:http:127.0.0.1", url],
            "port \"http\" is not a number from 1 to 65535",
        );
        usage_error(
            &[cmd, "--resolve", "example.test:80:localhost", url],
            "\"localhost\" is not an IP address",
        );
        usage_error(
            &[cmd, "--resolve", "example.test:80:[::1", url],
            "\"[::1\" is not an IP address",
        );
        usage_error(&[cmd, "--unix-socket", "", url], "the path is empty");
        let long = format!("/tmp/{}", "s".repeat(120));
        usage_error(
            &[cmd, "--unix-socket", &long, url],
            "a Unix socket's may be 107 at most",
        );
        usage_error(
            &[
                cmd,
                "--unix-socket",
                "/tmp/s.sock",
                "--resolve",
                "h:80:127.0.0.1",
                url,
            ],
            "cannot be used with",
        );
        usage_error(
            &[cmd, "--abstract-unix-socket", "", url],
            "the name is empty",
        );
        let long = "s".repeat(108);
        usage_error(
            &[cmd, "--abstract-unix-socket", &long, url],
            "an abstract socket's may be 107 at most",
        );
        for other in [
            ["--unix-socket", "/tmp/s.sock"],
            ["--resolve", "h:80:127.0.0.1"],
            ["--connect-to", "h:80:127.0.0.1:81"],
        ] {
            let mut args = vec![cmd, "--abstract-unix-socket", "app"];
            args.extend(other);
            args.push(url);
            usage_error(&args, "cannot be used with");
        }
    }
    usage_error(
        &[
            "get",
            "--abstract-unix-socket",
            "app",
            "-x",
            "127.0.0.1:3128",
            "http://h/",
        ],
        "cannot be used with",
    );
    usage_error(
        &[
            "get",
            "--unix-socket",
            "/tmp/s.sock",
            "-x",
            "127.0.0.1:3128",
            "http://h/",
        ],
        "cannot be used with",
    );
    usage_error(
        &["bench", "--unix-socket", "/tmp/s.sock", "-n", "1"],
        "required arguments were not provided",
    );
}

#[test]
fn a_socket_nobody_listens_on_fails_naming_the_path() {
    let dir = TempDir::new();
    let path = dir.0.join("none.sock");
    let path = path.to_str().unwrap();
    let ran = run_nethttp(
        &["get", "--unix-socket", path, "http://example.test/"],
        TIMEOUT,
    );
    assert_eq!(ran.status.code(), Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr.contains(&format!(
            "nethttp: GET http://example.test/: dial failed: connect to unix socket {path}: \
             No such file or directory"
        )),
        "{}",
        ran.stderr
    );
}
