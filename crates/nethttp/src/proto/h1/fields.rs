//! Header fields out of an httparse result without a copy per value, for request and response
//! heads alike: record where each field lies while httparse still borrows the buffer, freeze
//! the head once, then slice names and values out of it.

use std::mem::MaybeUninit;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};

/// Where a header's name and value lie in the head buffer: (offset, length) each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    pub name: (usize, usize),
    pub value: (usize, usize),
}

/// Up to `N` spans, in an array left uninitialised (zeroing it per head would cost more
/// than the parse) and filled in order.
pub(crate) struct Spans<const N: usize> {
    slots: [MaybeUninit<Span>; N],
    /// How many of `slots`, from the front, are written. Never above `N`.
    len: usize,
}

impl<const N: usize> Spans<N> {
    pub(crate) fn new() -> Self {
        Spans {
            slots: [const { MaybeUninit::uninit() }; N],
            len: 0,
        }
    }

    /// Appends a span; `false` (and nothing stored) when all `N` are taken.
    #[inline]
    pub(crate) fn push(&mut self, span: Span) -> bool {
        let Some(slot) = self.slots.get_mut(self.len) else {
            return false;
        };
        slot.write(span);
        self.len += 1;
        true
    }

    /// Forgets every span (the slots are plain data: nothing to drop).
    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// Records the spans of `fields`, which point into a buffer starting at `base`, after
    /// any already held (the first `N` in all).
    pub(crate) fn record(&mut self, fields: &[httparse::Header<'_>], base: *const u8) {
        let base = base as usize;
        for h in fields {
            let span = Span {
                name: (h.name.as_ptr() as usize - base, h.name.len()),
                value: (h.value.as_ptr() as usize - base, h.value.len()),
            };
            if !self.push(span) {
                break;
            }
        }
    }

    pub(crate) fn as_slice(&self) -> &[Span] {
        // SAFETY: `push` is the only writer: it writes `slots[len]` before counting it, and
        // `get_mut` keeps `len` within `N`; so `slots[..len]` are initialised `Span`s, which
        // have no drop and no invalid bit patterns to outlive. `MaybeUninit<Span>` has the
        // layout of `Span`.
        unsafe { std::slice::from_raw_parts(self.slots.as_ptr().cast::<Span>(), self.len) }
    }
}

/// The field at `span` of the frozen `head`. `None` if the name is not a valid header name.
pub(crate) fn field(head: &Bytes, span: Span) -> Option<(HeaderName, HeaderValue)> {
    let (ns, nl) = span.name;
    let (vs, vl) = span.value;
    let name = name(&head[ns..ns + nl])?;
    // SAFETY: httparse accepted every byte of this value, and it accepts exactly the bytes
    // `HeaderValue` allows (HTAB, SP..=0x7E, 0x80..=0xFF): checking again would only cost
    // time. The fuzz targets check this on every head they parse.
    let value = unsafe { HeaderValue::from_maybe_shared_unchecked(head.slice(vs..vs + vl)) };
    Some((name, value))
}

/// The header name spelled by `bytes`, or `None` if it is not a valid one. The names nearly
/// every request carries are matched here without the general path's lowercasing copy and
/// table walk; a constant matched exactly (case aside) is what that path would return.
#[inline]
fn name(bytes: &[u8]) -> Option<HeaderName> {
    use http::header;
    let known = match bytes.len() {
        4 if bytes.eq_ignore_ascii_case(b"host") => Some(header::HOST),
        6 if bytes.eq_ignore_ascii_case(b"accept") => Some(header::ACCEPT),
        10 if bytes.eq_ignore_ascii_case(b"connection") => Some(header::CONNECTION),
        10 if bytes.eq_ignore_ascii_case(b"user-agent") => Some(header::USER_AGENT),
        12 if bytes.eq_ignore_ascii_case(b"content-type") => Some(header::CONTENT_TYPE),
        14 if bytes.eq_ignore_ascii_case(b"content-length") => Some(header::CONTENT_LENGTH),
        _ => None,
    };
    match known {
        Some(name) => Some(name),
        None => HeaderName::from_bytes(bytes).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names_match_the_general_path() {
        for n in [
            "host",
            "Host",
            "HOST",
            "accept",
            "Connection",
            "User-Agent",
            "content-TYPE",
            "Content-Length",
            "hosT",
            "hostx",
            "acceptx",
            "content-lengt",
            "x-custom",
            "bad name",
            "",
        ] {
            assert_eq!(
                name(n.as_bytes()),
                HeaderName::from_bytes(n.as_bytes()).ok(),
                "{n:?}"
            );
        }
    }

    #[test]
    fn spans_hold_what_was_pushed_up_to_capacity() {
        let mut spans = Spans::<3>::new();
        assert!(spans.as_slice().is_empty());
        let s = |i| Span {
            name: (i, 1),
            value: (i + 1, 2),
        };
        for i in 0..3 {
            assert!(spans.push(s(i)));
        }
        assert!(!spans.push(s(9)), "a full set refuses more");
        assert_eq!(spans.as_slice(), &[s(0), s(1), s(2)]);
        spans.clear();
        assert!(spans.as_slice().is_empty());
        assert!(spans.push(s(5)));
        assert_eq!(spans.as_slice(), &[s(5)]);
    }
}
