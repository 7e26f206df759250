//! hyper 1.x auto server (HTTP/1.1 and h2c on one port, as `hyper-auto`) that also answers
//! `GET /stream/{n}` like `nethttp serve`: `chunk 0\n` … `chunk {n-1}\n`, one chunk made
//! each time the body is polled. The peer of `bench/h2_unread.sh`, which measures what a
//! client that never reads costs each server. Any other path gets `Hello, World!`.
//!
//! Usage: hyper-stream [--addr 127.0.0.1:0] [--threads 1]
//! Prints `hyper-stream listening on IP:PORT` to stderr once the socket is bound.

use std::convert::Infallible;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

#[path = "hyper_peer.rs"]
mod hyper_peer;

/// SETTINGS_MAX_CONCURRENT_STREAMS, as nethttp's server.
const MAX_CONCURRENT_STREAMS: u32 = 250;
/// Most chunks, as `nethttp serve`.
const MAX_CHUNKS: u64 = 1_000_000;

/// The chunks of `/stream/{n}`, made on demand.
struct Counter {
    next: u64,
    end: u64,
}

impl hyper::body::Body for Counter {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.next >= self.end {
            return Poll::Ready(None);
        }
        let chunk = format!("chunk {}\n", self.next);
        self.next += 1;
        Poll::Ready(Some(Ok(Frame::data(chunk.into()))))
    }

    fn is_end_stream(&self) -> bool {
        self.next >= self.end
    }
}

type Answer = Response<Either<Full<Bytes>, Counter>>;

async fn serve(req: Request<Incoming>) -> Result<Answer, Infallible> {
    let n = req
        .uri()
        .path()
        .strip_prefix("/stream/")
        .and_then(|n| n.parse::<u64>().ok());
    Ok(match n {
        Some(n) => Response::new(Either::Right(Counter {
            next: 0,
            end: n.min(MAX_CHUNKS),
        })),
        None => hyper_peer::hello(req).await?.map(Either::Left),
    })
}

fn main() -> ExitCode {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1().keep_alive(true);
    b.http2().max_concurrent_streams(MAX_CONCURRENT_STREAMS);
    let builder = Arc::new(b);
    hyper_peer::run("hyper-stream", move |stream| {
        let builder = Arc::clone(&builder);
        async move {
            let _ = builder
                .serve_connection(TokioIo::new(stream), service_fn(serve))
                .await;
        }
    })
}
