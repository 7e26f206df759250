//! A request arriving in pieces: the head parser, then the body decoder its framing picks,
//! starting on the bytes the head left in the buffer. Input layout: one byte choosing
//! `max_head_bytes`, one choosing `max_uri_bytes`, then split points (a count byte and two
//! bytes each, see `nethttp::fuzzing::split_points`), then the bytes on the wire. The checks
//! are in `nethttp::fuzzing`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nethttp::fuzzing;

fuzz_target!(|input: &[u8]| {
    let [head_sel, uri_sel, rest @ ..] = input else {
        return;
    };
    // 255 is the server's default (64 KiB); otherwise small limits, so they are hit often.
    let max_head = if *head_sel == 255 {
        64 * 1024
    } else {
        16 + usize::from(*head_sel) * 16
    };
    let max_uri = (8 + usize::from(*uri_sel) * 4).min(max_head);
    let (splits, data) = fuzzing::split_points(rest, 32);
    fuzzing::request_split(data, &splits, max_head, max_uri);
});
