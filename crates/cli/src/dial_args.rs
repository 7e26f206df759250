//! The dial flags `get` and `bench` share, as curl's: `--unix-socket PATH` (every connection to
//! one Unix domain socket) or `--abstract-unix-socket NAME` (one in Linux's abstract
//! namespace), `--resolve HOST:PORT:ADDR` (a host pinned to addresses on one
//! port) and `--connect-to HOST:PORT:HOST2:PORT2` (connections for a host and port sent to
//! another), checked when parsed (a bad value is a usage error) and turned into the library's
//! transport settings.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::Args;
use nethttp::client::TransportBuilder;

use crate::unix_path::MAX_SOCKET_PATH;

#[derive(Args, Debug, Clone)]
pub struct DialArgs {
    /// Connects to this Unix domain socket instead of the URL's host, as curl's
    /// --unix-socket: the URL still gives the Host header and the scheme (https runs TLS over
    /// the socket, checked against the URL's host). No proxy is used.
    #[arg(long, value_name = "PATH", value_parser = socket_path, requires = "url")]
    unix_socket: Option<PathBuf>,
    /// As --unix-socket, to the socket of this name in Linux's abstract namespace (curl's
    /// --abstract-unix-socket; `nethttp serve --unix @NAME` listens on one).
    #[arg(
        long,
        value_name = "NAME",
        value_parser = crate::unix_path::abstract_name,
        requires = "url",
        conflicts_with_all = ["unix_socket", "resolve", "connect_to"]
    )]
    abstract_unix_socket: Option<PathBuf>,
    /// Connects to ADDR for HOST when the port is PORT, instead of resolving HOST, as curl's
    /// --resolve. ADDR is an IP address (IPv6 in brackets: [::1]), or several separated by
    /// commas, tried in order; repeat the flag for more hosts or ports. The URL keeps HOST
    /// (Host header, TLS name).
    #[arg(
        long,
        value_name = "HOST:PORT:ADDR",
        value_parser = resolve_entry,
        conflicts_with = "unix_socket"
    )]
    resolve: Vec<ResolveEntry>,
    /// Connects to HOST2:PORT2 for requests to HOST:PORT, as curl's --connect-to: the URL
    /// keeps HOST (Host header, TLS name). An empty HOST2 keeps HOST, an empty PORT2 keeps
    /// PORT; HOST2 is resolved once, when the command starts. Repeat for more.
    #[arg(
        long,
        value_name = "HOST:PORT:HOST2:PORT2",
        value_parser = connect_to_entry,
        conflicts_with = "unix_socket"
    )]
    connect_to: Vec<ConnectTo>,
}

/// One `--connect-to` value: requests for `host` on `port` connect to `addrs`.
#[derive(Debug, Clone)]
pub struct ConnectTo {
    host: String,
    port: u16,
    addrs: Vec<SocketAddr>,
}

/// One `--resolve` value: a host, and the addresses (all on one port) to connect to for it.
#[derive(Debug, Clone)]
pub struct ResolveEntry {
    host: String,
    addrs: Vec<SocketAddr>,
}

impl DialArgs {
    /// The transport with these flags applied.
    pub fn apply(&self, mut t: TransportBuilder) -> TransportBuilder {
        if let Some(path) = self.unix_socket() {
            t = t.unix_socket(path);
        }
        for entry in &self.resolve {
            for addr in &entry.addrs {
                t = t.resolve(entry.host.clone(), *addr);
            }
        }
        for entry in &self.connect_to {
            for addr in &entry.addrs {
                t = t.connect_to(entry.host.clone(), entry.port, *addr);
            }
        }
        t
    }

    /// The socket every connection goes to, if one was given (an abstract name as a path
    /// with a leading NUL, as the library takes it).
    pub fn unix_socket(&self) -> Option<&std::path::Path> {
        self.unix_socket
            .as_deref()
            .or(self.abstract_unix_socket.as_deref())
    }
}

/// `HOST:PORT:HOST2:PORT2`, as curl's `--connect-to` takes it (IPv6 in brackets), with HOST2
/// resolved here.
fn connect_to_entry(s: &str) -> Result<ConnectTo, String> {
    let fields = split_fields(s);
    let [host, port, host2, port2] = fields.as_slice() else {
        return Err(format!("{s:?} is not HOST:PORT:HOST2:PORT2"));
    };
    if host.is_empty() || port.is_empty() {
        return Err(format!("{s:?}: HOST and PORT are required"));
    }
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{s:?}: {port:?} is not a port"))?;
    let port2: u16 = if port2.is_empty() {
        port
    } else {
        port2
            .parse()
            .map_err(|_| format!("{s:?}: {port2:?} is not a port"))?
    };
    let target = if host2.is_empty() { host } else { host2 };
    let unbracketed = target.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match unbracketed.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port2)],
        Err(_) => std::net::ToSocketAddrs::to_socket_addrs(&(unbracketed, port2))
            .map_err(|e| format!("{s:?}: resolving {unbracketed}: {e}"))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(format!("{s:?}: {unbracketed} has no address"));
    }
    Ok(ConnectTo {
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port,
        addrs,
    })
}

/// Splits at `:` outside brackets (`[::1]:80` is two fields).
fn split_fields(s: &str) -> Vec<&str> {
    let mut fields = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ':' if depth == 0 => {
                fields.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    fields.push(&s[start..]);
    fields
}

/// A path a Unix socket can have.
fn socket_path(s: &str) -> Result<PathBuf, String> {
    if s.is_empty() {
        return Err("the path is empty".to_owned());
    }
    if s.len() > MAX_SOCKET_PATH {
        return Err(format!(
            "the path is {} bytes long; a Unix socket's may be {MAX_SOCKET_PATH} at most",
            s.len()
        ));
    }
    Ok(PathBuf::from(s))
}

/// `HOST:PORT:ADDR[,ADDR...]`, as curl's `--resolve` takes it.
fn resolve_entry(s: &str) -> Result<ResolveEntry, String> {
    let form = "expected HOST:PORT:ADDR, e.g. example.com:443:127.0.0.1";
    let (host, rest) = s.split_once(':').ok_or(form)?;
    let (port, addrs) = rest.split_once(':').ok_or(form)?;
    if host.is_empty() {
        return Err(format!("no host; {form}"));
    }
    if host == "*" || host.starts_with('+') || host.starts_with('-') {
        return Err(format!(
            "{host:?}: wildcards and curl's +/- prefixes are not supported; {form}"
        ));
    }
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("port {port:?} is not a number from 1 to 65535"))?;
    let addrs = addrs
        .split(',')
        .map(|a| {
            let ip = a
                .strip_prefix('[')
                .and_then(|a| a.strip_suffix(']'))
                .unwrap_or(a);
            ip.parse::<IpAddr>()
                .map(|ip| SocketAddr::new(ip, port))
                .map_err(|_| format!("{a:?} is not an IP address (IPv6 in brackets: [::1])"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ResolveEntry {
        host: host.to_owned(),
        addrs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_to_takes_curls_form() {
        let e = connect_to_entry("example.test:443:127.0.0.1:8443").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("example.test", 443));
        assert_eq!(e.addrs, ["127.0.0.1:8443".parse::<SocketAddr>().unwrap()]);
        let e = connect_to_entry("h:80:[::1]:").unwrap();
        assert_eq!(e.addrs, ["[::1]:80".parse::<SocketAddr>().unwrap()]);
        let e = connect_to_entry("127.0.0.1:80::9000").unwrap();
        assert_eq!(e.addrs, ["127.0.0.1:9000".parse::<SocketAddr>().unwrap()]);
        for bad in [
            "h:80:1.2.3.4",
            ":80:1.2.3.4:1",
            "h:x:1.2.3.4:1",
            "h:80:1.2.3.4:y",
        ] {
            assert!(connect_to_entry(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn resolve_takes_curls_form() {
        let e = resolve_entry("example.test:8443:127.0.0.1").unwrap();
        assert_eq!(e.host, "example.test");
        assert_eq!(e.addrs, ["127.0.0.1:8443".parse::<SocketAddr>().unwrap()]);
        let e = resolve_entry("h:80:[::1],10.0.0.1").unwrap();
        assert_eq!(
            e.addrs,
            [
                "[::1]:80".parse::<SocketAddr>().unwrap(),
                "10.0.0.1:80".parse().unwrap()
            ]
        );
        assert_eq!(
            resolve_entry("h:80:::1").unwrap().addrs,
            ["[::1]:80".parse::<SocketAddr>().unwrap()]
        );
        for bad in [
            "example.test",
            "example.test:80",
            ":80:127.0.0.1",
            "h:0:127.0.0.1",
            "h:http:127.0.0.1",
            "h:80:localhost",
            "h:80:",
            "*:80:127.0.0.1",
        ] {
            assert!(resolve_entry(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn socket_paths_fit_sun_path() {
        assert!(socket_path("/run/app.sock").is_ok());
        assert!(socket_path("").is_err());
        assert!(socket_path(&"x".repeat(108)).is_err());
    }
}
