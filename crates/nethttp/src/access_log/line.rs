//! One access log line: what is recorded of an exchange, and how it is written, in nginx's
//! `combined` format (what log analysers such as GoAccess and AWStats read) or as one JSON
//! object per line. Whatever the client sent is escaped, so a request cannot forge a line.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{REFERER, USER_AGENT};
use http::{HeaderValue, Method, Request, Uri, Version};

use crate::conn::{ConnInfo, Rejection};

/// How lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Format {
    /// nginx's (and Apache's) `combined`:
    /// `ADDR - USER [07/Dec/2026:15:41:41 +0000] "GET /x HTTP/1.1" 200 13 "REFERER" "AGENT"`,
    /// times in UTC, bytes being the body's, USER the user-id of `Authorization: Basic`
    /// (nginx's `$remote_user`), `-` for what is unknown. Client-sent text is
    /// escaped as nginx escapes it: `"`, `\`, control and non-ASCII bytes as `\xHH`.
    #[default]
    Combined,
    /// One JSON object per line: `time` (RFC 3339, UTC, milliseconds), `remote`, `method`,
    /// `uri`, `proto`, `status`, `bytes`, `duration_ms` (from the request to the end of its
    /// response), `user` (of `Authorization: Basic`), `referer`, `user_agent`.
    Json,
}

/// What is kept of a request until its response ends.
pub(crate) struct Record {
    at: SystemTime,
    remote: Option<std::net::SocketAddr>,
    method: Method,
    /// The request's URI: its clone shares the request's bytes.
    uri: Uri,
    version: Version,
    referer: Option<HeaderValue>,
    user_agent: Option<HeaderValue>,
    /// The user-id of `Authorization: Basic` (nginx's `$remote_user`).
    user: Option<String>,
}

impl Record {
    pub(crate) fn new<B>(req: &Request<B>) -> Record {
        let field = |name| req.headers().get(name).cloned();
        Record {
            at: SystemTime::now(),
            remote: req
                .extensions()
                .get::<ConnInfo>()
                .filter(|i| !i.remote_addr.ip().is_unspecified())
                .map(|i| i.remote_addr),
            method: req.method().clone(),
            uri: req.uri().clone(),
            version: req.version(),
            referer: field(REFERER),
            user_agent: field(USER_AGENT),
            user: crate::request::basic_auth(req.headers()).map(|a| a.user),
        }
    }

    /// The request-target as an origin server logs it: path and query (the authority for
    /// `CONNECT`).
    fn target(&self) -> &str {
        if self.method == Method::CONNECT {
            self.uri.authority().map_or("", |a| a.as_str())
        } else {
            self.uri.path_and_query().map_or("/", |p| p.as_str())
        }
    }

    /// Appends the line (with its newline) for this request, answered `status` with `bytes`
    /// of body in `took`, to `out`.
    pub(crate) fn write(
        &self,
        out: &mut Vec<u8>,
        format: Format,
        status: u16,
        bytes: u64,
        took: Duration,
    ) {
        match format {
            Format::Combined => self.combined(out, status, bytes),
            Format::Json => self.json(out, status, bytes, took),
        }
        out.push(b'\n');
    }

    /// The line [`Record::write`] appends, on its own.
    #[cfg(test)]
    fn line(&self, format: Format, status: u16, bytes: u64, took: Duration) -> String {
        let mut out = Vec::new();
        self.write(&mut out, format, status, bytes, took);
        String::from_utf8(out).expect("lines are UTF-8")
    }

    /// Written piece by piece, without the formatting machinery: this runs for every request
    /// of a logged server.
    fn combined(&self, out: &mut Vec<u8>, status: u16, bytes: u64) {
        push_remote_clf(out, self.remote);
        out.extend_from_slice(b" - ");
        match &self.user {
            Some(u) if !u.is_empty() => escape_clf(out, u.as_bytes()),
            _ => out.push(b'-'),
        }
        out.extend_from_slice(b" [");
        clf_time(out, self.at);
        out.extend_from_slice(b"] \"");
        escape_clf(out, self.method.as_str().as_bytes());
        out.push(b' ');
        escape_clf(out, self.target().as_bytes());
        out.push(b' ');
        out.extend_from_slice(version_name(self.version).as_bytes());
        out.extend_from_slice(b"\" ");
        let mut n = itoa::Buffer::new();
        out.extend_from_slice(n.format(status).as_bytes());
        out.push(b' ');
        out.extend_from_slice(n.format(bytes).as_bytes());
        out.extend_from_slice(b" \"");
        escape_clf(out, self.referer.as_ref().map_or(b"-", |v| v.as_bytes()));
        out.extend_from_slice(b"\" \"");
        escape_clf(out, self.user_agent.as_ref().map_or(b"-", |v| v.as_bytes()));
        out.push(b'"');
    }

    /// Written piece by piece, as [`Record::combined`].
    fn json(&self, out: &mut Vec<u8>, status: u16, bytes: u64, took: Duration) {
        out.extend_from_slice(b"{\"time\":\"");
        rfc3339_time(out, self.at);
        out.extend_from_slice(b"\",\"remote\":");
        push_remote_json(out, self.remote);
        out.extend_from_slice(b",\"method\":");
        escape_json(out, self.method.as_str().as_bytes());
        out.extend_from_slice(b",\"uri\":");
        escape_json(out, self.target().as_bytes());
        out.extend_from_slice(b",\"proto\":\"");
        out.extend_from_slice(version_name(self.version).as_bytes());
        let mut n = itoa::Buffer::new();
        out.extend_from_slice(b"\",\"status\":");
        out.extend_from_slice(n.format(status).as_bytes());
        out.extend_from_slice(b",\"bytes\":");
        out.extend_from_slice(n.format(bytes).as_bytes());
        // Milliseconds with three decimals, from whole microseconds.
        let micros = took.as_micros();
        out.extend_from_slice(b",\"duration_ms\":");
        out.extend_from_slice(n.format(micros / 1000).as_bytes());
        out.push(b'.');
        push_padded(out, (micros % 1000) as u32, 3);
        out.extend_from_slice(b",\"user\":");
        match &self.user {
            Some(u) => escape_json(out, u.as_bytes()),
            None => out.extend_from_slice(b"null"),
        }
        for (name, value) in [("referer", &self.referer), ("user_agent", &self.user_agent)] {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":");
            match value {
                Some(v) => escape_json(out, v.as_bytes()),
                None => out.extend_from_slice(b"null"),
            }
        }
        out.push(b'}');
    }
}

/// Appends the line (with its newline) for a request the server refused before any handler
/// to `out`: its request line as it came stands for method, target and version (nginx's
/// `$request`), `-` when there was none; no user, referer or agent (the head was not read as
/// fields).
pub(crate) fn write_rejection(out: &mut Vec<u8>, format: Format, r: &Rejection<'_>) {
    let at = SystemTime::now();
    let status = r.status.as_u16();
    let mut n = itoa::Buffer::new();
    match format {
        Format::Combined => {
            push_remote_clf(out, r.remote);
            out.extend_from_slice(b" - - [");
            clf_time(out, at);
            out.extend_from_slice(b"] \"");
            if r.request_line.is_empty() {
                out.push(b'-');
            } else {
                escape_clf(out, r.request_line);
            }
            out.extend_from_slice(b"\" ");
            out.extend_from_slice(n.format(status).as_bytes());
            out.push(b' ');
            out.extend_from_slice(n.format(r.body_bytes).as_bytes());
            out.extend_from_slice(b" \"-\" \"-\"");
        }
        Format::Json => {
            out.extend_from_slice(b"{\"time\":\"");
            rfc3339_time(out, at);
            out.extend_from_slice(b"\",\"remote\":");
            push_remote_json(out, r.remote);
            out.extend_from_slice(b",\"method\":null,\"uri\":null,\"proto\":null,\"status\":");
            out.extend_from_slice(n.format(status).as_bytes());
            out.extend_from_slice(b",\"bytes\":");
            out.extend_from_slice(n.format(r.body_bytes).as_bytes());
            out.extend_from_slice(
                b",\"duration_ms\":null,\"user\":null,\"referer\":null,\"user_agent\":null",
            );
            out.extend_from_slice(b",\"request\":");
            escape_json(out, r.request_line);
            out.extend_from_slice(b",\"rejected\":");
            escape_json(out, r.reason.as_bytes());
            out.push(b'}');
        }
    }
    out.push(b'\n');
}

/// nginx's `$remote_addr` (an IPv6 address without brackets), or `-` without an address.
fn push_remote_clf(out: &mut Vec<u8>, remote: Option<std::net::SocketAddr>) {
    match remote.map(|a| a.ip()) {
        Some(IpAddr::V6(ip)) => {
            let _ = std::io::Write::write_fmt(out, format_args!("{ip}"));
        }
        Some(ip) => push_ip(out, ip),
        None => out.push(b'-'),
    }
}

/// `"ADDR:PORT"`, or `null` without an address.
fn push_remote_json(out: &mut Vec<u8>, remote: Option<std::net::SocketAddr>) {
    match remote {
        Some(a) => {
            out.push(b'"');
            push_ip(out, a.ip());
            out.push(b':');
            out.extend_from_slice(itoa::Buffer::new().format(a.port()).as_bytes());
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    }
}

/// An IP address as text: IPv4 digit by digit, IPv6 (rare behind most servers) through
/// `Display`.
fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(ip) => {
            for (i, octet) in ip.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                if octet >= 100 {
                    out.push(b'0' + octet / 100);
                }
                if octet >= 10 {
                    out.push(b'0' + octet / 10 % 10);
                }
                out.push(b'0' + octet % 10);
            }
        }
        IpAddr::V6(ip) => {
            let _ = std::io::Write::write_fmt(out, format_args!("[{ip}]"));
        }
    }
}

/// `n` in decimal with leading zeros to `width` digits.
fn push_padded(out: &mut Vec<u8>, n: u32, width: usize) {
    let mut b = itoa::Buffer::new();
    let digits = b.format(n);
    for _ in digits.len()..width {
        out.push(b'0');
    }
    out.extend_from_slice(digits.as_bytes());
}

/// nginx's escaping of logged variables: `"`, `\`, and bytes outside printable ASCII as
/// `\xHH`.
fn escape_clf(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut rest = s;
    loop {
        let safe = rest
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b))
            .unwrap_or(rest.len());
        out.extend_from_slice(&rest[..safe]);
        let Some(&b) = rest.get(safe) else { return };
        out.extend_from_slice(&[
            b'\\',
            b'x',
            HEX[usize::from(b >> 4)],
            HEX[usize::from(b & 15)],
        ]);
        rest = &rest[safe + 1..];
    }
}

/// `s` as a JSON string: quoted, with `"`, `\` and control characters escaped, and bytes
/// that are not UTF-8 replaced by U+FFFD.
fn escape_json(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    let text = String::from_utf8_lossy(s);
    let mut rest = text.as_ref();
    while let Some(at) = rest.find(|c: char| c == '"' || c == '\\' || c < ' ' || c == '\u{7f}') {
        out.extend_from_slice(&rest.as_bytes()[..at]);
        let c = rest[at..].chars().next().unwrap_or_default();
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            c => {
                out.extend_from_slice(b"\\u00");
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push(HEX[(c as usize) >> 4]);
                out.push(HEX[(c as usize) & 15]);
            }
        }
        rest = &rest[at + 1..];
    }
    out.extend_from_slice(rest.as_bytes());
    out.push(b'"');
}

/// Calendar date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Seconds and milliseconds since the epoch, split into date and time of day (UTC).
fn parts(t: SystemTime) -> ((i64, u32, u32), u64, u32) {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    (
        civil((secs / 86_400) as i64),
        secs % 86_400,
        since.subsec_millis(),
    )
}

/// `07/Dec/2026:15:41:41 +0000`.
fn clf_time(out: &mut Vec<u8>, t: SystemTime) {
    thread_local! {
        static LAST: SecondText = const { RefCell::new((u64::MAX, String::new())) };
    }
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    per_second(&LAST, secs, out, &|text| {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let ((y, m, d), s, _) = parts(t);
        let _ = write!(
            text,
            "{d:02}/{}/{y}:{:02}:{:02}:{:02} +0000",
            MONTHS[(m - 1) as usize],
            s / 3600,
            s / 60 % 60,
            s % 60
        );
    });
}

/// The last second a thread wrote, and how: a logged server writes the same second for
/// every request within it.
type SecondText = RefCell<(u64, String)>;

/// Appends the text `make` writes for the second `secs`, made once a second per thread (and
/// every time on a thread that is ending, whose cache is gone).
fn per_second(
    cache: &'static std::thread::LocalKey<SecondText>,
    secs: u64,
    out: &mut Vec<u8>,
    make: &dyn Fn(&mut String),
) {
    let cached = cache.try_with(|c| {
        let (at, text) = &mut *c.borrow_mut();
        if *at != secs {
            text.clear();
            make(text);
            *at = secs;
        }
        out.extend_from_slice(text.as_bytes());
    });
    if cached.is_err() {
        let mut text = String::new();
        make(&mut text);
        out.extend_from_slice(text.as_bytes());
    }
}

/// How a request line names the version (`Debug` of `http::Version` says the same, slowly).
fn version_name(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/?",
    }
}

/// `2026-12-07T15:41:41.123Z`.
fn rfc3339_time(out: &mut Vec<u8>, t: SystemTime) {
    thread_local! {
        /// Up to the second's `.`, as [`clf_time`] keeps its own.
        static LAST: SecondText = const { RefCell::new((u64::MAX, String::new())) };
    }
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    per_second(&LAST, since.as_secs(), out, &|text| {
        let ((y, m, d), s, _) = parts(t);
        let _ = write!(
            text,
            "{y}-{m:02}-{d:02}T{:02}:{:02}:{:02}.",
            s / 3600,
            s / 60 % 60,
            s % 60
        );
    });
    push_padded(out, since.subsec_millis(), 3);
    out.push(b'Z');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::Body;
    use proptest::prelude::*;

    /// Bytes a header field value may hold: visible ASCII, space, tab and obs-text.
    fn field_bytes() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(prop_oneof![Just(b'\t'), 0x20u8..0x7f, 0x80u8..=0xff], 0..60)
    }

    proptest! {
        /// Whatever a client puts in the fields a line shows, the combined line is one line
        /// of printable ASCII and the JSON line is one JSON object that gives the text back.
        #[test]
        fn any_field_makes_one_line(
            agent in field_bytes(),
            referer in field_bytes(),
            // A user-id cannot hold `:` (RFC 7617 §2).
            user in "[ -9;-~]{0,20}",
        ) {
            let mut token = Vec::new();
            crate::base64::encode(format!("{user}:pw").as_bytes(), &mut token);
            let auth = [&b"Basic "[..], &token].concat();
            let req = Request::get("/x?q=1")
                .header("user-agent", http::HeaderValue::from_bytes(&agent).unwrap())
                .header("referer", http::HeaderValue::from_bytes(&referer).unwrap())
                .header("authorization", http::HeaderValue::from_bytes(&auth).unwrap())
                .body(Body::empty())
                .unwrap();
            let r = Record::new(&req);
            let line = r.line(Format::Combined, 200, 1, Duration::ZERO);
            prop_assert!(line.ends_with('\n'));
            let body = &line[..line.len() - 1];
            prop_assert!(body.bytes().all(|b| (0x20..0x7f).contains(&b)), "{}", line);
            // Exactly the six quotes of the request, the referer and the agent.
            prop_assert_eq!(body.matches('"').count(), 6, "{}", line);
            let json = r.line(Format::Json, 200, 1, Duration::ZERO);
            prop_assert_eq!(json.matches('\n').count(), 1);
            let v: serde_json::Value = serde_json::from_str(&json).unwrap();
            let sent = String::from_utf8_lossy(&agent).into_owned();
            prop_assert_eq!(v["user_agent"].as_str().unwrap(), sent.as_str());
            prop_assert_eq!(v["user"].as_str().unwrap(), user.as_str());
        }
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(secs * 1000 + 123)
    }

    #[test]
    fn dates_agree_with_httpdate() {
        for secs in [0, 951_782_400, 1_700_000_000, 1_796_658_101, 4_102_444_799] {
            let mut clf = Vec::new();
            clf_time(&mut clf, at(secs));
            let clf = String::from_utf8(clf).unwrap();
            // httpdate writes `Tue, 14 Nov 2023 22:13:20 GMT`.
            let http = httpdate::fmt_http_date(at(secs));
            let f: Vec<&str> = http.split([' ', ',']).filter(|s| !s.is_empty()).collect();
            let want = format!("{}/{}/{}:{} +0000", f[1], f[2], f[3], f[4]);
            assert_eq!(clf, want, "{secs}");
        }
        let mut s = Vec::new();
        rfc3339_time(&mut s, at(1_700_000_000));
        assert_eq!(s, b"2023-11-14T22:13:20.123Z");
    }

    #[test]
    fn client_text_cannot_forge_a_line() {
        let req = Request::post("/a%20b?q=x\\y")
            .header("user-agent", "evil\" 200 1 \"-\" \"x")
            // `a" b` as the user-id.
            .header("authorization", "Basic YSIgYjpw")
            .header(
                "referer",
                http::HeaderValue::from_bytes(b"caf\xc3\xa9\\").unwrap(),
            )
            .body(Body::empty())
            .unwrap();
        let mut r = Record::new(&req);
        r.at = at(1_700_000_000);
        assert_eq!(
            r.line(Format::Combined, 201, 5, Duration::ZERO),
            "- - a\\x22 b [14/Nov/2023:22:13:20 +0000] \"POST /a%20b?q=x\\x5Cy HTTP/1.1\" 201 5 \
             \"caf\\xC3\\xA9\\x5C\" \"evil\\x22 200 1 \\x22-\\x22 \\x22x\"\n"
        );
        let json = r.line(Format::Json, 201, 5, Duration::from_micros(1500));
        assert_eq!(
            json,
            "{\"time\":\"2023-11-14T22:13:20.123Z\",\"remote\":null,\"method\":\"POST\",\
             \"uri\":\"/a%20b?q=x\\\\y\",\"proto\":\"HTTP/1.1\",\"status\":201,\"bytes\":5,\
             \"duration_ms\":1.500,\"user\":\"a\\\" b\",\"referer\":\"café\\\\\",\"user_agent\":\"evil\\\" 200 1 \
             \\\"-\\\" \\\"x\"}\n"
        );
    }
}
