//! The server behind an L4 balancer that speaks the PROXY protocol (v1 and v2), over raw
//! TCP with exact bytes: what `ConnInfo` and the state hook report for each header, TLS and
//! h2c after a header, the trust list, and hostile senders (tricklers, liars, floods, silent
//! and non-reading peers), each measured by time-to-close and bytes written.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::wire::{normalize, ok_text, start, Conn, StateLog, IO_TIMEOUT};
use nethttp::http::StatusCode;
use nethttp::proxy::ReverseProxy;
use nethttp::server::{ProxyProtocol, UntrustedPeers};
use nethttp::test::TestServer;
use nethttp::{text_response, Body, ConnInfo, ConnState, HttpRequest, HttpResponse, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const V2_SIG: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";
const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

/// What the connection says of itself.
async fn whoami(req: HttpRequest) -> HttpResponse {
    let text = match req.extensions().get::<ConnInfo>() {
        Some(i) => format!(
            "remote={} local={} proxied_by={:?} tls={}",
            i.remote_addr, i.local_addr, i.proxied_by, i.tls
        ),
        None => "no ConnInfo".to_owned(),
    };
    text_response(StatusCode::OK, text)
}

fn pp_server(pp: ProxyProtocol) -> Server {
    Server::new().conn_info(true).proxy_protocol(pp)
}

/// A v2 header: version 2 with `cmd`, family/protocol `fam`, then `body`.
fn v2(cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
    let mut v = V2_SIG.to_vec();
    v.extend_from_slice(&[0x20 | cmd, fam]);
    v.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    v.extend_from_slice(body);
    v
}

/// A v2 PROXY TCP4 address block `src -> dst`, then `tlvs`.
fn tcp4(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, tlvs: &[u8]) -> Vec<u8> {
    [
        &src[..],
        &dst,
        &sport.to_be_bytes(),
        &dport.to_be_bytes(),
        tlvs,
    ]
    .concat()
}

/// TLVs as HAProxy's `send-proxy-v2-ssl` and `set-proxy-v2-tlv-fmt` would add them.
fn some_tlvs() -> Vec<u8> {
    [
        &[0x01, 0, 2][..],
        b"h2",
        &[0x02, 0, 11],
        b"example.com",
        &[0x04, 0, 3, 0, 0, 0],
    ]
    .concat()
}

fn whoami_text(remote: &str, local: &str, by: Option<SocketAddr>) -> String {
    ok_text(&format!(
        "remote={remote} local={local} proxied_by={by:?} tls=false"
    ))
}

/// A connection from `ip` (a loopback address of our choosing) to `to`.
async fn connect_from(ip: &str, to: SocketAddr) -> Conn {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(format!("{ip}:0").parse().unwrap())
        .expect("bind a loopback source address");
    let stream = tokio::time::timeout(IO_TIMEOUT, socket.connect(to))
        .await
        .expect("connect timed out")
        .expect("connect");
    Conn::from_stream(stream)
}

#[tokio::test]
async fn v1_tcp4_names_the_client_for_conn_info_and_the_state_hook() {
    let log = StateLog::default();
    let server = pp_server(ProxyProtocol::required()).conn_state_hook(log.hook());
    let h = start(server, whoami);
    let mut c = Conn::connect(h.local_addr()).await;
    let balancer = c.local_addr();
    // One write: the header and the request share a segment, and the request must survive.
    c.send([&b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"[..], GET].concat())
        .await;
    assert_eq!(
        c.response().await,
        whoami_text("192.0.2.1:56324", "198.51.100.2:443", Some(balancer))
    );
    // Keep-alive goes on over the same relayed connection.
    c.send(GET).await;
    assert_eq!(
        c.response().await,
        whoami_text("192.0.2.1:56324", "198.51.100.2:443", Some(balancer))
    );
    drop(c);
    let client: SocketAddr = "192.0.2.1:56324".parse().unwrap();
    assert!(log.wait_closed(client, IO_TIMEOUT).await.is_some());
    assert_eq!(
        log.states(client),
        [
            ConnState::New,
            ConnState::Active,
            ConnState::Idle,
            ConnState::Active,
            ConnState::Idle,
            ConnState::Closed
        ]
    );
    assert!(log.states(balancer).is_empty(), "the hook saw the balancer");
}

#[tokio::test]
async fn v1_tcp6_and_unknown() {
    let h = start(pp_server(ProxyProtocol::required()), whoami);
    let mut c = Conn::connect(h.local_addr()).await;
    let by = c.local_addr();
    c.send([&b"PROXY TCP6 2001:db8::7 ::1 65535 8443\r\n"[..], GET].concat())
        .await;
    assert_eq!(
        c.response().await,
        whoami_text("[2001:db8::7]:65535", "[::1]:8443", Some(by))
    );

    // UNKNOWN: the socket's own addresses, not relayed; what follows UNKNOWN is ignored.
    for line in [&b"PROXY UNKNOWN\r\n"[..], b"PROXY UNKNOWN ::1 ::2 1 2\r\n"] {
        let mut c = Conn::connect(h.local_addr()).await;
        let me = c.local_addr();
        c.send([line, GET].concat()).await;
        assert_eq!(
            c.response().await,
            whoami_text(&me.to_string(), &h.local_addr().to_string(), None)
        );
    }
}

#[tokio::test]
async fn v2_proxy_with_tlvs_sent_in_pieces() {
    let h = start(pp_server(ProxyProtocol::required()), whoami);
    let mut c = Conn::connect(h.local_addr()).await;
    let by = c.local_addr();
    let header = v2(
        1,
        0x11,
        &tcp4([203, 0, 113, 9], 40000, [10, 0, 0, 1], 80, &some_tlvs()),
    );
    // Split inside the signature, the addresses and a TLV: the header may arrive in pieces.
    for piece in [&header[..5], &header[5..20], &header[20..33], &header[33..]] {
        c.send(piece).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    c.send(GET).await;
    assert_eq!(
        c.response().await,
        whoami_text("203.0.113.9:40000", "10.0.0.1:80", Some(by))
    );
}

#[tokio::test]
async fn v2_tcp6_header_then_request_in_one_write() {
    let h = start(pp_server(ProxyProtocol::required()), whoami);
    let mut c = Conn::connect(h.local_addr()).await;
    let by = c.local_addr();
    let mut addrs = [0u8; 36];
    addrs[..2].copy_from_slice(&[0x20, 0x01]);
    addrs[15] = 7; // 2001::7
    addrs[31] = 1; // ::1
    addrs[32..].copy_from_slice(&[0x1f, 0x90, 0x01, 0xbb]); // 8080 -> 443
    c.send([v2(1, 0x21, &addrs), GET.to_vec()].concat()).await;
    assert_eq!(
        c.response().await,
        whoami_text("[2001::7]:8080", "[::1]:443", Some(by))
    );
}

#[tokio::test]
async fn v2_local_health_check_keeps_the_socket_addresses() {
    let h = start(pp_server(ProxyProtocol::required()), whoami);
    // LOCAL with an address block and TLVs anyway: all of it is skipped.
    for header in [
        v2(0, 0x00, &[]),
        v2(
            0,
            0x11,
            &tcp4([1, 1, 1, 1], 1, [2, 2, 2, 2], 2, &some_tlvs()),
        ),
    ] {
        let mut c = Conn::connect(h.local_addr()).await;
        let me = c.local_addr();
        c.send([header, GET.to_vec()].concat()).await;
        assert_eq!(
            c.response().await,
            whoami_text(&me.to_string(), &h.local_addr().to_string(), None)
        );
    }
    // AF_UNIX (216 address bytes) is accepted and reported as the socket's addresses.
    let mut c = Conn::connect(h.local_addr()).await;
    let me = c.local_addr();
    c.send([v2(1, 0x31, &[0u8; 216]), GET.to_vec()].concat())
        .await;
    assert_eq!(
        c.response().await,
        whoami_text(&me.to_string(), &h.local_addr().to_string(), None)
    );
}

#[tokio::test]
async fn v2_header_comes_before_the_tls_client_hello() {
    let cert = common::certs::self_signed();
    let server = pp_server(ProxyProtocol::required()).tls(cert.server_tls());
    let h = start(server, whoami);
    let mut tcp = TcpStream::connect(h.local_addr()).await.unwrap();
    let by = tcp.local_addr().unwrap();
    tcp.write_all(&v2(
        1,
        0x11,
        &tcp4([198, 51, 100, 4], 5555, [127, 0, 0, 1], 443, &some_tlvs()),
    ))
    .await
    .unwrap();
    let connector = common::certs::tls_connector(&cert.cert_pem, &[]);
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = tokio::time::timeout(IO_TIMEOUT, connector.connect(name, tcp))
        .await
        .expect("TLS handshake timed out")
        .expect("TLS handshake after the PROXY header");
    tls.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(IO_TIMEOUT, tls.read_to_end(&mut got))
        .await
        .expect("response timed out")
        .ok();
    let text = normalize(&got);
    assert!(
        text.ends_with(&format!(
            "\r\n\r\nremote=198.51.100.4:5555 local=127.0.0.1:443 proxied_by={:?} tls=true",
            Some(by)
        )),
        "{text}"
    );
}

#[tokio::test]
async fn h2c_prior_knowledge_after_a_v2_header() {
    let h = start(pp_server(ProxyProtocol::required()), whoami);
    let mut tcp = TcpStream::connect(h.local_addr()).await.unwrap();
    let by = tcp.local_addr().unwrap();
    tcp.write_all(&v2(
        1,
        0x11,
        &tcp4([192, 0, 2, 44], 1234, [192, 0, 2, 1], 80, &[]),
    ))
    .await
    .unwrap();
    let body = tokio::time::timeout(IO_TIMEOUT, async move {
        let (mut send, conn) = h2::client::handshake(tcp).await.expect("h2 handshake");
        tokio::spawn(conn);
        let req = nethttp::http::Request::get("http://x/").body(()).unwrap();
        let (resp, _) = send.send_request(req, true).expect("send");
        let resp = resp.await.expect("response");
        assert_eq!(resp.version(), nethttp::http::Version::HTTP_2);
        let mut body = resp.into_body();
        let mut all = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk: Bytes = chunk.expect("data");
            let _ = body.flow_control().release_capacity(chunk.len());
            all.extend_from_slice(&chunk);
        }
        all
    })
    .await
    .expect("h2 exchange timed out");
    assert_eq!(
        String::from_utf8(body).unwrap(),
        format!(
            "remote=192.0.2.44:1234 local=192.0.2.1:80 proxied_by={:?} tls=false",
            Some(by)
        )
    );
}

#[tokio::test]
async fn reverse_proxy_forwards_the_relayed_client_in_x_forwarded_for() {
    let upstream = TestServer::start(|req: HttpRequest| async move {
        let xff = req
            .headers()
            .get("x-forwarded-for")
            .map(|v| v.to_str().unwrap_or("?").to_owned());
        text_response(StatusCode::OK, format!("xff={xff:?}"))
    })
    .await;
    let proxy = ReverseProxy::new(&upstream.url("/")).unwrap();
    let h = start(pp_server(ProxyProtocol::required()), proxy);
    let mut c = Conn::connect(h.local_addr()).await;
    c.send([&b"PROXY TCP4 192.0.2.77 192.0.2.1 4000 80\r\n"[..], GET].concat())
        .await;
    let text = c.response().await;
    assert!(text.ends_with("xff=Some(\"192.0.2.77\")"), "{text}");
}

#[tokio::test]
async fn serve_connection_over_a_pipe_reads_the_header_and_replays_the_rest() {
    let log = StateLog::default();
    let server = Server::new()
        .proxy_protocol(ProxyProtocol::required())
        .conn_state_hook(log.hook());
    let (a, mut b) = tokio::io::duplex(4096);
    let conn = tokio::spawn(server.serve_connection(a, Arc::new(whoami)));
    b.write_all(&[&b"PROXY TCP4 192.0.2.5 192.0.2.6 7 8\r\n"[..], GET, GET].concat())
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 1024];
    while got.windows(11).filter(|w| w == b"no ConnInfo").count() < 2 {
        let n = tokio::time::timeout(IO_TIMEOUT, b.read(&mut chunk))
            .await
            .expect("responses timed out")
            .unwrap();
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&chunk[..n]);
    }
    drop(b);
    tokio::time::timeout(IO_TIMEOUT, conn)
        .await
        .unwrap()
        .unwrap();
    // A pipe carries no ConnInfo; the hook is told the header's client.
    let client = "192.0.2.5:7".parse().unwrap();
    assert_eq!(log.states(client).first(), Some(&ConnState::New));
    assert_eq!(log.states(client).last(), Some(&ConnState::Closed));
}

// --- trust -------------------------------------------------------------------------------

#[tokio::test]
async fn only_trusted_peers_send_the_header_others_are_refused() {
    let pp = ProxyProtocol::required().trust("127.0.0.7/32".parse().unwrap());
    let h = start(pp_server(pp), whoami);
    let header = [&b"PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n"[..], GET].concat();

    let mut trusted = connect_from("127.0.0.7", h.local_addr()).await;
    let by = trusted.local_addr();
    trusted.send(&header).await;
    assert_eq!(
        trusted.response().await,
        whoami_text("192.0.2.1:1", "192.0.2.2:2", Some(by))
    );

    // Any other peer is closed without a byte, header or not.
    for bytes in [header.clone(), GET.to_vec()] {
        let mut other = connect_from("127.0.0.8", h.local_addr()).await;
        let _ = other.try_send(&bytes).await;
        other.expect_closed().await;
    }
}

#[tokio::test]
async fn untrusted_peers_may_be_served_directly_where_a_header_is_just_a_bad_request() {
    let pp = ProxyProtocol::required()
        .trust("127.0.0.7".parse().unwrap())
        .untrusted(UntrustedPeers::Direct);
    let h = start(pp_server(pp), whoami);
    let mut direct = connect_from("127.0.0.8", h.local_addr()).await;
    let me = direct.local_addr();
    direct.send(GET).await;
    assert_eq!(
        direct.response().await,
        whoami_text(&me.to_string(), &h.local_addr().to_string(), None)
    );
    // A header from a peer not trusted with one is not read as one: no spoofing.
    let mut spoof = connect_from("127.0.0.8", h.local_addr()).await;
    spoof
        .send([&b"PROXY TCP4 6.6.6.6 192.0.2.2 1 2\r\n"[..], GET].concat())
        .await;
    let text = spoof.response().await;
    assert!(text.starts_with("HTTP/1.1 400 "), "{text}");
    assert!(!text.contains("6.6.6.6"), "{text}");
}

// --- hostile peers ---------------------------------------------------------------------------

/// A short header deadline, so waits are measured against it; `IO_TIMEOUT` (5 s) bounds all.
const PP_TIMEOUT: Duration = Duration::from_millis(600);

/// Connects, sends `bytes` (ignoring a reset), and returns how long the server took to close
/// and what it wrote (asserted empty).
async fn close_after(h: &nethttp::ServerHandle, bytes: &[u8]) -> Duration {
    let mut c = Conn::connect(h.local_addr()).await;
    let t0 = Instant::now();
    let _ = c.try_send(bytes).await;
    c.expect_closed().await;
    t0.elapsed()
}

fn strict() -> Server {
    pp_server(ProxyProtocol::required().timeout(PP_TIMEOUT))
}

#[tokio::test]
async fn a_trickled_header_is_cut_at_the_deadline() {
    let h = start(strict(), whoami);
    let c = Conn::connect(h.local_addr()).await;
    let line = b"PROXY TCP4 192.0.2.1 192.0.2.2 56324 443\r\n";
    // One byte every 40 ms: the whole line would take 1.7 s, past the 600 ms deadline.
    let (got, took, sent) = trickle(c.stream, line, Duration::from_millis(40)).await;
    assert_eq!(got, 0, "the server wrote {got} bytes");
    assert!(
        sent < line.len(),
        "the whole header went through ({sent} bytes)"
    );
    assert!(took >= PP_TIMEOUT - Duration::from_millis(50), "{took:?}");
    assert!(took < PP_TIMEOUT * 4, "{took:?}");
}

/// Writes `bytes` one every `interval` until the server closes (an EOF or a reset: it closes
/// with the peeked bytes unread); returns the bytes it wrote back, when it closed, and how
/// many were sent.
async fn trickle(stream: TcpStream, bytes: &[u8], interval: Duration) -> (usize, Duration, usize) {
    let t0 = Instant::now();
    let (mut rd, mut wr) = stream.into_split();
    let bytes = bytes.to_vec();
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = sent.clone();
    let writer = tokio::spawn(async move {
        for b in bytes {
            if wr.write_all(&[b]).await.is_err() {
                break;
            }
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(interval).await;
        }
    });
    let mut got = 0;
    let mut chunk = [0u8; 1024];
    loop {
        match tokio::time::timeout(IO_TIMEOUT, rd.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got += n,
            Err(_) => panic!("not closed within {IO_TIMEOUT:?}"),
        }
    }
    let took = t0.elapsed();
    writer.abort();
    (got, took, sent.load(std::sync::atomic::Ordering::SeqCst))
}

#[tokio::test]
async fn a_v2_length_longer_than_what_is_sent_is_cut_at_the_deadline() {
    let h = start(strict(), whoami);
    let mut header = v2(
        1,
        0x11,
        &tcp4([1, 2, 3, 4], 1, [5, 6, 7, 8], 2, &[0x04, 0, 80]),
    );
    // Says 12 + 3 + 80 bytes follow (a NOOP TLV of 80 bytes); 15 do.
    header[14..16].copy_from_slice(&95u16.to_be_bytes());
    let took = close_after(&h, &header).await;
    assert!(took >= PP_TIMEOUT - Duration::from_millis(50), "{took:?}");
    assert!(took < PP_TIMEOUT * 4, "{took:?}");
}

#[tokio::test]
async fn silence_and_plain_http_when_a_header_is_required() {
    let h = start(strict(), whoami);
    // Plain HTTP: refused at its first byte, long before the deadline, with no response.
    let took = close_after(&h, GET).await;
    assert!(took < PP_TIMEOUT / 2, "{took:?}");
    // Silence: closed at the deadline.
    let took = close_after(&h, b"").await;
    assert!(took >= PP_TIMEOUT - Duration::from_millis(50), "{took:?}");
    assert!(took < PP_TIMEOUT * 4, "{took:?}");
}

#[tokio::test]
async fn oversized_and_malformed_headers_are_closed_at_once() {
    // A deadline far off, so "at once" cannot be the deadline.
    let h = start(
        pp_server(ProxyProtocol::required().timeout(Duration::from_secs(4))),
        whoami,
    );
    let mut past_cap = V2_SIG.to_vec();
    past_cap.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
    let mut v1_flood = b"PROXY ".to_vec();
    v1_flood.resize(64 * 1024, b'x');
    let mut v2_flood = v2(1, 0x11, &[0; 12]);
    v2_flood[14..16].copy_from_slice(&4000u16.to_be_bytes());
    v2_flood.resize(16 + 4000, 0x04); // TLV lengths that overrun the header
    let garbage: Vec<u8> = (0..64 * 1024u32).map(|i| (i * 7 + 13) as u8).collect();
    for (what, bytes) in [
        ("v2 length past the 4 KiB cap", past_cap),
        ("v1 line without CRLF, 64 KiB", v1_flood),
        ("v2 TLVs that overrun", v2_flood),
        ("64 KiB of garbage", garbage),
        (
            "v1 with a lone LF",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\nGET".to_vec(),
        ),
        ("v2 version 3", [V2_SIG, &[0x31, 0x11, 0, 0]].concat()),
    ] {
        let took = close_after(&h, &bytes).await;
        assert!(took < Duration::from_secs(2), "{what}: {took:?}");
    }
    // The server still serves.
    let mut c = Conn::connect(h.local_addr()).await;
    c.send([&b"PROXY UNKNOWN\r\n"[..], GET].concat()).await;
    assert!(c.response().await.starts_with("HTTP/1.1 200 OK"));
}

#[tokio::test]
async fn a_client_that_never_reads_meets_the_write_timeout() {
    let log = StateLog::default();
    let server = strict()
        .write_timeout(Duration::from_millis(500))
        .conn_state_hook(log.hook());
    let h = start(server, |_req: HttpRequest| async {
        // Far more than socket buffers hold.
        nethttp::http::Response::new(Body::from(vec![b'x'; 32 * 1024 * 1024]))
    });
    let mut c = Conn::connect(h.local_addr()).await;
    c.send([&b"PROXY TCP4 192.0.2.9 192.0.2.1 999 80\r\n"[..], GET].concat())
        .await;
    // The header was consumed: the request was served, to the header's client.
    let client: SocketAddr = "192.0.2.9:999".parse().unwrap();
    let t0 = Instant::now();
    let closed = log.wait_closed(client, IO_TIMEOUT).await;
    assert!(
        closed.is_some(),
        "not closed; states {:?}",
        log.states(client)
    );
    assert_eq!(log.states(client)[..2], [ConnState::New, ConnState::Active]);
    assert!(
        t0.elapsed() >= Duration::from_millis(450),
        "{:?}",
        t0.elapsed()
    );
    // It wrote what the socket buffers took, then gave up: far less than the body.
    let mut got = 0usize;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout(IO_TIMEOUT, c.stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got += n,
            Err(_) => panic!("no close after {got} bytes"),
        }
    }
    assert!(got > 0 && got < 32 * 1024 * 1024, "{got} bytes");
}

#[tokio::test]
async fn a_unix_socket_balancer_relays_a_tcp_client() {
    // HAProxy's `server s unix@/path send-proxy-v2`: the peer has no address, the client does.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pp.sock");
    let server = pp_server(ProxyProtocol::required());
    let listener = server.bind_unix(&path).expect("bind_unix");
    let _h = server.serve(listener, whoami);
    let mut s = tokio::net::UnixStream::connect(&path).await.unwrap();
    let header = v2(
        1,
        0x11,
        &tcp4([192, 0, 2, 3], 3333, [192, 0, 2, 1], 443, &some_tlvs()),
    );
    s.write_all(&[header, GET.to_vec()].concat()).await.unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 1024];
    while !got.ends_with(b"tls=false") {
        let n = tokio::time::timeout(IO_TIMEOUT, s.read(&mut chunk))
            .await
            .expect("response timed out")
            .unwrap();
        assert!(n > 0, "closed: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(
        normalize(&got),
        whoami_text(
            "192.0.2.3:3333",
            "192.0.2.1:443",
            Some("0.0.0.0:0".parse().unwrap())
        )
    );
}

#[tokio::test]
async fn shutdown_closes_connections_still_owing_a_header() {
    let grace = Duration::from_millis(300);
    let server = pp_server(ProxyProtocol::required()).first_request_grace(grace);
    let h = start(server, whoami);
    let mut c = Conn::connect(h.local_addr()).await;
    // Half a header, then the server shuts down: the header must be done within the
    // first-request grace, so the connection is closed when it ends instead of waiting out
    // the header's 10 s deadline.
    c.send(&b"PROXY TCP4 192.0.2.1"[..]).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let t0 = Instant::now();
    tokio::time::timeout(IO_TIMEOUT, h.shutdown(Duration::from_secs(8)))
        .await
        .expect("shutdown timed out");
    c.expect_closed().await;
    let took = t0.elapsed();
    assert!(took >= grace && took < Duration::from_secs(2), "{took:?}");
}
