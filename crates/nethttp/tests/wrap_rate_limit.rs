//! `wrap::rate_limit` on the wire: a client's burst is served and the next request answered
//! `429` with `Retry-After` without reaching the handler, another client address is served
//! meanwhile, the rate gives requests back as time passes; h2load's 100 requests over one
//! HTTP/2 connection are counted request by request (the burst's 2xx, the rest 4xx); curl
//! sees the `429`; the client a PROXY header names is the one limited; and a flood of
//! clients named by a header leaves the one being held back held back.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::peers::peer;
use common::wire::{connect_from, start};
use nethttp::http::StatusCode;
use nethttp::server::ProxyProtocol;
use nethttp::wrap::rate_limit;
use nethttp::{text_response, HttpRequest, Server, ServerHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LIMIT: Duration = Duration::from_secs(10);

/// A server limiting each client to `per_second`, `burst` more at once, counting the
/// requests its handler sees.
fn limited(server: Server, per_second: f64, burst: u32) -> (ServerHandle, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let counted = seen.clone();
    let app = rate_limit(
        move |_req: HttpRequest| {
            counted.fetch_add(1, Ordering::SeqCst);
            async { text_response(StatusCode::OK, "ok") }
        },
        per_second,
    )
    .burst(burst);
    (start(server.conn_info(true), app), seen)
}

/// One `GET /` on `s` (kept alive): its status line and `Retry-After`, if any.
async fn get(s: &mut TcpStream, extra: &str) -> (String, Option<String>) {
    s.write_all(format!("GET / HTTP/1.1\r\nHost: x\r\n{extra}\r\n").as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = tokio::time::timeout(LIMIT, s.read(&mut buf))
            .await
            .expect("an answer in time")
            .unwrap();
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        // Both bodies end the answer: `ok`, or the 429's line.
        if text.ends_with("ok") || text.ends_with("too many requests\n") {
            let status = text.lines().next().unwrap_or("").to_owned();
            let retry = text
                .lines()
                .find_map(|l| l.strip_prefix("retry-after: "))
                .map(str::to_owned);
            return (status, retry);
        }
    }
}

/// One request every 4 s, two more at once: the windows are seconds wide, so a loaded
/// machine's pauses do not change the answers.
#[tokio::test]
async fn a_burst_is_served_then_429_with_retry_after_and_others_go_on() {
    let (h, seen) = limited(Server::new(), 0.25, 2);
    let mut a = connect_from([127, 0, 0, 1], h.local_addr()).await;
    for _ in 0..3 {
        assert_eq!(get(&mut a, "").await.0, "HTTP/1.1 200 OK");
    }
    let (status, retry) = get(&mut a, "").await;
    assert_eq!(status, "HTTP/1.1 429 Too Many Requests");
    let retry: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=4).contains(&retry), "{retry}");
    assert_eq!(
        seen.load(Ordering::SeqCst),
        3,
        "the handler never saw the fourth"
    );
    // Another address is another client.
    let mut b = connect_from([127, 0, 0, 2], h.local_addr()).await;
    assert_eq!(get(&mut b, "").await.0, "HTTP/1.1 200 OK");
    // Once Retry-After has passed, the rate has given one request back, and only one.
    tokio::time::sleep(Duration::from_secs(retry) + Duration::from_millis(100)).await;
    assert_eq!(get(&mut a, "").await.0, "HTTP/1.1 200 OK");
    assert_eq!(get(&mut a, "").await.0, "HTTP/1.1 429 Too Many Requests");
}

/// h2load sends 100 requests on one HTTP/2 connection: the burst's are answered 2xx, the
/// others 4xx, each stream on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2load_sees_the_burst_answered_and_the_rest_refused() {
    let Some(bin) = peer("h2load", "--version", &[]) else {
        return;
    };
    let (h, seen) = limited(Server::new(), 1.0 / 60.0, 9);
    let url = format!("http://{}/", h.local_addr());
    let out = tokio::process::Command::new(&bin)
        .args([
            "-n", "100", "-c", "1", "-m", "10", "-T", "10", "-N", "10", &url,
        ])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // Sent within a minute: the ten of the burst.
    let twos: usize = text
        .split("status codes: ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no status codes in:\n{text}"));
    assert_eq!(twos, 10, "{text}");
    assert!(text.contains(&format!("{} 4xx", 100 - twos)), "{text}");
    assert_eq!(seen.load(Ordering::SeqCst), twos);
}

#[tokio::test]
async fn curl_gets_the_429_and_its_retry_after() {
    let Some(curl) = peer("curl", "--version", &[]) else {
        return;
    };
    let (h, _) = limited(Server::new(), 1.0 / 60.0, 0);
    let url = format!("http://{}/", h.local_addr());
    let run = |url: String| {
        let curl = curl.clone();
        async move {
            tokio::process::Command::new(curl)
                .args(["-sS", "-i", "--noproxy", "*", "--max-time", "8", &url])
                .output()
                .await
                .unwrap()
        }
    };
    let first = run(url.clone()).await;
    assert!(String::from_utf8_lossy(&first.stdout).starts_with("HTTP/1.1 200 OK"));
    let second = String::from_utf8_lossy(&run(url).await.stdout).into_owned();
    assert!(
        second.starts_with("HTTP/1.1 429 Too Many Requests\r\n"),
        "{second}"
    );
    assert!(second.contains("\r\nretry-after: 60\r\n"), "{second}");
}

/// Behind a PROXY-protocol balancer, the client its header names is limited, not the
/// balancer: a second client through it is served while the first is held back.
#[tokio::test]
async fn behind_a_balancer_the_named_client_is_limited() {
    let pp = ProxyProtocol::required().trust("127.0.0.1".parse().unwrap());
    let (h, _) = limited(Server::new().proxy_protocol(pp), 1.0 / 60.0, 0);
    let through = |client: &'static str| {
        let addr = h.local_addr();
        async move {
            let mut s = connect_from([127, 0, 0, 1], addr).await;
            let header = format!("PROXY TCP4 {client} 127.0.0.1 40000 80\r\n");
            s.write_all(header.as_bytes()).await.unwrap();
            s
        }
    };
    let mut a = through("203.0.113.1").await;
    assert_eq!(get(&mut a, "").await.0, "HTTP/1.1 200 OK");
    assert_eq!(get(&mut a, "").await.0, "HTTP/1.1 429 Too Many Requests");
    let mut b = through("203.0.113.2").await;
    assert_eq!(get(&mut b, "").await.0, "HTTP/1.1 200 OK");
}

/// Keyed by a header, 5,000 new clients flood a table of 256 within a second: every newcomer
/// is served (each has its own allowance), and the client held back stays held back, since
/// a newcomer's bucket, one request in, is nearer to empty than its.
#[tokio::test]
async fn a_flood_of_named_clients_does_not_free_the_one_held_back() {
    let app = rate_limit(
        |_req: HttpRequest| async { text_response(StatusCode::OK, "ok") },
        1.0 / 60.0,
    )
    .burst(2)
    .max_clients(256)
    .key(|req: &HttpRequest| Some(req.headers().get("x-client")?.to_str().ok()?.to_owned()));
    let h = start(Server::new(), app);
    let mut s = TcpStream::connect(h.local_addr()).await.unwrap();
    for _ in 0..3 {
        assert_eq!(get(&mut s, "x-client: held\r\n").await.0, "HTTP/1.1 200 OK");
    }
    let (status, retry) = get(&mut s, "x-client: held\r\n").await;
    assert_eq!(status, "HTTP/1.1 429 Too Many Requests");
    assert_eq!(retry.as_deref(), Some("60"));
    for i in 0..5_000 {
        let extra = format!("x-client: new{i}\r\n");
        assert_eq!(
            get(&mut s, &extra).await.0,
            "HTTP/1.1 200 OK",
            "newcomer {i}"
        );
    }
    assert_eq!(
        get(&mut s, "x-client: held\r\n").await.0,
        "HTTP/1.1 429 Too Many Requests"
    );
    // A request without the key is not limited.
    assert_eq!(get(&mut s, "").await.0, "HTTP/1.1 200 OK");
}
