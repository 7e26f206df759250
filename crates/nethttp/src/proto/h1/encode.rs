//! Response encoding: the status line and header block in one buffer, and chunked framing
//! (RFC 9112 §7.1) for bodies of unknown length, trailers included (those allowed to be).

use http::{HeaderMap, StatusCode};

use crate::proto::{date, trailers};
use crate::token::has_token;

/// How a response body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body may follow (HEAD, 1xx, 204, 304) — the header may still carry a length.
    NoBody,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// The body ends when the connection closes (HTTP/1.0 clients, unknown length).
    CloseDelimited,
}

/// What the connection adds to the handler's headers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeadOptions<'a> {
    pub framing: Framing,
    /// For `NoBody` responses to HEAD: the length a GET would have had, if known.
    pub head_length: Option<u64>,
    /// The connection closes after this response: send `Connection: close`.
    pub close: bool,
    /// HTTP/1.0 client that asked for keep-alive: confirm it with `Connection: keep-alive`.
    pub confirm_keep_alive: bool,
    /// The `keep-alive: timeout=N` line, advertised so clients retire the connection before
    /// we do.
    pub keep_alive_line: Option<&'a [u8]>,
    /// A `101` switching protocols: send `Connection: upgrade` (RFC 9110 §7.8) and nothing
    /// about keep-alive.
    pub upgrade: bool,
}

/// The `keep-alive` line advertising an idle timeout, or `None` for one under a second
/// (`timeout=0` would tell clients not to reuse the connection at all).
pub(crate) fn keep_alive_line(idle: std::time::Duration) -> Option<Box<[u8]>> {
    let secs = idle.as_secs();
    (secs > 0).then(|| {
        format!("keep-alive: timeout={secs}\r\n")
            .into_bytes()
            .into_boxed_slice()
    })
}

/// Writes an interim (1xx) response head (RFC 9110 §15.2): a status line and fields, no
/// content. Fields about the connection or a body are left out: the final response says
/// those.
pub(crate) fn write_interim(dst: &mut Vec<u8>, status: StatusCode, headers: &HeaderMap) {
    write_status_line(dst, status);
    for (name, value) in headers {
        match *name {
            http::header::CONTENT_LENGTH
            | http::header::TRANSFER_ENCODING
            | http::header::CONNECTION
            | http::header::UPGRADE => continue,
            _ if name.as_str() == "keep-alive" => continue,
            _ => write_field(dst, name, value),
        }
    }
    dst.extend_from_slice(b"\r\n");
}

fn write_status_line(dst: &mut Vec<u8>, status: StatusCode) {
    dst.extend_from_slice(b"HTTP/1.1 ");
    dst.extend_from_slice(status.as_str().as_bytes());
    dst.push(b' ');
    dst.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
    dst.extend_from_slice(b"\r\n");
}

#[inline]
fn write_field(dst: &mut Vec<u8>, name: &http::HeaderName, value: &http::HeaderValue) {
    dst.extend_from_slice(name.as_str().as_bytes());
    dst.extend_from_slice(b": ");
    dst.extend_from_slice(value.as_bytes());
    dst.extend_from_slice(b"\r\n");
}

/// What a handler's own fields say about the connection, noted while they are written:
/// whether `Connection` names `close`, and the `Content-Length` it declared (its last
/// value, if that is a number).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Declared {
    pub close: bool,
    pub length: Option<u64>,
}

/// Writes the status line and headers, ending with the blank line.
pub(crate) fn write_head(
    dst: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    opts: &HeadOptions<'_>,
) {
    write_head_with(dst, status, headers, |_| *opts);
}

/// [`write_head`] for options that depend on the handler's fields: they are walked once,
/// written and noted together, and `decide` turns what they declared into the options for
/// the lines the connection adds (which it returns).
#[inline]
pub(crate) fn write_head_with<'a>(
    dst: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    decide: impl FnOnce(Declared) -> HeadOptions<'a>,
) -> HeadOptions<'a> {
    if status == StatusCode::OK {
        dst.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    } else {
        write_status_line(dst, status);
    }
    let mut has_date = false;
    let mut declared = Declared::default();
    for (name, value) in headers {
        // Framing and connection management are the connection's job; a handler's own
        // values would contradict what is actually sent.
        match *name {
            http::header::CONTENT_LENGTH => {
                declared.length = value.to_str().ok().and_then(|v| v.trim().parse().ok());
                continue;
            }
            http::header::CONNECTION => {
                declared.close |= has_token(value.as_bytes(), b"close");
                continue;
            }
            http::header::TRANSFER_ENCODING => continue,
            http::header::DATE => has_date = true,
            _ if name.as_str() == "keep-alive" => continue,
            _ => {}
        }
        write_field(dst, name, value);
    }
    let opts = decide(declared);
    match opts.framing {
        Framing::Length(n) => write_length(dst, n),
        Framing::NoBody => {
            if let Some(n) = opts.head_length {
                write_length(dst, n);
            }
        }
        Framing::Chunked => dst.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        Framing::CloseDelimited => {}
    }
    if !has_date {
        dst.extend_from_slice(b"date: ");
        date::append_date(dst);
        dst.extend_from_slice(b"\r\n");
    }
    if opts.upgrade {
        dst.extend_from_slice(b"connection: upgrade\r\n");
    } else if opts.close {
        dst.extend_from_slice(b"connection: close\r\n");
    } else {
        if opts.confirm_keep_alive {
            dst.extend_from_slice(b"connection: keep-alive\r\n");
        }
        if let Some(line) = opts.keep_alive_line {
            dst.extend_from_slice(line);
        }
    }
    dst.extend_from_slice(b"\r\n");
    opts
}

fn write_length(dst: &mut Vec<u8>, n: u64) {
    dst.extend_from_slice(b"content-length: ");
    dst.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    dst.extend_from_slice(b"\r\n");
}

/// Writes the size line of one chunk; the caller appends the data and then [`CRLF`].
pub(crate) fn write_chunk_header(dst: &mut Vec<u8>, len: usize) {
    debug_assert!(len > 0, "an empty chunk would end the body");
    let mut hex = [0u8; 16];
    let mut i = hex.len();
    let mut n = len;
    loop {
        i -= 1;
        hex[i] = b"0123456789abcdef"[n & 0xf];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    dst.extend_from_slice(&hex[i..]);
    dst.extend_from_slice(CRLF);
}

/// Line terminator.
pub(crate) const CRLF: &[u8] = b"\r\n";

/// Writes the last chunk, the trailers (if any) and the final blank line. A field that must
/// not be a trailer (RFC 9110 §6.5.1, see `proto::trailers`) is not written.
pub(crate) fn write_chunked_end(dst: &mut Vec<u8>, trailers: Option<&HeaderMap>) {
    dst.extend_from_slice(b"0\r\n");
    if let Some(t) = trailers {
        for (name, value) in t.iter().filter(|(name, _)| trailers::allowed(name)) {
            dst.extend_from_slice(name.as_str().as_bytes());
            dst.extend_from_slice(b": ");
            dst.extend_from_slice(value.as_bytes());
            dst.extend_from_slice(CRLF);
        }
    }
    dst.extend_from_slice(CRLF);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::h1::decode::{Decoded, Decoder};
    use bytes::BytesMut;
    use proptest::prelude::*;

    fn opts(framing: Framing) -> HeadOptions<'static> {
        HeadOptions {
            framing,
            head_length: None,
            close: false,
            confirm_keep_alive: false,
            keep_alive_line: Some(b"keep-alive: timeout=60\r\n"),
            upgrade: false,
        }
    }

    #[test]
    fn head_bytes() {
        let mut h = HeaderMap::new();
        h.insert("content-type", "text/plain".parse().unwrap());
        h.insert("date", "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap());
        h.insert("content-length", "999".parse().unwrap());
        let mut out = Vec::new();
        write_head(
            &mut out,
            StatusCode::NOT_FOUND,
            &h,
            &opts(Framing::Length(3)),
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\n\
             date: Sun, 06 Nov 1994 08:49:37 GMT\r\ncontent-length: 3\r\n\
             keep-alive: timeout=60\r\n\r\n"
        );
    }

    #[test]
    fn the_handlers_framing_fields_are_noted_not_written() {
        let mut h = HeaderMap::new();
        h.append("connection", "keep-alive, Close".parse().unwrap());
        h.append("content-length", "12".parse().unwrap());
        h.append("content-length", " 7 ".parse().unwrap());
        h.append("transfer-encoding", "chunked".parse().unwrap());
        h.append("x-a", "b".parse().unwrap());
        let mut out = Vec::new();
        let mut seen = None;
        let decided = write_head_with(&mut out, StatusCode::OK, &h, |declared| {
            seen = Some(declared);
            HeadOptions {
                close: declared.close,
                ..opts(Framing::Length(declared.length.unwrap_or(0)))
            }
        });
        assert_eq!(
            seen,
            Some(Declared {
                close: true,
                length: Some(7)
            })
        );
        assert_eq!(decided.framing, Framing::Length(7));
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\nx-a: b\r\ncontent-length: 7\r\ndate: "),
            "{text}"
        );
        assert!(
            text.ends_with(" GMT\r\nconnection: close\r\n\r\n"),
            "{text}"
        );

        // A last value that is not a number declares nothing; no Connection, no close.
        let mut h = HeaderMap::new();
        h.append("content-length", "5".parse().unwrap());
        h.append("content-length", "five".parse().unwrap());
        let mut seen = None;
        write_head_with(&mut Vec::new(), StatusCode::OK, &h, |declared| {
            seen = Some(declared);
            opts(Framing::Chunked)
        });
        assert_eq!(seen, Some(Declared::default()));
    }

    fn encode_chunked(pieces: &[Vec<u8>], trailers: Option<&HeaderMap>) -> Vec<u8> {
        let mut out = Vec::new();
        for p in pieces.iter().filter(|p| !p.is_empty()) {
            write_chunk_header(&mut out, p.len());
            out.extend_from_slice(p);
            out.extend_from_slice(CRLF);
        }
        write_chunked_end(&mut out, trailers);
        out
    }

    proptest! {
        /// Whatever the pieces and however the wire bytes are split, decoding what we encode
        /// gives back the same bytes and trailers, and nothing past the end is consumed.
        #[test]
        fn chunked_round_trip(
            pieces in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..12),
            split in 1usize..64,
            with_trailer in any::<bool>(),
        ) {
            let mut t = HeaderMap::new();
            t.insert("x-checksum", "abc".parse().unwrap());
            let wire = encode_chunked(&pieces, with_trailer.then_some(&t));
            let mut wire_plus = wire.clone();
            wire_plus.extend_from_slice(b"NEXT");
            let mut d = Decoder::chunked();
            let mut buf = BytesMut::new();
            let mut fed = 0;
            let mut body = Vec::new();
            let trailers = loop {
                match d.decode(&mut buf).unwrap() {
                    Decoded::Data(b) => body.extend_from_slice(&b),
                    Decoded::Done(t) => break t,
                    Decoded::NeedMore => {
                        let end = (fed + split).min(wire_plus.len());
                        prop_assert!(end > fed, "decoder wanted bytes past the end");
                        buf.extend_from_slice(&wire_plus[fed..end]);
                        fed = end;
                    }
                }
            };
            prop_assert_eq!(body, pieces.concat());
            prop_assert_eq!(trailers.is_some(), with_trailer);
            let mut rest = buf.to_vec();
            rest.extend_from_slice(&wire_plus[fed..]);
            prop_assert_eq!(rest, b"NEXT".to_vec());
        }
    }
}
