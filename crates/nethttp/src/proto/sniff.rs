//! Which protocol a plain connection speaks: HTTP/2 by prior knowledge when it opens with the
//! client preface (h2c, RFC 9113 §3.3), HTTP/1.1 otherwise. TCP looks without consuming;
//! other IO reads the first bytes into the connection's read buffer, and whichever engine
//! wins starts from them (HTTP/1.1 as its buffer, HTTP/2 through `proto::io::Rewind`).

use std::future::poll_fn;

use bytes::BytesMut;
use tokio::time::{timeout_at, Instant};

use super::h1::io::{poll_read_into, INITIAL_READ_BUF};
use super::h2::PREFACE;
use super::io::ConnIo;

/// Whether the connection opens with the HTTP/2 preface. Looks until the bytes so far differ
/// from the preface, the whole preface is there, or `deadline` (the first request's header
/// deadline, which HTTP/1.1 then keeps to). Anything else, silence included, is HTTP/1.1.
///
/// On IO that cannot peek, what was read is left in `buf`; with a peek, `buf` stays empty.
pub(crate) async fn opens_with_preface<C: ConnIo>(
    io: &mut C,
    buf: &mut BytesMut,
    deadline: Instant,
) -> bool {
    if C::PEEK {
        return peek_preface(io, deadline).await;
    }
    loop {
        let n = buf.len().min(PREFACE.len());
        if buf[..n] != PREFACE[..n] {
            return false;
        }
        if n == PREFACE.len() {
            return true;
        }
        let read = poll_fn(|cx| poll_read_into(&mut *io, buf, cx, INITIAL_READ_BUF));
        match timeout_at(deadline, read).await {
            Ok(Ok(n)) if n > 0 => {}
            // Closed, failed or silent: HTTP/1.1 finds out for itself.
            _ => return false,
        }
    }
}

/// The preface check by peeking: each look waits for bytes that were not there at the last
/// one, so a client that sends half a preface (or nothing) costs no CPU while it waits.
async fn peek_preface<C: ConnIo>(io: &mut C, deadline: Instant) -> bool {
    let mut look = [0u8; PREFACE.len()];
    let mut seen = 0;
    loop {
        // Moved in as `&mut`: a shared borrow held across the wait would ask `C: Sync`.
        let (io_mut, look_mut) = (&mut *io, &mut look);
        let peeked = poll_fn(move |cx| io_mut.poll_peek(cx, look_mut, seen));
        let n = match timeout_at(deadline, peeked).await {
            Ok(Ok(n)) => n,
            _ => return false,
        };
        if n == 0 || look[..n] != PREFACE[..n] {
            return false;
        }
        if n == PREFACE.len() {
            return true;
        }
        seen = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::io::AnyIo;
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[tokio::test]
    async fn a_preface_in_pieces_is_read_and_kept() {
        let (a, mut b) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            b.write_all(&PREFACE[..5]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            b.write_all(&PREFACE[5..]).await.unwrap();
            b.write_all(b"\x00\x00").await.unwrap();
            b
        });
        let mut io = AnyIo(a);
        let mut buf = BytesMut::new();
        assert!(opens_with_preface(&mut io, &mut buf, soon()).await);
        assert!(buf.starts_with(PREFACE));
        drop(writer.await.unwrap());
    }

    #[tokio::test]
    async fn http1_is_told_apart_at_the_first_differing_byte() {
        let (a, mut b) = tokio::io::duplex(64);
        b.write_all(b"PUT / HTTP/1.1\r\n").await.unwrap();
        let mut io = AnyIo(a);
        let mut buf = BytesMut::new();
        assert!(!opens_with_preface(&mut io, &mut buf, soon()).await);
        assert_eq!(&buf[..], b"PUT / HTTP/1.1\r\n");
    }

    #[tokio::test]
    async fn silence_until_the_deadline_is_http1() {
        let (a, _b) = tokio::io::duplex(64);
        let mut io = AnyIo(a);
        let mut buf = BytesMut::new();
        let deadline = Instant::now() + Duration::from_millis(50);
        assert!(!opens_with_preface(&mut io, &mut buf, deadline).await);
        assert!(buf.is_empty());
    }
}
