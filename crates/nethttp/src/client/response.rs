//! [`ResponseExt`]: what a caller of the client does with a response — read its body whole
//! within a limit (as text, JSON or bytes), turn a 4xx/5xx into an error, and see where
//! redirects led (the final URL and the chain, recorded by [`super::Client`]).

use std::future::Future;

use bytes::Bytes;
use http::{Response, Uri};

use super::redirect::RedirectChain;
use crate::body::Body;
use crate::error::Error;

mod sealed {
    pub trait Sealed {}
    impl Sealed for http::Response<crate::body::Body> {}
}

/// The client's response helpers, implemented for `http::Response<Body>`; `use
/// nethttp::client::ResponseExt` to call them (reqwest's `Response` methods, on the
/// ecosystem's response type).
///
/// Each whole read takes a limit: past it the read fails with
/// [`Error::is_body_too_large`] — never a silent truncation — and a `Content-Length` over the
/// limit fails before a byte is read. Malformed content fails with [`Error::is_decode`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), nethttp::Error> {
/// # let server = nethttp::test::TestServer::start(|req: nethttp::HttpRequest| async move {
/// #     match req.uri().path() {
/// #         "/old" => nethttp::redirect("/new", nethttp::http::StatusCode::FOUND),
/// #         "/new" => nethttp::text_response(nethttp::http::StatusCode::OK, "[1, 2, 3]"),
/// #         _ => nethttp::not_found(),
/// #     }
/// # }).await;
/// use nethttp::client::ResponseExt;
/// use nethttp::Client;
///
/// let client = Client::new();
/// let res = client.get(server.url("/old")).send().await?.error_for_status()?;
/// assert_eq!(res.final_url().map(|u| u.path()), Some("/new"));
/// assert_eq!(res.redirects().len(), 1); // the /old URL
/// # #[cfg(feature = "json")] {
/// let numbers: Vec<u32> = res.json(64 * 1024).await?;
/// assert_eq!(numbers, [1, 2, 3]);
/// # }
///
/// let err = client.get(server.url("/nothing")).send().await?.error_for_status().unwrap_err();
/// assert_eq!(err.status(), nethttp::http::StatusCode::NOT_FOUND);
/// # Ok(()) }
/// ```
pub trait ResponseExt: sealed::Sealed + Sized {
    /// The whole body as UTF-8 text, at most `limit` bytes; [`crate::ErrorKind::Decode`] if
    /// it is not UTF-8 (the `charset` of `Content-Type` is not consulted).
    fn text(self, limit: usize) -> impl Future<Output = Result<String, Error>> + Send + 'static;

    /// The whole body, at most `limit` bytes, parsed as JSON into `T` (whatever the
    /// `Content-Type` says); [`crate::ErrorKind::Decode`] with serde_json's error as the
    /// cause (`err.source()` downcasts to `serde_json::Error`: line, column, category).
    #[cfg(feature = "json")]
    fn json<T: serde::de::DeserializeOwned>(
        self,
        limit: usize,
    ) -> impl Future<Output = Result<T, Error>> + Send + 'static;

    /// The whole body, at most `limit` bytes.
    fn bytes(self, limit: usize) -> impl Future<Output = Result<Bytes, Error>> + Send + 'static;

    /// The response itself if its status is not a client or server error (RFC 9110 §15.5,
    /// §15.6); else an error of [`crate::ErrorKind::Status`] whose [`Error::status`] is
    /// the status, with [`Error::url`] when redirects led here. The response (and its
    /// connection: the body is drained in the background) is dropped.
    fn error_for_status(self) -> Result<Self, Error>;

    /// As [`ResponseExt::error_for_status`], keeping the response.
    fn error_for_status_ref(&self) -> Result<&Self, Error>;

    /// The URL that answered, when the client followed redirects to it; `None` when no
    /// redirect was followed (the URL requested answered).
    fn final_url(&self) -> Option<&Uri>;

    /// The URLs that answered with the redirects the client followed, in order: the URL
    /// requested first; empty when none was followed. [`ResponseExt::final_url`] is not in
    /// it. URLs never carry `user:password@` (the client moved it into `Authorization`).
    fn redirects(&self) -> &[Uri];
}

impl ResponseExt for Response<Body> {
    fn text(self, limit: usize) -> impl Future<Output = Result<String, Error>> + Send + 'static {
        self.into_body().text(limit)
    }

    #[cfg(feature = "json")]
    fn json<T: serde::de::DeserializeOwned>(
        self,
        limit: usize,
    ) -> impl Future<Output = Result<T, Error>> + Send + 'static {
        let body = self.into_body();
        async move { body.json(limit).await }
    }

    fn bytes(self, limit: usize) -> impl Future<Output = Result<Bytes, Error>> + Send + 'static {
        self.into_body().to_bytes(limit)
    }

    fn error_for_status(self) -> Result<Self, Error> {
        match status_error(&self) {
            Some(e) => Err(e),
            None => Ok(self),
        }
    }

    fn error_for_status_ref(&self) -> Result<&Self, Error> {
        match status_error(self) {
            Some(e) => Err(e),
            None => Ok(self),
        }
    }

    fn final_url(&self) -> Option<&Uri> {
        self.extensions().get::<RedirectChain>()?.0.last()
    }

    fn redirects(&self) -> &[Uri] {
        match self.extensions().get::<RedirectChain>() {
            Some(RedirectChain(urls)) => &urls[..urls.len().saturating_sub(1)],
            None => &[],
        }
    }
}

/// The [`crate::ErrorKind::Status`] error for a 4xx or 5xx response.
fn status_error(res: &Response<Body>) -> Option<Error> {
    let status = res.status();
    if !status.is_client_error() && !status.is_server_error() {
        return None;
    }
    let err = Error::status_error(status);
    Some(match res.final_url() {
        Some(url) => err.with_url(url),
        None => err,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    fn response(status: u16, body: &'static str) -> Response<Body> {
        let mut res = Response::new(Body::from(body));
        *res.status_mut() = StatusCode::from_u16(status).unwrap();
        res
    }

    #[test]
    fn error_for_status_takes_4xx_and_5xx() {
        for ok in [200, 204, 301, 304] {
            assert!(response(ok, "").error_for_status().is_ok(), "{ok}");
        }
        for bad in [400, 404, 451, 500, 503, 599] {
            let err = response(bad, "").error_for_status().unwrap_err();
            assert!(err.is_status(), "{bad}");
            assert_eq!(err.status().as_u16(), bad);
            assert_eq!(err.url(), None);
        }
        let res = response(503, "");
        let err = res.error_for_status_ref().unwrap_err();
        assert_eq!(
            err.to_string(),
            "HTTP status server error: 503 Service Unavailable"
        );
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn redirect_chain_reads_back() {
        let mut res = response(404, "");
        assert_eq!((res.final_url(), res.redirects()), (None, &[][..]));
        let urls: Vec<Uri> = ["http://a/1", "http://b/2", "http://c/3"]
            .iter()
            .map(|u| u.parse().unwrap())
            .collect();
        res.extensions_mut().insert(RedirectChain(urls.clone()));
        assert_eq!(res.final_url(), Some(&urls[2]));
        assert_eq!(res.redirects(), &urls[..2]);
        let err = res.error_for_status().unwrap_err();
        assert_eq!(err.url(), Some(&urls[2]));
        assert_eq!(err.method(), None);
        assert_eq!(
            err.to_string(),
            "http://c/3: HTTP status client error: 404 Not Found"
        );
    }

    #[tokio::test]
    async fn reads_within_a_limit() {
        assert_eq!(response(200, "héllo").text(6).await.unwrap(), "héllo");
        assert!(response(200, "héllo")
            .text(5)
            .await
            .unwrap_err()
            .is_body_too_large());
        assert_eq!(response(200, "abc").bytes(3).await.unwrap(), "abc");
        assert!(response(200, "abcd")
            .bytes(3)
            .await
            .unwrap_err()
            .is_body_too_large());
    }
}
