//! XML text escaping shared by the PDF/A metadata (XMP) and the archive messages.
//!
//! Input: any text from an event. Output: text safe in XML 1.0 element content and
//! attribute values. Characters XML 1.0 cannot carry at all are dropped, never passed on.

/// Escapes text for element content or attribute values, and drops characters
/// XML 1.0 cannot carry at all (C0 controls other than tab, LF, CR; U+FFFE/U+FFFF).
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
}

/// [`escape_into`] into a new string.
pub fn escape(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    escape_into(&mut s, text);
    s
}
