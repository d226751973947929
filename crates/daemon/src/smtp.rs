//! `smtp_alert`: e-mail alerts sent to the configured `smtp_server`.
//!
//! The engines never wait for a mail: they hand an [`Alert`] to a [`Mailer`], whose task holds
//! a bounded queue and sends the alerts one after another, each on its own SMTP conversation
//! (greeting, `HELO`, `MAIL FROM`, one `RCPT TO` per `notification_email`, `DATA`, `QUIT`),
//! every step bounded by `smtp_connect_timeout`. A failed alert is logged (rate-limited),
//! counted and dropped: no retries, as keepalived 2.2.7 does. The message has keepalived's
//! shape, observed against a recording SMTP sink: `Date`, `From`, `Subject: [ROUTER_ID] ...`,
//! `X-Mailer: Keepalived`, `To: a, b`, a blank line, the one-line body and a blank line.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rka_config::Config;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// Alerts waiting to be sent; more are dropped (and counted) rather than piling up behind a
/// dead server.
const QUEUE_DEPTH: usize = 64;
/// The longest server reply line accepted.
const MAX_REPLY_LINE: u64 = 1024;
/// The most lines a multi-line reply may have.
const MAX_REPLY_LINES: usize = 64;
/// At most one failure is logged per this period; the others are counted and summarised.
const ERROR_LOG_PERIOD: Duration = Duration::from_secs(30);

/// Everything a conversation needs, taken from `global_defs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    /// `smtp_server` host (address or name).
    pub host: String,
    /// `smtp_server` port (default 25).
    pub port: u16,
    /// `smtp_helo_name` (default: the canonical host name, see [`canonical_host_name`]).
    pub helo: String,
    /// `notification_email_from` (default: `USER@CANONICAL_HOST_NAME`, as keepalived 2.2.7
    /// sends it).
    pub from: String,
    /// `notification_email`, in order.
    pub to: Vec<String>,
    /// `smtp_connect_timeout`: the bound on connecting and on each reply.
    pub timeout: Duration,
    /// `router_id` (default: the canonical host name), shown in every subject.
    pub router_id: String,
}

impl SmtpSettings {
    /// The settings of `config`, or `None` when alerts cannot be sent: keepalived silently
    /// sends nothing without an `smtp_server` or without any `notification_email`.
    pub fn from_config(config: &Config) -> Option<SmtpSettings> {
        let g = &config.global;
        let server = g.smtp_server.as_ref()?;
        if g.notification_email.is_empty() {
            return None;
        }
        let host = canonical_host_name();
        let s = &g.simple;
        Some(SmtpSettings {
            host: server.host.clone(),
            port: server.port,
            helo: s.smtp_helo_name.clone().unwrap_or_else(|| host.clone()),
            from: s
                .notification_email_from
                .clone()
                .unwrap_or_else(|| format!("{}@{host}", user_name())),
            to: g.notification_email.clone(),
            timeout: s.smtp_connect_timeout,
            router_id: s.router_id.clone().unwrap_or(host),
        })
    }

    /// `[host]:port`, as logs name the server.
    pub fn server_label(&self) -> String {
        format!("[{}]:{}", self.host, self.port)
    }
}

/// Whether an object alerts: its own `smtp_alert` when set, else the family's global default
/// (`smtp_alert_vrrp` or `smtp_alert_checker`), else the global `smtp_alert`, else no.
pub fn alert_enabled(own: Option<bool>, family: Option<bool>, global: Option<bool>) -> bool {
    own.or(family).or(global).unwrap_or(false)
}

/// One alert: a subject (without the `[router_id]` prefix) and a one-line body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// E.g. `VRRP Instance VI_1 - Entering MASTER state`.
    pub subject: String,
    /// E.g. `=> VRRP Instance is now owning VRRP VIPs <=`.
    pub body: String,
}

/// The text sent after `DATA`, terminator included: headers, blank line, body, blank line,
/// `.`; lines end in CRLF and body lines starting with `.` are doubled (RFC 5321 4.5.2).
pub fn format_message(settings: &SmtpSettings, alert: &Alert, date: &str) -> String {
    let one_line = |s: &str| s.replace(['\r', '\n'], " ");
    let mut m = String::new();
    m.push_str(&format!("Date: {date}\r\n"));
    m.push_str(&format!("From: {}\r\n", one_line(&settings.from)));
    m.push_str(&format!(
        "Subject: [{}] {}\r\n",
        one_line(&settings.router_id),
        one_line(&alert.subject)
    ));
    m.push_str("X-Mailer: Keepalived\r\n");
    m.push_str(&format!("To: {}\r\n", one_line(&settings.to.join(", "))));
    m.push_str("\r\n");
    for line in alert.body.lines() {
        if line.starts_with('.') {
            m.push('.');
        }
        m.push_str(line);
        m.push_str("\r\n");
    }
    m.push_str("\r\n.\r\n");
    m
}

/// An RFC 5322 date for `unix_secs`, in UTC: `Sun, 22 Nov 2026 08:31:03 +0000`.
pub fn rfc5322_date(unix_secs: u64) -> String {
    let t = crate::utc::Utc::from_unix(i64::try_from(unix_secs).unwrap_or(i64::MAX));
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} +0000",
        t.weekday_name(),
        t.day,
        t.month_name(),
        t.year,
        t.hour,
        t.minute,
        t.second
    )
}

fn now_date() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    rfc5322_date(secs)
}

/// The host name as keepalived 2.2.7 defaults `router_id`, the HELO name and the sender's
/// domain to: the canonical name the host name resolves to (observed: with
/// `127.0.0.1 vm.example.test vm` in the hosts file, mails say `vm.example.test`). Read from
/// `/etc/hosts`; a name only DNS knows keeps its short form. Where keepalived cannot resolve
/// the name it sends `[unknown]`, `HELO localhost` and `MAIL FROM:<(null)>`: the plain host
/// name is used instead.
pub fn canonical_host_name() -> String {
    let host = host_name();
    std::fs::read_to_string("/etc/hosts")
        .ok()
        .and_then(|t| canonical_in_hosts(&t, &host))
        .unwrap_or(host)
}

/// The canonical (first) name of the first hosts-file line that lists `name`.
fn canonical_in_hosts(hosts: &str, name: &str) -> Option<String> {
    for line in hosts.lines() {
        let line = line.split('#').next().unwrap_or("");
        let names: Vec<&str> = line.split_whitespace().skip(1).collect();
        if names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            return names.first().map(|n| (*n).to_owned());
        }
    }
    None
}

fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

fn user_name() -> String {
    nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map_or_else(|| "root".to_owned(), |u| u.name)
}

/// Why an alert was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    /// The server name did not resolve.
    #[error("cannot resolve {0}")]
    Resolve(String),
    /// No address of the server accepted a connection.
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    /// A step (or the whole conversation) took too long.
    #[error("{0}: timed out")]
    Timeout(&'static str),
    /// Reading or writing failed.
    #[error("{stage}: {source}")]
    Io {
        /// The step in progress.
        stage: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// The server closed the connection.
    #[error("connection closed before the {0} reply")]
    Closed(&'static str),
    /// The reply was not SMTP.
    #[error("malformed {0} reply")]
    Malformed(&'static str),
    /// The server refused a step.
    #[error("{stage} refused with status {code}")]
    Refused {
        /// The refused step (`greeting`, `HELO`, `MAIL`, `RCPT`, `DATA`, `message`).
        stage: &'static str,
        /// The server's status code.
        code: u16,
    },
}

/// Reads one (possibly multi-line) reply and returns its status code.
async fn read_reply<S: AsyncRead + Unpin>(
    r: &mut BufReader<S>,
    stage: &'static str,
) -> Result<u16, SmtpError> {
    let mut line = Vec::new();
    for _ in 0..MAX_REPLY_LINES {
        line.clear();
        let n = (&mut *r)
            .take(MAX_REPLY_LINE)
            .read_until(b'\n', &mut line)
            .await
            .map_err(|source| SmtpError::Io { stage, source })?;
        if n == 0 {
            return Err(SmtpError::Closed(stage));
        }
        if line.last() != Some(&b'\n') {
            return Err(SmtpError::Malformed(stage));
        }
        let code = line
            .get(..3)
            .and_then(|c| std::str::from_utf8(c).ok())
            .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or(SmtpError::Malformed(stage))?;
        // `250-...` continues the reply, `250 ...` (or a bare `250`) ends it.
        if line.get(3) != Some(&b'-') {
            return Ok(code);
        }
    }
    Err(SmtpError::Malformed(stage))
}

/// Sends `command` (unless empty) and checks that the reply's class is `class` (2 or 3).
async fn step<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut BufReader<S>,
    timeout: Duration,
    stage: &'static str,
    command: &str,
    class: u16,
) -> Result<(), SmtpError> {
    let io = async {
        if !command.is_empty() {
            let w = conn.get_mut();
            w.write_all(command.as_bytes())
                .await
                .map_err(|source| SmtpError::Io { stage, source })?;
            w.flush()
                .await
                .map_err(|source| SmtpError::Io { stage, source })?;
        }
        read_reply(conn, stage).await
    };
    let code = tokio::time::timeout(timeout, io)
        .await
        .map_err(|_| SmtpError::Timeout(stage))??;
    if code / 100 == class {
        Ok(())
    } else {
        Err(SmtpError::Refused { stage, code })
    }
}

/// Runs one SMTP conversation over `stream` delivering `message` (the [`format_message`]
/// text). On a refusal it says `QUIT` before giving up.
pub async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    settings: &SmtpSettings,
    message: &str,
) -> Result<(), SmtpError> {
    let mut conn = BufReader::new(stream);
    let t = settings.timeout;
    let result = async {
        step(&mut conn, t, "greeting", "", 2).await?;
        step(
            &mut conn,
            t,
            "HELO",
            &format!("HELO {}\r\n", settings.helo),
            2,
        )
        .await?;
        let from = format!("MAIL FROM:<{}>\r\n", settings.from);
        step(&mut conn, t, "MAIL", &from, 2).await?;
        for to in &settings.to {
            step(&mut conn, t, "RCPT", &format!("RCPT TO:<{to}>\r\n"), 2).await?;
        }
        step(&mut conn, t, "DATA", "DATA\r\n", 3).await?;
        step(&mut conn, t, "message", message, 2).await
    }
    .await;
    if !matches!(result, Err(SmtpError::Io { .. } | SmtpError::Closed(_))) {
        // Best effort: the alert's fate is already decided.
        let _ = step(&mut conn, t, "QUIT", "QUIT\r\n", 2).await;
    }
    result
}

/// Connects to the server (each resolved address in turn) and delivers `alert`. Each step is
/// bounded by `smtp_connect_timeout` and the whole by twice that, so that a server trickling
/// its replies cannot hold the queue for long.
pub async fn deliver(settings: &SmtpSettings, alert: &Alert) -> Result<(), SmtpError> {
    tokio::time::timeout(settings.timeout * 2, deliver_once(settings, alert))
        .await
        .unwrap_or(Err(SmtpError::Timeout("whole conversation")))
}

async fn deliver_once(settings: &SmtpSettings, alert: &Alert) -> Result<(), SmtpError> {
    let target = (settings.host.as_str(), settings.port);
    let addrs: Vec<SocketAddr> =
        tokio::time::timeout(settings.timeout, tokio::net::lookup_host(target))
            .await
            .map_err(|_| SmtpError::Resolve(settings.host.clone()))?
            .map_err(|_| SmtpError::Resolve(settings.host.clone()))?
            .collect();
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    for addr in addrs {
        match tokio::time::timeout(settings.timeout, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                // keepalived's -D lines (both children's mails).
                tracing::debug!("{}", crate::checker::logline::smtp_alert_connected(addr));
                let message = format_message(settings, alert, &now_date());
                return converse(stream, settings, &message).await;
            }
            Ok(Err(e)) => last = e,
            Err(_) => return Err(SmtpError::Timeout("connect")),
        }
    }
    Err(SmtpError::Connect(last))
}

/// Alerts of the whole process (every mailer it had, across reloads), by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailTotals {
    /// Alerts the server accepted.
    pub sent: u64,
    /// Alerts that failed (refused, timed out, unreachable).
    pub failed: u64,
    /// Alerts dropped because the queue was full.
    pub dropped: u64,
}

/// The process-wide counters behind [`totals`]: a reload replaces the mailer, not these.
static TOTALS: MailerStats = MailerStats {
    sent: AtomicU64::new(0),
    failed: AtomicU64::new(0),
    dropped: AtomicU64::new(0),
};

/// What this process's mailers have done since it started (metrics of either child).
pub fn totals() -> MailTotals {
    MailTotals {
        sent: TOTALS.sent.load(Ordering::Relaxed),
        failed: TOTALS.failed.load(Ordering::Relaxed),
        dropped: TOTALS.dropped.load(Ordering::Relaxed),
    }
}

/// What the mailer has done since it started.
#[derive(Debug, Default)]
pub struct MailerStats {
    /// Alerts the server accepted.
    pub sent: AtomicU64,
    /// Alerts that failed (refused, timed out, unreachable).
    pub failed: AtomicU64,
    /// Alerts dropped because the queue was full.
    pub dropped: AtomicU64,
}

/// Logs failures at most once per [`ERROR_LOG_PERIOD`], counting the ones it holds back.
#[derive(Debug, Default)]
struct ErrorLog {
    last: Option<Instant>,
    held_back: u64,
}

impl ErrorLog {
    fn report(&mut self, what: std::fmt::Arguments<'_>) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < ERROR_LOG_PERIOD)
        {
            self.held_back += 1;
            return;
        }
        if self.held_back > 0 {
            tracing::warn!("{what} ({} more SMTP failures not logged)", self.held_back);
        } else {
            tracing::warn!("{what}");
        }
        self.last = Some(now);
        self.held_back = 0;
    }
}

/// The sending side of the alert queue. Dropping it lets the task finish the queued alerts
/// and exit.
#[derive(Debug, Clone)]
pub struct Mailer {
    tx: mpsc::Sender<Alert>,
    stats: Arc<MailerStats>,
    errors: Arc<Mutex<ErrorLog>>,
}

impl Mailer {
    /// Starts the sending task for `settings`. `None` outside a tokio runtime (logged).
    pub fn spawn(settings: SmtpSettings) -> Option<Mailer> {
        let handle = match tokio::runtime::Handle::try_current() {
            Ok(h) => h,
            Err(_) => {
                tracing::error!("smtp_alert: no runtime to send alerts from - alerts disabled");
                return None;
            }
        };
        let (tx, mut rx) = mpsc::channel::<Alert>(QUEUE_DEPTH);
        let stats = Arc::new(MailerStats::default());
        let errors = Arc::new(Mutex::new(ErrorLog::default()));
        let (task_stats, task_errors) = (stats.clone(), errors.clone());
        handle.spawn(async move {
            while let Some(alert) = rx.recv().await {
                match deliver(&settings, &alert).await {
                    Ok(()) => {
                        tracing::debug!("{}", crate::checker::logline::smtp_alert_sent());
                        task_stats.sent.fetch_add(1, Ordering::Relaxed);
                        TOTALS.sent.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(
                            "SMTP alert sent to {}: {}",
                            settings.server_label(),
                            alert.subject
                        );
                    }
                    Err(e) => {
                        task_stats.failed.fetch_add(1, Ordering::Relaxed);
                        TOTALS.failed.fetch_add(1, Ordering::Relaxed);
                        if let Ok(mut log) = task_errors.lock() {
                            log.report(format_args!(
                                "SMTP alert '{}' not sent to {}: {e}",
                                alert.subject,
                                settings.server_label()
                            ));
                        }
                    }
                }
            }
            // Every sender is gone (reload or stop): account for this mailer's life.
            let (sent, failed) = (
                task_stats.sent.load(Ordering::Relaxed),
                task_stats.failed.load(Ordering::Relaxed),
            );
            let dropped = task_stats.dropped.load(Ordering::Relaxed);
            if sent + failed + dropped > 0 {
                tracing::debug!("SMTP alerts: {sent} sent, {failed} failed, {dropped} dropped");
            }
        });
        Some(Mailer { tx, stats, errors })
    }

    /// Queues `alert` without waiting; a full queue drops it (counted, logged rate-limited).
    pub fn send(&self, alert: Alert) {
        if let Err(e) = self.tx.try_send(alert) {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            TOTALS.dropped.fetch_add(1, Ordering::Relaxed);
            let subject = match &e {
                mpsc::error::TrySendError::Full(a) | mpsc::error::TrySendError::Closed(a) => {
                    a.subject.clone()
                }
            };
            if let Ok(mut log) = self.errors.lock() {
                log.report(format_args!("SMTP alert '{subject}' dropped: queue full"));
            }
        }
    }

    /// The counters of this mailer.
    #[cfg(test)]
    pub fn stats(&self) -> &MailerStats {
        &self.stats
    }
}

/// A recording SMTP server for the unit tests of the alert paths.
#[cfg(test)]
pub mod test_sink {
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    /// One mail as the server received it.
    #[derive(Debug, Clone, Default)]
    pub struct Mail {
        /// The `MAIL FROM` path.
        pub from: String,
        /// The `RCPT TO` paths.
        pub to: Vec<String>,
        /// The DATA lines, CRLF removed, terminator excluded.
        pub data: Vec<String>,
    }

    impl Mail {
        /// The value of header `name`.
        pub fn header(&self, name: &str) -> Option<&str> {
            self.data
                .iter()
                .take_while(|l| !l.is_empty())
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
        }

        /// The body lines (after the blank line).
        pub fn body(&self) -> Vec<&str> {
            self.data
                .iter()
                .skip_while(|l| !l.is_empty())
                .skip(1)
                .map(String::as_str)
                .collect()
        }
    }

    /// Listens on 127.0.0.1 (any port) and records every complete mail.
    pub async fn start() -> (u16, Arc<Mutex<Vec<Mail>>>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = l.local_addr().expect("addr").port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let store = mails.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = l.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut c = BufReader::new(conn);
                    let _ = c.get_mut().write_all(b"220 sink\r\n").await;
                    let mut mail = Mail::default();
                    let mut in_data = false;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if c.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.trim_end_matches(['\r', '\n']).to_owned();
                        let reply: &[u8] = if in_data {
                            if l != "." {
                                mail.data.push(l);
                                continue;
                            }
                            in_data = false;
                            store.lock().expect("store").push(std::mem::take(&mut mail));
                            b"250 queued\r\n"
                        } else if let Some(p) = l.strip_prefix("MAIL FROM:") {
                            mail.from = p.trim_matches(['<', '>']).to_owned();
                            b"250 ok\r\n"
                        } else if let Some(p) = l.strip_prefix("RCPT TO:") {
                            mail.to.push(p.trim_matches(['<', '>']).to_owned());
                            b"250 ok\r\n"
                        } else if l == "DATA" {
                            in_data = true;
                            b"354 go\r\n"
                        } else if l == "QUIT" {
                            let _ = c.get_mut().write_all(b"221 bye\r\n").await;
                            return;
                        } else {
                            b"250 ok\r\n"
                        };
                        if c.get_mut().write_all(reply).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (port, mails)
    }

    /// Waits (up to 5 s) until `n` mails arrived and returns them.
    pub async fn wait_for(mails: &Arc<Mutex<Vec<Mail>>>, n: usize) -> Vec<Mail> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let got = mails.lock().expect("mails").clone();
            if got.len() >= n || std::time::Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncBufReadExt;

    fn settings() -> SmtpSettings {
        SmtpSettings {
            host: "127.0.0.1".into(),
            port: 2525,
            helo: "dir1".into(),
            from: "kad@example.net".into(),
            to: vec!["alice@example.com".into(), "bob@example.org".into()],
            timeout: Duration::from_secs(2),
            router_id: "R1".into(),
        }
    }

    fn alert() -> Alert {
        Alert {
            subject: "VRRP Instance VI_1 - Entering MASTER state".into(),
            body: "=> VRRP Instance is now owning VRRP VIPs <=".into(),
        }
    }

    #[test]
    fn message_has_keepalived_shape() {
        let m = format_message(&settings(), &alert(), "Sun, 22 Nov 2026 08:31:07 +0000");
        assert_eq!(
            m,
            "Date: Sun, 22 Nov 2026 08:31:07 +0000\r\n\
             From: kad@example.net\r\n\
             Subject: [R1] VRRP Instance VI_1 - Entering MASTER state\r\n\
             X-Mailer: Keepalived\r\n\
             To: alice@example.com, bob@example.org\r\n\
             \r\n\
             => VRRP Instance is now owning VRRP VIPs <=\r\n\
             \r\n\
             .\r\n"
        );
    }

    #[test]
    fn body_dots_are_stuffed_and_headers_stay_one_line() {
        let a = Alert {
            subject: "evil\r\nBcc: x".into(),
            body: ".hidden\nplain".into(),
        };
        let m = format_message(&settings(), &a, "D");
        assert!(m.contains("Subject: [R1] evil  Bcc: x\r\n"));
        assert!(m.contains("\r\n\r\n..hidden\r\nplain\r\n\r\n.\r\n"));
    }

    #[test]
    fn dates_in_rfc5322_form() {
        assert_eq!(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        // 2026-11-22 08:31:03 UTC, the date of an observed keepalived mail.
        assert_eq!(
            rfc5322_date(1_795_336_263),
            "Sun, 22 Nov 2026 08:31:03 +0000"
        );
        // A leap day.
        assert_eq!(rfc5322_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
    }

    #[test]
    fn enabling_rules_own_then_family_then_global() {
        assert!(!alert_enabled(None, None, None));
        assert!(alert_enabled(None, None, Some(true)));
        assert!(alert_enabled(None, Some(true), Some(false)));
        assert!(!alert_enabled(None, Some(false), Some(true)));
        assert!(!alert_enabled(Some(false), Some(true), Some(true)));
        assert!(alert_enabled(Some(true), Some(false), Some(false)));
    }

    use crate::testutil::config as load;

    #[test]
    fn settings_need_a_server_and_recipients() {
        let full =
            "global_defs {\n notification_email {\n a@x\n b@y\n }\n smtp_server 10.0.0.1 2525\n\
                    router_id R9\n smtp_helo_name h.example\n notification_email_from f@z\n\
                    smtp_connect_timeout 7\n}\n";
        let s = SmtpSettings::from_config(&load(full)).expect("settings");
        assert_eq!(s.host, "10.0.0.1");
        assert_eq!(s.port, 2525);
        assert_eq!(s.to, ["a@x", "b@y"]);
        assert_eq!(s.helo, "h.example");
        assert_eq!(s.from, "f@z");
        assert_eq!(s.router_id, "R9");
        assert_eq!(s.timeout, Duration::from_secs(7));
        assert!(SmtpSettings::from_config(&load(
            "global_defs {\n notification_email {\n a@x\n }\n}\n"
        ))
        .is_none());
        assert!(
            SmtpSettings::from_config(&load("global_defs {\n smtp_server 10.0.0.1\n}\n")).is_none()
        );
        let d = SmtpSettings::from_config(&load(
            "global_defs {\n notification_email {\n a@x\n }\n smtp_server 10.0.0.1\n}\n",
        ))
        .expect("defaults");
        let host = canonical_host_name();
        assert_eq!(d.port, 25);
        assert_eq!(d.helo, host);
        assert_eq!(d.router_id, host);
        assert_eq!(d.from, format!("{}@{host}", user_name()));
        assert_eq!(d.timeout, Duration::from_secs(30));
    }

    /// A scripted server on the other end of a pipe: answers each command with the next reply
    /// and returns what the client sent.
    async fn scripted(
        replies: &'static [&'static str],
    ) -> (
        tokio::io::DuplexStream,
        tokio::task::JoinHandle<Vec<String>>,
    ) {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let task = tokio::spawn(async move {
            let mut server = BufReader::new(server);
            let mut seen = Vec::new();
            let mut in_data = false;
            for (i, reply) in replies.iter().enumerate() {
                if i > 0 {
                    loop {
                        let mut line = String::new();
                        if server.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return seen;
                        }
                        let end = in_data && line == ".\r\n";
                        seen.push(line.clone());
                        if !in_data || end {
                            break;
                        }
                    }
                    in_data =
                        seen.last().is_some_and(|l| l == "DATA\r\n") && reply.starts_with('3');
                }
                if server.get_mut().write_all(reply.as_bytes()).await.is_err() {
                    return seen;
                }
            }
            seen
        });
        (client, task)
    }

    #[tokio::test]
    async fn full_conversation() {
        let (client, server) = scripted(&[
            "220-sink hello\r\n220 ESMTP\r\n",
            "250-sink\r\n250 PIPELINING\r\n",
            "250 ok\r\n",
            "250 ok\r\n",
            "251 forwarded\r\n",
            "354 go\r\n",
            "250 queued\r\n",
            "221 bye\r\n",
        ])
        .await;
        let m = format_message(&settings(), &alert(), "D");
        converse(client, &settings(), &m).await.expect("sent");
        let seen = server.await.expect("server");
        assert_eq!(seen[0], "HELO dir1\r\n");
        assert_eq!(seen[1], "MAIL FROM:<kad@example.net>\r\n");
        assert_eq!(seen[2], "RCPT TO:<alice@example.com>\r\n");
        assert_eq!(seen[3], "RCPT TO:<bob@example.org>\r\n");
        assert_eq!(seen[4], "DATA\r\n");
        assert_eq!(seen[5..seen.len() - 1].concat(), m);
        assert_eq!(seen.last().map(String::as_str), Some("QUIT\r\n"));
    }

    #[tokio::test]
    async fn refused_recipient_stops_and_quits() {
        let (client, server) = scripted(&[
            "220 x\r\n",
            "250 ok\r\n",
            "250 ok\r\n",
            "550 no user\r\n",
            "221 bye\r\n",
        ])
        .await;
        let err = converse(client, &settings(), "unused")
            .await
            .expect_err("refused");
        assert!(
            matches!(
                err,
                SmtpError::Refused {
                    stage: "RCPT",
                    code: 550
                }
            ),
            "{err}"
        );
        let seen = server.await.expect("server");
        assert_eq!(seen.len(), 4);
        assert_eq!(seen[3], "QUIT\r\n");
    }

    #[tokio::test]
    async fn refused_greeting_and_garbage() {
        let (client, _s) = scripted(&["554 go away\r\n", "221 bye\r\n"]).await;
        let err = converse(client, &settings(), "m")
            .await
            .expect_err("refused");
        assert!(matches!(
            err,
            SmtpError::Refused {
                stage: "greeting",
                code: 554
            }
        ));
        let (client, _s) = scripted(&["hello there\r\n"]).await;
        let err = converse(client, &settings(), "m")
            .await
            .expect_err("garbage");
        assert!(matches!(err, SmtpError::Malformed("greeting")));
    }

    #[tokio::test]
    async fn silent_server_times_out() {
        let (client, _server) = tokio::io::duplex(1024);
        let mut s = settings();
        s.timeout = Duration::from_millis(50);
        let started = Instant::now();
        let err = converse(client, &s, "m").await.expect_err("timeout");
        assert!(matches!(err, SmtpError::Timeout("greeting")), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn endless_reply_line_is_bounded() {
        let (client, mut server) = tokio::io::duplex(1 << 20);
        let writer = tokio::spawn(async move {
            let _ = server.write_all(&vec![b'2'; 100_000]).await;
            server
        });
        let err = converse(client, &settings(), "m")
            .await
            .expect_err("too long");
        assert!(matches!(err, SmtpError::Malformed("greeting")), "{err}");
        drop(writer);
    }

    #[tokio::test]
    async fn unreachable_server_is_counted_not_retried() {
        // A port nobody listens on: bind, learn the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let mut s = settings();
        s.port = port;
        let before = totals();
        let mailer = Mailer::spawn(s).expect("mailer");
        mailer.send(alert());
        let deadline = Instant::now() + Duration::from_secs(5);
        while mailer.stats().failed.load(Ordering::Relaxed) == 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(mailer.stats().failed.load(Ordering::Relaxed), 1);
        assert_eq!(mailer.stats().sent.load(Ordering::Relaxed), 0);
        // The process totals (metrics) count it too; other tests may add to them meanwhile.
        assert!(totals().failed > before.failed);
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts() {
        // A server that accepts and then says nothing holds the first alert for the whole
        // conversation timeout; the queue fills behind it.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let _hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((c, _)) = listener.accept().await {
                held.push(c);
            }
        });
        let mut s = settings();
        s.port = port;
        let before = totals();
        let mailer = Mailer::spawn(s).expect("mailer");
        for _ in 0..QUEUE_DEPTH + 3 {
            mailer.send(alert());
        }
        let dropped = mailer.stats().dropped.load(Ordering::Relaxed);
        assert!(dropped >= 2, "{dropped}");
        assert!(totals().dropped >= before.dropped + dropped);
    }

    #[test]
    fn no_runtime_no_mailer() {
        assert!(Mailer::spawn(settings()).is_none());
    }

    #[tokio::test]
    async fn mailer_delivers_in_order_to_every_recipient() {
        let (port, mails) = test_sink::start().await;
        let mut s = settings();
        s.port = port;
        let mailer = Mailer::spawn(s).expect("mailer");
        let mut second = alert();
        second.subject = "VRRP Instance VI_1 - Entering BACKUP state".into();
        mailer.send(alert());
        mailer.send(second);
        let got = test_sink::wait_for(&mails, 2).await;
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].from, "kad@example.net");
        assert_eq!(got[0].to, ["alice@example.com", "bob@example.org"]);
        let subjects: Vec<_> = got.iter().map(|m| m.header("Subject")).collect();
        assert_eq!(
            subjects,
            [
                Some("[R1] VRRP Instance VI_1 - Entering MASTER state"),
                Some("[R1] VRRP Instance VI_1 - Entering BACKUP state")
            ]
        );
        assert_eq!(got[0].header("X-Mailer"), Some("Keepalived"));
        assert_eq!(
            got[0].body(),
            ["=> VRRP Instance is now owning VRRP VIPs <=", ""]
        );
        assert_eq!(mailer.stats().sent.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn canonical_name_comes_from_the_hosts_file() {
        let hosts = "127.0.0.1 localhost\n# 10.0.0.9 dir1.old dir1\n\
                     127.0.1.1\tdir1.example.com  dir1 # the director\n";
        assert_eq!(
            canonical_in_hosts(hosts, "dir1").as_deref(),
            Some("dir1.example.com")
        );
        assert_eq!(
            canonical_in_hosts(hosts, "DIR1.example.com").as_deref(),
            Some("dir1.example.com")
        );
        assert_eq!(canonical_in_hosts(hosts, "dir2"), None);
        assert_eq!(canonical_in_hosts("", "dir1"), None);
    }

    #[tokio::test]
    async fn trickling_server_is_cut_at_twice_the_timeout() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = l.local_addr().expect("addr").port();
        tokio::spawn(async move {
            let Ok((c, _)) = l.accept().await else { return };
            let mut c = BufReader::new(c);
            // Every reply comes just within the per-step timeout.
            tokio::time::sleep(Duration::from_millis(80)).await;
            let _ = c.get_mut().write_all(b"220 slow\r\n").await;
            let mut line = String::new();
            while c.read_line(&mut line).await.unwrap_or(0) > 0 {
                tokio::time::sleep(Duration::from_millis(80)).await;
                let _ = c.get_mut().write_all(b"250 ok\r\n").await;
                line.clear();
            }
        });
        let mut s = settings();
        s.port = port;
        s.timeout = Duration::from_millis(100);
        let started = Instant::now();
        let err = deliver(&s, &alert()).await.expect_err("cut");
        assert!(
            matches!(err, SmtpError::Timeout("whole conversation")),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
