//! The SOCKS5 client handshake (RFC 1928), with username/password authentication (RFC 1929)
//! when the proxy URL carries credentials: over the stream to the proxy the client names its
//! target — an address it resolved (`socks5://`) or a host name for the proxy to resolve
//! (`socks5h://`) — and once the proxy answers success the stream is a connection to the
//! target, used as a direct one (TLS and HTTP/2 run over it). Every read has a size known
//! before it starts (the longest, a reply with a 255-byte name, is 262 bytes in all) and
//! nothing past the reply is read, and the whole exchange is bounded by the connect timeout:
//! a proxy that trickles, lies about lengths or never answers costs that timeout, no more.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::{Error, Kind};

/// The protocol version byte (RFC 1928 §3).
const VERSION: u8 = 5;
/// Authentication methods (RFC 1928 §3).
const NO_AUTH: u8 = 0x00;
const USER_PASSWORD: u8 = 0x02;
const NO_ACCEPTABLE: u8 = 0xFF;
/// The username/password subnegotiation's version byte (RFC 1929 §2).
const AUTH_VERSION: u8 = 1;
/// The CONNECT command (RFC 1928 §4).
const CONNECT: u8 = 0x01;
/// Address types (RFC 1928 §5).
const ATYP_V4: u8 = 0x01;
const ATYP_NAME: u8 = 0x03;
const ATYP_V6: u8 = 0x04;

/// Who the proxy is asked to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target<'a> {
    /// An address (`socks5://` after local resolution, or an IP literal in the URL).
    Addr(SocketAddr),
    /// A host name the proxy resolves (`socks5h://`).
    Name(&'a str, u16),
}

impl fmt::Display for Target<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Addr(a) => write!(f, "{a}"),
            Target::Name(host, port) => write!(f, "{host}:{port}"),
        }
    }
}

/// Runs the handshake on `io` (the stream to the proxy) within `timeout`, authenticating
/// with `credentials` (user, password) when given. On success the stream carries the
/// target's bytes, none of them read yet.
pub(crate) async fn connect<T>(
    io: &mut T,
    target: &Target<'_>,
    credentials: Option<(&[u8], &[u8])>,
    timeout: Duration,
) -> Result<(), Error>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let request = request(target)?;
    // What the client waits for (an index into `WAITS`), named if the timeout strikes. The
    // future must stay `Send` and `Sync`, hence an atomic rather than a `Cell`.
    const WAITS: [&str; 3] = [
        "its choice of authentication method",
        "its verdict on the user name and password",
        "its reply to CONNECT",
    ];
    let waiting = AtomicUsize::new(0);
    let exchange = async {
        let mut greeting = vec![VERSION];
        match credentials {
            Some(_) => greeting.extend_from_slice(&[2, NO_AUTH, USER_PASSWORD]),
            None => greeting.extend_from_slice(&[1, NO_AUTH]),
        }
        io.write_all(&greeting).await.map_err(write_failed)?;
        let mut choice = [0u8; 2];
        read(io, &mut choice).await?;
        if choice[0] != VERSION {
            return Err(not_socks5(choice));
        }
        match (choice[1], credentials) {
            (NO_AUTH, _) => {}
            (USER_PASSWORD, Some((user, password))) => {
                waiting.store(1, Ordering::Relaxed);
                authenticate(io, user, password).await?;
            }
            (NO_ACCEPTABLE, offered) => {
                return Err(Error::with_cause(
                    Kind::Proxy,
                    "the SOCKS5 proxy accepts none of the offered authentication methods",
                    match offered {
                        Some(_) => "offered: none, username/password",
                        None => "offered: none (give the proxy URL user:password@ for RFC 1929)",
                    },
                ))
            }
            (method, _) => {
                return Err(Error::with_cause(
                    Kind::Proxy,
                    "the SOCKS5 proxy chose an authentication method that was not offered",
                    format!("method 0x{method:02x}"),
                ))
            }
        }
        waiting.store(2, Ordering::Relaxed);
        io.write_all(&request).await.map_err(write_failed)?;
        read_reply(io, target).await
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(Error::with_cause(
            Kind::ConnectTimeout,
            "the SOCKS5 proxy did not finish its handshake within the connect timeout",
            format!("waiting for {}", WAITS[waiting.load(Ordering::Relaxed)]),
        )
        .at_proxy()),
    }
}

/// The CONNECT request for `target` (RFC 1928 §4, §5).
fn request(target: &Target<'_>) -> Result<Vec<u8>, Error> {
    let mut req = vec![VERSION, CONNECT, 0];
    let port = match target {
        Target::Addr(SocketAddr::V4(a)) => {
            req.push(ATYP_V4);
            req.extend_from_slice(&a.ip().octets());
            a.port()
        }
        Target::Addr(SocketAddr::V6(a)) => {
            req.push(ATYP_V6);
            req.extend_from_slice(&a.ip().octets());
            a.port()
        }
        Target::Name(host, port) => {
            // An IP literal goes as an address, as curl sends it.
            if let Ok(ip) = host.parse::<IpAddr>() {
                return request(&Target::Addr(SocketAddr::new(ip, *port)));
            }
            let len = u8::try_from(host.len())
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    Error::new(
                        Kind::Usage,
                        "a host name for a SOCKS5 proxy must be 1 to 255 bytes (RFC 1928 §5)",
                    )
                })?;
            req.push(ATYP_NAME);
            req.push(len);
            req.extend_from_slice(host.as_bytes());
            *port
        }
    };
    req.extend_from_slice(&port.to_be_bytes());
    Ok(req)
}

/// RFC 1929 §2: version 1, the user name and the password, each after its length; the
/// status 0 is success, anything else a refusal (and the proxy closes).
async fn authenticate<T>(io: &mut T, user: &[u8], password: &[u8]) -> Result<(), Error>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let (Ok(ulen), Ok(plen)) = (u8::try_from(user.len()), u8::try_from(password.len())) else {
        return Err(Error::new(
            Kind::Usage,
            "a SOCKS5 proxy's user name and password are at most 255 bytes each (RFC 1929)",
        ));
    };
    let mut msg = Vec::with_capacity(3 + user.len() + password.len());
    msg.extend_from_slice(&[AUTH_VERSION, ulen]);
    msg.extend_from_slice(user);
    msg.push(plen);
    msg.extend_from_slice(password);
    io.write_all(&msg).await.map_err(write_failed)?;
    let mut verdict = [0u8; 2];
    read(io, &mut verdict).await?;
    match verdict {
        [AUTH_VERSION, 0] => Ok(()),
        [AUTH_VERSION, status] => Err(Error::with_cause(
            Kind::Proxy,
            "the SOCKS5 proxy refused the user name and password",
            format!("RFC 1929 status 0x{status:02x}"),
        )),
        [version, _] => Err(Error::with_cause(
            Kind::Proxy,
            "the SOCKS5 proxy's answer to the user name and password is malformed",
            format!("version 0x{version:02x}, not 0x01 (RFC 1929 §2)"),
        )),
    }
}

/// The reply (RFC 1928 §6): version, reply code, a reserved byte, then the address the proxy
/// bound, whose length the address type gives, and its port. The address is read (so the
/// stream is left at the target's first byte) and dropped.
async fn read_reply<T>(io: &mut T, target: &Target<'_>) -> Result<(), Error>
where
    T: AsyncRead + Unpin,
{
    let mut head = [0u8; 4];
    read(io, &mut head).await?;
    let [version, code, _reserved, atyp] = head;
    if version != VERSION {
        return Err(not_socks5([version, code]));
    }
    if code != 0 {
        return Err(Error::with_cause(
            Kind::Proxy,
            "the SOCKS5 proxy could not connect to the target",
            format!("{} (reply 0x{code:02x}) for {target}", reply_meaning(code)),
        ));
    }
    let len = match atyp {
        ATYP_V4 => 4,
        ATYP_V6 => 16,
        ATYP_NAME => {
            let mut len = [0u8; 1];
            read(io, &mut len).await?;
            if len[0] == 0 {
                return Err(Error::with_cause(
                    Kind::Proxy,
                    "the SOCKS5 proxy's reply is malformed",
                    "its bound address is an empty host name",
                ));
            }
            usize::from(len[0])
        }
        other => {
            return Err(Error::with_cause(
                Kind::Proxy,
                "the SOCKS5 proxy's reply is malformed",
                format!("address type 0x{other:02x} is none of IPv4, name, IPv6 (RFC 1928 §5)"),
            ))
        }
    };
    // At most 255 + 2 bytes, on a stack buffer.
    let mut rest = [0u8; 257];
    read(io, &mut rest[..len + 2]).await
}

/// RFC 1928 §6's meaning of a reply code.
fn reply_meaning(code: u8) -> &'static str {
    match code {
        0x01 => "general SOCKS server failure",
        0x02 => "connection not allowed by ruleset",
        0x03 => "network unreachable",
        0x04 => "host unreachable",
        0x05 => "connection refused",
        0x06 => "TTL expired",
        0x07 => "command not supported",
        0x08 => "address type not supported",
        _ => "an unassigned reply code",
    }
}

/// Fills `buf` from the proxy.
async fn read<T: AsyncRead + Unpin>(io: &mut T, buf: &mut [u8]) -> Result<(), Error> {
    match io.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(Error::new(
            Kind::Proxy,
            "the SOCKS5 proxy closed the connection during its handshake",
        )),
        Err(e) => Err(Error::with_cause(
            Kind::Proxy,
            "reading the SOCKS5 proxy's answer failed",
            e,
        )),
    }
}

fn write_failed(e: std::io::Error) -> Error {
    Error::with_cause(Kind::Proxy, "writing to the SOCKS5 proxy failed", e)
}

/// An answer whose first byte is not version 5.
fn not_socks5(first: [u8; 2]) -> Error {
    let hint = match &first {
        b"HT" => " (\"HT\": an HTTP proxy? name it http://)",
        _ => "",
    };
    Error::with_cause(
        Kind::Proxy,
        "the proxy's answer is not SOCKS5",
        format!("it began with 0x{:02x} 0x{:02x}{hint}", first[0], first[1]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    /// Runs the handshake against a scripted proxy: `answer` is written in one go, and what
    /// the client sent is returned with the outcome.
    async fn against(
        target: Target<'_>,
        credentials: Option<(&[u8], &[u8])>,
        answer: &[u8],
    ) -> (Result<(), Error>, Vec<u8>) {
        let (mut client, mut proxy) = duplex(4096);
        proxy.write_all(answer).await.unwrap();
        let result = connect(
            &mut client,
            &target,
            credentials,
            Duration::from_millis(200),
        )
        .await;
        drop(client);
        let mut sent = Vec::new();
        proxy.read_to_end(&mut sent).await.unwrap();
        (result, sent)
    }

    #[tokio::test]
    async fn exact_bytes_without_and_with_credentials() {
        let ok_v4 = [5, 0, 0, 1, 10, 0, 0, 1, 0x1f, 0x90];
        let answer = [&[5u8, 0][..], &ok_v4].concat();
        let (r, sent) = against(Target::Name("example.test", 80), None, &answer).await;
        r.unwrap();
        let mut want = vec![5, 1, 0, 5, 1, 0, 3, 12];
        want.extend_from_slice(b"example.test");
        want.extend_from_slice(&[0, 80]);
        assert_eq!(sent, want);

        let answer = [&[5u8, 2, 1, 0][..], &ok_v4].concat();
        let (r, sent) = against(
            Target::Addr("[2001:db8::1]:443".parse().unwrap()),
            Some((b"us", b"pw!")),
            &answer,
        )
        .await;
        r.unwrap();
        let mut want = vec![
            5, 2, 0, 2, 1, 2, b'u', b's', 3, b'p', b'w', b'!', 5, 1, 0, 4,
        ];
        want.extend_from_slice(
            &"2001:db8::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        want.extend_from_slice(&[1, 0xbb]);
        assert_eq!(sent, want);

        // An IP literal named for remote resolution still goes as an address.
        let answer = [&[5u8, 0][..], &ok_v4].concat();
        let (r, sent) = against(Target::Name("192.0.2.7", 8080), None, &answer).await;
        r.unwrap();
        assert_eq!(sent, [5, 1, 0, 5, 1, 0, 1, 192, 0, 2, 7, 0x1f, 0x90]);
    }

    #[tokio::test]
    async fn the_reply_is_read_exactly_and_what_follows_is_left() {
        let (mut client, mut proxy) = duplex(4096);
        let reply = [5u8, 0, 5, 0, 0, 3, 4, b'h', b'o', b's', b't', 0, 1];
        proxy
            .write_all(&[&reply[..], b"HTTP/1.1"].concat())
            .await
            .unwrap();
        connect(
            &mut client,
            &Target::Name("a.test", 1),
            None,
            Duration::from_secs(1),
        )
        .await
        .unwrap();
        let mut next = [0u8; 8];
        client.read_exact(&mut next).await.unwrap();
        assert_eq!(&next, b"HTTP/1.1");
    }

    #[tokio::test]
    async fn refusals_and_malformed_answers_are_proxy_errors_that_say_what() {
        let t = || Target::Name("example.test", 80);
        /// The proxy's answer, the credentials the client has, the error it must give.
        type Case<'a> = (&'a [u8], Option<(&'a [u8], &'a [u8])>, &'a str);
        let cases: [Case; 9] = [
            (
                &[5, 0, 5, 5, 0, 1, 0, 0, 0, 0, 0, 0],
                None,
                "the SOCKS5 proxy could not connect to the target: connection refused \
                 (reply 0x05) for example.test:80",
            ),
            (
                &[5, 0, 5, 2, 0, 1],
                None,
                "the SOCKS5 proxy could not connect to the target: connection not allowed \
                 by ruleset (reply 0x02) for example.test:80",
            ),
            (
                &[5, 0xff],
                None,
                "the SOCKS5 proxy accepts none of the offered authentication methods: \
                 offered: none (give the proxy URL user:password@ for RFC 1929)",
            ),
            (
                &[5, 2],
                None,
                "the SOCKS5 proxy chose an authentication method that was not offered: \
                 method 0x02",
            ),
            (
                &[5, 2, 1, 1],
                Some((b"u", b"p")),
                "the SOCKS5 proxy refused the user name and password: RFC 1929 status 0x01",
            ),
            (
                b"HTTP/1.1 400 Bad Request\r\n\r\n",
                None,
                "the proxy's answer is not SOCKS5: it began with 0x48 0x54 (\"HT\": an \
                 HTTP proxy? name it http://)",
            ),
            (
                &[5, 0, 5, 0, 0, 3, 0, 0, 80],
                None,
                "the SOCKS5 proxy's reply is malformed: its bound address is an empty host name",
            ),
            (
                &[5, 0, 5, 0, 0, 9, 1, 2, 3, 4, 0, 80],
                None,
                "the SOCKS5 proxy's reply is malformed: address type 0x09 is none of IPv4, \
                 name, IPv6 (RFC 1928 §5)",
            ),
            (
                &[5, 0, 5, 0, 0, 3, 200, b'a', b'b'],
                None,
                "the SOCKS5 proxy closed the connection during its handshake",
            ),
        ];
        for (answer, creds, want) in cases {
            let (mut client, mut proxy) = duplex(4096);
            proxy.write_all(answer).await.unwrap();
            // The proxy stops writing after its answer (a short one ends in an end of
            // stream), and takes what the client writes.
            proxy.shutdown().await.unwrap();
            let err = connect(&mut client, &t(), creds, Duration::from_secs(1))
                .await
                .expect_err(want);
            drop(proxy);
            assert_eq!(err.to_string(), want);
            assert_eq!(err.kind(), Kind::Proxy, "{want}");
            assert!(err.is_proxy() && err.is_connect(), "{want}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn silence_and_a_short_reply_end_at_the_timeout_naming_the_wait() {
        for (answer, waiting) in [
            (&[][..], "waiting for its choice of authentication method"),
            (
                &[5, 0, 5, 0, 0, 3, 200, b'a'][..],
                "waiting for its reply to CONNECT",
            ),
        ] {
            let (mut client, mut proxy) = duplex(4096);
            proxy.write_all(answer).await.unwrap();
            let err = connect(
                &mut client,
                &Target::Name("a.test", 1),
                None,
                Duration::from_millis(500),
            )
            .await
            .unwrap_err();
            assert_eq!(err.kind(), Kind::ConnectTimeout);
            assert!(err.is_timeout() && err.is_proxy());
            assert_eq!(
                err.to_string(),
                format!(
                    "the SOCKS5 proxy did not finish its handshake within the connect \
                     timeout: {waiting}"
                )
            );
            drop(proxy);
        }
    }

    #[test]
    fn names_too_long_for_the_length_byte_are_refused_before_sending() {
        let long = "a".repeat(256);
        let err = request(&Target::Name(&long, 80)).unwrap_err();
        assert_eq!(err.kind(), Kind::Usage);
        assert!(request(&Target::Name(&long[..255], 80)).is_ok());
        assert!(request(&Target::Name("", 80)).is_err());
    }
}
