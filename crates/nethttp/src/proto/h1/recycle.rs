//! Per-thread recycling of connection buffers, header maps and busy-state memory. A
//! connection that goes idle gives its read and write buffers back here instead of keeping
//! them (idle connections must stay small) or freeing them (a keep-alive request would then
//! pay two large allocations); the next busy connection on the thread takes them. The header
//! map of a response the server has written comes back here emptied and carries the next
//! parsed request head, saving its two allocations. The memory of a busy connection's state
//! ([`BusyBox`]) comes back here too when the connection goes idle: it is too large for the
//! allocator's fast path, and a keep-alive request would otherwise allocate and free it.
//! Bounded, so a burst of connections cannot pin memory.

use std::alloc::Layout;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

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
pub(crate) fn recycle_read(mut buf: BytesMut) {
    if buf.capacity() == 0 {
        return;
    }
    buf.clear();
    POOL.with(|p| keep(&mut p.borrow_mut().read, buf));
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
    POOL.with(|p| keep(&mut p.borrow_mut().write, buf));
}

/// An empty header map with room for at least `fields` fields.
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
pub(crate) fn recycle_headers(mut map: HeaderMap) {
    if map.capacity() == 0 || map.capacity() > MAX_POOLED_HEADERS {
        return;
    }
    map.clear();
    POOL.with(|p| keep(&mut p.borrow_mut().headers, map));
}

/// Blocks of freed busy state kept per thread, each with the layout it was allocated with.
struct Blocks(Vec<(NonNull<u8>, Layout)>);

impl Drop for Blocks {
    fn drop(&mut self) {
        for (ptr, layout) in self.0.drain(..) {
            // SAFETY: every block here was allocated by the global allocator with `layout`
            // and is owned by this list alone.
            unsafe { std::alloc::dealloc(ptr.as_ptr(), layout) };
        }
    }
}

thread_local! {
    static BLOCKS: RefCell<Blocks> = const { RefCell::new(Blocks(Vec::new())) };
}

/// A block of `layout` (not zero-sized) from this thread's list, or a new one.
fn take_block(layout: Layout) -> NonNull<u8> {
    let kept = BLOCKS
        .try_with(|b| {
            let list = &mut b.borrow_mut().0;
            let at = list.iter().rposition(|&(_, l)| l == layout)?;
            Some(list.swap_remove(at).0)
        })
        .ok()
        .flatten();
    if let Some(ptr) = kept {
        return ptr;
    }
    // SAFETY: `layout` is not zero-sized.
    let ptr = unsafe { std::alloc::alloc(layout) };
    NonNull::new(ptr).unwrap_or_else(|| std::alloc::handle_alloc_error(layout))
}

/// Keeps a block of `layout` for the next busy connection, or frees it if the list is full
/// (or the thread is exiting).
fn give_block(ptr: NonNull<u8>, layout: Layout) {
    let kept = BLOCKS.try_with(|b| {
        let list = &mut b.borrow_mut().0;
        if list.len() < MAX_POOLED {
            list.push((ptr, layout));
            true
        } else {
            false
        }
    });
    if kept != Ok(true) {
        // SAFETY: the block was allocated with `layout` and nothing refers to it any more.
        unsafe { std::alloc::dealloc(ptr.as_ptr(), layout) };
    }
}

/// A pinned, heap-allocated future, as `Pin<Box<F>>`, whose memory comes from and goes back
/// to this thread's list of blocks: a connection's busy state, boxed so that an idle
/// connection does not carry it, costs no allocation per busy period.
pub(crate) struct BusyBox<F> {
    ptr: NonNull<F>,
}

// SAFETY: `BusyBox` owns its `F` as a `Box` would.
unsafe impl<F: Send> Send for BusyBox<F> {}
// SAFETY: as above; a shared `BusyBox` gives no access to its `F`.
unsafe impl<F: Sync> Sync for BusyBox<F> {}

impl<F> BusyBox<F> {
    /// Moves the future `make` returns into a recycled block. (Built straight into the
    /// block: the compiler can then skip copying the whole of a large future's state.)
    #[inline]
    pub(crate) fn new(make: impl FnOnce() -> F) -> Self {
        let layout = Layout::new::<F>();
        let ptr = if layout.size() == 0 {
            NonNull::dangling()
        } else {
            take_block(layout).cast::<F>()
        };
        // SAFETY: `ptr` is valid for writes of an `F` and properly aligned (a block of
        // `F`'s layout, or dangling for a zero-sized `F`). (`make` only builds a future,
        // which does not panic; if it did, the block would leak, which is safe.)
        unsafe { ptr.as_ptr().write(make()) };
        BusyBox { ptr }
    }
}

impl<F> Drop for BusyBox<F> {
    fn drop(&mut self) {
        let layout = Layout::new::<F>();
        // SAFETY: `ptr` holds an initialised `F` that is dropped exactly once, here; its
        // block then goes back to the list.
        unsafe { std::ptr::drop_in_place(self.ptr.as_ptr()) };
        if layout.size() != 0 {
            give_block(self.ptr.cast(), layout);
        }
    }
}

impl<F: Future> Future for BusyBox<F> {
    type Output = F::Output;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: the `F` never moves: it stays in its block until dropped in place.
        unsafe { Pin::new_unchecked(self.ptr.as_mut()) }.poll(cx)
    }
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
    fn busy_box_memory_is_reused_and_its_future_dropped_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let drops = Arc::new(AtomicUsize::new(0));
        struct Counted(Arc<AtomicUsize>, [u8; 1500]);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let make = |n: u8| {
            let c = Counted(drops.clone(), [n; 1500]);
            async move { c.1[1499] }
        };
        let mut first = BusyBox::new(|| make(7));
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert_eq!(Pin::new(&mut first).poll(&mut cx), Poll::Ready(7));
        let at = first.ptr.as_ptr() as usize;
        drop(first);
        assert_eq!(drops.load(Ordering::Relaxed), 1);
        let second = BusyBox::new(|| make(9));
        assert_eq!(second.ptr.as_ptr() as usize, at, "the block was recycled");
        // A future of another layout does not take it.
        let other = BusyBox::new(|| async { [0u8; 3000] });
        assert_ne!(other.ptr.as_ptr() as usize, at);
        drop(second);
        assert_eq!(drops.load(Ordering::Relaxed), 2, "dropped unpolled, once");
        drop(other);
        BLOCKS.with(|b| assert!(b.borrow().0.len() <= MAX_POOLED));
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
