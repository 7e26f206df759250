//! The debug page's data as JSON (`?format=json`): every tracked server with its open
//! connections, every client pool with its hosts, and every reverse proxy's upstream group. Written by hand, with RFC 8259 string
//! escaping, so the page needs no serde.

use std::fmt::Write as _;
use std::time::{Instant, SystemTime};

use crate::client::PoolStats;
use crate::conn::track::{state_name, ConnTable, ConnView};
use crate::net::tcp_info;
use crate::proxy::UpstreamStats;

/// The whole document.
pub(crate) fn document(
    servers: &[std::sync::Arc<ConnTable>],
    pools: &[(u64, PoolStats)],
    groups: &[(u64, Vec<UpstreamStats>)],
) -> String {
    let mut out = String::with_capacity(1024);
    let _ = write!(out, "{{\"pid\":{},\"servers\":[", std::process::id());
    for (i, table) in servers.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        server(&mut out, table);
    }
    out.push_str("],\"clients\":[");
    for (i, (id, stats)) in pools.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        pool(&mut out, *id, stats);
    }
    out.push_str("],\"upstream_groups\":[");
    for (i, (id, ups)) in groups.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        group(&mut out, *id, ups);
    }
    out.push_str("]}");
    out
}

fn group(out: &mut String, id: u64, ups: &[UpstreamStats]) {
    let _ = write!(out, "{{\"id\":{id},\"upstreams\":[");
    for (i, u) in ups.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"url\":");
        string(out, &u.url);
        let _ = write!(
            out,
            ",\"weight\":{},\"backup\":{},\"in_flight\":{},\"requests\":{},\"failures\":{},\"available\":{}}}",
            u.weight, u.backup, u.in_flight, u.requests, u.failures, u.available
        );
    }
    out.push_str("]}");
}

fn server(out: &mut String, table: &ConnTable) {
    let uptime = SystemTime::now()
        .duration_since(table.started)
        .unwrap_or_default()
        .as_secs();
    out.push_str("{\"addrs\":[");
    for (i, a) in table.addrs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        string(out, &a.to_string());
    }
    let conns = table.view();
    let _ = write!(
        out,
        "],\"uptime_s\":{uptime},\"accepted\":{},\"requests\":{},\"connections\":[",
        table.accepted.load(std::sync::atomic::Ordering::Relaxed),
        table.requests(),
    );
    let now = Instant::now();
    for (i, c) in conns.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        connection(out, c, now);
    }
    out.push_str("]}");
}

fn connection(out: &mut String, c: &ConnView, now: Instant) {
    let _ = write!(out, "{{\"id\":{},\"remote\":", c.id);
    string(out, &c.remote.to_string());
    out.push_str(",\"local\":");
    match c.local {
        Some(l) => string(out, &l.to_string()),
        None => out.push_str("null"),
    }
    let _ = write!(
        out,
        ",\"protocol\":\"{}\",\"tls\":{},\"state\":\"{}\",\"age_ms\":{},\"requests\":{},\"streams\":{}",
        c.proto.name(),
        c.tls,
        state_name(c.state),
        c.age_ms,
        c.requests,
        c.streams,
    );
    match c.fd.and_then(tcp_info::read) {
        Some(t) => {
            let _ = write!(
                out,
                ",\"bytes_sent\":{},\"bytes_received\":{},\"rtt_us\":{},\"retransmits\":{}",
                t.bytes_sent, t.bytes_received, t.rtt_us, t.retransmits
            );
        }
        None => out.push_str(
            ",\"bytes_sent\":null,\"bytes_received\":null,\"rtt_us\":null,\"retransmits\":null",
        ),
    }
    out.push_str(",\"current\":");
    match &c.current {
        Some(cur) => {
            out.push_str("{\"method\":");
            string(out, cur.method.as_str());
            out.push_str(",\"target\":");
            string(out, cur.target());
            let _ = write!(
                out,
                ",\"for_ms\":{}}}",
                now.saturating_duration_since(cur.since).as_millis()
            );
        }
        None => out.push_str("null"),
    }
    out.push('}');
}

fn pool(out: &mut String, id: u64, s: &PoolStats) {
    let _ = write!(
        out,
        "{{\"id\":{id},\"dials\":{},\"reuses\":{},\"closes\":{},\"stale\":{},\"hosts\":[",
        s.dials, s.reuses, s.closes, s.stale
    );
    for (i, h) in s.hosts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"key\":");
        string(out, &h.key);
        let _ = write!(
            out,
            ",\"idle\":{},\"active\":{},\"waiting\":{},\"http2_streams\":{:?},\"http2_waiting\":{:?}}}",
            h.idle, h.active, h.waiting, h.http2_streams, h.http2_waiting
        );
    }
    out.push_str("]}");
}

/// `s` as a JSON string (RFC 8259 §7): quotes, backslashes and control characters escaped,
/// and `<`, `>`, `&` too, so the text is also safe inside an HTML `<script>`.
pub(crate) fn string(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '<' || c == '>' || c == '&' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    #[test]
    fn strings_are_escaped_for_json_and_for_html() {
        let mut out = String::new();
        super::string(&mut out, "a\"b\\c\n\u{1}</script>&é");
        assert_eq!(
            out,
            "\"a\\\"b\\\\c\\n\\u0001\\u003c/script\\u003e\\u0026é\""
        );
    }
}
