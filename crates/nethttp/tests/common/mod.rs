//! Helpers shared by the integration tests; each submodule serves one family of test files.

pub mod certs;
pub mod curl;
pub mod dial;
pub mod echo_peer;
pub mod haproxy;
pub mod https_proxy;
pub mod microsocks;
pub mod peers;
pub mod script;
pub mod skips;
pub mod tinyproxy;
pub mod unix_peers;
pub mod wire;
