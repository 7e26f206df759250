//! The latency histogram of the `nethttp bench` summary: the recorded latencies in up to
//! `BUCKETS` log-spaced buckets from the fastest to the slowest, each a line with its range,
//! its count and a bar of `#` scaled to the terminal width, as `hey` prints its distribution.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

/// Buckets between the fastest and the slowest latency.
pub const BUCKETS: usize = 12;

/// Width assumed when the terminal's is unknown (stdout is not a terminal, no `COLUMNS`).
const DEFAULT_COLUMNS: usize = 80;

/// Shortest bar drawn for the largest bucket, however narrow the terminal.
const MIN_BAR: usize = 10;

/// Latencies from `lo_us` (inclusive) to `hi_us`, and how many fell there.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    pub lo_us: f64,
    pub hi_us: f64,
    pub count: u64,
}

/// The recorded latencies (µs) in log-spaced buckets from the minimum to the maximum; empty
/// when nothing was recorded, one bucket when every latency is the same. The counts add up
/// to the histogram's.
pub fn buckets(h: &Histogram<u64>) -> Vec<Bucket> {
    if h.is_empty() {
        return Vec::new();
    }
    let lo = h.min_nz().max(1) as f64;
    let hi = (h.max() as f64).max(lo);
    let n = if hi <= lo { 1 } else { BUCKETS };
    let ratio = (hi / lo).powf(1.0 / n as f64);
    let mut out: Vec<Bucket> = (0..n)
        .map(|i| Bucket {
            lo_us: lo * ratio.powi(i as i32),
            hi_us: if i + 1 == n {
                hi
            } else {
                lo * ratio.powi(i as i32 + 1)
            },
            count: 0,
        })
        .collect();
    for v in h.iter_recorded() {
        // The middle of the HDR bucket the value stands for, kept within [lo, hi].
        let value = h.median_equivalent(v.value_iterated_to()) as f64;
        let value = value.clamp(lo, hi);
        let i = if n == 1 {
            0
        } else {
            ((value / lo).ln() / ratio.ln()).floor() as usize
        };
        out[i.min(n - 1)].count += v.count_since_last_iteration();
    }
    out
}

/// The columns of the terminal stdout goes to; else `COLUMNS`; else 80.
pub fn terminal_columns() -> usize {
    if let Some((_, cols)) = console::Term::stdout().size_checked() {
        if cols > 0 {
            return usize::from(cols);
        }
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .filter(|&c: &usize| c > 0)
        .unwrap_or(DEFAULT_COLUMNS)
}

/// The histogram as summary lines fitting `columns` (one to spare), headed by `  latency histogram`; empty
/// when nothing was recorded. Each line: `lo - hi ms  [count] ####`.
pub fn render(h: &Histogram<u64>, columns: usize) -> String {
    let buckets = buckets(h);
    if buckets.is_empty() {
        return String::new();
    }
    let ms = |us: f64| format!("{:.3}", us / 1e3);
    let num_w = buckets.iter().map(|b| ms(b.hi_us).len()).max().unwrap_or(1);
    let count_w = buckets
        .iter()
        .map(|b| b.count.to_string().len())
        .max()
        .unwrap_or(1);
    let rows: Vec<(String, u64)> = buckets
        .iter()
        .map(|b| {
            let (lo, hi) = (ms(b.lo_us), ms(b.hi_us));
            let label = format!(
                "    {lo:>num_w$} - {hi:>num_w$} ms  [{:>count_w$}]",
                b.count
            );
            (label, b.count)
        })
        .collect();
    let label = rows
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    let bar_max = columns.saturating_sub(label + 2).max(MIN_BAR);
    let most = rows.iter().map(|&(_, n)| n).max().unwrap_or(0).max(1);
    let mut s = String::from("  latency histogram\n");
    for (label, count) in rows {
        // Any count gets at least one mark, so a lone outlier shows.
        let len = if count == 0 {
            0
        } else {
            ((count as f64 / most as f64 * bar_max as f64).round() as usize).max(1)
        };
        if len == 0 {
            let _ = writeln!(s, "{label}");
        } else {
            let _ = writeln!(s, "{label} {}", "#".repeat(len));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(values: &[u64]) -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for &v in values {
            h.record(v).unwrap();
        }
        h
    }

    #[test]
    fn counts_add_up_and_buckets_span_min_to_max() {
        let values: Vec<u64> = (0..1000).map(|i| 100 + i * i).collect();
        let h = histogram(&values);
        let b = buckets(&h);
        assert_eq!(b.len(), BUCKETS);
        assert_eq!(b.iter().map(|b| b.count).sum::<u64>(), 1000);
        assert!(b[0].lo_us <= 100.0 && b[BUCKETS - 1].hi_us >= 998_101.0);
        for w in b.windows(2) {
            assert!((w[0].hi_us - w[1].lo_us).abs() < 1e-6);
            // Log-spaced: each bucket is the same ratio wider.
            let r0 = w[0].hi_us / w[0].lo_us;
            let r1 = w[1].hi_us / w[1].lo_us;
            assert!((r0 - r1).abs() < 1e-6, "{r0} {r1}");
        }
    }

    #[test]
    fn one_latency_is_one_bucket_and_nothing_is_no_lines() {
        let b = buckets(&histogram(&[500, 500, 500]));
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].count, 3);
        assert_eq!(render(&histogram(&[]), 80), "");
    }

    #[test]
    fn bars_fit_the_width_and_the_largest_fills_it() {
        let values: Vec<u64> = (1..=500).map(|i| i * 10).collect();
        let out = render(&histogram(&values), 80);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "  latency histogram");
        assert_eq!(lines.len(), 1 + BUCKETS);
        for l in &lines[1..] {
            assert!(l.chars().count() <= 80, "{l:?}");
        }
        // The longest bar stops one column short, so no terminal wraps the line.
        assert!(lines[1..].iter().any(|l| l.chars().count() == 79));
        let total: u64 = lines[1..]
            .iter()
            .map(|l| {
                let count = &l[l.find('[').unwrap() + 1..l.find(']').unwrap()];
                count.trim().parse::<u64>().unwrap()
            })
            .sum();
        assert_eq!(total, 500);
    }
}
