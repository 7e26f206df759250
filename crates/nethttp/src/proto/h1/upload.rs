//! The rest of a request body, sent while its response streams back (full duplex). A server
//! may answer before it has read the whole upload — an echo, a progress stream — and still
//! expect the rest; the response body drives this upload as it is read. RFC 9112 §9.5 only
//! asks a client to stop when the server signals it does not want the body (an error status,
//! a closed connection), which is when the exchange drops it instead.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http_body::Body as _;
use tokio::io::AsyncWrite;

use super::encode::{write_chunk_header, write_chunked_end, CRLF};
use super::encode_request::RequestFraming;
use crate::body::Body;

/// A request body still being sent.
pub(crate) struct Upload {
    body: Body,
    framing: RequestFraming,
    sent: u64,
    /// Encoded bytes not yet accepted by the socket.
    pending: Bytes,
    /// The body has ended; once `pending` is written the upload is complete.
    ended: bool,
}

impl Upload {
    /// Continues an upload of which `sent` body bytes already went out.
    pub(crate) fn new(body: Body, framing: RequestFraming, sent: u64) -> Upload {
        Upload {
            body,
            framing,
            sent,
            pending: Bytes::new(),
            ended: false,
        }
    }

    /// Writes what it can without waiting. `Ready(Ok)`: the upload is complete.
    /// `Ready(Err)`: it cannot continue (the body failed, the server stopped reading, or the
    /// body broke its Content-Length). `Pending`: more later; the waker is registered.
    pub(crate) fn poll_send<T: AsyncWrite + Unpin>(
        &mut self,
        io: &mut T,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), ()>> {
        loop {
            while !self.pending.is_empty() {
                match Pin::new(&mut *io).poll_write(cx, &self.pending) {
                    Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(Err(())),
                    Poll::Ready(Ok(n)) => self.pending.advance(n),
                    Poll::Pending => return Poll::Pending,
                }
            }
            if self.ended {
                return Poll::Ready(Ok(()));
            }
            let frame = match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(_))) => return Poll::Ready(Err(())),
                Poll::Ready(Some(Ok(frame))) => frame,
                Poll::Ready(None) => {
                    self.ended = true;
                    if self.framing.check(self.sent, true).is_err() {
                        return Poll::Ready(Err(()));
                    }
                    if self.framing == RequestFraming::Chunked {
                        let mut end = Vec::with_capacity(5);
                        write_chunked_end(&mut end, None);
                        self.pending = end.into();
                    }
                    continue;
                }
            };
            let mut out = Vec::new();
            match frame.into_data() {
                Ok(data) if data.is_empty() => continue,
                Ok(data) => {
                    self.sent += data.len() as u64;
                    if self.framing.check(self.sent, false).is_err() {
                        return Poll::Ready(Err(()));
                    }
                    if self.framing == RequestFraming::Chunked {
                        write_chunk_header(&mut out, data.len());
                        out.extend_from_slice(&data);
                        out.extend_from_slice(CRLF);
                        self.pending = out.into();
                    } else {
                        self.pending = data;
                    }
                }
                Err(frame) => {
                    if let (Ok(trailers), RequestFraming::Chunked) =
                        (frame.into_trailers(), self.framing)
                    {
                        self.ended = true;
                        write_chunked_end(&mut out, Some(&trailers));
                        self.pending = out.into();
                    }
                }
            }
        }
    }
}
