//! The tower bridge, both directions: a tower `Service` served as a [`Handler`](crate::Handler)
//! ([`ServiceHandler`]: an axum `Router` on nethttp's server), a `Handler` used as a tower
//! `Service` ([`HandlerService`]: tower and tower-http layers around a [`ServeMux`](crate::ServeMux)),
//! and [`Client`](crate::Client) as a `Service` (tower's limit, timeout and retry layers, and
//! tower-http's client layers, around our client).
//!
//! It sits beside the handler layer: it uses only the public `Handler`, `Body` and `Client`, and
//! costs nothing unless used (cargo feature `tower`, on by default; it adds the
//! `tower-service` crate, one trait).
//!
//! ```no_run
//! use nethttp::tower::ServiceHandler;
//! use nethttp::Server;
//!
//! # async fn run<S>(router: S) -> std::io::Result<()>
//! # where S: tower_service::Service<nethttp::HttpRequest, Response = nethttp::HttpResponse,
//! #   Error = std::convert::Infallible> + Clone + Send + 'static, S::Future: Send {
//! // `router` is, say, an `axum::Router` with its state, layers and nested routers.
//! let server = Server::new();
//! let listener = server.bind("127.0.0.1:8080".parse().unwrap())?;
//! let handle = server.serve(listener, ServiceHandler::new(router));
//! # handle.wait().await }
//! ```
//!
//! Bodies cross the bridge without copies: a body that is already a [`Body`] passes as is,
//! any other `http_body::Body` is boxed once, and a response body that is one buffer ready
//! in memory (an axum `String` or `Json` answer) is unboxed back into a plain buffer, so the
//! server writes it with its head as it does for its own handlers.

mod client_service;
mod handler_service;
mod service_handler;

pub use handler_service::HandlerService;
pub use service_handler::ServiceHandler;

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as _, Frame, SizeHint};

use crate::body::Body;
use crate::error::{BoxError, Error};

/// Bodies up to this size whose size is known are looked at once for being one ready buffer.
const INLINE_MAX: u64 = 64 * 1024;

/// Turns any body into ours. A [`Body`] is taken as is; another body is boxed once, and if
/// it says it holds at most [`INLINE_MAX`] bytes it is polled once, within the caller's task:
/// a body that gives all of its bytes at once becomes a plain buffer (which the connection
/// writes next to the head, and the client can resend), anything else streams on with the
/// frame it gave put back in front.
async fn into_body<B>(body: B) -> Body
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let mut body = Body::wrap(body);
    if body.is_buffered() {
        return body; // empty or one buffer already
    }
    match body.size_hint().exact() {
        Some(n) if n <= INLINE_MAX => {}
        _ => return body,
    }
    let first = poll_fn(|cx| Poll::Ready(Pin::new(&mut body).poll_frame(cx))).await;
    match first {
        Poll::Pending => body,
        Poll::Ready(None) => Body::empty(),
        Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
            Ok(data) if body.is_end_stream() => Body::from(data),
            Ok(data) => Replay::body(Ok(Frame::data(data)), body),
            Err(frame) => Replay::body(Ok(frame), body),
        },
        Poll::Ready(Some(Err(e))) => Replay::body(Err(e), body),
    }
}

/// A body whose first frame was already taken out: that frame, then the rest.
struct Replay {
    first: Option<Result<Frame<Bytes>, Error>>,
    rest: Body,
}

impl Replay {
    fn body(first: Result<Frame<Bytes>, Error>, rest: Body) -> Body {
        Body::from_incoming(Replay {
            first: Some(first),
            rest,
        })
    }
}

impl http_body::Body for Replay {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(first));
        }
        Pin::new(&mut self.rest).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let rest = self.rest.size_hint();
        let held = match &self.first {
            Some(Ok(frame)) => frame.data_ref().map_or(0, |d| d.len() as u64),
            _ => 0,
        };
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower() + held);
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper + held);
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    /// A body of fixed frames, each handed out once, that tells its remaining size or not.
    struct Frames {
        frames: Vec<Frame<Bytes>>,
        exact: bool,
    }

    impl http_body::Body for Frames {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            if self.frames.is_empty() {
                return Poll::Ready(None);
            }
            Poll::Ready(Some(Ok(self.frames.remove(0))))
        }

        fn is_end_stream(&self) -> bool {
            self.frames.is_empty()
        }

        fn size_hint(&self) -> SizeHint {
            if !self.exact {
                return SizeHint::default();
            }
            let left = self
                .frames
                .iter()
                .filter_map(|f| f.data_ref())
                .map(|d| d.len());
            SizeHint::with_exact(left.sum::<usize>() as u64)
        }
    }

    fn frames(parts: &[&'static str], exact: bool) -> Frames {
        Frames {
            frames: parts
                .iter()
                .map(|p| Frame::data(Bytes::from_static(p.as_bytes())))
                .collect(),
            exact,
        }
    }

    #[tokio::test]
    async fn a_ready_buffer_becomes_a_plain_body() {
        let mut body = into_body(frames(&["hello"], true)).await;
        assert_eq!(
            body.try_clone().unwrap().to_bytes(10).await.unwrap(),
            "hello"
        );
        assert_eq!(body.size_hint().exact(), Some(5));
        let ours = into_body(Body::from("x")).await;
        assert_eq!(ours.size_hint().exact(), Some(1));
        assert!(ours.try_clone().is_some());
        body = into_body(frames(&[], true)).await;
        assert!(body.is_end_stream());
    }

    #[tokio::test]
    async fn other_bodies_keep_every_frame_and_their_size() {
        let body = into_body(frames(&["ab", "cd"], true)).await;
        assert!(body.try_clone().is_none());
        assert_eq!(body.size_hint().exact(), Some(4));
        assert_eq!(body.to_bytes(10).await.unwrap(), "abcd");
        let body = into_body(frames(&["ab", "cd"], false)).await;
        assert_eq!(body.size_hint().exact(), None);
        assert_eq!(body.to_bytes(10).await.unwrap(), "abcd");
        let mut with_trailers = frames(&["ab"], true);
        let mut t = http::HeaderMap::new();
        t.insert("x-sum", "1".parse().unwrap());
        with_trailers.frames.push(Frame::trailers(t));
        let mut body = into_body(with_trailers).await;
        let f = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        assert_eq!(f.unwrap().unwrap().into_data().unwrap(), "ab");
        let f = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        assert_eq!(f.unwrap().unwrap().into_trailers().unwrap()["x-sum"], "1");
    }
}
