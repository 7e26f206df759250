//! hyper 1.x "Hello, World!" server: the peer that nethttp is benchmarked against.
//!
//! Every request gets `200 OK`, `Content-Type: text/plain`, body `Hello, World!`.
//! HTTP/1.1 only, keep-alive on, `pipeline_flush(true)` (hyper's best setting for
//! pipelined clients), TCP_NODELAY on accepted sockets (as Go's net/http does).
//!
//! Usage: hyper-hello [--addr 127.0.0.1:0] [--threads 1]
//!   --addr     listen address (env HYPER_ADDR; default 127.0.0.1:0)
//!   --threads  tokio worker threads (env HYPER_THREADS; default 1). With 1 the
//!              runtime is current_thread: accept loop and every connection run on
//!              the one thread, the same resources nethttp gets with `--threads 1`.
//!
//! Prints `hyper-hello listening on IP:PORT` to stderr once the socket is bound.
//! On SIGUSR1 prints `hyper-hello accepted N connections` to stderr (N counted since start):
//! the client benchmark reads the delta over a run to count the TCP connections a client
//! opened, the same way for every client. The count costs one relaxed atomic add per accept.

use std::process::ExitCode;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

#[path = "hyper_peer.rs"]
mod hyper_peer;

fn main() -> ExitCode {
    hyper_peer::run("hyper-hello", |stream| async move {
        let _ = http1::Builder::new()
            .keep_alive(true)
            .pipeline_flush(true)
            .serve_connection(TokioIo::new(stream), service_fn(hyper_peer::hello))
            .await;
    })
}
