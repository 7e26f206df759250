//! The axum hello `Router` (`axum_app::router`) served by nethttp through
//! `nethttp::tower::ServiceHandler`, default `Server` settings: one half of the axum
//! comparison in `bench/axum_run.sh`, against the same router under `axum::serve`
//! (`axum-hyper`).
//!
//! Usage: axum-nethttp [--addr 127.0.0.1:0] [--threads 1]
//! Prints `axum-nethttp listening on IP:PORT` to stderr once the socket is bound.

use std::process::ExitCode;

use nethttp::tower::ServiceHandler;
use nethttp::Server;

#[path = "axum_app.rs"]
mod axum_app;

fn main() -> ExitCode {
    let Some(args) = axum_app::parse_args("axum-nethttp") else {
        return ExitCode::from(2);
    };
    let rt = match axum_app::runtime(args.threads) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("axum-nethttp: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let server = Server::new();
        let listener = match server.bind(args.addr) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("axum-nethttp: bind {}: {e}", args.addr);
                return ExitCode::FAILURE;
            }
        };
        let handle = server.serve(listener, ServiceHandler::new(axum_app::router()));
        eprintln!("axum-nethttp listening on {}", handle.local_addr());
        match handle.wait().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("axum-nethttp: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
