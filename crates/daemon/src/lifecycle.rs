//! Process-level settings of keepalived's command line and `global_defs`: the umask (`-u`,
//! `umask`), core dumps (`-m`, `-M`), the network namespace (`-s`), and the parent's
//! `startup_script` / `shutdown_script` with their timeouts. [`run_with_timeout`] is the one
//! runner of scripts that are waited for (these two and every `vrrp_script` run).

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
}
