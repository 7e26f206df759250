//! Binding and listening through socket2 (explicit backlog, SO_REUSEADDR, opt-in SO_REUSEPORT,
//! IPv4 and IPv6), and an `accept` that survives temporary errors by backing off — the first
//! step of the server path.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpStream};

use super::socket::is_temporary_accept_error;

/// How to create a listening socket.
#[derive(Debug, Clone)]
pub struct BindOptions {
    /// The `listen(2)` backlog: connections the kernel queues before we accept them.
    /// Default: 1024. The kernel caps it at `net.core.somaxconn`.
    pub backlog: u32,
    /// SO_REUSEADDR, so a restarted server can bind while old connections sit in TIME_WAIT.
    /// Default: on.
    pub reuse_address: bool,
    /// SO_REUSEPORT, so several listeners (one per worker) can share the port and the kernel
    /// spreads connections across them. Default: off.
    pub reuse_port: bool,
    /// IPV6_V6ONLY for IPv6 addresses. Default: `None`, the system's setting (on Linux an
    /// unspecified `[::]` address then also accepts IPv4).
    pub only_v6: Option<bool>,
}

impl Default for BindOptions {
    fn default() -> Self {
        BindOptions {
            backlog: 1024,
            reuse_address: true,
            reuse_port: false,
            only_v6: None,
        }
    }
}

/// Exponential backoff for the accept loop: 5 ms doubling to 1 s, reset after a success —
/// Go's `Server.Serve` schedule. Waiting instead of retrying at once keeps a server that ran
/// out of file descriptors from spinning a core while it waits for connections to close.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Option<Duration>,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(5);
    const MAX: Duration = Duration::from_secs(1);

    /// A backoff at rest.
    pub fn new() -> Self {
        Backoff { next: None }
    }

    /// The delay before the next attempt after another failure.
    pub fn fail(&mut self) -> Duration {
        let d = match self.next {
            None => Self::FIRST,
            Some(d) => (d * 2).min(Self::MAX),
        };
        self.next = Some(d);
        d
    }

    /// Back to rest after a success.
    pub fn reset(&mut self) {
        self.next = None;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

/// A listening TCP socket whose `accept` never fails on a temporary error.
#[derive(Debug)]
pub struct Listener {
    inner: TcpListener,
    backoff: Backoff,
}

impl Listener {
    /// Creates, binds and listens on `addr` with `opts`. Must be called inside a tokio runtime.
    pub fn bind(addr: SocketAddr, opts: &BindOptions) -> io::Result<Listener> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        if opts.reuse_address {
            socket.set_reuse_address(true)?;
        }
        if opts.reuse_port {
            socket.set_reuse_port(true)?;
        }
        if let (SocketAddr::V6(_), Some(v6)) = (addr, opts.only_v6) {
            socket.set_only_v6(v6)?;
        }
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        socket.listen(opts.backlog.min(i32::MAX as u32) as i32)?;
        Listener::from_std(socket.into())
    }

    /// Wraps a listener the caller already bound (for example, one inherited from a
    /// supervisor). It is switched to non-blocking mode.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<Listener> {
        listener.set_nonblocking(true)?;
        Ok(Listener {
            inner: TcpListener::from_std(listener)?,
            backoff: Backoff::new(),
        })
    }

    /// Wraps a tokio listener.
    pub fn from_tokio(listener: TcpListener) -> Listener {
        Listener {
            inner: listener,
            backoff: Backoff::new(),
        }
    }

    /// The bound address (with the real port when bound to port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Accepts the next connection. Temporary errors (fd exhaustion, connections aborted
    /// before accept) are logged and retried after a backoff; only errors that mean the
    /// listener itself is broken are returned.
    pub async fn accept(&mut self) -> io::Result<(TcpStream, SocketAddr)> {
        loop {
            match self.inner.accept().await {
                Ok(conn) => {
                    self.backoff.reset();
                    return Ok(conn);
                }
                Err(e) if is_temporary_accept_error(&e) => {
                    let delay = self.backoff.fail();
                    tracing::warn!(error = %e, ?delay, "accept failed; retrying after backoff");
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// The listening socket, to pass to a successor process (see [`super::spawn_successor`]).
impl std::os::fd::AsFd for Listener {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_one_second_and_resets() {
        let mut b = Backoff::new();
        let seq: Vec<u64> = (0..10).map(|_| b.fail().as_millis() as u64).collect();
        assert_eq!(seq, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        b.reset();
        assert_eq!(b.fail(), Duration::from_millis(5));
    }

    #[tokio::test]
    async fn binds_ipv4_and_ipv6_loopback_with_port_zero() {
        let l4 = Listener::bind("127.0.0.1:0".parse().unwrap(), &BindOptions::default()).unwrap();
        assert_ne!(l4.local_addr().unwrap().port(), 0);
        let l6 = Listener::bind("[::1]:0".parse().unwrap(), &BindOptions::default()).unwrap();
        assert!(l6.local_addr().unwrap().is_ipv6());
    }

    #[tokio::test]
    async fn reuse_port_lets_two_listeners_share_a_port() {
        let opts = BindOptions {
            reuse_port: true,
            ..BindOptions::default()
        };
        let a = Listener::bind("127.0.0.1:0".parse().unwrap(), &opts).unwrap();
        let addr = a.local_addr().unwrap();
        let b = Listener::bind(addr, &opts).unwrap();
        assert_eq!(b.local_addr().unwrap(), addr);
        // Without SO_REUSEPORT the same bind fails.
        assert!(Listener::bind(addr, &BindOptions::default()).is_err());
    }
}
