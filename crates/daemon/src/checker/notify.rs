//! LVS notifications: FIFO lines (`VS [10.0.0.1]:tcp:80 UP`,
//! `RS [10.0.0.2]:tcp:80 [10.0.0.1]:tcp:80 DOWN`) and the `notify_up`/`notify_down`/
//! `quorum_up`/`quorum_down` scripts.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use rka_config::model::lvs::LvsScript;
use rka_config::Config;

/// The FIFO line of a virtual server's quorum change.
pub fn vs_line(vs: &str, up: bool) -> String {
    format!("VS {vs} {}\n", if up { "UP" } else { "DOWN" })
}

/// The FIFO line of a real server's change.
pub fn rs_line(rs: &str, vs: &str, up: bool) -> String {
    format!("RS {rs} {vs} {}\n", if up { "UP" } else { "DOWN" })
}

/// Writes LVS FIFO lines and runs LVS scripts.
#[derive(Debug, Default)]
pub struct LvsNotifier {
    fifos: Vec<(String, File)>,
    default_user: Option<(String, Option<String>)>,
}

impl LvsNotifier {
    /// Opens `notify_fifo` and `lvs_notify_fifo` (creating them when missing).
    pub fn new(config: &Config) -> LvsNotifier {
        let g = &config.global.simple;
        let mut fifos: Vec<(String, File)> = Vec::new();
        for f in [&g.notify_fifo, &g.lvs_notify_fifo].into_iter().flatten() {
            if fifos.iter().any(|(p, _)| *p == f.path) {
                continue;
            }
            if !std::path::Path::new(&f.path).exists() {
                if let Err(e) = nix::unistd::mkfifo(
                    f.path.as_str(),
                    nix::sys::stat::Mode::from_bits_truncate(0o600),
                ) {
                    tracing::error!("cannot create LVS notify FIFO {}: {e}", f.path);
                    continue;
                }
            }
            // Read-write: opening never blocks and writes never fail for want of a reader.
            match OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&f.path)
            {
                Ok(file) => fifos.push((f.path.clone(), file)),
                Err(e) => tracing::error!("cannot open LVS notify FIFO {}: {e}", f.path),
            }
        }
        LvsNotifier {
            fifos,
            default_user: config.global.script_user.clone(),
        }
    }

    /// Writes `line` to every FIFO, then runs `script` in the background.
    pub fn notify(&mut self, line: &str, script: Option<&LvsScript>) {
        for (path, f) in &mut self.fifos {
            if let Err(e) = f.write_all(line.as_bytes()) {
                tracing::warn!("LVS notify FIFO {path}: {e}");
            }
        }
        if let Some(s) = script {
            let user = s
                .user
                .clone()
                .map(|u| (u, s.group.clone()))
                .or_else(|| self.default_user.clone());
            crate::vrrp::notify::spawn_script(s.command.argv.clone(), user.as_ref());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_as_keepalived_writes_them() {
        assert_eq!(
            vs_line("[10.0.0.1]:tcp:80", true),
            "VS [10.0.0.1]:tcp:80 UP\n"
        );
        assert_eq!(
            rs_line("[10.0.0.2]:tcp:80", "[10.0.0.1]:tcp:80", false),
            "RS [10.0.0.2]:tcp:80 [10.0.0.1]:tcp:80 DOWN\n"
        );
    }
}
