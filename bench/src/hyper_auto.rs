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

use std::process::ExitCode;
use std::sync::Arc;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

#[path = "hyper_peer.rs"]
mod hyper_peer;

/// SETTINGS_MAX_CONCURRENT_STREAMS, as nethttp's server.
const MAX_CONCURRENT_STREAMS: u32 = 250;

fn main() -> ExitCode {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1().keep_alive(true).pipeline_flush(true);
    b.http2().max_concurrent_streams(MAX_CONCURRENT_STREAMS);
    let builder = Arc::new(b);
    hyper_peer::run("hyper-auto", move |stream| {
        let builder = Arc::clone(&builder);
        async move {
            let _ = builder
                .serve_connection(TokioIo::new(stream), service_fn(hyper_peer::hello))
                .await;
        }
    })
}
