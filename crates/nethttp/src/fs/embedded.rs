//! `EmbeddedFiles`: files held in memory (compiled in with `include_bytes!`, or read from a
//! directory once at start) and served with [`FileServer`](super::FileServer)'s answers, as
//! Go's `http.FileServerFS` serves an `embed.FS`.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::StatusCode;

use super::content::{self, Representation, Source};
use super::listing::{self, Entry, MAX_ENTRIES};
use super::{
    directory_redirect, file_redirect, index_redirect, listing_answer, method_refusal, mime,
    not_found, path, path_refusal, whole_seconds,
};
use crate::error::{Error, Kind};
use crate::handler::{text_response, Handler, HttpRequest, HttpResponse};
use crate::proto::accept_encoding::Accepted;

/// A [`Handler`] serving a set of files held in memory, with the answers [`FileServer`]
/// gives for a directory: ranges, conditional requests, `index.html` for directories,
/// listings, Go's redirects, `HEAD`, types from the extension (or sniffed once, when the
/// file is added), precompressed siblings (`app.js.br`, `app.js.gz` among the files), and
/// dotfiles hidden unless allowed. The request's whole path is looked up: mount it under a
/// prefix with [`strip_prefix`](crate::wrap::strip_prefix).
///
/// Each file's `ETag` is strong and made from its content (its length and a 64-bit FNV-1a
/// hash), so every replica of a program, and every restart, gives a file the same tag: a
/// browser's cached copy stays valid until the bytes change. `Last-Modified` is sent only
/// when a time is known: [`modified`](Self::modified) for the whole set (a build time, say),
/// or the files' own times with [`from_dir`](Self::from_dir). Files added from `&'static`
/// bytes are served without a copy.
///
/// [`FileServer`]: super::FileServer
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), nethttp::Error> {
/// use nethttp::fs::EmbeddedFiles;
/// use nethttp::http::{Request, StatusCode};
/// use nethttp::{Body, Handler};
///
/// let assets = EmbeddedFiles::new()
///     .with("index.html", &b"<!doctype html><h1>hi</h1>"[..]) // include_bytes!("../web/index.html")
///     .with("css/site.css", &b"h1 { color: teal }"[..]);
/// let res = assets.call(Request::get("/css/site.css").body(Body::empty()).unwrap()).await;
/// assert_eq!(res.headers()["content-type"], "text/css; charset=utf-8");
/// let res = assets.call(Request::get("/css").body(Body::empty()).unwrap()).await;
/// assert_eq!(res.status(), StatusCode::MOVED_PERMANENTLY);
/// assert_eq!(res.headers()["location"], "css/");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct EmbeddedFiles {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    /// By relative path (`css/site.css`), without a leading `/`.
    files: BTreeMap<Box<[u8]>, File>,
    /// Every directory that holds a file, the root (empty) included.
    dirs: BTreeSet<Box<[u8]>>,
    modified: Option<SystemTime>,
    index: Option<String>,
    listing: bool,
    dotfiles: bool,
    precompressed: bool,
}

#[derive(Clone)]
struct File {
    content: Bytes,
    etag: String,
    content_type: Cow<'static, str>,
    /// The file's own time (from a directory), whole seconds.
    modified: Option<SystemTime>,
}

impl std::fmt::Debug for EmbeddedFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedFiles")
            .field("files", &self.inner.files.len())
            .field("bytes", &self.total_bytes())
            .field("index", &self.inner.index)
            .field("listing", &self.inner.listing)
            .field("dotfiles", &self.inner.dotfiles)
            .field("precompressed", &self.inner.precompressed)
            .finish()
    }
}

impl Default for EmbeddedFiles {
    fn default() -> Self {
        EmbeddedFiles::new()
    }
}

impl EmbeddedFiles {
    /// No files yet. Defaults as [`FileServer::new`](super::FileServer::new)'s: `index.html`
    /// for directories, listings on, dotfiles hidden, precompressed siblings served.
    pub fn new() -> EmbeddedFiles {
        let mut dirs = BTreeSet::new();
        dirs.insert(Box::from(&b""[..]));
        EmbeddedFiles {
            inner: Arc::new(Inner {
                files: BTreeMap::new(),
                dirs,
                modified: None,
                index: Some("index.html".to_owned()),
                listing: true,
                dotfiles: false,
                precompressed: true,
            }),
        }
    }

    /// Reads every regular file under `dir` into memory, with its modification time, once
    /// (later changes on disk are not seen). Symbolic links are not followed. Fails on the
    /// first file or directory that cannot be read.
    pub fn from_dir(dir: impl AsRef<Path>) -> io::Result<EmbeddedFiles> {
        let mut files = EmbeddedFiles::new();
        let mut pending = vec![(dir.as_ref().to_path_buf(), String::new())];
        while let Some((on_disk, rel)) = pending.pop() {
            for entry in std::fs::read_dir(&on_disk)? {
                let entry = entry?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else {
                    // A name that is not UTF-8 cannot be asked for in a URL path we decode.
                    continue;
                };
                let rel = if rel.is_empty() {
                    name.to_owned()
                } else {
                    format!("{rel}/{name}")
                };
                let kind = entry.file_type()?;
                if kind.is_dir() {
                    pending.push((entry.path(), rel));
                } else if kind.is_file() {
                    let content = std::fs::read(entry.path())?;
                    let modified = entry.metadata()?.modified().ok();
                    files
                        .insert(&rel, Bytes::from(content), modified)
                        .map_err(io::Error::other)?;
                }
            }
        }
        Ok(files)
    }

    /// Adds `content` as the file at `path` (`css/site.css`; a leading `/` is allowed),
    /// replacing one already there. `&'static [u8]` (what `include_bytes!` gives) and
    /// `Bytes` are served without a copy.
    ///
    /// Fails with an error of kind [`Kind::Usage`](crate::ErrorKind::Usage) if the path is
    /// empty or has an empty, `.` or `..` segment, a backslash or NUL, or if a file would
    /// stand where a directory is (or the other way round).
    pub fn add(&mut self, path: &str, content: impl Into<Bytes>) -> Result<&mut Self, Error> {
        self.insert(path, content.into(), None)?;
        Ok(self)
    }

    /// [`add`](Self::add), builder style.
    ///
    /// # Panics
    ///
    /// If `add` would fail: files compiled in have fixed names, so a bad one is a programming
    /// error found at startup.
    #[track_caller]
    pub fn with(mut self, path: &str, content: impl Into<Bytes>) -> Self {
        if let Err(e) = self.insert(path, content.into(), None) {
            panic!("EmbeddedFiles::with({path:?}): {e}");
        }
        self
    }

    /// `Last-Modified` (and `If-Modified-Since` answers) for files without a time of their
    /// own: the time the program was built, say. Default: none, as Go's `embed.FS`.
    pub fn modified(self, time: SystemTime) -> Self {
        self.set(|i| i.modified = Some(whole_seconds(time)))
    }

    /// The file served for a directory's URL (`index.html`); `None` serves the listing (or
    /// `403`) straight away.
    pub fn index_file(self, name: Option<&str>) -> Self {
        let name = name.map(str::to_owned);
        self.set(|i| i.index = name)
    }

    /// Whether a directory without an index file is listed (`true`) or refused with `403`.
    pub fn listing(self, on: bool) -> Self {
        self.set(|i| i.listing = on)
    }

    /// Whether names starting with `.` are served (and listed). Off: they are `404`.
    pub fn dotfiles(self, on: bool) -> Self {
        self.set(|i| i.dotfiles = on)
    }

    /// Whether `NAME.br` / `NAME.gz` among the files are sent for `NAME` to clients that
    /// accept them.
    pub fn precompressed(self, on: bool) -> Self {
        self.set(|i| i.precompressed = on)
    }

    /// How many files are held.
    pub fn len(&self) -> usize {
        self.inner.files.len()
    }

    /// Whether no file is held.
    pub fn is_empty(&self) -> bool {
        self.inner.files.is_empty()
    }

    /// The files' paths, in order.
    pub fn paths(&self) -> impl Iterator<Item = &str> + '_ {
        // Every key was a `&str` when added.
        self.inner
            .files
            .keys()
            .map(|k| std::str::from_utf8(k).unwrap_or_default())
    }

    /// The bytes held, all files together.
    pub fn total_bytes(&self) -> u64 {
        self.inner
            .files
            .values()
            .map(|f| f.content.len() as u64)
            .sum()
    }

    fn set(mut self, f: impl FnOnce(&mut Inner)) -> Self {
        f(Arc::make_mut(&mut self.inner));
        self
    }

    fn insert(
        &mut self,
        path: &str,
        content: Bytes,
        modified: Option<SystemTime>,
    ) -> Result<(), Error> {
        let rel = check_path(path).map_err(|why| {
            Error::with_cause(
                Kind::Usage,
                "invalid embedded file path",
                format!("{path:?}: {why}"),
            )
        })?;
        let inner = Arc::make_mut(&mut self.inner);
        if inner.dirs.contains(rel.as_bytes()) {
            return Err(Error::with_cause(
                Kind::Usage,
                "invalid embedded file path",
                format!("{path:?} is a directory of other files"),
            ));
        }
        let parents: Vec<&str> = rel.match_indices('/').map(|(i, _)| &rel[..i]).collect();
        if let Some(file) = parents
            .iter()
            .find(|p| inner.files.contains_key(p.as_bytes()))
        {
            return Err(Error::with_cause(
                Kind::Usage,
                "invalid embedded file path",
                format!("{path:?}: {file:?} is a file, not a directory"),
            ));
        }
        for p in parents {
            inner.dirs.insert(Box::from(p.as_bytes()));
        }
        let name = rel.rsplit('/').next().unwrap_or(&rel);
        let content_type = mime::content_type(name.as_bytes(), || {
            content[..content.len().min(512)].to_vec()
        });
        let file = File {
            etag: content_etag(&content),
            content,
            content_type,
            modified: modified.map(whole_seconds),
        };
        inner.files.insert(Box::from(rel.as_bytes()), file);
        Ok(())
    }

    /// The answer to `req` (what the handler returns).
    pub fn serve(&self, req: &HttpRequest) -> HttpResponse {
        let o = &*self.inner;
        if let Some(refusal) = method_refusal(req.method()) {
            return refusal;
        }
        let url_path = req.uri().path();
        let (rel, trailing) = match path::relative(url_path, o.dotfiles) {
            Ok(p) => p,
            Err(refused) => return path_refusal(refused),
        };
        if let Some(r) = index_redirect(req, o.index.as_deref()) {
            return r;
        }
        if o.dirs.contains(&rel[..]) {
            if !trailing {
                return directory_redirect(req);
            }
            if let Some(index) = &o.index {
                let mut child = rel.clone();
                if !child.is_empty() {
                    child.push(b'/');
                }
                child.extend_from_slice(index.as_bytes());
                if let Some(file) = o.files.get(&child[..]) {
                    return self.respond(req, &child, file);
                }
            }
            if !o.listing {
                return text_response(StatusCode::FORBIDDEN, "403 forbidden\n");
            }
            return self.list(req, &rel, url_path);
        }
        let Some(file) = o.files.get(&rel[..]) else {
            return not_found();
        };
        if trailing && url_path != "/" {
            return file_redirect(req);
        }
        self.respond(req, &rel, file)
    }

    /// A file (or its precompressed sibling), through the answers `content` gives.
    fn respond(&self, req: &HttpRequest, rel: &[u8], file: &File) -> HttpResponse {
        let o = &*self.inner;
        let accepted = if o.precompressed {
            Accepted::of(req.headers())
        } else {
            Accepted::default()
        };
        let mut chosen = (file, None);
        for coding in accepted.preferred() {
            let mut sibling = rel.to_vec();
            sibling.extend_from_slice(coding.file_suffix().as_bytes());
            if let Some(f) = o.files.get(&sibling[..]) {
                chosen = (f, Some(coding.token()));
                break;
            }
        }
        let (sent, encoding) = chosen;
        let r = Representation {
            size: sent.content.len() as u64,
            modified: sent.modified.or(o.modified),
            etag: Some(sent.etag.clone()),
            // The type is the original's, whichever bytes are sent.
            content_type: file.content_type.clone(),
            encoding,
            vary: o.precompressed,
            source: Source::Bytes(sent.content.clone()),
        };
        content::respond(req.method(), req.headers(), r)
    }

    /// The listing of the directory `rel` (empty: the root), at `url_path`.
    fn list(&self, req: &HttpRequest, rel: &[u8], url_path: &str) -> HttpResponse {
        let o = &*self.inner;
        let mut prefix = rel.to_vec();
        if !prefix.is_empty() {
            prefix.push(b'/');
        }
        let mut entries: Vec<Entry> = Vec::new();
        let mut cut = false;
        let under = o
            .files
            .range::<[u8], _>((
                std::ops::Bound::Included(&prefix[..]),
                std::ops::Bound::Unbounded,
            ))
            .take_while(|(k, _)| k.starts_with(&prefix));
        for (key, file) in under {
            let rest = std::str::from_utf8(&key[prefix.len()..]).unwrap_or_default();
            let (name, dir) = match rest.split_once('/') {
                Some((d, _)) => (d, true),
                None => (rest, false),
            };
            if name.starts_with('.') && !o.dotfiles {
                continue;
            }
            // A directory's files are in order after it: one entry for all of them.
            if dir && entries.last().is_some_and(|e| e.dir && e.name == name) {
                continue;
            }
            if entries.len() == MAX_ENTRIES {
                cut = true;
                break;
            }
            entries.push(Entry {
                name: name.to_owned(),
                dir,
                size: if dir { 0 } else { file.content.len() as u64 },
                modified: if dir {
                    None
                } else {
                    file.modified.or(o.modified)
                },
            });
        }
        listing_answer(
            req,
            listing::render(entries, cut, url_path, req.uri().query()),
        )
    }
}

impl Handler for EmbeddedFiles {
    fn call(
        &self,
        req: HttpRequest,
    ) -> impl std::future::Future<Output = HttpResponse> + Send + '_ {
        std::future::ready(self.serve(&req))
    }
}

/// `path` as a key (`a/b.txt`), or why it cannot be one.
fn check_path(path: &str) -> Result<String, &'static str> {
    let rel = path.strip_prefix('/').unwrap_or(path);
    if rel.is_empty() {
        return Err("empty");
    }
    for seg in rel.split('/') {
        match seg {
            "" => return Err("an empty segment"),
            "." | ".." => return Err("a `.` or `..` segment"),
            _ if seg.contains(['\\', '\0']) => return Err("a backslash or NUL"),
            _ => {}
        }
    }
    Ok(rel.to_owned())
}

/// A strong entity tag from the content alone: `"LEN-HASH"` in hex, HASH being 64-bit FNV-1a.
fn content_etag(content: &[u8]) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = content
        .iter()
        .fold(OFFSET, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME));
    format!("\"{:x}-{hash:x}\"", content.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_checked() {
        assert_eq!(check_path("/a/b.txt").as_deref(), Ok("a/b.txt"));
        assert_eq!(check_path(".well-known/x").as_deref(), Ok(".well-known/x"));
        for bad in ["", "/", "a//b", "a/", "./a", "a/../b", "a\\b", "a\0"] {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_file_cannot_stand_where_a_directory_is() {
        let mut f = EmbeddedFiles::new();
        f.add("a/b.txt", "x").unwrap();
        assert_eq!(f.add("a", "x").unwrap_err().kind(), Kind::Usage);
        assert_eq!(f.add("a/b.txt/c", "x").unwrap_err().kind(), Kind::Usage);
        f.add("a/b.txt", "replaced").unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f.total_bytes(), 8);
    }

    #[test]
    fn etags_follow_the_content_only() {
        // FNV-1a's published test vectors: "" and "a".
        assert_eq!(content_etag(b""), "\"0-cbf29ce484222325\"");
        assert_eq!(content_etag(b"a"), "\"1-af63dc4c8601ec8c\"");
        assert_ne!(content_etag(b"ab"), content_etag(b"ba"));
    }
}
