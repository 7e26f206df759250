//! Sending a `Body` on an HTTP/2 stream: data within the peer's flow-control window and the
//! connection's send budget (waiting for either, bounded by the write timeout), small chunks
//! that are ready together coalesced into one DATA frame, trailers as a final HEADERS frame,
//! and a RST_STREAM when the body fails. Also the header clean-up RFC 9113 §8.2.2 requires.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use h2::{Reason, SendStream};
use http::header::{HeaderMap, CONNECTION, TE, TRANSFER_ENCODING, UPGRADE};
use http_body::{Body as _, Frame};
use tokio::time::Instant;

use super::budget::{SendBudget, FRAME_COST, PIECE};
use crate::body::Body;
use crate::error::{Error, Kind};
use crate::proto::timeout::lazy_timeout;

/// Removes the connection-specific fields HTTP/2 forbids (RFC 9113 §8.2.2): `Connection` and
/// the fields it names, `Keep-Alive`, `Proxy-Connection`, `Transfer-Encoding`, `Upgrade`, and
/// `TE` other than `trailers`.
pub(crate) fn strip_connection_headers(headers: &mut HeaderMap) {
    // One pass over the names (standard names compare as small integers) spares the usual
    // response, which has none of these, six hash lookups.
    let any = headers.keys().any(|k| {
        k == CONNECTION
            || k == TRANSFER_ENCODING
            || k == UPGRADE
            || k == TE
            || k.as_str() == "keep-alive"
            || k.as_str() == "proxy-connection"
    });
    if !any {
        return;
    }
    if let Some(conn) = headers.remove(CONNECTION) {
        if let Ok(list) = conn.to_str() {
            for name in list.split(',') {
                let name = name.trim();
                if !name.is_empty() {
                    headers.remove(name);
                }
            }
        }
    }
    for name in ["keep-alive", "proxy-connection"] {
        headers.remove(name);
    }
    headers.remove(TRANSFER_ENCODING);
    headers.remove(UPGRADE);
    if headers
        .get(TE)
        .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"trailers"))
    {
        headers.remove(TE);
    }
}

/// Why piping a body stopped early.
#[derive(Debug)]
pub(crate) enum PipeError {
    /// The peer reset the stream (it no longer wants the body).
    Reset(Reason),
    /// The body failed, or the peer gave no credit within the write timeout; the stream
    /// has been reset.
    Failed(Error),
}

/// What reading ahead of a chunk found, while gathering chunks for one frame.
enum Ahead {
    /// Nothing ready yet.
    Nothing,
    /// The body ended.
    Ended,
    /// A frame to handle next (trailers, a chunk too big to join, or the body's error).
    Frame(Result<Frame<Bytes>, Error>),
}

/// Sends all of `body` and ends the stream.
pub(crate) async fn pipe(
    mut body: Body,
    send: &mut SendStream<Bytes>,
    budget: &SendBudget,
    write_timeout: Duration,
) -> Result<(), PipeError> {
    let mut next = None;
    loop {
        let frame = match next.take() {
            Some(frame) => Some(frame),
            None => {
                poll_fn(|cx| {
                    if let Poll::Ready(r) = send.poll_reset(cx) {
                        return Poll::Ready(Err(reset_reason(r)));
                    }
                    Pin::new(&mut body).poll_frame(cx).map(Ok)
                })
                .await?
            }
        };
        match frame {
            None => return end(send, Bytes::new()),
            Some(Err(e)) => {
                send.send_reset(Reason::INTERNAL_ERROR);
                return Err(PipeError::Failed(e));
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    // Gather no more than the budget could take now: data pulled from the
                    // body while the budget is spent would be held outside it.
                    let limit = budget.available().saturating_sub(FRAME_COST).min(PIECE);
                    let mut first = Some(data);
                    let (data, ahead) = poll_fn(|cx| {
                        let first = first.take().unwrap_or_default();
                        Poll::Ready(gather(&mut body, cx, first, limit))
                    })
                    .await;
                    let eos = match ahead {
                        Ahead::Nothing => body.is_end_stream(),
                        Ahead::Ended => true,
                        Ahead::Frame(frame) => {
                            next = Some(frame);
                            false
                        }
                    };
                    send_data(send, data, eos, budget, write_timeout).await?;
                    if eos {
                        return Ok(());
                    }
                }
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        // Fields that must not be trailers are not sent (RFC 9110 §6.5.1).
                        let trailers = crate::proto::trailers::filter(trailers);
                        if trailers.is_empty() {
                            return end(send, Bytes::new());
                        }
                        return send
                            .send_trailers(trailers)
                            .map_err(|e| failed(send, "sending trailers failed", e));
                    }
                }
            },
        }
    }
}

/// Joins `first` with the chunks the body has ready at once, up to `limit` bytes (at most one
/// frame): a producer of many small chunks then costs one queued frame per 16 KiB instead of
/// one per chunk. Never waits.
fn gather(body: &mut Body, cx: &mut Context<'_>, first: Bytes, limit: usize) -> (Bytes, Ahead) {
    // Freed on return: a stream waiting for the budget keeps no scratch space.
    let mut gathered = Vec::new();
    let mut len = first.len();
    let ahead = loop {
        if len >= limit || body.is_end_stream() {
            break Ahead::Nothing;
        }
        match Pin::new(&mut *body).poll_frame(cx) {
            Poll::Pending => break Ahead::Nothing,
            Poll::Ready(None) => break Ahead::Ended,
            Poll::Ready(Some(Err(e))) => break Ahead::Frame(Err(e)),
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) if len + data.len() <= limit => {
                    len += data.len();
                    gathered.push(data);
                }
                Ok(data) => break Ahead::Frame(Ok(Frame::data(data))),
                Err(frame) => break Ahead::Frame(Ok(frame)),
            },
        }
    };
    if gathered.is_empty() {
        return (first, ahead);
    }
    // One allocation of exactly the frame's size, so what the budget counts is what is held.
    let mut joined = BytesMut::with_capacity(len);
    joined.extend_from_slice(&first);
    for chunk in gathered {
        joined.extend_from_slice(&chunk);
    }
    (joined.freeze(), ahead)
}

fn reset_reason(r: Result<Reason, h2::Error>) -> PipeError {
    match r {
        Ok(reason) => PipeError::Reset(reason),
        Err(e) => PipeError::Failed(super::error("stream failed", e)),
    }
}

fn failed(send: &mut SendStream<Bytes>, msg: &'static str, e: h2::Error) -> PipeError {
    send.send_reset(Reason::INTERNAL_ERROR);
    PipeError::Failed(super::error(msg, e))
}

fn end(send: &mut SendStream<Bytes>, data: Bytes) -> Result<(), PipeError> {
    send.send_data(data, true)
        .map_err(|e| failed(send, "sending data failed", e))
}

/// Ends the stream with a whole body already in memory, at once, when it is one piece and the
/// peer's window has room (the usual small response); otherwise gives it back, for
/// [`send_data`]. No ticket is taken from the budget: the bytes exist already (the handler
/// made them) whether they wait in our task or in `h2`'s queue, one frame per stream, and the
/// stream limit bounds how many such streams there are. What the budget bounds is data
/// pulled from bodies, which a client that does not read would otherwise make grow.
pub(crate) fn send_whole_now(
    send: &mut SendStream<Bytes>,
    data: Bytes,
) -> Result<Option<Bytes>, PipeError> {
    if data.len() > PIECE {
        return Ok(Some(data));
    }
    send.reserve_capacity(data.len());
    if send.capacity() < data.len() {
        return Ok(Some(data));
    }
    send.send_data(data, true)
        .map_err(|e| failed(send, "sending data failed", e))?;
    Ok(None)
}

/// Sends all of `data` at once (ending the stream with it if `eos`) when it is one piece and
/// both the peer's window and the connection's budget have room for it; otherwise gives it
/// back, for [`send_data`] to send as room appears.
fn send_now(
    send: &mut SendStream<Bytes>,
    data: Bytes,
    eos: bool,
    budget: &SendBudget,
) -> Result<Option<Bytes>, PipeError> {
    if data.len() > PIECE {
        return Ok(Some(data));
    }
    send.reserve_capacity(data.len());
    if send.capacity() < data.len() {
        return Ok(Some(data));
    }
    let data = match budget.try_take(data) {
        Ok(ticketed) => ticketed,
        Err(data) => return Ok(Some(data)),
    };
    send.send_data(data, eos)
        .map_err(|e| failed(send, "sending data failed", e))?;
    Ok(None)
}

/// Sends `data` as the peer's window and the connection's budget allow, a piece of at most
/// one frame at a time, ending the stream with it if `eos`. Each wait is bounded by the
/// write timeout.
pub(crate) async fn send_data(
    send: &mut SendStream<Bytes>,
    data: Bytes,
    eos: bool,
    budget: &SendBudget,
    write_timeout: Duration,
) -> Result<(), PipeError> {
    // The usual case: everything fits at once; then no waiting machinery.
    let Some(mut data) = send_now(send, data, eos, budget)? else {
        return Ok(());
    };
    while !data.is_empty() {
        let mut room = send.capacity();
        if room == 0 {
            send.reserve_capacity(data.len());
            room = wait(
                send,
                write_timeout,
                poll_credit,
                "peer gave no flow-control credit within the write timeout",
            )
            .await?;
            if room == 0 {
                continue;
            }
        }
        let piece = data.split_to(room.min(PIECE).min(data.len()));
        let piece = match budget.try_take(piece) {
            Ok(ticketed) => ticketed,
            Err(piece) => {
                let mut take = std::pin::pin!(budget.take(piece));
                wait(
                    send,
                    write_timeout,
                    |_, cx| take.as_mut().poll(cx).map(Ok),
                    "peer read nothing within the write timeout (the connection's send buffer is full)",
                )
                .await?
            }
        };
        let last = eos && data.is_empty();
        send.send_data(piece, last)
            .map_err(|e| failed(send, "sending data failed", e))?;
        if last {
            return Ok(());
        }
    }
    if eos {
        return end(send, Bytes::new());
    }
    Ok(())
}

/// The stream's next grant of flow-control credit.
fn poll_credit(
    send: &mut SendStream<Bytes>,
    cx: &mut Context<'_>,
) -> Poll<Result<usize, PipeError>> {
    match send.poll_capacity(cx) {
        Poll::Ready(Some(Ok(n))) => Poll::Ready(Ok(n)),
        Poll::Ready(Some(Err(e))) => {
            Poll::Ready(Err(PipeError::Failed(super::error("stream failed", e))))
        }
        Poll::Ready(None) => Poll::Ready(Err(PipeError::Failed(Error::new(
            Kind::Http2,
            "stream closed while sending",
        )))),
        Poll::Pending => Poll::Pending,
    }
}

/// Waits for what `poll` polls while watching for the peer's reset, for at most the write
/// timeout; past it the stream is cancelled and fails with `timed_out`.
async fn wait<T>(
    send: &mut SendStream<Bytes>,
    write_timeout: Duration,
    mut poll: impl FnMut(&mut SendStream<Bytes>, &mut Context<'_>) -> Poll<Result<T, PipeError>>,
    timed_out: &'static str,
) -> Result<T, PipeError> {
    let waiting = poll_fn(|cx| {
        if let Poll::Ready(r) = send.poll_reset(cx) {
            return Poll::Ready(Err(reset_reason(r)));
        }
        poll(send, cx)
    });
    match lazy_timeout(waiting, || Instant::now() + write_timeout).await {
        Some(r) => r,
        None => {
            send.send_reset(Reason::CANCEL);
            Err(PipeError::Failed(Error::timeout(timed_out)))
        }
    }
}
