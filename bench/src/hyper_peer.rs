//! What the two hyper peer servers (`hyper-hello`, `hyper-auto`) share: the hello handler,
//! flags (`--addr`, `--threads`, env `HYPER_ADDR`/`HYPER_THREADS`), the runtime, and an
//! accept loop that sets TCP_NODELAY, backs off on accept errors, counts connections and
//! prints the count on SIGUSR1. Each binary supplies only how a connection is served.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response};
use tokio::net::{TcpListener, TcpStream};

const BODY: &[u8] = b"Hello, World!";

/// Connections accepted since start.
static ACCEPTED: AtomicU64 = AtomicU64::new(0);

/// `200 OK`, `Content-Type: text/plain`, `Hello, World!`.
pub async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut resp = Response::new(Full::new(Bytes::from_static(BODY)));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(resp)
}

struct Args {
    addr: SocketAddr,
    threads: usize,
}

fn usage(name: &str) -> ! {
    eprintln!("usage: {name} [--addr 127.0.0.1:0] [--threads 1]");
    std::process::exit(2);
}

fn parse_args(name: &str) -> Args {
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
                .unwrap_or_else(|| usage(name))
        };
        match key.as_str() {
            "--addr" => addr = value(),
            "--threads" => threads = value(),
            "-h" | "--help" => usage(name),
            _ => {
                eprintln!("{name}: unknown argument {a:?}");
                usage(name)
            }
        }
    }
    let addr = addr.parse().unwrap_or_else(|e| {
        eprintln!("{name}: bad --addr {addr:?}: {e}");
        usage(name)
    });
    let threads = match threads.parse::<usize>() {
        Ok(n) if n >= 1 => n,
        _ => {
            eprintln!("{name}: bad --threads {threads:?}");
            usage(name)
        }
    };
    Args { addr, threads }
}

/// Parses the flags, builds the runtime (current_thread for `--threads 1`) and runs the
/// accept loop, handing each accepted socket to `serve_conn` on a task of its own.
pub fn run<F, Fut>(name: &'static str, serve_conn: F) -> ExitCode
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let args = parse_args(name);
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
            eprintln!("{name}: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(accept_loop(name, args.addr, serve_conn)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn accept_loop<F, Fut>(
    name: &'static str,
    addr: SocketAddr,
    serve_conn: F,
) -> std::io::Result<()>
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind(addr).await?;
    // Installed before "listening on" is printed: a SIGUSR1 never finds the default action
    // (which would end the process).
    let mut usr1 = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())?;
    tokio::spawn(async move {
        while usr1.recv().await.is_some() {
            let n = ACCEPTED.load(Ordering::Relaxed);
            eprintln!("{name} accepted {n} connections");
        }
    });
    eprintln!("{name} listening on {}", listener.local_addr()?);
    loop {
        let (stream, _peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // EMFILE/ENFILE and friends: back off instead of spinning.
                eprintln!("{name}: accept error: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        ACCEPTED.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_conn(stream));
    }
}
