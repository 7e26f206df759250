//! The br coding (RFC 9110 §8.4.1, format RFC 7932) with brotli-decompressor: one stream,
//! nothing after it. The decoder's window is at most 16 MiB (the format's largest: the
//! large-window extension, up to 1 GiB, is not brotli as HTTP means it and is refused), so
//! that, 32 KiB of output and its tables are all the memory a response can make it hold.
//! Feature `br`.

use brotli_decompressor::{BrotliDecompressStream, BrotliResult, BrotliState, StandardAlloc};

use super::body::{corrupt, Codec};
use crate::error::Error;

type State = BrotliState<StandardAlloc, StandardAlloc, StandardAlloc>;

pub(crate) struct Brotli {
    /// Boxed: the decoder's state is a few kilobytes of fixed tables.
    state: Box<State>,
    started: bool,
    done: bool,
}

impl Brotli {
    pub(crate) fn new() -> Brotli {
        let alloc = StandardAlloc::default;
        Brotli {
            // Strict: `BrotliState::new` accepts the large-window extension (windows up to
            // 1 GiB), which a hostile server could use to make the decoder allocate that much.
            state: Box::new(State::new_strict(alloc(), alloc(), alloc())),
            started: false,
            done: false,
        }
    }
}

impl Codec for Brotli {
    const TOO_LARGE: &'static str = "the br body decodes past max_decompressed_bytes";

    fn decode(&mut self, input: &[u8], out: &mut [u8]) -> Result<(usize, usize), Error> {
        if self.done {
            if input.is_empty() {
                return Ok((0, 0));
            }
            return Err(corrupt("bytes after the br data"));
        }
        self.started |= !input.is_empty();
        let (mut available_in, mut input_offset) = (input.len(), 0);
        let (mut available_out, mut output_offset) = (out.len(), 0);
        let mut total_out = 0;
        let result = BrotliDecompressStream(
            &mut available_in,
            &mut input_offset,
            input,
            &mut available_out,
            &mut output_offset,
            out,
            &mut total_out,
            &mut self.state,
        );
        match result {
            BrotliResult::ResultFailure => Err(corrupt("bad br data")),
            BrotliResult::ResultSuccess => {
                self.done = true;
                if input_offset < input.len() {
                    return Err(corrupt("bytes after the br data"));
                }
                Ok((input_offset, output_offset))
            }
            // More input, or room for more output: whatever was consumed and written.
            BrotliResult::NeedsMoreInput | BrotliResult::NeedsMoreOutput => {
                Ok((input_offset, output_offset))
            }
        }
    }

    fn may_end(&self) -> bool {
        self.done || !self.started
    }

    fn truncated(&self) -> &'static str {
        "br body ends inside compressed data"
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::decode_all;
    use super::*;
    use crate::error::Kind;

    /// `brotli.compress(b"hello, br\n")` from Python's brotli.
    const HELLO: [u8; 14] = [139, 4, 128, 104, 101, 108, 108, 111, 44, 32, 98, 114, 10, 3];

    #[tokio::test]
    async fn a_stream_from_the_reference_encoder() {
        for chunk in [1, 3, HELLO.len()] {
            let (data, _) = decode_all(Brotli::new(), &HELLO, chunk, None)
                .await
                .unwrap();
            assert_eq!(data, b"hello, br\n");
        }
        let mut damaged = HELLO;
        damaged[5] ^= 0x40;
        let err = decode_all(Brotli::new(), &damaged, 4, None).await;
        // A flipped literal still decodes (brotli has no checksum); the stream must still end
        // where it says, or fail.
        if let Err(e) = err {
            assert_eq!(e.kind(), Kind::Decompress, "{e}");
        }
    }

    /// The large-window extension (windows up to 1 GiB) is not brotli as HTTP's `br` means
    /// it (RFC 7932 allows windows up to 16 MiB): such a stream is refused at its header,
    /// whose first seven bits are 0x11 (then the window size and the first meta-block).
    #[tokio::test]
    async fn a_large_window_stream_is_refused() {
        let large = [0x11, 30, 0, 0, 0, 0, 0, 0, 0, 0];
        let err = decode_all(Brotli::new(), &large, 64, None)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), Kind::Decompress, "{err}");
        assert!(err.to_string().contains("bad br data"), "{err}");
    }
}
