//! Notifications: `notify_*` scripts (run in the background, never awaited by the engine) and
//! lines written to the notify FIFOs (`notify_fifo`, `vrrp_notify_fifo`).

use std::fs::File;
use std::io::Write;

use rka_config::model::global::UserScript;
use rka_config::Config;
use rka_vrrp::State;

/// Who a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject<'a> {
    /// A `vrrp_instance`.
    Instance(&'a str),
    /// A `vrrp_sync_group`.
    Group(&'a str),
}

impl Subject<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Subject::Instance(_) => "INSTANCE",
            Subject::Group(_) => "GROUP",
        }
    }

    fn name(&self) -> &str {
        match self {
            Subject::Instance(n) | Subject::Group(n) => n,
        }
    }
}

/// What a notification reports: entering a state, or a new priority while in one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The state was entered.
    Entered(State),
    /// The effective priority changed while in the state (`notify_priority_changes`).
    Priority(State),
}

impl Event {
    /// The word keepalived writes: `MASTER`, or `MASTER_PRIORITY` for a priority change.
    pub fn word(self) -> String {
        match self {
            Event::Entered(s) => s.as_str().to_owned(),
            Event::Priority(s) => format!("{}_PRIORITY", s.as_str()),
        }
    }
}

/// The FIFO line keepalived writes: `INSTANCE "VI_1" MASTER 100`, and on a priority change
/// `INSTANCE "VI_1" MASTER_PRIORITY 70`.
pub fn fifo_line(subject: Subject<'_>, event: Event, priority: u8) -> String {
    format!(
        "{} \"{}\" {} {}\n",
        subject.kind(),
        subject.name(),
        event.word(),
        priority
    )
}

/// The argument list of a script run for a transition: the specific scripts run as written,
/// `notify` gets `INSTANCE|GROUP name STATE priority` appended.
pub fn script_argv(
    script: &UserScript,
    generic: bool,
    subject: Subject<'_>,
    event: Event,
    priority: u8,
) -> Vec<String> {
    let mut argv = script.command.argv.clone();
    if generic {
        argv.push(subject.kind().to_owned());
        argv.push(subject.name().to_owned());
        argv.push(event.word());
        argv.push(priority.to_string());
    }
    argv
}

/// Runs notify scripts and writes FIFO lines.
#[derive(Debug)]
pub struct Notifier {
    fifos: Vec<(String, File)>,
    default_user: Option<(String, Option<String>)>,
}

impl Notifier {
    /// Opens the FIFOs the configuration names (creating them when missing).
    pub fn new(config: &Config) -> Notifier {
        let g = &config.global.simple;
        let fifos = crate::fifo::open_fifos(
            [&g.notify_fifo, &g.vrrp_notify_fifo]
                .into_iter()
                .flatten()
                .map(|f| f.path.as_str()),
            "notify FIFO",
        );
        Notifier {
            fifos,
            default_user: default_script_user(config),
        }
    }

    /// Notifies `event` of `subject`: FIFO lines first, then the scripts in the background
    /// (the state's own script only when the state is entered).
    pub fn notify(
        &mut self,
        subject: Subject<'_>,
        event: Event,
        priority: u8,
        specific: Option<&UserScript>,
        generic: Option<&UserScript>,
    ) {
        let line = fifo_line(subject, event, priority);
        for (path, f) in &mut self.fifos {
            if let Err(e) = f.write_all(line.as_bytes()) {
                tracing::warn!("notify FIFO {path}: {e}");
            }
        }
        if let (Some(s), Event::Entered(_)) = (specific, event) {
            self.spawn(s, script_argv(s, false, subject, event, priority));
        }
        if let Some(s) = generic {
            self.spawn(s, script_argv(s, true, subject, event, priority));
        }
    }

    fn spawn(&self, script: &UserScript, argv: Vec<String>) {
        let user = script
            .user
            .clone()
            .map(|u| (u, script.group.clone()))
            .or_else(|| self.default_user.clone());
        spawn_script(argv, user.as_ref());
    }
}

/// Who runs scripts that name no user: the global `script_user`, else `keepalived_script`
/// when that user exists, else the daemon's own user (root).
pub fn default_script_user(config: &Config) -> Option<(String, Option<String>)> {
    config.global.script_user.clone().or_else(|| {
        nix::unistd::User::from_name("keepalived_script")
            .ok()
            .flatten()
            .map(|_| ("keepalived_script".to_owned(), None))
    })
}

/// Starts `argv` in the background (reaped by a task), as `user` when given.
pub fn spawn_script(argv: Vec<String>, user: Option<&(String, Option<String>)>) {
    let Some((program, args)) = argv.split_first() else {
        return;
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if let Some((u, g)) = user {
        if let Err(e) = apply_user(&mut cmd, u, g.as_deref()) {
            tracing::error!("script {program}: {e} - not run");
            return;
        }
    }
    match cmd.spawn() {
        Ok(mut child) => {
            let name = program.clone();
            tokio::spawn(async move {
                match child.wait().await {
                    Ok(st) if !st.success() => tracing::debug!("script {name} exited with {st}"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!("script {name}: {e}"),
                }
            });
        }
        Err(e) => tracing::error!("cannot run script {program}: {e}"),
    }
}

/// Sets the uid/gid a script runs with.
pub fn apply_user(
    cmd: &mut tokio::process::Command,
    user: &str,
    group: Option<&str>,
) -> Result<(), String> {
    let u = nix::unistd::User::from_name(user)
        .map_err(|e| format!("user {user}: {e}"))?
        .ok_or_else(|| format!("unknown user {user}"))?;
    let gid = match group {
        Some(g) => {
            nix::unistd::Group::from_name(g)
                .map_err(|e| format!("group {g}: {e}"))?
                .ok_or_else(|| format!("unknown group {g}"))?
                .gid
        }
        None => u.gid,
    };
    cmd.uid(u.uid.as_raw()).gid(gid.as_raw());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rka_config::model::script::Command;

    fn script(argv: &[&str]) -> UserScript {
        UserScript {
            command: Command {
                argv: argv.iter().map(|s| s.to_string()).collect(),
            },
            user: None,
            group: None,
        }
    }

    #[test]
    fn fifo_lines_as_keepalived_writes_them() {
        assert_eq!(
            fifo_line(
                Subject::Instance("VI_1"),
                Event::Entered(State::Master),
                100
            ),
            "INSTANCE \"VI_1\" MASTER 100\n"
        );
        assert_eq!(
            fifo_line(Subject::Group("G1"), Event::Entered(State::Backup), 0),
            "GROUP \"G1\" BACKUP 0\n"
        );
        assert_eq!(
            fifo_line(
                Subject::Instance("VI_1"),
                Event::Priority(State::Master),
                70
            ),
            "INSTANCE \"VI_1\" MASTER_PRIORITY 70\n"
        );
    }

    #[test]
    fn generic_notify_gets_four_arguments() {
        let s = script(&["/bin/n", "x"]);
        assert_eq!(
            script_argv(
                &s,
                true,
                Subject::Instance("VI_1"),
                Event::Entered(State::Fault),
                90
            ),
            ["/bin/n", "x", "INSTANCE", "VI_1", "FAULT", "90"]
        );
        assert_eq!(
            script_argv(
                &s,
                false,
                Subject::Group("G"),
                Event::Entered(State::Stop),
                0
            ),
            ["/bin/n", "x"]
        );
    }
}
