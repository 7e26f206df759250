//! nethttp "Hello, World!" server, the same shape as `hyper-hello`: one handler for every
//! request (no router), `200 OK`, `Content-Type: text/plain`, body `Hello, World!`, default
//! `Server` settings. It isolates the server machinery for the side-by-side comparison;
//! `nethttp serve` (which routes through `ServeMux`) is measured separately.
//!
//! Usage: nethttp-hello [--addr 127.0.0.1:0] [--threads 1] [--any-io]
//! Prints `nethttp-hello listening on IP:PORT` to stderr once the socket is bound.
//!
//! `--any-io` hands each accepted socket to the server as IO of a kind it does not know, so
//! it is served the way `Server::serve_connection` serves an in-memory pipe or a transport
//! of the caller's (boxed, split by `tokio::io::split`, no TCP capabilities): the cost of
//! that path against the TCP one.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::ExitCode;
use std::task::{Context, Poll};

use nethttp::http::{header::CONTENT_TYPE, HeaderValue, Response};
use nethttp::net::{Accept, Listener};
use nethttp::{Body, HttpRequest, Server};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

async fn hello(_req: HttpRequest) -> Response<Body> {
    let mut resp = Response::new(Body::from("Hello, World!"));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    resp
}

/// A TCP socket the server cannot tell is one.
struct Opaque(TcpStream);

impl AsyncRead for Opaque {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Opaque {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// Accepts TCP connections and passes them on as [`Opaque`] IO (with TCP_NODELAY, as the
/// server would have set).
struct OpaqueListener(Listener);

impl Accept for OpaqueListener {
    type Io = Opaque;

    async fn accept(&mut self) -> io::Result<(Opaque, Option<SocketAddr>)> {
        let (stream, remote) = self.0.accept().await?;
        stream.set_nodelay(true)?;
        Ok((Opaque(stream), Some(remote)))
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        self.0.local_addr().ok()
    }
}

fn main() -> ExitCode {
    let mut addr = "127.0.0.1:0".to_string();
    let mut threads = 1usize;
    let mut any_io = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--any-io" {
            any_io = true;
            continue;
        }
        match (a.as_str(), args.next()) {
            ("--addr", Some(v)) => addr = v,
            ("--threads", Some(v)) => threads = v.parse().unwrap_or(1).max(1),
            _ => {
                eprintln!("usage: nethttp-hello [--addr 127.0.0.1:0] [--threads 1] [--any-io]");
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
        let handle = if any_io {
            server.serve(OpaqueListener(listener), hello)
        } else {
            server.serve(listener, hello)
        };
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
