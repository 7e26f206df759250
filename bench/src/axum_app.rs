//! What the two axum benchmark servers share (`axum-nethttp`, `axum-hyper`): the one hello
//! `Router` both serve, their flags (`--addr 127.0.0.1:0`, `--threads 1`) and the runtime
//! (current-thread for one thread, as the other peers). Only the server under the router
//! differs between the two binaries.

use std::net::SocketAddr;

use axum::routing::get;
use axum::Router;

/// `GET /` answers `200 OK`, `content-type: text/plain; charset=utf-8`, `Hello, World!`
/// (axum's answer for a `&'static str`); any other path 404.
pub fn router() -> Router {
    Router::new().route("/", get(|| async { "Hello, World!" }))
}

/// The flags.
pub struct Args {
    pub addr: SocketAddr,
    pub threads: usize,
}

/// Parses `--addr` and `--threads`; on a bad flag prints the usage and returns `None`.
pub fn parse_args(name: &str) -> Option<Args> {
    let mut addr = "127.0.0.1:0".to_string();
    let mut threads = 1usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--addr", Some(v)) => addr = v,
            ("--threads", Some(v)) => match v.parse() {
                Ok(n) if n >= 1 => threads = n,
                _ => {
                    eprintln!("{name}: bad --threads {v:?}");
                    return None;
                }
            },
            _ => {
                eprintln!("usage: {name} [--addr 127.0.0.1:0] [--threads 1]");
                return None;
            }
        }
    }
    match addr.parse() {
        Ok(addr) => Some(Args { addr, threads }),
        Err(e) => {
            eprintln!("{name}: bad --addr {addr:?}: {e}");
            None
        }
    }
}

/// A current-thread runtime for one thread, else a multi-thread one with `threads` workers.
pub fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
}
