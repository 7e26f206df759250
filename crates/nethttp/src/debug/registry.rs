//! The process-wide lists the debug page and the metrics gauges read: the connection tables
//! of servers that track their connections, the pools of every client transport, and the
//! upstream groups of reverse proxies with several upstreams. Weak references, pruned as
//! entries are added, so nothing here keeps a server, pool or proxy alive.

use std::sync::{Arc, Mutex, Weak};

use crate::client::pool::{Pool, PoolShared};
use crate::conn::track::ConnTable;
use crate::proxy::upstreams::Group;

static SERVERS: Mutex<Vec<Weak<ConnTable>>> = Mutex::new(Vec::new());

/// Entries that each keep an id for their life (1, 2, … in the order they were listed).
struct Numbered<T> {
    last_id: u64,
    list: Vec<(u64, Weak<T>)>,
}

impl<T> Numbered<T> {
    const fn new() -> Self {
        Numbered {
            last_id: 0,
            list: Vec::new(),
        }
    }

    /// Lists `entry` under the next id, forgetting entries gone since.
    fn add(this: &Mutex<Self>, entry: Weak<T>) {
        let mut n = this.lock().unwrap_or_else(|p| p.into_inner());
        n.list.retain(|(_, w)| w.strong_count() > 0);
        n.last_id += 1;
        let id = n.last_id;
        n.list.push((id, entry));
    }

    /// The entries alive now, with their ids, in the order they were listed.
    fn alive(this: &Mutex<Self>) -> Vec<(u64, Arc<T>)> {
        let n = this.lock().unwrap_or_else(|p| p.into_inner());
        n.list
            .iter()
            .filter_map(|(id, w)| Some((*id, w.upgrade()?)))
            .collect()
    }
}

static POOLS: Mutex<Numbered<PoolShared>> = Mutex::new(Numbered::new());
static GROUPS: Mutex<Numbered<Group>> = Mutex::new(Numbered::new());

/// Lists a server's connection table (a server that tracks its connections, at start).
pub(crate) fn add_server(table: &Arc<ConnTable>) {
    let mut list = SERVERS.lock().unwrap_or_else(|p| p.into_inner());
    list.retain(|w| w.strong_count() > 0);
    list.push(Arc::downgrade(table));
}

/// Lists a client transport's pool (every transport, when built).
pub(crate) fn add_pool(pool: &Pool) {
    Numbered::add(&POOLS, pool.downgrade());
}

/// Lists a reverse proxy's upstream group (when the proxy is built).
pub(crate) fn add_group(group: &Arc<Group>) {
    Numbered::add(&GROUPS, Arc::downgrade(group));
}

/// The tables of the servers running now, in the order they started.
pub(crate) fn servers() -> Vec<Arc<ConnTable>> {
    let list = SERVERS.lock().unwrap_or_else(|p| p.into_inner());
    list.iter().filter_map(Weak::upgrade).collect()
}

/// The pools of the transports alive now, with their ids, in the order they were built.
pub(crate) fn pools() -> Vec<(u64, Pool)> {
    Numbered::alive(&POOLS)
        .into_iter()
        .map(|(id, shared)| (id, Pool::from_shared(shared)))
        .collect()
}

/// The upstream groups of the proxies alive now, with their ids, in the order they were built.
pub(crate) fn groups() -> Vec<(u64, Arc<Group>)> {
    Numbered::alive(&GROUPS)
}
