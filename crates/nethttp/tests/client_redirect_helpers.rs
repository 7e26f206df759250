//! Where redirects led, and policies that edit the next request: `ResponseExt::final_url`
//! and `redirects` after nginx's 301 and 302 (RFC 9110 §15.4) and our own server's 307,
//! nothing recorded when no redirect was followed, and `redirect::Policy::custom` changing
//! the next request's URL, method and headers (Go's `CheckRedirect(req, via)`), seen by
//! Python's `http.server` (`tests/peers/echo_request.py`).
//!
//! nginx (on `PATH` or in /usr/sbin) and python3 are found by the CI rule: missing under
//! `CI=true` fails the test, elsewhere it is skipped with a note.

mod common;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::echo_peer::EchoPeer;
use common::peers::peer;
use common::script::bounded;
use common::wire::start;
use nethttp::client::redirect::{Action, Policy};
use nethttp::client::ResponseExt;
use nethttp::http::header::AUTHORIZATION;
use nethttp::http::{Method, StatusCode, Uri};
use nethttp::{redirect, text_response, Client, HttpRequest, Server};
use serde_json::{json, Value};

/// One nginx (`master_process off`) with a chain of redirects: `/old` 301 → `/mid` 302 →
/// `/final` 200, `/to-gone` 302 → `/gone` 503; killed and its directory removed on drop.
struct Nginx {
    _child: tokio::process::Child,
    dir: PathBuf,
    port: u16,
}

impl Nginx {
    async fn start() -> Option<Nginx> {
        let bin = peer(
            "nginx",
            "-v",
            &["/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"],
        )?;
        let dir = std::env::temp_dir().join(format!("nethttp-redirects-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (child, port) = common::peers::nginx_on_free_port(&bin, &dir, |port| {
            format!(
                r#"
    access_log off;
    server {{
        listen 127.0.0.1:{port};
        location = /old {{ return 301 /mid; }}
        location = /mid {{ return 302 /final; }}
        location = /final {{ return 200 "final"; }}
        location = /to-gone {{ return 302 /gone; }}
        location = /gone {{ return 503; }}
    }}
"#
            )
        })
        .await;
        Some(Nginx {
            _child: child,
            dir,
            port,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn strings(urls: &[Uri]) -> Vec<String> {
    urls.iter().map(Uri::to_string).collect()
}

#[tokio::test]
async fn final_url_and_chain_after_nginx_redirects() {
    let Some(nginx) = Nginx::start().await else {
        return;
    };
    let c = Client::new();
    let res = bounded("GET", c.get(nginx.url("/old")).send())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.final_url().map(Uri::to_string),
        Some(nginx.url("/final"))
    );
    assert_eq!(
        strings(res.redirects()),
        [nginx.url("/old"), nginx.url("/mid")]
    );
    assert_eq!(res.text(64).await.unwrap(), "final");

    // No redirect followed: nothing recorded.
    let res = bounded("GET", c.get(nginx.url("/final")).send())
        .await
        .unwrap();
    assert_eq!((res.final_url(), res.redirects().len()), (None, 0));
    assert!(res.extensions().is_empty());
    let never = Client::builder().redirect(Policy::none()).build().unwrap();
    let res = bounded("GET", never.get(nginx.url("/old")).send())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!((res.final_url(), res.redirects().len()), (None, 0));

    // A policy that stops: the redirect response, answered by the URL that sent it.
    let stop_at_final = Client::builder()
        .redirect(Policy::custom(|a| {
            if a.next.path() == "/final" {
                Action::Stop
            } else {
                Action::Follow
            }
        }))
        .build()
        .unwrap();
    let res = bounded("GET", stop_at_final.get(nginx.url("/old")).send())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(res.final_url().map(Uri::to_string), Some(nginx.url("/mid")));
    assert_eq!(strings(res.redirects()), [nginx.url("/old")]);

    // error_for_status after redirects names the URL that answered 503.
    let res = bounded("GET", c.get(nginx.url("/to-gone")).send())
        .await
        .unwrap();
    let err = res.error_for_status().unwrap_err();
    assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(err.url().map(Uri::to_string), Some(nginx.url("/gone")));
}

/// A 307 keeps method and body (RFC 9110 §15.4.8); the chain is recorded the same way.
#[tokio::test]
async fn a_307_chain_keeps_the_body_and_is_recorded() {
    let h = start(Server::new(), |req: HttpRequest| async move {
        match req.uri().path() {
            "/a" => redirect("/b", StatusCode::TEMPORARY_REDIRECT),
            "/b" => redirect("/c", StatusCode::PERMANENT_REDIRECT),
            _ => {
                let method = req.method().clone();
                let body = req.into_body().text(64).await.unwrap();
                text_response(StatusCode::OK, format!("{method} {body}"))
            }
        }
    });
    let base = format!("http://{}", h.local_addr());
    let res = bounded(
        "POST",
        Client::new()
            .post(format!("{base}/a"))
            .body("payload")
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(
        strings(res.redirects()),
        [format!("{base}/a"), format!("{base}/b")]
    );
    assert_eq!(
        res.final_url().map(Uri::to_string),
        Some(format!("{base}/c"))
    );
    assert_eq!(res.text(64).await.unwrap(), "POST payload");
    h.shutdown(Duration::from_secs(1)).await;
}

/// What the policy saw of each attempt.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    status: u16,
    next: String,
    method: Method,
    had_authorization: bool,
    previous: Vec<String>,
}

/// The policy holds the next request: it sees it as the client prepared it (GET after a 302,
/// credentials dropped for another host), and what it leaves is what is sent — here another
/// path, another method, a header of its own, and the token put back for a host it trusts.
#[tokio::test]
async fn a_policy_edits_the_next_request() {
    let Some(peer) = EchoPeer::start().await else {
        return;
    };
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = seen.clone();
    let client = Client::builder()
        .redirect(Policy::custom(move |a| {
            log.lock().unwrap().push(Seen {
                status: a.status.as_u16(),
                next: a.next.to_string(),
                method: a.method.clone(),
                had_authorization: a.headers.contains_key(AUTHORIZATION),
                previous: strings(a.previous),
            });
            if a.next.host() == Some("localhost") {
                let rewritten = a.next.to_string().replace("/wrong", "/echo/rewritten");
                *a.next = rewritten.parse().unwrap();
                *a.method = Method::PUT;
                a.headers
                    .insert(AUTHORIZATION, "Bearer for-localhost".parse().unwrap());
                a.headers.insert("x-hop", a.previous.len().into());
            }
            Action::Follow
        }))
        .build()
        .unwrap();
    // 127.0.0.1 and localhost are different hosts to the client.
    let next = format!("http://localhost:{}/wrong?k=v", peer.port());
    let first = peer.url(&format!(
        "/redirect?to={}",
        next.replace('?', "%3F").replace('=', "%3D")
    ));
    let res = bounded(
        "POST",
        client
            .post(&first)
            .bearer_auth("for-127")
            .body("form")
            .send(),
    )
    .await
    .unwrap();
    let rewritten = format!("http://localhost:{}/echo/rewritten?k=v", peer.port());
    assert_eq!(res.final_url().map(Uri::to_string), Some(rewritten));
    assert_eq!(strings(res.redirects()), std::slice::from_ref(&first));
    let v: Value = res.json(1 << 20).await.unwrap();
    assert_eq!(v["method"], "PUT");
    assert_eq!(v["path"], "/echo/rewritten");
    assert_eq!(v["query"], json!([["k", "v"]]));
    assert_eq!(
        v["auth"],
        json!({"scheme": "Bearer", "token": "for-localhost"})
    );
    assert_eq!(v["headers"]["x-hop"], json!(["1"]));
    // The body went with the 302's change to GET, whatever method the policy set.
    assert_eq!(v["body_size"], 0);
    assert_eq!(
        *seen.lock().unwrap(),
        [Seen {
            status: 302,
            next,
            method: Method::GET,
            had_authorization: false,
            previous: vec![first],
        }]
    );

    // Without the policy, the token stays with its host.
    let v: Value = bounded(
        "GET",
        Client::new()
            .get(peer.url(&format!(
                "/redirect?to=http://localhost:{}/echo",
                peer.port()
            )))
            .bearer_auth("for-127")
            .send(),
    )
    .await
    .unwrap()
    .json(1 << 20)
    .await
    .unwrap();
    assert_eq!(v["auth"], Value::Null);
}

#[tokio::test]
async fn a_policy_error_is_a_redirect_error() {
    let h = start(Server::new(), |_req: HttpRequest| async {
        redirect("/elsewhere", StatusCode::FOUND)
    });
    let c = Client::builder()
        .redirect(Policy::custom(|_| Action::Error))
        .build()
        .unwrap();
    let url = format!("http://{}/start", h.local_addr());
    let err = bounded("GET", c.get(&url).send()).await.unwrap_err();
    assert!(err.is_redirect(), "{err:?}");
    assert_eq!(err.url().map(Uri::to_string), Some(url.clone()));
    assert_eq!(
        err.to_string(),
        format!("GET {url}: the redirect policy refused to follow")
    );
    h.shutdown(Duration::from_secs(1)).await;
}
