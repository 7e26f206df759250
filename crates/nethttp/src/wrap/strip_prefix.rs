//! `strip_prefix`: Go's `http.StripPrefix`. The handler sees the request path without a
//! prefix (`/static/app.js` becomes `/app.js` under the prefix `/static/`); a path without the
//! prefix is answered `404 Not Found`.

use std::future::Future;

use http::uri::PathAndQuery;
use http::{StatusCode, Uri};

use crate::handler::{text_response, Handler, HttpRequest, HttpResponse};

/// Wraps `handler` so it sees request paths with `prefix` removed; requests whose path does
/// not start with it are answered `404 Not Found` without calling `handler`. The query is
/// kept. An empty prefix strips nothing. What is left is handed on with a leading `/` (an
/// `http::Uri` path must have one): under `/static/`, `/static/app.js` arrives as `/app.js`
/// and `/static/` as `/` (Go hands on `app.js` and an empty path, which its `FileServer`
/// reads as these). A prefix that does not end with `/` also matches inside a segment, as in
/// Go: under `/static`, `/staticfoo` arrives as `/foo`; end the prefix with `/`, or route
/// only `/static/` to it, to avoid that.
///
/// As in Go, the prefix is compared with the decoded path, and with the path as sent when
/// that is not the plain encoding of the decoded one (Go's `URL.RawPath` rule): under the
/// prefix `/a b/`, `/a%20b/x` becomes `/x`, but under `/static/`, `/static%2Fx` (an escaped
/// slash) and `/st%61tic/x` (an escape that need not be) are 404, so an escape cannot make a
/// path look as if it were under the prefix. The path handed on stays encoded as it was sent.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use nethttp::http::{Request, StatusCode};
/// use nethttp::wrap::strip_prefix;
/// use nethttp::{text_response, Body, Handler, HttpRequest};
///
/// let h = strip_prefix("/static", |req: HttpRequest| async move {
///     text_response(StatusCode::OK, req.uri().to_string())
/// });
/// let req = Request::get("/static/a%20b.txt?v=2").body(Body::empty()).unwrap();
/// let res = h.call(req).await;
/// assert_eq!(res.into_body().to_bytes(64).await.unwrap(), "/a%20b.txt?v=2");
/// let req = Request::get("/other").body(Body::empty()).unwrap();
/// assert_eq!(h.call(req).await.status(), StatusCode::NOT_FOUND);
/// # }
/// ```
pub fn strip_prefix<H: Handler>(prefix: impl Into<String>, handler: H) -> StripPrefix<H> {
    StripPrefix {
        prefix: prefix.into(),
        inner: handler,
    }
}

/// The handler [`strip_prefix`] returns.
#[derive(Debug, Clone)]
pub struct StripPrefix<H> {
    prefix: String,
    inner: H,
}

impl<H: Handler> Handler for StripPrefix<H> {
    fn call(&self, mut req: HttpRequest) -> impl Future<Output = HttpResponse> + Send + '_ {
        let stripped = if self.prefix.is_empty() {
            Some(None)
        } else {
            strip(&self.prefix, req.uri()).map(Some)
        };
        async move {
            match stripped {
                Some(uri) => {
                    if let Some(uri) = uri {
                        *req.uri_mut() = uri;
                    }
                    self.inner.call(req).await
                }
                None => text_response(StatusCode::NOT_FOUND, "404 page not found\n"),
            }
        }
    }
}

/// The request's URI with `prefix` removed from its path, or `None` when the path does not
/// start with it (Go's rule, see [`strip_prefix`]).
fn strip(prefix: &str, uri: &Uri) -> Option<Uri> {
    let raw = uri.path();
    let rest = if !raw.contains('%') {
        // Nothing escaped: the decoded path is the raw one.
        raw.strip_prefix(prefix)?.to_owned()
    } else {
        let decoded = crate::percent::decode(raw)?;
        let decoded_rest = decoded.strip_prefix(prefix.as_bytes())?;
        if escape_path(&decoded) == raw {
            // Go keeps no RawPath for a path in its plain encoding: the rest is re-encoded.
            escape_path(decoded_rest)
        } else {
            // The raw path must carry the prefix itself.
            raw.strip_prefix(prefix)?.to_owned()
        }
    };
    // Go hands on what is left as it is (`app.js`, or an empty path); an origin-form URI must
    // start with `/`, which is what handlers (Go's FileServer included) take such a path for.
    let rest = if rest.starts_with('/') {
        rest
    } else {
        format!("/{rest}")
    };
    let rebuilt = match uri.query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest,
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(rebuilt).ok()?);
    Uri::from_parts(parts).ok()
}

/// Go's `escape(path, encodePath)`: every byte but the unreserved ones and
/// `$ & + , / : ; = @` becomes `%XX`.
fn escape_path(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        let plain = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_'
                    | b'.'
                    | b'~'
                    | b'$'
                    | b'&'
                    | b'+'
                    | b','
                    | b'/'
                    | b':'
                    | b';'
                    | b'='
                    | b'@'
            );
        if plain {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(prefix: &str, target: &str) -> Option<String> {
        let uri: Uri = target.parse().unwrap();
        strip(prefix, &uri).map(|u| u.to_string())
    }

    /// Cases from Go's `TestStripPrefix` and `TestStripPrefixNotModifyRequest`, and the
    /// `RawPath` rule spelled out.
    #[test]
    fn go_rules() {
        assert_eq!(s("/foo", "/foo/bar").as_deref(), Some("/bar"));
        assert_eq!(s("/foo", "/bar"), None);
        assert_eq!(s("/foo/bar", "/foo/bar").as_deref(), Some("/"));
        assert_eq!(s("/foo", "/foobar?x=1").as_deref(), Some("/bar?x=1"));
        assert_eq!(s("/foo/", "/foo/bar").as_deref(), Some("/bar"));
        assert_eq!(s("/foo/", "/foo/").as_deref(), Some("/"));
        // Escaped in the plain encoding: compared decoded, handed on encoded.
        assert_eq!(s("/a b/", "/a%20b/c%20d").as_deref(), Some("/c%20d"));
        assert_eq!(s("/foo/", "/foo/%2Fbar").as_deref(), Some("/%2Fbar"));
        // Not the plain encoding: the raw path must carry the prefix.
        assert_eq!(s("/static/", "/static%2Fx"), None);
        assert_eq!(s("/static/", "/st%61tic/x"), None);
        assert_eq!(s("/static/", "/static/%61").as_deref(), Some("/%61"));
        // Malformed escapes never match.
        assert_eq!(s("/static/", "/static/%zz"), None);
        // Absolute form keeps scheme and authority.
        assert_eq!(
            s("/api", "http://a.example/api/v1?q").as_deref(),
            Some("http://a.example/v1?q")
        );
    }

    #[test]
    fn escape_matches_go() {
        assert_eq!(escape_path(b"/a b/\"?#%"), "/a%20b/%22%3F%23%25");
        assert_eq!(escape_path(b"/$&+,:;=@-_.~"), "/$&+,:;=@-_.~");
        assert_eq!(escape_path("/é".as_bytes()), "/%C3%A9");
    }
}
