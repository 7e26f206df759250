//! HAProxy in front of our server with `send-proxy` (v1) and `send-proxy-v2`, in `mode tcp`
//! and `mode http`: a client connecting to HAProxy from its own loopback address
//! (127.0.0.7) must be who the handler sees, HAProxy's own address must be `proxied_by`, and
//! HAProxy's health checks (v2 `LOCAL`; v1 a line naming the check's own endpoints) must
//! report HAProxy itself.
//! Also TLS passed through `mode tcp` with a v2 header in front of the ClientHello.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::haproxy::{free_port, haproxy, Haproxy};
use common::wire::{start, Conn, IO_TIMEOUT};
use nethttp::http::StatusCode;
use nethttp::server::ProxyProtocol;
use nethttp::{text_response, ConnInfo, HttpRequest, HttpResponse, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

/// The client's source address, distinct from HAProxy's (127.0.0.1).
const CLIENT_IP: &str = "127.0.0.7";

/// Every request's path and the connection it came on, as `ConnInfo` says.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(String, ConnInfo)>>>);

impl Seen {
    fn handler(&self) -> impl nethttp::Handler {
        let seen = self.clone();
        move |req: HttpRequest| {
            let seen = seen.clone();
            async move {
                let info = *req.extensions().get::<ConnInfo>().expect("conn_info is on");
                seen.0
                    .lock()
                    .unwrap()
                    .push((req.uri().path().to_owned(), info));
                whoami(info)
            }
        }
    }

    /// The first request seen for `path`, waiting up to `within`.
    async fn first(&self, path: &str, within: Duration) -> Option<ConnInfo> {
        let t0 = Instant::now();
        while t0.elapsed() < within {
            let found = self
                .0
                .lock()
                .unwrap()
                .iter()
                .find(|(p, _)| p == path)
                .map(|(_, i)| *i);
            if found.is_some() {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

fn whoami(i: ConnInfo) -> HttpResponse {
    text_response(
        StatusCode::OK,
        format!(
            "remote={} local={} proxied_by={:?} tls={}",
            i.remote_addr, i.local_addr, i.proxied_by, i.tls
        ),
    )
}

/// A `GET path` from 127.0.0.7 to `port`, with `Connection: close`; the body, and the
/// client's own address.
async fn get_from_client_ip(port: u16, path: &str) -> (String, SocketAddr) {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(format!("{CLIENT_IP}:0").parse().unwrap())
        .unwrap();
    let stream = tokio::time::timeout(IO_TIMEOUT, socket.connect(([127, 0, 0, 1], port).into()))
        .await
        .expect("connect timed out")
        .expect("connect to haproxy");
    let me = stream.local_addr().unwrap();
    let mut c = Conn::from_stream(stream);
    c.send(format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    ))
    .await;
    let text = c.response().await;
    let (head, body) = text.split_once("\r\n\r\n").expect("a response");
    assert!(head.starts_with("HTTP/1.1 200"), "{text}");
    (body.to_owned(), me)
}

#[tokio::test]
async fn haproxy_send_proxy_v1_and_v2_in_tcp_and_http_mode() {
    let Some(bin) = haproxy() else { return };
    let seen = Seen::default();
    let server = Server::new()
        .conn_info(true)
        .proxy_protocol(ProxyProtocol::required().trust("127.0.0.1".parse().unwrap()));
    let h = start(server, seen.handler());
    let upstream = h.local_addr();
    let modes = [
        ("tcp", "send-proxy"),
        ("tcp", "send-proxy-v2"),
        ("http", "send-proxy"),
        ("http", "send-proxy-v2"),
    ];
    let ports: Vec<u16> = modes.iter().map(|_| free_port()).collect();
    let mut config = String::new();
    for (i, ((mode, send), port)) in modes.iter().zip(&ports).enumerate() {
        // Health checks go with the same PROXY version (`check-send-proxy`), as HTTP.
        config.push_str(&format!(
            "frontend f{i}\n    mode {mode}\n    bind 127.0.0.1:{port}\n    default_backend b{i}\n\n\
             backend b{i}\n    mode {mode}\n    option httpchk GET /check{i}\n\
             \x20   server s {upstream} {send} check check-send-proxy inter 200ms\n\n"
        ));
    }
    let proxy = Haproxy::start(&bin, &config, &ports).await;

    for (i, ((mode, send), port)) in modes.iter().zip(&ports).enumerate() {
        let (body, me) = get_from_client_ip(*port, &format!("/req{i}")).await;
        let info = seen
            .first(&format!("/req{i}"), IO_TIMEOUT)
            .await
            .expect("the request reached the server");
        let what = format!("{mode} {send}: {body}; {}", proxy.log());
        assert_eq!(info.remote_addr, me, "{what}");
        assert_eq!(info.remote_addr.ip().to_string(), CLIENT_IP, "{what}");
        assert_eq!(
            info.local_addr,
            SocketAddr::from(([127, 0, 0, 1], *port)),
            "{what}"
        );
        let by = info.proxied_by.expect("relayed");
        assert_eq!(by.ip().to_string(), "127.0.0.1", "{what}");
        assert_ne!(by.port(), *port, "{what}");
        assert_eq!(
            body,
            format!(
                "remote={me} local=127.0.0.1:{port} proxied_by={:?} tls=false",
                Some(by)
            )
        );

        // HAProxy's health check: v2 says `LOCAL`, so the socket's own addresses stand and
        // nothing is relayed; v1 describes the check connection itself (§2.1 asks a
        // balancer to fill the line with its getsockname()/getpeername() pair), so the
        // client and the balancer are the same address.
        let check = seen
            .first(&format!("/check{i}"), IO_TIMEOUT)
            .await
            .unwrap_or_else(|| panic!("no health check; {what}"));
        if *send == "send-proxy" {
            assert_eq!(check.proxied_by, Some(check.remote_addr), "{what}");
        } else {
            assert_eq!(check.proxied_by, None, "{what}");
        }
        assert_eq!(check.remote_addr.ip().to_string(), "127.0.0.1", "{what}");
        assert_eq!(check.local_addr, upstream, "{what}");
    }
    drop(proxy);
}

#[tokio::test]
async fn haproxy_passes_tls_through_after_a_v2_header() {
    let Some(bin) = haproxy() else { return };
    let cert = common::certs::self_signed();
    let server = Server::new()
        .conn_info(true)
        .proxy_protocol(ProxyProtocol::required())
        .tls(cert.server_tls());
    let seen = Seen::default();
    let h = start(server, seen.handler());
    let port = free_port();
    let config = format!(
        "frontend tls\n    mode tcp\n    bind 127.0.0.1:{port}\n    default_backend b\n\n\
         backend b\n    mode tcp\n    server s {} send-proxy-v2\n",
        h.local_addr()
    );
    let proxy = Haproxy::start(&bin, &config, &[port]).await;

    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(format!("{CLIENT_IP}:0").parse().unwrap())
        .unwrap();
    let tcp = socket
        .connect(([127, 0, 0, 1], port).into())
        .await
        .expect("connect to haproxy");
    let me = tcp.local_addr().unwrap();
    let connector = common::certs::tls_connector(&cert.cert_pem, &[]);
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = tokio::time::timeout(IO_TIMEOUT, connector.connect(name, tcp))
        .await
        .expect("TLS handshake timed out")
        .unwrap_or_else(|e| panic!("TLS through haproxy: {e}; {}", proxy.log()));
    tls.write_all(b"GET /tls HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(IO_TIMEOUT, tls.read_to_end(&mut got))
        .await
        .expect("response timed out");
    let text = String::from_utf8_lossy(&got).to_string();
    let info = seen.first("/tls", IO_TIMEOUT).await.expect("served");
    assert_eq!(info.remote_addr, me, "{text}");
    assert!(info.tls && info.proxied_by.is_some(), "{info:?}");
    assert!(text.contains(&format!("remote={me} ")), "{text}");
}
