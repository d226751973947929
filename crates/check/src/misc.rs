//! MISC_CHECK: run a program; exit 0 is up, 1 down; with `misc_dynamic` 2..255 is up with
//! weight = status - 2. The program runs in its own process group, which is killed whole on
//! `misc_timeout`.

use std::os::unix::process::ExitStatusExt as _;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::{Group, Pid, User};

use crate::error::ConfigError;
use crate::outcome::{Failure, ProbeResult, Reason, Success};

/// The MISC_CHECK parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MiscParams {
    /// `misc_path` split into program and arguments (no shell is involved).
    pub argv: Vec<String>,
    /// `misc_timeout` (keepalived defaults it to `delay_loop`).
    pub timeout: Duration,
    /// `misc_dynamic`.
    pub dynamic: bool,
    /// `user`: uid to run as.
    pub uid: Option<u32>,
    /// `user`'s group, or the given group: gid to run as.
    pub gid: Option<u32>,
}

impl MiscParams {
    /// Run `argv` with a timeout, as the current user.
    pub fn new(argv: Vec<String>, timeout: Duration) -> Result<Self, ConfigError> {
        if argv.first().is_none_or(|p| p.is_empty()) {
            return Err(ConfigError::EmptyMiscPath);
        }
        Ok(MiscParams {
            argv,
            timeout,
            dynamic: false,
            uid: None,
            gid: None,
        })
    }

    /// Run as `user`, in `group` or else the user's primary group.
    pub fn set_user(&mut self, user: &str, group: Option<&str>) -> Result<(), ConfigError> {
        let u = User::from_name(user)
            .ok()
            .flatten()
            .ok_or_else(|| ConfigError::UnknownId {
                kind: "user",
                name: user.to_string(),
            })?;
        let gid = match group {
            Some(g) => {
                Group::from_name(g)
                    .ok()
                    .flatten()
                    .ok_or_else(|| ConfigError::UnknownId {
                        kind: "group",
                        name: g.to_string(),
                    })?
                    .gid
            }
            None => u.gid,
        };
        self.uid = Some(u.uid.as_raw());
        self.gid = Some(gid.as_raw());
        Ok(())
    }
}

/// Split a `misc_path` line into arguments: whitespace separates, double or single quotes group.
pub fn split_command(line: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut in_arg = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_arg = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_arg {
                    args.push(std::mem::take(&mut cur));
                    in_arg = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_arg = true;
            }
        }
    }
    if in_arg {
        args.push(cur);
    }
    args
}

/// The program a MISC_CHECK runs as keepalived 2.2.7 names it in its log lines: the command's
/// first word, looked up in `PATH` when it has no `/`, with its directory's symbolic links
/// resolved but not the file's own (observed on a merged-/usr system: `/bin/false` shows as
/// `/usr/bin/false`, `/bin/sh` as `/usr/bin/sh` although it links to `dash`). A path that
/// cannot be resolved is shown as given.
pub fn program_path(program: &str) -> String {
    let found = if program.contains('/') {
        Some(std::path::PathBuf::from(program))
    } else {
        let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file() && rka_sys::host::is_executable(p))
    };
    let Some(found) = found else {
        return program.to_string();
    };
    match (found.parent(), found.file_name()) {
        (Some(dir), Some(name)) if !dir.as_os_str().is_empty() => std::fs::canonicalize(dir)
            .map(|d| d.join(name).to_string_lossy().into_owned())
            .unwrap_or_else(|_| found.to_string_lossy().into_owned()),
        _ => found.to_string_lossy().into_owned(),
    }
}

/// Translate an exit status into a result. Under `misc_dynamic` exit 0 reports no weight:
/// the real server's configured weight applies again (keepalived 2.2.7, observed: exit 12
/// gives weight 10, a later exit 0 the configured weight, not 10; the checker state turns it
/// into [`crate::CheckerEvent::WeightReset`]).
pub fn judge(code: Option<i32>, signal: Option<i32>, dynamic: bool) -> ProbeResult {
    match (code, signal) {
        (Some(0), _) => Ok(Success::default()),
        (Some(1), _) => Err(Reason::MiscExit { status: 1 }.into()),
        (Some(c @ 2..=255), _) if dynamic => Ok(Success::weighted(Some(i64::from(c) - 2))),
        (Some(c), _) => Err(Reason::MiscExit { status: c }.into()),
        (None, Some(s)) => Err(Reason::MiscSignal { signal: s }.into()),
        (None, None) => Err(Reason::MiscNoStatus.into()),
    }
}

/// Run the program and judge its exit status.
pub async fn probe(p: &MiscParams) -> ProbeResult {
    let Some((prog, args)) = p.argv.split_first() else {
        return Err(Failure::new("MISC_CHECK has no program"));
    };
    let mut cmd = tokio::process::Command::new(prog);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    // Under `checker_rt_priority` the program runs under the normal policy, as keepalived's.
    rka_sys::sched::normal_policy_on_exec(cmd.as_std_mut());
    if let Some(gid) = p.gid {
        cmd.gid(gid);
    }
    if let Some(uid) = p.uid {
        cmd.uid(uid);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| Failure::new(format!("cannot run {prog}: {e}")))?;
    let pgid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);
    match tokio::time::timeout(p.timeout, child.wait()).await {
        Ok(Ok(status)) => judge(status.code(), status.signal(), p.dynamic),
        Ok(Err(e)) => Err(Failure::new(format!("waiting for {prog} failed: {e}"))),
        Err(_) => {
            if let Some(pg) = pgid {
                let _ = killpg(pg, Signal::SIGKILL);
            }
            let _ = child.kill().await;
            Err(Reason::MiscTimeout {
                program: prog.as_str().into(),
                after: p.timeout,
            }
            .into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;

    fn script(dir: &tempfile::TempDir, name: &str, body: &str) -> String {
        let path = dir.path().join(name);
        let mut f = std::fs::File::create(&path).expect("create");
        writeln!(f, "#!/bin/sh\n{body}").expect("write");
        drop(f);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path.to_string_lossy().into_owned()
    }

    #[test]
    fn judge_statuses() {
        assert_eq!(judge(Some(0), None, false), Ok(Success::default()));
        assert!(judge(Some(1), None, true).is_err());
        assert!(judge(Some(12), None, false).is_err());
        assert_eq!(judge(Some(12), None, true), Ok(Success::weighted(Some(10))));
        assert_eq!(judge(Some(2), None, true), Ok(Success::weighted(Some(0))));
        assert!(judge(None, Some(9), true).is_err());
    }

    #[test]
    fn dynamic_exit_zero_reports_no_weight() {
        // The configured weight then applies again (state.rs: WeightReset; director.rs).
        assert_eq!(judge(Some(0), None, true), Ok(Success::weighted(None)));
    }

    #[test]
    fn program_paths_resolve_the_directory_not_the_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let real = dir.path().join("real");
        std::fs::create_dir(&real).expect("mkdir");
        let prog = script(&dir, "real/prog", "exit 0");
        std::os::unix::fs::symlink(&real, dir.path().join("link")).expect("dir link");
        std::os::unix::fs::symlink(&prog, real.join("alias")).expect("file link");
        let canonical = std::fs::canonicalize(&real).expect("canonical");
        let shown = program_path(&dir.path().join("link/alias").to_string_lossy());
        assert_eq!(shown, canonical.join("alias").to_string_lossy());
        // A path that does not resolve, and a name found nowhere, are shown as given.
        assert_eq!(program_path("/no/such/dir/prog"), "/no/such/dir/prog");
        assert_eq!(program_path("no-such-program-xyz"), "no-such-program-xyz");
        // A bare name is looked up in PATH.
        let sh = program_path("sh");
        assert!(sh.starts_with('/') && sh.ends_with("/sh"), "{sh}");
    }

    #[test]
    fn split_handles_quotes() {
        assert_eq!(
            split_command(r#"/bin/check "a b" c 'd e' "" "#),
            vec!["/bin/check", "a b", "c", "d e", ""]
        );
        assert!(MiscParams::new(split_command("   "), Duration::from_secs(1)).is_err());
    }

    #[tokio::test]
    async fn exit_codes_and_arguments() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = script(&dir, "c.sh", "exit \"$1\"");
        let mk = |code: &str, dynamic| {
            let mut p = MiscParams::new(vec![s.clone(), code.into()], Duration::from_secs(5))
                .expect("params");
            p.dynamic = dynamic;
            p
        };
        assert!(probe(&mk("0", false)).await.is_ok());
        assert!(probe(&mk("1", false)).await.is_err());
        assert!(probe(&mk("7", false)).await.is_err());
        assert_eq!(probe(&mk("7", true)).await, Ok(Success::weighted(Some(5))));
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_group() {
        let dir = tempfile::tempdir().expect("tmp");
        let marker = dir.path().join("grandchild-alive");
        let s = script(
            &dir,
            "slow.sh",
            &format!("(sleep 1; touch {}) &\nsleep 30", marker.display()),
        );
        let p = MiscParams::new(vec![s], Duration::from_millis(300)).expect("params");
        let start = std::time::Instant::now();
        let e = probe(&p).await.expect_err("timeout");
        assert!(e.reason.contains("timed out"), "{}", e.reason);
        assert!(start.elapsed() < Duration::from_secs(3));
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(
            !marker.exists(),
            "the background child survived the group kill"
        );
    }

    #[tokio::test]
    async fn missing_program_fails() {
        let p = MiscParams::new(vec!["/nonexistent/prog".into()], Duration::from_secs(1))
            .expect("params");
        let e = probe(&p).await.expect_err("missing");
        assert!(e.reason.contains("cannot run"), "{}", e.reason);
    }

    #[tokio::test]
    async fn runs_as_another_user() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let s = script(&dir, "who.sh", "[ \"$(id -u)\" = \"$1\" ]");
        let Some(nobody) = User::from_name("nobody").ok().flatten() else {
            panic!("no user nobody on this system");
        };
        let mut p = MiscParams::new(vec![s, nobody.uid.to_string()], Duration::from_secs(5))
            .expect("params");
        if nix::unistd::geteuid().is_root() {
            p.set_user("nobody", None).expect("user");
            assert!(probe(&p).await.is_ok());
        } else {
            // Without root the uid cannot change: the script sees our uid and fails.
            assert!(probe(&p).await.is_err());
        }
        assert!(p.set_user("no-such-user-xyz", None).is_err());
    }
}
