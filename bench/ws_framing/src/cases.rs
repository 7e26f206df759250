//! The measured cases (message sizes, kinds, modes, counts) and the raw RFC 6455 frame bytes the fixed peers send and expect.

use std::fmt;

/// Which framing crate runs the measured side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Impl {
    /// tokio-tungstenite with nethttp's `websocket::default_config()`.
    Tungstenite,
    /// The same with `read_buffer_size` 16 KiB instead of the crate's 128 KiB default:
    /// tungstenite zero-fills up to that many bytes of its read buffer before every read call.
    TungsteniteSmallRead,
    Fastws,
}

impl Impl {
    pub const ALL: [Impl; 3] = [Impl::Tungstenite, Impl::TungsteniteSmallRead, Impl::Fastws];

    pub fn name(self) -> &'static str {
        match self {
            Impl::Tungstenite => "tokio-tungstenite",
            Impl::TungsteniteSmallRead => "tokio-tungstenite-rb16k",
            Impl::Fastws => "fastwebsockets",
        }
    }

    pub fn parse(s: &str) -> Option<Impl> {
        match s {
            "tt" => Some(Impl::Tungstenite),
            "tt16" => Some(Impl::TungsteniteSmallRead),
            "fws" => Some(Impl::Fastws),
            _ => Impl::ALL.into_iter().find(|i| i.name() == s),
        }
    }
}

/// Which end of the connection the measured crate plays; the other end is the fixed peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The crate's echo server, driven by the fixed client (masked frames in, plain frames out).
    Server,
    /// The crate's client (masks every frame it sends), against the fixed echo server.
    Client,
}

impl Role {
    pub const ALL: [Role; 2] = [Role::Server, Role::Client];

    pub fn name(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Client => "client",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == s)
    }
}

/// Sequential round trips (send one, wait for its echo) or a pipelined stream (the sender
/// never waits for echoes; a concurrent reader takes them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Seq,
    Pipe,
}

impl Mode {
    pub const ALL: [Mode; 2] = [Mode::Seq, Mode::Pipe];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Seq => "sequential",
            Mode::Pipe => "pipelined",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "sequential" | "seq" => Some(Mode::Seq),
            "pipelined" | "pipe" => Some(Mode::Pipe),
            _ => None,
        }
    }
}

/// One message shape: its size and whether it is a text message (UTF-8 validated on receipt).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Case {
    pub label: &'static str,
    pub size: usize,
    pub text: bool,
}

pub const CASES: [Case; 5] = [
    Case {
        label: "16 B binary",
        size: 16,
        text: false,
    },
    Case {
        label: "1 KiB binary",
        size: 1 << 10,
        text: false,
    },
    Case {
        label: "1 KiB text",
        size: 1 << 10,
        text: true,
    },
    Case {
        label: "64 KiB binary",
        size: 64 << 10,
        text: false,
    },
    Case {
        label: "1 MiB binary",
        size: 1 << 20,
        text: false,
    },
];

impl Case {
    pub fn parse(s: &str) -> Option<Case> {
        CASES.into_iter().find(|c| c.id() == s)
    }

    /// A short name without spaces, for command lines.
    pub fn id(self) -> String {
        let kind = if self.text { "text" } else { "bin" };
        format!("{kind}{}", self.size)
    }

    /// Messages per timed run: about a second each on a loopback pair of cores.
    pub fn wall_count(self, mode: Mode) -> usize {
        match (mode, self.size) {
            (Mode::Seq, s) if s <= 1024 => 10_000,
            (Mode::Seq, s) if s <= 64 << 10 => 5_000,
            (Mode::Seq, _) => 500,
            (Mode::Pipe, s) if s <= 1024 => 200_000,
            (Mode::Pipe, s) if s <= 64 << 10 => 15_000,
            (Mode::Pipe, _) => 1_000,
        }
    }

    /// Messages per callgrind run: enough to bury one-time costs, few enough to finish under
    /// the instrumentation's slowdown. tungstenite zero-fills the spare capacity of its read
    /// buffer (up to 128 KiB) before each read, which falls as messages use the buffer up and
    /// recovers when it is reclaimed: with 16 B messages that cycle is some 6,000 to 7,000
    /// messages long, so they get several cycles' worth.
    pub fn callgrind_count(self) -> usize {
        match self.size {
            s if s <= 16 => 24_000,
            s if s <= 1024 => 3_000,
            s if s <= 64 << 10 => 300,
            _ => 20,
        }
    }

    pub fn opcode(self) -> u8 {
        if self.text {
            OP_TEXT
        } else {
            OP_BINARY
        }
    }

    /// The message body: pseudo-random bytes, or UTF-8 text with two-, three- and four-byte
    /// sequences among ASCII so validation takes its slow paths too.
    pub fn payload(self) -> Vec<u8> {
        if self.text {
            const PIECE: &str = "Grüße, Jürgen — naïve café ✓ 𝄞 日本語 ok; ";
            let mut s = String::with_capacity(self.size);
            'fill: loop {
                for ch in PIECE.chars() {
                    if s.len() + ch.len_utf8() > self.size {
                        break 'fill;
                    }
                    s.push(ch);
                }
            }
            while s.len() < self.size {
                s.push(' ');
            }
            s.into_bytes()
        } else {
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ self.size as u64;
            (0..self.size)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect()
        }
    }
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label)
    }
}

pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;

/// The masking key of the fixed client's frames. Its value does not change the receiver's
/// work: every byte of a masked payload is XORed with the key whatever it is.
pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Largest message (and frame) the measured sides accept, as nethttp's default_config.
pub const MAX_MESSAGE: usize = 16 << 20;

/// Appends a frame header (FIN set) for `len` payload bytes, masked if `mask` is given.
pub fn put_header(out: &mut Vec<u8>, opcode: u8, len: usize, mask: Option<[u8; 4]>) {
    out.push(0x80 | opcode);
    let m = if mask.is_some() { 0x80 } else { 0 };
    if len < 126 {
        out.push(m | len as u8);
    } else if len <= u16::MAX as usize {
        out.push(m | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(m | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
}

/// A complete frame: header then payload, masked with `mask` when given.
pub fn frame(opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    put_header(&mut out, opcode, payload.len(), mask);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key, 0);
    }
    out
}

/// XORs `buf` with the key, `offset` bytes into the payload (RFC 6455 §5.3).
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let mut k = [0u8; 8];
    for (i, b) in k.iter_mut().enumerate() {
        *b = key[(offset + i) & 3];
    }
    let word = u64::from_ne_bytes(k);
    let mut chunks = buf.chunks_exact_mut(8);
    for c in &mut chunks {
        let v = u64::from_ne_bytes(c.try_into().unwrap()) ^ word;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    let rest = chunks.into_remainder();
    for (i, b) in rest.iter_mut().enumerate() {
        *b ^= k[i];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_have_their_size_and_text_is_utf8() {
        for c in CASES {
            let p = c.payload();
            assert_eq!(p.len(), c.size, "{c}");
            if c.text {
                assert!(std::str::from_utf8(&p).is_ok());
                assert!(p.iter().any(|&b| b >= 0xf0), "has four-byte sequences");
            }
        }
    }

    #[test]
    fn mask_round_trips_at_any_offset() {
        let data: Vec<u8> = (0..37u8).collect();
        let mut whole = data.clone();
        apply_mask(&mut whole, MASK, 0);
        let mut pieces = data.clone();
        apply_mask(&mut pieces[..5], MASK, 0);
        apply_mask(&mut pieces[5..], MASK, 5);
        assert_eq!(whole, pieces);
        apply_mask(&mut whole, MASK, 0);
        assert_eq!(whole, data);
    }

    #[test]
    fn headers_use_the_shortest_length_form() {
        assert_eq!(frame(OP_BINARY, &[0; 16], None).len(), 18);
        assert_eq!(frame(OP_BINARY, &[0; 1024], Some(MASK)).len(), 1024 + 8);
        assert_eq!(
            frame(OP_BINARY, &vec![0; 1 << 20], None).len(),
            (1 << 20) + 10
        );
    }
}
