//! `ServeMux` end to end through the `Handler` trait, on a tokio runtime: what a client of the
//! server would see for Go's routing examples, the mux's own answers (404, 405, redirects) and
//! the wildcard values handlers read.

use std::sync::Arc;

use nethttp::http::header::{ALLOW, CONTENT_TYPE, HOST, LOCATION};
use nethttp::http::{HeaderValue, Method, Request, StatusCode};
use nethttp::mux::PathValue;
use nethttp::{text_response, Body, DynHandler, ErrorKind, Handler, HttpRequest, ServeMux};

/// A handler that answers with its name and the wildcard values it was given:
/// `name a=1 b=2`.
fn named(name: &'static str) -> impl Handler {
    move |req: HttpRequest| async move {
        let mut out = name.to_string();
        if let Some(values) = req.extensions().get::<nethttp::mux::PathValues>() {
            for (k, v) in values.iter() {
                out.push_str(&format!(" {k}={v}"));
            }
        }
        text_response(StatusCode::OK, out)
    }
}

struct Reply {
    status: StatusCode,
    headers: nethttp::http::HeaderMap,
    body: String,
}

async fn send(mux: &ServeMux, method: &str, uri: &str) -> Reply {
    send_host(mux, method, uri, None).await
}

async fn send_host(mux: &ServeMux, method: &str, uri: &str, host: Option<&str>) -> Reply {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(h) = host {
        req = req.header(HOST, HeaderValue::from_bytes(h.as_bytes()).unwrap());
    }
    let resp = mux.call(req.body(Body::empty()).unwrap()).await;
    let (parts, body) = resp.into_parts();
    let body = body.to_bytes(1 << 20).await.unwrap();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

/// The body of a 200, or the status otherwise.
async fn served_by(mux: &ServeMux, method: &str, uri: &str) -> String {
    let r = send(mux, method, uri).await;
    if r.status == StatusCode::OK {
        r.body
    } else {
        r.status.as_str().to_string()
    }
}

#[tokio::test]
async fn go_documentation_precedence_examples() {
    let mux = ServeMux::new()
        .route("/", named("root"))
        .route("/index.html", named("index"))
        .route("/images/", named("images"))
        .route("/images/thumbnails/", named("thumbnails"))
        .route("GET /posts/{id}", named("post"))
        .route("GET /posts/latest", named("latest"))
        .route("POST /posts/{id}", named("update"))
        .route("/b/{bucket}/o/default", named("default-object"))
        .route("/b/{bucket}/o/{objectname...}", named("object"))
        .route("example.com/", named("example-root"));

    let cases = [
        ("GET", "/", "root"),
        ("GET", "/index.html", "index"),
        ("GET", "/images/a.png", "images"),
        ("GET", "/images/thumbnails/a.png", "thumbnails"),
        ("GET", "/posts/latest", "latest"),
        ("GET", "/posts/5", "post id=5"),
        ("POST", "/posts/5", "update id=5"),
        ("POST", "/posts/latest", "update id=latest"),
        ("GET", "/b/bkt/o/default", "default-object bucket=bkt"),
        (
            "GET",
            "/b/bkt/o/a/b/c",
            "object bucket=bkt objectname=a/b/c",
        ),
        ("GET", "http://example.com/posts/5", "example-root"),
    ];
    for (method, uri, want) in cases {
        assert_eq!(served_by(&mux, method, uri).await, want, "{method} {uri}");
    }
    // The host comes from the Host header too, without its port and in any case.
    let r = send_host(&mux, "GET", "/posts/5", Some("Example.COM:8443")).await;
    assert_eq!(r.body, "example-root");
}

#[tokio::test]
async fn conflicts_through_the_public_api() {
    let mut mux = ServeMux::new();
    mux.handle("/posts/{id}", named("a")).unwrap();
    let err = mux
        .handle("/{resource}/latest", named("b"))
        .map(|_| ())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Usage);
    let msg = err.to_string();
    assert!(
        msg.contains("\"/posts/{id}\"") && msg.contains("\"/{resource}/latest\""),
        "{msg}"
    );
    assert!(
        msg.contains("/posts/latest"),
        "the message gives a path both match: {msg}"
    );

    // Chaining with `?`.
    fn build() -> Result<ServeMux, nethttp::Error> {
        let mut mux = ServeMux::new();
        mux.handle("GET /a", named("a"))?
            .handle("POST /a", named("b"))?;
        mux.handle("GET /a", named("c"))?;
        Ok(mux)
    }
    let err = build().unwrap_err();
    assert!(
        err.to_string().contains("matches the same requests"),
        "{err}"
    );
}

#[tokio::test]
async fn not_found() {
    let mux = ServeMux::new().route("/a", named("a"));
    let r = send(&mux, "GET", "/b").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body, "404 page not found\n");
    assert!(r.headers[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
}

#[tokio::test]
async fn method_not_allowed_lists_allowed_methods() {
    let mux = ServeMux::new()
        .route("GET /items/{id}", named("get"))
        .route("PUT /items/{id}", named("put"))
        .route("DELETE /items/{id}", named("delete"));
    let r = send(&mux, "POST", "/items/1").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers[ALLOW], "DELETE, GET, HEAD, PUT");
    assert_eq!(r.body, "Method Not Allowed\n");
    assert!(r.headers[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    // A path no pattern matches is a 404, whatever the method.
    assert_eq!(
        send(&mux, "POST", "/other").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn head_is_served_by_get_unless_registered() {
    let mux = ServeMux::new()
        .route("GET /a", named("get-a"))
        .route("GET /b", named("get-b"));
    assert_eq!(served_by(&mux, "HEAD", "/a").await, "get-a");
    let mux = ServeMux::new()
        .route("GET /a", named("get-a"))
        .route("HEAD /a", named("head-a"));
    assert_eq!(served_by(&mux, "HEAD", "/a").await, "head-a");
    assert_eq!(served_by(&mux, "GET", "/a").await, "get-a");
    // A HEAD pattern does not serve GET.
    let mux = ServeMux::new().route("HEAD /a", named("head-a"));
    let r = send(&mux, "GET", "/a").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers[ALLOW], "HEAD");
}

#[tokio::test]
async fn unclean_paths_redirect_to_the_clean_path_with_the_query() {
    let mux = ServeMux::new().route("/a/b", named("ab"));
    for (uri, want) in [
        ("/a//b", "/a/b"),
        ("/a/./b?x=1", "/a/b?x=1"),
        ("/c/../a/b?x=%20&y", "/a/b?x=%20&y"),
        ("/../a/b", "/a/b"),
    ] {
        let r = send(&mux, "GET", uri).await;
        assert_eq!(r.status, StatusCode::MOVED_PERMANENTLY, "{uri}");
        assert_eq!(r.headers[LOCATION], want, "{uri}");
        assert!(r
            .body
            .contains(&format!("<a href=\"{}\">", want.replace('&', "&amp;"))));
    }
    // Other methods are redirected too, without a body.
    let r = send(&mux, "POST", "/a//b").await;
    assert_eq!(r.status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(r.headers[LOCATION], "/a/b");
    assert_eq!(r.body, "");
}

#[tokio::test]
async fn subtree_root_without_slash_redirects() {
    let mux = ServeMux::new()
        .route("/dir/", named("dir"))
        .route("/both/", named("both-subtree"))
        .route("/both", named("both-exact"));
    let r = send(&mux, "GET", "/dir?q=1").await;
    assert_eq!(r.status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(r.headers[LOCATION], "/dir/?q=1");
    assert_eq!(served_by(&mux, "GET", "/dir/").await, "dir");
    assert_eq!(served_by(&mux, "GET", "/dir/x/y").await, "dir");
    assert_eq!(served_by(&mux, "GET", "/both").await, "both-exact");
    assert_eq!(served_by(&mux, "GET", "/both/").await, "both-subtree");
}

#[tokio::test]
async fn connect_paths_are_not_cleaned() {
    let mux = ServeMux::new()
        .route("CONNECT /", named("proxy"))
        .route("CONNECT /odd//path", named("odd"));
    assert_eq!(served_by(&mux, "CONNECT", "example.com:443").await, "proxy");
    assert_eq!(served_by(&mux, "CONNECT", "/odd//path").await, "odd");
    assert_eq!(served_by(&mux, "CONNECT", "/a/../b").await, "proxy");
}

#[tokio::test]
async fn end_anchor_and_rest_wildcards() {
    let mux = ServeMux::new()
        .route("/{$}", named("home"))
        .route("/", named("fallback"))
        .route("/files/{$}", named("listing"))
        .route("/files/{path...}", named("file"))
        .route("/raw/{rest...}", named("raw"));
    assert_eq!(served_by(&mux, "GET", "/").await, "home");
    assert_eq!(served_by(&mux, "GET", "/x").await, "fallback");
    assert_eq!(served_by(&mux, "GET", "/files/").await, "listing");
    assert_eq!(
        served_by(&mux, "GET", "/files/a/b.txt").await,
        "file path=a/b.txt"
    );
    assert_eq!(served_by(&mux, "GET", "/files/a/").await, "file path=a/");
    assert_eq!(served_by(&mux, "GET", "/raw/").await, "raw rest=");
    // `/files` redirects to `/files/`, which `{$}` serves exactly.
    assert_eq!(
        send(&mux, "GET", "/files").await.headers[LOCATION],
        "/files/"
    );
}

#[tokio::test]
async fn percent_decoding() {
    let mux = ServeMux::new()
        .route("/caf%C3%A9/{name}", named("cafe"))
        .route("/a%2Fb", named("encoded-slash"))
        .route("/dl/{path...}", named("dl"))
        .route("/", named("root"));
    assert_eq!(
        served_by(&mux, "GET", "/caf%c3%a9/J%C3%BCrgen%20K").await,
        "cafe name=Jürgen K"
    );
    assert_eq!(served_by(&mux, "GET", "/a%2fb").await, "encoded-slash");
    assert_eq!(served_by(&mux, "GET", "/a/b").await, "root");
    assert_eq!(
        served_by(&mux, "GET", "/dl/x%20y/z%2Fw").await,
        "dl path=x y/z/w"
    );
    // Malformed escapes match nothing special and are passed through as sent.
    assert_eq!(
        served_by(&mux, "GET", "/caf%C3%A9/100%").await,
        "cafe name=100%"
    );
    assert_eq!(served_by(&mux, "GET", "/caf%/x").await, "root");
}

#[tokio::test]
async fn handlers_read_path_values() {
    let mux = ServeMux::new().route(
        "GET /users/{user}/posts/{post}",
        |req: HttpRequest| async move {
            let user = req.path_value("user").unwrap().to_owned();
            let post = nethttp::mux::path_value(&req, "post").unwrap().to_owned();
            let none = req.path_value("nope");
            text_response(StatusCode::OK, format!("{user}/{post}/{none:?}"))
        },
    );
    assert_eq!(
        served_by(&mux, "GET", "/users/ann/posts/7").await,
        "ann/7/None"
    );
}

#[tokio::test]
async fn nested_muxes_and_boxed_handlers() {
    let api = ServeMux::new()
        .route("GET /api/v1/users/{id}", named("user"))
        .route("/api/v1/health", named("health"));
    let boxed: Box<dyn DynHandler> = Box::new(named("boxed"));
    let mux = ServeMux::new()
        .route("/api/{version}/", api)
        .route("/boxed", boxed)
        .route("/", named("root"));
    assert_eq!(served_by(&mux, "GET", "/api/v1/users/3").await, "user id=3");
    // The inner pattern has no wildcards: the outer `{version}` is not passed on.
    assert_eq!(served_by(&mux, "GET", "/api/v1/health").await, "health");
    assert_eq!(served_by(&mux, "GET", "/api/v2/x").await, "404");
    assert_eq!(served_by(&mux, "GET", "/boxed").await, "boxed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_across_tasks() {
    let mux = Arc::new(ServeMux::new().route("GET /n/{n}", named("n")));
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let mux = mux.clone();
            tokio::spawn(async move {
                let req = Request::get(format!("/n/{i}")).body(Body::empty()).unwrap();
                let body = mux
                    .call(req)
                    .await
                    .into_body()
                    .to_bytes(1024)
                    .await
                    .unwrap();
                assert_eq!(body, format!("n n={i}"));
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test]
async fn odd_requests_never_panic() {
    let mux = ServeMux::new()
        .route("/", named("root"))
        .route("GET /a/{x}/{rest...}", named("a"))
        .route("POST /b/{$}", named("b"))
        .route("example.com/c/", named("c"))
        .route("CONNECT /", named("connect"));
    let paths = [
        "/",
        "//",
        "///",
        "/%",
        "/%%",
        "/%zz",
        "/%ff/%fe",
        "/a/%",
        "/a/%2",
        "/a/x/%00",
        "/.",
        "/..",
        "/./..",
        "/a/..",
        "/b",
        "/b/",
        "/c",
        "/a/%2F/..",
        "*",
        "/?",
        "/?a=%",
        "/a/b/c?x",
    ];
    let hosts = [
        None,
        Some(""),
        Some(":"),
        Some("["),
        Some("[::1]:x"),
        Some("EXAMPLE.com:"),
        Some("a:b:c"),
        Some("\u{e9}.com"),
        Some("example.com:99999999999"),
    ];
    let methods = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::CONNECT,
        Method::OPTIONS,
    ];
    for path in paths {
        for host in hosts {
            for method in &methods {
                let r = send_host(&mux, method.as_str(), path, host).await;
                assert!(
                    r.status.as_u16() < 500,
                    "{method} {path} {host:?}: {}",
                    r.status
                );
            }
        }
    }
    for method in &methods {
        let r = send(&mux, method.as_str(), "example.com:443").await;
        assert!(
            r.status.as_u16() < 500,
            "{method} authority-form: {}",
            r.status
        );
    }
    assert_eq!(
        send(&mux, "OPTIONS", "*").await.status,
        StatusCode::BAD_REQUEST
    );
}
