//! Hostile servers behind a Unix socket, where the client's stream is boxed IO rather than
//! TCP: one that never reads (the write timeout ends the request), one that trickles (the
//! response-header and total timeouts still hold), one that goes silent in a body (read
//! timeout), one that lies about Content-Length (a typed error or the extra bytes, and the
//! connection not reused), and one that floods headers (the head limit). Each bounded in time.

mod common;

use std::time::{Duration, Instant};

use common::unix_peers::{read_head, within, UnixServer, IO_TIMEOUT};
use nethttp::client::TransportBuilder;
use nethttp::{Body, Client, ErrorKind};
use tokio::io::AsyncWriteExt;

/// Bound on every request of these tests: far above each timeout under test.
const LIMIT: Duration = Duration::from_secs(10);
const SHORT: Duration = Duration::from_millis(300);

fn client(server: &UnixServer, more: impl FnOnce(TransportBuilder) -> TransportBuilder) -> Client {
    let path = server.path.clone();
    Client::builder()
        .transport(move |t| more(t.unix_socket(path)))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_server_that_never_reads_is_cut_off_by_the_write_timeout() {
    let server = UnixServer::raw(|stream, _| async move {
        // Holds the connection open and reads nothing.
        tokio::time::sleep(IO_TIMEOUT).await;
        drop(stream);
    });
    let c = client(&server, |t| t.write_timeout(SHORT));
    let body = Body::from(vec![b'x'; 16 << 20]);
    let t0 = Instant::now();
    let err = within(
        "upload",
        LIMIT,
        c.post("http://app.test/up").body(body).send(),
    )
    .await
    .expect_err("nothing is read");
    assert!(err.is_timeout(), "{err:?}");
    assert!(err.to_string().contains("write"), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
}

/// Reads one request head, then writes `response` a byte at a time, `pause` apart.
fn trickling(response: &'static [u8], pause: Duration) -> UnixServer {
    UnixServer::raw(move |mut stream, _| async move {
        let mut buf = Vec::new();
        if read_head(&mut stream, &mut buf).await.is_none() {
            return;
        }
        for byte in response {
            if stream.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(pause).await;
        }
    })
}

#[tokio::test]
async fn a_trickled_head_hits_the_response_header_timeout() {
    let head =
        b"HTTP/1.1 200 OK\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\ncontent-length: 0\r\n\r\n";
    let server = trickling(head, Duration::from_millis(50));
    let c = client(&server, |t| t.response_header_timeout(SHORT));
    let t0 = Instant::now();
    let err = within("GET", LIMIT, c.get("http://app.test/").send())
        .await
        .expect_err("the head takes seconds");
    assert_eq!(err.kind(), ErrorKind::ResponseHeaderTimeout, "{err}");
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
}

#[tokio::test]
async fn a_trickled_body_hits_the_total_timeout() {
    let response = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n\
        0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789";
    let server = UnixServer::raw(move |mut stream, _| async move {
        let mut buf = Vec::new();
        if read_head(&mut stream, &mut buf).await.is_none() {
            return;
        }
        let (head, body) = response.split_at(response.len() - 100);
        if stream.write_all(head).await.is_err() {
            return;
        }
        // A byte every 50 ms: never silent long enough for the read timeout.
        for byte in body {
            if stream.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let path = server.path.clone();
    let c = Client::builder()
        .timeout(Duration::from_millis(500))
        .transport(move |t| t.unix_socket(path).read_timeout(Duration::from_secs(2)))
        .build()
        .unwrap();
    let t0 = Instant::now();
    let res = within("GET", LIMIT, c.get("http://app.test/").send())
        .await
        .expect("the head came at once");
    let err = within("body", LIMIT, res.into_body().to_bytes(1024))
        .await
        .expect_err("the body takes 5 s");
    assert_eq!(err.kind(), ErrorKind::TotalTimeout, "{err}");
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
}

#[tokio::test]
async fn a_body_gone_silent_hits_the_read_timeout() {
    let server = UnixServer::raw(|mut stream, _| async move {
        let mut buf = Vec::new();
        if read_head(&mut stream, &mut buf).await.is_some() {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")
                .await;
            tokio::time::sleep(IO_TIMEOUT).await;
        }
    });
    let c = client(&server, |t| t.read_timeout(SHORT));
    let res = within("GET", LIMIT, c.get("http://app.test/").send())
        .await
        .unwrap();
    let err = within("body", LIMIT, res.into_body().to_bytes(1024))
        .await
        .expect_err("seven bytes never come");
    assert_eq!(err.kind(), ErrorKind::BodyReadTimeout, "{err}");
}

/// The first connection answers with `lie`; later ones answer honestly.
fn lying(lie: &'static [u8]) -> UnixServer {
    UnixServer::raw(move |mut stream, index| async move {
        let mut buf = Vec::new();
        while read_head(&mut stream, &mut buf).await.is_some() {
            let answer: &[u8] = match index {
                0 => lie,
                _ => b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nhonest",
            };
            if stream.write_all(answer).await.is_err() || index == 0 {
                // The liar closes after its answer (the short body ends there).
                return;
            }
        }
    })
}

#[tokio::test]
async fn a_body_shorter_than_its_content_length_is_an_error_and_the_connection_is_dropped() {
    let server = lying(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten b");
    let c = client(&server, |t| t);
    let res = within("GET", LIMIT, c.get("http://app.test/").send())
        .await
        .unwrap();
    let err = within("body", LIMIT, res.into_body().to_bytes(1024))
        .await
        .expect_err("90 bytes are missing");
    assert_eq!(err.kind(), ErrorKind::IncompleteMessage, "{err}");
    let res = within("again", LIMIT, c.get("http://app.test/").send())
        .await
        .unwrap();
    assert_eq!(res.into_body().to_bytes(64).await.unwrap(), "honest");
    assert_eq!(server.accepted(), 2);
    assert_eq!(
        c.pool_stats().reuses,
        0,
        "the broken connection was not reused"
    );
}

#[tokio::test]
async fn bytes_past_the_content_length_are_not_taken_for_the_next_response() {
    let lie: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello\
        HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\nsmuggled";
    let server = UnixServer::raw(move |mut stream, index| async move {
        let mut buf = Vec::new();
        while read_head(&mut stream, &mut buf).await.is_some() {
            let answer: &[u8] = match index {
                0 => lie,
                _ => b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nhonest",
            };
            if stream.write_all(answer).await.is_err() {
                return;
            }
        }
    });
    let c = client(&server, |t| t);
    let res = within("GET", LIMIT, c.get("http://app.test/").send())
        .await
        .unwrap();
    assert_eq!(res.into_body().to_bytes(64).await.unwrap(), "hello");
    // Let the unasked-for bytes arrive and be seen.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let res = within("again", LIMIT, c.get("http://app.test/").send())
        .await
        .unwrap();
    assert_eq!(res.into_body().to_bytes(64).await.unwrap(), "honest");
    assert_eq!(
        server.accepted(),
        2,
        "the connection with extra bytes was not reused"
    );
}

#[tokio::test]
async fn a_header_flood_hits_the_head_limit() {
    let server = UnixServer::raw(|mut stream, _| async move {
        let mut buf = Vec::new();
        if read_head(&mut stream, &mut buf).await.is_none() {
            return;
        }
        if stream.write_all(b"HTTP/1.1 200 OK\r\n").await.is_err() {
            return;
        }
        let line = format!("x-flood: {}\r\n", "a".repeat(1000));
        let deadline = Instant::now() + IO_TIMEOUT;
        // Until the client hangs up (or the bound passes).
        while Instant::now() < deadline {
            if stream.write_all(line.as_bytes()).await.is_err() {
                return;
            }
        }
    });
    let c = client(&server, |t| t.max_response_header_bytes(16 * 1024));
    let t0 = Instant::now();
    let err = within("GET", LIMIT, c.get("http://app.test/").send())
        .await
        .expect_err("the head never ends");
    assert_eq!(err.kind(), ErrorKind::Parse, "{err}");
    assert!(err.to_string().contains("too large"), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
}
