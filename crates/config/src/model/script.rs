//! Script commands (`notify_master`, `script`, `misc_path`, ...) and the user they run as.
//!
//! keepalived splits a script command into argv itself (no shell): unquoted whitespace
//! separates arguments, single quotes keep spaces inside one argument.

use crate::dump::Dumper;
use crate::tree::Node;

use super::Ctx;

/// A command keepalived runs, already split into its program and arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Program followed by its arguments.
    pub argv: Vec<String>,
}

impl Command {
    /// The program path.
    pub fn program(&self) -> &str {
        self.argv.first().map(String::as_str).unwrap_or("")
    }

    /// The command as one canonical string that [`Command::parse`] reads back identically.
    pub fn to_conf(&self) -> String {
        self.argv
            .iter()
            .map(|a| {
                if !a.is_empty() && !a.contains([' ', '\t', '\'', '"', '\\']) {
                    a.clone()
                } else {
                    format!("'{}'", a.replace('\\', "\\\\").replace('\'', "\\'"))
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Splits a command line: whitespace separates arguments, `'...'` groups, `\x` escapes.
    pub fn parse(s: &str) -> Option<Command> {
        let mut argv = Vec::new();
        let mut cur = String::new();
        let mut in_word = false;
        let mut quote = false;
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                    in_word = true;
                }
                '\'' => {
                    quote = !quote;
                    in_word = true;
                }
                c if c.is_whitespace() && !quote => {
                    if in_word {
                        argv.push(std::mem::take(&mut cur));
                        in_word = false;
                    }
                }
                c => {
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

/// Reads a script command from all the arguments of `node`.
pub fn command(ctx: &mut Ctx<'_>, node: &Node) -> Option<Command> {
    if node.args().is_empty() {
        ctx.warn(node, format!("{} requires a script", node.keyword()));
        return None;
    }
    let joined: Vec<&str> = node.args().iter().map(|w| w.text.as_str()).collect();
    let cmd = Command::parse(&joined.join(" "));
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

    #[test]
    fn split_and_round_trip() {
        let c = Command::parse("/usr/bin/x a 'b c' d\\ e").expect("command");
        assert_eq!(c.argv, vec!["/usr/bin/x", "a", "b c", "d e"]);
        assert_eq!(Command::parse(&c.to_conf()), Some(c));
        assert_eq!(Command::parse("   "), None);
    }
}
