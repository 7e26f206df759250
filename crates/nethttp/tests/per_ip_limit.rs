//! `Server::max_connections_per_ip` on the wire: one client trickling heads or flooding
//! connections holds at most its limit, its extra connections are closed at once with nothing
//! read or written (curl sees an empty reply), other clients are served meanwhile, a place
//! freed is taken again, and behind a PROXY-protocol balancer the client the header names is
//! what counts. Raw loopback TCP from 127.0.0.1 and 127.0.0.2, plus curl.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::peers::peer;
use common::wire::{connect_from, start};
use nethttp::http::{header, Response, StatusCode};
use nethttp::server::ProxyProtocol;
use nethttp::{text_response, Body, HttpRequest, Server, ServerHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LIMIT: Duration = Duration::from_secs(10);
const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

fn limited(n: usize) -> Server {
    Server::new().max_connections_per_ip(Some(n))
}

fn serve(server: Server) -> ServerHandle {
    start(server, |_req: HttpRequest| async {
        text_response(StatusCode::OK, "ok")
    })
}

/// Sends `GET /` and reads the answer: whether it was a `200`.
async fn served(s: &mut TcpStream) -> bool {
    if s.write_all(GET).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 1024];
    let mut got = Vec::new();
    while !got.ends_with(b"ok") {
        match tokio::time::timeout(LIMIT, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            Ok(_) => return false,
            Err(_) => panic!("no answer and no close within {LIMIT:?}"),
        }
    }
    got.starts_with(b"HTTP/1.1 200 OK\r\n")
}

/// Whether the server closes `s` without a byte (a reset counts), within 2 s.
async fn closed_at_once(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    match tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(_)) => false,
        Err(_) => false,
    }
}

async fn wait_live(h: &ServerHandle, n: usize) {
    let start = Instant::now();
    while h.live_connections() != n {
        assert!(
            start.elapsed() < LIMIT,
            "{} live, not {n}",
            h.live_connections()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Four connections trickling half a head each hold the client's four places: its fifth and
/// sixth are closed at once, another client is served, and once one of the four goes its
/// place is taken again.
#[tokio::test]
async fn a_client_past_its_limit_is_closed_at_once_and_others_are_served() {
    let h = serve(limited(4));
    let addr = h.local_addr();
    let mut tricklers = Vec::new();
    for _ in 0..4 {
        let mut s = connect_from([127, 0, 0, 1], addr).await;
        s.write_all(b"GET / HTTP/1.1\r\nHo").await.unwrap();
        tricklers.push(s);
    }
    wait_live(&h, 4).await;
    for _ in 0..2 {
        let mut extra = connect_from([127, 0, 0, 1], addr).await;
        assert!(
            closed_at_once(&mut extra).await,
            "an extra connection was kept"
        );
    }
    assert_eq!(h.refused_per_ip(), 2);
    let mut other = connect_from([127, 0, 0, 2], addr).await;
    assert!(served(&mut other).await, "another client is served");
    drop(other);
    drop(tricklers.pop());
    wait_live(&h, 3).await;
    let mut again = connect_from([127, 0, 0, 1], addr).await;
    assert!(served(&mut again).await, "a freed place is taken again");
    assert_eq!(h.refused_per_ip(), 2);
}

/// 300 connections from one client at once, 10 allowed: at most 10 are ever served at a
/// time, the other 290 are closed and counted, and another client is served all along.
#[tokio::test]
async fn a_flood_from_one_client_holds_its_limit_only() {
    const FLOOD: usize = 300;
    const ALLOWED: usize = 10;
    let h = serve(limited(ALLOWED));
    let addr = h.local_addr();
    let mut flood = Vec::with_capacity(FLOOD);
    for _ in 0..FLOOD {
        flood.push(connect_from([127, 0, 0, 1], addr).await);
    }
    let start = Instant::now();
    while h.refused_per_ip() < (FLOOD - ALLOWED) as u64 {
        assert!(start.elapsed() < LIMIT, "{} refused", h.refused_per_ip());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(h.refused_per_ip(), (FLOOD - ALLOWED) as u64);
    assert!(h.live_connections() <= ALLOWED, "{}", h.live_connections());
    let mut other = connect_from([127, 0, 0, 2], addr).await;
    assert!(served(&mut other).await, "another client is served");
    // Of the flood, exactly the allowed ones answer.
    let mut answered = 0;
    for s in &mut flood {
        if served(s).await {
            answered += 1;
        }
    }
    assert_eq!(answered, ALLOWED);
}

/// An upgraded connection (a WebSocket, a tunnel) still counts against its client: with a
/// limit of one, a second connection is closed while the first is upgraded, and taken once
/// the upgraded one ends.
#[tokio::test]
async fn an_upgraded_connection_still_counts_against_its_client() {
    let app = |mut req: HttpRequest| async move {
        let on_upgrade = nethttp::upgrade::on(&mut req);
        tokio::spawn(async move {
            // Echoes until the client closes.
            if let Ok(mut io) = on_upgrade.await {
                let mut buf = [0u8; 1024];
                while let Ok(n) = io.read(&mut buf).await {
                    if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        });
        Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::UPGRADE, "echo")
            .body(Body::empty())
            .unwrap()
    };
    let h = start(limited(1), app);
    let addr = h.local_addr();
    let mut up = connect_from([127, 0, 0, 1], addr).await;
    up.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !got.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(LIMIT, up.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 101 "),
        "{}",
        String::from_utf8_lossy(&got)
    );
    up.write_all(b"ping").await.unwrap();
    let mut echo = [0u8; 4];
    tokio::time::timeout(LIMIT, up.read_exact(&mut echo))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&echo, b"ping");
    let mut second = connect_from([127, 0, 0, 1], addr).await;
    assert!(
        closed_at_once(&mut second).await,
        "a second connection beside the upgraded one"
    );
    assert_eq!(h.refused_per_ip(), 1);
    drop(up);
    let start = Instant::now();
    loop {
        let mut again = connect_from([127, 0, 0, 1], addr).await;
        if !closed_at_once(&mut again).await {
            break;
        }
        assert!(
            start.elapsed() < LIMIT,
            "the upgraded connection's place never came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Behind a balancer sending the PROXY protocol, the client the header names is counted, not
/// the balancer: two clients through one balancer address each get their place, a second
/// connection of the first is closed.
#[tokio::test]
async fn behind_a_proxy_protocol_balancer_the_named_client_counts() {
    let pp = ProxyProtocol::required().trust("127.0.0.1".parse().unwrap());
    let h = serve(limited(1).proxy_protocol(pp));
    let addr = h.local_addr();
    let through = |client: &'static str| async move {
        let mut s = connect_from([127, 0, 0, 1], addr).await;
        let header = format!("PROXY TCP4 {client} 127.0.0.1 40000 80\r\n");
        s.write_all(header.as_bytes()).await.unwrap();
        s
    };
    let mut a = through("203.0.113.1").await;
    assert!(served(&mut a).await);
    let mut b = through("203.0.113.2").await;
    assert!(
        served(&mut b).await,
        "a second client through the same balancer"
    );
    let mut a2 = through("203.0.113.1").await;
    assert!(
        closed_at_once(&mut a2).await,
        "the first client's second connection"
    );
    assert_eq!(h.refused_per_ip(), 1);
}

/// curl's `GET /` of the server at `addr`.
async fn get(curl: &std::path::Path, addr: SocketAddr) -> std::process::Output {
    tokio::process::Command::new(curl)
        .args(["-sS", "--noproxy", "*", "--max-time", "8"])
        .arg(format!("http://{addr}/"))
        .output()
        .await
        .unwrap()
}

/// What a client past its limit sees: curl gets no answer (an empty reply, or a reset when its
/// request was already in the socket), while the limit holds.
#[tokio::test]
async fn curl_past_the_limit_gets_no_answer() {
    let Some(curl) = peer("curl", "--version", &[]) else {
        return;
    };
    let h = serve(limited(1));
    let mut holder = connect_from([127, 0, 0, 1], h.local_addr()).await;
    assert!(served(&mut holder).await);
    let out = get(&curl, h.local_addr()).await;
    // 52: empty reply from server; 56: failure receiving (reset).
    let code = out.status.code();
    assert!(
        matches!(code, Some(52 | 56)),
        "curl exited {code:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(holder);
    wait_live(&h, 0).await;
    let out = get(&curl, h.local_addr()).await;
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok");
}

/// The refusals are in the server's metrics, as
/// `nethttp_server_connections_refused_total{reason="per_ip"}`.
#[tokio::test]
async fn refusals_are_counted_in_the_metrics() {
    use nethttp::http::Request;
    use nethttp::Handler;
    let h = serve(limited(1).metrics(true));
    let addr = h.local_addr();
    let mut holder = connect_from([127, 0, 0, 1], addr).await;
    assert!(served(&mut holder).await);
    for _ in 0..3 {
        let mut extra = connect_from([127, 0, 0, 1], addr).await;
        assert!(closed_at_once(&mut extra).await);
    }
    assert_eq!(h.refused_per_ip(), 3);
    let page = nethttp::debug::metrics()
        .call(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .into_body()
        .to_bytes(1 << 20)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&page);
    assert!(
        text.lines()
            .any(|l| l == "nethttp_server_connections_refused_total{reason=\"per_ip\"} 3"),
        "{text}"
    );
}
