//! `Body::text`, `Body::bytes` and `Body::chunk` on request bodies from real peers: text within
//! its limit, 400 for bytes that are not UTF-8 and 413 past the limit (exact bytes), and
//! `chunk` handing data over as it arrives, before the body has ended.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::curl::status_and_body;
use common::peers::peer;
use common::wire::{start, Conn, DATE};
use nethttp::http::StatusCode;
use nethttp::{text_response, Error, HttpRequest, HttpResponse, ServeMux, Server, ServerHandle};

async fn text(req: HttpRequest) -> Result<HttpResponse, Error> {
    let s = req.into_body().text(16).await?;
    Ok(text_response(StatusCode::OK, s.to_uppercase()))
}

async fn bytes(req: HttpRequest) -> Result<HttpResponse, Error> {
    let b = req.into_body().bytes(1 << 20).await?;
    Ok(text_response(StatusCode::OK, format!("{} bytes", b.len())))
}

/// Counts the body chunk by chunk.
async fn count(req: HttpRequest) -> Result<HttpResponse, Error> {
    let mut body = req.into_body();
    let mut total = 0;
    // Bounded by the server's body limit and read timeout.
    while let Some(chunk) = body.chunk().await {
        total += chunk?.len();
    }
    Ok(text_response(StatusCode::OK, format!("{total}")))
}

fn serve() -> ServerHandle {
    let mux = ServeMux::new()
        .route("POST /text", text)
        .route("POST /bytes", bytes)
        .route("POST /count", count);
    start(Server::new(), mux)
}

#[tokio::test]
async fn text_limits_and_utf8_exact_bytes() {
    let h = serve();
    let mut c = Conn::connect(h.local_addr()).await;
    c.send("POST /text HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nhéllo")
        .await;
    assert!(c.response().await.ends_with("\r\n\r\nHÉLLO"));

    c.send(b"POST /text HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\na\xffb".as_slice())
        .await;
    let reason = "body is not valid UTF-8: invalid utf-8 sequence of 1 bytes from index 1\n";
    assert_eq!(
        c.response().await,
        format!(
            "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n\
             x-content-type-options: nosniff\r\ncontent-length: {}\r\n{DATE}\
             keep-alive: timeout=60\r\n\r\n{reason}",
            reason.len()
        )
    );

    c.send("POST /text HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n0123456789abcdefg")
        .await;
    assert_eq!(
        c.response().await,
        format!(
            "HTTP/1.1 413 Payload Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n\
             x-content-type-options: nosniff\r\ncontent-length: 28\r\n{DATE}\
             keep-alive: timeout=60\r\n\r\nbody exceeds the read limit\n"
        )
    );
    h.shutdown(Duration::from_secs(1)).await;
}

/// `chunk` yields the first chunk while the client still holds the rest back: the handler
/// reports each chunk as it gets it, and the first report comes before the rest is sent.
#[tokio::test]
async fn chunk_streams_before_the_body_ends() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
    let h = start(Server::new(), move |req: HttpRequest| {
        let tx = tx.clone();
        async move {
            let mut body = req.into_body();
            while let Some(chunk) = body.chunk().await {
                let _ = tx.send(chunk?);
            }
            Ok::<_, Error>(text_response(StatusCode::OK, "done"))
        }
    });
    let mut c = Conn::connect(h.local_addr()).await;
    c.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nearly\r\n")
        .await;
    let first = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
    assert_eq!(first.expect("first chunk in time").unwrap(), "early");
    c.send("4\r\nlate\r\n0\r\n\r\n").await;
    assert!(c.response().await.ends_with("\r\n\r\ndone"));
    assert_eq!(rx.recv().await.unwrap(), "late");
    h.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn curl_uploads_read_whole_and_by_chunks() {
    let Some(curl) = peer("curl", "--version", &[]) else {
        return;
    };
    let h = serve();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data.bin");
    std::fs::write(&file, vec![7u8; 300_000]).unwrap();
    let data = format!("@{}", file.display());
    let url = |p: &str| format!("http://{}{p}", h.local_addr());
    let (code, body) = status_and_body(&curl, &["--data-binary", &data, &url("/bytes")]).await;
    assert_eq!((code, body.as_str()), (200, "300000 bytes"));
    // Chunked upload, read chunk by chunk.
    let (code, body) = status_and_body(
        &curl,
        &[
            "--data-binary",
            &data,
            "-H",
            "Transfer-Encoding: chunked",
            &url("/count"),
        ],
    )
    .await;
    assert_eq!((code, body.as_str()), (200, "300000"));
    h.shutdown(Duration::from_secs(1)).await;
}
