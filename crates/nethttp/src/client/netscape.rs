//! The Netscape cookie file, as curl's `-b FILE` reads and `-c FILE` writes it: one cookie a
//! line, seven tab-separated fields (domain, include subdomains, path, secure, expiry in Unix
//! seconds with `0` for a session cookie, name, value), `#HttpOnly_` before the domain of an
//! HttpOnly cookie, other lines starting with `#` comments. [`Jar`](super::Jar) reads and
//! writes it through here.

use std::io::{self, Write};

use cookie::time::OffsetDateTime;
use cookie_store::{Cookie, CookieDomain, CookieExpiration, RawCookie};
use url::Url;

const HTTP_ONLY: &str = "#HttpOnly_";

/// One line as a cookie and the URL it is taken to come from; `None` for a comment, a blank
/// line or a malformed one.
pub(crate) fn parse_line(line: &str) -> Option<(RawCookie<'static>, Url)> {
    let line = line.trim_end_matches(['\r', '\n']);
    let (http_only, line) = match line.strip_prefix(HTTP_ONLY) {
        Some(rest) => (true, rest),
        None if line.starts_with('#') || line.trim().is_empty() => return None,
        None => (false, line),
    };
    let mut fields = line.split('\t');
    let domain = fields.next()?;
    let subdomains = fields.next()?.eq_ignore_ascii_case("TRUE");
    let path = fields.next()?;
    let secure = fields.next()?.eq_ignore_ascii_case("TRUE");
    let expiry: i64 = fields.next()?.trim().parse().ok()?;
    let name = fields.next()?;
    // curl writes an empty value as a missing seventh field.
    let value = fields.next().unwrap_or("");
    if fields.next().is_some() || name.is_empty() {
        return None;
    }
    let host = domain.trim_start_matches('.');
    if host.is_empty() {
        return None;
    }
    let path = if path.starts_with('/') { path } else { "/" };
    let scheme = if secure { "https" } else { "http" };
    let url = Url::parse(&format!("{scheme}://{host}{path}")).ok()?;
    let mut raw = RawCookie::build((name.to_owned(), value.to_owned()))
        .path(path.to_owned())
        .secure(secure)
        .http_only(http_only);
    // A cookie for the subdomains too is one that had a Domain attribute.
    if subdomains {
        raw = raw.domain(host.to_owned());
    }
    if expiry != 0 {
        raw = raw.expires(OffsetDateTime::from_unix_timestamp(expiry).ok()?);
    }
    Some((raw.build(), url))
}

/// The comment lines curl puts first.
pub(crate) fn write_header(w: &mut impl Write) -> io::Result<()> {
    w.write_all(b"# Netscape HTTP Cookie File\n# https://curl.se/docs/http-cookies.html\n\n")
}

/// One cookie as one line.
pub(crate) fn write_line(w: &mut impl Write, c: &Cookie<'_>) -> io::Result<()> {
    let (domain, subdomains) = match &c.domain {
        CookieDomain::HostOnly(d) => (d.clone(), false),
        CookieDomain::Suffix(d) => (format!(".{d}"), true),
        CookieDomain::NotPresent | CookieDomain::Empty => return Ok(()),
    };
    let expiry = match &c.expires {
        CookieExpiration::AtUtc(t) => t.unix_timestamp().max(1),
        CookieExpiration::SessionEnd => 0,
    };
    let prefix = if c.http_only().unwrap_or(false) {
        HTTP_ONLY
    } else {
        ""
    };
    let flag = |b: bool| if b { "TRUE" } else { "FALSE" };
    writeln!(
        w,
        "{prefix}{domain}\t{}\t{}\t{}\t{expiry}\t{}\t{}",
        flag(subdomains),
        String::from(&c.path),
        flag(c.secure().unwrap_or(false)),
        c.name(),
        c.value()
    )
}
