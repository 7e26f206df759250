//! Serving on listeners other than `Server::bind`: a std listener the caller already bound,
//! SO_REUSEPORT worker listeners sharing one port, IPv6 loopback, and a listen backlog.

mod common;

use std::time::Duration;

use common::wire::{ok_text, Conn};
use nethttp::http::StatusCode;
use nethttp::net::Listener;
use nethttp::{text_response, HttpRequest, Server};

async fn hello(_req: HttpRequest) -> nethttp::HttpResponse {
    text_response(StatusCode::OK, "hi")
}

async fn get_hi(addr: std::net::SocketAddr) {
    let mut c = Conn::connect(addr).await;
    c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(c.response().await, ok_text("hi"));
}

#[tokio::test]
async fn serves_a_listener_the_caller_bound() {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    let listener = Listener::from_std(std_listener).unwrap();
    let handle = Server::new().serve(listener, hello);
    assert_eq!(handle.local_addr(), addr);
    get_hi(addr).await;
    assert_eq!(handle.shutdown(Duration::from_secs(1)).await.forced, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reuseport_workers_share_the_port_and_all_serve() {
    let handle = Server::new()
        .serve_reuseport("127.0.0.1:0".parse().unwrap(), 3, hello)
        .unwrap();
    let addrs = handle.local_addrs().to_vec();
    assert_eq!(addrs.len(), 3);
    assert!(addrs.iter().all(|a| *a == addrs[0]), "{addrs:?}");
    // The kernel spreads connections over the listeners; every one of them must be served.
    for _ in 0..30 {
        get_hi(addrs[0]).await;
    }
    assert_eq!(handle.accepted_connections(), 30);
    let report = handle.shutdown(Duration::from_secs(1)).await;
    assert_eq!(report.forced, 0);
    // Every worker's listener is closed.
    assert!(tokio::net::TcpStream::connect(addrs[0]).await.is_err());
}

#[tokio::test]
async fn serves_ipv6_loopback() {
    let server = Server::new().backlog(16);
    let listener = server.bind("[::1]:0".parse().unwrap()).unwrap();
    let handle = server.serve(listener, hello);
    assert!(handle.local_addr().is_ipv6());
    get_hi(handle.local_addr()).await;
}
