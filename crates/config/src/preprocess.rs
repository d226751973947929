//! The preprocessor: configuration files -> logical lines with their origins.
//!
//! Handles what keepalived handles before keywords are parsed: comments (`#`, `!`),
//! `include` (globs, relative to the including file), and reading errors.
//!
//! The remaining keepalived preprocessor features (`@ID` conditionals, `$NAME=` parameters,
//! built-ins, `~SEQ`/`~LST`, include variants) are added on top of this skeleton.

use std::path::{Path, PathBuf};

use crate::diag::{Diagnostics, Origin};
use crate::LoadOptions;

/// Deepest `include` nesting accepted; deeper includes are reported (this also stops loops).
pub const MAX_INCLUDE_DEPTH: usize = 32;

/// A logical configuration line after preprocessing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// Where the line came from.
    pub origin: Origin,
    /// The text with comments removed; not yet split into words.
    pub text: String,
}

/// Turns configuration files into [`Line`]s.
#[derive(Debug)]
pub struct Preprocessor<'a> {
    #[allow(dead_code)]
    opts: &'a LoadOptions,
    out: Vec<Line>,
    stack: Vec<PathBuf>,
}

impl<'a> Preprocessor<'a> {
    /// A preprocessor for one load.
    pub fn new(opts: &'a LoadOptions) -> Self {
        Preprocessor {
            opts,
            out: Vec::new(),
            stack: Vec::new(),
        }
    }

    /// Reads the file at `path` and everything it includes.
    pub fn run(mut self, path: &Path, diags: &mut Diagnostics) -> Vec<Line> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let name = path.display().to_string();
                let text = String::from_utf8_lossy(&bytes).into_owned();
                self.stack.push(path.to_path_buf());
                self.process(&name, &text, path.parent(), diags);
            }
            Err(e) => diags.fatal(
                None,
                format!(
                    "Configuration file '{}' cannot be read: {e}",
                    path.display()
                ),
            ),
        }
        self.out
    }

    /// Preprocesses text that did not come from a file.
    pub fn run_str(mut self, name: &str, text: &str, diags: &mut Diagnostics) -> Vec<Line> {
        self.process(name, text, None, diags);
        self.out
    }

    fn process(&mut self, name: &str, text: &str, dir: Option<&Path>, diags: &mut Diagnostics) {
        let file: std::sync::Arc<str> = name.into();
        for (idx, raw) in text.lines().enumerate() {
            let origin = Origin {
                file: file.clone(),
                line: idx as u32 + 1,
            };
            let line = strip_comment(raw);
            let trimmed = line.trim();
            if trimmed.is_empty() {
                continue;
            }
            let mut parts = trimmed.split_whitespace();
            if parts.next() == Some("include") {
                let pattern: Vec<&str> = parts.collect();
                self.include(&pattern.join(" "), dir, &origin, diags);
                continue;
            }
            self.out.push(Line {
                origin,
                text: line.to_string(),
            });
        }
    }

    fn include(
        &mut self,
        pattern: &str,
        dir: Option<&Path>,
        origin: &Origin,
        diags: &mut Diagnostics,
    ) {
        if pattern.is_empty() {
            diags.warn(origin, "include without a file name");
            return;
        }
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            diags.error(
                origin,
                format!(
                    "include of '{pattern}' nested more than {MAX_INCLUDE_DEPTH} deep - ignored"
                ),
            );
            return;
        }
        let full = match dir {
            Some(d) if !pattern.starts_with('/') => d.join(pattern).display().to_string(),
            _ => pattern.to_string(),
        };
        let mut paths: Vec<PathBuf> = match glob::glob(&full) {
            Ok(p) => p.filter_map(Result::ok).collect(),
            Err(e) => {
                diags.warn(
                    origin,
                    format!("include pattern '{pattern}' is invalid: {e}"),
                );
                return;
            }
        };
        paths.sort();
        for p in paths {
            let Ok(bytes) = std::fs::read(&p) else {
                diags.warn(
                    origin,
                    format!("cannot read included file '{}'", p.display()),
                );
                continue;
            };
            let text = String::from_utf8_lossy(&bytes).into_owned();
            self.stack.push(p.clone());
            let name = p.display().to_string();
            self.process(&name, &text, p.parent(), diags);
            self.stack.pop();
        }
    }
}

/// Removes a `#` or `!` comment: from the first such character outside double quotes.
pub fn strip_comment(line: &str) -> &str {
    let mut in_quote = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_quote = !in_quote,
            '#' | '!' if !in_quote => return &line[..i],
            _ => {}
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_outside_double_quotes() {
        assert_eq!(strip_comment("auth_pass abc!"), "auth_pass abc");
        assert_eq!(strip_comment("a # b"), "a ");
        assert_eq!(strip_comment(r#"script "x # y" # z"#), r#"script "x # y" "#);
    }

    #[test]
    fn lines_keep_their_origin() {
        let opts = LoadOptions::default();
        let mut d = Diagnostics::default();
        let lines = Preprocessor::new(&opts).run_str("k.conf", "# c\n\na 1\n  b 2 ! x\n", &mut d);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].origin.line, 3);
        assert_eq!(lines[1].origin.line, 4);
        assert_eq!(lines[1].text.trim(), "b 2");
    }
}
