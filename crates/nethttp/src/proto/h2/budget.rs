//! The send budget of one HTTP/2 connection: how many bytes of body data (and of the
//! per-frame bookkeeping that comes with them) may sit queued inside `h2`, waiting for a
//! peer to read, before the streams of that connection stop pulling from their bodies.
//!
//! `h2` bounds what it buffers per stream in payload bytes only, and a peer may open hundreds
//! of streams and grant itself windows of 2^31-1 bytes: a peer that never reads its socket
//! would make the server queue everything its handlers produce, and a small chunk costs far
//! more than its payload as a queued frame. Here every piece of data handed to `h2` first
//! takes a ticket from the connection's budget for its payload plus [`FRAME_COST`], and gives
//! it back when `h2` lets go of the bytes — after writing them into its (bounded) socket
//! buffer, or on a reset. The tickets ride inside the `Bytes` themselves
//! ([`Bytes::from_owner`]), so whatever path `h2` takes with a frame, the budget is returned
//! exactly once.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::Semaphore;

/// What a queued DATA frame costs besides its payload: `h2`'s queue slot for the frame (sized
/// for its largest frame type, ~300 bytes), the shared header holding the ticket, and the
/// producer's own allocation of a small chunk; ~400 bytes measured, rounded up.
pub(crate) const FRAME_COST: usize = 512;

/// Largest piece of data handed to `h2` at once: one DATA frame at the default (and
/// minimum) SETTINGS_MAX_FRAME_SIZE. Bigger chunks are split, so one large body cannot take
/// the whole budget while other streams wait, and a ticket never outlives its frame by much.
pub(crate) const PIECE: usize = 16 * 1024;

/// A connection's send budget, shared by its streams.
#[derive(Debug)]
pub(crate) struct SendBudget {
    permits: Arc<Semaphore>,
    total: usize,
}

/// A piece of the budget, held by data queued in `h2`; returned when dropped.
struct Ticket {
    data: Bytes,
    permits: Arc<Semaphore>,
    cost: usize,
}

impl AsRef<[u8]> for Ticket {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.permits.add_permits(self.cost);
    }
}

impl SendBudget {
    /// A budget of `total` bytes (at least one frame's worth, so every piece can be sent).
    pub(crate) fn new(total: usize) -> Self {
        let max = Semaphore::MAX_PERMITS.min(u32::MAX as usize);
        let total = total.clamp(PIECE + FRAME_COST, max);
        SendBudget {
            permits: Arc::new(Semaphore::new(total)),
            total,
        }
    }

    /// What sending `len` bytes of data costs.
    fn cost(&self, len: usize) -> usize {
        (len + FRAME_COST).min(self.total)
    }

    /// Takes the budget for `data` (at most [`PIECE`] bytes) if it is free now, returning
    /// the data with its ticket inside; otherwise gives `data` back.
    pub(crate) fn try_take(&self, data: Bytes) -> Result<Bytes, Bytes> {
        let cost = self.cost(data.len());
        match u32::try_from(cost)
            .ok()
            .and_then(|n| self.permits.try_acquire_many(n).ok())
        {
            Some(permit) => {
                permit.forget();
                Ok(self.ticketed(data, cost))
            }
            None => Err(data),
        }
    }

    /// Waits until the budget for `data` is free and returns the data with its ticket inside.
    pub(crate) async fn take(&self, data: Bytes) -> Bytes {
        let cost = self.cost(data.len());
        // `cost` is at most `total`, which fits a u32.
        let n = u32::try_from(cost).unwrap_or(u32::MAX);
        if let Ok(permit) = self.permits.acquire_many(n).await {
            permit.forget();
        }
        // The semaphore is never closed, so the acquire cannot fail; were it to, the data
        // goes out untracked rather than being lost.
        self.ticketed(data, cost)
    }

    fn ticketed(&self, data: Bytes, cost: usize) -> Bytes {
        Bytes::from_owner(Ticket {
            data,
            permits: self.permits.clone(),
            cost,
        })
    }

    /// Bytes of budget free now (none while streams wait for it).
    pub(crate) fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_return_the_budget_when_the_bytes_are_dropped() {
        let budget = SendBudget::new(64 * 1024);
        let total = budget.available();
        let a = budget.try_take(Bytes::from(vec![1u8; 1000])).unwrap();
        assert_eq!(budget.available(), total - 1000 - FRAME_COST);
        // A slice of the data holds the ticket too: only the last reference returns it.
        let tail = a.slice(500..);
        drop(a);
        assert_eq!(budget.available(), total - 1000 - FRAME_COST);
        assert_eq!(tail.len(), 500);
        drop(tail);
        assert_eq!(budget.available(), total);
    }

    #[test]
    fn an_exhausted_budget_refuses_until_data_is_released() {
        let budget = SendBudget::new(0); // raised to one piece
        let first = budget.try_take(Bytes::from(vec![0u8; PIECE])).unwrap();
        let second = budget.try_take(Bytes::from_static(b"x")).unwrap_err();
        assert_eq!(&second[..], b"x");
        drop(first);
        assert!(budget.try_take(second).is_ok());
    }

    #[tokio::test]
    async fn take_waits_for_released_budget() {
        let budget = Arc::new(SendBudget::new(0));
        let held = budget.try_take(Bytes::from(vec![0u8; PIECE])).unwrap();
        let waiter = tokio::spawn({
            let budget = budget.clone();
            async move { budget.take(Bytes::from_static(b"later")).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(held);
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("released in time")
            .unwrap();
        assert_eq!(&got[..], b"later");
    }
}
