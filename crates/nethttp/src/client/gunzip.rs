//! Transparent gzip decompression of response bodies (RFC 9110 §8.4.1.3, format RFC 1952), as
//! Go's transport does when it asked for gzip itself: the body is inflated as it streams, at
//! most [`OUT_CHUNK`] bytes per frame whatever the compression ratio, so a small hostile body
//! cannot make one read allocate without bound. Each member's CRC-32 and length are checked;
//! several members in a row are one body; trailers pass through.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use flate2::{Crc, Decompress, FlushDecompress, Status};
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH};
use http::{HeaderMap, Response};
use http_body::{Body as _, Frame, SizeHint};

use crate::body::Body;
use crate::error::{Error, Kind};

/// Most decompressed bytes handed out in one frame.
pub(crate) const OUT_CHUNK: usize = 32 * 1024;

/// Most header bytes (name, comment, extra field) accepted before the deflate data.
const MAX_HEADER: usize = 64 * 1024;

/// Marks a response the client inflated: it came with `Content-Encoding: gzip`, which was
/// removed along with its `Content-Length` (Go's `Response.Uncompressed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decompressed;

/// The response as the caller gets it: inflated if the client asked for gzip (`asked`) and
/// the server used it, failing once it inflates past `limit` bytes (if any).
pub(crate) fn response(res: Response<Body>, asked: bool, limit: Option<u64>) -> Response<Body> {
    if !asked {
        return res;
    }
    let mut codings = res.headers().get_all(CONTENT_ENCODING).iter();
    let gzip = match (codings.next(), codings.next()) {
        (Some(v), None) => v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"gzip"),
        _ => false,
    };
    if !gzip {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    parts.headers.remove(CONTENT_ENCODING);
    parts.headers.remove(CONTENT_LENGTH);
    parts.extensions.insert(Decompressed);
    Response::from_parts(parts, Body::from_incoming(Gunzip::new(body, limit)))
}

/// A response body inflated on the fly.
pub(crate) struct Gunzip {
    inner: Body,
    inner_done: bool,
    /// Compressed bytes received and not yet consumed.
    input: BytesMut,
    state: State,
    inflate: Decompress,
    crc: Crc,
    /// Reused output buffer; each frame is copied out at its exact size.
    out: Vec<u8>,
    trailers: Option<HeaderMap>,
    /// Inflated bytes handed out so far, and the most allowed.
    inflated: u64,
    limit: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Deflate,
    Trailer,
    Done,
}

fn corrupt(msg: &'static str) -> Error {
    Error::new(Kind::Decompress, msg)
}

impl Gunzip {
    pub(crate) fn new(inner: Body, limit: Option<u64>) -> Gunzip {
        Gunzip {
            inner,
            inner_done: false,
            input: BytesMut::new(),
            state: State::Header,
            inflate: Decompress::new(false),
            crc: Crc::new(),
            out: Vec::new(),
            trailers: None,
            inflated: 0,
            limit,
        }
    }

    /// Pulls the next frame of the compressed body into `input`. `Ready(Ok(()))` when
    /// something changed (bytes, trailers, or the end).
    fn fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.inner_done {
            return Poll::Ready(Ok(()));
        }
        match ready!(Pin::new(&mut self.inner).poll_frame(cx)) {
            None => self.inner_done = true,
            Some(Err(e)) => return Poll::Ready(Err(e)),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => self.input.extend_from_slice(&data),
                Err(frame) => {
                    if let Ok(t) = frame.into_trailers() {
                        self.trailers = Some(t);
                    }
                }
            },
        }
        Poll::Ready(Ok(()))
    }

    /// One step of decoding with the bytes at hand. `Ok(Some(frame))` to hand out,
    /// `Ok(None)` when more input is needed (or the body ended: see `state`).
    fn step(&mut self) -> Result<Option<Bytes>, Error> {
        loop {
            match self.state {
                State::Header => {
                    if self.input.is_empty() {
                        // The end of the body here is its end (an empty body stays empty).
                        if self.inner_done {
                            self.state = State::Done;
                        }
                        return Ok(None);
                    }
                    match header_len(&self.input)? {
                        None if self.inner_done => {
                            return Err(corrupt("gzip body ends inside a member's header"))
                        }
                        None => return Ok(None),
                        Some(n) => {
                            self.input.advance(n);
                            self.inflate.reset(false);
                            self.crc.reset();
                            self.state = State::Deflate;
                        }
                    }
                }
                State::Deflate => {
                    if self.out.capacity() < OUT_CHUNK {
                        self.out.reserve_exact(OUT_CHUNK);
                    }
                    self.out.clear();
                    let before_in = self.inflate.total_in();
                    let status = self
                        .inflate
                        .decompress_vec(&self.input, &mut self.out, FlushDecompress::None)
                        .map_err(|e| Error::with_cause(Kind::Decompress, "bad gzip data", e))?;
                    let used = (self.inflate.total_in() - before_in) as usize;
                    self.input.advance(used);
                    self.crc.update(&self.out);
                    if status == Status::StreamEnd {
                        self.state = State::Trailer;
                    } else if self.out.is_empty() && used == 0 {
                        if self.inner_done {
                            return Err(corrupt("gzip body ends inside compressed data"));
                        }
                        return Ok(None);
                    }
                    if !self.out.is_empty() {
                        // Checked before the frame goes out: the caller never holds more
                        // than the limit, whatever the ratio (a 10 MB bomb inflates to 10 GB).
                        self.inflated += self.out.len() as u64;
                        if self.limit.is_some_and(|max| self.inflated > max) {
                            return Err(Error::new(
                                Kind::DecompressedTooLarge,
                                "the gzip body inflates past max_decompressed_bytes",
                            ));
                        }
                        return Ok(Some(Bytes::copy_from_slice(&self.out)));
                    }
                }
                State::Trailer => {
                    if self.input.len() < 8 {
                        if self.inner_done {
                            return Err(corrupt("gzip body ends inside a member's trailer"));
                        }
                        return Ok(None);
                    }
                    let crc = u32::from_le_bytes(self.input[..4].try_into().expect("4 bytes"));
                    let size = u32::from_le_bytes(self.input[4..8].try_into().expect("4 bytes"));
                    self.input.advance(8);
                    if crc != self.crc.sum() {
                        return Err(corrupt("gzip CRC-32 mismatch"));
                    }
                    if size != self.crc.amount() {
                        return Err(corrupt("gzip length mismatch"));
                    }
                    // Another member may follow (RFC 1952 §2.2).
                    self.state = State::Header;
                }
                State::Done => return Ok(None),
            }
        }
    }
}

/// The length of the member header at the start of `buf` (RFC 1952 §2.3.1), `None` if it
/// is not all there yet.
fn header_len(buf: &[u8]) -> Result<Option<usize>, Error> {
    const FHCRC: u8 = 0x02;
    const FEXTRA: u8 = 0x04;
    const FNAME: u8 = 0x08;
    const FCOMMENT: u8 = 0x10;
    let check = |n: usize| -> Result<(), Error> {
        if n > MAX_HEADER {
            return Err(corrupt("gzip member header too large"));
        }
        Ok(())
    };
    for (i, want) in [0x1f, 0x8b, 8].into_iter().enumerate() {
        match buf.get(i) {
            None => return Ok(None),
            Some(&b) if b != want => return Err(corrupt("not gzip data (bad magic or method)")),
            Some(_) => {}
        }
    }
    if buf.len() < 10 {
        return Ok(None);
    }
    let flags = buf[3];
    if flags & 0xe0 != 0 {
        return Err(corrupt("gzip header has reserved flags set"));
    }
    let mut at = 10;
    if flags & FEXTRA != 0 {
        let Some(len) = buf.get(at..at + 2) else {
            return Ok(None);
        };
        at += 2 + usize::from(u16::from_le_bytes([len[0], len[1]]));
        check(at)?;
        if buf.len() < at {
            return Ok(None);
        }
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            match buf[at..].iter().position(|&b| b == 0) {
                Some(end) => at += end + 1,
                None => {
                    check(buf.len())?;
                    return Ok(None);
                }
            }
            check(at)?;
        }
    }
    if flags & FHCRC != 0 {
        at += 2;
        if buf.len() < at {
            return Ok(None);
        }
    }
    Ok(Some(at))
}

impl http_body::Body for Gunzip {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        loop {
            if let Some(data) = this.step()? {
                return Poll::Ready(Some(Ok(Frame::data(data))));
            }
            if this.state == State::Done {
                if !this.input.is_empty() {
                    return Poll::Ready(Some(Err(corrupt("bytes after the gzip data"))));
                }
                return Poll::Ready(this.trailers.take().map(|t| Ok(Frame::trailers(t))));
            }
            if this.inner_done {
                // `step` turns every state into Done or an error once the input has ended.
                return Poll::Ready(Some(Err(corrupt("gzip body ended early"))));
            }
            ready!(this.fill(cx))?;
        }
    }

    fn is_end_stream(&self) -> bool {
        self.state == State::Done && self.input.is_empty() && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::write::GzEncoder;
    use flate2::{Compression, GzBuilder};

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// A body delivering `chunks` as separate frames, then `trailers`.
    fn body_of(chunks: Vec<Vec<u8>>, trailers: Option<HeaderMap>) -> Body {
        let (tx, body) = Body::channel(chunks.len() + 2);
        tokio::spawn(async move {
            for c in chunks {
                tx.send_data(Bytes::from(c)).await.unwrap();
            }
            if let Some(t) = trailers {
                tx.send_trailers(t).await.unwrap();
            }
        });
        body
    }

    /// Everything the decoder hands out: data, largest frame, trailers, or the error.
    async fn drain(body: Body) -> Result<(Vec<u8>, usize, Option<HeaderMap>), Error> {
        let mut g = Gunzip::new(body, None);
        let (mut data, mut largest, mut trailers) = (Vec::new(), 0, None);
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut g).poll_frame(cx)).await {
            let frame = frame?;
            if let Some(d) = frame.data_ref() {
                assert!(!d.is_empty(), "empty data frame");
                largest = largest.max(d.len());
                data.extend_from_slice(d);
            } else {
                trailers = frame.into_trailers().ok();
            }
        }
        assert!(g.is_end_stream());
        Ok((data, largest, trailers))
    }

    fn text() -> Vec<u8> {
        (0..5000)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect()
    }

    #[tokio::test]
    async fn inflates_whatever_the_frame_boundaries() {
        let plain = text();
        let packed = gzip(&plain);
        for size in [1, 2, 7, 10, 11, 100, packed.len()] {
            let chunks = packed.chunks(size).map(<[u8]>::to_vec).collect();
            let (data, _, _) = drain(body_of(chunks, None)).await.unwrap();
            assert_eq!(data, plain, "chunks of {size}");
        }
    }

    #[tokio::test]
    async fn optional_header_fields_and_several_members() {
        let mut e = GzBuilder::new()
            .filename("f.txt")
            .comment("a comment")
            .extra(vec![1, 2, 3, 4])
            .write(Vec::new(), Compression::fast());
        e.write_all(b"first ").unwrap();
        let mut packed = e.finish().unwrap();
        packed.extend(gzip(b"second"));
        let chunks = packed.chunks(3).map(<[u8]>::to_vec).collect();
        let (data, _, _) = drain(body_of(chunks, None)).await.unwrap();
        assert_eq!(data, b"first second");
    }

    #[tokio::test]
    async fn a_bomb_comes_out_in_bounded_frames() {
        let plain = vec![0u8; 4 << 20];
        let packed = gzip(&plain);
        assert!(packed.len() < 8 * 1024, "{} bytes", packed.len());
        let (data, largest, _) = drain(body_of(vec![packed], None)).await.unwrap();
        assert_eq!(data.len(), plain.len());
        assert!(largest <= OUT_CHUNK, "{largest}");
    }

    #[tokio::test]
    async fn inflating_past_the_limit_is_a_typed_error_and_nothing_beyond_it_comes_out() {
        let packed = gzip(&vec![0u8; 1 << 20]);
        for limit in [0, 1, OUT_CHUNK as u64, 100_000, (1 << 20) - 1] {
            let mut g = Gunzip::new(body_of(vec![packed.clone()], None), Some(limit));
            let mut out = 0u64;
            let err = loop {
                match std::future::poll_fn(|cx| Pin::new(&mut g).poll_frame(cx)).await {
                    Some(Ok(f)) => out += f.into_data().map_or(0, |d| d.len() as u64),
                    Some(Err(e)) => break e,
                    None => panic!("limit {limit}: the whole body came out"),
                }
            };
            assert_eq!(err.kind(), Kind::DecompressedTooLarge, "{err}");
            assert!(err.is_body_too_large() && err.is_decompressed_too_large());
            assert!(out <= limit, "limit {limit}: {out} bytes out");
        }
        let mut g = Gunzip::new(body_of(vec![packed], None), Some(1 << 20));
        let mut out = 0;
        while let Some(f) = std::future::poll_fn(|cx| Pin::new(&mut g).poll_frame(cx)).await {
            out += f.unwrap().into_data().map_or(0, |d| d.len());
        }
        assert_eq!(out, 1 << 20, "exactly the limit passes");
    }

    #[tokio::test]
    async fn empty_stays_empty_and_trailers_pass() {
        let (data, _, _) = drain(Body::empty()).await.unwrap();
        assert!(data.is_empty());
        let mut t = HeaderMap::new();
        t.insert("x-sum", "1".parse().unwrap());
        let (data, _, trailers) = drain(body_of(vec![gzip(b"abc")], Some(t.clone())))
            .await
            .unwrap();
        assert_eq!(data, b"abc");
        assert_eq!(trailers, Some(t));
    }

    #[tokio::test]
    async fn damage_is_a_decompress_error() {
        let good = gzip(&text());
        let mut bad_crc = good.clone();
        let n = bad_crc.len();
        bad_crc[n - 8] ^= 1;
        let mut bad_len = good.clone();
        bad_len[n - 1] ^= 1;
        let truncated = good[..good.len() - 3].to_vec();
        let mut garbage_after = good.clone();
        garbage_after.extend_from_slice(b"junk");
        let mut bad_data = good.clone();
        bad_data[12] ^= 0xff;
        let cases: [(&str, Vec<u8>); 7] = [
            ("crc", bad_crc),
            ("length", bad_len),
            ("truncated", truncated),
            ("garbage after", garbage_after),
            ("bad data", bad_data),
            ("not gzip", b"plain text".to_vec()),
            (
                "reserved flags",
                vec![0x1f, 0x8b, 8, 0x20, 0, 0, 0, 0, 0, 0],
            ),
        ];
        for (name, bytes) in cases {
            let err = drain(body_of(vec![bytes], None)).await.expect_err(name);
            assert_eq!(err.kind(), Kind::Decompress, "{name}: {err}");
        }
    }
}
