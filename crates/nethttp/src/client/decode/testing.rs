//! Helpers for the codings' unit tests: an encoder for each coding built, a body that
//! delivers bytes in chunks of a chosen size, and decoding to the end.

use std::io::Write;
use std::pin::Pin;

use bytes::Bytes;
use http::HeaderMap;
use http_body::Body as _;

use super::body::{Codec, Decode};
use super::Coding;
use crate::body::Body;
use crate::error::Error;

pub(super) fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[cfg(feature = "deflate")]
pub(super) fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[cfg(feature = "deflate")]
pub(super) fn raw_deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[cfg(feature = "br")]
pub(super) fn br(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = ::brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        w.write_all(data).unwrap();
    }
    out
}

#[cfg(feature = "zstd")]
pub(super) fn zstd(data: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
}

pub(super) type Encode = fn(&[u8]) -> Vec<u8>;

/// Every coding this build decodes with an encoder for it (deflate twice: zlib and raw).
pub(super) fn encoders() -> Vec<(&'static str, Coding, Encode)> {
    vec![
        ("gzip", Coding::Gzip, gzip as Encode),
        #[cfg(feature = "br")]
        ("br", Coding::Br, br),
        #[cfg(feature = "zstd")]
        ("zstd", Coding::Zstd, zstd),
        #[cfg(feature = "deflate")]
        ("zlib", Coding::Deflate, zlib),
        #[cfg(feature = "deflate")]
        ("raw deflate", Coding::Deflate, raw_deflate),
    ]
}

/// About 50 KB of text that compresses well.
pub(super) fn text() -> Vec<u8> {
    (0..5000)
        .flat_map(|i| format!("line {i}\n").into_bytes())
        .collect()
}

/// A body delivering `bytes` in frames of `chunk` bytes, then `trailers`.
pub(super) fn body_of(bytes: &[u8], chunk: usize, trailers: Option<HeaderMap>) -> Body {
    let chunks: Vec<Bytes> = bytes
        .chunks(chunk.max(1))
        .map(Bytes::copy_from_slice)
        .collect();
    let (tx, body) = Body::channel(chunks.len() + 2);
    tokio::spawn(async move {
        for c in chunks {
            tx.send_data(c).await.unwrap();
        }
        if let Some(t) = trailers {
            tx.send_trailers(t).await.unwrap();
        }
    });
    body
}

/// Everything a decoded body hands out: the data, its largest frame, the trailers; or the
/// first error.
pub(super) async fn drain(mut body: Body) -> Result<(Vec<u8>, usize, Option<HeaderMap>), Error> {
    let (mut data, mut largest, mut trailers) = (Vec::new(), 0, None);
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame?;
        if let Some(d) = frame.data_ref() {
            assert!(!d.is_empty(), "empty data frame");
            largest = largest.max(d.len());
            data.extend_from_slice(d);
        } else {
            trailers = frame.into_trailers().ok();
        }
    }
    assert!(body.is_end_stream());
    Ok((data, largest, trailers))
}

/// `bytes` decoded by `codec`, delivered in chunks of `chunk`: the data and its largest frame.
pub(super) async fn decode_all<C: Codec>(
    codec: C,
    bytes: &[u8],
    chunk: usize,
    limit: Option<u64>,
) -> Result<(Vec<u8>, usize), Error> {
    let body = Body::from_incoming(Decode::new(body_of(bytes, chunk, None), codec, limit));
    drain(body).await.map(|(data, largest, _)| (data, largest))
}
