//! JSON request bodies into serde types and `json` responses: curl `--json` round trips, and
//! every refusal: 400 with serde_json's reason for bad JSON or the wrong shape, 413 past the
//! limit (declared or streamed), 415 for another `Content-Type`.

mod common;

use common::curl::status_and_body;
use common::peers::peer;
use common::wire::{start, Conn, DATE};
use nethttp::http::StatusCode;
use nethttp::request::RequestExt;
use nethttp::{json, Error, HttpRequest, HttpResponse, Server, ServerHandle};

#[derive(serde::Deserialize, serde::Serialize)]
struct Point {
    x: i32,
    y: i32,
}

async fn mirror(mut req: HttpRequest) -> Result<HttpResponse, Error> {
    let p: Point = req.json(100).await?;
    Ok(json(StatusCode::CREATED, &Point { x: p.y, y: p.x }))
}

fn serve() -> ServerHandle {
    start(Server::new(), mirror)
}

#[tokio::test]
async fn curl_json_round_trip_and_refusals() {
    let Some(curl) = peer("curl", "--version", &[]) else {
        return;
    };
    let h = serve();
    let url = format!("http://{}/", h.local_addr());
    // --json sets Content-Type and Accept to application/json.
    let (code, body) = status_and_body(&curl, &["--json", r#"{"x": 1, "y": -2}"#, &url]).await;
    assert_eq!((code, body.as_str()), (201, r#"{"x":-2,"y":1}"#));

    // application/*+json is JSON too.
    let (code, _) = status_and_body(
        &curl,
        &[
            "-H",
            "content-type: application/merge-patch+json",
            "-d",
            r#"{"x":1,"y":2}"#,
            &url,
        ],
    )
    .await;
    assert_eq!(code, 201);

    let (code, body) = status_and_body(&curl, &["--json", r#"{"x": 1,"#, &url]).await;
    assert_eq!(code, 400);
    assert_eq!(
        body,
        "body is not the JSON expected: EOF while parsing a value at line 1 column 8\n"
    );
    let (code, body) = status_and_body(&curl, &["--json", r#"{"x": "1", "y": 2}"#, &url]).await;
    assert_eq!(code, 400);
    assert!(
        body.contains("invalid type: string \"1\", expected i32"),
        "{body}"
    );

    let big = format!(r#"{{"x": 1, "y": 2, "pad": "{}"}}"#, "p".repeat(100));
    let (code, _) = status_and_body(&curl, &["--json", &big, &url]).await;
    assert_eq!(code, 413);

    // `-d` alone is a form: 415.
    let (code, body) = status_and_body(&curl, &["-d", r#"{"x":1,"y":2}"#, &url]).await;
    assert_eq!(
        (code, body.as_str()),
        (415, "expected Content-Type: application/json\n")
    );
    h.shutdown(std::time::Duration::from_secs(1)).await;
}

#[tokio::test]
async fn raw_json_exact_bytes_and_a_streamed_body_over_the_limit() {
    let h = serve();
    let mut c = Conn::connect(h.local_addr()).await;
    c.send(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: 13\r\n\r\n{\"x\":5,\"y\":6}",
    )
    .await;
    assert_eq!(
        c.response().await,
        format!(
            "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 13\r\n\
             {DATE}keep-alive: timeout=60\r\n\r\n{{\"x\":6,\"y\":5}}"
        )
    );

    // Invalid UTF-8 inside a string: 400, not a panic.
    c.send(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 9\r\n\r\n{\"x\":\"\xff\"}"
            .as_slice(),
    )
    .await;
    assert!(c
        .response()
        .await
        .starts_with("HTTP/1.1 400 Bad Request\r\n"));

    // Chunked, 60 + 60 bytes against a limit of 100: refused when the limit is crossed.
    let chunk = format!("{{\"x\":1,\"y\":2,\"p\":\"{}", "a".repeat(42));
    assert_eq!(chunk.len(), 60);
    c.send(format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\r\n3c\r\n{chunk}\r\n3c\r\n{}\r\n0\r\n\r\n",
        "b".repeat(60)
    ))
    .await;
    let resp = c.response().await;
    assert!(
        resp.starts_with("HTTP/1.1 413 Payload Too Large\r\n"),
        "{resp}"
    );
    h.shutdown(std::time::Duration::from_secs(1)).await;
}

/// `Body::json` on the client side reads a response.
#[tokio::test]
async fn client_reads_json_with_a_limit() {
    let h = serve();
    let url = format!("http://{}/", h.local_addr());
    let res = nethttp::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .body(r#"{"x":3,"y":4}"#)
        .send()
        .await
        .unwrap();
    let p: Point = res.into_body().json(1024).await.unwrap();
    assert_eq!((p.x, p.y), (4, 3));
    h.shutdown(std::time::Duration::from_secs(1)).await;
}
