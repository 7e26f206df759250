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
//! [`EmbeddedFiles`] gives the same answers for files held in memory (compiled in, or read
//! from a directory at start), as Go's `http.FileServerFS` does for an `embed.FS`.
//!
//! Precompressed siblings (nginx's `gzip_static`): for `app.js`, an `app.js.br` or
//! `app.js.gz` is sent instead when the client accepts that coding, with `Content-Encoding`:
//! the coding its `Accept-Encoding` weights highest first, brotli on a tie (RFC 9110 §12.5.3).
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
mod embedded;
mod listing;
mod mime;
mod open;
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
use http::{Method, Response, StatusCode};

pub use self::embedded::EmbeddedFiles;

use self::content::{Representation, Source};
use self::open::Root;
use crate::body::Body;
use crate::handler::{text_response, Handler, HttpRequest, HttpResponse};
use crate::proto::accept_encoding::Accepted;

/// A [`Handler`] serving the files under a directory (Go's `http.FileServer(http.Dir(root))`).
/// The request's whole path is looked up under the root: mount it under a prefix with
/// [`strip_prefix`](crate::wrap::strip_prefix). Cheap to clone.
#[derive(Clone, Debug)]
pub struct FileServer {
    opts: Arc<Options>,
}

#[derive(Debug, Clone)]
struct Options {
    /// The directory served; `None` for [`serve_file`], which serves the path it is given.
    root: Option<Arc<Root>>,
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
        let root = Root::open(root.as_ref())?;
        Ok(FileServer {
            opts: Arc::new(Options {
                root: Some(Arc::new(root)),
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
            Err(refused) => return path_refusal(refused),
        };
        let Some(root) = &o.root else {
            return not_found();
        };
        serve_path(req, Target::Under(root, rel), url_path, trailing, o)
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
        root: None,
        index: Some("index.html".to_owned()),
        listing: true,
        dotfiles: true,
        symlinks_outside_root: true,
        precompressed: false,
    };
    let url_path = req.uri().path();
    serve_path(
        req,
        Target::Path(path.as_ref().to_path_buf()),
        url_path,
        url_path.ends_with('/'),
        &opts,
    )
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
    let content_type = mime::content_type(name.as_bytes(), || {
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

/// The answer to a request path [`path::relative`] refused: `400`, or `404` for what is
/// hidden.
fn path_refusal(refused: path::Refused) -> HttpResponse {
    match refused {
        path::Refused::BadRequest(why) => text_response(
            StatusCode::BAD_REQUEST,
            format!("invalid URL path: {why}\n"),
        ),
        path::Refused::Hidden => not_found(),
    }
}

/// Go's rule: the index page is canonically its directory, so `/dir/index.html` redirects
/// to `./`.
fn index_redirect(req: &HttpRequest, index: Option<&str>) -> Option<HttpResponse> {
    let index = index?;
    req.uri()
        .path()
        .strip_suffix(index)
        .is_some_and(|p| p.ends_with('/'))
        .then(|| redirect("./", req.uri().query()))
}

/// A directory asked for without its `/`: Go redirects to it.
fn directory_redirect(req: &HttpRequest) -> HttpResponse {
    let base = req.uri().path().rsplit('/').next().unwrap_or("");
    redirect(&format!("{base}/"), req.uri().query())
}

/// A file asked for as a directory: Go redirects to its name.
fn file_redirect(req: &HttpRequest) -> HttpResponse {
    let name = req
        .uri()
        .path()
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("");
    redirect(&format!("../{name}"), req.uri().query())
}

/// A directory listing `page` as the answer: HTML, and for `HEAD` its length without it.
fn listing_answer(req: &HttpRequest, page: String) -> HttpResponse {
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

fn not_found() -> HttpResponse {
    text_response(StatusCode::NOT_FOUND, "404 page not found\n")
}

/// A path that names the open file itself (`/proc/self/fd/N`), where `/proc` is mounted.
fn opened_path(file: &File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    let p = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    p.exists().then_some(p)
}

/// What a request names on disk: a path under the file server's root (relative, as bytes,
/// with room reserved for a suffix), or a path the application chose ([`serve_file`]).
enum Target<'a> {
    Under(&'a Root, Vec<u8>),
    Path(PathBuf),
}

impl<'a> Target<'a> {
    /// Opens the target (under the root: confined to it unless `o` allows symlinks out)
    /// and reads its metadata from the open file.
    fn open(&mut self, o: &Options) -> io::Result<(File, Metadata)> {
        let f = match self {
            Target::Under(root, rel) => root.open_file(rel, !o.symlinks_outside_root)?,
            Target::Path(p) => File::open(&*p)?,
        };
        let m = f.metadata()?;
        Ok((f, m))
    }

    /// The same target with `suffix` appended to its last name (a sibling: `.gz`).
    fn with_suffix(&self, suffix: &str) -> Target<'a> {
        match self {
            Target::Under(root, rel) => {
                let mut r = Vec::with_capacity(rel.len() + suffix.len() + 1);
                r.extend_from_slice(rel);
                r.extend_from_slice(suffix.as_bytes());
                Target::Under(root, r)
            }
            Target::Path(p) => {
                let mut name = p.as_os_str().to_owned();
                name.push(suffix);
                Target::Path(PathBuf::from(name))
            }
        }
    }

    /// The target `name` inside this directory.
    fn child(&self, name: &str) -> Target<'a> {
        match self {
            Target::Under(root, rel) => {
                let mut r = Vec::with_capacity(rel.len() + name.len() + 2);
                r.extend_from_slice(rel);
                if !r.is_empty() {
                    r.push(b'/');
                }
                r.extend_from_slice(name.as_bytes());
                Target::Under(root, r)
            }
            Target::Path(p) => Target::Path(p.join(name)),
        }
    }

    /// The last name of the target, for its type by extension.
    fn name(&self) -> &[u8] {
        use std::os::unix::ffi::OsStrExt;
        match self {
            Target::Under(_, rel) => rel.rsplit(|&b| b == b'/').next().unwrap_or(rel),
            Target::Path(p) => p.file_name().map_or(&[][..], |n| n.as_bytes()),
        }
    }

    /// The file system path, for a directory listing.
    fn path(&self) -> PathBuf {
        use std::os::unix::ffi::OsStrExt;
        match self {
            Target::Under(root, rel) => root.path.join(std::ffi::OsStr::from_bytes(rel)),
            Target::Path(p) => p.clone(),
        }
    }
}

/// The answer for `target`, which the request named by `url_path`.
fn serve_path(
    req: &HttpRequest,
    mut target: Target<'_>,
    url_path: &str,
    trailing: bool,
    o: &Options,
) -> HttpResponse {
    if let Some(r) = index_redirect(req, o.index.as_deref()) {
        return r;
    }
    // Opened first and asked with fstat: one walk of the path instead of a stat and an open.
    let (file, meta) = match target.open(o) {
        Ok(f) => f,
        Err(e) => return io_error(&e),
    };
    if meta.is_dir() {
        if !trailing {
            return directory_redirect(req);
        }
        if let Some(index) = &o.index {
            let mut index = target.child(index);
            if let Ok((f, m)) = index.open(o) {
                if m.is_file() {
                    return serve_regular(req, &index, f, m, o);
                }
            }
        }
        if !o.listing {
            return text_response(StatusCode::FORBIDDEN, "403 forbidden\n");
        }
        // Listed through the directory already opened (confined), not by its path again,
        // which a symlink swapped in since could point elsewhere.
        let dir = opened_path(&file).unwrap_or_else(|| target.path());
        return match listing::page(&dir, url_path, req.uri().query(), o.dotfiles) {
            Ok(page) => listing_answer(req, page),
            Err(e) => io_error(&e),
        };
    }
    if trailing && url_path != "/" {
        return file_redirect(req);
    }
    if !meta.is_file() {
        return not_found();
    }
    serve_regular(req, &target, file, meta, o)
}

/// A regular file (or its precompressed sibling).
fn serve_regular(
    req: &HttpRequest,
    target: &Target<'_>,
    file: File,
    meta: Metadata,
    o: &Options,
) -> HttpResponse {
    // Siblings are looked for only when the client accepts their coding; `Vary` is on every
    // answer while precompressed files are served, since any file may have a sibling.
    let accepted = if o.precompressed {
        Accepted::of(req.headers())
    } else {
        Accepted::default()
    };
    // Sniffed (when the extension says nothing) from the file already open: the original,
    // not a compressed sibling.
    let content_type = mime::content_type(target.name(), || read_head(&file));
    let mut chosen: Option<(File, Metadata, &'static str)> = None;
    for coding in accepted.preferred() {
        if let Ok((f, m)) = target.with_suffix(coding.file_suffix()).open(o) {
            if m.is_file() {
                chosen = Some((f, m, coding.token()));
                break;
            }
        }
    }
    let (file, meta, encoding) = match chosen {
        Some((f, m, c)) => (f, m, Some(c)),
        None => (file, meta, None),
    };
    let r = Representation {
        size: meta.len(),
        modified: meta.modified().ok().map(whole_seconds),
        etag: Some(etag(&meta)),
        content_type,
        encoding,
        vary: o.precompressed,
        source: Source::File(file),
    };
    content::respond(req.method(), req.headers(), r)
}

/// A strong entity tag from the file's identity: inode, size and modification time to the
/// nanosecond. A change of content changes at least one of them (a rewrite in place within
/// the same nanosecond at the same size aside).
/// Written as `"INO-SIZE-SECS.NSECS"` in hex, without the formatting machinery (this runs
/// for every file served).
fn etag(meta: &Metadata) -> String {
    let mut t = Vec::with_capacity(2 + 4 * 17);
    t.push(b'"');
    push_hex(&mut t, meta.ino());
    t.push(b'-');
    push_hex(&mut t, meta.len());
    t.push(b'-');
    // Two's complement for a time before 1970, as `{:x}` writes an `i64`.
    push_hex(&mut t, meta.mtime() as u64);
    t.push(b'.');
    push_hex(&mut t, meta.mtime_nsec() as u64);
    t.push(b'"');
    String::from_utf8(t).unwrap_or_default()
}

/// Appends `n` in lowercase hex, no leading zeros.
fn push_hex(out: &mut Vec<u8>, n: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 16];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = DIGITS[(n & 0xf) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
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

#[cfg(test)]
mod tests {
    use super::push_hex;

    #[test]
    fn hex_as_the_formatter_writes_it() {
        for n in [0u64, 1, 15, 16, 255, 0xdead_beef, u64::MAX, (-1i64) as u64] {
            let mut s = Vec::new();
            push_hex(&mut s, n);
            assert_eq!(s, format!("{n:x}").into_bytes());
        }
        let mut s = Vec::new();
        push_hex(&mut s, -5i64 as u64);
        assert_eq!(s, format!("{:x}", -5i64).into_bytes());
    }
}
