//! `get`'s flags that take curl's shape for everyday API work: `--json DATA` (a JSON body with
//! its `Content-Type` and `Accept`), `-u USER:PASSWORD` (Basic credentials), `-L` and
//! `--max-redirs N` (redirects), and `-o FILE` (the body into a file, with a progress line on
//! a terminal).

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use nethttp::client::redirect::Policy;
use nethttp::client::RequestBuilder;
use nethttp::Body;

#[derive(Args, Debug, Clone)]
pub struct CurlArgs {
    /// Sends DATA as a JSON body, as curl's --json: POST unless -X says otherwise, with
    /// `Content-Type: application/json` and `Accept: application/json`. `@FILE` reads it from
    /// a file, `@-` from standard input.
    #[arg(long, value_name = "DATA", conflicts_with_all = ["data", "data_file"])]
    pub json: Option<String>,
    /// Basic credentials, as curl's -u: `USER:PASSWORD` (split at the first `:`), or `USER`
    /// alone for an empty password. Sent as a sensitive `Authorization` field, dropped on a
    /// redirect to another host.
    #[arg(short = 'u', long = "user", value_name = "USER:PASSWORD")]
    pub user: Option<String>,
    /// Follows redirects, as curl's -L. Accepted for curl's sake: `get` follows up to 10
    /// redirects without it.
    #[arg(short = 'L', long = "location")]
    pub location: bool,
    /// At most N redirects (default 10); 0 follows none, and the redirect is the answer.
    #[arg(long, value_name = "N")]
    pub max_redirs: Option<usize>,
    /// Writes the body to FILE instead of standard output, with a progress line on standard
    /// error when it is a terminal.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

impl CurlArgs {
    /// The JSON body, read from its file if `@FILE`.
    pub fn json_body(&self) -> Result<Option<Body>, String> {
        let Some(data) = &self.json else {
            return Ok(None);
        };
        let bytes = match data.strip_prefix('@') {
            Some("-") => {
                let mut buf = Vec::new();
                io::Read::read_to_end(&mut io::stdin(), &mut buf)
                    .map_err(|e| format!("reading --json from standard input: {e}"))?;
                buf
            }
            Some(path) => {
                std::fs::read(path).map_err(|e| format!("reading --json @{path}: {e}"))?
            }
            None => data.clone().into_bytes(),
        };
        Ok(Some(Body::from(bytes)))
    }

    /// The redirect policy `--max-redirs` asks for; `None` keeps the client's default.
    pub fn redirect_policy(&self) -> Option<Policy> {
        self.max_redirs.map(|n| {
            if n == 0 {
                Policy::none()
            } else {
                Policy::limited(n)
            }
        })
    }

    /// Adds `-u`'s credentials and `--json`'s fields (unless the caller set them with -H).
    pub fn apply(&self, mut req: RequestBuilder, set: &[(String, String)]) -> RequestBuilder {
        if let Some(user) = &self.user {
            let (name, password) = match user.split_once(':') {
                Some((n, p)) => (n, Some(p)),
                None => (user.as_str(), None),
            };
            req = req.basic_auth(name, password);
        }
        if self.json.is_some() {
            let has = |name: &str| set.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
            if !has("content-type") {
                req = req.header("content-type", "application/json");
            }
            if !has("accept") {
                req = req.header("accept", "application/json");
            }
        }
        req
    }
}

/// A progress line on standard error for `-o`: bytes so far (of the total, when known), the
/// rate, redrawn at most five times a second; nothing when standard error is not a terminal.
pub struct Progress {
    on: bool,
    total: Option<u64>,
    got: u64,
    started: Instant,
    drawn: Option<Instant>,
}

impl Progress {
    pub fn new(wanted: bool, total: Option<u64>) -> Progress {
        Progress {
            on: wanted && io::stderr().is_terminal(),
            total,
            got: 0,
            started: Instant::now(),
            drawn: None,
        }
    }

    pub fn add(&mut self, n: u64) {
        self.got += n;
        if !self.on {
            return;
        }
        let now = Instant::now();
        if self
            .drawn
            .is_some_and(|t| now - t < Duration::from_millis(200))
        {
            return;
        }
        self.drawn = Some(now);
        self.draw(now);
    }

    pub fn finish(&mut self) {
        if self.on {
            self.draw(Instant::now());
            eprintln!();
        }
    }

    fn draw(&self, now: Instant) {
        let line = line(self.got, self.total, now - self.started);
        let mut err = io::stderr().lock();
        let _ = write!(err, "\r{line}\x1b[K");
        let _ = err.flush();
    }
}

/// `  12.0 MiB / 100.0 MiB  12%  3.1 MiB/s` (without the total: bytes and rate only).
fn line(got: u64, total: Option<u64>, elapsed: Duration) -> String {
    let rate = got as f64 / elapsed.as_secs_f64().max(0.001);
    match total {
        Some(t) if t > 0 => format!(
            "  {} / {}  {:>3}%  {}/s",
            size(got as f64),
            size(t as f64),
            got.saturating_mul(100) / t,
            size(rate)
        ),
        _ => format!("  {}  {}/s", size(got as f64), size(rate)),
    }
}

fn size(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut n = n;
    let mut unit = 0;
    while n >= 1024.0 && unit < UNITS.len() - 1 {
        n /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n:.0} B")
    } else {
        format!("{n:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_line_with_and_without_a_total() {
        let t = Duration::from_secs(2);
        assert_eq!(
            line(12 << 20, Some(100 << 20), t),
            "  12.0 MiB / 100.0 MiB   12%  6.0 MiB/s"
        );
        assert_eq!(line(512, None, t), "  512 B  256 B/s");
        assert_eq!(line(0, Some(0), t), "  0 B  0 B/s");
    }
}
