//! `include` and its variants: csh brace expansion, globbing and the `include_check` levels.

/// `include_check` level: error if a match is not a readable file.
pub const READABLE: u8 = 1;
/// `include_check` level: error if a name without wildcards matches nothing.
pub const MATCH: u8 = 2;
/// `include_check` level: error if a wildcard pattern matches nothing.
pub const WILDCARD_MATCH: u8 = 4;
/// `include_check` level: error if an alternative of a brace expression matches nothing.
pub const BRACE_MATCH: u8 = 8;
/// Every check.
pub const ALL: u8 = READABLE | MATCH | WILDCARD_MATCH | BRACE_MATCH;

/// Most alternatives one brace expression may expand to.
pub const MAX_ALTERNATIVES: usize = 4096;

/// The extra checks an include keyword asks for, or `None` when `word` is not one.
pub fn include_keyword(word: &str) -> Option<u8> {
    Some(match word {
        "include" => 0,
        "includer" => READABLE,
        "includem" => READABLE | MATCH,
        "includew" => READABLE | WILDCARD_MATCH,
        "includeb" => READABLE | BRACE_MATCH,
        "includea" => ALL,
        _ => return None,
    })
}

/// Applies the options of `include_check [OPTIONS]` to `level`; unknown names are returned
/// for a warning. keepalived 2.2.7 rejects `readable` here (observed), and so do we.
pub fn apply_include_check<'a>(level: u8, options: &[&'a str]) -> (u8, Vec<&'a str>) {
    if options.is_empty() {
        return (ALL, Vec::new());
    }
    let mut unknown = Vec::new();
    let mut level = if options.iter().any(|o| !o.starts_with(['+', '-'])) {
        0
    } else {
        level
    };
    for o in options {
        let (add, name) = match o.strip_prefix('-') {
            Some(n) => (false, n),
            None => (true, o.strip_prefix('+').unwrap_or(o)),
        };
        let bit = match name {
            "match" => READABLE | MATCH,
            "wildcard_match" => READABLE | WILDCARD_MATCH,
            "brace_match" => READABLE | BRACE_MATCH,
            _ => {
                unknown.push(name);
                continue;
            }
        };
        if add {
            level |= bit;
        } else {
            level &= !(bit & !READABLE);
        }
    }
    (level, unknown)
}

/// True when a glob pattern holds a wildcard.
pub fn has_wildcard(p: &str) -> bool {
    p.contains(['*', '?', '['])
}

/// Expands csh braces: `{a,b}c` -> `ac`, `bc`; nested braces and several groups work;
/// unbalanced braces are left as they are. `None` when the expansion is too large.
pub fn expand_braces(p: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    expand_into(p, &mut out)?;
    Some(out)
}

fn expand_into(p: &str, out: &mut Vec<String>) -> Option<()> {
    let b = p.as_bytes();
    let Some(open) = p.find('{') else {
        out.push(p.to_string());
        return (out.len() <= MAX_ALTERNATIVES).then_some(());
    };
    // Find the matching close brace and the top-level commas between.
    let mut depth = 0usize;
    let mut commas = Vec::new();
    let mut close = None;
    for (i, &c) in b.iter().enumerate().skip(open) {
        match c {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(i);
                    break;
                }
            }
            b',' if depth == 1 => commas.push(i),
            _ => {}
        }
    }
    let Some(close) = close else {
        out.push(p.to_string());
        return (out.len() <= MAX_ALTERNATIVES).then_some(());
    };
    let (pre, post) = (&p[..open], &p[close + 1..]);
    let mut start = open + 1;
    for end in commas.into_iter().chain(std::iter::once(close)) {
        let alt = format!("{pre}{}{post}", &p[start..end]);
        expand_into(&alt, out)?;
        start = end + 1;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braces() {
        assert_eq!(
            expand_braces("{d1,d2}/{a,b}.conf").expect("small"),
            ["d1/a.conf", "d1/b.conf", "d2/a.conf", "d2/b.conf"]
        );
        assert_eq!(
            expand_braces("{foo/{,cat,dog},bar}").expect("small"),
            ["foo/", "foo/cat", "foo/dog", "bar"]
        );
        assert_eq!(expand_braces("a{b").expect("small"), ["a{b"]);
        assert_eq!(expand_braces("plain").expect("small"), ["plain"]);
        assert!(expand_braces(&"{a,b,c,d}".repeat(8)).is_none());
    }

    #[test]
    fn include_check_options() {
        assert_eq!(apply_include_check(0, &[]).0, ALL);
        assert_eq!(apply_include_check(0, &["match"]).0, READABLE | MATCH);
        let (l, unknown) = apply_include_check(0, &["readable", "bogus"]);
        assert_eq!((l, unknown), (0, vec!["readable", "bogus"]));
        assert_eq!(
            apply_include_check(READABLE | WILDCARD_MATCH, &["+match", "-wildcard_match"]).0,
            READABLE | MATCH
        );
    }
}
