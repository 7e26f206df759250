//! The progress bar `nethttp bench` shows on stderr while it runs: requests done against the
//! `-n` budget, or time elapsed against `-d`, with the request rate so far. Hidden when stderr
//! is not a terminal or the report is JSON.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::time::Instant;

use super::load::Load;

/// How often the bar is redrawn.
const TICK: Duration = Duration::from_millis(200);

/// What the bar measures progress against.
pub enum Goal {
    Requests(u64),
    Duration(Duration),
}

/// Starts drawing the bar on a task of the current runtime; `None` when it would not be seen
/// (`show` is false, or stderr is not a terminal).
pub fn spawn(load: Arc<Load>, goal: Goal, show: bool) -> Option<Progress> {
    if !show || !std::io::stderr().is_terminal() {
        return None;
    }
    let (len, template) = match goal {
        Goal::Requests(n) => (n, "{bar:30} {pos}/{len}  {msg}"),
        Goal::Duration(d) => (
            u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
            "{bar:30} {elapsed}/{duration}  {msg}",
        ),
    };
    let bar = ProgressBar::new(len).with_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let by_time = matches!(goal, Goal::Duration(_));
    let task = tokio::spawn({
        let bar = bar.clone();
        async move {
            let start = Instant::now();
            let mut tick = tokio::time::interval(TICK);
            loop {
                tick.tick().await;
                let (done, errors) = {
                    let r = load.recorder();
                    (r.completed, r.errors)
                };
                let secs = start.elapsed().as_secs_f64();
                let rps = if secs > 0.0 { done as f64 / secs } else { 0.0 };
                if by_time {
                    let ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
                    bar.set_position(ms);
                    bar.set_message(format!("{done} done, {rps:.0} req/s, {errors} errors"));
                } else {
                    bar.set_position(done + errors);
                    bar.set_message(format!("{rps:.0} req/s, {errors} errors"));
                }
            }
        }
    });
    Some(Progress { bar, task })
}

/// A bar being drawn.
pub struct Progress {
    bar: ProgressBar,
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    /// Stops drawing and erases the bar, so the summary follows a clean line.
    pub fn finish(self) {
        self.task.abort();
        self.bar.finish_and_clear();
    }
}
