//! `compress`: responses gzip-coded for the clients that take it, as nginx's `gzip on` (and
//! Go's `gziphandler`, Caddy's `encode`) do, with the rules of RFC 9110 that make it safe for
//! caches and conditional requests: `Vary: Accept-Encoding`, a strong `ETag` made weak, no
//! `Accept-Ranges` on a coded answer, nothing coded twice.

mod gzip_body;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use http::header::{
    HeaderMap, HeaderValue, ACCEPT_RANGES, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH,
    CONTENT_RANGE, CONTENT_TYPE, ETAG, IF_NONE_MATCH, VARY,
};
use http::{Method, StatusCode};

use crate::body::Body;
use crate::handler::{Handler, HttpRequest, HttpResponse};

use crate::proto::accept_encoding::Accepted;
use gzip_body::GzipBody;

/// The default of [`Compress::min_length`]: bodies of a known length under it are sent as
/// they are (the gzip header and trailer alone are 18 bytes, and small answers gain little).
pub const DEFAULT_MIN_LENGTH: u64 = 512;

/// The default of [`Compress::max_streams`]: at ~400 KB of compressor state each, 256 coded
/// streams hold about 100 MB at most.
pub const DEFAULT_MAX_STREAMS: usize = 256;

/// The default of [`Compress::level`]: zlib's 1 (fastest) to 9 (smallest); 5 is Caddy's
/// default, most of 9's gain at a third of its time. nginx's default is 1.
pub const DEFAULT_LEVEL: u32 = 5;

/// Wraps `handler` so its answers are gzip-coded for clients that accept it. An answer is
/// coded when all of these hold:
///
/// - the client's `Accept-Encoding` takes `gzip` (or `x-gzip`, or `*`) with a weight above
///   zero (RFC 9110 §12.5.3);
/// - its `Content-Type` is one that compresses: `text/*` (not `text/event-stream`), JSON,
///   JavaScript, XML, SVG, WebAssembly, the `+json` and `+xml` types, fonts that are not
///   compressed already, or the list given to [`Compress::types`];
/// - it has no `Content-Encoding` already (a precompressed file stays as it is), no
///   `Content-Range` (a `206` is a range of the uncoded representation), no
///   `Cache-Control: no-transform`, and is not `204`, `206`, `304` or `1xx`;
/// - its body is not known to be shorter than [`Compress::min_length`].
///
/// Whenever the choice depended on `Accept-Encoding`, the answer carries
/// `Vary: Accept-Encoding`, coded or not, so a cache keeps the two apart. A coded answer
/// loses `Accept-Ranges` and `Content-Length` (a body in memory is coded at once and gets
/// its coded length; a stream or a file is coded frame by frame, each flushed, so streams
/// still arrive as they are made; past [`Compress::max_streams`] coded at once, further
/// streams go uncoded), and a strong `ETag` becomes weak (`W/"..."`, as nginx
/// does): the coded bytes are not the bytes the tag was made for. A body in memory that
/// would not get smaller is sent as it is. `HEAD` gets the same fields as `GET`, without a
/// length.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use nethttp::http::{header, Request, StatusCode};
/// use nethttp::wrap::compress;
/// use nethttp::{text_response, Body, Handler, HttpRequest};
///
/// let app = compress(|_req: HttpRequest| async {
///     text_response(StatusCode::OK, "hello, world\n".repeat(100))
/// });
/// let req = Request::get("/").header(header::ACCEPT_ENCODING, "gzip, br").body(Body::empty()).unwrap();
/// let resp = app.call(req).await;
/// assert_eq!(resp.headers()[header::CONTENT_ENCODING], "gzip");
/// assert_eq!(resp.headers()[header::VARY], "accept-encoding");
/// let coded = resp.into_body().to_bytes(1 << 20).await.unwrap();
/// assert!(coded.len() < 100, "{} bytes", coded.len());
/// # }
/// ```
pub fn compress<H: Handler>(handler: H) -> Compress<H> {
    Compress {
        inner: handler,
        opts: Arc::new(Options {
            level: DEFAULT_LEVEL,
            min_length: DEFAULT_MIN_LENGTH,
            types: None,
            max_streams: DEFAULT_MAX_STREAMS,
            streams: Arc::new(AtomicUsize::new(0)),
        }),
    }
}

/// The handler [`compress`] returns.
#[derive(Debug, Clone)]
pub struct Compress<H> {
    inner: H,
    opts: Arc<Options>,
}

#[derive(Debug, Clone)]
struct Options {
    level: u32,
    min_length: u64,
    /// Media types coded (`type/subtype`, or `type/*`), lowercase; `None`: the defaults.
    types: Option<Vec<String>>,
    max_streams: usize,
    /// Streams being coded now, by every clone of the handler.
    streams: Arc<AtomicUsize>,
}

impl<H> Compress<H> {
    /// The compression level, from 1 (fastest) to 9 (smallest); clamped to that range.
    /// Default: [`DEFAULT_LEVEL`].
    pub fn level(mut self, level: u32) -> Self {
        Arc::make_mut(&mut self.opts).level = level.clamp(1, 9);
        self
    }

    /// Bodies of a known length under `n` bytes are sent uncoded (nginx's
    /// `gzip_min_length`). Default: [`DEFAULT_MIN_LENGTH`].
    pub fn min_length(mut self, n: u64) -> Self {
        Arc::make_mut(&mut self.opts).min_length = n;
        self
    }

    /// At most `n` streamed bodies (streams, files) are coded at once; past it they are sent
    /// uncoded (still with `Vary`), since each holds a compressor (~400 KB). Bodies in
    /// memory are coded at once and hold nothing after. Default: [`DEFAULT_MAX_STREAMS`].
    pub fn max_streams(mut self, n: usize) -> Self {
        Arc::make_mut(&mut self.opts).max_streams = n;
        self
    }

    /// The media types coded, instead of the defaults: `type/subtype`, or `type/*` for all
    /// of a type (nginx's `gzip_types`). Matched without regard to case or parameters.
    pub fn types<S: AsRef<str>>(mut self, types: impl IntoIterator<Item = S>) -> Self {
        Arc::make_mut(&mut self.opts).types = Some(
            types
                .into_iter()
                .map(|t| t.as_ref().trim().to_ascii_lowercase())
                .collect(),
        );
        self
    }
}

impl<H: Handler> Handler for Compress<H> {
    async fn call(&self, req: HttpRequest) -> HttpResponse {
        let accepts = Accepted::of(req.headers()).gzip > 0;
        let is_head = req.method() == Method::HEAD;
        let validators = accepts
            .then(|| req.headers().get(IF_NONE_MATCH).cloned())
            .flatten();
        let mut resp = self.inner.call(req).await;
        if resp.status() == StatusCode::NOT_MODIFIED {
            if let Some(inm) = validators {
                revalidated(resp.headers_mut(), &inm);
            }
            return resp;
        }
        self.opts.code(&mut resp, accepts, is_head);
        resp
    }
}

impl Options {
    fn code(&self, resp: &mut HttpResponse, accepts: bool, is_head: bool) {
        let status = resp.status();
        if status.is_informational()
            || matches!(
                status,
                StatusCode::NO_CONTENT | StatusCode::PARTIAL_CONTENT | StatusCode::NOT_MODIFIED
            )
        {
            return;
        }
        // The cheapest test first: most small answers end here.
        let declared = if is_head {
            None
        } else {
            http_body::Body::size_hint(resp.body()).exact()
        }
        .or_else(|| {
            resp.headers()
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse().ok())
        });
        if declared.is_some_and(|n| n < self.min_length) {
            return;
        }
        let h = resp.headers();
        let coded_already = h
            .get(CONTENT_ENCODING)
            .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"));
        if coded_already
            || h.contains_key(CONTENT_RANGE)
            || !self.codes_type(h.get(CONTENT_TYPE))
            || has_token(h, CACHE_CONTROL, "no-transform")
        {
            return;
        }
        // From here the answer depends on the request's Accept-Encoding.
        let h = resp.headers_mut();
        if !has_token(h, VARY, "accept-encoding") && !has_token(h, VARY, "*") {
            h.append(VARY, HeaderValue::from_static("accept-encoding"));
        }
        if !accepts {
            return;
        }
        if is_head {
            // No length: the coded one is not known without coding. A body of unknown size
            // (never polled: the answer has none) keeps the engine from declaring `0`.
            resp.headers_mut().remove(CONTENT_LENGTH);
            let plain = std::mem::take(resp.body_mut());
            *resp.body_mut() = Body::from_incoming(GzipBody::new(plain, self.level));
        } else if let Some(plain) = resp.body_mut().take_full() {
            let coded = gzip_body::compress(&plain, self.level);
            if coded.len() >= plain.len() {
                *resp.body_mut() = Body::from(plain);
                return;
            }
            resp.headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(coded.len()));
            *resp.body_mut() = Body::from(coded);
        } else {
            let Some(slot) = StreamSlot::take(&self.streams, self.max_streams) else {
                return;
            };
            resp.headers_mut().remove(CONTENT_LENGTH);
            let plain = std::mem::take(resp.body_mut());
            *resp.body_mut() = Body::from_incoming(GzipBody::new(plain, self.level).holding(slot));
        }
        let h = resp.headers_mut();
        h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        h.remove(ACCEPT_RANGES);
        weaken_etag(h);
    }

    fn codes_type(&self, content_type: Option<&HeaderValue>) -> bool {
        let Some(ct) = content_type.and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let essence = ct.split(';').next().unwrap_or("").trim();
        let Some((top, _)) = essence.split_once('/') else {
            return false;
        };
        match &self.types {
            Some(types) => types.iter().any(|t| match t.split_once('/') {
                Some((ttop, "*")) => ttop.eq_ignore_ascii_case(top),
                _ => t.eq_ignore_ascii_case(essence),
            }),
            None => {
                // Lowercased on the stack: no allocation per answer.
                let mut buf = [0u8; 96];
                let Some(dst) = buf.get_mut(..essence.len()) else {
                    return false;
                };
                dst.copy_from_slice(essence.as_bytes());
                dst.make_ascii_lowercase();
                let lower = std::str::from_utf8(dst).unwrap_or("");
                let (top, sub) = lower.split_at(top.len());
                compresses_by_default(top, &sub[1..])
            }
        }
    }
}

/// One of the coded streams [`Compress::max_streams`] allows, given back when dropped.
pub(crate) struct StreamSlot(Arc<AtomicUsize>);

impl StreamSlot {
    fn take(count: &Arc<AtomicUsize>, max: usize) -> Option<StreamSlot> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| StreamSlot(count.clone()))
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The media types coded by default: text and the text-like formats of the web.
fn compresses_by_default(top: &str, sub: &str) -> bool {
    match top {
        // A stream of events is read as it comes; some clients and proxies hold coded ones.
        "text" => sub != "event-stream",
        "application" => {
            sub.ends_with("+json")
                || sub.ends_with("+xml")
                || matches!(
                    sub,
                    "json"
                        | "javascript"
                        | "x-javascript"
                        | "ecmascript"
                        | "xml"
                        | "wasm"
                        | "graphql-response+json"
                        | "vnd.ms-fontobject"
                        | "x-font-ttf"
                )
        }
        "image" => matches!(sub, "svg+xml" | "x-icon" | "vnd.microsoft.icon" | "bmp"),
        "font" => matches!(sub, "ttf" | "otf" | "collection"),
        _ => false,
    }
}

/// Whether a comma-separated field has `token` among its members (ASCII case ignored;
/// parameters after `=` are part of a member and do not match).
fn has_token(h: &HeaderMap, name: http::header::HeaderName, token: &str) -> bool {
    h.get_all(name).iter().any(|v| {
        v.to_str()
            .is_ok_and(|s| s.split(',').any(|m| m.trim().eq_ignore_ascii_case(token)))
    })
}

/// A `304` answers for the representation the client holds: when it holds the coded one
/// (its `If-None-Match` names the weak form of the handler's strong tag), the `304` carries
/// that weak form too, so a cache updates the response it stored (RFC 9111 §4.3.4). The
/// handler compared the tags weakly, as `If-None-Match` asks (RFC 9110 §13.1.2).
fn revalidated(h: &mut HeaderMap, if_none_match: &HeaderValue) {
    let Some(tag) = h.get(ETAG).map(HeaderValue::as_bytes) else {
        return;
    };
    if !tag.starts_with(b"\"") {
        return;
    }
    let held_weak = if_none_match.as_bytes().split(|&b| b == b',').any(|m| {
        let m = m.trim_ascii();
        m.len() == tag.len() + 2 && m.starts_with(b"W/") && &m[2..] == tag
    });
    if held_weak {
        weaken_etag(h);
    }
}

/// `"x"` becomes `W/"x"`: the coded bytes differ from those a strong tag names (RFC 9110
/// §8.8.1), and a weak tag still answers `If-None-Match`.
fn weaken_etag(h: &mut HeaderMap) {
    let Some(tag) = h.get(ETAG) else { return };
    if !tag.as_bytes().starts_with(b"\"") {
        return;
    }
    let mut weak = b"W/".to_vec();
    weak.extend_from_slice(tag.as_bytes());
    if let Ok(v) = HeaderValue::from_bytes(&weak) {
        h.insert(ETAG, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> Options {
        Options {
            level: DEFAULT_LEVEL,
            min_length: DEFAULT_MIN_LENGTH,
            types: None,
            max_streams: DEFAULT_MAX_STREAMS,
            streams: Arc::new(AtomicUsize::new(0)),
        }
    }

    #[test]
    fn stream_slots_are_bounded_and_given_back() {
        let count = Arc::new(AtomicUsize::new(0));
        let a = StreamSlot::take(&count, 2).unwrap();
        let b = StreamSlot::take(&count, 2).unwrap();
        assert!(StreamSlot::take(&count, 2).is_none());
        drop(a);
        let c = StreamSlot::take(&count, 2).unwrap();
        drop((b, c));
        assert_eq!(count.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn types_coded_by_default() {
        let o = opts();
        for yes in [
            "text/html",
            "text/html; charset=utf-8",
            "TEXT/CSS",
            "text/plain;charset=UTF-8",
            "application/json",
            "application/problem+json",
            "application/javascript",
            "application/atom+xml",
            "image/svg+xml",
            "application/wasm",
            "font/ttf",
        ] {
            assert!(o.codes_type(Some(&HeaderValue::from_static(yes))), "{yes}");
        }
        for no in [
            "text/event-stream",
            "image/png",
            "application/octet-stream",
            "application/zip",
            "font/woff2",
            "video/mp4",
            "nonsense",
            "",
        ] {
            assert!(!o.codes_type(Some(&HeaderValue::from_static(no))), "{no}");
        }
        assert!(!o.codes_type(None));
    }

    #[test]
    fn types_given() {
        let mut o = opts();
        o.types = Some(vec!["text/*".into(), "application/x-custom".into()]);
        assert!(o.codes_type(Some(&HeaderValue::from_static("text/x-anything"))));
        assert!(o.codes_type(Some(&HeaderValue::from_static("Application/X-Custom; a=b"))));
        assert!(!o.codes_type(Some(&HeaderValue::from_static("application/json"))));
    }

    #[test]
    fn a_304_names_the_tag_the_client_holds() {
        let answer = |inm: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(ETAG, HeaderValue::from_static("\"abc\""));
            revalidated(&mut h, &HeaderValue::from_static(inm));
            h[ETAG].clone()
        };
        assert_eq!(answer("W/\"abc\""), "W/\"abc\"");
        assert_eq!(answer("\"x\", W/\"abc\""), "W/\"abc\"");
        assert_eq!(answer("\"abc\""), "\"abc\"");
        assert_eq!(answer("W/\"abcd\""), "\"abc\"");
        assert_eq!(answer("*"), "\"abc\"");
    }

    #[test]
    fn etags_made_weak() {
        let mut h = HeaderMap::new();
        h.insert(ETAG, HeaderValue::from_static("\"abc\""));
        weaken_etag(&mut h);
        assert_eq!(h[ETAG], "W/\"abc\"");
        weaken_etag(&mut h);
        assert_eq!(h[ETAG], "W/\"abc\"");
    }
}
