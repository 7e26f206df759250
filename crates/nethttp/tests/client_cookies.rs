//! The client's cookie jar (`ClientBuilder::cookie_store`, `client::Jar`) against a Python
//! server that sets cookies and echoes the `Cookie` field it gets (tests/peers/cookie_server.py):
//! path and domain matching across redirects, hosts kept apart, Secure only over https,
//! deletion by Max-Age and Expires, public suffixes refused, the bounds against a hostile
//! server, and the Netscape cookie file.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use common::peers::peer;
use nethttp::client::{CookieJar, Jar};
use nethttp::http::{HeaderValue, Uri};
use nethttp::Client;
use tokio::io::AsyncBufReadExt;

const TIMEOUT: Duration = Duration::from_secs(10);

/// cookie_server.py, killed when dropped.
struct CookieServer {
    _child: tokio::process::Child,
    port: u16,
}

impl CookieServer {
    async fn start() -> Option<CookieServer> {
        let py = peer("python3", "--version", &[])?;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/cookie_server.py");
        let mut child = tokio::process::Command::new(py)
            .arg("-u")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn cookie_server.py");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(TIMEOUT, lines.next_line())
            .await
            .expect("cookie_server.py did not start")
            .expect("read its stdout")
            .expect("it exited before listening");
        let port = line
            .strip_prefix("listening ")
            .and_then(|p| p.trim().parse().ok())
            .expect("listening PORT");
        Some(CookieServer {
            _child: child,
            port,
        })
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `http://HOST:PORT` + `path_and_query`.
    fn url(&self, host: &str, path_and_query: &str) -> String {
        format!("http://{host}:{}{path_and_query}", self.port)
    }
}

/// `set=` parameters for the server, URL-encoded.
fn set(cookies: &[&str]) -> String {
    cookies
        .iter()
        .map(|c| format!("set={}", encode(c)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A client on `jar`, with the given hosts pinned to the server.
fn client(jar: &Arc<Jar>, server: &CookieServer, hosts: &[&str]) -> Client {
    let addr = server.addr();
    let hosts: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
    Client::builder()
        .timeout(TIMEOUT)
        .cookie_provider(jar.clone())
        .transport(move |mut t| {
            t = t.no_proxy();
            for h in hosts {
                t = t.resolve(h, addr);
            }
            t
        })
        .build()
        .unwrap()
}

/// GET `url`; the body (the `Cookie` field the server got).
async fn get(c: &Client, url: &str) -> String {
    let res = c
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    assert!(res.status().is_success(), "{url}: {}", res.status());
    let body = res.into_body().to_bytes(1 << 20).await.unwrap();
    String::from_utf8(body.to_vec()).unwrap()
}

fn uri(s: &str) -> Uri {
    s.parse().unwrap()
}

#[tokio::test]
async fn paths_attributes_and_deletion() {
    let Some(s) = CookieServer::start().await else {
        return;
    };
    let jar = Arc::new(Jar::new());
    let c = client(&jar, &s, &[]);
    let q = set(&[
        "p=1; Path=/a",
        "d=2",
        "h=3; Path=/; HttpOnly; SameSite=Strict",
        "x=4; Path=/; Max-Age=3600",
        "old=5; Path=/; Expires=Wed, 21 Oct 2015 07:28:00 GMT",
    ]);
    assert_eq!(
        get(&c, &s.url("127.0.0.1", &format!("/a/login?{q}"))).await,
        ""
    );
    assert_eq!(jar.len(), 4, "the cookie that expired in 2015 is not kept");
    // Longer paths first (RFC 6265 §5.4 step 2); `d` has the default path `/a`.
    let at_a = get(&c, &s.url("127.0.0.1", "/a/page")).await;
    let mut names: Vec<&str> = at_a.split("; ").collect();
    assert!(
        names[..2].contains(&"p=1") && names[..2].contains(&"d=2"),
        "{at_a}"
    );
    names.sort();
    assert_eq!(names, ["d=2", "h=3", "p=1", "x=4"], "{at_a}");
    assert_eq!(get(&c, &s.url("127.0.0.1", "/b")).await, "h=3; x=4");
    // `/ab` is not under `/a` (§5.1.4).
    assert_eq!(get(&c, &s.url("127.0.0.1", "/ab")).await, "h=3; x=4");

    // Max-Age=0 and an Expires in the past delete.
    let q = set(&[
        "x=; Path=/; Max-Age=0",
        "h=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
    ]);
    get(&c, &s.url("127.0.0.1", &format!("/?{q}"))).await;
    assert_eq!(get(&c, &s.url("127.0.0.1", "/b")).await, "");
    assert_eq!(jar.len(), 2);
}

#[tokio::test]
async fn hosts_stay_apart_across_redirects() {
    let Some(s) = CookieServer::start().await else {
        return;
    };
    let jar = Arc::new(Jar::new());
    let c = client(&jar, &s, &["localhost"]);
    // A redirect from one host to another: the cookie the first set does not follow.
    let to = encode(&s.url("localhost", "/echo"));
    let q = set(&["who=ip; Path=/"]);
    let url = s.url("127.0.0.1", &format!("/?{q}&to={to}"));
    assert_eq!(get(&c, &url).await, "");
    let q = set(&["who=name; Path=/"]);
    get(&c, &s.url("localhost", &format!("/?{q}"))).await;
    assert_eq!(get(&c, &s.url("127.0.0.1", "/")).await, "who=ip");
    assert_eq!(get(&c, &s.url("localhost", "/")).await, "who=name");
    // And back: localhost -> 127.0.0.1 carries 127.0.0.1's cookie only.
    let to = encode(&s.url("127.0.0.1", "/back"));
    assert_eq!(
        get(&c, &s.url("localhost", &format!("/?to={to}"))).await,
        "who=ip"
    );
}

#[tokio::test]
async fn a_redirect_that_sets_a_cookie_then_the_next_hop_carries_it() {
    let Some(s) = CookieServer::start().await else {
        return;
    };
    let jar = Arc::new(Jar::new());
    let c = client(&jar, &s, &[]);
    // A login: POST-less, the 302 sets the session and points at the page that needs it.
    let q = set(&["sid=abc; Path=/; HttpOnly"]);
    let login = s.url("127.0.0.1", &format!("/login?{q}&to=/home"));
    assert_eq!(get(&c, &login).await, "sid=abc");
    // Across paths: a cookie for /a is not sent on the hop to /b, and is on the hop to /a.
    let q = set(&["t=1; Path=/a"]);
    let url = s.url("127.0.0.1", &format!("/a/x?{q}&to=/b/page"));
    assert_eq!(get(&c, &url).await, "sid=abc");
    let url = s.url("127.0.0.1", "/b/x?to=/a/page");
    assert_eq!(get(&c, &url).await, "t=1; sid=abc");
    // Two redirects in a row, each setting one: the jar's field is rebuilt for each hop;
    // equal paths go in the order they were set (RFC 6265 §5.4 step 2).
    let second = encode(&format!("/c/end?{}", set(&["two=2; Path=/c"])));
    let url = s.url(
        "127.0.0.1",
        &format!("/?{}&to={second}", set(&["one=1; Path=/"])),
    );
    assert_eq!(get(&c, &url).await, "sid=abc; one=1");
    assert_eq!(
        get(&c, &s.url("127.0.0.1", "/c/")).await,
        "two=2; sid=abc; one=1"
    );
}

#[tokio::test]
async fn a_cookie_field_set_by_the_caller_wins() {
    let Some(s) = CookieServer::start().await else {
        return;
    };
    let jar = Arc::new(Jar::new());
    let c = client(&jar, &s, &[]);
    get(&c, &s.url("127.0.0.1", &format!("/?{}", set(&["j=1"])))).await;
    let res = c
        .get(s.url("127.0.0.1", "/"))
        .header("cookie", "mine=1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.into_body().to_bytes(1024).await.unwrap(), "mine=1");
    assert_eq!(get(&c, &s.url("127.0.0.1", "/")).await, "j=1");
}

#[tokio::test]
async fn without_a_jar_nothing_is_kept() {
    let Some(s) = CookieServer::start().await else {
        return;
    };
    let c = Client::builder().timeout(TIMEOUT).build().unwrap();
    let q = set(&["sid=abc; Path=/"]);
    let body = c
        .get(s.url("127.0.0.1", &format!("/login?{q}&to=/home")))
        .send()
        .await;
    assert_eq!(body.unwrap().into_body().to_bytes(1024).await.unwrap(), "");
    let c = Client::builder()
        .timeout(TIMEOUT)
        .cookie_store(true)
        .build()
        .unwrap();
    let body = c
        .get(s.url("127.0.0.1", &format!("/login?{q}&to=/home")))
        .send()
        .await;
    assert_eq!(
        body.unwrap().into_body().to_bytes(1024).await.unwrap(),
        "sid=abc"
    );
}

#[tokio::test]
async fn secure_cookies_go_over_https_only() {
    let Some(s) = CookieServer::start().await else {
        return;
    };
    let jar = Arc::new(Jar::new());
    let c = client(&jar, &s, &["localhost"]);
    let q = set(&["sec=1; Path=/; Secure", "plain=2; Path=/"]);
    get(&c, &s.url("localhost", &format!("/?{q}"))).await;
    // Not over http, not even to localhost (RFC 6265 §5.4 step 1).
    assert_eq!(get(&c, &s.url("localhost", "/")).await, "plain=2");
    let https = format!("https://localhost:{}/", s.port);
    let field = jar.cookies(&uri(&https)).unwrap();
    let mut got: Vec<&str> = field.to_str().unwrap().split("; ").collect();
    got.sort();
    assert_eq!(got, ["plain=2", "sec=1"]);
}

/// A Public Suffix List in publicsuffix.org's format, three rules long.
const LIST: &[u8] = b"// ===BEGIN ICANN DOMAINS===\ncom\nuk\nco.uk\n// ===END ICANN DOMAINS===\n";

#[tokio::test]
async fn public_suffixes_are_refused() {
    let Some(s) = CookieServer::start().await else {
        return;
    };
    // The system's list, or without one the single-label rule: `Domain=com` either way.
    let jar = Arc::new(Jar::new());
    let c = client(&jar, &s, &["a.example.com", "b.example.com", "example.org"]);
    let q = set(&[
        "ps=1; Domain=com; Path=/",
        "ok=1; Domain=example.com; Path=/",
    ]);
    get(&c, &s.url("a.example.com", &format!("/?{q}"))).await;
    assert_eq!(get(&c, &s.url("b.example.com", "/")).await, "ok=1");
    assert_eq!(get(&c, &s.url("example.org", "/")).await, "");
    assert_eq!(jar.len(), 1);

    // A list given: a two-label suffix is refused too, the domain under it is not.
    let jar = Arc::new(Jar::with_public_suffix_list(LIST).unwrap());
    let c = client(&jar, &s, &["a.shop.co.uk", "b.shop.co.uk", "other.co.uk"]);
    let q = set(&[
        "ps=1; Domain=co.uk; Path=/",
        "ok=1; Domain=shop.co.uk; Path=/",
    ]);
    get(&c, &s.url("a.shop.co.uk", &format!("/?{q}"))).await;
    assert_eq!(get(&c, &s.url("b.shop.co.uk", "/")).await, "ok=1");
    assert_eq!(get(&c, &s.url("other.co.uk", "/")).await, "");
    // RFC 6265 §5.3 step 5: a Domain equal to the host itself becomes host-only.
    let q = set(&["self=1; Domain=localhost; Path=/"]);
    let c = client(&jar, &s, &["localhost"]);
    get(&c, &s.url("localhost", &format!("/?{q}"))).await;
    assert_eq!(get(&c, &s.url("localhost", "/")).await, "self=1");
}

#[tokio::test]
async fn a_hostile_server_cannot_grow_the_jar_past_its_bounds() {
    let Some(s) = CookieServer::start().await else {
        return;
    };
    let jar = Arc::new(Jar::new());
    let c = client(&jar, &s, &[]);
    // 1000 Set-Cookie fields, 100 a response (a response head holds at most 128 fields; an
    // HTTP/2 one may hold more): the domain keeps the last 50 set.
    for start in (0..1000).step_by(100) {
        get(
            &c,
            &s.url("127.0.0.1", &format!("/?many=100&start={start}")),
        )
        .await;
        assert!(jar.len() <= Jar::MAX_PER_DOMAIN);
    }
    assert_eq!(jar.len(), Jar::MAX_PER_DOMAIN);
    let sent = get(&c, &s.url("127.0.0.1", "/")).await;
    assert!(sent.contains("m999=v") && sent.contains("m950=v"), "{sent}");
    assert!(!sent.contains("m949=v") && !sent.contains("m0=v"), "{sent}");
    jar.clear();
    // A field over 4096 bytes is ignored (RFC 6265 §6.1), one at the limit kept.
    get(&c, &s.url("127.0.0.1", "/?many=1&size=4097")).await;
    assert!(jar.is_empty());
    get(&c, &s.url("127.0.0.1", "/?many=1&size=4096")).await;
    assert_eq!(jar.len(), 1);
}

#[test]
fn the_jar_holds_at_most_3000_cookies_in_all() {
    let jar = Jar::new();
    let per_host = Jar::MAX_PER_DOMAIN;
    let hosts = Jar::MAX_COOKIES / per_host + 10;
    for h in 0..hosts {
        let url = uri(&format!("http://h{h}.example.test/"));
        let fields: Vec<HeaderValue> = (0..per_host)
            .map(|k| HeaderValue::from_str(&format!("c{k}=v")).unwrap())
            .collect();
        jar.set_cookies(&url, &mut fields.iter());
        assert!(jar.len() <= Jar::MAX_COOKIES);
    }
    assert_eq!(jar.len(), Jar::MAX_COOKIES);
    // The least recently set went first: the first hosts are gone, the last are whole.
    assert!(jar.cookies(&uri("http://h0.example.test/")).is_none());
    let last = jar.cookies(&uri(&format!("http://h{}.example.test/", hosts - 1)));
    assert_eq!(
        last.unwrap().to_str().unwrap().split("; ").count(),
        per_host
    );
}

#[test]
fn netscape_files_round_trip() {
    let jar = Jar::new();
    let url = uri("http://www.example.com/app/login");
    for c in [
        "session=s1; Path=/",
        "sub=2; Domain=example.com; Path=/app",
        "sec=3; Path=/; Secure; HttpOnly; Expires=Fri, 01 Jan 2100 00:00:00 GMT",
    ] {
        assert!(jar.add_cookie_str(c, &url), "{c}");
    }
    let mut file = Vec::new();
    jar.save_netscape(&mut file).unwrap();
    let text = String::from_utf8(file.clone()).unwrap();
    let mut lines: Vec<&str> = text.lines().filter(|l| l.contains('\t')).collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "#HttpOnly_www.example.com\tFALSE\t/\tTRUE\t4102444800\tsec\t3",
            ".example.com\tTRUE\t/app\tFALSE\t0\tsub\t2",
            "www.example.com\tFALSE\t/\tFALSE\t0\tsession\ts1",
        ],
        "{text}"
    );
    let back = Jar::new();
    assert_eq!(back.load_netscape(&file[..]).unwrap(), 3);
    for u in [
        "https://www.example.com/app/x",
        "http://www.example.com/",
        "http://a.example.com/app",
    ] {
        // The same cookies; their order may differ where paths are equal, since a Netscape
        // file keeps no creation time (RFC 6265 §5.4 orders those by it).
        let set = |v: Option<nethttp::http::HeaderValue>| {
            let mut c: Vec<String> = v
                .map(|v| v.to_str().unwrap().split("; ").map(str::to_owned).collect())
                .unwrap_or_default();
            c.sort();
            c
        };
        let (a, b) = (set(jar.cookies(&uri(u))), set(back.cookies(&uri(u))));
        assert_eq!(a, b, "{u}");
    }
    // curl's file: comments, an empty value, an expired line, a malformed one.
    let curl = "# Netscape HTTP Cookie File\n\
                127.0.0.1\tFALSE\t/\tFALSE\t0\tempty\n\
                127.0.0.1\tFALSE\t/\tFALSE\t1\tgone\tx\n\
                not a cookie line\n\
                #HttpOnly_127.0.0.1\tFALSE\t/\tFALSE\t0\th\t1\n";
    let jar = Jar::new();
    assert_eq!(jar.load_netscape(curl.as_bytes()).unwrap(), 2);
    let sent = jar.cookies(&uri("http://127.0.0.1/")).unwrap();
    let mut got: Vec<&str> = sent.to_str().unwrap().split("; ").collect();
    got.sort();
    assert_eq!(got, ["empty=", "h=1"]);
}
