//! The client's deflate decoder (zlib, or raw deflate, told apart by the first two bytes).
//! Input layout: one mode byte, then split points (a count byte and two bytes each, see
//! `nethttp::fuzzing::split_points`), then the bytes. Mode bit 0 set: the bytes are plain
//! text, compressed by flate2 as zlib (bit 1 clear) or raw deflate (bit 1 set) at level
//! `mode >> 2` and decoded back (round trip). Otherwise the bytes are the body, after a valid
//! zlib header when bit 1 is set.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use nethttp::fuzzing::decode::{self, Coding};
use nethttp::fuzzing::split_points;

fuzz_target!(|input: &[u8]| {
    let [mode, rest @ ..] = input else {
        return;
    };
    let (splits, data) = split_points(rest, 32);
    if mode & 1 == 1 {
        let level = flate2::Compression::new(u32::from(mode >> 2) % 10);
        let packed = if mode & 2 == 2 {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), level);
            e.write_all(data).expect("writing to a Vec");
            e.finish().expect("writing to a Vec")
        } else {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), level);
            e.write_all(data).expect("writing to a Vec");
            e.finish().expect("writing to a Vec")
        };
        decode::roundtrip(Coding::Deflate, data, &packed, &splits);
    } else if mode & 2 == 2 {
        let mut body = vec![0x78, 0x9c];
        body.extend_from_slice(data);
        let shifted: Vec<usize> = splits.iter().map(|s| s + 2).collect();
        decode::decode_split(Coding::Deflate, &body, &shifted);
    } else {
        decode::decode_split(Coding::Deflate, data, &splits);
    }
});
