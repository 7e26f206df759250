//! `NO_PROXY` lists: which hosts a request reaches directly even when a proxy is set. The
//! syntax is the one Go, curl and reqwest read from the environment: comma-separated entries,
//! each `*`, an IP address, a CIDR block, or a domain name (matching itself and its
//! subdomains; with a leading `.` or `*.`, its subdomains only), optionally with `:port`.

use std::net::IpAddr;

/// A parsed `NO_PROXY` list.
#[derive(Debug, Clone, Default)]
pub(crate) struct NoProxy {
    /// `*`: no request uses a proxy.
    all: bool,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    kind: EntryKind,
    /// Only requests to this port match; any port when `None`.
    port: Option<u16>,
}

#[derive(Debug, Clone)]
enum EntryKind {
    /// An address and the number of leading bits that must match (all of them for a bare IP).
    Net(IpAddr, u8),
    /// A lowercase domain without its leading dot; `subdomains_only` for `.example.com`.
    Domain {
        name: Box<str>,
        subdomains_only: bool,
    },
}

impl NoProxy {
    /// Parses a list. Entries that are none of the forms above are skipped (as Go and curl
    /// do), so one typo does not turn the proxy off or on for everything else.
    pub(crate) fn parse(list: &str) -> NoProxy {
        let mut no_proxy = NoProxy::default();
        for raw in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if raw == "*" {
                no_proxy.all = true;
                continue;
            }
            if let Some(entry) = Entry::parse(raw) {
                no_proxy.entries.push(entry);
            }
        }
        no_proxy
    }

    /// Whether a request to `host:port` (host lowercase, IPv6 without brackets) goes direct.
    pub(crate) fn matches(&self, host: &str, port: u16) -> bool {
        if self.all {
            return true;
        }
        let ip = host.parse::<IpAddr>().ok();
        self.entries.iter().any(|e| {
            e.port.is_none_or(|p| p == port)
                && match &e.kind {
                    EntryKind::Net(net, bits) => ip.is_some_and(|ip| in_net(ip, *net, *bits)),
                    EntryKind::Domain {
                        name,
                        subdomains_only,
                    } => {
                        let host = host.trim_end_matches('.');
                        match host.strip_suffix(&**name) {
                            Some("") => !subdomains_only,
                            Some(prefix) => prefix.ends_with('.'),
                            None => false,
                        }
                    }
                }
        })
    }
}

impl Entry {
    fn parse(raw: &str) -> Option<Entry> {
        let raw = raw.to_ascii_lowercase();
        // CIDR: the address part is a bare IP (v6 may come bracketed), no port.
        if let Some((addr, bits)) = raw.split_once('/') {
            let addr = addr.trim_start_matches('[').trim_end_matches(']');
            let ip = addr.parse::<IpAddr>().ok()?;
            let bits = bits.parse::<u8>().ok()?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            return (bits <= max).then_some(Entry {
                kind: EntryKind::Net(ip, bits),
                port: None,
            });
        }
        // A bare IPv6 address (colons, no brackets) has no port.
        if let Ok(ip) = raw.parse::<IpAddr>() {
            let bits = if ip.is_ipv4() { 32 } else { 128 };
            return Some(Entry {
                kind: EntryKind::Net(ip, bits),
                port: None,
            });
        }
        let (host, port) = match raw.strip_prefix('[') {
            Some(v6) => {
                let (host, after) = v6.split_once(']')?;
                (host, after.strip_prefix(':'))
            }
            None => match raw.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (raw.as_str(), None),
            },
        };
        let port = match port {
            None => None,
            Some(p) => Some(p.parse::<u16>().ok()?),
        };
        if let Ok(ip) = host.parse::<IpAddr>() {
            let bits = if ip.is_ipv4() { 32 } else { 128 };
            return Some(Entry {
                kind: EntryKind::Net(ip, bits),
                port,
            });
        }
        let (name, subdomains_only) = match host.strip_prefix("*.") {
            Some(name) => (name, true),
            None => match host.strip_prefix('.') {
                Some(name) => (name, true),
                None => (host, false),
            },
        };
        let name = name.trim_end_matches('.');
        let valid = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_';
        if name.is_empty() || !name.bytes().all(valid) {
            return None;
        }
        Some(Entry {
            kind: EntryKind::Domain {
                name: name.into(),
                subdomains_only,
            },
            port,
        })
    }
}

/// Whether `ip` lies in `net`/`bits`. An IPv4-mapped IPv6 address counts as its IPv4 one.
fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct(list: &str, host: &str, port: u16) -> bool {
        NoProxy::parse(list).matches(host, port)
    }

    #[test]
    fn domains_match_themselves_and_subdomains() {
        let list = "example.com, .sub.test, *.wild.test";
        assert!(direct(list, "example.com", 80));
        assert!(direct(list, "api.example.com", 443));
        assert!(direct(list, "a.b.example.com", 443));
        assert!(direct(list, "example.com.", 80), "a fully qualified name");
        assert!(
            !direct(list, "badexample.com", 80),
            "a suffix is not a subdomain"
        );
        assert!(!direct(list, "example.org", 80));
        assert!(
            !direct(list, "sub.test", 80),
            "a leading dot means subdomains only"
        );
        assert!(direct(list, "x.sub.test", 80));
        assert!(!direct(list, "wild.test", 80), "so does a leading *.");
        assert!(direct(list, "x.wild.test", 80));
        assert!(
            direct("EXAMPLE.com", "example.com", 80),
            "entries are case-insensitive"
        );
    }

    #[test]
    fn addresses_and_blocks() {
        let list = "10.0.0.0/8,192.168.1.7,::1,[2001:db8::]/32,fe80::/10";
        assert!(direct(list, "10.1.2.3", 80));
        assert!(!direct(list, "11.0.0.1", 80));
        assert!(direct(list, "192.168.1.7", 8080));
        assert!(!direct(list, "192.168.1.8", 80));
        assert!(direct(list, "::1", 80));
        assert!(direct(list, "2001:db8:1::5", 80));
        assert!(!direct(list, "2001:db9::5", 80));
        assert!(direct(list, "fe80::1", 80));
        assert!(
            direct(list, "::ffff:10.9.9.9", 80),
            "IPv4-mapped counts as IPv4"
        );
        assert!(
            !direct(list, "example.com", 80),
            "a name never matches an address"
        );
        assert!(direct("0.0.0.0/0", "203.0.113.9", 1), "/0 is everything");
    }

    #[test]
    fn ports_narrow_an_entry() {
        let list = "example.com:8080,10.0.0.1:443,[::1]:9000";
        assert!(direct(list, "example.com", 8080));
        assert!(direct(list, "www.example.com", 8080));
        assert!(!direct(list, "example.com", 80));
        assert!(direct(list, "10.0.0.1", 443));
        assert!(!direct(list, "10.0.0.1", 80));
        assert!(direct(list, "::1", 9000));
        assert!(!direct(list, "::1", 9001));
    }

    #[test]
    fn star_matches_everything_and_junk_is_skipped() {
        assert!(direct("*", "anything.test", 1));
        assert!(direct("foo.test, *", "1.2.3.4", 1));
        let junk = "exa mple.com,10.0.0.0/33,host:notaport,:80,[::1,,*.";
        assert!(!direct(junk, "exa mple.com", 80));
        assert!(!direct(junk, "10.0.0.1", 80));
        assert!(!direct(junk, "host", 80));
        assert!(!direct("", "example.com", 80));
    }
}
