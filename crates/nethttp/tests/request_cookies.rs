//! Cookies: the request's `Cookie` fields read with `RequestExt::cookie`/`cookies` (RFC 6265's
//! own examples, curl's `-b`, invalid pairs skipped), and `set_cookie` writing every attribute
//! in exact `Set-Cookie` bytes that curl's cookie engine then stores as meant.

mod common;

use common::curl::{curl, run};
use common::peers::peer;
use common::wire::{start, Conn, DATE};
use nethttp::cookie::time::{Duration, OffsetDateTime};
use nethttp::cookie::{set_cookie, Cookie, SameSite};
use nethttp::http::{HeaderMap, StatusCode};
use nethttp::request::RequestExt;
use nethttp::{text_response, HttpRequest, ServeMux, Server, ServerHandle};

/// Lists the request's cookies, one `name=value` a line.
async fn echo(req: HttpRequest) -> nethttp::HttpResponse {
    let mut out = String::new();
    for c in req.cookies() {
        out += &format!("{}={}\n", c.name(), c.value());
    }
    if let Some(sid) = req.cookie("SID") {
        out += &format!("SID is {}\n", sid.value());
    }
    text_response(StatusCode::OK, out)
}

/// The cookies RFC 6265 §3.1 sets, plus one with every attribute.
fn rfc_cookies() -> Vec<Cookie<'static>> {
    let expires = OffsetDateTime::from_unix_timestamp(4_102_444_800).unwrap(); // Fri, 01 Jan 2100 00:00:00 GMT (RFC 6265 used 2021: curl drops past dates)
    vec![
        Cookie::build(("SID", "31d4d96e407aad42"))
            .path("/")
            .secure(true)
            .http_only(true)
            .build(),
        Cookie::build(("lang", "en-US"))
            .path("/")
            .domain("127.0.0.1")
            .expires(expires)
            .build(),
        Cookie::build(("all", "\"quoted\""))
            .path("/app")
            .domain("127.0.0.1")
            .max_age(Duration::hours(2))
            .same_site(SameSite::Strict)
            .partitioned(true)
            .http_only(true)
            .build(),
    ]
}

async fn set(_req: HttpRequest) -> Result<nethttp::HttpResponse, nethttp::Error> {
    let mut resp = text_response(StatusCode::OK, "set\n");
    for c in rfc_cookies() {
        set_cookie(resp.headers_mut(), &c)?;
    }
    Ok(resp)
}

fn serve() -> ServerHandle {
    start(
        Server::new(),
        ServeMux::new()
            .route("GET /echo", echo)
            .route("GET /set", set),
    )
}

#[tokio::test]
async fn set_cookie_writes_every_attribute_exactly() {
    let h = serve();
    let mut c = Conn::connect(h.local_addr()).await;
    c.send("GET /set HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(
        c.response().await,
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\n\
             set-cookie: SID=31d4d96e407aad42; HttpOnly; Secure; Path=/\r\n\
             set-cookie: lang=en-US; Path=/; Domain=127.0.0.1; Expires=Fri, 01 Jan 2100 00:00:00 GMT\r\n\
             set-cookie: all=\"quoted\"; HttpOnly; SameSite=Strict; Partitioned; Secure; Path=/app; Domain=127.0.0.1; Max-Age=7200\r\n\
             content-length: 4\r\n{DATE}keep-alive: timeout=60\r\n\r\nset\n"
        )
    );
    h.shutdown(std::time::Duration::from_secs(1)).await;
}

/// RFC 6265 §3.1's request (`Cookie: SID=31d4d96e407aad42; lang=en-US`), two `Cookie`
/// fields (as HTTP/2 clients send), and invalid pairs skipped without failing the rest.
#[tokio::test]
async fn cookie_fields_parse_as_rfc_6265_says() {
    let h = serve();
    let mut c = Conn::connect(h.local_addr()).await;
    c.send("GET /echo HTTP/1.1\r\nHost: x\r\nCookie: SID=31d4d96e407aad42; lang=en-US\r\n\r\n")
        .await;
    assert!(c
        .response()
        .await
        .ends_with("\r\n\r\nSID=31d4d96e407aad42\nlang=en-US\nSID is 31d4d96e407aad42\n"));

    c.send(
        "GET /echo HTTP/1.1\r\nHost: x\r\nCookie: a=1;b=2 ;  c = 3\r\nCookie: q=\"x y\"\r\n\
         Cookie: bad name=4; =5; noeq; d=in\"side; e=back\\slash; f=ok\r\n\r\n",
    )
    .await;
    let resp = c.response().await;
    let body = resp.split("\r\n\r\n").nth(1).unwrap();
    assert_eq!(body, "a=1\nb=2\nc=3\nq=\"x y\"\nf=ok\n");
    h.shutdown(std::time::Duration::from_secs(1)).await;
}

#[tokio::test]
async fn set_cookie_refuses_what_would_be_read_otherwise() {
    let mut headers = HeaderMap::new();
    for bad in [
        Cookie::new("a b", "1"),
        Cookie::new("", "1"),
        Cookie::new("a", "x; Domain=evil.example"),
        Cookie::new("a", "sp ace"),
        Cookie::new("a", "com,ma"),
        Cookie::new("a", "caf\u{e9}"),
        Cookie::build(("a", "1")).path("/x; Secure").build(),
        Cookie::build(("a", "1")).domain("a\u{7f}b").build(),
    ] {
        let err = set_cookie(&mut headers, &bad).unwrap_err();
        assert_eq!(err.kind(), nethttp::ErrorKind::Usage, "{bad}");
    }
    assert!(headers.is_empty());
    // A removal cookie (an empty value, expired) is fine.
    let mut gone = Cookie::build(("lang", "")).path("/").build();
    gone.make_removal();
    set_cookie(&mut headers, &gone).unwrap();
    let v = headers["set-cookie"].to_str().unwrap();
    assert!(v.starts_with("lang=; Path=/; Max-Age=0; Expires="), "{v}");
}

/// curl sends `-b` cookies, and stores what `set_cookie` wrote in its jar as meant: path,
/// secure flag, HttpOnly, expiry, and the domain on the host it asked.
#[tokio::test]
async fn curl_sends_and_stores_cookies() {
    let Some(bin) = peer("curl", "--version", &[]) else {
        return;
    };
    let h = serve();
    let base = format!("http://{}", h.local_addr());
    let mut cmd = curl(&bin);
    cmd.args([
        "-b",
        "SID=31d4d96e407aad42; lang=en-US",
        &format!("{base}/echo"),
    ]);
    let out = run(cmd, "curl -b").await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "SID=31d4d96e407aad42\nlang=en-US\nSID is 31d4d96e407aad42\n"
    );

    let dir = tempfile::tempdir().unwrap();
    let jar = dir.path().join("jar.txt");
    let mut cmd = curl(&bin);
    cmd.arg("-c").arg(&jar).arg(format!("{base}/set"));
    run(cmd, "curl -c").await;
    let jar = std::fs::read_to_string(&jar).unwrap();
    let lines: Vec<Vec<&str>> = jar
        .lines()
        .filter(|l| !l.is_empty() && (!l.starts_with('#') || l.starts_with("#HttpOnly_")))
        .map(|l| l.split('\t').collect())
        .collect();
    // Netscape format: domain, subdomains, path, secure, expiry, name, value.
    let find = |name: &str| {
        lines
            .iter()
            .find(|f| f.get(5) == Some(&name))
            .unwrap_or_else(|| panic!("{name} not in curl's jar:\n{jar}"))
            .clone()
    };
    let sid = find("SID");
    assert_eq!(sid[0], "#HttpOnly_127.0.0.1", "{jar}");
    assert_eq!(
        (sid[2], sid[3], sid[4], sid[6]),
        ("/", "TRUE", "0", "31d4d96e407aad42")
    );
    let lang = find("lang");
    assert_eq!(lang[0], "127.0.0.1", "{jar}");
    assert_eq!(
        (lang[2], lang[3], lang[4], lang[6]),
        ("/", "FALSE", "4102444800", "en-US")
    );
    let all = find("all");
    assert_eq!(all[0], "#HttpOnly_127.0.0.1", "{jar}");
    assert_eq!((all[2], all[3], all[6]), ("/app", "TRUE", "\"quoted\""));
    // Max-Age=7200: an expiry two hours from now (give or take the test's run time).
    let expiry: i64 = all[4].parse().unwrap();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    assert!(
        (now + 7100..=now + 7300).contains(&expiry),
        "{expiry} vs {now}"
    );
    h.shutdown(std::time::Duration::from_secs(1)).await;
}
