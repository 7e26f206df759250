//! The authority checks (`Host`, an absolute-form target, HTTP/2's `:authority`). Input
//! layout: one byte giving the length of the first value (mod the input's length), then the
//! first value, then the second. See `nethttp::fuzzing::host` for the invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nethttp::fuzzing::host;

fuzz_target!(|input: &[u8]| {
    let [len, rest @ ..] = input else {
        return;
    };
    let at = usize::from(*len) % (rest.len() + 1);
    let (a, b) = rest.split_at(at);
    host::authorities(a, b);
});
