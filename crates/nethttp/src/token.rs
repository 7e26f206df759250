//! Tokens and field values as lists (RFC 9110 §5.6): which bytes make a token, whether a
//! comma-separated value names one, and the optional whitespace around its elements. Shared
//! by the HTTP/1.1 codec (field names, `Connection`, `Transfer-Encoding`, `Expect`), the
//! upgrade checks, the WebSocket handshake, the reverse proxy's `Via` and cookie names.

/// Whether the comma-separated field value `value` lists `token` (ASCII case ignored,
/// optional whitespace around each element, RFC 9110 §5.6.1): `Connection: keep-alive,
/// Upgrade` lists `upgrade`.
pub(crate) fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| trim(t).eq_ignore_ascii_case(token))
}

/// Which bytes are a `tchar` (RFC 9110 §5.6.2): letters, digits and ``!#$%&'*+-.^_`|~``.
const TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        b += 1;
    }
    t
};

/// Whether `b` is a `tchar`: one table lookup.
#[inline(always)]
pub(crate) fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

/// Whether `s` is a `token` (RFC 9110 §5.6.2): one or more `tchar`.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// `s` without the spaces and tabs (OWS, RFC 9110 §5.6.3) at either end.
pub(crate) fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |e| e + 1);
    &s[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_name_tokens_whatever_the_case_and_whitespace() {
        assert!(has_token(b"keep-alive, Upgrade", b"upgrade"));
        assert!(has_token(b" close\t", b"close"));
        assert!(!has_token(b"upgrades", b"upgrade"));
        assert!(!has_token(b"", b"close"));
        assert_eq!(trim(b" \t a b \t"), b"a b");
        assert_eq!(trim(b"   "), b"");
    }

    #[test]
    fn tchars_are_rfc_9110s() {
        let listed = b"!#$%&'*+-.^_`|~";
        for b in 0..=255u8 {
            assert_eq!(
                is_tchar(b),
                b.is_ascii_alphanumeric() || listed.contains(&b),
                "{b:#04x}"
            );
        }
        assert!(is_token("x-custom_1"));
        assert!(!is_token("a b") && !is_token("") && !is_token("a:b"));
    }
}
