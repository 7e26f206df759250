//! hyper's server as an in-process peer for the client's HTTP/2 and TLS interop tests
//! (client_h2_interop.rs, client_tls.rs): HTTP/2 over h2c or TLS (rustls, ALPN), or HTTP/1.1
//! over TLS, counting the connections it accepts and the requests each runs at once, and able
//! to shut its connections down gracefully (GOAWAY) on demand. Included by those files with
//! `#[path]`, beside `common`.
#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::Frame;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use nethttp::http::{HeaderMap, Method, Request, Response, StatusCode};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::{mpsc, watch};

/// Bound on any single exchange or wait, so a bug fails a test instead of hanging it.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// How long `GET /slow` takes.
pub const SLOW: Duration = Duration::from_millis(300);

/// Size of `GET /big`.
pub const BIG: usize = 5 * 1024 * 1024;

/// Data frames and bytes per frame of `GET /trailers`.
pub const TRAILER_CHUNKS: usize = 20;
pub const TRAILER_CHUNK_LEN: usize = 3000;

/// Awaits `f`, failing the test if it takes longer than [`TIMEOUT`].
pub async fn within<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(TIMEOUT, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no answer within {TIMEOUT:?}"),
    }
}

/// Waits (bounded) until `cond` holds, polling every few milliseconds; false on time out.
pub async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cond()
}

/// `len` bytes that are not a repeating short pattern, so a misplaced or lost chunk shows.
pub fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// FNV-1a of `data`: the checksum `GET /trailers` sends as a trailer.
pub fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Asserts two byte strings are equal without printing megabytes when they are not.
pub fn assert_same_bytes(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let first_diff = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "{what}: got {} bytes, want {}; first difference at {:?}",
            got.len(),
            want.len(),
            first_diff
        );
    }
}

/// The body of `GET /big`, made once.
pub fn big_body() -> Bytes {
    static BIG_BODY: OnceLock<Bytes> = OnceLock::new();
    BIG_BODY
        .get_or_init(|| Bytes::from(payload(BIG, 7)))
        .clone()
}

/// The data of `GET /trailers`, and its checksum (the `x-checksum` trailer).
pub fn trailers_body() -> (Vec<u8>, u64) {
    let data: Vec<u8> = (0..TRAILER_CHUNKS)
        .flat_map(|i| payload(TRAILER_CHUNK_LEN, 100 + i as u64))
        .collect();
    let sum = fnv1a(&data);
    (data, sum)
}

/// A rustls server config (ring provider) for a PEM certificate and key, offering `alpn`.
pub fn rustls_server_config(
    cert_pem: &str,
    key_pem: &str,
    alpn: &[&[u8]],
) -> Arc<rustls::ServerConfig> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .expect("certificate PEM");
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("key PEM");
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("server certificate");
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// Which protocol the peer serves on each connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    /// HTTP/2 (h2c on plain TCP, or behind TLS).
    H2,
    /// HTTP/1.1 (behind TLS here).
    H1,
}

/// How to start a [`HyperPeer`].
#[derive(Clone)]
pub struct PeerOptions {
    pub proto: Proto,
    /// hyper's HTTP/2 `max_concurrent_streams` (hyper's default is 200).
    pub max_concurrent_streams: Option<u32>,
    /// TLS in front of hyper.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl PeerOptions {
    pub fn h2c() -> PeerOptions {
        PeerOptions {
            proto: Proto::H2,
            max_concurrent_streams: None,
            tls: None,
        }
    }
}

/// What the peer counts about its connections and requests.
#[derive(Default)]
pub struct Gauges {
    /// Connections accepted (TCP).
    pub accepted: AtomicUsize,
    /// Connections whose hyper connection task is still running.
    pub live: AtomicUsize,
    /// Most `GET /slow` requests running at once on any single connection.
    pub max_slow_per_conn: AtomicUsize,
    /// Most `GET /slow` requests running at once overall.
    pub max_slow: AtomicUsize,
    slow_now: AtomicUsize,
    /// Requests served, by any route.
    pub requests: AtomicUsize,
}

/// hyper's server on an ephemeral loopback port.
pub struct HyperPeer {
    pub addr: SocketAddr,
    pub gauges: Arc<Gauges>,
    tls: bool,
    goaway: watch::Sender<u64>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for HyperPeer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// One `GET /slow` running: counted on its connection and overall until dropped.
struct Held(Arc<Gauges>, Arc<AtomicUsize>);

impl Drop for Held {
    fn drop(&mut self) {
        self.1.fetch_sub(1, SeqCst);
        self.0.slow_now.fetch_sub(1, SeqCst);
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type HyperBody = UnsyncBoxBody<Bytes, BoxError>;

/// A response body fed frame by frame from a channel (data, then maybe trailers).
struct ChannelBody(mpsc::Receiver<Frame<Bytes>>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.0.poll_recv(cx).map(|f| f.map(Ok))
    }
}

fn full(status: StatusCode, body: impl Into<Bytes>) -> Response<HyperBody> {
    let mut res = Response::new(
        Full::new(body.into())
            .map_err(|e| match e {})
            .boxed_unsync(),
    );
    *res.status_mut() = status;
    res
}

/// The peer's routes:
/// - `GET /hello` → `hello`;
/// - `GET /version` → the request's version as hyper saw it (`HTTP/2.0`, `HTTP/1.1`);
/// - `GET /slow` → `slow` after [`SLOW`], counted per connection and overall;
/// - `GET /big` → [`big_body`] (5 MiB, past both flow-control windows of the client);
/// - `GET /trailers` → [`TRAILER_CHUNKS`] data frames, then an `x-checksum` trailer;
/// - `POST /echo` → the request body streamed back as it arrives.
async fn app(
    req: Request<Incoming>,
    g: Arc<Gauges>,
    conn_slow: Arc<AtomicUsize>,
) -> Result<Response<HyperBody>, Infallible> {
    g.requests.fetch_add(1, SeqCst);
    let path = req.uri().path().to_owned();
    let res = match (req.method().clone(), path.as_str()) {
        (_, "/hello") => full(StatusCode::OK, "hello"),
        (_, "/version") => full(StatusCode::OK, format!("{:?}", req.version())),
        // The request target as it arrived (origin or absolute form) and the Host field.
        (_, "/target") => {
            let host = req.headers().get("host").map(|h| h.to_str().unwrap_or("?"));
            full(
                StatusCode::OK,
                format!("{} {}", req.uri(), host.unwrap_or("-")),
            )
        }
        (Method::GET, "/slow") => {
            let n = conn_slow.fetch_add(1, SeqCst) + 1;
            g.max_slow_per_conn.fetch_max(n, SeqCst);
            let all = g.slow_now.fetch_add(1, SeqCst) + 1;
            g.max_slow.fetch_max(all, SeqCst);
            let _held = Held(g.clone(), conn_slow);
            tokio::time::sleep(SLOW).await;
            full(StatusCode::OK, "slow")
        }
        (Method::GET, "/big") => full(StatusCode::OK, big_body()),
        (Method::GET, "/trailers") => {
            let (tx, rx) = mpsc::channel(4);
            tokio::spawn(async move {
                let (data, sum) = trailers_body();
                for piece in data.chunks(TRAILER_CHUNK_LEN) {
                    if tx
                        .send(Frame::data(Bytes::copy_from_slice(piece)))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                let mut trailers = HeaderMap::new();
                trailers.insert("x-checksum", sum.to_string().parse().unwrap());
                let _ = tx.send(Frame::trailers(trailers)).await;
            });
            Response::new(ChannelBody(rx).boxed_unsync())
        }
        (Method::POST, "/echo") => {
            Response::new(req.into_body().map_err(BoxError::from).boxed_unsync())
        }
        _ => full(StatusCode::NOT_FOUND, "not found"),
    };
    Ok(res)
}

/// Serves one hyper connection until it ends, shutting it down gracefully (GOAWAY on HTTP/2)
/// when the generation in `goaway` moves past the one it started in.
macro_rules! serve_until_goaway {
    ($conn:expr, $goaway:expr) => {{
        let conn = $conn;
        let mut goaway: watch::Receiver<u64> = $goaway;
        let mut conn = std::pin::pin!(conn);
        let mut asked = false;
        loop {
            tokio::select! {
                _ = conn.as_mut() => break,
                changed = goaway.changed(), if !asked => {
                    asked = true;
                    if changed.is_ok() {
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        }
    }};
}

impl HyperPeer {
    pub async fn start(opts: PeerOptions) -> HyperPeer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let gauges = Arc::new(Gauges::default());
        let (goaway, _) = watch::channel(0u64);
        let g = gauges.clone();
        let goaway_tx = goaway.clone();
        let tls = opts.tls.is_some();
        let accept = tokio::spawn(async move {
            let acceptor = opts.tls.clone().map(tokio_rustls::TlsAcceptor::from);
            while let Ok((tcp, _)) = listener.accept().await {
                g.accepted.fetch_add(1, SeqCst);
                let g = g.clone();
                let goaway = goaway_tx.subscribe();
                let acceptor = acceptor.clone();
                let opts = opts.clone();
                tokio::spawn(async move {
                    g.live.fetch_add(1, SeqCst);
                    let conn_slow = Arc::new(AtomicUsize::new(0));
                    let gs = g.clone();
                    let svc = service_fn(move |req| app(req, gs.clone(), conn_slow.clone()));
                    match acceptor {
                        Some(acceptor) => {
                            if let Ok(Ok(tls)) =
                                tokio::time::timeout(TIMEOUT, acceptor.accept(tcp)).await
                            {
                                serve(TokioIo::new(tls), svc, &opts, goaway).await;
                            }
                        }
                        None => serve(TokioIo::new(tcp), svc, &opts, goaway).await,
                    }
                    g.live.fetch_sub(1, SeqCst);
                });
            }
        });
        HyperPeer {
            addr,
            gauges,
            tls,
            goaway,
            accept,
        }
    }

    /// `http://127.0.0.1:PORT/path` (or https, then with `localhost` for the certificate).
    pub fn url(&self, path: &str) -> String {
        if self.tls {
            format!("https://localhost:{}{path}", self.addr.port())
        } else {
            format!("http://{}{path}", self.addr)
        }
    }

    pub fn accepted(&self) -> usize {
        self.gauges.accepted.load(SeqCst)
    }

    pub fn live(&self) -> usize {
        self.gauges.live.load(SeqCst)
    }

    /// Shuts down every connection open now, gracefully: hyper sends GOAWAY and closes each
    /// once its requests are done.
    pub fn goaway_all(&self) {
        self.goaway.send_modify(|g| *g += 1);
    }
}

async fn serve<I, S>(io: I, svc: S, opts: &PeerOptions, goaway: watch::Receiver<u64>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming, ResBody = HyperBody> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
{
    match opts.proto {
        Proto::H2 => {
            let mut b = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
            if let Some(n) = opts.max_concurrent_streams {
                b.max_concurrent_streams(n);
            }
            serve_until_goaway!(b.serve_connection(io, svc), goaway);
        }
        Proto::H1 => {
            let b = hyper::server::conn::http1::Builder::new();
            serve_until_goaway!(b.serve_connection(io, svc), goaway);
        }
    }
}
