//! `~SEQ(var,start,step,end)`, `~SEQx(...)` and `~LST(var,v1,v2,...)`: repeat the rest of a
//! line once per value (man 5 keepalived.conf, "Sequence blocks" and "List blocks").
//!
//! Forms accepted by keepalived 2.2.7 (observed): `~SEQ(v,end)`, `~SEQ(v,start,end)`,
//! `~SEQ(v,start,step,end)`; spaces around items and between `~SEQ` and `(` are allowed;
//! `0x` numbers are accepted; a zero step is "Invalid ~SEQ values"; a `~LST` value holding a
//! space, or no value at all, is "Invalid ~LST specification". `~LST({A,B},{1,2},{3,4})` sets
//! several variables at once.

use super::params::valid_name;
use crate::lexer::is_space;

/// Most values one `~SEQ`/`~LST` may produce.
#[cfg(not(fuzzing))]
pub const MAX_VALUES: u64 = 1_000_000;
/// Most values one `~SEQ`/`~LST` may produce (fuzzing build: small, so inputs stay fast).
#[cfg(fuzzing)]
pub const MAX_VALUES: u64 = 1_000;

/// One expansion: the bindings of each pass, and the text to repeat.
#[derive(Debug, PartialEq, Eq)]
pub struct Expansion<'a> {
    /// The variable names.
    pub vars: Vec<String>,
    /// One value per variable, for each pass.
    pub passes: Vec<Vec<String>>,
    /// The rest of the line.
    pub rest: &'a str,
}

/// What is wrong with a sequence or list; the message names the line as keepalived does.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SeqError {
    /// Wrong number or form of items.
    #[error("Invalid ~SEQ definition '{0}'")]
    SeqDefinition(String),
    /// Zero step, or a step going away from the end.
    #[error("Invalid ~SEQ values '{0}'")]
    SeqValues(String),
    /// A malformed `~LST`.
    #[error("Invalid ~LST specification '{0}'")]
    List(String),
    /// More than [`MAX_VALUES`] values.
    #[error("~SEQ/~LST produces more than {MAX_VALUES} values - ignored '{0}'")]
    TooMany(String),
}

/// True when `line` (trimmed) starts a sequence or list block.
pub fn starts_block(line: &str) -> bool {
    line.starts_with("~SEQ") || line.starts_with("~LST")
}

/// Parses a `~SEQ`/`~SEQx`/`~LST` line.
pub fn parse(line: &str) -> Result<Expansion<'_>, SeqError> {
    let (hex, list, after) = if let Some(r) = line.strip_prefix("~SEQx") {
        (true, false, r)
    } else if let Some(r) = line.strip_prefix("~SEQ") {
        (false, false, r)
    } else if let Some(r) = line.strip_prefix("~LST") {
        (false, true, r)
    } else {
        return Err(SeqError::SeqDefinition(line.to_string()));
    };
    let bad = || {
        if list {
            SeqError::List(line.to_string())
        } else {
            SeqError::SeqDefinition(line.to_string())
        }
    };
    let body = after
        .trim_start_matches(is_space)
        .strip_prefix('(')
        .ok_or_else(bad)?;
    let close = body.find(')').ok_or_else(bad)?;
    let (spec, rest) = (
        &body[..close],
        body[close + 1..].trim_start_matches(is_space),
    );
    if list {
        parse_list(spec, rest).ok_or_else(bad)
    } else {
        parse_seq(spec, rest, hex, line)
    }
}

fn parse_num(s: &str) -> Option<i64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(h) => i64::from_str_radix(h, 16).ok()?,
        None => digits.parse::<i64>().ok()?,
    };
    Some(if neg { -v } else { v })
}

fn parse_seq<'a>(
    spec: &str,
    rest: &'a str,
    hex: bool,
    line: &str,
) -> Result<Expansion<'a>, SeqError> {
    let items: Vec<&str> = spec.split(',').map(|s| s.trim_matches(is_space)).collect();
    let def = || SeqError::SeqDefinition(line.to_string());
    let (var, nums) = items.split_first().ok_or_else(def)?;
    if !valid_name(var) || nums.is_empty() || nums.len() > 3 {
        return Err(def());
    }
    let nums: Vec<i64> = nums
        .iter()
        .map(|s| parse_num(s))
        .collect::<Option<_>>()
        .ok_or_else(def)?;
    let (start, step, end) = match nums[..] {
        [end] => {
            let start = if end > 0 { 1 } else { -1 };
            (start, if end >= start { 1 } else { -1 }, end)
        }
        [start, end] => (start, if end >= start { 1 } else { -1 }, end),
        [start, step, end] => (start, step, end),
        _ => return Err(def()),
    };
    if step == 0 || (step > 0 && start > end) || (step < 0 && start < end) {
        return Err(SeqError::SeqValues(line.to_string()));
    }
    let count = (i128::from(end) - i128::from(start)) / i128::from(step) + 1;
    if count > i128::from(MAX_VALUES) {
        return Err(SeqError::TooMany(line.to_string()));
    }
    let mut passes = Vec::with_capacity(count as usize);
    let mut v = i128::from(start);
    for _ in 0..count {
        let s = match (hex, v < 0) {
            (true, false) => format!("{v:x}"),
            (true, true) => format!("-{:x}", -v),
            (false, _) => v.to_string(),
        };
        passes.push(vec![s]);
        v += i128::from(step);
    }
    Ok(Expansion {
        vars: vec![(*var).to_string()],
        passes,
        rest,
    })
}

/// Splits `{a,b},{c,d}` or `a,b` into groups of items.
fn groups(spec: &str) -> Option<Vec<Vec<String>>> {
    let mut out = Vec::new();
    let mut s = spec.trim_matches(is_space);
    while !s.is_empty() {
        let (group, rest) = if let Some(inner) = s.strip_prefix('{') {
            let close = inner.find('}')?;
            let items = inner[..close]
                .split(',')
                .map(|i| i.trim_matches(is_space).to_string());
            let rest = inner[close + 1..].trim_start_matches(is_space);
            (items.collect::<Vec<_>>(), rest)
        } else {
            let (item, rest) = s.split_once(',').map_or((s, ""), |(a, b)| (a, b));
            return {
                let mut v = out;
                v.push(vec![item.trim_matches(is_space).to_string()]);
                if rest.is_empty() {
                    Some(v)
                } else {
                    groups(rest).map(|more| {
                        v.extend(more);
                        v
                    })
                }
            };
        };
        out.push(group);
        s = match rest.strip_prefix(',') {
            Some(r) => r.trim_start_matches(is_space),
            None if rest.is_empty() => rest,
            None => return None,
        };
        if out.len() as u64 > MAX_VALUES {
            return None;
        }
    }
    Some(out)
}

fn parse_list<'a>(spec: &str, rest: &'a str) -> Option<Expansion<'a>> {
    let mut all = groups(spec)?.into_iter();
    let vars = all.next()?;
    if vars.is_empty() || !vars.iter().all(|v| valid_name(v)) {
        return None;
    }
    let passes: Vec<Vec<String>> = all.collect();
    if passes.is_empty()
        || passes.iter().any(|p| {
            p.len() != vars.len() || p.iter().any(|v| v.is_empty() || v.contains(is_space))
        })
    {
        return None;
    }
    Some(Expansion { vars, passes, rest })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(line: &str) -> Vec<String> {
        parse(line)
            .expect("valid")
            .passes
            .into_iter()
            .map(|p| p.join(","))
            .collect()
    }

    // Expected values observed with keepalived 2.2.7.
    #[test]
    fn sequences() {
        assert_eq!(values("~SEQ(A,1,3) x"), ["1", "2", "3"]);
        assert_eq!(values("~SEQ(B,2) x"), ["1", "2"]);
        assert_eq!(values("~SEQ(C,5,-2,1) x"), ["5", "3", "1"]);
        assert_eq!(values("~SEQx(D,0x9,3,0x10) x"), ["9", "c", "f"]);
        assert_eq!(values("~SEQ(K,-2) x"), ["-1", "-2"]);
        assert_eq!(values("~SEQ(T,3,1) x"), ["3", "2", "1"]);
        assert_eq!(values("~SEQx(U,0x1f,0x20) x"), ["1f", "20"]);
        assert_eq!(values("~SEQx(S, 144, 16, 192) x"), ["90", "a0", "b0", "c0"]);
        assert_eq!(values("~SEQ (Q,1,2) x"), ["1", "2"]);
        let e = parse("~SEQ(R,1,2)vrrp_instance s16").expect("valid");
        assert_eq!(e.rest, "vrrp_instance s16");
        assert_eq!(e.vars, ["R"]);
    }

    #[test]
    fn invalid_sequences() {
        let l = "~SEQ(L) x";
        assert_eq!(parse(l), Err(SeqError::SeqDefinition(l.into())));
        assert!(matches!(
            parse("~SEQ(M,1,2,3,4) x"),
            Err(SeqError::SeqDefinition(_))
        ));
        assert!(matches!(
            parse("~SEQ(P,a,3) x"),
            Err(SeqError::SeqDefinition(_))
        ));
        assert!(matches!(
            parse("~SEQ(O,1,0,3) x"),
            Err(SeqError::SeqValues(_))
        ));
        assert!(matches!(
            parse("~SEQ(O,1,-1,3) x"),
            Err(SeqError::SeqValues(_))
        ));
        assert!(matches!(
            parse("~SEQ(O,1,2147483647)"),
            Err(SeqError::TooMany(_))
        ));
        assert!(matches!(
            parse("~SEQ(O,1,3"),
            Err(SeqError::SeqDefinition(_))
        ));
    }

    #[test]
    fn lists() {
        assert_eq!(values("~LST(G,a,b) x"), ["a", "b"]);
        assert_eq!(values("~LST({H,I},{1,2},{3,4}) x"), ["1,2", "3,4"]);
        assert_eq!(values("~LST( G , a , b ) x"), ["a", "b"]);
        assert_eq!(
            values("~LST({IP, IP1}, {10,1},{20,4},{5,6},{12,8}) 192.168.${IP}.${IP1}"),
            ["10,1", "20,4", "5,6", "12,8"]
        );
        assert!(matches!(parse("~LST(J, x y ,z) x"), Err(SeqError::List(_))));
        assert!(matches!(parse("~LST(S) x"), Err(SeqError::List(_))));
        assert!(matches!(parse("~LST({A,B},{1}) x"), Err(SeqError::List(_))));
    }
}
