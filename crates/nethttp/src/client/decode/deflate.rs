//! The deflate coding (RFC 9110 §8.4.1.2): the zlib format (RFC 1950: a two-byte header,
//! deflate data, an Adler-32 check) as the RFC says, or raw deflate (RFC 1951), which some
//! servers send under the same name. Told apart by the first two bytes, as browsers and curl
//! do: a valid zlib header (method 8, window at most 32 KiB, header check a multiple of 31)
//! means zlib, anything else raw deflate. Feature `deflate`.

use flate2::Decompress;

use super::body::{corrupt, Codec};
use super::inflate;
use crate::error::Error;

pub(crate) struct Deflate {
    /// Made once the first two bytes have said which format it is.
    inflate: Option<Decompress>,
    /// The deflate data ended (and its Adler-32 matched, for zlib).
    done: bool,
}

impl Deflate {
    pub(crate) fn new() -> Deflate {
        Deflate {
            inflate: None,
            done: false,
        }
    }
}

/// Whether a body starting with `cmf`, `flg` is zlib (RFC 1950 §2.2). A preset dictionary
/// (FDICT) is zlib too, and fails: HTTP gives no way to agree on one.
fn is_zlib(cmf: u8, flg: u8) -> bool {
    cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0
}

impl Codec for Deflate {
    const TOO_LARGE: &'static str = "the deflate body inflates past max_decompressed_bytes";

    fn decode(&mut self, input: &[u8], out: &mut [u8]) -> Result<(usize, usize), Error> {
        if self.done {
            if input.is_empty() {
                return Ok((0, 0));
            }
            return Err(corrupt("bytes after the deflate data"));
        }
        if self.inflate.is_none() {
            if let [cmf, flg, ..] = *input {
                self.inflate = Some(Decompress::new(is_zlib(cmf, flg)));
            }
        }
        let Some(inflate) = self.inflate.as_mut() else {
            return Ok((0, 0));
        };
        let step = inflate::step(inflate, input, out, "bad deflate data")?;
        self.done = step.end;
        Ok((step.used, step.written))
    }

    fn may_end(&self) -> bool {
        self.done || self.inflate.is_none()
    }

    fn truncated(&self) -> &'static str {
        "deflate body ends inside compressed data"
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::decode_all;
    use super::*;
    use crate::error::Kind;

    /// `zlib.compress(b"hello, deflate\n")` from Python: header 78 9c, Adler-32 at the end.
    const ZLIB: [u8; 23] = [
        120, 156, 203, 72, 205, 201, 201, 215, 81, 72, 73, 77, 203, 73, 44, 73, 229, 2, 0, 43, 237,
        5, 64,
    ];
    /// The same deflate data raw (`zlib.compressobj(wbits=-15)`), as some servers send it.
    const RAW: [u8; 17] = [
        203, 72, 205, 201, 201, 215, 81, 72, 73, 77, 203, 73, 44, 73, 229, 2, 0,
    ];

    async fn decoded(bytes: &[u8], chunk: usize) -> Result<Vec<u8>, Error> {
        decode_all(Deflate::new(), bytes, chunk, None)
            .await
            .map(|(d, _)| d)
    }

    #[tokio::test]
    async fn zlib_and_raw_deflate_are_both_read() {
        for chunk in [1, 2, 5, 100] {
            assert_eq!(decoded(&ZLIB, chunk).await.unwrap(), b"hello, deflate\n");
            assert_eq!(decoded(&RAW, chunk).await.unwrap(), b"hello, deflate\n");
        }
        assert!(is_zlib(0x78, 0x9c) && is_zlib(0x78, 0x01) && is_zlib(0x78, 0xda));
        assert!(is_zlib(0x08, 0x1d), "the smallest window");
        // Raw deflate's first bytes: no valid zlib header.
        assert!(!is_zlib(RAW[0], RAW[1]));
        assert!(!is_zlib(0x78, 0x9d), "header check not a multiple of 31");
        assert!(!is_zlib(0x88, 0x98), "window over 32 KiB");
    }

    #[tokio::test]
    async fn damage_is_a_decompress_error() {
        let mut bad_adler = ZLIB;
        bad_adler[22] ^= 1;
        // FDICT set (78 bb: a multiple of 31): a preset dictionary HTTP has no way to name.
        let mut dict = vec![0x78, 0xbb, 0, 0, 0, 1];
        dict.extend_from_slice(&ZLIB[2..]);
        let cases: [(&str, &[u8]); 4] = [
            ("adler-32", &bad_adler),
            ("preset dictionary", &dict),
            ("one byte", &ZLIB[..1]),
            ("raw, truncated", &RAW[..10]),
        ];
        for (name, bytes) in cases {
            let err = decoded(bytes, 3).await.expect_err(name);
            assert_eq!(err.kind(), Kind::Decompress, "{name}: {err}");
        }
    }
}
