//! `serve --rate-limit` against nginx's `limit_req` with the same rate and burst
//! (`rate=1r/m`, `burst=3 nodelay`, `limit_req_status 429`) in front of a `serve` backend:
//! the same answers to the same requests, request by request, for one client and for
//! another address beside it.

mod common;

use std::net::SocketAddr;
use std::process::Command;

use common::nginx::{self, Nginx};
use common::{wire, Served};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};

fn serve(extra: &[&str]) -> Served {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    cmd.args(["serve", "--addr", "127.0.0.1:0"]).args(extra);
    Served::spawn(cmd)
}

async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(to).await.unwrap()
}

/// The status of one `GET /` on the keep-alive connection `s`.
async fn status(s: &mut TcpStream) -> u16 {
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    wire::read_response(s).await.0
}

async fn statuses(addr: SocketAddr, from: [u8; 4], n: usize) -> Vec<u16> {
    let mut s = connect_from(from, addr).await;
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(status(&mut s).await);
    }
    out
}

#[tokio::test]
async fn rate_limit_answers_as_nginx_limit_req_does() {
    let Some(bin) = nginx::bin() else {
        return;
    };
    let backend = serve(&[]);
    let nginx = Nginx::start_with_http(
        &bin,
        &[backend.addr],
        "",
        "limit_req_zone $binary_remote_addr zone=z:1m rate=1r/m;",
        "limit_req zone=z burst=3 nodelay; limit_req_status 429;",
    );
    let ours = serve(&["--rate-limit", "1/m", "--rate-limit-burst", "3"]);
    let theirs = statuses(nginx.addr, [127, 0, 0, 1], 8).await;
    let mine = statuses(ours.addr, [127, 0, 0, 1], 8).await;
    assert_eq!(theirs, [200, 200, 200, 200, 429, 429, 429, 429]);
    assert_eq!(mine, theirs);
    // Another address is another client, for both.
    assert_eq!(statuses(nginx.addr, [127, 0, 0, 2], 1).await, [200]);
    assert_eq!(statuses(ours.addr, [127, 0, 0, 2], 1).await, [200]);
}
