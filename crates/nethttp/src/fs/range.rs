//! `Range: bytes=...` requests (RFC 9110 §14): parsing a ranges specifier and choosing what
//! to send for a representation of a known length, with Go's `http.ServeContent` rules: an
//! unsatisfiable set (no range starts inside) is `416`, and a set that adds up to more bytes
//! than the whole is ignored (the whole is cheaper to send, and it defeats range floods).

/// One satisfiable range: `start..start + len` of the representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ByteRange {
    pub start: u64,
    pub len: u64,
}

impl ByteRange {
    /// The `Content-Range` value for this range of a `size`-byte representation.
    pub(crate) fn content_range(&self, size: u64) -> String {
        format!(
            "bytes {}-{}/{}",
            self.start,
            self.start + self.len - 1,
            size
        )
    }
}

/// What to send for a request's `Range`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ranges {
    /// No usable `Range`: the whole representation, `200`.
    Whole,
    /// `206` with these ranges (one: a single part; more: `multipart/byteranges`).
    Parts(Vec<ByteRange>),
    /// `416 Range Not Satisfiable` (with `Content-Range: bytes */SIZE`): no range starts
    /// inside.
    Unsatisfiable,
    /// `416` too, for a `bytes` set that does not parse (RFC 9110 §14.2 lets a server reject
    /// it, as Go does).
    Malformed,
}

/// Most ranges honoured in one request; a longer list is answered with the whole
/// representation (the same as ranges adding up past it).
const MAX_RANGES: usize = 64;

/// Chooses what to send for `header` (a `Range` field value) over `size` bytes.
///
/// RFC 9110 §14.1.1 (`bytes=first-last`, `first-`, `-suffix`), §14.2 (a server may ignore
/// `Range`): a unit other than `bytes` is ignored; syntax errors (`Malformed`) and ranges
/// that all start at or past the end (`Unsatisfiable`) are `416` (as Go); ranges starting
/// past the end are dropped; ranges
/// that together ask for more bytes than `size` are ignored (Go's rule, against
/// overlapping-range amplification).
pub(crate) fn select(header: &[u8], size: u64) -> Ranges {
    let Ok(header) = std::str::from_utf8(header) else {
        return Ranges::Malformed;
    };
    let header = header.trim();
    let Some(spec) = header.strip_prefix("bytes=") else {
        // Another unit (or none): not ours to honour.
        return Ranges::Whole;
    };
    let mut parts = Vec::new();
    let mut asked = 0usize;
    for item in spec.split(',') {
        let item = item.trim_matches([' ', '\t']);
        if item.is_empty() {
            // RFC 9110 §5.6.1: empty list elements are allowed and ignored.
            continue;
        }
        asked += 1;
        if asked > MAX_RANGES {
            return Ranges::Whole;
        }
        let Some((first, last)) = item.split_once('-') else {
            return Ranges::Malformed;
        };
        let (first, last) = (first.trim(), last.trim());
        let range = if first.is_empty() {
            // A suffix: the last `n` bytes.
            let Some(n) = parse_u64(last) else {
                return Ranges::Malformed;
            };
            if n == 0 || size == 0 {
                continue; // unsatisfiable on its own
            }
            let n = n.min(size);
            ByteRange {
                start: size - n,
                len: n,
            }
        } else {
            let Some(start) = parse_u64(first) else {
                return Ranges::Malformed;
            };
            let end = if last.is_empty() {
                None
            } else {
                match parse_u64(last) {
                    Some(e) if e >= start => Some(e),
                    _ => return Ranges::Malformed,
                }
            };
            if start >= size {
                continue; // starts past the end
            }
            let end = end.map_or(size - 1, |e| e.min(size - 1));
            ByteRange {
                start,
                len: end - start + 1,
            }
        };
        parts.push(range);
    }
    if parts.is_empty() {
        // `bytes=` with no range at all is ignored, as Go does; ranges that all start past
        // the end are not satisfiable.
        return if asked == 0 {
            Ranges::Whole
        } else {
            Ranges::Unsatisfiable
        };
    }
    let total: u64 = parts.iter().map(|r| r.len).fold(0, u64::saturating_add);
    if total > size {
        return Ranges::Whole;
    }
    Ranges::Parts(parts)
}

/// Digits only (no sign, no spaces), without overflow.
fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, len: u64) -> ByteRange {
        ByteRange { start, len }
    }

    #[test]
    fn single_ranges_of_each_form() {
        assert_eq!(select(b"bytes=0-4", 10), Ranges::Parts(vec![r(0, 5)]));
        assert_eq!(select(b"bytes=5-", 10), Ranges::Parts(vec![r(5, 5)]));
        assert_eq!(select(b"bytes=-3", 10), Ranges::Parts(vec![r(7, 3)]));
        // A last position past the end is clamped; a suffix longer than the whole is all.
        assert_eq!(select(b"bytes=8-100", 10), Ranges::Parts(vec![r(8, 2)]));
        assert_eq!(select(b"bytes=-100", 10), Ranges::Parts(vec![r(0, 10)]));
        assert_eq!(r(8, 2).content_range(10), "bytes 8-9/10");
    }

    #[test]
    fn several_ranges_and_the_ones_past_the_end() {
        assert_eq!(
            select(b"bytes=0-1, 4-5,,-2", 10),
            Ranges::Parts(vec![r(0, 2), r(4, 2), r(8, 2)])
        );
        // One starts past the end: dropped, the others stay.
        assert_eq!(select(b"bytes=0-1,20-30", 10), Ranges::Parts(vec![r(0, 2)]));
    }

    #[test]
    fn unsatisfiable_and_malformed_are_416() {
        for h in ["bytes=10-", "bytes=20-30", "bytes=-0", "bytes=10-,-0"] {
            assert_eq!(select(h.as_bytes(), 10), Ranges::Unsatisfiable, "{h}");
        }
        assert_eq!(select(b"bytes=0-", 0), Ranges::Unsatisfiable);
        assert_eq!(select(b"bytes=-5", 0), Ranges::Unsatisfiable);
        for h in [
            "bytes=5-4",
            "bytes=a-b",
            "bytes=1",
            "bytes=--1",
            "bytes=+1-2",
            "bytes=0-1,x",
            "bytes=99999999999999999999-",
        ] {
            assert_eq!(select(h.as_bytes(), 10), Ranges::Malformed, "{h}");
        }
        assert_eq!(select(b"bytes=\xff-", 10), Ranges::Malformed);
    }

    #[test]
    fn other_units_and_amplifying_sets_get_the_whole() {
        assert_eq!(select(b"items=0-4", 10), Ranges::Whole);
        assert_eq!(select(b"bytes=", 10), Ranges::Whole);
        assert_eq!(select(b"bytes=0-9,0-9", 10), Ranges::Whole);
        let many: String = (0..100).map(|i| format!("{i}-{i},")).collect();
        assert_eq!(
            select(format!("bytes={many}").as_bytes(), 1000),
            Ranges::Whole
        );
    }
}
