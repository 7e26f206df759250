//! The standard handler wrappers, Go's `http.StripPrefix`, `http.TimeoutHandler`,
//! `http.MaxBytesHandler` and `http.CrossOriginProtection`, nginx's `gzip on` ([`compress`])
//! and `limit_req` ([`rate_limit`]),
//! plus the ways to share one handler
//! or one state between routes (`Handler` for `Arc<H>`, [`with_state`]). Each is a [`Handler`](crate::Handler) wrapping a
//! handler, so they nest inside each other and under a [`ServeMux`](crate::ServeMux); a route
//! that does not use one pays nothing for it.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use nethttp::http::StatusCode;
//! use nethttp::wrap::{max_bytes, strip_prefix, timeout_handler, with_state};
//! use nethttp::{text_response, HttpRequest, HttpResponse, ServeMux, Server};
//!
//! struct App {
//!     greeting: String,
//! }
//!
//! impl App {
//!     async fn hello(&self, req: HttpRequest) -> HttpResponse {
//!         text_response(StatusCode::OK, format!("{} {}\n", self.greeting, req.uri().path()))
//!     }
//! }
//!
//! let app = std::sync::Arc::new(App { greeting: "hello".into() });
//! let mux = ServeMux::new()
//!     // /api/x reaches the handler as /x; nothing else under /api/ is this slow.
//!     .route("/api/", strip_prefix("/api", timeout_handler(
//!         with_state(app.clone(), async |app: &std::sync::Arc<App>, req| app.hello(req).await),
//!         Duration::from_secs(5),
//!         "too slow\n",
//!     )))
//!     // An upload route with its own body limit, far below the server's.
//!     .route("POST /upload", max_bytes(|req: HttpRequest| async move {
//!         match req.into_body().to_bytes(usize::MAX).await {
//!             Ok(b) => text_response(StatusCode::OK, format!("{} bytes\n", b.len())),
//!             // Crossing the limit is answered 413 whatever is returned here.
//!             Err(_) => text_response(StatusCode::BAD_REQUEST, "bad body\n"),
//!         }
//!     }, 1 << 20));
//! let server = Server::new();
//! let handle = server.serve(server.bind("127.0.0.1:0".parse()?)?, mux);
//! # let url = format!("http://{}/api/x", handle.local_addr());
//! # let text = nethttp::Client::new().get(&url).send().await?.into_body().to_bytes(1024).await?;
//! # assert_eq!(text, "hello /x\n");
//! # handle.shutdown(Duration::from_secs(1)).await;
//! # Ok(()) }
//! ```

mod compress;
mod cross_origin;
mod max_bytes;
mod rate_limit;
mod shared;
mod strip_prefix;
mod timeout;

pub use compress::{compress, Compress, DEFAULT_LEVEL, DEFAULT_MAX_STREAMS, DEFAULT_MIN_LENGTH};
pub use cross_origin::{
    cross_origin_protection, CrossOriginError, CrossOriginHandler, CrossOriginProtection,
};
pub use max_bytes::{max_bytes, MaxBytes};
pub use rate_limit::{rate_limit, RateLimit, DEFAULT_MAX_CLIENTS};
pub use shared::{with_state, StateFn, WithState};
pub use strip_prefix::{strip_prefix, StripPrefix};
pub use timeout::{timeout_handler, TimeoutHandler};
