//! Diagnostics: what is wrong with a configuration, where, and how bad.
//!
//! keepalived prints `(FILE: Line N) message` and its `-t` exit code summarises the worst
//! problem: 0 valid, 5 errors or warnings (it would still run), 4 cannot run, 6 script security.

use std::fmt;
use std::sync::Arc;

/// Where a piece of configuration came from: the file as it was named and the 1-based line.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin {
    /// The file name as given on the command line or in the `include` directive (after glob
    /// expansion), which is how keepalived names it in messages.
    pub file: Arc<str>,
    /// 1-based line number within `file`.
    pub line: u32,
}

impl Origin {
    /// Builds an origin.
    pub fn new(file: impl Into<Arc<str>>, line: u32) -> Self {
        Origin {
            file: file.into(),
            line,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}: Line {})", self.file, self.line)
    }
}

/// How bad a diagnostic is. The order is the order of badness used for the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Informational; does not affect the exit code.
    Info,
    /// A problem keepalived reports and works around (unknown keyword, bad value ignored,
    /// missing interface...). Exit code 5 under `-t`.
    Warning,
    /// A configuration error that invalidates part of the configuration. Exit code 5.
    Error,
    /// A script-security problem (`enable_script_security` and an unsafe script). Exit code 6.
    Security,
    /// A keyword that must have a value was written without one (`priority` alone).
    /// keepalived 2.2.7 stops reading there with its program-error exit code, 2.
    MissingParameter,
    /// A missing or unreadable included file under `include_check` (or `includem` and the
    /// other checking variants, or `-e`): keepalived 2.2.7 stops reading there, and its `-t`
    /// exit code is then 6.
    IncludeFailed,
    /// The configuration cannot be run at all (missing file, unreadable file). Exit code 4.
    Fatal,
}

/// One message about the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// How bad it is.
    pub severity: Severity,
    /// Where it is, when it is tied to a line.
    pub origin: Option<Origin>,
    /// What is wrong, for a human.
    pub message: String,
    /// Found by the script-security pass. keepalived's processes split the reporting: the
    /// parent logs the problems of the text and of the global and VRRP sections, the checker
    /// child those of the virtual servers ([`Diagnostic::lvs`]), and each child the
    /// script-security results of the scripts it runs (`SECURITY VIOLATION ...`, scripts
    /// disabled or refused).
    pub script: bool,
    /// Found while modelling or checking the virtual servers' part (`virtual_server`,
    /// `virtual_server_group`, `SSL` and their checks, script security included): the checker
    /// child's to log.
    pub lvs: bool,
    /// Logged by a running daemon only: keepalived's `-t` does not print it (it is found when
    /// a child prepares to run its scripts).
    pub runtime: bool,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Some(o) => write!(f, "{o} {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// The collected diagnostics of one load.
#[derive(Clone, Debug, Default)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Records a diagnostic.
    pub fn push(
        &mut self,
        severity: Severity,
        origin: Option<&Origin>,
        message: impl Into<String>,
    ) {
        self.items.push(Diagnostic {
            severity,
            origin: origin.cloned(),
            message: message.into(),
            script: false,
            lvs: false,
            runtime: false,
        });
    }

    /// Records a warning at `origin`.
    pub fn warn(&mut self, origin: &Origin, message: impl Into<String>) {
        self.push(Severity::Warning, Some(origin), message);
    }

    /// Records an error at `origin`.
    pub fn error(&mut self, origin: &Origin, message: impl Into<String>) {
        self.push(Severity::Error, Some(origin), message);
    }

    /// Records a fatal error, optionally tied to a line.
    pub fn fatal(&mut self, origin: Option<&Origin>, message: impl Into<String>) {
        self.push(Severity::Fatal, origin, message);
    }

    /// Records a note of the script-security pass that only a running daemon logs
    /// ([`Diagnostic::runtime`]).
    pub fn runtime_note(&mut self, origin: Option<&Origin>, message: impl Into<String>) {
        self.push_script(Severity::Info, origin, message.into(), true);
    }

    /// Records a note that only a running daemon logs ([`Diagnostic::runtime`]), outside the
    /// script-security pass (keepalived finds it when a child builds what it runs).
    pub fn runtime_info(&mut self, message: impl Into<String>) {
        self.items.push(Diagnostic {
            severity: Severity::Info,
            origin: None,
            message: message.into(),
            script: false,
            lvs: false,
            runtime: true,
        });
    }

    /// Records a script-security problem.
    pub fn security(&mut self, origin: Option<&Origin>, message: impl Into<String>) {
        self.push_script(Severity::Security, origin, message.into(), false);
    }

    /// Records a diagnostic of the script-security pass ([`Diagnostic::script`]); `runtime`:
    /// only a running daemon logs it ([`Diagnostic::runtime`]).
    fn push_script(
        &mut self,
        severity: Severity,
        origin: Option<&Origin>,
        message: String,
        runtime: bool,
    ) {
        self.items.push(Diagnostic {
            severity,
            origin: origin.cloned(),
            message,
            script: true,
            lvs: false,
            runtime,
        });
    }

    /// Records an informational note.
    pub fn info(&mut self, origin: Option<&Origin>, message: impl Into<String>) {
        self.push(Severity::Info, origin, message);
    }

    /// Moves every diagnostic of `other` after these.
    pub fn append(&mut self, mut other: Diagnostics) {
        self.items.append(&mut other.items);
    }

    /// How many diagnostics were recorded so far (see [`Diagnostics::mark_script_since`]).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Marks every diagnostic recorded after the first `start` as found by the script-security
    /// pass ([`Diagnostic::script`]).
    pub fn mark_script_since(&mut self, start: usize) {
        for d in self.items.iter_mut().skip(start) {
            d.script = true;
        }
    }

    /// Marks every diagnostic recorded after the first `start` as found in the virtual
    /// servers' part ([`Diagnostic::lvs`]).
    pub fn mark_lvs_since(&mut self, start: usize) {
        for d in self.items.iter_mut().skip(start) {
            d.lvs = true;
        }
    }

    /// All diagnostics, in the order they were found.
    pub fn items(&self) -> &[Diagnostic] {
        &self.items
    }

    /// True when nothing worse than `Info` was recorded.
    pub fn is_clean(&self) -> bool {
        self.worst().is_none_or(|s| s == Severity::Info)
    }

    /// The worst severity recorded, if any.
    pub fn worst(&self) -> Option<Severity> {
        self.items.iter().map(|d| d.severity).max()
    }

    /// True when the configuration must not be run: a fatal problem, a refused include or a
    /// missing parameter (keepalived stops reading the configuration there).
    pub fn is_fatal(&self) -> bool {
        self.worst() >= Some(Severity::MissingParameter)
    }

    /// Records an include that `include_check` (or a checking variant) refuses; reading stops.
    pub fn include_failed(&mut self, origin: &Origin, message: impl Into<String>) {
        self.push(Severity::IncludeFailed, Some(origin), message);
    }

    /// Records a keyword written without the value it needs (exit code 2).
    pub fn missing_parameter(&mut self, origin: &Origin, message: impl Into<String>) {
        self.push(Severity::MissingParameter, Some(origin), message);
    }

    /// The exit code of `keepalived -t` for these diagnostics: the only place mapping
    /// severities to exit codes.
    ///
    /// keepalived stops at the first missing parameter (2) or fatal problem (4), so the first
    /// of those decides; otherwise the worst severity does.
    pub fn exit_code(&self) -> i32 {
        let stop = self.items.iter().map(|d| d.severity).find(|s| {
            matches!(
                s,
                Severity::MissingParameter | Severity::IncludeFailed | Severity::Fatal
            )
        });
        match stop.or_else(|| self.worst()) {
            None | Some(Severity::Info) => 0,
            Some(Severity::Warning) | Some(Severity::Error) => 5,
            Some(Severity::Security) => 6,
            Some(Severity::MissingParameter) => 2,
            Some(Severity::IncludeFailed) => 6,
            Some(Severity::Fatal) => 4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_worst_severity() {
        let o = Origin::new("k.conf", 3);
        let mut d = Diagnostics::default();
        assert_eq!(d.exit_code(), 0);
        d.info(Some(&o), "note");
        assert_eq!(d.exit_code(), 0);
        d.warn(&o, "unknown keyword");
        assert_eq!(d.exit_code(), 5);
        d.security(None, "unsafe script");
        assert_eq!(d.exit_code(), 6);
        d.fatal(None, "no file");
        assert_eq!(d.exit_code(), 4);
    }

    #[test]
    fn script_security_diagnostics_are_marked() {
        let o = Origin::new("k.conf", 3);
        let mut d = Diagnostics::default();
        d.warn(&o, "unknown keyword");
        d.security(None, "unsafe script");
        d.runtime_note(Some(&o), "resolved by path search");
        d.info(None, "note");
        let flags: Vec<_> = d.items().iter().map(|d| (d.script, d.runtime)).collect();
        assert_eq!(
            flags,
            [(false, false), (true, false), (true, true), (false, false)]
        );
        assert_eq!(d.items()[2].severity, Severity::Info);
        assert_eq!(d.items()[2].origin, Some(o));
        d.mark_script_since(3);
        assert!(d.items()[3].script && !d.items()[0].script);
        d.mark_lvs_since(2);
        let lvs: Vec<_> = d.items().iter().map(|d| d.lvs).collect();
        assert_eq!(lvs, [false, false, true, true]);
    }

    #[test]
    fn the_first_stopping_problem_decides() {
        // keepalived 2.2.7: `priority` with no value ends the run with exit code 2, whatever
        // warnings came before; script security is never reached.
        let o = Origin::new("k.conf", 3);
        let mut d = Diagnostics::default();
        d.warn(&o, "unknown keyword");
        d.missing_parameter(&o, "missing a parameter");
        d.security(None, "unsafe script");
        assert_eq!(d.exit_code(), 2);
        d.fatal(None, "later fatal");
        assert_eq!(d.exit_code(), 2);
        let mut d = Diagnostics::default();
        d.fatal(None, "no file");
        d.missing_parameter(&o, "missing a parameter");
        assert_eq!(d.exit_code(), 4);
        // keepalived 2.2.7 -t: `includem` of a missing file exits 6.
        let mut d = Diagnostics::default();
        d.warn(&o, "unknown keyword");
        d.include_failed(&o, "Config files missing 'x'.");
        assert_eq!(d.exit_code(), 6);
        assert!(d.is_fatal());
    }

    #[test]
    fn display_names_file_and_line() {
        let mut d = Diagnostics::default();
        d.warn(
            &Origin::new("/etc/keepalived/keepalived.conf", 12),
            "Unknown keyword 'foo'",
        );
        assert_eq!(
            d.items()[0].to_string(),
            "(/etc/keepalived/keepalived.conf: Line 12) Unknown keyword 'foo'"
        );
    }
}
