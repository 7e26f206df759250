//! `HandlerService`: any nethttp [`Handler`] (a [`ServeMux`](crate::ServeMux), a closure,
//! middleware) as a tower `Service`, so tower and tower-http layers wrap our handlers; wrapped
//! back in a [`ServiceHandler`](super::ServiceHandler), the result is served by our server.

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Request;
use tower_service::Service;

use crate::body::Body;
use crate::error::BoxError;
use crate::handler::{BoxFuture, Handler, HttpResponse};

/// A [`Handler`] as a tower [`Service`]: always ready, never failing (`Error = Infallible`),
/// answering `http::Response<nethttp::Body>`. Cheap to clone (the handler is shared).
///
/// The request body may be any `http_body::Body` of `Bytes` whose error converts into a
/// boxed error, so layers that wrap it (tower-http's `RequestBodyLimitLayer`, request
/// decompression) fit; a [`Body`] reaches the handler as is, another body boxed once. Each
/// call boxes the handler's future, since a tower future cannot borrow the service.
///
/// ```
/// use nethttp::tower::{HandlerService, ServiceHandler};
/// use nethttp::{text_response, HttpRequest, ServeMux};
/// use nethttp::http::StatusCode;
///
/// let mux = ServeMux::new().route("GET /hello", |_req: HttpRequest| async {
///     text_response(StatusCode::OK, "hello\n")
/// });
/// let svc = HandlerService::new(mux);
/// // Any tower layer can wrap `svc` here: tower::ServiceBuilder::new().layer(...).service(svc)
/// let handler = ServiceHandler::new(svc); // and it is a handler again, for `Server::serve`
/// # let _ = handler;
/// ```
pub struct HandlerService<H> {
    handler: Arc<H>,
}

impl<H> HandlerService<H> {
    /// Wraps `handler`.
    pub fn new(handler: H) -> Self {
        HandlerService {
            handler: Arc::new(handler),
        }
    }

    /// Wraps a handler that is shared already.
    pub fn from_arc(handler: Arc<H>) -> Self {
        HandlerService { handler }
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }
}

impl<H> Clone for HandlerService<H> {
    fn clone(&self) -> Self {
        HandlerService {
            handler: Arc::clone(&self.handler),
        }
    }
}

impl<H> fmt::Debug for HandlerService<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerService")
            .field("handler", &std::any::type_name::<H>())
            .finish()
    }
}

impl<H, B> Service<Request<B>> for HandlerService<H>
where
    H: Handler,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = HttpResponse;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<HttpResponse, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let handler = Arc::clone(&self.handler);
        let req = req.map(Body::wrap);
        Box::pin(async move { Ok(handler.call(req).await) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::HttpRequest;
    use std::future::poll_fn;

    #[tokio::test]
    async fn a_handler_answers_as_a_service() {
        let mut svc = HandlerService::new(|req: HttpRequest| async move {
            let body = req.into_body().to_bytes(100).await.unwrap_or_default();
            HttpResponse::new(Body::from(body))
        });
        poll_fn(|cx| Service::<HttpRequest>::poll_ready(&mut svc, cx))
            .await
            .unwrap();
        let req = Request::post("/").body(Body::from("ping")).unwrap();
        let resp = svc.call(req).await.unwrap();
        assert_eq!(resp.into_body().to_bytes(100).await.unwrap(), "ping");
        // Any body type is accepted.
        let req = Request::post("/")
            .body(http_body_util::Full::new(Bytes::from_static(b"full")))
            .unwrap();
        let resp = svc.clone().call(req).await.unwrap();
        assert_eq!(resp.into_body().to_bytes(100).await.unwrap(), "full");
    }
}
