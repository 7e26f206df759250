//! The `Content-Type` of a file: from its extension (the `mime_guess` table, with
//! `charset=utf-8` on text types, as Go's `mime.TypeByExtension` gives it), else sniffed from
//! its first bytes (a subset of the WHATWG MIME sniffing rules Go's `DetectContentType`
//! follows: the common binary signatures, HTML, then text or `application/octet-stream`).

use std::borrow::Cow;

/// The types of the extensions most sites serve, answered without the table's
/// case-insensitive binary search (what `mime_guess` and the `charset` rule give for each;
/// a test holds them to it).
const COMMON: &[(&str, &str)] = &[
    ("html", "text/html; charset=utf-8"),
    ("htm", "text/html; charset=utf-8"),
    ("css", "text/css; charset=utf-8"),
    ("js", "text/javascript; charset=utf-8"),
    ("json", "application/json; charset=utf-8"),
    ("txt", "text/plain; charset=utf-8"),
    ("svg", "image/svg+xml; charset=utf-8"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("ico", "image/x-icon"),
    ("woff2", "font/woff2"),
    ("wasm", "application/wasm"),
    ("pdf", "application/pdf"),
    ("xml", "text/xml; charset=utf-8"),
    ("mp4", "video/mp4"),
    ("bin", "application/octet-stream"),
];

/// The content type for a file named `name` whose first bytes are `head` (up to 512).
pub(crate) fn content_type(name: &[u8], head: impl FnOnce() -> Vec<u8>) -> Cow<'static, str> {
    if let Some(t) = by_extension(name) {
        return t;
    }
    Cow::Borrowed(sniff(&head()))
}

/// The type the extension of the file name `name` says, if the table knows it.
pub(crate) fn by_extension(name: &[u8]) -> Option<Cow<'static, str>> {
    let dot = name.iter().rposition(|&b| b == b'.')?;
    let ext = std::str::from_utf8(&name[dot + 1..]).ok()?;
    if dot == 0 || ext.is_empty() {
        // A dotfile's name is not an extension (`Path::extension` agrees).
        return None;
    }
    if ext.len() <= 5 {
        // Lowercased on the stack, then compared whole: cheaper than a caseless compare
        // with each entry.
        let mut lower = [0u8; 5];
        lower[..ext.len()].copy_from_slice(ext.as_bytes());
        lower.make_ascii_lowercase();
        let lower = &lower[..ext.len()];
        if let Some((_, t)) = COMMON.iter().find(|(e, _)| e.as_bytes() == lower) {
            return Some(Cow::Borrowed(t));
        }
    }
    let mime = mime_guess::from_ext(ext).first_raw()?;
    Some(if is_textual(mime) {
        Cow::Owned(format!("{mime}; charset=utf-8"))
    } else {
        Cow::Borrowed(mime)
    })
}

fn is_textual(mime: &str) -> bool {
    mime.starts_with("text/")
        || mime == "application/javascript"
        || mime == "application/json"
        || mime == "image/svg+xml"
}

/// Go's `DetectContentType`, for the signatures that matter in practice.
pub(crate) fn sniff(head: &[u8]) -> &'static str {
    let head = &head[..head.len().min(512)];
    const SIGNATURES: &[(&[u8], &str)] = &[
        (b"%PDF-", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"PK\x03\x04", "application/zip"),
        (b"\x1f\x8b\x08", "application/x-gzip"),
        (b"\x00asm", "application/wasm"),
        (b"wOFF", "font/woff"),
        (b"wOF2", "font/woff2"),
        (b"%!PS-Adobe-", "application/postscript"),
    ];
    for (sig, mime) in SIGNATURES {
        if head.starts_with(sig) {
            return mime;
        }
    }
    if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return "image/webp";
    }
    let trimmed = trim_ws(head);
    let lower: Vec<u8> = trimmed
        .iter()
        .take(16)
        .map(u8::to_ascii_lowercase)
        .collect();
    for tag in [
        &b"<!doctype html"[..],
        b"<html",
        b"<head",
        b"<script",
        b"<body",
        b"<h1",
        b"<div",
        b"<p",
        b"<!--",
    ] {
        if lower.starts_with(tag) {
            let next = trimmed.get(tag.len());
            if tag == b"<!--" || matches!(next, Some(b' ' | b'>')) {
                return "text/html; charset=utf-8";
            }
        }
    }
    if lower.starts_with(b"<?xml") {
        return "text/xml; charset=utf-8";
    }
    // Binary if any byte is a control character text never has (WHATWG "binary data byte").
    let binary = head
        .iter()
        .any(|&b| matches!(b, 0x00..=0x08 | 0x0b | 0x0e..=0x1a | 0x1c..=0x1f));
    if binary {
        "application/octet-stream"
    } else {
        "text/plain; charset=utf-8"
    }
}

fn trim_ws(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !matches!(c, b'\t' | b'\n' | b'\x0c' | b'\r' | b' '))
        .unwrap_or(b.len());
    &b[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_extension_with_charset_on_text() {
        assert_eq!(by_extension(b"a.html").unwrap(), "text/html; charset=utf-8");
        assert_eq!(by_extension(b"a.PNG").unwrap(), "image/png");
        assert_eq!(by_extension(b"x.css").unwrap(), "text/css; charset=utf-8");
        assert_eq!(by_extension(b"x.tar.gz").unwrap(), "application/gzip");
        assert_eq!(
            by_extension(b"dir.d/x.MD").unwrap(),
            "text/markdown; charset=utf-8"
        );
        assert!(by_extension(b"noext").is_none());
        assert!(by_extension(b".env").is_none());
        assert!(by_extension(b"trailing.").is_none());
    }

    #[test]
    fn the_common_table_agrees_with_mime_guess() {
        for (ext, t) in COMMON {
            assert!(ext.len() <= 5, "{ext}: longer than the lookup compares");
            let mime = mime_guess::from_ext(ext).first_raw().unwrap();
            let want = if is_textual(mime) {
                format!("{mime}; charset=utf-8")
            } else {
                mime.to_owned()
            };
            assert_eq!(*t, want, "{ext}");
        }
    }

    #[test]
    fn sniffing_the_common_cases() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), "image/png");
        assert_eq!(sniff(b"  <!DOCTYPE HTML>"), "text/html; charset=utf-8");
        assert_eq!(sniff(b"<p>hi"), "text/html; charset=utf-8");
        assert_eq!(sniff(b"<pre>"), "text/plain; charset=utf-8");
        assert_eq!(sniff(b"hello\nworld"), "text/plain; charset=utf-8");
        assert_eq!(sniff(b"\x00\x01\x02"), "application/octet-stream");
        assert_eq!(sniff(b""), "text/plain; charset=utf-8");
    }
}
