//! The client's gzip decoder. Input layout: one mode byte, then split points (a count byte and
//! two bytes each, see `nethttp::fuzzing::split_points`), then the bytes. Mode bit 0 set: the
//! bytes are plain text, gzipped by flate2 at level `mode >> 1` and decoded back (round trip).
//! Otherwise the bytes are the body, after a valid 10-byte gzip header when bit 1 is set (so
//! the fuzzer reaches the deflate data and trailer instead of stopping at the magic).
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
        let level = flate2::Compression::new(u32::from(mode >> 1) % 10);
        let mut e = flate2::write::GzEncoder::new(Vec::new(), level);
        e.write_all(data).expect("writing to a Vec");
        let packed = e.finish().expect("writing to a Vec");
        decode::roundtrip(Coding::Gzip, data, &packed, &splits);
    } else if mode & 2 == 2 {
        let mut body = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
        body.extend_from_slice(data);
        let shifted: Vec<usize> = splits.iter().map(|s| s + 10).collect();
        decode::decode_split(Coding::Gzip, &body, &shifted);
    } else {
        decode::decode_split(Coding::Gzip, data, &splits);
    }
});
