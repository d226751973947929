//! Reading typed values out of statements, with keepalived's validation rules.
//!
//! Every model parser goes through [`Ctx`], so that the wording of diagnostics, the severity
//! of each problem and keepalived's leniencies (extra arguments are ignored, a bad value keeps
//! the default) are decided once, here.

use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use crate::diag::Diagnostics;
use crate::tree::Node;
use crate::LoadOptions;

/// The parsing context of one load: where diagnostics go and the load options.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// Diagnostics sink.
    pub diags: &'a mut Diagnostics,
    /// Options of this load.
    pub opts: &'a LoadOptions,
}

/// Parses keepalived's `<BOOL>`: on|off|true|false|yes|no (case-insensitive).
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" => Some(true),
        "off" | "false" | "no" => Some(false),
        _ => None,
    }
}

/// Parses an unsigned decimal integer the way keepalived does: the whole word must be digits
/// (an optional leading `+` is accepted).
pub fn parse_u64(s: &str) -> Option<u64> {
    let t = s.strip_prefix('+').unwrap_or(s);
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

/// Parses a signed decimal integer (whole word).
pub fn parse_i64(s: &str) -> Option<i64> {
    let (neg, t) = match s.strip_prefix('-') {
        Some(t) => (true, t),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = parse_u64(t)? as i128;
    let v = if neg { -v } else { v };
    i64::try_from(v).ok()
}

/// Parses a `<TIMER>`: seconds with an optional fraction, microsecond resolution.
pub fn parse_timer(s: &str) -> Option<Duration> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let secs = if int.is_empty() { 0 } else { parse_u64(int)? };
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut micros: u64 = 0;
    for (i, b) in frac.bytes().take(6).enumerate() {
        micros += u64::from(b - b'0') * 10u64.pow(5 - i as u32);
    }
    Some(Duration::from_secs(secs) + Duration::from_micros(micros))
}

impl<'a> Ctx<'a> {
    /// A context writing to `diags`.
    pub fn new(diags: &'a mut Diagnostics, opts: &'a LoadOptions) -> Self {
        Ctx { diags, opts }
    }

    /// Reports a keyword that is not known in this block (keepalived: warning, block skipped).
    pub fn unknown(&mut self, node: &Node) {
        self.diags.warn(
            &node.origin,
            format!("Unknown keyword '{}'", node.keyword()),
        );
    }

    /// Reports `node` when it is one of `required` (a sorted list from [`super::required`])
    /// written without a value (a `{` is not one): keepalived 2.2.7 stops there with exit
    /// code 2. Returns true when reported; the statement is then skipped.
    pub fn missing_parameter(&mut self, node: &Node, required: &[&str]) -> bool {
        if node.words.len() > 1 {
            return false;
        }
        let kw = node.keyword();
        if required.binary_search(&kw).is_err() {
            return false;
        }
        self.diags.missing_parameter(
            &node.origin,
            format!(
                "*** Configuration line starting `{kw}` is missing a parameter after keyword `{kw}` at word position 2"
            ),
        );
        true
    }

    /// Reports words after a list-block keyword (`virtual_ipaddress x {`): keepalived warns
    /// that the block has extra parameters and reads the block anyway.
    pub fn block_args(&mut self, node: &Node) {
        if let Some(first) = node.arg(0) {
            self.warn(
                node,
                format!("Block {} has extra parameters {first} ...", node.keyword()),
            );
        }
    }

    /// True when `node` has its `{ ... }` block; otherwise reports the missing brace as
    /// keepalived does for a block keyword written alone (warning, block skipped).
    pub fn has_block(&mut self, node: &Node) -> bool {
        if node.has_block() {
            return true;
        }
        self.warn(node, "Missing '{' at beginning of configuration block");
        false
    }

    /// Reports a problem with a statement as a warning (keepalived goes on with a default).
    pub fn warn(&mut self, node: &Node, msg: impl Into<String>) {
        self.diags.warn(&node.origin, msg);
    }

    /// Reports an error in a statement.
    pub fn error(&mut self, node: &Node, msg: impl Into<String>) {
        self.diags.error(&node.origin, msg);
    }

    /// The text of argument `idx`, or a diagnostic naming the keyword when it is missing.
    pub fn arg<'n>(&mut self, node: &'n Node, idx: usize) -> Option<&'n str> {
        let v = node.arg(idx);
        if v.is_none() {
            self.warn(node, format!("{} requires a value", node.keyword()));
        }
        v
    }

    /// The first argument as an owned string.
    pub fn string(&mut self, node: &Node) -> Option<String> {
        self.arg(node, 0).map(str::to_string)
    }

    /// Argument `idx` as an integer in `min..=max`.
    pub fn int_in<T>(&mut self, node: &Node, idx: usize, min: T, max: T) -> Option<T>
    where
        T: TryFrom<i64> + Into<i64> + Copy + std::fmt::Display,
    {
        let s = self.arg(node, idx)?;
        match parse_i64(s) {
            Some(v) if v >= min.into() && v <= max.into() => T::try_from(v).ok(),
            Some(_) => {
                self.warn(
                    node,
                    format!("{} value '{s}' out of range [{min}, {max}]", node.keyword()),
                );
                None
            }
            None => {
                self.warn(node, format!("invalid number '{s}'"));
                None
            }
        }
    }

    /// Argument `idx` as an unsigned integer in `min..=max` (u64 range).
    pub fn u64_in(&mut self, node: &Node, idx: usize, min: u64, max: u64) -> Option<u64> {
        let s = self.arg(node, idx)?;
        match parse_u64(s) {
            Some(v) if (min..=max).contains(&v) => Some(v),
            Some(_) => {
                self.warn(
                    node,
                    format!("{} value '{s}' out of range [{min}, {max}]", node.keyword()),
                );
                None
            }
            None => {
                self.warn(node, format!("invalid number '{s}'"));
                None
            }
        }
    }

    /// An optional `<BOOL>` argument: a bare keyword means true.
    pub fn flag(&mut self, node: &Node) -> Option<bool> {
        match node.arg(0) {
            None => Some(true),
            Some(s) => match parse_bool(s) {
                Some(b) => Some(b),
                None => {
                    self.warn(
                        node,
                        format!("invalid boolean '{s}' for {}", node.keyword()),
                    );
                    None
                }
            },
        }
    }

    /// Argument `idx` as a `<TIMER>` within `min..=max`.
    pub fn timer_in(
        &mut self,
        node: &Node,
        idx: usize,
        min: Duration,
        max: Duration,
    ) -> Option<Duration> {
        let s = self.arg(node, idx)?;
        match parse_timer(s) {
            Some(d) if d >= min && d <= max => Some(d),
            Some(_) => {
                self.warn(node, format!("{} value '{s}' out of range", node.keyword()));
                None
            }
            None => {
                self.warn(node, format!("invalid timer value '{s}'"));
                None
            }
        }
    }

    /// Argument `idx` as an IP address (v4 or v6).
    pub fn ip(&mut self, node: &Node, idx: usize) -> Option<IpAddr> {
        let s = self.arg(node, idx)?;
        match IpAddr::from_str(s) {
            Ok(a) => Some(a),
            Err(_) => {
                self.warn(node, format!("invalid IP address '{s}'"));
                None
            }
        }
    }

    /// Argument `idx` as one of `choices` (case-sensitive, as keepalived).
    pub fn choice<T: Copy>(&mut self, node: &Node, idx: usize, choices: &[(&str, T)]) -> Option<T> {
        let s = self.arg(node, idx)?;
        match choices.iter().find(|(n, _)| *n == s) {
            Some((_, v)) => Some(*v),
            None => {
                let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
                self.warn(
                    node,
                    format!(
                        "invalid {} '{s}' (expected one of {})",
                        node.keyword(),
                        names.join(", ")
                    ),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_whole_words() {
        assert_eq!(parse_u64("100"), Some(100));
        assert_eq!(parse_u64("100\\"), None);
        assert_eq!(parse_u64("-1"), None);
        assert_eq!(parse_i64("-20"), Some(-20));
        assert_eq!(parse_i64(""), None);
    }

    #[test]
    fn timers_have_microsecond_resolution() {
        assert_eq!(parse_timer("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_timer("0.1"), Some(Duration::from_millis(100)));
        assert_eq!(
            parse_timer("2.71828"),
            Some(Duration::from_micros(2_718_280))
        );
        assert_eq!(parse_timer(".5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_timer("x"), None);
        assert_eq!(parse_timer("."), None);
    }

    #[test]
    fn bools() {
        assert_eq!(parse_bool("Yes"), Some(true));
        assert_eq!(parse_bool("off"), Some(false));
        assert_eq!(parse_bool("2"), None);
    }
}
