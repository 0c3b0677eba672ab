//! JSON text written by hand on hot paths (change-record keys and values),
//! escaped exactly as `serde_json` escapes it, so that readers see the
//! same bytes either way.

use std::fmt::Write as _;

/// Appends `s` as a JSON string, escaped as `serde_json` escapes it.
pub fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    if !s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        // Nothing to escape (ids, names, codes): the text as it is.
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                // Infallible: writing to a String.
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Strings are escaped exactly as `serde_json` escapes them.
        #[test]
        fn strings_escape_as_serde_json_does(s in proptest::prelude::any::<String>(), control in 0u32..0x20) {
            let escaped = format!("{s}{}\"\\/", char::from_u32(control).expect("a control character"));
            for s in [s, escaped] {
                let mut out = String::new();
                push_json_string(&mut out, &s);
                proptest::prop_assert_eq!(out, serde_json::to_string(&s).expect("strings serialize"));
            }
        }
    }
}
