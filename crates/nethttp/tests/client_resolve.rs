//! Name resolution in the client: `resolve(host, addr)` overrides (curl's `--resolve`: only
//! for that host and port, the URL's host kept for `Host` and TLS), a custom `Resolve` asked
//! once per new connection and never for IP literals, and what a resolver's failures become
//! (typed errors), against raw loopback servers and our TLS server.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::dial::{client, get, LIMIT};
use common::script::{answering, ok};
use common::unix_peers::within;
use nethttp::http::{StatusCode, Version};
use nethttp::net::{Resolve, Resolving};
use nethttp::{text_response, ClientTls, ErrorKind, HttpRequest, Server, ServerTls};

/// Answers every name with `127.0.0.1` on the port asked, recording each question.
#[derive(Default)]
struct Loopback {
    asked: Mutex<Vec<(String, u16)>>,
}

impl Resolve for Loopback {
    fn resolve<'a>(&'a self, host: &'a str, port: u16) -> Resolving<'a> {
        self.asked.lock().unwrap().push((host.to_owned(), port));
        Box::pin(async move { Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))]) })
    }
}

impl Loopback {
    fn asked(&self) -> Vec<(String, u16)> {
        self.asked.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn an_override_reaches_its_address_with_the_urls_host() {
    let s = answering(ok("hi")).await;
    let port = s.addr().port();
    let c = client(|t| t.resolve("example.test", s.addr()));
    let (status, _, body) = get(&c, &format!("http://example.test:{port}/p")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "hi"));
    // Host names compare without case.
    get(&c, &format!("http://EXAMPLE.test:{port}/q")).await;
    let reqs = s.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[0].header("host"),
        Some(&*format!("example.test:{port}"))
    );
    assert_eq!(
        reqs[1].header("host"),
        Some(&*format!("EXAMPLE.test:{port}"))
    );
    assert_eq!(
        s.accepted(),
        1,
        "both names are one pool key, one connection"
    );
}

#[tokio::test]
async fn an_override_for_another_port_does_not_apply() {
    let overridden = answering(ok("override")).await;
    let resolved = answering(ok("resolver")).await;
    let resolver = Arc::new(Loopback::default());
    let c = client(|t| {
        t.resolver(resolver.clone())
            .resolve("example.test", overridden.addr())
    });
    let other = resolved.addr().port();
    let (_, _, body) = get(&c, &format!("http://example.test:{other}/")).await;
    assert_eq!(body, "resolver", "the override is for another port");
    assert_eq!(resolver.asked(), [("example.test".to_owned(), other)]);
    let port = overridden.addr().port();
    let (_, _, body) = get(&c, &format!("http://example.test:{port}/")).await;
    assert_eq!(body, "override");
    assert_eq!(
        resolver.asked().len(),
        1,
        "an override is answered without asking"
    );
    assert_eq!((overridden.accepted(), resolved.accepted()), (1, 1));
}

#[tokio::test]
async fn overridden_addresses_fall_back_in_order() {
    let s = answering(ok("second")).await;
    let port = s.addr().port();
    // Nothing listens on 127.0.0.2 at this port: refused, the next address is tried at once.
    let dead = SocketAddr::from(([127, 0, 0, 2], port));
    let c = client(|t| {
        t.resolve("example.test", dead)
            .resolve("example.test", s.addr())
    });
    let (_, _, body) = get(&c, &format!("http://example.test:{port}/")).await;
    assert_eq!(body, "second");
}

#[tokio::test]
async fn a_custom_resolver_is_asked_once_per_new_connection_and_never_for_ip_literals() {
    let s = answering(ok("hi")).await;
    let port = s.addr().port();
    let resolver = Arc::new(Loopback::default());
    let c = client(|t| t.resolver(resolver.clone()));
    for _ in 0..3 {
        get(&c, &format!("http://svc.internal:{port}/")).await;
    }
    assert_eq!(resolver.asked(), [("svc.internal".to_owned(), port)]);
    assert_eq!(s.accepted(), 1);
    get(&c, &format!("http://127.0.0.1:{port}/")).await;
    assert_eq!(resolver.asked().len(), 1, "an IP literal is not resolved");
    assert_eq!(
        s.requests()[0].header("host"),
        Some(&*format!("svc.internal:{port}"))
    );
}

/// A resolver answering every question the same way.
struct Answer(fn() -> Option<std::io::Result<Vec<SocketAddr>>>);

impl Resolve for Answer {
    fn resolve<'a>(&'a self, _host: &'a str, _port: u16) -> Resolving<'a> {
        let answer = (self.0)();
        Box::pin(async move {
            match answer {
                Some(a) => a,
                None => std::future::pending().await,
            }
        })
    }
}

#[tokio::test]
async fn what_a_resolver_fails_with_becomes_a_typed_error() {
    let empty = client(|t| t.resolver(Answer(|| Some(Ok(Vec::new())))));
    let err = within("empty", LIMIT, empty.get("http://nothing.test/").send())
        .await
        .expect_err("no address");
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    assert!(err.is_connect());
    let cause = std::error::Error::source(&err).map(ToString::to_string);
    assert_eq!(cause.as_deref(), Some("no usable address for nothing.test"));

    let failing = client(|t| {
        t.resolver(Answer(|| {
            Some(Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such host",
            )))
        }))
    });
    let err = within("error", LIMIT, failing.get("http://nothing.test/").send())
        .await
        .expect_err("resolution failed");
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");

    // The connect timeout covers resolution.
    let silent = client(|t| {
        t.resolver(Answer(|| None))
            .connect_timeout(Duration::from_millis(200))
    });
    let err = within("silent", LIMIT, silent.get("http://nothing.test/").send())
        .await
        .expect_err("resolution never ends");
    assert_eq!(err.kind(), ErrorKind::ConnectTimeout, "{err}");
}

/// A certificate naming only `example.test`, and a TLS server with it on loopback.
async fn example_test_server() -> (String, nethttp::ServerHandle) {
    let made = rcgen::generate_simple_self_signed(vec!["example.test".into()]).expect("rcgen");
    let (cert, key) = (made.cert.pem(), made.signing_key.serialize_pem());
    let tls = ServerTls::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
    let server = Server::new().tls(tls);
    let listener = server.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let handle = server.serve(listener, |req: HttpRequest| async move {
        let host = req.uri().authority().map(|a| a.to_string());
        text_response(StatusCode::OK, host.unwrap_or_default())
    });
    (cert, handle)
}

#[tokio::test]
async fn tls_to_an_overridden_host_verifies_the_urls_host() {
    let (cert, handle) = example_test_server().await;
    let addr = handle.local_addr();
    let port = addr.port();
    let tls = || ClientTls::with_only_roots_pem(cert.as_bytes()).unwrap();
    let c = client(|t| t.tls(tls()).resolve("example.test", addr));
    let (status, version, body) = get(&c, &format!("https://example.test:{port}/")).await;
    assert_eq!((status, version), (StatusCode::OK, Version::HTTP_2));
    assert_eq!(body, format!("example.test:{port}"), "the authority sent");
    // The same address by its IP is checked against the IP, which the certificate lacks.
    let err = within(
        "by IP",
        LIMIT,
        c.get(format!("https://127.0.0.1:{port}/")).send(),
    )
    .await
    .expect_err("the certificate names example.test only");
    assert_eq!(err.kind(), ErrorKind::Certificate, "{err}");
}
