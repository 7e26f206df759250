//! The tokio runtime each subcommand runs on, from its `--threads` flag.

/// `threads` 1: a current-thread runtime, where tasks never migrate and wake-ups need no
/// cross-thread synchronisation. More: the work-stealing runtime with that many workers.
/// 0: the work-stealing runtime with one worker per CPU.
pub fn build(threads: usize) -> Result<tokio::runtime::Runtime, String> {
    let mut rt = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if threads > 1 {
            b.worker_threads(threads);
        }
        b
    };
    rt.enable_all()
        .build()
        .map_err(|e| format!("starting runtime: {e}"))
}
