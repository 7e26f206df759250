//! A handler tested the way Go's httptest tests one: a `TestServer` over HTTPS (HTTP/2) with
//! a client that trusts it, and `test::call` without any socket. Runs and exits by itself:
//!
//!     cargo run -p nethttp --example test_server --features test-util

use nethttp::http::{Request, StatusCode, Version};
use nethttp::test::{call_text, TestServer};
use nethttp::{text_response, Body, HttpRequest, PathValue, ServeMux};

fn app() -> ServeMux {
    ServeMux::new()
        .route("GET /hello/{name}", |req: HttpRequest| async move {
            let name = req.path_value("name").unwrap_or_default().to_owned();
            text_response(StatusCode::OK, format!("hello, {name}\n"))
        })
        .route("POST /echo", |req: HttpRequest| async move {
            http::Response::new(req.into_body())
        })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), nethttp::Error> {
    // Over a real socket: TLS, ALPN, HTTP/2, the server's timeouts and limits.
    let server = TestServer::start_tls(app()).await;
    let client = server.client();
    let res = client.get(server.url("/hello/gopher")).send().await?;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.version(), Version::HTTP_2);
    let body = res.into_body().to_bytes(1024).await?;
    println!(
        "GET /hello/gopher over {:?}: {}",
        Version::HTTP_2,
        String::from_utf8_lossy(&body).trim()
    );

    let res = client.post(server.url("/echo")).body("ping").send().await?;
    assert_eq!(res.into_body().to_bytes(1024).await?, "ping");
    let report = server.close().await;
    println!("closed, {} connections cut", report.forced);

    // No socket at all: the handler on a request.
    let req = Request::get("/hello/rust")
        .body(Body::empty())
        .expect("a request");
    let (status, _headers, text) = call_text(&app(), req).await;
    assert_eq!(status, StatusCode::OK);
    println!("call GET /hello/rust: {}", text.trim());
    Ok(())
}
