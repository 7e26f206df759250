//! The zstd coding (RFC 9110 §8.4.1, format RFC 8878, window RFC 9659) with ruzstd. ruzstd
//! decodes every whole block it is given before handing anything out, and a 4-byte block can
//! stand for 128 KiB, so this file finds the frame and block boundaries itself and gives it
//! one block at a time, taking out what it decoded before the next. That bounds what it
//! holds to the frame's window plus one block: at most 8 MiB + 128 KiB, as a frame needing a
//! larger window is refused (RFC 9659 §3; browsers and libzstd's default do the same).
//! Frames in a row are one body, skippable frames are skipped, and each frame's checksum and
//! content size are checked when it has them. Feature `zstd`.

use std::io::Read;

use ruzstd::decoding::FrameDecoder;

use super::body::{corrupt, Codec};
use crate::error::{Error, Kind};

/// Largest window a frame may ask for (RFC 9659 §3).
const MAX_WINDOW: u64 = 8 << 20;
/// Largest block, compressed or decoded (RFC 8878 §3.1.1.2.3).
const MAX_BLOCK: usize = 128 << 10;
const FRAME_MAGIC: u32 = 0xFD2F_B528;
/// Skippable frames have magic numbers 0x184D2A50 to 0x184D2A5F (RFC 8878 §3.1.2).
const SKIPPABLE_MAGIC: u32 = 0x184D_2A50;

pub(crate) struct Zstd {
    decoder: FrameDecoder,
    state: State,
    /// The current frame's Frame_Content_Size, when it states one.
    content_size: Option<u64>,
    /// Bytes the current frame decoded to so far.
    frame_out: u64,
    /// The current frame's Content_Checksum, once read.
    checksum: Option<u32>,
    has_checksum: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At a frame boundary: the body may end here.
    Magic,
    /// Inside a skippable frame, this many bytes to go.
    Skip(u32),
    /// The blocks of a frame.
    Blocks,
    /// After the last block, before its 4-byte checksum.
    Checksum,
    /// The frame's bytes are all in; handing out what the decoder still holds, then the
    /// checks.
    Drain,
}

impl Zstd {
    pub(crate) fn new() -> Zstd {
        let mut decoder = FrameDecoder::new();
        decoder.set_max_window_size(MAX_WINDOW);
        Zstd {
            decoder,
            state: State::Magic,
            content_size: None,
            frame_out: 0,
            checksum: None,
            has_checksum: false,
        }
    }

    /// Starts a frame from its whole header (`header`, magic included).
    fn start_frame(&mut self, header: &[u8], fields: &Fields) -> Result<(), Error> {
        if fields.window > MAX_WINDOW {
            return Err(corrupt("zstd frame needs a window over 8 MiB (RFC 9659)"));
        }
        self.decoder
            .reset(header)
            .map_err(|e| Error::with_cause(Kind::Decompress, "bad zstd frame header", e))?;
        self.content_size = fields.content_size;
        self.has_checksum = fields.checksum;
        self.checksum = None;
        self.frame_out = 0;
        self.state = State::Blocks;
        Ok(())
    }

    /// Hands out what the decoder holds and may let go of (all of it once the frame's
    /// blocks are in, else what is past the window).
    fn take(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        let n = self
            .decoder
            .read(out)
            .map_err(|e| Error::with_cause(Kind::Decompress, "bad zstd data", e))?;
        self.frame_out += n as u64;
        Ok(n)
    }

    /// The checks at the end of a frame, once all of it has been handed out.
    fn end_frame(&mut self) -> Result<(), Error> {
        if self.content_size.is_some_and(|n| n != self.frame_out) {
            return Err(corrupt("zstd frame content size mismatch"));
        }
        if let Some(want) = self.checksum {
            // The low 32 bits of the XXH64 of the frame's content (RFC 8878 §3.1.1).
            if self.decoder.get_calculated_checksum() != Some(want) {
                return Err(corrupt("zstd checksum mismatch"));
            }
        }
        self.state = State::Magic;
        Ok(())
    }
}

/// What the decoder needs from a frame header.
struct Fields {
    len: usize,
    window: u64,
    content_size: Option<u64>,
    checksum: bool,
}

/// The frame header at the start of `buf` (RFC 8878 §3.1.1.1), magic included; `None` if it
/// is not all there yet.
fn frame_header(buf: &[u8]) -> Result<Option<Fields>, Error> {
    let Some(&fhd) = buf.get(4) else {
        return Ok(None);
    };
    if fhd & 0x08 != 0 {
        return Err(corrupt("zstd frame header has the reserved bit set"));
    }
    let single_segment = fhd & 0x20 != 0;
    let window_len = usize::from(!single_segment);
    let dict_len = [0, 1, 2, 4][usize::from(fhd & 3)];
    let fcs_len = match fhd >> 6 {
        0 => usize::from(single_segment),
        1 => 2,
        2 => 4,
        _ => 8,
    };
    let len = 5 + window_len + dict_len + fcs_len;
    let Some(header) = buf.get(..len) else {
        return Ok(None);
    };
    let fcs_at = 5 + window_len + dict_len;
    let mut le = [0u8; 8];
    le[..fcs_len].copy_from_slice(&header[fcs_at..len]);
    let content_size = match fcs_len {
        0 => None,
        // The two-byte form is offset by 256.
        2 => Some(u64::from_le_bytes(le) + 256),
        _ => Some(u64::from_le_bytes(le)),
    };
    let window = if single_segment {
        content_size.unwrap_or(0)
    } else {
        let descriptor = header[5];
        let log = 10 + u32::from(descriptor >> 3);
        let base = 1u64 << log;
        base + (base / 8) * u64::from(descriptor & 7)
    };
    Ok(Some(Fields {
        len,
        window,
        content_size,
        checksum: fhd & 0x04 != 0,
    }))
}

impl Codec for Zstd {
    const TOO_LARGE: &'static str = "the zstd body decodes past max_decompressed_bytes";

    fn decode(&mut self, input: &[u8], out: &mut [u8]) -> Result<(usize, usize), Error> {
        let mut used = 0;
        loop {
            let rest = &input[used..];
            match self.state {
                State::Magic => {
                    let Some(magic) = rest.get(..4) else {
                        return Ok((used, 0));
                    };
                    let magic = u32::from_le_bytes([magic[0], magic[1], magic[2], magic[3]]);
                    if magic == FRAME_MAGIC {
                        let Some(fields) = frame_header(rest)? else {
                            return Ok((used, 0));
                        };
                        self.start_frame(&rest[..fields.len], &fields)?;
                        used += fields.len;
                    } else if magic & !0xf == SKIPPABLE_MAGIC {
                        let Some(len) = rest.get(4..8) else {
                            return Ok((used, 0));
                        };
                        used += 8;
                        self.state =
                            State::Skip(u32::from_le_bytes([len[0], len[1], len[2], len[3]]));
                    } else {
                        return Err(corrupt("not zstd data (bad magic)"));
                    }
                }
                State::Skip(0) => self.state = State::Magic,
                State::Skip(left) => {
                    if rest.is_empty() {
                        return Ok((used, 0));
                    }
                    // Skipped as it arrives: never held.
                    let n = rest.len().min(left as usize);
                    used += n;
                    self.state = State::Skip(left - n as u32);
                }
                State::Blocks => {
                    // What the last block decoded goes out before the next goes in.
                    let written = self.take(out)?;
                    if written > 0 {
                        return Ok((used, written));
                    }
                    let Some(head) = rest.get(..3) else {
                        return Ok((used, 0));
                    };
                    let head = u32::from_le_bytes([head[0], head[1], head[2], 0]);
                    let size = (head >> 3) as usize;
                    if size > MAX_BLOCK {
                        return Err(corrupt("zstd block larger than 128 KiB"));
                    }
                    let content = match (head >> 1) & 3 {
                        // Raw and compressed blocks carry `size` bytes; an RLE block one
                        // byte, repeated `size` times.
                        0 | 2 => size,
                        1 => 1,
                        _ => return Err(corrupt("zstd block of the reserved type")),
                    };
                    let Some(block) = rest.get(..3 + content) else {
                        return Ok((used, 0));
                    };
                    let (read, written) = self
                        .decoder
                        .decode_from_to(block, out)
                        .map_err(|e| Error::with_cause(Kind::Decompress, "bad zstd data", e))?;
                    if read != block.len() {
                        return Err(corrupt("bad zstd block"));
                    }
                    used += read;
                    self.frame_out += written as u64;
                    if head & 1 == 1 {
                        self.state = if self.has_checksum {
                            State::Checksum
                        } else {
                            State::Drain
                        };
                    }
                    if written > 0 {
                        return Ok((used, written));
                    }
                }
                State::Checksum => {
                    let Some(sum) = rest.get(..4) else {
                        return Ok((used, 0));
                    };
                    self.checksum = Some(u32::from_le_bytes([sum[0], sum[1], sum[2], sum[3]]));
                    used += 4;
                    self.state = State::Drain;
                }
                State::Drain => {
                    let written = self.take(out)?;
                    if written > 0 {
                        return Ok((used, written));
                    }
                    self.end_frame()?;
                }
            }
        }
    }

    fn may_end(&self) -> bool {
        self.state == State::Magic
    }

    fn truncated(&self) -> &'static str {
        match self.state {
            State::Magic => "zstd body ends inside a frame header",
            State::Skip(_) => "zstd body ends inside a skippable frame",
            State::Blocks => "zstd body ends inside a frame's blocks",
            State::Checksum => "zstd body ends before a frame's checksum",
            State::Drain => "zstd body ends inside a frame",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::body::OUT_CHUNK;
    use super::super::testing::{decode_all, text, zstd};
    use super::*;

    /// `zstandard.ZstdCompressor(write_checksum=True).compress(b"hello, zstd\n")` from
    /// Python: one single-segment frame (content size 12), one raw block, a checksum.
    const HELLO: [u8; 25] = [
        40, 181, 47, 253, 36, 12, 97, 0, 0, 104, 101, 108, 108, 111, 44, 32, 122, 115, 116, 100,
        10, 132, 88, 92, 160,
    ];

    /// A frame header with a 1 MiB window and no content size, checksum or dictionary.
    fn header_1mib_window() -> Vec<u8> {
        vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 10 << 3]
    }

    /// A block header: last flag, type (0 raw, 1 RLE, 2 compressed), size.
    fn block(last: bool, kind: u32, size: u32) -> [u8; 3] {
        let h = size << 3 | kind << 1 | u32::from(last);
        [h as u8, (h >> 8) as u8, (h >> 16) as u8]
    }

    async fn decoded(bytes: &[u8]) -> Result<Vec<u8>, Error> {
        decode_all(Zstd::new(), bytes, 5, None)
            .await
            .map(|(d, _)| d)
    }

    #[tokio::test]
    async fn frames_in_a_row_and_skippable_frames_are_one_body() {
        let mut body = HELLO.to_vec();
        // A skippable frame (magic 0x184D2A5A) of 6 bytes, then more frames.
        body.extend_from_slice(&[0x5a, 0x2a, 0x4d, 0x18, 6, 0, 0, 0, 1, 2, 3, 4, 5, 6]);
        body.extend_from_slice(&zstd(&text()));
        body.extend_from_slice(&HELLO);
        let mut want = b"hello, zstd\n".to_vec();
        want.extend_from_slice(&text());
        want.extend_from_slice(b"hello, zstd\n");
        assert!(decoded(&body).await.unwrap() == want);
    }

    #[tokio::test]
    async fn checksum_content_size_window_and_blocks_are_checked() {
        let mut bad_sum = HELLO;
        bad_sum[24] ^= 1;
        let mut bad_size = HELLO;
        bad_size[5] = 13;
        let mut reserved_bit = HELLO;
        reserved_bit[4] |= 0x08;
        // A 16 MiB window: past RFC 9659's 8 MiB.
        let mut big_window = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 14 << 3];
        big_window.extend_from_slice(&block(true, 0, 1));
        big_window.push(b'x');
        // A single-segment frame of 9 MiB declared content: its window is its content.
        let mut big_segment = vec![0x28, 0xb5, 0x2f, 0xfd, 0xa0];
        big_segment.extend_from_slice(&(9u32 << 20).to_le_bytes());
        big_segment.extend_from_slice(&block(true, 1, 100));
        big_segment.push(0);
        let mut reserved_block = header_1mib_window();
        reserved_block.extend_from_slice(&block(true, 3, 1));
        reserved_block.push(0);
        let mut huge_block = header_1mib_window();
        huge_block.extend_from_slice(&block(true, 1, (128 << 10) + 1));
        huge_block.push(0);
        let cases: [(&str, &[u8]); 7] = [
            ("checksum", &bad_sum),
            ("content size", &bad_size),
            ("reserved bit", &reserved_bit),
            ("16 MiB window", &big_window),
            ("9 MiB single segment", &big_segment),
            ("reserved block type", &reserved_block),
            ("block over 128 KiB", &huge_block),
        ];
        for (name, bytes) in cases {
            let err = decoded(bytes).await.expect_err(name);
            assert_eq!(err.kind(), Kind::Decompress, "{name}: {err}");
        }
        // An 8 MiB window is allowed.
        let mut eight = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 13 << 3];
        eight.extend_from_slice(&block(true, 0, 2));
        eight.extend_from_slice(b"ok");
        assert_eq!(decoded(&eight).await.unwrap(), b"ok");
    }

    /// 8192 RLE blocks of 128 KiB: 32 KB standing for 1 GiB. Handed to ruzstd at once it
    /// would decode all of it into its buffer before giving any out; the codec gives it the
    /// next block only once what it holds past the window is out, so it never holds more
    /// than the window and one block.
    #[tokio::test]
    async fn a_frame_of_rle_blocks_is_decoded_one_block_at_a_time() {
        let mut bomb = header_1mib_window();
        for i in 0..8192 {
            bomb.extend_from_slice(&block(i == 8191, 1, 128 << 10));
            bomb.push(0);
        }
        let mut z = Zstd::new();
        let mut out = vec![0; OUT_CHUNK];
        let (mut used, mut total) = (0, 0);
        while total < 64 << 20 {
            let (n, written) = z.decode(&bomb[used..], &mut out).unwrap();
            assert!(n > 0 || written > 0, "no progress with input there");
            assert!(written <= OUT_CHUNK);
            // Held past the 1 MiB window: at most one block's worth.
            assert!(
                z.decoder.can_collect() <= MAX_BLOCK,
                "{}",
                z.decoder.can_collect()
            );
            used += n;
            total += written;
        }
        assert!(used < 6 + 4 * 600, "{used} bytes taken for {total} out");
        let err = decode_all(Zstd::new(), &bomb, bomb.len(), Some(16 << 20))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), Kind::DecompressedTooLarge, "{err}");
    }
}
