//! An HTTP_GET / SSL_GET url's `regex`, matched with PCRE2 as keepalived matches it.

use std::sync::Arc;

use rka_sys::pcre::{self, Pattern};

use crate::error::ConfigError;

/// `regex` with `regex_no_match`, `regex_options`, `regex_min_offset`, `regex_max_offset`.
#[derive(Debug, Clone)]
pub struct BodyRegex {
    pattern: Arc<Pattern>,
    text: Box<str>,
    /// Fail when the expression matches instead of when it does not.
    pub no_match: bool,
    /// Matching starts at this offset of the response.
    pub min_offset: usize,
    /// A match must start at or before this offset of the response.
    pub max_offset: Option<usize>,
}

impl BodyRegex {
    /// Compile `pattern` with PCRE2 and keepalived's `regex_options` names. `regex_stack` has
    /// no counterpart: the pattern runs in PCRE2's interpreter, bounded by PCRE2's match and
    /// heap limits, not on a JIT stack.
    pub fn new<S: AsRef<str>>(
        pattern: &str,
        options: &[S],
        no_match: bool,
    ) -> Result<Self, ConfigError> {
        let mut flags = 0;
        for opt in options {
            let opt = opt.as_ref();
            flags |= pcre::option_flag(opt)
                .ok_or_else(|| ConfigError::BadRegex(format!("unknown option {opt:?}")))?;
        }
        let compiled = Pattern::compile(pattern, flags).map_err(|e| ConfigError::Regex {
            pattern: pattern.into(),
            offset: e.offset,
            message: e.message,
        })?;
        Ok(BodyRegex {
            pattern: Arc::new(compiled),
            text: pattern.into(),
            no_match,
            min_offset: 0,
            max_offset: None,
        })
    }

    /// Whether the expression matches a response as keepalived 2.2.7 matches it (observed in
    /// the VM against nginx and a test server): over the whole response as received, status
    /// line and headers included (`^HTTP/1` and `Content-Type` match, `^` before the body does
    /// not), with the end of the data not taken as the end of a line (PCRE2's NOTEOL: `lo$`
    /// fails on a body ending in `lo` or `lo\n`; with `multiline` it matches before a newline
    /// inside the data). The offsets count from the start of the response. `None` when PCRE2
    /// could not decide (a match limit reached, invalid UTF-8 under `utf`).
    pub fn matches_response(&self, header: &[u8], body: &[u8]) -> Option<bool> {
        let mut subject = Vec::with_capacity(header.len() + body.len());
        subject.extend_from_slice(header);
        subject.extend_from_slice(body);
        self.find(&subject)
    }

    /// Whether the expression matches `data` within the offsets (`None`: undecided).
    pub fn find(&self, data: &[u8]) -> Option<bool> {
        let found = self.pattern.find_at(data, self.min_offset, true).ok()?;
        // PCRE2 returns the leftmost match: none starts at or before `max_offset` when it
        // starts after.
        Some(found.is_some_and(|(start, _)| self.max_offset.is_none_or(|max| start <= max)))
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(p: &str, opts: &[&str]) -> BodyRegex {
        BodyRegex::new(p, opts, false).expect("regex")
    }

    #[test]
    fn offsets_and_options() {
        assert_eq!(re("HELLO", &["caseless"]).find(b"say hello"), Some(true));
        let mut r = re("ab", &[]);
        r.min_offset = 2;
        assert_eq!(r.find(b"ab--"), Some(false));
        assert_eq!(r.find(b"--ab"), Some(true));
        assert_eq!(r.find(b"a"), Some(false), "offset past the data");
        r.min_offset = 0;
        r.max_offset = Some(1);
        assert_eq!(r.find(b"---ab"), Some(false));
        assert_eq!(r.find(b"-ab"), Some(true));
        assert!(BodyRegex::new("a", &["bogus"], false).is_err());
    }

    #[test]
    fn an_invalid_pattern_names_pcre2s_offset_and_message() {
        match BodyRegex::new("a(", &[] as &[&str], false) {
            Err(ConfigError::Regex {
                pattern,
                offset,
                message,
            }) => {
                assert_eq!((pattern.as_str(), offset), ("a(", 2));
                assert_eq!(message, "missing closing parenthesis");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_whole_response_as_keepalived_matches_it() {
        // keepalived 2.2.7 against nginx serving "version 1: the real server is fine\n",
        // and against a server answering "hello" / "hello\n" (the VM, 2026-11-22): which
        // expressions let the real server up.
        let header: &[u8] = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html\r\n\
              Content-Length: 35\r\n\r\n";
        let body: &[u8] = b"version 1: the real server is fine\n";
        for (pattern, opts, up) in [
            ("^version 1:", &[][..], false),
            ("version 1:", &[], true),
            ("^HTTP/1", &[], true),
            ("Content-Type", &[], true),
            ("fine$", &[], false),
            ("fine$", &["multiline"], true),
        ] {
            let r = re(pattern, opts);
            assert_eq!(r.matches_response(header, body), Some(up), "{pattern}");
        }
        let h: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\n";
        for (pattern, opts, body, up) in [
            ("lo$", &[][..], &b"hello"[..], false),
            ("lo$", &["multiline"], b"hello\n", true),
            ("(?<=hel)lo(?! world)", &[], b"hello\n", true),
            ("(?<=hel)lo(?=\n)", &[], b"hello\n", true),
            (r"(l)\1o", &[], b"hello\n", true),
            ("HELLO", &["caseless"], b"hello\n", true),
        ] {
            let r = re(pattern, opts);
            assert_eq!(r.matches_response(h, body), Some(up), "{pattern}");
        }
    }

    #[test]
    fn undecided_is_neither_match_nor_mismatch() {
        let r = re("a", &["utf"]);
        assert_eq!(r.find(b"\xff a"), None);
    }
}
