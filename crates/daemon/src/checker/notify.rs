//! LVS notifications: FIFO lines (`VS [10.0.0.1]:tcp:80 UP`,
//! `RS [10.0.0.2]:tcp:80 [10.0.0.1]:tcp:80 DOWN`), the `notify_up`/`notify_down`/
//! `quorum_up`/`quorum_down` scripts and the checker `smtp_alert` mails, with keepalived
//! 2.2.7's start-up announcements (`rs_init_notifies`), `no_checker_emails` and mail bodies
//! worded by what failed.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use rka_check::director::Action;
use rka_check::{CheckerEvent, Director, Reason, Slot};
use rka_config::model::lvs::checker::Checker;
use rka_config::model::lvs::virtual_server::{VirtualServer, VsAddress};
use rka_config::model::lvs::{CheckerKind, LvsScript, RealServer};
use rka_config::Config;

use super::mapping::Plan;

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

/// How a checker words the body of its mails (keepalived 2.2.7, observed for each checker kind
/// and each way of failing: only SMTP_CHECK and MISC_CHECK say why).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Wording {
    Tcp,
    /// HTTP_GET and SSL_GET: whatever failed, "HTTP request failed".
    Http,
    /// SMTP_CHECK, naming the server it talks to (`[ip]:port`).
    Smtp {
        server: String,
    },
    Misc,
    Udp,
    Ping,
    Dns,
    /// FILE_CHECK, BFD_CHECK.
    Other,
}

impl Wording {
    fn of(c: &Checker, rs: &RealServer) -> Wording {
        match &c.kind {
            CheckerKind::Tcp => Wording::Tcp,
            CheckerKind::Http(_) => Wording::Http,
            CheckerKind::Smtp(_) => Wording::Smtp {
                server: format!(
                    "[{}]:{}",
                    c.connect.connect_ip.unwrap_or(rs.addr),
                    c.connect.connect_port.unwrap_or(rs.port)
                ),
            },
            CheckerKind::Misc(_) => Wording::Misc,
            CheckerKind::Udp(_) => Wording::Udp,
            CheckerKind::Ping => Wording::Ping,
            CheckerKind::Dns(_) => Wording::Dns,
            _ => Wording::Other,
        }
    }

    /// The body of a mail about this checker passing (`up`) or failing for `reason`.
    fn body(&self, up: bool, reason: Option<&Reason>) -> String {
        let text = match (self, up) {
            (Wording::Tcp, true) => "TCP CHECK succeed on service".to_owned(),
            (Wording::Tcp, false) => "TCP CHECK failed on service".to_owned(),
            (Wording::Http | Wording::Smtp { .. } | Wording::Other, true) => {
                "CHECK succeed on service".to_owned()
            }
            (Wording::Http, false) => "CHECK failed on service : HTTP request failed".to_owned(),
            (Wording::Smtp { server }, false) => format!(
                "CHECK failed on service : {} {server}",
                reason.map_or("Unknown connection error to server", smtp_failure)
            ),
            (Wording::Misc, true) => "MISC CHECK succeeded on service".to_owned(),
            (Wording::Misc, false) => format!(
                "MISC CHECK {} on service",
                if matches!(reason, Some(Reason::MiscTimeout { .. })) {
                    "timed out"
                } else {
                    "failed"
                }
            ),
            (Wording::Udp, true) => "UDP CHECK succeed on service".to_owned(),
            (Wording::Udp, false) => "UDP CHECK failed on service".to_owned(),
            (Wording::Ping, true) => "ICMP CHECK succeed on service".to_owned(),
            (Wording::Ping, false) => "ICMP CHECK failed on service".to_owned(),
            (Wording::Dns, true) => "DNS_CHECK: succeed on service".to_owned(),
            (Wording::Dns, false) => "DNS_CHECK: failed on service".to_owned(),
            (Wording::Other, false) => "CHECK failed on service".to_owned(),
        };
        format!("=> {text} <=")
    }
}

/// keepalived's words for an SMTP_CHECK failure (observed: "Could not connect to server",
/// "Connection timeout to server", "Bad greeting banner from server", "Bad HELO response from
/// server", "Read timeout from server"), chosen by the stage and cause of the failure.
fn smtp_failure(reason: &Reason) -> &'static str {
    match reason {
        Reason::ConnectTimeout { .. } => "Connection timeout to server",
        Reason::ConnectFailed { .. } | Reason::ConnectClosed { .. } => {
            "Could not connect to server"
        }
        // The socket could not be made ready (bind, interface, fwmark).
        Reason::Socket(_) | Reason::SetUp { .. } => "Error connecting to server",
        Reason::SmtpBanner { .. } | Reason::SmtpMalformed(_) => "Bad greeting banner from server",
        Reason::SmtpHelo { .. } => "Bad HELO response from server",
        Reason::SmtpReadTimeout { .. } | Reason::SmtpTooSlow => "Read timeout from server",
        Reason::SmtpReadFailed(_) | Reason::SmtpClosed | Reason::SmtpTooLong { .. } => {
            "Read failure from server"
        }
        Reason::SmtpWriteTimeout => "Write timeout to server",
        Reason::SmtpWriteFailed(_) => "Write failure to server",
        Reason::MiscExit { .. }
        | Reason::MiscSignal { .. }
        | Reason::MiscNoStatus
        | Reason::MiscTimeout { .. }
        | Reason::TimedOut { .. }
        | Reason::NoReply { .. }
        | Reason::DnsRcode { .. }
        | Reason::UdpReply(_)
        | Reason::Http { .. }
        | Reason::Other(_) => "Unknown connection error to server",
    }
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
/// sends for each service as it starts (`Starting with quorum up`, or `down` when no real
/// server counts yet, e.g. all `alpha`).
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
        (false, true) => "Starting with quorum down",
        (true, false) => "Gained quorum",
        (false, false) => "Lost quorum",
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

/// What the start of the checker child announces, service by service, as keepalived 2.2.7
/// (observed): with `rs_init_notifies`, each real server that starts up (not `alpha`; with or
/// without checkers, `inhibit_on_failure` or not) in configuration order, then the service's
/// quorum, up or down, whatever `rs_init_notifies` says. These run the notify scripts and
/// write the FIFO lines; of them only the quorum sends mail ("Starting with quorum ...").
pub fn start_actions(plan: &Plan, director: &Director, rs_init_notifies: bool) -> Vec<Action> {
    let mut out = Vec::new();
    for (vs, sp) in plan.services.iter().enumerate() {
        if rs_init_notifies {
            out.extend(
                (0..sp.real_servers.len())
                    .filter(|&rs| director.is_up(vs, rs))
                    .map(|rs| Action::RealServerUp { vs, rs }),
            );
        }
        out.push(if director.has_quorum(vs) {
            Action::QuorumUp { vs }
        } else {
            Action::QuorumDown { vs }
        });
    }
    out
}

/// A real server slot's state before a checker verdict is applied: what
/// [`LvsNotifier::checker_verdict`] compares with the state after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotState {
    checker_up: Option<bool>,
    server_up: bool,
}

impl SlotState {
    /// The state of `slot` in `director` now.
    pub fn of(director: &Director, slot: Slot) -> SlotState {
        SlotState {
            checker_up: director.checker_up(slot),
            server_up: director.is_up(slot.vs(), slot.rs()),
        }
    }
}

/// One real server as the mails see it.
#[derive(Debug)]
struct RsState {
    alert: bool,
    weight: u32,
    up: bool,
    /// How each of its checkers words its mails (empty when it does not alert).
    checkers: Box<[Wording]>,
}

/// One virtual server as the mails see it: its real servers by label, to know the live
/// weight a quorum mail prints.
#[derive(Debug)]
struct VsState {
    alert: bool,
    quorum: u32,
    hysteresis: u32,
    servers: HashMap<String, RsState>,
    /// No quorum was announced yet since the checker child started: the next one is the
    /// runtime's start-up announcement.
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
    /// `no_checker_emails`: a real server mails only when it goes up or down, not each time
    /// one of its checkers changes.
    no_checker_emails: bool,
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
            return CheckerAlerts::default();
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
                    // Observed: a real server's own setting, else the global defaults, else
                    // its virtual server's own setting.
                    // Unset everywhere, a real server mails (keepalived 2.2.7, observed in the
                    // VM: notification_email and smtp_server alone mail a real server's DOWN,
                    // not its service's quorum).
                    let alert = rs
                        .smtp_alert
                        .or(g.smtp_alert_checker.or(g.smtp_alert))
                        .or(vs.smtp_alert)
                        .unwrap_or(true);
                    any |= alert;
                    let checkers = if alert {
                        rs.checkers.iter().map(|c| Wording::of(c, rs)).collect()
                    } else {
                        Box::default()
                    };
                    let state = RsState {
                        alert,
                        weight: rs.weight,
                        // As the runtime starts it: down with alpha, up otherwise.
                        up: !rs.alpha,
                        checkers,
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
        CheckerAlerts {
            mailer,
            services,
            no_checker_emails: g.no_checker_emails,
        }
    }

    /// [`CheckerAlerts::build`]; the first one of the process words the start-up quorum
    /// announcements as keepalived does (`Starting with quorum up`/`down`).
    fn new(config: &Config) -> CheckerAlerts {
        CheckerAlerts::build(config, !STARTED.swap(true, Ordering::Relaxed))
    }

    /// Follows `event` (the live weight of quorum mails) and mails a quorum change when its
    /// service alerts. Real servers are mailed from their checkers' verdicts
    /// ([`CheckerAlerts::verdict`]).
    fn event(&mut self, event: &LvsEvent) {
        match &event.about {
            About::RealServer { rs, vs } => {
                if let Some(r) = self
                    .services
                    .get_mut(vs)
                    .and_then(|v| v.servers.get_mut(rs))
                {
                    r.up = event.up;
                }
            }
            About::VirtualServer { vs } => {
                let Some(v) = self.services.get_mut(vs) else {
                    return;
                };
                let starting = std::mem::take(&mut v.starting);
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

    /// Checker number `check` of real server `rs` of `vs` gave a verdict (`now`, after
    /// `before`). As keepalived 2.2.7 (observed): each change of a checker's state mails,
    /// the subject giving the real server's state and the body the checker's (a checker that
    /// recovers while another still fails mails "Realserver ... - DOWN" / "... succeed ...");
    /// with `no_checker_emails` only a change of the real server's state mails. A verdict that
    /// changes nothing (an `alpha` server's first failure) mails nothing.
    /// `reason` is the verdict's when it is a failure.
    fn verdict(
        &self,
        vs: &str,
        rs: &str,
        check: usize,
        before: SlotState,
        now: SlotState,
        reason: Option<&Reason>,
    ) {
        let wanted = if self.no_checker_emails {
            before.server_up != now.server_up
        } else {
            before.checker_up != now.checker_up
        };
        let Some(checker_up) = now.checker_up.filter(|_| wanted) else {
            return;
        };
        self.mail_checker(vs, rs, check, now.server_up, checker_up, reason);
    }

    /// A MISC_CHECK's first probe passed while its checker was already up: keepalived 2.2.7
    /// mails the real server's state with the checker's success body then (observed: a
    /// `misc_dynamic` check exiting 3 at start mailed "Realserver ... - UP" / "=> MISC CHECK
    /// succeeded on service <="), although nothing changed. Not under `no_checker_emails`,
    /// which keeps the mails to real server changes.
    fn first_success(&self, vs: &str, rs: &str, check: usize, now: SlotState) {
        if !self.no_checker_emails {
            self.mail_checker(vs, rs, check, now.server_up, true, None);
        }
    }

    /// Mails the real server's state (`server_up`) with checker number `check`'s body for
    /// `checker_up` (and `reason`), when there is a mailer and real server `rs` of `vs` has
    /// `smtp_alert`.
    fn mail_checker(
        &self,
        vs: &str,
        rs: &str,
        check: usize,
        server_up: bool,
        checker_up: bool,
        reason: Option<&Reason>,
    ) {
        let Some(m) = &self.mailer else {
            return;
        };
        let Some(r) = self.services.get(vs).and_then(|v| v.servers.get(rs)) else {
            return;
        };
        if !r.alert {
            return;
        }
        let body = r
            .checkers
            .get(check)
            .unwrap_or(&Wording::Other)
            .body(checker_up, reason);
        m.send(rs_alert(rs, vs, server_up, body));
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
    /// the mail of a quorum change when the service has `smtp_alert`.
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

    /// A checker's verdict `ev` was applied to `slot` of `plan`'s director, whose state was
    /// `before`: queues the `smtp_alert` mail it calls for (see [`CheckerAlerts::verdict`]).
    /// Called for every slot of every verdict: returns at once when nothing mails.
    pub fn checker_verdict(
        &self,
        plan: &Plan,
        director: &Director,
        slot: Slot,
        before: SlotState,
        ev: &CheckerEvent,
    ) {
        let reason = match ev {
            CheckerEvent::Down { reason } => Some(&reason.failure.reason),
            CheckerEvent::Up { .. } => None,
            _ => return,
        };
        let Some((vs_label, rs_label)) = self.mail_labels(plan, slot) else {
            return;
        };
        let now = SlotState::of(director, slot);
        self.smtp
            .verdict(vs_label, &rs_label, slot.check(), before, now, reason);
    }

    /// The first probe of a MISC_CHECK that starts up (no `alpha`) passed: queues the mail
    /// keepalived sends then (see [`CheckerAlerts::first_success`]). Called for every slot of
    /// such a probe; returns at once when nothing mails.
    pub fn misc_first_success(&self, plan: &Plan, director: &Director, slot: Slot) {
        let Some((vs_label, rs_label)) = self.mail_labels(plan, slot) else {
            return;
        };
        let now = SlotState::of(director, slot);
        self.smtp
            .first_success(vs_label, &rs_label, slot.check(), now);
    }

    /// The labels of `slot`'s virtual and real server in `plan`; `None` when nothing mails
    /// (no `smtp_alert` anywhere) or the slot is not in `plan`.
    fn mail_labels<'p>(&self, plan: &'p Plan, slot: Slot) -> Option<(&'p str, String)> {
        self.smtp.mailer.as_ref()?;
        let sp = plan.services.get(slot.vs())?;
        Some((&sp.label, sp.rs_label(slot.rs())?))
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

    /// The body of a mail about the real server's first checker.
    fn body(rs: &RealServer, up: bool, reason: Option<&Reason>) -> String {
        rs.checkers
            .first()
            .map_or(Wording::Other, |c| Wording::of(c, rs))
            .body(up, reason)
    }

    #[test]
    fn real_server_bodies_follow_the_checker() {
        // keepalived 2.2.7's mails, observed in the VM for each checker kind (HTTP_GET and
        // SSL_GET say "HTTP request failed" whether refused, timed out, wrong status, digest
        // mismatch, reset or garbage).
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
        let refused = Reason::ConnectFailed {
            target: "10.0.0.7:8080".parse().expect("addr"),
            cause: rka_check::IoCause::Os(111),
        };
        for (check, down, up) in cases {
            let rs = server(check);
            assert_eq!(body(&rs, false, Some(&refused)), down, "{check}");
            assert_eq!(body(&rs, true, None), up, "{check}");
        }
    }

    #[test]
    fn smtp_and_misc_bodies_say_what_failed() {
        let smtp = server("SMTP_CHECK {\n}");
        let at = "[10.0.0.2]:8080";
        let target: std::net::SocketAddr = "10.0.0.2:8080".parse().expect("addr");
        let s2 = std::time::Duration::from_secs(2);
        // Each way an SMTP probe fails, and keepalived's words for it (observed).
        for (reason, words) in [
            (
                Reason::ConnectTimeout { target, after: s2 },
                "Connection timeout to server",
            ),
            (
                Reason::ConnectFailed {
                    target,
                    cause: rka_check::IoCause::Os(111),
                },
                "Could not connect to server",
            ),
            (
                Reason::ConnectClosed { target },
                "Could not connect to server",
            ),
            (
                Reason::Socket("cannot bind to 10.9.9.9:0: EADDRNOTAVAIL".into()),
                "Error connecting to server",
            ),
            (
                Reason::SmtpBanner { code: 554 },
                "Bad greeting banner from server",
            ),
            (
                Reason::SmtpMalformed("hello".into()),
                "Bad greeting banner from server",
            ),
            (
                Reason::SmtpHelo { code: 500 },
                "Bad HELO response from server",
            ),
            (
                Reason::SmtpReadTimeout { after: s2 },
                "Read timeout from server",
            ),
            (Reason::SmtpTooSlow, "Read timeout from server"),
            (Reason::SmtpClosed, "Read failure from server"),
            (
                Reason::SmtpReadFailed(rka_check::IoCause::Os(104)),
                "Read failure from server",
            ),
            (
                Reason::SmtpTooLong { limit: 4096 },
                "Read failure from server",
            ),
            (Reason::SmtpWriteTimeout, "Write timeout to server"),
            (
                Reason::SmtpWriteFailed(rka_check::IoCause::Os(32)),
                "Write failure to server",
            ),
            (
                Reason::TimedOut {
                    kind: rka_check::CheckKind::Smtp,
                    after: s2,
                },
                "Unknown connection error to server",
            ),
        ] {
            assert_eq!(
                body(&smtp, false, Some(&reason)),
                format!("=> CHECK failed on service : {words} {at} <="),
                "{reason}"
            );
        }
        let v6 = load(
            "virtual_server 2001:db8::1 25 {\n protocol TCP\n\
             real_server 2001:db8::2 25 {\n SMTP_CHECK {\n }\n }\n}\n",
        );
        let rs = &v6.lvs.virtual_servers[0].real_servers[0];
        assert_eq!(
            body(rs, false, Some(&Reason::SmtpBanner { code: 421 })),
            "=> CHECK failed on service : Bad greeting banner from server [2001:db8::2]:25 <="
        );
        let misc = server("MISC_CHECK {\n misc_path /bin/true\n}");
        assert_eq!(
            body(
                &misc,
                false,
                Some(&Reason::MiscTimeout {
                    program: "/bin/sleep".into(),
                    after: s2
                })
            ),
            "=> MISC CHECK timed out on service <="
        );
        assert_eq!(
            body(&misc, false, Some(&Reason::MiscExit { status: 1 })),
            "=> MISC CHECK failed on service <="
        );
    }

    /// The reasons rka-check's SMTP probe really gives, against misbehaving servers, are the
    /// ones [`smtp_failure`] knows.
    #[tokio::test]
    async fn smtp_probe_reasons_map_to_keepalived_words() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        async fn serve(script: &'static [&'static [u8]]) -> std::net::SocketAddr {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let at = l.local_addr().expect("addr");
            tokio::spawn(async move {
                if let Ok((mut c, _)) = l.accept().await {
                    let mut buf = [0u8; 512];
                    for (i, line) in script.iter().enumerate() {
                        if i > 0 && c.read(&mut buf).await.is_err() {
                            return;
                        }
                        let _ = c.write_all(line).await;
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                }
            });
            at
        }
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr");
        let cases: [(&'static [&'static [u8]], &str); 4] = [
            (&[b"554 go away\r\n"], "Bad greeting banner from server"),
            (
                &[b"220 hi\r\n", b"500 no\r\n"],
                "Bad HELO response from server",
            ),
            (&[b""], "Read timeout from server"),
            (&[], "Could not connect to server"),
        ];
        for (script, words) in cases {
            let at = if script.is_empty() {
                closed
            } else {
                serve(script).await
            };
            let mut connect = rka_check::ConnectOpts::new(at);
            connect.connect_timeout = std::time::Duration::from_millis(300);
            let p = rka_check::smtp::SmtpParams::new(connect);
            let reason = rka_check::smtp::probe(&p).await.expect_err("fails").reason;
            assert_eq!(smtp_failure(&reason), words, "{reason}");
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
        // Unset everywhere: the real servers mail, the service does not (observed).
        assert_eq!(flags("", "", ""), (false, true, true));
        assert_eq!(flags("smtp_alert", "", ""), (true, true, true));
        assert_eq!(flags("smtp_alert_checker", "", ""), (true, true, true));
        assert_eq!(flags("smtp_alert_vrrp", "", ""), (false, true, true));
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
        assert_eq!(flags("", "", "smtp_alert on"), (false, true, true));
        assert_eq!(flags("", "", "smtp_alert off"), (false, false, true));
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

    /// The runtime's part around the notifier: a plan, its director, verdicts applied as the
    /// runtime applies them and the director's announcements notified.
    struct Rig {
        plan: Plan,
        director: Director,
        n: LvsNotifier,
    }

    impl Rig {
        fn new(c: &Config) -> Rig {
            let mut plan = Plan::from_config(c);
            let director = Director::new(std::mem::take(&mut plan.director));
            Rig {
                plan,
                director,
                n: LvsNotifier {
                    smtp: CheckerAlerts::build(c, true),
                    ..Default::default()
                },
            }
        }

        fn announce(&mut self, a: Action) {
            match a {
                Action::RealServerUp { vs, rs } | Action::RealServerDown { vs, rs } => {
                    let sp = &self.plan.services[vs];
                    let up = matches!(a, Action::RealServerUp { .. });
                    self.n.notify(
                        &rs_line(&sp.dest_label(&sp.real_servers[rs]), &sp.label, up),
                        None,
                    );
                }
                Action::QuorumUp { vs } | Action::QuorumDown { vs } => {
                    let up = matches!(a, Action::QuorumUp { .. });
                    self.n
                        .notify(&vs_line(&self.plan.services[vs].label, up), None);
                }
                Action::TableChanged => {}
            }
        }

        fn start(&mut self, init_notifies: bool) {
            for a in start_actions(&self.plan, &self.director, init_notifies) {
                self.announce(a);
            }
        }

        /// Checker `check` of real server `rs` of the first service passes or fails.
        fn verdict(&mut self, rs: usize, check: usize, up: bool) {
            let ev = if up {
                CheckerEvent::Up {
                    reason: "ok".into(),
                }
            } else {
                CheckerEvent::Down {
                    reason: rka_check::Failure::connect(
                        "10.0.0.2:8080".parse().expect("addr"),
                        &std::io::Error::from_raw_os_error(111),
                    )
                    .into(),
                }
            };
            let s = Slot::new(0, rs, check);
            let before = SlotState::of(&self.director, s);
            self.director.handle_checker(s, &ev);
            self.n
                .checker_verdict(&self.plan, &self.director, s, before, &ev);
            while let Some(a) = self.director.poll_action() {
                self.announce(a);
            }
        }
    }

    /// Exactly `n` mails arrive: their (subject, first body line).
    async fn mails(
        store: &std::sync::Arc<std::sync::Mutex<Vec<crate::smtp::test_sink::Mail>>>,
        n: usize,
    ) -> Vec<(String, String)> {
        crate::smtp::test_sink::wait_for(store, n).await;
        // Anything more would have come by now.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let got = store.lock().expect("mails").clone();
        assert!(got
            .iter()
            .all(|m| m.to == ["ops@example.com"] && m.from == "k@example.net"));
        got.iter()
            .map(|m| {
                (
                    m.header("Subject").unwrap_or_default().to_owned(),
                    m.body().first().copied().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    fn pairs(want: &[(&str, &str)]) -> Vec<(String, String)> {
        want.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    const RS2: &str = "[R1] Realserver [10.0.0.2]:tcp:8080 of virtual server [10.0.0.1]:tcp:80";
    const RS3: &str = "[R1] Realserver [10.0.0.3]:tcp:8080 of virtual server [10.0.0.1]:tcp:80";

    #[tokio::test]
    async fn verdicts_are_mailed_with_the_live_weight() {
        let (port, store) = crate::smtp::test_sink::start().await;
        let mut r = Rig::new(&config("smtp_alert", "", "", port));
        // 10.0.0.2 starts up, 10.0.0.3 (alpha) down: weight 1 < quorum 2, announced at start;
        // the alpha server's first success is its change.
        r.start(false);
        r.verdict(1, 0, true);
        r.verdict(0, 0, false);
        let want = [
            (
                "[R1] Virtualserver [10.0.0.1]:tcp:80 - DOWN",
                "=> Starting with quorum down 2+0=2 <= 1 <=",
            ),
            (
                &format!("{RS3} - UP")[..],
                "=> TCP CHECK succeed on service <=",
            ),
            (
                "[R1] Virtualserver [10.0.0.1]:tcp:80 - UP",
                "=> Gained quorum 2+0=2 <= 2 <=",
            ),
            (
                &format!("{RS2} - DOWN")[..],
                "=> TCP CHECK failed on service <=",
            ),
            (
                "[R1] Virtualserver [10.0.0.1]:tcp:80 - DOWN",
                "=> Lost quorum 2+0=2 <= 1 <=",
            ),
        ];
        assert_eq!(mails(&store, want.len()).await, pairs(&want));
    }

    #[tokio::test]
    async fn an_alpha_server_failing_first_announces_without_mail() {
        let (port, store) = crate::smtp::test_sink::start().await;
        let mut r = Rig::new(&config("smtp_alert", "quorum 1", "", port));
        r.start(false);
        // keepalived 2.2.7: notify_down and the FIFO line, no mail.
        r.verdict(1, 0, false);
        r.verdict(1, 0, true);
        let want = [
            (
                "[R1] Virtualserver [10.0.0.1]:tcp:80 - UP",
                "=> Starting with quorum up 1+0=1 <= 1 <=",
            ),
            (
                &format!("{RS3} - UP")[..],
                "=> TCP CHECK succeed on service <=",
            ),
        ];
        assert_eq!(mails(&store, want.len()).await, pairs(&want));
    }

    /// The mails of a MISC_CHECK's first success on 10.0.0.2 under `global`.
    async fn misc_first_success(global: &str) -> Vec<(String, String)> {
        let (port, store) = crate::smtp::test_sink::start().await;
        let c = load(&format!(
            "global_defs {{\n router_id R1\n notification_email {{\n ops@example.com\n }}\n\
             notification_email_from k@example.net\n smtp_server 127.0.0.1 {port}\n {global}\n}}\n\
             virtual_server 10.0.0.1 80 {{\n protocol TCP\n\
             real_server 10.0.0.2 8080 {{\n MISC_CHECK {{\n misc_path \"/bin/sh -c 'exit 3'\"\n\
             misc_dynamic\n }}\n }}\n}}\n"
        ));
        let r = Rig::new(&c);
        r.n.misc_first_success(&r.plan, &r.director, Slot::new(0, 0, 0));
        // Unknown slots mail nothing.
        r.n.misc_first_success(&r.plan, &r.director, Slot::new(0, 5, 0));
        r.n.misc_first_success(&r.plan, &r.director, Slot::new(3, 0, 0));
        let n = usize::from(!global.contains("no_checker_emails"));
        mails(&store, n).await
    }

    #[tokio::test]
    async fn a_misc_check_mails_its_first_success() {
        // keepalived 2.2.7 (observed: "/bin/sh -c 'exit 3'" under misc_dynamic, a server that
        // starts up): the real server's UP with the MISC_CHECK success body.
        let want = [(
            "[R1] Realserver [10.0.0.2]:tcp:8080 of virtual server [10.0.0.1]:tcp:80 - UP",
            "=> MISC CHECK succeeded on service <=",
        )];
        assert_eq!(misc_first_success("").await, pairs(&want));
        assert!(misc_first_success("no_checker_emails").await.is_empty());
    }

    /// Two TCP checkers on 10.0.0.2: both fail, then both recover.
    async fn two_checkers(global: &str) -> Vec<(String, String)> {
        let (port, store) = crate::smtp::test_sink::start().await;
        // The virtual server does not mail: only the real server's mails are looked at.
        let c = config(
            global,
            "smtp_alert off",
            "TCP_CHECK {\n connect_port 81\n }",
            port,
        );
        let mut r = Rig::new(&c);
        r.verdict(0, 0, false);
        r.verdict(0, 1, false);
        r.verdict(0, 0, true);
        r.verdict(0, 1, true);
        let n = if global.contains("no_checker_emails") {
            2
        } else {
            4
        };
        mails(&store, n).await
    }

    #[tokio::test]
    async fn each_checker_change_mails_unless_no_checker_emails() {
        // keepalived 2.2.7 (observed): the subject is the server's state, the body the
        // checker's.
        let down = &format!("{RS2} - DOWN")[..];
        let up = &format!("{RS2} - UP")[..];
        let (failed, succeed) = (
            "=> TCP CHECK failed on service <=",
            "=> TCP CHECK succeed on service <=",
        );
        assert_eq!(
            two_checkers("smtp_alert").await,
            pairs(&[
                (down, failed),
                (down, failed),
                (down, succeed),
                (up, succeed)
            ])
        );
        assert_eq!(
            two_checkers("smtp_alert\n no_checker_emails").await,
            pairs(&[(down, failed), (up, succeed)])
        );
    }

    #[tokio::test]
    async fn start_announcements_with_and_without_rs_init_notifies() {
        let c = config("", "quorum 1", "", 25);
        let r = Rig::new(&c);
        assert_eq!(
            start_actions(&r.plan, &r.director, false),
            vec![Action::QuorumUp { vs: 0 }]
        );
        // The alpha server (10.0.0.3) is not announced.
        assert_eq!(
            start_actions(&r.plan, &r.director, true),
            vec![
                Action::RealServerUp { vs: 0, rs: 0 },
                Action::QuorumUp { vs: 0 }
            ]
        );
        let c = config("", "quorum 5", "inhibit_on_failure", 25);
        let r = Rig::new(&c);
        assert_eq!(
            start_actions(&r.plan, &r.director, true),
            vec![
                Action::RealServerUp { vs: 0, rs: 0 },
                Action::QuorumDown { vs: 0 }
            ]
        );
    }

    #[tokio::test]
    async fn init_notifies_mail_nothing_but_the_quorum() {
        let (port, store) = crate::smtp::test_sink::start().await;
        let mut r = Rig::new(&config(
            "smtp_alert\n rs_init_notifies",
            "quorum 1",
            "",
            port,
        ));
        r.start(true);
        let want = [(
            "[R1] Virtualserver [10.0.0.1]:tcp:80 - UP",
            "=> Starting with quorum up 1+0=1 <= 1 <=",
        )];
        assert_eq!(mails(&store, want.len()).await, pairs(&want));
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
