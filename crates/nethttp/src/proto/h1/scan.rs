//! The request-head scanner for the common case: a complete, strictly well-formed head
//! (`METHOD SP target SP HTTP/1.x CRLF`, `name: value CRLF` fields, CRLF) is split into its
//! pieces in one pass, eight bytes at a time through values and targets. Anything else —
//! a partial head, the lenient forms RFC 9112 lets a server accept (bare LF, leading empty
//! lines), every error — is left to httparse and the checks around it, so this scanner
//! decides nothing: on every head it accepts it must return exactly what httparse finds,
//! which the differential property test below and the `h1_request` fuzz target hold it to.

use super::fields::{Span, Spans};
use crate::proto::swar::{below, equal, first_marked, word, HIGHS};
use crate::token::{is_tchar, trim};

/// Where the pieces of a scanned head lie in the buffer (offset, length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scanned {
    pub method: (usize, usize),
    pub target: (usize, usize),
    /// `HTTP/1.0` (else `HTTP/1.1`).
    pub http10: bool,
    /// The head's length, its final CRLF included.
    pub head_len: usize,
}

/// Skips request-target bytes (`0x21..=0x7E`, a strict subset of what httparse takes) from
/// `at`; returns where the run stops.
#[inline]
fn skip_target(buf: &[u8], mut at: usize) -> usize {
    while let Some(x) = word(buf, at) {
        let stop = below(x, 0x21) | equal(x, 0x7F) | (x & HIGHS);
        if stop != 0 {
            return at + first_marked(stop);
        }
        at += 8;
    }
    while at < buf.len() && (0x21..=0x7E).contains(&buf[at]) {
        at += 1;
    }
    at
}

/// Skips field-value bytes (HTAB, `0x20..=0x7E`, `0x80..=0xFF`: exactly httparse's set, and
/// `HeaderValue`'s) from `at`; returns where the run stops.
#[inline]
fn skip_value(buf: &[u8], mut at: usize) -> usize {
    while let Some(x) = word(buf, at) {
        let stop = below(x, 0x20) | equal(x, 0x7F);
        if stop == 0 {
            at += 8;
            continue;
        }
        at += first_marked(stop);
        if buf[at] != b'\t' {
            return at;
        }
        // An HTAB belongs to the value: go on after it.
        at += 1;
    }
    while at < buf.len() {
        let b = buf[at];
        if (b < 0x20 && b != b'\t') || b == 0x7F {
            break;
        }
        at += 1;
    }
    at
}

/// Scans a complete, strictly well-formed request head at the start of `buf`, putting its
/// fields' spans in `spans` (emptied first). `None` when the head is anything else, or has
/// more fields than `spans` holds: the caller then parses it with httparse.
pub(crate) fn scan<const N: usize>(buf: &[u8], spans: &mut Spans<N>) -> Option<Scanned> {
    spans.clear();
    // The method: upper-case letters (the common methods; one like `M-SEARCH` goes to
    // httparse), then one space.
    let mut at = buf.iter().position(|b| !b.is_ascii_uppercase())?;
    if at == 0 || buf[at] != b' ' {
        return None;
    }
    let method = (0, at);
    at += 1;
    let start = at;
    at = skip_target(buf, at);
    if at == start || buf.get(at) != Some(&b' ') {
        return None;
    }
    let target = (start, at - start);
    at += 1;
    // `HTTP/1.` and then `1` or `0` and CRLF (fixed-length compares, a few word loads).
    let version = buf.get(at..at + 10)?;
    if version[..7] != *b"HTTP/1." || version[8..] != *b"\r\n" {
        return None;
    }
    let http10 = match version[7] {
        b'1' => false,
        b'0' => true,
        _ => return None,
    };
    at += 10;
    loop {
        if *buf.get(at)? == b'\r' {
            if *buf.get(at + 1)? != b'\n' {
                return None;
            }
            return Some(Scanned {
                method,
                target,
                http10,
                head_len: at + 2,
            });
        }
        let name_at = at;
        // A field name is a token (httparse takes the same bytes).
        while at < buf.len() && is_tchar(buf[at]) {
            at += 1;
        }
        if at == name_at || *buf.get(at)? != b':' {
            return None;
        }
        let name = (name_at, at - name_at);
        at += 1;
        while at < buf.len() && matches!(buf[at], b' ' | b'\t') {
            at += 1;
        }
        let value_at = at;
        at = skip_value(buf, at);
        if buf.get(at..at + 2)? != b"\r\n" {
            return None;
        }
        // httparse leaves trailing whitespace out of the value (RFC 9112 §5: OWS around it
        // is not part of it); the leading is skipped already, so the trim keeps the start.
        // Most values end in a visible byte: then there is nothing to trim.
        let value_len = if at > value_at && !matches!(buf[at - 1], b' ' | b'\t') {
            at - value_at
        } else {
            trim(&buf[value_at..at]).len()
        };
        if !spans.push(Span {
            name,
            value: (value_at, value_len),
        }) {
            return None;
        }
        at += 2;
    }
}

/// What httparse makes of `buf`, in the scanner's terms: `None` unless it is a complete,
/// valid head with at most 8 fields. The reference the scanner is checked against.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn httparse_pieces(buf: &[u8]) -> Option<(Scanned, Vec<Span>)> {
    let mut headers = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; 8];
    let mut req = httparse::Request::new(&mut []);
    let httparse::Status::Complete(head_len) =
        req.parse_with_uninit_headers(buf, &mut headers).ok()?
    else {
        return None;
    };
    let base = buf.as_ptr() as usize;
    let at = |s: &[u8]| (s.as_ptr() as usize - base, s.len());
    let mut spans = Spans::<8>::new();
    spans.record(req.headers, buf.as_ptr());
    Some((
        Scanned {
            method: at(req.method?.as_bytes()),
            target: at(req.path?.as_bytes()),
            http10: req.version? == 0,
            head_len,
        },
        spans.as_slice().to_vec(),
    ))
}

/// The scanner's verdict on `buf` with room for 8 fields, in [`httparse_pieces`]' terms.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn scanned(buf: &[u8]) -> Option<(Scanned, Vec<Span>)> {
    let mut spans = Spans::<8>::new();
    scan(buf, &mut spans).map(|s| (s, spans.as_slice().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn scans_a_plain_head_and_leaves_what_follows() {
        let buf = b"GET /a?b=c HTTP/1.1\r\nHost: example.com \r\nX-Empty:\r\n\r\nGET";
        let (s, spans) = scanned(buf).expect("scanned");
        assert_eq!(&buf[s.method.0..][..s.method.1], b"GET");
        assert_eq!(&buf[s.target.0..][..s.target.1], b"/a?b=c");
        assert!(!s.http10);
        assert_eq!(&buf[s.head_len..], b"GET");
        let text: Vec<_> = spans
            .iter()
            .map(|sp| {
                (
                    &buf[sp.name.0..][..sp.name.1],
                    &buf[sp.value.0..][..sp.value.1],
                )
            })
            .collect();
        assert_eq!(
            text,
            [(&b"Host"[..], &b"example.com"[..]), (b"X-Empty", b"")]
        );
        assert_eq!(scanned(buf), httparse_pieces(buf));
    }

    #[test]
    fn leaves_everything_else_to_httparse() {
        for buf in [
            &b"GET / HTTP/1.1\r\nHost: a\r\n"[..],    // partial
            b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", // leading empty line
            b"GET / HTTP/1.1\nHost: a\n\n",           // bare LF
            b"GET  / HTTP/1.1\r\n\r\n",               // two spaces
            b"get / HTTP/1.1\r\n\r\n",                // lower-case method
            b"GET / HTTP/1.2\r\n\r\n",                // a later minor version
            b"GET / HTTP/2.0\r\n\r\n",                // another major version
            b"GET / HTTP/1.\x01\r\n\r\n",             // no minor digit
            b"GET / http/1.1\r\n\r\n",                // a lower-case name
            b"GET / HTTP/1.1\r\r\n\r\n",              // CR CR
            b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",    // space before the colon
            b"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n",  // obs-fold
            b"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n",     // bare CR in a value
            b"GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n",    // DEL in a value
            b"GET /\xff HTTP/1.1\r\n\r\n",            // obs-text in the target
        ] {
            assert_eq!(scanned(buf), None, "{:?}", String::from_utf8_lossy(buf));
        }
        // More fields than the caller has room for.
        let many = b"GET / HTTP/1.1\r\na:1\r\nb:2\r\nc:3\r\n\r\n";
        let mut spans = Spans::<2>::new();
        assert_eq!(scan(many, &mut spans), None);
    }

    /// Mostly bytes a valid head may hold in that place (`ok`), now and then one that makes
    /// heads interesting: the structural ones, whitespace, controls, DEL and obs-text.
    fn piece(ok: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![
            80 => prop::sample::select(ok),
            1 => prop::sample::select(b"\r\n\t :\x00\x7f\x80\xff\"{}".to_vec()),
        ];
        prop::collection::vec(byte, 0..16)
    }

    /// Mostly valid heads, with a mistake in some: the differential property needs both the
    /// heads the scanner takes and the ones next to them.
    fn head() -> impl Strategy<Value = Vec<u8>> {
        const TARGET: &[u8] = b"aZ09/?=&%-_.~!$'()*+,;@:[]";
        const NAME: &[u8] = b"aZ09-_!#$%&'*+.^`|~";
        const VALUE: &[u8] = b"aZ09/?:-_.~ \t,;=()\"\x80\xff";
        let method = prop_oneof![
            8 => Just(b"GET".to_vec()),
            4 => Just(b"POST".to_vec()),
            1 => Just(b"get".to_vec()),
            1 => Just(b"M-SEARCH".to_vec()),
            1 => Just(Vec::new()),
        ];
        let version = prop_oneof![
            8 => Just(b" HTTP/1.1\r\n".to_vec()),
            4 => Just(b" HTTP/1.0\r\n".to_vec()),
            1 => Just(b" HTTP/1.1\n".to_vec()),
            1 => Just(b" HTTP/1.2\r\n".to_vec()),
            1 => Just(b"  HTTP/1.1\r\n".to_vec()),
        ];
        let field = (
            prop_oneof![
                2 => Just(b"Host".to_vec()),
                1 => Just(b"content-length".to_vec()),
                6 => piece(NAME),
            ],
            prop_oneof![
                8 => Just(b": ".to_vec()),
                4 => Just(b":".to_vec()),
                2 => Just(b":\t ".to_vec()),
                1 => Just(b" :".to_vec()),
            ],
            piece(VALUE),
            prop_oneof![
                20 => Just(b"\r\n".to_vec()),
                1 => Just(b"\n".to_vec()),
                1 => Just(b"\r\n ".to_vec()),
                1 => Just(b"\r".to_vec()),
            ],
        )
            .prop_map(|(n, c, v, e)| [n, c, v, e].concat());
        (
            prop_oneof![20 => Just(Vec::new()), 1 => Just(b"\r\n".to_vec())],
            method,
            prop_oneof![20 => Just(b" /".to_vec()), 1 => Just(b" ".to_vec())],
            piece(TARGET),
            version,
            prop::collection::vec(field, 0..6),
            prop_oneof![
                20 => Just(b"\r\n".to_vec()),
                1 => Just(b"\n".to_vec()),
                1 => Just(Vec::new()),
            ],
            prop::collection::vec(any::<u8>(), 0..8),
        )
            .prop_map(|(lead, m, slash, target, v, fields, end, tail)| {
                [lead, m, slash, target, v, fields.concat(), end, tail].concat()
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// The word-at-a-time skips stop where a byte-at-a-time loop does.
        #[test]
        fn skips_stop_at_the_first_byte_outside_the_set(
            buf in prop::collection::vec(
                prop_oneof![4 => 0x20u8..0x7f, 1 => any::<u8>()], 0..40),
            from in 0usize..8,
        ) {
            let from = from.min(buf.len());
            let scalar = |ok: fn(u8) -> bool| {
                from + buf[from..].iter().position(|&b| !ok(b)).unwrap_or(buf.len() - from)
            };
            prop_assert_eq!(skip_target(&buf, from), scalar(|b| (0x21..=0x7e).contains(&b)));
            prop_assert_eq!(
                skip_value(&buf, from),
                scalar(|b| b == b'\t' || (0x20..=0x7e).contains(&b) || b >= 0x80)
            );
        }

        /// Whatever the scanner accepts, httparse accepts with the same pieces.
        #[test]
        fn agrees_with_httparse(buf in head()) {
            if let Some(fast) = scanned(&buf) {
                prop_assert_eq!(Some(fast), httparse_pieces(&buf));
            }
        }

        /// Any bytes at all: the same, and no panic.
        #[test]
        fn agrees_with_httparse_on_any_bytes(buf in prop::collection::vec(any::<u8>(), 0..80)) {
            if let Some(fast) = scanned(&buf) {
                prop_assert_eq!(Some(fast), httparse_pieces(&buf));
            }
        }
    }

    /// The scanner takes the common heads: a property that held only because it declined
    /// everything would be empty.
    #[test]
    fn takes_the_heads_clients_send() {
        for buf in [
            &b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"[..],
            b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
            b"GET /index.html HTTP/1.0\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: text/html,*/*;q=0.8\r\nAccept-Language: en-US\tde\r\nCookie: a=\xc3\xa9\r\n\r\n",
        ] {
            let got = scanned(buf);
            assert!(got.is_some(), "{:?}", String::from_utf8_lossy(buf));
            assert_eq!(got, httparse_pieces(buf));
        }
    }
}
