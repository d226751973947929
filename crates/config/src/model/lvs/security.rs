//! Script security of the LVS side: who the `quorum_*`, `notify_*` and `misc_path` scripts run
//! as, and whether a script run as root could be replaced by another user.
//!
//! As observed with `keepalived -t` 2.2.7 (running as root):
//! - without `enable_script_security`, any LVS script whose program exists and that would run
//!   as root is a security violation (exit 6, "check scripts"), with " There are insecure
//!   scripts." added when one of them can be replaced by another user; a program that does
//!   not exist is not counted;
//! - with it, scripts that name no user are refused when neither `script_user` nor the
//!   `keepalived_script` user exists (a warning; a `MISC_CHECK` is removed), and a script that
//!   would run as root but can be replaced is disabled. keepalived says nothing about the
//!   latter under `-t` (exit 0), so it is reported as information only.
//!
//! All of it looks at the host (users, files), so nothing is checked under
//! `skip_host_checks`.

use std::path::{Path, PathBuf};

use crate::diag::Origin;

use super::super::global::GlobalDefs;
use super::super::vrrp::validate::is_insecure;
use super::super::Ctx;
use super::checker::CheckerKind;
use super::LvsConfig;

/// The user scripts run as when neither the script nor `script_user` names one, if it exists.
pub const DEFAULT_SCRIPT_USER: &str = "keepalived_script";

/// Finds the file a script program names: itself when it has a `/`, else the first match
/// on `PATH`.
pub fn find_program(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let p = Path::new(program);
        return p.is_file().then(|| p.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Notes a script named without a path and found by searching `PATH`, as a running
/// keepalived does once per script (not under `-t`).
pub(crate) fn note_path_search(ctx: &mut Ctx<'_>, program: &str, found: &Path) {
    if !program.contains('/') {
        ctx.diags.runtime_note(
            None,
            format!(
                "WARNING - script `{program}` resolved by path search to `{}`. Please specify full path.",
                found.display()
            ),
        );
    }
}

/// Where a script sits in the LVS model, to remove it.
#[derive(Clone, Copy)]
enum Slot {
    QuorumUp(usize),
    QuorumDown(usize),
    NotifyUp(usize, usize),
    NotifyDown(usize, usize),
    Misc(usize, usize, usize),
}

/// One script of the LVS side.
struct ScriptRef {
    slot: Slot,
    origin: Origin,
    program: String,
    /// Its words as keepalived's lines quote them (`'prog' 'arg'`).
    quoted: String,
    user: Option<String>,
}

/// A command's words as keepalived's `cmd_str` prints them: each in single quotes, spaced.
fn quoted(argv: &[String]) -> String {
    argv.iter()
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The LVS side's scripts in the order keepalived 2.2.7 checks them: every MISC_CHECK first,
/// then each virtual server's `quorum_up`, `quorum_down` and its real servers' `notify_up`,
/// `notify_down`.
fn scripts(lvs: &LvsConfig) -> Vec<ScriptRef> {
    let mut out = Vec::new();
    for (v, vs) in lvs.virtual_servers.iter().enumerate() {
        for (r, rs) in vs.real_servers.iter().enumerate() {
            for (c, ch) in rs.checkers.iter().enumerate() {
                if let CheckerKind::Misc(m) = &ch.kind {
                    out.push(ScriptRef {
                        slot: Slot::Misc(v, r, c),
                        origin: ch.origin.clone(),
                        program: m.path.program().to_string(),
                        quoted: quoted(&m.path.argv),
                        user: m.user.clone(),
                    });
                }
            }
        }
    }
    for (v, vs) in lvs.virtual_servers.iter().enumerate() {
        let quorum = [
            (Slot::QuorumUp(v), &vs.quorum_up),
            (Slot::QuorumDown(v), &vs.quorum_down),
        ];
        for (slot, s) in quorum {
            if let Some(s) = s {
                out.push(ScriptRef {
                    slot,
                    origin: vs.origin.clone(),
                    program: s.command.program().to_string(),
                    quoted: quoted(&s.command.argv),
                    user: s.user.clone(),
                });
            }
        }
        for (r, rs) in vs.real_servers.iter().enumerate() {
            let notify = [
                (Slot::NotifyUp(v, r), &rs.notify_up),
                (Slot::NotifyDown(v, r), &rs.notify_down),
            ];
            for (slot, s) in notify {
                if let Some(s) = s {
                    out.push(ScriptRef {
                        slot,
                        origin: rs.origin.clone(),
                        program: s.command.program().to_string(),
                        quoted: quoted(&s.command.argv),
                        user: s.user.clone(),
                    });
                }
            }
        }
    }
    out
}

/// Removes the scripts at `slots`; MISC checkers are removed from the highest index down so
/// the others keep their place.
fn remove(lvs: &mut LvsConfig, mut slots: Vec<Slot>) {
    slots.sort_by_key(|s| match *s {
        Slot::Misc(v, r, c) => std::cmp::Reverse((v, r, c)),
        _ => std::cmp::Reverse((usize::MAX, 0, 0)),
    });
    for slot in slots {
        match slot {
            Slot::QuorumUp(v) => lvs.virtual_servers[v].quorum_up = None,
            Slot::QuorumDown(v) => lvs.virtual_servers[v].quorum_down = None,
            Slot::NotifyUp(v, r) => lvs.virtual_servers[v].real_servers[r].notify_up = None,
            Slot::NotifyDown(v, r) => lvs.virtual_servers[v].real_servers[r].notify_down = None,
            Slot::Misc(v, r, c) => {
                lvs.virtual_servers[v].real_servers[r].checkers.remove(c);
            }
        }
    }
}

/// Why a script cannot run, as keepalived 2.2.7 tells it (`None` inside when it says
/// nothing), or `None` when it can: a bare name not on `PATH` ("Cannot find script X in path -
/// disabling"), a path that does not resolve ("Script X cannot be accessed - <error>"), a
/// file its user (`ids`: uid, gid) cannot execute (silent).
fn unrunnable(
    program: &str,
    found: Option<&Path>,
    ids: Option<(u32, u32)>,
) -> Option<Option<String>> {
    use std::os::unix::fs::MetadataExt as _;
    let Some(found) = found else {
        if !program.contains('/') {
            return Some(Some(format!(
                "Cannot find script {program} in path - disabling"
            )));
        }
        let why = match std::fs::canonicalize(program) {
            Err(e) => e
                .raw_os_error()
                .map_or_else(|| e.to_string(), rka_sys::host::strerror),
            // Resolves, but is no file (a directory): not executable.
            Ok(_) => return Some(None),
        };
        return Some(Some(format!("Script {program} cannot be accessed - {why}")));
    };
    let Ok(meta) = std::fs::metadata(found) else {
        return Some(Some(format!(
            "Unable to access script `{program}` - disabling"
        )));
    };
    // The user was refused elsewhere when unknown.
    let (uid, gid) = ids?;
    let mode = meta.mode();
    let executable = (uid == 0 && mode & 0o111 != 0)
        || (uid == meta.uid() && mode & 0o100 != 0)
        || (uid != meta.uid()
            && ((gid == meta.gid() && mode & 0o010 != 0)
                || (gid != meta.gid() && mode & 0o001 != 0)));
    (!executable).then_some(None)
}

/// True when a script of the LVS side (MISC_CHECK, notify and quorum scripts) names no user
/// of its own and `script_user` is unset: it then runs as [`DEFAULT_SCRIPT_USER`] if that
/// user exists (the checker child says when it does not).
pub fn needs_default_script_user(lvs: &LvsConfig, global: &GlobalDefs) -> bool {
    global.script_user_name().is_none()
        && (lvs.had_userless_scripts
            || scripts(lvs).iter().any(|s| s.user.is_none())
            || global
                .simple
                .lvs_notify_fifo_script
                .as_ref()
                .is_some_and(|u| u.user.is_none()))
}

/// The script-security checks of the LVS side, given the global settings
/// (`enable_script_security`, `script_user`). See the module documentation. Its diagnostics
/// are the checker child's to log ([`crate::Diagnostic::script`]).
pub fn check_scripts(ctx: &mut Ctx<'_>, lvs: &mut LvsConfig, global: &GlobalDefs) {
    let start = ctx.diags.len();
    check_lvs_scripts(ctx, lvs, global);
    ctx.diags.mark_script_since(start);
}

/// What [`check_scripts`] checks: each LVS script's user and program (a script that cannot
/// run safely is removed), then whether scripts run without `enable_script_security`.
fn check_lvs_scripts(ctx: &mut Ctx<'_>, lvs: &mut LvsConfig, global: &GlobalDefs) {
    if ctx.opts.skip_host_checks {
        return;
    }
    let secure = global.simple.enable_script_security;
    let root = rka_sys::host::effective_uid() == 0;
    let default_user = global
        .script_user_name()
        .map(str::to_string)
        .or_else(|| rka_sys::host::user_by_name(DEFAULT_SCRIPT_USER).map(|u| u.name));
    let list = scripts(lvs);
    lvs.had_userless_scripts = list.iter().any(|s| s.user.is_none());
    let mut any = false;
    let mut insecure_any = false;
    let mut refused = Vec::new();
    for s in &list {
        if s.user
            .as_deref()
            .is_some_and(|u| rka_sys::host::user_by_name(u).is_none())
        {
            // keepalived 2.2.7 -t: 5, and the script cannot run.
            ctx.diags.warn(
                &s.origin,
                format!("Unable to set uid/gid for script '{}'", s.program),
            );
            refused.push(s.slot);
            continue;
        }
        let program = find_program(&s.program);
        if let Some(found) = &program {
            note_path_search(ctx, &s.program, found);
        }
        let user = s.user.clone().or_else(|| default_user.clone());
        let ids = match &user {
            None => Some((0, 0)),
            Some(u) => rka_sys::host::user_by_name(u).map(|i| (i.uid, i.gid)),
        };
        // An unknown user counts as not root: keepalived refuses it elsewhere.
        let as_root = ids.is_some_and(|(uid, _)| uid == 0);
        // A script that is not there, or that its user cannot execute, is dropped, as
        // keepalived 2.2.7's checker child does whatever the security settings (its
        // `check_script_secure`): the lines say why, a MISC_CHECK's too, and its real server
        // keeps its other checkers (none: always up).
        if let Some(why) = unrunnable(&s.program, program.as_deref(), ids) {
            // A file that is there counts for the security verdict all the same.
            if !secure && program.is_some() && as_root {
                any = true;
                insecure_any |= program.as_deref().is_some_and(is_insecure);
            }
            // Plain lines (no file and line), as keepalived's log_message.
            if let Some(line) = why {
                ctx.diags.runtime_note(None, line);
            }
            if matches!(s.slot, Slot::Misc(..)) && program.is_none() {
                ctx.diags.runtime_note(
                    None,
                    format!(
                        "Disabling misc script {} since not found/accessible",
                        s.quoted
                    ),
                );
            }
            refused.push(s.slot);
            continue;
        }
        let insecure = program.as_deref().is_some_and(is_insecure);
        if !secure {
            if program.is_some() && as_root {
                any = true;
                insecure_any |= insecure;
            }
            continue;
        }
        if user.is_none() {
            ctx.diags.warn(
                &s.origin,
                format!(
                    "Unable to set default user {DEFAULT_SCRIPT_USER} for script '{}' - removing",
                    s.program
                ),
            );
            refused.push(s.slot);
        } else if as_root && insecure {
            ctx.diags.runtime_note(
                Some(&s.origin),
                format!("Disabling script {} due to insecure", s.program),
            );
            refused.push(s.slot);
        }
    }
    remove(lvs, refused);
    if any && root {
        let mut msg = String::from(
            "SECURITY VIOLATION - check scripts are being executed but script_security not enabled.",
        );
        if insecure_any {
            msg.push_str(" There are insecure scripts.");
        }
        ctx.diags.security(None, msg);
    }
}
