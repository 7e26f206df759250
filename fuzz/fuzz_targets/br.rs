//! The client's br decoder. Input layout: one mode byte, then split points (a count byte and
//! two bytes each, see `nethttp::fuzzing::split_points`), then the bytes. Mode bit 0 set: the
//! bytes are plain text, compressed by the brotli crate at quality `(mode >> 1) % 12` and
//! decoded back (round trip). Otherwise the bytes are the body.
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
        let mut packed = Vec::new();
        {
            let quality = u32::from(mode >> 1) % 12;
            let mut w = brotli::CompressorWriter::new(&mut packed, 4096, quality, 22);
            w.write_all(data).expect("writing to a Vec");
        }
        decode::roundtrip(Coding::Br, data, &packed, &splits);
    } else {
        decode::decode_split(Coding::Br, data, &splits);
    }
});
