//! Eight bytes at a time ("SIMD within a register"): finding the first byte of a class in
//! a `u64` word without a branch per byte, for the request-head scanner.

const ONES: u64 = u64::from_le_bytes([0x01; 8]);
pub(crate) const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);

/// The bytes of `x` below `n` (n ≤ 0x80), as their high bits: the classic
/// `(x - n·ONES) & !x & HIGHS`. The lowest bit set marks exactly the first such byte
/// (a borrow only runs upward, into later bytes); bits above it may be false.
#[inline(always)]
pub(crate) fn below(x: u64, n: u8) -> u64 {
    x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS
}

/// The bytes of `x` equal to `b`, as [`below`] marks them.
#[inline(always)]
pub(crate) fn equal(x: u64, b: u8) -> u64 {
    below(x ^ (ONES * u64::from(b)), 1)
}

/// Eight bytes of `buf` from `at`, the first in the lowest bits, if there are eight.
#[inline(always)]
pub(crate) fn word(buf: &[u8], at: usize) -> Option<u64> {
    let bytes: [u8; 8] = buf.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}

/// Where the first byte marked in `mask` (from [`below`] or [`equal`], or several of them
/// or-ed: each one's lowest mark is exact, so theirs is) lies in its word.
#[inline(always)]
pub(crate) fn first_marked(mask: u64) -> usize {
    (mask.trailing_zeros() / 8) as usize
}
