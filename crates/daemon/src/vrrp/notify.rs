//! Notifications: `notify_*` scripts (run in the background, never awaited by the engine),
//! lines written to the notify FIFOs (`notify_fifo`, `vrrp_notify_fifo`) and `smtp_alert`
//! mails (queued to [`crate::smtp::Mailer`]).

use std::collections::HashSet;
use std::fs::File;
use std::io::Write;

use rka_config::model::global::UserScript;
use rka_config::Config;
use rka_vrrp::State;

use crate::smtp::{Alert, Mailer, SmtpSettings};

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

/// The `smtp_alert` mail for `subject` entering `state`, worded as keepalived 2.2.7 words it
/// (observed): `VRRP Instance VI_1 - Entering MASTER state` with
/// `=> VRRP Instance is now owning VRRP VIPs <=` (`no longer` for the other states), and
/// `VRRP Group G1 - Entering BACKUP state` with
/// `=> All VRRP group instances are now in BACKUP state <=`. `None` for INIT and STOP:
/// keepalived never delivers a mail for them (at shutdown it exits mid-conversation).
pub fn smtp_alert(subject: Subject<'_>, state: State) -> Option<Alert> {
    if matches!(state, State::Init | State::Stop) {
        return None;
    }
    let s = state.as_str();
    Some(match subject {
        Subject::Instance(name) => Alert {
            subject: format!("VRRP Instance {name} - Entering {s} state"),
            body: if state == State::Master {
                "=> VRRP Instance is now owning VRRP VIPs <=".to_owned()
            } else {
                "=> VRRP Instance is no longer owning VRRP VIPs <=".to_owned()
            },
        },
        Subject::Group(name) => Alert {
            subject: format!("VRRP Group {name} - Entering {s} state"),
            body: format!("=> All VRRP group instances are now in {s} state <="),
        },
    })
}

/// Which instances and sync groups mail their transitions, and the mailer that sends them.
#[derive(Debug, Default)]
struct SmtpAlerts {
    mailer: Option<Mailer>,
    instances: HashSet<String>,
    groups: HashSet<String>,
    /// `no_email_faults`: FAULT entries of instances and groups send nothing.
    no_faults: bool,
}

impl SmtpAlerts {
    /// Each object's own `smtp_alert`, else `smtp_alert_vrrp`, else `smtp_alert`; nothing at
    /// all without an `smtp_server` and a `notification_email`.
    fn new(config: &Config) -> SmtpAlerts {
        let selected = SmtpAlerts::select(config);
        if selected.instances.is_empty() && selected.groups.is_empty() {
            return SmtpAlerts::default();
        }
        match SmtpSettings::from_config(config).and_then(Mailer::spawn) {
            Some(mailer) => SmtpAlerts {
                mailer: Some(mailer),
                ..selected
            },
            None => SmtpAlerts::default(),
        }
    }

    /// Which objects mail, without a mailer.
    fn select(config: &Config) -> SmtpAlerts {
        let g = &config.global.simple;
        let on = |own| crate::smtp::alert_enabled(own, g.smtp_alert_vrrp, g.smtp_alert);
        SmtpAlerts {
            mailer: None,
            instances: config
                .vrrp
                .instances
                .iter()
                .filter(|i| on(i.smtp_alert))
                .map(|i| i.name.clone())
                .collect(),
            groups: config
                .vrrp
                .sync_groups
                .iter()
                .filter(|sg| on(sg.smtp_alert))
                .map(|sg| sg.name.clone())
                .collect(),
            no_faults: g.no_email_faults,
        }
    }

    /// Whether entering `state` mails for `subject`.
    fn wanted(&self, subject: Subject<'_>, state: State) -> bool {
        if self.no_faults && state == State::Fault {
            return false;
        }
        match subject {
            Subject::Instance(n) => self.instances.contains(n),
            Subject::Group(n) => self.groups.contains(n),
        }
    }

    fn alert(&self, subject: Subject<'_>, event: Event) {
        let Some(mailer) = &self.mailer else {
            return;
        };
        if let Event::Entered(state) = event {
            if self.wanted(subject, state) {
                if let Some(a) = smtp_alert(subject, state) {
                    mailer.send(a);
                }
            }
        }
    }
}

/// Runs notify scripts, writes FIFO lines and queues `smtp_alert` mails.
#[derive(Debug)]
pub struct Notifier {
    fifos: Vec<(String, File)>,
    default_user: Option<(String, Option<String>)>,
    smtp: SmtpAlerts,
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
            smtp: SmtpAlerts::new(config),
        }
    }

    /// Notifies `event` of `subject`: FIFO lines first, then the scripts in the background
    /// (the state's own script only when the state is entered), then the mail when the
    /// object has `smtp_alert` (states entered only, never priority changes).
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
        self.smtp.alert(subject, event);
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
    rka_sys::sched::normal_policy_on_exec(cmd.as_std_mut());
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

    #[test]
    fn no_email_faults_mutes_fault_entries_only() {
        let text = |extra: &str| {
            crate::testutil::config(&format!(
                "global_defs {{\n smtp_alert\n{extra}\n}}\nvrrp_sync_group G1 {{\n group {{\n  VI_1\n  VI_2\n }}\n}}\n\
                 vrrp_instance VI_1 {{\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {{\n  10.0.0.1/24\n }}\n}}\n\
                 vrrp_instance VI_2 {{\n interface eth0\n virtual_router_id 52\n virtual_ipaddress {{\n  10.0.0.2/24\n }}\n}}\n"
            ))
        };
        let all = SmtpAlerts::select(&text(""));
        let muted = SmtpAlerts::select(&text(" no_email_faults"));
        for subject in [Subject::Instance("VI_1"), Subject::Group("G1")] {
            for st in [State::Master, State::Backup, State::Fault] {
                assert!(all.wanted(subject, st), "{subject:?} {st:?}");
                assert_eq!(
                    muted.wanted(subject, st),
                    st != State::Fault,
                    "{subject:?} {st:?}"
                );
            }
        }
    }

    #[test]
    fn smtp_alerts_worded_as_keepalived() {
        let a = smtp_alert(Subject::Instance("VI_1"), State::Master).expect("master");
        assert_eq!(a.subject, "VRRP Instance VI_1 - Entering MASTER state");
        assert_eq!(a.body, "=> VRRP Instance is now owning VRRP VIPs <=");
        for st in [State::Backup, State::Fault] {
            let a = smtp_alert(Subject::Instance("VI_1"), st).expect("state");
            assert_eq!(
                a.subject,
                format!("VRRP Instance VI_1 - Entering {} state", st.as_str())
            );
            assert_eq!(a.body, "=> VRRP Instance is no longer owning VRRP VIPs <=");
        }
        let g = smtp_alert(Subject::Group("G1"), State::Backup).expect("group");
        assert_eq!(g.subject, "VRRP Group G1 - Entering BACKUP state");
        assert_eq!(
            g.body,
            "=> All VRRP group instances are now in BACKUP state <="
        );
        assert!(smtp_alert(Subject::Instance("VI_1"), State::Stop).is_none());
        assert!(smtp_alert(Subject::Group("G1"), State::Init).is_none());
    }

    use crate::testutil::config as load;

    /// The instances and groups that mail, for `global` (inside `global_defs`), `group` (inside
    /// the sync group `G1`) and `inst` (inside `VI_1`; `VI_2` never sets its own).
    fn enabled(global: &str, group: &str, inst: &str, mail: bool) -> (Vec<String>, Vec<String>) {
        let mail = if mail {
            " notification_email {\n  a@x\n }\n smtp_server 127.0.0.1 2525\n"
        } else {
            ""
        };
        let text = format!(
            "global_defs {{\n{mail} {global}\n}}\n\
             vrrp_sync_group G1 {{\n group {{\n  VI_1\n }}\n {group}\n}}\n\
             vrrp_instance VI_1 {{\n interface lo\n virtual_router_id 1\n priority 100\n {inst}\n\
             virtual_ipaddress {{\n  10.0.0.1\n }}\n}}\n\
             vrrp_instance VI_2 {{\n interface lo\n virtual_router_id 2\n priority 100\n\
             virtual_ipaddress {{\n  10.0.0.2\n }}\n}}\n"
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let _guard = rt.enter();
        let a = SmtpAlerts::new(&load(&text));
        assert_eq!(
            a.mailer.is_some(),
            !a.instances.is_empty() || !a.groups.is_empty()
        );
        let mut i: Vec<String> = a.instances.into_iter().collect();
        let mut g: Vec<String> = a.groups.into_iter().collect();
        i.sort();
        g.sort();
        (i, g)
    }

    #[test]
    fn smtp_enabling_rules_as_keepalived() {
        let none: (Vec<String>, Vec<String>) = (vec![], vec![]);
        let all = (
            vec!["VI_1".to_owned(), "VI_2".to_owned()],
            vec!["G1".to_owned()],
        );
        // Nothing by default.
        assert_eq!(enabled("", "", "", true), none);
        // The global switch and the VRRP switch enable everything; smtp_alert_checker does not.
        assert_eq!(enabled("smtp_alert", "", "", true), all);
        assert_eq!(enabled("smtp_alert_vrrp", "", "", true), all);
        assert_eq!(enabled("smtp_alert_checker", "", "", true), none);
        // smtp_alert_vrrp beats smtp_alert, either way.
        assert_eq!(
            enabled("smtp_alert off\n smtp_alert_vrrp on", "", "", true),
            all
        );
        assert_eq!(
            enabled("smtp_alert on\n smtp_alert_vrrp off", "", "", true),
            none
        );
        // An object's own setting beats both; a group's does not reach its instances.
        assert_eq!(
            enabled("smtp_alert", "", "smtp_alert off", true),
            (vec!["VI_2".to_owned()], vec!["G1".to_owned()])
        );
        assert_eq!(
            enabled("smtp_alert_vrrp off", "", "smtp_alert", true),
            (vec!["VI_1".to_owned()], vec![])
        );
        assert_eq!(
            enabled("", "smtp_alert", "", true),
            (vec![], vec!["G1".to_owned()])
        );
        // Without an SMTP server and recipients nothing is sent at all.
        assert_eq!(enabled("smtp_alert", "", "", false), none);
    }
}
