//! `$NAME=value` parameters and their substitution (man 5 keepalived.conf, "Parameter
//! substitution"), with the built-in parameters.
//!
//! Observed keepalived 2.2.7 rules: `$NAME` is replaced only when followed by whitespace or
//! the end of the line (`$Px` and `$P.` stay as written); `${NAME}` is replaced anywhere; an
//! undefined parameter stays as written; values are substituted at use, not at definition.

use std::collections::HashMap;

use crate::lexer::is_space;

/// The values the built-in parameters take.
#[derive(Debug, Clone, Copy)]
pub struct Builtins<'a> {
    /// `${_PWD}`: directory of the file being read.
    pub pwd: &'a str,
    /// `${_INSTANCE}`.
    pub instance: &'a str,
}

/// The parameters defined so far.
#[derive(Debug)]
pub struct Params {
    values: HashMap<String, String>,
    rng: u64,
}

/// True when `name` is a valid parameter name: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn name_len(s: &str) -> usize {
    let b = s.as_bytes();
    if b.is_empty() || !(b[0].is_ascii_alphabetic() || b[0] == b'_') {
        return 0;
    }
    b.iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
        .count()
}

/// Splits a definition line `$NAME=value` into name and value; `None` when the line is not a
/// definition (no `=` right after a valid name, as in `$T =3`).
pub fn parse_definition(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('$')?;
    let n = name_len(rest);
    if n == 0 {
        return None;
    }
    let value = rest[n..].strip_prefix('=')?;
    Some((&rest[..n], value.trim_matches(is_space)))
}

impl Params {
    /// An empty table whose `${_RANDOM}` generator starts from `seed`.
    pub fn new(seed: u64) -> Self {
        Params {
            values: HashMap::new(),
            rng: seed | 1,
        }
    }

    /// Reseeds `${_RANDOM}` (global_defs `random_seed`).
    pub fn seed(&mut self, seed: u64) {
        self.rng = seed | 1;
    }

    /// Defines (or redefines) a parameter. Multi-line values hold `\n` between lines.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.values.insert(name.to_string(), value.into());
    }

    /// The value of a user-defined parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    fn random(&mut self, min: u64, max: u64) -> u64 {
        // xorshift64*: good enough for spreading timers, which is all ${_RANDOM} is for.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
        let span = max.saturating_sub(min).saturating_add(1);
        if span == 0 {
            r
        } else {
            min + r % span
        }
    }

    /// The value of the reference `inner` (the text of `${inner}` or the name of `$inner`).
    fn lookup(&mut self, inner: &str, b: &Builtins<'_>) -> Option<String> {
        let mut words = inner.split(is_space).filter(|w| !w.is_empty());
        let first = words.next()?;
        match first {
            "_PWD" => Some(b.pwd.to_string()),
            "_INSTANCE" => Some(b.instance.to_string()),
            "_HASH" => Some("#".into()),
            "_BANG" => Some("!".into()),
            "_RANDOM" => {
                let min = match words.next() {
                    Some(w) => w.parse::<u64>().ok()?,
                    None => 0,
                };
                let max = match words.next() {
                    Some(w) => w.parse::<u64>().ok()?,
                    None => 32767,
                };
                if words.next().is_some() || max < min {
                    return None;
                }
                Some(self.random(min, max).to_string())
            }
            "_ENV" => {
                let name = words.next()?;
                if words.next().is_some() {
                    return None;
                }
                Some(std::env::var(name).unwrap_or_default())
            }
            name if inner == name => self.values.get(name).cloned(),
            _ => None,
        }
    }

    /// Replaces every parameter reference of `line` once (values are not rescanned: the
    /// caller processes the result again, which gives recursive substitution with a bound).
    /// Returns `None` when nothing was replaced.
    pub fn substitute_once(&mut self, line: &str, b: &Builtins<'_>) -> Option<String> {
        let mut pos = memchr_dollar(line, 0)?;
        let mut out: Option<String> = None;
        let mut copied = 0;
        loop {
            let i = pos;
            let after = &line[i + 1..];
            let mut replaced = None;
            if let Some(body) = after.strip_prefix('{') {
                if let Some(close) = body.find('}') {
                    if let Some(v) = self.lookup(&body[..close], b) {
                        replaced = Some((v, i + 2 + close + 1));
                    }
                }
            } else {
                let n = name_len(after);
                let end = i + 1 + n;
                let at_boundary = line[end..].chars().next().is_none_or(is_space);
                if n > 0 && at_boundary {
                    if let Some(v) = self.lookup(&after[..n], b) {
                        replaced = Some((v, end));
                    }
                }
            }
            let next_from = match replaced {
                Some((v, end)) => {
                    let o = out.get_or_insert_with(|| String::with_capacity(line.len() + v.len()));
                    o.push_str(&line[copied..i]);
                    o.push_str(&v);
                    copied = end;
                    end
                }
                None => i + 1,
            };
            match memchr_dollar(line, next_from) {
                Some(p) => pos = p,
                None => break,
            }
        }
        let mut o = out?;
        o.push_str(&line[copied..]);
        Some(o)
    }
}

fn memchr_dollar(s: &str, from: usize) -> Option<usize> {
    s.get(from..)?.find('$').map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b() -> Builtins<'static> {
        Builtins {
            pwd: "/etc/keepalived",
            instance: "node1",
        }
    }

    #[test]
    fn definitions() {
        assert_eq!(parse_definition("$P=pv"), Some(("P", "pv")));
        assert_eq!(parse_definition("$U=3 4  "), Some(("U", "3 4")));
        assert_eq!(parse_definition("$E="), Some(("E", "")));
        assert_eq!(parse_definition("$T =3"), None);
        assert_eq!(parse_definition("$1x=3"), None);
        assert_eq!(parse_definition("$=3"), None);
    }

    // Observed with keepalived 2.2.7 (values echoed through vrrp_instance names).
    #[test]
    fn references_need_a_boundary_or_braces() {
        let mut p = Params::new(1);
        p.set("P", "pv");
        p.set("E", "");
        let s = |p: &mut Params, l: &str| p.substitute_once(l, &b());
        assert_eq!(s(&mut p, "a $P").as_deref(), Some("a pv"));
        assert_eq!(s(&mut p, "${P}x $P\t").as_deref(), Some("pvx pv\t"));
        assert_eq!(s(&mut p, "$Px $P. $"), None);
        assert_eq!(s(&mut p, "c${E}x").as_deref(), Some("cx"));
        assert_eq!(s(&mut p, "${UNDEF} $UNDEF ${P"), None);
    }

    #[test]
    fn builtins() {
        let mut p = Params::new(7);
        let mut s = |l: &str| p.substitute_once(l, &b()).unwrap_or_default();
        assert_eq!(s("w${_PWD}"), "w/etc/keepalived");
        assert_eq!(s("$_INSTANCE"), "node1");
        assert_eq!(s("a${_HASH}b${_BANG}"), "a#b!");
        let r: u32 = s("${_RANDOM}").parse().expect("number");
        assert!(r <= 32767);
        assert_eq!(s("${_RANDOM 5 5}"), "5");
        let r: u32 = s("${_RANDOM 7}").parse().expect("number");
        assert!((7..=32767).contains(&r));
        assert_eq!(s("${_RANDOM 9 3}"), "", "MIN > MAX is not a reference");
        std::env::set_var("RKA_TEST_ENV_X", "hello");
        assert_eq!(s("${_ENV RKA_TEST_ENV_X}"), "hello");
        assert_eq!(s("<${_ENV RKA_TEST_ENV_NOT_SET}>"), "<>");
    }
}
