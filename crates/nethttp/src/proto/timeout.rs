//! Deadlines that cost nothing when they are not needed: a future is polled once before any
//! timer is armed, so the reads and writes of a busy connection, which mostly complete at
//! once, pay no timer-wheel insert and removal (nor, for a lazily computed deadline, a clock
//! read). Both engines and both sides use them: HTTP/1.1 reads and writes, HTTP/2 stream
//! waits and sends.

use std::future::Future;
use std::io;
use std::task::Poll;

use tokio::time::Instant;

/// Runs socket I/O with a deadline, arming the timer only if the I/O cannot complete at
/// once: most reads and writes of a busy connection finish on the first poll and then cost
/// no timer (nor, for a lazily computed deadline, a clock read).
pub(crate) async fn with_deadline<T>(
    io: impl Future<Output = io::Result<T>>,
    deadline: impl FnOnce() -> Instant,
    what: &'static str,
) -> io::Result<T> {
    match lazy_timeout(io, deadline).await {
        Some(r) => r,
        None => Err(io::Error::new(io::ErrorKind::TimedOut, what)),
    }
}

/// Runs `fut` until `deadline` (`None` past it), arming the timer only if `fut` cannot
/// complete on its first poll.
pub(crate) async fn lazy_timeout<T>(
    fut: impl Future<Output = T>,
    deadline: impl FnOnce() -> Instant,
) -> Option<T> {
    let mut fut = std::pin::pin!(fut);
    let first = std::future::poll_fn(|cx| match fut.as_mut().poll(cx) {
        Poll::Ready(r) => Poll::Ready(Some(r)),
        Poll::Pending => Poll::Ready(None),
    })
    .await;
    if first.is_some() {
        return first;
    }
    tokio::time::timeout_at(deadline(), fut).await.ok()
}
