//! The forward proxy against the clients people point at proxies: curl `-x` (an https URL
//! through a CONNECT tunnel, an http URL in absolute form, Basic credentials), our own client
//! with `proxy(...)`, Python's `http.client` tunnel, and raw bytes for what it refuses (a
//! port not allowed, a request without an absolute URI, missing credentials).

mod common;

use std::time::Duration;

use common::peers::{peer, python_with};
use common::wire::Conn;
use nethttp::http::StatusCode;
use nethttp::proxy::{ConnectPorts, ForwardProxy};
use nethttp::test::TestServer;
use nethttp::{text_response, HttpRequest, HttpResponse};

const LIMIT: Duration = Duration::from_secs(15);

/// The target: says what it saw.
async fn target(req: HttpRequest) -> HttpResponse {
    let via = req
        .headers()
        .get("via")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    // HTTP/1.1's Host, or HTTP/2's :authority (over TLS the tunnel carries h2 end to end).
    let host = req
        .headers()
        .get("host")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "-".into());
    let auth = req.headers().contains_key("proxy-authorization");
    let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
    text_response(
        StatusCode::OK,
        format!(
            "{} {target} host={host} via={via} proxy-auth={auth}",
            req.method()
        ),
    )
}

async fn forward(ports: ConnectPorts, auth: Option<(&str, &str)>) -> TestServer {
    let mut b = ForwardProxy::builder().connect_ports(ports);
    if let Some((u, p)) = auth {
        b = b.basic_auth(u, p);
    }
    TestServer::start(b.build().unwrap()).await
}

async fn curl(args: &[&str]) -> (bool, String, String) {
    let Some(curl) = peer("curl", "--version", &[]) else {
        return (false, String::new(), "skipped".into());
    };
    let out = tokio::time::timeout(
        LIMIT,
        tokio::process::Command::new(curl)
            .args(["-sS", "--noproxy", "", "--max-time", "10"])
            .args(args)
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .env_remove("HTTPS_PROXY")
            .output(),
    )
    .await
    .expect("curl in time")
    .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn curl_reaches_https_through_a_connect_tunnel() {
    if peer("curl", "--version", &[]).is_none() {
        return;
    }
    let site = TestServer::start_tls(target).await;
    let proxy = forward(ConnectPorts::Only(vec![site.addr().port()]), None).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, site.certificate().unwrap().cert_pem()).unwrap();
    let (ok, body, err) = curl(&[
        "-x",
        &format!("http://{}", proxy.addr()),
        "--cacert",
        ca.to_str().unwrap(),
        &site.url("/secret"),
    ])
    .await;
    assert!(ok, "{err}");
    // End to end TLS: the target saw the request itself, untouched by the proxy.
    assert!(body.starts_with("GET /secret host=localhost:"), "{body}");
    assert!(body.ends_with("via=- proxy-auth=false"), "{body}");
    // The tunnel ends when curl leaves: the target's side is closed too.
    let start = std::time::Instant::now();
    while proxy.handle().upgraded_connections() > 0 {
        assert!(start.elapsed() < LIMIT, "the tunnel outlived its client");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn curl_sends_absolute_form_http_through_it() {
    if peer("curl", "--version", &[]).is_none() {
        return;
    }
    let site = TestServer::start(target).await;
    let proxy = forward(ConnectPorts::default(), None).await;
    let (ok, body, err) = curl(&[
        "-x",
        &format!("http://{}", proxy.addr()),
        &site.url("/page?q=1"),
    ])
    .await;
    assert!(ok, "{err}");
    assert_eq!(
        body,
        format!(
            "GET /page?q=1 host={} via=1.1 nethttp proxy-auth=false",
            site.addr()
        )
    );
}

#[tokio::test]
async fn basic_credentials_are_required_and_never_forwarded() {
    if peer("curl", "--version", &[]).is_none() {
        return;
    }
    let site = TestServer::start(target).await;
    let proxy = forward(ConnectPorts::default(), Some(("alice", "s3cret"))).await;
    let (ok, body, _) = curl(&[
        "-x",
        &format!("http://{}", proxy.addr()),
        "-w",
        " %{http_code}",
        &site.url("/"),
    ])
    .await;
    assert!(ok);
    assert!(body.ends_with(" 407"), "{body}");
    let (ok, body, err) = curl(&[
        "-x",
        &format!("http://alice:s3cret@{}", proxy.addr()),
        &site.url("/"),
    ])
    .await;
    assert!(ok, "{err}");
    assert!(body.ends_with("proxy-auth=false"), "{body}");
}

#[tokio::test]
async fn our_client_goes_through_it_for_http_and_https() {
    let site = TestServer::start_tls(target).await;
    let plain = TestServer::start(target).await;
    let proxy = forward(ConnectPorts::Only(vec![site.addr().port()]), None).await;
    let client = site
        .client_builder()
        .transport(|t| t.proxy(proxy.addr().to_string()))
        .build()
        .unwrap();
    let res = client.get(site.url("/tls")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.into_body().to_bytes(1024).await.unwrap();
    assert!(body.starts_with(b"GET /tls host=localhost:"), "{body:?}");
    let res = client.get(plain.url("/plain")).send().await.unwrap();
    let body = res.into_body().to_bytes(1024).await.unwrap();
    assert!(body.starts_with(b"GET /plain host=127.0.0.1:"), "{body:?}");
}

#[tokio::test]
async fn python_http_client_tunnels_through_it() {
    let Some(py) = python_with(&["http.client"]) else {
        return;
    };
    let site = TestServer::start(target).await;
    let proxy = forward(ConnectPorts::Only(vec![site.addr().port()]), None).await;
    let script = r#"
import http.client, sys
proxy_port, site_port = int(sys.argv[1]), int(sys.argv[2])
c = http.client.HTTPConnection("127.0.0.1", proxy_port, timeout=10)
c.set_tunnel("127.0.0.1", site_port)
c.request("GET", "/tunnelled")
r = c.getresponse()
print(r.status, r.read().decode())
"#;
    let out = tokio::time::timeout(
        LIMIT,
        tokio::process::Command::new(py)
            .args([
                "-c",
                script,
                &proxy.addr().port().to_string(),
                &site.addr().port().to_string(),
            ])
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("200 GET /tunnelled host=127.0.0.1:"),
        "{text}"
    );
}

#[tokio::test]
async fn what_it_refuses_on_the_wire() {
    let proxy = forward(ConnectPorts::default(), None).await;
    let mut c = Conn::connect(proxy.addr()).await;
    // A port not allowed.
    c.send("CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n")
        .await;
    let got = c.response().await;
    assert!(got.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{got}");
    assert!(
        got.ends_with("CONNECT to port 22 is not allowed\n"),
        "{got}"
    );
    // No port at all.
    c.send("CONNECT 127.0.0.1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await;
    let got = c.response().await;
    assert!(got.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{got}");
    // An origin-form request: not a proxy request.
    c.send("GET /x HTTP/1.1\r\nHost: t\r\n\r\n").await;
    let got = c.response().await;
    assert!(got.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{got}");
    // A tunnel to a port nothing listens on: 502, and the connection serves on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let proxy = forward(ConnectPorts::All, None).await;
    let mut c = Conn::connect(proxy.addr()).await;
    c.send(format!(
        "CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    ))
    .await;
    let got = c.response().await;
    assert!(got.starts_with("HTTP/1.1 502 Bad Gateway\r\n"), "{got}");
}

#[tokio::test]
async fn an_idle_tunnel_is_closed_at_the_idle_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // The target: accepts and holds its connection, sending nothing.
    let target = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = target.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = target.accept().await {
            held.push(s);
        }
    });
    let proxy = ForwardProxy::builder()
        .connect_ports(ConnectPorts::Only(vec![port]))
        .tunnel_idle_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let proxy = TestServer::start(proxy).await;
    let mut c = Conn::connect(proxy.addr()).await;
    c.send(format!(
        "CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    ))
    .await;
    let head = c.raw_response(true).await;
    assert!(head.starts_with(b"HTTP/1.1 200 OK\r\n"));
    // Traffic keeps it open past one timeout...
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        c.stream.write_all(b"x").await.unwrap();
    }
    assert_eq!(proxy.handle().upgraded_connections(), 1);
    // ...silence closes it.
    let start = std::time::Instant::now();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(LIMIT, c.stream.read(&mut buf))
        .await
        .expect("the idle tunnel was not closed")
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

/// curl's outcome through a proxy: `http_code` and the body (the target's line, with only
/// whether a `Via` came: each proxy names itself there).
async fn through(proxy: &str, extra: &[&str], url: &str) -> String {
    let mut args = vec!["-x", proxy, "-w", " %{http_code} connect=%{http_connect}"];
    args.extend_from_slice(extra);
    args.push(url);
    let (_, body, err) = curl(&args).await;
    // `via=VALUE proxy-auth=`: the value says only whether a Via was added.
    let body = match (body.find("via="), body.find(" proxy-auth=")) {
        (Some(a), Some(b)) if a < b => {
            let set = if &body[a + 4..b] == "-" {
                "none"
            } else {
                "set"
            };
            format!("{}via={set}{}", &body[..a], &body[b..])
        }
        _ => body,
    };
    format!(
        "{body} {}",
        if err.is_empty() { "" } else { "(curl error)" }
    )
}

#[tokio::test]
async fn the_same_curl_commands_get_what_tinyproxy_gives() {
    if peer("curl", "--version", &[]).is_none() {
        return;
    }
    let Some(bin) = common::tinyproxy::tinyproxy() else {
        return;
    };
    let site_tls = TestServer::start_tls(target).await;
    let site = TestServer::start(target).await;
    let allowed = site_tls.addr().port();
    let tiny = common::tinyproxy::Tinyproxy::start(&bin, &[allowed], None).await;
    let ours = forward(ConnectPorts::Only(vec![allowed]), None).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, site_tls.certificate().unwrap().cert_pem()).unwrap();
    let ca = ca.to_str().unwrap();
    let cases: Vec<(&str, Vec<&str>, String)> = vec![
        (
            "https through a tunnel",
            vec!["--cacert", ca],
            site_tls.url("/t?x=1"),
        ),
        ("http in absolute form", vec![], site.url("/a?y=2")),
        // A tunnel to a port not allowed: both refuse it (curl reports the proxy's status).
        ("tunnel to another port", vec!["-p"], site.url("/p")),
    ];
    for (what, extra, url) in cases {
        let theirs = through(&format!("http://{}", tiny.authority()), &extra, &url).await;
        let mine = through(&format!("http://{}", ours.addr()), &extra, &url).await;
        assert_eq!(mine, theirs, "{what}: nethttp vs tinyproxy");
    }
}
