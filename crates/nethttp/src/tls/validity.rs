//! The validity window of an X.509 certificate (RFC 5280 §4.1.2.5), read from its DER: the
//! only field the client's self-signed-certificate check needs that webpki does not hand out.
//! A few lines of DER walking (tag, length, skip) rather than an X.509 crate: the input is
//! always a certificate the caller configured as trusted, and any surprise gives `None`.

/// `notBefore` and `notAfter`, in seconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Validity {
    pub not_before: u64,
    pub not_after: u64,
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const VERSION: u8 = 0xa0; // [0] EXPLICIT
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// The validity of the certificate `der`; `None` if it is not DER this walk understands.
///
/// Certificate ::= SEQUENCE { tbsCertificate, ... }; TBSCertificate ::= SEQUENCE { [0]
/// version OPTIONAL, serialNumber INTEGER, signature AlgorithmIdentifier (SEQUENCE), issuer
/// Name (SEQUENCE), validity SEQUENCE { notBefore Time, notAfter Time }, ... }.
pub(crate) fn validity(der: &[u8]) -> Option<Validity> {
    let (cert, _) = take(der, SEQUENCE)?;
    let (mut tbs, _) = take(cert, SEQUENCE)?;
    if tbs.first() == Some(&VERSION) {
        tbs = take(tbs, VERSION)?.1;
    }
    for tag in [INTEGER, SEQUENCE, SEQUENCE] {
        tbs = take(tbs, tag)?.1;
    }
    let (window, _) = take(tbs, SEQUENCE)?;
    let (not_before, rest) = time(window)?;
    let (not_after, rest) = time(rest)?;
    rest.is_empty().then_some(Validity {
        not_before,
        not_after,
    })
}

/// One element with tag `tag` at the front of `input`: its contents and what follows it.
/// Definite lengths only (DER), up to four length bytes.
fn take(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = input.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, after) = rest.split_at(n);
        rest = after;
        bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// A `Time` (UTCTime or GeneralizedTime, always UTC with seconds in a certificate: RFC 5280
/// §4.1.2.5.1-2) at the front of `input`, in Unix seconds.
fn time(input: &[u8]) -> Option<(u64, &[u8])> {
    let (year, digits, rest) = match *input.first()? {
        UTC_TIME => {
            let (t, rest) = take(input, UTC_TIME)?;
            let (yy, t) = (number(t.get(..2)?)?, t.get(2..)?);
            // §4.1.2.5.1: YY of 50 or more is 19YY, otherwise 20YY.
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, t, rest)
        }
        GENERALIZED_TIME => {
            let (t, rest) = take(input, GENERALIZED_TIME)?;
            (number(t.get(..4)?)?, t.get(4..)?, rest)
        }
        _ => return None,
    };
    if digits.len() != 11 || digits[10] != b'Z' {
        return None;
    }
    let field = |i: usize| number(&digits[i..i + 2]);
    let (month, day) = (field(0)?, field(2)?);
    let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day)?;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    Some((secs, rest))
}

/// ASCII digits as a number.
fn number(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |acc, &d| {
        d.is_ascii_digit().then(|| acc * 10 + u64::from(d - b'0'))
    })
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `days_from_civil`);
/// `None` before 1970, which no certificate this client meets needs.
fn days_from_civil(year: u64, month: u64, day: u64) -> Option<u64> {
    let y = if month <= 2 {
        year.checked_sub(1)?
    } else {
        year
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).checked_sub(719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(from: (i32, u8, u8), to: (i32, u8, u8)) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        params.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
        params.not_after = rcgen::date_time_ymd(to.0, to.1, to.2);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn reads_utc_and_generalized_times() {
        // rcgen writes UTCTime up to 2049 and GeneralizedTime from 2050 (RFC 5280).
        let v = validity(&cert((1975, 1, 1), (2049, 12, 31))).unwrap();
        assert_eq!(v.not_before, 157_766_400);
        assert_eq!(v.not_after, 2_524_521_600);
        let v = validity(&cert((2024, 2, 29), (2100, 3, 1))).unwrap();
        assert_eq!(v.not_before, 1_709_164_800);
        assert_eq!(v.not_after, 4_107_542_400);
    }

    #[test]
    fn anything_else_is_none_never_a_panic() {
        let good = cert((2020, 1, 1), (2030, 1, 1));
        for n in 0..good.len() {
            let _ = validity(&good[..n]);
        }
        let mut flipped = good.clone();
        for i in 0..flipped.len().min(200) {
            flipped[i] ^= 0xff;
            let _ = validity(&flipped);
            flipped[i] ^= 0xff;
        }
        assert!(validity(b"").is_none());
        assert!(validity(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_none());
        assert!(validity(&[0x30, 0x80, 0, 0]).is_none());
    }
}
