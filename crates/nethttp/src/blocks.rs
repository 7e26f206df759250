//! Per-thread recycled memory for large futures: a busy HTTP/1.1 connection's state
//! ([`BusyBox`]) and boxed futures over [`SMALL`] bytes ([`DynBox`]: a route's future behind
//! `ServeMux` or `Box<dyn DynHandler>` when the handler is a proxy or a file server, an
//! HTTP/2 stream's task). Blocks that size are past the allocator's per-thread fast path
//! (glibc's tcache ends at 1,032 bytes): each would cost a slow-path `malloc` and `free`,
//! ~2,000 instructions for a reverse proxy's 4.7 KB future, where taking a block from this
//! list and giving it back costs under 100. Bounded: at most [`MAX_BLOCKS`] blocks of at most
//! [`MAX_BLOCK`] bytes per thread; when more come back, the oldest is freed, so the list
//! follows the layouts in use.

use std::alloc::Layout;
use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

/// Blocks kept per thread.
const MAX_BLOCKS: usize = 64;
/// Larger blocks are freed rather than kept.
const MAX_BLOCK: usize = 64 * 1024;
/// A [`DynBox`] of at most this many bytes is an ordinary `Box`: the allocator's fast path
/// serves it, and keeping it here would cost more than it saves.
pub(crate) const SMALL: usize = 1024;

/// Blocks of freed futures kept per thread, each with the layout it was allocated with,
/// oldest first (a block is taken from the back: the most recent of its layout).
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
            // The most recent of its layout, usually the last: removing it shifts little, and
            // the list stays oldest first for the eviction in `give_block`.
            let at = list.iter().rposition(|&(_, l)| l == layout)?;
            Some(list.remove(at).0)
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

/// Keeps a block of `layout` for the next future of that layout on this thread, freeing the
/// oldest kept one if the list is full; frees it instead if it is over [`MAX_BLOCK`] or the
/// thread is exiting.
fn give_block(ptr: NonNull<u8>, layout: Layout) {
    let kept = layout.size() <= MAX_BLOCK
        && BLOCKS
            .try_with(|b| {
                let list = &mut b.borrow_mut().0;
                if list.len() < MAX_BLOCKS {
                    list.push((ptr, layout));
                    return None;
                }
                // Full: the oldest goes (a shift of the list, only when it is full), so
                // blocks of layouts no longer in use do not stay for good.
                let oldest = list.remove(0);
                list.push((ptr, layout));
                Some(oldest)
            })
            .map(|oldest| {
                if let Some((ptr, layout)) = oldest {
                    // SAFETY: a block from the list: allocated with `layout`, owned by the
                    // list alone until just now.
                    unsafe { std::alloc::dealloc(ptr.as_ptr(), layout) };
                }
            })
            .is_ok();
    if !kept {
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

/// A pinned, boxed `dyn Future`, as `Pin<Box<dyn Future<Output = T> + Send>>`: a future of
/// at most [`SMALL`] bytes is in an ordinary `Box`; a larger one is in a block of this
/// thread's list, given back when it is dropped.
pub(crate) struct DynBox<'a, T> {
    /// Either a `Box` leaked by [`DynBox::new`] (the value is at most [`SMALL`] bytes) or a
    /// block of exactly the value's layout from [`take_block`] (larger). The value's size,
    /// read from its vtable, tells which.
    ptr: NonNull<dyn Future<Output = T> + Send + 'a>,
}

// SAFETY: `DynBox` owns its future as a `Box` would, and the future is `Send`. A block may be
// given back on another thread than the one it was taken on: it is memory of the global
// allocator either way.
unsafe impl<T> Send for DynBox<'_, T> {}

impl<'a, T> DynBox<'a, T> {
    /// Moves the future `make` returns onto the heap (built straight into a large block, as
    /// [`BusyBox::new`] is).
    #[inline]
    pub(crate) fn new<F>(make: impl FnOnce() -> F) -> Self
    where
        F: Future<Output = T> + Send + 'a,
    {
        let layout = Layout::new::<F>();
        if layout.size() <= SMALL {
            let boxed: Box<dyn Future<Output = T> + Send + 'a> = Box::new(make());
            return DynBox {
                ptr: NonNull::from(Box::leak(boxed)),
            };
        }
        let ptr = take_block(layout).cast::<F>();
        // SAFETY: `ptr` is a block of `F`'s layout (not zero-sized: it is over `SMALL`),
        // valid for writes of an `F` and aligned. (If `make` panicked the block would leak,
        // which is safe.)
        unsafe { ptr.as_ptr().write(make()) };
        DynBox { ptr }
    }
}

impl<T> Drop for DynBox<'_, T> {
    fn drop(&mut self) {
        // SAFETY: `ptr` points to an initialised value, not yet dropped; its layout is read
        // before it is.
        let layout = Layout::for_value(unsafe { self.ptr.as_ref() });
        if layout.size() <= SMALL {
            // SAFETY: a value of this size was put in a `Box` by `new` and leaked; this takes
            // it back, once.
            drop(unsafe { Box::from_raw(self.ptr.as_ptr()) });
        } else {
            // SAFETY: a value of this size is in a block of exactly its layout taken by
            // `new`; it is dropped once, in place, and the block then goes back.
            unsafe { std::ptr::drop_in_place(self.ptr.as_ptr()) };
            give_block(self.ptr.cast(), layout);
        }
    }
}

impl<T> Future for DynBox<'_, T> {
    type Output = T;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        // SAFETY: the future never moves: it stays where `new` put it until dropped in place.
        unsafe { Pin::new_unchecked(self.ptr.as_mut()) }.poll(cx)
    }
}

impl<T> fmt::Debug for DynBox<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DynBox(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Counts its drops; `N` bytes of payload set its size.
    struct Counted<const N: usize>(Arc<AtomicUsize>, [u8; N]);

    impl<const N: usize> Drop for Counted<N> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        Pin::new(f).poll(&mut cx)
    }

    /// A future whose state holds `N` bytes.
    fn held<const N: usize>() -> impl Future<Output = u8> + Send {
        let bytes = [1u8; N];
        async move { bytes[N - 1] }
    }

    fn kept() -> usize {
        BLOCKS.with(|b| b.borrow().0.len())
    }

    #[test]
    fn busy_box_memory_is_reused_and_its_future_dropped_once() {
        let drops = Arc::new(AtomicUsize::new(0));
        let make = |n: u8| {
            let c = Counted(drops.clone(), [n; 1500]);
            async move { c.1[1499] }
        };
        let mut first = BusyBox::new(|| make(7));
        assert_eq!(poll_once(&mut first), Poll::Ready(7));
        let at = first.ptr.as_ptr() as usize;
        drop(first);
        assert_eq!(drops.load(Ordering::Relaxed), 1);
        let second = BusyBox::new(|| make(9));
        assert_eq!(second.ptr.as_ptr() as usize, at, "the block was recycled");
        // A future of another layout does not take it.
        let other = BusyBox::new(held::<3000>);
        assert_ne!(other.ptr.as_ptr() as usize, at);
        drop(second);
        assert_eq!(drops.load(Ordering::Relaxed), 2, "dropped unpolled, once");
        drop(other);
        assert!(kept() <= MAX_BLOCKS);
    }

    #[test]
    fn a_large_dyn_box_reuses_its_block_and_a_small_one_is_a_plain_box() {
        let drops = Arc::new(AtomicUsize::new(0));
        let large = |n: u8| {
            let c = Counted(drops.clone(), [n; 4000]);
            async move { c.1[3999] }
        };
        let mut first: DynBox<'_, u8> = DynBox::new(|| large(3));
        assert_eq!(poll_once(&mut first), Poll::Ready(3));
        let at = first.ptr.as_ptr() as *const u8 as usize;
        drop(first);
        assert_eq!(drops.load(Ordering::Relaxed), 1);
        let before = kept();
        let second: DynBox<'_, u8> = DynBox::new(|| large(4));
        assert_eq!(
            second.ptr.as_ptr() as *const u8 as usize,
            at,
            "the block was recycled"
        );
        assert_eq!(kept(), before - 1, "taken off the list");
        drop(second);
        assert_eq!(drops.load(Ordering::Relaxed), 2, "dropped unpolled, once");

        // Small (and zero-sized) futures never touch the list.
        let before = kept();
        let small = {
            let c = Counted(drops.clone(), [5u8; 16]);
            async move { c.1[0] }
        };
        let mut small: DynBox<'_, u8> = DynBox::new(|| small);
        assert_eq!(poll_once(&mut small), Poll::Ready(5));
        drop(small);
        let mut empty: DynBox<'_, u8> = DynBox::new(|| std::future::ready(1));
        assert_eq!(poll_once(&mut empty), Poll::Ready(1));
        drop(empty);
        assert_eq!(drops.load(Ordering::Relaxed), 3);
        assert_eq!(kept(), before, "small boxes are the allocator's");
    }

    #[test]
    fn a_pending_future_that_borrows_is_dropped_in_place() {
        // The future borrows from this stack frame (a `DynBox` shorter than 'static) and is
        // dropped while pending, its large state's locals live.
        let count = AtomicUsize::new(0);
        let counted = Arc::new(AtomicUsize::new(0));
        let (c, borrowed) = (counted.clone(), &count);
        let mut pending: DynBox<'_, ()> = DynBox::new(move || async move {
            let _guard = Counted(c, [0u8; 2000]);
            borrowed.fetch_add(1, Ordering::Relaxed);
            std::future::pending::<()>().await;
            borrowed.fetch_add(1, Ordering::Relaxed);
        });
        assert!(poll_once(&mut pending).is_pending());
        assert_eq!(count.load(Ordering::Relaxed), 1);
        assert_eq!(counted.load(Ordering::Relaxed), 0);
        drop(pending);
        assert_eq!(counted.load(Ordering::Relaxed), 1, "its locals dropped");
        assert_eq!(count.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn the_list_is_bounded_and_keeps_the_newest_layouts() {
        // Fill the list with one layout...
        let boxes: Vec<DynBox<'_, u8>> = (0..MAX_BLOCKS * 2)
            .map(|_| DynBox::new(held::<1500>))
            .collect();
        drop(boxes);
        assert_eq!(kept(), MAX_BLOCKS);
        // ...then another takes over: its blocks push the old ones out.
        let boxes: Vec<DynBox<'_, u8>> =
            (0..MAX_BLOCKS).map(|_| DynBox::new(held::<2500>)).collect();
        drop(boxes);
        assert_eq!(kept(), MAX_BLOCKS);
        let layout = BLOCKS.with(|b| b.borrow().0.last().map(|&(_, l)| l));
        assert!(layout.is_some_and(|l| l.size() > 2500), "{layout:?}");
        let old = BLOCKS.with(|b| b.borrow().0.iter().filter(|(_, l)| l.size() < 2500).count());
        assert_eq!(old, 0, "the older layout was freed first");
        // A block over the cap is not kept.
        let huge: DynBox<'_, u8> = DynBox::new(held::<{ MAX_BLOCK + 1 }>);
        let before = BLOCKS.with(|b| b.borrow().0.iter().map(|&(p, _)| p).collect::<Vec<_>>());
        drop(huge);
        let after = BLOCKS.with(|b| b.borrow().0.iter().map(|&(p, _)| p).collect::<Vec<_>>());
        assert_eq!(before, after);
    }
}
