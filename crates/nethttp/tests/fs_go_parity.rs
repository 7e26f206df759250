//! `nethttp::fs::FileServer` answers as Go's `http.FileServer` does: one table of raw
//! HTTP/1.1 requests (ranges and conditional requests, RFC 9110 §13–14; redirects, index
//! pages, missing files), each sent over TCP to Go's server (tests/peers/go_fileserver.go,
//! built here with the installed Go) and to ours, both serving the same directory; the status,
//! the fields that carry the semantics and the body must match. Where we differ on purpose
//! the row says why and pins our answer; rows that need our `ETag` (Go sends none) run
//! against us alone, their answer written out.

mod common;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, UNIX_EPOCH};

use common::peers::peer;
use common::wire::{start, Conn};
use nethttp::fs::{EmbeddedFiles, FileServer};
use nethttp::Server;

/// The modification time of every file served: fixed, so the dates below are constants.
const MTIME: u64 = 981_173_106;

/// `MTIME` as `Last-Modified` says it (macros, so that `concat!` can put them in rows).
macro_rules! lm {
    () => {
        "Sat, 03 Feb 2001 04:05:06 GMT"
    };
}
/// A second before `MTIME`.
macro_rules! earlier {
    () => {
        "Sat, 03 Feb 2001 04:05:05 GMT"
    };
}
/// A second after `MTIME`.
macro_rules! later {
    () => {
        "Sat, 03 Feb 2001 04:05:07 GMT"
    };
}

/// `hello.txt`.
const HELLO: &[u8] = b"hello, world\n";
/// The size of `big`, past what our server reads whole (its file-backed path).
const BIG: usize = 100_000;

/// The response fields compared with Go's (the body too).
const COMPARED: [&str; 6] = [
    "content-range",
    "content-length",
    "content-type",
    "accept-ranges",
    "location",
    "last-modified",
];

/// One request and what is expected of the two answers.
#[derive(Clone, Copy)]
struct Row {
    name: &'static str,
    method: &'static str,
    target: &'static str,
    /// More request header lines, each ending in CRLF; `{etag}` stands for our `ETag` of
    /// the target.
    headers: &'static str,
    /// Why we answer otherwise than Go, if we do. `None`: the answers must match.
    differs: Option<&'static str>,
    /// Our answer where it differs (set exactly when `differs` is).
    ours: Option<Ours>,
    /// Whether Go is asked too. Rows that use our `ETag` are not: Go sends none.
    with_go: bool,
}

/// Our answer in a row that differs from Go: the status, and the fields (`None`: absent)
/// and body in which we part from Go. When Go answers with the same status, every other
/// compared field and (unless given here) the body must still match Go's; when its status
/// differs, only these are checked.
#[derive(Clone, Copy)]
struct Ours {
    status: u16,
    fields: &'static [(&'static str, Option<&'static str>)],
    body: Option<&'static [u8]>,
}

const GET: Row = Row {
    name: "",
    method: "GET",
    target: "/hello.txt",
    headers: "",
    differs: None,
    ours: None,
    with_go: true,
};

const HEAD: Row = Row {
    method: "HEAD",
    ..GET
};

/// A `304` with our `ETag`: the validators minus `Last-Modified`, as Go's `writeNotModified`
/// leaves them when there is an `ETag`.
const NOT_MODIFIED_WITH_ETAG: Ours = Ours {
    status: 304,
    fields: &[("etag", Some("{etag}")), ("last-modified", None)],
    body: None,
};

/// Why a `304` of ours has no `Last-Modified` where Go's has one.
const WE_SEND_AN_ETAG: &str =
    "we send a strong ETag and Go none; with an ETag, a 304 carries it and not \
     Last-Modified (RFC 9110 §15.4.5; Go's writeNotModified does the same when an ETag is set)";

/// Why our `416` has no `Last-Modified`.
const ERRORS_WITHOUT_VALIDATORS: &str = "an error answer carries no representation, so no \
     Last-Modified: Go itself drops it from ServeContent's errors since Go 1.23 (serveError); \
     the installed Go 1.19 still sends it";

fn table() -> Vec<Row> {
    vec![
        // Whole files, and the type from the extension or sniffed.
        Row {
            name: "GET of a file",
            ..GET
        },
        Row {
            name: "HEAD of a file",
            ..HEAD
        },
        Row {
            name: "GET of an empty file",
            target: "/empty.txt",
            ..GET
        },
        Row {
            name: "GET of a large file (read as it is sent), type sniffed: binary",
            target: "/big",
            ..GET
        },
        Row {
            name: "type sniffed: HTML without an extension",
            target: "/page",
            ..GET
        },
        Row {
            name: "type from the extension: .png",
            target: "/pixel.png",
            ..GET
        },
        // Ranges (RFC 9110 §14).
        Row {
            name: "single range",
            headers: "Range: bytes=0-4\r\n",
            ..GET
        },
        Row {
            name: "suffix range",
            headers: "Range: bytes=-5\r\n",
            ..GET
        },
        Row {
            name: "open range",
            headers: "Range: bytes=5-\r\n",
            ..GET
        },
        Row {
            name: "last position past the end",
            headers: "Range: bytes=3-999999\r\n",
            ..GET
        },
        Row {
            name: "suffix longer than the file",
            headers: "Range: bytes=-100\r\n",
            ..GET
        },
        Row {
            name: "one byte",
            headers: "Range: bytes=0-0\r\n",
            ..GET
        },
        Row {
            name: "multiple ranges: multipart/byteranges",
            headers: "Range: bytes=0-1,7-11\r\n",
            ..GET
        },
        Row {
            name: "multiple ranges with spaces and empty elements",
            headers: "Range: bytes= 0-1 ,, -2\r\n",
            ..GET
        },
        Row {
            name: "overlapping ranges: sent as asked, not merged",
            headers: "Range: bytes=0-4,2-6\r\n",
            ..GET
        },
        Row {
            name: "ranges adding up past the size: Range ignored, 200",
            headers: "Range: bytes=0-9,0-9\r\n",
            ..GET
        },
        Row {
            name: "a range past the end beside a good one: the good one alone",
            headers: "Range: bytes=0-1,999-\r\n",
            ..GET
        },
        Row {
            name: "unsatisfiable",
            headers: "Range: bytes=999-\r\n",
            differs: Some(ERRORS_WITHOUT_VALIDATORS),
            ours: Some(Ours {
                status: 416,
                fields: &[("last-modified", None)],
                body: None,
            }),
            ..GET
        },
        Row {
            name: "malformed: not numbers",
            headers: "Range: bytes=a-b\r\n",
            differs: Some(
                "RFC 9110 §15.5.17: a 416 to a byte-range request SHOULD say the current length \
                 in Content-Range (Go leaves it out when the set is malformed); and no \
                 Last-Modified on an error (Go 1.23+ too)",
            ),
            ours: Some(Ours {
                status: 416,
                fields: &[
                    ("content-range", Some("bytes */13")),
                    ("last-modified", None),
                ],
                body: None,
            }),
            ..GET
        },
        Row {
            name: "malformed: last before first",
            headers: "Range: bytes=5-4\r\n",
            differs: Some(
                "RFC 9110 §15.5.17: Content-Range on every 416 to a byte-range request; no \
                 Last-Modified on an error (Go 1.23+ too)",
            ),
            ours: Some(Ours {
                status: 416,
                fields: &[
                    ("content-range", Some("bytes */13")),
                    ("last-modified", None),
                ],
                body: None,
            }),
            ..GET
        },
        Row {
            name: "a range unit other than bytes",
            headers: "Range: items=0-1\r\n",
            differs: Some(
                "RFC 9110 §14.2: a server MUST ignore a Range with a unit it does not \
                 understand, so the whole file with 200; Go answers 416",
            ),
            ours: Some(Ours {
                status: 200,
                fields: &[("content-length", Some("13"))],
                body: Some(HELLO),
            }),
            ..GET
        },
        Row {
            name: "zero-length suffix",
            headers: "Range: bytes=-0\r\n",
            differs: Some(
                "RFC 9110 §14.1.1: a suffix-range is satisfiable only with a non-zero \
                 length, so 416; Go sends 206 with an empty part and `Content-Range: bytes \
                 13-12/13`, which is not a valid range",
            ),
            ours: Some(Ours {
                status: 416,
                fields: &[("content-range", Some("bytes */13"))],
                body: None,
            }),
            ..GET
        },
        Row {
            name: "HEAD with a range",
            headers: "Range: bytes=0-4\r\n",
            ..HEAD
        },
        Row {
            name: "range on an empty file",
            target: "/empty.txt",
            headers: "Range: bytes=0-\r\n",
            differs: Some(ERRORS_WITHOUT_VALIDATORS),
            ours: Some(Ours {
                status: 416,
                fields: &[
                    ("content-range", Some("bytes */0")),
                    ("last-modified", None),
                ],
                body: None,
            }),
            ..GET
        },
        Row {
            name: "suffix range on an empty file",
            target: "/empty.txt",
            headers: "Range: bytes=-5\r\n",
            differs: Some(
                "nothing of an empty file can be sent as a range, so 416; Go sends 206 with \
                 `Content-Range: bytes 0--1/0`, which is not a valid range",
            ),
            ours: Some(Ours {
                status: 416,
                fields: &[("content-range", Some("bytes */0"))],
                body: None,
            }),
            ..GET
        },
        Row {
            name: "single range of a large file",
            target: "/big",
            headers: "Range: bytes=70000-70009\r\n",
            ..GET
        },
        Row {
            name: "multiple ranges of a large file",
            target: "/big",
            headers: "Range: bytes=0-9,65530-65545,-10\r\n",
            ..GET
        },
        // Conditional requests (RFC 9110 §13).
        Row {
            name: "If-Modified-Since equal to Last-Modified",
            headers: concat!("If-Modified-Since: ", lm!(), "\r\n"),
            differs: Some(WE_SEND_AN_ETAG),
            ours: Some(NOT_MODIFIED_WITH_ETAG),
            ..GET
        },
        Row {
            name: "If-Modified-Since older",
            headers: concat!("If-Modified-Since: ", earlier!(), "\r\n"),
            ..GET
        },
        Row {
            name: "If-Modified-Since newer",
            headers: concat!("If-Modified-Since: ", later!(), "\r\n"),
            differs: Some(WE_SEND_AN_ETAG),
            ours: Some(NOT_MODIFIED_WITH_ETAG),
            ..GET
        },
        Row {
            name: "If-Modified-Since not a date: ignored",
            headers: "If-Modified-Since: yesterday\r\n",
            ..GET
        },
        Row {
            name: "If-Modified-Since on HEAD",
            headers: concat!("If-Modified-Since: ", lm!(), "\r\n"),
            differs: Some(WE_SEND_AN_ETAG),
            ours: Some(NOT_MODIFIED_WITH_ETAG),
            ..HEAD
        },
        Row {
            name: "If-Unmodified-Since older",
            headers: concat!("If-Unmodified-Since: ", earlier!(), "\r\n"),
            ..GET
        },
        Row {
            name: "If-Unmodified-Since equal",
            headers: concat!("If-Unmodified-Since: ", lm!(), "\r\n"),
            ..GET
        },
        Row {
            name: "If-Unmodified-Since failing comes before If-None-Match",
            headers: concat!(
                "If-Unmodified-Since: ",
                earlier!(),
                "\r\nIf-None-Match: *\r\n"
            ),
            ..GET
        },
        Row {
            name: "If-None-Match *",
            headers: "If-None-Match: *\r\n",
            differs: Some(WE_SEND_AN_ETAG),
            ours: Some(NOT_MODIFIED_WITH_ETAG),
            ..GET
        },
        Row {
            name: "If-None-Match * on HEAD",
            headers: "If-None-Match: *\r\n",
            differs: Some(WE_SEND_AN_ETAG),
            ours: Some(NOT_MODIFIED_WITH_ETAG),
            ..HEAD
        },
        Row {
            name: "If-None-Match with another tag",
            headers: "If-None-Match: \"other\"\r\n",
            ..GET
        },
        Row {
            name: "If-None-Match with another tag on HEAD",
            headers: "If-None-Match: \"other\"\r\n",
            ..HEAD
        },
        Row {
            name: "If-None-Match present: If-Modified-Since not looked at",
            headers: concat!(
                "If-None-Match: \"other\"\r\nIf-Modified-Since: ",
                lm!(),
                "\r\n"
            ),
            ..GET
        },
        Row {
            name: "If-Match *",
            headers: "If-Match: *\r\n",
            ..GET
        },
        Row {
            name: "If-Match * with a range",
            headers: "If-Match: *\r\nRange: bytes=0-4\r\n",
            ..GET
        },
        Row {
            name: "If-Match with a wrong tag",
            headers: "If-Match: \"wrong\"\r\n",
            ..GET
        },
        Row {
            name: "If-Range with the Last-Modified date: range honoured",
            headers: concat!("Range: bytes=0-4\r\nIf-Range: ", lm!(), "\r\n"),
            ..GET
        },
        Row {
            name: "If-Range with another date: the whole file",
            headers: concat!("Range: bytes=0-4\r\nIf-Range: ", later!(), "\r\n"),
            ..GET
        },
        Row {
            name: "If-Range with a tag that is not the file's: the whole file",
            headers: "Range: bytes=0-4\r\nIf-Range: \"other\"\r\n",
            ..GET
        },
        // Our ETag: Go has none to compare.
        Row {
            name: "If-None-Match with our ETag",
            headers: "If-None-Match: {etag}\r\n",
            differs: Some("Go sends no ETag"),
            ours: Some(NOT_MODIFIED_WITH_ETAG),
            with_go: false,
            ..GET
        },
        Row {
            name: "If-None-Match with our ETag made weak: weak comparison matches",
            headers: "If-None-Match: W/{etag}\r\n",
            differs: Some("Go sends no ETag"),
            ours: Some(NOT_MODIFIED_WITH_ETAG),
            with_go: false,
            ..GET
        },
        Row {
            name: "If-Match with our ETag",
            headers: "If-Match: {etag}\r\n",
            differs: Some("Go sends no ETag"),
            ours: Some(Ours {
                status: 200,
                fields: &[("etag", Some("{etag}")), ("last-modified", Some(lm!()))],
                body: Some(HELLO),
            }),
            with_go: false,
            ..GET
        },
        Row {
            name: "If-Match with our ETag made weak: strong comparison fails",
            headers: "If-Match: W/{etag}\r\n",
            differs: Some("Go sends no ETag"),
            ours: Some(Ours {
                status: 412,
                fields: &[("etag", Some("{etag}")), ("last-modified", Some(lm!()))],
                body: Some(b""),
            }),
            with_go: false,
            ..GET
        },
        Row {
            name: "If-Range with our ETag: range honoured",
            headers: "Range: bytes=0-4\r\nIf-Range: {etag}\r\n",
            differs: Some("Go sends no ETag"),
            ours: Some(Ours {
                status: 206,
                fields: &[("content-range", Some("bytes 0-4/13"))],
                body: Some(b"hello"),
            }),
            with_go: false,
            ..GET
        },
        Row {
            name: "If-Range with our ETag made weak: the whole file",
            headers: "Range: bytes=0-4\r\nIf-Range: W/{etag}\r\n",
            differs: Some("Go sends no ETag"),
            ours: Some(Ours {
                status: 200,
                fields: &[("content-range", None)],
                body: Some(HELLO),
            }),
            with_go: false,
            ..GET
        },
        // Paths.
        Row {
            name: "directory without its slash: redirect",
            target: "/dir",
            ..GET
        },
        Row {
            name: "directory without its slash, with a query: kept",
            target: "/dir?x=1",
            ..GET
        },
        Row {
            name: "directory with index.html",
            target: "/dir/",
            ..GET
        },
        Row {
            name: "/index.html: redirect to ./",
            target: "/index.html",
            ..GET
        },
        Row {
            name: "/dir/index.html: redirect to ./",
            target: "/dir/index.html",
            ..GET
        },
        Row {
            name: "a file asked for as a directory: redirect",
            target: "/hello.txt/",
            ..GET
        },
        Row {
            name: "a missing file",
            target: "/missing.txt",
            ..GET
        },
        Row {
            name: "a missing file in a directory",
            target: "/dir/missing.txt",
            ..GET
        },
        Row {
            name: "POST",
            method: "POST",
            headers: "Content-Length: 0\r\n",
            differs: Some(
                "a file server has GET and HEAD only: 405 with Allow (RFC 9110 §15.5.6); Go's \
                 FileServer serves the file to any method",
            ),
            ours: Some(Ours {
                status: 405,
                fields: &[("allow", Some("GET, HEAD"))],
                body: Some(b"405 method not allowed\n"),
            }),
            ..GET
        },
        Row {
            name: "a dotfile",
            target: "/.hidden.txt",
            differs: Some(
                "dotfiles (.env, .git/) are hidden unless FileServer::dotfiles allows them; \
                 Go serves them",
            ),
            ours: Some(Ours {
                status: 404,
                fields: &[],
                body: Some(b"404 page not found\n"),
            }),
            ..GET
        },
        Row {
            name: "a path with ..",
            target: "/dir/../hello.txt",
            differs: Some(
                "`..` in a request path is refused, not cleaned away as Go's FileServer does, \
                 so nothing that resolves paths differently can be led out of the root",
            ),
            ours: Some(Ours {
                status: 400,
                fields: &[],
                body: None,
            }),
            ..GET
        },
    ]
}

/// A fresh directory with the files the table asks for, every one modified at `MTIME`.
fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join("dir")).unwrap();
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";
    let big: Vec<u8> = (0..BIG).map(|i| (i % 251) as u8).collect();
    let files: [(&str, &[u8]); 8] = [
        ("hello.txt", HELLO),
        ("empty.txt", b""),
        ("big", &big),
        ("page", b"<!DOCTYPE html><p>hi</p>\n"),
        ("pixel.png", png),
        ("dir/index.html", b"<h1>index</h1>\n"),
        (".hidden.txt", b"secret\n"),
        ("index.html", b"<h1>root</h1>\n"),
    ];
    let at = UNIX_EPOCH + Duration::from_secs(MTIME);
    for (name, content) in files {
        let path = root.join(name);
        std::fs::write(&path, content).unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(at).unwrap();
    }
    dir
}

/// Builds tests/peers/go_fileserver.go into the test's temporary directory (again only when
/// the source is newer), with its own Go caches there; `None` if Go is missing and this is
/// not CI.
fn go_fileserver() -> Option<PathBuf> {
    let go = peer("go", "version", &[])?;
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/go_fileserver.go");
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let bin = tmp.join("go_fileserver");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if modified(&bin).is_some_and(|b| modified(&src).is_some_and(|s| b >= s)) {
        return Some(bin);
    }
    // Built under a private name, then renamed: a concurrent run never sees half a binary.
    let partial = tmp.join(format!("go_fileserver.{}", std::process::id()));
    let out = Command::new(go)
        .arg("build")
        .arg("-o")
        .arg(&partial)
        .arg(&src)
        .current_dir(tmp)
        .env("GOCACHE", tmp.join("go-cache"))
        .env("GOPATH", tmp.join("go-path"))
        .env("GO111MODULE", "off")
        .env_remove("GOFLAGS")
        .stdin(Stdio::null())
        .output()
        .expect("run go build");
    assert!(
        out.status.success(),
        "go build {} failed:\n{}",
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::rename(&partial, &bin).unwrap();
    Some(bin)
}

/// Go's file server over a directory; it exits when its stdin closes (on drop).
struct GoServer {
    child: Child,
    addr: SocketAddr,
}

impl GoServer {
    fn start(bin: &Path, root: &Path) -> GoServer {
        use std::io::BufRead as _;
        let mut child = Command::new(bin)
            .arg(root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start go_fileserver");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read go_fileserver's address");
        let addr = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("go_fileserver printed {line:?}, not an address"));
        GoServer { child, addr }
    }
}

impl Drop for GoServer {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response as read off the wire.
struct Answer {
    status: u16,
    /// Names lowercased, in order.
    fields: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn parse(raw: &[u8]) -> Answer {
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a response head");
        let head = std::str::from_utf8(&raw[..end]).expect("a UTF-8 head");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        let status = status_line
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let fields = lines
            .map(|l| {
                let (k, v) = l
                    .split_once(':')
                    .unwrap_or_else(|| panic!("bad field {l:?}"));
                (k.to_ascii_lowercase(), v.trim().to_owned())
            })
            .collect();
        Answer {
            status,
            fields,
            body: raw[end + 4..].to_vec(),
        }
    }

    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What is compared: the status, the `COMPARED` fields (a `multipart/byteranges` type
/// without its boundary) and the body (a multipart one as its parts).
#[derive(Debug, PartialEq)]
struct Summary {
    status: u16,
    fields: Vec<(&'static str, Option<String>)>,
    body: Content,
}

#[derive(PartialEq)]
enum Content {
    Bytes(Vec<u8>),
    /// `Content-Range`, `Content-Type` and the bytes of each part.
    Parts(Vec<(String, String, Vec<u8>)>),
}

impl std::fmt::Debug for Content {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |b: &[u8]| {
            if b.len() > 64 {
                format!("{} bytes, from \"{}\"", b.len(), b[..32].escape_ascii())
            } else {
                format!("\"{}\"", b.escape_ascii())
            }
        };
        match self {
            Content::Bytes(b) => write!(f, "{}", show(b)),
            Content::Parts(parts) => f
                .debug_list()
                .entries(
                    parts
                        .iter()
                        .map(|(range, ty, b)| format!("[{range}; {ty}] {}", show(b))),
                )
                .finish(),
        }
    }
}

fn summarize(a: &Answer) -> Result<Summary, String> {
    let mut fields = Vec::new();
    let mut body = Content::Bytes(a.body.clone());
    for name in COMPARED {
        let mut value = a.field(name).map(str::to_owned);
        if name == "content-type" {
            if let Some(boundary) = value
                .as_deref()
                .and_then(|v| v.strip_prefix("multipart/byteranges; boundary="))
            {
                body = Content::Parts(parts(&a.body, boundary)?);
                value = Some("multipart/byteranges".to_owned());
            }
        }
        fields.push((name, value));
    }
    Ok(Summary {
        status: a.status,
        fields,
        body,
    })
}

/// The parts of a `multipart/byteranges` body (RFC 9110 §14.6, RFC 2046 §5.1.1), strictly.
fn parts(body: &[u8], boundary: &str) -> Result<Vec<(String, String, Vec<u8>)>, String> {
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    let first = format!("--{boundary}\r\n");
    let delimiter = format!("\r\n--{boundary}");
    let mut rest = body
        .strip_prefix(first.as_bytes())
        .ok_or("the multipart body does not open with its boundary")?;
    let mut out = Vec::new();
    loop {
        let head_end = find(rest, b"\r\n\r\n").ok_or("a part without the end of its head")?;
        let head = std::str::from_utf8(&rest[..head_end]).map_err(|_| "a non-UTF-8 part head")?;
        let (mut range, mut ty) = (String::new(), String::new());
        for line in head.split("\r\n") {
            let (k, v) = line.split_once(':').ok_or("a part field without a colon")?;
            match k.to_ascii_lowercase().as_str() {
                "content-range" => range = v.trim().to_owned(),
                "content-type" => ty = v.trim().to_owned(),
                other => return Err(format!("an unexpected part field {other:?}")),
            }
        }
        rest = &rest[head_end + 4..];
        let end = find(rest, delimiter.as_bytes()).ok_or("a part without a closing boundary")?;
        out.push((range, ty, rest[..end].to_vec()));
        rest = &rest[end + delimiter.len()..];
        if rest == b"--\r\n" {
            return Ok(out);
        }
        rest = rest.strip_prefix(b"\r\n").ok_or("junk after a boundary")?;
    }
}

/// Sends `request` on a new connection to `addr` and reads one response.
async fn ask(addr: SocketAddr, request: &str, head: bool) -> Answer {
    let mut c = Conn::connect(addr).await;
    c.send(request).await;
    Answer::parse(&c.raw_response(head).await)
}

/// Our `ETag` for the file at `path`, as `FileServer` makes it (empty if there is none).
fn etag_of(path: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::metadata(path) else {
        return String::new();
    };
    format!(
        "\"{:x}-{:x}-{:x}.{:x}\"",
        m.ino(),
        m.len(),
        m.mtime(),
        m.mtime_nsec()
    )
}

/// Checks one row; every mismatch is a line in `failures`.
async fn check(
    row: &Row,
    etag: &str,
    ours: SocketAddr,
    go: Option<SocketAddr>,
    failures: &mut String,
) {
    let fill = |s: &str| s.replace("{etag}", etag);
    let request = format!(
        "{} {} HTTP/1.1\r\nHost: example.test\r\n{}\r\n",
        row.method,
        row.target,
        fill(row.headers)
    );
    let head = row.method == "HEAD";
    let mut fail = |what: String| {
        let _ = writeln!(failures, "[{}] {what}", row.name);
    };
    let our = ask(ours, &request, head).await;
    let our_summary = match summarize(&our) {
        Ok(s) => s,
        Err(e) => return fail(format!("our answer: {e}")),
    };
    let go = match go {
        Some(addr) if row.with_go => Some(ask(addr, &request, head).await),
        _ => None,
    };
    let go_summary = match go.as_ref().map(summarize).transpose() {
        Ok(s) => s,
        Err(e) => return fail(format!("Go's answer: {e}")),
    };
    let Some(want) = row.ours else {
        // The answers must match.
        if let Some(go) = go_summary {
            if go != our_summary {
                fail(format!("Go: {go:?}\n  we: {our_summary:?}"));
            }
        }
        return;
    };
    // A deliberate difference: our answer as the row pins it...
    if our.status != want.status {
        fail(format!("status {}, want {}", our.status, want.status));
    }
    for (name, value) in want.fields {
        let value = value.map(fill);
        if our.field(name) != value.as_deref() {
            fail(format!("{name}: {:?}, want {value:?}", our.field(name)));
        }
    }
    if let Some(body) = want.body {
        if our.body != body {
            let (got, want) = (our.body.escape_ascii(), body.escape_ascii());
            fail(format!("body \"{got}\", want \"{want}\""));
        }
    }
    // ...and, where Go gives the same status, Go's in everything else.
    let (Some(go), Some(mut go_summary)) = (go, go_summary) else {
        return;
    };
    if go.status != want.status {
        return;
    }
    let mut our_summary = our_summary;
    for s in [&mut go_summary, &mut our_summary] {
        s.fields
            .retain(|(name, _)| !want.fields.iter().any(|(n, _)| n == name));
        if want.body.is_some() {
            s.body = Content::Bytes(Vec::new());
        }
    }
    if go_summary != our_summary {
        fail(format!(
            "apart from the difference, Go: {go_summary:?}\n  we: {our_summary:?}"
        ));
    }
    let differs = want
        .fields
        .iter()
        .any(|(name, _)| go.field(name) != our.field(name))
        || want.body.is_some_and(|b| go.body != b);
    if !differs {
        fail("marked as a difference, but Go answers the same".to_owned());
    }
}

#[test]
fn the_table_is_well_formed() {
    let rows = table();
    for row in &rows {
        assert!(!row.name.is_empty());
        assert_eq!(
            row.differs.is_some(),
            row.ours.is_some(),
            "[{}] a difference says why and pins our answer",
            row.name
        );
        assert!(
            row.with_go || row.differs.is_some(),
            "[{}] a row run against us alone is a difference",
            row.name
        );
        assert!(row.headers.is_empty() || row.headers.ends_with("\r\n"));
    }
    let mut names: Vec<&str> = rows.iter().map(|r| r.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), rows.len(), "row names are unique");
}

/// Runs the table against `ours` (serving `root`), whose `ETag` for a file is `etag_of`'s,
/// and Go's server on the same directory; fails with every mismatch.
async fn run_table(root: &Path, ours: SocketAddr, etag_of: fn(&Path) -> String) {
    let go_bin = go_fileserver();
    let go_server = go_bin.as_deref().map(|bin| GoServer::start(bin, root));
    let mut failures = String::new();
    let rows = table();
    for row in &rows {
        let path = row.target.split('?').next().unwrap_or_default();
        let etag = etag_of(&root.join(path.trim_start_matches('/')));
        let go = go_server.as_ref().map(|g| g.addr);
        check(row, &etag, ours, go, &mut failures).await;
    }
    assert!(
        failures.is_empty(),
        "{} rows; mismatches:\n{failures}",
        rows.len()
    );
}

#[tokio::test]
async fn we_answer_as_go_does() {
    let dir = tree();
    let root = dir.path();
    let our_server = start(Server::new(), FileServer::new(root).unwrap());
    run_table(root, our_server.local_addr(), etag_of).await;
}

/// `EmbeddedFiles` holding the same tree (its files' times included) answers every row as
/// `FileServer` does, its own `ETag` aside.
#[tokio::test]
async fn embedded_files_answer_as_go_does() {
    let dir = tree();
    let root = dir.path();
    let files = EmbeddedFiles::from_dir(root).unwrap();
    assert_eq!(files.len(), 8);
    let our_server = start(Server::new(), files);
    run_table(root, our_server.local_addr(), content_etag_of).await;
}

/// The `ETag` `EmbeddedFiles` gives the file at `path`: its length and 64-bit FNV-1a hash of
/// its content, in hex (empty if there is no such file).
fn content_etag_of(path: &Path) -> String {
    let Ok(content) = std::fs::read(path) else {
        return String::new();
    };
    let hash = content.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("\"{:x}-{hash:x}\"", content.len())
}

#[test]
fn dates_are_what_the_rows_say() {
    let at = UNIX_EPOCH + Duration::from_secs(MTIME);
    assert_eq!(httpdate::fmt_http_date(at), lm!());
    assert_eq!(
        httpdate::fmt_http_date(at - Duration::from_secs(1)),
        earlier!()
    );
    assert_eq!(
        httpdate::fmt_http_date(at + Duration::from_secs(1)),
        later!()
    );
}
