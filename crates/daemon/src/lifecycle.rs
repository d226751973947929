//! Process-level settings of keepalived's command line and `global_defs`: the umask (`-u`,
//! `umask`), core dumps (`-m`, `-M`), the network namespace (`-s`), and the parent's
//! `startup_script` / `shutdown_script` with their timeouts. [`run_with_timeout`] is the one
//! runner of scripts that are waited for (these two and every `vrrp_script` run), and the
//! reloads `reload_time_file` schedules ([`ScheduledReload`]).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::resource::{setrlimit, Resource, RLIM_INFINITY};
use nix::sys::signal::{killpg, Signal};
use nix::sys::stat::{umask, Mode};
use nix::unistd::Pid;
use rka_config::model::global::UserScript;
use rka_config::Config;

/// The umask keepalived 2.2.7 runs with when neither `-u` nor `umask` sets one (observed:
/// its dump files are created `rw-------`).
pub const DEFAULT_UMASK: u32 = 0o177;

/// The kernel's core pattern file (`-M`).
pub const CORE_PATTERN_FILE: &str = "/proc/sys/kernel/core_pattern";

/// Why a `-u` value was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("Invalid umask '{0}'")]
pub struct BadUmask(pub String);

/// Parses `-u NUMBER` (octal with a leading 0, hex with 0x, else decimal; or `IRUSR|IWGRP...`),
/// keeping only permission bits.
pub fn parse_cli_umask(text: &str) -> Result<u32, BadUmask> {
    match rka_config::model::global::parse_umask(text.trim()) {
        Some(m) if m <= 0o777 => Ok(m),
        _ => Err(BadUmask(text.to_string())),
    }
}

/// The umask to run with: `-u` wins over the configuration's `umask`, else keepalived's
/// default.
pub fn effective_umask(cli: Option<u32>, config: Option<u32>) -> u32 {
    cli.or(config).unwrap_or(DEFAULT_UMASK) & 0o777
}

/// Sets the process umask (children and scripts inherit it).
pub fn set_umask(mask: u32) {
    umask(Mode::from_bits_truncate(mask as libc::mode_t));
}

/// `-m`: lifts both RLIMIT_CORE limits so that a crash leaves a core file.
pub fn enable_core_dumps() -> io::Result<()> {
    setrlimit(Resource::RLIMIT_CORE, RLIM_INFINITY, RLIM_INFINITY).map_err(io::Error::from)
}

/// `-M[=PATTERN]`: the core pattern set while the parent runs; the original comes back when
/// this guard is dropped (a clean exit of the parent).
#[derive(Debug)]
pub struct CorePattern {
    file: PathBuf,
    original: String,
}

impl CorePattern {
    /// Writes `pattern` into `file` (normally [`CORE_PATTERN_FILE`]), remembering what was
    /// there.
    pub fn set(file: &Path, pattern: &str) -> io::Result<CorePattern> {
        let original = fs::read_to_string(file)?;
        fs::write(file, pattern)?;
        Ok(CorePattern {
            file: file.to_path_buf(),
            original: original.trim_end_matches('\n').to_string(),
        })
    }
}

impl Drop for CorePattern {
    fn drop(&mut self) {
        if let Err(e) = fs::write(&self.file, &self.original) {
            tracing::warn!("cannot restore {}: {e}", self.file.display());
        }
    }
}

/// `-s NAME`: moves the calling thread, and every thread and process it starts afterwards,
/// into the named network namespace (`/run/netns/NAME`).
pub fn enter_namespace(name: &str) -> io::Result<()> {
    rka_sys::netns::enter_named(name)
}

/// Which of the parent's two scripts is run (its name in log messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParentScript {
    /// `startup_script`: before the children start.
    Startup,
    /// `shutdown_script`: after the children stopped.
    Shutdown,
}

impl ParentScript {
    fn name(self) -> &'static str {
        match self {
            ParentScript::Startup => "startup",
            ParentScript::Shutdown => "shutdown",
        }
    }

    /// The script and its timeout in `config`, when one is configured.
    pub fn of(self, config: &Config) -> Option<(&UserScript, Duration)> {
        let g = &config.global.simple;
        let (script, secs) = match self {
            ParentScript::Startup => (g.startup_script.as_ref(), g.startup_script_timeout),
            ParentScript::Shutdown => (g.shutdown_script.as_ref(), g.shutdown_script_timeout),
        };
        script.map(|s| (s, Duration::from_secs(u64::from(secs))))
    }
}

/// How a parent script ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptOutcome {
    /// Exit status 0.
    Succeeded,
    /// Another exit status (or a signal: `None`).
    Failed(Option<i32>),
    /// Still running at the timeout: its process group was killed.
    TimedOut,
    /// It could not be started.
    NotRun(String),
}

/// Runs the configured startup or shutdown script, waiting for it up to its timeout (the
/// whole process group is killed then), and logs the outcome. Like keepalived, a failing
/// script does not stop the daemon.
pub async fn run_parent_script(which: ParentScript, config: &Config) -> Option<ScriptOutcome> {
    let (script, timeout) = which.of(config)?;
    let user = script
        .user
        .clone()
        .map(|u| (u, script.group.clone()))
        .or_else(|| crate::vrrp::notify::default_script_user(config));
    tracing::info!(
        "Running {} script {}",
        which.name(),
        script.command.argv.join(" ")
    );
    let outcome = run_with_timeout(&script.command.argv, user.as_ref(), timeout).await;
    match &outcome {
        ScriptOutcome::Succeeded => tracing::info!("{} script succeeded", which.name()),
        ScriptOutcome::Failed(Some(code)) => {
            tracing::warn!("{} script failed, status {code}", which.name())
        }
        ScriptOutcome::Failed(None) => {
            tracing::warn!("{} script failed, killed by a signal", which.name())
        }
        ScriptOutcome::TimedOut => tracing::warn!("{} script timed out", which.name()),
        ScriptOutcome::NotRun(e) => tracing::error!("{} script not run: {e}", which.name()),
    }
    Some(outcome)
}

/// Runs `argv` as `user` in its own process group with stdin, stdout and stderr on /dev/null,
/// waiting up to `timeout`; at the timeout the whole process group is killed. `NotRun`
/// messages start with the program's name.
pub async fn run_with_timeout(
    argv: &[String],
    user: Option<&(String, Option<String>)>,
    timeout: Duration,
) -> ScriptOutcome {
    let Some((program, args)) = argv.split_first() else {
        return ScriptOutcome::NotRun("empty command".into());
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    rka_sys::sched::normal_policy_on_exec(cmd.as_std_mut());
    if let Some((u, g)) = user {
        if let Err(e) = crate::vrrp::notify::apply_user(&mut cmd, u, g.as_deref()) {
            return ScriptOutcome::NotRun(format!("{program}: {e}"));
        }
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return ScriptOutcome::NotRun(format!("{program}: {e}")),
    };
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => ScriptOutcome::Succeeded,
        Ok(Ok(status)) => ScriptOutcome::Failed(status.code()),
        Ok(Err(e)) => ScriptOutcome::NotRun(format!("{program}: {e}")),
        Err(_) => {
            if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            }
            let _ = child.wait().await;
            ScriptOutcome::TimedOut
        }
    }
}

/// Why the content of a `reload_time_file` schedules nothing (keepalived 2.2.7's wording).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReloadTimeError {
    /// Not one of the accepted formats.
    #[error("Reload time {0} format is incorrect - ignoring")]
    Format(String),
    /// A date and time already past.
    #[error("Reload time {0} is in the past - ignoring")]
    Past(String),
}

/// Days from 1970-01-01 to the proleptic Gregorian date (`day` may run past the month's end:
/// it counts on into the next).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since the epoch of `t`, read as UTC (`utc`) or as local time.
fn civil_to_epoch(t: &rka_sys::sched::CivilTime, utc: bool) -> Option<i64> {
    if !utc {
        return rka_sys::sched::local_to_epoch(t);
    }
    let days = days_from_civil(i64::from(t.year), t.month, t.day);
    Some(days * 86_400 + i64::from(t.hour) * 3600 + i64::from(t.minute) * 60 + i64::from(t.second))
}

/// The calendar date and time of `epoch`, in UTC (`utc`) or local time.
fn epoch_to_civil(epoch: i64, utc: bool) -> Option<rka_sys::sched::CivilTime> {
    if !utc {
        return rka_sys::sched::epoch_to_local(epoch);
    }
    let u = crate::utc::Utc::from_unix(epoch);
    Some(rka_sys::sched::CivilTime {
        year: i32::try_from(u.year).ok()?,
        month: u.month,
        day: u.day,
        hour: u.hour,
        minute: u.minute,
        second: u.second,
    })
}

/// `YYYY-MM-DD HH:MM:SS` of `epoch` in local time, as keepalived logs a scheduled reload.
pub fn local_time_text(epoch: i64) -> String {
    match epoch_to_civil(epoch, false) {
        Some(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            t.year, t.month, t.day, t.hour, t.minute, t.second
        ),
        None => format!("@{epoch}"),
    }
}

/// Parses fixed-width ASCII digits.
fn digits(text: &str) -> Option<u32> {
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// `HH:MM:SS` (hour 0-23, minute 0-59, second 0-60 as the C library's `%S`).
fn parse_clock(text: &str) -> Option<(u32, u32, u32)> {
    let b = text.as_bytes();
    if b.len() != 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let (h, m, s) = (
        digits(&text[0..2])?,
        digits(&text[3..5])?,
        digits(&text[6..8])?,
    );
    (h < 24 && m < 60 && s <= 60).then_some((h, m, s))
}

/// `YY-MM-DD` (years 69-99 are 19YY, others 20YY, as `%y`) or `YYYY-MM-DD`; the day may be
/// 1-31 whatever the month (it then counts on into the next, as `mktime` does).
fn parse_date(text: &str) -> Option<(i32, u32, u32)> {
    let (year, rest) = match text.len() {
        8 => {
            let yy = i32::try_from(digits(&text[0..2])?).ok()?;
            (if yy >= 69 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        10 => (i32::try_from(digits(&text[0..4])?).ok()?, &text[4..]),
        _ => return None,
    };
    let b = rest.as_bytes();
    if b[0] != b'-' || b[3] != b'-' {
        return None;
    }
    let (month, day) = (digits(&rest[1..3])?, digits(&rest[4..6])?);
    ((1..=12).contains(&month) && (1..=31).contains(&day)).then_some((year, month, day))
}

/// The time (seconds since the epoch) a `reload_time_file` line asks for, `now` being the
/// current time: `HH:MM:SS` (the next such time, today or tomorrow), `YY-MM-DD HH:MM:SS` or
/// `YYYY-MM-DD HH:MM:SS` (which must lie ahead), each in local time or, with a trailing `Z`,
/// in UTC. Nothing else is accepted: no surrounding blanks, one space between date and time.
pub fn parse_reload_time(line: &str, now: i64) -> Result<i64, ReloadTimeError> {
    let bad = || ReloadTimeError::Format(line.to_string());
    let (text, utc) = match line.strip_suffix('Z') {
        Some(t) => (t, true),
        None => (line, false),
    };
    let (date, clock) = match text.split_once(' ') {
        Some((d, c)) => (Some(parse_date(d).ok_or_else(bad)?), c),
        None => (None, text),
    };
    let (hour, minute, second) = parse_clock(clock).ok_or_else(bad)?;
    let at = |year, month, day| {
        let t = rka_sys::sched::CivilTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
        };
        civil_to_epoch(&t, utc).ok_or_else(bad)
    };
    match date {
        Some((year, month, day)) => {
            let when = at(year, month, day)?;
            if when <= now {
                return Err(ReloadTimeError::Past(line.to_string()));
            }
            Ok(when)
        }
        None => {
            let today = epoch_to_civil(now, utc).ok_or_else(bad)?;
            let when = at(today.year, today.month, today.day)?;
            if when > now {
                Ok(when)
            } else {
                // The same time tomorrow (day 32 and the like count on into the next month).
                at(today.year, today.month, today.day + 1)
            }
        }
    }
}

/// The current time in seconds since the epoch.
fn now_epoch() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `reload_time_file PATH` (with `reload_repeat`): a reload scheduled by the first line of a
/// file, which is followed as keepalived 2.2.7 follows it (observed): read at start and
/// after every reload, read again whenever it is written, created, renamed or removed
/// (removal or a bad line cancels the scheduled reload), and removed when the reload
/// happens unless `reload_repeat` (then a time without a date reloads again the next day).
/// The messages are keepalived's.
#[derive(Debug)]
pub struct ScheduledReload {
    path: PathBuf,
    repeat: bool,
    /// The scheduled time: seconds since the epoch, and the same as a timer deadline.
    at: Option<(i64, tokio::time::Instant)>,
    changes: tokio::sync::mpsc::UnboundedReceiver<()>,
    watcher: tokio::task::JoinHandle<()>,
}

impl Drop for ScheduledReload {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

impl ScheduledReload {
    /// Follows the `reload_time_file` of `global`, if any, and schedules what it holds. Call
    /// within the runtime.
    pub fn start(global: &rka_config::model::global::GlobalDefs) -> Option<ScheduledReload> {
        let path = PathBuf::from(global.simple.reload_time_file.as_deref()?);
        let (tx, changes) = tokio::sync::mpsc::unbounded_channel();
        let mut watcher = match rka_check::file::FileWatcher::new(&path) {
            Ok(w) => w,
            Err(e) => {
                tracing::error!("reload_time_file {}: {e}", path.display());
                return None;
            }
        };
        let watcher = tokio::spawn(async move {
            loop {
                let _ = watcher.changed().await;
                if tx.send(()).is_err() {
                    return;
                }
            }
        });
        let mut s = ScheduledReload {
            path,
            repeat: global.simple.reload_repeat,
            at: None,
            changes,
            watcher,
        };
        s.read();
        Some(s)
    }

    /// The scheduled time (seconds since the epoch), if any.
    pub fn scheduled(&self) -> Option<i64> {
        self.at.map(|(epoch, _)| epoch)
    }

    /// Reads the file again and schedules (or cancels) accordingly.
    fn read(&mut self) {
        let content = match fs::read_to_string(&self.path) {
            Ok(c) => Some(c),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => {
                tracing::warn!("reload_time_file {}: {e}", self.path.display());
                None
            }
        };
        let now = now_epoch();
        let wanted = content.map(|c| {
            let line = c.split('\n').next().unwrap_or_default().to_string();
            match parse_reload_time(&line, now) {
                Ok(at) => Some(at),
                Err(e) => {
                    tracing::error!("{e}");
                    match e {
                        ReloadTimeError::Format(_) => {
                            tracing::error!("Invalid reload time '{line}' specified - ignoring")
                        }
                        ReloadTimeError::Past(_) => {
                            tracing::error!("Reload date/time is in the past - ignoring")
                        }
                    }
                    None
                }
            }
        });
        let wanted = wanted.flatten();
        if wanted == self.scheduled() {
            return;
        }
        if let Some(old) = self.scheduled() {
            tracing::info!("Cancelling reload scheduled for {}", local_time_text(old));
            self.at = None;
        }
        if let Some(at) = wanted {
            tracing::info!("Scheduling reload for {}", local_time_text(at));
            let wait = u64::try_from(at.saturating_sub(now)).unwrap_or(0);
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(wait);
            self.at = Some((at, deadline));
        }
    }

    /// Waits for the scheduled time, following the file meanwhile. Cancel-safe (for
    /// `select!`): the schedule lives in `self`.
    pub async fn due(&mut self) {
        loop {
            let deadline = self.at.map(|(_, d)| d);
            tokio::select! {
                Some(()) = self.changes.recv() => self.read(),
                _ = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                } => {
                    self.at = None;
                    // A time without a date would otherwise be read again after the reload
                    // and reload again tomorrow: the file goes, unless reload_repeat.
                    if !self.repeat {
                        if let Err(e) = fs::remove_file(&self.path) {
                            if e.kind() != io::ErrorKind::NotFound {
                                tracing::warn!("cannot remove {}: {e}", self.path.display());
                            }
                        }
                    }
                    return;
                }
            }
        }
    }
}

/// [`ScheduledReload::due`] of a reload that may not be configured (then never).
pub async fn scheduled_reload_due(s: Option<&mut ScheduledReload>) {
    match s {
        Some(s) => s.due().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_umask_forms() {
        assert_eq!(parse_cli_umask("027"), Ok(0o027));
        assert_eq!(parse_cli_umask("0x12"), Ok(0o022));
        assert_eq!(parse_cli_umask("IWGRP|IWOTH"), Ok(0o022));
        assert!(parse_cli_umask("banana").is_err());
        assert!(parse_cli_umask("07777").is_err());
    }

    #[test]
    fn umask_precedence_is_cli_then_config_then_keepalived_default() {
        assert_eq!(effective_umask(Some(0o27), Some(0o22)), 0o27);
        assert_eq!(effective_umask(None, Some(0o22)), 0o22);
        assert_eq!(effective_umask(None, None), 0o177);
    }

    #[test]
    fn core_pattern_is_restored_on_drop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("core_pattern");
        fs::write(&f, "|/usr/lib/systemd/systemd-coredump %P\n").expect("write");
        {
            let _g = CorePattern::set(&f, "core").expect("set");
            assert_eq!(fs::read_to_string(&f).expect("read"), "core");
        }
        assert_eq!(
            fs::read_to_string(&f).expect("read"),
            "|/usr/lib/systemd/systemd-coredump %P"
        );
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    fn sh(script: &str) -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into(), script.into()]
    }

    #[test]
    fn scripts_succeed_fail_and_time_out() {
        let rt = rt();
        assert_eq!(
            rt.block_on(run_with_timeout(
                &sh("exit 0"),
                None,
                Duration::from_secs(5)
            )),
            ScriptOutcome::Succeeded
        );
        assert_eq!(
            rt.block_on(run_with_timeout(
                &sh("exit 3"),
                None,
                Duration::from_secs(5)
            )),
            ScriptOutcome::Failed(Some(3))
        );
        assert!(matches!(
            rt.block_on(run_with_timeout(
                &["/nonexistent/script".to_string()],
                None,
                Duration::from_secs(5)
            )),
            ScriptOutcome::NotRun(_)
        ));
    }

    #[test]
    fn a_timed_out_script_loses_its_whole_process_group() {
        let dir = tempfile::tempdir().expect("tempdir");
        let marker = dir.path().join("late");
        // The grandchild would write the marker after 2 s unless the group is killed.
        let script = format!("(sleep 2; touch {}) & sleep 10", marker.display());
        let started = std::time::Instant::now();
        let out = rt().block_on(run_with_timeout(
            &sh(&script),
            None,
            Duration::from_millis(300),
        ));
        assert_eq!(out, ScriptOutcome::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(2));
        std::thread::sleep(Duration::from_millis(2500));
        assert!(!marker.exists(), "the script's background job survived");
    }

    #[test]
    fn configured_scripts_and_timeouts_are_found() {
        let opts = rka_config::LoadOptions {
            skip_host_checks: true,
            ..Default::default()
        };
        let cfg = rka_config::load_str(
            "t.conf",
            "global_defs {\n startup_script \"/bin/true a\"\n startup_script_timeout 3\n shutdown_script /bin/false\n}\n",
            &opts,
        )
        .config;
        let (s, t) = ParentScript::Startup.of(&cfg).expect("startup");
        assert_eq!(s.command.argv, vec!["/bin/true", "a"]);
        assert_eq!(t, Duration::from_secs(3));
        let (s, t) = ParentScript::Shutdown.of(&cfg).expect("shutdown");
        assert_eq!(s.command.argv, vec!["/bin/false"]);
        assert_eq!(t, Duration::from_secs(10));
    }

    /// 2026-11-22 12:00:00 UTC.
    const NOON: i64 = 1_795_348_800;

    #[test]
    fn reload_times_in_utc() {
        assert_eq!(days_from_civil(2026, 11, 22) * 86_400, NOON - 12 * 3600);
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        // A time ahead today, or tomorrow once past.
        assert_eq!(parse_reload_time("12:00:05Z", NOON), Ok(NOON + 5));
        assert_eq!(parse_reload_time("11:59:59Z", NOON), Ok(NOON + 86_399));
        assert_eq!(parse_reload_time("12:00:00Z", NOON), Ok(NOON + 86_400));
        // Dates, with two- and four-digit years.
        assert_eq!(
            parse_reload_time("2026-11-23 00:00:00Z", NOON),
            Ok(NOON + 12 * 3600)
        );
        assert_eq!(
            parse_reload_time("26-11-23 00:00:00Z", NOON),
            Ok(NOON + 12 * 3600)
        );
        // The last day of the month, then the day after it counted into the next month.
        assert_eq!(
            parse_reload_time("2026-11-31 12:00:00Z", NOON),
            parse_reload_time("2026-12-01 12:00:00Z", NOON)
        );
        // Past dates are refused as such.
        for past in [
            "2020-01-01 10:00:00Z",
            "26-11-22 12:00:00Z",
            "99-01-01 00:00:00Z",
        ] {
            assert_eq!(
                parse_reload_time(past, NOON),
                Err(ReloadTimeError::Past(past.to_string()))
            );
        }
    }

    #[test]
    fn reload_time_formats_are_exact() {
        for bad in [
            "12:23",
            " 12:00:05Z",
            "12:00:05Z ",
            "12:00:05X",
            "12:00:05 Z",
            "2026-11-23  00:00:00",
            "2026-11-23T00:00:00",
            "2026-13-01 00:00:00",
            "2026-00-01 00:00:00",
            "2026-11-32 00:00:00",
            "24:00:00",
            "12:60:00",
            "1:02:03",
            "+1:02:03",
            "2026-1-01 00:00:00",
            "",
            "Z",
        ] {
            assert_eq!(
                parse_reload_time(bad, NOON),
                Err(ReloadTimeError::Format(bad.to_string())),
                "{bad:?}"
            );
        }
        assert_eq!(
            ReloadTimeError::Format("12:23".into()).to_string(),
            "Reload time 12:23 format is incorrect - ignoring"
        );
    }

    #[test]
    fn reload_times_in_local_time_follow_the_c_library() {
        let now = now_epoch();
        let local = epoch_to_civil(now + 3600, false).expect("local time");
        let line = format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            local.year, local.month, local.day, local.hour, local.minute, local.second
        );
        assert_eq!(parse_reload_time(&line, now), Ok(now + 3600));
        assert_eq!(local_time_text(now + 3600), line);
    }

    #[tokio::test]
    async fn a_scheduled_reload_follows_its_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("reload_at");
        let text = format!("global_defs {{\n reload_time_file {}\n}}\n", file.display());
        let loaded = rka_config::load_str("t.conf", &text, &rka_config::LoadOptions::default());
        let global = loaded.config.global;
        let mut s = ScheduledReload::start(&global).expect("configured");
        assert_eq!(s.scheduled(), None);
        // Written: scheduled; rewritten with a bad line: cancelled; a time 1 s ahead: due.
        let later = crate::utc::Utc::from_unix(now_epoch() + 3600);
        fs::write(
            &file,
            format!(
                "{:02}:{:02}:{:02}Z\nignored\n",
                later.hour, later.minute, later.second
            ),
        )
        .expect("write");
        let _ = tokio::time::timeout(Duration::from_millis(600), s.due()).await;
        assert!(s
            .scheduled()
            .is_some_and(|at| (at - now_epoch() - 3600).abs() <= 2));
        fs::write(&file, "soon\n").expect("write");
        let _ = tokio::time::timeout(Duration::from_millis(600), s.due()).await;
        assert_eq!(s.scheduled(), None);
        let soon = crate::utc::Utc::from_unix(now_epoch() + 2);
        fs::write(
            &file,
            format!("{:02}:{:02}:{:02}Z", soon.hour, soon.minute, soon.second),
        )
        .expect("write");
        tokio::time::timeout(Duration::from_secs(5), s.due())
            .await
            .expect("the reload comes due");
        assert!(
            !file.exists(),
            "the file goes after the reload without reload_repeat"
        );
    }
}
