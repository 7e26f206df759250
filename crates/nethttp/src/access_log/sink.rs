//! Where access log lines go: each thread that logs writes its lines into a buffer of its
//! own, and a thread of the log's (files are blocking IO, kept off the runtime) takes the
//! buffers whole and writes each in one call, as nginx's `access_log ... buffer=` batches. A
//! request never waits: it formats its line in place, with no allocation, no channel and,
//! while the writer is busy, no wake-up. What is held is bounded in bytes; when the writer
//! falls behind (a stalled disk), lines are dropped and counted.
//! A file can be reopened at its path (after `logrotate` moved it). Nothing here blocks a
//! caller for long: a reopen is a flag, and a flush waits at most the time it is given, so a
//! disk that stops (a hung network mount) cannot hang a signal handler or the process's exit.

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock, PoisonError};
use std::thread::Thread;
use std::time::Duration;

/// Bytes of lines held for the writer at most (in the threads' buffers and the batch being
/// written); past it lines are dropped. A line holds what the client chose (a target of
/// 16 KiB, fields of a 64 KiB head, escaped at up to four bytes a byte), so bytes, not
/// lines, are what bound the memory.
pub(crate) const QUEUE_BYTES: usize = 16 << 20;

/// How long the writer lets lines gather after the first wakes it: under load, one write
/// and one wake-up per thread every millisecond instead of one per line.
const GATHER: Duration = Duration::from_millis(1);

/// A thread's first buffer, so a batch grows by few reallocations.
const BUFFER_START: usize = 8 << 10;

/// Sinks are told apart by a number, never reused (an address could be, after a drop).
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's buffer in each sink it has logged to.
    static BUFFERS: RefCell<Vec<(u64, Arc<Buffer>)>> = const { RefCell::new(Vec::new()) };
}

/// One thread's lines, waiting for the writer.
#[derive(Default)]
struct Buffer {
    lines: Mutex<Vec<u8>>,
}

/// What the requests' side and the writer share.
struct Shared {
    id: u64,
    /// Every thread's buffer; the writer forgets those of threads that ended, once empty.
    buffers: Mutex<Vec<Arc<Buffer>>>,
    /// For lines logged by a thread whose own buffers are already gone (a handler dropped
    /// while its thread ends).
    ending: Buffer,
    /// Bytes of lines held: in buffers, or taken by the writer and not yet written.
    held: AtomicUsize,
    dropped: AtomicU64,
    /// The writer has been woken (or is at work) and will take the buffers again.
    awake: AtomicBool,
    reopen: AtomicBool,
    /// Flushes waiting for the writer's next round.
    flushes: Mutex<Vec<mpsc::Sender<()>>>,
    /// The log is dropped: the writer writes what is left and ends.
    closed: AtomicBool,
    /// The writer thread runs: false when it could not be started, or ended (a panic), and
    /// lines are then dropped at once and flushes fail at once, holding nothing.
    alive: AtomicBool,
    writer: OnceLock<Thread>,
}

/// The requests' side of the writer thread.
pub(crate) struct Sink {
    shared: Arc<Shared>,
}

impl Sink {
    /// Appends to the file at `path` (created if missing, mode 0644 less the umask).
    pub(crate) fn file(path: &Path) -> io::Result<Sink> {
        let file = open(path)?;
        Ok(Sink::spawn(Target::File {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
        }))
    }

    /// Writes to `out` (standard output, a pipe, a test's buffer).
    pub(crate) fn writer(out: Box<dyn Write + Send>) -> Sink {
        Sink::spawn(Target::Writer(BufWriter::new(out)))
    }

    fn spawn(target: Target) -> Sink {
        let shared = Arc::new(Shared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            buffers: Mutex::new(Vec::new()),
            ending: Buffer::default(),
            held: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
            awake: AtomicBool::new(false),
            reopen: AtomicBool::new(false),
            flushes: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
            alive: AtomicBool::new(true),
            writer: OnceLock::new(),
        });
        let theirs = shared.clone();
        // A thread that cannot be started leaves the log without a writer: lines are then
        // dropped (and counted) as they come.
        let spawned = std::thread::Builder::new()
            .name("nethttp-access-log".into())
            .spawn(move || write_lines(&theirs, target));
        match spawned {
            Ok(handle) => {
                let _ = shared.writer.set(handle.thread().clone());
            }
            Err(e) => {
                shared.alive.store(false, Ordering::Release);
                tracing::error!(error = %e, "access log: no writer thread; lines will be dropped")
            }
        }
        Sink { shared }
    }

    /// Writes one line with `write` into this thread's buffer; drops it (and counts it) if
    /// the log holds [`QUEUE_BYTES`] already.
    pub(crate) fn line(&self, write: impl FnOnce(&mut Vec<u8>)) {
        let s = &*self.shared;
        if !s.alive.load(Ordering::Acquire) {
            s.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut write = Some(write);
        let in_own = BUFFERS.try_with(|buffers| {
            let mut buffers = buffers.borrow_mut();
            let buffer = match buffers.iter().find(|(id, _)| *id == s.id) {
                Some((_, b)) => b,
                None => register(&mut buffers, s),
            };
            if let Some(w) = write.take() {
                s.append(buffer, w);
            }
        });
        if in_own.is_err() {
            if let Some(w) = write.take() {
                s.append(&s.ending, w);
            }
        }
        self.wake();
    }

    /// Wakes the writer unless it is awake already (then it takes this thread's buffer
    /// in its round anyway).
    fn wake(&self) {
        let s = &*self.shared;
        // SeqCst throughout the wake protocol: a flag set before this (`closed`, `reopen`)
        // and the writer's clearing of `awake` before it reads them must not each miss the
        // other, or the writer would sleep with the flag unseen.
        if !s.awake.load(Ordering::SeqCst) && !s.awake.swap(true, Ordering::SeqCst) {
            if let Some(t) = s.writer.get() {
                t.unpark();
            }
        }
    }

    /// Asks the writer to reopen its file; never waits. Lines logged before go to the old
    /// file (and some logged just after may).
    pub(crate) fn reopen(&self) {
        self.shared.reopen.store(true, Ordering::SeqCst);
        self.wake();
    }

    /// Waits at most `wait` for the lines logged so far to be written and flushed; `false`
    /// if they were not (the writer is stuck, or gone).
    pub(crate) fn flush(&self, wait: Duration) -> bool {
        if !self.shared.alive.load(Ordering::Acquire) {
            return false;
        }
        let (done, written) = mpsc::channel();
        lock(&self.shared.flushes).push(done);
        self.wake();
        written.recv_timeout(wait).is_ok()
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        self.wake();
    }
}

impl Shared {
    fn append(&self, buffer: &Buffer, write: impl FnOnce(&mut Vec<u8>)) {
        let mut lines = lock(&buffer.lines);
        if lines.capacity() == 0 {
            lines.reserve(BUFFER_START);
        }
        let before = lines.len();
        write(&mut lines);
        let n = lines.len() - before;
        if self.held.fetch_add(n, Ordering::Relaxed) + n > QUEUE_BYTES {
            lines.truncate(before);
            self.held.fetch_sub(n, Ordering::Relaxed);
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Makes this thread's buffer in `s`, known to its writer. Buffers of sinks that are gone
/// (only this thread holds them) are forgotten on the way.
fn register<'a>(buffers: &'a mut Vec<(u64, Arc<Buffer>)>, s: &Shared) -> &'a Arc<Buffer> {
    buffers.retain(|(_, b)| Arc::strong_count(b) > 1);
    let buffer = Arc::new(Buffer::default());
    lock(&s.buffers).push(buffer.clone());
    buffers.push((s.id, buffer));
    &buffers.last().expect("just pushed").1
}

/// A lock whose holder cannot leave its data half-made: a line is written with no call that
/// can panic between its start and its end, so a poisoned lock is taken as it is.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

enum Target {
    File { path: PathBuf, out: BufWriter<File> },
    Writer(BufWriter<Box<dyn Write + Send>>),
}

impl Target {
    fn out(&mut self) -> &mut dyn Write {
        match self {
            Target::File { out, .. } => out,
            Target::Writer(out) => out,
        }
    }
}

fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// The writer thread: each round takes every thread's buffer and writes it in one call,
/// reopens if asked, flushes, and answers the flushes asked before the round; then sleeps
/// until a line, a reopen or a flush wakes it. Ends once the log is dropped, after writing
/// what is left.
fn write_lines(s: &Shared, mut target: Target) {
    /// Marks the writer gone however it ends, a panic included.
    struct Alive<'a>(&'a AtomicBool);
    impl Drop for Alive<'_> {
        fn drop(&mut self) {
            self.0.store(false, Ordering::Release);
        }
    }
    let _alive = Alive(&s.alive);
    let mut failing = false;
    let mut batch: Vec<Vec<u8>> = Vec::new();
    loop {
        while !s.awake.load(Ordering::SeqCst) {
            std::thread::park();
        }
        std::thread::sleep(GATHER);
        // Cleared before the buffers are taken: a line logged from here on wakes the
        // writer for another round, so none is left behind.
        s.awake.store(false, Ordering::SeqCst);
        // The flushes first: a reopen asked before a flush is then seen in the same round,
        // so `reopen(); flush()` returns once the file is reopened.
        let flushes = std::mem::take(&mut *lock(&s.flushes));
        let closed = s.closed.load(Ordering::SeqCst);
        let reopen_asked = s.reopen.swap(false, Ordering::SeqCst);
        lock(&s.buffers).retain_mut(|b| {
            // Whether the thread is gone is decided before its lines are taken: a thread
            // that has dropped its handle logs nothing more, so nothing is left behind in
            // a buffer let go. (`get_mut` reads the count with Acquire, so a line added
            // before the handle went is seen.)
            let gone = Arc::get_mut(b).is_some();
            let lines = std::mem::take(&mut *lock(&b.lines));
            if !lines.is_empty() {
                batch.push(lines);
            }
            !gone
        });
        let ending = std::mem::take(&mut *lock(&s.ending.lines));
        if !ending.is_empty() {
            batch.push(ending);
        }
        for lines in batch.drain(..) {
            let r = target.out().write_all(&lines);
            report(&mut failing, r);
            s.held.fetch_sub(lines.len(), Ordering::Relaxed);
        }
        if reopen_asked {
            reopen(&mut target, &mut failing);
        }
        let r = target.out().flush();
        report(&mut failing, r);
        for f in flushes {
            let _ = f.send(());
        }
        if closed {
            return;
        }
    }
}

/// Flushes what the old file is owed and opens the path anew; a file that cannot be opened
/// leaves the old one in use.
fn reopen(target: &mut Target, failing: &mut bool) {
    let r = target.out().flush();
    report(failing, r);
    if let Target::File { path, out } = target {
        match open(path) {
            Ok(f) => *out = BufWriter::new(f),
            Err(e) => tracing::warn!(
                path = %path.display(), error = %e,
                "access log: reopening failed; writing on to the old file"
            ),
        }
    }
}

/// Logs a write error once, not once per line, until writing works again.
fn report(failing: &mut bool, r: io::Result<()>) {
    match r {
        Ok(()) => *failing = false,
        Err(e) if !*failing => {
            *failing = true;
            tracing::warn!(error = %e, "access log: writing failed");
        }
        Err(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer whose bytes the test reads back.
    #[derive(Clone, Default)]
    struct Collected(Arc<Mutex<Vec<u8>>>);

    impl Write for Collected {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            lock(&self.0).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn collected() -> (Arc<Sink>, Collected) {
        let out = Collected::default();
        (Arc::new(Sink::writer(Box::new(out.clone()))), out)
    }

    fn text(out: &Collected) -> String {
        String::from_utf8(lock(&out.0).clone()).unwrap()
    }

    #[test]
    fn lines_of_many_threads_arrive_whole_and_in_order_per_thread() {
        let (sink, out) = collected();
        const THREADS: usize = 8;
        const LINES: usize = 2_000;
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let sink = sink.clone();
                std::thread::spawn(move || {
                    for n in 0..LINES {
                        sink.line(|o| o.extend_from_slice(format!("{t} {n} end\n").as_bytes()));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(sink.flush(Duration::from_secs(5)));
        let mut next = [0usize; THREADS];
        for line in text(&out).lines() {
            let parts: Vec<&str> = line.split(' ').collect();
            assert_eq!(parts.len(), 3, "{line:?}");
            assert_eq!(parts[2], "end", "{line:?}");
            let (t, n): (usize, usize) = (parts[0].parse().unwrap(), parts[1].parse().unwrap());
            assert_eq!(n, next[t], "thread {t} out of order");
            next[t] += 1;
        }
        assert_eq!(next, [LINES; THREADS]);
        assert_eq!(sink.dropped(), 0);
    }

    #[test]
    fn a_thread_that_ended_leaves_its_lines_written_and_its_buffer_forgotten() {
        let (sink, out) = collected();
        let theirs = sink.clone();
        std::thread::spawn(move || theirs.line(|o| o.extend_from_slice(b"from a thread\n")))
            .join()
            .unwrap();
        assert!(sink.flush(Duration::from_secs(5)));
        assert_eq!(text(&out), "from a thread\n");
        // The round that wrote the line saw the thread gone (its handle dropped at its
        // end), so the buffer was let go.
        assert_eq!(lock(&sink.shared.buffers).len(), 0);
    }

    /// A line logged while a thread ends (a handler's future dropped by a thread-local's
    /// destructor, after this module's own may be gone) is written, not lost or a panic.
    #[test]
    fn a_line_logged_while_a_thread_ends_is_written() {
        struct LogsOnDrop(Arc<Sink>);
        impl Drop for LogsOnDrop {
            fn drop(&mut self) {
                self.0.line(|o| o.extend_from_slice(b"at the end\n"));
            }
        }
        thread_local! {
            static GUARD: RefCell<Option<LogsOnDrop>> = const { RefCell::new(None) };
        }
        let (sink, out) = collected();
        let theirs = sink.clone();
        std::thread::spawn(move || {
            // Set before the thread's buffers exist, so it may be dropped after them.
            GUARD.with_borrow_mut(|g| *g = Some(LogsOnDrop(theirs.clone())));
            theirs.line(|o| o.extend_from_slice(b"first\n"));
        })
        .join()
        .unwrap();
        assert!(sink.flush(Duration::from_secs(5)));
        assert_eq!(text(&out), "first\nat the end\n");
    }

    #[test]
    fn past_the_bound_lines_are_dropped_whole_and_counted() {
        let stuck = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        struct Stuck(Arc<(Mutex<bool>, std::sync::Condvar)>);
        impl Write for Stuck {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                let (go, cv) = &*self.0;
                let mut go = lock(go);
                while !*go {
                    go = cv.wait(go).unwrap_or_else(PoisonError::into_inner);
                }
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::writer(Box::new(Stuck(stuck.clone())));
        let line = vec![b'x'; 1 << 20];
        for _ in 0..20 {
            sink.line(|o| o.extend_from_slice(&line));
        }
        // 16 lines of 1 MiB fit 16 MiB; the other 4 are dropped, nothing of them kept.
        assert_eq!(sink.dropped(), 4);
        assert_eq!(sink.shared.held.load(Ordering::Relaxed), 16 << 20);
        *lock(&stuck.0) = true;
        stuck.1.notify_all();
        assert!(sink.flush(Duration::from_secs(5)));
        assert_eq!(sink.shared.held.load(Ordering::Relaxed), 0);
    }

    /// A writer thread that died (its writer panicked) leaves a log that holds nothing more
    /// and fails flushes at once, instead of waiting out each flush's bound.
    #[test]
    fn a_dead_writer_fails_flushes_at_once_and_holds_nothing() {
        struct Panics;
        impl Write for Panics {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                panic!("a writer that fails hard");
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::writer(Box::new(Panics));
        sink.line(|o| o.extend_from_slice(b"the last line\n"));
        let start = std::time::Instant::now();
        while sink.shared.alive.load(Ordering::Acquire) {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "the writer did not end"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let start = std::time::Instant::now();
        assert!(!sink.flush(Duration::from_secs(5)));
        assert!(start.elapsed() < Duration::from_secs(1));
        let held = sink.shared.held.load(Ordering::Relaxed);
        for _ in 0..100 {
            sink.line(|o| o.extend_from_slice(b"after\n"));
        }
        assert_eq!(sink.dropped(), 100);
        assert_eq!(sink.shared.held.load(Ordering::Relaxed), held);
    }
}
