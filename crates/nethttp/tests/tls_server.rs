//! TLS on the server: handshakes with curl and with our own certificate checks, ALPN
//! choosing the protocol, and the handshake timeout.

mod common;

use std::time::Duration;

use nethttp::{HttpRequest, Server};

async fn hello(_req: HttpRequest) -> nethttp::HttpResponse {
    nethttp::text_response(http::StatusCode::OK, "hello\n")
}

#[tokio::test]
async fn silent_client_is_closed_after_the_handshake_timeout() {
    use tokio::io::AsyncReadExt;
    let cert = common::certs::self_signed();
    let server = Server::new().tls(
        cert.server_tls()
            .handshake_timeout(Duration::from_millis(300)),
    );
    let listener = server.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let handle = server.serve(listener, hello);
    let mut tcp = tokio::net::TcpStream::connect(handle.local_addr())
        .await
        .unwrap();
    let start = std::time::Instant::now();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
        .await
        .expect("server closes the silent connection")
        .unwrap_or(0);
    assert_eq!(n, 0, "nothing is sent to a client that never said hello");
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(250),
        "closed too early: {waited:?}"
    );
}
