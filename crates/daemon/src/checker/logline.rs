//! The checker child's log lines, worded as keepalived 2.2.7 words them.
//!
//! Operators grep keepalived's checker log ("Adding service ... to VS ...", "Lost quorum ...",
//! "TCP_CHECK on service ... failed."), so rkeepalived must print the same lines. This module
//! only builds them: pure functions from structured inputs to text, no logging, no state. The
//! runtime decides when each line is due (see the function docs: "when") and logs it at info.
//!
//! Every wording here was observed on keepalived 2.2.7 in the VM; the captures (timestamps
//! stripped) are in `crates/daemon/tests/data/keepalived-checker-logs/`, with the
//! configurations and servers that produced them, and the tests below check each line against
//! them. Where keepalived's wording for a case was not observed, the function returns `None`
//! rather than invent one.
//!
//! Observed facts the wiring must respect:
//! - none of these lines needs `-D`, except the SMTP alert ones ([`smtp_alert_connected`],
//!   [`smtp_alert_sent`], [`smtp_alert_write_error`]);
//! - lines name the real server, not a checker's `connect_ip`/`connect_port` target;
//! - a firewall-mark service's real servers are `[ip]:none:port`, the service `FWM n`.

// The item marked `allow(dead_code)` outside tests is observed wording not wired yet (the
// runtime lacks its input, the SMTP socket's fd); docs/COMPATIBILITY.md lists it.

use std::fmt;
use std::net::IpAddr;

use rka_check::CheckKind;
use rka_config::model::lvs::Protocol as CfgProtocol;
use rka_sys::host::strerror;

use super::mapping::addr_label;

/// A real or sorry server as keepalived names it: `[ip]:proto:port` (`none` as the protocol
/// of a firewall-mark service's servers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Server {
    /// Its address.
    pub addr: IpAddr,
    /// Its port.
    pub port: u16,
    /// The virtual server's protocol (`None` for a firewall-mark service).
    pub protocol: Option<CfgProtocol>,
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&addr_label(self.addr, self.protocol, self.port))
    }
}

impl Server {
    /// `[ip]:port`, the form of the SMTP_CHECK lines.
    fn without_protocol(&self) -> String {
        format!("[{}]:{}", self.addr, self.port)
    }
}

/// A virtual server as keepalived names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VirtualServerName<'a> {
    /// An address service: `[ip]:proto:port`.
    #[cfg(test)]
    Addr(Server),
    /// A firewall-mark service: `FWM n`.
    #[cfg(test)]
    Fwmark(u32),
    /// A `virtual_server_group` service: `[NAME]:0`.
    #[cfg(test)]
    Group(&'a str),
    /// A service named by its plan's label, already in keepalived's form (the runtime's
    /// only form: `mapping::vs_label` makes it; the variants above spell the tests' inputs).
    Label(&'a str),
}

impl fmt::Display for VirtualServerName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            #[cfg(test)]
            VirtualServerName::Addr(s) => s.fmt(f),
            #[cfg(test)]
            VirtualServerName::Fwmark(m) => write!(f, "FWM {m}"),
            #[cfg(test)]
            VirtualServerName::Group(g) => write!(f, "[{g}]:0"),
            VirtualServerName::Label(l) => f.write_str(l),
        }
    }
}

/// Why a probe failed, in the terms keepalived's lines distinguish.
///
/// Mapping from `rka_check::outcome::Reason` (engineer MEMB's enum):
/// - `ConnectFailed` -> [`Cause::ConnectFailed`] with its errno (`IoCause::Os`, else 0);
///   `ConnectClosed` -> [`Cause::ReadError`]; `ConnectTimeout` -> [`Cause::ConnectTimeout`];
/// - `SmtpBanner` / `SmtpMalformed` before HELO -> [`Cause::SmtpBanner`]; `SmtpHelo` /
///   `SmtpMalformed` after HELO -> [`Cause::SmtpHelo`]; `SmtpReadTimeout`, `SmtpTooSlow` ->
///   [`Cause::ReadTimeout`]; `SmtpReadFailed`, `SmtpClosed`, `SmtpTooLong`, `SmtpWrite*` ->
///   [`Cause::ReadError`];
/// - `MiscExit` -> [`Cause::MiscExit`]; `MiscTimeout` and `TimedOut` of a MISC_CHECK ->
///   [`Cause::MiscTimeout`]; `MiscSignal` -> [`Cause::MiscSignal`]; `MiscNoStatus` ->
///   [`Cause::MiscExit`] with status 1;
/// - `TimedOut` of another kind -> [`Cause::ReadTimeout`];
/// - `Http` (HTTP_GET/SSL_GET, by its `HttpError`): `Connect` as the connect reason it
///   holds; `Tls` -> [`Cause::Tls`]; `TlsTimeout` -> [`Cause::ConnectTimeout`]; `Status` /
///   `BadStatusLine` -> [`Cause::HttpStatus`]; `Digest` -> [`Cause::HttpDigest`]; `Regex` ->
///   [`Cause::HttpRegex`]; `Write`, `Read`, `NoHeader(0)` and the size limits ->
///   [`Cause::ReadError`]; `NoHeader` after some bytes -> [`Cause::HttpIncompleteHeader`];
///   `HeaderTimeout` -> [`Cause::ReadTimeout`]; `BodyTimeout`, `TotalTimeout` ->
///   [`Cause::HttpBodyTimeout`];
/// - `NoReply` (DNS, UDP with `require_reply`; DNS replies with a foreign id are not
///   replies) -> [`Cause::ReadTimeout`]; `DnsRcode` -> [`Cause::DnsRcode`]; `UdpReply` ->
///   [`Cause::UdpReplyMismatch`]; an ICMP error read back on UDP/DNS is a `ConnectFailed`
///   with its errno;
/// - the reasons still in words (`Other`) need their own variants in `Reason` for PING loss
///   ([`Cause::ReadTimeout`]);
/// - `Socket` (the probe could not even start) -> [`Cause::ConnectFailed`] with its errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The connection failed (refused, unreachable; for UDP and DNS the ICMP error read
    /// back): the system's errno, 0 when unknown.
    ConnectFailed {
        /// `errno`.
        errno: i32,
    },
    /// No connection within `connect_timeout`.
    ConnectTimeout,
    /// SSL_GET: the TLS handshake failed.
    Tls,
    /// Reading the reply failed, or the server closed the connection before a whole reply.
    ReadError,
    /// No (whole) reply in time: HTTP read, SMTP reply, DNS or UDP reply, ICMP echo reply.
    ReadTimeout,
    /// HTTP_GET/SSL_GET: the connection ended inside the headers (some bytes came, not the
    /// blank line ending them).
    HttpIncompleteHeader,
    /// HTTP_GET/SSL_GET: the headers came but the server did not close the connection in
    /// time (a stalled body, or a whole response with the connection kept open).
    HttpBodyTimeout,
    /// HTTP_GET/SSL_GET: the status is not accepted (or the reply has no status line).
    HttpStatus,
    /// HTTP_GET/SSL_GET: the body's MD5 digest differs.
    HttpDigest,
    /// HTTP_GET/SSL_GET: the body does not match `regex`.
    HttpRegex,
    /// SMTP_CHECK: the greeting is not 220.
    SmtpBanner,
    /// SMTP_CHECK: the answer to HELO is not 250.
    SmtpHelo,
    /// DNS_CHECK: the reply's RCODE is not 0.
    DnsRcode(u8),
    /// UDP_CHECK: the reply does not match `require_reply`, or its length is outside
    /// `min_reply_length`..=`max_reply_length` (one line for both, `reply-errors.log`).
    UdpReplyMismatch,
    /// MISC_CHECK: the program exited with this failing status.
    MiscExit(i32),
    /// MISC_CHECK: the program was killed by this signal.
    MiscSignal(i32),
    /// MISC_CHECK: the program outlived `misc_timeout`.
    MiscTimeout,
}

impl Cause {
    /// The cause of a probe's failure, as far as its reason tells it (the reasons still in
    /// words, `Reason::Other`, give `None`: see the mapping above).
    pub fn of(kind: CheckKind, reason: &rka_check::outcome::Reason) -> Option<Cause> {
        use rka_check::outcome::{IoCause, Reason as R};
        let errno = |c: &IoCause| match c {
            IoCause::Os(n) => *n,
            IoCause::Text(_) => 0,
        };
        Some(match reason {
            R::ConnectFailed { cause, .. } => Cause::ConnectFailed {
                errno: errno(cause),
            },
            R::ConnectClosed { .. } => Cause::ReadError,
            R::ConnectTimeout { .. } => Cause::ConnectTimeout,
            R::Socket(_) => Cause::ConnectFailed { errno: 0 },
            // A UDP_CHECK's (the kinds that reschedule report no failure for it).
            R::SetUp { cause, .. } => Cause::ConnectFailed {
                errno: errno(cause),
            },
            R::SmtpBanner { .. } => Cause::SmtpBanner,
            R::SmtpHelo { .. } => Cause::SmtpHelo,
            R::SmtpMalformed(_) => Cause::SmtpBanner,
            R::SmtpReadTimeout { .. } | R::SmtpTooSlow => Cause::ReadTimeout,
            R::SmtpReadFailed(_)
            | R::SmtpClosed
            | R::SmtpTooLong { .. }
            | R::SmtpWriteTimeout
            | R::SmtpWriteFailed(_) => Cause::ReadError,
            R::MiscExit { status } => Cause::MiscExit(*status),
            R::MiscSignal { signal } => Cause::MiscSignal(*signal),
            R::MiscNoStatus => Cause::MiscExit(1),
            R::MiscTimeout { .. } => Cause::MiscTimeout,
            R::TimedOut { .. } if kind == CheckKind::Misc => Cause::MiscTimeout,
            R::TimedOut { .. } => Cause::ReadTimeout,
            R::NoReply { .. } => Cause::ReadTimeout,
            R::DnsRcode { rcode } => Cause::DnsRcode(*rcode),
            R::UdpReply(_) => Cause::UdpReplyMismatch,
            R::Http { error, .. } => return Cause::of_http(kind, error),
            R::Other(_) => return None,
        })
    }

    /// The cause of an HTTP_GET/SSL_GET failure. keepalived 2.2.7 (observed) words a reply
    /// without a status line as a status error, a connection closed before any reply as a read
    /// error and inside the headers as "no data received", a server silent after the request
    /// as a "WEB read" timeout and one that does not close after the headers as an "HTTP read"
    /// timeout, a TLS handshake that stalls as a connection timeout; our own limits (header
    /// and body sizes, the bound on the whole exchange) are told as the read error or timeout
    /// they end.
    fn of_http(kind: CheckKind, error: &rka_check::outcome::HttpError) -> Option<Cause> {
        use rka_check::outcome::HttpError as H;
        Some(match error {
            H::Connect(inner) => return Cause::of(kind, inner),
            H::Tls { .. } => Cause::Tls,
            H::TlsTimeout { .. } => Cause::ConnectTimeout,
            H::Write(_)
            | H::Read(_)
            | H::NoHeader(0)
            | H::HeaderTooLarge(_)
            | H::BodyTooLarge(_) => Cause::ReadError,
            H::NoHeader(_) => Cause::HttpIncompleteHeader,
            H::HeaderTimeout(_) => Cause::ReadTimeout,
            H::BodyTimeout(_) | H::TotalTimeout(_) => Cause::HttpBodyTimeout,
            H::Status(_) | H::BadStatusLine => Cause::HttpStatus,
            H::Digest { .. } => Cause::HttpDigest,
            H::Regex { .. } => Cause::HttpRegex,
        })
    }
}

/// What an HTTP_GET/SSL_GET url checked last, naming its success line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlTest {
    /// Only the status code.
    Status,
    /// A `digest`.
    Digest,
    /// A `regex`.
    Regex,
}

impl UrlTest {
    /// The test a url's success line names: the last one configured, in keepalived's order
    /// status, digest, regex (observed: status only, digest, regex, and digest with regex
    /// naming the regex).
    pub fn of(has_digest: bool, has_regex: bool) -> UrlTest {
        if has_regex {
            UrlTest::Regex
        } else if has_digest {
            UrlTest::Digest
        } else {
            UrlTest::Status
        }
    }
}

/// One checker, as its lines name it.
#[derive(Debug, Clone, Copy)]
pub struct Check<'a> {
    /// The checker's kind.
    pub kind: CheckKind,
    /// Its real server.
    pub rs: Server,
    /// Its virtual server.
    pub vs: VirtualServerName<'a>,
    /// MISC_CHECK: the program keepalived names: the resolved path of the command's first
    /// word (`/bin/false` shows as `/usr/bin/false` on a merged-/usr system, `"/bin/sh -c
    /// ..."` as `/usr/bin/sh`). Ignored by the other kinds.
    pub program: &'a str,
}

/// When: the checker child starts or a reload completes, once per checker (a real server
/// with two checkers gets two lines), in configuration order ("Activating healthchecker for
/// service RS for VS VS"); then [`activating_bfd`]. A checker of an `ha_suspend` virtual
/// server whose address is not on the host is "Deactivating" then; "Suspending" when the
/// address goes, "Activating" when it comes back (after `-D`'s [`address_reported`] line;
/// observed in the VM, and keepalived 2.2.7's `update_checker_activity`).
pub fn checker_activity(rs: &Server, vs: &VirtualServerName<'_>, verb: Activity) -> String {
    let verb = match verb {
        Activity::Activating => "Activating",
        Activity::Deactivating => "Deactivating",
        Activity::Suspending => "Suspending",
    };
    format!("{verb} healthchecker for service {rs} for VS {vs}")
}

/// What [`checker_activity`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    /// The checker runs (at start, or its address came back).
    Activating,
    /// It starts suspended (its address is absent at start or after a reload).
    Deactivating,
    /// Its address went: it is suspended.
    Suspending,
}

/// `-D`: an address an `ha_suspend` virtual server follows was added or removed.
pub fn address_reported(addr: std::net::IpAddr, added: bool) -> String {
    let what = if added { "added" } else { "removed" };
    format!("Netlink reflector reports IP {addr} {what}")
}

/// When: after all the [`checker_activity`] lines, at start and after each reload.
pub fn activating_bfd() -> &'static str {
    "Activating BFD healthchecker"
}

/// keepalived 2.2.7's line when a real server leaves the table as the child stops
/// (`stopping`: "Shutting down service RS from VS VS", once per real server in configuration
/// order, after `Stopping`) or as a reload drops it ("Removing service ...", after
/// [`no_longer_exists`]); "(inhibited)" before "service" for one down and kept at weight 0 by
/// `inhibit_on_failure` (the Debian inhibit sample in the VM; keepalived's `clear_service_rs`).
pub fn cleared(rs: &Server, vs: &VirtualServerName<'_>, stopping: bool, inhibited: bool) -> String {
    let what = if stopping {
        "Shutting down"
    } else {
        "Removing"
    };
    let inhibited = if inhibited { "(inhibited) " } else { "" };
    format!("{what} {inhibited}service {rs} from VS {vs}")
}

/// When: a reload drops a real server that was in the table, before its [`ServerChange::Removed`]
/// line (keepalived's own grammar kept).
pub fn no_longer_exists(rs: &Server) -> String {
    format!("service {rs} no longer exist")
}

/// A real server entering or leaving the IPVS table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerChange {
    /// Added to the table (it passed its checkers).
    Added,
    /// Deleted from the table (a checker failed, or a reload dropped it).
    Removed,
    /// `inhibit_on_failure`: its weight is back.
    Enabled,
    /// `inhibit_on_failure`: kept with weight 0.
    Disabled,
}

/// When: right after the checker line that changed the real server's state (and before the
/// quorum line it may cause).
pub fn server_change(change: ServerChange, rs: &Server, vs: &VirtualServerName<'_>) -> String {
    match change {
        ServerChange::Added => format!("Adding service {rs} to VS {vs}"),
        ServerChange::Removed => format!("Removing service {rs} from VS {vs}"),
        ServerChange::Enabled => format!("Enabling service {rs} of VS {vs}"),
        ServerChange::Disabled => format!("Disabling service {rs} of VS {vs}"),
    }
}

/// A change of a virtual server's quorum state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuorumChange {
    /// The live weight reached quorum + hysteresis; also at start (and for a service a reload
    /// adds) when the service starts up.
    Gained,
    /// The live weight fell below quorum - hysteresis.
    Lost,
    /// After a reload, a service that starts with its quorum down. At the first start nothing
    /// is logged for such a service (observed with `alpha` servers).
    StartingDown,
}

/// When: see [`QuorumChange`]; after the [`server_change`] or [`weight_changed`] line that
/// caused it. `weight` is the sum of the live weights.
pub fn quorum(
    change: QuorumChange,
    quorum: u32,
    hysteresis: u32,
    weight: i64,
    vs: &VirtualServerName<'_>,
) -> String {
    let (q, h) = (i64::from(quorum), i64::from(hysteresis));
    match change {
        QuorumChange::Gained => {
            format!("Gained quorum {q}+{h}={} <= {weight} for VS {vs}", q + h)
        }
        QuorumChange::Lost => format!("Lost quorum {q}-{h}={} > {weight} for VS {vs}", q - h),
        QuorumChange::StartingDown => format!(
            "Starting with quorum down {q}-{h}={} > {weight} for VS {vs}",
            q - h
        ),
    }
}

/// When: right after a [`QuorumChange::Lost`] line of a service with a `sorry_server`: the
/// sorry server goes in, the live servers out.
pub fn sorry_server_in(sorry: &Server, vs: &VirtualServerName<'_>) -> [String; 2] {
    [
        format!("Adding sorry server {sorry} to VS {vs}"),
        format!("Removing alive servers from the pool for VS {vs}"),
    ]
}

/// When: right after a [`QuorumChange::Gained`] line of a service whose sorry server is in.
pub fn sorry_server_out(sorry: &Server, vs: &VirtualServerName<'_>) -> [String; 2] {
    [
        format!("Removing sorry server {sorry} from VS {vs}"),
        format!("Adding alive servers to the pool for VS {vs}"),
    ]
}

/// When: a dynamic checker changes a real server's weight (`misc_dynamic` exit 2..255 and
/// back to the configured weight on exit 0; a FILE_CHECK value, weight 0 included: keepalived
/// then logs no [`server_change`], only the quorum line), and a reload that changes a
/// configured weight. Before the checker's own line. `active`: whether the real server is up
/// (keepalived words a down one's change "for inactive service", observed in
/// `keepalived-reload-weights`).
pub fn weight_changed(
    from: i64,
    to: i64,
    active: bool,
    rs: &Server,
    vs: &VirtualServerName<'_>,
) -> String {
    let state = if active { "active" } else { "inactive" };
    format!("Changing weight from {from} to {to} for {state} service {rs} of VS {vs}")
}

/// When: an HTTP_GET/SSL_GET url passes while the checker is not up (down after a failure,
/// or an `alpha` checker before its first pass completes), one line per url passing, before
/// [`checker_up`]'s line when that url completes the pass. After a failure keepalived 2.2.7
/// needs the failed url to pass and then a whole pass from the first url (one url: the line
/// twice, then "Remote Web server ... succeed"); see `rka_check::http::UrlCursor`. `path` is
/// the url's path.
pub fn http_url_success(rs: &Server, test: UrlTest, path: &str) -> String {
    let what = match test {
        UrlTest::Status => "HTTP status code",
        UrlTest::Digest => "MD5 digest",
        UrlTest::Regex => "Regex match",
    };
    format!("{what} success to {rs} url({path})")
}

/// When (keepalived logs it under `-D` only): right before [`http_url_success`]'s line of
/// a url whose response body was not as long as its `Content-Length` said (such a response
/// passes), so only while the checker is not up: once per checker (real and virtual server),
/// not per request (`http-misbehaving.log`, 8702).
pub fn http_length_mismatch(
    rs: &Server,
    vs: &VirtualServerName<'_>,
    path: &str,
    content_length: u64,
    received: u64,
) -> String {
    format!(
        "http_check for RS {rs} VS {vs} url {path}: content_length ({content_length}) does not \
         match received bytes ({received})"
    )
}

/// When: the checker passes for the first time (at start too, `alpha` or not) or again after
/// a failure. `None` for the kinds keepalived says nothing for (DNS_CHECK, FILE_CHECK,
/// BFD_CHECK).
pub fn checker_up(check: &Check<'_>) -> Option<String> {
    let rs = &check.rs;
    Some(match check.kind {
        CheckKind::Tcp => format!("TCP connection to {rs} success."),
        CheckKind::Http | CheckKind::Ssl => format!("Remote Web server {rs} succeed on service."),
        CheckKind::Smtp => format!("Remote SMTP server {rs} succeed on service."),
        CheckKind::Udp => format!("UDP connection to {rs} success."),
        CheckKind::Ping => format!("ICMP connection to {rs} success."),
        CheckKind::Misc => format!("{} succeeded.", misc_prefix(check)),
        CheckKind::Dns | CheckKind::File | CheckKind::Bfd => return None,
    })
}

/// Which of a failing verdict's lines keepalived 2.2.7 logs ([`down_lines`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownLines {
    /// The failure's detail ([`failure_detail`], [`verdict_detail`]).
    pub detail: bool,
    /// The down line ([`checker_down`]; `None` there for the kinds without one).
    pub down: bool,
}

/// Which lines keepalived 2.2.7 logs for the failing verdict of a checker of `kind` (the
/// verdict that takes it down, or the first verdict of an `alpha` checker), the checker
/// having passed before it (`was_up`) or not, the verdict coming from the checker's very
/// first probe (`first_probe`: no probe had run before it) or not.
///
/// A checker that passed: the detail under `log_all_failures` (always for SMTP_CHECK and
/// DNS_CHECK, whose detail is their only line), then the down line. An `alpha` checker's
/// first failing verdict (observed, `tests/data/alpha-first-*.log`, every kind, at start
/// and added at a reload, `retry` 0 and 1, with and without `log_all_failures`):
/// - TCP_CHECK, UDP_CHECK, PING_CHECK, MISC_CHECK: the down line when the verdict came from
///   the first probe (at start, where keepalived settles a first failure at once; at a
///   reload only with `retry 0`, as it retries the first failure there), else nothing; no
///   detail even under `log_all_failures`;
/// - DNS_CHECK: its detail on the same terms;
/// - SMTP_CHECK: its detail, always (it retries its first probe and still logs);
/// - HTTP_GET, SSL_GET: the detail under `log_all_failures`, never the down line.
pub fn down_lines(
    kind: CheckKind,
    was_up: bool,
    first_probe: bool,
    log_all_failures: bool,
) -> DownLines {
    let (detail, down) = match kind {
        _ if was_up => (log_all_failures || detail_always_logged(kind), true),
        CheckKind::Tcp | CheckKind::Udp | CheckKind::Ping | CheckKind::Misc => (false, first_probe),
        CheckKind::Dns => (first_probe, false),
        CheckKind::Smtp => (true, false),
        CheckKind::Http | CheckKind::Ssl => (log_all_failures, false),
        CheckKind::File | CheckKind::Bfd => (false, false),
    };
    DownLines { detail, down }
}

/// Whether keepalived 2.2.7 logs a retried failure (reported under `log_all_failures`
/// only) of a checker of `kind` that passed (`was_up`) or not: always while it passes;
/// before an `alpha` checker's first verdict only for SMTP_CHECK, DNS_CHECK and
/// MISC_CHECK (`alpha-first.log`: a TCP_CHECK, UDP_CHECK or PING_CHECK retrying its
/// first failure says nothing; an HTTP_GET/SSL_GET's one detail line comes with its
/// verdict).
pub fn retry_told(kind: CheckKind, was_up: bool) -> bool {
    was_up || matches!(kind, CheckKind::Smtp | CheckKind::Dns | CheckKind::Misc)
}

/// Whether keepalived logs [`failure_detail`] for every failed probe whatever
/// `log_all_failures` says: SMTP_CHECK and DNS_CHECK, whose detail is their only failure
/// line. For the other kinds the detail needs `log_all_failures`.
pub fn detail_always_logged(kind: CheckKind) -> bool {
    matches!(kind, CheckKind::Smtp | CheckKind::Dns)
}

/// The line saying why one probe failed. When: for SMTP_CHECK and DNS_CHECK on the failure
/// that takes the checker down; and, for every kind, under `log_all_failures`, on every
/// failed probe while the checker is up (each retry and the last one, before
/// [`checker_down`]'s line: two lines with `retry 1`), never while it is down (observed,
/// `tcp-log-all-failures.log`, `http-recovery.log` 8608 and 8605, `http-recovery2.log`
/// 8604); before an `alpha` checker's first verdict, see [`down_lines`] and [`retry_told`].
/// `None` when keepalived has no such line (MISC_CHECK: the cause is in its down line) or
/// when its wording was not observed. An HTTP
/// `regex_no_match` that matches is worded as a regex that does not ("Regex match failed").
pub fn failure_detail(kind: CheckKind, rs: &Server, cause: Cause) -> Option<String> {
    use Cause as C;
    Some(match (kind, cause) {
        (CheckKind::Tcp, C::ConnectFailed { .. }) => format!("TCP connection to {rs} failed."),
        (CheckKind::Tcp, C::ConnectTimeout) => format!("TCP connection to {rs} timeout."),
        (CheckKind::Http | CheckKind::Ssl, c) => match c {
            C::ConnectFailed { .. } => format!("Connection failed server {rs}."),
            C::ConnectTimeout => format!("Timeout connecting server {rs}."),
            C::Tls => format!("SSL handshake/communication error connecting to server {rs}."),
            C::ReadError => format!("Read error with server {rs}."),
            C::ReadTimeout => format!("Timeout WEB read server {rs}."),
            C::HttpBodyTimeout => format!("Timeout HTTP read server {rs}."),
            // Two spaces, as keepalived 2.2.7 logs it.
            C::HttpIncompleteHeader => format!("Read, no data received from  server {rs}."),
            C::HttpStatus => format!("HTTP status code error to server {rs}."),
            C::HttpDigest => format!("MD5 digest error to server {rs}."),
            C::HttpRegex => format!("Regex match failed server {rs}."),
            _ => return None,
        },
        (CheckKind::Smtp, c) => {
            let what = match c {
                C::ConnectFailed { .. } => "Could not connect to server",
                C::ConnectTimeout => "Connection timeout to server",
                C::SmtpBanner => "Bad greeting banner from server",
                C::SmtpHelo => "Bad HELO response from server",
                C::ReadTimeout => "Read timeout from server",
                // A reset or close anywhere in the dialogue, QUIT's reply included
                // (reply-errors.log, 8801 to 8805).
                C::ReadError => "Read failure from server",
                _ => return None,
            };
            format!("SMTP_CHECK {what} {}", rs.without_protocol())
        }
        (CheckKind::Dns, c) => match c {
            C::DnsRcode(n) => format!("DNS_CHECK ({rs}) read error occurred. (rcode = {n})"),
            C::ConnectFailed { errno } => format!(
                "DNS_CHECK ({rs}) failed to read socket; errno {errno} ({})",
                strerror(errno)
            ),
            C::ReadTimeout => format!("DNS_CHECK ({rs}) read timeout from socket"),
            _ => return None,
        },
        // keepalived words a missing reply (with `require_reply`) as an ICMP error
        // (reply-errors.log, 9103).
        (CheckKind::Udp, C::ConnectFailed { .. } | C::ReadTimeout) => {
            format!("UDP connection to {rs} failed.")
        }
        (CheckKind::Udp, C::UdpReplyMismatch) => format!("UDP check to {rs} reply data mismatch."),
        (CheckKind::Ping, C::ReadTimeout) => {
            format!("ICMP connection to address {rs} timeout.")
        }
        _ => return None,
    })
}

/// [`failure_detail`] for the failure that settles a verdict: keepalived 2.2.7 adds " after
/// N retries" (N the configured `retry`, 0 included) to every DNS_CHECK failure line that
/// settles a verdict, unless the verdict came from the checker's very first probe
/// (`first_probe`): `alpha-first-timing.log`, 9330 and 9331 ("read timeout from socket after
/// 1 retries"), the checkers VM story ("failed to read socket; errno 111 (Connection
/// refused) after 0 retries"), 9320 at start (no suffix). The other kinds' lines are as
/// [`failure_detail`] words them.
pub fn verdict_detail(
    kind: CheckKind,
    rs: &Server,
    cause: Cause,
    retries: u32,
    first_probe: bool,
) -> Option<String> {
    let line = failure_detail(kind, rs, cause)?;
    Some(match kind {
        CheckKind::Dns if !first_probe => format!("{line} after {retries} retries"),
        _ => line,
    })
}

/// keepalived 2.2.7's lines when a probe's socket cannot be set up as configured (its
/// `connect_error`, the probe rescheduled a `delay_loop` later): the refused option's line
/// (`fwmark` at error level, "Error setting fwmark N to socket: ..."; `bind_if`, "Checker
/// can't bind to device IF: ..."; `bindto`/`bind_port`, "Checker bind failed: ...", observed
/// with the Debian SMTP_CHECK sample's `bindto`), then the kind's ("TCP socket bind failed.
/// Rescheduling.", "WEB socket bind failed. Rescheduling" without a full stop, "SMTP_CHECK
/// socket bind failed. Rescheduling.", "DNS_CHECK (RS) UDP socket bind failed.
/// Rescheduling."). The first says whether it is an error.
pub fn set_up_failed(
    kind: CheckKind,
    rs: &Server,
    step: &rka_check::SetUpStep,
    cause: &rka_check::IoCause,
) -> ((String, bool), Option<String>) {
    use rka_check::SetUpStep as S;
    let why = match cause {
        rka_check::IoCause::Os(n) => strerror(*n),
        rka_check::IoCause::Text(t) => t.to_string(),
    };
    let first = match step {
        S::Fwmark(mark) => (
            format!("Error setting fwmark {mark} to socket: {why}"),
            true,
        ),
        S::Device(ifname) => (
            format!("Checker can't bind to device {ifname}: {why}"),
            false,
        ),
        S::Bind(_) => (format!("Checker bind failed: {why}"), false),
    };
    let second = match kind {
        CheckKind::Tcp => Some("TCP socket bind failed. Rescheduling.".to_string()),
        CheckKind::Http | CheckKind::Ssl => {
            Some("WEB socket bind failed. Rescheduling".to_string())
        }
        CheckKind::Smtp => Some("SMTP_CHECK socket bind failed. Rescheduling.".to_string()),
        CheckKind::Dns => Some(format!(
            "DNS_CHECK ({rs}) UDP socket bind failed. Rescheduling."
        )),
        _ => None,
    };
    (first, second)
}

/// keepalived 2.2.7's `-D` line when a FILE_CHECK's tracked file `name` puts real server
/// `rs` down (`fault`: a non-zero value with weight 0, or a weighted value at or below
/// -2^31), or lets it back up (the checkers VM story: "([192.168.16.2]:tcp:80): tracked file
/// TF0 now FAULT state", "... leaving FAULT state"). Not at start: keepalived reads its
/// tracked files before it programs the table, silently.
pub fn file_fault(rs: &Server, name: &str, fault: bool) -> String {
    let what = if fault {
        "now FAULT state"
    } else {
        "leaving FAULT state"
    };
    format!("({rs}): tracked file {name} {what}")
}

/// A MISC_CHECK's line for a failed run that will be retried, under `log_all_failures`
/// (observed, `alpha-first-misc-retries.log`): the first failure says how many retries
/// follow ("failed, will do 2 retries (exited with status 1).", "timed out, will do 1
/// retry."), each retry but the last its number ("failed on retry 1/2 (exited with status
/// 1).", "timed out on retry 1/3."); the last one is [`checker_down`]'s line. `attempt`
/// counts the failures so far (1 for the first), `retry` is the configured count. A
/// program killed by a signal is worded in the same shape (not observed).
pub fn misc_retrying(check: &Check<'_>, cause: Cause, attempt: u32, retry: u32) -> String {
    let prefix = misc_prefix(check);
    let when = if attempt <= 1 {
        let plural = if retry == 1 { "retry" } else { "retries" };
        format!("will do {retry} {plural}")
    } else {
        format!("on retry {}/{retry}", attempt - 1)
    };
    let (what, why) = match cause {
        Cause::MiscTimeout => ("timed out", String::new()),
        Cause::MiscExit(status) => ("failed", format!(" (exited with status {status})")),
        Cause::MiscSignal(sig) => ("failed", format!(" (killed by signal {sig})")),
        _ => ("failed", String::new()),
    };
    let sep = if attempt <= 1 { ", " } else { " " };
    format!("{prefix} {what}{sep}{when}{why}.")
}

/// The line of the failure that takes the checker down. When: on that failure, after
/// [`failure_detail`]'s line if any. `retries` is the number of retries made before giving
/// up: keepalived 2.2.7 retries a failing TCP_CHECK, UDP_CHECK or PING_CHECK only when it has
/// passed before (its first failure at start is final at once, "failed."). MISC_CHECK,
/// HTTP_GET and SSL_GET settle a first failing probe at once too, without a retry, but word
/// it with the configured `retry` (MISC_CHECK: "failed after 1 retry" from a single run,
/// `alpha-first-timing.log`; HTTP: "failed after 3 retries." after one request with `retry
/// 3`, `http-recovery2.log` 8610 and its request log): pass the configured count for them.
/// Whether an `alpha` checker's first failing verdict has this line: [`down_lines`].
/// `None` for the kinds whose detail line is the only line (SMTP_CHECK, DNS_CHECK) and for
/// FILE_CHECK/BFD_CHECK.
pub fn checker_down(check: &Check<'_>, cause: Cause, retries: u32) -> Option<String> {
    let rs = &check.rs;
    let failed = if retries == 0 {
        "failed.".to_string()
    } else {
        format!("failed after {retries} retries.")
    };
    Some(match check.kind {
        CheckKind::Tcp => format!("TCP_CHECK on service {rs} {failed}"),
        CheckKind::Http | CheckKind::Ssl => format!("HTTP_CHECK on service {rs} {failed}"),
        CheckKind::Udp => format!("UDP_CHECK on service {rs} {failed}"),
        CheckKind::Ping => format!("ICMP CHECK on service {rs} {failed}"),
        CheckKind::Misc => {
            // Observed: "with retry disabled", "after 1 retry"; the plural is our guess.
            let retry = match retries {
                0 => "with retry disabled".to_string(),
                1 => "after 1 retry".to_string(),
                n => format!("after {n} retries"),
            };
            let prefix = misc_prefix(check);
            match cause {
                Cause::MiscTimeout => format!("{prefix} timed out {retry}."),
                Cause::MiscExit(status) => {
                    format!("{prefix} failed {retry} (exited with status {status}).")
                }
                // Not observed: our wording, in the same shape.
                Cause::MiscSignal(sig) => {
                    format!("{prefix} failed {retry} (killed by signal {sig}).")
                }
                _ => format!("{prefix} failed {retry}."),
            }
        }
        CheckKind::Smtp | CheckKind::Dns | CheckKind::File | CheckKind::Bfd => return None,
    })
}

/// `Misc check for [RS VS VS] by [PROGRAM]`.
fn misc_prefix(check: &Check<'_>) -> String {
    format!(
        "Misc check for [{} VS {}] by [{}]",
        check.rs, check.vs, check.program
    )
}

/// When (under `-D` only): an `smtp_alert` mail's connection to the SMTP server is made.
pub fn smtp_alert_connected(server: std::net::SocketAddr) -> String {
    format!(
        "Remote SMTP server [{}]:{} connected.",
        server.ip(),
        server.port()
    )
}

/// When (under `-D` only): an `smtp_alert` mail was accepted by the SMTP server.
pub fn smtp_alert_sent() -> &'static str {
    "SMTP alert successfully sent."
}

/// When (observed under `-D`): sending an `smtp_alert` mail failed (the SMTP server refused
/// the connection); `fd` is the socket's descriptor, so the line is only reproducible up to
/// that number.
#[cfg_attr(not(test), allow(dead_code))]
pub fn smtp_alert_write_error(fd: i32) -> String {
    format!("smtp fd {fd} returned write error")
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    const DATA: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/keepalived-checker-logs/"
    );

    fn capture(name: &str) -> String {
        std::fs::read_to_string(format!("{DATA}{name}")).expect("capture")
    }

    /// Asserts `line` is a whole line of capture `name`.
    fn seen(name: &str, line: &str) {
        let text = capture(name);
        assert!(
            text.lines().any(|l| l == line),
            "{line:?} is not in {name}:\n{text}"
        );
    }

    fn v4(last: u8, port: u16, p: Option<CfgProtocol>) -> Server {
        Server {
            addr: IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)),
            port,
            protocol: p,
        }
    }

    fn lo(port: u16) -> Server {
        v4(1, port, Some(CfgProtocol::Tcp))
    }

    fn lo_udp(port: u16) -> Server {
        v4(1, port, Some(CfgProtocol::Udp))
    }

    fn vs(addr: [u8; 4], port: u16, p: CfgProtocol) -> VirtualServerName<'static> {
        VirtualServerName::Addr(Server {
            addr: IpAddr::V4(Ipv4Addr::from(addr)),
            port,
            protocol: Some(p),
        })
    }

    fn check(kind: CheckKind, rs: Server, v: VirtualServerName<'static>) -> Check<'static> {
        Check {
            kind,
            rs,
            vs: v,
            program: "",
        }
    }

    #[test]
    fn start_stop_and_reload_lines() {
        let v = vs([10, 0, 1, 1], 80, CfgProtocol::Tcp);
        seen(
            "full-debug.log",
            &checker_activity(&lo(8401), &v, Activity::Activating),
        );
        seen("full-debug.log", activating_bfd());
        seen("full-debug.log", &cleared(&lo(8401), &v, true, false));
        seen("reload.log", &no_longer_exists(&lo(8003)));
        let v9 = vs([10, 0, 9, 1], 80, CfgProtocol::Tcp);
        seen(
            "reload.log",
            &server_change(ServerChange::Removed, &lo(8003), &v9),
        );
        let v19 = vs([10, 0, 1, 19], 80, CfgProtocol::Tcp);
        seen(
            "reload.log",
            &quorum(QuorumChange::StartingDown, 1, 0, 0, &v19),
        );
    }

    #[test]
    fn ipv6_and_fwmark_names() {
        let rs6 = Server {
            addr: IpAddr::V6(Ipv6Addr::LOCALHOST),
            port: 8001,
            protocol: Some(CfgProtocol::Tcp),
        };
        let vs6 = VirtualServerName::Addr(Server {
            addr: "fd00::1".parse().expect("v6"),
            port: 80,
            protocol: Some(CfgProtocol::Tcp),
        });
        seen(
            "ipv6.log",
            &checker_activity(&rs6, &vs6, Activity::Activating),
        );
        seen(
            "ipv6.log",
            &checker_up(&check(CheckKind::Tcp, rs6, vs6)).expect("tcp"),
        );
        let fw = VirtualServerName::Fwmark(5);
        let rs = v4(1, 8401, None);
        seen(
            "fwmark.log",
            &checker_activity(&rs, &fw, Activity::Activating),
        );
        seen(
            "fwmark.log",
            &server_change(ServerChange::Removed, &rs, &fw),
        );
        seen("fwmark.log", &server_change(ServerChange::Added, &rs, &fw));
        seen("fwmark.log", &quorum(QuorumChange::Lost, 1, 0, 0, &fw));
        let c = check(CheckKind::Tcp, rs, fw);
        seen(
            "fwmark.log",
            &checker_down(&c, Cause::ConnectFailed { errno: 111 }, 0).expect("down"),
        );
        assert_eq!(VirtualServerName::Group("G1").to_string(), "[G1]:0");
    }

    #[test]
    fn tcp_retries_and_log_all_failures() {
        let v = vs([10, 0, 1, 1], 80, CfgProtocol::Tcp);
        let c = check(CheckKind::Tcp, lo(8401), v);
        let refused = Cause::ConnectFailed { errno: 111 };
        seen(
            "tcp-retry2.log",
            &checker_down(&c, refused, 2).expect("down"),
        );
        seen("tcp-retry2.log", &checker_up(&c).expect("up"));
        seen(
            "tcp-retry2.log",
            &server_change(ServerChange::Removed, &lo(8401), &v),
        );
        seen("tcp-retry2.log", &quorum(QuorumChange::Lost, 1, 0, 0, &v));
        seen("tcp-retry2.log", &quorum(QuorumChange::Gained, 1, 0, 1, &v));
        let c2 = check(
            CheckKind::Tcp,
            lo(8402),
            vs([10, 0, 1, 2], 80, CfgProtocol::Tcp),
        );
        assert!(!detail_always_logged(CheckKind::Tcp));
        seen(
            "tcp-log-all-failures.log",
            &failure_detail(CheckKind::Tcp, &c2.rs, refused).expect("d"),
        );
        seen(
            "tcp-log-all-failures.log",
            &checker_down(&c2, refused, 1).expect("down"),
        );
        let c3 = check(
            CheckKind::Tcp,
            lo(8002),
            vs([10, 0, 0, 1], 80, CfgProtocol::Tcp),
        );
        seen(
            "tcp-refused.log",
            &checker_down(&c3, refused, 0).expect("down"),
        );
        let rs = v4(0, 8101, Some(CfgProtocol::Tcp));
        let rs = Server {
            addr: "10.99.0.5".parse().expect("ip"),
            ..rs
        };
        seen(
            "log-all-failures-other.log",
            &failure_detail(CheckKind::Tcp, &rs, Cause::ConnectTimeout).expect("d"),
        );
    }

    #[test]
    fn http_lines() {
        let v3 = vs([10, 0, 1, 3], 80, CfgProtocol::Tcp);
        let c = check(CheckKind::Http, lo(8403), v3);
        let c8 = check(
            CheckKind::Http,
            lo(8001),
            vs([10, 0, 1, 8], 80, CfgProtocol::Tcp),
        );
        let c10 = check(
            CheckKind::Http,
            lo(8610),
            vs([10, 0, 3, 10], 80, CfgProtocol::Tcp),
        );
        let ssl = check(
            CheckKind::Ssl,
            lo(8603),
            vs([10, 0, 3, 3], 80, CfgProtocol::Tcp),
        );
        let detail = |k, rs: &Server, cause| failure_detail(k, rs, cause).expect("detail");
        let url = |port, test, path| http_url_success(&lo(port), test, path);
        let r = "http-recovery.log";
        for (log, line) in [
            (
                "http-status-retry1.log",
                checker_down(&c, Cause::HttpStatus, 1).expect("down"),
            ),
            ("http-status-retry1.log", checker_up(&c).expect("up")),
            (
                "http-status-retry1.log",
                url(8403, UrlTest::of(false, false), "/"),
            ),
            ("http-digest.log", url(8407, UrlTest::of(true, false), "/")),
            (
                "http-regex-alpha.log",
                url(8003, UrlTest::of(false, true), "/"),
            ),
            (
                "http-regex-mismatch.log",
                checker_down(&c8, Cause::HttpRegex, 0).expect("down"),
            ),
            // regex, and regex_no_match that matched: the same line.
            (r, detail(CheckKind::Http, &lo(8605), Cause::HttpRegex)),
            (r, detail(CheckKind::Http, &lo(8606), Cause::HttpRegex)),
            (r, detail(CheckKind::Http, &lo(8610), Cause::HttpDigest)),
            // digest and regex both: the regex names the success line.
            (r, url(8607, UrlTest::of(true, true), "/")),
            // Each url of a recovery pass has its line.
            (r, url(8604, UrlTest::Status, "/a")),
            (r, url(8604, UrlTest::Status, "/b")),
            // A first probe failing at start is settled at once but worded with the
            // configured retry count (http-recovery2-requests.log: one request before the
            // line).
            (
                "http-recovery2.log",
                checker_down(&c10, Cause::HttpStatus, 3).expect("down"),
            ),
            ("http-recovery2.log", checker_up(&ssl).expect("up")),
            ("http-recovery2.log", url(8603, UrlTest::Status, "/")),
        ] {
            seen(log, &line);
        }
        let far = Server {
            addr: "10.99.0.5".parse().expect("ip"),
            ..lo(8103)
        };
        let ssl = check(
            CheckKind::Ssl,
            lo(8104),
            vs([10, 0, 0, 10], 80, CfgProtocol::Tcp),
        );
        let refused = Cause::ConnectFailed { errno: 111 };
        for line in [
            detail(CheckKind::Ssl, &lo(8001), Cause::Tls),
            detail(CheckKind::Http, &lo(8102), refused),
            detail(CheckKind::Ssl, &lo(8104), refused),
            detail(CheckKind::Http, &lo(8010), Cause::HttpStatus),
            detail(CheckKind::Http, &lo(8014), Cause::HttpStatus),
            detail(CheckKind::Http, &lo(8011), Cause::HttpDigest),
            detail(CheckKind::Http, &lo(8013), Cause::ReadError),
            detail(CheckKind::Http, &lo(8012), Cause::ReadTimeout),
            detail(CheckKind::Http, &far, Cause::ConnectTimeout),
            checker_down(&ssl, refused, 1).expect("down"),
        ] {
            seen("log-all-failures-http.log", &line);
        }
    }

    /// The HTTP_GET/SSL_GET failures the probes report, through `Cause::of`, give the lines
    /// keepalived logged for the same misbehaving servers.
    #[test]
    fn http_failure_kinds_give_keepalived_lines() {
        use rka_check::outcome::{HttpError as H, IoCause, Reason};
        use std::time::Duration;
        let lo_addr = |port| std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let far: std::net::SocketAddr = "10.99.0.5:8103".parse().expect("addr");
        let s2 = Duration::from_secs(2);
        let http = |error| Reason::Http {
            path: "/".into(),
            error,
        };
        let cases = [
            // (capture, kind, real server, the probe's reason)
            (
                "log-all-failures-http.log",
                CheckKind::Http,
                lo(8010),
                http(H::Status(500)),
            ),
            (
                "log-all-failures-http.log",
                CheckKind::Http,
                lo(8014),
                http(H::BadStatusLine),
            ),
            (
                "log-all-failures-http.log",
                CheckKind::Http,
                lo(8013),
                http(H::NoHeader(0)),
            ),
            (
                "log-all-failures-http.log",
                CheckKind::Http,
                lo(8012),
                http(H::HeaderTimeout(s2)),
            ),
            (
                "log-all-failures-http.log",
                CheckKind::Http,
                lo(8011),
                http(H::Digest {
                    got: [0; 16],
                    expected: [1; 16],
                }),
            ),
            (
                "log-all-failures-http.log",
                CheckKind::Http,
                lo(8102),
                http(H::Connect(Box::new(Reason::ConnectFailed {
                    target: lo_addr(8102),
                    cause: IoCause::Os(111),
                }))),
            ),
            (
                "log-all-failures-http.log",
                CheckKind::Ssl,
                lo(8104),
                http(H::Connect(Box::new(Reason::ConnectFailed {
                    target: lo_addr(8104),
                    cause: IoCause::Os(111),
                }))),
            ),
            (
                "log-all-failures-http.log",
                CheckKind::Http,
                Server {
                    addr: far.ip(),
                    ..lo(8103)
                },
                http(H::Connect(Box::new(Reason::ConnectTimeout {
                    target: far,
                    after: s2,
                }))),
            ),
            (
                "log-all-failures-http.log",
                CheckKind::Ssl,
                lo(8001),
                http(H::Tls {
                    target: lo_addr(8001),
                    reason: "received corrupt message".into(),
                }),
            ),
            (
                "http-recovery.log",
                CheckKind::Http,
                lo(8605),
                http(H::Regex {
                    pattern: "nomatch".into(),
                    matched: false,
                }),
            ),
            (
                "http-recovery.log",
                CheckKind::Http,
                lo(8606),
                http(H::Regex {
                    pattern: "hello".into(),
                    matched: true,
                }),
            ),
        ];
        for (capture, kind, rs, reason) in cases {
            let cause = Cause::of(kind, &reason).expect("an HTTP cause");
            let line = failure_detail(kind, &rs, cause).expect("a detail line");
            seen(capture, &line);
        }
        // http-misbehaving.log: a TLS server that never answers the handshake, a connection
        // closed inside the headers, a whole response on a connection kept open.
        for (kind, port, error) in [
            (
                CheckKind::Ssl,
                8706,
                H::TlsTimeout {
                    target: lo_addr(8706),
                    after: s2,
                },
            ),
            (
                CheckKind::Ssl,
                8707,
                H::Tls {
                    target: lo_addr(8707),
                    reason: "peer closed connection without sending TLS close_notify".into(),
                },
            ),
            (CheckKind::Http, 8701, H::NoHeader(29)),
            (CheckKind::Http, 8703, H::BodyTimeout(s2)),
            (CheckKind::Http, 8709, H::BodyTimeout(s2)),
            (CheckKind::Http, 8704, H::BadStatusLine),
        ] {
            let cause = Cause::of(kind, &http(error)).expect("an HTTP cause");
            let line = failure_detail(kind, &lo(port), cause).expect("a detail line");
            seen("http-misbehaving.log", &line);
        }
        // Our own limits end the exchange as keepalived's read error or timeout would.
        for (error, cause) in [
            (H::Read(IoCause::Os(104)), Cause::ReadError),
            (H::Write(IoCause::Os(32)), Cause::ReadError),
            (H::NoHeader(0), Cause::ReadError),
            (H::HeaderTooLarge(1), Cause::ReadError),
            (H::BodyTooLarge(1), Cause::ReadError),
            (H::TotalTimeout(s2), Cause::HttpBodyTimeout),
        ] {
            assert_eq!(Cause::of(CheckKind::Http, &http(error)), Some(cause));
        }
    }

    #[test]
    fn http_length_mismatch_line() {
        let v = vs([10, 0, 4, 2], 80, CfgProtocol::Tcp);
        seen(
            "http-misbehaving.log",
            &http_length_mismatch(&lo(8702), &v, "/", 100, 5),
        );
    }

    /// The DNS_CHECK, UDP_CHECK and SMTP_CHECK failures the probes report, through
    /// `Cause::of`, give the lines keepalived logged.
    #[test]
    fn dns_udp_smtp_failure_kinds_give_keepalived_lines() {
        use rka_check::outcome::{IoCause, Reason, UdpMismatch};
        use std::time::Duration;
        let at = |port| std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let refused = |port| Reason::ConnectFailed {
            target: at(port),
            cause: IoCause::Os(111),
        };
        let silent = Reason::NoReply {
            after: Duration::from_secs(1),
        };
        let line = |kind, rs: &Server, reason: &Reason| {
            let cause = Cause::of(kind, reason).expect("a cause");
            failure_detail(kind, rs, cause).expect("a detail line")
        };
        let dns = |port, reason: Reason| line(CheckKind::Dns, &lo_udp(port), &reason);
        seen(
            "dns-failures.log",
            &dns(5354, Reason::DnsRcode { rcode: 2 }),
        );
        seen("dns-failures.log", &dns(5399, refused(5399)));
        seen("dns-failures.log", &dns(5355, silent.clone()));
        seen(
            "reply-errors.log",
            &dns(5362, Reason::DnsRcode { rcode: 5 }),
        );
        seen(
            "reply-errors.log",
            &dns(5361, Reason::DnsRcode { rcode: 3 }),
        );
        let udp = |port, reason: Reason| line(CheckKind::Udp, &lo_udp(port), &reason);
        let length =
            |received, min, max| Reason::UdpReply(UdpMismatch::Length { received, min, max });
        let o = "log-all-failures-other.log";
        seen(o, &udp(9001, Reason::UdpReply(UdpMismatch::Data)));
        seen(o, &udp(9002, refused(9002)));
        seen("reply-errors.log", &udp(9101, length(1, 4, 255)));
        seen("reply-errors.log", &udp(9102, length(5, 0, 3)));
        seen("reply-errors.log", &udp(9103, silent));
        // SMTP: a close or reset anywhere in the dialogue reads as a read failure.
        let smtp = |port, reason: Reason| line(CheckKind::Smtp, &lo(port), &reason);
        for (log, port, reason) in [
            (
                "reply-errors.log",
                8801,
                Reason::SmtpReadFailed(IoCause::Os(104)),
            ),
            ("reply-errors.log", 8802, Reason::SmtpClosed),
            ("smtp-quit.log", 8811, Reason::SmtpClosed),
            (
                "smtp-quit.log",
                8814,
                Reason::SmtpWriteFailed(IoCause::Os(32)),
            ),
        ] {
            seen(log, &smtp(port, reason));
        }
        seen(
            "smtp-quit.log",
            &smtp(
                8816,
                Reason::SmtpReadTimeout {
                    after: Duration::from_secs(2),
                },
            ),
        );
    }

    #[test]
    fn smtp_dns_udp_ping_lines() {
        assert!(detail_always_logged(CheckKind::Smtp) && detail_always_logged(CheckKind::Dns));
        let s = |port, cause| failure_detail(CheckKind::Smtp, &lo(port), cause).expect("smtp");
        seen(
            "smtp-failures.log",
            &s(8105, Cause::ConnectFailed { errno: 111 }),
        );
        seen("smtp-failures.log", &s(8020, Cause::SmtpBanner));
        seen("smtp-failures.log", &s(8021, Cause::ReadTimeout));
        seen("smtp-failures.log", &s(8022, Cause::SmtpHelo));
        let far = Server {
            addr: "10.99.0.5".parse().expect("ip"),
            ..lo(8106)
        };
        seen(
            "smtp-failures.log",
            &failure_detail(CheckKind::Smtp, &far, Cause::ConnectTimeout).expect("d"),
        );
        let v11 = vs([10, 0, 1, 11], 80, CfgProtocol::Tcp);
        let smtp = check(CheckKind::Smtp, lo(8023), v11);
        seen("smtp-success.log", &checker_up(&smtp).expect("up"));
        assert_eq!(checker_down(&smtp, Cause::SmtpBanner, 0), None);

        let d = |port, cause| failure_detail(CheckKind::Dns, &lo_udp(port), cause).expect("dns");
        seen("dns-failures.log", &d(5354, Cause::DnsRcode(2)));
        seen(
            "dns-failures.log",
            &d(5399, Cause::ConnectFailed { errno: 111 }),
        );
        seen("dns-failures.log", &d(5355, Cause::ReadTimeout));
        seen("dns-wrong-id.log", &d(5358, Cause::ReadTimeout));
        let dns = check(
            CheckKind::Dns,
            lo_udp(5356),
            vs([10, 0, 1, 14], 53, CfgProtocol::Udp),
        );
        assert_eq!(checker_up(&dns), None);

        let udp = check(
            CheckKind::Udp,
            lo_udp(9003),
            vs([10, 0, 1, 15], 53, CfgProtocol::Udp),
        );
        seen("udp-success-alpha.log", &checker_up(&udp).expect("up"));
        let udp = check(
            CheckKind::Udp,
            lo_udp(5355),
            vs([10, 0, 1, 16], 53, CfgProtocol::Udp),
        );
        seen(
            "udp-no-reply.log",
            &checker_down(&udp, Cause::ReadTimeout, 0).expect("down"),
        );
        let o = "log-all-failures-other.log";
        seen(
            o,
            &failure_detail(CheckKind::Udp, &lo_udp(9001), Cause::UdpReplyMismatch).expect("d"),
        );
        seen(
            o,
            &failure_detail(
                CheckKind::Udp,
                &lo_udp(9002),
                Cause::ConnectFailed { errno: 111 },
            )
            .expect("d"),
        );

        let ping = check(
            CheckKind::Ping,
            lo(8501),
            vs([10, 0, 1, 17], 80, CfgProtocol::Tcp),
        );
        seen("ping-success-alpha.log", &checker_up(&ping).expect("up"));
        let far = Server {
            addr: "10.99.0.5".parse().expect("ip"),
            ..lo(8502)
        };
        let ping = check(
            CheckKind::Ping,
            far,
            vs([10, 0, 1, 18], 80, CfgProtocol::Tcp),
        );
        seen(
            "ping-loss-retry1.log",
            &checker_down(&ping, Cause::ReadTimeout, 0).expect("down"),
        );
        let far = Server { port: 8301, ..far };
        seen(
            o,
            &failure_detail(CheckKind::Ping, &far, Cause::ReadTimeout).expect("d"),
        );
    }

    #[test]
    fn misc_lines() {
        let mut c = check(
            CheckKind::Misc,
            lo(8504),
            vs([10, 0, 1, 20], 80, CfgProtocol::Tcp),
        );
        c.program = "/tmp/clog/seq.sh";
        seen("misc-exit3-retry1.log", &checker_up(&c).expect("up"));
        seen(
            "misc-exit3-retry1.log",
            &checker_down(&c, Cause::MiscExit(3), 1).expect("down"),
        );
        let mut t = check(
            CheckKind::Misc,
            lo(8505),
            vs([10, 0, 1, 21], 80, CfgProtocol::Tcp),
        );
        t.program = "/usr/bin/sleep";
        seen(
            "misc-timeout-retry1.log",
            &checker_down(&t, Cause::MiscTimeout, 1).expect("down"),
        );
        let mut f = check(
            CheckKind::Misc,
            lo(8201),
            vs([10, 0, 0, 20], 80, CfgProtocol::Tcp),
        );
        f.program = "/usr/bin/false";
        seen(
            "misc-exit-timeout.log",
            &checker_down(&f, Cause::MiscExit(1), 0).expect("down"),
        );
        let mut s = check(
            CheckKind::Misc,
            lo(8202),
            vs([10, 0, 0, 21], 80, CfgProtocol::Tcp),
        );
        s.program = "/usr/bin/sleep";
        seen(
            "misc-exit-timeout.log",
            &checker_down(&s, Cause::MiscTimeout, 0).expect("down"),
        );
        let v19 = vs([10, 0, 1, 19], 80, CfgProtocol::Tcp);
        seen(
            "misc-dynamic.log",
            &weight_changed(1, 3, true, &lo(8503), &v19),
        );
        seen(
            "misc-dynamic.log",
            &weight_changed(5, 1, true, &lo(8503), &v19),
        );
        // Not observed: our wording, in the shape of the exit line.
        assert_eq!(
            checker_down(&f, Cause::MiscSignal(9), 0).expect("down"),
            "Misc check for [[127.0.0.1]:tcp:8201 VS [10.0.0.20]:tcp:80] by [/usr/bin/false] \
             failed with retry disabled (killed by signal 9)."
        );
    }

    #[test]
    fn director_lines() {
        let v4_ = vs([10, 0, 1, 4], 80, CfgProtocol::Tcp);
        seen(
            "inhibit-on-failure.log",
            &server_change(ServerChange::Disabled, &lo(8404), &v4_),
        );
        seen(
            "inhibit-on-failure.log",
            &server_change(ServerChange::Enabled, &lo(8404), &v4_),
        );
        let v5 = vs([10, 0, 1, 5], 80, CfgProtocol::Tcp);
        let sorry = lo(8999);
        let text = capture("quorum-sorry-server.log");
        let lost = quorum(QuorumChange::Lost, 2, 0, 1, &v5);
        let [a, b] = sorry_server_in(&sorry, &v5);
        assert!(text.contains(&format!("{lost}\n{a}\n{b}\n")), "{text}");
        let gained = quorum(QuorumChange::Gained, 2, 0, 2, &v5);
        let [a, b] = sorry_server_out(&sorry, &v5);
        assert!(text.contains(&format!("{gained}\n{a}\n{b}\n")), "{text}");
        let v6 = vs([10, 0, 1, 6], 80, CfgProtocol::Tcp);
        seen(
            "quorum-hysteresis.log",
            &quorum(QuorumChange::Gained, 4, 1, 5, &v6),
        );
        let v22 = vs([10, 0, 1, 22], 80, CfgProtocol::Tcp);
        seen(
            "file-check-weight1.log",
            &weight_changed(8, 0, true, &lo(8506), &v22),
        );
        seen(
            "file-check-weight1.log",
            &quorum(QuorumChange::Gained, 1, 0, 5, &v22),
        );
    }

    #[test]
    fn smtp_alert_lines() {
        let server = "127.0.0.1:2525".parse().expect("addr");
        seen("smtp-alert-debug.log", &smtp_alert_connected(server));
        seen("smtp-alert-debug.log", smtp_alert_sent());
        let line = smtp_alert_write_error(11);
        seen("full-smtp-refused.log", &line);
        // Not logged without -D.
        let nodebug = capture("full-nodebug.log");
        assert!(!nodebug.contains(smtp_alert_sent()) && !nodebug.contains("connected."));
    }

    /// A DNS_CHECK's read timeout after retries ends "after N retries"; not on its own or
    /// after none (alpha-first-timing.log: 9330 with `retry 1`, 9331 also telling the retry).
    #[test]
    fn a_dns_verdict_after_retries_says_so() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/alpha-first-timing.log"
        );
        let text = std::fs::read_to_string(path).expect("capture");
        let lines = |port: u16| -> Vec<&str> {
            let needle = format!("]:udp:{port})");
            text.lines().filter(|l| l.contains(&needle)).collect()
        };
        let rs = lo_udp(9330);
        let after = verdict_detail(CheckKind::Dns, &rs, Cause::ReadTimeout, 1, false);
        assert_eq!(lines(9330), [after.as_deref().expect("line")]);
        let rs = lo_udp(9331);
        let retry = failure_detail(CheckKind::Dns, &rs, Cause::ReadTimeout);
        let after = verdict_detail(CheckKind::Dns, &rs, Cause::ReadTimeout, 1, false);
        let ours: Vec<String> = [retry, after].into_iter().flatten().collect();
        assert_eq!(lines(9331), ours);
        // Settled by the first probe (9320 at start, retry 0): the plain detail.
        assert_eq!(
            verdict_detail(CheckKind::Dns, &lo_udp(9320), Cause::ReadTimeout, 0, true).as_deref(),
            lines(9320).first().copied()
        );
        // Settled later with retry 0 (the checkers VM story, a stopped DNS server): "after 0
        // retries", whatever the failure.
        assert_eq!(
            verdict_detail(
                CheckKind::Dns,
                &lo_udp(53),
                Cause::ConnectFailed { errno: 111 },
                0,
                false
            )
            .as_deref(),
            Some(
                "DNS_CHECK ([127.0.0.1]:udp:53) failed to read socket; errno 111 \
                 (Connection refused) after 0 retries"
            )
        );
        // The other kinds' details do not change.
        assert_eq!(
            verdict_detail(CheckKind::Tcp, &lo(1), Cause::ConnectTimeout, 2, false),
            failure_detail(CheckKind::Tcp, &lo(1), Cause::ConnectTimeout)
        );
    }

    /// Which lines an alpha checker's first failing verdict has, per kind (the capture
    /// comparison is the runtime's, `alpha-first.log`); a checker that passed always has
    /// its down line.
    #[test]
    fn down_lines_of_an_alpha_checker_follow_its_first_probe() {
        let lines = |detail, down| DownLines { detail, down };
        for kind in [
            CheckKind::Tcp,
            CheckKind::Udp,
            CheckKind::Ping,
            CheckKind::Misc,
        ] {
            assert_eq!(down_lines(kind, false, true, true), lines(false, true));
            assert_eq!(down_lines(kind, false, false, true), lines(false, false));
            assert_eq!(down_lines(kind, true, false, true), lines(true, true));
            assert_eq!(down_lines(kind, true, false, false), lines(false, true));
        }
        assert_eq!(
            down_lines(CheckKind::Dns, false, true, false),
            lines(true, false)
        );
        assert_eq!(
            down_lines(CheckKind::Dns, false, false, true),
            lines(false, false)
        );
        assert_eq!(
            down_lines(CheckKind::Smtp, false, false, false),
            lines(true, false)
        );
        for kind in [CheckKind::Http, CheckKind::Ssl] {
            assert_eq!(down_lines(kind, false, true, false), lines(false, false));
            assert_eq!(down_lines(kind, false, true, true), lines(true, false));
        }
        assert!(!retry_told(CheckKind::Tcp, false) && retry_told(CheckKind::Tcp, true));
        assert!(retry_told(CheckKind::Misc, false) && !retry_told(CheckKind::Http, false));
    }
}
