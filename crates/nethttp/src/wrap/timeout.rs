//! `timeout_handler`: Go's `http.TimeoutHandler`. A handler that has not produced its response
//! head within a duration is dropped and the client gets `503 Service Unavailable`; on request,
//! a body still going at the deadline is cut.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body::{Frame, SizeHint};
use tokio::time::Sleep;

use crate::body::Body;
use crate::error::{Error, Kind};
use crate::handler::{Handler, HttpRequest, HttpResponse};

/// Go's body for an empty message.
const DEFAULT_MSG: &str =
    "<html><head><title>Timeout</title></head><body><h1>Timeout</h1></body></html>";

/// Wraps `handler` so a request it has not answered within `timeout` is answered
/// `503 Service Unavailable` with `msg` as a `text/plain` body (an empty `msg` gives Go's
/// small HTML page instead), and the handler's future is dropped at that moment: whatever it
/// was awaiting is cancelled, its locals dropped.
///
/// What is covered is the time until the handler returns its response: the head and a body
/// held in memory. A streaming body (a [`ResponseWriter`](crate::response_writer), a channel,
/// a file) is produced after that and is by default the handler's own business, bounded by
/// the server's write timeout when the client stalls. With
/// [`covering_body(true)`](TimeoutHandler::covering_body) the same deadline, counted from the
/// request, also ends such a body: one still going then fails, and the client sees the
/// response cut short (HTTP/1.1: the connection closes without the body's end; HTTP/2:
/// `RST_STREAM`), as a deadline over a response already begun can only do. Go's
/// `TimeoutHandler` buffers the whole response instead, so its deadline covers the body but
/// nothing streams. The request body is not read by the wrapper: one left unread after a
/// `503` is drained (or the connection closed) as for any response.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use nethttp::http::{Request, StatusCode};
/// use nethttp::wrap::timeout_handler;
/// use nethttp::{text_response, Body, Handler, HttpRequest};
///
/// let slow = timeout_handler(|_req: HttpRequest| async {
///     tokio::time::sleep(Duration::from_secs(60)).await;
///     text_response(StatusCode::OK, "done")
/// }, Duration::from_millis(10), "took too long\n");
/// let res = slow.call(Request::new(Body::empty())).await;
/// assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
/// assert_eq!(res.into_body().to_bytes(64).await.unwrap(), "took too long\n");
/// # }
/// ```
pub fn timeout_handler<H: Handler>(
    handler: H,
    timeout: Duration,
    msg: impl Into<Bytes>,
) -> TimeoutHandler<H> {
    let msg = msg.into();
    let (msg, content_type) = if msg.is_empty() {
        (
            Bytes::from_static(DEFAULT_MSG.as_bytes()),
            "text/html; charset=utf-8",
        )
    } else {
        (msg, "text/plain; charset=utf-8")
    };
    TimeoutHandler {
        inner: handler,
        timeout,
        msg,
        content_type: HeaderValue::from_static(content_type),
        covering_body: false,
    }
}

/// The handler [`timeout_handler`] returns.
#[derive(Debug, Clone)]
pub struct TimeoutHandler<H> {
    inner: H,
    timeout: Duration,
    msg: Bytes,
    content_type: HeaderValue,
    covering_body: bool,
}

impl<H> TimeoutHandler<H> {
    /// Whether the deadline also ends a response body still being produced (a stream, a
    /// file): it then fails and the response is cut short. Default: off, the deadline ends
    /// when the handler returns its response.
    pub fn covering_body(mut self, on: bool) -> Self {
        self.covering_body = on;
        self
    }
}

impl<H: Handler> Handler for TimeoutHandler<H> {
    async fn call(&self, req: HttpRequest) -> HttpResponse {
        let deadline = tokio::time::Instant::now() + self.timeout;
        match tokio::time::timeout_at(deadline, self.inner.call(req)).await {
            Ok(mut resp) => {
                let body = resp.body_mut();
                if self.covering_body && !body.is_buffered() {
                    let inner = std::mem::take(body);
                    *body = Body::from_incoming(Deadline {
                        inner,
                        at: Box::pin(tokio::time::sleep_until(deadline)),
                    });
                }
                resp
            }
            Err(_) => {
                let mut resp = Response::new(Body::from(self.msg.clone()));
                *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                resp.headers_mut()
                    .insert(http::header::CONTENT_TYPE, self.content_type.clone());
                resp
            }
        }
    }
}

/// A response body that fails once its deadline passes.
struct Deadline {
    inner: Body,
    at: Pin<Box<Sleep>>,
}

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        // The timer first: it wakes a body that waits on its producer past the deadline.
        if self.at.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Error::new(
                Kind::Timeout,
                "the response body ran past the handler's deadline",
            ))));
        }
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
