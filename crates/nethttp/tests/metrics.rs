//! `Server::metrics` and `debug::metrics()`: the exposition is read by the reference parser
//! (Python's `prometheus_client`), and its numbers are the traffic the test sent — requests
//! by method and status class over HTTP/1.1 and HTTP/2, their duration histogram, requests
//! refused before a handler by kind, connections accepted, closed and open by protocol and
//! state, failed TLS handshakes, the client pool's hosts and totals, and a reverse proxy's
//! upstreams. One test, one
//! server at a time: the recorder and its counters are the process's.

mod common;

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use nethttp::{debug, Client, HttpRequest, Server, ServerHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Parses the exposition with prometheus_client; returns `name{k=v,...}` (labels sorted) →
/// value, for every sample.
async fn parse(py: &std::path::Path, text: &str) -> HashMap<String, f64> {
    const SCRIPT: &str = r#"
import sys, json
from prometheus_client.parser import text_string_to_metric_families
out = {}
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        out[f"{s.name}{{{labels}}}"] = s.value
print(json.dumps(out))
"#;
    let mut child = tokio::process::Command::new(py)
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(text.as_bytes()).await.unwrap();
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("the parser finishes")
        .unwrap();
    assert!(
        out.status.success(),
        "prometheus_client refused the exposition: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn get(samples: &HashMap<String, f64>, key: &str) -> f64 {
    *samples
        .get(key)
        .unwrap_or_else(|| panic!("no sample {key}; have {:#?}", sorted_keys(samples)))
}

fn sorted_keys(samples: &HashMap<String, f64>) -> Vec<&String> {
    let mut keys: Vec<&String> = samples.keys().collect();
    keys.sort();
    keys
}

fn app() -> ServerHandle {
    let server = Server::new().metrics(true);
    let listener = server.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    server.serve(listener, |req: HttpRequest| async move {
        match req.uri().path() {
            "/missing" => nethttp::text_response(http::StatusCode::NOT_FOUND, "no\n"),
            "/hold" => {
                tokio::time::sleep(Duration::from_millis(800)).await;
                nethttp::text_response(http::StatusCode::OK, "held\n")
            }
            _ => nethttp::text_response(http::StatusCode::OK, "ok\n"),
        }
    })
}

/// Sends raw bytes on a new connection and reads until the server closes.
async fn raw(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exposition_counts_what_was_sent_and_parses() {
    let Some(py) = common::peers::python_with(&["prometheus_client"]) else {
        return;
    };
    let app = app();
    let addr = app.local_addr();
    let admin_server = Server::new();
    let listener = admin_server.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let admin = admin_server.serve(listener, debug::metrics());

    // HTTP/1.1: three GETs and a POST answered 404, on one pooled connection.
    let h1 = Client::builder()
        .transport(|t| t.no_proxy())
        .build()
        .unwrap();
    for _ in 0..3 {
        let r = h1.get(format!("http://{addr}/")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.into_body().to_bytes(64).await.unwrap();
    }
    let r = h1
        .post(format!("http://{addr}/missing"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    r.into_body().to_bytes(64).await.unwrap();
    // HTTP/2 by prior knowledge: two GETs on one connection.
    let h2 = Client::builder()
        .transport(|t| t.no_proxy().http2_prior_knowledge(true))
        .build()
        .unwrap();
    for _ in 0..2 {
        let r = h2.get(format!("http://{addr}/")).send().await.unwrap();
        assert_eq!(r.version(), http::Version::HTTP_2);
        r.into_body().to_bytes(64).await.unwrap();
    }
    // Refused before a handler: a malformed head (400) and a head past the limit (431).
    let bad = raw(addr, b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n").await;
    assert!(bad.starts_with("HTTP/1.1 400 "), "{bad}");
    let mut huge = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 70 * 1024));
    huge.extend_from_slice(b"\r\n\r\n");
    let big = raw(addr, &huge).await;
    assert!(big.starts_with("HTTP/1.1 431 "), "{big}");
    // One request still running: its connection is active while we scrape.
    let hold = tokio::spawn({
        let h1 = Client::builder()
            .transport(|t| t.no_proxy())
            .build()
            .unwrap();
        async move {
            h1.get(format!("http://{addr}/hold"))
                .send()
                .await
                .map(|r| r.status())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let scrape = Client::builder()
        .transport(|t| t.no_proxy())
        .build()
        .unwrap();
    let res = scrape
        .get(format!("http://{}/metrics", admin.local_addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = res.into_body().to_bytes(1 << 22).await.unwrap();
    let text = std::str::from_utf8(&text).unwrap().to_owned();
    let s = parse(&py, &text).await;

    let req = |m: &str, c: &str| format!("nethttp_server_requests_total{{method={m},status={c}}}");
    assert_eq!(get(&s, &req("GET", "2xx")), 5.0);
    assert_eq!(get(&s, &req("POST", "4xx")), 1.0);
    assert_eq!(get(&s, &req("GET", "5xx")), 0.0);
    // Six answered requests in the histogram, all under the 60 s bucket, none in the first
    // bucket's complement beyond it.
    assert_eq!(
        get(&s, "nethttp_server_request_duration_seconds_count{}"),
        6.0
    );
    assert_eq!(
        get(
            &s,
            "nethttp_server_request_duration_seconds_bucket{le=+Inf}"
        ),
        6.0
    );
    assert_eq!(
        get(&s, "nethttp_server_request_duration_seconds_bucket{le=60}"),
        6.0
    );
    assert!(get(&s, "nethttp_server_request_duration_seconds_sum{}") < 1.0);
    assert_eq!(
        get(&s, "nethttp_server_rejections_total{kind=bad_request}"),
        1.0
    );
    assert_eq!(
        get(&s, "nethttp_server_rejections_total{kind=header_too_large}"),
        1.0
    );
    // Five connections: the pooled HTTP/1.1 one, the h2 one, two raw ones (closed) and the
    // holding one.
    assert_eq!(get(&s, "nethttp_server_connections_accepted_total{}"), 5.0);
    assert_eq!(
        get(
            &s,
            "nethttp_server_connections_closed_total{protocol=http1}"
        ),
        2.0
    );
    let open = |p: &str, st: &str| {
        get(
            &s,
            &format!("nethttp_server_connections{{protocol={p},state={st}}}"),
        )
    };
    assert_eq!(open("http1", "idle"), 1.0);
    assert_eq!(open("http1", "active"), 1.0);
    assert_eq!(open("h2", "idle"), 1.0);
    // The client pools, each with its host: the scraper's is active while it scrapes.
    let pool_with = |host: &str, metric: &str| -> f64 {
        s.iter()
            .filter(|(k, _)| k.starts_with(metric) && k.contains(&format!("host={host}")))
            .map(|(_, v)| *v)
            .sum()
    };
    let app_host = format!("http://{addr}");
    assert_eq!(
        pool_with(&app_host, "nethttp_client_idle_connections{"),
        2.0
    );
    assert!(
        s.keys()
            .any(|k| k.starts_with("nethttp_client_dials_total{")),
        "{:#?}",
        sorted_keys(&s)
    );

    assert_eq!(hold.await.unwrap().unwrap(), 200);

    // The clients close their connections (the holding one's pool is gone with it): their
    // hosts' gauges read 0 at the next scrape, not their last value.
    h1.transport().close_idle_connections();
    h2.transport().close_idle_connections();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let s = scrape_in_place(&py).await;
    let idle_now: f64 = s
        .iter()
        .filter(|(k, _)| k.starts_with("nethttp_client_idle_connections{") && k.contains(&app_host))
        .map(|(_, v)| *v)
        .sum();
    assert_eq!(idle_now, 0.0, "{:#?}", sorted_keys(&s));

    // A failed TLS handshake, on a second server (after the counts above: the recorder and
    // its counters are the process's).
    let cert = common::certs::self_signed();
    let server = Server::new().metrics(true).tls(cert.server_tls());
    let listener = server.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let handle = server.serve(listener, |_req: HttpRequest| async { "tls\n" });
    let before = failures(&py).await;
    // Not TLS at all: the handshake fails at the first record.
    let _ = raw(handle.local_addr(), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(failures(&py).await, before + 1.0);

    // A reverse proxy's upstream group: one live upstream and one refusing, four requests.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let live = format!("http://{addr}");
    let proxy = nethttp::proxy::ReverseProxy::builder()
        .upstream(&dead)
        .upstream(&live)
        .build()
        .unwrap();
    for _ in 0..4 {
        let resp = nethttp::test::call(
            &proxy,
            http::Request::get("/")
                .body(nethttp::Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(resp.status(), 200);
    }
    let s = scrape_in_place(&py).await;
    let up = |metric: &str, url: &str| get(&s, &format!("{metric}{{group=1,upstream={url}}}"));
    assert_eq!(up("nethttp_proxy_upstream_requests_total", &dead), 1.0);
    assert_eq!(up("nethttp_proxy_upstream_failures_total", &dead), 1.0);
    assert_eq!(up("nethttp_proxy_upstream_available", &dead), 0.0);
    assert_eq!(up("nethttp_proxy_upstream_requests_total", &live), 4.0);
    assert_eq!(up("nethttp_proxy_upstream_failures_total", &live), 0.0);
    assert_eq!(up("nethttp_proxy_upstream_available", &live), 1.0);
    assert_eq!(up("nethttp_proxy_upstream_in_flight", &live), 0.0);
}

/// The process's exposition, through `debug::metrics()` called in place, as parsed.
async fn scrape_in_place(py: &std::path::Path) -> HashMap<String, f64> {
    let resp = nethttp::test::call(
        &debug::metrics(),
        http::Request::get("/metrics")
            .body(nethttp::Body::empty())
            .unwrap(),
    )
    .await;
    let text = resp.into_body().to_bytes(1 << 22).await.unwrap();
    parse(py, std::str::from_utf8(&text).unwrap()).await
}

/// The TLS failures counted so far in this process, through the handler itself.
async fn failures(py: &std::path::Path) -> f64 {
    let s = scrape_in_place(py).await;
    s.get("nethttp_server_tls_handshake_failures_total{}")
        .copied()
        .unwrap_or(0.0)
}
