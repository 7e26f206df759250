//! Reading what a request carries: [`RequestExt`] on [`HttpRequest`] gives its cookies, its
//! query string (as pairs, or a serde type with the `form` feature), and its body as a form,
//! JSON or multipart, each checked against the `Content-Type` and held to a size limit you
//! pass. The body alone reads through [`Body::text`], [`Body::json`], [`Body::bytes`] and
//! [`Body::chunk`].
//!
//! Every failure is an [`Error`] that answers for itself when a handler returns it
//! (see [`crate::response`]): `413` past the limit, `400` with a short reason for malformed
//! input (bad UTF-8, JSON, form fields of the wrong type, broken multipart), `415` for the
//! wrong `Content-Type`. So a handler reads its input with `?`:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! # #[cfg(all(feature = "form", feature = "json"))] {
//! use nethttp::http::StatusCode;
//! use nethttp::request::RequestExt;
//! use nethttp::{json, Error, HttpRequest, HttpResponse};
//!
//! #[derive(serde::Deserialize, serde::Serialize)]
//! struct Item { name: String, qty: u32 }
//!
//! #[derive(serde::Deserialize)]
//! struct Page { page: Option<u32> }
//!
//! async fn add_item(mut req: HttpRequest) -> Result<HttpResponse, Error> {
//!     let page: Page = req.query()?;                // 400 if `page` is not a number
//!     let item: Item = req.json(64 * 1024).await?;  // 415, 413 or 400 as fits
//!     let _ = page.page;
//!     Ok(json(StatusCode::CREATED, &item))
//! }
//!
//! let req = nethttp::http::Request::post("/items?page=2")
//!     .header("content-type", "application/json")
//!     .body(r#"{"name": "tea", "qty": 2}"#.into())
//!     .unwrap();
//! let resp = nethttp::test::call(&add_item, req).await;
//! assert_eq!(resp.status(), StatusCode::CREATED);
//!
//! let req = nethttp::http::Request::post("/items")
//!     .header("content-type", "application/json")
//!     .body(r#"{"name": "tea", "qty": -1}"#.into())
//!     .unwrap();
//! let resp = nethttp::test::call(&add_item, req).await;
//! assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
//! # } }
//! ```
//!
//! Body helpers take the body out of the request (`&mut self`), so its head (path values,
//! headers, cookies) stays readable after; a second body read finds it empty. A wrong
//! `Content-Type` is found before the body is touched, and a declared `Content-Length` over
//! the limit fails before a byte is read.

#[cfg(feature = "multipart")]
mod multipart;

use std::borrow::Cow;
use std::future::Future;

#[cfg(feature = "multipart")]
pub use multipart::{Field, Multipart, MultipartLimits};

mod basic_auth;
pub(crate) use basic_auth::basic_auth;
pub use basic_auth::BasicAuth;

use http::header::CONTENT_TYPE;

use crate::body::Body;
use crate::error::{Error, Kind};
use crate::handler::HttpRequest;

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::handler::HttpRequest {}
}

/// The request helpers, implemented for [`HttpRequest`]; `use nethttp::request::RequestExt`
/// to call them.
pub trait RequestExt: sealed::Sealed {
    /// The first cookie named `name` among the `Cookie` fields (RFC 6265 §5.4; invalid pairs
    /// skipped, see [`crate::cookie`]).
    #[cfg(feature = "cookie")]
    fn cookie(&self, name: &str) -> Option<crate::cookie::Cookie<'_>>;

    /// Every cookie of the `Cookie` fields, in order (a name may appear more than once:
    /// browsers send the most specific path first).
    #[cfg(feature = "cookie")]
    fn cookies(&self) -> impl Iterator<Item = crate::cookie::Cookie<'_>>;

    /// The user-id and password of an `Authorization: Basic` field (RFC 7617), as Go's
    /// `Request.BasicAuth` reads them; `None` without one, or when it is malformed or not
    /// UTF-8.
    fn basic_auth(&self) -> Option<BasicAuth>;

    /// The query string's `name=value` pairs, percent- and `+`-decoded (WHATWG
    /// `application/x-www-form-urlencoded` parsing: never fails, bad escapes stay as they
    /// are, bytes that are not UTF-8 become U+FFFD).
    fn query_pairs(&self) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)>;

    /// The first value of `name` in the query string (Go's `r.URL.Query().Get`).
    fn query_value(&self, name: &str) -> Option<Cow<'_, str>>;

    /// The query string as a `T` (serde, `serde_urlencoded`); [`Kind::Decode`] (400) if it
    /// does not fit.
    #[cfg(feature = "form")]
    fn query<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error>;

    /// An `application/x-www-form-urlencoded` body (at most `limit` bytes) as pairs. 415 for
    /// another `Content-Type`, 413 past the limit.
    fn form_pairs(
        &mut self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(String, String)>, Error>> + Send + 'static;

    /// An `application/x-www-form-urlencoded` body (at most `limit` bytes) as a `T`. 415 for
    /// another `Content-Type`, 413 past the limit, 400 if the fields do not fit `T`.
    #[cfg(feature = "form")]
    fn form<T: serde::de::DeserializeOwned>(
        &mut self,
        limit: usize,
    ) -> impl Future<Output = Result<T, Error>> + Send + 'static;

    /// A JSON body (`application/json` or `application/*+json`, at most `limit` bytes) as a
    /// `T`. 415 for another `Content-Type`, 413 past the limit, 400 with serde_json's reason
    /// if it is not JSON or not a `T`.
    #[cfg(feature = "json")]
    fn json<T: serde::de::DeserializeOwned>(
        &mut self,
        limit: usize,
    ) -> impl Future<Output = Result<T, Error>> + Send + 'static;

    /// A `multipart/form-data` body read as a stream of fields, held to `limits`. 415 for
    /// another `Content-Type`, 400 without a boundary.
    #[cfg(feature = "multipart")]
    fn multipart(&mut self, limits: MultipartLimits) -> Result<Multipart, Error>;
}

impl RequestExt for HttpRequest {
    fn basic_auth(&self) -> Option<BasicAuth> {
        basic_auth(self.headers())
    }

    #[cfg(feature = "cookie")]
    fn cookie(&self, name: &str) -> Option<crate::cookie::Cookie<'_>> {
        self.cookies().find(|c| c.name() == name)
    }

    #[cfg(feature = "cookie")]
    fn cookies(&self) -> impl Iterator<Item = crate::cookie::Cookie<'_>> {
        crate::cookie::parse_request_cookies(self.headers())
    }

    fn query_pairs(&self) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
        form_urlencoded::parse(self.uri().query().unwrap_or("").as_bytes())
    }

    fn query_value(&self, name: &str) -> Option<Cow<'_, str>> {
        self.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    #[cfg(feature = "form")]
    fn query<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        serde_urlencoded::from_str(self.uri().query().unwrap_or(""))
            .map_err(|e| Error::with_cause(Kind::Decode, "invalid query string", e))
    }

    fn form_pairs(
        &mut self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(String, String)>, Error>> + Send + 'static {
        let body = take_body_of(self, MediaType::Form);
        async move {
            let bytes = body?.to_bytes(limit).await?;
            Ok(form_urlencoded::parse(&bytes).into_owned().collect())
        }
    }

    #[cfg(feature = "form")]
    fn form<T: serde::de::DeserializeOwned>(
        &mut self,
        limit: usize,
    ) -> impl Future<Output = Result<T, Error>> + Send + 'static {
        let body = take_body_of(self, MediaType::Form);
        async move {
            let bytes = body?.to_bytes(limit).await?;
            serde_urlencoded::from_bytes(&bytes)
                .map_err(|e| Error::with_cause(Kind::Decode, "invalid form body", e))
        }
    }

    #[cfg(feature = "json")]
    fn json<T: serde::de::DeserializeOwned>(
        &mut self,
        limit: usize,
    ) -> impl Future<Output = Result<T, Error>> + Send + 'static {
        let body = take_body_of(self, MediaType::Json);
        async move { body?.json(limit).await }
    }

    #[cfg(feature = "multipart")]
    fn multipart(&mut self, limits: MultipartLimits) -> Result<Multipart, Error> {
        let boundary = multipart::boundary(self.headers())?;
        let body = std::mem::take(self.body_mut());
        Ok(Multipart::new(body, boundary, limits))
    }
}

/// The media types the body helpers read.
#[derive(Clone, Copy)]
enum MediaType {
    Form,
    #[cfg(feature = "json")]
    Json,
}

/// Takes the request's body if its `Content-Type` is `want`; else a 415 and the body stays.
fn take_body_of(req: &mut HttpRequest, want: MediaType) -> Result<Body, Error> {
    let essence = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(media_type_essence);
    let ok = match (want, essence) {
        (_, None) => false,
        (MediaType::Form, Some(t)) => t.eq_ignore_ascii_case("application/x-www-form-urlencoded"),
        #[cfg(feature = "json")]
        (MediaType::Json, Some(t)) => is_json(t),
    };
    if !ok {
        let msg = match want {
            MediaType::Form => "expected Content-Type: application/x-www-form-urlencoded",
            #[cfg(feature = "json")]
            MediaType::Json => "expected Content-Type: application/json",
        };
        return Err(Error::new(Kind::UnsupportedMediaType, msg));
    }
    Ok(std::mem::take(req.body_mut()))
}

/// `type/subtype` of a `Content-Type` value, parameters and whitespace dropped.
pub(crate) fn media_type_essence(value: &str) -> &str {
    value.split(';').next().unwrap_or("").trim()
}

/// `application/json`, or any `application/*+json` (RFC 6839), ASCII case ignored.
#[cfg(feature = "json")]
fn is_json(essence: &str) -> bool {
    let Some((ty, sub)) = essence.split_once('/') else {
        return false;
    };
    let sub = sub.as_bytes();
    ty.eq_ignore_ascii_case("application")
        && (sub.eq_ignore_ascii_case(b"json")
            || (sub.len() > 5 && sub[sub.len() - 5..].eq_ignore_ascii_case(b"+json")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "json")]
    #[test]
    fn media_types() {
        assert_eq!(
            media_type_essence(" application/json ; charset=utf-8"),
            "application/json"
        );
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON"));
        assert!(is_json("application/problem+json"));
        assert!(!is_json("application/+json"));
        assert!(!is_json("text/json"));
        assert!(!is_json("application/jsonx"));
    }

    #[tokio::test]
    async fn a_wrong_content_type_leaves_the_body() {
        let mut req = http::Request::post("/")
            .header("content-type", "text/plain")
            .body(Body::from("a=1"))
            .unwrap();
        let err = req.form_pairs(10).await.unwrap_err();
        assert!(err.is_unsupported_media_type(), "{err:?}");
        assert_eq!(
            std::mem::take(req.body_mut()).to_bytes(10).await.unwrap(),
            "a=1"
        );
    }
}
