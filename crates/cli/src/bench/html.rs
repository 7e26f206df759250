//! The `--html FILE` report of `nethttp bench`: one self-contained page (inline CSS and inline
//! SVG, no script, nothing fetched) with the run's parameters, its totals and errors, the
//! latency percentiles as a table and as HdrHistogram's percentile plot (a log-scaled
//! `1/(1-p)` axis), and completed requests per second over the run. Everything that comes from
//! the command line or the run (the URL, error messages) is HTML-escaped.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

use super::report::{version_name, Report, PERCENTILES};
use super::timeline::Bucket;

/// Size of each plot, in SVG user units (it scales with the page).
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 320.0;
/// Room around the plotting area for the axes' labels.
const LEFT: f64 = 64.0;
const RIGHT: f64 = 32.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 48.0;

/// Points along the percentile curve.
const CURVE_STEPS: usize = 240;
/// Most nines on the percentile axis (99.9999%).
const MAX_DECADES: usize = 6;
/// Labels of the percentile axis, one per decade of `1/(1-p)`.
const DECADE_LABELS: [&str; MAX_DECADES + 1] =
    ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"];

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;\
max-width:760px;padding:0 1em;color:#222}\
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}\
table{border-collapse:collapse;margin:.5em 0}\
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}\
td.num{text-align:right;font-variant-numeric:tabular-nums}\
code{word-break:break-all}\
svg{width:100%;height:auto;background:#fff;border:1px solid #ddd}\
svg text{font-size:11px;fill:#333}\
svg .axis{stroke:#666;stroke-width:1}svg .grid{stroke:#e4e4e4;stroke-width:1}\
svg .curve{fill:none;stroke:#1565c0;stroke-width:2}svg .mark{fill:#1565c0}\
svg .ok{fill:#1565c0}svg .err{fill:#c62828}\
p.note{color:#666;font-size:.9em}";

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The whole page.
pub fn render(r: &Report) -> String {
    let mut s = String::new();
    let title = format!("nethttp bench: {} {}", r.method, r.url);
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title),
    );
    parameters(&mut s, r);
    totals(&mut s, r);
    latency(&mut s, r);
    throughput(&mut s, r);
    let _ = writeln!(
        s,
        "<p class=\"note\">Made by nethttp {}.</p>\n</body>\n</html>",
        escape(env!("CARGO_PKG_VERSION"))
    );
    s
}

/// A two-column table of (name, value) rows; values are escaped here.
fn table(s: &mut String, id: &str, rows: &[(&str, String)]) {
    let _ = writeln!(s, "<table id=\"{id}\">");
    for (name, value) in rows {
        let _ = writeln!(
            s,
            "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
            escape(name),
            escape(value)
        );
    }
    s.push_str("</table>\n");
}

fn parameters(s: &mut String, r: &Report) {
    let limit = match (r.requests, r.duration) {
        (Some(n), Some(d)) => format!("{n} requests or {} s, whichever ends first", secs(d)),
        (Some(n), None) => format!("{n} requests"),
        (None, Some(d)) => format!("{} s", secs(d)),
        (None, None) => "none".to_owned(),
    };
    let threads = match r.threads {
        0 => "one per CPU".to_owned(),
        n => n.to_string(),
    };
    s.push_str("<h2>Run</h2>\n");
    table(
        s,
        "parameters",
        &[
            ("URL", r.url.to_owned()),
            ("method", r.method.to_owned()),
            ("connections", r.connections.to_string()),
            ("streams per connection", r.streams.to_string()),
            (
                "concurrency",
                r.connections.saturating_mul(r.streams).to_string(),
            ),
            ("threads", threads),
            ("limit", limit),
            ("ran for", format!("{:.3} s", r.elapsed.as_secs_f64())),
            (
                "protocol",
                r.protocol()
                    .unwrap_or_else(|| "none (no response)".to_owned()),
            ),
        ],
    );
}

fn secs(d: std::time::Duration) -> String {
    trim(d.as_secs_f64(), 3)
}

fn totals(s: &mut String, r: &Report) {
    let rec = r.recorder;
    let mut statuses = rec.statuses.clone();
    statuses.sort_unstable();
    let statuses: Vec<String> = statuses.iter().map(|(c, n)| format!("{c}: {n}")).collect();
    let mut protocols: Vec<String> = rec
        .versions
        .iter()
        .map(|(v, n)| format!("{}: {n}", version_name(*v)))
        .collect();
    protocols.sort_unstable();
    s.push_str("<h2>Totals</h2>\n");
    table(
        s,
        "totals",
        &[
            ("requests completed", rec.completed.to_string()),
            ("errors", rec.errors.to_string()),
            ("requests/s", format!("{:.1}", r.rps())),
            ("body bytes", rec.body_bytes.to_string()),
            ("body MiB/s", format!("{:.2}", r.mib_per_s())),
            (
                "status",
                if statuses.is_empty() {
                    "none".to_owned()
                } else {
                    statuses.join(", ")
                },
            ),
            ("responses by protocol", protocols.join(", ")),
            ("connections opened", r.connections_opened.to_string()),
            ("requests on reused connections", r.reuses.to_string()),
        ],
    );
    if !rec.errors_by_kind.is_empty() {
        s.push_str(
            "<h3>Errors by kind</h3>\n<table id=\"errors\">\n\
             <tr><th>kind</th><th>count</th><th>first message</th></tr>\n",
        );
        for (kind, n, first) in &rec.errors_by_kind {
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td class=\"num\">{n}</td><td><code>{}</code></td></tr>",
                escape(kind.as_str()),
                escape(first)
            );
        }
        s.push_str("</table>\n");
    }
}

fn latency(s: &mut String, r: &Report) {
    let h = &r.recorder.latency_us;
    s.push_str(
        "<h2>Latency</h2>\n<table id=\"percentiles\">\n\
         <tr><th>percentile</th><th>latency (ms)</th></tr>\n",
    );
    if h.is_empty() {
        s.push_str("<tr><td colspan=\"2\">none (no response)</td></tr>\n");
    } else {
        for (name, label, p, _) in PERCENTILES {
            let _ = writeln!(
                s,
                "<tr data-key=\"{name}\"><th scope=\"row\">{label}</th>\
                 <td class=\"num\">{:.3}</td></tr>",
                r.latency_ms(p)
            );
        }
        let _ = writeln!(
            s,
            "<tr data-key=\"max\"><th scope=\"row\">max</th><td class=\"num\">{:.3}</td></tr>\n\
             <tr data-key=\"mean\"><th scope=\"row\">mean</th><td class=\"num\">{:.3}</td></tr>",
            r.max_ms(),
            r.mean_ms()
        );
    }
    s.push_str("</table>\n");
    s.push_str(&percentile_plot(h));
}

/// Decades of `1/(1-p)` worth showing for `n` samples: as many nines as the count resolves
/// (at least 2, at most `MAX_DECADES`).
fn decades(n: u64) -> usize {
    let d = (n.max(1) as f64).log10().ceil() as usize;
    d.clamp(2, MAX_DECADES)
}

/// HdrHistogram's percentile plot: latency against `1/(1-p)` on a log axis, as inline SVG.
fn percentile_plot(h: &Histogram<u64>) -> String {
    let mut s = svg_open("latency-plot", "Latency by percentile");
    if h.is_empty() {
        no_data(&mut s);
        s.push_str("</svg>\n");
        return s;
    }
    let d = decades(h.len());
    let (pw, ph) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let max_ms = h.max() as f64 / 1e3;
    let (y_step, y_max) = axis(max_ms);
    let x_at = |decade: f64| LEFT + decade / d as f64 * pw;
    let y_at = |ms: f64| TOP + ph - ms / y_max * ph;
    y_grid(&mut s, y_step, y_max, y_at);
    for (i, label) in DECADE_LABELS.iter().enumerate().take(d + 1) {
        let x = x_at(i as f64);
        let _ = writeln!(
            s,
            "<line class=\"grid\" x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{:.1}\"/>\n\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text>",
            TOP + ph,
            TOP + ph + 16.0,
        );
    }
    axes(&mut s, "percentile (log scale of 1/(1-p))", "latency (ms)");
    let mut points = String::new();
    for k in 0..=CURVE_STEPS {
        let decade = d as f64 * k as f64 / CURVE_STEPS as f64;
        let q = 1.0 - 10f64.powf(-decade);
        let ms = h.value_at_quantile(q) as f64 / 1e3;
        let _ = write!(points, "{:.1},{:.1} ", x_at(decade), y_at(ms));
    }
    let _ = writeln!(
        s,
        "<polyline class=\"curve\" points=\"{}\"/>",
        points.trim_end()
    );
    for (_, label, p, _) in PERCENTILES {
        let decade = -(1.0 - p / 100.0).log10();
        if decade > d as f64 {
            continue;
        }
        let ms = h.value_at_percentile(p) as f64 / 1e3;
        let _ = writeln!(
            s,
            "<circle class=\"mark\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\"><title>{label}: {ms:.3} ms</title></circle>",
            x_at(decade),
            y_at(ms)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn throughput(s: &mut String, r: &Report) {
    let (width_s, buckets) = r.recorder.timeline.buckets(r.elapsed);
    let _ = writeln!(
        s,
        "<h2>Requests per second</h2>\n<p class=\"note\">Completed requests (blue) and errors \
         (red) per {width_s} s, by when they ended.</p>"
    );
    s.push_str(&throughput_plot(&buckets));
}

/// Completed (and failed, stacked) requests per second in each bucket, as inline SVG bars.
fn throughput_plot(buckets: &[Bucket]) -> String {
    let mut s = svg_open("rps-plot", "Requests per second over the run");
    let total_s = buckets.last().map_or(0.0, |b| b.start_s + b.covered_s);
    let top = buckets
        .iter()
        .map(|b| b.rps() + b.errors_per_s())
        .fold(0.0, f64::max);
    if total_s <= 0.0 || top <= 0.0 {
        no_data(&mut s);
        s.push_str("</svg>\n");
        return s;
    }
    let (pw, ph) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let (y_step, y_max) = axis(top);
    let (x_step, _) = axis(total_s);
    let x_at = |t: f64| LEFT + t / total_s * pw;
    let y_at = |v: f64| TOP + ph - v / y_max * ph;
    y_grid(&mut s, y_step, y_max, y_at);
    let mut t = 0.0;
    while t <= total_s + 1e-9 {
        let x = x_at(t);
        let _ = writeln!(
            s,
            "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            TOP + ph + 16.0,
            trim(t, 3)
        );
        t += x_step;
    }
    axes(&mut s, "seconds since the start", "requests/s");
    for b in buckets {
        let x = x_at(b.start_s);
        let full = x_at(b.start_s + b.covered_s) - x;
        // A hairline gap between bars wide enough to spare it.
        let w = if full > 3.0 { full - 1.0 } else { full };
        let ok_h = b.rps() / y_max * ph;
        let err_h = b.errors_per_s() / y_max * ph;
        let tip = format!(
            "{}–{} s: {:.1} req/s ({} completed, {} errors)",
            trim(b.start_s, 3),
            trim(b.start_s + b.covered_s, 3),
            b.rps(),
            b.completed,
            b.errors
        );
        let _ = writeln!(
            s,
            "<g><title>{}</title><rect class=\"ok\" x=\"{x:.2}\" y=\"{:.2}\" width=\"{w:.2}\" \
             height=\"{ok_h:.2}\"/><rect class=\"err\" x=\"{x:.2}\" y=\"{:.2}\" width=\"{w:.2}\" \
             height=\"{err_h:.2}\"/></g>",
            escape(&tip),
            TOP + ph - ok_h,
            TOP + ph - ok_h - err_h,
        );
    }
    s.push_str("</svg>\n");
    s
}

fn svg_open(id: &str, label: &str) -> String {
    format!(
        "<svg id=\"{id}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}\">\n\
         <title>{}</title>\n",
        escape(label),
        escape(label)
    )
}

fn no_data(s: &mut String) {
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">no responses to plot</text>",
        WIDTH / 2.0,
        HEIGHT / 2.0
    );
}

/// Horizontal grid lines with their labels, every `step` up to `max`.
fn y_grid(s: &mut String, step: f64, max: f64, y_at: impl Fn(f64) -> f64) {
    let mut v = 0.0;
    while v <= max + step * 1e-6 {
        let y = y_at(v);
        let _ = writeln!(
            s,
            "<line class=\"grid\" x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            trim(v, 3)
        );
        v += step;
    }
}

/// The two axis lines and their titles.
fn axes(s: &mut String, x_title: &str, y_title: &str) {
    let bottom = HEIGHT - BOTTOM;
    let _ = writeln!(
        s,
        "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{bottom}\"/>\n\
         <line class=\"axis\" x1=\"{LEFT}\" y1=\"{bottom}\" x2=\"{:.1}\" y2=\"{bottom}\"/>\n\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n\
         <text x=\"14\" y=\"{:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {:.1})\">{}</text>",
        WIDTH - RIGHT,
        LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
        HEIGHT - 8.0,
        escape(x_title),
        TOP + (bottom - TOP) / 2.0,
        TOP + (bottom - TOP) / 2.0,
        escape(y_title),
    );
}

/// A step of 1, 2 or 5 × 10^k giving about five intervals up to `max`, and the axis end (a
/// multiple of the step at or above `max`).
fn axis(max: f64) -> (f64, f64) {
    let max = if max > 0.0 && max.is_finite() {
        max
    } else {
        1.0
    };
    let rough = max / 5.0;
    let pow = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * pow)
        .find(|&s| s >= rough)
        .unwrap_or(10.0 * pow);
    (step, (max / step - 1e-9).ceil().max(1.0) * step)
}

/// `v` with at most `decimals` decimals, trailing zeros dropped.
fn trim(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_html_gives_meaning_to() {
        assert_eq!(
            escape(r#"/a?x=<script>&y="1"&z='2'"#),
            "/a?x=&lt;script&gt;&amp;y=&quot;1&quot;&amp;z=&#39;2&#39;"
        );
    }

    #[test]
    fn axis_steps_are_round_and_cover_the_maximum() {
        let close = |(a, b): (f64, f64), (c, d): (f64, f64)| {
            assert!(
                (a - c).abs() < 1e-9 && (b - d).abs() < 1e-9,
                "{a},{b} vs {c},{d}"
            );
        };
        close(axis(9.3), (2.0, 10.0));
        close(axis(1000.0), (200.0, 1000.0));
        close(axis(0.37), (0.1, 0.4));
        close(axis(0.0), (0.2, 1.0));
    }

    #[test]
    fn decades_follow_the_sample_count() {
        assert_eq!(decades(1), 2);
        assert_eq!(decades(1000), 3);
        assert_eq!(decades(12_345), 5);
        assert_eq!(decades(u64::MAX), MAX_DECADES);
    }

    #[test]
    fn trims_trailing_zeros() {
        assert_eq!(trim(2.0, 3), "2");
        assert_eq!(trim(0.25, 3), "0.25");
        assert_eq!(trim(10.0, 0), "10");
    }
}
