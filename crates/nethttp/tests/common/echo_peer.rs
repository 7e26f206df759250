//! The Python echo server of the client helper tests (`tests/peers/echo_request.py`): started
//! on an ephemeral loopback port, it answers each request with what Python's own parsers made
//! of it (query, form, JSON, multipart, credentials) as JSON. Found by the CI rule of
//! `common::peers`: missing under `CI=true` fails the test, elsewhere it is skipped.
#![allow(dead_code)]

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncBufReadExt;

/// A running echo server; killed when dropped.
pub struct EchoPeer {
    _child: tokio::process::Child,
    port: u16,
}

impl EchoPeer {
    /// Starts the server, or `None` (test skipped) when python3 is missing outside CI.
    pub async fn start() -> Option<EchoPeer> {
        let py = super::peers::peer("python3", "--version", &[])?;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/echo_request.py");
        let mut child = tokio::process::Command::new(py)
            .arg("-u")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn echo_request.py");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("echo_request.py did not start within 10 s")
            .expect("read echo_request.py's stdout")
            .expect("echo_request.py exited before listening");
        let port = line
            .strip_prefix("listening ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from echo_request.py: {line:?}"));
        Some(EchoPeer {
            _child: child,
            port,
        })
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}
