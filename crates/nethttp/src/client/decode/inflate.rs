//! One step of deflate (RFC 1951) inflation with flate2, shared by the gzip coding (deflate
//! inside a gzip member) and the deflate coding (inside zlib, or raw).

use flate2::{Decompress, FlushDecompress, Status};

use crate::error::{Error, Kind};

/// What one step did.
pub(super) struct Inflated {
    pub(super) used: usize,
    pub(super) written: usize,
    /// The deflate stream (and, for zlib, its Adler-32 check) ended.
    pub(super) end: bool,
}

/// Inflates from `input` into `out` as far as either allows.
pub(super) fn step(
    inflate: &mut Decompress,
    input: &[u8],
    out: &mut [u8],
    bad: &'static str,
) -> Result<Inflated, Error> {
    let (in_before, out_before) = (inflate.total_in(), inflate.total_out());
    let status = inflate
        .decompress(input, out, FlushDecompress::None)
        .map_err(|e| Error::with_cause(Kind::Decompress, bad, e))?;
    Ok(Inflated {
        used: (inflate.total_in() - in_before) as usize,
        written: (inflate.total_out() - out_before) as usize,
        end: status == Status::StreamEnd,
    })
}
