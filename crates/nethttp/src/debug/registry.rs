//! The process-wide lists the debug page and the metrics gauges read: the connection tables
//! of servers that track their connections, and the pools of every client transport. Weak
//! references, pruned as entries are added, so nothing here keeps a server or pool alive.

use std::sync::{Arc, Mutex, Weak};

use crate::client::pool::{Pool, PoolShared};
use crate::conn::track::ConnTable;

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
