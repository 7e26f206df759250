//! `rate_limit`: nginx's `limit_req` (with `nodelay`): each client gets a rate of requests and
//! a burst above it; a request past them is answered `429 Too Many Requests` with
//! `Retry-After`, without calling the handler. Clients are told apart by address (an IPv6
//! /64) or by a key of the application's; how many are remembered is bounded.
//!
//! The rule is the generic cell rate algorithm (GCRA, the leaky bucket as a meter): per
//! client one time, when its bucket is empty again; a request is taken if that time is at
//! most a burst's worth of intervals ahead of now, and moves it one interval on.

use std::collections::HashMap;
use std::hash::BuildHasher;

use foldhash::fast::RandomState;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::header::RETRY_AFTER;
use http::{HeaderValue, StatusCode};
use tokio::time::Instant;

use crate::conn::ConnInfo;
use crate::handler::{text_response, Handler, HttpRequest, HttpResponse};

/// The default of [`RateLimit::max_clients`].
pub const DEFAULT_MAX_CLIENTS: usize = 100_000;

/// Shards of the client map, so requests on different cores rarely meet.
const SHARDS: usize = 32;

/// Wraps `handler` so each client may make `per_second` requests a second (a fraction for
/// fewer: `1.0 / 60.0` is one a minute), and [`RateLimit::burst`] more at once; past that a
/// request is answered `429 Too Many Requests` with `Retry-After` (whole seconds until it
/// would be taken), and `handler` is not called.
///
/// Clients are told apart by their address, which the server attaches when
/// [`Server::conn_info`](crate::Server::conn_info) is on (the client a PROXY header names,
/// behind a balancer); IPv6 clients by their /64. [`RateLimit::key`] chooses another key
/// (an API token, a user). A request without a key is not limited (and a warning is logged
/// once, since it is most likely `conn_info` left off).
///
/// At most [`RateLimit::max_clients`] clients are remembered; when a new one comes with the
/// table full, the clients whose bucket is empty again are forgotten (they are as new), and
/// if none is, the eighth nearest to it. With a burst, a flood of new clients (each one request
/// in) is forgotten before a client being held back. A key a client can make up at will
/// gives it a new allowance each time, whatever the table: key by what costs it something
/// (its address, an account).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use nethttp::http::{Request, StatusCode};
/// use nethttp::wrap::rate_limit;
/// use nethttp::{text_response, Body, Handler, HttpRequest};
///
/// // One request a second per API key, three at once.
/// let api = rate_limit(|_req: HttpRequest| async { text_response(StatusCode::OK, "ok") }, 1.0)
///     .burst(2)
///     .key(|req: &HttpRequest| {
///         req.headers().get("x-api-key")?.to_str().ok().map(str::to_owned)
///     });
/// let req = || Request::get("/").header("x-api-key", "k1").body(Body::empty()).unwrap();
/// for _ in 0..3 {
///     assert_eq!(api.call(req()).await.status(), StatusCode::OK);
/// }
/// let refused = api.call(req()).await;
/// assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
/// assert_eq!(refused.headers()["retry-after"], "1");
/// # }
/// ```
pub fn rate_limit<H: Handler>(handler: H, per_second: f64) -> RateLimit<H> {
    let opts = Options {
        interval: interval(per_second),
        burst: 0,
        max_clients: DEFAULT_MAX_CLIENTS,
        key: None,
    };
    RateLimit {
        inner: handler,
        limiter: Arc::new(Limiter::new(opts)),
    }
}

/// The handler [`rate_limit`] returns. Clones share the clients' counts.
#[derive(Clone)]
pub struct RateLimit<H> {
    inner: H,
    limiter: Arc<Limiter>,
}

impl<H> std::fmt::Debug for RateLimit<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let o = &self.limiter.opts;
        f.debug_struct("RateLimit")
            .field("interval", &o.interval)
            .field("burst", &o.burst)
            .field("max_clients", &o.max_clients)
            .field("keyed", &o.key.is_some())
            .finish()
    }
}

/// Picks a request's client key for [`RateLimit::key`].
type KeyFn = Arc<dyn Fn(&HttpRequest) -> Option<String> + Send + Sync>;

#[derive(Clone)]
struct Options {
    /// Time between requests at the rate.
    interval: Duration,
    burst: u32,
    max_clients: usize,
    key: Option<KeyFn>,
}

impl<H> RateLimit<H> {
    /// Requests a client may make at once above its rate (nginx's `burst=` with `nodelay`):
    /// `n + 1` in a row, then one per interval. Default: 0. Set it (and the others) before
    /// the handler is cloned or served: each setter starts the counts afresh.
    pub fn burst(self, n: u32) -> Self {
        self.with(|o| o.burst = n)
    }

    /// Most clients remembered at once (under 100 bytes each, whatever the key). Default:
    /// [`DEFAULT_MAX_CLIENTS`].
    pub fn max_clients(self, n: usize) -> Self {
        self.with(|o| o.max_clients = n.max(1))
    }

    /// Tells clients apart by `key` instead of by address: requests for which it gives
    /// `None` are not limited.
    pub fn key(self, key: impl Fn(&HttpRequest) -> Option<String> + Send + Sync + 'static) -> Self {
        self.with(|o| o.key = Some(Arc::new(key)))
    }

    fn with(mut self, change: impl FnOnce(&mut Options)) -> Self {
        let mut opts = self.limiter.opts.clone();
        change(&mut opts);
        self.limiter = Arc::new(Limiter::new(opts));
        self
    }
}

impl<H: Handler> Handler for RateLimit<H> {
    async fn call(&self, req: HttpRequest) -> HttpResponse {
        match self.limiter.check(&req) {
            Ok(()) => self.inner.call(req).await,
            Err(wait) => too_many(wait),
        }
    }
}

/// The time between requests at `per_second` (at least a nanosecond; a rate of zero or
/// less, or not a number, allows one request a century).
fn interval(per_second: f64) -> Duration {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    if per_second.is_nan() || per_second <= 0.0 {
        return CENTURY;
    }
    Duration::try_from_secs_f64(1.0 / per_second)
        .unwrap_or(CENTURY)
        .clamp(Duration::from_nanos(1), CENTURY)
}

/// A client, as told apart: its address (`server::client_key`), or a 128-bit keyed hash
/// (SipHash, seeded at random) of the application's key, so a long key costs the table no
/// more than a short one and cannot be made to collide with another.
type Key = u128;

/// Times are nanoseconds since the limiter began, in 128 bits: a century's interval times
/// any burst cannot overflow them.
type Nanos = u128;

/// The clients' times, and the rule.
struct Limiter {
    opts: Options,
    /// When counting began.
    base: Instant,
    /// Per client, the time its bucket is empty again (GCRA's "theoretical arrival time").
    shards: Box<[Mutex<HashMap<Key, Nanos, RandomState>>]>,
    /// Clients a shard holds at most.
    shard_cap: usize,
    /// Picks a key's shard; seeded at random, as each shard's map is (foldhash), so
    /// addresses a client has cannot be aimed at one shard or one bucket.
    spread: RandomState,
    /// Hashes the application's keys (two halves of 64 bits).
    named: [std::hash::RandomState; 2],
    warned: AtomicBool,
}

impl Limiter {
    fn new(opts: Options) -> Limiter {
        // A shard of at least 64 clients, so the rule of whom to forget has some to choose
        // from; one shard for small tables, which then hold exactly `max_clients`.
        let shards = (opts.max_clients / 64).clamp(1, SHARDS);
        let shard_cap = opts.max_clients.div_ceil(shards);
        Limiter {
            opts,
            base: Instant::now(),
            shards: (0..shards)
                .map(|_| Mutex::new(HashMap::with_hasher(RandomState::default())))
                .collect(),
            shard_cap,
            spread: RandomState::default(),
            named: [std::hash::RandomState::new(), std::hash::RandomState::new()],
            warned: AtomicBool::new(false),
        }
    }

    fn key(&self, req: &HttpRequest) -> Option<Key> {
        if let Some(f) = &self.opts.key {
            let name = f(req)?;
            let [hi, lo] = &self.named;
            let half = |s: &std::hash::RandomState| u128::from(s.hash_one(name.as_bytes()));
            return Some(half(hi) << 64 | half(lo));
        }
        let ip = req
            .extensions()
            .get::<ConnInfo>()
            .map(|i| i.remote_addr.ip())
            .filter(|ip| !ip.is_unspecified());
        if ip.is_none() && !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "rate_limit: a request without a client address is not limited (is \
                 Server::conn_info on? a Unix socket's clients have none without a PROXY \
                 header); give the limit a key to limit those"
            );
        }
        ip.map(crate::server::client_key)
    }

    /// Takes the request, or says how long until it would be taken.
    fn check(&self, req: &HttpRequest) -> Result<(), Duration> {
        let Some(key) = self.key(req) else {
            return Ok(());
        };
        let now = self.base.elapsed().as_nanos();
        self.take(key, now)
            .map_err(|wait| Duration::from_nanos(u64::try_from(wait).unwrap_or(u64::MAX)))
    }

    /// GCRA at `now`: `Err(wait)` when the client's empty-again time is more than the
    /// burst's tolerance ahead.
    fn take(&self, key: Key, now: Nanos) -> Result<(), Nanos> {
        let t = self.opts.interval.as_nanos();
        let tolerance = t * Nanos::from(self.opts.burst);
        let mut shard = self.shard(key);
        if let Some(at) = shard.get_mut(&key) {
            let empty_at = (*at).max(now);
            let ahead = empty_at - now;
            if ahead > tolerance {
                return Err(ahead - tolerance);
            }
            *at = empty_at + t;
            return Ok(());
        }
        // A client not remembered has an empty bucket: taken.
        if shard.len() >= self.shard_cap {
            make_room(&mut shard, now, self.shard_cap);
        }
        shard.insert(key, now + t);
        Ok(())
    }

    fn shard(&self, key: Key) -> std::sync::MutexGuard<'_, HashMap<Key, Nanos, RandomState>> {
        let at = self.spread.hash_one(key) as usize % self.shards.len();
        // A time is written by one statement: a poisoned lock holds whole times.
        self.shards[at]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }
}

/// A full shard: forgets the clients whose bucket is empty again (they are as good as new),
/// and if it is still full, the eighth nearest to empty (the least forgiven by forgetting
/// them), so the newcomers after this one find room without another pass over the shard.
fn make_room(shard: &mut HashMap<Key, Nanos, RandomState>, now: Nanos, cap: usize) {
    shard.retain(|_, at| *at > now);
    if shard.len() < cap {
        return;
    }
    let mut times: Vec<Nanos> = shard.values().copied().collect();
    let nth = (times.len() / 8).max(1) - 1;
    let (_, &mut threshold, _) = times.select_nth_unstable(nth);
    shard.retain(|_, at| *at > threshold);
}

/// `429` with the whole seconds to wait (at least one).
fn too_many(wait: Duration) -> HttpResponse {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut resp = text_response(StatusCode::TOO_MANY_REQUESTS, "429 too many requests\n");
    resp.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Nanos = 1_000_000_000;

    fn limiter(per_second: f64, burst: u32, max_clients: usize) -> Limiter {
        Limiter::new(Options {
            interval: interval(per_second),
            burst,
            max_clients,
            key: None,
        })
    }

    /// A client by name, as a key function's would be.
    fn named(s: &str) -> Key {
        use std::hash::{DefaultHasher, Hash, Hasher};
        let mut h = DefaultHasher::new();
        s.hash(&mut h);
        u128::from(h.finish())
    }

    #[test]
    fn a_burst_then_one_per_interval() {
        let l = limiter(2.0, 3, 100);
        let a = || named("a");
        // Four at once (the burst of three above the rate), then the fifth waits half a
        // second, the interval.
        for _ in 0..4 {
            assert_eq!(l.take(a(), 0), Ok(()));
        }
        assert_eq!(l.take(a(), 0), Err(SEC / 2));
        assert_eq!(l.take(a(), SEC / 4), Err(SEC / 4));
        assert_eq!(l.take(a(), SEC / 2), Ok(()));
        assert_eq!(l.take(a(), SEC / 2), Err(SEC / 2));
        // Another client is not held back.
        assert_eq!(l.take(named("b"), SEC / 2), Ok(()));
        // Idle long enough, the whole burst is back, and no more.
        let later = 10 * SEC;
        for _ in 0..4 {
            assert_eq!(l.take(a(), later), Ok(()));
        }
        assert!(l.take(a(), later).is_err());
    }

    #[test]
    fn no_burst_is_one_per_interval() {
        let l = limiter(1.0, 0, 100);
        assert_eq!(l.take(named("a"), 0), Ok(()));
        assert_eq!(l.take(named("a"), 1), Err(SEC - 1));
        assert_eq!(l.take(named("a"), SEC), Ok(()));
    }

    #[test]
    fn rates_that_make_no_sense_allow_next_to_nothing() {
        for r in [0.0, -1.0, f64::NAN] {
            let l = limiter(r, 0, 100);
            assert_eq!(l.take(named("a"), 0), Ok(()));
            assert!(l.take(named("a"), 3600 * SEC).is_err(), "{r}");
        }
        // With a burst the tolerance is a century times it: nothing overflows, and the burst
        // is all there is.
        for (r, burst) in [(0.0, 99), (1e-300, 6), (-5.0, u32::MAX)] {
            let l = limiter(r, burst, 100);
            let taken = (0..200).filter(|_| l.take(named("a"), 0).is_ok()).count();
            assert_eq!(taken as u64, (u64::from(burst) + 1).min(200), "{r} {burst}");
            if burst < 200 {
                assert!(l.take(named("a"), 3600 * SEC).is_err(), "{r} {burst}");
            }
        }
        // A huge rate is one request a nanosecond, not a panic.
        let l = limiter(f64::INFINITY, 0, 100);
        assert_eq!(l.take(named("a"), 0), Ok(()));
        assert_eq!(l.take(named("a"), 1), Ok(()));
    }

    /// A flood of new clients stays within the table, and does not forget a client being
    /// held back: its count survives thousands of newcomers.
    #[test]
    fn a_flood_of_new_clients_is_bounded_and_keeps_the_held_back_one() {
        let l = limiter(1.0, 2, 64);
        for _ in 0..3 {
            assert_eq!(l.take(named("held"), 0), Ok(()));
        }
        assert!(l.take(named("held"), 0).is_err());
        for i in 0..10_000 {
            assert_eq!(l.take(named(&format!("new{i}")), i), Ok(()));
            assert!(l.remembered() <= 64, "{}", l.remembered());
        }
        // Ten thousand nanoseconds later it is still held back.
        assert!(l.take(named("held"), 10_000).is_err());
    }

    /// A small table is one shard and holds exactly its size; a full one forgets an eighth
    /// at a time, the nearest to empty, so newcomers do not each pay a pass over it.
    #[test]
    fn a_full_table_forgets_the_eighth_nearest_to_empty() {
        let l = limiter(1.0, 0, 64);
        assert_eq!(l.shards.len(), 1);
        for i in 0..64 {
            assert_eq!(l.take(named(&format!("c{i}")), i * 1000), Ok(()));
        }
        assert_eq!(l.remembered(), 64);
        // All 64 still owe time at 64 µs: the first 8 (nearest to empty) go.
        assert_eq!(l.take(named("late"), 64_000), Ok(()));
        assert_eq!(l.remembered(), 57);
        assert!(l.take(named("c8"), 65_000).is_err(), "c8 remembered");
        // Forgotten: taken again at once, though each owes most of a second.
        for i in 0..7 {
            assert_eq!(
                l.take(named(&format!("c{i}")), 65_000),
                Ok(()),
                "c{i} forgotten"
            );
        }
        assert_eq!(limiter(1.0, 0, 1).remembered(), 0);
        let one = limiter(1.0, 0, 1);
        assert_eq!(one.take(named("a"), 0), Ok(()));
        assert_eq!(one.take(named("b"), 0), Ok(()));
        assert_eq!(one.remembered(), 1, "max_clients(1) holds one");
    }

    #[test]
    fn the_answer_says_how_long_to_wait_in_whole_seconds() {
        let r = too_many(Duration::from_millis(1500));
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[RETRY_AFTER], "2");
        assert_eq!(
            too_many(Duration::from_nanos(1)).headers()[RETRY_AFTER],
            "1"
        );
        assert_eq!(too_many(Duration::from_secs(3)).headers()[RETRY_AFTER], "3");
    }
}
