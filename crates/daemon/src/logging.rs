//! Logging as keepalived does it: syslog by default (ident `Keepalived`, `Keepalived_vrrp`,
//! `Keepalived_healthcheckers`, facility daemon unless `-S`), the console with `-l`, a file with
//! `-g` (with `_vrrp` / `_healthcheckers` inserted before the last `.` for the children), and no
//! syslog with `-G`. In network namespace NAME (`-s`) the identities gain `_NAME`
//! (`Keepalived_NAME`, `Keepalived_vrrp_NAME`), as keepalived's do. Built on tracing: a [`Sinks`] layer formats each event once and writes it
//! to every enabled sink.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::cli::Cli;

/// Which process is logging: keepalived names its syslog identity and log files after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The supervising parent.
    Parent,
    /// The VRRP child.
    Vrrp,
    /// The health-checker child.
    Checker,
}

impl Role {
    /// The syslog identity keepalived uses for this process.
    pub fn ident(self) -> &'static str {
        match self {
            Role::Parent => "Keepalived",
            Role::Vrrp => "Keepalived_vrrp",
            Role::Checker => "Keepalived_healthcheckers",
        }
    }

    /// The syslog identity in network namespace `namespace` (`-s`): keepalived appends
    /// `_NAME` to it.
    pub fn ident_in(self, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) => format!("{}_{ns}", self.ident()),
            None => self.ident().to_string(),
        }
    }

    /// The suffix keepalived inserts into `-g FILE` for this process.
    fn file_suffix(self) -> &'static str {
        match self {
            Role::Parent => "",
            Role::Vrrp => "_vrrp",
            Role::Checker => "_healthcheckers",
        }
    }
}

/// `-S` facility names and numbers -> syslog facility code (default daemon = 3).
pub fn facility_code(s: Option<&str>) -> Result<u8, String> {
    let Some(s) = s else { return Ok(3) };
    match s {
        "daemon" => Ok(3),
        "user" => Ok(1),
        _ => {
            let n = s.strip_prefix("local").unwrap_or(s);
            match n.parse::<u8>() {
                Ok(v) if v <= 7 => Ok(16 + v),
                _ => Err(format!("Invalid log facility '{s}'")),
            }
        }
    }
}

/// The log file for `role` derived from `-g FILE`.
pub fn log_file_for(base: &Path, role: Role) -> PathBuf {
    let suffix = role.file_suffix();
    if suffix.is_empty() {
        return base.to_path_buf();
    }
    let s = base.to_string_lossy();
    let name_start = s.rfind('/').map(|i| i + 1).unwrap_or(0);
    match s[name_start..].rfind('.') {
        Some(dot) => {
            let at = name_start + dot;
            PathBuf::from(format!("{}{}{}", &s[..at], suffix, &s[at..]))
        }
        None => PathBuf::from(format!("{s}{suffix}")),
    }
}

/// The namespace suffix of the syslog identity when the configuration (`net_namespace`)
/// names it after logging started.
static LATE_NAMESPACE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Appends `_NAME` to this process's syslog identity from now on (keepalived changes its
/// identity once `net_namespace` is read from the configuration).
pub fn set_namespace(name: &str) {
    let _ = LATE_NAMESPACE.set(name.to_string());
}

struct Sinks {
    ident: String,
    facility: u8,
    detail: bool,
    console: bool,
    syslog: Option<UnixDatagram>,
    file: Option<Mutex<File>>,
    flush_file: bool,
}

#[derive(Default)]
struct MessageVisitor {
    message: String,
    fields: String,
}

impl Visit for MessageVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.fields
                .push_str(&format!(" {}={value:?}", field.name()));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.fields.push_str(&format!(" {}={value}", field.name()));
        }
    }
}

/// True for events from rkeepalived's own crates.
fn is_ours(target: &str) -> bool {
    target.starts_with("rka_") || target.starts_with("rkeepalived")
}

fn severity(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

impl<S: Subscriber> Layer<S> for Sinks {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        // -D shows our own debug detail; dependencies (netlink, rustls...) stay at INFO and
        // above, or their chatter would drown the log.
        if *meta.level() > Level::INFO && (!self.detail || !is_ours(meta.target())) {
            return;
        }
        let mut v = MessageVisitor::default();
        event.record(&mut v);
        let msg = format!("{}{}", v.message, v.fields);
        if self.console || self.file.is_some() {
            let line = format!("{}: {msg}\n", console_time());
            if self.console {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
            if let Some(f) = &self.file {
                if let Ok(mut f) = f.lock() {
                    let _ = f.write_all(line.as_bytes());
                    if self.flush_file {
                        let _ = f.flush();
                    }
                }
            }
        }
        if let Some(sock) = &self.syslog {
            let pri = u16::from(self.facility) * 8 + u16::from(severity(meta.level()));
            let suffix = LATE_NAMESPACE
                .get()
                .map(|ns| format!("_{ns}"))
                .unwrap_or_default();
            let line = format!(
                "<{pri}>{} {}{suffix}[{}]: {msg}",
                syslog_time(),
                self.ident,
                std::process::id()
            );
            let _ = sock.send(line.as_bytes());
        }
    }
}

/// keepalived's console timestamp: `Sun Nov 22 05:53:45 2026`.
fn console_time() -> String {
    crate::utc::Utc::now().ctime(None)
}

/// The RFC 3164 timestamp syslog lines carry: `Nov 22 05:53:45`.
fn syslog_time() -> String {
    // `Sun Nov 22 05:53:45 2026` -> `Nov 22 05:53:45`.
    let full = console_time();
    full.get(4..19).unwrap_or(&full).to_string()
}

/// Installs the global logger for `role` from the command line.
pub fn init(cli: &Cli, role: Role) -> Result<(), String> {
    let facility = facility_code(cli.log_facility.as_deref())?;
    let syslog = if cli.no_syslog {
        None
    } else {
        // Non-blocking: when the syslog daemon lags and its queue is full, a line is lost
        // rather than the VRRP timers stalling behind a blocked send.
        UnixDatagram::unbound()
            .ok()
            .filter(|s| s.connect("/dev/log").is_ok() && s.set_nonblocking(true).is_ok())
    };
    let file = match &cli.log_file {
        Some(base) => {
            let path = log_file_for(base, role);
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| format!("cannot open log file {}: {e}", path.display()))?;
            Some(Mutex::new(f))
        }
        None => None,
    };
    let sinks = Sinks {
        ident: role.ident_in(cli.namespace.as_deref()),
        facility,
        detail: cli.log_detail,
        console: cli.log_console,
        syslog,
        file,
        flush_file: cli.flush_log_file,
    };
    tracing_subscriber::registry()
        .with(sinks)
        .try_init()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_log_files_get_keepalived_suffixes() {
        let b = Path::new("/var/log/keepalived.log");
        assert_eq!(
            log_file_for(b, Role::Parent),
            PathBuf::from("/var/log/keepalived.log")
        );
        assert_eq!(
            log_file_for(b, Role::Vrrp),
            PathBuf::from("/var/log/keepalived_vrrp.log")
        );
        assert_eq!(
            log_file_for(Path::new("/var/log.d/ka"), Role::Checker),
            PathBuf::from("/var/log.d/ka_healthcheckers")
        );
    }

    #[test]
    fn only_our_crates_log_debug_detail() {
        assert!(is_ours("rka_vrrp::instance"));
        assert!(is_ours("rkeepalived::vrrp"));
        assert!(!is_ours("netlink_proto::connection"));
        assert!(!is_ours("rustls::client"));
    }

    #[test]
    fn namespace_idents_as_keepalived() {
        assert_eq!(Role::Parent.ident_in(Some("blue")), "Keepalived_blue");
        assert_eq!(Role::Vrrp.ident_in(Some("blue")), "Keepalived_vrrp_blue");
        assert_eq!(Role::Checker.ident_in(None), "Keepalived_healthcheckers");
        assert_eq!(syslog_time().len(), 15);
    }

    #[test]
    fn facilities() {
        assert_eq!(facility_code(None), Ok(3));
        assert_eq!(facility_code(Some("local3")), Ok(19));
        assert_eq!(facility_code(Some("5")), Ok(21));
        assert_eq!(facility_code(Some("user")), Ok(1));
        assert!(facility_code(Some("local9")).is_err());
    }
}
