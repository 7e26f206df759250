//! Custom connectors (`TransportBuilder::connector`, Go's `DialContext`): called once per new
//! connection and never for pooled reuse, given the destination (the URL's, or the proxy's);
//! our server on in-memory pipes and Unix sockets behind them, with TLS, ALPN h2, h2c, a
//! CONNECT tunnel and a SOCKS5 handshake layered on top by the transport; their failures and
//! stalls as typed errors
//! with the usual dial retries; a `TcpStream` from a connector kept on the TCP path.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::certs::self_signed;
use common::dial::{client, describe, get, LIMIT};
use common::unix_peers::{within, UnixServer};
use nethttp::client::{
    Connect, ConnectedIo, Connecting, Destination, DialRetry, GotConn, Scheme, Trace,
};
use nethttp::http::{StatusCode, Version};
use nethttp::{Client, ErrorKind, Server};
use tokio::io::AsyncWriteExt;

/// Each connection is an in-memory pipe whose far end `server` serves; records every
/// destination it was asked for.
struct Pipes {
    server: Server,
    calls: Mutex<Vec<Destination>>,
}

impl Pipes {
    fn new(server: Server) -> Arc<Pipes> {
        Arc::new(Pipes {
            server,
            calls: Mutex::new(Vec::new()),
        })
    }

    fn calls(&self) -> Vec<Destination> {
        self.calls.lock().unwrap().clone()
    }
}

impl Connect for Pipes {
    fn connect<'a>(&'a self, dst: &'a Destination) -> Connecting<'a> {
        self.calls.lock().unwrap().push(dst.clone());
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        tokio::spawn(self.server.serve_connection(theirs, Arc::new(describe)));
        Box::pin(async move { Ok(ConnectedIo::new(ours)) })
    }
}

#[tokio::test]
async fn the_connector_opens_new_connections_and_pooled_ones_are_reused() {
    let pipes = Pipes::new(Server::new());
    let c = client(|t| t.connector(pipes.clone()));
    for path in ["/1", "/2", "/3"] {
        let (status, version, body) = get(&c, &format!("http://app.test:8080{path}")).await;
        assert_eq!((status, version), (StatusCode::OK, Version::HTTP_11));
        assert_eq!(body, format!("app.test:8080 {path} HTTP/1.1"));
    }
    assert_eq!(pipes.calls().len(), 1, "one call for three requests");
    let dst = &pipes.calls()[0];
    assert_eq!(
        (dst.scheme(), dst.host(), dst.port(), dst.is_proxy()),
        (Scheme::Http, "app.test", 8080, false)
    );
    assert_eq!(dst.to_string(), "app.test:8080");
    c.transport().close_idle_connections();
    get(&c, "http://app.test:8080/4").await;
    assert_eq!(pipes.calls().len(), 2, "a new connection, a new call");
    let stats = c.pool_stats();
    assert_eq!((stats.dials, stats.reuses), (2, 2), "{stats:?}");
}

#[tokio::test]
async fn tls_and_h2_run_over_the_connectors_stream() {
    let cert = self_signed();
    let pipes = Pipes::new(Server::new().tls(cert.server_tls()));
    let c = client(|t| t.connector(pipes.clone()).tls(cert.client_tls()));
    for path in ["/a", "/b"] {
        let (_, version, body) = get(&c, &format!("https://localhost{path}")).await;
        assert_eq!(version, Version::HTTP_2, "ALPN picked h2");
        assert_eq!(body, format!("localhost {path} HTTP/2.0"));
    }
    let calls = pipes.calls();
    assert_eq!(calls.len(), 1, "one HTTP/2 connection");
    assert_eq!((calls[0].scheme(), calls[0].port()), (Scheme::Https, 443));

    let plain = Pipes::new(Server::new());
    let h2c = client(|t| t.connector(plain.clone()).http2_prior_knowledge(true));
    let (_, version, body) = get(&h2c, "http://app.test/h2c").await;
    assert_eq!(version, Version::HTTP_2);
    assert_eq!(body, "app.test /h2c HTTP/2.0");
}

#[tokio::test]
async fn a_unix_socket_behind_a_connector_carries_tls() {
    /// Dials one Unix socket, counting calls.
    struct Dial(std::path::PathBuf, AtomicUsize);
    impl Connect for Dial {
        fn connect<'a>(&'a self, _dst: &'a Destination) -> Connecting<'a> {
            self.1.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                let s = tokio::net::UnixStream::connect(&self.0).await?;
                Ok(ConnectedIo::new(s))
            })
        }
    }
    let cert = self_signed();
    let server = UnixServer::ours(Server::new().tls(cert.server_tls()));
    let dial = Arc::new(Dial(server.path.clone(), AtomicUsize::new(0)));
    let c = client(|t| {
        t.connector(dial.clone())
            .tls(cert.client_tls())
            .http2(false)
    });
    for _ in 0..3 {
        let (_, version, body) = get(&c, "https://localhost:8443/u").await;
        assert_eq!(version, Version::HTTP_11);
        assert_eq!(body, "localhost:8443 /u HTTP/1.1");
    }
    assert_eq!(dial.1.load(Ordering::SeqCst), 1);
    assert_eq!(
        server.accepted(),
        1,
        "TLS HTTP/1.1 kept alive over the socket"
    );
}

/// https through a proxy: the connector is asked for the proxy, the transport opens the
/// CONNECT tunnel over its stream, then TLS and h2 to the target through the tunnel.
#[tokio::test]
async fn a_connect_tunnel_runs_over_the_connectors_stream_to_the_proxy() {
    struct Proxy {
        server: Server,
        calls: Mutex<Vec<Destination>>,
        asked: Arc<Mutex<Vec<String>>>,
    }
    impl Connect for Proxy {
        fn connect<'a>(&'a self, dst: &'a Destination) -> Connecting<'a> {
            self.calls.lock().unwrap().push(dst.clone());
            let (ours, theirs) = tokio::io::duplex(64 * 1024);
            let (server, asked) = (self.server.clone(), self.asked.clone());
            tokio::spawn(async move {
                let mut theirs = theirs;
                let mut buf = Vec::new();
                let Some(head) = read_head_pipe(&mut theirs, &mut buf).await else {
                    return;
                };
                asked.lock().unwrap().push(head);
                let ok = b"HTTP/1.1 200 Connection established\r\n\r\n";
                if theirs.write_all(ok).await.is_ok() {
                    server.serve_connection(theirs, Arc::new(describe)).await;
                }
            });
            Box::pin(async move { Ok(ConnectedIo::new(ours)) })
        }
    }
    let cert = self_signed();
    let proxy = Arc::new(Proxy {
        server: Server::new().tls(cert.server_tls()),
        calls: Mutex::new(Vec::new()),
        asked: Arc::new(Mutex::new(Vec::new())),
    });
    let c = Client::builder()
        .timeout(LIMIT)
        .transport(|t| {
            t.proxy("proxy.test:3128")
                .connector(proxy.clone())
                .tls(cert.client_tls())
        })
        .build()
        .unwrap();
    let (_, version, body) = get(&c, "https://localhost:9443/t").await;
    assert_eq!(version, Version::HTTP_2);
    assert_eq!(body, "localhost:9443 /t HTTP/2.0");
    let calls = proxy.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        (
            calls[0].scheme(),
            calls[0].host(),
            calls[0].port(),
            calls[0].is_proxy()
        ),
        (Scheme::Http, "proxy.test", 3128, true)
    );
    let asked = proxy.asked.lock().unwrap().clone();
    assert!(
        asked[0].starts_with("CONNECT localhost:9443 HTTP/1.1\r\nHost: localhost:9443\r\n"),
        "{asked:?}"
    );
}

/// https through a SOCKS5 proxy: the connector is asked for the proxy, the transport runs
/// the SOCKS5 handshake over its stream (the target named for the proxy to resolve), then TLS
/// and h2 to the target as over a direct connection.
#[tokio::test]
async fn a_socks5_handshake_runs_over_the_connectors_stream_to_the_proxy() {
    use tokio::io::AsyncReadExt;
    struct Socks {
        server: Server,
        calls: Mutex<Vec<Destination>>,
        asked: Arc<Mutex<Vec<Vec<u8>>>>,
    }
    impl Connect for Socks {
        fn connect<'a>(&'a self, dst: &'a Destination) -> Connecting<'a> {
            self.calls.lock().unwrap().push(dst.clone());
            let (ours, mut theirs) = tokio::io::duplex(64 * 1024);
            let (server, asked) = (self.server.clone(), self.asked.clone());
            tokio::spawn(async move {
                // Greeting (no credentials: 3 bytes), then a CONNECT naming `localhost`.
                let mut got = vec![0u8; 3 + 5 + 9 + 2];
                let mut greeting = [0u8; 3];
                if theirs.read_exact(&mut greeting).await.is_err()
                    || theirs.write_all(&[5, 0]).await.is_err()
                {
                    return;
                }
                got[..3].copy_from_slice(&greeting);
                if theirs.read_exact(&mut got[3..]).await.is_err() {
                    return;
                }
                asked.lock().unwrap().push(got);
                let ok = [5, 0, 0, 1, 127, 0, 0, 1, 0x04, 0x38];
                if theirs.write_all(&ok).await.is_ok() {
                    server.serve_connection(theirs, Arc::new(describe)).await;
                }
            });
            Box::pin(async move { Ok(ConnectedIo::new(ours)) })
        }
    }
    let cert = self_signed();
    let proxy = Arc::new(Socks {
        server: Server::new().tls(cert.server_tls()),
        calls: Mutex::new(Vec::new()),
        asked: Arc::new(Mutex::new(Vec::new())),
    });
    let c = Client::builder()
        .timeout(LIMIT)
        .transport(|t| {
            t.proxy("socks5h://proxy.test")
                .connector(proxy.clone())
                .tls(cert.client_tls())
        })
        .build()
        .unwrap();
    for _ in 0..2 {
        let (_, version, body) = get(&c, "https://localhost:9443/t").await;
        assert_eq!(version, Version::HTTP_2);
        assert_eq!(body, "localhost:9443 /t HTTP/2.0");
    }
    let calls = proxy.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "one connection, reused");
    assert_eq!(
        (
            calls[0].scheme(),
            calls[0].host(),
            calls[0].port(),
            calls[0].is_proxy()
        ),
        (Scheme::Http, "proxy.test", 1080, true)
    );
    let asked = proxy.asked.lock().unwrap().clone();
    assert_eq!(
        asked,
        [[
            &[5u8, 1, 0, 5, 1, 0, 3, 9][..],
            b"localhost",
            &9443u16.to_be_bytes()
        ]
        .concat()]
    );
}

/// Reads one request head off a pipe, keeping what follows in `buf`.
async fn read_head_pipe(s: &mut tokio::io::DuplexStream, buf: &mut Vec<u8>) -> Option<String> {
    use tokio::io::AsyncReadExt;
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head: Vec<u8> = buf.drain(..i + 4).collect();
            return String::from_utf8(head).ok();
        }
        let mut chunk = [0u8; 1024];
        match tokio::time::timeout(LIMIT, s.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return None,
        }
    }
}

/// Fails every call with an error of `kind`, counting calls.
struct Failing(std::io::ErrorKind, AtomicUsize);

impl Connect for Failing {
    fn connect<'a>(&'a self, _dst: &'a Destination) -> Connecting<'a> {
        self.1.fetch_add(1, Ordering::SeqCst);
        let kind = self.0;
        Box::pin(async move { Err(std::io::Error::new(kind, "the tunnel is down")) })
    }
}

#[tokio::test]
async fn connector_failures_are_typed_and_refusals_are_retried() {
    let quick = DialRetry {
        max_retries: 2,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    };
    let refused = Arc::new(Failing(
        std::io::ErrorKind::ConnectionRefused,
        AtomicUsize::new(0),
    ));
    let c = client(|t| t.connector(refused.clone()).dial_retry(quick.clone()));
    let err = within("refused", LIMIT, c.get("http://app.test/").send())
        .await
        .expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    assert!(err.is_connect());
    assert_eq!(
        refused.1.load(Ordering::SeqCst),
        3,
        "first try and two retries"
    );
    let cause = std::error::Error::source(&err).map(ToString::to_string);
    assert_eq!(cause.as_deref(), Some("the tunnel is down"));

    let denied = Arc::new(Failing(
        std::io::ErrorKind::PermissionDenied,
        AtomicUsize::new(0),
    ));
    let c = client(|t| t.connector(denied.clone()).dial_retry(quick));
    let err = within("denied", LIMIT, c.get("http://app.test/").send())
        .await
        .expect_err("denied");
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    assert_eq!(
        denied.1.load(Ordering::SeqCst),
        1,
        "not a refusal: no retry"
    );
}

#[tokio::test]
async fn a_connector_that_never_answers_hits_the_connect_timeout() {
    struct Never;
    impl Connect for Never {
        fn connect<'a>(&'a self, _dst: &'a Destination) -> Connecting<'a> {
            Box::pin(std::future::pending())
        }
    }
    let c = client(|t| {
        t.connector(Never)
            .connect_timeout(Duration::from_millis(200))
    });
    let t0 = std::time::Instant::now();
    let err = within("never", LIMIT, c.get("http://app.test/").send())
        .await
        .expect_err("no stream");
    assert_eq!(err.kind(), ErrorKind::ConnectTimeout, "{err}");
    assert!(t0.elapsed() < Duration::from_secs(5));
    let cause = std::error::Error::source(&err).map(ToString::to_string);
    assert_eq!(cause.as_deref(), Some("connect to app.test:80 timed out"));
}

/// Records the local address each request's connection reported.
#[derive(Default)]
struct Local(Mutex<Vec<Option<std::net::SocketAddr>>>);

impl Trace for Local {
    fn got_conn(&self, info: &GotConn) {
        self.0.lock().unwrap().push(info.local_addr);
    }
}

#[tokio::test]
async fn a_tcp_stream_from_a_connector_stays_on_the_tcp_path() {
    struct Tcp(std::net::SocketAddr);
    impl Connect for Tcp {
        fn connect<'a>(&'a self, _dst: &'a Destination) -> Connecting<'a> {
            Box::pin(async move {
                Ok(ConnectedIo::new(
                    tokio::net::TcpStream::connect(self.0).await?,
                ))
            })
        }
    }
    let server = Server::new();
    let listener = server.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let handle = server.serve(listener, describe);
    let c = client(|t| t.connector(Tcp(handle.local_addr())));
    let trace = Arc::new(Local::default());
    // Twice: the second request reuses the connection, which still reports its address.
    for _ in 0..2 {
        let res = within(
            "GET",
            LIMIT,
            c.get("http://app.test/").trace(trace.clone()).send(),
        )
        .await
        .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    let seen = trace.0.lock().unwrap().clone();
    assert!(
        seen[0].is_some_and(|a| a.ip().is_loopback()),
        "a TCP connection knows its local address: {seen:?}"
    );
    assert_eq!(seen[1], seen[0]);
    assert_eq!(c.pool_stats().reuses, 1, "{:?}", c.pool_stats());

    // A pipe has none.
    let pipes = Pipes::new(Server::new());
    let c = client(|t| t.connector(pipes));
    let trace = Arc::new(Local::default());
    within(
        "GET",
        LIMIT,
        c.get("http://app.test/").trace(trace.clone()).send(),
    )
    .await
    .unwrap();
    assert_eq!(trace.0.lock().unwrap()[0], None);
}
