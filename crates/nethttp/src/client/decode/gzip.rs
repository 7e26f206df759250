//! The gzip coding (RFC 9110 §8.4.1.3, format RFC 1952): member header, deflate data, CRC-32
//! and length checked against what was inflated; several members in a row are one body
//! (RFC 1952 §2.2). Always built, as in Go's transport.

use flate2::{Crc, Decompress};

use super::body::{corrupt, Codec};
use super::inflate;
use crate::error::Error;

/// Most header bytes (name, comment, extra field) accepted before the deflate data.
const MAX_HEADER: usize = 64 * 1024;

pub(crate) struct Gzip {
    state: State,
    inflate: Decompress,
    crc: Crc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before a member: the body may end here (after a whole member, or before any).
    Header,
    Deflate,
    Trailer,
}

impl Gzip {
    pub(crate) fn new() -> Gzip {
        Gzip {
            state: State::Header,
            inflate: Decompress::new(false),
            crc: Crc::new(),
        }
    }
}

impl Codec for Gzip {
    const TOO_LARGE: &'static str = "the gzip body inflates past max_decompressed_bytes";

    fn decode(&mut self, input: &[u8], out: &mut [u8]) -> Result<(usize, usize), Error> {
        let mut used = 0;
        loop {
            let rest = &input[used..];
            match self.state {
                State::Header => {
                    if rest.is_empty() {
                        return Ok((used, 0));
                    }
                    let Some(n) = header_len(rest)? else {
                        return Ok((used, 0));
                    };
                    used += n;
                    self.inflate.reset(false);
                    self.crc.reset();
                    self.state = State::Deflate;
                }
                State::Deflate => {
                    let step = inflate::step(&mut self.inflate, rest, out, "bad gzip data")?;
                    used += step.used;
                    self.crc.update(&out[..step.written]);
                    if step.end {
                        self.state = State::Trailer;
                    }
                    if step.written > 0 {
                        return Ok((used, step.written));
                    }
                    if !step.end && step.used == 0 {
                        return Ok((used, 0));
                    }
                }
                State::Trailer => {
                    let Some(trailer) = rest.get(..8) else {
                        return Ok((used, 0));
                    };
                    let crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
                    let size = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
                    if crc != self.crc.sum() {
                        return Err(corrupt("gzip CRC-32 mismatch"));
                    }
                    if size != self.crc.amount() {
                        return Err(corrupt("gzip length mismatch"));
                    }
                    used += 8;
                    // Another member may follow.
                    self.state = State::Header;
                }
            }
        }
    }

    fn may_end(&self) -> bool {
        self.state == State::Header
    }

    fn truncated(&self) -> &'static str {
        match self.state {
            State::Header => "gzip body ends inside a member's header",
            State::Deflate => "gzip body ends inside compressed data",
            State::Trailer => "gzip body ends inside a member's trailer",
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

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::{Compression, GzBuilder};

    use super::super::testing::{decode_all, gzip, text};
    use super::*;
    use crate::error::Kind;

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
        for size in [1, 3, 7, packed.len()] {
            let (data, _) = decode_all(Gzip::new(), &packed, size, None).await.unwrap();
            assert_eq!(data, b"first second", "chunks of {size}");
        }
    }

    #[tokio::test]
    async fn damage_is_a_decompress_error() {
        let good = gzip(&text());
        let n = good.len();
        let mut bad_crc = good.clone();
        bad_crc[n - 8] ^= 1;
        let mut bad_len = good.clone();
        bad_len[n - 1] ^= 1;
        let mut garbage_after = good.clone();
        garbage_after.extend_from_slice(b"junk");
        let mut bad_data = good.clone();
        bad_data[12] ^= 0xff;
        let cases: [(&str, Vec<u8>); 9] = [
            ("crc", bad_crc),
            ("length", bad_len),
            ("truncated in the data", good[..n / 2].to_vec()),
            ("truncated in the trailer", good[..n - 3].to_vec()),
            ("truncated in the header", good[..5].to_vec()),
            ("garbage after", garbage_after),
            ("bad data", bad_data),
            ("not gzip", b"plain text".to_vec()),
            (
                "reserved flags",
                vec![0x1f, 0x8b, 8, 0x20, 0, 0, 0, 0, 0, 0],
            ),
        ];
        for (name, bytes) in cases {
            let err = decode_all(Gzip::new(), &bytes, 7, None)
                .await
                .expect_err(name);
            assert_eq!(err.kind(), Kind::Decompress, "{name}: {err}");
        }
    }

    #[tokio::test]
    async fn a_header_that_never_ends_is_refused_at_its_bound() {
        // FNAME set, and a name that never ends: refused once past 64 KiB, not buffered on.
        let mut bytes = vec![0x1f, 0x8b, 8, 0x08, 0, 0, 0, 0, 0, 3];
        bytes.resize(MAX_HEADER + 100, b'a');
        let err = decode_all(Gzip::new(), &bytes, 1000, None)
            .await
            .expect_err("an endless name");
        assert_eq!(err.kind(), Kind::Decompress, "{err}");
    }
}
