//! Splitting one preprocessed line into words and braces, as keepalived 2.2.7 does.
//!
//! Observed rules (`keepalived -t` on probe files, see the tests):
//! - words are separated by ASCII whitespace; `{` and `}` outside quotes are block delimiters
//!   wherever they stand (`b{c` is `b`, `{`, `c`);
//! - a `"` starts a quoted word wherever it stands: it ends the word before it, and the word
//!   ends at the next `"` (`a"b c"d` is the three words `a`, `b c`, `d`; `""` is an empty word);
//! - the single quote `'` is an ordinary character here (it only has a meaning inside script
//!   commands, see [`crate::model::script`]);
//! - a backslash is an ordinary character too: it neither escapes a quote nor a space.
//!   Escape sequences are interpreted later, by the keywords that take script commands;
//! - a `"` without its closing partner drops the rest of the line ("Unmatched quote").

/// A word of a configuration line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    /// The word with its quotes removed.
    pub text: String,
    /// True when the word was written between double quotes.
    pub quoted: bool,
}

impl Word {
    /// A word with no quoting, as produced by code rather than read from a file.
    pub fn plain(text: impl Into<String>) -> Self {
        let text = text.into();
        Word {
            text,
            quoted: false,
        }
    }
}

/// A lexical token of a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Token {
    /// A word.
    Word(Word),
    /// `{` outside quotes.
    Open,
    /// `}` outside quotes.
    Close,
}

/// The result of splitting a line, with what went wrong.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Tokenized {
    /// The tokens, in order.
    pub tokens: Vec<Token>,
    /// True when a `"` was never closed; the text after it was dropped. keepalived reports
    /// this as `Unmatched quote: 'LINE'`.
    pub unmatched_quote: bool,
}

/// True for the characters keepalived treats as word separators (C `isspace`).
pub fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// Splits `line` into tokens. Never fails: text after an unmatched `"` is dropped (use
/// [`tokenize_report`] to learn that it happened).
pub fn tokenize(line: &str) -> Vec<Token> {
    tokenize_report(line).tokens
}

/// Splits `line` into tokens and reports an unmatched quote.
pub fn tokenize_report(line: &str) -> Tokenized {
    let mut words = RawTokens::new(line);
    let tokens = words.by_ref().map(RawToken::to_token).collect();
    Tokenized {
        tokens,
        unmatched_quote: words.unmatched_quote(),
    }
}

/// A token of a line, borrowed from it: what [`RawTokens`] yields. Nothing is copied until a
/// caller keeps the word ([`RawToken::to_token`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawToken<'a> {
    /// A word (quotes removed) and whether it was quoted.
    Word(&'a str, bool),
    /// `{` outside quotes.
    Open,
    /// `}` outside quotes.
    Close,
}

impl RawToken<'_> {
    /// The owned token.
    pub fn to_token(self) -> Token {
        match self {
            RawToken::Word(text, quoted) => Token::Word(Word {
                text: text.to_string(),
                quoted,
            }),
            RawToken::Open => Token::Open,
            RawToken::Close => Token::Close,
        }
    }
}

/// The tokens of one line, in order, without copying them ([`tokenize_report`] owns them).
#[derive(Clone, Debug)]
pub struct RawTokens<'a> {
    line: &'a str,
    pos: usize,
    unmatched_quote: bool,
}

impl<'a> RawTokens<'a> {
    /// The tokens of `line`.
    pub fn new(line: &'a str) -> Self {
        RawTokens {
            line,
            pos: 0,
            unmatched_quote: false,
        }
    }

    /// True once a `"` was found without its closing partner (the text after it is dropped);
    /// keepalived reports this as `Unmatched quote: 'LINE'`.
    pub fn unmatched_quote(&self) -> bool {
        self.unmatched_quote
    }
}

impl<'a> Iterator for RawTokens<'a> {
    type Item = RawToken<'a>;

    fn next(&mut self) -> Option<RawToken<'a>> {
        let line = self.line;
        let bytes = line.as_bytes();
        // Every delimiter is ASCII, so byte positions of delimiters are char boundaries.
        let mut i = self.pos;
        while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
            i += 1;
        }
        let Some(&b) = bytes.get(i) else {
            self.pos = i;
            return None;
        };
        match b {
            b'{' | b'}' => {
                self.pos = i + 1;
                Some(if b == b'{' {
                    RawToken::Open
                } else {
                    RawToken::Close
                })
            }
            b'"' => match line.get(i + 1..).and_then(|rest| rest.find('"')) {
                Some(len) => {
                    let end = i + 1 + len;
                    self.pos = end + 1;
                    Some(RawToken::Word(line.get(i + 1..end).unwrap_or(""), true))
                }
                None => {
                    self.unmatched_quote = true;
                    self.pos = bytes.len();
                    None
                }
            },
            _ => {
                let start = i;
                while i < bytes.len()
                    && !matches!(
                        bytes[i],
                        b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b'{' | b'}' | b'"'
                    )
                {
                    i += 1;
                }
                self.pos = i;
                Some(RawToken::Word(line.get(start..i).unwrap_or(""), false))
            }
        }
    }
}

/// True when [`tokenize`] can give `s` back as one word: keepalived's syntax has no way to
/// write a `"` inside a word, and a line cannot hold a line break or a NUL.
pub fn is_representable(s: &str) -> bool {
    !s.contains(['"', '\n', '\r', '\0'])
}

/// Quotes `s` so that [`tokenize`] gives it back as one word, exactly, whenever
/// [`is_representable`] holds (every word read from a file does). Plain words are left as
/// they are. Characters that cannot be written (`"`, CR, LF, NUL) are dropped.
pub fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| !is_space(c) && !matches!(c, '"' | '{' | '}' | '#' | '!' | '\\'));
    if plain {
        return s.to_string();
    }
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    q.extend(s.chars().filter(|c| !matches!(c, '"' | '\n' | '\r' | '\0')));
    // A backslash just before the closing quote would make the comment scanner believe the
    // quote is escaped; none of keepalived's readers needs a trailing backslash in a word.
    while q.ends_with('\\') && q.len() > 1 {
        q.pop();
    }
    q.push('"');
    q
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn words(line: &str) -> Vec<String> {
        tokenize(line)
            .into_iter()
            .map(|t| match t {
                Token::Word(w) => w.text,
                Token::Open => "{".into(),
                Token::Close => "}".into(),
            })
            .collect()
    }

    // Expected values below were observed with keepalived 2.2.7 (words echoed through
    // `virtual_ipaddress` diagnostics).
    #[test]
    fn double_quotes_make_separate_words() {
        assert_eq!(words(r#"a"b c"d e"#), vec!["a", "b c", "d", "e"]);
        assert_eq!(
            words(r#"abcd" efg h jkl "mnop"#),
            vec!["abcd", " efg h jkl ", "mnop"]
        );
        assert_eq!(
            words(r#"abcd "efg h jkl" mnop"#),
            vec!["abcd", "efg h jkl", "mnop"]
        );
        assert_eq!(words(r#""" y"#), vec!["", "y"]);
        assert_eq!(words(r#"x"y"z"#), vec!["x", "y", "z"]);
    }

    #[test]
    fn single_quotes_and_backslashes_are_ordinary() {
        assert_eq!(words("a'b c'd e"), vec!["a'b", "c'd", "e"]);
        assert_eq!(words(r#""a b"'c d'"#), vec!["a b", "'c", "d'"]);
        assert_eq!(words(r"a\ b"), vec![r"a\", "b"]);
        assert_eq!(
            words(r#"a\"b "c\"d" 'e\'f'"#),
            vec![r"a\", "b ", r"c\", "d", r"'e\'f'"]
        );
        assert_eq!(words(r#""q\tz\x41\\""#), vec![r"q\tz\x41\\"]);
    }

    #[test]
    fn unmatched_quote_drops_the_rest() {
        let t = tokenize_report(r#"1.1.1.1 "a\"b c" d"#);
        assert!(t.unmatched_quote);
        let w: Vec<String> = t
            .tokens
            .into_iter()
            .filter_map(|t| match t {
                Token::Word(w) => Some(w.text),
                _ => None,
            })
            .collect();
        assert_eq!(w, vec!["1.1.1.1", r"a\", "b", "c"]);
        assert_eq!(words(r#"a "b c"#), vec!["a"]);
        assert!(!tokenize_report("a b").unmatched_quote);
    }

    #[test]
    fn a_quote_is_unmatched_exactly_when_their_number_is_odd() {
        for line in [
            r#"a "b" c"#,
            r#"a "b c"#,
            r#""""#,
            r#"""""#,
            r#"x"y"z"q"#,
            "no quotes",
            r#"{"}"}"#,
        ] {
            let odd = line.bytes().filter(|&b| b == b'"').count() % 2 == 1;
            assert_eq!(tokenize_report(line).unmatched_quote, odd, "{line:?}");
        }
    }

    #[test]
    fn braces_anywhere() {
        assert_eq!(
            words("global_defs { router_id x }"),
            vec!["global_defs", "{", "router_id", "x", "}"]
        );
        assert_eq!(words("{a} b{c"), vec!["{", "a", "}", "b", "{", "c"]);
        assert_eq!(words(r#""a{b}""#), vec!["a{b}"]);
    }

    #[test]
    fn quoted_words_are_marked() {
        match &tokenize(r#"x "a b""#)[1] {
            Token::Word(w) => {
                assert_eq!(w.text, "a b");
                assert!(w.quoted);
            }
            t => panic!("{t:?}"),
        }
    }

    #[test]
    fn unicode_whitespace_is_not_a_separator() {
        assert_eq!(words("a\u{a0}b c"), vec!["a\u{a0}b", "c"]);
        assert_eq!(words("a\x0bb"), vec!["a", "b"]);
    }

    #[test]
    fn quote_round_trips() {
        for s in [
            "plain",
            "with space",
            "back\\slash",
            "tab\there",
            "{brace}",
            "",
            "#hash",
            "it's",
        ] {
            let toks = tokenize(&quote(s));
            assert_eq!(toks.len(), 1, "{s:?}");
            match &toks[0] {
                Token::Word(w) => assert_eq!(w.text, s),
                t => panic!("{t:?}"),
            }
        }
    }

    proptest! {
        #[test]
        fn tokenize_quote_round_trips(s in any::<String>()) {
            prop_assume!(is_representable(&s) && !s.ends_with('\\'));
            let toks = tokenize(&quote(&s));
            prop_assert_eq!(toks.len(), 1);
            match &toks[0] {
                Token::Word(w) => prop_assert_eq!(&w.text, &s),
                t => prop_assert!(false, "not a word: {:?}", t),
            }
        }

        #[test]
        fn tokenize_never_panics(s in any::<String>()) {
            let _ = tokenize_report(&s);
        }

        #[test]
        fn unmatched_quote_is_an_odd_number_of_quotes(s in "[a \"{}]{0,12}") {
            let odd = s.bytes().filter(|&b| b == b'"').count() % 2 == 1;
            prop_assert_eq!(tokenize_report(&s).unmatched_quote, odd);
        }
    }
}
