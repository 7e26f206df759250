//! `nethttp bench --html FILE` and the summary's latency histogram, end to end against a
//! spawned `nethttp serve`: the page is well-formed HTML (every tag closed, checked by Python's
//! `html.parser`), its percentile table agrees with `--json` from the same run, it holds the
//! two SVG plots, escapes what the URL brings, and fetches nothing; the histogram's counts add
//! up to the requests and its bars fit the width.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{run_nethttp_env, Ran};
use serde_json::Value;

/// Bound on any single `nethttp bench` run.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Reads an HTML file with `html.parser` and prints one JSON object: `errors` (a closing tag
/// that does not match the open one, a tag left open, an element that loads something),
/// `svgs`, `urls` (every src/href-like attribute), `percentiles` (data-key → the cell's text
/// in the `percentiles` table), `rps_bars`, and `text` (all text, references resolved).
const CHECKER: &str = r#"
import json, sys
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
        "source", "track", "wbr"}
LOADING = {"script", "link", "iframe", "img", "object", "embed", "audio", "video", "source"}
URL_ATTRS = {"src", "href", "xlink:href", "action", "data", "poster", "srcset", "formaction"}

class Checker(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.urls, self.text = [], [], [], []
        self.svgs, self.rps_bars = 0, 0
        self.percentiles, self.in_table, self.key, self.cell = {}, False, None, None

    def attrs(self, tag, attrs):
        a = dict(attrs)
        for k, v in a.items():
            if k in URL_ATTRS:
                self.urls.append(v or "")
            if k == "style" and v and "url(" in v:
                self.urls.append(v)
        if tag in LOADING:
            self.errors.append("element <%s> at %s" % (tag, self.getpos()))
        if tag == "svg":
            self.svgs += 1
        if tag == "rect" and a.get("class") == "ok":
            self.rps_bars += 1
        return a

    def handle_starttag(self, tag, attrs):
        a = self.attrs(tag, attrs)
        if tag == "table" and a.get("id") == "percentiles":
            self.in_table = True
        if self.in_table and tag == "tr":
            self.key = a.get("data-key")
        if self.in_table and tag == "td" and self.key:
            self.cell = ""
        if tag not in VOID:
            self.stack.append((tag, self.getpos()))

    def handle_startendtag(self, tag, attrs):
        self.attrs(tag, attrs)

    def handle_endtag(self, tag):
        if tag in VOID:
            self.errors.append("end tag of void <%s> at %s" % (tag, self.getpos()))
            return
        if not self.stack or self.stack[-1][0] != tag:
            self.errors.append("</%s> at %s closes %s" % (tag, self.getpos(), self.stack[-1:]))
            return
        self.stack.pop()
        if tag == "td" and self.cell is not None:
            self.percentiles[self.key] = self.cell.strip()
            self.cell = None
        if tag == "table":
            self.in_table = False

    def handle_data(self, data):
        self.text.append(data)
        if self.cell is not None:
            self.cell += data
        if self.lasttag == "style" and ("url(" in data or "@import" in data):
            self.urls.append(data)

c = Checker()
with open(sys.argv[1], encoding="utf-8") as f:
    c.feed(f.read())
c.close()
for tag, pos in c.stack:
    c.errors.append("<%s> at %s never closed" % (tag, pos))
print(json.dumps({"errors": c.errors, "svgs": c.svgs, "urls": c.urls, "rps_bars": c.rps_bars,
                  "percentiles": c.percentiles, "text": "".join(c.text)}))
"#;

fn bench(args: &[&str]) -> Ran {
    common::run_bench(args, TIMEOUT)
}

/// `python3` on PATH, or `None` (the test skips, and says so after the results).
fn python() -> Option<std::path::PathBuf> {
    common::peers::peer("python3", "--version")
}

/// The page at `path` and what [`CHECKER`] makes of it, which must find it well-formed.
fn check(python: &Path, path: &Path) -> (String, Value) {
    let raw = std::fs::read_to_string(path).expect("the page was written");
    let out = Command::new(python)
        .arg("-c")
        .arg(CHECKER)
        .arg(path)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "the checker failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c: Value = serde_json::from_slice(&out.stdout).expect("the checker prints JSON");
    assert_eq!(
        c["errors"],
        serde_json::json!([]),
        "not well-formed:\n{raw}"
    );
    (raw, c)
}

#[test]
fn html_report_is_well_formed_agrees_with_json_and_escapes_the_url() {
    let Some(python) = python() else { return };
    let server = common::serve_plain();
    let dir = tempfile::tempdir().expect("temp dir");
    let page = dir.path().join("report.html");
    // A query the page must escape: quotes and ampersands (the URL parser refuses raw `<`,
    // `>` and `"` there), and a percent-encoded script tag that must stay text.
    let url = server.url("/delay/1?q=%3Cscript%3Ealert(1)%3C/script%3E&x='y'&z=1");
    let ran = bench(&[
        "-d",
        "2s",
        "-c",
        "4",
        "--json",
        "--html",
        page.to_str().unwrap(),
        &url,
    ]);
    ran.assert_success();
    let out = ran.stdout_str();
    assert_eq!(out.lines().count(), 1, "--json stays one line: {out:?}");
    let json: Value = serde_json::from_str(&out).expect("JSON");
    assert!(json["requests"].as_u64().unwrap() > 0, "{json}");

    let (raw, c) = check(&python, &page);
    assert_eq!(c["svgs"], 2, "two plots");
    // Two seconds of load: one bar per second (a sliver after the deadline folds into the
    // last; a third only if the deadline was noticed a quarter second late).
    let bars = c["rps_bars"].as_u64().unwrap();
    assert!((2..=3).contains(&bars), "{bars} bars:\n{raw}");

    // The table says what --json says, to the table's three decimals.
    for key in ["p50", "p75", "p90", "p99", "p999", "p9999", "max", "mean"] {
        let want = json["latency_ms"][key]
            .as_f64()
            .unwrap_or_else(|| panic!("latency_ms.{key} missing: {json}"));
        let cell = c["percentiles"][key]
            .as_str()
            .unwrap_or_else(|| panic!("no {key} row: {}", c["percentiles"]));
        let got: f64 = cell.parse().expect("a number");
        assert!(
            (got - want).abs() <= 0.0005 + 1e-9,
            "{key}: page {got}, json {want}"
        );
    }

    // The URL comes back as the same text, escaped in the markup, never raw.
    let text = c["text"].as_str().unwrap();
    assert!(text.contains(&url), "the URL as text:\n{text}");
    let escaped = url.replace('&', "&amp;").replace('\'', "&#39;");
    assert!(raw.contains(&escaped), "escaped URL {escaped:?} in:\n{raw}");
    assert!(!raw.contains("&x='y'"), "raw quotes and ampersands:\n{raw}");
    assert!(!raw.contains("<script"), "{raw}");

    // Nothing is fetched: no URL attributes at all, and no http(s) URL but the loaded one.
    assert_eq!(c["urls"], serde_json::json!([]), "{raw}");
    let rest = raw.replace(&escaped, "");
    for scheme in ["http://", "https://", "//cdn"] {
        assert!(!rest.contains(scheme), "{scheme} in:\n{rest}");
    }
}

#[test]
fn a_double_quote_in_the_path_and_a_run_without_responses_still_make_a_page() {
    let Some(python) = python() else { return };
    let server = common::serve_plain();
    let dir = tempfile::tempdir().expect("temp dir");
    let page = dir.path().join("quote.html");
    // The path parser lets `"` through (JSON in paths); the server answers 404.
    let url = server.url("/a\"onmouseover=\"alert(1)");
    let ran = bench(&["-n", "5", "-c", "1", "--html", page.to_str().unwrap(), &url]);
    ran.assert_success();
    let (raw, c) = check(&python, &page);
    assert!(raw.contains("/a&quot;onmouseover=&quot;alert(1)"), "{raw}");
    assert!(!raw.contains("a\"onmouseover"), "{raw}");
    assert!(c["text"].as_str().unwrap().contains("404: 5"), "{raw}");

    // Nothing answers: the page still comes, with both plots saying there is no data.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let empty = dir.path().join("empty.html");
    let ran = bench(&[
        "-n",
        "3",
        "-c",
        "1",
        "--html",
        empty.to_str().unwrap(),
        &format!("http://127.0.0.1:{port}/"),
    ]);
    assert!(!ran.status.success(), "every request failed: exit non-zero");
    let (raw, c) = check(&python, &empty);
    assert_eq!(c["svgs"], 2, "{raw}");
    let text = c["text"].as_str().unwrap();
    assert!(text.contains("none (no response)"), "{text}");
    assert!(text.contains("connect"), "the error kind: {text}");
}

#[test]
fn an_html_path_that_cannot_be_written_fails_after_the_summary() {
    let server = common::serve_plain();
    let ran = bench(&[
        "-n",
        "5",
        "-c",
        "1",
        "--html",
        "/nonexistent-dir/for/report.html",
        &server.url("/"),
    ]);
    assert!(!ran.status.success(), "exit status {}", ran.status);
    assert!(ran.stderr.contains("HTML report"), "{}", ran.stderr);
    assert!(ran.stdout_str().contains("200: 5"), "{}", ran.stdout_str());
}

/// The histogram lines of a summary: (line, count), after its `latency histogram` heading.
fn histogram_lines(out: &str) -> Vec<(String, u64)> {
    out.lines()
        .skip_while(|l| l.trim() != "latency histogram")
        .skip(1)
        .take_while(|l| l.contains(" ms  ["))
        .map(|l| {
            let count = &l[l.find('[').unwrap() + 1..l.find(']').unwrap()];
            (l.to_owned(), count.trim().parse().expect("a count"))
        })
        .collect()
}

#[test]
fn the_summary_histogram_counts_every_request_and_fits_the_width() {
    let server = common::serve_plain();
    let url = server.url("/delay/1");
    let ran = run_nethttp_env(
        &["bench", "-n", "300", "-c", "6", &url],
        &[("COLUMNS", "100")],
        TIMEOUT,
    );
    ran.assert_success();
    let out = ran.stdout_str();
    let lines = histogram_lines(&out);
    assert!(
        lines.len() == 1 || (10..=15).contains(&lines.len()),
        "{} lines:\n{out}",
        lines.len()
    );
    assert_eq!(lines.iter().map(|(_, n)| n).sum::<u64>(), 300, "{out}");
    let widest = lines.iter().map(|(l, _)| l.chars().count()).max().unwrap();
    assert_eq!(
        widest, 99,
        "the fullest bar reaches one short of COLUMNS:\n{out}"
    );

    // Without a known width (stdout is a pipe, COLUMNS unset or junk): 80 columns.
    let ran = run_nethttp_env(
        &["bench", "-n", "100", "-c", "2", &url],
        &[("COLUMNS", "")],
        TIMEOUT,
    );
    ran.assert_success();
    let out = ran.stdout_str();
    let lines = histogram_lines(&out);
    assert_eq!(lines.iter().map(|(_, n)| n).sum::<u64>(), 100, "{out}");
    assert!(lines.iter().all(|(l, _)| l.chars().count() < 80), "{out}");

    // --json has no histogram: one line of JSON.
    let ran = bench(&["-n", "20", "--json", &url]);
    ran.assert_success();
    assert_eq!(ran.stdout_str().lines().count(), 1, "{}", ran.stdout_str());
}
