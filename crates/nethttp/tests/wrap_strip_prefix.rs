//! `wrap::strip_prefix` under a `ServeMux`, on the wire: raw TCP with exact bytes for the
//! paths Go's `StripPrefix` decides by its `RawPath` rule (an escaped slash, an escape that
//! need not be, a space in the prefix), the query kept, and curl sending an encoded path as is.

mod common;

use common::peers::peer;
use common::wire::{normalize, start, Conn, DATE};
use nethttp::http::StatusCode;
use nethttp::wrap::strip_prefix;
use nethttp::{text_response, HttpRequest, ServeMux, Server};

/// The path and query the wrapped handler saw.
async fn echo(req: HttpRequest) -> nethttp::HttpResponse {
    text_response(StatusCode::OK, req.uri().to_string())
}

fn app() -> ServeMux {
    ServeMux::new()
        .route("/static/", strip_prefix("/static", echo))
        // A pattern cannot hold a space; the catch-all route takes `/a%20b/...`.
        .route("/", strip_prefix("/a b/", echo))
}

fn ok(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n\
         {DATE}keep-alive: timeout=60\r\n\r\n{body}",
        body.len()
    )
}

const NOT_FOUND: &str = "HTTP/1.1 404 Not Found\r\ncontent-type: text/plain; charset=utf-8\r\n\
                         content-length: 19\r\ndate: <DATE>\r\nkeep-alive: timeout=60\r\n\r\n\
                         404 page not found\n";

async fn get(c: &mut Conn, target: &str) -> String {
    c.send(format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n"))
        .await;
    normalize(&c.raw_response(false).await)
}

#[tokio::test]
async fn the_prefix_goes_and_the_rest_stays_encoded_with_its_query() {
    let h = start(Server::new(), app());
    let mut c = Conn::connect(h.local_addr()).await;
    assert_eq!(get(&mut c, "/static/app.js?v=2").await, ok("/app.js?v=2"));
    assert_eq!(get(&mut c, "/static/a%20b%2Fc").await, ok("/a%20b%2Fc"));
    // The prefix compared decoded: `/a%20b/` is the plain encoding of `/a b/`.
    assert_eq!(get(&mut c, "/a%20b/x%3Fy?q=1").await, ok("/x%3Fy?q=1"));
    assert_eq!(get(&mut c, "/static/").await, ok("/"));
}

#[tokio::test]
async fn an_escape_cannot_put_a_path_under_the_prefix() {
    // Each reaches the `/static/` route (the mux matches decoded segments) but its raw path
    // does not carry the prefix, so Go's rule answers 404 without calling the handler.
    let h = start(
        Server::new(),
        ServeMux::new().route("/", strip_prefix("/static/", echo)),
    );
    let mut c = Conn::connect(h.local_addr()).await;
    for target in [
        "/static%2Fsecret",
        "/st%61tic/x",
        "/%73tatic/x",
        "/other/x",
        "/static",
    ] {
        assert_eq!(get(&mut c, target).await, NOT_FOUND, "{target}");
    }
    // Same connection, still in use: a 404 does not end it.
    assert_eq!(get(&mut c, "/static/ok").await, ok("/ok"));
}

#[tokio::test]
async fn curl_sends_an_encoded_path_as_is() {
    let Some(bin) = peer("curl", "--version", &[]) else {
        return;
    };
    let h = start(Server::new(), app());
    let url = format!("http://{}/static/dir%2Fname%20x.txt?a=%2F", h.local_addr());
    let out = tokio::process::Command::new(bin)
        .args([
            "-sS",
            "--noproxy",
            "*",
            "--max-time",
            "10",
            "--path-as-is",
            &url,
        ])
        .output()
        .await
        .expect("run curl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "/dir%2Fname%20x.txt?a=%2F"
    );
}
