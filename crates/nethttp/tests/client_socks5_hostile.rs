//! Hostile SOCKS5 proxies against the client, each a script on 127.0.0.1: one that never
//! answers the greeting, one that trickles a valid conversation a byte per 200 ms, one that
//! announces a longer bound address than it sends, one with an address type that does not
//! exist, one that refuses with reply 0x05, and one that floods bytes after a successful reply
//! before any HTTP response. Each asserts the exact error, that the request ended within the
//! connect timeout (with a margin for a loaded machine), and what the proxy was sent.
//!
//! The bounds these prove: the whole SOCKS5 handshake has the connect timeout (not per read,
//! so a trickle cannot stretch it); the client reads only the reply's announced size (at
//! most 262 bytes) and nothing past it; what follows the reply is the target's, held to the
//! response head limit like any server's bytes.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use nethttp::http::Request;
use nethttp::{Body, ErrorKind, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// The connect timeout of these tests: long enough for a loaded machine to get through a
/// handshake, short enough that waiting it out is cheap.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(800);
/// Past the connect timeout, how late a request may end and still count as bounded by it.
const MARGIN: Duration = Duration::from_millis(700);

/// The greeting of a client without credentials: version 5, one method, no authentication.
const GREETING: [u8; 3] = [5, 1, 0];

/// A proxy that runs `script` on its first connection; what the script read is sent back.
async fn hostile<F, Fut>(script: F) -> (SocketAddr, oneshot::Receiver<Vec<u8>>)
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Vec<u8>> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let Ok(Ok((s, _))) = tokio::time::timeout(Duration::from_secs(10), listener.accept()).await
        else {
            return;
        };
        let _ = tx.send(script(s).await);
    });
    (addr, rx)
}

/// Reads exactly `n` bytes (bounded), appending them to `seen`.
async fn take(s: &mut TcpStream, n: usize, seen: &mut Vec<u8>) {
    let mut buf = vec![0u8; n];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut buf))
        .await
        .expect("the client sends within 5 s")
        .expect("the client's bytes");
    seen.extend_from_slice(&buf);
}

/// The CONNECT request our client sends for `example.test:80` (a name: `socks5h://`).
fn connect_request() -> Vec<u8> {
    let mut r = vec![5, 1, 0, 3, 12];
    r.extend_from_slice(b"example.test");
    r.extend_from_slice(&[0, 80]);
    r
}

/// GET `url` through the proxy at `addr` with `more` settings; the error, and how long the
/// request took.
async fn through(
    addr: SocketAddr,
    url: &str,
    more: impl FnOnce(nethttp::client::TransportBuilder) -> nethttp::client::TransportBuilder,
) -> (nethttp::Error, Duration) {
    let t = more(
        Transport::builder()
            .proxy(format!("socks5h://{addr}"))
            .connect_timeout(CONNECT_TIMEOUT),
    )
    .build()
    .unwrap();
    let req = Request::get(url).body(Body::empty()).unwrap();
    let t0 = Instant::now();
    let res = tokio::time::timeout(Duration::from_secs(10), t.round_trip(req))
        .await
        .expect("the request ends within 10 s");
    (res.expect_err("a hostile proxy"), t0.elapsed())
}

/// Ended within the connect timeout (plus the margin).
fn bounded(took: Duration) {
    assert!(
        took < CONNECT_TIMEOUT + MARGIN,
        "took {took:?}; the connect timeout is {CONNECT_TIMEOUT:?}"
    );
}

/// Ended by the connect timeout: not before it, not long after.
fn timed_out_at_the_bound(err: &nethttp::Error, took: Duration) {
    assert_eq!(err.kind(), ErrorKind::ConnectTimeout, "{err:?}");
    assert!(err.is_timeout() && err.is_proxy(), "{err:?}");
    assert!(took >= CONNECT_TIMEOUT, "took {took:?}: before the timeout");
    bounded(took);
}

/// Reads the greeting and says nothing, holding the connection open.
#[tokio::test]
async fn a_proxy_that_never_answers_the_greeting_costs_the_connect_timeout() {
    let (addr, sent) = hostile(|mut s| async move {
        let mut seen = Vec::new();
        take(&mut s, GREETING.len(), &mut seen).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        seen
    })
    .await;
    let (err, took) = through(addr, "http://example.test/", |t| t).await;
    timed_out_at_the_bound(&err, took);
    assert_eq!(
        err.to_string(),
        "the SOCKS5 proxy did not finish its handshake within the connect timeout: waiting \
         for its choice of authentication method"
    );
    assert_eq!(sent.await.unwrap(), GREETING);
}

/// A valid conversation, one byte every 200 ms: every read gets something, but the whole
/// handshake has the connect timeout, so the trickle cannot stretch it.
#[tokio::test]
async fn a_proxy_that_trickles_cannot_stretch_the_handshake() {
    let (addr, sent) = hostile(|mut s| async move {
        let mut seen = Vec::new();
        take(&mut s, GREETING.len(), &mut seen).await;
        for b in [5u8, 0] {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if s.write_all(&[b]).await.is_err() {
                return seen;
            }
        }
        take(&mut s, connect_request().len(), &mut seen).await;
        for b in [5u8, 0, 0, 1, 127, 0, 0, 1, 0, 80] {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if s.write_all(&[b]).await.is_err() {
                break;
            }
        }
        seen
    })
    .await;
    let (err, took) = through(addr, "http://example.test/", |t| t).await;
    timed_out_at_the_bound(&err, took);
    assert_eq!(
        err.to_string(),
        "the SOCKS5 proxy did not finish its handshake within the connect timeout: waiting \
         for its reply to CONNECT"
    );
    assert_eq!(
        sent.await.unwrap(),
        [&GREETING[..], &connect_request()].concat()
    );
}

/// A success reply announcing a 255-byte host name as its bound address, then 20 bytes of
/// it, then silence: the client waits for exactly what was announced, within the timeout.
#[tokio::test]
async fn a_proxy_that_lies_about_the_address_length_costs_the_connect_timeout() {
    let (addr, sent) = hostile(|mut s| async move {
        let mut seen = Vec::new();
        take(&mut s, GREETING.len(), &mut seen).await;
        s.write_all(&[5, 0]).await.unwrap();
        take(&mut s, connect_request().len(), &mut seen).await;
        let mut reply = vec![5, 0, 0, 3, 255];
        reply.extend_from_slice(&[b'a'; 20]);
        s.write_all(&reply).await.unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        seen
    })
    .await;
    let (err, took) = through(addr, "http://example.test/", |t| t).await;
    timed_out_at_the_bound(&err, took);
    assert_eq!(
        err.to_string(),
        "the SOCKS5 proxy did not finish its handshake within the connect timeout: waiting \
         for its reply to CONNECT"
    );
    assert_eq!(
        sent.await.unwrap(),
        [&GREETING[..], &connect_request()].concat()
    );
}

/// A success reply with an address type RFC 1928 does not define: the length of what follows
/// is unknown, so the reply is malformed at once, not waited on.
#[tokio::test]
async fn an_address_type_that_does_not_exist_is_a_malformed_reply() {
    let (addr, _sent) = hostile(|mut s| async move {
        let mut seen = Vec::new();
        take(&mut s, GREETING.len(), &mut seen).await;
        s.write_all(&[5, 0]).await.unwrap();
        take(&mut s, connect_request().len(), &mut seen).await;
        s.write_all(&[5, 0, 0, 0x7f, 1, 2, 3, 4, 0, 80])
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        seen
    })
    .await;
    let (err, took) = through(addr, "http://example.test/", |t| t).await;
    bounded(took);
    assert!(took < CONNECT_TIMEOUT, "not waited on: {took:?}");
    assert_eq!(err.kind(), ErrorKind::Proxy, "{err:?}");
    assert_eq!(
        err.to_string(),
        "the SOCKS5 proxy's reply is malformed: address type 0x7f is none of IPv4, name, IPv6 \
         (RFC 1928 §5)"
    );
}

/// Reply 0x05: a proxy error naming the refusal and the target, at once.
#[tokio::test]
async fn a_refusal_names_the_reply_code() {
    let (addr, _sent) = hostile(|mut s| async move {
        let mut seen = Vec::new();
        take(&mut s, GREETING.len(), &mut seen).await;
        s.write_all(&[5, 0]).await.unwrap();
        take(&mut s, connect_request().len(), &mut seen).await;
        s.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]).await.unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        seen
    })
    .await;
    let (err, took) = through(addr, "http://example.test/", |t| t).await;
    assert!(took < CONNECT_TIMEOUT, "not waited on: {took:?}");
    assert_eq!(err.kind(), ErrorKind::Proxy, "{err:?}");
    assert!(err.is_proxy() && err.is_connect() && !err.is_timeout());
    assert_eq!(
        err.to_string(),
        "the SOCKS5 proxy could not connect to the target: connection refused (reply 0x05) \
         for example.test:80"
    );
}

/// A success reply, then an endless stream that looks like the start of a response head and
/// never ends its first field: the bytes are the target's as far as the client can tell, so
/// the response head limit stops them (64 KiB here), at once rather than at any timeout. For
/// https the same flood of non-TLS bytes fails the TLS handshake.
#[tokio::test]
async fn a_flood_after_the_reply_is_held_to_the_response_head_limit() {
    for https in [false, true] {
        let (addr, sent) = hostile(move |mut s| async move {
            let mut seen = Vec::new();
            take(&mut s, GREETING.len(), &mut seen).await;
            s.write_all(&[5, 0]).await.unwrap();
            let mut req = connect_request();
            let n = req.len();
            if https {
                req[n - 2..].copy_from_slice(&443u16.to_be_bytes());
            }
            take(&mut s, req.len(), &mut seen).await;
            let mut flood = [
                &[5u8, 0, 0, 1, 127, 0, 0, 1, 0, 80][..],
                b"HTTP/1.1 200 OK\r\nX-",
            ]
            .concat();
            let chunk = [b'a'; 16 * 1024];
            let t0 = Instant::now();
            // Until the client goes away (or 5 s, whichever is first).
            while t0.elapsed() < Duration::from_secs(5) {
                if s.write_all(&flood).await.is_err() {
                    break;
                }
                flood.clear();
                flood.extend_from_slice(&chunk);
            }
            seen
        })
        .await;
        let url = match https {
            true => "https://example.test/",
            false => "http://example.test/",
        };
        let (err, took) = through(addr, url, |t| t.max_response_header_bytes(64 * 1024)).await;
        bounded(took);
        if https {
            assert_eq!(err.kind(), ErrorKind::Tls, "{err:?}");
            assert!(
                !err.is_proxy(),
                "past the reply, the bytes are the target's"
            );
        } else {
            assert_eq!(err.kind(), ErrorKind::Parse, "{err:?}");
            assert!(
                err.to_string().contains("too large"),
                "the head limit, not a malformed reply: {err}"
            );
        }
        let seen = sent.await.unwrap();
        assert!(seen.starts_with(&GREETING), "{seen:?}");
    }
}
