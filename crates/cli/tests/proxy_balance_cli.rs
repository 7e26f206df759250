//! `nethttp proxy` with several `--to` upstreams beside nginx's `upstream` block with the
//! same servers and weights, in front of the same backends: requests shared in the same
//! order, and the same answers when one upstream drops requests (the idempotent ones moved
//! to the next, the others answered `502`), request by request.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::nginx::{self, Nginx};
use common::{wire, Served};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// `nethttp serve --dir` over a directory whose file `who` says `name`.
fn backend(name: &str) -> (Served, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("who"), name).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--dir"])
        .arg(dir.path());
    (Served::spawn(cmd), dir)
}

fn proxy(to: &[String], extra: &[&str]) -> Served {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    cmd.args(["proxy", "--addr", "127.0.0.1:0"]);
    for t in to {
        cmd.arg("--to").arg(t);
    }
    cmd.args(extra);
    Served::spawn(cmd)
}

/// An upstream that reads each request and closes without answering; counts them.
async fn dropper() -> (SocketAddr, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    let addr = wire::upstream(move |mut sock| {
        let s = s.clone();
        async move {
            if wire::read_request(&mut sock, &mut Vec::new()).await {
                s.fetch_add(1, Ordering::SeqCst);
                let _ = sock.shutdown().await;
            }
        }
    })
    .await;
    (addr, seen)
}

/// Sends `method /who` (with a 5-byte body unless GET or DELETE) on the keep-alive
/// connection `s`; the status and body of the answer.
async fn ask(s: &mut TcpStream, method: &str) -> (u16, String) {
    let req = match method {
        "GET" | "DELETE" => format!("{method} /who HTTP/1.1\r\nHost: x\r\n\r\n"),
        _ => format!("{method} /who HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"),
    };
    s.write_all(req.as_bytes()).await.unwrap();
    wire::read_response(s).await
}

#[tokio::test]
async fn weights_share_requests_in_the_order_nginx_shares_them() {
    let Some(bin) = nginx::bin() else {
        return;
    };
    let (a, _da) = backend("a");
    let (b, _db) = backend("b");
    let (c, _dc) = backend("c");
    let servers = [
        format!("{} weight=2", a.addr),
        b.addr.to_string(),
        c.addr.to_string(),
    ];
    let nginx = Nginx::start_with_servers(&bin, &servers, "", "");
    let ours = proxy(
        &servers
            .iter()
            .map(|s| format!("http://{s}"))
            .collect::<Vec<_>>(),
        &["--threads", "1"],
    );
    let mut orders = Vec::new();
    for front in [nginx.addr, ours.addr] {
        let mut s = TcpStream::connect(front).await.unwrap();
        let mut order = String::new();
        for _ in 0..12 {
            let (status, who) = ask(&mut s, "GET").await;
            assert_eq!(status, 200);
            order.push_str(&who);
        }
        orders.push(order);
    }
    assert_eq!(orders[0], orders[1], "nginx, then ours");
    assert_eq!(orders[1], "abcaabcaabca");
}

#[tokio::test]
async fn a_dropping_upstream_costs_the_same_requests_as_behind_nginx() {
    let Some(bin) = nginx::bin() else {
        return;
    };
    let (live, _dl) = backend("live");
    let methods = [
        "GET", "GET", "POST", "POST", "PUT", "DELETE", "PATCH", "GET", "POST",
    ];
    let mut runs = Vec::new();
    for front in ["nginx", "ours"] {
        let (drop_addr, dropped) = dropper().await;
        let servers = [
            format!("{drop_addr} max_fails=0"),
            format!("{} max_fails=0", live.addr),
        ];
        let (_nginx, _ours, addr) = if front == "nginx" {
            let n = Nginx::start_with_servers(&bin, &servers, "", "");
            let addr = n.addr;
            (Some(n), None, addr)
        } else {
            let to = [format!("http://{drop_addr}"), live.url("")];
            let p = proxy(&to, &["--threads", "1", "--max-fails", "0"]);
            let addr = p.addr;
            (None, Some(p), addr)
        };
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut answers = Vec::new();
        for m in methods {
            answers.push(ask(&mut s, m).await.0);
        }
        runs.push((answers, dropped.load(Ordering::SeqCst)));
    }
    assert_eq!(
        runs[0], runs[1],
        "nginx, then ours: (statuses, requests dropped)"
    );
    // Every other request meets the dropper first; of those, the GET, PUT and DELETE are
    // moved to the live one, which answers 405 to what a file server does not take; the
    // POST and PATCH are not.
    assert_eq!(
        runs[1].0,
        [200, 200, 502, 405, 405, 405, 502, 200, 502],
        "{methods:?}"
    );
}

#[tokio::test]
async fn least_conn_serves_and_a_unix_socket_cannot_join_a_group() {
    let (a, _da) = backend("a");
    let (b, _db) = backend("b");
    let ours = proxy(&[a.url(""), b.url("")], &["--balance", "least-conn"]);
    let mut s = TcpStream::connect(ours.addr).await.unwrap();
    let mut seen = String::new();
    for _ in 0..4 {
        let (status, who) = ask(&mut s, "GET").await;
        assert_eq!(status, 200);
        seen.push_str(&who);
    }
    // One at a time, each idle: they take turns.
    assert_eq!(seen, "abab");

    // First or not, a Unix socket upstream stands alone.
    for to in [
        ["unix:/tmp/x.sock".to_owned(), a.url("")],
        [a.url(""), "unix:/tmp/x.sock".to_owned()],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_nethttp"))
            .args([
                "proxy",
                "--addr",
                "127.0.0.1:0",
                "--to",
                &to[0],
                "--to",
                &to[1],
            ])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{to:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("takes no other --to"), "{to:?}: {err}");
    }
}

#[tokio::test]
async fn a_backup_answers_only_when_the_others_cannot_as_behind_nginx() {
    let Some(bin) = nginx::bin() else {
        return;
    };
    let (a, _da) = backend("a");
    let (b, _db) = backend("b");
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    // The backup b behind a live a, then behind a dead one.
    for (first, want) in [(a.addr, "aaaaaa"), (dead, "bbbbbb")] {
        let servers = [first.to_string(), format!("{} backup", b.addr)];
        let nginx = Nginx::start_with_servers(&bin, &servers, "", "");
        let to = [format!("http://{first}"), format!("{} backup", b.url(""))];
        let ours = proxy(&to, &["--threads", "1"]);
        for front in [nginx.addr, ours.addr] {
            let mut s = TcpStream::connect(front).await.unwrap();
            let mut order = String::new();
            for _ in 0..6 {
                let (status, who) = ask(&mut s, "GET").await;
                assert_eq!(status, 200);
                order.push_str(&who);
            }
            assert_eq!(order, want, "{front} in front of {servers:?}");
        }
    }
}

/// An upstream that answers every request `503` (keep-alive), reading its `Content-Length`
/// body; counts them.
async fn draining() -> (SocketAddr, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    let addr = wire::upstream(move |mut sock| {
        let s = s.clone();
        async move {
            let mut buf = Vec::new();
            while wire::read_request(&mut sock, &mut buf).await {
                s.fetch_add(1, Ordering::SeqCst);
                let answer =
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 8\r\n\r\ndraining";
                if sock.write_all(answer).await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    (addr, seen)
}

#[tokio::test]
async fn a_503_moves_the_same_requests_on_as_nginx_http_503() {
    let Some(bin) = nginx::bin() else {
        return;
    };
    let (live, _dl) = backend("live");
    let methods = [
        "GET", "GET", "POST", "POST", "PUT", "DELETE", "PATCH", "GET",
    ];
    let mut runs = Vec::new();
    for front in ["nginx", "ours"] {
        let (busy, seen) = draining().await;
        let servers = [
            format!("{busy} max_fails=0"),
            format!("{} max_fails=0", live.addr),
        ];
        let (_nginx, _ours, addr) = if front == "nginx" {
            let n = Nginx::start_with_servers(
                &bin,
                &servers,
                "",
                "proxy_next_upstream error timeout http_503;",
            );
            let addr = n.addr;
            (Some(n), None, addr)
        } else {
            let to = [format!("http://{busy}"), live.url("")];
            let args = [
                "--threads",
                "1",
                "--max-fails",
                "0",
                "--next-upstream-status",
                "503",
            ];
            let p = proxy(&to, &args);
            let addr = p.addr;
            (None, Some(p), addr)
        };
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut answers = Vec::new();
        for m in methods {
            answers.push(ask(&mut s, m).await);
        }
        runs.push((answers, seen.load(Ordering::SeqCst)));
    }
    assert_eq!(
        runs[0], runs[1],
        "nginx, then ours: (answers, requests the 503 upstream got)"
    );
    let statuses: Vec<u16> = runs[1].0.iter().map(|(s, _)| *s).collect();
    // Every other request meets the draining upstream first: the GET, PUT and DELETE move
    // on (the file server answers 405 to what it does not take), the POST does not.
    assert_eq!(
        statuses,
        [200, 200, 503, 405, 405, 405, 503, 200],
        "{methods:?}"
    );
}
