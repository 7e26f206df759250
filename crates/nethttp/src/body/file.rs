//! A response body read from a file as the connection takes it: a list of segments (bytes in
//! memory, such as a `multipart/byteranges` part header, and ranges of the file). HTTP/1.1 on
//! a socket sends the file ranges with `sendfile(2)` (no copy through user space, see
//! `proto::h1::server`); everywhere else (TLS, HTTP/2, any other IO) they are read 64 KiB at a
//! time with `pread`, so a large file costs one buffer per connection, not its size. The reads
//! run on the connection's thread, as nginx's do without `aio`: from the page cache they take
//! microseconds; a slow disk stalls that thread's other connections.

use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Frame, SizeHint};

use crate::error::{Error, Kind};

/// Bytes read from the file per frame.
const CHUNK: u64 = 64 * 1024;

/// A piece of the body.
#[derive(Debug)]
pub(crate) enum Segment {
    Bytes(Bytes),
    File { offset: u64, len: u64 },
}

/// What the connection sends next when it sends the file itself (`sendfile(2)`).
#[derive(Debug)]
pub(crate) enum Piece {
    /// Bytes from memory, taken out of the body.
    Bytes(Bytes),
    /// `len` bytes of the file from `offset`; [`FileBody::sent`] says how many went.
    File { offset: u64, len: u64 },
}

/// The body: `segments` in order, `remaining` bytes in all.
#[derive(Debug)]
pub(crate) struct FileBody {
    file: File,
    segments: VecDeque<Segment>,
    remaining: u64,
    /// Told the bytes left unsent when the body is dropped (an access log's count).
    on_drop: Option<OnDrop>,
}

/// What [`FileBody::on_drop`] keeps.
pub(crate) struct OnDrop(Box<dyn FnOnce(u64) + Send>);

impl std::fmt::Debug for OnDrop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnDrop(..)")
    }
}

impl Drop for FileBody {
    fn drop(&mut self) {
        if let Some(OnDrop(f)) = self.on_drop.take() {
            f(self.remaining);
        }
    }
}

impl FileBody {
    pub(crate) fn new(file: File, segments: Vec<Segment>) -> FileBody {
        let remaining = segments
            .iter()
            .map(|s| match s {
                Segment::Bytes(b) => b.len() as u64,
                Segment::File { len, .. } => *len,
            })
            .sum();
        FileBody {
            file,
            segments: segments.into(),
            remaining,
            on_drop: None,
        }
    }

    /// Calls `f` with the bytes left unsent when the body is dropped (the connection is done
    /// with it, sent whole or not).
    pub(crate) fn on_drop(&mut self, f: Box<dyn FnOnce(u64) + Send>) {
        self.on_drop = Some(OnDrop(f));
    }

    /// The file the `Segment::File` ranges index.
    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// The next piece to send, `None` at the end. A file piece stays at the front until
    /// [`FileBody::sent`] has consumed it.
    pub(crate) fn next_piece(&mut self) -> Option<Piece> {
        loop {
            match self.segments.front_mut()? {
                Segment::Bytes(b) => {
                    let b = std::mem::take(b);
                    self.segments.pop_front();
                    if !b.is_empty() {
                        self.remaining -= b.len() as u64;
                        return Some(Piece::Bytes(b));
                    }
                }
                Segment::File { len: 0, .. } => {
                    self.segments.pop_front();
                }
                Segment::File { offset, len } => {
                    return Some(Piece::File {
                        offset: *offset,
                        len: *len,
                    })
                }
            }
        }
    }

    /// Records that `n` bytes of the file piece at the front were sent.
    pub(crate) fn sent(&mut self, n: u64) {
        if let Some(Segment::File { offset, len }) = self.segments.front_mut() {
            let n = n.min(*len);
            *offset += n;
            *len -= n;
            self.remaining -= n;
        }
    }

    fn next_chunk(&mut self) -> Option<Result<Bytes, Error>> {
        loop {
            let seg = self.segments.front_mut()?;
            match seg {
                Segment::Bytes(b) => {
                    let b = std::mem::take(b);
                    self.segments.pop_front();
                    if b.is_empty() {
                        continue;
                    }
                    self.remaining -= b.len() as u64;
                    return Some(Ok(b));
                }
                Segment::File { len: 0, .. } => {
                    self.segments.pop_front();
                }
                Segment::File { offset, len } => {
                    let n = (*len).min(CHUNK) as usize;
                    let mut buf = BytesMut::zeroed(n);
                    let mut got = 0;
                    while got < n {
                        match self.file.read_at(&mut buf[got..], *offset + got as u64) {
                            Ok(0) => {
                                // The file shrank under us: the length already promised
                                // cannot be kept, so the response must fail, not end short.
                                return Some(Err(Error::new(
                                    Kind::Io,
                                    "the file shrank while it was being sent",
                                )));
                            }
                            Ok(k) => got += k,
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                            Err(e) => {
                                return Some(Err(Error::with_cause(
                                    Kind::Io,
                                    "reading the file failed",
                                    e,
                                )))
                            }
                        }
                    }
                    *offset += n as u64;
                    *len -= n as u64;
                    self.remaining -= n as u64;
                    return Some(Ok(buf.freeze()));
                }
            }
        }
    }
}

impl http_body::Body for FileBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        Poll::Ready(this.next_chunk().map(|r| r.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}
