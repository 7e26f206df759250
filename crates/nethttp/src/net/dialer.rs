//! Outbound connections: name resolution (the system's, or any [`Resolve`]), a connect timeout
//! over the whole dial, Happy Eyeballs between IPv6 and IPv4 (RFC 8305), an optional local
//! address, and the socket options every client connection gets. Knows nothing of HTTP.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpSocket, TcpStream};

use super::resolve::{Resolve, SystemResolver};
use super::SocketOptions;

/// Callbacks observing a dial, for tracing. All default to doing nothing.
pub trait DialEvents: Send + Sync {
    /// Name resolution of `host` starts (not called for IP literals).
    fn dns_start(&self, _host: &str) {}
    /// Name resolution finished with these addresses, or failed.
    fn dns_done(&self, _addrs: &[SocketAddr], _err: Option<&io::Error>) {}
    /// A connection attempt to `addr` starts.
    fn connect_start(&self, _addr: SocketAddr) {}
    /// A connection attempt to `addr` finished; `err` is `None` on success.
    fn connect_done(&self, _addr: SocketAddr, _err: Option<&io::Error>) {}
}

struct NoEvents;
impl DialEvents for NoEvents {}

/// How to open TCP connections.
#[derive(Debug, Clone)]
pub struct Dialer {
    /// Time allowed for the whole dial, resolution included. Default: 30 s. Zero means the
    /// dial fails at once; there is no "no timeout".
    pub connect_timeout: Duration,
    /// TCP_NODELAY and keepalive, the same options accepted sockets get. Default: NODELAY on
    /// (requests are written whole), keepalive after 15 s idle.
    pub socket: SocketOptions,
    /// Delay before racing the next address family when the first attempt has not finished
    /// (RFC 8305 §5 recommends 250 ms). Default: 250 ms.
    pub fallback_delay: Duration,
    /// Local address to bind before connecting (its port is usually 0). Default: none, the
    /// kernel chooses. Addresses of the other family are skipped.
    pub local_addr: Option<IpAddr>,
}

impl Default for Dialer {
    fn default() -> Self {
        Dialer {
            connect_timeout: Duration::from_secs(30),
            socket: SocketOptions::default(),
            fallback_delay: Duration::from_millis(250),
            local_addr: None,
        }
    }
}

impl Dialer {
    /// Resolves `host` and connects to one of its addresses on `port`. Fails with
    /// `ErrorKind::TimedOut` when the connect timeout passes.
    pub async fn dial(&self, host: &str, port: u16) -> io::Result<TcpStream> {
        self.dial_observed(host, port, &NoEvents).await
    }

    /// [`Dialer::dial`], reporting each step to `events`.
    pub async fn dial_observed(
        &self,
        host: &str,
        port: u16,
        events: &dyn DialEvents,
    ) -> io::Result<TcpStream> {
        self.dial_with(host, port, &SystemResolver, events).await
    }

    /// [`Dialer::dial_observed`] with the addresses of a name found by `resolver` instead of
    /// the system's. An IP literal is not resolved. The connect timeout covers the resolver
    /// too; an empty answer fails with `ErrorKind::NotFound`.
    ///
    /// ```no_run
    /// # async fn run() -> std::io::Result<()> {
    /// use nethttp::net::{DialEvents, Dialer, SystemResolver};
    /// struct Quiet;
    /// impl DialEvents for Quiet {}
    /// let tcp = Dialer::default()
    ///     .dial_with("localhost", 8080, &SystemResolver, &Quiet)
    ///     .await?;
    /// # let _ = tcp; Ok(()) }
    /// ```
    pub async fn dial_with(
        &self,
        host: &str,
        port: u16,
        resolver: &dyn Resolve,
        events: &dyn DialEvents,
    ) -> io::Result<TcpStream> {
        if self.connect_timeout.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connect to {host}:{port}: the connect timeout is zero"),
            ));
        }
        let work = async {
            let addrs = self.resolve(host, port, resolver, events).await?;
            self.connect_any(addrs, events).await
        };
        match tokio::time::timeout(self.connect_timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connect to {host}:{port} timed out"),
            )),
        }
    }

    async fn resolve(
        &self,
        host: &str,
        port: u16,
        resolver: &dyn Resolve,
        events: &dyn DialEvents,
    ) -> io::Result<Vec<SocketAddr>> {
        // IP literals (bracketed for IPv6 in URLs) need no lookup, and no blocking thread.
        let literal = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if let Ok(ip) = literal.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        events.dns_start(host);
        let found = resolver.resolve(host, port).await;
        let mut addrs: Vec<SocketAddr> = match found {
            Ok(addrs) => addrs,
            Err(e) => {
                events.dns_done(&[], Some(&e));
                return Err(e);
            }
        };
        if let Some(local) = self.local_addr {
            addrs.retain(|a| a.is_ipv4() == local.is_ipv4());
        }
        if addrs.is_empty() {
            let e = io::Error::new(
                io::ErrorKind::NotFound,
                format!("no usable address for {host}"),
            );
            events.dns_done(&[], Some(&e));
            return Err(e);
        }
        let addrs = interleave_families(addrs);
        events.dns_done(&addrs, None);
        Ok(addrs)
    }

    /// Tries the addresses in order; each attempt after the first starts when the previous
    /// one failed or `fallback_delay` passed without an answer, whichever is first. The first
    /// connection made wins and the rest are dropped (RFC 8305 §5).
    async fn connect_any(
        &self,
        addrs: Vec<SocketAddr>,
        events: &dyn DialEvents,
    ) -> io::Result<TcpStream> {
        if addrs.len() == 1 {
            return self.connect_one(addrs[0], events).await;
        }
        // Attempts borrow `self` and `events`, so they race here rather than in spawned tasks.
        let mut attempts: Vec<Pin<Box<dyn Future<Output = _> + Send + '_>>> = Vec::new();
        let mut next = addrs.into_iter();
        let mut last_err: Option<io::Error> = None;
        loop {
            if let Some(addr) = next.next() {
                attempts.push(Box::pin(
                    async move { self.connect_one(addr, events).await },
                ));
            } else if attempts.is_empty() {
                return Err(last_err
                    .unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no addresses")));
            }
            let more_left = next.len() > 0;
            let delay = tokio::time::sleep(self.fallback_delay);
            tokio::pin!(delay);
            // Wait for an attempt to finish, or for the fallback delay to start another.
            let outcome = std::future::poll_fn(|cx| {
                let mut i = 0;
                while i < attempts.len() {
                    if let std::task::Poll::Ready(r) = attempts[i].as_mut().poll(cx) {
                        drop(attempts.swap_remove(i));
                        return std::task::Poll::Ready(Some(r));
                    }
                    i += 1;
                }
                if more_left && delay.as_mut().poll(cx).is_ready() {
                    return std::task::Poll::Ready(None);
                }
                std::task::Poll::Pending
            })
            .await;
            match outcome {
                Some(Ok(stream)) => return Ok(stream),
                Some(Err(e)) => last_err = Some(e),
                None => {}
            }
        }
    }

    async fn connect_one(
        &self,
        addr: SocketAddr,
        events: &dyn DialEvents,
    ) -> io::Result<TcpStream> {
        events.connect_start(addr);
        let r = self.connect_socket(addr).await;
        match &r {
            Ok(_) => events.connect_done(addr, None),
            Err(e) => events.connect_done(addr, Some(e)),
        }
        r.map_err(|e| io::Error::new(e.kind(), format!("connect to {addr}: {e}")))
    }

    async fn connect_socket(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nonblocking(true)?;
        socket.set_cloexec(true)?;
        if let Some(ip) = self.local_addr {
            socket.bind(&SocketAddr::new(ip, 0).into())?;
        }
        let socket = TcpSocket::from_std_stream(std::net::TcpStream::from(socket));
        let stream = socket.connect(addr).await?;
        self.socket.apply(&stream)?;
        Ok(stream)
    }
}

/// Orders addresses IPv6, IPv4, IPv6, ... starting with the family the resolver put first
/// (RFC 8305 §4), so a broken family costs one fallback delay, not one per address.
fn interleave_families(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let first_v6 = addrs[0].is_ipv6();
    let (mut a, mut b): (Vec<_>, Vec<_>) = addrs.into_iter().partition(|x| x.is_ipv6() == first_v6);
    let mut out = Vec::with_capacity(a.len() + b.len());
    a.reverse();
    b.reverse();
    loop {
        match (a.pop(), b.pop()) {
            (None, None) => return out,
            (x, y) => out.extend(x.into_iter().chain(y)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_alternate_starting_with_the_first() {
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        let v4: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let v4b: SocketAddr = "127.0.0.2:80".parse().unwrap();
        assert_eq!(interleave_families(vec![v4, v4b, v6]), vec![v4, v6, v4b]);
        assert_eq!(interleave_families(vec![v6, v4, v4b]), vec![v6, v4, v4b]);
    }

    #[tokio::test]
    async fn connects_and_reports_refusal() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let d = Dialer::default();
        let s = d.dial("127.0.0.1", port).await.unwrap();
        assert!(s.nodelay().unwrap());
        drop(l);
        let e = d.dial("127.0.0.1", port).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");
        assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
    }

    #[tokio::test]
    async fn binds_the_local_address() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let d = Dialer {
            local_addr: Some("127.0.0.2".parse().unwrap()),
            ..Dialer::default()
        };
        let _s = d.dial("127.0.0.1", port).await.unwrap();
        let (_, peer) = l.accept().await.unwrap();
        assert_eq!(peer.ip().to_string(), "127.0.0.2");
    }

    /// A name goes through the resolver, and every step is reported in order.
    #[tokio::test]
    async fn reports_resolution_and_connects() {
        use std::sync::Mutex;
        #[derive(Default)]
        struct Log(Mutex<Vec<String>>);
        impl DialEvents for Log {
            fn dns_start(&self, host: &str) {
                self.0.lock().unwrap().push(format!("dns_start {host}"));
            }
            fn dns_done(&self, addrs: &[SocketAddr], err: Option<&io::Error>) {
                let ok = err.is_none() && !addrs.is_empty();
                self.0.lock().unwrap().push(format!("dns_done {ok}"));
            }
            fn connect_start(&self, addr: SocketAddr) {
                self.0
                    .lock()
                    .unwrap()
                    .push(format!("connect_start {}", addr.ip()));
            }
            fn connect_done(&self, addr: SocketAddr, err: Option<&io::Error>) {
                let ok = err.is_none();
                self.0
                    .lock()
                    .unwrap()
                    .push(format!("connect_done {} {ok}", addr.ip()));
            }
        }
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let log = Log::default();
        // IPv4 only, so "localhost" cannot pick ::1, where nothing listens.
        let d = Dialer {
            local_addr: Some("127.0.0.1".parse().unwrap()),
            ..Dialer::default()
        };
        d.dial_observed("localhost", port, &log).await.unwrap();
        assert_eq!(
            *log.0.lock().unwrap(),
            [
                "dns_start localhost",
                "dns_done true",
                "connect_start 127.0.0.1",
                "connect_done 127.0.0.1 true"
            ]
        );
        let log = Log::default();
        d.dial_observed("127.0.0.1", port, &log).await.unwrap();
        assert_eq!(
            log.0.lock().unwrap().len(),
            2,
            "an IP literal needs no lookup"
        );
    }

    /// The first family's address refuses; the race moves on to the next address at once,
    /// without waiting out the fallback delay.
    #[tokio::test]
    async fn a_refused_address_falls_back_to_the_next() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let good = l.local_addr().unwrap();
        let dead = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
        let bad = dead.local_addr().unwrap();
        drop(dead);
        let d = Dialer {
            fallback_delay: Duration::from_secs(60),
            ..Dialer::default()
        };
        let s = tokio::time::timeout(
            Duration::from_secs(5),
            d.connect_any(vec![bad, good], &NoEvents),
        )
        .await
        .expect("no fallback wait after a refusal")
        .unwrap();
        assert_eq!(s.peer_addr().unwrap(), good);
    }
}
