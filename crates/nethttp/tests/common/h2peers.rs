//! Helpers for the HTTP/2 server interop tests (h2_server_interop.rs, h2_server_lifecycle.rs):
//! starting a server on loopback, running external peers (curl, nghttp, h2load, Python's
//! `h2`) with a time limit, and hyper's HTTP/2 client over cleartext (h2c) or TLS.
//! Included with `#[path]` by those files only; it expects `mod common;` beside it.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use nethttp::http::{self, HeaderMap};
use nethttp::{Body, ConnState, Handler, Server, ServerHandle};

/// Bound on any single exchange with a peer, so a bug fails a test instead of hanging it.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// Awaits `f`, failing the test if it takes longer than [`TIMEOUT`].
pub async fn within<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(TIMEOUT, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no answer within {TIMEOUT:?}"),
    }
}

/// Polls `cond` every 5 ms until it holds, failing the test after [`TIMEOUT`].
pub async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    within(what, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
}

/// Serves `handler` with `server` on `127.0.0.1:0`.
pub fn start<H: Handler>(server: &Server, handler: H) -> ServerHandle {
    let listener = server
        .bind("127.0.0.1:0".parse().unwrap())
        .expect("bind 127.0.0.1:0");
    server.serve(listener, handler)
}

/// Records every connection state change the server reports.
#[derive(Clone, Default)]
pub struct StateLog(pub Arc<Mutex<Vec<(SocketAddr, ConnState)>>>);

impl StateLog {
    /// A hook for [`Server::conn_state_hook`] that appends to this log.
    pub fn hook(&self) -> impl Fn(SocketAddr, ConnState) + Send + Sync + 'static {
        let log = self.0.clone();
        move |addr, state| log.lock().unwrap().push((addr, state))
    }

    pub fn all(&self) -> Vec<(SocketAddr, ConnState)> {
        self.0.lock().unwrap().clone()
    }

    /// How many connections were reported `New`.
    pub fn new_count(&self) -> usize {
        self.all()
            .iter()
            .filter(|(_, s)| *s == ConnState::New)
            .count()
    }

    /// The states reported for connections from `addr`, in order.
    pub fn of(&self, addr: SocketAddr) -> Vec<ConnState> {
        self.all()
            .into_iter()
            .filter(|(a, _)| *a == addr)
            .map(|(_, s)| s)
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// External programs.

/// Runs a peer to completion (killed if it outlives [`TIMEOUT`]) and returns its output,
/// whatever its exit status.
pub async fn run_any(mut cmd: tokio::process::Command, what: &str) -> std::process::Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    within(what, cmd.output())
        .await
        .unwrap_or_else(|e| panic!("{what}: spawn failed: {e}"))
}

/// Like [`run_any`], failing the test with the peer's output if it exits unsuccessfully.
pub async fn run(cmd: tokio::process::Command, what: &str) -> std::process::Output {
    let out = run_any(cmd, what).await;
    assert!(
        out.status.success(),
        "{what}: exited with {}\n{}",
        out.status,
        show(&out)
    );
    out
}

/// A peer's stdout and stderr, for failure messages.
pub fn show(out: &std::process::Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        lossy(&out.stdout),
        lossy(&out.stderr)
    )
}

pub fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// curl with the flags every test wants: quiet but showing errors, verbose (the status line
/// and ALPN outcome go to stderr), a hard time limit, and no proxy from the environment.
pub fn curl(bin: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(bin);
    cmd.args(["-sS", "-v", "--noproxy", "*", "--max-time", "12"]);
    cmd
}

/// curl arguments for `https://localhost:PORT{path}` resolved to 127.0.0.1 only, trusting
/// `cert`.
pub fn curl_tls_args(cert: &Path, port: u16, path: &str) -> Vec<String> {
    vec![
        "--cacert".into(),
        cert.display().to_string(),
        "--resolve".into(),
        format!("localhost:{port}:127.0.0.1"),
        format!("https://localhost:{port}{path}"),
    ]
}

/// `python3` with the `h2` package importable, or `None` (skip) outside CI.
pub fn python_h2() -> Option<PathBuf> {
    crate::common::peers::python_with(&["h2.connection"])
}

/// An HTTP/2 client on Python's `h2` (prior knowledge, cleartext) that prints, one line per
/// event, with seconds since it connected: `response SID STATUS`, `data SID BYTES`,
/// `end SID`, `goaway ERROR LAST_STREAM`, `ping-ack`, `eof`. Arguments: the port, a mode,
/// the most seconds to wait for the server to close, then one path per GET stream to open.
/// It keeps reading until the server closes the connection (or the wait ends: it fails).
///
/// Frames are handed to `h2` one at a time, and not at all after the first GOAWAY: `h2`
/// refuses any frame once it has seen GOAWAY (such as the PING that follows the first GOAWAY
/// of a graceful shutdown), so GOAWAY frames are decoded here instead, every one of them.
/// Mode `ack` then answers PINGs by hand, as RFC 9113 §6.7 asks of every endpoint; mode
/// `mute` answers nothing more, like a client that has gone away without closing.
pub const PY_H2_CLIENT: &str = r#"
import socket, struct, sys, time
import h2.config, h2.connection, h2.events
port = int(sys.argv[1])
mode = sys.argv[2]
wait = float(sys.argv[3])
paths = sys.argv[4:]
t0 = time.monotonic()
def out(msg):
    print("%.3f %s" % (time.monotonic() - t0, msg), flush=True)
s = socket.create_connection(("127.0.0.1", port), timeout=wait)
c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
c.initiate_connection()
for p in paths:
    sid = c.get_next_available_stream_id()
    c.send_headers(sid, [(":method", "GET"), (":path", p), (":scheme", "http"),
                         (":authority", "127.0.0.1:%d" % port)], end_stream=True)
s.sendall(c.data_to_send())
out("sent %d" % len(paths))
buf = b""
goaway = False
while True:
    data = s.recv(65536)
    if not data:
        out("eof")
        break
    buf += data
    while len(buf) >= 9:
        length = int.from_bytes(buf[:3], "big")
        if len(buf) < 9 + length:
            break
        frame, buf = buf[:9 + length], buf[9 + length:]
        if frame[3] == 7:
            last, code = struct.unpack(">II", frame[9:17])
            out("goaway %d %d" % (code, last & 0x7FFFFFFF))
            goaway = True
        if goaway:
            if mode == "ack" and frame[3] == 6 and not frame[4] & 1:
                s.sendall(b"\x00\x00\x08\x06\x01\x00\x00\x00\x00" + frame[9:17])
                out("ping-ack")
            continue
        for ev in c.receive_data(frame):
            if isinstance(ev, h2.events.ResponseReceived):
                out("response %d %s" % (ev.stream_id, dict(ev.headers)[":status"]))
            elif isinstance(ev, h2.events.DataReceived):
                c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                out("data %d %r" % (ev.stream_id, ev.data))
            elif isinstance(ev, h2.events.StreamEnded):
                out("end %d" % ev.stream_id)
    pending = c.data_to_send()
    if pending:
        try:
            s.sendall(pending)
        except OSError:
            pass
"#;

/// The lines [`PY_H2_CLIENT`] printed, without their timestamps, and the timestamps.
pub fn py_events(out: &std::process::Output) -> Vec<(f64, String)> {
    lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (t, rest) = l.split_once(' ')?;
            Some((t.parse().ok()?, rest.to_owned()))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// hyper's HTTP/2 client.

/// A hyper HTTP/2 connection's request half; the request body type is our own `Body` (any
/// `http_body::Body` would do; this one can stream and carry trailers).
pub type H2Sender = SendRequest<Body>;

/// Opens one hyper HTTP/2 connection to `addr` by prior knowledge (h2c). The connection is
/// driven by the returned task, which ends when the connection closes.
pub async fn hyper_h2c(
    addr: SocketAddr,
) -> (H2Sender, tokio::task::JoinHandle<Result<(), hyper::Error>>) {
    let tcp = within("connect", tokio::net::TcpStream::connect(addr))
        .await
        .expect("connect to the server");
    let (sender, conn) = within(
        "hyper h2 handshake",
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp)),
    )
    .await
    .expect("hyper h2 handshake");
    (sender, tokio::spawn(conn))
}

/// A response read whole: head, body bytes, trailers.
pub struct Got {
    pub head: http::response::Parts,
    pub body: Bytes,
    pub trailers: Option<HeaderMap>,
}

/// Sends `req` on `sender` and reads the whole response.
pub async fn send(sender: &H2Sender, req: http::Request<Body>) -> Got {
    let mut sender = sender.clone();
    within("hyper h2 request", async move {
        sender.ready().await.expect("connection ready");
        let resp = sender.send_request(req).await.expect("hyper h2 request");
        let (head, body) = resp.into_parts();
        let collected = body.collect().await.expect("hyper h2 response body");
        let trailers = collected.trailers().cloned();
        Got {
            head,
            body: collected.to_bytes(),
            trailers,
        }
    })
    .await
}

/// `GET http://{addr}{path}` with an empty body.
pub fn get(addr: SocketAddr, path: &str) -> http::Request<Body> {
    http::Request::get(format!("http://{addr}{path}"))
        .body(Body::empty())
        .unwrap()
}
