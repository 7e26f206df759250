//! Interim (1xx) responses from a handler, sent ahead of its final response: `103 Early
//! Hints` (RFC 8297) so a browser starts fetching what the page will need, `102 Processing`,
//! and any other 1xx but `100` and `101` (RFC 9110 §15.2).
//!
//! A handler asks for the [`InterimSender`] of the request it is serving with [`sender`],
//! while it runs (the server polls it), and sends as many interim responses as it likes
//! before it returns the final one:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use nethttp::http::{header, HeaderMap, HeaderValue, StatusCode};
//! use nethttp::{text_response, HttpRequest, Server};
//!
//! let handler = |_req: HttpRequest| async move {
//!     if let Some(hints) = nethttp::interim::sender() {
//!         let mut h = HeaderMap::new();
//!         h.insert(header::LINK, HeaderValue::from_static("</app.css>; rel=preload; as=style"));
//!         // Written to the client now, while the page is still being made.
//!         let _ = hints.send(StatusCode::EARLY_HINTS, h).await;
//!     }
//!     text_response(StatusCode::OK, "<link rel=stylesheet href=/app.css>")
//! };
//! let server = Server::new();
//! let handle = server.serve(server.bind("127.0.0.1:0".parse()?)?, handler);
//! # handle.shutdown(std::time::Duration::from_secs(1)).await;
//! # Ok(()) }
//! ```
//!
//! Why a function and not a field of the request: the sender costs nothing until a handler
//! asks for it (no allocation and no extension per request), and it reaches handlers behind
//! the tower bridge (an axum handler calls [`sender`] the same way). It is found while the
//! server polls the handler's future, so take it before spawning work that sends.
//!
//! `100 Continue` is the server's to send (when the handler first reads the body of a
//! request that expects it), and `101` is an upgrade's final answer ([`crate::upgrade`]).
//! An HTTP/1.0 client gets no interim response (RFC 9110 §15.2): [`sender`] is `None` then.
//! On HTTP/2 each interim response is a HEADERS frame on the request's stream.
//!
//! Bounds: at most [`MAX_QUEUED`] interim responses wait to be written at a time (a `send`
//! waits until its own is written, so only `try_send` can queue more); past that a send
//! fails rather than growing memory.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::task::Waker;

use http::{HeaderMap, StatusCode};
use tokio::sync::Notify;

use crate::error::{Error, Kind, Result};

/// Most interim responses queued and not yet written, per request.
pub const MAX_QUEUED: usize = 16;

/// Sends interim (1xx) responses for the request being served; cheap to clone. Sends fail
/// once the final response has begun (or the connection is gone).
#[derive(Clone, Debug)]
pub struct InterimSender {
    slot: Arc<Slot>,
}

/// The sender of the request whose handler is running, when its protocol allows interim
/// responses (HTTP/1.1 and HTTP/2). `None` outside a handler's poll by the server (in a
/// task the handler spawned: take the sender first and move it there), and for an
/// HTTP/1.0 client.
pub fn sender() -> Option<InterimSender> {
    CURRENT.with(|c| {
        let mut scope = c.take()?;
        let slot = scope
            .slot
            .get_or_insert_with(|| Arc::new(Slot::new()))
            .clone();
        c.set(Some(scope));
        Some(InterimSender { slot })
    })
}

impl InterimSender {
    /// Sends `status` (a 1xx other than 100 and 101) with `headers`, and waits until the
    /// connection has written it (HTTP/1.1) or queued it on the stream (HTTP/2). Fields that
    /// belong to a connection or a message body (`Connection`, `Keep-Alive`,
    /// `Transfer-Encoding`, `Content-Length`, `Upgrade`) are not sent.
    ///
    /// Errors: [`Kind::Usage`] for a status that is not allowed, and when the final response
    /// has begun or the connection closed before this one was written.
    pub async fn send(&self, status: StatusCode, headers: HeaderMap) -> Result<()> {
        let seq = self.queue(status, headers)?;
        loop {
            let notified = self.slot.written.notified();
            {
                let st = self.slot.lock();
                if st.written >= seq {
                    return Ok(());
                }
                if st.closed {
                    return Err(closed());
                }
            }
            notified.await;
        }
    }

    /// Queues `status` with `headers` without waiting: it goes out before the final
    /// response, at the connection's next chance (at the latest when the handler returns).
    /// The same rules and errors as [`send`](Self::send), and one more: the queue holds
    /// [`MAX_QUEUED`] responses, past which this fails.
    pub fn try_send(&self, status: StatusCode, headers: HeaderMap) -> Result<()> {
        self.queue(status, headers).map(|_| ())
    }

    fn queue(&self, status: StatusCode, headers: HeaderMap) -> Result<u64> {
        check_status(status)?;
        let waker = {
            let mut st = self.slot.lock();
            if st.closed {
                return Err(closed());
            }
            if st.queue.len() >= MAX_QUEUED {
                return Err(Error::new(
                    Kind::Usage,
                    "too many interim responses waiting to be written",
                ));
            }
            st.queue.push_back((status, headers));
            st.queued += 1;
            let seq = st.queued;
            (st.waker.take(), seq)
        };
        if let Some(w) = waker.0 {
            w.wake();
        }
        Ok(waker.1)
    }
}

fn check_status(status: StatusCode) -> Result<()> {
    if !status.is_informational() {
        return Err(Error::new(
            Kind::Usage,
            "an interim response needs a 1xx status",
        ));
    }
    if status == StatusCode::CONTINUE {
        return Err(Error::new(
            Kind::Usage,
            "100 Continue is sent by the server when the handler reads the body",
        ));
    }
    if status == StatusCode::SWITCHING_PROTOCOLS {
        return Err(Error::new(
            Kind::Usage,
            "101 is a final answer: return it as the response (see nethttp::upgrade)",
        ));
    }
    Ok(())
}

fn closed() -> Error {
    Error::new(
        Kind::Usage,
        "the final response has begun (or the connection closed): no interim response can follow",
    )
}

/// One request's interim responses, shared by its senders and its connection.
#[derive(Debug)]
pub(crate) struct Slot {
    state: Mutex<State>,
    /// Wakes senders waiting for their response to be written, or for the slot to close.
    written: Notify,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<(StatusCode, HeaderMap)>,
    /// Responses ever queued, taken to be written, and written (sequence numbers).
    queued: u64,
    taken: u64,
    written: u64,
    closed: bool,
    /// The connection's task, woken when a response is queued from elsewhere.
    waker: Option<Waker>,
}

impl Slot {
    fn new() -> Slot {
        Slot {
            state: Mutex::new(State::default()),
            written: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the queued responses, in order.
    pub(crate) fn take(&self) -> VecDeque<(StatusCode, HeaderMap)> {
        let mut st = self.lock();
        st.taken = st.queued;
        std::mem::take(&mut st.queue)
    }

    /// Whether responses are queued; if not, `waker` is woken when one is.
    pub(crate) fn queued_or_register(&self, waker: &Waker) -> bool {
        let mut st = self.lock();
        if !st.queue.is_empty() {
            return true;
        }
        if !st.waker.as_ref().is_some_and(|old| old.will_wake(waker)) {
            st.waker = Some(waker.clone());
        }
        false
    }

    /// Whether responses are queued.
    #[cfg(test)]
    pub(crate) fn has_queued(&self) -> bool {
        !self.lock().queue.is_empty()
    }

    /// Everything taken so far has been written (or queued on an HTTP/2 stream).
    pub(crate) fn mark_written(&self) {
        {
            let mut st = self.lock();
            if st.written == st.taken {
                return;
            }
            st.written = st.taken;
        }
        self.written.notify_waiters();
    }

    /// The final response begins (or the connection is gone): later sends fail, waiting ones
    /// end. Returns whether the slot may be reused for the connection's next request (no
    /// sender outlives this one).
    pub(crate) fn close(self: &Arc<Self>) -> bool {
        if Arc::strong_count(self) == 1 {
            let mut st = self.lock();
            st.queue.clear();
            st.waker = None;
            return true;
        }
        {
            let mut st = self.lock();
            st.closed = true;
            st.queue.clear();
            st.waker = None;
        }
        self.written.notify_waiters();
        false
    }
}

/// The handler being polled on this thread: its request's slot, made on first ask.
struct Scope {
    slot: Option<Arc<Slot>>,
}

thread_local! {
    static CURRENT: Cell<Option<Scope>> = const { Cell::new(None) };
}

/// While this lives, [`sender`] finds `slot` (or a slot made on demand, which goes back
/// into `slot` at the end): enter it around each poll of a handler's future, so whatever
/// the handler asked for stays with its connection. Not entered for HTTP/1.0 requests.
pub(crate) struct Entered<'a> {
    slot: &'a mut Option<Arc<Slot>>,
    outer: Option<Scope>,
}

#[inline]
pub(crate) fn enter(slot: &mut Option<Arc<Slot>>) -> Entered<'_> {
    let outer = CURRENT.with(|c| c.replace(Some(Scope { slot: slot.take() })));
    Entered { slot, outer }
}

impl Drop for Entered<'_> {
    #[inline]
    fn drop(&mut self) {
        let mine = CURRENT.with(|c| c.replace(self.outer.take()));
        *self.slot = mine.and_then(|s| s.slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_inside_a_scope_and_the_slot_comes_back() {
        assert!(sender().is_none());
        let mut slot = None;
        let s = {
            let _in = enter(&mut slot);
            sender().expect("a sender in scope")
        };
        assert!(
            slot.is_some(),
            "the slot made on demand stays with the caller"
        );
        assert!(sender().is_none());
        s.try_send(StatusCode::EARLY_HINTS, HeaderMap::new())
            .unwrap();
        let slot = slot.unwrap();
        assert_eq!(slot.take().len(), 1);
        // A second scope with the same slot hands out the same one.
        let mut again = Some(slot.clone());
        let s2 = {
            let _in = enter(&mut again);
            sender().unwrap()
        };
        assert!(Arc::ptr_eq(&s2.slot, &slot));
    }

    #[test]
    fn statuses_other_than_interim_ones_are_refused() {
        let mut slot = None;
        let s = {
            let _in = enter(&mut slot);
            sender().unwrap()
        };
        for status in [100, 101, 200, 404] {
            let err = s
                .try_send(StatusCode::from_u16(status).unwrap(), HeaderMap::new())
                .unwrap_err();
            assert_eq!(err.kind(), Kind::Usage, "{status}");
        }
        s.try_send(StatusCode::PROCESSING, HeaderMap::new())
            .unwrap();
    }

    #[test]
    fn the_queue_is_bounded_and_a_closed_slot_refuses() {
        let mut slot = None;
        let s = {
            let _in = enter(&mut slot);
            sender().unwrap()
        };
        for _ in 0..MAX_QUEUED {
            s.try_send(StatusCode::EARLY_HINTS, HeaderMap::new())
                .unwrap();
        }
        assert!(s
            .try_send(StatusCode::EARLY_HINTS, HeaderMap::new())
            .is_err());
        let slot = slot.unwrap();
        assert!(!slot.close(), "a sender is still alive: not reusable");
        assert!(s
            .try_send(StatusCode::EARLY_HINTS, HeaderMap::new())
            .is_err());
        drop(s);
        assert!(slot.close(), "no sender left: reusable");
    }

    #[tokio::test]
    async fn send_resolves_when_written_and_fails_when_closed() {
        let mut slot = None;
        let s = {
            let _in = enter(&mut slot);
            sender().unwrap()
        };
        let slot = slot.unwrap();
        let sending = tokio::spawn({
            let s = s.clone();
            async move { s.send(StatusCode::EARLY_HINTS, HeaderMap::new()).await }
        });
        while !slot.has_queued() {
            tokio::task::yield_now().await;
        }
        assert_eq!(slot.take().len(), 1);
        slot.mark_written();
        sending.await.unwrap().unwrap();

        let waiting = tokio::spawn({
            let s = s.clone();
            async move { s.send(StatusCode::EARLY_HINTS, HeaderMap::new()).await }
        });
        while !slot.has_queued() {
            tokio::task::yield_now().await;
        }
        slot.close();
        assert!(waiting.await.unwrap().is_err());
    }
}
