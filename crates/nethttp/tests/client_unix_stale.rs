//! Pooled connections over a Unix socket that the server closes: a stream that is not TCP has
//! no peek, so an idle connection is checked by reading; the close found there, or caught
//! under a request, must end as on TCP — an idle connection found closed is not used, a GET
//! caught by the close is resent once on a new connection, a POST is never sent twice, and a
//! POST after a close the runtime has not reported yet still goes on a new connection (the
//! kernel is asked through the socket's descriptor).

mod common;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::unix_peers::{read_head, socket_path, within, UnixServer};
use nethttp::http::StatusCode;
use nethttp::Client;
use tokio::io::AsyncWriteExt;

const LIMIT: Duration = Duration::from_secs(10);
const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

fn client(path: &std::path::Path) -> Client {
    let path = path.to_owned();
    Client::builder()
        .timeout(LIMIT)
        .transport(move |t| t.unix_socket(path))
        .build()
        .unwrap()
}

/// Each request line the server read, with the connection it came on.
type Seen = Arc<Mutex<Vec<(usize, String)>>>;

/// A server whose first connection answers one request and then, on the next, reads it and
/// closes without an answer (the server closing a kept connection as a request arrives); the
/// other connections answer everything.
fn closes_on_the_second_request() -> (UnixServer, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let server = UnixServer::raw(move |mut stream, index| {
        let log = log.clone();
        async move {
            let mut buf = Vec::new();
            let mut n = 0;
            while let Some(head) = read_head(&mut stream, &mut buf).await {
                let line = head.lines().next().unwrap_or_default().to_owned();
                log.lock().unwrap().push((index, line));
                n += 1;
                if index == 0 && n == 2 {
                    return;
                }
                if stream.write_all(OK).await.is_err() {
                    return;
                }
            }
        }
    });
    (server, seen)
}

#[tokio::test]
async fn a_get_caught_by_the_close_is_resent_once_on_a_new_connection() {
    let (server, seen) = closes_on_the_second_request();
    let c = client(&server.path);
    for path in ["/1", "/2"] {
        let res = within(path, LIMIT, c.get(format!("http://app.test{path}")).send())
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.into_body().to_bytes(64).await.unwrap(), "ok");
    }
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (0, "GET /1 HTTP/1.1".to_owned()),
            (0, "GET /2 HTTP/1.1".to_owned()),
            (1, "GET /2 HTTP/1.1".to_owned())
        ]
    );
}

#[tokio::test]
async fn a_post_caught_by_the_close_is_not_sent_twice() {
    let (server, seen) = closes_on_the_second_request();
    let c = client(&server.path);
    let res = within("GET", LIMIT, c.get("http://app.test/1").send())
        .await
        .unwrap();
    res.into_body().to_bytes(64).await.unwrap();
    let err = within("POST", LIMIT, c.post("http://app.test/p").body("x").send())
        .await
        .expect_err("the server closed under the POST");
    assert!(
        err.to_string()
            .contains("not retried because the method is not idempotent"),
        "{err}"
    );
    let posts = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, l)| l.starts_with("POST"))
        .count();
    assert_eq!(posts, 1, "{:?}", seen.lock().unwrap());
}

#[tokio::test]
async fn an_idle_connection_the_server_closed_is_not_reused() {
    let server = UnixServer::raw(|mut stream, _| async move {
        let mut buf = Vec::new();
        if read_head(&mut stream, &mut buf).await.is_some() {
            let _ = stream.write_all(OK).await;
        }
        // Dropped: closed after one response, without saying so.
    });
    let c = client(&server.path);
    for path in ["/1", "/2"] {
        let res = within(path, LIMIT, c.get(format!("http://app.test{path}")).send())
            .await
            .unwrap();
        res.into_body().to_bytes(64).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stats = c.pool_stats();
    assert_eq!(server.accepted(), 2);
    assert_eq!((stats.dials, stats.stale), (2, 1), "{stats:?}");
}

/// The server closes shortly after its answer, while the client's thread is busy (the runtime
/// cannot hear of the close) until it sends a POST: reading finds nothing yet, but the kernel
/// knows, and the POST takes a new connection instead of dying with the old one.
#[tokio::test(flavor = "current_thread")]
async fn a_post_after_an_unreported_close_goes_on_a_new_connection() {
    let (dir, path) = socket_path();
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let seen: Seen = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for (index, stream) in listener.incoming().enumerate().take(2) {
            let Ok(mut stream) = stream else { return };
            stream.set_read_timeout(Some(LIMIT)).unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut chunk) {
                    Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                    _ => return,
                }
            }
            let text = String::from_utf8_lossy(&buf).into_owned();
            let line = text.lines().next().unwrap_or_default().to_owned();
            log.lock().unwrap().push((index, line));
            let _ = stream.write_all(OK);
            // Closed while the client's thread is blocked below, so the runtime has not
            // heard of it when the POST is sent.
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let c = client(&path);
    let res = within("GET", LIMIT, c.get("http://app.test/1").send())
        .await
        .unwrap();
    res.into_body().to_bytes(64).await.unwrap();
    // Blocks the runtime's only thread: the reactor does not run until the POST is sent.
    std::thread::sleep(Duration::from_millis(200));
    let res = within("POST", LIMIT, c.post("http://app.test/p").body("x").send())
        .await
        .unwrap_or_else(|e| panic!("POST: {e}"));
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (0, "GET /1 HTTP/1.1".to_owned()),
            (1, "POST /p HTTP/1.1".to_owned())
        ]
    );
    assert_eq!(c.pool_stats().stale, 1);
    drop(dir);
}
