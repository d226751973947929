//! Comment removal, as keepalived 2.2.7's configuration readers do it.
//!
//! Observed rules: `#` and `!` start a comment anywhere outside double quotes (single quotes
//! do not protect them). Inside double quotes a backslash protects the next character (so
//! `"a\"b#c"` keeps the `#`). Outside quotes, `\#` and `\!` still start a comment (the
//! backslash goes too) and `\\` is kept as two characters.

/// The text of `line` before its comment, and whether a double quote was left open.
pub fn strip_comment_report(line: &str) -> (&str, bool) {
    let bytes = line.as_bytes();
    let mut in_quote = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {
                if !in_quote && matches!(bytes.get(i + 1), Some(b'#' | b'!')) {
                    return (&line[..i], false);
                }
                i += 1;
            }
            b'"' => in_quote = !in_quote,
            b'#' | b'!' if !in_quote => return (&line[..i], false),
            _ => {}
        }
        i += 1;
    }
    (line, in_quote)
}

/// Removes a `#` or `!` comment (see the module documentation for the exact rules).
pub fn strip_comment(line: &str) -> &str {
    strip_comment_report(line).0
}

/// keepalived removes the whitespace just before a trailing backslash on an ordinary line and
/// keeps the backslash: `priority 100 \` reads as the word `100\` ("invalid number '100\'").
pub fn join_trailing_backslash(line: &str) -> std::borrow::Cow<'_, str> {
    match line.strip_suffix('\\') {
        Some(head) if head.ends_with(crate::lexer::is_space) => {
            let mut s = head.trim_end_matches(crate::lexer::is_space).to_string();
            s.push('\\');
            std::borrow::Cow::Owned(s)
        }
        _ => std::borrow::Cow::Borrowed(line),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Observed with keepalived 2.2.7.
    #[test]
    fn comments_outside_double_quotes() {
        assert_eq!(strip_comment("auth_pass abc!"), "auth_pass abc");
        assert_eq!(strip_comment("a # b"), "a ");
        assert_eq!(strip_comment(r#"script "x # y" # z"#), r#"script "x # y" "#);
        assert_eq!(strip_comment("w4'a#b'c"), "w4'a");
    }

    #[test]
    fn backslashes() {
        assert_eq!(strip_comment(r"a\#b c"), "a");
        assert_eq!(strip_comment(r"a\!b c"), "a");
        assert_eq!(strip_comment(r"a\\#b c"), r"a\\");
        assert_eq!(strip_comment(r#""a\#b" c"#), r#""a\#b" c"#);
        assert_eq!(strip_comment(r#""a\"b#c" d"#), r#""a\"b#c" d"#);
    }

    #[test]
    fn unterminated_quotes_are_reported() {
        assert!(strip_comment_report(r#"w5 "unterminated # x"#).1);
        assert!(strip_comment_report(r#"1.1.1.1 "a\\" b" c"#).1);
        assert!(strip_comment_report(r#"1.1.1.1 "a b\""#).1);
        assert!(!strip_comment_report(r#"1.1.1.1 "a\"b c" d"#).1);
    }

    #[test]
    fn trailing_backslash_joins_the_previous_word() {
        assert_eq!(
            join_trailing_backslash(r"priority 100   \"),
            r"priority 100\"
        );
        assert_eq!(join_trailing_backslash(r"priority 1 \ \"), r"priority 1 \\");
        assert_eq!(join_trailing_backslash(r"advert_int 1\"), r"advert_int 1\");
        assert_eq!(join_trailing_backslash("a b"), "a b");
    }
}
