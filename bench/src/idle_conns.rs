//! idle-conns: open N keep-alive connections to a loopback HTTP/1.1 server, send one
//! `GET /` on each and read the whole response, then hold them all open and idle so
//! the server's memory per idle connection can be measured from outside.
//!
//! Usage: idle-conns --addr 127.0.0.1:PORT [--conns 10000] [--concurrency 256]
//!                   [--hold-secs 60] [--path /]
//!
//! Output on stdout, one line each, in this order:
//!   ready opened=N failed=F elapsed_ms=T   -- all connections done; they are now idle
//!   [first few error messages go to stderr]
//!   closing still_open=M held_ms=T         -- on SIGTERM/SIGINT, or when --hold-secs runs out
//! `still_open` counts connections the server had not closed by then (so a measurement
//! taken while holding is known to have been of N live connections).
//!
//! Bounded: at most --conns connections, at most --concurrency connecting at once, the
//! opening phase gives up after 120 s, the hold ends after --hold-secs (max 600 s).
//! Only loopback addresses are accepted as targets.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::signal::unix::{signal, SignalKind};

const OPEN_PHASE_LIMIT: Duration = Duration::from_secs(120);
const PER_CONN_LIMIT: Duration = Duration::from_secs(30);
const MAX_HOLD_SECS: u64 = 600;
const MAX_CONNS: usize = 100_000;

struct Args {
    addr: SocketAddr,
    conns: usize,
    concurrency: usize,
    hold: Duration,
    path: String,
}

fn usage() -> ! {
    eprintln!(
        "usage: idle-conns --addr 127.0.0.1:PORT [--conns 10000] [--concurrency 256] \
         [--hold-secs 60] [--path /]"
    );
    std::process::exit(2);
}

fn parse_args() -> Args {
    let mut addr: Option<String> = None;
    let mut conns = 10_000usize;
    let mut concurrency = 256usize;
    let mut hold_secs = 60u64;
    let mut path = "/".to_string();
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
        let num = |s: String| -> u64 {
            s.parse().unwrap_or_else(|_| {
                eprintln!("idle-conns: {key}: not a number: {s:?}");
                usage()
            })
        };
        match key.as_str() {
            "--addr" => addr = Some(value()),
            "--conns" => conns = num(value()) as usize,
            "--concurrency" => concurrency = num(value()) as usize,
            "--hold-secs" => hold_secs = num(value()),
            "--path" => path = value(),
            "-h" | "--help" => usage(),
            _ => {
                eprintln!("idle-conns: unknown argument {a:?}");
                usage()
            }
        }
    }
    let addr = addr.unwrap_or_else(|| usage());
    let addr: SocketAddr = addr.parse().unwrap_or_else(|e| {
        eprintln!("idle-conns: bad --addr {addr:?}: {e}");
        usage()
    });
    if !addr.ip().is_loopback() {
        eprintln!("idle-conns: refusing non-loopback target {addr}");
        std::process::exit(2);
    }
    if conns == 0 || conns > MAX_CONNS {
        eprintln!("idle-conns: --conns must be 1..={MAX_CONNS}");
        std::process::exit(2);
    }
    if !path.starts_with('/') || path.contains(['\r', '\n', ' ']) {
        eprintln!("idle-conns: bad --path {path:?}");
        std::process::exit(2);
    }
    Args {
        addr,
        conns,
        concurrency: concurrency.clamp(1, conns),
        hold: Duration::from_secs(hold_secs.min(MAX_HOLD_SECS)),
        path,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Connect, send one GET, read the complete response (Content-Length or chunked).
async fn one(addr: SocketAddr, request: &[u8]) -> Result<TcpStream, String> {
    let mut s = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = s.set_nodelay(true);
    s.write_all(request)
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 4096];
    // Headers.
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 * 1024 {
            return Err("response head too large".into());
        }
        let n = s.read(&mut chunk).await.map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("server closed before response head".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status_ok = head.starts_with("http/1.1 200") || head.starts_with("http/1.0 200");
    if !status_ok {
        let line = head.lines().next().unwrap_or("").to_string();
        return Err(format!("status: {line}"));
    }
    let content_length = head.lines().find_map(|l| {
        l.strip_prefix("content-length:")
            .and_then(|v| v.trim().parse::<usize>().ok())
    });
    let chunked = head
        .lines()
        .any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked"));
    if head
        .lines()
        .any(|l| l.starts_with("connection:") && l.contains("close"))
    {
        return Err("server answered Connection: close".into());
    }
    // Body.
    loop {
        let body = &buf[head_end..];
        let done = match (content_length, chunked) {
            (Some(n), _) => body.len() >= n,
            (None, true) => {
                body.starts_with(b"0\r\n\r\n") || find(body, b"\r\n0\r\n\r\n").is_some()
            }
            (None, false) => return Err("response has neither Content-Length nor chunked".into()),
        };
        if done {
            return Ok(s);
        }
        let n = s
            .read(&mut chunk)
            .await
            .map_err(|e| format!("read body: {e}"))?;
        if n == 0 {
            return Err("server closed mid-body".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// True if the peer has not closed the connection (nothing readable, or unread data).
fn still_open(s: &TcpStream) -> bool {
    let mut b = [0u8; 64];
    match s.try_read(&mut b) {
        Ok(0) => false,
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => true,
        Err(_) => false,
    }
}

async fn run(args: Args) -> Result<(), String> {
    let request: Arc<[u8]> = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: idle-conns\r\n\r\n",
        args.path, args.addr
    )
    .into_bytes()
    .into();
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let streams: Arc<Mutex<Vec<TcpStream>>> = Arc::new(Mutex::new(Vec::with_capacity(args.conns)));
    let start = Instant::now();

    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let (next, failed, streams, request) = (
            next.clone(),
            failed.clone(),
            streams.clone(),
            request.clone(),
        );
        let (addr, total) = (args.addr, args.conns);
        workers.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let msg = match tokio::time::timeout(PER_CONN_LIMIT, one(addr, &request)).await {
                    Ok(Ok(s)) => {
                        streams.lock().unwrap().push(s);
                        continue;
                    }
                    Ok(Err(e)) => e,
                    Err(_) => format!("no response within {PER_CONN_LIMIT:?}"),
                };
                if failed.fetch_add(1, Ordering::Relaxed) < 5 {
                    eprintln!("idle-conns: connection failed: {msg}");
                }
            }
        });
    }
    let all = async { while workers.join_next().await.is_some() {} };
    if tokio::time::timeout(OPEN_PHASE_LIMIT, all).await.is_err() {
        return Err(format!("opening phase exceeded {OPEN_PHASE_LIMIT:?}"));
    }
    let opened = streams.lock().unwrap().len();
    println!(
        "ready opened={opened} failed={} elapsed_ms={}",
        failed.load(Ordering::Relaxed),
        start.elapsed().as_millis()
    );

    let held = Instant::now();
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
        _ = tokio::time::sleep(args.hold) => {}
    }
    let streams = std::mem::take(&mut *streams.lock().unwrap());
    let open = streams.iter().filter(|s| still_open(s)).count();
    println!(
        "closing still_open={open} held_ms={}",
        held.elapsed().as_millis()
    );
    drop(streams);
    if opened == 0 {
        return Err("no connection could be opened".into());
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = parse_args();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("idle-conns: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("idle-conns: {e}");
            ExitCode::FAILURE
        }
    }
}
