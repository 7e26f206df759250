//! The server `nethttp bench` loads when given no URL: the `serve` demo routes on a free
//! loopback port, on a thread and runtime of their own so they do not compete with the load
//! generator's tasks for its runtime.

use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::Duration;

use nethttp::Server;
use tokio::sync::oneshot;

/// How long the server gives in-flight requests when the run ends.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// The running server; dropping it shuts the server down and joins its thread.
pub struct LocalServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl LocalServer {
    /// Starts the demo routes on `127.0.0.1:0` with a single-threaded runtime.
    pub fn start() -> Result<LocalServer, String> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<SocketAddr, String>>();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("bench-server".to_owned())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("starting the server runtime: {e}")));
                        return;
                    }
                };
                rt.block_on(async move {
                    let server = Server::new();
                    let addr = SocketAddr::from(([127, 0, 0, 1], 0));
                    let listener = match server.bind(addr) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(format!("listening on {addr}: {e}")));
                            return;
                        }
                    };
                    let handle = server.serve(listener, crate::routes::demo());
                    let _ = ready_tx.send(Ok(handle.local_addr()));
                    // Runs until told to stop (or until the `LocalServer` is gone).
                    let _ = stop_rx.await;
                    handle.shutdown(SHUTDOWN_GRACE).await;
                });
            })
            .map_err(|e| format!("starting the server thread: {e}"))?;
        let addr = ready_rx
            .recv()
            .map_err(|_| "the server thread ended before listening".to_owned())??;
        Ok(LocalServer {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
