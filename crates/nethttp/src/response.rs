//! Handlers that can fail, and the responses Go users reach for: [`IntoResponse`] turns what a
//! handler returns (a response, a status, a string, a tuple, an [`Error`], a `Result` of
//! these) into an [`HttpResponse`], so a handler may return `Result<HttpResponse, E>` and use
//! `?`; [`error`], [`redirect`], [`not_found`] and [`json`] build the common answers.
//!
//! A closure or `async fn` whose future's output is any `IntoResponse` is a [`Handler`]:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use nethttp::http::StatusCode;
//! use nethttp::request::RequestExt;
//! use nethttp::{redirect, text_response, Error, HttpRequest, HttpResponse};
//!
//! /// `?` answers 400 for a malformed query, 413 for a body over 1 KiB, 415 for a body
//! /// that is not a form.
//! async fn rename(mut req: HttpRequest) -> Result<HttpResponse, Error> {
//!     let to = req.query_value("to").unwrap_or_default().into_owned();
//!     let form = req.form_pairs(1024).await?;
//!     if to.is_empty() {
//!         return Ok(redirect("/help", StatusCode::SEE_OTHER));
//!     }
//!     Ok(text_response(StatusCode::OK, format!("{to}: {} fields\n", form.len())))
//! }
//!
//! let req = nethttp::http::Request::post("/rename?to=x").body("a=1".into()).unwrap();
//! let resp = nethttp::test::call(&rename, req).await;
//! assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE); // no Content-Type
//!
//! // Closures too: the error type of an async block is named once, on `Ok`.
//! let _handler = |_req: HttpRequest| async move {
//!     let n: u32 = "12".parse().map_err(|_| StatusCode::BAD_REQUEST)?;
//!     Ok::<_, StatusCode>(text_response(StatusCode::OK, format!("{n}\n")))
//! };
//! # }
//! ```
//!
//! # The rule for errors
//!
//! An [`Error`] answers with [`Error::status`]: `413` over a limit, `400` malformed input
//! (bad UTF-8, JSON, form, multipart, query), `415` a `Content-Type` the helper does not
//! read, `408` a request body too slow for the server's deadline; `502` when something this
//! handler called failed (the client's connect, TLS, I/O, protocol errors), `504` when it
//! was too slow (the client's timeouts), `503` while the server shuts down, `500` for the
//! rest. A 4xx answer's body is the error's message (a short reason for the client); a 5xx
//! answer's body is only the status's reason phrase, so upstream addresses and internal
//! details stay in the server's log (`tracing`, level `error`), never on the wire. An error
//! from `ResponseExt::error_for_status` (an upstream's 4xx or 5xx) answers with that status
//! and its reason phrase.
//!
//! [`Handler`]: crate::Handler

use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, LOCATION};
use http::{HeaderMap, Response, StatusCode};

use crate::body::Body;
use crate::error::Error;
use crate::handler::{text_response, HttpResponse};

/// What a handler may return: anything that turns into a response.
///
/// | value | response |
/// |---|---|
/// | [`HttpResponse`] | itself (no cost: the conversion is the identity) |
/// | [`StatusCode`] | that status, empty body |
/// | `()` | `200`, empty body |
/// | `&'static str`, `String`, `Cow<'static, str>` | `200`, `text/plain; charset=utf-8` |
/// | `Bytes`, `Vec<u8>` | `200`, `application/octet-stream` |
/// | [`Body`] | `200`, no `Content-Type` |
/// | `(StatusCode, R)` | `R`'s response with that status |
/// | `(StatusCode, headers, R)` | also with `headers` (a [`HeaderMap`] or an array of `(name, value)` pairs) replacing `R`'s fields of the same names; an invalid name or value answers `500` |
/// | [`Error`] | [`Error::status`], see [the rule](self#the-rule-for-errors) |
/// | `Result<T, E>` | `T`'s or `E`'s |
///
/// Implement it for your own error type to give it a status:
///
/// ```
/// use nethttp::http::StatusCode;
/// use nethttp::{error, HttpResponse, IntoResponse};
///
/// enum AppError { NoSuchUser, Db(String) }
///
/// impl IntoResponse for AppError {
///     fn into_response(self) -> HttpResponse {
///         match self {
///             AppError::NoSuchUser => error(StatusCode::NOT_FOUND, "no such user"),
///             AppError::Db(e) => {
///                 eprintln!("database: {e}");
///                 StatusCode::INTERNAL_SERVER_ERROR.into_response()
///             }
///         }
///     }
/// }
/// assert_eq!(AppError::NoSuchUser.into_response().status(), 404);
/// ```
pub trait IntoResponse {
    /// Builds the response.
    fn into_response(self) -> HttpResponse;

    /// Converts a handler future's poll result. Not for implementing: the default is right
    /// for every type but `HttpResponse`, whose override hands the poll result on untouched,
    /// so a handler returning `HttpResponse` costs not one copy more than before.
    #[doc(hidden)]
    #[inline(always)]
    fn poll_into_response(poll: Poll<Self>) -> Poll<HttpResponse>
    where
        Self: Sized,
    {
        match poll {
            Poll::Ready(v) => Poll::Ready(v.into_response()),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl IntoResponse for HttpResponse {
    #[inline(always)]
    fn into_response(self) -> HttpResponse {
        self
    }

    #[inline(always)]
    fn poll_into_response(poll: Poll<Self>) -> Poll<HttpResponse> {
        poll
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> HttpResponse {
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = self;
        resp
    }
}

/// `200` with an empty body. It is also what a handler whose future never returns (it
/// panics, loops or waits forever) turns into, since Rust types such a block's output as `()`.
impl IntoResponse for () {
    fn into_response(self) -> HttpResponse {
        Response::new(Body::empty())
    }
}

impl IntoResponse for Infallible {
    fn into_response(self) -> HttpResponse {
        match self {}
    }
}

impl IntoResponse for &'static str {
    fn into_response(self) -> HttpResponse {
        text_response(StatusCode::OK, self)
    }
}

impl IntoResponse for String {
    fn into_response(self) -> HttpResponse {
        text_response(StatusCode::OK, self)
    }
}

impl IntoResponse for Cow<'static, str> {
    fn into_response(self) -> HttpResponse {
        match self {
            Cow::Borrowed(s) => s.into_response(),
            Cow::Owned(s) => s.into_response(),
        }
    }
}

impl IntoResponse for Bytes {
    fn into_response(self) -> HttpResponse {
        let mut resp = Response::new(Body::from(self));
        resp.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        resp
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self) -> HttpResponse {
        Bytes::from(self).into_response()
    }
}

impl IntoResponse for Body {
    fn into_response(self) -> HttpResponse {
        Response::new(self)
    }
}

impl<R: IntoResponse> IntoResponse for (StatusCode, R) {
    fn into_response(self) -> HttpResponse {
        let mut resp = self.1.into_response();
        *resp.status_mut() = self.0;
        resp
    }
}

impl<R: IntoResponse> IntoResponse for (StatusCode, HeaderMap, R) {
    fn into_response(self) -> HttpResponse {
        let (status, headers, body) = self;
        let mut resp = (status, body).into_response();
        replace_fields(resp.headers_mut(), headers);
        resp
    }
}

impl<R, K, V, const N: usize> IntoResponse for (StatusCode, [(K, V); N], R)
where
    R: IntoResponse,
    K: TryInto<HeaderName>,
    K::Error: fmt::Display,
    V: TryInto<HeaderValue>,
    V::Error: fmt::Display,
{
    fn into_response(self) -> HttpResponse {
        let (status, pairs, body) = self;
        let mut headers = HeaderMap::with_capacity(N);
        for (k, v) in pairs {
            let name = match k.try_into() {
                Ok(name) => name,
                Err(e) => return internal_error(format_args!("invalid header name: {e}")),
            };
            let value = match v.try_into() {
                Ok(value) => value,
                Err(e) => {
                    return internal_error(format_args!("invalid value for {name}: {e}"));
                }
            };
            headers.append(name, value);
        }
        (status, headers, body).into_response()
    }
}

/// Replaces `resp`'s fields named in `given` with `given`'s values (all of them: two
/// `Set-Cookie` entries stay two).
fn replace_fields(resp: &mut HeaderMap, given: HeaderMap) {
    let mut last: Option<HeaderName> = None;
    for (name, value) in given {
        // `HeaderMap`'s iterator names a field once, before its first value.
        if let Some(name) = name {
            resp.remove(&name);
            last = Some(name);
        }
        if let Some(name) = &last {
            resp.append(name.clone(), value);
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> HttpResponse {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, kind = %self.kind(), %status, "handler failed");
            let reason = status.canonical_reason().unwrap_or("error");
            error(status, reason)
        } else if self.is_status() {
            // An upstream's 4xx passed on: its reason phrase, nothing about the upstream.
            tracing::debug!(error = %self, %status, "upstream answered with an error status");
            error(status, status.canonical_reason().unwrap_or("error"))
        } else {
            tracing::debug!(error = %self, kind = %self.kind(), %status, "request refused");
            // The reason alone: a client error's URL (a call this handler made) stays here.
            error(status, self.reason())
        }
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    #[inline(always)]
    fn into_response(self) -> HttpResponse {
        match self {
            Ok(v) => v.into_response(),
            Err(e) => e.into_response(),
        }
    }
}

pin_project_lite::pin_project! {
    /// A handler's future whose output is turned into a response as it completes; for an
    /// `HttpResponse` output, a plain pass-through.
    pub(crate) struct IntoResponseFuture<F> {
        #[pin]
        fut: F,
    }
}

impl<F> IntoResponseFuture<F> {
    #[inline(always)]
    pub(crate) fn new(fut: F) -> Self {
        IntoResponseFuture { fut }
    }
}

impl<F> Future for IntoResponseFuture<F>
where
    F: Future,
    F::Output: IntoResponse,
{
    type Output = HttpResponse;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<HttpResponse> {
        // In tail position, so for an `HttpResponse` output the inner poll writes straight
        // into this poll's return slot.
        <F::Output as IntoResponse>::poll_into_response(self.project().fut.poll(cx))
    }
}

/// A `status` answer whose body is `msg` and a newline, `text/plain; charset=utf-8`, with
/// `X-Content-Type-Options: nosniff` (Go's `http.Error`).
///
/// ```
/// use nethttp::http::StatusCode;
/// let resp = nethttp::error(StatusCode::FORBIDDEN, "members only");
/// assert_eq!(resp.status(), 403);
/// assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
/// ```
pub fn error(status: StatusCode, msg: impl fmt::Display) -> HttpResponse {
    let mut resp = text_response(status, format!("{msg}\n"));
    resp.headers_mut().insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// `404 page not found`, as Go's `http.NotFound` and the [`crate::ServeMux`] answer.
pub fn not_found() -> HttpResponse {
    error(StatusCode::NOT_FOUND, "404 page not found")
}

/// A redirect to `location` with `status` (Go's `http.Redirect`): `Location` set, non-ASCII
/// bytes percent-encoded, and a short HTML body linking to it for clients that do not
/// follow redirects.
///
/// `status` must be a redirect: 3xx other than `304 Not Modified` (301, 302, 303, 307 and
/// 308 are the ones clients follow). A `status` that is not, or a `location` with control
/// characters, is a mistake in the handler: it answers `500` and logs why, rather than send
/// a redirect without a target.
///
/// ```
/// use nethttp::http::StatusCode;
/// let resp = nethttp::redirect("/login?next=/café", StatusCode::FOUND);
/// assert_eq!(resp.status(), 302);
/// assert_eq!(resp.headers()["location"], "/login?next=/caf%C3%A9");
/// assert_eq!(nethttp::redirect("/", StatusCode::OK).status(), 500);
/// ```
pub fn redirect(location: &str, status: StatusCode) -> HttpResponse {
    if !status.is_redirection() || status == StatusCode::NOT_MODIFIED {
        return internal_error(format_args!("redirect with status {status}, not a 3xx"));
    }
    let location = escape_non_ascii(location);
    let Ok(value) = HeaderValue::from_str(&location) else {
        return internal_error(format_args!(
            "redirect location with control characters: {location:?}"
        ));
    };
    let body = format!(
        "<a href=\"{}\">{}</a>.\n",
        crate::html::escape(&location),
        status.canonical_reason().unwrap_or("Redirect"),
    );
    let mut resp = text_response(status, body);
    let headers = resp.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(LOCATION, value);
    resp
}

/// Percent-encodes the bytes of `s` outside ASCII (Go's `hexEscapeNonASCII`).
fn escape_non_ascii(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for b in s.bytes() {
        if b.is_ascii() {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Cow::Owned(out)
}

/// `value` as JSON with `status` and `Content-Type: application/json`. A value that does
/// not serialize (a map with non-string keys, a failing `Serialize` impl) is a mistake in
/// the handler: it answers `500` and logs why.
///
/// ```
/// use nethttp::http::StatusCode;
/// let resp = nethttp::json(StatusCode::CREATED, &serde_json::json!({"id": 7}));
/// assert_eq!(resp.status(), 201);
/// assert_eq!(resp.headers()["content-type"], "application/json");
/// ```
#[cfg(feature = "json")]
pub fn json<T: serde::Serialize + ?Sized>(status: StatusCode, value: &T) -> HttpResponse {
    match serde_json::to_vec(value) {
        Ok(bytes) => {
            let mut resp = Response::new(Body::from(bytes));
            *resp.status_mut() = status;
            resp.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            resp
        }
        Err(e) => internal_error(format_args!("response does not serialize to JSON: {e}")),
    }
}

/// A `500` for a mistake in the handler, logged with `why`.
fn internal_error(why: fmt::Arguments<'_>) -> HttpResponse {
    tracing::error!("handler built an invalid response: {why}");
    error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuples_set_status_and_replace_fields() {
        let resp = (StatusCode::CREATED, "made").into_response();
        assert_eq!(resp.status(), StatusCode::CREATED);
        assert_eq!(resp.headers()[CONTENT_TYPE], "text/plain; charset=utf-8");

        let resp = (
            StatusCode::OK,
            [
                ("content-type", "text/html"),
                ("set-cookie", "a=1"),
                ("set-cookie", "b=2"),
            ],
            "<p>hi</p>",
        )
            .into_response();
        assert_eq!(resp.headers()[CONTENT_TYPE], "text/html");
        let cookies: Vec<_> = resp.headers().get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);

        let resp = (StatusCode::OK, [("bad name", "x")], "").into_response();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let resp = (StatusCode::OK, [("x-ok", "line\nbreak")], "").into_response();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn errors_answer_their_status_and_hide_5xx_details() {
        use crate::error::Kind;
        let e = Error::with_cause(Kind::Decode, "body is not valid JSON", "line 1");
        let resp = e.into_response();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let e = Error::with_cause(Kind::Connect, "connect failed", "10.1.2.3:5432 refused");
        let resp = e.into_response();
        assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
        let body = resp.into_body().try_clone().unwrap();
        let mut body = body;
        assert_eq!(body.take_full().unwrap(), "Bad Gateway\n");
        let r: Result<HttpResponse, Error> = Err(Error::new(Kind::BodyTooLarge, "too big"));
        assert_eq!(r.into_response().status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn redirect_refuses_what_is_not_a_redirect() {
        assert_eq!(
            redirect("/x", StatusCode::NOT_MODIFIED).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            redirect("/x\r\nSet-Cookie: a=b", StatusCode::FOUND).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        let mut resp = redirect("/a?b=\"<c>\"", StatusCode::SEE_OTHER);
        assert_eq!(resp.headers()[LOCATION], "/a?b=\"<c>\"");
        assert_eq!(
            resp.body_mut().take_full().unwrap(),
            "<a href=\"/a?b=&#34;&lt;c&gt;&#34;\">See Other</a>.\n"
        );
    }
}
