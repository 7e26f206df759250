//! hyper 1.x "Hello, World!" server speaking HTTP/1.1 and h2c on one port: the peer that
//! nethttp's HTTP/2 server (and client) is benchmarked against.
//!
//! hyper-util's `server::conn::auto::Builder` looks at the first bytes of each connection:
//! the HTTP/2 connection preface means h2c by prior knowledge, anything else HTTP/1.1.
//! Every request gets `200 OK`, `Content-Type: text/plain`, body `Hello, World!`.
//! HTTP/2: `max_concurrent_streams(250)`, the value nethttp's server advertises (hyper's
//! default is 200); everything else hyper's defaults. HTTP/1.1: keep-alive on,
//! `pipeline_flush(true)`, as `hyper-hello`. TCP_NODELAY on accepted sockets.
//!
//! Usage: hyper-auto [--addr 127.0.0.1:0] [--threads 1]
//!   --addr     listen address (env HYPER_ADDR; default 127.0.0.1:0)
//!   --threads  tokio worker threads (env HYPER_THREADS; default 1). With 1 the
//!              runtime is current_thread: accept loop, every connection and every
//!              HTTP/2 stream task run on the one thread.
//!
//! Prints `hyper-auto listening on IP:PORT` to stderr once the socket is bound.
//! On SIGUSR1 prints `hyper-auto accepted N connections` to stderr (N counted since start),
//! so the client benchmark can count the TCP connections each client opened.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

const BODY: &[u8] = b"Hello, World!";
/// SETTINGS_MAX_CONCURRENT_STREAMS, as nethttp's server.
const MAX_CONCURRENT_STREAMS: u32 = 250;

/// Connections accepted since start.
static ACCEPTED: AtomicU64 = AtomicU64::new(0);

/// Prints the accepted-connection count on every SIGUSR1.
async fn report_accepted(mut usr1: tokio::signal::unix::Signal) {
    while usr1.recv().await.is_some() {
        let n = ACCEPTED.load(Ordering::Relaxed);
        eprintln!("hyper-auto accepted {n} connections");
    }
}

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut resp = Response::new(Full::new(Bytes::from_static(BODY)));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(resp)
}

struct Args {
    addr: SocketAddr,
    threads: usize,
}

fn usage() -> ! {
    eprintln!("usage: hyper-auto [--addr 127.0.0.1:0] [--threads 1]");
    std::process::exit(2);
}

fn parse_args() -> Args {
    let mut addr = std::env::var("HYPER_ADDR").unwrap_or_else(|_| "127.0.0.1:0".into());
    let mut threads = std::env::var("HYPER_THREADS").unwrap_or_else(|_| "1".into());
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let (key, inline) = match a.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next())
                .unwrap_or_else(|| usage())
        };
        match key.as_str() {
            "--addr" => addr = value(),
            "--threads" => threads = value(),
            "-h" | "--help" => usage(),
            _ => {
                eprintln!("hyper-auto: unknown argument {a:?}");
                usage()
            }
        }
    }
    let addr = addr.parse().unwrap_or_else(|e| {
        eprintln!("hyper-auto: bad --addr {addr:?}: {e}");
        usage()
    });
    let threads = match threads.parse::<usize>() {
        Ok(n) if n >= 1 => n,
        _ => {
            eprintln!("hyper-auto: bad --threads {threads:?}");
            usage()
        }
    };
    Args { addr, threads }
}

fn builder() -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1().keep_alive(true).pipeline_flush(true);
    b.http2().max_concurrent_streams(MAX_CONCURRENT_STREAMS);
    b
}

async fn serve(addr: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    // Installed before "listening on" is printed: a SIGUSR1 never finds the default action
    // (which would end the process).
    let usr1 = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())?;
    tokio::spawn(report_accepted(usr1));
    let builder = Arc::new(builder());
    eprintln!("hyper-auto listening on {}", listener.local_addr()?);
    loop {
        let (stream, _peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // EMFILE/ENFILE and friends: back off instead of spinning.
                eprintln!("hyper-auto: accept error: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        ACCEPTED.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        let builder = Arc::clone(&builder);
        tokio::spawn(async move {
            let _ = builder
                .serve_connection(TokioIo::new(stream), service_fn(hello))
                .await;
        });
    }
}

fn main() -> ExitCode {
    let args = parse_args();
    let rt = if args.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    };
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hyper-auto: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(serve(args.addr)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hyper-auto: {e}");
            ExitCode::FAILURE
        }
    }
}
