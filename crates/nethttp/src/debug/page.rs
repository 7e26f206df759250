//! The debug page itself: a static HTML document and its script, which polls the JSON
//! (`?format=json`) every second and draws the tables. Everything shown is inserted as text
//! (`textContent`), never as markup, and the page's Content-Security-Policy allows only its
//! own script, so a request target or host name cannot run code in the viewer's browser.

/// The page (`/`).
pub(crate) const HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>nethttp connections</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 1.5em; }
table { border-collapse: collapse; margin: .5em 0 1em; }
th, td { border: 1px solid #ccc; padding: .2em .6em; text-align: left; font-variant-numeric: tabular-nums; }
th { background: #f3f3f3; } td.num { text-align: right; }
#status { color: #666; } .active { background: #fff6d6; }
</style>
</head>
<body>
<h1>nethttp: open connections and client pools</h1>
<p id="status">loading…</p>
<div id="servers"></div>
<div id="clients"></div>
<script src="?format=js"></script>
</body>
</html>
"#;

/// The page's script (`?format=js`).
pub(crate) const SCRIPT: &str = r#""use strict";
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function table(head, rows) {
  const t = el("table"), tr = el("tr");
  for (const h of head) tr.appendChild(el("th", h));
  t.appendChild(tr);
  for (const r of rows) {
    const row = el("tr", null, r.cls);
    for (const c of r.cells) row.appendChild(el("td", c, typeof c === "number" ? "num" : ""));
    t.appendChild(row);
  }
  return t;
}
function dash(v) { return v === null || v === undefined ? "–" : v; }
function draw(doc) {
  const servers = document.getElementById("servers"), clients = document.getElementById("clients");
  servers.replaceChildren(); clients.replaceChildren();
  doc.servers.forEach((s, i) => {
    servers.appendChild(el("h2", "Server " + (i + 1) + " on " + s.addrs.join(", ")));
    const n = s.connections.length;
    servers.appendChild(el("p", n + (n === 1 ? " open connection; " : " open connections; ") + s.accepted +
      " accepted and " + s.requests + " requests answered in " + s.uptime_s + " s"));
    servers.appendChild(table(
      ["id", "remote", "protocol", "state", "age (s)", "requests", "streams", "bytes in", "bytes out", "rtt (µs)", "current request", "for (ms)"],
      s.connections.map(c => ({
        cls: c.state === "active" ? "active" : "",
        cells: [c.id, c.remote, c.protocol + (c.tls ? "+tls" : ""), c.state, Math.floor(c.age_ms / 1000),
          c.requests, c.streams, dash(c.bytes_received), dash(c.bytes_sent), dash(c.rtt_us),
          c.current ? c.current.method + " " + c.current.target : "–",
          c.current ? c.current.for_ms : "–"]
      }))));
  });
  if (doc.servers.length === 0) servers.appendChild(el("p", "No server tracks its connections (Server::track_connections)."));
  doc.clients.forEach(p => {
    clients.appendChild(el("h2", "Client pool " + p.id));
    clients.appendChild(el("p", p.dials + " dials, " + p.reuses + " reuses, " + p.closes + " closes, " + p.stale + " stale"));
    clients.appendChild(table(["host", "idle", "active", "waiting", "HTTP/2 streams", "HTTP/2 waiting"],
      p.hosts.map(h => ({ cls: "", cells: [h.key, h.idle, h.active, h.waiting,
        h.http2_streams.join(" ") || "–", h.http2_waiting.join(" ") || "–"] }))));
  });
  (doc.upstream_groups || []).forEach(g => {
    clients.appendChild(el("h2", "Proxy upstreams " + g.id));
    clients.appendChild(table(["upstream", "weight", "in flight", "requests", "failures", "state"],
      g.upstreams.map(u => ({ cls: u.available ? "" : "active", cells: [u.url + (u.backup ? " (backup)" : ""), u.weight, u.in_flight,
        u.requests, u.failures, u.available ? "in" : "left out"] }))));
  });
}
async function tick() {
  const status = document.getElementById("status");
  try {
    const res = await fetch("?format=json", { cache: "no-store" });
    const doc = await res.json();
    draw(doc);
    status.textContent = "pid " + doc.pid + ", updated " + new Date().toLocaleTimeString();
    status.dataset.updates = String(Number(status.dataset.updates || "0") + 1);
  } catch (e) {
    status.textContent = "update failed: " + e;
  }
  setTimeout(tick, 1000);
}
tick();
"#;
