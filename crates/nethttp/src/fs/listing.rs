//! A directory's listing as an HTML page: names escaped for HTML and for the link's URL,
//! directories marked with `/`, sortable by name, size or modification time
//! (`?sort=name|size|time&order=asc|desc`), dotfiles left out unless served, and at most
//! [`MAX_ENTRIES`] entries so a huge directory costs bounded memory and time.

use std::fs;
use std::path::Path;
use std::time::SystemTime;

use crate::html::escape;

/// Most entries listed; a larger directory's listing says it was cut.
pub(crate) const MAX_ENTRIES: usize = 10_000;

/// One name in a listing.
pub(crate) struct Entry {
    pub name: String,
    pub dir: bool,
    pub size: u64,
    pub modified: Option<SystemTime>,
}

/// The listing page of `dir`, whose URL path is `url_path` (ending in `/`), sorted as `query`
/// asks.
pub(crate) fn page(
    dir: &Path,
    url_path: &str,
    query: Option<&str>,
    dotfiles: bool,
) -> std::io::Result<String> {
    let mut entries = Vec::new();
    let mut cut = false;
    for e in fs::read_dir(dir)? {
        let Ok(e) = e else { continue };
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && !dotfiles {
            continue;
        }
        if entries.len() == MAX_ENTRIES {
            cut = true;
            break;
        }
        // Followed links are listed as what they point to; a dangling one by itself.
        let meta = fs::metadata(e.path()).or_else(|_| e.metadata());
        let (dir, size, modified) = match &meta {
            Ok(m) => (m.is_dir(), m.len(), m.modified().ok()),
            Err(_) => (false, 0, None),
        };
        entries.push(Entry {
            name,
            dir,
            size,
            modified,
        });
    }
    Ok(render(entries, cut, url_path, query))
}

/// The page listing `entries` (`cut`: more were left out) of the directory at `url_path`.
pub(crate) fn render(
    mut entries: Vec<Entry>,
    cut: bool,
    url_path: &str,
    query: Option<&str>,
) -> String {
    let (key, desc) = sort_order(query);
    entries.sort_by(|a, b| {
        let o = match key {
            Key::Size => a.size.cmp(&b.size),
            Key::Time => a.modified.cmp(&b.modified),
            Key::Name => std::cmp::Ordering::Equal,
        };
        o.then_with(|| a.name.cmp(&b.name))
    });
    if desc {
        entries.reverse();
    }
    let title = escape(url_path);
    let mut out = String::with_capacity(256 + entries.len() * 160);
    out.push_str("<!doctype html>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width\">\n");
    out.push_str(&format!(
        "<title>Index of {title}</title>\n<h1>Index of {title}</h1>\n"
    ));
    out.push_str("<table>\n<tr>");
    for (k, label) in [
        (Key::Name, "Name"),
        (Key::Size, "Size"),
        (Key::Time, "Modified"),
    ] {
        let next_desc = k == key && !desc;
        out.push_str(&format!(
            "<th><a href=\"?sort={}&amp;order={}\">{label}</a></th>",
            k.as_str(),
            if next_desc { "desc" } else { "asc" }
        ));
    }
    out.push_str("</tr>\n");
    if url_path != "/" {
        out.push_str("<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n");
    }
    for e in &entries {
        let slash = if e.dir { "/" } else { "" };
        let href = escape(&escape_url(&e.name));
        let name = escape(&e.name);
        let size = if e.dir {
            "-".to_owned()
        } else {
            e.size.to_string()
        };
        let when = e.modified.map(httpdate::fmt_http_date).unwrap_or_default();
        out.push_str(&format!(
            "<tr><td><a href=\"./{href}{slash}\">{name}{slash}</a></td><td>{size}</td><td>{when}</td></tr>\n"
        ));
    }
    out.push_str("</table>\n");
    if cut {
        out.push_str(&format!(
            "<p>Only the first {MAX_ENTRIES} entries are listed.</p>\n"
        ));
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    Name,
    Size,
    Time,
}

impl Key {
    fn as_str(self) -> &'static str {
        match self {
            Key::Name => "name",
            Key::Size => "size",
            Key::Time => "time",
        }
    }
}

fn sort_order(query: Option<&str>) -> (Key, bool) {
    let mut key = Key::Name;
    let mut desc = false;
    for pair in query.unwrap_or("").split('&') {
        match pair {
            "sort=size" => key = Key::Size,
            "sort=time" => key = Key::Time,
            "sort=name" => key = Key::Name,
            "order=desc" => desc = true,
            "order=asc" => desc = false,
            _ => {}
        }
    }
    (key, desc)
}

/// `name` as one path segment of a URL: everything but unreserved characters escaped
/// (RFC 3986 §2.3), so `?`, `#`, `%`, `:` and spaces in names link to the right file.
fn escape_url(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_for_html_and_urls() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&#34;x&#34;&gt;&amp;&#39;"
        );
        assert_eq!(escape_url("a b?#%.txt"), "a%20b%3F%23%25.txt");
        assert_eq!(escape_url("é"), "%C3%A9");
    }

    #[test]
    fn sort_keys_from_the_query() {
        assert!(matches!(sort_order(None), (Key::Name, false)));
        assert!(matches!(
            sort_order(Some("sort=size&order=desc")),
            (Key::Size, true)
        ));
        assert!(matches!(sort_order(Some("sort=bogus")), (Key::Name, false)));
    }
}
