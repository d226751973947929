//! LVS notifications: FIFO lines (`VS [10.0.0.1]:tcp:80 UP`,
//! `RS [10.0.0.2]:tcp:80 [10.0.0.1]:tcp:80 DOWN`) and the `notify_up`/`notify_down`/
//! `quorum_up`/`quorum_down` scripts.

use std::fs::File;
use std::io::Write;

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
        let fifos = crate::fifo::open_fifos(
            [&g.notify_fifo, &g.lvs_notify_fifo]
                .into_iter()
                .flatten()
                .map(|f| f.path.as_str()),
            "LVS notify FIFO",
        );
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
