//! Name resolution as a seam of the dialer: the [`Resolve`] trait that turns a host and port
//! into addresses to connect to, the system resolver (getaddrinfo, on the runtime's blocking
//! threads) that is the default, and fixed answers for given hosts and ports in front of any
//! resolver (curl's `--resolve`). Knows nothing of HTTP.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

/// The future a [`Resolve`] returns: the addresses for a host and port.
pub type Resolving<'a> = Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>>;

/// Finds the addresses of a host, as the dialer asks before connecting (reqwest's
/// `dns::Resolve`, Go's `net.Resolver`). The dialer calls it for names only: an IP literal is
/// connected to as it is. The addresses are tried in the order given, IPv6 and IPv4
/// interleaved (Happy Eyeballs), each exactly as returned, port included; an empty list fails
/// the dial. The whole resolution counts against the connect timeout.
///
/// ```
/// use std::net::SocketAddr;
/// use nethttp::net::{Resolve, Resolving};
///
/// /// Every name is this one address (a test double, or a sidecar proxy).
/// struct Everything(std::net::IpAddr);
///
/// impl Resolve for Everything {
///     fn resolve<'a>(&'a self, _host: &'a str, port: u16) -> Resolving<'a> {
///         Box::pin(async move { Ok(vec![SocketAddr::new(self.0, port)]) })
///     }
/// }
///
/// let client = nethttp::Client::builder()
///     .transport(|t| t.resolver(Everything([127, 0, 0, 1].into())))
///     .build();
/// # let _ = client;
/// ```
pub trait Resolve: Send + Sync {
    /// The addresses of `host` (a name, never an IP literal) for a connection to `port`.
    fn resolve<'a>(&'a self, host: &'a str, port: u16) -> Resolving<'a>;
}

impl<R: Resolve + ?Sized> Resolve for Arc<R> {
    fn resolve<'a>(&'a self, host: &'a str, port: u16) -> Resolving<'a> {
        (**self).resolve(host, port)
    }
}

impl<R: Resolve + ?Sized> Resolve for Box<R> {
    fn resolve<'a>(&'a self, host: &'a str, port: u16) -> Resolving<'a> {
        (**self).resolve(host, port)
    }
}

/// The system's resolver: `getaddrinfo` (`/etc/hosts`, then DNS as the system is set up), run
/// on the runtime's blocking threads by `tokio::net::lookup_host`. The default of every
/// dialer; a custom [`Resolve`] can fall back to it.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve<'a>(&'a self, host: &'a str, port: u16) -> Resolving<'a> {
        Box::pin(async move { Ok(tokio::net::lookup_host((host, port)).await?.collect()) })
    }
}

/// Fixed answers for some hosts on some ports, in front of another resolver: curl's
/// `--resolve HOST:PORT:ADDR`. An entry answers only for its host (compared without case)
/// and its port; every other question goes to `fallback`.
pub(crate) struct Overrides {
    /// Host (lowercase, no brackets), port, and the addresses to answer, in order.
    entries: Vec<(Box<str>, u16, Vec<SocketAddr>)>,
    fallback: Arc<dyn Resolve>,
}

impl Overrides {
    /// Answers each `(host, port, addr)` for `host` on `port` with `addr` (entries with the
    /// same host and port add addresses, in order), and asks `fallback` the rest. `addr`'s
    /// own port is where the connection goes: the same as `port` for curl's `--resolve`,
    /// another for its `--connect-to`.
    pub(crate) fn new(
        pairs: &[(String, u16, SocketAddr)],
        fallback: Arc<dyn Resolve>,
    ) -> Overrides {
        let mut entries: Vec<(Box<str>, u16, Vec<SocketAddr>)> = Vec::new();
        for (host, port, addr) in pairs {
            let host = normalize(host);
            match entries
                .iter_mut()
                .find(|(h, p, _)| **h == *host && p == port)
            {
                Some((_, _, addrs)) => addrs.push(*addr),
                None => entries.push((host.into(), *port, vec![*addr])),
            }
        }
        Overrides { entries, fallback }
    }

    fn lookup(&self, host: &str, port: u16) -> Option<&[SocketAddr]> {
        let host = normalize(host);
        self.entries
            .iter()
            .find(|(h, p, _)| **h == *host && *p == port)
            .map(|(_, _, addrs)| addrs.as_slice())
    }
}

impl Resolve for Overrides {
    fn resolve<'a>(&'a self, host: &'a str, port: u16) -> Resolving<'a> {
        match self.lookup(host, port) {
            Some(addrs) => {
                let addrs = addrs.to_vec();
                Box::pin(async move { Ok(addrs) })
            }
            None => self.fallback.resolve(host, port),
        }
    }
}

/// A host as entries compare it: lowercase, an IPv6 literal without its brackets.
fn normalize(host: &str) -> String {
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers every question with nothing, counting them.
    struct Nothing(std::sync::atomic::AtomicUsize);

    impl Resolve for Nothing {
        fn resolve<'a>(&'a self, _host: &'a str, _port: u16) -> Resolving<'a> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Box::pin(async { Ok(Vec::new()) })
        }
    }

    #[tokio::test]
    async fn an_override_answers_only_for_its_host_and_port() {
        let a: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let b: SocketAddr = "[::1]:8080".parse().unwrap();
        let fallback = Arc::new(Nothing(Default::default()));
        let o = Overrides::new(
            &[
                ("Example.TEST".into(), a.port(), a),
                ("example.test".into(), b.port(), b),
            ],
            fallback.clone(),
        );
        assert_eq!(o.resolve("example.test", 8080).await.unwrap(), [a, b]);
        assert_eq!(o.resolve("EXAMPLE.test", 8080).await.unwrap(), [a, b]);
        let asked = || fallback.0.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(asked(), 0);
        assert!(o.resolve("example.test", 80).await.unwrap().is_empty());
        assert!(o.resolve("other.test", 8080).await.unwrap().is_empty());
        assert_eq!(asked(), 2, "other ports and hosts go to the fallback");
    }

    #[tokio::test]
    async fn the_system_resolver_finds_localhost() {
        let addrs = SystemResolver.resolve("localhost", 81).await.unwrap();
        assert!(!addrs.is_empty());
        assert!(addrs.iter().all(|a| a.port() == 81 && a.ip().is_loopback()));
    }
}
