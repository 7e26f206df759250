//! `--access-log` and `--access-log-format`, which `serve` and `proxy` share: where request
//! lines go (a file, reopened on SIGUSR1 for `logrotate`, or `-` for standard output) and
//! in which format.

use clap::{Args, ValueEnum};
use nethttp::access_log::{AccessLog, Format};

#[derive(Args, Debug)]
pub struct AccessLogArgs {
    /// Write a line per request to this file (appended; reopened on SIGUSR1, after
    /// logrotate moved it), or to standard output with `-`. Off by default.
    #[arg(long, value_name = "PATH|-")]
    access_log: Option<String>,
    /// The lines' format: nginx's `combined` (what GoAccess and AWStats read) or one JSON
    /// object per line.
    #[arg(long, value_enum, default_value = "combined", requires = "access_log")]
    access_log_format: LogFormat,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum LogFormat {
    Combined,
    Json,
}

impl AccessLogArgs {
    pub fn enabled(&self) -> bool {
        self.access_log.is_some()
    }

    /// The log these flags ask for, opened.
    pub fn open(&self) -> Result<Option<AccessLog>, String> {
        let Some(to) = &self.access_log else {
            return Ok(None);
        };
        let log = if to == "-" {
            AccessLog::writer(std::io::stdout())
        } else {
            AccessLog::file(to).map_err(|e| format!("--access-log {to}: {e}"))?
        };
        let format = match self.access_log_format {
            LogFormat::Combined => Format::Combined,
            LogFormat::Json => Format::Json,
        };
        Ok(Some(log.format(format)))
    }
}
