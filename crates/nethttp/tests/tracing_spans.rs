//! The server's `tracing` spans as a subscriber sees them: one `http.connection` per
//! connection (client address, protocol version once known, TLS) and one `http.request` per
//! request under it (method, path, query, version, the mux's route pattern, the status),
//! over HTTP/1.1 and HTTP/2, with OpenTelemetry's HTTP attribute names. Its own binary: the
//! subscriber is the process's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use nethttp::mux::ServeMux;
use nethttp::{Client, HttpRequest, Server};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// A span as recorded: its name, fields, and its parent's index in the list.
#[derive(Debug, Clone, Default)]
struct Seen {
    name: &'static str,
    fields: HashMap<String, String>,
    parent: Option<usize>,
    closed: bool,
}

#[derive(Clone, Default)]
struct Recorder {
    spans: Arc<Mutex<Vec<Seen>>>,
    /// Span id → index in `spans`.
    ids: Arc<Mutex<HashMap<u64, usize>>>,
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_owned(),
            format!("{value:?}").trim_matches('"').to_owned(),
        );
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !attrs.metadata().name().starts_with("http.") {
            return;
        }
        let mut seen = Seen {
            name: attrs.metadata().name(),
            ..Seen::default()
        };
        attrs.record(&mut Fields(&mut seen.fields));
        let parent = attrs
            .parent()
            .cloned()
            .or_else(|| ctx.current_span().id().cloned());
        let ids = self.ids.lock().unwrap();
        seen.parent = parent.and_then(|p| ids.get(&p.into_u64()).copied());
        drop(ids);
        let mut spans = self.spans.lock().unwrap();
        spans.push(seen);
        self.ids
            .lock()
            .unwrap()
            .insert(id.into_u64(), spans.len() - 1);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        if let Some(&i) = self.ids.lock().unwrap().get(&id.into_u64()) {
            values.record(&mut Fields(&mut self.spans.lock().unwrap()[i].fields));
        }
    }

    fn on_close(&self, id: Id, _ctx: Context<'_, S>) {
        if let Some(i) = self.ids.lock().unwrap().remove(&id.into_u64()) {
            self.spans.lock().unwrap()[i].closed = true;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_and_requests_have_spans_with_http_attributes() {
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let mut mux = ServeMux::new();
    mux.handle("GET /items/{id}", |req: HttpRequest| async move {
        format!("item {}", req.uri().path())
    })
    .unwrap();
    let server = Server::new();
    let listener = server.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let handle = server.serve(listener, mux);
    let addr = handle.local_addr();

    let h1 = Client::builder()
        .transport(|t| t.no_proxy())
        .build()
        .unwrap();
    let r = h1
        .get(format!("http://{addr}/items/7?full=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.into_body().to_bytes(64).await.unwrap();
    let h2 = Client::builder()
        .transport(|t| t.no_proxy().http2_prior_knowledge(true))
        .build()
        .unwrap();
    let r = h2
        .get(format!("http://{addr}/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    r.into_body().to_bytes(64).await.unwrap();
    h1.transport().close_idle_connections();
    h2.transport().close_idle_connections();
    // Both connections close, and their spans with them.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while handle.live_connections() > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;

    let spans = recorder.spans.lock().unwrap().clone();
    let conns: Vec<&Seen> = spans
        .iter()
        .filter(|s| s.name == "http.connection")
        .collect();
    let reqs: Vec<&Seen> = spans.iter().filter(|s| s.name == "http.request").collect();
    assert_eq!((conns.len(), reqs.len()), (2, 2), "{spans:#?}");
    for c in &conns {
        assert_eq!(c.fields["client.address"], "127.0.0.1", "{c:?}");
        assert!(c.closed, "a closed connection's span is closed: {c:?}");
    }

    let get = reqs
        .iter()
        .find(|r| r.fields["url.path"] == "/items/7")
        .expect("the HTTP/1.1 request");
    assert_eq!(get.fields["http.request.method"], "GET");
    assert_eq!(get.fields["url.query"], "full=1");
    assert_eq!(get.fields["http.route"], "GET /items/{id}");
    assert_eq!(get.fields["http.response.status_code"], "200");
    assert_eq!(get.fields["network.protocol.version"], "HTTP/1.1");
    let parent = &spans[get.parent.expect("under its connection")];
    assert_eq!(parent.name, "http.connection");
    assert_eq!(parent.fields["network.protocol.version"], "1.1");
    assert_eq!(parent.fields["tls"], "false");

    let missing = reqs
        .iter()
        .find(|r| r.fields["url.path"] == "/nothing")
        .expect("the HTTP/2 request");
    assert_eq!(missing.fields["http.response.status_code"], "404");
    assert!(
        !missing.fields.contains_key("http.route"),
        "no pattern matched"
    );
    assert_eq!(missing.fields["network.protocol.version"], "HTTP/2.0");
    let parent = &spans[missing.parent.expect("under its connection")];
    assert_eq!(parent.fields["network.protocol.version"], "2");
    assert!(reqs.iter().all(|r| r.closed), "{reqs:#?}");
}
