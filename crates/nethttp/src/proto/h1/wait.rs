//! What an HTTP/1.1 server connection is waiting for, written by the connection and read by
//! the shutdown watch beside it, which closes an idle connection at once but gives one that
//! has not begun its first request the first-request grace.

use std::sync::atomic::{AtomicU8, Ordering};

/// What the connection is doing, as far as a shutdown is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Wait {
    /// Reading, handling or answering a request: a shutdown lets it finish.
    Busy = 0,
    /// Between requests, nothing of the next one come: a shutdown may close it at once.
    Idle = 1,
    /// Nothing of its first request come yet: most likely a request on its way.
    First = 2,
}

/// A [`Wait`] shared between the connection and its shutdown watch (one task, so the
/// ordering only has to keep each load after the store it follows in program order).
#[derive(Debug)]
pub(crate) struct WaitState(AtomicU8);

impl WaitState {
    pub(crate) fn new() -> Self {
        WaitState(AtomicU8::new(Wait::Busy as u8))
    }

    pub(crate) fn set(&self, w: Wait) {
        self.0.store(w as u8, Ordering::Release);
    }

    pub(crate) fn get(&self) -> Wait {
        match self.0.load(Ordering::Acquire) {
            1 => Wait::Idle,
            2 => Wait::First,
            _ => Wait::Busy,
        }
    }

    /// `First` before any request has been served, `Idle` after: what waiting for the next
    /// request is.
    pub(crate) fn waiting(&self, served: u64) {
        self.set(if served == 0 { Wait::First } else { Wait::Idle });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_state_reads_back_as_written() {
        let s = WaitState::new();
        assert_eq!(s.get(), Wait::Busy);
        for w in [Wait::Idle, Wait::First, Wait::Busy] {
            s.set(w);
            assert_eq!(s.get(), w);
        }
        s.waiting(0);
        assert_eq!(s.get(), Wait::First);
        s.waiting(3);
        assert_eq!(s.get(), Wait::Idle);
    }
}
