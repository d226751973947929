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

/// The script-security checks, given `enable_script_security`.
///
/// Without it, any script that would run as root is a security violation (keepalived 2.2.7
/// exits 6 under `-t`). With it, a script run as root that another user could replace is a
/// security violation; when the default script user does not exist, keepalived refuses the
/// scripts that did not name a user (a warning).
pub fn check_scripts(ctx: &mut Ctx<'_>, lvs: &LvsConfig, script_security: bool) {
    let host = !ctx.opts.skip_host_checks;
    let default_user_exists =
        host && rka_sys::host::user_by_name(DEFAULT_SCRIPT_USER).is_some();
    let runs_as_root = |user: Option<&str>| match user {
        None => !default_user_exists,
        Some(u) => u == "root" || (host && rka_sys::host::user_by_name(u).is_some_and(|i| i.uid == 0)),
    };
    let list = scripts(lvs);
    if !script_security {
        if list.iter().any(|s| runs_as_root(s.user)) {
            ctx.diags.security(
                None,
                "SECURITY VIOLATION - check scripts are being executed but script_security not enabled.",
            );
        }
        return;
    }
    for s in &list {
        if s.user.is_none() && host && !default_user_exists {
            ctx.diags.warn(
                s.origin,
                format!("Unable to set default user {DEFAULT_SCRIPT_USER} for script '{}'", s.program),
            );
            continue;
        }
        if host && runs_as_root(s.user) && writable_by_non_root(Path::new(s.program)) {
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
