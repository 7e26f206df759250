//! Sharing between routes: `Handler` for `Arc<H>` (one handler under several patterns or
//! servers) and for `&'static ServeMux`, and [`with_state`], which gives a handler function a
//! reference to a state it owns, so no `Arc` is cloned into each closure and again into each
//! request's future.
//!
//! `&'static H` for any handler cannot be a blanket implementation: a closure is a handler,
//! and so is a reference to one (`&F` is `Fn` when `F` is), so the two would overlap. A
//! `&'static` closure is a handler already; for a type of your own, `impl Handler for
//! &'static MyApp` is allowed in your crate.

use std::future::Future;
use std::sync::Arc;

use crate::handler::{Handler, HttpRequest, HttpResponse};
use crate::mux::ServeMux;
use crate::response::{IntoResponse, IntoResponseFuture};

impl<H: Handler> Handler for Arc<H> {
    fn call(&self, req: HttpRequest) -> impl Future<Output = HttpResponse> + Send + '_ {
        (**self).call(req)
    }
}

impl Handler for &'static ServeMux {
    fn call(&self, req: HttpRequest) -> impl Future<Output = HttpResponse> + Send + '_ {
        (**self).call(req)
    }
}

/// A function of a state and a request whose future may borrow the state: an `async fn`
/// taking `&S` first (a method `async fn name(&self, req: HttpRequest) -> R` included) or an
/// async closure `async |state: &S, req| ...`, where `R` is any [`IntoResponse`] (so `?`
/// works in it, as in any handler). Implemented for every such function; it only names the
/// future's type, which a plain `Fn` bound cannot.
pub trait StateFn<'a, S: 'a>: Fn(&'a S, HttpRequest) -> <Self as StateFn<'a, S>>::Future {
    /// The future the function returns, borrowing the state for `'a`.
    type Future: Future<Output: IntoResponse> + Send + 'a;
}

impl<'a, S: 'a, F, Fut> StateFn<'a, S> for F
where
    F: Fn(&'a S, HttpRequest) -> Fut,
    Fut: Future + Send + 'a,
    Fut::Output: IntoResponse,
{
    type Future = Fut;
}

/// A handler made of `state` and a function called with `&state` and each request: Go's
/// handler methods on a struct (`mux.HandleFunc("/a", app.handleA)`) in Rust. The state is
/// owned by the handler; wrap it in an `Arc` (`with_state(app.clone(), ...)`) to share it
/// between routes, which clones that `Arc` once per route and never per request.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use nethttp::http::{Request, StatusCode};
/// use nethttp::wrap::with_state;
/// use nethttp::{text_response, Body, HttpRequest, HttpResponse, ServeMux};
///
/// #[derive(Default)]
/// struct App {
///     hits: AtomicU64,
/// }
///
/// impl App {
///     async fn hit(&self, _req: HttpRequest) -> HttpResponse {
///         let n = self.hits.fetch_add(1, Ordering::Relaxed) + 1;
///         text_response(StatusCode::OK, format!("{n}"))
///     }
/// }
///
/// let app = Arc::new(App::default());
/// let mux = ServeMux::new()
///     .route("POST /hit", with_state(app.clone(), async |app: &Arc<App>, req| app.hit(req).await))
///     .route("GET /hits", with_state(app.clone(), async |app: &Arc<App>, _req| {
///         text_response(StatusCode::OK, app.hits.load(Ordering::Relaxed).to_string())
///     }));
/// # use nethttp::Handler;
/// # let r = mux.call(Request::post("/hit").body(Body::empty()).unwrap()).await;
/// # assert_eq!(r.into_body().to_bytes(9).await.unwrap(), "1");
/// # let r = mux.call(Request::get("/hits").body(Body::empty()).unwrap()).await;
/// # assert_eq!(r.into_body().to_bytes(9).await.unwrap(), "1");
/// // A state used by one route only needs no Arc: `with_state(App::default(), App::hit)`.
/// # }
/// ```
pub fn with_state<S, F>(state: S, f: F) -> WithState<S, F>
where
    S: Send + Sync + 'static,
    F: for<'a> StateFn<'a, S> + Send + Sync + 'static,
{
    WithState { state, f }
}

/// The handler [`with_state`] returns.
#[derive(Debug, Clone)]
pub struct WithState<S, F> {
    state: S,
    f: F,
}

impl<S, F> WithState<S, F> {
    /// The state the handler holds.
    pub fn state(&self) -> &S {
        &self.state
    }
}

impl<S, F> Handler for WithState<S, F>
where
    S: Send + Sync + 'static,
    F: for<'a> StateFn<'a, S> + Send + Sync + 'static,
{
    fn call(&self, req: HttpRequest) -> impl Future<Output = HttpResponse> + Send + '_ {
        IntoResponseFuture::new((self.f)(&self.state, req))
    }
}
