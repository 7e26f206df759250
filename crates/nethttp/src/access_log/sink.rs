//! Where access log lines go: a thread of their own writes them (files are blocking IO, kept
//! off the runtime), fed by a queue bounded in lines and in bytes that a request never waits
//! on. When the writer falls behind (a stalled disk), lines are dropped and counted, not
//! queued without bound.
//! A file can be reopened at its path (after `logrotate` moved it). Nothing here blocks a
//! caller for long: a reopen is handed over without waiting, and a flush waits at most the
//! time it is given, so a disk that stops (a hung network mount) cannot hang a signal handler
//! or the process's exit.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Lines queued for the writer at most; past it they are dropped.
pub(crate) const QUEUE: usize = 8192;

/// Bytes of lines queued for the writer at most; past it they are dropped. A line holds
/// what the client chose (a target of 16 KiB, fields of a 64 KiB head, escaped at up to
/// four bytes a byte), so a count alone would let a stalled disk hold gigabytes.
pub(crate) const QUEUE_BYTES: usize = 16 << 20;

enum Msg {
    Line(String),
    /// Reopen in the queue's order: lines queued before go to the old file.
    Reopen,
    /// Nothing but a look at `reopen_asked`.
    Wake,
    /// Answered once every line queued before it is written and flushed.
    Flush(mpsc::Sender<()>),
}

/// The requests' side of the writer thread.
pub(crate) struct Sink {
    tx: SyncSender<Msg>,
    dropped: AtomicU64,
    /// Bytes of the lines queued and not yet written, shared with the writer.
    queued_bytes: Arc<AtomicUsize>,
    /// A reopen asked for while the queue was full: the writer does it after the message it
    /// is on, ahead of the queue (the file is rotated either way; only which file the lines
    /// queued before it land in differs).
    reopen_asked: Arc<AtomicBool>,
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
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let reopen_asked = Arc::new(AtomicBool::new(false));
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let asked = reopen_asked.clone();
        let queued = queued_bytes.clone();
        // A thread that cannot be started leaves the log without a writer: lines are then
        // dropped (and counted) as for a writer that fell behind.
        let spawned = std::thread::Builder::new()
            .name("nethttp-access-log".into())
            .spawn(move || write_lines(rx, target, &asked, &queued));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "access log: no writer thread; lines will be dropped");
        }
        Sink {
            tx,
            dropped: AtomicU64::new(0),
            queued_bytes,
            reopen_asked,
        }
    }

    /// Queues `line`; drops it (and counts it) if the queue is full, in lines or in bytes.
    pub(crate) fn send(&self, line: String) {
        let len = line.len();
        let before = self.queued_bytes.fetch_add(len, Ordering::Relaxed);
        if before + len > QUEUE_BYTES {
            self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match self.tx.try_send(Msg::Line(line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Asks the writer to reopen its file; never waits. With room in the queue the reopen
    /// takes its place in it; with the queue full it is not lost but flagged, and done after
    /// the line the writer is on.
    pub(crate) fn reopen(&self) {
        if let Err(TrySendError::Full(_)) = self.tx.try_send(Msg::Reopen) {
            self.reopen_asked.store(true, Ordering::Release);
            // The writer may have emptied the queue since, and wait in `recv` with the flag
            // unseen: a wake-up makes it look. If the queue is full again, the writer has a
            // message to take, and it looks after that one.
            let _ = self.tx.try_send(Msg::Wake);
        }
    }

    /// Waits at most `wait` for the lines queued so far to be written and flushed; `false`
    /// if they were not (the writer is stuck, or gone).
    pub(crate) fn flush(&self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        let (done, written) = mpsc::channel();
        let mut msg = Msg::Flush(done);
        // `SyncSender::send` has no timeout: room is waited for in short naps instead.
        loop {
            match self.tx.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return false,
                Err(TrySendError::Full(back)) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    msg = back;
                    std::thread::sleep(left.min(Duration::from_millis(5)));
                }
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match written.recv_timeout(left) {
            Ok(()) => true,
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => false,
        }
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
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

/// The writer thread: writes what comes, flushing whenever the queue runs dry, until every
/// sender is gone.
fn write_lines(
    rx: Receiver<Msg>,
    mut target: Target,
    reopen_asked: &AtomicBool,
    queued_bytes: &AtomicUsize,
) {
    let mut failing = false;
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Line(line) => {
                    let r = target.out().write_all(line.as_bytes());
                    report(&mut failing, r);
                    queued_bytes.fetch_sub(line.len(), Ordering::Relaxed);
                }
                Msg::Reopen => reopen(&mut target, &mut failing),
                Msg::Wake => {}
                Msg::Flush(done) => {
                    let r = target.out().flush();
                    report(&mut failing, r);
                    let _ = done.send(());
                }
            }
            if reopen_asked.swap(false, Ordering::Acquire) {
                reopen(&mut target, &mut failing);
            }
            next = rx.try_recv().ok();
        }
        let r = target.out().flush();
        report(&mut failing, r);
    }
    let _ = target.out().flush();
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
