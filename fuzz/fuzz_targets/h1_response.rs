//! A response arriving in pieces at the client: the response head parser, then the body
//! decoder its framing picks. Input layout: one byte choosing `max_head_bytes`, one choosing
//! a GET or HEAD request, then split points (see `nethttp::fuzzing::split_points`), then the
//! bytes on the wire. The checks are in `nethttp::fuzzing`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nethttp::fuzzing;

fuzz_target!(|input: &[u8]| {
    let [head_sel, method_sel, rest @ ..] = input else {
        return;
    };
    let max_head = if *head_sel == 255 {
        1024 * 1024
    } else {
        16 + usize::from(*head_sel) * 16
    };
    let (splits, data) = fuzzing::split_points(rest, 32);
    fuzzing::response_split(data, &splits, max_head, method_sel & 1 == 1);
});
