//! The PROXY protocol header parser (HAProxy's "The PROXY protocol", versions 1 and 2): pure
//! functions over the bytes a connection opened with, no IO. `server::proxy_protocol` reads
//! the bytes (peeking on sockets, so nothing past the header is consumed) and applies the
//! result to the connection's addresses.
//!
//! Section numbers in the comments are the spec's (`doc/proxy-protocol.txt`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The version 2 signature (§2.2): twelve bytes no HTTP request or TLS record starts with.
pub(crate) const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The longest version 1 line, CRLF included (§2.1: "PROXY UNKNOWN" with two full IPv6
/// addresses and ports is 107 characters; no CRLF within them makes the line invalid).
pub(crate) const V1_MAX: usize = 107;

/// The fixed part of a version 2 header: signature, version and command, family and
/// protocol, and the length of what follows (§2.2).
const V2_FIXED: usize = 16;

/// The largest address block of version 2 (two AF_UNIX paths of 108 bytes, §2.2).
const V2_ADDR_MAX: usize = 216;

/// The shortest size cap that admits every v2 header without TLVs (AF_UNIX's).
pub(crate) const V2_MIN_CAP: usize = V2_FIXED + V2_ADDR_MAX;

/// Enough bytes to decide any header and decode what it says: a version 1 line (107), or a
/// version 2 fixed part with IPv6 addresses (52). AF_UNIX addresses, which are not decoded,
/// and TLVs are skipped past it.
pub(crate) const WINDOW: usize = V1_MAX + 1;

/// What the header says about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Addresses {
    /// Relayed TCP (`PROXY TCP4`/`TCP6`, or v2 `PROXY` over AF_INET/AF_INET6 + STREAM): the
    /// client's address (`src`) and the address it connected to at the proxy (`dst`).
    Tcp { src: SocketAddr, dst: SocketAddr },
    /// The connection's own endpoints stand: v2 `LOCAL` (the proxy's health checks), v1
    /// `UNKNOWN`, and v2 families this server does not map to a TCP peer (AF_UNSPEC,
    /// AF_UNIX, DGRAM), which §2.2 lets a receiver treat as UNSPEC.
    Unknown,
}

/// A header found at the start of the bytes given to [`parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub addrs: Addresses,
    /// Which version of the protocol it was: 1 or 2.
    pub version: u8,
    /// The header's whole length: the connection's first byte after it is the client's.
    pub len: usize,
    /// Where the v2 TLVs start (`len` when there are none, and for v1); bytes
    /// `tlvs..len` are for [`Tlvs`] to check, and need not have been given to [`parse`].
    pub tlvs: usize,
}

/// Why a connection's opening is not an acceptable PROXY header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// Neither `PROXY ` nor the v2 signature: a client that does not speak the protocol.
    NotProxy,
    /// A v1 line with no CRLF in its first 107 bytes (§2.1).
    V1TooLong,
    /// A v1 line that does not match the grammar exactly (§2.1), a lone CR or LF included.
    V1Syntax,
    /// A v2 version other than 2 (§2.2: "the receiver must only accept this value").
    V2Version,
    /// A v2 command other than LOCAL or PROXY (§2.2: "Receivers must drop connections
    /// presenting unexpected values here").
    V2Command,
    /// A v2 family or transport protocol outside the spec's (§2.2: "must be rejected").
    V2Family,
    /// A v2 length too short for the family's address block.
    V2AddressLength,
    /// A v2 header longer than the server's cap.
    TooLarge,
    /// v2 TLVs that do not exactly fill the rest of the header (§2.2, `struct pp2_tlv`).
    Tlv,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParseError::NotProxy => "the connection does not open with a PROXY header",
            ParseError::V1TooLong => "PROXY v1 line without CRLF in its first 107 bytes",
            ParseError::V1Syntax => "malformed PROXY v1 line",
            ParseError::V2Version => "PROXY v2 header of an unknown version",
            ParseError::V2Command => "PROXY v2 header with an unknown command",
            ParseError::V2Family => "PROXY v2 header with an unknown family or protocol",
            ParseError::V2AddressLength => "PROXY v2 length shorter than its addresses",
            ParseError::TooLarge => "PROXY v2 header over the size cap",
            ParseError::Tlv => "PROXY v2 TLVs do not fill the header",
        })
    }
}

impl std::error::Error for ParseError {}

/// Parses the header at the start of `buf` (which may hold bytes past it). `Ok(None)`: every
/// byte so far fits a header and more are needed to decide. A v2 header whose declared
/// length makes it longer than `max_len` is refused as soon as its length is in, before the
/// rest is waited for. A v2 header is returned once its fixed part and the addresses it
/// carries are in: the rest of it (TLVs) is checked with [`Tlvs`].
pub(crate) fn parse(buf: &[u8], max_len: usize) -> Result<Option<Header>, ParseError> {
    let n = buf.len().min(V2_SIGNATURE.len());
    if buf[..n] == V2_SIGNATURE[..n] {
        if n < V2_SIGNATURE.len() {
            return Ok(None);
        }
        return parse_v2(buf, max_len);
    }
    const V1_START: &[u8] = b"PROXY ";
    let n = buf.len().min(V1_START.len());
    if buf[..n] != V1_START[..n] {
        return Err(ParseError::NotProxy);
    }
    if n < V1_START.len() {
        return Ok(None);
    }
    parse_v1(buf)
}

/// A v1 line (§2.1): `PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n` or `PROXY UNKNOWN...\r\n`.
fn parse_v1(buf: &[u8]) -> Result<Option<Header>, ParseError> {
    let window = &buf[..buf.len().min(V1_MAX)];
    // The line ends at the first CR, which must be followed by LF; a lone LF (or CR) is
    // invalid (§2.1: "must not tolerate a single CR or LF character").
    let Some(cr) = window.iter().position(|&b| b == b'\r' || b == b'\n') else {
        return if window.len() == V1_MAX {
            Err(ParseError::V1TooLong)
        } else {
            Ok(None)
        };
    };
    if window[cr] == b'\n' {
        return Err(ParseError::V1Syntax);
    }
    if cr + 2 > V1_MAX {
        // The LF would be byte 108.
        return Err(ParseError::V1TooLong);
    }
    match buf.get(cr + 1) {
        None => return Ok(None),
        Some(b'\n') => {}
        Some(_) => return Err(ParseError::V1Syntax),
    }
    let len = cr + 2;
    let line = &buf[b"PROXY ".len()..cr];
    let header = |addrs| {
        Ok(Some(Header {
            addrs,
            version: 1,
            len,
            tlvs: len,
        }))
    };
    // "For UNKNOWN, ... the receiver must ignore anything presented before the CRLF."
    if line == b"UNKNOWN" || line.starts_with(b"UNKNOWN ") {
        return header(Addresses::Unknown);
    }
    let text = std::str::from_utf8(line).map_err(|_| ParseError::V1Syntax)?;
    // Exactly one space between fields: `split(' ')` makes an empty field of any other.
    let mut fields = text.split(' ');
    let (Some(proto), Some(src), Some(dst), Some(sport), Some(dport), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(ParseError::V1Syntax);
    };
    let (src, dst) = match proto {
        "TCP4" => (v4(src)?, v4(dst)?),
        "TCP6" => (v6(src)?, v6(dst)?),
        _ => return Err(ParseError::V1Syntax),
    };
    header(Addresses::Tcp {
        src: SocketAddr::new(src, port(sport)?),
        dst: SocketAddr::new(dst, port(dport)?),
    })
}

/// An IPv4 address as §2.1 writes it: four decimal numbers, no leading zeros (Rust's parser
/// refuses those, octal's ambiguity being the reason for both).
fn v4(s: &str) -> Result<IpAddr, ParseError> {
    s.parse::<Ipv4Addr>()
        .map(IpAddr::V4)
        .map_err(|_| ParseError::V1Syntax)
}

/// An IPv6 address: hexadecimal groups with at most one `::` (§2.1).
fn v6(s: &str) -> Result<IpAddr, ParseError> {
    s.parse::<Ipv6Addr>()
        .map(IpAddr::V6)
        .map_err(|_| ParseError::V1Syntax)
}

/// A port (§2.1): decimal 0..=65535 without leading zeros (nor the sign Rust would take).
fn port(s: &str) -> Result<u16, ParseError> {
    let digits = s.bytes().all(|b| b.is_ascii_digit());
    if !digits || s.is_empty() || s.len() > 5 || (s.len() > 1 && s.starts_with('0')) {
        return Err(ParseError::V1Syntax);
    }
    s.parse().map_err(|_| ParseError::V1Syntax)
}

/// A v2 header (§2.2), its signature already matched.
fn parse_v2(buf: &[u8], max_len: usize) -> Result<Option<Header>, ParseError> {
    if buf.len() < V2_FIXED {
        // Check what is there already: a bad version or command is refused at once.
        if let Some(&ver_cmd) = buf.get(12) {
            check_ver_cmd(ver_cmd)?;
        }
        if let Some(&fam) = buf.get(13) {
            check_family(fam)?;
        }
        return Ok(None);
    }
    let local = check_ver_cmd(buf[12])?;
    let fam = check_family(buf[13])?;
    let declared = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    let len = V2_FIXED + declared;
    if len > max_len {
        return Err(ParseError::TooLarge);
    }
    let header = |addrs, tlvs| {
        Ok(Some(Header {
            addrs,
            version: 2,
            len,
            tlvs,
        }))
    };
    // LOCAL: "must use the real connection endpoints and discard the protocol block
    // including the family which is ignored"; the length still says what to skip.
    if local {
        return header(Addresses::Unknown, len);
    }
    let addr_len = match fam {
        0x11 | 0x12 => 12,
        0x21 | 0x22 => 36,
        0x31 | 0x32 => V2_ADDR_MAX,
        // AF_UNSPEC: no address block of a known size; the whole rest is opaque.
        _ => return header(Addresses::Unknown, len),
    };
    if declared < addr_len {
        return Err(ParseError::V2AddressLength);
    }
    let tlvs = V2_FIXED + addr_len;
    let a = &buf[V2_FIXED..];
    let addrs = match fam {
        // TCP over IPv4 or IPv6: addresses then ports, in network byte order.
        0x11 | 0x21 => {
            if buf.len() < tlvs {
                return Ok(None);
            }
            let (src, dst, ports) = if fam == 0x11 {
                let ip =
                    |i: usize| IpAddr::from(<[u8; 4]>::try_from(&a[i..i + 4]).unwrap_or_default());
                (ip(0), ip(4), &a[8..12])
            } else {
                let ip = |i: usize| {
                    IpAddr::from(<[u8; 16]>::try_from(&a[i..i + 16]).unwrap_or_default())
                };
                (ip(0), ip(16), &a[32..36])
            };
            Addresses::Tcp {
                src: SocketAddr::new(src, u16::from_be_bytes([ports[0], ports[1]])),
                dst: SocketAddr::new(dst, u16::from_be_bytes([ports[2], ports[3]])),
            }
        }
        // UDP, and AF_UNIX (whose paths a TCP server has no use for): "A receiver is not
        // required to implement other ones, provided that it automatically falls back to
        // the UNSPEC mode" (§2.2). Their address bytes are skipped unread.
        _ => Addresses::Unknown,
    };
    header(addrs, tlvs)
}

/// The version and command byte: whether the command is LOCAL (else PROXY).
fn check_ver_cmd(b: u8) -> Result<bool, ParseError> {
    if b >> 4 != 2 {
        return Err(ParseError::V2Version);
    }
    match b & 0x0f {
        0 => Ok(true),
        1 => Ok(false),
        _ => Err(ParseError::V2Command),
    }
}

/// The family and protocol byte: families 0-3, protocols 0-2 (§2.2).
fn check_family(b: u8) -> Result<u8, ParseError> {
    if b >> 4 > 3 || b & 0x0f > 2 {
        return Err(ParseError::V2Family);
    }
    Ok(b)
}

/// Checks, over the pieces they arrive in, that v2 TLVs (`type`, 16-bit length, value;
/// §2.2) exactly fill the header's rest. Their contents are not used: §2.2 lets a receiver
/// skip them, CRC32C (§2.2.3) included.
#[derive(Debug, Default)]
pub(crate) struct Tlvs {
    /// Bytes of the current TLV's three-byte head seen so far.
    head: u8,
    /// The high byte of the current TLV's length.
    len_hi: u8,
    /// Value bytes of the current TLV still to come.
    value_left: usize,
}

impl Tlvs {
    /// Takes the next bytes of the TLV area.
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.value_left > 0 {
                let skip = self.value_left.min(bytes.len());
                self.value_left -= skip;
                bytes = &bytes[skip..];
                continue;
            }
            let b = bytes[0];
            bytes = &bytes[1..];
            match self.head {
                0 => self.head = 1,
                1 => {
                    self.len_hi = b;
                    self.head = 2;
                }
                _ => {
                    self.value_left = usize::from(u16::from_be_bytes([self.len_hi, b]));
                    self.head = 0;
                }
            }
        }
    }

    /// At the header's end: whether the last TLV ended exactly there.
    pub(crate) fn finish(&self) -> Result<(), ParseError> {
        if self.head == 0 && self.value_left == 0 {
            Ok(())
        } else {
            Err(ParseError::Tlv)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: usize = 4096;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn whole(buf: &[u8]) -> Result<Option<Header>, ParseError> {
        let parsed = parse(buf, CAP)?;
        if let Some(h) = parsed {
            let mut tlvs = Tlvs::default();
            tlvs.feed(&buf[h.tlvs..h.len]);
            tlvs.finish()?;
        }
        Ok(parsed)
    }

    fn v2(ver_cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
        let mut v = V2_SIGNATURE.to_vec();
        v.extend_from_slice(&[ver_cmd, fam]);
        v.extend_from_slice(&(body.len() as u16).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn v1_tcp4_and_what_follows_is_left() {
        let buf = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n";
        let h = parse(buf, CAP).unwrap().unwrap();
        assert_eq!(
            h.addrs,
            Addresses::Tcp {
                src: sa("192.168.0.1:56324"),
                dst: sa("192.168.0.11:443")
            }
        );
        assert_eq!(&buf[h.len..], b"GET / HTTP/1.1\r\n");
        assert_eq!(h.version, 1);
    }

    #[test]
    fn v1_tcp6_and_unknown() {
        let h = whole(b"PROXY TCP6 2001:db8::1 ::1 65535 0\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            h.addrs,
            Addresses::Tcp {
                src: sa("[2001:db8::1]:65535"),
                dst: sa("[::1]:0")
            }
        );
        let h = whole(b"PROXY UNKNOWN\r\n").unwrap().unwrap();
        assert_eq!((h.addrs, h.len), (Addresses::Unknown, 15));
        let h = whole(b"PROXY UNKNOWN whatever is here\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.addrs, Addresses::Unknown);
    }

    #[test]
    fn v1_longest_line_is_107_bytes() {
        let ip = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
        let line = format!("PROXY UNKNOWN {ip} {ip} 65535 65535\r\n");
        assert_eq!(line.len(), V1_MAX);
        assert_eq!(whole(line.as_bytes()).unwrap().unwrap().len, 107);
        let line = format!("PROXY UNKNOWN {ip} {ip} 65535 655350\r\n");
        assert_eq!(parse(line.as_bytes(), CAP), Err(ParseError::V1TooLong));
        assert_eq!(parse(&[b'P'; 200], CAP), Err(ParseError::NotProxy));
        let mut long = b"PROXY ".to_vec();
        long.resize(V1_MAX, b'x');
        assert_eq!(parse(&long, CAP), Err(ParseError::V1TooLong));
        // 106 bytes without an end, then a CR at the last place: the LF would be byte 108.
        long[V1_MAX - 1] = b'\r';
        assert_eq!(parse(&long, CAP), Err(ParseError::V1TooLong));
    }

    #[test]
    fn v1_grammar_is_exact() {
        for bad in [
            &b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"[..],
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
            b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
            b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
            b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
            b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY \r\n",
        ] {
            assert_eq!(
                parse(bad, CAP),
                Err(ParseError::V1Syntax),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(parse(b"GET / HTTP/1.1\r\n", CAP), Err(ParseError::NotProxy));
        assert_eq!(parse(b"PROXYTCP4", CAP), Err(ParseError::NotProxy));
    }

    #[test]
    fn every_prefix_of_a_header_asks_for_more() {
        let v1 = b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n".to_vec();
        let mut body = vec![127, 0, 0, 7, 127, 0, 0, 1, 0x30, 0x39, 0, 80];
        body.extend_from_slice(&[0x04, 0, 2, 0, 0]); // a NOOP TLV
        let v2 = v2(0x21, 0x11, &body);
        for full in [&v1, &v2] {
            let tlvs_at = parse(full, CAP).unwrap().unwrap().tlvs;
            for cut in 0..tlvs_at {
                assert_eq!(parse(&full[..cut], CAP), Ok(None), "cut at {cut}");
            }
        }
    }

    #[test]
    fn v2_proxy_tcp4_with_tlvs() {
        let mut body = vec![127, 0, 0, 7, 127, 0, 0, 1, 0x30, 0x39, 0, 80];
        body.extend_from_slice(&[0x01, 0, 2, b'h', b'2']); // ALPN
        body.extend_from_slice(&[0x04, 0, 0]); // NOOP, empty
        let mut buf = v2(0x21, 0x11, &body);
        buf.extend_from_slice(b"GET");
        let h = whole(&buf).unwrap().unwrap();
        assert_eq!(
            h.addrs,
            Addresses::Tcp {
                src: sa("127.0.0.7:12345"),
                dst: sa("127.0.0.1:80")
            }
        );
        assert_eq!((h.version, h.tlvs, h.len), (2, 28, 36));
        assert_eq!(&buf[h.len..], b"GET");
    }

    #[test]
    fn v2_proxy_tcp6() {
        let mut body = vec![0u8; 36];
        body[15] = 1; // ::1
        body[16] = 0x20;
        body[17] = 0x01; // 2001::
        body[32..36].copy_from_slice(&[0x01, 0xbb, 0x1f, 0x90]);
        let h = whole(&v2(0x21, 0x21, &body)).unwrap().unwrap();
        assert_eq!(
            h.addrs,
            Addresses::Tcp {
                src: sa("[::1]:443"),
                dst: sa("[2001::]:8080")
            }
        );
    }

    #[test]
    fn v2_local_unspec_unix_and_udp_keep_the_real_endpoints() {
        // LOCAL with an address block anyway: skipped whole, whatever its family says.
        let h = whole(&v2(0x20, 0x11, &[1; 12])).unwrap().unwrap();
        assert_eq!((h.addrs, h.len), (Addresses::Unknown, 28));
        let h = whole(&v2(0x20, 0x00, &[])).unwrap().unwrap();
        assert_eq!((h.addrs, h.len), (Addresses::Unknown, 16));
        let h = whole(&v2(0x21, 0x00, &[])).unwrap().unwrap();
        assert_eq!(h.addrs, Addresses::Unknown);
        let mut unix = vec![0u8; 216];
        unix.extend_from_slice(&[0x05, 0, 1, 9]); // UNIQUE_ID
        let h = whole(&v2(0x21, 0x31, &unix)).unwrap().unwrap();
        assert_eq!((h.addrs, h.tlvs, h.len), (Addresses::Unknown, 232, 236));
        // Its addresses are not decoded, so the fixed part decides it: a reader's window
        // need not hold them.
        let fixed = parse(&v2(0x21, 0x31, &unix)[..16], CAP).unwrap().unwrap();
        assert_eq!(fixed, h);
        let h = whole(&v2(0x21, 0x12, &[1; 12])).unwrap().unwrap();
        assert_eq!(h.addrs, Addresses::Unknown);
    }

    #[test]
    fn v2_bad_fields_are_refused_as_soon_as_seen() {
        let mut b = V2_SIGNATURE.to_vec();
        b.push(0x11);
        assert_eq!(parse(&b, CAP), Err(ParseError::V2Version));
        b[12] = 0x22;
        assert_eq!(parse(&b, CAP), Err(ParseError::V2Command));
        b[12] = 0x21;
        b.push(0x41);
        assert_eq!(parse(&b, CAP), Err(ParseError::V2Family));
        b[13] = 0x13;
        assert_eq!(parse(&b, CAP), Err(ParseError::V2Family));
        assert_eq!(
            parse(&v2(0x21, 0x11, &[0; 11]), CAP),
            Err(ParseError::V2AddressLength)
        );
    }

    #[test]
    fn v2_over_the_cap_is_refused_from_its_fixed_part() {
        let mut fixed = V2_SIGNATURE.to_vec();
        fixed.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        assert_eq!(parse(&fixed, CAP), Err(ParseError::TooLarge));
        // Exactly at the cap is accepted.
        let body = [&[0u8; 12][..], &[0x04, 0x0f, 0xe1][..], &[0; 0x0fe1]].concat();
        assert_eq!(16 + body.len(), CAP);
        assert_eq!(whole(&v2(0x21, 0x11, &body)).unwrap().unwrap().len, CAP);
    }

    #[test]
    fn tlvs_must_fill_the_header_exactly() {
        // A TLV that claims more than is left, and a TLV head cut short.
        let short = [&[0u8; 12][..], &[0x04, 0, 5, 1, 2]].concat();
        assert_eq!(whole(&v2(0x21, 0x11, &short)), Err(ParseError::Tlv));
        let cut = [&[0u8; 12][..], &[0x04, 0]].concat();
        assert_eq!(whole(&v2(0x21, 0x11, &cut)), Err(ParseError::Tlv));
        // Fed a byte at a time, the walker agrees with fed at once.
        let ok = [
            &[0x01, 0, 2, b'h', b'2'][..],
            &[0x04, 0, 0],
            &[0x20, 0, 1, 7],
        ]
        .concat();
        let mut t = Tlvs::default();
        for b in &ok {
            t.feed(std::slice::from_ref(b));
        }
        assert_eq!(t.finish(), Ok(()));
    }

    use proptest::prelude::*;

    /// A header as a sender might write it: v1 or v2, any command and family byte, a
    /// length that may lie, TLV-shaped bytes, then what the client says next.
    fn header_like() -> impl Strategy<Value = Vec<u8>> {
        let v1 = (
            any::<[u8; 4]>(),
            any::<[u8; 4]>(),
            any::<u16>(),
            any::<u16>(),
            any::<bool>(),
        )
            .prop_map(|(a, b, p, q, unknown)| {
                if unknown {
                    b"PROXY UNKNOWN\r\n".to_vec()
                } else {
                    let (a, b) = (Ipv4Addr::from(a), Ipv4Addr::from(b));
                    format!("PROXY TCP4 {a} {b} {p} {q}\r\n").into_bytes()
                }
            });
        let v2 = (
            prop_oneof![Just(0x20u8), Just(0x21), any::<u8>()],
            prop_oneof![
                Just(0x11u8),
                Just(0x21),
                Just(0x31),
                Just(0x00),
                any::<u8>()
            ],
            proptest::collection::vec(any::<u8>(), 0..300),
            prop_oneof![Just(None), (0u16..400).prop_map(Some)],
        )
            .prop_map(|(vc, fam, body, lie)| {
                let mut h = V2_SIGNATURE.to_vec();
                h.extend_from_slice(&[vc, fam]);
                let len = lie.unwrap_or(body.len() as u16);
                h.extend_from_slice(&len.to_be_bytes());
                h.extend_from_slice(&body);
                h
            });
        (
            prop_oneof![v1, v2],
            proptest::collection::vec(any::<u8>(), 0..40),
        )
            .prop_map(|(h, tail)| [h, tail].concat())
    }

    /// What a reader that takes bytes `step` at a time decides: the parse, then the TLV
    /// check over the pieces, as `server::proxy_protocol` reads a socket.
    fn read_in_steps(input: &[u8], step: usize, cap: usize) -> Result<Option<Header>, ParseError> {
        let mut have = 0;
        let header = loop {
            have = (have + step).min(input.len());
            match parse(&input[..have], cap)? {
                Some(h) => break h,
                None if have == input.len() => return Ok(None),
                None => {}
            }
        };
        if header.len > input.len() {
            return Ok(None);
        }
        let mut tlvs = Tlvs::default();
        for piece in input[header.tlvs..header.len].chunks(step) {
            tlvs.feed(piece);
        }
        tlvs.finish().map(|()| Some(header))
    }

    proptest! {
        /// However the bytes arrive, the answer is the same, never past the cap or the
        /// input, and never a panic; anything the parser accepts it also finds at once.
        #[test]
        fn the_answer_does_not_depend_on_how_the_bytes_arrive(
            input in prop_oneof![header_like(), proptest::collection::vec(any::<u8>(), 0..300)],
            step in 1usize..40,
            cap in prop_oneof![Just(CAP), 232usize..600],
        ) {
            let at_once = read_in_steps(&input, input.len().max(1), cap);
            let stepped = read_in_steps(&input, step, cap);
            prop_assert_eq!(at_once, stepped);
            if let Ok(Some(h)) = at_once {
                prop_assert!(h.len <= cap.max(V1_MAX) && h.len <= input.len());
                prop_assert!(h.tlvs <= h.len);
                prop_assert!(h.version == 1 || h.version == 2);
                if h.version == 1 {
                    prop_assert!(h.len <= V1_MAX && input[..h.len].ends_with(b"\r\n"));
                }
            }
        }
    }
}
