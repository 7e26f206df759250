//! The chunked body decoder alone, fed the same bytes split two different ways (and, inside
//! `decode_body_split`, in one piece): every outcome must be the same data, trailers, leftover
//! bytes, and error-or-not. Input layout: two sets of split points (a count byte and two bytes
//! each, see `nethttp::fuzzing::split_points`), then the body bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nethttp::fuzzing::{self, Framing};

fuzz_target!(|input: &[u8]| {
    let (a, rest) = fuzzing::split_points(input, 32);
    let (b, data) = fuzzing::split_points(rest, 32);
    let first = fuzzing::decode_body_split(Framing::Chunked, data, &a);
    let second = fuzzing::decode_body_split(Framing::Chunked, data, &b);
    assert_eq!(first, second, "chunked outcome depends on the split points");
});
