//! Per-thread recycling of connection buffers. A connection that goes idle gives its read
//! and write buffers back here instead of keeping them (idle connections must stay small) or
//! freeing them (a keep-alive request would then pay two large allocations); the next busy
//! connection on the thread takes them. Bounded, so a burst of connections cannot pin memory.

use std::cell::RefCell;

use bytes::BytesMut;

use super::io::INITIAL_READ_BUF;

/// Buffers kept per thread, of each kind.
const MAX_POOLED: usize = 64;
/// Write buffers larger than this are freed rather than pooled.
const MAX_POOLED_WRITE: usize = 64 * 1024;
/// First capacity of a write buffer: a typical response head fits without growing.
const INITIAL_WRITE_BUF: usize = 1024;

struct Pool {
    read: Vec<BytesMut>,
    write: Vec<Vec<u8>>,
}

thread_local! {
    static POOL: RefCell<Pool> = const { RefCell::new(Pool { read: Vec::new(), write: Vec::new() }) };
}

/// A read buffer with room for at least [`INITIAL_READ_BUF`] bytes.
pub(crate) fn read_buf() -> BytesMut {
    let mut buf = POOL
        .with(|p| p.borrow_mut().read.pop())
        .unwrap_or_else(|| BytesMut::with_capacity(INITIAL_READ_BUF));
    // A recycled buffer whose bytes nobody else references is rewound in place; one still
    // shared with a request a handler kept gets a fresh allocation.
    buf.reserve(INITIAL_READ_BUF);
    buf
}

/// Gives back a read buffer whose contents are consumed.
pub(crate) fn recycle_read(mut buf: BytesMut) {
    if buf.capacity() == 0 {
        return;
    }
    buf.clear();
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        if p.read.len() < MAX_POOLED {
            p.read.push(buf);
        }
    });
}

/// An empty write buffer.
pub(crate) fn write_buf() -> Vec<u8> {
    POOL.with(|p| p.borrow_mut().write.pop())
        .unwrap_or_else(|| Vec::with_capacity(INITIAL_WRITE_BUF))
}

/// Gives back a write buffer whose contents were sent.
pub(crate) fn recycle_write(mut buf: Vec<u8>) {
    if buf.capacity() == 0 || buf.capacity() > MAX_POOLED_WRITE {
        return;
    }
    buf.clear();
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        if p.write.len() < MAX_POOLED {
            p.write.push(buf);
        }
    });
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
        let b = read_buf();
        assert!(b.capacity() >= INITIAL_READ_BUF);
        // Same allocation, rewound to its start.
        assert_eq!(b.as_ptr() as usize, ptr_before - 10);
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
