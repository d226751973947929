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
    /// Nothing happened to it yet since the checker child started: a quorum gained now is
    /// the runtime's start-up announcement.
    starting: bool,
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

/// Set once the first notifier of the process was built: later ones come from reloads,
/// which announce nothing at start.
static STARTED: AtomicBool = AtomicBool::new(false);

impl CheckerAlerts {
    /// Each object's own `smtp_alert`, else `smtp_alert_checker`, else `smtp_alert`, else (for
    /// a real server) its virtual server's own `smtp_alert`, as keepalived 2.2.7 decides
    /// (observed); nothing without an `smtp_server` and a `notification_email`.
    fn build(config: &Config, starting: bool) -> CheckerAlerts {
        // Without an smtp_server and a notification_email no mail can ever be sent: keep
        // nothing per server (this runs at every reload, over every real server).
        if config.global.smtp_server.is_none() || config.global.notification_email.is_empty() {
            return CheckerAlerts {
                mailer: None,
                services: HashMap::new(),
            };
        }
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
                    // Observed: a real server's own setting, else the global defaults, else
                    // its virtual server's own setting.
                    let alert = crate::smtp::alert_enabled(
                        rs.smtp_alert,
                        g.smtp_alert_checker.or(g.smtp_alert),
                        vs.smtp_alert,
                    );
                    any |= alert;
                    let state = RsState {
                        alert,
                        weight: rs.weight,
                        up,
                        down_body: if alert {
                            rs_body(rs, false)
                        } else {
                            String::new()
                        },
                        up_body: if alert {
                            rs_body(rs, true)
                        } else {
                            String::new()
                        },
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
                    starting,
                },
            );
        }
        let mailer = if any {
            SmtpSettings::from_config(config).and_then(Mailer::spawn)
        } else {
            None
        };
        CheckerAlerts { mailer, services }
    }

    /// [`CheckerAlerts::build`]; the first one of the process words the start-up quorum
    /// announcements as keepalived does (`Starting with quorum up`).
    fn new(config: &Config) -> CheckerAlerts {
        CheckerAlerts::build(config, !STARTED.swap(true, Ordering::Relaxed))
    }

    /// Follows `event` and mails it when its object alerts.
    fn event(&mut self, event: &LvsEvent) {
        match &event.about {
            About::RealServer { rs, vs } => {
                let Some(v) = self.services.get_mut(vs) else {
                    return;
                };
                v.starting = false;
                let Some(r) = v.servers.get_mut(rs) else {
                    return;
                };
                r.up = event.up;
                if let (true, Some(m)) = (r.alert, &self.mailer) {
                    let body = if event.up { &r.up_body } else { &r.down_body };
                    m.send(rs_alert(rs, vs, event.up, body.clone()));
                }
            }
            About::VirtualServer { vs } => {
                let Some(v) = self.services.get_mut(vs) else {
                    return;
                };
                let starting = std::mem::take(&mut v.starting) && event.up;
                if let (true, Some(m)) = (v.alert, &self.mailer) {
                    let weight = v.live_weight();
                    m.send(vs_alert(
                        vs,
                        event.up,
                        starting,
                        v.quorum,
                        v.hysteresis,
                        weight,
                    ));
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

    use crate::testutil::config as load;

    fn server(check: &str) -> RealServer {
        let c = load(&format!(
            "virtual_server 10.0.0.1 80 {{\n lb_kind NAT\n protocol TCP\n\
             real_server 10.0.0.2 8080 {{\n {check}\n }}\n}}\n"
        ));
        c.lvs.virtual_servers[0].real_servers[0].clone()
    }

    #[test]
    fn real_server_bodies_follow_the_checker() {
        let cases = [
            (
                "TCP_CHECK {\n}",
                "=> TCP CHECK failed on service <=",
                "=> TCP CHECK succeed on service <=",
            ),
            (
                "HTTP_GET {\n url {\n path /\n }\n}",
                "=> CHECK failed on service : HTTP request failed <=",
                "=> CHECK succeed on service <=",
            ),
            (
                "SSL_GET {\n url {\n path /\n }\n}",
                "=> CHECK failed on service : HTTP request failed <=",
                "=> CHECK succeed on service <=",
            ),
            (
                "SMTP_CHECK {\n connect_ip 10.0.0.7\n}",
                "=> CHECK failed on service : Could not connect to server [10.0.0.7]:8080 <=",
                "=> CHECK succeed on service <=",
            ),
            (
                "MISC_CHECK {\n misc_path /bin/true\n}",
                "=> MISC CHECK failed on service <=",
                "=> MISC CHECK succeeded on service <=",
            ),
            (
                "UDP_CHECK {\n}",
                "=> UDP CHECK failed on service <=",
                "=> UDP CHECK succeed on service <=",
            ),
            (
                "PING_CHECK {\n}",
                "=> ICMP CHECK failed on service <=",
                "=> ICMP CHECK succeed on service <=",
            ),
            (
                "DNS_CHECK {\n}",
                "=> DNS_CHECK: failed on service <=",
                "=> DNS_CHECK: succeed on service <=",
            ),
            (
                "",
                "=> CHECK failed on service <=",
                "=> CHECK succeed on service <=",
            ),
        ];
        for (check, down, up) in cases {
            let rs = server(check);
            assert_eq!(rs_body(&rs, false), down, "{check}");
            assert_eq!(rs_body(&rs, true), up, "{check}");
        }
    }

    #[test]
    fn subjects_and_quorum_bodies_as_keepalived() {
        let a = rs_alert("[10.0.0.2]:tcp:80", "[10.0.0.1]:tcp:80", false, "b".into());
        assert_eq!(
            a.subject,
            "Realserver [10.0.0.2]:tcp:80 of virtual server [10.0.0.1]:tcp:80 - DOWN"
        );
        let v = vs_alert("[10.0.0.1]:tcp:80", false, false, 2, 0, 1);
        assert_eq!(v.subject, "Virtualserver [10.0.0.1]:tcp:80 - DOWN");
        assert_eq!(v.body, "=> Lost quorum 2+0=2 <= 1 <=");
        let v = vs_alert("[10.0.0.1]:tcp:80", true, false, 3, 1, 4);
        assert_eq!(v.subject, "Virtualserver [10.0.0.1]:tcp:80 - UP");
        assert_eq!(v.body, "=> Gained quorum 3+1=4 <= 4 <=");
        let v = vs_alert("[10.0.0.1]:tcp:80", true, true, 1, 0, 7);
        assert_eq!(v.body, "=> Starting with quorum up 1+0=1 <= 7 <=");
    }

    const VS: &str =
        "virtual_server 10.0.0.1 80 {\n lb_kind NAT\n protocol TCP\n quorum 2\n VSOPT\n\
         real_server 10.0.0.2 8080 {\n RSOPT\n TCP_CHECK {\n }\n }\n\
         real_server 10.0.0.3 8080 {\n alpha\n TCP_CHECK {\n }\n }\n}\n";

    fn config(global: &str, vs: &str, rs: &str, port: u16) -> Config {
        load(&format!(
            "global_defs {{\n router_id R1\n notification_email {{\n ops@example.com\n }}\n\
             notification_email_from k@example.net\n smtp_server 127.0.0.1 {port}\n {global}\n}}\n{}",
            VS.replace("VSOPT", vs).replace("RSOPT", rs)
        ))
    }

    /// (virtual server alerts, real server 10.0.0.2 alerts, real server 10.0.0.3 alerts).
    fn flags(global: &str, vs: &str, rs: &str) -> (bool, bool, bool) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let _guard = rt.enter();
        let a = CheckerAlerts::build(&config(global, vs, rs, 25), true);
        let v = &a.services["[10.0.0.1]:tcp:80"];
        let on = (
            v.alert,
            v.servers["[10.0.0.2]:tcp:8080"].alert,
            v.servers["[10.0.0.3]:tcp:8080"].alert,
        );
        assert_eq!(a.mailer.is_some(), on.0 || on.1 || on.2);
        on
    }

    #[test]
    fn smtp_enabling_rules() {
        assert_eq!(flags("", "", ""), (false, false, false));
        assert_eq!(flags("smtp_alert", "", ""), (true, true, true));
        assert_eq!(flags("smtp_alert_checker", "", ""), (true, true, true));
        assert_eq!(flags("smtp_alert_vrrp", "", ""), (false, false, false));
        assert_eq!(
            flags("smtp_alert on\n smtp_alert_checker off", "", ""),
            (false, false, false)
        );
        assert_eq!(
            flags("smtp_alert off\n smtp_alert_checker on", "", ""),
            (true, true, true)
        );
        // Each object's own setting wins; a virtual server's reaches its real servers only
        // when no global default is set.
        assert_eq!(flags("", "smtp_alert on", ""), (true, true, true));
        assert_eq!(
            flags("", "smtp_alert on", "smtp_alert off"),
            (true, false, true)
        );
        assert_eq!(flags("", "", "smtp_alert on"), (false, true, false));
        assert_eq!(
            flags("smtp_alert", "smtp_alert off", "smtp_alert off"),
            (false, false, true)
        );
        assert_eq!(
            flags("smtp_alert_checker off", "smtp_alert on", ""),
            (true, false, false)
        );
        assert_eq!(
            flags("smtp_alert_checker on", "smtp_alert off", ""),
            (false, true, true)
        );
    }

    #[tokio::test]
    async fn verdicts_are_mailed_with_the_live_weight() {
        let (port, mails) = crate::smtp::test_sink::start().await;
        let mut n = LvsNotifier {
            smtp: CheckerAlerts::build(&config("smtp_alert", "", "", port), true),
            ..Default::default()
        };
        // 10.0.0.2 starts up, 10.0.0.3 (alpha) down: weight 1 < quorum 2, no start-up
        // announcement; the first gain is an ordinary one.
        n.notify(
            &rs_line("[10.0.0.3]:tcp:8080", "[10.0.0.1]:tcp:80", true),
            None,
        );
        n.notify(&vs_line("[10.0.0.1]:tcp:80", true), None);
        n.notify(
            &rs_line("[10.0.0.2]:tcp:8080", "[10.0.0.1]:tcp:80", false),
            None,
        );
        n.notify(&vs_line("[10.0.0.1]:tcp:80", false), None);
        let got = crate::smtp::test_sink::wait_for(&mails, 4).await;
        let seen: Vec<(String, String)> = got
            .iter()
            .map(|m| {
                (
                    m.header("Subject").unwrap_or_default().to_owned(),
                    m.body().first().copied().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let want = [
            (
                "[R1] Realserver [10.0.0.3]:tcp:8080 of virtual server [10.0.0.1]:tcp:80 - UP",
                "=> TCP CHECK succeed on service <=",
            ),
            (
                "[R1] Virtualserver [10.0.0.1]:tcp:80 - UP",
                "=> Gained quorum 2+0=2 <= 2 <=",
            ),
            (
                "[R1] Realserver [10.0.0.2]:tcp:8080 of virtual server [10.0.0.1]:tcp:80 - DOWN",
                "=> TCP CHECK failed on service <=",
            ),
            (
                "[R1] Virtualserver [10.0.0.1]:tcp:80 - DOWN",
                "=> Lost quorum 2+0=2 <= 1 <=",
            ),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(seen, want);
        assert!(got
            .iter()
            .all(|m| m.to == ["ops@example.com"] && m.from == "k@example.net"));
    }

    #[tokio::test]
    async fn start_up_quorum_is_worded_as_keepalived() {
        let (port, mails) = crate::smtp::test_sink::start().await;
        let c = config("smtp_alert", "quorum 1", "", port);
        let vs = "[10.0.0.1]:tcp:80";
        // The first notifier of the process: the runtime's start-up announcement.
        let mut first = LvsNotifier {
            smtp: CheckerAlerts::build(&c, true),
            ..Default::default()
        };
        first.notify(&vs_line(vs, true), None);
        assert_eq!(crate::smtp::test_sink::wait_for(&mails, 1).await.len(), 1);
        // One built on reload: a quorum gained is an ordinary one.
        let mut reloaded = LvsNotifier {
            smtp: CheckerAlerts::build(&c, false),
            ..Default::default()
        };
        reloaded.notify(&vs_line(vs, true), None);
        let got = crate::smtp::test_sink::wait_for(&mails, 2).await;
        let bodies: Vec<&str> = got.iter().map(|m| m.body()[0]).collect();
        assert_eq!(
            bodies,
            [
                "=> Starting with quorum up 1+0=1 <= 1 <=",
                "=> Gained quorum 1+0=1 <= 1 <="
            ]
        );
        assert!(got
            .iter()
            .all(|m| m.header("Subject") == Some("[R1] Virtualserver [10.0.0.1]:tcp:80 - UP")));
    }
}
