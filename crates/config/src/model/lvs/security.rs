//! Script security of the LVS side: who the `quorum_*`, `notify_*` and `misc_path` scripts run
//! as, and whether a script run as root could be replaced by another user.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::diag::Origin;

use super::super::global::GlobalDefs;
use super::super::Ctx;
use super::checker::CheckerKind;
use super::LvsConfig;

/// The user scripts run as when none is given, if it exists.
pub const DEFAULT_SCRIPT_USER: &str = "keepalived_script";

/// `enable_script_security` from `global_defs`, once the global model carries it; `None`
/// until then, in which case the checks that depend on it are not made.
pub fn global_script_security(_global: &GlobalDefs) -> Option<bool> {
    None
}

/// One script of the LVS side.
struct ScriptRef<'a> {
    origin: &'a Origin,
    program: &'a str,
    user: Option<&'a str>,
}

fn scripts(lvs: &LvsConfig) -> Vec<ScriptRef<'_>> {
    let mut out = Vec::new();
    for vs in &lvs.virtual_servers {
        for s in [&vs.quorum_up, &vs.quorum_down].into_iter().flatten() {
            out.push(ScriptRef {
                origin: &vs.origin,
                program: s.command.program(),
                user: s.user.as_deref(),
            });
        }
        for rs in &vs.real_servers {
            for s in [&rs.notify_up, &rs.notify_down].into_iter().flatten() {
                out.push(ScriptRef {
                    origin: &rs.origin,
                    program: s.command.program(),
                    user: s.user.as_deref(),
                });
            }
            for c in &rs.checkers {
                if let CheckerKind::Misc(m) = &c.kind {
                    out.push(ScriptRef {
                        origin: &c.origin,
                        program: m.path.program(),
                        user: m.user.as_deref(),
                    });
                }
            }
        }
    }
    out
}

/// True when `path` or one of its directories can be written by a user other than root.
pub fn writable_by_non_root(path: &Path) -> bool {
    let mut cur = Some(path);
    while let Some(p) = cur {
        if let Ok(md) = std::fs::metadata(p) {
            let mode = md.mode();
            let sticky_dir = md.is_dir() && mode & 0o1000 != 0;
            if md.uid() != 0 || (mode & 0o022 != 0 && !sticky_dir) {
                return true;
            }
        }
        cur = p.parent();
    }
    false
}

/// Finds the file a script program names: itself when it has a `/`, else the first match
/// on `PATH`.
pub fn find_program(program: &str) -> Option<std::path::PathBuf> {
    if program.contains('/') {
        let p = Path::new(program);
        return p.is_file().then(|| p.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// The script-security checks, given `enable_script_security`. They look at the host (users,
/// script files), so they are skipped under `skip_host_checks`.
///
/// Without script security, a script that exists and would run as root is a security
/// violation (keepalived 2.2.7 exits 6 under `-t`; a script that does not exist is not
/// reported). With it, keepalived refuses the scripts that name no user when the default
/// script user does not exist (a warning), and a script run as root that another user could
/// replace is a security violation.
pub fn check_scripts(ctx: &mut Ctx<'_>, lvs: &mut LvsConfig, script_security: bool) {
    if ctx.opts.skip_host_checks {
        return;
    }
    let default_user_exists = rka_sys::host::user_by_name(DEFAULT_SCRIPT_USER).is_some();
    let runs_as_root = |user: Option<&str>| match user {
        None => !default_user_exists,
        Some(u) => u == "root" || rka_sys::host::user_by_name(u).is_some_and(|i| i.uid == 0),
    };
    if script_security && !default_user_exists {
        drop_userless_scripts(ctx, lvs);
    }
    let list = scripts(lvs);
    if !script_security {
        let mut violation = false;
        let mut insecure = false;
        for s in &list {
            if !runs_as_root(s.user) {
                continue;
            }
            if let Some(p) = find_program(s.program) {
                violation = true;
                insecure |= writable_by_non_root(&p);
            }
        }
        if violation {
            let mut msg = String::from(
                "SECURITY VIOLATION - check scripts are being executed but script_security not enabled.",
            );
            if insecure {
                msg.push_str(" There are insecure scripts.");
            }
            ctx.diags.security(None, msg);
        }
        return;
    }
    for s in &list {
        if !runs_as_root(s.user) {
            continue;
        }
        if let Some(p) = find_program(s.program) {
            if writable_by_non_root(&p) {
                ctx.diags.security(
                    Some(s.origin),
                    format!(
                        "unsafe permissions found for script '{}' - it would run as root",
                        s.program
                    ),
                );
            }
        }
    }
}

/// With script security and no default script user, keepalived refuses every script that
/// names no user: notify and quorum scripts are dropped, and so are such `MISC_CHECK`s.
fn drop_userless_scripts(ctx: &mut Ctx<'_>, lvs: &mut LvsConfig) {
    let refuse = |ctx: &mut Ctx<'_>, origin: &Origin, program: &str| {
        ctx.diags.warn(
            origin,
            format!("Unable to set default user {DEFAULT_SCRIPT_USER} for script '{program}' - removing"),
        );
    };
    for vs in &mut lvs.virtual_servers {
        for slot in [&mut vs.quorum_up, &mut vs.quorum_down] {
            if slot.as_ref().is_some_and(|s| s.user.is_none()) {
                if let Some(s) = slot.take() {
                    refuse(ctx, &vs.origin, s.command.program());
                }
            }
        }
        for rs in &mut vs.real_servers {
            for slot in [&mut rs.notify_up, &mut rs.notify_down] {
                if slot.as_ref().is_some_and(|s| s.user.is_none()) {
                    if let Some(s) = slot.take() {
                        refuse(ctx, &rs.origin, s.command.program());
                    }
                }
            }
            rs.checkers.retain(|c| match &c.kind {
                CheckerKind::Misc(m) if m.user.is_none() => {
                    refuse(ctx, &c.origin, m.path.program());
                    false
                }
                _ => true,
            });
        }
    }
}
