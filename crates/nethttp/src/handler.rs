//! The `Handler` trait: what the server calls for each request, on both HTTP/1.1 and (later)
//! HTTP/2. Closures are handlers; middleware is a handler that wraps a handler.
//!
//! A handler's future may borrow the handler (`&self`): the server keeps the handler alive for
//! as long as any connection runs, so middleware can simply `self.inner.call(req).await`.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response, StatusCode};

use crate::blocks::DynBox;
use crate::body::Body;
use crate::response::{IntoResponse, IntoResponseFuture};

/// A request as handlers see it.
pub type HttpRequest = Request<Body>;
/// A response as handlers build it.
pub type HttpResponse = Response<Body>;

/// A boxed, sendable future, for handlers whose future type cannot be named.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Answers requests. Implemented for `Fn(Request<Body>) -> impl Future<Output = R>` closures
/// and `async fn`s where `R` is an [`IntoResponse`] (a `Response<Body>`, or a `Result` whose
/// error turns into one: see [`crate::response`]), for [`crate::ServeMux`], and for
/// `Box<dyn DynHandler>`.
///
/// A handler that panics does not take the server down: the connection answers
/// `500 Internal Server Error` (if nothing was sent yet) and closes.
///
/// Middleware is a handler that wraps a handler; its future may borrow `self`:
///
/// ```
/// use std::future::Future;
/// use std::time::Instant;
/// use nethttp::{Handler, HttpRequest, HttpResponse};
///
/// /// Logs each request's method, path, status and duration.
/// struct Logged<H>(H);
///
/// impl<H: Handler> Handler for Logged<H> {
///     fn call(&self, req: HttpRequest) -> impl Future<Output = HttpResponse> + Send + '_ {
///         async move {
///             let (method, path) = (req.method().clone(), req.uri().path().to_owned());
///             let start = Instant::now();
///             let resp = self.0.call(req).await;
///             println!("{method} {path} {} {:?}", resp.status(), start.elapsed());
///             resp
///         }
///     }
/// }
///
/// let app = Logged(|_req: HttpRequest| async { HttpResponse::new("hi\n".into()) });
/// # let _ = app;
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Handles one request.
    fn call(&self, req: HttpRequest) -> impl Future<Output = HttpResponse> + Send + '_;
}

/// A closure or `async fn` is a handler when its future's output is any [`IntoResponse`]:
/// an `HttpResponse` (passed through as it is, at no cost), or a `Result<HttpResponse, E>`
/// whose error answers for itself, so `?` works inside.
impl<F, Fut> Handler for F
where
    F: Fn(HttpRequest) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoResponse,
{
    #[inline]
    fn call(&self, req: HttpRequest) -> impl Future<Output = HttpResponse> + Send + '_ {
        IntoResponseFuture::new(self(req))
    }
}

/// The object-safe form of [`Handler`], for storing different handlers side by side
/// (a router's table). Every `Handler` is a `DynHandler`.
pub trait DynHandler: Send + Sync + 'static {
    /// Handles one request through a boxed future.
    fn call_boxed(&self, req: HttpRequest) -> HandlerFuture<'_>;
}

impl<H: Handler> DynHandler for H {
    fn call_boxed(&self, req: HttpRequest) -> HandlerFuture<'_> {
        HandlerFuture(DynBox::new(|| self.call(req)))
    }
}

impl Handler for Box<dyn DynHandler> {
    fn call(&self, req: HttpRequest) -> impl Future<Output = HttpResponse> + Send + '_ {
        (**self).call_boxed(req)
    }
}

/// A handler's future on the heap, as [`DynHandler::call_boxed`] returns it: what a
/// [`BoxFuture`]`<'a, HttpResponse>` is, except that a large future (over 1 KiB; a reverse
/// proxy's is 4.7 KB) takes its memory from a per-thread list of blocks that earlier ones
/// gave back, not from the allocator, whose slow path a block that size would otherwise take
/// twice per request. The list is bounded (64 blocks of at most 64 KiB per thread).
pub struct HandlerFuture<'a>(DynBox<'a, HttpResponse>);

impl<'a> HandlerFuture<'a> {
    /// Puts `future` on the heap.
    pub fn new(future: impl Future<Output = HttpResponse> + Send + 'a) -> Self {
        HandlerFuture(DynBox::new(|| future))
    }
}

impl<'a> From<BoxFuture<'a, HttpResponse>> for HandlerFuture<'a> {
    fn from(future: BoxFuture<'a, HttpResponse>) -> Self {
        HandlerFuture::new(future)
    }
}

impl Future for HandlerFuture<'_> {
    type Output = HttpResponse;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<HttpResponse> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl std::fmt::Debug for HandlerFuture<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HandlerFuture(..)")
    }
}

/// A response with `status` and a short `text/plain` body.
pub fn text_response(status: StatusCode, msg: impl Into<Body>) -> HttpResponse {
    let mut resp = Response::new(msg.into());
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// Whether a request is `OPTIONS *` (asterisk form, RFC 9112 §3.2.4).
pub(crate) fn is_options_asterisk(method: &http::Method, uri: &http::Uri) -> bool {
    method == http::Method::OPTIONS && uri.path_and_query().is_some_and(|p| p.as_str() == "*")
}

/// The server's own answer to `OPTIONS *`: 200 with an empty body (as Go's server gives).
pub(crate) fn options_asterisk_response() -> HttpResponse {
    Response::new(Body::empty())
}

/// The body of the `500` the server answers on a handler's behalf: a handler that panicked
/// or returned a `1xx`, a tower service that failed (both engines; the access log counts it).
pub(crate) const INTERNAL_ERROR_ANSWER: &str = "internal server error\n";

/// Turns a panic inside the handler's future into an `Err`, so one bad request cannot take
/// down the connection's task without an answer.
pub(crate) struct CatchUnwind<F>(AssertUnwindSafe<F>);

impl<F> CatchUnwind<F> {
    pub(crate) fn new(fut: F) -> Self {
        CatchUnwind(AssertUnwindSafe(fut))
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, ()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: structural pinning of the only field; it is never moved out.
        let inner = unsafe { self.map_unchecked_mut(|s| &mut s.0 .0) };
        poll_catching(inner, cx).map(|r| r.map_err(drop))
    }
}

/// [`poll_catching`] that puts the output in `out` from inside the poll, instead of passing
/// it up through two enums and then into `out` (a response is large, and each pass is a
/// copy). `Ready(Ok(()))`: `out` holds the output.
#[inline]
pub(crate) fn poll_catching_into<F: Future + ?Sized>(
    fut: Pin<&mut F>,
    cx: &mut Context<'_>,
    out: &mut Option<F::Output>,
) -> Poll<Result<(), ()>> {
    let polled = std::panic::catch_unwind(AssertUnwindSafe(|| match fut.poll(cx) {
        Poll::Ready(v) => {
            *out = Some(v);
            true
        }
        Poll::Pending => false,
    }));
    match polled {
        Ok(true) => Poll::Ready(Ok(())),
        Ok(false) => Poll::Pending,
        Err(_) => Poll::Ready(Err(())),
    }
}

/// Polls `fut`, turning a panic into `Err` with its payload (to log, or to resume): what
/// [`CatchUnwind`] does, for a future pinned where it was made.
#[inline]
pub(crate) fn poll_catching<F: Future + ?Sized>(
    fut: Pin<&mut F>,
    cx: &mut Context<'_>,
) -> Poll<std::thread::Result<F::Output>> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
        Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
        Ok(Poll::Pending) => Poll::Pending,
        Err(payload) => Poll::Ready(Err(payload)),
    }
}
