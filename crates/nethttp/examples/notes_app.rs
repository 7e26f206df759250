//! A small notes app on nethttp's handler batteries together: a form read with a limit into a
//! serde type (`?` answers 400/413/415), shared state without an `Arc` clone per request
//! (`with_state`), a JSON list, static files under a prefix (`FileServer` + `strip_prefix`),
//! a cookie, server-sent events through `ResponseWriter`, and a timeout around the slow route.
//!
//!   cargo run -p nethttp --example notes_app                 # serves 127.0.0.1:8080
//!   cargo run -p nethttp --example notes_app -- --self-test  # a free port, asks every route, exits

use std::sync::{Arc, Mutex};
use std::time::Duration;

use nethttp::cookie::{Cookie, SameSite};
use nethttp::fs::FileServer;
use nethttp::http::{header, StatusCode};
use nethttp::request::RequestExt;
use nethttp::response_writer::{sse_event, ResponseWriter};
use nethttp::wrap::{max_bytes, strip_prefix, timeout_handler, with_state};
use nethttp::{json, redirect, Error, HttpRequest, HttpResponse, IntoResponse, ServeMux, Server};

#[derive(Default)]
struct Notes {
    list: Mutex<Vec<Note>>,
}

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Note {
    title: String,
}

impl Notes {
    /// `POST /notes` with a form: stored, then 303 to the list (Post/Redirect/Get).
    async fn add(&self, mut req: HttpRequest) -> HttpResponse {
        let added: Result<HttpResponse, Error> = async {
            let note: Note = req.form(4096).await?;
            self.list
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(note);
            let mut resp = redirect("/notes", StatusCode::SEE_OTHER);
            let cookie = Cookie::build(("last", "added"))
                .path("/")
                .http_only(true)
                .same_site(SameSite::Lax)
                .build();
            nethttp::cookie::set_cookie(resp.headers_mut(), &cookie)?;
            Ok(resp)
        }
        .await;
        added.into_response()
    }

    /// `GET /notes`: the list as JSON.
    async fn list(&self, _req: HttpRequest) -> HttpResponse {
        let list = self.list.lock().unwrap_or_else(|p| p.into_inner()).clone();
        json(StatusCode::OK, &list)
    }

    /// `GET /events`: the notes as server-sent events, each flushed as it is written.
    async fn events(&self, _req: HttpRequest) -> HttpResponse {
        let titles: Vec<String> = self
            .list
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|n| n.title.clone())
            .collect();
        let mut resp = ResponseWriter::stream(|mut w| async move {
            for t in titles {
                w.write(sse_event("note", &t)).await?;
                w.flush().await?;
            }
            Ok(())
        });
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("text/event-stream"),
        );
        resp
    }
}

fn app(static_dir: &std::path::Path) -> std::io::Result<ServeMux> {
    let notes = Arc::new(Notes::default());
    Ok(ServeMux::new()
        .route(
            "POST /notes",
            max_bytes(
                with_state(notes.clone(), async |n: &Arc<Notes>, req| n.add(req).await),
                4096,
            ),
        )
        .route(
            "GET /notes",
            with_state(notes.clone(), async |n: &Arc<Notes>, req| n.list(req).await),
        )
        .route(
            "GET /events",
            timeout_handler(
                with_state(notes, async |n: &Arc<Notes>, req| n.events(req).await),
                Duration::from_secs(5),
                "too slow",
            ),
        )
        .route(
            "/static/",
            strip_prefix("/static", FileServer::new(static_dir)?.listing(false)),
        ))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let self_test = std::env::args().any(|a| a == "--self-test");
    let dir = std::env::temp_dir().join(format!("nethttp-notes-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("readme.txt"), "notes app\n")?;
    let server = Server::new();
    let addr = if self_test {
        "127.0.0.1:0"
    } else {
        "127.0.0.1:8080"
    };
    let handle = server.serve(server.bind(addr.parse()?)?, app(&dir)?);
    println!("listening on {}", handle.local_addr());
    if !self_test {
        tokio::signal::ctrl_c().await?;
        handle.shutdown(Duration::from_secs(10)).await;
        std::fs::remove_dir_all(&dir)?;
        return Ok(());
    }

    let base = format!("http://{}", handle.local_addr());
    let client = nethttp::Client::new();
    // The form is stored; the 303 is followed to the JSON list.
    let res = client
        .post(format!("{base}/notes"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("title=hello+world")
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.into_body().to_bytes(1 << 16).await?;
    assert_eq!(body, r#"[{"title":"hello world"}]"#);
    // Over the route's limit: 413; not a form: 415.
    let big = format!("title={}", "x".repeat(8192));
    let res = client
        .post(format!("{base}/notes"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let res = client
        .post(format!("{base}/notes"))
        .header("content-type", "text/plain")
        .body("title=x")
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Events, static files, and a dotfile-free listing refusal.
    let events = client.get(format!("{base}/events")).send().await?;
    let events = events.into_body().to_bytes(1 << 16).await?;
    assert_eq!(events, "event: note\ndata: hello world\n\n");
    let file = client
        .get(format!("{base}/static/readme.txt"))
        .send()
        .await?;
    assert_eq!(file.into_body().to_bytes(1024).await?, "notes app\n");
    let listing = client.get(format!("{base}/static/")).send().await?;
    assert_eq!(listing.status(), StatusCode::FORBIDDEN);
    handle.shutdown(Duration::from_secs(5)).await;
    std::fs::remove_dir_all(&dir)?;
    println!("notes app: every route answered as expected");
    Ok(())
}
