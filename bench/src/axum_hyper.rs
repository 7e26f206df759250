//! The axum hello `Router` (`axum_app::router`) under `axum::serve` (hyper and hyper-util
//! underneath), as an axum user runs it, with TCP_NODELAY set on accepted sockets (nethttp
//! sets it too): the peer of `axum-nethttp` in `bench/axum_run.sh`.
//!
//! Usage: axum-hyper [--addr 127.0.0.1:0] [--threads 1]
//! Prints `axum-hyper listening on IP:PORT` to stderr once the socket is bound.

use std::process::ExitCode;

use axum::serve::ListenerExt;

#[path = "axum_app.rs"]
mod axum_app;

fn main() -> ExitCode {
    let Some(args) = axum_app::parse_args("axum-hyper") else {
        return ExitCode::from(2);
    };
    let rt = match axum_app::runtime(args.threads) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("axum-hyper: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(args.addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("axum-hyper: bind {}: {e}", args.addr);
                return ExitCode::FAILURE;
            }
        };
        let local = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => {
                eprintln!("axum-hyper: {e}");
                return ExitCode::FAILURE;
            }
        };
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        eprintln!("axum-hyper listening on {local}");
        match axum::serve(listener, axum_app::router()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("axum-hyper: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
