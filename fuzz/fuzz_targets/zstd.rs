//! The client's zstd decoder (ruzstd fed one block at a time by `client::decode::zstd`).
//! Input layout: one mode byte, then split points (a count byte and two bytes each, see
//! `nethttp::fuzzing::split_points`), then the bytes. Mode bit 0 set: the bytes are plain
//! text, compressed by ruzstd's encoder (uncompressed or fastest by bit 1) and decoded back
//! (round trip). Otherwise the bytes are the body, after a valid frame header (1 MiB window)
//! when bit 1 is set, so the fuzzer reaches the blocks instead of stopping at the magic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nethttp::fuzzing::decode::{self, Coding};
use nethttp::fuzzing::split_points;
use ruzstd::encoding::{compress_to_vec, CompressionLevel};

fuzz_target!(|input: &[u8]| {
    let [mode, rest @ ..] = input else {
        return;
    };
    let (splits, data) = split_points(rest, 32);
    if mode & 1 == 1 {
        let level = if mode & 2 == 2 {
            CompressionLevel::Uncompressed
        } else {
            CompressionLevel::Fastest
        };
        let packed = compress_to_vec(data, level);
        decode::roundtrip(Coding::Zstd, data, &packed, &splits);
    } else if mode & 2 == 2 {
        let mut body = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 10 << 3];
        body.extend_from_slice(data);
        let shifted: Vec<usize> = splits.iter().map(|s| s + 6).collect();
        decode::decode_split(Coding::Zstd, &body, &shifted);
    } else {
        decode::decode_split(Coding::Zstd, data, &splits);
    }
});
