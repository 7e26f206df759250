//! Running a handler on a request without a socket: Go's `httptest.ResponseRecorder`, as a
//! function. The handler sees the request exactly as built (no framing, no connection
//! info); the response comes back as the handler made it, body unread.

use crate::body::Body;
use crate::handler::{Handler, HttpResponse};

/// Runs `handler` on `req` and returns its response. A handler that panics panics here too,
/// so the test fails with its message (the server would answer 500 instead).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use nethttp::{test, text_response, HttpRequest};
/// use nethttp::http::{Request, StatusCode};
///
/// let hello = |req: HttpRequest| async move {
///     text_response(StatusCode::OK, format!("hello {}", req.uri().path()))
/// };
/// let res = test::call(&hello, Request::get("/you").body(nethttp::Body::empty()).unwrap()).await;
/// assert_eq!(res.status(), StatusCode::OK);
/// # }
/// ```
pub async fn call<H: Handler + ?Sized>(handler: &H, req: http::Request<Body>) -> HttpResponse {
    handler.call(req).await
}

/// [`call`], then reads the whole body as text (at most 16 MiB; a body that fails or is
/// not UTF-8 is replaced by a description, so a test shows what went wrong). Returns the
/// status, the headers and the text.
pub async fn call_text<H: Handler + ?Sized>(
    handler: &H,
    req: http::Request<Body>,
) -> (http::StatusCode, http::HeaderMap, String) {
    let (parts, body) = call(handler, req).await.into_parts();
    let text = match body.to_bytes(16 << 20).await {
        Ok(bytes) => String::from_utf8(bytes.to_vec())
            .unwrap_or_else(|e| format!("<{} bytes, not UTF-8>", e.as_bytes().len())),
        Err(e) => format!("<body failed: {e}>"),
    };
    (parts.status, parts.headers, text)
}
