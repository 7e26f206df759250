//! HTML escaping for the pages the library writes itself: redirect notes, directory listings.

/// `s` safe inside HTML text and attribute values (the five characters Go's
/// `html.EscapeString` replaces, with its numeric forms for the quotes).
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_five_characters_are_replaced() {
        assert_eq!(
            super::escape("<a href=\"x\">&'é"),
            "&lt;a href=&#34;x&#34;&gt;&amp;&#39;é"
        );
    }
}
