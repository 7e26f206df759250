//! Fuzzing driver for the client's gzip decoder (`client::gunzip`): a compressed body arriving
//! in frames split where the fuzzer says, decoded the way a response body is read. Invariants:
//! no panic; the decoder never waits when all input is there; every data frame is non-empty
//! and at most `OUT_CHUNK` bytes; the outcome does not depend on the split (error or not, and
//! the same bytes, or on error the same prefix); and a body made by a real gzip encoder
//! decodes back to its input.

use std::collections::VecDeque;
use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http_body::{Body as _, Frame};

use crate::body::Body;
use crate::client::gunzip::{Gunzip, OUT_CHUNK};
use crate::error::Error;

/// What decoding made of an input: the bytes handed out, and whether it ended in an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GunzipOutcome {
    pub data: Vec<u8>,
    pub failed: bool,
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
fn decode(data: &[u8], splits: &[usize]) -> GunzipOutcome {
    let mut frames = VecDeque::new();
    let mut at = 0;
    for end in super::read_ends(data.len(), splits) {
        frames.push_back(Bytes::copy_from_slice(&data[at..end]));
        at = end;
    }
    let mut body = Gunzip::new(Body::from_incoming(Frames(frames)), None);
    let mut cx = Context::from_waker(Waker::noop());
    let mut out = Vec::new();
    loop {
        match Pin::new(&mut body).poll_frame(&mut cx) {
            Poll::Pending => panic!("gunzip waited with all its input there"),
            Poll::Ready(None) => {
                assert!(body.is_end_stream(), "ended but not end-of-stream");
                return GunzipOutcome {
                    data: out,
                    failed: false,
                };
            }
            Poll::Ready(Some(Err(_))) => {
                return GunzipOutcome {
                    data: out,
                    failed: true,
                }
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

/// Decodes `data` as a gzip body split at `splits` and in one piece; both must agree. On
/// failure only up to a prefix: bytes inflated before the bad spot are handed out as they
/// come, so more of them are out when the damage arrives in a later frame.
pub fn gunzip_split(data: &[u8], splits: &[usize]) -> GunzipOutcome {
    let split = decode(data, splits);
    let whole = decode(data, &[]);
    assert_eq!(
        split.failed, whole.failed,
        "gunzip failure depends on how the body was split"
    );
    if split.failed {
        let (short, long) = if split.data.len() <= whole.data.len() {
            (&split.data, &whole.data)
        } else {
            (&whole.data, &split.data)
        };
        assert!(
            long.starts_with(short),
            "a failed gunzip handed out different bytes by split"
        );
    } else {
        assert_eq!(
            split.data, whole.data,
            "gunzip data depends on how the body was split"
        );
    }
    split
}

/// Compresses `plain` with flate2's encoder (`level` 0-9), then decodes it split at `splits`:
/// the result must be `plain`, without error.
pub fn gunzip_roundtrip(plain: &[u8], level: u32, splits: &[usize]) {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level % 10));
    e.write_all(plain).expect("writing to a Vec");
    let packed = e.finish().expect("writing to a Vec");
    let got = gunzip_split(&packed, splits);
    assert!(!got.failed, "a valid gzip body failed to decode");
    assert_eq!(got.data, plain, "gzip round trip changed the bytes");
}
