//! Where access log lines go: a thread of their own writes them (files are blocking IO, kept
//! off the runtime), fed by a bounded queue that a request never waits on. When the writer
//! falls behind (a stalled disk), lines are dropped and counted, not queued without bound.
//! A file can be reopened at its path (after `logrotate` moved it).

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

/// Lines queued for the writer at most; past it they are dropped.
pub(crate) const QUEUE: usize = 8192;

enum Msg {
    Line(String),
    Reopen,
    /// Answered once every line queued before it is written and flushed.
    Flush(mpsc::Sender<()>),
}

/// The requests' side of the writer thread.
pub(crate) struct Sink {
    tx: SyncSender<Msg>,
    dropped: Arc<AtomicU64>,
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
        let dropped = Arc::new(AtomicU64::new(0));
        // A thread that cannot be started leaves the log without a writer: lines are then
        // dropped (and counted) as for a writer that fell behind.
        let spawned = std::thread::Builder::new()
            .name("nethttp-access-log".into())
            .spawn(move || write_lines(rx, target));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "access log: no writer thread; lines will be dropped");
        }
        Sink { tx, dropped }
    }

    /// Queues `line`; drops it (and counts it) if the queue is full.
    pub(crate) fn send(&self, line: String) {
        match self.tx.try_send(Msg::Line(line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub(crate) fn reopen(&self) {
        // Waits for room: a reopen is rare and must not be lost.
        let _ = self.tx.send(Msg::Reopen);
    }

    /// Blocks until the lines queued so far are written and flushed.
    pub(crate) fn flush(&self) {
        let (done, wait) = mpsc::channel();
        if self.tx.send(Msg::Flush(done)).is_ok() {
            let _ = wait.recv();
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
fn write_lines(rx: Receiver<Msg>, mut target: Target) {
    let mut failing = false;
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Line(line) => {
                    let r = target.out().write_all(line.as_bytes());
                    report(&mut failing, r);
                }
                Msg::Reopen => {
                    let r = target.out().flush();
                    report(&mut failing, r);
                    if let Target::File { path, out } = &mut target {
                        match open(path) {
                            Ok(f) => *out = BufWriter::new(f),
                            Err(e) => tracing::warn!(
                                path = %path.display(), error = %e,
                                "access log: reopening failed; writing on to the old file"
                            ),
                        }
                    }
                }
                Msg::Flush(done) => {
                    let r = target.out().flush();
                    report(&mut failing, r);
                    let _ = done.send(());
                }
            }
            next = rx.try_recv().ok();
        }
        let r = target.out().flush();
        report(&mut failing, r);
    }
    let _ = target.out().flush();
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
