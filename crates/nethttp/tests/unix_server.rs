//! The server on a Unix domain socket: exact bytes over a raw socket, keep-alive and h2c with
//! curl `--unix-socket`, nginx proxying to a Unix upstream, what a request learns of its
//! peer, the socket file's life, a socket in Linux's abstract namespace (curl
//! `--abstract-unix-socket`, Python, our client), and hostile peers (one that never reads,
//! one that trickles, one that lies about lengths, one that floods) bounded as on TCP.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::peers::peer;
use common::wire::{error_response, normalize, ok_text, ok_text_close};
use nethttp::client::ResponseExt;
use nethttp::http::StatusCode;
use nethttp::{text_response, Body, ConnInfo, ConnState, HttpRequest, Peer, Server, ServerHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// Bound on any wait in these tests.
const LIMIT: Duration = Duration::from_secs(10);

struct Served {
    handle: ServerHandle,
    path: PathBuf,
    _dir: tempfile::TempDir,
}

fn serve(server: Server, handler: impl nethttp::Handler) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("http.sock");
    let listener = server.bind_unix(&path).expect("bind_unix");
    let handle = server.serve(listener, handler);
    Served {
        handle,
        path,
        _dir: dir,
    }
}

/// As [`serve`], with a socket any local user may connect to (nginx's workers run as
/// another user when nginx is started as root).
fn serve_shared(server: Server, handler: impl nethttp::Handler) -> Served {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.path().join("http.sock");
    let opts = nethttp::net::UnixBindOptions {
        mode: Some(0o666),
        ..Default::default()
    };
    let listener = nethttp::net::UnixListener::bind(&path, &opts).expect("bind");
    let handle = server.serve(listener, handler);
    Served {
        handle,
        path,
        _dir: dir,
    }
}

async fn connect(path: &Path) -> UnixStream {
    tokio::time::timeout(LIMIT, UnixStream::connect(path))
        .await
        .expect("connect timed out")
        .expect("connect")
}

async fn read_to_eof(s: &mut UnixStream) -> Vec<u8> {
    let mut out = Vec::new();
    tokio::time::timeout(LIMIT, s.read_to_end(&mut out))
        .await
        .expect("no EOF in time")
        .expect("read");
    out
}

/// What arrives until the end of the stream or an error. A Unix socket closed while the
/// client's bytes still wait unread in it reports `ECONNRESET` to the client after the
/// bytes the server sent (Linux), where TCP would have sent an RST.
async fn read_until_closed(s: &mut UnixStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let deadline = Instant::now() + LIMIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut chunk)).await {
            Ok(Ok(0) | Err(_)) => return out,
            Ok(Ok(n)) => out.extend_from_slice(&chunk[..n]),
            Err(_) => panic!(
                "not closed in time; got {:?}",
                String::from_utf8_lossy(&out)
            ),
        }
    }
}

fn hello(req: HttpRequest) -> impl std::future::Future<Output = nethttp::HttpResponse> {
    let path = req.uri().path().to_owned();
    async move { text_response(StatusCode::OK, format!("hello {path}")) }
}

#[tokio::test]
async fn raw_requests_get_exact_bytes_and_share_one_connection() {
    let served = serve(Server::new(), hello);
    let mut s = connect(&served.path).await;
    s.write_all(
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let got = read_to_eof(&mut s).await;
    // Two responses on one connection: each normalised on its own.
    let text = String::from_utf8(got).unwrap();
    let split = text.find("HTTP/1.1 200 OK\r\n").unwrap();
    let second = text[split + 1..].find("HTTP/1.1 ").unwrap() + split + 1;
    assert_eq!(normalize(&text.as_bytes()[..second]), ok_text("hello /a"));
    assert_eq!(
        normalize(&text.as_bytes()[second..]),
        ok_text_close("hello /b")
    );
}

#[tokio::test]
async fn a_request_learns_its_peer_is_a_unix_socket_and_who_connected() {
    let server = Server::new().conn_info(true);
    let served = serve(server, |req: HttpRequest| async move {
        let info = req.extensions().get::<ConnInfo>().copied();
        let text = match info {
            Some(ConnInfo {
                peer: Peer::Unix(Some(cred)),
                remote_addr,
                ..
            }) => format!(
                "unix uid={} pid={:?} remote={remote_addr}",
                cred.uid, cred.pid
            ),
            other => format!("unexpected {other:?}"),
        };
        text_response(StatusCode::OK, text)
    });
    let mut s = connect(&served.path).await;
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let got = String::from_utf8(read_to_eof(&mut s).await).unwrap();
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let want = format!(
        "unix uid={uid} pid=Some({}) remote=0.0.0.0:0",
        std::process::id()
    );
    assert!(got.ends_with(&want), "{got}");
}

#[tokio::test]
async fn the_state_hook_sees_a_unix_connection_through_its_life() {
    let states = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = states.clone();
    let server = Server::new().conn_state_hook(move |addr, state| {
        seen.lock().unwrap().push((addr, state));
    });
    let served = serve(server, hello);
    let mut s = connect(&served.path).await;
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    read_to_eof(&mut s).await;
    let start = Instant::now();
    loop {
        let got: Vec<ConnState> = states.lock().unwrap().iter().map(|(_, s)| *s).collect();
        if got.last() == Some(&ConnState::Closed) {
            assert_eq!(
                got,
                [ConnState::New, ConnState::Active, ConnState::Closed],
                "{got:?}"
            );
            break;
        }
        assert!(start.elapsed() < LIMIT, "no Closed state: {got:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let unspecified: std::net::SocketAddr = "0.0.0.0:0".parse().unwrap();
    assert!(states
        .lock()
        .unwrap()
        .iter()
        .all(|(a, _)| *a == unspecified));
}

#[tokio::test]
async fn shutdown_closes_the_listener_and_removes_the_socket_file() {
    let served = serve(Server::new(), hello);
    assert!(served.handle.local_addrs().is_empty());
    assert!(served.path.exists());
    let report = tokio::time::timeout(LIMIT, served.handle.shutdown(Duration::from_secs(2)))
        .await
        .expect("shutdown hung");
    assert_eq!(report.forced, 0);
    assert!(!served.path.exists(), "socket file left after shutdown");
    let e = UnixStream::connect(&served.path).await.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{e}");
}

#[tokio::test]
async fn a_client_leaving_drops_its_handler_as_on_tcp() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    let served = serve(Server::new(), move |_req: HttpRequest| {
        let d = d.clone();
        async move {
            struct Guard(Arc<AtomicUsize>);
            impl Drop for Guard {
                fn drop(&mut self) {
                    self.0.fetch_add(1, Ordering::SeqCst);
                }
            }
            let _g = Guard(d);
            std::future::pending::<()>().await;
            text_response(StatusCode::OK, "never")
        }
    });
    let mut s = connect(&served.path).await;
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(s);
    let start = Instant::now();
    while dropped.load(Ordering::SeqCst) == 0 {
        assert!(
            start.elapsed() < LIMIT,
            "handler not dropped after the client left"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Nothing left to wait for: shutdown is immediate.
    let report = served.handle.shutdown(Duration::from_secs(5)).await;
    assert_eq!(report.forced, 0);
}

// ---- hostile peers ------------------------------------------------------------------------

#[tokio::test]
async fn a_peer_that_never_reads_is_cut_by_the_write_timeout() {
    let big = Arc::new(vec![b'x'; 8 << 20]);
    let server = Server::new().write_timeout(Duration::from_millis(300));
    let served = serve(server, move |_req: HttpRequest| {
        let big = big.clone();
        async move { http::Response::new(Body::from(big.to_vec())) }
    });
    let mut s = connect(&served.path).await;
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // Never read: the socket buffers fill, the server's write stalls.
    let start = Instant::now();
    while served.handle.live_connections() == 0 {
        assert!(start.elapsed() < LIMIT, "connection never accepted");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    while served.handle.live_connections() > 0 {
        assert!(
            start.elapsed() < LIMIT,
            "connection of a peer that never reads still open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // What it got is a truncated body, never a complete response.
    let got = read_to_eof(&mut s).await;
    assert!(got.len() < 8 << 20, "{} bytes", got.len());
}

#[tokio::test]
async fn a_peer_that_trickles_its_head_gets_a_408_at_the_header_deadline() {
    let server = Server::new().read_header_timeout(Duration::from_millis(500));
    let served = serve(server, hello);
    let mut s = connect(&served.path).await;
    let start = Instant::now();
    let request = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    for byte in request.iter() {
        if s.write_all(&[*byte]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        if start.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    let got = normalize(&read_to_eof(&mut s).await);
    assert_eq!(
        got,
        error_response("408 Request Timeout", "request header read timeout")
    );
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn a_peer_that_lies_about_lengths_gets_400_or_a_failed_body_never_a_hang() {
    let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = bodies.clone();
    let server = Server::new().read_timeout(Duration::from_secs(2));
    let served = serve(server, move |req: HttpRequest| {
        let seen = seen.clone();
        async move {
            let got = req.into_body().to_bytes(1 << 20).await;
            seen.lock()
                .unwrap()
                .push(got.map(|b| b.len()).map_err(|e| e.kind()));
            text_response(StatusCode::OK, "read")
        }
    });
    // A length that is not a number.
    let mut s = connect(&served.path).await;
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n")
        .await
        .unwrap();
    let got = normalize(&read_to_eof(&mut s).await);
    assert!(got.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{got}");
    // A body shorter than its length, then the end of the stream.
    let mut s = connect(&served.path).await;
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten b")
        .await
        .unwrap();
    s.shutdown().await.unwrap();
    read_to_eof(&mut s).await;
    let start = Instant::now();
    loop {
        if let Some(r) = bodies.lock().unwrap().first() {
            assert!(r.is_err(), "a truncated body read as complete: {r:?}");
            break;
        }
        assert!(start.elapsed() < LIMIT, "handler's body read hung");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_peer_that_floods_headers_gets_a_431_and_the_server_holds_its_limit() {
    let server = Server::new().max_header_bytes(4096);
    let served = serve(server, hello);
    let mut s = connect(&served.path).await;
    let mut flood = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..1000 {
        flood.extend_from_slice(format!("X-Flood-{i}: {}\r\n", "v".repeat(100)).as_bytes());
    }
    flood.extend_from_slice(b"\r\n");
    // The server answers and closes once the limit is crossed; the rest may not be taken.
    let _ = s.write_all(&flood).await;
    let got = normalize(&read_until_closed(&mut s).await);
    assert_eq!(
        got,
        error_response(
            "431 Request Header Fields Too Large",
            "request header fields too large"
        )
    );
}

// ---- real peers ---------------------------------------------------------------------------

fn curl() -> Option<PathBuf> {
    peer("curl", "--version", &[])
}

/// What curl prints for `args` (after `-sS`), then ` ` and the HTTP version it spoke.
async fn curl_stdout(curl: &Path, args: &[&str]) -> String {
    let out = tokio::process::Command::new(curl)
        .arg("-sS")
        .args(args)
        .args(["-w", " %{http_version}"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn curl_speaks_http1_with_keep_alive_and_h2c_over_the_socket() {
    let Some(curl) = curl() else { return };
    let accepted = Arc::new(AtomicUsize::new(0));
    let a = accepted.clone();
    let server = Server::new().conn_state_hook(move |_, state| {
        if state == ConnState::New {
            a.fetch_add(1, Ordering::SeqCst);
        }
    });
    let served = serve(server, hello);
    let sock = served.path.to_str().unwrap().to_owned();
    // Two URLs in one curl run: one connection, reused.
    let out = tokio::process::Command::new(&curl)
        .args(["-sS", "--unix-socket", &sock])
        .args(["-w", " %{http_version} %{num_connects}\\n"])
        .args(["http://localhost/one", "http://localhost/two"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello /one 1.1 1\nhello /two 1.1 0\n"
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    // HTTP/2 by prior knowledge, an upload echoed in the length.
    let out = curl_stdout(
        &curl,
        &[
            "--http2-prior-knowledge",
            "--unix-socket",
            &sock,
            "http://localhost/h2",
        ],
    )
    .await;
    assert_eq!(out, "hello /h2 2");
}

/// A socket in the abstract namespace (a leading NUL): no file, reached by its name alone,
/// by curl, by Python's `socket` module (the name after a NUL, its own convention) and by our
/// client, over HTTP/1.1 and h2c.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn an_abstract_socket_serves_curl_python_and_our_client() {
    let name = format!("nethttp-abstract-{}", std::process::id());
    let path = format!("\0{name}");
    let server = Server::new().conn_info(true);
    let listener = server.bind_unix(&path).expect("bind an abstract name");
    assert_eq!(listener.abstract_name(), Some(name.as_bytes()));
    assert_eq!(listener.path(), None);
    let handle = server.serve(listener, |req: HttpRequest| async move {
        let peer = match req.extensions().get::<ConnInfo>().map(|i| i.peer) {
            Some(Peer::Unix(Some(cred))) => format!("pid {:?}", cred.pid.is_some()),
            other => format!("unexpected {other:?}"),
        };
        text_response(StatusCode::OK, format!("{} {peer}", req.uri().path()))
    });

    let client = nethttp::Client::builder()
        .transport(|t| t.unix_socket(&path))
        .build()
        .unwrap();
    let res = client.get("http://localhost/ours").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text(1024).await.unwrap(), "/ours pid true");

    if let Some(curl) = curl() {
        for (proto, want) in [("--http1.1", "1.1"), ("--http2-prior-knowledge", "2")] {
            let args = [
                proto,
                "--abstract-unix-socket",
                &name,
                "http://localhost/curl",
            ];
            let out = curl_stdout(&curl, &args).await;
            assert_eq!(out, format!("/curl pid true {want}"));
        }
    }

    if let Some(py) = peer("python3", "--version", &[]) {
        let script = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect("\0" + sys.argv[1])
s.sendall(b"GET /py HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
out = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    out += d
sys.stdout.write(out.decode())
"#;
        let out = tokio::process::Command::new(&py)
            .args(["-c", script, &name])
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            normalize(&out.stdout),
            ok_text_close("/py pid true"),
            "{out:?}"
        );
    }
    handle.shutdown(LIMIT).await;
    // The name is free again: a new server may take it.
    let again = Server::new()
        .bind_unix(&path)
        .expect("the name is free again");
    drop(again);
}

#[tokio::test]
async fn nginx_proxies_to_a_unix_socket_upstream_over_kept_alive_connections() {
    let Some(nginx) = peer("nginx", "-v", &["/usr/sbin"]) else {
        return;
    };
    let accepted = Arc::new(AtomicUsize::new(0));
    let a = accepted.clone();
    let server = Server::new().conn_state_hook(move |_, state| {
        if state == ConnState::New {
            a.fetch_add(1, Ordering::SeqCst);
        }
    });
    let served = serve_shared(server, |req: HttpRequest| async move {
        let via = req
            .headers()
            .get("x-via")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned();
        text_response(StatusCode::OK, format!("{} via {via}", req.uri().path()))
    });
    let dir = tempfile::tempdir().unwrap();
    let sock = served.path.display();
    let (_nginx, port) = common::peers::nginx_on_free_port(&nginx, dir.path(), |port| {
        format!(
            r#"
    access_log off;
    upstream app {{
        server unix:{sock};
        keepalive 4;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Via nginx;
        }}
    }}
"#
        )
    })
    .await;
    // Five requests in turn, each on a new client connection to nginx.
    for i in 0..5 {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        s.write_all(
            format!("GET /r{i} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut got = Vec::new();
        tokio::time::timeout(LIMIT, s.read_to_end(&mut got))
            .await
            .expect("nginx answer timed out")
            .unwrap();
        let got = String::from_utf8_lossy(&got);
        assert!(
            got.starts_with("HTTP/1.1 200 OK\r\n"),
            "{got}\nnginx error log:\n{}",
            std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
        );
        assert!(got.ends_with(&format!("/r{i} via nginx")), "{got}");
    }
    // nginx kept its upstream connection to us alive between them.
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}
