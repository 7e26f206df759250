//! The connector behind `TransportBuilder::unix_socket`: every connection is a stream to one
//! Unix domain socket (curl's and reqwest's `--unix-socket`), whatever host the URL names. The
//! URL still gives the scheme (TLS runs over the socket for https), `Host` and the pool key.

use std::io;
use std::path::PathBuf;

use tokio::net::UnixStream;

use super::connect::{Connect, ConnectedIo, Connecting, Destination};

/// Connects to the socket at its path.
#[derive(Debug, Clone)]
pub(crate) struct UnixSocket(pub PathBuf);

impl Connect for UnixSocket {
    fn connect<'a>(&'a self, _dst: &'a Destination) -> Connecting<'a> {
        Box::pin(async move {
            match UnixStream::connect(&self.0).await {
                Ok(stream) => Ok(ConnectedIo::new(stream)),
                Err(e) => Err(io::Error::new(
                    e.kind(),
                    format!("connect to unix socket {}: {e}", self.0.display()),
                )),
            }
        })
    }
}
