//! [`Client`] as a tower `Service`: `call` is [`Client::execute`] (redirects, the total
//! timeout, retries underneath), so tower's limit, timeout and retry layers and tower-http's
//! client layers wrap our client. Sits on the client path above `Client`, below the caller.

use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use crate::body::Body;
use crate::client::Client;
use crate::error::Error;
use crate::handler::BoxFuture;

/// `Client` is a `tower::Service<http::Request<nethttp::Body>>` answering
/// `http::Response<nethttp::Body>` with [`nethttp::Error`](crate::Error). It is always
/// ready: the pool's own limits (`max_conns_per_host`, its FIFO wait and `pool_timeout`)
/// apply inside `call`; put tower's `ConcurrencyLimitLayer` in front to bound requests in
/// flight instead.
///
/// Any other request body goes in through [`Body::wrap`] (`req.map(Body::wrap)`, or tower's
/// `MapRequestLayer`). A body in memory can be sent again (on a stale connection, a 307/308
/// redirect); so can a wrapped body whose size is known, up to 64 KiB, and that gives all its
/// bytes at once (an `http_body_util::Full`): `call` turns it into one buffer first.
///
/// Compression: the client asks for compression (gzip, and br, zstd, deflate with their
/// features) and decodes it itself only when the request states no `Accept-Encoding`.
/// tower-http's `DecompressionLayer` sets one (gzip, and whichever codings its features
/// enable), so under it the client leaves the answer as it came and the layer decodes it:
/// the two never both decode.
///
/// ```no_run
/// use std::time::Duration;
/// use tower::{Service, ServiceBuilder, ServiceExt};
/// use nethttp::{Body, Client};
///
/// # async fn run() -> Result<(), tower::BoxError> {
/// let mut svc = ServiceBuilder::new()
///     .concurrency_limit(8)
///     .timeout(Duration::from_secs(5))
///     .service(Client::new());
/// let req = nethttp::http::Request::get("http://127.0.0.1:8080/").body(Body::empty())?;
/// let res = svc.ready().await?.call(req).await?;
/// println!("{}", res.status());
/// # Ok(()) }
/// ```
impl Service<Request<Body>> for Client {
    type Response = Response<Body>;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Response<Body>, Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let client = self.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let body = super::into_body(body).await;
            client.execute(Request::from_parts(parts, body)).await
        })
    }
}
