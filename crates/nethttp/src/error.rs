//! The one error type of the library: a kind that says which phase failed (so callers can ask
//! `is_timeout()`, `is_body_too_large()`, ...) plus the underlying cause, if any.

use std::error::Error as StdError;
use std::fmt;
use std::io;

/// A boxed error of any type, the cause carried inside [`Error`].
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Shorthand for `Result<T, nethttp::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, coarse enough to act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// Binding, listening or accepting failed.
    Listen,
    /// A socket read or write failed.
    Io,
    /// A deadline passed (read-header, request read, write, idle, body data rate).
    Timeout,
    /// The peer sent bytes that are not valid HTTP.
    Parse,
    /// A request or response body exceeded the configured limit.
    BodyTooLarge,
    /// The peer closed the connection before the message was complete.
    IncompleteMessage,
    /// A body produced by user code failed.
    Body,
    /// The server or connection is shutting down.
    Shutdown,
    /// The caller used the API in a way it does not allow (bad pattern, bad config, a URL
    /// the client cannot request).
    Usage,
    /// Dialing failed: name resolution, a refused or unreachable connection.
    Connect,
    /// Dialing did not finish within the connect timeout.
    ConnectTimeout,
    /// No connection to the host became available in time (`max_conns_per_host` reached).
    PoolTimeout,
    /// The request was written but the response head did not arrive in time.
    ResponseHeaderTimeout,
    /// The response body stalled: no bytes within the read timeout.
    BodyReadTimeout,
    /// The whole request, redirects and body included, exceeded its total timeout.
    TotalTimeout,
    /// A redirect could not be followed (too many, or an unusable `Location`).
    Redirect,
    /// A TLS handshake failed (protocol error, no common version or cipher, bad config).
    Tls,
    /// The peer's certificate was rejected; the message and cause say why (unknown issuer,
    /// expired, wrong name, ...).
    Certificate,
    /// A TLS handshake did not finish in time.
    TlsHandshakeTimeout,
    /// An HTTP/2 protocol error: the peer broke RFC 9113, or reset the stream.
    Http2,
    /// A response body the client decompresses (gzip, br, zstd or deflate, which it asked
    /// for) is corrupt or truncated, or stacks more codings than it decodes.
    Decompress,
    /// A response body the client decodes grew past the transport's
    /// `max_decompressed_bytes`.
    DecompressedTooLarge,
    /// A protocol upgrade (`101 Switching Protocols`, a `CONNECT` tunnel) did not happen:
    /// the message was not an upgrade, the other side refused it, or the connection ended
    /// before it was handed over.
    Upgrade,
    /// The proxy a request goes through did not open the way to the target: it refused (a
    /// CONNECT answer that is not 2xx, a SOCKS5 reply code, credentials it did not accept),
    /// closed the connection during its handshake, or answered in a way that is not its
    /// protocol. Nothing was sent to the target. [`Error::is_connect`] is true for it.
    Proxy,
    /// Content a helper decodes is malformed: a body that is not UTF-8 text, not JSON, not
    /// a form or not multipart, or a query string or form that does not fit the type asked
    /// for. A handler that returns it answers `400 Bad Request`.
    Decode,
    /// A response's status is a client (4xx) or server (5xx) error, reported by
    /// [`crate::client::ResponseExt::error_for_status`]; [`Error::status`] is that status.
    Status,
    /// A request's `Content-Type` is not the one the helper reads (JSON, a form,
    /// multipart). A handler that returns it answers `415 Unsupported Media Type`.
    UnsupportedMediaType,
}

impl Kind {
    /// A short stable name (`"connect_timeout"`, ...), for logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Listen => "listen",
            Kind::Io => "io",
            Kind::Timeout => "timeout",
            Kind::Parse => "parse",
            Kind::BodyTooLarge => "body_too_large",
            Kind::IncompleteMessage => "incomplete_message",
            Kind::Body => "body",
            Kind::Shutdown => "shutdown",
            Kind::Usage => "usage",
            Kind::Connect => "connect",
            Kind::ConnectTimeout => "connect_timeout",
            Kind::PoolTimeout => "pool_timeout",
            Kind::ResponseHeaderTimeout => "response_header_timeout",
            Kind::BodyReadTimeout => "body_read_timeout",
            Kind::TotalTimeout => "total_timeout",
            Kind::Redirect => "redirect",
            Kind::Tls => "tls",
            Kind::Certificate => "certificate",
            Kind::TlsHandshakeTimeout => "tls_handshake_timeout",
            Kind::Http2 => "http2",
            Kind::Decompress => "decompress",
            Kind::DecompressedTooLarge => "decompressed_too_large",
            Kind::Upgrade => "upgrade",
            Kind::Proxy => "proxy",
            Kind::Decode => "decode",
            Kind::UnsupportedMediaType => "unsupported_media_type",
            Kind::Status => "status",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error type of nethttp.
///
/// An error the [`crate::Client`] returns names the request that failed: [`Error::method`]
/// and [`Error::url`] (without any `user:password@`), shown first by `Display` as Go does
/// (`GET http://host/path: connect failed: ...`).
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: Kind,
    msg: &'static str,
    cause: Option<BoxError>,
    /// The failure happened at the proxy the request goes through (reaching it, its TLS, its
    /// handshake), not at the target.
    at_proxy: bool,
    /// The response status of a [`Kind::Status`] error.
    status: Option<http::StatusCode>,
    /// The client request that failed; boxed, as most errors have none.
    request: Option<Box<RequestOf>>,
}

/// The method and URL of a client request, the URL without userinfo.
struct RequestOf {
    method: Option<http::Method>,
    url: http::Uri,
}

impl Error {
    pub(crate) fn new(kind: Kind, msg: &'static str) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                msg,
                cause: None,
                at_proxy: false,
                status: None,
                request: None,
            }),
        }
    }

    pub(crate) fn with_cause(kind: Kind, msg: &'static str, cause: impl Into<BoxError>) -> Self {
        let mut e = Error::new(kind, msg);
        e.inner.cause = Some(cause.into());
        e
    }

    /// A [`Kind::Status`] error for a 4xx or 5xx response.
    pub(crate) fn status_error(status: http::StatusCode) -> Self {
        let msg = if status.is_client_error() {
            "HTTP status client error"
        } else {
            "HTTP status server error"
        };
        let mut e = Error::new(Kind::Status, msg);
        e.inner.status = Some(status);
        e
    }

    /// Names the client request that failed; `user:password@` is dropped from the URL.
    pub(crate) fn with_request(mut self, method: &http::Method, url: &http::Uri) -> Self {
        self.inner.request = Some(Box::new(RequestOf {
            method: Some(method.clone()),
            url: without_userinfo(url),
        }));
        self
    }

    /// Names the URL of the response an error is about, when the method is not known.
    pub(crate) fn with_url(mut self, url: &http::Uri) -> Self {
        self.inner.request = Some(Box::new(RequestOf {
            method: None,
            url: without_userinfo(url),
        }));
        self
    }

    pub(crate) fn io(msg: &'static str, err: io::Error) -> Self {
        let kind = if err.kind() == io::ErrorKind::TimedOut {
            Kind::Timeout
        } else {
            Kind::Io
        };
        Error::with_cause(kind, msg, err)
    }

    pub(crate) fn timeout(msg: &'static str) -> Self {
        Error::new(Kind::Timeout, msg)
    }

    /// The same error, marked as having happened at the proxy (see [`Error::is_proxy`]).
    pub(crate) fn at_proxy(mut self) -> Self {
        self.inner.at_proxy = true;
        self
    }

    /// Wraps an error produced by user code (a body stream, a handler).
    pub fn user(cause: impl Into<BoxError>) -> Self {
        Error::with_cause(Kind::Body, "user body failed", cause)
    }

    /// The kind of failure.
    pub fn kind(&self) -> Kind {
        self.inner.kind
    }

    /// A deadline passed.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self.inner.kind,
            Kind::Timeout
                | Kind::ConnectTimeout
                | Kind::PoolTimeout
                | Kind::ResponseHeaderTimeout
                | Kind::BodyReadTimeout
                | Kind::TotalTimeout
                | Kind::TlsHandshakeTimeout
        )
    }

    /// Dialing the server failed or timed out, or the proxy in between did not open the way
    /// to it; nothing was sent.
    pub fn is_connect(&self) -> bool {
        matches!(
            self.inner.kind,
            Kind::Connect | Kind::ConnectTimeout | Kind::Proxy
        )
    }

    /// The failure was the proxy's, not the target's: the proxy could not be reached, its TLS
    /// handshake failed (an `https://` proxy; [`Error::certificate_problem`] then says what
    /// was wrong with the proxy's certificate), it did not finish its handshake in time, or
    /// it refused ([`ErrorKind::Proxy`](Kind::Proxy)). Nothing was sent to the target.
    pub fn is_proxy(&self) -> bool {
        self.inner.at_proxy || self.inner.kind == Kind::Proxy
    }

    /// A TLS failure of any sort: handshake, certificate, or handshake timeout.
    pub fn is_tls(&self) -> bool {
        matches!(
            self.inner.kind,
            Kind::Tls | Kind::Certificate | Kind::TlsHandshakeTimeout
        )
    }

    /// The peer's certificate was rejected.
    pub fn is_certificate(&self) -> bool {
        self.inner.kind == Kind::Certificate
    }

    /// A redirect could not be followed.
    pub fn is_redirect(&self) -> bool {
        self.inner.kind == Kind::Redirect
    }

    /// A body exceeded its configured limit (including a decoded response body past
    /// `max_decompressed_bytes`).
    pub fn is_body_too_large(&self) -> bool {
        matches!(
            self.inner.kind,
            Kind::BodyTooLarge | Kind::DecompressedTooLarge
        )
    }

    /// A response body the client decoded grew past the transport's
    /// `max_decompressed_bytes`: a decompression bomb, or a body larger than the caller
    /// allows.
    pub fn is_decompressed_too_large(&self) -> bool {
        self.inner.kind == Kind::DecompressedTooLarge
    }

    /// Content a helper decodes (text, JSON, a form, multipart, a query) is malformed.
    pub fn is_decode(&self) -> bool {
        self.inner.kind == Kind::Decode
    }

    /// A request's `Content-Type` is not the one the helper reads.
    pub fn is_unsupported_media_type(&self) -> bool {
        self.inner.kind == Kind::UnsupportedMediaType
    }

    /// A response's status was a client or server error
    /// ([`crate::client::ResponseExt::error_for_status`]); [`Error::status`] is that status.
    pub fn is_status(&self) -> bool {
        self.inner.kind == Kind::Status
    }

    /// The method of the client request that failed, when the error names one: every error
    /// [`crate::Client`] returns does.
    pub fn method(&self) -> Option<&http::Method> {
        self.inner.request.as_ref()?.method.as_ref()
    }

    /// The URL of the client request that failed (after redirects: the one that failed),
    /// without `user:password@`; every error [`crate::Client`] returns has one, and a
    /// [`Kind::Status`] error has the response's URL when redirects led to it.
    pub fn url(&self) -> Option<&http::Uri> {
        self.inner.request.as_ref().map(|r| &r.url)
    }

    /// The status a handler answers with when it returns this error (see
    /// [`crate::IntoResponse`] for the rule): 4xx when the request is at fault (413 over a
    /// limit, 400 malformed, 415 wrong `Content-Type`, 408 too slow), 502 or 504 when a
    /// server this one called failed or was too slow, 503 while shutting down, else 500.
    /// For a [`Kind::Status`] error, the response's status itself: a handler that calls
    /// `error_for_status()?` on an upstream answer passes its 404 or 503 on (with only the
    /// reason phrase as the body).
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode as S;
        match self.inner.kind {
            Kind::Status => self.inner.status.unwrap_or(S::BAD_GATEWAY),
            Kind::BodyTooLarge => S::PAYLOAD_TOO_LARGE,
            Kind::Decode | Kind::Parse => S::BAD_REQUEST,
            Kind::UnsupportedMediaType => S::UNSUPPORTED_MEDIA_TYPE,
            // A server deadline for reading the request (body, data rate).
            Kind::Timeout => S::REQUEST_TIMEOUT,
            // What the client reports: a call this handler made failed. If instead the
            // request's own connection broke (Io, Http2, IncompleteMessage), nobody hears
            // the answer, so the status that matters is the upstream one.
            Kind::Connect
            | Kind::Tls
            | Kind::Certificate
            | Kind::Redirect
            | Kind::Decompress
            | Kind::DecompressedTooLarge
            | Kind::Upgrade
            | Kind::Proxy
            | Kind::Io
            | Kind::Http2
            | Kind::IncompleteMessage => S::BAD_GATEWAY,
            Kind::ConnectTimeout
            | Kind::TlsHandshakeTimeout
            | Kind::PoolTimeout
            | Kind::ResponseHeaderTimeout
            | Kind::BodyReadTimeout
            | Kind::TotalTimeout => S::GATEWAY_TIMEOUT,
            Kind::Shutdown => S::SERVICE_UNAVAILABLE,
            Kind::Listen | Kind::Usage | Kind::Body => S::INTERNAL_SERVER_ERROR,
        }
    }

    /// The peer sent malformed HTTP.
    pub fn is_parse(&self) -> bool {
        self.inner.kind == Kind::Parse
    }

    /// The peer closed the connection mid-message.
    pub fn is_incomplete_message(&self) -> bool {
        self.inner.kind == Kind::IncompleteMessage
    }

    /// A socket operation failed.
    pub fn is_io(&self) -> bool {
        self.inner.kind == Kind::Io
    }

    /// The underlying cause, if any.
    pub fn cause(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        self.inner.cause.as_deref()
    }
}

/// Why the server's certificate was refused (the kinds a caller acts on differently); see
/// [`Error::certificate_problem`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertificateProblem {
    /// It does not chain to a trusted root (unknown issuer, a CA certificate that is not one
    /// of the trusted roots presented as the server's own, a bad signature): trust its CA, or
    /// the certificate itself.
    NotTrusted,
    /// It is for other names than the URL's host.
    OtherNames,
    /// Its validity ended.
    Expired,
    /// Its validity has not begun.
    NotYetValid,
    /// Anything else: malformed, revoked, not for TLS servers, an unsupported algorithm.
    Other,
}

/// The cause carried by a [`Kind::Certificate`] error: the problem, and a sentence with the
/// particulars (the names the certificate holds, when it expired, ...).
#[derive(Debug, Clone)]
pub(crate) struct CertificateRejection {
    pub problem: CertificateProblem,
    pub detail: String,
}

impl fmt::Display for CertificateRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

impl StdError for CertificateRejection {}

impl Error {
    /// For a rejected server certificate ([`Error::is_certificate`]), what was wrong with it.
    pub fn certificate_problem(&self) -> Option<CertificateProblem> {
        let cause = self.inner.cause.as_deref()?;
        cause
            .downcast_ref::<CertificateRejection>()
            .map(|r| r.problem)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.inner.kind)
            .field("msg", &self.inner.msg);
        if self.inner.at_proxy {
            d.field("at_proxy", &true);
        }
        if let Some(s) = &self.inner.status {
            d.field("status", s);
        }
        if let Some(r) = &self.inner.request {
            if let Some(m) = &r.method {
                d.field("method", m);
            }
            d.field("url", &r.url);
        }
        if let Some(c) = &self.inner.cause {
            d.field("cause", c);
        }
        d.finish()
    }
}

impl Error {
    /// The message without the request: what went wrong, its status, its cause. What a
    /// handler's 4xx answer carries, so an upstream's URL never reaches the client.
    pub(crate) fn reason(&self) -> Reason<'_> {
        Reason(self)
    }
}

/// See [`Error::reason`].
pub(crate) struct Reason<'a>(&'a Error);

impl fmt::Display for Reason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.0.inner;
        f.write_str(inner.msg)?;
        if let Some(s) = &inner.status {
            write!(f, ": {s}")?;
        }
        if let Some(c) = &inner.cause {
            write!(f, ": {c}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(r) = &self.inner.request {
            if let Some(m) = &r.method {
                write!(f, "{m} ")?;
            }
            write!(f, "{}: ", r.url)?;
        }
        self.reason().fmt(f)
    }
}

/// `uri` without its userinfo (`user:password@`), which must never be shown (RFC 9110
/// §4.2.4). A copy sharing the same bytes when there is none.
pub(crate) fn without_userinfo(uri: &http::Uri) -> http::Uri {
    let Some((_, host)) = uri.authority().and_then(|a| a.as_str().rsplit_once('@')) else {
        return uri.clone();
    };
    let mut parts = uri.clone().into_parts();
    match host.parse() {
        Ok(a) => parts.authority = Some(a),
        // No host after the `@`: the path alone, never the userinfo.
        Err(_) => (parts.scheme, parts.authority) = (None, None),
    }
    http::Uri::from_parts(parts).unwrap_or_default()
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .cause
            .as_ref()
            .map(|c| &**c as &(dyn StdError + 'static))
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match e.kind() {
            _ if e.is_timeout() => io::ErrorKind::TimedOut,
            Kind::IncompleteMessage => io::ErrorKind::UnexpectedEof,
            Kind::Parse
            | Kind::BodyTooLarge
            | Kind::DecompressedTooLarge
            | Kind::Decode
            | Kind::UnsupportedMediaType => io::ErrorKind::InvalidData,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{Method, StatusCode, Uri};

    #[test]
    fn userinfo_never_shows() {
        for (url, shown) in [
            ("http://u:p@h.example:81/x?y", "http://h.example:81/x?y"),
            ("https://user@h.example/", "https://h.example/"),
            ("http://h.example/a@b", "http://h.example/a@b"),
            ("http://:@h/", "http://h/"),
        ] {
            let url: Uri = url.parse().unwrap();
            assert_eq!(without_userinfo(&url).to_string(), shown);
        }
    }

    #[test]
    fn display_names_the_request_first() {
        let url: Uri = "http://u:secret@h.example/x".parse().unwrap();
        let e = Error::with_cause(Kind::Connect, "connect failed", "refused")
            .with_request(&Method::POST, &url);
        assert_eq!(
            e.to_string(),
            "POST http://h.example/x: connect failed: refused"
        );
        assert_eq!(e.reason().to_string(), "connect failed: refused");
        assert!(!format!("{e:?}").contains("secret"));
        assert_eq!(e.method(), Some(&Method::POST));
        assert_eq!(e.url().unwrap(), "http://h.example/x");
        // Server-side errors name nothing.
        let e = Error::new(Kind::Parse, "bad head");
        assert_eq!(
            (e.to_string().as_str(), e.url(), e.method()),
            ("bad head", None, None)
        );
    }

    #[test]
    fn a_status_error_answers_its_status() {
        let e = Error::status_error(StatusCode::NOT_FOUND);
        assert!(e.is_status());
        assert_eq!(e.status(), StatusCode::NOT_FOUND);
        assert_eq!(e.kind().as_str(), "status");
        assert_eq!(e.to_string(), "HTTP status client error: 404 Not Found");
        assert_eq!(
            Error::status_error(StatusCode::BAD_GATEWAY).status(),
            StatusCode::BAD_GATEWAY
        );
    }
}
