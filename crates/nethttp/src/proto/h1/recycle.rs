//! Per-thread recycling of connection buffers and header maps. A connection that goes idle
//! gives its read and write buffers back here instead of keeping them (idle connections must
//! stay small) or freeing them (a keep-alive request would then pay two large allocations);
//! the next busy connection on the thread takes them. The header map of a response the server
//! has written comes back here emptied and carries the next parsed request head, saving its
//! two allocations. (A busy connection's state is recycled by `crate::blocks`.) Bounded, so a
//! burst of connections cannot pin memory.

use std::cell::RefCell;

use bytes::BytesMut;
use http::HeaderMap;

use super::io::INITIAL_READ_BUF;

/// Buffers kept per thread, of each kind.
const MAX_POOLED: usize = 64;
/// Write buffers larger than this are freed rather than pooled.
const MAX_POOLED_WRITE: usize = 64 * 1024;
/// First capacity of a write buffer: a typical response head fits without growing.
const INITIAL_WRITE_BUF: usize = 1024;
/// Header maps with room for more fields than this are freed rather than pooled: a rare
/// large head should not make every later one carry its table.
const MAX_POOLED_HEADERS: usize = 64;

struct Pool {
    read: Vec<BytesMut>,
    write: Vec<Vec<u8>>,
    headers: Vec<HeaderMap>,
}

thread_local! {
    static POOL: RefCell<Pool> = const {
        RefCell::new(Pool { read: Vec::new(), write: Vec::new(), headers: Vec::new() })
    };
}

/// Keeps `item` unless the list is full (then it is freed).
fn keep<T>(list: &mut Vec<T>, item: T) {
    if list.len() < MAX_POOLED {
        list.push(item);
    }
}

/// A read buffer with room for at least half of [`INITIAL_READ_BUF`] bytes.
#[inline]
pub(crate) fn read_buf() -> BytesMut {
    let mut buf = POOL
        .with(|p| p.borrow_mut().read.pop())
        .unwrap_or_else(|| BytesMut::with_capacity(INITIAL_READ_BUF));
    // A recycled buffer goes on reading after the requests it already held while half of it
    // is left (a keep-alive request then costs no rewind); then it is rewound in place if its
    // bytes are no longer referenced, or replaced if a request a handler kept still shares it.
    if buf.capacity() < INITIAL_READ_BUF / 2 {
        buf.reserve(INITIAL_READ_BUF);
    }
    buf
}

/// Gives back a read buffer whose contents are consumed.
#[inline]
pub(crate) fn recycle_read(mut buf: BytesMut) {
    if buf.capacity() == 0 {
        return;
    }
    buf.clear();
    POOL.with(|p| keep(&mut p.borrow_mut().read, buf));
}

/// An empty write buffer.
#[inline]
pub(crate) fn write_buf() -> Vec<u8> {
    POOL.with(|p| p.borrow_mut().write.pop())
        .unwrap_or_else(|| Vec::with_capacity(INITIAL_WRITE_BUF))
}

/// Gives back a write buffer whose contents were sent.
#[inline]
pub(crate) fn recycle_write(mut buf: Vec<u8>) {
    if buf.capacity() == 0 || buf.capacity() > MAX_POOLED_WRITE {
        return;
    }
    buf.clear();
    POOL.with(|p| keep(&mut p.borrow_mut().write, buf));
}

/// An empty header map with room for at least `fields` fields.
#[inline]
pub(crate) fn header_map(fields: usize) -> HeaderMap {
    match POOL.with(|p| p.borrow_mut().headers.pop()) {
        Some(mut map) => {
            map.reserve(fields);
            map
        }
        None => HeaderMap::with_capacity(fields),
    }
}

/// Gives back a header map whose fields were written out; it is emptied here.
#[inline]
pub(crate) fn recycle_headers(mut map: HeaderMap) {
    if map.capacity() == 0 || map.capacity() > MAX_POOLED_HEADERS {
        return;
    }
    map.clear();
    POOL.with(|p| keep(&mut p.borrow_mut().headers, map));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recycled_unique_buffer_is_reused_in_place() {
        let mut b = read_buf();
        b.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        let head = b.split_to(10).freeze();
        drop(head);
        let ptr_before = b.as_ptr() as usize;
        recycle_read(b);
        // Plenty of room left: it goes on after what it held.
        let mut b = read_buf();
        assert!(b.capacity() >= INITIAL_READ_BUF / 2);
        assert_eq!(b.as_ptr() as usize, ptr_before);
        let start = ptr_before - 10;
        // Less than half left: the same allocation, rewound to its start.
        b.resize(INITIAL_READ_BUF - 10 - 100, b'x');
        drop(b.split().freeze());
        recycle_read(b);
        let b = read_buf();
        assert!(b.capacity() >= INITIAL_READ_BUF);
        assert_eq!(b.as_ptr() as usize, start);
    }

    #[test]
    fn recycled_header_map_comes_back_empty_and_large_ones_are_freed() {
        let mut m = header_map(4);
        m.insert(http::header::HOST, http::HeaderValue::from_static("a"));
        m.append("x-a", http::HeaderValue::from_static("1"));
        m.append("x-a", http::HeaderValue::from_static("2"));
        let cap = m.capacity();
        recycle_headers(m);
        let m = header_map(1);
        assert!(m.is_empty());
        assert_eq!(m.capacity(), cap, "the pooled map was handed out again");
        let mut big = HeaderMap::with_capacity(MAX_POOLED_HEADERS + 1);
        big.insert(http::header::HOST, http::HeaderValue::from_static("a"));
        assert!(big.capacity() > MAX_POOLED_HEADERS);
        recycle_headers(big);
        POOL.with(|p| {
            assert!(p
                .borrow()
                .headers
                .iter()
                .all(|h| h.is_empty() && h.capacity() <= MAX_POOLED_HEADERS))
        });
    }

    #[test]
    fn pool_is_bounded() {
        for _ in 0..MAX_POOLED * 2 {
            recycle_write(Vec::with_capacity(10));
        }
        POOL.with(|p| assert!(p.borrow().write.len() <= MAX_POOLED));
        recycle_write(Vec::with_capacity(MAX_POOLED_WRITE + 1));
        POOL.with(|p| {
            assert!(p
                .borrow()
                .write
                .iter()
                .all(|w| w.capacity() <= MAX_POOLED_WRITE))
        });
    }
}
