//! PCRE2, the regular-expression library keepalived's HTTP_GET/SSL_GET `regex` uses.
//!
//! keepalived compiles a url's `regex` with PCRE2 and the option names of `regex_options`, and
//! matches with `PCRE2_NOTEOL` (observed: `lo$` does not match a body ending in `lo`). Using
//! the same library gives the same syntax (look-around, back-references, possessive
//! quantifiers, `\K`, verbs) and the same meaning of every option. This is a small safe wrapper
//! over the C library that `pcre2-sys` builds: compile, find one match, error messages.
//! Matching runs PCRE2's interpreter (no JIT, so no executable memory in the daemon), with
//! PCRE2's default match and heap limits bounding a pathological pattern.

use std::ffi::c_int;
use std::fmt;
use std::ptr::NonNull;

use pcre2_sys as sys;

/// The `regex_options` names keepalived accepts, with their PCRE2 compile flags.
const OPTIONS: [(&str, u32); 24] = [
    ("allow_empty_class", sys::PCRE2_ALLOW_EMPTY_CLASS),
    ("alt_bsux", sys::PCRE2_ALT_BSUX),
    ("auto_callout", sys::PCRE2_AUTO_CALLOUT),
    ("caseless", sys::PCRE2_CASELESS),
    ("dollar_endonly", sys::PCRE2_DOLLAR_ENDONLY),
    ("dotall", sys::PCRE2_DOTALL),
    ("dupnames", sys::PCRE2_DUPNAMES),
    ("extended", sys::PCRE2_EXTENDED),
    ("firstline", sys::PCRE2_FIRSTLINE),
    ("match_unset_backref", sys::PCRE2_MATCH_UNSET_BACKREF),
    ("multiline", sys::PCRE2_MULTILINE),
    ("never_ucp", sys::PCRE2_NEVER_UCP),
    ("never_utf", sys::PCRE2_NEVER_UTF),
    ("no_auto_capture", sys::PCRE2_NO_AUTO_CAPTURE),
    ("no_auto_possess", sys::PCRE2_NO_AUTO_POSSESS),
    ("no_dotstar_anchor", sys::PCRE2_NO_DOTSTAR_ANCHOR),
    ("no_start_optimize", sys::PCRE2_NO_START_OPTIMIZE),
    ("ucp", sys::PCRE2_UCP),
    ("ungreedy", sys::PCRE2_UNGREEDY),
    ("utf", sys::PCRE2_UTF),
    ("never_backslash_c", sys::PCRE2_NEVER_BACKSLASH_C),
    ("alt_circumflex", sys::PCRE2_ALT_CIRCUMFLEX),
    ("alt_verbnames", sys::PCRE2_ALT_VERBNAMES),
    ("use_offset_limit", sys::PCRE2_USE_OFFSET_LIMIT),
];

/// The `regex_options` name `name` as kept for the program's life, and its PCRE2 compile
/// flag, if it is one keepalived accepts.
pub fn option(name: &str) -> Option<(&'static str, u32)> {
    OPTIONS.iter().find(|(n, _)| *n == name).copied()
}

/// The PCRE2 compile flag of a `regex_options` name, if it is one keepalived accepts.
pub fn option_flag(name: &str) -> Option<u32> {
    option(name).map(|(_, f)| f)
}

/// A pattern PCRE2 refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    /// Where in the pattern (in bytes) PCRE2 stopped.
    pub offset: usize,
    /// PCRE2's own message, e.g. "missing closing parenthesis".
    pub message: String,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at offset {}: {}", self.offset, self.message)
    }
}

impl std::error::Error for CompileError {}

/// A match that could not be decided: PCRE2 stopped with an error (a match or heap limit
/// reached, invalid UTF-8 in the subject under `utf`...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchError {
    /// PCRE2's message.
    pub message: String,
}

impl fmt::Display for MatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for MatchError {}

/// A compiled PCRE2 pattern.
pub struct Pattern {
    code: NonNull<sys::pcre2_code_8>,
}

// SAFETY: PCRE2 documents a compiled pattern as read-only once compiled: several threads may
// match it at once, each with its own match data (as `find_at` creates); it is freed once, by
// `Drop`, which needs exclusive ownership.
unsafe impl Send for Pattern {}
// SAFETY: see `Send`: `find_at` only reads the compiled code.
unsafe impl Sync for Pattern {}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pattern").finish_non_exhaustive()
    }
}

impl Drop for Pattern {
    fn drop(&mut self) {
        // SAFETY: `code` came from pcre2_compile_8 and is freed only here.
        unsafe { sys::pcre2_code_free_8(self.code.as_ptr()) }
    }
}

impl Pattern {
    /// Compile `pattern` with PCRE2 compile `flags` (an OR of [`option_flag`] values).
    pub fn compile(pattern: &str, flags: u32) -> Result<Pattern, CompileError> {
        let mut code: c_int = 0;
        let mut offset: usize = 0;
        // SAFETY: the pattern pointer and length describe a live byte slice (PCRE2 does not
        // need a terminating NUL when given a length); the error outputs are live locals; a
        // null compile context selects the defaults.
        let raw = unsafe {
            sys::pcre2_compile_8(
                pattern.as_ptr(),
                pattern.len(),
                flags,
                &mut code,
                &mut offset,
                std::ptr::null_mut(),
            )
        };
        match NonNull::new(raw) {
            Some(code) => Ok(Pattern { code }),
            None => Err(CompileError {
                offset,
                message: error_message(code),
            }),
        }
    }

    /// The leftmost match in `subject` starting at or after byte `start`, as a byte range.
    /// Look-behind may see the bytes before `start`. With `not_eol`, the end of `subject` is
    /// not the end of a line (`PCRE2_NOTEOL`): `$` never matches there.
    pub fn find_at(
        &self,
        subject: &[u8],
        start: usize,
        not_eol: bool,
    ) -> Result<Option<(usize, usize)>, MatchError> {
        if start > subject.len() {
            return Ok(None);
        }
        // SAFETY: `code` is a live compiled pattern; a null general context selects malloc.
        let md = unsafe {
            sys::pcre2_match_data_create_from_pattern_8(self.code.as_ptr(), std::ptr::null_mut())
        };
        let Some(md) = NonNull::new(md) else {
            return Err(MatchError {
                message: "no memory for the match data".into(),
            });
        };
        let md = MatchData(md);
        let options = if not_eol { sys::PCRE2_NOTEOL } else { 0 };
        // SAFETY: subject pointer/length describe a live slice and `start` is within it;
        // `md` was created for this pattern; a null match context selects the defaults.
        let rc = unsafe {
            sys::pcre2_match_8(
                self.code.as_ptr(),
                subject.as_ptr(),
                subject.len(),
                start,
                options,
                md.0.as_ptr(),
                std::ptr::null_mut(),
            )
        };
        if rc == sys::PCRE2_ERROR_NOMATCH {
            return Ok(None);
        }
        if rc < 0 {
            return Err(MatchError {
                message: error_message(rc),
            });
        }
        // SAFETY: after a successful match the ovector holds at least one pair (rc >= 0; rc
        // 0 means the vector was too small for every group, the whole match still being in
        // pair 0), and the match data outlives this read.
        let (s, e) = unsafe {
            let ov = sys::pcre2_get_ovector_pointer_8(md.0.as_ptr());
            (*ov, *ov.add(1))
        };
        Ok(Some((s, e)))
    }
}

/// Match data freed on every path.
struct MatchData(NonNull<sys::pcre2_match_data_8>);

impl Drop for MatchData {
    fn drop(&mut self) {
        // SAFETY: created by pcre2_match_data_create_from_pattern_8, freed only here.
        unsafe { sys::pcre2_match_data_free_8(self.0.as_ptr()) }
    }
}

/// PCRE2's message for an error code.
fn error_message(code: c_int) -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is live and its length is passed; PCRE2 writes at most that many
    // code units, NUL included, and returns the message length or a negative error.
    let n = unsafe { sys::pcre2_get_error_message_8(code, buf.as_mut_ptr(), buf.len()) };
    match usize::try_from(n) {
        Ok(n) => String::from_utf8_lossy(&buf[..n.min(buf.len())]).into_owned(),
        Err(_) => format!("PCRE2 error {code}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(p: &str, flags: &[&str], s: &[u8]) -> Option<(usize, usize)> {
        let f = flags
            .iter()
            .map(|n| option_flag(n).expect("option"))
            .fold(0, |a, b| a | b);
        Pattern::compile(p, f)
            .expect("compiles")
            .find_at(s, 0, true)
            .expect("decided")
    }

    #[test]
    fn pcre_syntax_the_rust_engine_lacks() {
        assert_eq!(find("(?<=hel)lo(?! world)", &[], b"hello\n"), Some((3, 5)));
        assert_eq!(find("(?<=hel)lo(?! world)", &[], b"hello world"), None);
        assert_eq!(find(r"(l)\1o", &[], b"hello"), Some((2, 5)));
        assert_eq!(find(r"a++b", &[], b"aaab"), Some((0, 4)));
        assert_eq!(find(r"foo\Kbar", &[], b"foobar"), Some((3, 6)));
    }

    #[test]
    fn not_eol_as_keepalived_matches() {
        // Observed in the VM: `lo$` fails on a body ending in "hello", succeeds with
        // `multiline` on "hello\n" (a newline inside the data is a line end).
        assert_eq!(find("lo$", &[], b"hello"), None);
        assert_eq!(find("lo$", &[], b"hello\n"), None);
        assert_eq!(find("lo$", &["multiline"], b"hello\nx"), Some((3, 5)));
        let p = Pattern::compile("lo$", 0).expect("compiles");
        assert_eq!(p.find_at(b"hello", 0, false).expect("ok"), Some((3, 5)));
    }

    #[test]
    fn options_by_keepalived_name() {
        assert_eq!(find("HELLO", &[], b"hello"), None);
        assert_eq!(find("HELLO", &["caseless"], b"hello"), Some((0, 5)));
        assert_eq!(find("a.b", &["dotall"], b"a\nb"), Some((0, 3)));
        assert_eq!(find("a.*b", &["ungreedy"], b"aabab"), Some((0, 3)));
        assert_eq!(find("a b", &["extended"], b"ab"), Some((0, 2)));
        assert_eq!(option_flag("bogus"), None);
        assert_eq!(OPTIONS.len(), 24);
    }

    #[test]
    fn start_offset_and_lookbehind_before_it() {
        let p = Pattern::compile("(?<=x)y", 0).expect("compiles");
        assert_eq!(p.find_at(b"xy", 1, true).expect("ok"), Some((1, 2)));
        assert_eq!(p.find_at(b"xy", 3, true).expect("ok"), None);
    }

    #[test]
    fn compile_errors_carry_pcre2s_offset_and_message() {
        let e = Pattern::compile("a(", 0).expect_err("invalid");
        assert_eq!(e.offset, 2);
        assert_eq!(e.message, "missing closing parenthesis");
        assert_eq!(e.to_string(), "at offset 2: missing closing parenthesis");
    }

    #[test]
    fn invalid_utf8_under_utf_is_an_error_not_a_crash() {
        let p = Pattern::compile("a", option_flag("utf").expect("utf")).expect("compiles");
        assert!(p.find_at(b"\xff\xfea", 0, true).is_err());
    }
}
