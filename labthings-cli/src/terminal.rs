//! Text from a server, made safe to print for people: a Thing Description,
//! a value or an error body can hold terminal escape sequences (which set
//! the window title, clear the screen, or worse) and can be megabytes long.

/// The longest line printed for people; `--json` prints everything.
pub(crate) const LINE_MAX: usize = 2_000;

/// `text` with every control character but line breaks and tabs shown as
/// an escape (`\u{1b}`), each line cut at [`LINE_MAX`] characters with a
/// note of how many more there were.
///
/// ```ignore
/// assert_eq!(clean("a\u{1b}]0;owned\u{7}b"), "a\\u{1b}]0;owned\\u{7}b");
/// ```
pub(crate) fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(LINE_MAX * 4));
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let mut chars = line.chars();
        for c in chars.by_ref().take(LINE_MAX) {
            if c.is_control() && c != '\t' {
                out.extend(c.escape_unicode());
            } else {
                out.push(c);
            }
        }
        let more = chars.count();
        if more > 0 {
            out.push_str(&format!("… ({more} more characters; --json prints them)"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_become_visible_and_long_lines_are_cut() {
        assert_eq!(clean("a\u{1b}]0;owned\u{7}b"), "a\\u{1b}]0;owned\\u{7}b");
        assert_eq!(clean("x\u{1b}[2J\r\ny"), "x\\u{1b}[2J\\u{d}\ny");
        assert_eq!(clean("tab\there"), "tab\there");
        assert_eq!(clean("\u{9b}31m"), "\\u{9b}31m", "C1 controls too");
        let long = clean(&"z".repeat(LINE_MAX + 10));
        assert!(long.starts_with(&"z".repeat(LINE_MAX)));
        assert!(long.ends_with("… (10 more characters; --json prints them)"), "{long}");
    }
}
