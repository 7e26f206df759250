//! Connections per client address ([`crate::Server::max_connections_per_ip`], nginx's
//! `limit_conn` keyed by `$binary_remote_addr`): how many each client has open, counted from
//! the moment its address is known (after a PROXY header, if any) to the connection's end,
//! so one client cannot take every connection the server can hold. IPv6 clients are counted
//! by their /64, the block a single subscriber is given (RFC 6177), so that hopping among its
//! addresses gains nothing.
//!
//! The counts live in a map sharded by address, entries removed at zero: the map holds at
//! most one entry per open connection. Its locks are taken only when the limit is on, once
//! when a connection begins and once when it ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Shards of the map: enough that connections opening on every core rarely meet.
const SHARDS: usize = 64;

/// The live connections of each client address.
pub(crate) struct PerIp {
    max: u32,
    shards: Box<[Mutex<HashMap<u128, u32>>]>,
    /// Connections closed because their client had `max` open already.
    refused: AtomicU64,
}

impl PerIp {
    pub(crate) fn new(max: usize) -> Arc<PerIp> {
        Arc::new(PerIp {
            max: u32::try_from(max.max(1)).unwrap_or(u32::MAX),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            refused: AtomicU64::new(0),
        })
    }

    /// Counts a connection of `ip`, held until the slot is dropped; `None` (and counted as
    /// refused) if `ip` has the most connections allowed open already.
    pub(crate) fn enter(self: &Arc<PerIp>, ip: IpAddr) -> Option<IpSlot> {
        let key = key(ip);
        let mut shard = self.shard(key);
        let open = shard.entry(key).or_insert(0);
        if *open >= self.max {
            drop(shard);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        *open += 1;
        Some(IpSlot {
            limit: self.clone(),
            key,
        })
    }

    /// The most connections a client may have open.
    pub(crate) fn max(&self) -> u32 {
        self.max
    }

    pub(crate) fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    fn shard(&self, key: u128) -> std::sync::MutexGuard<'_, HashMap<u128, u32>> {
        // The low 64 bits of an IPv6 key are zero: fold the halves.
        let folded = (key as u64) ^ ((key >> 64) as u64);
        let at = (folded.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize % SHARDS;
        // A count is changed by one statement: a poisoned lock holds whole counts.
        self.shards[at]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Connections counted now, for tests.
    #[cfg(test)]
    fn open(&self, ip: IpAddr) -> u32 {
        let key = key(ip);
        self.shard(key).get(&key).copied().unwrap_or(0)
    }

    #[cfg(test)]
    fn entries(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }
}

impl std::fmt::Debug for PerIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerIp")
            .field("max", &self.max)
            .field("refused", &self.refused())
            .finish()
    }
}

/// One connection counted against its client; given back when dropped.
pub(crate) struct IpSlot {
    limit: Arc<PerIp>,
    key: u128,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut shard = self.limit.shard(self.key);
        if let Some(open) = shard.get_mut(&self.key) {
            *open -= 1;
            if *open == 0 {
                shard.remove(&self.key);
            }
        }
    }
}

/// The counted address: IPv4 as its IPv4-mapped IPv6 form (so a dual-stack socket's
/// `::ffff:a.b.c.d` is the same client), IPv6 cut to its /64.
pub(crate) fn key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => u128::from(v4.to_ipv6_mapped()),
            None => u128::from(v6) & !u128::from(u64::MAX),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn each_address_gets_its_own_count_up_to_the_limit() {
        let limit = PerIp::new(2);
        let a1 = limit.enter(ip("192.0.2.1")).unwrap();
        let a2 = limit.enter(ip("192.0.2.1")).unwrap();
        assert!(limit.enter(ip("192.0.2.1")).is_none());
        assert_eq!(limit.refused(), 1);
        // Another client is not held up.
        let b = limit.enter(ip("192.0.2.2")).unwrap();
        drop(a1);
        let a3 = limit.enter(ip("192.0.2.1")).unwrap();
        assert_eq!(limit.open(ip("192.0.2.1")), 2);
        drop((a2, a3, b));
        assert_eq!(limit.entries(), 0, "counts at zero are removed");
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_and_mapped_ipv4_as_ipv4() {
        let limit = PerIp::new(1);
        let _a = limit.enter(ip("2001:db8:1:2::1")).unwrap();
        assert!(limit.enter(ip("2001:db8:1:2:ffff::9")).is_none());
        let _b = limit.enter(ip("2001:db8:1:3::1")).unwrap();
        let _c = limit.enter(ip("203.0.113.7")).unwrap();
        assert!(limit.enter(ip("::ffff:203.0.113.7")).is_none());
        assert_eq!(key(ip("::ffff:203.0.113.7")), key(ip("203.0.113.7")));
    }

    #[test]
    fn counts_stay_exact_across_threads() {
        let limit = PerIp::new(1_000_000);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let limit = limit.clone();
                std::thread::spawn(move || {
                    for i in 0..5_000u32 {
                        let a = std::net::Ipv4Addr::from(0x0a00_0000 + (i % 97) + t * 1000);
                        drop(limit.enter(IpAddr::V4(a)).unwrap());
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(limit.entries(), 0);
    }
}
