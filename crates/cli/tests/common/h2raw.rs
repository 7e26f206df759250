//! Raw HTTP/2 frames for hostile-peer tests: a client preface that grants the server huge
//! flow-control windows, and GET requests as HEADERS frames, written by hand so the peer
//! can do what no well-behaved client library does (never read its socket).
#![allow(dead_code)] // each user takes part of it

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// The largest flow-control window (RFC 9113 §6.9.1).
pub const MAX_WINDOW: u32 = (1 << 31) - 1;

/// One frame: 9-byte header (RFC 9113 §4.1) and payload.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = Vec::with_capacity(9 + payload.len());
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// The preface, a SETTINGS frame granting `window` to every stream (and no push), and a
/// WINDOW_UPDATE raising the connection's window to `window` too.
pub fn preface_granting(window: u32) -> Vec<u8> {
    let mut settings = Vec::new();
    for (id, value) in [(0x2u16, 0u32), (0x4, window)] {
        settings.extend_from_slice(&id.to_be_bytes());
        settings.extend_from_slice(&value.to_be_bytes());
    }
    let mut out = PREFACE.to_vec();
    out.extend(frame(0x4, 0, 0, &settings));
    let increment = window.saturating_sub(65_535);
    if increment > 0 {
        out.extend(frame(0x8, 0, 0, &increment.to_be_bytes()));
    }
    out
}

/// A GET for `path` on stream `stream` (odd), ending the stream, its fields HPACK-coded as
/// static-table entries and literals without indexing (RFC 7541 §6.1, §6.2.2), so no
/// dynamic-table state is needed.
pub fn get(stream: u32, authority: &str, path: &str) -> Vec<u8> {
    let mut block = vec![0x82, 0x86]; // :method GET, :scheme http
    for (index, value) in [(4u8, path), (1, authority)] {
        // Literal without indexing, name from the static table (4-bit prefix: < 15 here).
        block.push(index);
        assert!(value.len() < 127, "short values only");
        block.push(value.len() as u8);
        block.extend_from_slice(value.as_bytes());
    }
    frame(0x1, 0x4 | 0x1, stream, &block) // END_HEADERS | END_STREAM
}
