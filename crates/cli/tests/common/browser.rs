//! Headless Chromium for the CLI's tests, driven over the DevTools protocol: `Browser`
//! starts it in a process group and a profile of its own (both gone at drop), `Cdp` is a
//! session that sends commands, waits (bounded) for their answers and keeps the events,
//! accepts dialogs and can answer the page's fetches with a body of the test's.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use nethttp::websocket::{Message, WebSocket};
use serde_json::{json, Value};

/// Bound on each wait for a page to show something.
pub const STEP: Duration = Duration::from_secs(5);
/// Bound on the browser starting, and on one DevTools command being answered.
pub const CALL: Duration = Duration::from_secs(10);

/// Headless Chromium in a process group of its own and a profile of its own, both gone when
/// the test ends.
pub struct Browser {
    child: Child,
    /// Its standard error, for failure messages.
    log: Arc<Mutex<String>>,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts `exe` on `about:blank` with DevTools on an ephemeral loopback port, and
    /// returns it with the browser's DevTools WebSocket URL (from its `DevTools listening
    /// on` line).
    pub fn launch(exe: &Path) -> (Browser, String) {
        let profile = tempfile::tempdir().expect("profile dir");
        let child = Command::new(exe)
            .args([
                "--headless=new",
                // Containers (and root) cannot run Chromium's sandbox; the browser loads only
                // our loopback page.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-extensions",
                "--disable-sync",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            // Its renderers and helpers join the group, so one kill ends them all.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn chromium");
        let mut browser = Browser {
            child,
            log: Arc::default(),
            _profile: profile,
        };
        let stderr = browser.child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn({
            let log = browser.log.clone();
            // Reads until the browser closes stderr, so it never blocks on a full pipe.
            move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    log.lock().unwrap().push_str(&format!("{line}\n"));
                    if let Some((_, url)) = line.split_once("DevTools listening on ") {
                        let _ = tx.send(url.trim().to_owned());
                    }
                }
            }
        });
        match rx.recv_timeout(CALL) {
            Ok(url) => (browser, url),
            Err(_) => panic!(
                "no `DevTools listening on` line within {CALL:?}; stderr:\n{}",
                browser.log.lock().unwrap()
            ),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: kill(2) on the process group of our own child (it leads it); no memory is
        // involved.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// A DevTools protocol session: commands answered in order of ids, events kept as they
/// arrive while waiting for answers.
pub struct Cdp {
    ws: WebSocket,
    next_id: u64,
    /// The page's session (flat mode), once attached; commands without it go to the browser.
    pub session: Option<String>,
    pub events: Vec<Value>,
    /// Messages of JavaScript dialogs the page opened (each accepted at once).
    pub dialogs: Vec<String>,
    /// While `Fetch` is enabled: the body (base64) every paused request is answered with.
    pub forged: Option<String>,
}

impl Cdp {
    pub async fn connect(url: &str) -> Cdp {
        let (ws, _) = tokio::time::timeout(CALL, nethttp::websocket::connect(url))
            .await
            .expect("DevTools handshake within bound")
            .expect("DevTools handshake");
        Cdp {
            ws,
            next_id: 0,
            session: None,
            events: Vec::new(),
            dialogs: Vec::new(),
            forged: None,
        }
    }

    /// Opens a blank page, makes this session the page's, and enables the `domains`
    /// (`Page`, `Runtime`, ...) whose events the test wants.
    pub async fn open_page(&mut self, domains: &[&str]) {
        let target = self
            .call("Target.createTarget", json!({ "url": "about:blank" }))
            .await["targetId"]
            .clone();
        let session = self
            .call(
                "Target.attachToTarget",
                json!({ "targetId": target, "flatten": true }),
            )
            .await["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        self.session = Some(session);
        for domain in domains {
            self.call(&format!("{domain}.enable"), json!({})).await;
        }
    }

    pub async fn send(&mut self, method: &str, params: Value) -> u64 {
        self.next_id += 1;
        let mut msg = json!({ "id": self.next_id, "method": method, "params": params });
        if let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(Message::text(msg.to_string()))
            .await
            .expect("send to DevTools");
        self.next_id
    }

    /// Sends `method` and waits (bounded) for its result; an error answer fails the test.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.send(method, params).await;
        let deadline = tokio::time::Instant::now() + CALL;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("no answer to {method} within {CALL:?}"))
                .expect("DevTools socket closed")
                .expect("DevTools socket");
            let Message::Text(text) = msg else { continue };
            let v: Value = serde_json::from_str(text.as_str()).expect("DevTools sends JSON");
            if v["id"] == json!(id) {
                if let Some(e) = v.get("error") {
                    panic!("{method} failed: {e}");
                }
                return v["result"].clone();
            }
            if v.get("method").is_some() {
                self.event(v).await;
            }
        }
    }

    async fn event(&mut self, v: Value) {
        if v["method"] == "Page.javascriptDialogOpening" {
            self.dialogs
                .push(v["params"]["message"].as_str().unwrap_or("").to_owned());
            // Left open, it would stop the page; the answer is not waited for.
            self.send("Page.handleJavaScriptDialog", json!({ "accept": true }))
                .await;
        }
        if v["method"] == "Fetch.requestPaused" {
            let id = v["params"]["requestId"].clone();
            match self.forged.clone() {
                Some(body) => {
                    let headers = [json!({ "name": "content-type", "value": "application/json" })];
                    let answer = json!({
                        "requestId": id, "responseCode": 200,
                        "responseHeaders": headers, "body": body,
                    });
                    self.send("Fetch.fulfillRequest", answer).await
                }
                None => {
                    self.send("Fetch.continueRequest", json!({ "requestId": id }))
                        .await
                }
            };
        }
        self.events.push(v);
    }

    /// The value of `expr` in the page; what it threw, if it did.
    pub async fn try_eval(&mut self, expr: &str) -> Result<Value, Value> {
        let mut r = self
            .call(
                "Runtime.evaluate",
                // A promise is awaited: `fetch(...).then(...)` gives its value.
                json!({ "expression": expr, "returnByValue": true, "awaitPromise": true }),
            )
            .await;
        match r.get_mut("exceptionDetails") {
            Some(ex) => Err(ex.take()),
            None => Ok(r["result"]["value"].take()),
        }
    }

    /// The value of `expr` in the page, which must not throw.
    pub async fn eval(&mut self, expr: &str) -> Value {
        self.try_eval(expr)
            .await
            .unwrap_or_else(|ex| panic!("evaluating {expr} threw: {ex}"))
    }

    /// Polls `expr` until it is `true`, at most [`STEP`]; returns how long that took. It
    /// may throw meanwhile (the page not loaded yet).
    pub async fn wait_for(&mut self, expr: &str, what: &str) -> Duration {
        let start = Instant::now();
        loop {
            let got = self.try_eval(expr).await;
            if got == Ok(json!(true)) {
                return start.elapsed();
            }
            if start.elapsed() > STEP {
                let text = self.try_eval("document.body.innerText").await;
                panic!(
                    "{what}: not within {STEP:?} (last {got:?}); the page shows:\n{}",
                    text.as_ref().ok().and_then(Value::as_str).unwrap_or("?")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The events named `method` received so far (their `params`).
    pub fn events(&self, method: &str) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|e| e["method"] == method)
            .map(|e| &e["params"])
            .collect()
    }

    /// Console and log messages that mention the Content-Security-Policy.
    pub fn csp_messages(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .events("Log.entryAdded")
            .into_iter()
            .filter_map(|p| p["entry"]["text"].as_str())
            .filter(|t| t.contains("Content Security Policy"))
            .map(str::to_owned)
            .collect();
        out.extend(
            self.events("Runtime.consoleAPICalled")
                .into_iter()
                .map(|p| p["args"].to_string())
                .filter(|t| t.contains("Content Security Policy")),
        );
        out
    }
}

/// `s` as a JavaScript string literal.
pub fn js(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}
