//! Accepting connections relayed by an L4 load balancer that speaks the PROXY protocol
//! (HAProxy's `send-proxy`/`send-proxy-v2`, AWS NLB, ...): the [`ProxyProtocol`] setting of
//! [`crate::Server::proxy_protocol`], and reading a connection's header in its own task,
//! before TLS and before the HTTP/1.1-or-h2c sniff. Sockets are peeked, so not a byte past
//! the header is consumed; other IO reads into the buffer the sniff then starts from.
//! The parsing itself is `server::proxy_header`'s.

use std::fmt;
use std::future::poll_fn;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::AsyncReadExt;
use tokio::time::{timeout_at, Instant};

use super::proxy_header::{self, Addresses, ParseError, Tlvs, V1_MAX, V2_MIN_CAP, WINDOW};
use crate::proto::io::ConnIo;

/// Whether connections must open with a PROXY protocol header (HAProxy's "The PROXY
/// protocol", versions 1 and 2, both accepted), and from which peers. Give it to
/// [`crate::Server::proxy_protocol`].
///
/// With a header saying `PROXY TCP4`/`TCP6` (v1) or the v2 `PROXY` command over IPv4 or
/// IPv6, the connection's [`crate::ConnInfo`] reports the client's address as
/// `remote_addr`, the address it reached the balancer at as `local_addr`, and the
/// balancer's own address as `proxied_by`; the connection state hook is told the client's
/// address, and so is a [`crate::proxy::ReverseProxy`]'s `X-Forwarded-For`. A v2 `LOCAL`
/// header (the balancer's health checks), v1 `UNKNOWN`, and v2 families other than TCP
/// (UDP, AF_UNIX, AF_UNSPEC) keep the socket's own addresses.
///
/// A connection that should send a header and does not — silence past the timeout, a
/// malformed or oversized header, anything else — is closed without a byte written: there
/// is no HTTP yet to answer with. The header's bytes alone are consumed; what follows it is
/// the client's (a TLS ClientHello, the h2c preface, an HTTP/1.1 request).
///
/// Trust: the spec (§2, §5) asks a receiver never to guess whether a header is there, and to
/// accept one only from known proxies, since a header lets its sender claim any address.
/// Without [`ProxyProtocol::trust`], every peer must send one (nginx's `listen ...
/// proxy_protocol`). With it, only the listed networks send one, and other peers are
/// refused (closed at once, go-proxyproto's strict allowlist), or, with
/// [`UntrustedPeers::Direct`], served as direct clients with no header read: for a probe or
/// an internal client that reaches the server without the balancer (go-proxyproto's
/// `SKIP`). A header from such a peer is then just bytes of a bad HTTP request (`400`).
///
/// ```
/// use nethttp::server::{ProxyProtocol, UntrustedPeers};
/// let pp = ProxyProtocol::required()
///     .trust("10.0.0.0/8".parse().unwrap())
///     .untrusted(UntrustedPeers::Direct);
/// let server = nethttp::Server::new().proxy_protocol(pp);
/// ```
#[derive(Clone, Debug, Default)]
pub struct ProxyProtocol {
    on: bool,
    trusted: Option<Arc<[IpNet]>>,
    untrusted: UntrustedPeers,
    timeout: Option<Duration>,
    max_header_bytes: Option<usize>,
}

/// What happens to a connection from a peer outside [`ProxyProtocol::trust`]'s networks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum UntrustedPeers {
    /// Closed at once, nothing read or written. The default.
    #[default]
    Refuse,
    /// Served as a direct client: no header is read, and its own addresses stand.
    Direct,
}

/// The largest v2 header accepted by default, TLVs included: 4 KiB (HAProxy's own
/// `send-proxy-v2-ssl-cn` headers are a few hundred bytes).
pub const DEFAULT_MAX_PROXY_HEADER_BYTES: usize = 4096;

impl ProxyProtocol {
    /// No PROXY protocol: connections are HTTP (or TLS) from their first byte. The default.
    pub fn off() -> Self {
        ProxyProtocol::default()
    }

    /// Every connection (or, with [`ProxyProtocol::trust`], every one from a trusted peer)
    /// must open with a v1 or v2 header.
    pub fn required() -> Self {
        ProxyProtocol {
            on: true,
            ..ProxyProtocol::default()
        }
    }

    /// Whether headers are read at all.
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// Adds a network (a balancer's address, `/32` or `/128`, or a range) whose peers send
    /// the header. Default: none listed, which means every peer must send one. A peer with no
    /// IP address (a Unix socket) is trusted only when none is listed. IPv4 peers of a
    /// dual-stack listener (`::ffff:a.b.c.d`) match IPv4 networks.
    pub fn trust(mut self, net: IpNet) -> Self {
        let mut nets: Vec<IpNet> = self.trusted.as_deref().unwrap_or_default().to_vec();
        nets.push(net);
        self.trusted = Some(nets.into());
        self
    }

    /// What to do with a peer outside the trusted networks. Default:
    /// [`UntrustedPeers::Refuse`]. Has no effect when no network is listed.
    pub fn untrusted(mut self, what: UntrustedPeers) -> Self {
        self.untrusted = what;
        self
    }

    /// Time the whole header may take to arrive, from the accept. Default: the server's
    /// read-header timeout (10 s unless set). The spec (§2) suggests at least 3 s, to cover
    /// a TCP retransmit.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// Largest v2 header accepted, TLVs included; a longer one is refused as soon as its
    /// length field arrives. Default: [`DEFAULT_MAX_PROXY_HEADER_BYTES`] (4 KiB); it is at
    /// least 232 bytes (a header with two AF_UNIX addresses). A v1 line is at most 107 bytes
    /// by the spec.
    pub fn max_header_bytes(mut self, n: usize) -> Self {
        self.max_header_bytes = Some(n);
        self
    }

    /// What this setting asks of a connection from `peer` (`None`: no IP address).
    pub(crate) fn expect(&self, peer: Option<IpAddr>) -> Expect {
        if !self.on {
            return Expect::Nothing;
        }
        let Some(nets) = &self.trusted else {
            return Expect::Header;
        };
        let trusted = peer.is_some_and(|ip| nets.iter().any(|n| n.contains(ip)));
        match (trusted, self.untrusted) {
            (true, _) => Expect::Header,
            (false, UntrustedPeers::Direct) => Expect::Nothing,
            (false, UntrustedPeers::Refuse) => Expect::Refuse,
        }
    }

    pub(crate) fn max_len(&self) -> usize {
        self.max_header_bytes
            .unwrap_or(DEFAULT_MAX_PROXY_HEADER_BYTES)
            .max(V2_MIN_CAP)
    }

    /// When the header must have arrived, for a connection accepted now.
    pub(crate) fn deadline(&self, read_header_timeout: Duration) -> Instant {
        Instant::now() + self.timeout.unwrap_or(read_header_timeout)
    }
}

/// What a connection must open with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// Its protocol: no PROXY header.
    Nothing,
    /// A PROXY header.
    Header,
    /// Nothing: the peer is not allowed, the connection is closed unread.
    Refuse,
}

/// An IP network, `ADDR/PREFIX` (`10.0.0.0/8`, `2001:db8::/32`), or one address (`ADDR`,
/// a `/32` or `/128`), for [`ProxyProtocol::trust`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// The network of `addr`'s first `prefix` bits; `None` if `prefix` is longer than the
    /// address.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= bits).then_some(IpNet { addr, prefix })
    }

    /// Whether `ip` is in the network (an IPv4-mapped IPv6 address counts as its IPv4 one).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not an IP address or ADDR/PREFIX network");
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let prefix = match prefix {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse().map_err(|_| bad())?
            }
            Some(_) => return Err(bad()),
            None if addr.is_ipv4() => 32,
            None => 128,
        };
        IpNet::new(addr, prefix).ok_or_else(bad)
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Why a connection that owed a header is closed.
#[derive(Debug)]
pub(crate) enum Failure {
    Parse(ParseError),
    /// The peer closed, or the socket failed, before the header was whole.
    Io,
    /// The header was not whole by the deadline.
    Timeout,
    /// The server began shutting down meanwhile.
    Shutdown,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Parse(e) => e.fmt(f),
            Failure::Io => f.write_str("the peer left (or the socket failed) mid-header"),
            Failure::Timeout => f.write_str("the PROXY header was not whole by its deadline"),
            Failure::Shutdown => f.write_str("the server is shutting down"),
        }
    }
}

impl From<ParseError> for Failure {
    fn from(e: ParseError) -> Self {
        Failure::Parse(e)
    }
}

impl From<std::io::Error> for Failure {
    fn from(_: std::io::Error) -> Self {
        Failure::Io
    }
}

/// Reads the connection's PROXY header by `deadline`, abandoned when `stop` resolves (the
/// server is stopping and the connection's first-request grace is over). On a socket,
/// nothing past the header is consumed; on other IO, what was read past it is left in `buf`.
pub(crate) async fn read_header<C: ConnIo>(
    io: &mut C,
    buf: &mut BytesMut,
    max_len: usize,
    deadline: Instant,
    stop: impl std::future::Future<Output = ()>,
) -> Result<Addresses, Failure> {
    let read = async {
        if C::PEEK {
            read_peeking(io, max_len).await
        } else {
            read_buffered(io, buf, max_len).await
        }
    };
    tokio::select! {
        biased;
        r = timeout_at(deadline, read) => r.unwrap_or(Err(Failure::Timeout)),
        _ = stop => Err(Failure::Shutdown),
    }
}

/// On a socket: peeks until the header's fixed part and addresses are in, then reads exactly
/// the header's bytes, checking its TLVs as they pass. A byte of anything else is refused
/// at once, and each look waits for bytes not seen at the last, so a trickling peer costs no
/// CPU while it waits. The only buffer is `WINDOW` (108) bytes in the connection's task.
async fn read_peeking<C: ConnIo>(io: &mut C, max_len: usize) -> Result<Addresses, Failure> {
    let mut window = [0u8; WINDOW];
    let mut seen = 0;
    let header = loop {
        // Moved in as `&mut`: a shared borrow held across the wait would ask `C: Sync`.
        let (io_mut, look) = (&mut *io, &mut window);
        let n = poll_fn(move |cx| io_mut.poll_peek(cx, look, seen)).await?;
        if n == 0 || n <= seen {
            return Err(Failure::Io);
        }
        if let Some(h) = proxy_header::parse(&window[..n], max_len)? {
            break h;
        }
        // A v1 line is decided within 107 bytes and a v2 header's fixed part and decoded
        // addresses within 52, so a full window without an answer cannot happen; refuse it.
        if n == WINDOW {
            return Err(Failure::Parse(ParseError::V1TooLong));
        }
        seen = n;
    };
    // Consume the header: the peeked bytes again, then any TLVs past the window.
    let mut tlvs = Tlvs::default();
    let mut done = 0;
    while done < header.len {
        let want = (header.len - done).min(WINDOW);
        let k = io.read(&mut window[..want]).await?;
        if k == 0 {
            return Err(Failure::Io);
        }
        let from = header.tlvs.saturating_sub(done).min(k);
        tlvs.feed(&window[from..k]);
        done += k;
    }
    tlvs.finish()?;
    Ok(header.addrs)
}

/// On IO that cannot peek: reads into `buf` until the whole header is there, and leaves what
/// followed it in `buf` for the protocol sniff. `buf` holds at most one read past the cap.
async fn read_buffered<C: ConnIo>(
    io: &mut C,
    buf: &mut BytesMut,
    max_len: usize,
) -> Result<Addresses, Failure> {
    loop {
        if let Some(h) = proxy_header::parse(buf, max_len)? {
            if buf.len() >= h.len {
                let mut tlvs = Tlvs::default();
                tlvs.feed(&buf[h.tlvs..h.len]);
                tlvs.finish()?;
                buf.advance(h.len);
                return Ok(h.addrs);
            }
        }
        if buf.len() >= max_len.max(V1_MAX) {
            return Err(Failure::Parse(ParseError::TooLarge));
        }
        buf.reserve(WINDOW);
        if io.read_buf(buf).await? == 0 {
            return Err(Failure::Io);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn networks_parse_and_match() {
        assert!(net("10.0.0.0/8").contains("10.1.2.3".parse().unwrap()));
        assert!(!net("10.0.0.0/8").contains("11.0.0.0".parse().unwrap()));
        assert!(net("127.0.0.1").contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!net("127.0.0.1").contains("127.0.0.2".parse().unwrap()));
        assert!(net("0.0.0.0/0").contains("1.2.3.4".parse().unwrap()));
        assert!(net("::/0").contains("2001:db8::1".parse().unwrap()));
        assert!(net("2001:db8::/32").contains("2001:db8:1::1".parse().unwrap()));
        assert!(!net("2001:db8::/32").contains("10.0.0.1".parse().unwrap()));
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "host/8",
            "",
        ] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
        assert_eq!(net("10.0.0.0/8").to_string(), "10.0.0.0/8");
    }

    #[test]
    fn who_must_send_a_header() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(ProxyProtocol::off().expect(ip("1.2.3.4")), Expect::Nothing);
        let all = ProxyProtocol::required();
        assert_eq!(all.expect(ip("1.2.3.4")), Expect::Header);
        assert_eq!(all.expect(None), Expect::Header);
        let some = ProxyProtocol::required().trust(net("127.0.0.1"));
        assert_eq!(some.expect(ip("127.0.0.1")), Expect::Header);
        assert_eq!(some.expect(ip("127.0.0.2")), Expect::Refuse);
        assert_eq!(some.expect(None), Expect::Refuse);
        let direct = some.untrusted(UntrustedPeers::Direct);
        assert_eq!(direct.expect(ip("127.0.0.2")), Expect::Nothing);
    }
}
