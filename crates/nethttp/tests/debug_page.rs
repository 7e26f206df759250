//! The live connections page (`debug::handler`): its JSON follows connections as they open,
//! get busy, go idle and close, over HTTP/1.1 and HTTP/2, with the kernel's byte counts; it
//! lists client pools; what a client controls (the request target) comes out escaped; and
//! the HTML page carries only its own script under a strict Content-Security-Policy.

use std::time::Duration;

use nethttp::{debug, Client, HttpRequest, Server, ServerHandle};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The public server: `/slow` answers after 600 ms, everything else at once.
fn public() -> ServerHandle {
    let server = Server::new().track_connections(true);
    let listener = server.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    server.serve(listener, |req: HttpRequest| async move {
        if req.uri().path() == "/slow" {
            tokio::time::sleep(Duration::from_millis(600)).await;
        }
        "done"
    })
}

fn admin() -> ServerHandle {
    let server = Server::new();
    let listener = server.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    server.serve(listener, debug::handler())
}

async fn page_json(client: &Client, admin: &ServerHandle) -> Value {
    let url = format!("http://{}/?format=json", admin.local_addr());
    let res = client.get(&url).send().await.unwrap();
    assert_eq!(res.headers()["content-type"], "application/json");
    let body = res.into_body().to_bytes(1 << 20).await.unwrap();
    serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{e}: {body:?}"))
}

/// The connections the page lists for the server listening on `addr`.
fn conns_of(doc: &Value, addr: std::net::SocketAddr) -> Vec<Value> {
    let server = doc["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["addrs"][0] == addr.to_string())
        .unwrap_or_else(|| panic!("server {addr} listed in {doc}"));
    server["connections"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_follows_a_connection_from_busy_to_idle_to_gone() {
    let app = public();
    let admin = admin();
    let client = Client::builder()
        .transport(|t| t.no_proxy())
        .build()
        .unwrap();
    assert!(conns_of(&page_json(&client, &admin).await, app.local_addr()).is_empty());

    let mut tcp = TcpStream::connect(app.local_addr()).await.unwrap();
    let local = tcp.local_addr().unwrap().to_string();
    tcp.write_all(b"GET /slow?q=%3Cb%3E&who=\\ HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let doc = page_json(&client, &admin).await;
    let conns = conns_of(&doc, app.local_addr());
    assert_eq!(conns.len(), 1, "{doc}");
    let c = &conns[0];
    assert_eq!(c["remote"], local);
    assert_eq!(c["local"], app.local_addr().to_string());
    assert_eq!(
        (c["protocol"].as_str(), c["tls"].as_bool()),
        (Some("http1"), Some(false))
    );
    assert_eq!(c["state"], "active");
    assert_eq!(c["requests"], 0);
    assert_eq!(c["current"]["method"], "GET");
    assert_eq!(c["current"]["target"], "/slow?q=%3Cb%3E&who=\\");
    assert!(c["current"]["for_ms"].as_u64().unwrap() >= 150, "{c}");
    assert!(c["bytes_received"].as_u64().unwrap() >= 40, "{c}");
    // The raw JSON escapes what JSON must (the backslash) and `&`, as `\u0026`, so the
    // document is also safe inside HTML.
    let url = format!("http://{}/?format=json", admin.local_addr());
    let raw = client.get(&url).send().await.unwrap();
    let raw = raw.into_body().to_bytes(1 << 20).await.unwrap();
    let raw = std::str::from_utf8(&raw).unwrap();
    assert!(raw.contains(r#""/slow?q=%3Cb%3E\u0026who=\\""#), "{raw}");

    // Answered: idle, one request, nothing current, the response's bytes counted.
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(buf[..n].ends_with(b"done"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let doc = page_json(&client, &admin).await;
    let c = &conns_of(&doc, app.local_addr())[0];
    assert_eq!(
        (c["state"].as_str(), c["requests"].as_u64()),
        (Some("idle"), Some(1))
    );
    assert!(c["current"].is_null());
    assert_eq!(c["bytes_sent"].as_u64(), Some(n as u64), "{c}");

    // Closed: gone from the page; the server's totals keep it.
    drop(tcp);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let doc = page_json(&client, &admin).await;
    assert!(conns_of(&doc, app.local_addr()).is_empty(), "{doc}");
    let server = doc["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["addrs"][0] == app.local_addr().to_string())
        .unwrap();
    assert_eq!(
        (server["accepted"].as_u64(), server["requests"].as_u64()),
        (Some(1), Some(1))
    );
    // Our own client's pool is listed, with the admin host in it.
    let admin_key = format!("http://{}", admin.local_addr());
    assert!(
        doc["clients"].as_array().unwrap().iter().any(|p| p["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["key"] == admin_key)),
        "{doc}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_streams_are_counted_on_their_connection() {
    let app = public();
    let admin = admin();
    let h2 = Client::builder()
        .transport(|t| t.no_proxy().http2_prior_knowledge(true))
        .build()
        .unwrap();
    let url = format!("http://{}/slow", app.local_addr());
    let slow = (0..3).map(|_| h2.get(&url).send()).collect::<Vec<_>>();
    let watcher = Client::builder()
        .transport(|t| t.no_proxy())
        .build()
        .unwrap();
    let look = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        page_json(&watcher, &admin).await
    };
    let (results, doc) = tokio::join!(futures_util::future::join_all(slow), look);
    for r in results {
        assert_eq!(r.unwrap().status(), 200);
    }
    let conns = conns_of(&doc, app.local_addr());
    assert_eq!(conns.len(), 1, "one shared connection: {doc}");
    assert_eq!(conns[0]["protocol"], "h2");
    assert_eq!(conns[0]["streams"], 3);
    assert_eq!(conns[0]["current"]["target"], "/slow");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let doc = page_json(&watcher, &admin).await;
    let c = &conns_of(&doc, app.local_addr())[0];
    assert_eq!(
        (c["streams"].as_u64(), c["requests"].as_u64()),
        (Some(0), Some(3))
    );
}

#[tokio::test]
async fn the_html_page_runs_only_its_own_script() {
    let admin = admin();
    let client = Client::builder()
        .transport(|t| t.no_proxy())
        .build()
        .unwrap();
    let res = client
        .get(format!("http://{}/", admin.local_addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
    let csp = res.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
    let html = res.into_body().to_bytes(1 << 20).await.unwrap();
    let html = std::str::from_utf8(&html).unwrap();
    // One script element, external: nothing inline for the policy to allow.
    assert_eq!(html.matches("<script").count(), 1);
    assert!(html.contains("<script src=\"?format=js\"></script>"));
    let js = client
        .get(format!("http://{}/?format=js", admin.local_addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        js.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let js = js.into_body().to_bytes(1 << 20).await.unwrap();
    let js = std::str::from_utf8(&js).unwrap();
    // Text only: no markup sinks.
    assert!(!js.contains("innerHTML") && !js.contains("insertAdjacentHTML"));
    assert!(js.contains("textContent"));
    let bad = client
        .get(format!("http://{}/?format=xml", admin.local_addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}
