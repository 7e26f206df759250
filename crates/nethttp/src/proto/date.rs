//! The `Date` header value (RFC 9110 §6.6.1), formatted at most once a second per thread
//! instead of once per response, for both HTTP/1.1 (bytes) and HTTP/2 (a `HeaderValue`).

use std::cell::RefCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) const DATE_LEN: usize = 29;

struct Cached {
    secs: u64,
    text: [u8; DATE_LEN],
    /// The same text as a header value, made on first use within the second.
    value: Option<http::HeaderValue>,
}

thread_local! {
    static CACHE: RefCell<Cached> =
        const { RefCell::new(Cached { secs: 0, text: [0; DATE_LEN], value: None }) };
}

/// Seconds since the epoch. On Linux from the coarse real-time clock, which is read
/// without the cycle counter (a few nanoseconds instead of tens on a VM, where every
/// response pays it) and is at most a tick (a few ms) behind: ample for a header that
/// has one-second resolution.
#[cfg(target_os = "linux")]
fn now_secs() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_REALTIME_COARSE exists on every
    // Linux this builds for (since 2.6.32).
    if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) } == 0 {
        u64::try_from(ts.tv_sec).unwrap_or(0)
    } else {
        precise_secs()
    }
}

#[cfg(not(target_os = "linux"))]
fn now_secs() -> u64 {
    precise_secs()
}

fn precise_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Refreshes the cache if the second changed.
fn refresh(c: &mut Cached) {
    let secs = now_secs();
    if c.secs != secs {
        let s = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs));
        if s.len() == DATE_LEN {
            c.text.copy_from_slice(s.as_bytes());
            c.secs = secs;
            c.value = None;
        }
    }
}

/// The current date as a header value (shared bytes: cloning it does not allocate).
pub(crate) fn date_value() -> http::HeaderValue {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        refresh(&mut c);
        let text = c.text;
        c.value
            .get_or_insert_with(|| {
                http::HeaderValue::from_maybe_shared(bytes::Bytes::copy_from_slice(&text))
                    .unwrap_or(http::HeaderValue::from_static(
                        "Thu, 01 Jan 1970 00:00:00 GMT",
                    ))
            })
            .clone()
    })
}

/// Appends the current date to `dst`.
pub(crate) fn append_date(dst: &mut Vec<u8>) {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        refresh(&mut c);
        dst.extend_from_slice(&c.text);
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_imf_fixdate() {
        let mut v = Vec::new();
        super::append_date(&mut v);
        let s = std::str::from_utf8(&v).unwrap();
        assert_eq!(s.len(), super::DATE_LEN);
        assert!(s.ends_with(" GMT"), "{s}");
        assert!(httpdate::parse_http_date(s).is_ok());
        let v = super::date_value();
        assert!(httpdate::parse_http_date(v.to_str().unwrap()).is_ok());
    }

    #[test]
    fn coarse_clock_agrees_with_the_system_clock() {
        let coarse = super::now_secs();
        let precise = super::precise_secs();
        assert!(
            precise.abs_diff(coarse) <= 1,
            "coarse {coarse}, precise {precise}"
        );
    }
}
