//! nethttp "Hello, World!" server, the same shape as `hyper-hello`: one handler for every
//! request (no router), `200 OK`, `Content-Type: text/plain`, body `Hello, World!`, default
//! `Server` settings. It isolates the server machinery for the side-by-side comparison;
//! `nethttp serve` (which routes through `ServeMux`) is measured separately.
//!
//! Usage: nethttp-hello [--addr 127.0.0.1:0] [--threads 1]
//! Prints `nethttp-hello listening on IP:PORT` to stderr once the socket is bound.

use std::process::ExitCode;

use nethttp::http::{header::CONTENT_TYPE, HeaderValue, Response};
use nethttp::{Body, HttpRequest, Server};

async fn hello(_req: HttpRequest) -> Response<Body> {
    let mut resp = Response::new(Body::from("Hello, World!"));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    resp
}

fn main() -> ExitCode {
    let mut addr = "127.0.0.1:0".to_string();
    let mut threads = 1usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--addr", Some(v)) => addr = v,
            ("--threads", Some(v)) => threads = v.parse().unwrap_or(1).max(1),
            _ => {
                eprintln!("usage: nethttp-hello [--addr 127.0.0.1:0] [--threads 1]");
                return ExitCode::from(2);
            }
        }
    }
    let Ok(addr) = addr.parse() else {
        eprintln!("nethttp-hello: bad --addr {addr:?}");
        return ExitCode::from(2);
    };
    let rt = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    };
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("nethttp-hello: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let server = Server::new();
        let listener = match server.bind(addr) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("nethttp-hello: bind {addr}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let handle = server.serve(listener, hello);
        eprintln!("nethttp-hello listening on {}", handle.local_addr());
        match handle.wait().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("nethttp-hello: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
