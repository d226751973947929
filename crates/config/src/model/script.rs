//! Script commands (`notify_master`, `script`, `misc_path`, ...) and the user they run as.
//!
//! keepalived splits a script command into argv itself (no shell), in two steps observed on
//! 2.2.7: first the shell-like escapes of the man page's "Quoted strings" are processed
//! (`\t`, `\x41`, `\101`, `\cA`, `\"`...), then the result is split on whitespace, with
//! `'...'` and `"..."` grouping (the quote characters are removed). Only the first word of the
//! statement is the command: `script /bin/x a b` runs `/bin/x` alone, `script "/bin/x a b"` runs
//! it with two arguments; for notify scripts the following words are the user and group.

use crate::dump::Dumper;
use crate::tree::Node;

use super::Ctx;

/// A command keepalived runs, already split into its program and arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Program followed by its arguments.
    pub argv: Vec<String>,
}

/// Processes the escapes keepalived accepts in script strings.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = it.next() else {
            out.push('\\');
            break;
        };
        match e {
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'E' => out.push('\x1b'),
            'f' => out.push('\x0c'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\x0b'),
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match it.peek().and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            it.next();
                        }
                        None => break,
                    }
                }
                out.push(char::from_u32(v & 0xff).unwrap_or('\0'));
            }
            'x' => {
                let mut v: u32 = 0;
                let mut any = false;
                while let Some(d) = it.peek().and_then(|d| d.to_digit(16)) {
                    v = (v.wrapping_mul(16) + d) & 0xff;
                    any = true;
                    it.next();
                }
                out.push(if any {
                    char::from_u32(v).unwrap_or('\0')
                } else {
                    'x'
                });
            }
            'c' => match it.next() {
                Some(k) => {
                    out.push(char::from_u32(u32::from(k.to_ascii_uppercase()) ^ 0x40).unwrap_or(k))
                }
                None => out.push('c'),
            },
            other => out.push(other),
        }
    }
    out
}

/// Writes `c` so that [`unescape`] gives it back and the result is safe inside a quoted
/// configuration word (no `"`, no raw backslash, no line breaks).
fn escape_char(out: &mut String, c: char) {
    match c {
        '\\' => out.push_str("\\134"),
        '"' => out.push_str("\\042"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\{:03o}", c as u32)),
        c => out.push(c),
    }
}

impl Command {
    /// The program path.
    pub fn program(&self) -> &str {
        self.argv.first().map(String::as_str).unwrap_or("")
    }

    /// The command as one string that [`Command::parse`] reads back identically (for any
    /// argument that does not hold both kinds of quote).
    pub fn to_conf(&self) -> String {
        let mut out = String::new();
        for (i, a) in self.argv.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            let needs_group = a.is_empty()
                || a.chars()
                    .any(|c| c.is_whitespace() || c == '\'' || c == '"');
            if !needs_group {
                a.chars().for_each(|c| escape_char(&mut out, c));
                continue;
            }
            // Group with the quote the argument does not contain.
            let (open, close): (&str, char) = if a.contains('\'') {
                ("\\042", '"')
            } else {
                ("'", '\'')
            };
            out.push_str(open);
            for c in a.chars().filter(|&c| c != close) {
                escape_char(&mut out, c);
            }
            out.push_str(open);
        }
        out
    }

    /// Splits a command string as keepalived does: escapes first, then whitespace splitting
    /// with `'...'` and `"..."` grouping.
    pub fn parse(s: &str) -> Option<Command> {
        let text = unescape(s);
        let mut argv = Vec::new();
        let mut cur = String::new();
        let mut in_word = false;
        let mut quote: Option<char> = None;
        for c in text.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => cur.push(c),
                (None, '\'' | '"') => {
                    quote = Some(c);
                    in_word = true;
                }
                (None, c) if c.is_whitespace() => {
                    if in_word {
                        argv.push(std::mem::take(&mut cur));
                        in_word = false;
                    }
                }
                (None, c) => {
                    cur.push(c);
                    in_word = true;
                }
            }
        }
        if in_word {
            argv.push(cur);
        }
        (!argv.is_empty()).then_some(Command { argv })
    }
}

/// Reads a script command from the first argument of `node` (later words are not part of
/// the command, as in keepalived).
pub fn command(ctx: &mut Ctx<'_>, node: &Node) -> Option<Command> {
    let cmd = node.arg(0).and_then(Command::parse);
    if cmd.is_none() {
        ctx.warn(node, format!("{} requires a script", node.keyword()));
    }
    cmd
}

/// Writes `key "command"`.
pub fn dump_command(d: &mut Dumper, key: &str, cmd: &Option<Command>) {
    if let Some(c) = cmd {
        d.words(&[key.to_string(), c.to_conf()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escapes_then_split_as_keepalived() {
        // Observed on keepalived 2.2.7 with a notify script printing its arguments.
        let c = Command::parse(r#"/x I3 a\tb \x41 \"q r\" x\ y"#).expect("command");
        assert_eq!(c.argv, vec!["/x", "I3", "a", "b", "A", "q r", "x", "y"]);
        let c = Command::parse("/tmp/args.sh S2 'x y' z").expect("command");
        assert_eq!(c.argv, vec!["/tmp/args.sh", "S2", "x y", "z"]);
        assert_eq!(Command::parse("   "), None);
    }

    #[test]
    fn only_the_first_word_is_the_command() {
        let opts = crate::LoadOptions {
            skip_host_checks: true,
            ..Default::default()
        };
        let loaded = crate::load_str(
            "t.conf",
            "vrrp_script a {\n script /bin/echo S1 b\n}\nvrrp_script b {\n script \"/bin/echo 'x y' z\"\n}\n",
            &opts,
        );
        let s = &loaded.config.vrrp.scripts;
        assert_eq!(s[0].script.argv, vec!["/bin/echo".to_string()]);
        assert_eq!(
            s[1].script.argv,
            vec!["/bin/echo".to_string(), "x y".to_string(), "z".to_string()]
        );
    }

    proptest! {
        #[test]
        fn to_conf_round_trips(argv in proptest::collection::vec("[^'\"]{0,12}|[^']{0,8}|[^\"]{0,8}", 1..5)) {
            let c = Command { argv };
            prop_assert_eq!(Command::parse(&c.to_conf()), Some(c.clone()));
            // And through the configuration lexer as a dumped word.
            let word = crate::lexer::quote(&c.to_conf());
            let toks = crate::lexer::tokenize(&word);
            prop_assert_eq!(toks.len(), 1);
            if let crate::lexer::Token::Word(w) = &toks[0] {
                prop_assert_eq!(Command::parse(&w.text), Some(c));
            }
        }
    }
}
