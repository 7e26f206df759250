//! Transparent decoding of response bodies (RFC 9110 §8.4), as Go's transport does for gzip
//! when it asked for it itself: which codings the client asks for (gzip always; br, zstd and
//! deflate with their features), and the response as the caller gets it — `Content-Encoding`
//! read, each coding decoded in turn (the last applied first) through the one bounded
//! streaming body in `body`, `Content-Encoding` and `Content-Length` removed.
//!
//! A `Content-Encoding` naming any coding this build does not decode (`compress`, `identity`,
//! or `br` without the feature) leaves the response as it came, header and all: the caller
//! gets the bytes the server sent and the name of what they are.

pub(crate) mod body;
#[cfg(feature = "br")]
pub(crate) mod br;
#[cfg(feature = "deflate")]
pub(crate) mod deflate;
pub(crate) mod gzip;
mod inflate;
#[cfg(test)]
mod testing;
#[cfg(feature = "zstd")]
pub(crate) mod zstd;

use std::fmt;

use http::header::{CONTENT_ENCODING, CONTENT_LENGTH};
use http::{HeaderMap, HeaderValue, Response};

use crate::body::Body;
use crate::error::{Error, Kind};

use self::body::Decode;
#[cfg(feature = "br")]
use self::br::Brotli;
#[cfg(feature = "deflate")]
use self::deflate::Deflate;
use self::gzip::Gzip;
#[cfg(feature = "zstd")]
use self::zstd::Zstd;

/// The codings this build decodes, in the order `Accept-Encoding` lists them. No q-values:
/// each is decoded at about the speed of the others or faster (gzip ~330 MiB/s, br ~500,
/// zstd ~270 on one core), so the server may pick whichever it compresses best.
const CODINGS: &[&str] = &[
    "gzip",
    #[cfg(feature = "br")]
    "br",
    #[cfg(feature = "zstd")]
    "zstd",
    #[cfg(feature = "deflate")]
    "deflate",
];

const FIELD_NAME: &[u8] = b"accept-encoding: ";

/// `accept-encoding: gzip, br, zstd, deflate\r\n`, with this build's codings: the line the
/// HTTP/1.1 client writes, made at compile time.
pub(crate) const ACCEPT_ENCODING_FIELD: &[u8] = FIELD.0.split_at(FIELD.1).0;

/// The `Accept-Encoding` the client sends on a request that states none (and is not HEAD
/// nor a range): `gzip`, then `br`, `zstd` and `deflate` as their cargo features are on —
/// the codings it decodes itself. With all of them: `gzip, br, zstd, deflate`.
pub const ACCEPT_ENCODING: &str = {
    let value = ACCEPT_ENCODING_FIELD.split_at(FIELD_NAME.len()).1;
    match std::str::from_utf8(value.split_at(value.len() - 2).0) {
        Ok(v) => v,
        Err(_) => panic!("coding names are ASCII"),
    }
};

/// [`ACCEPT_ENCODING`] as a header value, checked at compile time: what HTTP/2 sends.
pub(crate) static ACCEPT_ENCODING_VALUE: HeaderValue = HeaderValue::from_static(ACCEPT_ENCODING);

const FIELD: ([u8; 64], usize) = field();

const fn field() -> ([u8; 64], usize) {
    let mut buf = [0u8; 64];
    let mut at = 0;
    let mut i = 0;
    while i < FIELD_NAME.len() {
        buf[at] = FIELD_NAME[i];
        at += 1;
        i += 1;
    }
    let mut c = 0;
    while c < CODINGS.len() {
        if c > 0 {
            buf[at] = b',';
            buf[at + 1] = b' ';
            at += 2;
        }
        let name = CODINGS[c].as_bytes();
        let mut i = 0;
        while i < name.len() {
            buf[at] = name[i];
            at += 1;
            i += 1;
        }
        c += 1;
    }
    buf[at] = b'\r';
    buf[at + 1] = b'\n';
    (buf, at + 2)
}

/// Most codings decoded on one response: more than any server stacks (one is the norm, two
/// is seen). Each is bounded by the limit on its own output, so this bounds the work too.
const MAX_CODINGS: usize = 4;

/// Marks a response the client decoded: it came with a `Content-Encoding` the client asked
/// for, which was removed along with its `Content-Length` (Go's `Response.Uncompressed`).
/// [`DecodedCodings`] says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decompressed;

/// The content codings of a response the client decoded, in the order the server applied
/// them (as its `Content-Encoding` listed them, names lowercased, `x-gzip` as `gzip`).
/// Displayed as the header was: `gzip, br`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DecodedCodings {
    codings: [Coding; MAX_CODINGS],
    len: usize,
}

impl DecodedCodings {
    /// The coding names, first applied first: `["gzip"]`, `["gzip", "br"]`.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.codings[..self.len].iter().map(|c| c.name())
    }
}

impl fmt::Debug for DecodedCodings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl fmt::Display for DecodedCodings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, name) in self.names().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Gzip,
    #[cfg(feature = "br")]
    Br,
    #[cfg(feature = "zstd")]
    Zstd,
    #[cfg(feature = "deflate")]
    Deflate,
}

impl Coding {
    /// A coding name as `Content-Encoding` lists it (case-insensitive, RFC 9110 §8.4.1);
    /// `x-gzip` is gzip (§8.4.1.3).
    fn parse(name: &[u8]) -> Option<Coding> {
        let is = |s: &str| name.eq_ignore_ascii_case(s.as_bytes());
        if is("gzip") || is("x-gzip") {
            return Some(Coding::Gzip);
        }
        #[cfg(feature = "br")]
        if is("br") {
            return Some(Coding::Br);
        }
        #[cfg(feature = "zstd")]
        if is("zstd") {
            return Some(Coding::Zstd);
        }
        #[cfg(feature = "deflate")]
        if is("deflate") {
            return Some(Coding::Deflate);
        }
        None
    }

    fn name(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            #[cfg(feature = "br")]
            Coding::Br => "br",
            #[cfg(feature = "zstd")]
            Coding::Zstd => "zstd",
            #[cfg(feature = "deflate")]
            Coding::Deflate => "deflate",
        }
    }

    /// `body` decoded from this coding, failing past `limit` decoded bytes.
    fn decode(self, body: Body, limit: Option<u64>) -> Body {
        match self {
            Coding::Gzip => Body::from_incoming(Decode::new(body, Gzip::new(), limit)),
            #[cfg(feature = "br")]
            Coding::Br => Body::from_incoming(Decode::new(body, Brotli::new(), limit)),
            #[cfg(feature = "zstd")]
            Coding::Zstd => Body::from_incoming(Decode::new(body, Zstd::new(), limit)),
            #[cfg(feature = "deflate")]
            Coding::Deflate => Body::from_incoming(Decode::new(body, Deflate::new(), limit)),
        }
    }
}

/// What a response's `Content-Encoding` asks of the client.
enum Listed {
    /// Nothing to decode: no coding, or one this build does not know.
    AsIs,
    /// More codings than [`MAX_CODINGS`], all known.
    TooMany,
    Decode(DecodedCodings),
}

fn listed(headers: &HeaderMap) -> Listed {
    let mut codings = DecodedCodings {
        codings: [Coding::Gzip; MAX_CODINGS],
        len: 0,
    };
    let mut too_many = false;
    for value in headers.get_all(CONTENT_ENCODING) {
        for name in value.as_bytes().split(|&b| b == b',') {
            let name = name.trim_ascii();
            if name.is_empty() {
                continue;
            }
            let Some(coding) = Coding::parse(name) else {
                return Listed::AsIs;
            };
            match codings.codings.get_mut(codings.len) {
                Some(slot) => {
                    *slot = coding;
                    codings.len += 1;
                }
                None => too_many = true,
            }
        }
    }
    match codings.len {
        _ if too_many => Listed::TooMany,
        0 => Listed::AsIs,
        _ => Listed::Decode(codings),
    }
}

/// The response as the caller gets it: decoded if the client asked for the codings itself
/// (`asked`) and the server used them, each coding's output failing past `limit` bytes (if
/// any). A response stacking more than four codings fails.
pub(crate) fn response(
    res: Response<Body>,
    asked: bool,
    limit: Option<u64>,
) -> Result<Response<Body>, Error> {
    // The path of every response that is not encoded: one header lookup.
    if !asked || !res.headers().contains_key(CONTENT_ENCODING) {
        return Ok(res);
    }
    let codings = match listed(res.headers()) {
        Listed::AsIs => return Ok(res),
        Listed::TooMany => {
            return Err(Error::new(
                Kind::Decompress,
                "the response's Content-Encoding stacks more than 4 codings; the client \
                 decodes at most 4",
            ))
        }
        Listed::Decode(codings) => codings,
    };
    let (mut parts, mut body) = res.into_parts();
    parts.headers.remove(CONTENT_ENCODING);
    parts.headers.remove(CONTENT_LENGTH);
    parts.extensions.insert(Decompressed);
    parts.extensions.insert(codings);
    // The last coding applied is undone first (RFC 9110 §8.4).
    for coding in codings.codings[..codings.len].iter().rev() {
        body = coding.decode(body, limit);
    }
    Ok(Response::from_parts(parts, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_lists_the_built_codings_in_order() {
        let mut want = String::from("gzip");
        for (on, name) in [
            (cfg!(feature = "br"), "br"),
            (cfg!(feature = "zstd"), "zstd"),
            (cfg!(feature = "deflate"), "deflate"),
        ] {
            if on {
                want.push_str(", ");
                want.push_str(name);
            }
        }
        assert_eq!(ACCEPT_ENCODING, want);
        assert_eq!(
            ACCEPT_ENCODING_FIELD,
            format!("accept-encoding: {want}\r\n").as_bytes()
        );
    }

    fn encoded(values: &[&str]) -> Response<Body> {
        let mut res = Response::builder().header(CONTENT_LENGTH, "10");
        for v in values {
            res = res.header(CONTENT_ENCODING, *v);
        }
        res.body(Body::empty()).unwrap()
    }

    fn names(res: &Response<Body>) -> Option<Vec<&'static str>> {
        let codings = res.extensions().get::<DecodedCodings>()?;
        Some(codings.names().collect())
    }

    #[test]
    fn which_responses_are_decoded() {
        let as_is = |values: &[&str]| {
            let res = response(encoded(values), true, None).unwrap();
            assert!(names(&res).is_none(), "{values:?}");
            assert_eq!(
                res.headers().get_all(CONTENT_ENCODING).iter().count(),
                values.len()
            );
            assert_eq!(res.headers()[CONTENT_LENGTH], "10");
        };
        as_is(&[]);
        as_is(&["compress"]);
        as_is(&["identity"]);
        as_is(&["gzip, compress"]);
        as_is(&["compress, gzip"]);
        as_is(&["gzip", "compress"]);
        as_is(&[" , "]);
        // Not asked for: the caller's own Accept-Encoding, or compression off.
        let res = response(encoded(&["gzip"]), false, None).unwrap();
        assert!(names(&res).is_none());
        assert_eq!(res.headers()[CONTENT_ENCODING], "gzip");

        let decoded = |values: &[&str], want: &[&str]| {
            let res = response(encoded(values), true, None).unwrap();
            assert_eq!(names(&res).as_deref(), Some(want), "{values:?}");
            assert!(res.headers().get(CONTENT_ENCODING).is_none());
            assert!(res.headers().get(CONTENT_LENGTH).is_none());
            assert_eq!(res.extensions().get::<Decompressed>(), Some(&Decompressed));
        };
        decoded(&["gzip"], &["gzip"]);
        decoded(&["GZip"], &["gzip"]);
        decoded(&["x-gzip"], &["gzip"]);
        decoded(&[" gzip ,, gzip"], &["gzip", "gzip"]);
        decoded(&["gzip", "gzip"], &["gzip", "gzip"]);
        #[cfg(all(feature = "br", feature = "zstd", feature = "deflate"))]
        {
            decoded(&["deflate, br", "zstd"], &["deflate", "br", "zstd"]);
            let res = response(encoded(&["gzip, br"]), true, None).unwrap();
            let codings = res.extensions().get::<DecodedCodings>().unwrap();
            assert_eq!(codings.to_string(), "gzip, br");
        }
        decoded(&["gzip, gzip, gzip, gzip"], &["gzip"; 4]);
        let err = response(encoded(&["gzip, gzip, gzip, gzip, gzip"]), true, None).unwrap_err();
        assert_eq!(err.kind(), Kind::Decompress, "{err}");
        // An unknown coding anywhere wins over the count: the response passes as it is.
        as_is(&["gzip, gzip, gzip, gzip, gzip, compress"]);
    }
}
