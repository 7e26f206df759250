//! The trailer filter. Input layout: one mode byte. Even: split points (a count byte and two
//! bytes each, see `nethttp::fuzzing::split_points`), then a trailer section as received after
//! the last chunk. Odd: `name:value` lines (LF-separated) for a trailer map to send. See
//! `nethttp::fuzzing::trailers` for the invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nethttp::fuzzing::{self, trailers};

fuzz_target!(|input: &[u8]| {
    let [mode, rest @ ..] = input else {
        return;
    };
    if mode & 1 == 0 {
        let (splits, section) = fuzzing::split_points(rest, 32);
        trailers::received(section, &splits);
    } else {
        trailers::sent(rest);
    }
});
