//! A reverse proxy's group of upstreams (nginx's `upstream` block): which one each request
//! goes to ([`Balance`]: smooth weighted round robin, or least connections; backups only
//! when no other can take it), and which are left out for a while after failing (nginx's
//! `max_fails` and `fail_timeout`).
//!
//! One mutex guards the group's state; it is held only to pick an upstream and to record
//! how an exchange went, never across an await.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use http::Uri;

/// How a proxy with several upstreams chooses one for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Balance {
    /// Each upstream in turn, in proportion to its weight, spread out as nginx's smooth
    /// weighted round robin spreads it (weights 5, 1, 1 give `a a b a c a a`, not
    /// `a a a a a b c`). The default, as in nginx.
    #[default]
    RoundRobin,
    /// The upstream with the fewest requests in flight for its weight (a request is in
    /// flight until its response body has ended), ties broken by round robin: nginx's
    /// `least_conn`. For requests of very different lengths, such as long polls beside
    /// short calls.
    LeastConn,
}

/// What a proxy knows of one of its upstreams ([`super::ReverseProxy::upstreams`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpstreamStats {
    /// The upstream's URL as it was given.
    pub url: String,
    /// Its weight (1 unless given).
    pub weight: u32,
    /// A backup: sent requests only when no other upstream can take them.
    pub backup: bool,
    /// Requests sent to it whose exchange has not ended (the response body included).
    pub in_flight: u32,
    /// Times it was picked for a request: attempts, those that got no connection included.
    pub requests: u64,
    /// Exchanges with it that failed: no connection, no response head, or a timeout.
    pub failures: u64,
    /// Whether requests go to it now: `false` while it is left out after failing `max_fails`
    /// times.
    pub available: bool,
}

/// The group: its upstreams and their state.
pub(crate) struct Group {
    upstreams: Box<[Upstream]>,
    has_backup: bool,
    state: Mutex<Box<[PeerState]>>,
    balance: Balance,
    /// Failures in a row, each within `fail_timeout` of the last, that leave an upstream out
    /// for `fail_timeout`; 0: never.
    max_fails: u32,
    fail_timeout: Duration,
}

/// One upstream as configured.
pub(crate) struct Upstream {
    pub(crate) uri: Uri,
    pub(crate) url: String,
    pub(crate) weight: u32,
    /// Used only when no other upstream can take the request.
    pub(crate) backup: bool,
}

#[derive(Default)]
struct PeerState {
    /// Smooth weighted round robin's running weight.
    current: i64,
    in_flight: u32,
    /// Failures in a row (a success clears them), each within `fail_timeout` of the last.
    fails: u32,
    /// The last failure: an upstream left out (`fails` at `max_fails`) is out until
    /// `fail_timeout` after it, and then one request at a time tries it.
    last_failure: Option<Instant>,
    /// When the trial request in flight began; no other goes until it ends, or until
    /// `fail_timeout` has passed since it began (as nginx: a trial that hangs does not keep
    /// the upstream out for longer than that).
    trying: Option<Instant>,
    requests: u64,
    failures: u64,
}

impl Group {
    pub(crate) fn new(
        upstreams: Vec<Upstream>,
        balance: Balance,
        max_fails: u32,
        fail_timeout: Duration,
    ) -> Group {
        let state = upstreams.iter().map(|_| PeerState::default()).collect();
        Group {
            has_backup: upstreams.iter().any(|u| u.backup),
            upstreams: upstreams.into_boxed_slice(),
            state: Mutex::new(state),
            balance,
            max_fails,
            fail_timeout,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.upstreams.len()
    }

    pub(crate) fn upstream(&self, index: usize) -> &Upstream {
        &self.upstreams[index]
    }

    fn lock(&self) -> MutexGuard<'_, Box<[PeerState]>> {
        // The state stays consistent under a panic elsewhere: each update is a few stores.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Chooses the upstream for a request, among those not in `tried`, and counts the
    /// request in flight there until the returned [`Picked`] is dropped. `None` when every
    /// untried upstream is left out after failing ("no live upstreams", as nginx says).
    /// `now`: the time, or `None` to read the clock if an upstream left out needs it.
    pub(crate) fn pick(self: &Arc<Self>, tried: &[usize], now: Option<Instant>) -> Option<Picked> {
        let mut now = now;
        let mut state = self.lock();
        // Backups only when no other upstream can take the request (nginx's `backup`).
        let (index, total) = match self.choose(&mut state, tried, &mut now, false) {
            Some(chosen) => chosen,
            None if self.has_backup => self.choose(&mut state, tried, &mut now, true)?,
            None => return None,
        };
        let peer = &mut state[index];
        peer.current -= total;
        peer.in_flight += 1;
        peer.requests += 1;
        let trial = self.upstreams.len() > 1 && self.is_out(peer);
        // Nothing for an answer to clear: no failure counted, not on trial.
        let clean = peer.fails == 0 && !trial;
        if trial {
            // Out, and its time is over: this request tries it; no other does until its
            // outcome is known (a failure leaves it out for `fail_timeout` again).
            peer.trying = Some(now.unwrap_or_else(Instant::now));
        }
        let seen = peer.failures;
        drop(state);
        Some(Picked {
            group: self.clone(),
            index,
            trial,
            clean,
            seen,
        })
    }

    /// Smooth weighted round robin (after least connections, if that is the balance) among
    /// the upstreams of one tier (backups or the others) that are untried and available:
    /// the one chosen, and the total weight its running weight is to lose.
    fn choose(
        &self,
        state: &mut [PeerState],
        tried: &[usize],
        now: &mut Option<Instant>,
        backup: bool,
    ) -> Option<(usize, i64)> {
        let mut best: Option<usize> = None;
        let mut total: i64 = 0;
        // Least connections first narrows the field to the least loaded for their weight;
        // round robin then chooses among them.
        let least = match self.balance {
            Balance::LeastConn => self.least_loaded(state, tried, now, backup),
            Balance::RoundRobin => None,
        };
        for (i, up) in self.upstreams.iter().enumerate() {
            if !self.candidate(i, &state[i], tried, now, backup) {
                continue;
            }
            if let Some((n, w)) = least {
                // Not among the least loaded: in_flight/weight > n/w.
                if u64::from(state[i].in_flight) * u64::from(w) > n * u64::from(up.weight) {
                    continue;
                }
            }
            let weight = i64::from(up.weight);
            state[i].current += weight;
            total += weight;
            if best.is_none_or(|b| state[i].current > state[b].current) {
                best = Some(i);
            }
        }
        best.map(|b| (b, total))
    }

    /// The lowest in-flight count for its weight among the candidates of a tier, as
    /// `(in_flight, weight)`.
    fn least_loaded(
        &self,
        state: &[PeerState],
        tried: &[usize],
        now: &mut Option<Instant>,
        backup: bool,
    ) -> Option<(u64, u32)> {
        let mut least: Option<(u64, u32)> = None;
        for (i, up) in self.upstreams.iter().enumerate() {
            if !self.candidate(i, &state[i], tried, now, backup) {
                continue;
            }
            let n = u64::from(state[i].in_flight);
            if least.is_none_or(|(ln, lw)| n * u64::from(lw) < ln * u64::from(up.weight)) {
                least = Some((n, up.weight));
            }
        }
        least
    }

    /// Whether upstream `i` may take this request: of the tier asked for (backups or the
    /// others), not tried for it, and available.
    fn candidate(
        &self,
        i: usize,
        peer: &PeerState,
        tried: &[usize],
        now: &mut Option<Instant>,
        backup: bool,
    ) -> bool {
        self.upstreams[i].backup == backup && !tried.contains(&i) && self.available(peer, now)
    }

    /// Left out after `max_fails` failures (its time may be over).
    fn is_out(&self, peer: &PeerState) -> bool {
        self.max_fails > 0 && peer.fails >= self.max_fails
    }

    /// Whether a request may go to the upstream now: it is not left out, or it is and its
    /// `fail_timeout` is over and no trial request is in flight. A group of one never
    /// leaves its upstream out (as nginx): there is nowhere else to go.
    /// The clock is read (into `now`) only for an upstream left out.
    fn available(&self, peer: &PeerState, now: &mut Option<Instant>) -> bool {
        if !self.is_out(peer) || self.upstreams.len() == 1 {
            return true;
        }
        let now = *now.get_or_insert_with(Instant::now);
        let over = |since: Option<Instant>| {
            since.is_none_or(|t| now.saturating_duration_since(t) >= self.fail_timeout)
        };
        over(peer.trying) && over(peer.last_failure)
    }

    /// Records how an exchange with upstream `index` went; `trial`: it was the trial
    /// request of an upstream left out; `seen`: the upstream's failure count when the
    /// request was picked (an answer clears only failures recorded before that: one that
    /// came after, from a request picked earlier, still counts).
    fn record(&self, index: usize, outcome: Outcome, now: Instant, trial: bool, seen: u64) {
        let mut state = self.lock();
        let peer = &mut state[index];
        if trial {
            peer.trying = None;
        }
        match outcome {
            Outcome::Answered => {
                if peer.failures == seen {
                    peer.fails = 0;
                }
            }
            Outcome::Failed => {
                peer.failures += 1;
                if self.max_fails == 0 {
                    return;
                }
                // A failure more than `fail_timeout` after the last starts the count anew,
                // unless the upstream is left out (a late failure of a request picked
                // before must not bring it back); a failed trial puts it out again at once.
                let recent = peer
                    .last_failure
                    .is_some_and(|t| now.saturating_duration_since(t) < self.fail_timeout);
                let was_out = self.is_out(peer);
                peer.fails = if recent || trial || was_out {
                    peer.fails.saturating_add(1)
                } else {
                    1
                };
                peer.last_failure = Some(now);
                if !was_out && self.is_out(peer) {
                    tracing::warn!(
                        upstream = %self.upstreams[index].url,
                        fails = peer.fails,
                        "upstream left out for {:?} after failing",
                        self.fail_timeout
                    );
                }
            }
            Outcome::Neither => {}
        }
    }

    /// A request to upstream `index` ended; `trial`: it was a trial whose outcome was not
    /// recorded (it says nothing, and the next request may try again).
    fn release(&self, index: usize, trial: bool) {
        let mut state = self.lock();
        let peer = &mut state[index];
        peer.in_flight = peer.in_flight.saturating_sub(1);
        if trial {
            peer.trying = None;
        }
    }

    pub(crate) fn stats(&self) -> Vec<UpstreamStats> {
        let mut now = None;
        let state = self.lock();
        self.upstreams
            .iter()
            .zip(state.iter())
            .map(|(up, peer)| UpstreamStats {
                url: up.url.clone(),
                weight: up.weight,
                backup: up.backup,
                in_flight: peer.in_flight,
                requests: peer.requests,
                failures: peer.failures,
                available: self.available(peer, &mut now),
            })
            .collect()
    }
}

/// How an exchange with an upstream ended, for its health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A response head came (any status).
    Answered,
    /// No connection, no response head, or a timeout: the upstream's failure.
    Failed,
    /// Neither: the client's body failed, the client left, or the pool was full.
    Neither,
}

/// An upstream chosen for one request: counted in flight until dropped (the proxy keeps it
/// with the response body). Dropped without an outcome recorded, the exchange says nothing
/// of the upstream's health.
pub(crate) struct Picked {
    group: Arc<Group>,
    index: usize,
    /// The upstream's trial request, its outcome not yet recorded.
    trial: bool,
    /// The upstream had no failure counted when picked: an answer has nothing to clear (a
    /// failure another request records meanwhile stays counted until the next answer).
    clean: bool,
    /// The upstream's failures when picked (see [`Group::record`]).
    seen: u64,
}

impl Picked {
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    pub(crate) fn upstream(&self) -> &Upstream {
        self.group.upstream(self.index)
    }

    /// Records how the exchange went, for the upstream's health; the request stays in
    /// flight until the guard is dropped.
    pub(crate) fn record(&mut self, outcome: Outcome) {
        if outcome == Outcome::Answered && self.clean {
            return;
        }
        if outcome != Outcome::Neither {
            self.group
                .record(self.index, outcome, Instant::now(), self.trial, self.seen);
            self.trial = false;
        }
    }
}

impl Drop for Picked {
    fn drop(&mut self) {
        self.group.release(self.index, self.trial);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(weights: &[u32], balance: Balance, max_fails: u32) -> Arc<Group> {
        let ups = weights
            .iter()
            .enumerate()
            .map(|(i, &weight)| Upstream {
                uri: format!("http://127.0.0.{}:80", i + 1).parse().unwrap(),
                url: format!("u{i}"),
                weight,
                backup: false,
            })
            .collect();
        Arc::new(Group::new(ups, balance, max_fails, Duration::from_secs(10)))
    }

    fn picks(g: &Arc<Group>, n: usize, now: Instant) -> String {
        (0..n)
            .map(|_| {
                let p = g.pick(&[], Some(now)).expect("an upstream");
                char::from(b'a' + p.index() as u8)
            })
            .collect()
    }

    /// `Picked::record` at a time of the test's choosing.
    fn record_at(p: &mut Picked, outcome: Outcome, now: Instant) {
        p.group.record(p.index, outcome, now, p.trial, p.seen);
        p.trial = false;
    }

    /// Picks until upstream `want` comes (within as many picks as there are upstreams,
    /// round robin's promise for one that is available).
    fn pick_until(g: &Arc<Group>, want: usize, now: Instant) -> Picked {
        for _ in 0..g.len() {
            let p = g.pick(&[], Some(now)).expect("an upstream");
            if p.index() == want {
                return p;
            }
        }
        panic!("upstream {want} not picked in {} turns", g.len());
    }

    #[test]
    fn round_robin_spreads_weights_as_nginx_does() {
        let now = Instant::now();
        // nginx's own example (ngx_http_upstream_round_robin.c): weights 5, 1, 1.
        assert_eq!(
            picks(&group(&[5, 1, 1], Balance::RoundRobin, 1), 7, now),
            "aabacaa"
        );
        assert_eq!(
            picks(&group(&[1, 1, 1], Balance::RoundRobin, 1), 6, now),
            "abcabc"
        );
        assert_eq!(
            picks(&group(&[3, 1], Balance::RoundRobin, 1), 8, now),
            "aabaaaba"
        );
    }

    #[test]
    fn least_conn_takes_the_least_loaded_for_its_weight_and_round_robin_among_equals() {
        let now = Instant::now();
        let g = group(&[1, 1, 1], Balance::LeastConn, 1);
        let a = g.pick(&[], Some(now)).unwrap();
        let b = g.pick(&[], Some(now)).unwrap();
        assert_eq!((a.index(), b.index()), (0, 1));
        // c is idle; then a, b, c each have one, and a is next in turn.
        let c = g.pick(&[], Some(now)).unwrap();
        assert_eq!(c.index(), 2);
        drop(b);
        // b has none in flight now: it takes the next two? only the next, then all tie.
        let b2 = g.pick(&[], Some(now)).unwrap();
        assert_eq!(b2.index(), 1);
        let stats = g.stats();
        assert_eq!(
            stats.iter().map(|s| s.in_flight).collect::<Vec<_>>(),
            [1, 1, 1]
        );
        drop((a, c, b2));
        assert!(g.stats().iter().all(|s| s.in_flight == 0));
        // Weights: 2 in flight at a weight-2 upstream count as 1 at weight 1.
        let g = group(&[2, 1], Balance::LeastConn, 1);
        let held: Vec<_> = (0..3).map(|_| g.pick(&[], Some(now)).unwrap()).collect();
        let mut at = [0, 0];
        for p in &held {
            at[p.index()] += 1;
        }
        assert_eq!(at, [2, 1]);
    }

    #[test]
    fn a_failing_upstream_is_left_out_then_tried_by_one_request_at_a_time() {
        let t0 = Instant::now();
        let g = group(&[1, 1], Balance::RoundRobin, 2);
        let fail = |g: &Arc<Group>, want: usize, now: Instant| {
            let mut p = g.pick(&[], Some(now)).unwrap();
            assert_eq!(p.index(), want);
            record_at(&mut p, Outcome::Failed, now);
        };
        fail(&g, 0, t0);
        // One failure of two allowed: still in turn.
        assert_eq!(picks(&g, 1, t0), "b");
        fail(&g, 0, t0 + Duration::from_secs(1));
        assert!(!g.stats()[0].available);
        assert_eq!(g.stats()[0].failures, 2);
        // Left out: everything goes to b for fail_timeout.
        assert_eq!(picks(&g, 4, t0 + Duration::from_secs(5)), "bbbb");
        // After it, one trial request; others skip a while it is in flight.
        let later = t0 + Duration::from_secs(12);
        let mut trial = pick_until(&g, 0, later);
        assert_eq!(picks(&g, 3, later), "bbb");
        // The trial answered: a is back in turn.
        record_at(&mut trial, Outcome::Answered, later);
        drop(trial);
        assert!(g.stats()[0].available);
        let two = picks(&g, 2, later);
        assert!(two == "ab" || two == "ba", "{two}");
    }

    #[test]
    fn a_failed_trial_leaves_it_out_again_and_a_dropped_one_lets_another_try() {
        let t0 = Instant::now();
        let g = group(&[1, 1], Balance::RoundRobin, 1);
        let mut p = g.pick(&[], Some(t0)).unwrap();
        record_at(&mut p, Outcome::Failed, t0);
        drop(p);
        let t1 = t0 + Duration::from_secs(11);
        let mut trial = pick_until(&g, 0, t1);
        record_at(&mut trial, Outcome::Failed, t1);
        drop(trial);
        // Out for another fail_timeout from the trial's failure.
        assert_eq!(picks(&g, 3, t1 + Duration::from_secs(9)), "bbb");
        // A trial dropped with nothing recorded (the client left) lets the next request try.
        let t2 = t1 + Duration::from_secs(11);
        drop(pick_until(&g, 0, t2));
        drop(pick_until(&g, 0, t2));
    }

    #[test]
    fn with_every_upstream_out_or_tried_there_is_none_to_pick() {
        let now = Instant::now();
        let g = group(&[1, 1, 1], Balance::RoundRobin, 1);
        assert_eq!(g.pick(&[0, 2], Some(now)).unwrap().index(), 1);
        assert!(g.pick(&[0, 1, 2], Some(now)).is_none());
        for i in 0..3 {
            g.record(i, Outcome::Failed, now, false, 0);
        }
        assert!(g.pick(&[], Some(now)).is_none());
        assert!(g.stats().iter().all(|s| !s.available));
        // max_fails 0: failures are counted and nothing is left out.
        let g = group(&[1, 1], Balance::RoundRobin, 0);
        g.record(0, Outcome::Failed, now, false, 0);
        assert_eq!(picks(&g, 2, now), "ab");
        assert_eq!(g.stats()[0].failures, 1);
    }

    #[test]
    fn backups_take_requests_only_when_no_other_upstream_can() {
        let now = Instant::now();
        let ups: Vec<Upstream> = ["a", "b", "c"]
            .iter()
            .enumerate()
            .map(|(i, name)| Upstream {
                uri: format!("http://127.0.0.{}:80", i + 1).parse().unwrap(),
                url: (*name).into(),
                weight: 1,
                backup: *name != "a",
            })
            .collect();
        for balance in [Balance::RoundRobin, Balance::LeastConn] {
            let g = Arc::new(Group::new(
                ups_clone(&ups),
                balance,
                1,
                Duration::from_secs(10),
            ));
            assert_eq!(picks(&g, 4, now), "aaaa");
            // Tried for this request: the backups, in turn.
            assert_eq!(g.pick(&[0], Some(now)).unwrap().index(), 1);
            assert_eq!(g.pick(&[0], Some(now)).unwrap().index(), 2);
            assert_eq!(g.pick(&[0, 1], Some(now)).unwrap().index(), 2);
            assert!(g.pick(&[0, 1, 2], Some(now)).is_none());
            // Left out: the backups take everything until it is back.
            g.record(0, Outcome::Failed, now, false, 0);
            assert_eq!(picks(&g, 4, now), "bcbc");
            assert!(g.stats()[1].backup && !g.stats()[0].backup);
        }
    }

    fn ups_clone(ups: &[Upstream]) -> Vec<Upstream> {
        ups.iter()
            .map(|u| Upstream {
                uri: u.uri.clone(),
                url: u.url.clone(),
                weight: u.weight,
                backup: u.backup,
            })
            .collect()
    }

    #[test]
    fn a_late_failure_or_answer_of_an_earlier_request_does_not_bring_an_upstream_back() {
        let t0 = Instant::now();
        let g = group(&[1, 1], Balance::RoundRobin, 3);
        // Two requests picked while a is well; they end only later.
        let mut early_fail = pick_until(&g, 0, t0);
        let mut early_answer = pick_until(&g, 0, t0);
        for i in 0..3 {
            record_at(
                &mut pick_until(&g, 0, t0),
                Outcome::Failed,
                t0 + Duration::from_secs(i),
            );
        }
        assert!(!g.stats()[0].available);
        // A failure 15 s after the last (a request that hung until its timeout) keeps it
        // out: it does not start the count anew.
        let late = t0 + Duration::from_secs(17);
        record_at(&mut early_fail, Outcome::Failed, late);
        assert_eq!(picks(&g, 4, late + Duration::from_secs(1)), "bbbb");
        // An answer to a request picked before those failures clears none of them.
        record_at(
            &mut early_answer,
            Outcome::Answered,
            late + Duration::from_secs(2),
        );
        assert_eq!(picks(&g, 4, late + Duration::from_secs(3)), "bbbb");
        drop((early_fail, early_answer));
        // Its trial after fail_timeout, answered, does.
        let mut trial = pick_until(&g, 0, late + Duration::from_secs(11));
        record_at(
            &mut trial,
            Outcome::Answered,
            late + Duration::from_secs(11),
        );
        drop(trial);
        assert!(g.stats()[0].available);
    }

    #[test]
    fn a_trial_that_hangs_holds_the_upstream_out_for_fail_timeout_at_most() {
        let t0 = Instant::now();
        let g = group(&[1, 1], Balance::RoundRobin, 1);
        record_at(&mut pick_until(&g, 0, t0), Outcome::Failed, t0);
        let t1 = t0 + Duration::from_secs(10);
        let _hung = pick_until(&g, 0, t1);
        assert_eq!(picks(&g, 3, t1 + Duration::from_secs(9)), "bbb");
        // Ten seconds after the hung trial began, another request may try.
        let _second = pick_until(&g, 0, t1 + Duration::from_secs(10));
    }

    #[test]
    fn failures_far_apart_do_not_add_up() {
        let t0 = Instant::now();
        let g = group(&[1, 1], Balance::RoundRobin, 2);
        g.record(0, Outcome::Failed, t0, false, 0);
        g.record(0, Outcome::Failed, t0 + Duration::from_secs(11), false, 0);
        assert!(g.stats()[0].available);
        // A success between two failures clears the count too.
        let seen = g.stats()[0].failures;
        g.record(
            0,
            Outcome::Answered,
            t0 + Duration::from_secs(12),
            false,
            seen,
        );
        g.record(0, Outcome::Failed, t0 + Duration::from_secs(13), false, 0);
        assert!(g.stats()[0].available);
        g.record(0, Outcome::Failed, t0 + Duration::from_secs(14), false, 0);
        assert!(!g.stats()[0].available);
    }
}
