//! `RequestBuilder`: `client.get(url).header(k, v).body(b).send()`, with the usual bodies
//! (a form, JSON, multipart), a query from a serde type, and credentials. Errors in the
//! pieces (a bad URL, an invalid header, a value that does not serialise) are kept until
//! `send`, so the chain reads straight.

use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Response, Uri};

use super::auth;
use super::http_client::Client;
use super::multipart::Form;
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

    /// Appends `query` (any serde type serialising to a map or a sequence of pairs: a
    /// struct, `[("k", "v")]`, a `HashMap`) to the URL's query string, after any query the
    /// URL has; `application/x-www-form-urlencoded` encoding, as forms use. Nothing is added
    /// for an empty one. A value that does not serialise so is a [`Kind::Usage`] error.
    #[cfg(feature = "form")]
    pub fn query<T: serde::Serialize + ?Sized>(self, query: &T) -> Self {
        self.edit(|req| {
            let extra = serde_urlencoded::to_string(query)
                .map_err(|e| Error::with_cause(Kind::Usage, "the query does not serialise", e))?;
            if !extra.is_empty() {
                *req.uri_mut() = append_query(req.uri(), &extra)?;
            }
            Ok(())
        })
    }

    /// A form body: `form` serialised as `application/x-www-form-urlencoded` (serde_urlencoded),
    /// with that `Content-Type` unless one is set already. A value that does not serialise
    /// to pairs is a [`Kind::Usage`] error.
    #[cfg(feature = "form")]
    pub fn form<T: serde::Serialize + ?Sized>(self, form: &T) -> Self {
        self.edit(|req| {
            let body = serde_urlencoded::to_string(form)
                .map_err(|e| Error::with_cause(Kind::Usage, "the form does not serialise", e))?;
            set_body(
                req,
                body.into(),
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
            Ok(())
        })
    }

    /// A JSON body: `json` serialised by serde_json, with `Content-Type: application/json`
    /// unless one is set already (say, `application/merge-patch+json`). A value serde_json
    /// refuses (a map with non-string keys, a failing `Serialize`) is a [`Kind::Usage`]
    /// error.
    #[cfg(feature = "json")]
    pub fn json<T: serde::Serialize + ?Sized>(self, json: &T) -> Self {
        self.edit(|req| {
            let body = serde_json::to_vec(json).map_err(|e| {
                Error::with_cause(Kind::Usage, "the JSON body does not serialise", e)
            })?;
            set_body(
                req,
                body.into(),
                HeaderValue::from_static("application/json"),
            );
            Ok(())
        })
    }

    /// A `multipart/form-data` body (RFC 7578), streamed part by part; sets `Content-Type`
    /// with the form's boundary. With every part's length known the request has a
    /// `Content-Length`, else it is sent chunked. A streamed part can be read only once, so
    /// such a request is not resent and does not follow a 307/308 redirect.
    pub fn multipart(self, form: Form) -> Self {
        self.edit(|req| {
            let (content_type, body) = form.into_body()?;
            req.headers_mut().insert(header::CONTENT_TYPE, content_type);
            *req.body_mut() = body;
            Ok(())
        })
    }

    /// `Authorization: Basic` with `user` and `password` (RFC 7617; `None`: an empty
    /// password), replacing any `Authorization`; marked sensitive, so it is never indexed by
    /// HPACK nor shown. A user-id with `:` or either part with control characters is a
    /// [`Kind::Usage`] error (RFC 7617 §2). It goes only to this host: a redirect elsewhere
    /// drops it.
    pub fn basic_auth(self, user: &str, password: Option<&str>) -> Self {
        self.edit(|req| {
            let value = auth::basic(user, password)?;
            req.headers_mut().insert(header::AUTHORIZATION, value);
            Ok(())
        })
    }

    /// `Authorization: Bearer token` (RFC 6750 §2.1), replacing any `Authorization`; marked
    /// sensitive. A token with spaces, controls or non-ASCII bytes is a [`Kind::Usage`]
    /// error. It goes only to this host: a redirect elsewhere drops it.
    pub fn bearer_auth(self, token: &str) -> Self {
        self.edit(|req| {
            let value = auth::bearer(token)?;
            req.headers_mut().insert(header::AUTHORIZATION, value);
            Ok(())
        })
    }

    /// Applies `f` to the request unless an earlier step failed; its error is kept.
    fn edit(mut self, f: impl FnOnce(&mut Request<Body>) -> Result<(), Error>) -> Self {
        if let Ok(req) = &mut self.req {
            if let Err(e) = f(req) {
                self.req = Err(e);
            }
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

/// The body, and its `Content-Type` unless the caller set one.
#[cfg(any(feature = "form", feature = "json"))]
fn set_body(req: &mut Request<Body>, body: Body, content_type: HeaderValue) {
    if !req.headers().contains_key(header::CONTENT_TYPE) {
        req.headers_mut().insert(header::CONTENT_TYPE, content_type);
    }
    *req.body_mut() = body;
}

/// `uri` with `extra` (already encoded) after its query, joined by `&`.
#[cfg(feature = "form")]
fn append_query(uri: &Uri, extra: &str) -> Result<Uri, Error> {
    let mut pq = String::with_capacity(uri.path().len() + extra.len() + 2);
    pq.push_str(uri.path());
    pq.push('?');
    if let Some(q) = uri.query().filter(|q| !q.is_empty()) {
        pq.push_str(q);
        pq.push('&');
    }
    pq.push_str(extra);
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(
        pq.parse()
            .map_err(|e| Error::with_cause(Kind::Usage, "invalid URL with the query", e))?,
    );
    Uri::from_parts(parts)
        .map_err(|e| Error::with_cause(Kind::Usage, "invalid URL with the query", e))
}

#[cfg(all(test, feature = "form"))]
mod tests {
    use super::*;

    #[test]
    fn queries_append() {
        let at = |u: &str, extra: &str| {
            append_query(&u.parse().unwrap(), extra)
                .unwrap()
                .to_string()
        };
        assert_eq!(at("http://h", "a=1"), "http://h/?a=1");
        assert_eq!(at("http://h/p?x=y", "a=1"), "http://h/p?x=y&a=1");
        assert_eq!(at("http://h/p?", "a=1"), "http://h/p?a=1");
        assert_eq!(at("http://u:p@h:81/p", "a=%20"), "http://u:p@h:81/p?a=%20");
    }
}
