//! `RequestBuilder`: `client.get(url).header(k, v).body(b).send()`. Errors in the pieces
//! (a bad URL, an invalid header) are kept until `send`, so the chain reads straight.

use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::{Method, Request, Response, Uri};

use super::http_client::Client;
use super::trace::{Trace, TraceHook};
use crate::body::Body;
use crate::error::{Error, Kind};

/// A request being built; finish it with [`RequestBuilder::send`].
#[derive(Debug)]
pub struct RequestBuilder {
    client: Client,
    req: Result<Request<Body>, Error>,
    timeout: Option<Duration>,
}

impl RequestBuilder {
    pub(crate) fn new(client: Client, method: Method, url: &str) -> RequestBuilder {
        let req = url
            .parse::<Uri>()
            .map_err(|e| Error::with_cause(Kind::Usage, "invalid URL", e))
            .map(|uri| {
                let mut req = Request::new(Body::empty());
                *req.method_mut() = method;
                *req.uri_mut() = uri;
                req
            });
        RequestBuilder {
            client,
            req,
            timeout: None,
        }
    }

    /// Adds a header (repeated names are all sent).
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        if let Ok(req) = &mut self.req {
            match (name.try_into(), value.try_into()) {
                (Ok(n), Ok(v)) => {
                    req.headers_mut().append(n, v);
                }
                _ => self.req = Err(Error::new(Kind::Usage, "invalid header name or value")),
            }
        }
        self
    }

    /// The request body.
    pub fn body(mut self, body: impl Into<Body>) -> Self {
        if let Ok(req) = &mut self.req {
            *req.body_mut() = body.into();
        }
        self
    }

    /// A total timeout for this request, replacing the client's.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// Reports this request's phases to `trace`.
    pub fn trace(mut self, trace: Arc<dyn Trace>) -> Self {
        if let Ok(req) = &mut self.req {
            req.extensions_mut().insert(TraceHook(trace));
        }
        self
    }

    /// The request as built so far.
    pub fn build(self) -> Result<Request<Body>, Error> {
        self.req
    }

    /// Sends the request; the response comes back when its head has arrived.
    pub async fn send(self) -> Result<Response<Body>, Error> {
        let req = self.req?;
        match self.timeout {
            Some(t) => self.client.execute_with_timeout(req, Some(t)).await,
            None => self.client.execute(req).await,
        }
    }
}
