//! The client: [`Client`] (redirects, total timeout, default headers, cookie jar) on top of
//! [`Transport`] (one request per round trip over a pooled connection, with the retry rules),
//! on top of the pool, the dialer and the HTTP/1.1 codec.
//!
//! ```no_run
//! # async fn run() -> Result<(), nethttp::Error> {
//! let client = nethttp::Client::new();
//! let res = client.get("http://127.0.0.1:8080/").header("accept", "text/plain").send().await?;
//! println!("{}", res.status());
//! let body = res.into_body().to_bytes(1 << 20).await?;
//! # let _ = body; Ok(()) }
//! ```

mod auth;
mod connect;
mod cookie_jar;
pub(crate) mod decode;
mod h2_pool;
mod http_client;
pub mod multipart;
#[cfg(feature = "cookies")]
mod netscape;
mod no_proxy;
pub(crate) mod pool;
mod proxy;
pub(crate) use proxy::basic_auth;
mod proxy_config;
pub mod redirect;
mod request;
mod response;
mod retry;
pub(crate) use retry::is_idempotent;
mod socks5;
mod status_retry;
pub mod trace;
mod transport;
mod tunnel;
mod unix;

pub use connect::{Connect, ConnectedIo, Connecting, Destination};
pub use cookie_jar::CookieJar;
#[cfg(feature = "cookies")]
pub use cookie_jar::Jar;
pub use decode::{DecodedCodings, Decompressed, ACCEPT_ENCODING};
pub use http_client::{Client, ClientBuilder};
pub use pool::{ConnectKey, HostStats, PoolStats, Scheme};
pub use proxy::ProxyUrl;
pub use request::RequestBuilder;
pub use response::ResponseExt;
pub use retry::DialRetry;
pub use status_retry::StatusRetry;
pub use trace::{GotConn, Trace, TraceHook, Tunnel};
pub use transport::{
    Transport, TransportBuilder, DEFAULT_HTTP2_CONN_WINDOW, DEFAULT_MAX_DECOMPRESSED,
};
