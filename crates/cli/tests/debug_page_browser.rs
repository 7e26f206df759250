//! The live connections page of `nethttp serve --debug-addr` in a real headless Chromium,
//! driven over the DevTools protocol: the page renders and keeps polling, a connection's row
//! appears while it holds a request and goes when it closes, hostile request targets (and
//! markup in every field of a forged JSON document, since the server refuses `<` in a target)
//! are shown as text (no element made, no script run, no CSP violation; the proxy
//! upstreams' table included), and the browser
//! loads nothing but the page, its own script and its JSON, under a policy it enforces.
//!
//! Chromium (Debian's `chromium`) is an interop peer: missing, the test is skipped, or fails
//! under `CI=true`.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::process::Command;

use serde_json::json;

use common::browser::{js, Browser, Cdp};
use common::peers::peer;
use common::Served;

/// The policy the page is served with (`nethttp::debug`).
const CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; \
                   style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; \
                   form-action 'none'";

/// Installed before any of the page's own script runs: records every CSP violation the
/// document reports, and turns the dialogs an injected script would open into a flag.
const TRAPS: &str = r#"
window.__pwned = false;
window.__violations = [];
document.addEventListener("securitypolicyviolation",
  e => window.__violations.push(e.effectiveDirective + " " + e.blockedURI + " " + e.sample));
window.alert = window.confirm = window.prompt = () => { window.__pwned = true; };
"#;

/// A request target as hostile as the server lets through raw (it refuses `<`, `>` and `"`
/// with 400): quotes, and entities that markup would decode into an element.
const HOSTILE: &str = "/delay/30000?a='1'&b=&amp;&lt;img/src=x/onerror=alert(1)&gt;&c=\\`${x}";
/// Markup percent-encoded, as a browser sends it.
const ENCODED: &str = "/delay/30000?x=%3Cimg%20src=x%20onerror=alert(1)%3E";
/// What a forged JSON document puts in every field the page shows: the markup the server
/// never lets through, so the page itself is what must keep it text.
const MARKUP: &str = "<img src=x onerror=\"window.__pwned=1\"><b>&amp;</b>'";

/// The page's JSON (as `nethttp::debug` writes it) with `m` in every field the page shows.
fn forged(m: &str) -> String {
    let doc = json!({
        "pid": m,
        "servers": [{
            "addrs": [m], "uptime_s": m, "accepted": m, "requests": m,
            "connections": [{
                "id": m, "remote": m, "local": m, "protocol": m, "tls": false, "state": m,
                "age_ms": 0, "requests": m, "streams": m, "bytes_sent": m,
                "bytes_received": m, "rtt_us": m, "retransmits": m,
                "current": { "method": m, "target": m, "for_ms": m },
            }],
        }],
        "clients": [{
            "id": m, "dials": m, "reuses": m, "closes": m, "stale": m,
            "hosts": [{
                "key": m, "idle": m, "active": m, "waiting": m,
                "http2_streams": [m], "http2_waiting": [m],
            }],
        }],
        "upstream_groups": [{
            "id": m,
            "upstreams": [{
                "url": m, "weight": m, "backup": false, "in_flight": m, "requests": m,
                "failures": m, "available": true,
            }],
        }],
    });
    base64(doc.to_string().as_bytes())
}

/// Standard base64 with padding (what `Fetch.fulfillRequest` takes as a body).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// True in the page when a row of the servers' tables has `remote` as its remote address
/// and, if given, a cell that reads exactly `request`.
fn row(remote: &str, request: Option<&str>) -> String {
    format!(
        "[...document.querySelectorAll('#servers tr')].some(tr => {{
           const c = [...tr.cells].map(td => td.textContent);
           return c[1] === {} && ({} === null || c.includes({}));
         }})",
        js(remote),
        request.map_or("null".into(), js),
        request.map_or("null".into(), js),
    )
}

/// Everything hostile text could have done to the page, each a line: a script ran (the
/// flag set, a dialog opened, an exception thrown), the browser refused something under the
/// CSP (the page's listener or the console say so), or the page holds elements other than
/// the ones it makes (headings, paragraphs, tables).
async fn harm(cdp: &mut Cdp) -> Vec<String> {
    let mut wrong = Vec::new();
    let pwned = cdp.eval("window.__pwned").await;
    if pwned != json!(false) {
        wrong.push(format!("an injected script ran: window.__pwned is {pwned}"));
    }
    if !cdp.dialogs.is_empty() {
        wrong.push(format!("dialogs opened: {:?}", cdp.dialogs));
    }
    let thrown = cdp.events("Runtime.exceptionThrown");
    if !thrown.is_empty() {
        wrong.push(format!("exceptions: {thrown:?}"));
    }
    // Each kind once: a payload drawn every second repeats them.
    let violations = cdp
        .eval("[...new Set(window.__violations)].sort().join('\\n')")
        .await;
    if violations != json!("") {
        wrong.push(format!("CSP violations reported:\n{violations}"));
    }
    let mut messages = cdp.csp_messages();
    messages.sort();
    messages.dedup();
    if !messages.is_empty() {
        wrong.push(format!("CSP messages on the console: {messages:#?}"));
    }
    let others = cdp
        .eval(
            "[...new Set([...document.body.querySelectorAll('*')].map(e => e.tagName))]
               .filter(t => !'DIV H1 H2 P SCRIPT TABLE TD TH TR'.split(' ').includes(t))
               .sort().join(' ')",
        )
        .await;
    if others != json!("") {
        wrong.push(format!("elements the page does not make: {others}"));
    }
    wrong
}

/// Waits (bounded) for the page's next update.
async fn next_update(cdp: &mut Cdp) {
    let updates = cdp
        .eval("Number(document.getElementById('status').dataset.updates)")
        .await;
    cdp.wait_for(
        &format!("Number(document.getElementById('status').dataset.updates) > {updates}"),
        "another update",
    )
    .await;
}

/// A connection to `addr` holding `GET target` (the server is still answering it), and its
/// address as the server sees it.
fn hold(addr: SocketAddr, target: &str) -> (TcpStream, String) {
    let mut tcp = TcpStream::connect(addr).expect("connect to the public listener");
    write!(tcp, "GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").expect("send the request");
    let me = tcp.local_addr().unwrap().to_string();
    (tcp, me)
}

#[tokio::test]
async fn the_page_in_chromium_follows_connections_and_shows_what_it_is_sent_as_text() {
    let Some(chromium) = peer("chromium", "--version") else {
        return;
    };
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    cmd.args([
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--debug-addr",
        "127.0.0.1:0",
    ]);
    let served = Served::spawn(cmd);
    let debug = served.logged_addr("debug page");
    let (browser, ws_url) = Browser::launch(&chromium);

    let mut cdp = Cdp::connect(&ws_url).await;
    cdp.open_page(&["Page", "Runtime", "Log", "Network"]).await;
    cdp.call(
        "Page.addScriptToEvaluateOnNewDocument",
        json!({ "source": TRAPS }),
    )
    .await;
    let page = format!("http://{debug}/");
    cdp.call("Page.navigate", json!({ "url": page })).await;

    // 1. It renders: the public server's heading and table, and a status line that updates.
    let first = cdp
        .wait_for(
            "Number(document.getElementById('status').dataset.updates || 0) >= 2",
            "two updates of the status line",
        )
        .await;
    let heading = format!("on {}", served.addr);
    cdp.wait_for(
        &format!(
            "[...document.querySelectorAll('#servers h2')].some(h => h.textContent.startsWith('Server ') && h.textContent.endsWith({}))
             && [...document.querySelectorAll('#servers th')].map(th => th.textContent).join('|').includes('remote|protocol|state')",
            js(&heading)
        ),
        "the public server's heading and table",
    )
    .await;
    let status = cdp
        .eval("document.getElementById('status').textContent")
        .await;
    assert!(
        status.as_str().is_some_and(|s| s.starts_with("pid ")),
        "{status}"
    );
    let wrong = harm(&mut cdp).await;
    assert!(wrong.is_empty(), "the page as loaded:\n{wrong:#?}");
    // Its one script is its own file: nothing inline.
    assert_eq!(
        cdp.eval("[...document.scripts].map(s => s.getAttribute('src')).join(' ')")
            .await,
        json!("?format=js"),
        "the page's scripts"
    );

    // 2. A connection holding a slow request shows with its address and target, and goes
    //    when the client closes it.
    let (held, me) = hold(served.addr, "/delay/30000");
    let appeared = cdp
        .wait_for(
            &row(&me, Some("GET /delay/30000")),
            "the row of the held connection",
        )
        .await;
    drop(held);
    let gone = cdp
        .wait_for(
            &format!("!{}", row(&me, None)),
            "the row of the closed connection gone",
        )
        .await;

    // 3. What a client sends is shown as text: the hostile targets read back exactly, and
    //    made no element, ran nothing, and set off no CSP violation.
    let (raw, raw_me) = hold(served.addr, HOSTILE);
    let (encoded, encoded_me) = hold(served.addr, ENCODED);
    cdp.wait_for(
        &format!("{} && {}", row(&raw_me, None), row(&encoded_me, None)),
        "the rows of the hostile requests",
    )
    .await;
    // A further update redraws the rows: a payload gets a second chance.
    next_update(&mut cdp).await;
    let mut wrong = harm(&mut cdp).await;
    for (me, target) in [(&raw_me, HOSTILE), (&encoded_me, ENCODED)] {
        let cell = cdp
            .eval(&format!(
                "[...document.querySelectorAll('#servers tr')]
                   .find(tr => tr.cells[1].textContent === {}).cells[10].textContent",
                js(me)
            ))
            .await;
        if cell != json!(format!("GET {target}")) {
            wrong.push(format!("the request `GET {target}` reads {cell}"));
        }
    }
    assert!(wrong.is_empty(), "hostile targets on the page:\n{wrong:#?}");
    drop((raw, encoded));
    cdp.wait_for(
        &format!("!{} && !{}", row(&raw_me, None), row(&encoded_me, None)),
        "the hostile rows gone",
    )
    .await;

    // Markup itself, which the server refuses in a target, in every field of a forged JSON
    // document: every string shows as the same text, and still nothing is made or run.
    cdp.forged = Some(forged(MARKUP));
    cdp.call(
        "Fetch.enable",
        json!({ "patterns": [{ "urlPattern": "*?format=json" }] }),
    )
    .await;
    cdp.wait_for(
        &format!(
            "document.getElementById('status').textContent.startsWith('pid ' + {} + ', updated')",
            js(MARKUP)
        ),
        "the forged document drawn",
    )
    .await;
    next_update(&mut cdp).await;
    let mut wrong = harm(&mut cdp).await;
    let shown = cdp
        .eval(&format!(
            "(m => [
               [...document.querySelectorAll('td')].filter(td => td.textContent === m).length,
               [...document.querySelectorAll('td')].filter(td => td.textContent === m + ' ' + m).length,
               [...document.querySelectorAll('h2')].map(h => h.textContent),
               [...document.querySelectorAll('#servers p, #clients p')].map(p => p.textContent),
             ])({})",
            js(MARKUP)
        ))
        .await;
    let m = MARKUP;
    let expected = json!([
        21,
        1,
        [
            format!("Server 1 on {m}"),
            format!("Client pool {m}"),
            format!("Proxy upstreams {m}"),
        ],
        [
            format!("1 open connection; {m} accepted and {m} requests answered in {m} s"),
            format!("{m} dials, {m} reuses, {m} closes, {m} stale"),
        ],
    ]);
    if shown != expected {
        wrong.push(format!(
            "the forged strings read {shown:#}, not {expected:#}"
        ));
    }
    assert!(wrong.is_empty(), "markup in the JSON:\n{wrong:#?}");
    cdp.forged = None;
    cdp.call("Fetch.disable", json!({})).await;
    cdp.wait_for(
        &format!(
            "[...document.querySelectorAll('#servers h2')].some(h => h.textContent.endsWith({}))",
            js(&heading)
        ),
        "the real document drawn again",
    )
    .await;

    // 4. The policy, in force: an inline script put into the page does not run and is
    //    reported (to the page's listener and on the console); the policy came with the
    //    page, and the browser fetched nothing but the page, its script (once) and the JSON.
    let ran = cdp
        .eval(
            "(() => { const s = document.createElement('script');
                      s.textContent = 'window.__pwned = true';
                      document.body.appendChild(s);
                      return window.__pwned; })()",
        )
        .await;
    assert_eq!(ran, json!(false), "an inline script ran");
    cdp.wait_for(
        "window.__violations.some(v => v.startsWith('script-src-elem inline'))",
        "the inline script's violation reported",
    )
    .await;
    assert!(
        !cdp.csp_messages().is_empty(),
        "no CSP message on the console"
    );

    let doc = cdp
        .events("Network.responseReceived")
        .into_iter()
        .find(|p| p["type"] == "Document")
        .expect("the page's response")
        .clone();
    assert_eq!(doc["response"]["url"], json!(page), "the page's response");
    assert_eq!(
        doc["response"]["headers"]["content-security-policy"],
        json!(CSP),
        "the page's policy"
    );
    let mut fetched: Vec<String> = cdp
        .events("Network.requestWillBeSent")
        .into_iter()
        .map(|p| {
            format!(
                "{} {}",
                p["type"].as_str().unwrap_or("?"),
                p["request"]["url"].as_str().unwrap_or("?")
            )
        })
        .collect();
    let polls = fetched.len();
    fetched.sort();
    fetched.dedup();
    assert_eq!(
        fetched,
        [
            format!("Document {page}"),
            format!("Fetch {page}?format=json"),
            format!("Script {page}?format=js"),
        ],
        "what the browser fetched"
    );
    assert!(polls >= 5, "only {polls} requests");
    let scripts = cdp
        .events("Network.requestWillBeSent")
        .into_iter()
        .filter(|p| p["type"] == "Script")
        .count();
    assert_eq!(scripts, 1, "the page's script loaded once");

    let log = served.log();
    drop(browser);
    eprintln!(
        "first two updates {first:?}, row appeared {appeared:?}, gone {gone:?}; {polls} requests"
    );
    assert!(!log.contains("panicked"), "{log}");
}
