//! The client's gzip decoder. Input layout: one mode byte, then split points (a count byte and
//! two bytes each, see `nethttp::fuzzing::split_points`), then the bytes. Mode bit 0 set: the
//! bytes are plain text, gzipped by flate2 at level `mode >> 1` and decoded back (round trip).
//! Otherwise the bytes are the body, after a valid 10-byte gzip header when bit 1 is set (so
//! the fuzzer reaches the deflate data and trailer instead of stopping at the magic).
#![no_main]

use libfuzzer_sys::fuzz_target;
use nethttp::fuzzing::{self, gunzip};

fuzz_target!(|input: &[u8]| {
    let [mode, rest @ ..] = input else {
        return;
    };
    let (splits, data) = fuzzing::split_points(rest, 32);
    if mode & 1 == 1 {
        gunzip::gunzip_roundtrip(data, u32::from(mode >> 1), &splits);
    } else if mode & 2 == 2 {
        let mut body = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
        body.extend_from_slice(data);
        let shifted: Vec<usize> = splits.iter().map(|s| s + 10).collect();
        gunzip::gunzip_split(&body, &shifted);
    } else {
        gunzip::gunzip_split(data, &splits);
    }
});
