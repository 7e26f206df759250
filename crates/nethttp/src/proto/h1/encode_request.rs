//! Request encoding, the client's side of the codec: the request line and header block in one
//! buffer, with the framing headers (`Content-Length` or chunked) and `Host` that the
//! connection, not the caller, is responsible for (RFC 9112 §3, §6; RFC 9110 §7.2).

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Uri};

/// How a request body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestFraming {
    /// No body and no length header (GET, HEAD, ... without content).
    None,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`: the length is not known in advance.
    Chunked,
}

impl RequestFraming {
    /// Chooses the framing for a body whose exact size is `exact` (if known). Methods that
    /// usually carry content say `Content-Length: 0` when empty, as Go and curl do; the
    /// others send no length at all (RFC 9110 §8.6).
    pub(crate) fn choose(method: &Method, exact: Option<u64>, user_length: Option<u64>) -> Self {
        match exact.or(user_length) {
            Some(0) if !expects_content(method) => RequestFraming::None,
            Some(n) => RequestFraming::Length(n),
            None => RequestFraming::Chunked,
        }
    }

    /// Whether `sent` body bytes fit this framing: never more than a declared length (or any
    /// byte when none was declared), and, once the body has `ended`, exactly the length.
    pub(crate) fn check(self, sent: u64, ended: bool) -> Result<(), &'static str> {
        match self {
            RequestFraming::Length(n) if sent > n || (ended && sent != n) => {
                Err("request body length differs from its Content-Length")
            }
            RequestFraming::None if sent > 0 => Err("request body longer than declared"),
            _ => Ok(()),
        }
    }
}

fn expects_content(method: &Method) -> bool {
    *method == Method::POST || *method == Method::PUT || *method == Method::PATCH
}

/// What the connection adds to the caller's headers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestHeadOptions<'a> {
    pub framing: RequestFraming,
    /// Absolute-form request target (RFC 9112 §3.2.2), used when talking to a proxy.
    pub absolute_form: bool,
    /// Sent as `Proxy-Authorization` unless the caller set that header.
    pub proxy_auth: Option<&'a HeaderValue>,
    /// Send `Connection: close`: this connection will not be reused.
    pub close: bool,
    /// Headers added when the caller did not set them (User-Agent, ...).
    pub defaults: Option<&'a HeaderMap>,
    /// The whole `accept-encoding: ...\r\n` line to send, if any: the codings the client
    /// decodes (the caller checked that the request has no `Accept-Encoding` of its own).
    pub accept_encoding: Option<&'static [u8]>,
}

/// Writes the request line and headers, ending with the blank line. Caller-supplied
/// `Content-Length`, `Transfer-Encoding` and `Connection` are replaced by what the connection
/// actually does, so they can never contradict the framing on the wire.
pub(crate) fn write_request_head(
    dst: &mut Vec<u8>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    opts: &RequestHeadOptions<'_>,
) {
    dst.extend_from_slice(method.as_str().as_bytes());
    dst.push(b' ');
    if *method == Method::CONNECT {
        // RFC 9112 §3.2.3: CONNECT names its target in authority form, `host:port`: the
        // `Host` the caller set (the tunnel's far end, as Go's `Request.Host`), else the
        // URL's authority with its port.
        write_connect_target(dst, uri, headers);
        dst.extend_from_slice(b" HTTP/1.1\r\n");
    } else {
        write_target(dst, method, uri, opts);
        dst.extend_from_slice(b" HTTP/1.1\r\n");
    }
    write_fields(dst, uri, headers, opts);
}

/// The authority-form target of a CONNECT request.
fn write_connect_target(dst: &mut Vec<u8>, uri: &Uri, headers: &HeaderMap) {
    if let Some(host) = headers.get(header::HOST) {
        dst.extend_from_slice(host.as_bytes());
        return;
    }
    let Some(a) = uri.authority() else {
        return;
    };
    dst.extend_from_slice(a.as_str().as_bytes());
    if a.port().is_none() {
        let port = if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        };
        dst.extend_from_slice(format!(":{port}").as_bytes());
    }
}

/// The request target of any other method: origin form, absolute form to a proxy, or `*`.
fn write_target(dst: &mut Vec<u8>, method: &Method, uri: &Uri, opts: &RequestHeadOptions<'_>) {
    if opts.absolute_form {
        dst.extend_from_slice(uri.scheme_str().unwrap_or("http").as_bytes());
        dst.extend_from_slice(b"://");
        if let Some(a) = uri.authority() {
            dst.extend_from_slice(a.as_str().as_bytes());
        }
    }
    match uri.path_and_query() {
        // RFC 9112 §3.2.4: OPTIONS for the server as a whole is `*`.
        Some(pq) if pq.as_str() == "*" && *method == Method::OPTIONS => dst.push(b'*'),
        Some(pq) if !pq.as_str().is_empty() && pq.as_str().starts_with('/') => {
            dst.extend_from_slice(pq.as_str().as_bytes())
        }
        Some(pq) if pq.as_str().starts_with('?') => {
            dst.push(b'/');
            dst.extend_from_slice(pq.as_str().as_bytes());
        }
        _ => dst.push(b'/'),
    }
}

/// The header fields and the blank line.
fn write_fields(dst: &mut Vec<u8>, uri: &Uri, headers: &HeaderMap, opts: &RequestHeadOptions<'_>) {
    // RFC 9112 §3.2: Host first, from the URI unless the caller chose one.
    if !headers.contains_key(header::HOST) {
        if let Some(a) = uri.authority() {
            dst.extend_from_slice(b"host: ");
            dst.extend_from_slice(host_without_default_port(uri, a.as_str()).as_bytes());
            dst.extend_from_slice(b"\r\n");
        }
    }
    for (name, value) in headers {
        match *name {
            header::CONTENT_LENGTH | header::TRANSFER_ENCODING | header::CONNECTION => continue,
            _ => {}
        }
        write_field(dst, name.as_str(), value);
    }
    if let Some(auth) = opts.proxy_auth {
        if !headers.contains_key(header::PROXY_AUTHORIZATION) {
            write_field(dst, "proxy-authorization", auth);
        }
    }
    if let Some(defaults) = opts.defaults {
        for (name, value) in defaults {
            if !headers.contains_key(name) {
                write_field(dst, name.as_str(), value);
            }
        }
    }
    if let Some(line) = opts.accept_encoding {
        dst.extend_from_slice(line);
    }
    match opts.framing {
        RequestFraming::None => {}
        RequestFraming::Length(n) => {
            dst.extend_from_slice(b"content-length: ");
            dst.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            dst.extend_from_slice(b"\r\n");
        }
        RequestFraming::Chunked => dst.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    // An upgrade asked for keeps its `Connection: upgrade` (RFC 9110 §7.8: `Upgrade` is only
    // honoured when `Connection` names it); other options the caller put there are dropped.
    if crate::upgrade::asks_upgrade(headers) {
        dst.extend_from_slice(b"connection: upgrade\r\n");
    }
    if opts.close {
        dst.extend_from_slice(b"connection: close\r\n");
    }
    dst.extend_from_slice(b"\r\n");
}

fn write_field(dst: &mut Vec<u8>, name: &str, value: &HeaderValue) {
    dst.extend_from_slice(name.as_bytes());
    dst.extend_from_slice(b": ");
    dst.extend_from_slice(value.as_bytes());
    dst.extend_from_slice(b"\r\n");
}

/// The authority without a port that is the scheme's default (`example.com:80` → `example.com`),
/// and without userinfo, which never goes in `Host`.
fn host_without_default_port<'a>(uri: &Uri, authority: &'a str) -> &'a str {
    // A byte search: `rsplit_once('@')` costs ~200 instructions on every request.
    let authority = match authority.as_bytes().iter().rposition(|&b| b == b'@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    let default = match uri.scheme_str() {
        Some("https") => ":443",
        _ => ":80",
    };
    authority.strip_suffix(default).unwrap_or(authority)
}

/// Whether the caller asked for `Connection: close`.
pub(crate) fn wants_close(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .any(|v| super::parse::has_token(v.as_bytes(), b"close"))
}

/// Whether the caller asked for `Expect: 100-continue`.
pub(crate) fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(header::EXPECT)
        .is_some_and(|v| super::parse::trim(v.as_bytes()).eq_ignore_ascii_case(b"100-continue"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        opts: RequestHeadOptions<'_>,
    ) -> String {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let mut dst = Vec::new();
        write_request_head(&mut dst, &method, &uri.parse().unwrap(), &map, &opts);
        String::from_utf8(dst).unwrap()
    }

    fn opts(framing: RequestFraming) -> RequestHeadOptions<'static> {
        RequestHeadOptions {
            framing,
            absolute_form: false,
            proxy_auth: None,
            close: false,
            defaults: None,
            accept_encoding: None,
        }
    }

    #[test]
    fn request_line_host_and_framing() {
        assert_eq!(
            encode(
                Method::GET,
                "http://example.com/a?b=1",
                &[],
                opts(RequestFraming::None)
            ),
            "GET /a?b=1 HTTP/1.1\r\nhost: example.com\r\n\r\n"
        );
        assert_eq!(
            encode(
                Method::POST,
                "http://u:p@example.com:8080",
                &[("content-length", "99"), ("x", "y")],
                opts(RequestFraming::Length(3))
            ),
            "POST / HTTP/1.1\r\nhost: example.com:8080\r\nx: y\r\ncontent-length: 3\r\n\r\n"
        );
        let mut o = opts(RequestFraming::Chunked);
        o.close = true;
        o.absolute_form = true;
        assert_eq!(
            encode(Method::PUT, "http://example.com:80/p", &[("Host", "other"), ("connection", "keep-alive")], o),
            "PUT http://example.com:80/p HTTP/1.1\r\nhost: other\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
        );
        assert_eq!(
            encode(Method::OPTIONS, "*", &[], opts(RequestFraming::None)),
            "OPTIONS * HTTP/1.1\r\n\r\n"
        );
    }

    #[test]
    fn defaults_fill_only_missing_headers() {
        let mut defaults = HeaderMap::new();
        defaults.insert("user-agent", "nethttp".parse().unwrap());
        defaults.insert("accept", "*/*".parse().unwrap());
        let mut o = opts(RequestFraming::None);
        o.defaults = Some(&defaults);
        assert_eq!(
            encode(Method::GET, "http://h/", &[("accept", "text/plain")], o),
            "GET / HTTP/1.1\r\nhost: h\r\naccept: text/plain\r\nuser-agent: nethttp\r\n\r\n"
        );
    }

    #[test]
    fn framing_choice() {
        use RequestFraming as F;
        assert_eq!(F::choose(&Method::GET, Some(0), None), F::None);
        assert_eq!(F::choose(&Method::POST, Some(0), None), F::Length(0));
        assert_eq!(F::choose(&Method::POST, None, Some(7)), F::Length(7));
        assert_eq!(F::choose(&Method::POST, None, None), F::Chunked);
        assert_eq!(F::choose(&Method::GET, Some(4), None), F::Length(4));
    }
}
