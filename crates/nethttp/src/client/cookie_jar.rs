//! The client's cookie jar: the [`CookieJar`] trait `Client` asks before each hop and tells
//! after each response (Go's `http.CookieJar`), and, with the `cookies` feature, [`Jar`], an
//! RFC 6265 store (the `cookie_store` crate) bounded against hostile servers.

use std::fmt;
use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderValue};
use http::Uri;

/// Stores the cookies responses set and hands back the ones a request should carry, as Go's
/// `http.CookieJar`. [`ClientBuilder::cookie_provider`](super::ClientBuilder::cookie_provider)
/// installs one; with the `cookies` feature, [`Jar`] is the RFC 6265 one.
pub trait CookieJar: Send + Sync {
    /// Takes the `Set-Cookie` fields of a response to a request for `url`.
    fn set_cookies(&self, url: &Uri, headers: &mut dyn Iterator<Item = &HeaderValue>);

    /// The `Cookie` field to send with a request for `url`, or `None` for none.
    fn cookies(&self, url: &Uri) -> Option<HeaderValue>;
}

/// The jar a client holds, with the two steps of each hop.
#[derive(Clone)]
pub(crate) struct JarHandle(pub(crate) Arc<dyn CookieJar>);

impl JarHandle {
    /// Before a hop: the jar's `Cookie` field, unless the caller set one. `added` remembers
    /// that the field now there is the jar's, so the next hop replaces it rather than keeping
    /// cookies chosen for another URL.
    pub(crate) fn before_send(&self, headers: &mut HeaderMap, url: &Uri, added: &mut bool) {
        if std::mem::take(added) {
            headers.remove(header::COOKIE);
        }
        if headers.contains_key(header::COOKIE) {
            return;
        }
        if let Some(v) = self.0.cookies(url) {
            headers.insert(header::COOKIE, v);
            *added = true;
        }
    }

    /// After a response (a redirect's too): its `Set-Cookie` fields into the jar.
    pub(crate) fn after_response(&self, url: &Uri, headers: &HeaderMap) {
        let mut fields = headers.get_all(header::SET_COOKIE).iter();
        self.0.set_cookies(url, &mut fields);
    }
}

impl fmt::Debug for JarHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CookieJar")
    }
}

#[cfg(feature = "cookies")]
pub use jar::Jar;

#[cfg(feature = "cookies")]
mod jar {
    use std::collections::HashMap;
    use std::fmt;
    use std::io;
    use std::sync::{Mutex, MutexGuard, OnceLock};

    use cookie_store::{Cookie, CookieStore, RawCookie, StoreAction};
    use http::header::HeaderValue;
    use http::Uri;
    use url::Url;

    use super::CookieJar;

    /// Where Linux and BSD distributions install the Public Suffix List (the `publicsuffix`
    /// package of Debian, Ubuntu, Fedora, Alpine, Arch; libpsl and curl read it there).
    const SYSTEM_LISTS: [&str; 2] = [
        "/usr/share/publicsuffix/public_suffix_list.dat",
        "/usr/share/publicsuffix/effective_tld_names.dat",
    ];

    /// A cookie jar by RFC 6265: domain and path matching (§5.1.3, §5.1.4), `Secure` cookies
    /// sent only over https, `HttpOnly` kept, expiry by `Max-Age` and `Expires` (`Max-Age=0`
    /// or a past date deletes), `SameSite` stored, and cookies whose `Domain` is a public
    /// suffix refused (§5.3 step 5: `Domain=com` is ignored).
    ///
    /// Bounded against a server that sends thousands of `Set-Cookie` fields or huge ones, as
    /// browsers are (§6.1 asks for at least these): a field over [`Jar::MAX_COOKIE_BYTES`] is
    /// ignored, and past [`Jar::MAX_PER_DOMAIN`] cookies in one domain or [`Jar::MAX_COOKIES`]
    /// in all, the least recently set one goes first (§5.3's eviction, expired ones before
    /// any other).
    ///
    /// [`Jar::new`] uses the system's Public Suffix List when there is one; without it only
    /// single-label domains (`com`, `uk`) are refused. [`Jar::with_public_suffix_list`] takes
    /// another.
    ///
    /// ```
    /// use nethttp::client::{CookieJar, Jar};
    /// use nethttp::http::{HeaderValue, Uri};
    ///
    /// let jar = Jar::new();
    /// let url: Uri = "http://example.com/app/login".parse().unwrap();
    /// let set = HeaderValue::from_static("sid=42; Path=/app; HttpOnly");
    /// jar.set_cookies(&url, &mut std::iter::once(&set));
    /// let next: Uri = "http://example.com/app/home".parse().unwrap();
    /// assert_eq!(jar.cookies(&next).unwrap(), "sid=42");
    /// assert!(jar.cookies(&"http://example.com/".parse().unwrap()).is_none());
    /// ```
    pub struct Jar {
        inner: Mutex<Inner>,
    }

    struct Inner {
        store: CookieStore,
        /// Without a list, single-label domains stand in for public suffixes.
        has_list: bool,
        /// When each cookie (domain, path, name) was last set, for eviction.
        set_at: HashMap<(String, String, String), u64>,
        clock: u64,
    }

    impl Jar {
        /// The largest `Set-Cookie` field kept, in bytes: name, value and attributes
        /// (RFC 6265 §6.1's minimum, and what browsers keep).
        pub const MAX_COOKIE_BYTES: usize = 4096;
        /// The most cookies kept for one domain (browsers keep 50 to 180).
        pub const MAX_PER_DOMAIN: usize = 50;
        /// The most cookies kept in all (browsers keep about 3000).
        pub const MAX_COOKIES: usize = 3000;

        /// An empty jar that refuses public suffixes by the system's Public Suffix List
        /// (`/usr/share/publicsuffix/public_suffix_list.dat`, read once per process), or
        /// without one refuses single-label domains only.
        pub fn new() -> Jar {
            static SYSTEM: OnceLock<Option<publicsuffix::List>> = OnceLock::new();
            let list = SYSTEM.get_or_init(|| {
                SYSTEM_LISTS.iter().find_map(|p| {
                    let bytes = std::fs::read(p).ok()?;
                    publicsuffix::List::from_bytes(&bytes).ok()
                })
            });
            Jar::with_list(list.clone())
        }

        /// An empty jar that refuses the public suffixes of `list`, text in the format of
        /// publicsuffix.org's `public_suffix_list.dat`.
        pub fn with_public_suffix_list(list: &[u8]) -> io::Result<Jar> {
            let list = publicsuffix::List::from_bytes(list)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            Ok(Jar::with_list(Some(list)))
        }

        fn with_list(list: Option<publicsuffix::List>) -> Jar {
            let has_list = list.is_some();
            Jar {
                inner: Mutex::new(Inner {
                    store: CookieStore::new(list),
                    has_list,
                    set_at: HashMap::new(),
                    clock: 0,
                }),
            }
        }

        /// How many unexpired cookies the jar holds.
        pub fn len(&self) -> usize {
            self.lock().store.iter_unexpired().count()
        }

        /// Whether the jar holds no unexpired cookie.
        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }

        /// Forgets every cookie.
        pub fn clear(&self) {
            let mut inner = self.lock();
            inner.store.clear();
            inner.set_at.clear();
        }

        /// Adds `cookie` (a `Set-Cookie` value) as if a response for `url` had set it; `false`
        /// if the jar refused it.
        pub fn add_cookie_str(&self, cookie: &str, url: &Uri) -> bool {
            let Some(url) = to_url(url) else {
                return false;
            };
            self.lock().set(cookie.as_bytes(), &url)
        }

        /// Adds the cookies of a Netscape cookie file (curl's `-c` output, the format of
        /// `cookies.txt`); returns how many were kept. Lines that are not cookies are skipped.
        pub fn load_netscape(&self, reader: impl io::BufRead) -> io::Result<usize> {
            let mut inner = self.lock();
            let mut kept = 0;
            for line in reader.lines() {
                let Some((raw, url)) = super::super::netscape::parse_line(&line?) else {
                    continue;
                };
                if inner.insert_raw(&raw, &url) {
                    kept += 1;
                }
            }
            Ok(kept)
        }

        /// Writes the unexpired cookies as a Netscape cookie file, session cookies with expiry
        /// `0`, as curl's `-c` does.
        pub fn save_netscape(&self, mut writer: impl io::Write) -> io::Result<()> {
            let inner = self.lock();
            super::super::netscape::write_header(&mut writer)?;
            for c in inner.store.iter_unexpired() {
                super::super::netscape::write_line(&mut writer, c)?;
            }
            writer.flush()
        }

        fn lock(&self) -> MutexGuard<'_, Inner> {
            // A panic elsewhere while holding the lock leaves a store that is still whole.
            self.inner.lock().unwrap_or_else(|e| e.into_inner())
        }
    }

    impl Default for Jar {
        fn default() -> Self {
            Jar::new()
        }
    }

    impl fmt::Debug for Jar {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Jar").field("cookies", &self.len()).finish()
        }
    }

    impl CookieJar for Jar {
        fn set_cookies(&self, url: &Uri, headers: &mut dyn Iterator<Item = &HeaderValue>) {
            let Some(url) = to_url(url) else {
                return;
            };
            let mut inner = self.lock();
            for v in headers {
                inner.set(v.as_bytes(), &url);
            }
        }

        fn cookies(&self, url: &Uri) -> Option<HeaderValue> {
            let url = to_url(url)?;
            let https = url.scheme() == "https";
            let inner = self.lock();
            // cookie_store counts http://localhost as secure (a trustworthy origin); RFC 6265
            // §5.4 step 1 sends Secure cookies over a secure protocol only, as curl does.
            let mut found: Vec<&Cookie<'static>> = inner
                .store
                .matches(&url)
                .into_iter()
                .filter(|c| https || !c.secure().unwrap_or(false))
                .collect();
            if found.is_empty() {
                return None;
            }
            // §5.4 step 2: longer paths first, then the earlier set.
            found.sort_by_cached_key(|c| {
                let key = key_of(c);
                let set_at = inner.set_at.get(&key).copied().unwrap_or(0);
                (std::cmp::Reverse(key.1.len()), set_at)
            });
            let mut out = String::new();
            for c in found {
                if !out.is_empty() {
                    out.push_str("; ");
                }
                out.push_str(c.name());
                out.push('=');
                out.push_str(c.value());
            }
            HeaderValue::from_str(&out).ok()
        }
    }

    impl Inner {
        /// One `Set-Cookie` field from a response for `url`.
        fn set(&mut self, field: &[u8], url: &Url) -> bool {
            if field.len() > Jar::MAX_COOKIE_BYTES {
                return false;
            }
            let Ok(text) = std::str::from_utf8(field) else {
                return false;
            };
            let Ok(raw) = RawCookie::parse(text) else {
                return false;
            };
            self.insert_raw(&raw, url)
        }

        fn insert_raw(&mut self, raw: &RawCookie<'_>, url: &Url) -> bool {
            if !self.has_list && single_label_domain(raw, url) {
                return false;
            }
            let Ok(cookie) = Cookie::try_from_raw_cookie(raw, url) else {
                return false;
            };
            let cookie = cookie.into_owned();
            let key = (
                String::from(&cookie.domain),
                String::from(&cookie.path),
                cookie.name().to_owned(),
            );
            let known = self.store.contains_any(&key.0, &key.1, &key.2);
            if !known && !cookie.is_expired() {
                self.make_room(&key.0);
            }
            match self.store.insert(cookie, url) {
                Ok(StoreAction::Inserted) | Ok(StoreAction::UpdatedExisting) => {
                    self.clock += 1;
                    self.set_at.insert(key, self.clock);
                    true
                }
                Ok(StoreAction::ExpiredExisting) => {
                    // A deletion: gone from the store, not only marked.
                    self.store.remove(&key.0, &key.1, &key.2);
                    self.set_at.remove(&key);
                    true
                }
                Err(_) => false,
            }
        }

        /// Frees a place for one more cookie in `domain` (RFC 6265 §5.3, last paragraph):
        /// expired cookies go first, then the least recently set of the domain when it holds
        /// [`Jar::MAX_PER_DOMAIN`], then the least recently set of all at
        /// [`Jar::MAX_COOKIES`].
        fn make_room(&mut self, domain: &str) {
            let in_domain = |c: &Cookie<'_>| String::from(&c.domain) == domain;
            if self.store.iter_any().filter(|c| in_domain(c)).count() >= Jar::MAX_PER_DOMAIN {
                self.purge_expired();
                if self.store.iter_any().filter(|c| in_domain(c)).count() >= Jar::MAX_PER_DOMAIN {
                    self.evict_oldest(Some(domain));
                }
            }
            if self.store.iter_any().count() >= Jar::MAX_COOKIES {
                self.purge_expired();
                if self.store.iter_any().count() >= Jar::MAX_COOKIES {
                    self.evict_oldest(None);
                }
            }
        }

        fn purge_expired(&mut self) {
            let gone: Vec<_> = self
                .store
                .iter_any()
                .filter(|c| c.is_expired())
                .map(key_of)
                .collect();
            for k in gone {
                self.store.remove(&k.0, &k.1, &k.2);
                self.set_at.remove(&k);
            }
        }

        fn evict_oldest(&mut self, domain: Option<&str>) {
            let oldest = self
                .store
                .iter_any()
                .map(key_of)
                .filter(|k| domain.is_none_or(|d| k.0 == d))
                .min_by_key(|k| self.set_at.get(k).copied().unwrap_or(0));
            if let Some(k) = oldest {
                self.store.remove(&k.0, &k.1, &k.2);
                self.set_at.remove(&k);
            }
        }
    }

    fn key_of(c: &Cookie<'_>) -> (String, String, String) {
        (
            String::from(&c.domain),
            String::from(&c.path),
            c.name().to_owned(),
        )
    }

    /// Without a Public Suffix List, a `Domain` of one label (`com`) other than the host
    /// itself stands for a public suffix (RFC 6265 §5.3 step 5; curl does the same without
    /// libpsl).
    fn single_label_domain(raw: &RawCookie<'_>, url: &Url) -> bool {
        let Some(domain) = raw.domain() else {
            return false;
        };
        let domain = domain.trim_start_matches('.');
        !domain.is_empty()
            && !domain.contains('.')
            && !url
                .host_str()
                .is_some_and(|h| h.eq_ignore_ascii_case(domain))
    }

    fn to_url(uri: &Uri) -> Option<Url> {
        uri.scheme()?;
        uri.host()?;
        Url::parse(&uri.to_string()).ok()
    }
}
