//! LVS notifications: FIFO lines (`VS [10.0.0.1]:tcp:80 UP`,
//! `RS [10.0.0.2]:tcp:80 [10.0.0.1]:tcp:80 DOWN`), the `notify_up`/`notify_down`/
//! `quorum_up`/`quorum_down` scripts and the checker `smtp_alert` mails.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use rka_config::model::lvs::virtual_server::{VirtualServer, VsAddress};
use rka_config::model::lvs::{CheckerKind, LvsScript, RealServer};
use rka_config::Config;

use crate::smtp::{Alert, Mailer, SmtpSettings};

/// What an LVS change is about.
#[derive(Debug, Clone, PartialEq, Eq)]
enum About {
    /// Real server `rs` of virtual server `vs`.
    RealServer { rs: String, vs: String },
    /// Virtual server `vs` (its quorum).
    VirtualServer { vs: String },
}

/// One LVS change as the notifiers report it; it prints as its FIFO line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LvsEvent {
    about: About,
    up: bool,
}

impl fmt::Display for LvsEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = if self.up { "UP" } else { "DOWN" };
        match &self.about {
            About::RealServer { rs, vs } => writeln!(f, "RS {rs} {vs} {word}"),
            About::VirtualServer { vs } => writeln!(f, "VS {vs} {word}"),
        }
    }
}

/// A virtual server's quorum change (FIFO line `VS [10.0.0.1]:tcp:80 UP`).
pub fn vs_line(vs: &str, up: bool) -> LvsEvent {
    LvsEvent {
        about: About::VirtualServer { vs: vs.to_owned() },
        up,
    }
}

/// A real server's change (FIFO line `RS [10.0.0.2]:tcp:80 [10.0.0.1]:tcp:80 DOWN`).
pub fn rs_line(rs: &str, vs: &str, up: bool) -> LvsEvent {
    LvsEvent {
        about: About::RealServer {
            rs: rs.to_owned(),
            vs: vs.to_owned(),
        },
        up,
    }
}

/// `[addr]:proto:port`, `FWM n` or `[GROUP]:0`: a virtual server as the runtime labels it.
fn vs_label(vs: &VirtualServer) -> String {
    match &vs.address {
        VsAddress::Ip { addr, port } => super::mapping::addr_label(*addr, vs.protocol, *port),
        VsAddress::Fwmark(m) => format!("FWM {m}"),
        VsAddress::Group(g) => format!("[{g}]:0"),
    }
}

/// The body of a real server's mail, from its (first) checker, worded as keepalived 2.2.7
/// words it (observed for each checker; the reason of an HTTP or SMTP failure is not known
/// here, so the connection failure's is used).
pub fn rs_body(rs: &RealServer, up: bool) -> String {
    let (failed, succeeded) = match rs.checkers.first().map(|c| (&c.kind, c)) {
        Some((CheckerKind::Tcp, _)) => (
            "TCP CHECK failed on service".to_owned(),
            "TCP CHECK succeed on service",
        ),
        Some((CheckerKind::Misc(_), _)) => (
            "MISC CHECK failed on service".to_owned(),
            "MISC CHECK succeeded on service",
        ),
        Some((CheckerKind::Udp(_), _)) => (
            "UDP CHECK failed on service".to_owned(),
            "UDP CHECK succeed on service",
        ),
        Some((CheckerKind::Ping, _)) => (
            "ICMP CHECK failed on service".to_owned(),
            "ICMP CHECK succeed on service",
        ),
        Some((CheckerKind::Dns(_), _)) => (
            "DNS_CHECK: failed on service".to_owned(),
            "DNS_CHECK: succeed on service",
        ),
        Some((CheckerKind::Http(_), _)) => (
            "CHECK failed on service : HTTP request failed".to_owned(),
            "CHECK succeed on service",
        ),
        Some((CheckerKind::Smtp(_), c)) => (
            format!(
                "CHECK failed on service : Could not connect to server [{}]:{}",
                c.connect.connect_ip.unwrap_or(rs.addr),
                c.connect.connect_port.unwrap_or(rs.port)
            ),
            "CHECK succeed on service",
        ),
        _ => (
            "CHECK failed on service".to_owned(),
            "CHECK succeed on service",
        ),
    };
    format!("=> {} <=", if up { succeeded } else { failed.as_str() })
}

/// The mail of a real server's change.
pub fn rs_alert(rs_label: &str, vs_label: &str, up: bool, body: String) -> Alert {
    Alert {
        subject: format!(
            "Realserver {rs_label} of virtual server {vs_label} - {}",
            if up { "UP" } else { "DOWN" }
        ),
        body,
    }
}

/// The mail of a virtual server's quorum change; `weight` is the live weight. keepalived
/// prints `QUORUM+HYSTERESIS=SUM <= WEIGHT` in both directions; `starting` is the mail it
/// sends for a service that starts with its quorum met.
pub fn vs_alert(
    vs_label: &str,
    up: bool,
    starting: bool,
    quorum: u32,
    hysteresis: u32,
    weight: u64,
) -> Alert {
    let what = match (up, starting) {
        (true, true) => "Starting with quorum up",
        (true, false) => "Gained quorum",
        (false, _) => "Lost quorum",
    };
    Alert {
        subject: format!(
            "Virtualserver {vs_label} - {}",
            if up { "UP" } else { "DOWN" }
        ),
        body: format!(
            "=> {what} {quorum}+{hysteresis}={} <= {weight} <=",
            u64::from(quorum) + u64::from(hysteresis)
        ),
    }
}

/// One real server as the mails see it.
#[derive(Debug)]
struct RsState {
    alert: bool,
    weight: u32,
    up: bool,
    down_body: String,
    up_body: String,
}

/// One virtual server as the mails see it: its real servers by label, to know the live
/// weight a quorum mail prints.
#[derive(Debug)]
struct VsState {
    alert: bool,
    quorum: u32,
    hysteresis: u32,
    servers: HashMap<String, RsState>,
}

impl VsState {
    fn live_weight(&self) -> u64 {
        self.servers
            .values()
            .filter(|r| r.up)
            .map(|r| u64::from(r.weight))
            .sum()
    }
}

/// The checker side's `smtp_alert`: which services mail, and the mailer.
#[derive(Debug, Default)]
struct CheckerAlerts {
    mailer: Option<Mailer>,
    services: HashMap<String, VsState>,
}

/// Set once the start-up quorum mails went out: a reload does not repeat them.
static STARTUP_MAILED: AtomicBool = AtomicBool::new(false);

impl CheckerAlerts {
    /// Each server's own `smtp_alert`, else `smtp_alert_checker`, else `smtp_alert`; nothing
    /// without an `smtp_server` and a `notification_email`.
    fn new(config: &Config) -> CheckerAlerts {
        let g = &config.global.simple;
        let on = |own| crate::smtp::alert_enabled(own, g.smtp_alert_checker, g.smtp_alert);
        let mut services = HashMap::new();
        let mut any = false;
        for vs in &config.lvs.virtual_servers {
            let label = vs_label(vs);
            let servers = vs
                .real_servers
                .iter()
                .map(|rs| {
                    let rs_label = super::mapping::addr_label(rs.addr, vs.protocol, rs.port);
                    // As the runtime starts it: down with alpha, up otherwise.
                    let up = !rs.alpha;
                    let alert = on(rs.smtp_alert);
                    any |= alert;
                    let state = RsState {
                        alert,
                        weight: rs.weight,
                        up,
                        down_body: rs_body(rs, false),
                        up_body: rs_body(rs, true),
                    };
                    (rs_label, state)
                })
                .collect();
            let alert = on(vs.smtp_alert);
            any |= alert;
            services.insert(
                label,
                VsState {
                    alert,
                    quorum: vs.quorum,
                    hysteresis: vs.hysteresis,
                    servers,
                },
            );
        }
        let mailer = if any {
            SmtpSettings::from_config(config).and_then(Mailer::spawn)
        } else {
            None
        };
        let alerts = CheckerAlerts { mailer, services };
        if !STARTUP_MAILED.swap(true, Ordering::Relaxed) {
            alerts.startup();
        }
        alerts
    }

    /// keepalived mails every alerting service that starts with its quorum met.
    fn startup(&self) {
        let Some(mailer) = &self.mailer else {
            return;
        };
        let mut labels: Vec<&String> = self.services.keys().collect();
        labels.sort();
        for label in labels {
            let Some(vs) = self.services.get(label) else {
                continue;
            };
            let weight = vs.live_weight();
            let threshold = u64::from(vs.quorum) + u64::from(vs.hysteresis);
            if vs.alert && weight >= threshold {
                mailer.send(vs_alert(
                    label,
                    true,
                    true,
                    vs.quorum,
                    vs.hysteresis,
                    weight,
                ));
            }
        }
    }

    /// Follows `event` and mails it when its object alerts.
    fn event(&mut self, event: &LvsEvent) {
        match &event.about {
            About::RealServer { rs, vs } => {
                let Some(r) = self
                    .services
                    .get_mut(vs)
                    .and_then(|v| v.servers.get_mut(rs))
                else {
                    return;
                };
                r.up = event.up;
                if let (true, Some(m)) = (r.alert, &self.mailer) {
                    let body = if event.up { &r.up_body } else { &r.down_body };
                    m.send(rs_alert(rs, vs, event.up, body.clone()));
                }
            }
            About::VirtualServer { vs } => {
                let Some(v) = self.services.get(vs) else {
                    return;
                };
                if let (true, Some(m)) = (v.alert, &self.mailer) {
                    let a = vs_alert(vs, event.up, false, v.quorum, v.hysteresis, v.live_weight());
                    m.send(a);
                }
            }
        }
    }
}

/// Writes LVS FIFO lines, runs LVS scripts and queues `smtp_alert` mails.
#[derive(Debug, Default)]
pub struct LvsNotifier {
    fifos: Vec<(String, File)>,
    default_user: Option<(String, Option<String>)>,
    smtp: CheckerAlerts,
}

impl LvsNotifier {
    /// Opens `notify_fifo` and `lvs_notify_fifo` (creating them when missing). The first
    /// notifier of the process mails the services that start with their quorum met.
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
            smtp: CheckerAlerts::new(config),
        }
    }

    /// Writes the event's line to every FIFO, runs `script` in the background, then queues
    /// the mail when the server has `smtp_alert`.
    pub fn notify(&mut self, event: &LvsEvent, script: Option<&LvsScript>) {
        let line = event.to_string();
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
        self.smtp.event(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_as_keepalived_writes_them() {
        assert_eq!(
            vs_line("[10.0.0.1]:tcp:80", true).to_string(),
            "VS [10.0.0.1]:tcp:80 UP\n"
        );
        assert_eq!(
            rs_line("[10.0.0.2]:tcp:80", "[10.0.0.1]:tcp:80", false).to_string(),
            "RS [10.0.0.2]:tcp:80 [10.0.0.1]:tcp:80 DOWN\n"
        );
    }
}
