//! Servers on Unix domain sockets for the client tests: a socket path in a fresh temporary
//! directory, our own server serving every accepted stream (`Server::serve_connection`), and
//! raw servers running a test-written script per connection; each counts the connections it
//! accepted.
#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nethttp::Server;
use tokio::io::AsyncReadExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;

use super::certs::TempDir;

/// Upper bound on any single wait of a script, so a bug fails a test instead of hanging it.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// A fresh temporary directory (removed on drop) and a socket path inside it, short enough
/// for `sun_path`.
pub fn socket_path() -> (TempDir, PathBuf) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "nethttp-unix-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("socket dir");
    let path = dir.join("s.sock");
    (TempDir(dir), path)
}

/// A server listening on a Unix socket; dropping it stops accepting.
pub struct UnixServer {
    pub path: PathBuf,
    accepted: Arc<AtomicUsize>,
    accept_loop: JoinHandle<()>,
    _dir: TempDir,
}

impl UnixServer {
    /// `server` serving each accepted stream, answering every request with
    /// `HOST PATH VERSION` (the `Host` header, or the authority on HTTP/2).
    pub fn ours(server: Server) -> UnixServer {
        let handler = Arc::new(super::dial::describe);
        UnixServer::raw(move |stream, _| {
            let conn = server.serve_connection(stream, handler.clone());
            async move {
                conn.await;
            }
        })
    }

    /// Runs `script` on every accepted stream, with the stream's index (0 for the first).
    pub fn raw<F, Fut>(script: F) -> UnixServer
    where
        F: Fn(UnixStream, usize) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (dir, path) = socket_path();
        let listener = UnixListener::bind(&path).expect("bind the unix socket");
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let accept_loop = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let index = counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(script(stream, index));
            }
        });
        UnixServer {
            path,
            accepted,
            accept_loop,
            _dir: dir,
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for UnixServer {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

/// Reads one request head (through the blank line) into a string, keeping any bytes after it
/// in `buf`; `None` if the client closed first or nothing came within [`IO_TIMEOUT`].
pub async fn read_head(stream: &mut UnixStream, buf: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head: Vec<u8> = buf.drain(..i + 4).collect();
            return Some(String::from_utf8(head).expect("request head is not UTF-8"));
        }
        let mut chunk = [0u8; 4096];
        match tokio::time::timeout(IO_TIMEOUT, stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return None,
        }
    }
}

/// Runs `fut`, failing the test if it takes longer than `limit`.
pub async fn within<T>(what: &str, limit: Duration, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what} took longer than {limit:?}"),
    }
}
