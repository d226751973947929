//! Splitting one preprocessed line into words and braces.
//!
//! keepalived's rules (man 5 keepalived.conf, "Quoted strings"): words are separated by
//! whitespace; `"` and `'` quote, the quote characters are removed and enclosed whitespace is
//! kept (`ab"c d"e` is the single word `abc de`); inside quotes shell-like escapes are
//! processed. `{` and `}` outside quotes are block delimiters wherever they stand.

/// A word of a configuration line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    /// The word with quotes removed and escapes processed.
    pub text: String,
    /// The word exactly as written (quotes and escapes included), for keywords such as script
    /// commands whose own syntax gives quotes a meaning.
    pub raw: String,
    /// True when any part of the word was quoted.
    pub quoted: bool,
}

impl Word {
    /// A word with no quoting, as produced by code rather than read from a file.
    pub fn plain(text: impl Into<String>) -> Self {
        let text = text.into();
        Word {
            raw: text.clone(),
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

/// Splits `line` into tokens. Never fails: an unterminated quote runs to the end of the line
/// (keepalived does the same).
pub fn tokenize(line: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = line.char_indices().peekable();
    let mut cur: Option<(String, usize, bool)> = None; // (text, raw start, quoted)
    let flush = |cur: &mut Option<(String, usize, bool)>, end: usize, out: &mut Vec<Token>| {
        if let Some((text, start, quoted)) = cur.take() {
            out.push(Token::Word(Word {
                text,
                raw: line[start..end].to_string(),
                quoted,
            }));
        }
    };
    while let Some((i, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => flush(&mut cur, i, &mut out),
            '{' | '}' => {
                flush(&mut cur, i, &mut out);
                out.push(if c == '{' { Token::Open } else { Token::Close });
            }
            '"' | '\'' => {
                let w = cur.get_or_insert_with(|| (String::new(), i, false));
                w.2 = true;
                let quote = c;
                while let Some((_, q)) = chars.next() {
                    if q == quote {
                        break;
                    }
                    if q == '\\' {
                        if let Some((_, e)) = chars.next() {
                            push_escape(&mut w.0, e, &mut chars);
                        }
                        continue;
                    }
                    w.0.push(q);
                }
            }
            _ => {
                let w = cur.get_or_insert_with(|| (String::new(), i, false));
                w.0.push(c);
            }
        }
    }
    flush(&mut cur, line.len(), &mut out);
    out
}

/// Appends the character(s) an escape `\e` stands for. `rest` supplies further digits for
/// octal (`\nnn`), hex (`\xXX`) and control (`\cC`) escapes.
fn push_escape(
    out: &mut String,
    e: char,
    rest: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
) {
    match e {
        'a' => out.push('\x07'),
        'b' => out.push('\x08'),
        'E' | 'e' => out.push('\x1b'),
        'f' => out.push('\x0c'),
        'n' => out.push('\n'),
        'r' => out.push('\r'),
        't' => out.push('\t'),
        'v' => out.push('\x0b'),
        '0'..='7' => {
            let mut v = e.to_digit(8).unwrap_or(0);
            for _ in 0..2 {
                match rest.peek() {
                    Some(&(_, d)) if d.is_digit(8) => {
                        v = v * 8 + d.to_digit(8).unwrap_or(0);
                        rest.next();
                    }
                    _ => break,
                }
            }
            out.push(char::from_u32(v & 0xff).unwrap_or('\0'));
        }
        'x' => {
            let mut v: u32 = 0;
            let mut any = false;
            while let Some(&(_, d)) = rest.peek() {
                let Some(dv) = d.to_digit(16) else { break };
                v = (v.wrapping_mul(16).wrapping_add(dv)) & 0xff;
                any = true;
                rest.next();
            }
            if any {
                out.push(char::from_u32(v).unwrap_or('\0'));
            } else {
                out.push('x');
            }
        }
        'c' => match rest.next() {
            Some((_, c)) => {
                out.push(char::from_u32((c.to_ascii_uppercase() as u32) ^ 0x40).unwrap_or(c))
            }
            None => out.push('c'),
        },
        other => out.push(other),
    }
}

/// Quotes `s` so that [`tokenize`] gives it back as one word, exactly. Plain words are left as
/// they are.
pub fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| !c.is_whitespace() && !matches!(c, '"' | '\'' | '{' | '}' | '\\' | '#' | '!'));
    if plain {
        return s.to_string();
    }
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                q.push('\\');
                q.push(c);
            }
            '\n' => q.push_str("\\n"),
            '\t' => q.push_str("\\t"),
            '\r' => q.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                q.push_str(&format!("\\{:03o}", c as u32))
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn quotes_join_and_are_removed() {
        assert_eq!(
            words(r#"abcd" efg h jkl "mnop"#),
            vec!["abcd efg h jkl mnop"]
        );
        assert_eq!(
            words(r#"abcd "efg h jkl" mnop"#),
            vec!["abcd", "efg h jkl", "mnop"]
        );
        assert_eq!(words("a 'b c' d"), vec!["a", "b c", "d"]);
    }

    #[test]
    fn braces_anywhere() {
        assert_eq!(
            words("global_defs { router_id x }"),
            vec!["global_defs", "{", "router_id", "x", "}"]
        );
        assert_eq!(words("a{b}"), vec!["a", "{", "b", "}"]);
        assert_eq!(words(r#""a{b}""#), vec!["a{b}"]);
    }

    #[test]
    fn escapes_in_quotes() {
        assert_eq!(words(r#""a\tb\x41\101\\\"""#), vec!["a\tbAA\\\""]);
        assert_eq!(words(r#""\cA""#), vec!["\x01"]);
    }

    #[test]
    fn quote_round_trips() {
        for s in [
            "plain",
            "with space",
            "q\"uote",
            "back\\slash",
            "tab\there",
            "{brace}",
            "",
            "#hash",
        ] {
            let toks = tokenize(&quote(s));
            assert_eq!(toks.len(), 1, "{s:?}");
            match &toks[0] {
                Token::Word(w) => assert_eq!(w.text, s),
                t => panic!("{t:?}"),
            }
        }
    }
}
