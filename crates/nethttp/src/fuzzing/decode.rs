//! Fuzzing driver for the client's response decoders (`client::decode`: gzip always, br,
//! zstd and deflate with their features): an encoded body arriving in frames split where the
//! fuzzer says, decoded the way a response body is read. Invariants: no panic; the decoder
//! never waits when all input is there; every data frame is non-empty and at most
//! `OUT_CHUNK` bytes; the outcome does not depend on the split (error or not, and the same
//! bytes, or on error the same prefix); a body made by a real encoder (the fuzz targets
//! bring them) decodes back to its input. Decoding stops at 16 MiB, as a client's
//! `max_decompressed_bytes` would stop it, so a bomb the fuzzer finds is an error, not hours
//! of output.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http_body::{Body as _, Frame};

use crate::body::Body;
use crate::client::decode::body::{Codec, Decode, OUT_CHUNK};
#[cfg(feature = "br")]
use crate::client::decode::br::Brotli;
#[cfg(feature = "deflate")]
use crate::client::decode::deflate::Deflate;
use crate::client::decode::gzip::Gzip;
#[cfg(feature = "zstd")]
use crate::client::decode::zstd::Zstd;
use crate::error::{Error, Kind};

/// Most bytes decoded from one input.
const LIMIT: u64 = 16 << 20;

/// A content coding the client decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    #[cfg(feature = "br")]
    Br,
    #[cfg(feature = "zstd")]
    Zstd,
    #[cfg(feature = "deflate")]
    Deflate,
}

/// What decoding made of an input: the bytes handed out, and whether it ended in an error
/// (and whether that error was the 16 MiB limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeOutcome {
    pub data: Vec<u8>,
    pub failed: bool,
    pub too_large: bool,
}

/// A body whose frames are all there already.
struct Frames(VecDeque<Bytes>);

impl http_body::Body for Frames {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
    }
}

/// Decodes `data` delivered in frames ending at `splits` (see `super::split_points`).
fn decode(coding: Coding, data: &[u8], splits: &[usize]) -> DecodeOutcome {
    let mut frames = VecDeque::new();
    let mut at = 0;
    for end in super::read_ends(data.len(), splits) {
        frames.push_back(Bytes::copy_from_slice(&data[at..end]));
        at = end;
    }
    let inner = Body::from_incoming(Frames(frames));
    match coding {
        Coding::Gzip => run(Decode::new(inner, Gzip::new(), Some(LIMIT))),
        #[cfg(feature = "br")]
        Coding::Br => run(Decode::new(inner, Brotli::new(), Some(LIMIT))),
        #[cfg(feature = "zstd")]
        Coding::Zstd => run(Decode::new(inner, Zstd::new(), Some(LIMIT))),
        #[cfg(feature = "deflate")]
        Coding::Deflate => run(Decode::new(inner, Deflate::new(), Some(LIMIT))),
    }
}

fn run<C: Codec>(mut body: Decode<C>) -> DecodeOutcome {
    let mut cx = Context::from_waker(Waker::noop());
    let mut out = Vec::new();
    loop {
        match Pin::new(&mut body).poll_frame(&mut cx) {
            Poll::Pending => panic!("the decoder waited with all its input there"),
            Poll::Ready(None) => {
                assert!(body.is_end_stream(), "ended but not end-of-stream");
                return DecodeOutcome {
                    data: out,
                    failed: false,
                    too_large: false,
                };
            }
            Poll::Ready(Some(Err(e))) => {
                let too_large = e.kind() == Kind::DecompressedTooLarge;
                assert!(
                    too_large || e.kind() == Kind::Decompress,
                    "an error of kind {:?}: {e}",
                    e.kind()
                );
                assert!(
                    out.len() as u64 <= LIMIT,
                    "{} bytes out past the limit",
                    out.len()
                );
                return DecodeOutcome {
                    data: out,
                    failed: true,
                    too_large,
                };
            }
            Poll::Ready(Some(Ok(frame))) => {
                let d = frame.into_data().expect("only data frames were sent");
                assert!(!d.is_empty(), "empty data frame");
                assert!(d.len() <= OUT_CHUNK, "frame of {} bytes", d.len());
                out.extend_from_slice(&d);
            }
        }
    }
}

/// Decodes `data` as a body in `coding` split at `splits` and in one piece; both must
/// agree. On failure only up to a prefix: bytes decoded before the bad spot are handed out
/// as they come, so more of them are out when the damage arrives in a later frame.
pub fn decode_split(coding: Coding, data: &[u8], splits: &[usize]) -> DecodeOutcome {
    let split = decode(coding, data, splits);
    let whole = decode(coding, data, &[]);
    assert_eq!(
        split.failed, whole.failed,
        "{coding:?}: failure depends on how the body was split"
    );
    assert_eq!(
        split.too_large, whole.too_large,
        "{coding:?}: the limit is reached depending on how the body was split"
    );
    if split.failed {
        let (short, long) = if split.data.len() <= whole.data.len() {
            (&split.data, &whole.data)
        } else {
            (&whole.data, &split.data)
        };
        assert!(
            long.starts_with(short),
            "{coding:?}: a failed decode handed out different bytes by split"
        );
    } else {
        assert_eq!(
            split.data, whole.data,
            "{coding:?}: decoded data depends on how the body was split"
        );
    }
    split
}

/// Decodes `packed`, which a real encoder made from `plain`, split at `splits`: the result
/// must be `plain`, without error.
pub fn roundtrip(coding: Coding, plain: &[u8], packed: &[u8], splits: &[usize]) {
    let got = decode_split(coding, packed, splits);
    assert!(!got.failed, "{coding:?}: a valid body failed to decode");
    assert!(
        got.data == plain,
        "{coding:?}: the round trip changed the bytes"
    );
}
