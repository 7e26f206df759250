//! Sending a `Body` on an HTTP/2 stream: data within the peer's flow-control window (waiting
//! for credit, bounded by the write timeout), trailers as a final HEADERS frame, and a
//! RST_STREAM when the body fails. Also the header clean-up RFC 9113 §8.2.2 requires.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use h2::{Reason, SendStream};
use http::header::{HeaderMap, CONNECTION, TE, TRANSFER_ENCODING, UPGRADE};
use http_body::Body as _;
use tokio::time::Instant;

use crate::body::Body;
use crate::error::{Error, Kind};
use crate::proto::h1::io::lazy_timeout;

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

/// Sends all of `body` and ends the stream.
pub(crate) async fn pipe(
    mut body: Body,
    send: &mut SendStream<Bytes>,
    write_timeout: Duration,
) -> Result<(), PipeError> {
    loop {
        let frame = poll_fn(|cx| {
            if let Poll::Ready(r) = send.poll_reset(cx) {
                return Poll::Ready(Err(reset_reason(r)));
            }
            Pin::new(&mut body).poll_frame(cx).map(Ok)
        })
        .await?;
        match frame {
            None => return end(send, Bytes::new()),
            Some(Err(e)) => {
                send.send_reset(Reason::INTERNAL_ERROR);
                return Err(PipeError::Failed(e));
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    let eos = body.is_end_stream();
                    send_data(send, data, eos, write_timeout).await?;
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

/// Sends all of `data` at once (ending the stream with it if `eos`) when the peer's window
/// has room for it; otherwise gives it back, for [`send_data`] to send as credit arrives.
pub(crate) fn send_now(
    send: &mut SendStream<Bytes>,
    data: Bytes,
    eos: bool,
) -> Result<Option<Bytes>, PipeError> {
    send.reserve_capacity(data.len());
    if send.capacity() < data.len() {
        return Ok(Some(data));
    }
    send.send_data(data, eos)
        .map_err(|e| failed(send, "sending data failed", e))?;
    Ok(None)
}

/// Sends `data` as the peer's window allows, ending the stream with it if `eos`.
pub(crate) async fn send_data(
    send: &mut SendStream<Bytes>,
    data: Bytes,
    eos: bool,
    write_timeout: Duration,
) -> Result<(), PipeError> {
    // The usual case: the window already has room for all of it; then no waiting machinery.
    let Some(mut data) = send_now(send, data, eos)? else {
        return Ok(());
    };
    while !data.is_empty() {
        send.reserve_capacity(data.len());
        let credit = poll_fn(|cx| {
            if let Poll::Ready(r) = send.poll_reset(cx) {
                return Poll::Ready(Err(reset_reason(r)));
            }
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
        });
        let waited = lazy_timeout(credit, || Instant::now() + write_timeout).await;
        let Some(n) = waited else {
            send.send_reset(Reason::CANCEL);
            return Err(PipeError::Failed(Error::timeout(
                "peer gave no flow-control credit within the write timeout",
            )));
        };
        let n = n?;
        if n == 0 {
            continue;
        }
        let chunk = data.split_to(n.min(data.len()));
        let last = eos && data.is_empty();
        send.send_data(chunk, last)
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
