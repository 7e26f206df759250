//! `nethttp::Client` as a tower `Service`: a `ServiceBuilder` bounds the requests in flight
//! (`ConcurrencyLimitLayer`) and each request's time (`TimeoutLayer`) around the client, and
//! tower-http's `SetRequestHeaderLayer` adds a header to each request.
//!
//! ```text
//! cargo run --example tower_client                       # against a server it starts itself
//! cargo run --example tower_client -- http://127.0.0.1:8080/   # against any URL
//! ```
//!
//! It exits on its own once its requests are answered (or have timed out).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nethttp::http::{HeaderName, HeaderValue, Request, StatusCode};
use nethttp::{text_response, Body, Client, HttpRequest, Server};
use tower::{ServiceBuilder, ServiceExt};
use tower_http::set_header::SetRequestHeaderLayer;

/// A local server whose handler notes how many requests it is running at once.
fn local_server(
    busy: Arc<(AtomicUsize, AtomicUsize)>,
) -> Result<nethttp::ServerHandle, Box<dyn std::error::Error>> {
    let server = Server::new();
    let listener = server.bind("127.0.0.1:0".parse()?)?;
    Ok(server.serve(listener, move |req: HttpRequest| {
        let busy = busy.clone();
        async move {
            let now = busy.0.fetch_add(1, Ordering::SeqCst) + 1;
            busy.1.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            busy.0.fetch_sub(1, Ordering::SeqCst);
            let who = req.headers().get("x-client").cloned();
            let who = who.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("?");
            text_response(StatusCode::OK, format!("hello, {who}\n"))
        }
    }))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let busy = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
    let (url, _server) = match std::env::args().nth(1) {
        Some(url) => (url, None),
        None => {
            let h = local_server(busy.clone())?;
            (format!("http://{}/", h.local_addr()), Some(h))
        }
    };

    let svc = ServiceBuilder::new()
        .concurrency_limit(4)
        .timeout(Duration::from_secs(5))
        .layer(SetRequestHeaderLayer::overriding(
            HeaderName::from_static("x-client"),
            HeaderValue::from_static("tower_client example"),
        ))
        .service(Client::new());

    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let svc = svc.clone();
        let req = Request::get(url.as_str()).body(Body::empty())?;
        tasks.push(tokio::spawn(async move {
            let res = svc.oneshot(req).await?;
            let status = res.status();
            let body = res.into_body().to_bytes(1 << 20).await?;
            Ok::<_, tower::BoxError>((i, status, body.len()))
        }));
    }
    let mut failed = 0;
    for t in tasks {
        match t.await? {
            Ok((i, status, len)) => println!("request {i:2}: {status}, {len} bytes"),
            Err(e) => {
                failed += 1;
                println!("request failed: {e}");
            }
        }
    }
    println!(
        "16 requests in {:?}, at most {} at once in the local handler (limit 4)",
        t0.elapsed(),
        busy.1.load(Ordering::SeqCst)
    );
    if failed > 0 || busy.1.load(Ordering::SeqCst) > 4 {
        return Err("some requests failed, or the limit was not kept".into());
    }
    Ok(())
}
