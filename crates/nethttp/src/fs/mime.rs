//! The `Content-Type` of a file: from its extension (the `mime_guess` table, with
//! `charset=utf-8` on text types, as Go's `mime.TypeByExtension` gives it), else sniffed from
//! its first bytes (a subset of the WHATWG MIME sniffing rules Go's `DetectContentType`
//! follows: the common binary signatures, HTML, then text or `application/octet-stream`).

use std::path::Path;

/// The content type for a file named `name` whose first bytes are `head` (up to 512).
pub(crate) fn content_type(name: &Path, head: impl FnOnce() -> Vec<u8>) -> String {
    if let Some(t) = by_extension(name) {
        return t;
    }
    sniff(&head())
}

/// The type the extension says, if the table knows it.
pub(crate) fn by_extension(name: &Path) -> Option<String> {
    let ext = name.extension()?.to_str()?;
    let mime = mime_guess::from_ext(ext).first_raw()?;
    let textual = mime.starts_with("text/")
        || mime == "application/javascript"
        || mime == "application/json"
        || mime == "image/svg+xml";
    Some(if textual {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_owned()
    })
}

/// Go's `DetectContentType`, for the signatures that matter in practice.
pub(crate) fn sniff(head: &[u8]) -> String {
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
            return (*mime).to_owned();
        }
    }
    if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return "image/webp".to_owned();
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
                return "text/html; charset=utf-8".to_owned();
            }
        }
    }
    if lower.starts_with(b"<?xml") {
        return "text/xml; charset=utf-8".to_owned();
    }
    // Binary if any byte is a control character text never has (WHATWG "binary data byte").
    let binary = head
        .iter()
        .any(|&b| matches!(b, 0x00..=0x08 | 0x0b | 0x0e..=0x1a | 0x1c..=0x1f));
    if binary {
        "application/octet-stream".to_owned()
    } else {
        "text/plain; charset=utf-8".to_owned()
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
        assert_eq!(
            by_extension(Path::new("a.html")).unwrap(),
            "text/html; charset=utf-8"
        );
        assert_eq!(by_extension(Path::new("a.PNG")).unwrap(), "image/png");
        assert_eq!(
            by_extension(Path::new("x.css")).unwrap(),
            "text/css; charset=utf-8"
        );
        assert!(by_extension(Path::new("noext")).is_none());
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
