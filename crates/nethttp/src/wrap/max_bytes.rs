//! `max_bytes`: Go's `http.MaxBytesHandler`, a request body limit for one route, below the
//! server's own `max_body_bytes`.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, StatusCode, Version};
use http_body::{Frame, SizeHint};

use crate::body::Body;
use crate::error::{Error, Kind};
use crate::handler::{text_response, Handler, HttpRequest, HttpResponse};

/// Wraps `handler` so requests whose body is larger than `limit` bytes are answered
/// `413 Content Too Large`:
///
/// - a declared length (`Content-Length`, HTTP/2's `content-length`) over the limit is
///   answered at once, without calling `handler` and without reading the body;
/// - a body of unknown length (chunked, HTTP/2 without a length) is counted as `handler`
///   reads it: the read that crosses the limit fails with
///   [`ErrorKind::BodyTooLarge`](crate::ErrorKind::BodyTooLarge), and the response becomes
///   `413` whatever `handler` returns, as the server does for its own `max_body_bytes`. On
///   HTTP/1.1 the connection then closes after the answer (the client is still sending).
///
/// A body with a declared length within the limit is passed on untouched (the codec already
/// holds it to its length), so the wrapper costs a size check on such requests. A handler
/// that streams the request body back in its response is past the point of answering: the
/// crossing then cuts the response short.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use nethttp::http::{Request, StatusCode};
/// use nethttp::wrap::max_bytes;
/// use nethttp::{text_response, Body, Handler, HttpRequest};
///
/// let upload = max_bytes(|req: HttpRequest| async move {
///     let n = req.into_body().to_bytes(usize::MAX).await.map(|b| b.len()).unwrap_or(0);
///     text_response(StatusCode::OK, format!("{n}"))
/// }, 4);
/// let req = Request::post("/").body(Body::from("12345")).unwrap();
/// assert_eq!(upload.call(req).await.status(), StatusCode::PAYLOAD_TOO_LARGE);
/// let req = Request::post("/").body(Body::from("1234")).unwrap();
/// assert_eq!(upload.call(req).await.status(), StatusCode::OK);
/// # }
/// ```
pub fn max_bytes<H: Handler>(handler: H, limit: u64) -> MaxBytes<H> {
    MaxBytes {
        inner: handler,
        limit,
    }
}

/// The handler [`max_bytes`] returns.
#[derive(Debug, Clone)]
pub struct MaxBytes<H> {
    inner: H,
    limit: u64,
}

fn too_large() -> HttpResponse {
    text_response(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n")
}

impl<H: Handler> Handler for MaxBytes<H> {
    fn call(&self, mut req: HttpRequest) -> impl Future<Output = HttpResponse> + Send + '_ {
        use http_body::Body as _;
        let hint = req.body().size_hint();
        let crossed = if hint.lower() > self.limit {
            None
        } else if hint.upper().is_some_and(|n| n <= self.limit) {
            Some(None)
        } else {
            let flag = Arc::new(AtomicBool::new(false));
            let body = std::mem::take(req.body_mut());
            *req.body_mut() = Body::from_incoming(Limited {
                inner: body,
                left: self.limit,
                crossed: flag.clone(),
            });
            Some(Some(flag))
        };
        let http1 = req.version() <= Version::HTTP_11;
        async move {
            let Some(crossed) = crossed else {
                return too_large();
            };
            let resp = self.inner.call(req).await;
            match crossed {
                Some(flag) if flag.load(Ordering::Acquire) => {
                    let mut resp = too_large();
                    if http1 {
                        resp.headers_mut()
                            .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
                    }
                    resp
                }
                _ => resp,
            }
        }
    }
}

/// A request body counted against the route's limit; the read that crosses it fails and
/// marks `crossed`.
struct Limited {
    inner: Body,
    left: u64,
    crossed: Arc<AtomicBool>,
}

impl http_body::Body for Limited {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        if self.crossed.load(Ordering::Relaxed) {
            return Poll::Ready(Some(Err(over_limit())));
        }
        let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            other => return other,
        };
        if let Some(data) = frame.data_ref() {
            let len = data.len() as u64;
            if len > self.left {
                self.crossed.store(true, Ordering::Release);
                return Poll::Ready(Some(Err(over_limit())));
            }
            self.left -= len;
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn over_limit() -> Error {
    Error::new(Kind::BodyTooLarge, "request body exceeds the route's limit")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(parts: &'static [&'static str]) -> Body {
        let (tx, body) = Body::channel(parts.len().max(1));
        tokio::spawn(async move {
            for p in parts {
                if tx.send_data(*p).await.is_err() {
                    return;
                }
            }
        });
        body
    }

    #[tokio::test]
    async fn a_streamed_body_fails_the_read_that_crosses_and_the_answer_is_413() {
        let seen = Arc::new(std::sync::Mutex::new(None));
        let s = seen.clone();
        let h = max_bytes(
            move |req: HttpRequest| {
                let s = s.clone();
                async move {
                    let err = req.into_body().to_bytes(usize::MAX).await.err();
                    *s.lock().unwrap() = err.map(|e| e.kind());
                    text_response(StatusCode::OK, "handler's own answer")
                }
            },
            5,
        );
        let req = http::Request::new(chunked(&["abc", "def"]));
        let resp = h.call(req).await;
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(resp.headers()["connection"], "close");
        assert_eq!(*seen.lock().unwrap(), Some(Kind::BodyTooLarge));

        // Exactly at the limit: the handler's answer stands.
        let req = http::Request::new(chunked(&["abc", "de"]));
        assert_eq!(h.call(req).await.status(), StatusCode::OK);
        assert_eq!(*seen.lock().unwrap(), None);
    }
}
