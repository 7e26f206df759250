//! Message body framing (RFC 9112 §6, §7.1), for requests and responses alike: a decoder that
//! takes body bytes off the front of the connection's read buffer — by Content-Length, by
//! parsing chunked encoding with its extensions and trailers (fields that must not be trailers
//! dropped), or up to end of stream — without copying data.
//!
//! Chunked parsing is strict where leniency enables smuggling: line ends must be CRLF, sizes
//! are 1–16 hex digits with no sign or leading space, and extensions and trailers are bounded.

use bytes::{Buf, Bytes, BytesMut};
use http::HeaderMap;

use crate::proto::trailers;

/// Most bytes of chunk extensions accepted on one chunk line (they are parsed, then ignored).
const MAX_CHUNK_EXT_BYTES: usize = 4096;
/// Most bytes of trailer section accepted.
pub(crate) const MAX_TRAILER_BYTES: usize = 16 * 1024;
/// Most trailer fields accepted.
pub(crate) const MAX_TRAILERS: usize = 64;

/// What one decode step produced.
#[derive(Debug, PartialEq)]
pub(crate) enum Decoded {
    /// Body bytes.
    Data(Bytes),
    /// The buffer holds no complete piece; read more.
    NeedMore,
    /// The body ended; trailers if the chunked body carried any.
    Done(Option<HeaderMap>),
}

/// Why a body's framing is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DecodeError(pub &'static str);

/// The state of one body being decoded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Decoder {
    /// Bytes still to come under Content-Length.
    Length(u64),
    /// Chunked transfer coding.
    Chunked(Chunked),
    /// The body runs until the peer closes the connection (a response without a length,
    /// RFC 9112 §6.3 point 8). The reader ends it when it sees end of stream.
    Eof,
    /// The body has been fully read.
    Done,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Chunked {
    state: ChunkState,
    /// The size being parsed, or the data left in the current chunk.
    size: u64,
    size_digits: u8,
    ext_bytes: usize,
    /// Bytes of the trailer section already searched for its end.
    trailer_scanned: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Reading hex digits of a chunk size.
    Size,
    /// After the size: optional whitespace before `;` or CR.
    SizeWs,
    /// Inside chunk extensions, up to CR.
    Ext,
    /// Inside a quoted extension value.
    ExtQuoted,
    /// After a backslash in a quoted extension value.
    ExtQuotedEscape,
    /// Expecting LF of the chunk-size line.
    SizeLf,
    /// Chunk data.
    Data,
    /// Expecting CR after chunk data.
    DataCr,
    /// Expecting LF after chunk data.
    DataLf,
    /// After the last chunk: reading the trailer section until an empty line.
    Trailers,
}

impl Decoder {
    pub(crate) fn length(n: u64) -> Decoder {
        if n == 0 {
            Decoder::Done
        } else {
            Decoder::Length(n)
        }
    }

    pub(crate) fn chunked() -> Decoder {
        Decoder::Chunked(Chunked {
            state: ChunkState::Size,
            size: 0,
            size_digits: 0,
            ext_bytes: 0,
            trailer_scanned: 0,
        })
    }

    pub(crate) fn is_done(&self) -> bool {
        matches!(self, Decoder::Done)
    }

    /// Bytes known to remain, when the framing says (Content-Length).
    pub(crate) fn remaining(&self) -> Option<u64> {
        match self {
            Decoder::Length(n) => Some(*n),
            Decoder::Done => Some(0),
            Decoder::Chunked(_) | Decoder::Eof => None,
        }
    }

    /// Takes the next piece of body from the front of `buf`.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, DecodeError> {
        match self {
            Decoder::Done => Ok(Decoded::Done(None)),
            Decoder::Eof if buf.is_empty() => Ok(Decoded::NeedMore),
            Decoder::Eof => Ok(Decoded::Data(buf.split().freeze())),
            Decoder::Length(rem) => {
                if buf.is_empty() {
                    return Ok(Decoded::NeedMore);
                }
                let n = (*rem).min(buf.len() as u64) as usize;
                *rem -= n as u64;
                let data = buf.split_to(n).freeze();
                if *rem == 0 {
                    *self = Decoder::Done;
                }
                Ok(Decoded::Data(data))
            }
            Decoder::Chunked(c) => {
                let out = c.decode(buf)?;
                if matches!(out, Decoded::Done(_)) {
                    *self = Decoder::Done;
                }
                Ok(out)
            }
        }
    }
}

impl Chunked {
    fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, DecodeError> {
        use ChunkState::*;
        loop {
            if self.state == Data {
                if buf.is_empty() {
                    return Ok(Decoded::NeedMore);
                }
                let n = self.size.min(buf.len() as u64) as usize;
                self.size -= n as u64;
                if self.size == 0 {
                    self.state = DataCr;
                }
                return Ok(Decoded::Data(buf.split_to(n).freeze()));
            }
            if self.state == Trailers {
                return self.trailers(buf);
            }
            let Some(&b) = buf.first() else {
                return Ok(Decoded::NeedMore);
            };
            buf.advance(1);
            match self.state {
                Size => match hex_value(b) {
                    Some(v) => {
                        // 16 hex digits fill a u64; more would overflow.
                        if self.size_digits == 16 {
                            return Err(DecodeError("chunk size too large"));
                        }
                        self.size = (self.size << 4) | u64::from(v);
                        self.size_digits += 1;
                    }
                    None if self.size_digits == 0 => {
                        return Err(DecodeError("invalid chunk size"));
                    }
                    None => self.after_size(b)?,
                },
                SizeWs => self.after_size(b)?,
                Ext => match b {
                    b'\r' => self.state = SizeLf,
                    b'"' => self.state = ExtQuoted,
                    b'\t' | b' '..=b'~' => {}
                    _ => return Err(DecodeError("invalid byte in chunk extension")),
                },
                ExtQuoted => match b {
                    b'"' => self.state = Ext,
                    b'\\' => self.state = ExtQuotedEscape,
                    b'\t' | b' '..=b'~' | 0x80..=0xff => {}
                    _ => return Err(DecodeError("invalid byte in chunk extension")),
                },
                ExtQuotedEscape => match b {
                    b'\t' | b' '..=b'~' | 0x80..=0xff => self.state = ExtQuoted,
                    _ => return Err(DecodeError("invalid byte in chunk extension")),
                },
                SizeLf => {
                    if b != b'\n' {
                        return Err(DecodeError("chunk size line not ended by CRLF"));
                    }
                    self.ext_bytes = 0;
                    self.size_digits = 0;
                    self.state = if self.size == 0 { Trailers } else { Data };
                }
                DataCr => {
                    if b != b'\r' {
                        return Err(DecodeError("chunk data not followed by CRLF"));
                    }
                    self.state = DataLf;
                }
                DataLf => {
                    if b != b'\n' {
                        return Err(DecodeError("chunk data not followed by CRLF"));
                    }
                    self.state = Size;
                }
                Data | Trailers => unreachable!("handled above"),
            }
            if matches!(self.state, Ext | ExtQuoted | ExtQuotedEscape) {
                self.ext_bytes += 1;
                if self.ext_bytes > MAX_CHUNK_EXT_BYTES {
                    return Err(DecodeError("chunk extensions too long"));
                }
            }
        }
    }

    /// After the size digits: BWS, then `;` (extensions) or CR.
    fn after_size(&mut self, b: u8) -> Result<(), DecodeError> {
        match b {
            b' ' | b'\t' => self.state = ChunkState::SizeWs,
            b';' => self.state = ChunkState::Ext,
            b'\r' => self.state = ChunkState::SizeLf,
            _ => return Err(DecodeError("invalid chunk size line")),
        }
        Ok(())
    }

    /// Parses the trailer section once it is complete in `buf` (it ends with an empty line).
    fn trailers(&mut self, buf: &mut BytesMut) -> Result<Decoded, DecodeError> {
        if buf.len() >= 2 && &buf[..2] == b"\r\n" {
            buf.advance(2);
            return Ok(Decoded::Done(None));
        }
        // Search only what arrived since the last look (and the 3 bytes before it, where a
        // CRLFCRLF may have started): a section dribbled in a byte at a time must not cost
        // time quadratic in its size.
        let from = self.trailer_scanned.saturating_sub(3);
        let end = match find(&buf[from..], b"\r\n\r\n") {
            Some(i) => from + i + 4,
            None => {
                if buf.len() > MAX_TRAILER_BYTES {
                    return Err(DecodeError("trailer section too large"));
                }
                self.trailer_scanned = buf.len();
                return Ok(Decoded::NeedMore);
            }
        };
        if end > MAX_TRAILER_BYTES {
            return Err(DecodeError("trailer section too large"));
        }
        // Strict CRLF here too: httparse takes a bare LF as a line end, so `0\r\n\n` would end
        // the section for it while the search above runs on to a later CRLFCRLF, swallowing
        // the bytes between (a pipelined request) as trailers.
        let section = &buf[..end];
        if section
            .iter()
            .enumerate()
            .any(|(i, &b)| b == b'\n' && (i == 0 || section[i - 1] != b'\r'))
        {
            return Err(DecodeError("trailer line not ended by CRLF"));
        }
        let mut fields = [httparse::EMPTY_HEADER; MAX_TRAILERS];
        let parsed = match httparse::parse_headers(section, &mut fields) {
            // httparse must end the section exactly at the empty line found above.
            Ok(httparse::Status::Complete((n, fields))) if n == end => fields,
            Ok(_) | Err(_) => {
                return Err(DecodeError("invalid trailer section"));
            }
        };
        let mut map = HeaderMap::with_capacity(parsed.len());
        for f in parsed {
            let name = http::HeaderName::from_bytes(f.name.as_bytes())
                .map_err(|_| DecodeError("invalid trailer name"))?;
            let value = http::HeaderValue::from_bytes(f.value)
                .map_err(|_| DecodeError("invalid trailer value"))?;
            // RFC 9110 §6.5.1: a field that must not be a trailer is dropped here, before the
            // handler (or, on the client, the caller) could mistake it for a header.
            if trailers::allowed(&name) {
                map.append(name, value);
            }
        }
        buf.advance(end);
        Ok(Decoded::Done((!map.is_empty()).then_some(map)))
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces of `step` bytes; returns the body and trailers.
    pub(crate) fn decode_all(
        input: &[u8],
        step: usize,
    ) -> Result<(Vec<u8>, Option<HeaderMap>), DecodeError> {
        let mut d = Decoder::chunked();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut fed = 0;
        loop {
            match d.decode(&mut buf)? {
                Decoded::Data(b) => out.extend_from_slice(&b),
                Decoded::Done(t) => return Ok((out, t)),
                Decoded::NeedMore => {
                    if fed >= input.len() {
                        return Err(DecodeError("eof"));
                    }
                    let end = (fed + step).min(input.len());
                    buf.extend_from_slice(&input[fed..end]);
                    fed = end;
                }
            }
        }
    }

    #[test]
    fn chunked_with_extensions_and_trailers_any_split() {
        let input = b"5;name=\"v;al\"\r\nhello\r\n6 ; x\r\n world\r\n0\r\nX-T: 1\r\nX-U: 2\r\n\r\n";
        for step in 1..input.len() {
            let (body, trailers) = decode_all(input, step).unwrap();
            assert_eq!(body, b"hello world", "step {step}");
            let t = trailers.unwrap();
            assert_eq!(t["x-t"], "1");
            assert_eq!(t["x-u"], "2");
        }
    }

    #[test]
    fn leaves_following_bytes_in_buffer() {
        let mut buf = BytesMut::from(&b"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1"[..]);
        let mut d = Decoder::chunked();
        assert_eq!(
            d.decode(&mut buf).unwrap(),
            Decoded::Data(Bytes::from_static(b"abc"))
        );
        assert_eq!(d.decode(&mut buf).unwrap(), Decoded::Done(None));
        assert!(d.is_done());
        assert_eq!(&buf[..], b"GET / HTTP/1.1");
    }

    #[test]
    fn invalid_chunked_is_rejected() {
        for bad in [
            &b"x\r\n"[..],
            b" 5\r\nhello\r\n0\r\n\r\n",
            b"-5\r\n",
            b"0x5\r\nhello\r\n0\r\n\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"5\r\nhelloXX0\r\n\r\n",
            b"5\r\nhello\n0\r\n\r\n",
            b"10000000000000000\r\n",
            b"5;\x01\r\nhello\r\n",
        ] {
            assert!(
                decode_all(bad, 1).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn extension_and_trailer_limits() {
        let mut long_ext = b"1;".to_vec();
        long_ext.extend(std::iter::repeat_n(b'a', MAX_CHUNK_EXT_BYTES + 1));
        long_ext.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
        assert_eq!(
            decode_all(&long_ext, 64).unwrap_err().0,
            "chunk extensions too long"
        );
        let mut big_trailer = b"0\r\nX: ".to_vec();
        big_trailer.extend(std::iter::repeat_n(b'a', MAX_TRAILER_BYTES));
        big_trailer.extend_from_slice(b"\r\n\r\n");
        assert_eq!(
            decode_all(&big_trailer, 512).unwrap_err().0,
            "trailer section too large"
        );
    }

    /// Fuzz finding (chunked): a bare LF ended the trailer section for httparse while the
    /// decoder consumed up to the next CRLFCRLF, swallowing the bytes between (here a pipelined
    /// request) as trailers. Every line of the trailer section must end in CRLF.
    #[test]
    fn trailer_lines_need_crlf() {
        for bad in [
            &b"0\r\n\n\r\n\r\n"[..],
            b"0\r\n\nGET /x HTTP/1.1\r\nHost: y\r\n\r\n",
            b"0\r\nX: 1\nY: 2\r\n\r\n",
            b"0\r\nX: 1\r\n\n\r\n\r\n",
        ] {
            for step in 1..=bad.len() {
                let err = decode_all(bad, step).unwrap_err();
                assert_eq!(
                    err.0, "trailer line not ended by CRLF",
                    "{bad:?} step {step}"
                );
            }
        }
        let (_, trailers) = decode_all(b"0\r\nX: 1\r\nY: 2\r\n\r\n", 1).unwrap();
        assert_eq!(trailers.unwrap().len(), 2);
    }

    #[test]
    fn length_decoder() {
        let mut d = Decoder::length(5);
        let mut buf = BytesMut::from(&b"hel"[..]);
        assert_eq!(
            d.decode(&mut buf).unwrap(),
            Decoded::Data(Bytes::from_static(b"hel"))
        );
        assert_eq!(d.remaining(), Some(2));
        assert_eq!(d.decode(&mut buf).unwrap(), Decoded::NeedMore);
        buf.extend_from_slice(b"loNEXT");
        assert_eq!(
            d.decode(&mut buf).unwrap(),
            Decoded::Data(Bytes::from_static(b"lo"))
        );
        assert!(d.is_done());
        assert_eq!(&buf[..], b"NEXT");
    }
}
