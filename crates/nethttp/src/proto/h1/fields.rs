//! Header fields out of an httparse result without a copy per value, for request and response
//! heads alike: record where each field lies while httparse still borrows the buffer, freeze
//! the head once, then slice names and values out of it.

use std::mem::MaybeUninit;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};

/// Where a header's name and value lie in the head buffer: (offset, length) each.
#[derive(Clone, Copy)]
pub(crate) struct Span {
    name: (usize, usize),
    value: (usize, usize),
}

/// Records the spans of `fields`, which point into a buffer starting at `base`, in `out`
/// (uninitialised: zeroing it per head would cost more than the parse). Returns the spans.
pub(crate) fn record<'a, const N: usize>(
    fields: &[httparse::Header<'_>],
    base: *const u8,
    out: &'a mut [MaybeUninit<Span>; N],
) -> &'a [Span] {
    let base = base as usize;
    let n = fields.len().min(N);
    for (span, h) in out.iter_mut().zip(fields) {
        span.write(Span {
            name: (h.name.as_ptr() as usize - base, h.name.len()),
            value: (h.value.as_ptr() as usize - base, h.value.len()),
        });
    }
    // SAFETY: the loop initialised the first `n` entries (`zip` stops at the shorter side).
    unsafe { std::slice::from_raw_parts(out.as_ptr().cast::<Span>(), n) }
}

/// The field at `span` of the frozen `head`. `None` if the name is not a valid header name.
pub(crate) fn field(head: &Bytes, span: Span) -> Option<(HeaderName, HeaderValue)> {
    let (ns, nl) = span.name;
    let (vs, vl) = span.value;
    let name = HeaderName::from_bytes(&head[ns..ns + nl]).ok()?;
    // SAFETY: httparse accepted every byte of this value, and it accepts exactly the bytes
    // `HeaderValue` allows (HTAB, SP..=0x7E, 0x80..=0xFF): checking again would only cost
    // time. The fuzz targets check this on every head they parse.
    let value = unsafe { HeaderValue::from_maybe_shared_unchecked(head.slice(vs..vs + vl)) };
    Some((name, value))
}
