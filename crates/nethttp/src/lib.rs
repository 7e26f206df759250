//! nethttp: Go's net/http rebuilt in Rust — the TCP socket management underneath HTTP.
//!
//! The server path: [`net::Listener`] (bind, listen with a backlog, an accept loop that backs
//! off on temporary errors) → one task per connection → the HTTP/1.1 codec in `proto::h1` →
//! your [`Handler`] (often a [`ServeMux`]) → the response, and keep-alive for the next request.
//! See [`Server`] for the timeouts and limits, all finite by default.
//!
//! The client path: [`Client`] (redirects, total timeout) → [`Transport`] (retry rules) → a
//! pool of idle connections per host, or [`net::Dialer`] (names through a [`net::Resolve`]) or
//! a [`client::Connect`] (a Unix socket, a transport of the caller's) → the HTTP/1.1 exchange
//! → a response whose body streams from the connection and hands it back to the pool at its
//! end.
//!
//! With the `tower` feature (on by default), [`tower`] bridges both ways: an axum `Router`
//! or any tower `Service` served as a [`Handler`], any `Handler` as a `Service`, and
//! `Client` as a `Service`.

pub mod body;
pub mod client;
pub(crate) mod conn;
pub mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod handler;
pub mod mux;
pub mod net;
mod percent;
pub(crate) mod proto;
pub mod server;
#[cfg(feature = "test-util")]
pub mod test;
pub mod tls;
#[cfg(feature = "tower")]
pub mod tower;

pub use body::{Body, BodySender};
pub use client::{Client, Transport};
pub use error::{CertificateProblem, Error, Kind as ErrorKind, Result};
pub use handler::{text_response, BoxFuture, DynHandler, Handler, HttpRequest, HttpResponse};
pub use mux::{PathValue, ServeMux};
pub use server::{
    ConnInfo, ConnState, Connection, MinDataRate, Server, ServerHandle, ShutdownReport,
};
pub use tls::{ClientTls, ServerTls};

pub use http;

/// The README's example, compiled as a doc-test so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
mod readme {}
