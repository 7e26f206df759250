//! The process-wide lists the debug page and the metrics gauges read: the connection tables
//! of servers that track their connections, the pools of every client transport, and the
//! upstream groups of reverse proxies with several upstreams. Weak references, pruned as
//! entries are added, so nothing here keeps a server, pool or proxy alive.

use std::sync::{Arc, Mutex, Weak};

use crate::client::pool::{Pool, PoolShared};
use crate::conn::track::ConnTable;
use crate::proxy::upstreams::Group;

static SERVERS: Mutex<Vec<Weak<ConnTable>>> = Mutex::new(Vec::new());
/// The pools, each with the id it keeps for its life (1, 2, … in the order they were built),
/// and the last id given.
struct Pools {
    last_id: u64,
    list: Vec<(u64, Weak<PoolShared>)>,
}

static POOLS: Mutex<Pools> = Mutex::new(Pools {
    last_id: 0,
    list: Vec::new(),
});

/// The upstream groups, each with its id (1, 2, … in the order they were built), and the
/// last id given.
struct Groups {
    last_id: u64,
    list: Vec<(u64, Weak<Group>)>,
}

static GROUPS: Mutex<Groups> = Mutex::new(Groups {
    last_id: 0,
    list: Vec::new(),
});

/// Lists a reverse proxy's upstream group (when the proxy is built).
pub(crate) fn add_group(group: &Arc<Group>) {
    let mut groups = GROUPS.lock().unwrap_or_else(|p| p.into_inner());
    groups.list.retain(|(_, w)| w.strong_count() > 0);
    groups.last_id += 1;
    let id = groups.last_id;
    groups.list.push((id, Arc::downgrade(group)));
}

/// The upstream groups of the proxies alive now, with their ids, in the order they were built.
pub(crate) fn groups() -> Vec<(u64, Arc<Group>)> {
    let groups = GROUPS.lock().unwrap_or_else(|p| p.into_inner());
    groups
        .list
        .iter()
        .filter_map(|(id, w)| Some((*id, w.upgrade()?)))
        .collect()
}

/// Lists a server's connection table (a server that tracks its connections, at start).
pub(crate) fn add_server(table: &Arc<ConnTable>) {
    let mut list = SERVERS.lock().unwrap_or_else(|p| p.into_inner());
    list.retain(|w| w.strong_count() > 0);
    list.push(Arc::downgrade(table));
}

/// Lists a client transport's pool (every transport, when built).
pub(crate) fn add_pool(pool: &Pool) {
    let mut pools = POOLS.lock().unwrap_or_else(|p| p.into_inner());
    pools.list.retain(|(_, w)| w.strong_count() > 0);
    pools.last_id += 1;
    let id = pools.last_id;
    pools.list.push((id, pool.downgrade()));
}

/// The tables of the servers running now, in the order they started.
pub(crate) fn servers() -> Vec<Arc<ConnTable>> {
    let list = SERVERS.lock().unwrap_or_else(|p| p.into_inner());
    list.iter().filter_map(Weak::upgrade).collect()
}

/// The pools of the transports alive now, with their ids, in the order they were built.
pub(crate) fn pools() -> Vec<(u64, Pool)> {
    let pools = POOLS.lock().unwrap_or_else(|p| p.into_inner());
    pools
        .list
        .iter()
        .filter_map(|(id, w)| Some((*id, Pool::from_shared(w.upgrade()?))))
        .collect()
}
