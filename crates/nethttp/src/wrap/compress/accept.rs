//! Whether a request's `Accept-Encoding` takes gzip, by RFC 9110 §12.5.3: the coding named
//! (`gzip`, or its alias `x-gzip`, §8.4.1.3) with a weight above zero, else `*` with one.
//! No field, or an empty one, takes no coding but identity.

use http::header::{HeaderMap, ACCEPT_ENCODING};

/// Whether `headers` accept a gzip-coded response.
pub(crate) fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut named: Option<bool> = None;
    let mut any: Option<bool> = None;
    for value in headers.get_all(ACCEPT_ENCODING) {
        let Ok(text) = value.to_str() else { continue };
        for item in text.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let Some(weight) = weight(parts) else {
                // A malformed weight: the member is ignored.
                continue;
            };
            let takes = weight > 0;
            if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                // The highest weight wins when a coding is listed twice.
                named = Some(named.unwrap_or(false) || takes);
            } else if coding == "*" {
                any = Some(any.unwrap_or(false) || takes);
            }
        }
    }
    named.or(any).unwrap_or(false)
}

/// The weight of a member's parameters, in thousandths (`q=1` → 1000); 1000 without one;
/// `None` for a malformed one.
fn weight<'a>(params: impl Iterator<Item = &'a str>) -> Option<u16> {
    let mut q = 1000;
    for p in params {
        let p = p.trim();
        if p.is_empty() {
            continue;
        }
        let (name, value) = p.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("q") {
            q = qvalue(value.trim())?;
        }
    }
    Some(q)
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in thousandths.
fn qvalue(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: u16 = 0;
    for (i, b) in frac.bytes().enumerate() {
        thousandths += u16::from(b - b'0') * [100, 10, 1][i];
    }
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn takes(fields: &[&str]) -> bool {
        let mut h = HeaderMap::new();
        for f in fields {
            h.append(ACCEPT_ENCODING, f.parse().unwrap());
        }
        accepts_gzip(&h)
    }

    #[test]
    fn negotiation_as_rfc_9110_says() {
        for yes in [
            &["gzip"][..],
            &["gzip, deflate, br"],
            &["br;q=1.0, gzip;q=0.8, *;q=0.1"],
            &["GZIP"],
            &["x-gzip"],
            &["*"],
            &["identity;q=1, *;q=0.5"],
            &["deflate", "gzip"],
            &["gzip;q=0, gzip;q=0.5"],
            &["gzip ; q=0.001"],
        ] {
            assert!(takes(yes), "{yes:?}");
        }
        for no in [
            &[][..],
            &[""],
            &["identity"],
            &["br, deflate"],
            &["gzip;q=0"],
            &["gzip;q=0.000"],
            &["*;q=0"],
            &["gzip;q=0, *"],
            &["gzip;q=2"],
            &["gzip;q=0.5555"],
            &["gzip;q=abc"],
            &["gzipx"],
        ] {
            assert!(!takes(no), "{no:?}");
        }
    }
}
