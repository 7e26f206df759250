//! `timeout_handler`: Go's `http.TimeoutHandler`. A handler that has not produced its response
//! head within a duration is dropped and the client gets `503 Service Unavailable`.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};

use crate::body::Body;
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
/// held in memory. A streaming body (a [`ResponseWriter`](crate::response_writer), a channel)
/// is produced after that and is the handler's own business, bounded by the server's write
/// timeout when the client stalls; Go's `TimeoutHandler` differs here, buffering the whole
/// response so its deadline covers the body too. The request body is not read by the wrapper:
/// one left unread after a `503` is drained (or the connection closed) as for any response.
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
    }
}

/// The handler [`timeout_handler`] returns.
#[derive(Debug, Clone)]
pub struct TimeoutHandler<H> {
    inner: H,
    timeout: Duration,
    msg: Bytes,
    content_type: HeaderValue,
}

impl<H: Handler> Handler for TimeoutHandler<H> {
    async fn call(&self, req: HttpRequest) -> HttpResponse {
        match tokio::time::timeout(self.timeout, self.inner.call(req)).await {
            Ok(resp) => resp,
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
