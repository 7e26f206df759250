//! Static files, as Go's `http.FileServer`, `http.ServeFile` and `http.ServeContent` serve
//! them, with the HTTP semantics written here from RFC 9110: conditional requests (§13:
//! `If-Match`, `If-None-Match` → `304`, `If-Modified-Since`, `If-Unmodified-Since` → `412`,
//! `If-Range`), ranges (§14: one range → `206`, several → `multipart/byteranges`,
//! unsatisfiable → `416`, sets adding up past the file → the whole file), `Last-Modified`
//! and a strong `ETag` from the file's identity (inode, size, modification time; Go sets
//! none), `index.html` for directories, an HTML listing otherwise (escaped, sortable),
//! redirects for directories without their `/`, `HEAD`, and the type from the extension or
//! sniffed from the first bytes.
//!
//! Safety, stricter than Go's defaults: a request path is decoded segment by segment and
//! `..` (also `%2e%2e`), separators hidden in escapes, backslashes and NUL are `400`;
//! dotfiles (`.env`, `.git/`) are `404` unless [`FileServer::dotfiles`] allows them; a
//! symlink that leads out of the root is `404` unless [`FileServer::symlinks_outside_root`]
//! allows it. Methods other than `GET` and `HEAD` are `405`.
//!
//! Precompressed siblings (nginx's `gzip_static`): for `app.js`, an `app.js.br` or
//! `app.js.gz` is sent instead when the client accepts that coding, with `Content-Encoding`.
//! Siblings are looked for only when the client accepts br or gzip, so every answer carries
//! `Vary: Accept-Encoding` while this is on (any file may have one).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use nethttp::fs::FileServer;
//! use nethttp::{ServeMux, Server};
//!
//! let dir = std::env::temp_dir().join(format!("nethttp-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! std::fs::write(dir.join("hello.txt"), "hello")?;
//! let mut mux = ServeMux::new();
//! // /static/hello.txt serves DIR/hello.txt.
//! mux.handle("/static/", nethttp::wrap::strip_prefix("/static", FileServer::new(&dir)?))?;
//! let server = Server::new();
//! let handle = server.serve(server.bind("127.0.0.1:0".parse()?)?, mux);
//! let res = nethttp::Client::new()
//!     .get(format!("http://{}/static/hello.txt", handle.local_addr()))
//!     .header("range", "bytes=1-3")
//!     .send()
//!     .await?;
//! assert_eq!(res.status(), 206);
//! assert_eq!(res.into_body().to_bytes(1024).await?, "ell");
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(()) }
//! ```

mod conditional;
mod content;
mod listing;
mod mime;
mod path;
mod range;

use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{HeaderMap, Method, Response, StatusCode};

use self::content::{Representation, Source};
use crate::body::Body;
use crate::handler::{text_response, Handler, HttpRequest, HttpResponse};

/// Files up to this size are read whole when opened and sent from memory (one write with
/// the head); larger ones are read as the connection takes them.
const READ_WHOLE: u64 = 64 * 1024;

/// A [`Handler`] serving the files under a directory (Go's `http.FileServer(http.Dir(root))`).
/// The request's whole path is looked up under the root: mount it under a prefix with
/// [`strip_prefix`](crate::wrap::strip_prefix). Cheap to clone.
#[derive(Clone, Debug)]
pub struct FileServer {
    opts: Arc<Options>,
}

#[derive(Debug, Clone)]
struct Options {
    /// Canonical: symlinks resolved, so a file's resolved path can be compared with it.
    root: PathBuf,
    index: Option<String>,
    listing: bool,
    dotfiles: bool,
    symlinks_outside_root: bool,
    precompressed: bool,
}

impl FileServer {
    /// Serves the directory `root`. Fails if it is not a directory that can be resolved.
    ///
    /// Defaults: `index.html` for directories, listings on (as Go, and `python -m
    /// http.server`), dotfiles hidden, symlinks out of the root refused, precompressed
    /// siblings served.
    pub fn new(root: impl AsRef<Path>) -> io::Result<FileServer> {
        let root = std::fs::canonicalize(root.as_ref())?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the file server's root is not a directory",
            ));
        }
        Ok(FileServer {
            opts: Arc::new(Options {
                root,
                index: Some("index.html".to_owned()),
                listing: true,
                dotfiles: false,
                symlinks_outside_root: false,
                precompressed: true,
            }),
        })
    }

    fn set(mut self, f: impl FnOnce(&mut Options)) -> Self {
        f(Arc::make_mut(&mut self.opts));
        self
    }

    /// The file served for a directory's URL (`index.html`); `None` serves the listing (or
    /// `403`) straight away.
    pub fn index_file(self, name: Option<&str>) -> Self {
        let name = name.map(str::to_owned);
        self.set(|o| o.index = name)
    }

    /// Whether a directory without an index file is listed (`true`) or refused with `403`.
    pub fn listing(self, on: bool) -> Self {
        self.set(|o| o.listing = on)
    }

    /// Whether names starting with `.` are served (and listed). Off: they are `404`.
    pub fn dotfiles(self, on: bool) -> Self {
        self.set(|o| o.dotfiles = on)
    }

    /// Whether a symlink may lead out of the root. Off: such a path is `404`.
    pub fn symlinks_outside_root(self, on: bool) -> Self {
        self.set(|o| o.symlinks_outside_root = on)
    }

    /// Whether `NAME.br` / `NAME.gz` are sent for `NAME` to clients that accept them.
    pub fn precompressed(self, on: bool) -> Self {
        self.set(|o| o.precompressed = on)
    }

    /// The answer to `req` (what the handler returns).
    pub fn serve(&self, req: &HttpRequest) -> HttpResponse {
        let o = &*self.opts;
        if let Some(refusal) = method_refusal(req.method()) {
            return refusal;
        }
        let url_path = req.uri().path();
        let (rel, trailing) = match path::relative(url_path, o.dotfiles) {
            Ok(p) => p,
            Err(path::Refused::BadRequest(why)) => {
                return text_response(
                    StatusCode::BAD_REQUEST,
                    format!("invalid URL path: {why}\n"),
                )
            }
            Err(path::Refused::Hidden) => return not_found(),
        };
        let full = o.root.join(&rel);
        if !o.symlinks_outside_root && !inside(&o.root, &full) {
            return not_found();
        }
        serve_path(req, &full, url_path, trailing, o)
    }
}

impl Handler for FileServer {
    fn call(
        &self,
        req: HttpRequest,
    ) -> impl std::future::Future<Output = HttpResponse> + Send + '_ {
        std::future::ready(self.serve(&req))
    }
}

/// Serves the file or directory at `path` (Go's `http.ServeFile`): the same answers as
/// [`FileServer`] (ranges, conditional requests, index and listing, redirects), for a path
/// the application chose. A request path containing `..` is refused with `400`, as Go
/// does, in case the application built `path` from it.
pub fn serve_file(req: &HttpRequest, path: impl AsRef<Path>) -> HttpResponse {
    if let Some(refusal) = method_refusal(req.method()) {
        return refusal;
    }
    if req.uri().path().split('/').any(|s| s == "..") {
        return text_response(StatusCode::BAD_REQUEST, "invalid URL path\n");
    }
    let opts = Options {
        root: PathBuf::new(),
        index: Some("index.html".to_owned()),
        listing: true,
        dotfiles: true,
        symlinks_outside_root: true,
        precompressed: false,
    };
    let url_path = req.uri().path();
    serve_path(req, path.as_ref(), url_path, url_path.ends_with('/'), &opts)
}

/// Answers `req` with `content` (Go's `http.ServeContent`): ranges and conditional requests
/// against `modified` and `etag` (a quoted entity tag, if the caller has one), the type from
/// `name`'s extension or sniffed.
pub fn serve_content(
    req: &HttpRequest,
    name: &str,
    modified: Option<SystemTime>,
    etag: Option<&str>,
    content: Bytes,
) -> HttpResponse {
    if let Some(refusal) = method_refusal(req.method()) {
        return refusal;
    }
    let content_type = mime::content_type(Path::new(name), || {
        content[..content.len().min(512)].to_vec()
    });
    let r = Representation {
        size: content.len() as u64,
        modified: modified.map(whole_seconds),
        etag: etag.map(str::to_owned),
        content_type,
        encoding: None,
        vary: false,
        source: Source::Bytes(content),
    };
    content::respond(req.method(), req.headers(), r)
}

fn method_refusal(method: &Method) -> Option<HttpResponse> {
    if method == Method::GET || method == Method::HEAD {
        return None;
    }
    let mut resp = text_response(StatusCode::METHOD_NOT_ALLOWED, "405 method not allowed\n");
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    Some(resp)
}

fn not_found() -> HttpResponse {
    text_response(StatusCode::NOT_FOUND, "404 page not found\n")
}

/// Whether `full`, with every symlink resolved, is `root` or under it. A path that does
/// not resolve (missing) is reported by the lookup that follows, as missing.
fn inside(root: &Path, full: &Path) -> bool {
    match std::fs::canonicalize(full) {
        Ok(real) => real.starts_with(root),
        Err(_) => true,
    }
}

/// The answer for the file system path `full`, which the request named by `url_path`.
fn serve_path(
    req: &HttpRequest,
    full: &Path,
    url_path: &str,
    trailing: bool,
    o: &Options,
) -> HttpResponse {
    // Go's rule: the index page is canonically its directory.
    if let Some(index) = &o.index {
        if url_path
            .strip_suffix(index.as_str())
            .is_some_and(|p| p.ends_with('/'))
        {
            return redirect("./", req.uri().query());
        }
    }
    // Opened first and asked with fstat: one walk of the path instead of a stat and an open.
    let (file, meta) = match open(full) {
        Ok(f) => f,
        Err(e) => return io_error(&e),
    };
    if meta.is_dir() {
        if !trailing {
            let base = url_path.rsplit('/').next().unwrap_or("");
            return redirect(&format!("{base}/"), req.uri().query());
        }
        if let Some(index) = &o.index {
            let index_path = full.join(index);
            if let Ok((f, m)) = open(&index_path) {
                if m.is_file() {
                    return serve_regular(req, &index_path, f, m, o);
                }
            }
        }
        if !o.listing {
            return text_response(StatusCode::FORBIDDEN, "403 forbidden\n");
        }
        return match listing::page(full, url_path, req.uri().query(), o.dotfiles) {
            Ok(page) => {
                let mut resp = text_response(StatusCode::OK, page);
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                );
                if req.method() == Method::HEAD {
                    let len = resp.headers().get(header::CONTENT_LENGTH).cloned();
                    *resp.body_mut() = Body::empty();
                    if let Some(len) = len {
                        resp.headers_mut().insert(header::CONTENT_LENGTH, len);
                    }
                }
                resp
            }
            Err(e) => io_error(&e),
        };
    }
    if trailing && url_path != "/" {
        // A file asked for as a directory: Go redirects to its name.
        let name = url_path
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("");
        return redirect(&format!("../{name}"), req.uri().query());
    }
    if !meta.is_file() {
        return not_found();
    }
    serve_regular(req, full, file, meta, o)
}

/// The open file at `path` and its metadata.
fn open(path: &Path) -> io::Result<(File, Metadata)> {
    let f = File::open(path)?;
    let m = f.metadata()?;
    Ok((f, m))
}

/// A regular file (or its precompressed sibling).
fn serve_regular(
    req: &HttpRequest,
    full: &Path,
    file: File,
    meta: Metadata,
    o: &Options,
) -> HttpResponse {
    // Siblings are looked for only when the client accepts their coding; `Vary` is on every
    // answer while precompressed files are served, since any file may have a sibling.
    let (br, gzip) = if o.precompressed {
        accepted_codings(req.headers())
    } else {
        (false, false)
    };
    // Sniffed (when the extension says nothing) from the file already open: the original,
    // not a compressed sibling.
    let content_type = mime::content_type(full, || read_head(&file));
    let mut chosen: Option<(File, Metadata, &'static str)> = None;
    for (ext, coding, accepted) in [("br", "br", br), ("gz", "gzip", gzip)] {
        if !accepted || chosen.is_some() {
            continue;
        }
        let mut name = full.as_os_str().to_owned();
        name.push(".");
        name.push(ext);
        if let Ok((f, m)) = open(Path::new(&name)) {
            if m.is_file() {
                chosen = Some((f, m, coding));
            }
        }
    }
    let (file, meta, encoding) = match chosen {
        Some((f, m, c)) => (f, m, Some(c)),
        None => (file, meta, None),
    };
    let size = meta.len();
    let source = if size <= READ_WHOLE && req.method() == Method::GET {
        let mut buf = vec![0u8; size as usize];
        match read_full(&file, &mut buf) {
            Ok(()) => Source::Bytes(Bytes::from(buf)),
            Err(e) => return io_error(&e),
        }
    } else {
        Source::File(file)
    };
    let r = Representation {
        size,
        modified: meta.modified().ok().map(whole_seconds),
        etag: Some(etag(&meta)),
        content_type,
        encoding,
        vary: o.precompressed,
        source,
    };
    content::respond(req.method(), req.headers(), r)
}

/// A strong entity tag from the file's identity: inode, size and modification time to the
/// nanosecond. A change of content changes at least one of them (a rewrite in place within
/// the same nanosecond at the same size aside).
fn etag(meta: &Metadata) -> String {
    format!(
        "\"{:x}-{:x}-{:x}.{:x}\"",
        meta.ino(),
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec()
    )
}

/// Which precompressed codings the request accepts (`Accept-Encoding`, RFC 9110 §12.5.3:
/// a coding with `q=0` is refused; `*` stands for those not named).
fn accepted_codings(headers: &HeaderMap) -> (bool, bool) {
    let mut br = None;
    let mut gzip = None;
    let mut star = None;
    for v in headers.get_all(header::ACCEPT_ENCODING) {
        let Ok(v) = v.to_str() else { continue };
        for item in v.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q_zero = parts.any(|p| {
                let p = p.trim();
                p.strip_prefix("q=")
                    .or_else(|| p.strip_prefix("Q="))
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            let ok = Some(!q_zero);
            match coding.as_str() {
                "br" => br = ok,
                "gzip" | "x-gzip" => gzip = ok,
                "*" => star = ok,
                _ => {}
            }
        }
    }
    (br.or(star).unwrap_or(false), gzip.or(star).unwrap_or(false))
}

fn read_head(file: &File) -> Vec<u8> {
    let mut buf = vec![0u8; 512];
    match file.read_at(&mut buf, 0) {
        Ok(n) => {
            buf.truncate(n);
            buf
        }
        Err(_) => Vec::new(),
    }
}

fn read_full(file: &File, buf: &mut [u8]) -> io::Result<()> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], got as u64) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file shrank while it was read",
                ))
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn whole_seconds(t: SystemTime) -> SystemTime {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => UNIX_EPOCH + Duration::from_secs(d.as_secs()),
        Err(_) => t,
    }
}

/// `301` to `location` (relative, as Go's `localRedirect`), the query kept.
fn redirect(location: &str, query: Option<&str>) -> HttpResponse {
    let target = match query {
        Some(q) => format!("{location}?{q}"),
        None => location.to_owned(),
    };
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::MOVED_PERMANENTLY;
    if let Ok(v) = HeaderValue::from_str(&target) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

fn io_error(e: &io::Error) -> HttpResponse {
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => not_found(),
        io::ErrorKind::PermissionDenied => text_response(StatusCode::FORBIDDEN, "403 forbidden\n"),
        _ => {
            tracing::warn!(error = %e, "file server: reading failed");
            text_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "500 internal server error\n",
            )
        }
    }
}
