//! The `--addr` of `nethttp serve`, as Go's `net.Listen` takes it: `HOST:PORT` with an IP
//! literal, `:PORT` for every interface, or a host name such as `localhost:PORT`, resolved
//! (IPv4 first, as Go picks an IPv4 address to listen on when a name has both).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

/// The addresses to try binding, in order; the first that binds is used. `:PORT` gives the
/// unspecified IPv6 address (dual-stack, so IPv4 clients reach it too) and then the IPv4 one
/// for machines without IPv6.
pub fn resolve(addr: &str) -> Result<Vec<SocketAddr>, String> {
    if let Some(port) = addr.strip_prefix(':') {
        let port = parse_port(addr, port)?;
        return Ok(vec![
            (Ipv6Addr::UNSPECIFIED, port).into(),
            (Ipv4Addr::UNSPECIFIED, port).into(),
        ]);
    }
    if let Ok(a) = addr.parse::<SocketAddr>() {
        return Ok(vec![a]);
    }
    let (host, port) = addr.rsplit_once(':').ok_or_else(|| {
        format!("listen address {addr:?} has no port: use HOST:PORT, or :PORT for every interface")
    })?;
    if host.is_empty() || host.contains(':') || host.starts_with('[') {
        return Err(format!("invalid listen address {addr:?}"));
    }
    let port = parse_port(addr, port)?;
    let mut found: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("resolving listen address {addr:?}: {e}"))?
        .collect();
    found.sort_by_key(|a| !a.is_ipv4());
    found.dedup();
    if found.is_empty() {
        return Err(format!("listen address {addr:?} resolves to no address"));
    }
    Ok(found)
}

fn parse_port(addr: &str, port: &str) -> Result<u16, String> {
    port.parse()
        .map_err(|_| format!("invalid port in listen address {addr:?}: a number from 0 to 65535"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(
            resolve(":8080").unwrap(),
            [
                "[::]:8080".parse().unwrap(),
                "0.0.0.0:8080".parse().unwrap()
            ]
        );
        assert_eq!(
            resolve("127.0.0.1:80").unwrap(),
            ["127.0.0.1:80".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(
            resolve("[::1]:80").unwrap(),
            ["[::1]:80".parse::<SocketAddr>().unwrap()]
        );
        let local = resolve("localhost:0").unwrap();
        assert!(local.iter().all(|a| a.ip().is_loopback()), "{local:?}");
        for bad in [
            "127.0.0.1",
            ":99999",
            ":http",
            "localhost",
            "[::1",
            ":",
            "a:b:c",
        ] {
            let e = resolve(bad).unwrap_err();
            assert!(e.contains(bad), "{bad}: {e}");
        }
    }
}
