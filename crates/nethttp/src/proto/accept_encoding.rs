//! Which content codings a request's `Accept-Encoding` takes, and how much it wants each (RFC
//! 9110 §12.5.3): read once, for the file server's precompressed siblings and for
//! `wrap::compress`.

use http::header::{HeaderMap, ACCEPT_ENCODING};

/// A content coding the server can answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    /// Brotli (RFC 7932).
    Br,
    /// gzip (RFC 1952); `x-gzip` is its alias (RFC 9110 §8.4.1.3).
    Gzip,
}

impl Coding {
    /// Its `Content-Encoding` token.
    pub(crate) fn token(self) -> &'static str {
        match self {
            Coding::Br => "br",
            Coding::Gzip => "gzip",
        }
    }

    /// The suffix of a file precompressed in it (nginx's `gzip_static`).
    pub(crate) fn file_suffix(self) -> &'static str {
        match self {
            Coding::Br => ".br",
            Coding::Gzip => ".gz",
        }
    }
}

/// The weight a request gives each coding, in thousandths (`q=1` is 1000); 0 refuses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Accepted {
    pub(crate) br: u16,
    pub(crate) gzip: u16,
}

impl Accepted {
    /// Reads every `Accept-Encoding` field of `headers`. A coding takes the weight it is
    /// named with (the highest, if named twice), else the weight of `*`, else 0; a member
    /// whose weight is malformed is ignored. An empty field asks for no coding (§12.5.3). No
    /// field at all leaves the choice to the server, which the RFC warns the client may not
    /// decode: it gets no coding either, as from nginx and Go.
    pub(crate) fn of(headers: &HeaderMap) -> Accepted {
        let mut br = None;
        let mut gzip = None;
        let mut any = None;
        for value in headers.get_all(ACCEPT_ENCODING) {
            let Ok(text) = value.to_str() else { continue };
            for member in text.split(',') {
                let mut parts = member.split(';');
                let coding = parts.next().unwrap_or("").trim();
                let Some(q) = weight(parts) else { continue };
                let slot = if coding.eq_ignore_ascii_case("gzip")
                    || coding.eq_ignore_ascii_case("x-gzip")
                {
                    &mut gzip
                } else if coding.eq_ignore_ascii_case("br") {
                    &mut br
                } else if coding == "*" {
                    &mut any
                } else {
                    continue;
                };
                *slot = Some(slot.map_or(q, |held: u16| held.max(q)));
            }
        }
        Accepted {
            br: br.or(any).unwrap_or(0),
            gzip: gzip.or(any).unwrap_or(0),
        }
    }

    /// The codings taken, the most wanted first; on a tie brotli first (it codes smaller).
    /// RFC 9110 §12.5.3 leaves the choice among equal weights to the server.
    pub(crate) fn preferred(self) -> impl Iterator<Item = Coding> {
        let order = if self.gzip > self.br {
            [(Coding::Gzip, self.gzip), (Coding::Br, self.br)]
        } else {
            [(Coding::Br, self.br), (Coding::Gzip, self.gzip)]
        };
        order.into_iter().filter(|&(_, q)| q > 0).map(|(c, _)| c)
    }
}

/// The weight of a member's parameters, in thousandths; 1000 without one; `None` for a
/// malformed one. `weight = OWS ";" OWS "q=" qvalue` (§12.4.2); other parameters are
/// skipped.
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
    use proptest::prelude::*;

    fn of(fields: &[&str]) -> Accepted {
        let mut h = HeaderMap::new();
        for f in fields {
            h.append(ACCEPT_ENCODING, f.parse().unwrap());
        }
        Accepted::of(&h)
    }

    fn gzip(fields: &[&str]) -> bool {
        of(fields).gzip > 0
    }

    #[test]
    fn gzip_as_rfc_9110_says() {
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
            &["gzip;Q=1.000"],
        ] {
            assert!(gzip(yes), "{yes:?}");
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
            &["gzip;q=-1"],
            &["gzip;q=nan"],
            &["gzip;q=1.5"],
            &["gzipx"],
        ] {
            assert!(!gzip(no), "{no:?}");
        }
    }

    #[test]
    fn weights_order_the_codings_and_ties_go_to_brotli() {
        let order = |f: &str| of(&[f]).preferred().collect::<Vec<_>>();
        assert_eq!(order("gzip, deflate, br, zstd"), [Coding::Br, Coding::Gzip]);
        assert_eq!(order("br;q=0.5, gzip"), [Coding::Gzip, Coding::Br]);
        assert_eq!(order("br;q=0.9, gzip;q=0.8"), [Coding::Br, Coding::Gzip]);
        assert_eq!(order("br;q=0, gzip"), [Coding::Gzip]);
        assert_eq!(order("*;q=0.2, br;q=0.1"), [Coding::Gzip, Coding::Br]);
        assert_eq!(order("identity"), []);
        assert_eq!(
            of(&["br;q=0.25", "x-gzip;q=0.05, *;q=0.9"]),
            Accepted { br: 250, gzip: 50 }
        );
    }

    /// One member of a generated field: a coding (or noise) and its weight as written.
    fn member() -> impl Strategy<Value = (String, Option<String>)> {
        let coding = prop_oneof![
            Just("gzip".to_owned()),
            Just("x-gzip".to_owned()),
            Just("GZip".to_owned()),
            Just("br".to_owned()),
            Just("BR".to_owned()),
            Just("*".to_owned()),
            Just("identity".to_owned()),
            Just("deflate".to_owned()),
            "[a-z*-]{0,6}",
        ];
        let q = prop_oneof![
            Just("0".to_owned()),
            Just("1".to_owned()),
            Just("1.000".to_owned()),
            "0\\.[0-9]{0,3}",
            "[0-9.a-z-]{0,5}",
        ];
        (coding, proptest::option::of(q))
    }

    /// What a member's weight is by the grammar, written again plainly: `None` if malformed.
    fn model_q(q: &Option<String>) -> Option<u16> {
        let Some(q) = q else { return Some(1000) };
        if q == "1" || q.starts_with("1.") && q[2..].bytes().all(|b| b == b'0') {
            return (q.len() <= 5).then_some(1000);
        }
        let frac = q.strip_prefix("0")?;
        let digits = if frac.is_empty() {
            ""
        } else {
            frac.strip_prefix('.')?
        };
        if digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let padded = format!("{digits:0<3}");
        padded.parse().ok()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// Any field value: no panic, weights within 0..=1000, and `preferred` names only
        /// codings with a weight, most wanted first.
        #[test]
        fn any_value_reads_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut h = HeaderMap::new();
            if let Ok(v) = http::HeaderValue::from_bytes(&bytes) {
                h.append(ACCEPT_ENCODING, v);
            }
            let a = Accepted::of(&h);
            prop_assert!(a.br <= 1000 && a.gzip <= 1000);
            let order: Vec<_> = a.preferred().collect();
            let q = |c: &Coding| if *c == Coding::Br { a.br } else { a.gzip };
            prop_assert!(order.iter().all(|c| q(c) > 0));
            prop_assert!(order.windows(2).all(|w| q(&w[0]) >= q(&w[1])));
        }

        /// Generated lists agree with the rule written out member by member.
        #[test]
        fn lists_read_as_the_rule_says(members in proptest::collection::vec(member(), 0..6)) {
            let text = members
                .iter()
                .map(|(c, q)| match q {
                    Some(q) => format!("{c};q={q}"),
                    None => c.clone(),
                })
                .collect::<Vec<_>>()
                .join(", ");
            let Ok(value) = http::HeaderValue::from_str(&text) else { return Ok(()) };
            let mut h = HeaderMap::new();
            h.append(ACCEPT_ENCODING, value);
            let got = Accepted::of(&h);
            let best = |names: &[&str]| {
                members
                    .iter()
                    .filter(|(c, _)| names.iter().any(|n| c.eq_ignore_ascii_case(n)))
                    .filter_map(|(_, q)| model_q(q))
                    .max()
            };
            let any = best(&["*"]);
            prop_assert_eq!(got.gzip, best(&["gzip", "x-gzip"]).or(any).unwrap_or(0), "{}", text);
            prop_assert_eq!(got.br, best(&["br"]).or(any).unwrap_or(0), "{}", text);
        }
    }
}
