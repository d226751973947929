//! Writing the model back as canonical keepalived.conf text (`rkeepalived -d`).
//!
//! The canonical form: one statement per line, blocks opened on the keyword's line, four
//! spaces of indentation per level, every value after defaults were applied, words quoted only
//! when they must be. Parsing a dump and dumping again gives the same text.

use std::fmt::Display;
use std::time::Duration;

use crate::lexer::quote;

/// Accumulates canonical configuration text.
#[derive(Debug, Default)]
pub struct Dumper {
    out: String,
    depth: usize,
}

impl Dumper {
    /// An empty dump.
    pub fn new() -> Self {
        Self::default()
    }

    /// The text written so far.
    pub fn finish(self) -> String {
        self.out
    }

    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("    ");
        }
    }

    /// Writes one statement from raw words, quoting each as needed.
    pub fn words<S: AsRef<str>>(&mut self, words: &[S]) {
        self.indent();
        let mut first = true;
        for w in words {
            if !first {
                self.out.push(' ');
            }
            first = false;
            self.out.push_str(&quote(w.as_ref()));
        }
        self.out.push('\n');
    }

    /// Writes a statement whose words are already correctly quoted (e.g. a script command
    /// kept as written).
    pub fn raw_line(&mut self, line: &str) {
        self.indent();
        self.out.push_str(line);
        self.out.push('\n');
    }

    /// `key value`.
    pub fn kv(&mut self, key: &str, value: impl Display) {
        self.words(&[key.to_string(), value.to_string()]);
    }

    /// `key value` when the value is set.
    pub fn opt<T: Display>(&mut self, key: &str, value: &Option<T>) {
        if let Some(v) = value {
            self.kv(key, v);
        }
    }

    /// `key` alone when `on`.
    pub fn flag(&mut self, key: &str, on: bool) {
        if on {
            self.words(&[key]);
        }
    }

    /// `key SECONDS` with a timer written in keepalived's `<TIMER>` form.
    pub fn timer(&mut self, key: &str, value: Duration) {
        self.kv(key, fmt_timer(value));
    }

    /// Opens a block `words... {`.
    pub fn open<S: AsRef<str>>(&mut self, words: &[S]) {
        self.indent();
        for w in words {
            self.out.push_str(&quote(w.as_ref()));
            self.out.push(' ');
        }
        self.out.push_str("{\n");
        self.depth += 1;
    }

    /// Closes the innermost block.
    pub fn close(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        self.indent();
        self.out.push_str("}\n");
    }

    /// Writes a block whose body is written by `body`.
    pub fn block<S: AsRef<str>>(&mut self, words: &[S], body: impl FnOnce(&mut Dumper)) {
        self.open(words);
        body(self);
        self.close();
    }
}

/// Formats a duration as keepalived's `<TIMER>`: seconds with up to six decimals, no trailing
/// zeros (`1`, `0.1`, `2.718281`).
pub fn fmt_timer(d: Duration) -> String {
    let us = d.as_micros();
    let secs = us / 1_000_000;
    let frac = us % 1_000_000;
    if frac == 0 {
        return secs.to_string();
    }
    let f = format!("{frac:06}");
    format!("{secs}.{}", f.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_are_minimal() {
        assert_eq!(fmt_timer(Duration::from_secs(3)), "3");
        assert_eq!(fmt_timer(Duration::from_millis(100)), "0.1");
        assert_eq!(fmt_timer(Duration::from_micros(2_718_281)), "2.718281");
    }

    #[test]
    fn blocks_indent() {
        let mut d = Dumper::new();
        d.block(&["vrrp_script", "chk"], |d| {
            d.kv("script", "/bin/true x");
            d.flag("init_fail", true);
        });
        assert_eq!(
            d.finish(),
            "vrrp_script chk {\n    script \"/bin/true x\"\n    init_fail\n}\n"
        );
    }
}
