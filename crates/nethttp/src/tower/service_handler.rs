//! `ServiceHandler`: any tower `Service` over `http::Request<nethttp::Body>` as a nethttp
//! [`Handler`], so an axum `Router` (state, extractors, nested routers, tower-http layers)
//! runs on nethttp's server unchanged. On the server path it is the handler the connection
//! calls: each request takes a clone of the service, waits for it to be ready and calls it
//! (tower's `oneshot`), and its response body is turned into ours.

use std::fmt;
use std::future::{poll_fn, Future};
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use tower_service::Service;

use crate::body::Body;
use crate::error::BoxError;
use crate::handler::{text_response, Handler, HttpRequest, HttpResponse};

/// A tower [`Service`] served as a [`Handler`]: `server.serve(listener, ServiceHandler::new(router))`.
///
/// The service must be `Clone + Send + 'static` (as hyper and axum ask of it) and take
/// `http::Request<nethttp::Body>`; its response body may be any `http_body::Body` of `Bytes`
/// whose error converts into a boxed error (an axum `Body`, a tower-http `CompressionBody`,
/// an `http_body_util::Full`, ...).
///
/// For each request the handler clones the service, waits for the clone's `poll_ready` and
/// calls it, so a service that is not ready (a concurrency limit) holds back that request
/// only. The service is kept behind a mutex, held only for the clone: the service need not
/// be `Sync`. An error from `poll_ready` or `call` is logged (`tracing`, level error) and
/// answered `500 Internal Server Error`; turn errors into responses inside the service (axum's
/// `HandleErrorLayer`) to answer otherwise.
///
/// The request reaches the service as the server made it, extensions included: with
/// [`Server::conn_info`](crate::Server::conn_info) on, axum's `Extension<nethttp::ConnInfo>`
/// extractor gives the client's address. A response body that is one buffer ready at once
/// (axum's `String`, `&'static str`, `Json` answers) is written with the head in one go, as
/// nethttp's own handlers' bodies are; any other body streams.
///
/// ```no_run
/// use std::convert::Infallible;
/// use nethttp::tower::ServiceHandler;
/// use nethttp::{Body, HttpRequest, HttpResponse, Server};
///
/// /// A hand-written tower service: any `Clone + Send` service will do.
/// #[derive(Clone)]
/// struct Hello;
///
/// impl tower_service::Service<HttpRequest> for Hello {
///     type Response = HttpResponse;
///     type Error = Infallible;
///     type Future = std::future::Ready<Result<HttpResponse, Infallible>>;
///
///     fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> {
///         std::task::Poll::Ready(Ok(()))
///     }
///
///     fn call(&mut self, _req: HttpRequest) -> Self::Future {
///         std::future::ready(Ok(HttpResponse::new(Body::from("hello\n"))))
///     }
/// }
///
/// # async fn run() -> std::io::Result<()> {
/// let server = Server::new();
/// let listener = server.bind("127.0.0.1:8080".parse().unwrap())?;
/// let handle = server.serve(listener, ServiceHandler::new(Hello));
/// handle.wait().await
/// # }
/// ```
pub struct ServiceHandler<S> {
    svc: Mutex<S>,
}

impl<S> ServiceHandler<S> {
    /// Wraps `svc`; each request is served by a clone of it.
    pub fn new(svc: S) -> Self {
        ServiceHandler {
            svc: Mutex::new(svc),
        }
    }

    /// The wrapped service.
    pub fn into_inner(self) -> S {
        self.svc
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl<S: Clone> Clone for ServiceHandler<S> {
    fn clone(&self) -> Self {
        ServiceHandler::new(self.fresh())
    }
}

impl<S> fmt::Debug for ServiceHandler<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceHandler")
            .field("service", &std::any::type_name::<S>())
            .finish()
    }
}

impl<S: Clone> ServiceHandler<S> {
    /// A clone of the service. The lock is held only while cloning; a clone that panicked
    /// earlier left nothing half-done in the mutex, so its poison is ignored.
    fn fresh(&self) -> S {
        self.svc
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl<S, B> Handler for ServiceHandler<S>
where
    S: Service<Request<Body>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    fn call(&self, req: HttpRequest) -> impl Future<Output = HttpResponse> + Send + '_ {
        let mut svc = self.fresh();
        async move {
            if let Err(e) = poll_fn(|cx| svc.poll_ready(cx)).await {
                return failed("poll_ready", e.into());
            }
            let (parts, body) = match svc.call(req).await {
                Ok(resp) => resp.into_parts(),
                Err(e) => return failed("call", e.into()),
            };
            Response::from_parts(parts, super::into_body(body).await)
        }
    }
}

/// The answer to a service that failed instead of responding.
fn failed(step: &'static str, err: BoxError) -> HttpResponse {
    tracing::error!(error = %err, step, "tower service failed; answering 500");
    text_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        crate::handler::INTERNAL_ERROR_ANSWER,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::{Context, Poll};

    /// Fails at the step it is told to, else echoes the request's path.
    #[derive(Clone)]
    struct Faulty {
        fail_ready: bool,
        fail_call: bool,
    }

    impl Service<HttpRequest> for Faulty {
        type Response = HttpResponse;
        type Error = BoxError;
        type Future = std::future::Ready<Result<HttpResponse, BoxError>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
            if self.fail_ready {
                return Poll::Ready(Err("not ready".into()));
            }
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: HttpRequest) -> Self::Future {
            if self.fail_call {
                return std::future::ready(Err("broken".into()));
            }
            let path = req.uri().path().to_owned();
            std::future::ready(Ok(HttpResponse::new(Body::from(path))))
        }
    }

    fn get(path: &str) -> HttpRequest {
        Request::get(path).body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn responses_pass_and_errors_become_500() {
        let ok = ServiceHandler::new(Faulty {
            fail_ready: false,
            fail_call: false,
        });
        let resp = ok.call(get("/a")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.into_body().to_bytes(10).await.unwrap(), "/a");
        for (fail_ready, fail_call) in [(true, false), (false, true)] {
            let h = ServiceHandler::new(Faulty {
                fail_ready,
                fail_call,
            });
            let resp = h.call(get("/b")).await;
            assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        }
    }
}
