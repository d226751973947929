//! The preprocessor: configuration files -> logical lines with their origins.
//!
//! Everything keepalived 2.2.7 does before keywords are parsed, in its order:
//!
//! 1. each physical line is cut at a NUL byte and its comment removed ([`comment`]);
//! 2. `include` and its variants are recognised on the raw line (so `@id include x` and
//!    `$INC` are not includes, as the man page says) ([`include`]);
//! 3. multi-line `$NAME= \` definitions collect their continuation lines;
//! 4. each logical line then goes through: the `@ID` / `@^ID` conditional, a `$NAME=value`
//!    definition, a `~SEQ`/`~LST` block ([`seq`]) or parameter substitution ([`params`]). A
//!    substituted line is processed again (so values may hold conditionals, definitions and
//!    further references), up to [`MAX_NESTING`] levels.
//!
//! Every produced line keeps the [`Origin`] of the line that caused it: the file named as
//! keepalived names it (as written in the `include`, relative to the including file) and the
//! line number. Nothing here panics or loops on hostile input: nesting, include depth, the
//! number of produced lines and the length of a substituted line are bounded, each with a
//! diagnostic.

pub mod comment;
pub mod include;
pub mod params;
pub mod seq;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use comment::strip_comment;

use crate::diag::{Diagnostics, Origin};
use crate::lexer::is_space;
use crate::LoadOptions;
use params::{Builtins, Params};

/// Deepest `include` nesting accepted; deeper includes are reported (this also stops loops).
pub const MAX_INCLUDE_DEPTH: usize = 32;
/// Deepest nesting of parameter substitution and `~SEQ`/`~LST` blocks; deeper is reported
/// (a parameter that refers to itself ends here).
pub const MAX_NESTING: usize = 64;
/// Most lines one load may produce. (Fuzzing builds use small limits so that each input
/// stays fast: the limits are what is tested, not their size.)
#[cfg(not(fuzzing))]
pub const MAX_LINES: usize = 4_000_000;
/// Most lines one load may produce (fuzzing build).
#[cfg(fuzzing)]
pub const MAX_LINES: usize = 20_000;
/// Longest line parameter substitution may build (when the line read was shorter).
#[cfg(not(fuzzing))]
pub const MAX_LINE_LEN: usize = 1 << 20;
/// Longest line parameter substitution may build (fuzzing build).
#[cfg(fuzzing)]
pub const MAX_LINE_LEN: usize = 1 << 12;
/// Most bytes parameter substitution may build in one load (emitted or not).
#[cfg(not(fuzzing))]
pub const MAX_SUBST_BYTES: usize = 64 << 20;
/// Most bytes parameter substitution may build in one load (fuzzing build).
#[cfg(fuzzing)]
pub const MAX_SUBST_BYTES: usize = 1 << 20;
/// Nesting errors tolerated before the load stops: one self-referencing parameter used on a
/// multi-line value would otherwise report the same problem exponentially often.
pub const MAX_NESTING_ERRORS: usize = 16;
/// Most bytes of text one load may produce.
#[cfg(not(fuzzing))]
pub const MAX_TOTAL_BYTES: usize = 512 << 20;
/// Most bytes of text one load may produce (fuzzing build).
#[cfg(fuzzing)]
pub const MAX_TOTAL_BYTES: usize = 1 << 20;

/// A logical configuration line after preprocessing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// Where the line came from.
    pub origin: Origin,
    /// The text with comments removed and parameters substituted; not yet split into words.
    pub text: String,
}

/// Where the preprocessor hands its lines, one at a time and in order.
pub trait LineSink {
    /// Takes the line `text` (comments removed, parameters substituted) that came from
    /// `origin`.
    fn line(&mut self, origin: &Origin, text: &str);
}

impl LineSink for Vec<Line> {
    fn line(&mut self, origin: &Origin, text: &str) {
        self.push(Line {
            origin: origin.clone(),
            text: text.to_string(),
        });
    }
}

/// A `$NAME= \` definition being collected.
#[derive(Debug)]
struct Multi {
    name: String,
    lines: Vec<String>,
    /// Collected but not kept (a conditional excluded it, or it was malformed).
    discard: bool,
}

/// One file being read.
#[derive(Debug, Clone)]
struct FileCtx {
    name: Arc<str>,
    dir: PathBuf,
    pwd: String,
}

/// Turns configuration files into [`Line`]s.
#[derive(Debug)]
pub struct Preprocessor<'a> {
    opts: &'a LoadOptions,
    config_id: String,
    instance: String,
    all_config: bool,
    include_check: u8,
    /// Brace depth inside `global_defs` (`Some(0)` right after the keyword, before its `{`);
    /// `None` outside it. keepalived 2.2.7 knows `include_check` only in `global_defs`.
    global_depth: Option<i32>,
    params: Params,
    /// Lines handed to the sink so far.
    lines: usize,
    stack: Vec<PathBuf>,
    aborted: bool,
    out_bytes: usize,
    /// Bytes built by parameter substitution so far, emitted or not: bounds the work a
    /// self-referencing multi-line parameter can cause (each level multiplies the lines).
    subst_bytes: usize,
    /// Nesting errors reported so far.
    nesting_errors: usize,
}

fn time_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ (u64::from(std::process::id()) << 32)
}

impl<'a> Preprocessor<'a> {
    /// A preprocessor for one load.
    pub fn new(opts: &'a LoadOptions) -> Self {
        let config_id = opts
            .config_id
            .clone()
            .unwrap_or_else(rka_sys::host::short_hostname);
        let instance = opts.instance.clone().unwrap_or_else(|| config_id.clone());
        Preprocessor {
            opts,
            config_id,
            instance,
            all_config: false,
            include_check: 0,
            global_depth: None,
            params: Params::new(time_seed()),
            lines: 0,
            stack: Vec::new(),
            aborted: false,
            out_bytes: 0,
            subst_bytes: 0,
            nesting_errors: 0,
        }
    }

    /// `-e/--all-config`: a missing or unreadable include file is fatal.
    pub fn all_config(mut self, on: bool) -> Self {
        self.all_config = on;
        self
    }

    /// Makes `${_RANDOM}` repeatable (global_defs `random_seed`).
    pub fn random_seed(mut self, seed: u64) -> Self {
        self.params.seed(seed);
        self
    }

    /// The load options this preprocessor was made with.
    pub fn options(&self) -> &LoadOptions {
        self.opts
    }

    /// Reads the file at `path` and everything it includes.
    pub fn run(self, path: &Path, diags: &mut Diagnostics) -> Vec<Line> {
        let mut lines = Vec::new();
        self.run_into(path, diags, &mut lines);
        lines
    }

    /// Preprocesses text that did not come from a file; `include` and `${_PWD}` use the
    /// current directory.
    pub fn run_str(self, name: &str, text: &str, diags: &mut Diagnostics) -> Vec<Line> {
        let mut lines = Vec::new();
        self.run_str_into(name, text, diags, &mut lines);
        lines
    }

    /// [`Preprocessor::run`], handing each line to `sink` as soon as it is produced instead
    /// of collecting them: the reader (the tree builder) keeps what it needs, and no copy of
    /// the whole configuration's text is held.
    pub fn run_into(mut self, path: &Path, diags: &mut Diagnostics, sink: &mut dyn LineSink) {
        let name = path.display().to_string();
        match std::fs::read(path) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                self.stack.push(canonical(path));
                let file = file_ctx(&name, path.parent().unwrap_or(Path::new(".")));
                self.process(&file, &text, diags, sink);
            }
            Err(e) => diags.fatal(
                None,
                format!("Configuration file '{name}' cannot be read: {e}"),
            ),
        }
    }

    /// [`Preprocessor::run_str`], handing each line to `sink`.
    pub fn run_str_into(
        mut self,
        name: &str,
        text: &str,
        diags: &mut Diagnostics,
        sink: &mut dyn LineSink,
    ) {
        let file = file_ctx(name, Path::new("."));
        self.process(&file, text, diags, sink);
    }

    fn process(
        &mut self,
        file: &FileCtx,
        text: &str,
        diags: &mut Diagnostics,
        sink: &mut dyn LineSink,
    ) {
        let mut multi: Option<(Multi, Origin)> = None;
        for (idx, raw) in text.split('\n').enumerate() {
            if self.aborted {
                return;
            }
            let origin = Origin {
                file: file.name.clone(),
                line: u32::try_from(idx + 1).unwrap_or(u32::MAX),
            };
            // keepalived reads lines as C strings: a NUL ends the line.
            let raw = raw.split('\0').next().unwrap_or("");
            let (stripped, unterminated) = comment::strip_comment_report(raw);
            if unterminated {
                diags.warn(
                    &origin,
                    format!("Unterminated quote '{}'", raw.trim_matches(is_space)),
                );
            }
            let t = stripped.trim_matches(is_space);
            if let Some((m, _)) = multi.as_mut() {
                if t.is_empty() {
                    continue;
                }
                match t.strip_suffix('\\') {
                    Some(head) => m.lines.push(head.trim_end_matches(is_space).to_string()),
                    None => {
                        m.lines.push(t.to_string());
                        if let Some((m, o)) = multi.take() {
                            self.finish_multi(m, &o, diags);
                        }
                    }
                }
                continue;
            }
            if t.is_empty() {
                continue;
            }
            let mut words = t.split(is_space).filter(|w| !w.is_empty());
            let first = words.next().unwrap_or("");
            if let Some(checks) = include::include_keyword(first) {
                let pattern = t[first.len()..].trim_matches(is_space);
                if !pattern.is_empty() {
                    self.include(pattern, checks, file, &origin, diags, sink);
                    continue;
                }
            }
            if first == "global_defs" {
                self.global_depth = Some(0);
            }
            if first == "include_check" && self.global_depth.is_some_and(|d| d > 0) {
                let opts: Vec<&str> = words.collect();
                let (level, unknown) = include::apply_include_check(self.include_check, &opts);
                for u in unknown {
                    diags.warn(
                        &origin,
                        format!("Unknown include_check type '{u}' - ignoring"),
                    );
                }
                self.include_check = level;
            }
            if let Some(d) = self.global_depth {
                // Only the lines of global_defs are scanned for braces (a few lines at most).
                let opens = t.bytes().filter(|&b| b == b'{').count() as i32;
                let closes = t.bytes().filter(|&b| b == b'}').count() as i32;
                let depth = d + opens - closes;
                self.global_depth = if (d > 0 || opens > 0) && depth <= 0 {
                    None
                } else {
                    Some(depth)
                };
            }
            if let Some(m) = self.multi_start(t) {
                multi = Some((m, origin));
                continue;
            }
            let t = comment::join_trailing_backslash(t);
            self.logical(&t, file, &origin, 0, diags, sink);
        }
        if let Some((m, o)) = multi.take() {
            self.finish_multi(m, &o, diags);
        }
    }

    /// Recognises `[@ID ]$NAME= \`, the start of a multi-line definition.
    fn multi_start(&self, t: &str) -> Option<Multi> {
        let (keep, body) = match self.conditional(t) {
            Some((keep, rest)) => (keep, rest),
            None => (true, t),
        };
        let (name, value) = params::parse_definition(body)?;
        let head = value.strip_suffix('\\')?;
        let head = head.trim_end_matches(is_space);
        // Text after `=` is the first line of the value (keepalived 2.2.7 accepts
        // `$INST=vrrp_instance VI_1 { \`).
        let lines = if head.is_empty() {
            Vec::new()
        } else {
            vec![head.to_string()]
        };
        Some(Multi {
            name: name.to_string(),
            lines,
            discard: !keep,
        })
    }

    fn finish_multi(&mut self, m: Multi, _origin: &Origin, _diags: &mut Diagnostics) {
        if !m.discard {
            self.params.set(&m.name, m.lines.join("\n"));
        }
    }

    /// `@ID rest` / `@^ID rest`: `Some((keep, rest))`, or `None` when `t` is unconditional.
    fn conditional<'t>(&self, t: &'t str) -> Option<(bool, &'t str)> {
        let body = t.strip_prefix('@')?;
        let (neg, body) = match body.strip_prefix('^') {
            Some(b) => (true, b),
            None => (false, body),
        };
        let end = body.find(is_space).unwrap_or(body.len());
        let (id, rest) = body.split_at(end);
        Some((
            (id == self.config_id) != neg,
            rest.trim_start_matches(is_space),
        ))
    }

    fn logical(
        &mut self,
        text: &str,
        file: &FileCtx,
        origin: &Origin,
        depth: usize,
        diags: &mut Diagnostics,
        sink: &mut dyn LineSink,
    ) {
        if self.aborted {
            return;
        }
        if depth > MAX_NESTING {
            self.nesting_errors += 1;
            if self.nesting_errors > MAX_NESTING_ERRORS {
                diags.fatal(
                    Some(origin),
                    format!("more than {MAX_NESTING_ERRORS} runaway substitutions - stopped"),
                );
                self.aborted = true;
                return;
            }
            diags.error(
                origin,
                format!(
                    "parameter substitution or ~SEQ/~LST nested more than {MAX_NESTING} deep \
                     (a parameter refers to itself?) - line ignored"
                ),
            );
            return;
        }
        let mut t = text.trim_matches(is_space);
        if let Some((keep, rest)) = self.conditional(t) {
            if !keep {
                return;
            }
            t = rest;
        }
        if t.is_empty() {
            return;
        }
        if let Some((name, value)) = params::parse_definition(t) {
            self.params.set(name, value);
            return;
        }
        if seq::starts_block(t) {
            match seq::parse(t) {
                Ok(exp) => {
                    for pass in &exp.passes {
                        for (var, value) in exp.vars.iter().zip(pass) {
                            self.params.set(var, value.as_str());
                        }
                        self.logical(exp.rest, file, origin, depth + 1, diags, sink);
                        if self.aborted {
                            return;
                        }
                    }
                }
                Err(e) => diags.error(origin, e.to_string()),
            }
            return;
        }
        let builtins = Builtins {
            pwd: &file.pwd,
            instance: &self.instance,
        };
        match self.params.substitute_once(t, &builtins) {
            None => self.emit(t, origin, diags, sink),
            Some(s) if s.len() > MAX_LINE_LEN.max(t.len()) => diags.error(
                origin,
                format!("parameter substitution makes a line longer than {MAX_LINE_LEN} bytes - line ignored"),
            ),
            Some(s) => {
                self.subst_bytes += s.len();
                if self.subst_bytes > MAX_SUBST_BYTES {
                    diags.fatal(
                        Some(origin),
                        format!(
                            "parameter substitution builds more than {MAX_SUBST_BYTES} bytes \
                             (a parameter refers to itself?) - stopped"
                        ),
                    );
                    self.aborted = true;
                    return;
                }
                for line in s.split('\n') {
                    self.logical(line, file, origin, depth + 1, diags, sink);
                    if self.aborted {
                        return;
                    }
                }
            }
        }
    }

    fn emit(
        &mut self,
        text: &str,
        origin: &Origin,
        diags: &mut Diagnostics,
        sink: &mut dyn LineSink,
    ) {
        self.out_bytes += text.len();
        if self.lines >= MAX_LINES || self.out_bytes > MAX_TOTAL_BYTES {
            diags.fatal(
                Some(origin),
                format!("the configuration expands to more than {MAX_LINES} lines or {MAX_TOTAL_BYTES} bytes - stopped"),
            );
            self.aborted = true;
            return;
        }
        self.lines += 1;
        sink.line(origin, text);
    }

    /// Reports an include problem: fatal (and reading stops, as keepalived stops) when
    /// `fatal`, otherwise informational: keepalived 2.2.7 prints it and `-t` still exits 0.
    fn include_problem(
        &mut self,
        fatal: bool,
        origin: &Origin,
        msg: String,
        diags: &mut Diagnostics,
    ) {
        if fatal {
            diags.include_failed(origin, msg);
            self.aborted = true;
        } else {
            diags.info(Some(origin), msg);
        }
    }

    fn include(
        &mut self,
        pattern: &str,
        checks: u8,
        file: &FileCtx,
        origin: &Origin,
        diags: &mut Diagnostics,
        sink: &mut dyn LineSink,
    ) {
        let mut level = self.include_check | checks;
        if self.all_config {
            level |= include::READABLE | include::MATCH;
        }
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            diags.info(
                Some(origin),
                format!(
                    "include of '{pattern}' nested more than {MAX_INCLUDE_DEPTH} deep - ignored"
                ),
            );
            return;
        }
        let Some(alternatives) = include::expand_braces(pattern) else {
            diags.error(
                origin,
                format!("include '{pattern}' has too many brace alternatives - ignored"),
            );
            return;
        };
        let braces = alternatives.len() > 1;
        let mut brace_missing = false;
        let mut found: Vec<(String, PathBuf)> = Vec::new();
        for alt in &alternatives {
            let relative = !alt.starts_with('/');
            let base = glob::Pattern::escape(&file.dir.display().to_string());
            let full = if relative {
                format!("{base}/{alt}")
            } else {
                alt.clone()
            };
            let matches: Vec<PathBuf> = match glob::glob(&full) {
                Ok(p) => p.filter_map(Result::ok).collect(),
                Err(_) => Vec::new(),
            };
            if matches.is_empty() {
                if include::has_wildcard(alt) {
                    if level & include::WILDCARD_MATCH != 0 {
                        let msg = format!("No config files matched '{pattern}'.");
                        self.include_problem(true, origin, msg, diags);
                        return;
                    }
                } else if braces {
                    brace_missing = true;
                } else {
                    let msg = format!("Config files missing '{pattern}'.");
                    self.include_problem(level & include::MATCH != 0, origin, msg, diags);
                    if self.aborted {
                        return;
                    }
                }
                continue;
            }
            for m in matches {
                let shown = if relative {
                    m.strip_prefix(&file.dir)
                        .unwrap_or(&m)
                        .display()
                        .to_string()
                } else {
                    m.display().to_string()
                };
                found.push((shown, m));
            }
        }
        if brace_missing {
            let msg = format!("Some config files missing: \"{pattern}\".");
            self.include_problem(level & include::BRACE_MATCH != 0, origin, msg, diags);
            if self.aborted {
                return;
            }
        }
        for (shown, path) in found {
            let readable = level & include::READABLE != 0;
            if path.is_dir() {
                let msg = format!("Configuration file '{shown}/' is a directory - skipping");
                self.include_problem(readable, origin, msg, diags);
            } else {
                let key = canonical(&path);
                if self.stack.contains(&key) {
                    // keepalived recurses until it runs out of file descriptors, skips the
                    // file and exits 0; we stop at once, with the same exit code.
                    diags.info(
                        Some(origin),
                        format!("include loop: '{shown}' is already being read - skipping"),
                    );
                    continue;
                }
                match std::fs::read(&path) {
                    Ok(bytes) => {
                        let text = String::from_utf8_lossy(&bytes);
                        let dir = path.parent().unwrap_or(Path::new("."));
                        let inner = file_ctx(&shown, dir);
                        let saved = self.include_check;
                        self.stack.push(key);
                        self.process(&inner, &text, diags, sink);
                        self.stack.pop();
                        self.include_check = saved;
                    }
                    Err(e) => {
                        let msg =
                            format!("Configuration file '{shown}' open problem ({e}) - skipping");
                        self.include_problem(readable, origin, msg, diags);
                    }
                }
            }
            if self.aborted {
                return;
            }
        }
    }
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

fn file_ctx(name: &str, dir: &Path) -> FileCtx {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let abs = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    FileCtx {
        name: name.into(),
        dir: dir.to_path_buf(),
        pwd: abs.display().to_string(),
    }
}

#[cfg(test)]
mod tests;
