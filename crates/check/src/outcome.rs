//! The result of one probe.
//!
//! A failure is kept as data ([`Reason`]: the stage the probe reached, what went wrong there
//! and the address involved), not as text: its words are rendered only when shown (logs,
//! dumps, JSON), and the checker mails pick their wording from the kind.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::probe::CheckKind;

/// A passed probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Success {
    /// A weight reported by a dynamic checker (`misc_dynamic`, FILE_CHECK `dynamic`);
    /// `None` leaves the real server's weight alone.
    pub weight: Option<i64>,
    /// HTTP_GET / SSL_GET: the body was not as long as the response's `Content-Length` said
    /// (keepalived 2.2.7 passes such a response, and says so under `-D`).
    pub length_mismatch: Option<LengthMismatch>,
}

impl Success {
    /// A pass reporting `weight` (see [`Success::weight`]).
    pub fn weighted(weight: Option<i64>) -> Self {
        Success {
            weight,
            ..Success::default()
        }
    }
}

/// HTTP_GET / SSL_GET: a body shorter or longer than the response's `Content-Length`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LengthMismatch {
    /// The `Content-Length` header's value.
    pub content_length: u64,
    /// The body bytes received up to the close.
    pub received: u64,
}

/// An I/O error as a failure keeps it: the system's error number when there is one (rendered
/// as the standard library renders it, `Connection refused (os error 111)`), else its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IoCause {
    /// An `errno` value.
    Os(i32),
    /// An error that is not the system's, in words.
    Text(Box<str>),
}

/// The socket option a [`Reason::SetUp`] failure is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetUpStep {
    /// `fwmark`: `SO_MARK` with this mark.
    Fwmark(u32),
    /// `bind_if`: `SO_BINDTODEVICE` to this interface.
    Device(Box<str>),
    /// `bindto` / `bind_port`: the bind to this address.
    Bind(SocketAddr),
}

impl From<&std::io::Error> for IoCause {
    fn from(e: &std::io::Error) -> Self {
        match e.raw_os_error() {
            Some(n) => IoCause::Os(n),
            None => IoCause::Text(e.to_string().into()),
        }
    }
}

impl From<std::io::Error> for IoCause {
    fn from(e: std::io::Error) -> Self {
        IoCause::from(&e)
    }
}

impl fmt::Display for IoCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IoCause::Os(n) => write!(f, "{}", std::io::Error::from_raw_os_error(*n)),
            IoCause::Text(t) => f.write_str(t),
        }
    }
}

/// Why a probe failed: the stage it reached and what went wrong there. Printed, it is the
/// reason logged, dumped and reported over the control socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The connection to `target` failed (refused, unreachable, reset...).
    ConnectFailed {
        /// Where the probe connected.
        target: SocketAddr,
        /// What the system said.
        cause: IoCause,
    },
    /// The connection to `target` was closed as it was made.
    ConnectClosed {
        /// Where the probe connected.
        target: SocketAddr,
    },
    /// No answer to the connect within `connect_timeout`.
    ConnectTimeout {
        /// Where the probe connected.
        target: SocketAddr,
        /// The timeout.
        after: Duration,
    },
    /// The socket could not be made ready (created, watched, its interface found): the
    /// words say which step.
    Socket(Box<str>),
    /// The socket could not be set up as configured: `fwmark`, `bind_if`, `bindto` /
    /// `bind_port` refused (keepalived 2.2.7's `connect_error`). keepalived's TCP_CHECK,
    /// HTTP_GET, SSL_GET, SMTP_CHECK and DNS_CHECK then log it and run again a `delay_loop`
    /// later, the verdict left as it is (see `CheckerEvent::NotRun`); its UDP_CHECK counts it
    /// as a failure.
    SetUp {
        /// The option refused.
        step: SetUpStep,
        /// What the system said.
        cause: IoCause,
    },
    /// SMTP_CHECK: the server's greeting was not 220.
    SmtpBanner {
        /// The code it sent.
        code: u16,
    },
    /// SMTP_CHECK: the reply to HELO was not 250.
    SmtpHelo {
        /// The code it sent.
        code: u16,
    },
    /// SMTP_CHECK: a reply that does not start with a code (its first line, trimmed).
    SmtpMalformed(Box<str>),
    /// SMTP_CHECK: no (whole) reply within the timeout.
    SmtpReadTimeout {
        /// The timeout.
        after: Duration,
    },
    /// SMTP_CHECK: reading a reply failed.
    SmtpReadFailed(IoCause),
    /// SMTP_CHECK: the server closed the connection before replying.
    SmtpClosed,
    /// SMTP_CHECK: a reply longer than the probe accepts.
    SmtpTooLong {
        /// The limit, in bytes.
        limit: usize,
    },
    /// SMTP_CHECK: sending HELO did not finish within the timeout.
    SmtpWriteTimeout,
    /// SMTP_CHECK: sending HELO failed.
    SmtpWriteFailed(IoCause),
    /// SMTP_CHECK: the whole dialogue outlived its bound.
    SmtpTooSlow,
    /// MISC_CHECK: the program exited with a failing status.
    MiscExit {
        /// Its exit status.
        status: i32,
    },
    /// MISC_CHECK: the program was killed by a signal.
    MiscSignal {
        /// The signal's number.
        signal: i32,
    },
    /// MISC_CHECK: the program ended with neither a status nor a signal.
    MiscNoStatus,
    /// MISC_CHECK: the program outlived `misc_timeout` and was killed.
    MiscTimeout {
        /// The program.
        program: Box<str>,
        /// `misc_timeout`.
        after: Duration,
    },
    /// A probe outlived its hard bound (the checker kind's own timeouts did not end it).
    TimedOut {
        /// The checker kind.
        kind: CheckKind,
        /// The bound.
        after: Duration,
    },
    /// DNS_CHECK / UDP_CHECK (with `require_reply`): no reply within the timeout.
    NoReply {
        /// The timeout.
        after: Duration,
    },
    /// DNS_CHECK: the reply to our query carries an error RCODE (SERVFAIL 2, NXDOMAIN 3,
    /// REFUSED 5...), the 4 bits of its header.
    DnsRcode {
        /// The RCODE.
        rcode: u8,
    },
    /// UDP_CHECK: the reply does not fit `require_reply` (keepalived 2.2.7 logs both kinds
    /// as "reply data mismatch", `reply-errors.log`).
    UdpReply(UdpMismatch),
    /// HTTP_GET / SSL_GET: checking the url `path` failed at the stage `error` says.
    Http {
        /// The url's `path`, as requested.
        path: Box<str>,
        /// What went wrong.
        error: HttpError,
    },
    /// Any other failure, in words (DNS_CHECK, UDP_CHECK, PING_CHECK, FILE_CHECK...).
    Other(Box<str>),
}

/// How a UDP_CHECK reply fails `require_reply`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdpMismatch {
    /// Its length is outside `min_reply_length`..=`max_reply_length`.
    Length {
        /// The reply's length, in bytes.
        received: usize,
        /// `min_reply_length`.
        min: usize,
        /// `max_reply_length`.
        max: usize,
    },
    /// Its bytes differ from the pattern (over the shorter of the two).
    Data,
}

impl fmt::Display for UdpMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UdpMismatch::Length { received, min, max } => write!(
                f,
                "UDP reply of {received} bytes is outside {min}..={max} bytes"
            ),
            UdpMismatch::Data => f.write_str("UDP reply does not match require_reply"),
        }
    }
}

/// What went wrong in one HTTP_GET / SSL_GET exchange: the stage it reached and, where it
/// matters, what was received. Printed, it is the reason's text after the url's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The TCP connection could not be opened (a connect [`Reason`]: refused, closed, timed
    /// out, or the socket could not be made ready).
    Connect(Box<Reason>),
    /// SSL_GET: the TLS handshake failed.
    Tls {
        /// The server.
        target: SocketAddr,
        /// The TLS library's reason.
        reason: Box<str>,
    },
    /// SSL_GET: the TLS handshake did not finish within the timeout (keepalived 2.2.7 words
    /// it as a connection timeout).
    TlsTimeout {
        /// The server.
        target: SocketAddr,
        /// The timeout.
        after: Duration,
    },
    /// The request could not be sent.
    Write(IoCause),
    /// The connection broke (a reset) before the server closed it, at any point of the
    /// response.
    Read(IoCause),
    /// No data within the read timeout before the end of the headers.
    HeaderTimeout(Duration),
    /// The body stalled longer than the read timeout.
    BodyTimeout(Duration),
    /// The connection ended before a blank line ended the headers (after this many bytes;
    /// 0: closed without a byte).
    NoHeader(usize),
    /// The headers exceed this many bytes.
    HeaderTooLarge(usize),
    /// The body exceeds this many bytes.
    BodyTooLarge(u64),
    /// The whole exchange outlived this bound.
    TotalTimeout(Duration),
    /// The status code is not one `status_code` accepts.
    Status(u16),
    /// The response does not start with a status line `HTTP/x.y NNN`.
    BadStatusLine,
    /// The body's MD5 digest is not the configured `digest`.
    Digest {
        /// The digest of the body received.
        got: [u8; 16],
        /// The configured one.
        expected: [u8; 16],
    },
    /// `regex` did not match (or, with `regex_no_match`, did).
    Regex {
        /// The expression as configured.
        pattern: Box<str>,
        /// Whether it matched.
        matched: bool,
    },
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = |t: &Duration| crate::net::fmt_duration(*t);
        match self {
            HttpError::Connect(r) => r.fmt(f),
            HttpError::Tls { target, reason } => {
                write!(f, "TLS handshake with {target} failed: {reason}")
            }
            HttpError::TlsTimeout { target, after } => write!(
                f,
                "TLS handshake with {target} failed: timed out after {}",
                d(after)
            ),
            HttpError::Write(e) => write!(f, "sending the request failed: {e}"),
            HttpError::Read(e) => write!(f, "reading the response failed: {e}"),
            HttpError::HeaderTimeout(t) => {
                write!(
                    f,
                    "timed out after {} waiting for the response headers",
                    d(t)
                )
            }
            HttpError::BodyTimeout(t) => {
                write!(f, "timed out after {} reading the response body", d(t))
            }
            HttpError::NoHeader(n) => write!(f, "no complete HTTP header received ({n} bytes)"),
            HttpError::HeaderTooLarge(n) => write!(f, "response headers exceed {n} bytes"),
            HttpError::BodyTooLarge(n) => write!(f, "response body exceeds {n} bytes"),
            HttpError::TotalTimeout(t) => write!(f, "the exchange took longer than {}", d(t)),
            HttpError::Status(code) => {
                write!(f, "HTTP status {code} is not an expected status code")
            }
            HttpError::BadStatusLine => f.write_str("invalid HTTP status line"),
            HttpError::Digest { got, expected } => write!(
                f,
                "MD5 digest mismatch (got {}, expected {})",
                crate::http::digest_hex(got),
                crate::http::digest_hex(expected)
            ),
            HttpError::Regex { pattern, matched } => {
                let what = if *matched { "matched" } else { "did not match" };
                write!(f, "regex {pattern:?} {what} the response")
            }
        }
    }
}

impl Reason {
    /// Whether the words of this reason contain `text`.
    pub fn contains(&self, text: &str) -> bool {
        self.to_string().contains(text)
    }

    /// The address the probe talked to, for the stages that name it.
    pub fn target(&self) -> Option<SocketAddr> {
        match self {
            Reason::ConnectFailed { target, .. }
            | Reason::ConnectClosed { target }
            | Reason::ConnectTimeout { target, .. } => Some(*target),
            Reason::Http {
                error: HttpError::Connect(inner),
                ..
            } => inner.target(),
            Reason::Http {
                error: HttpError::Tls { target, .. } | HttpError::TlsTimeout { target, .. },
                ..
            } => Some(*target),
            _ => None,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::ConnectFailed { target, cause } => {
                write!(f, "connection to {target} failed: {cause}")
            }
            Reason::ConnectClosed { target } => write!(f, "connection to {target} failed: closed"),
            Reason::ConnectTimeout { target, after } => write!(
                f,
                "connection to {target} timed out after {}",
                crate::net::fmt_duration(*after)
            ),
            Reason::Socket(t) | Reason::Other(t) => f.write_str(t),
            Reason::SetUp { step, cause } => match step {
                SetUpStep::Fwmark(mark) => write!(f, "cannot set fwmark {mark}: {cause}"),
                SetUpStep::Device(ifname) => {
                    write!(f, "cannot bind to interface {ifname}: {cause}")
                }
                SetUpStep::Bind(src) => write!(f, "cannot bind to {src}: {cause}"),
            },
            Reason::SmtpBanner { code } => write!(f, "SMTP greeting {code}, expected 220"),
            Reason::SmtpHelo { code } => write!(f, "SMTP HELO answered {code}, expected 250"),
            Reason::SmtpMalformed(line) => write!(f, "malformed SMTP reply {line:?}"),
            Reason::SmtpReadTimeout { after } => write!(
                f,
                "SMTP reply timed out after {}",
                crate::net::fmt_duration(*after)
            ),
            Reason::SmtpReadFailed(e) => write!(f, "SMTP read failed: {e}"),
            Reason::SmtpClosed => f.write_str("SMTP server closed the connection"),
            Reason::SmtpTooLong { limit } => write!(f, "SMTP reply longer than {limit} bytes"),
            Reason::SmtpWriteTimeout => f.write_str("SMTP write timed out"),
            Reason::SmtpWriteFailed(e) => write!(f, "SMTP write failed: {e}"),
            Reason::SmtpTooSlow => f.write_str("SMTP dialogue took too long"),
            Reason::MiscExit { status } => {
                write!(f, "MISC_CHECK program exited with status {status}")
            }
            Reason::MiscSignal { signal } => {
                write!(f, "MISC_CHECK program killed by signal {signal}")
            }
            Reason::MiscNoStatus => f.write_str("MISC_CHECK program ended without a status"),
            Reason::MiscTimeout { program, after } => write!(
                f,
                "{program} timed out after {}",
                crate::net::fmt_duration(*after)
            ),
            Reason::NoReply { after } => {
                write!(f, "no reply within {}", crate::net::fmt_duration(*after))
            }
            Reason::DnsRcode { rcode } => write!(
                f,
                "DNS reply has RCODE {rcode} ({})",
                hickory_proto::op::ResponseCode::from_low(*rcode)
            ),
            Reason::UdpReply(m) => m.fmt(f),
            Reason::Http { path, error } => write!(f, "{path}: {error}"),
            Reason::TimedOut { kind, after } => write!(
                f,
                "{} did not finish within {}",
                kind.keyword(),
                crate::net::fmt_duration(*after)
            ),
        }
    }
}

/// A failed probe: why, as data ([`Reason`]); it prints as the reason logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Failure {
    /// Why the probe failed.
    pub reason: Reason,
}

impl Failure {
    /// Whether this failure, when it puts a `misc_dynamic` checker down, drops the weight
    /// its program reported: keepalived 2.2.7 does so, without a log line, when the program's
    /// exit status failed it, but not when it timed out or was killed by a signal (the weight
    /// then stays until the program reports another). See `CheckerEvent::Down`.
    pub fn drops_dynamic_weight(&self) -> bool {
        matches!(self.reason, Reason::MiscExit { .. })
    }

    /// A failure told in words only ([`Reason::Other`]).
    pub fn new(reason: impl Into<String>) -> Self {
        Failure {
            reason: Reason::Other(reason.into().into_boxed_str()),
        }
    }

    /// A socket that could not be made ready ([`Reason::Socket`]).
    pub fn socket(words: impl Into<String>) -> Self {
        Reason::Socket(words.into().into_boxed_str()).into()
    }

    /// HTTP_GET / SSL_GET: checking the url `path` failed with `error`.
    pub fn http(path: &str, error: HttpError) -> Self {
        Reason::Http {
            path: path.into(),
            error,
        }
        .into()
    }

    /// A connection to `target` that failed with `e`.
    pub fn connect(target: SocketAddr, e: &std::io::Error) -> Self {
        Reason::ConnectFailed {
            target,
            cause: e.into(),
        }
        .into()
    }
}

impl From<Reason> for Failure {
    fn from(reason: Reason) -> Self {
        Failure { reason }
    }
}

/// What every probe returns.
pub type ProbeResult = Result<Success, Failure>;

/// A plain success with no weight change.
pub(crate) fn up() -> ProbeResult {
    Ok(Success::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(r: Reason) -> String {
        Failure::from(r).to_string()
    }

    #[test]
    fn each_reason_reads_as_the_probe_words_it() {
        let t: SocketAddr = "10.0.0.2:8080".parse().expect("addr");
        let t6: SocketAddr = "[2001:db8::2]:25".parse().expect("addr");
        let s2 = Duration::from_secs(2);
        let cases = [
            (
                Reason::ConnectFailed {
                    target: t,
                    cause: IoCause::Os(111),
                },
                "connection to 10.0.0.2:8080 failed: Connection refused (os error 111)",
            ),
            (
                Reason::ConnectFailed {
                    target: t6,
                    cause: IoCause::Text("broken".into()),
                },
                "connection to [2001:db8::2]:25 failed: broken",
            ),
            (
                Reason::ConnectClosed { target: t },
                "connection to 10.0.0.2:8080 failed: closed",
            ),
            (
                Reason::ConnectTimeout {
                    target: t,
                    after: Duration::from_millis(1500),
                },
                "connection to 10.0.0.2:8080 timed out after 1.5s",
            ),
            (
                Reason::Socket("cannot set fwmark 3: EPERM".into()),
                "cannot set fwmark 3: EPERM",
            ),
            (
                Reason::SmtpBanner { code: 554 },
                "SMTP greeting 554, expected 220",
            ),
            (
                Reason::SmtpHelo { code: 500 },
                "SMTP HELO answered 500, expected 250",
            ),
            (
                Reason::SmtpMalformed("hello".into()),
                "malformed SMTP reply \"hello\"",
            ),
            (
                Reason::SmtpReadTimeout { after: s2 },
                "SMTP reply timed out after 2s",
            ),
            (
                Reason::SmtpReadFailed(IoCause::Os(104)),
                "SMTP read failed: Connection reset by peer (os error 104)",
            ),
            (Reason::SmtpClosed, "SMTP server closed the connection"),
            (
                Reason::SmtpTooLong { limit: 4096 },
                "SMTP reply longer than 4096 bytes",
            ),
            (Reason::SmtpWriteTimeout, "SMTP write timed out"),
            (
                Reason::SmtpWriteFailed(IoCause::Os(32)),
                "SMTP write failed: Broken pipe (os error 32)",
            ),
            (Reason::SmtpTooSlow, "SMTP dialogue took too long"),
            (
                Reason::MiscExit { status: 3 },
                "MISC_CHECK program exited with status 3",
            ),
            (
                Reason::MiscSignal { signal: 9 },
                "MISC_CHECK program killed by signal 9",
            ),
            (
                Reason::MiscNoStatus,
                "MISC_CHECK program ended without a status",
            ),
            (
                Reason::MiscTimeout {
                    program: "/bin/sleep".into(),
                    after: s2,
                },
                "/bin/sleep timed out after 2s",
            ),
            (
                Reason::TimedOut {
                    kind: CheckKind::Dns,
                    after: Duration::from_secs(4),
                },
                "DNS_CHECK did not finish within 4s",
            ),
            (
                Reason::NoReply {
                    after: Duration::from_millis(1500),
                },
                "no reply within 1.5s",
            ),
            (
                Reason::DnsRcode { rcode: 3 },
                "DNS reply has RCODE 3 (Non-Existent Domain)",
            ),
            (
                Reason::UdpReply(UdpMismatch::Length {
                    received: 1,
                    min: 4,
                    max: 255,
                }),
                "UDP reply of 1 bytes is outside 4..=255 bytes",
            ),
            (
                Reason::UdpReply(UdpMismatch::Data),
                "UDP reply does not match require_reply",
            ),
            (
                Reason::Other("DNS_CHECK: no reply".into()),
                "DNS_CHECK: no reply",
            ),
        ];
        for (reason, words) in cases {
            assert_eq!(text(reason), words);
        }
    }

    #[test]
    fn http_failures_read_as_before_they_were_data() {
        let s2 = Duration::from_secs(2);
        let t: SocketAddr = "10.0.0.2:443".parse().expect("addr");
        let http = |error| Reason::Http {
            path: "/health".into(),
            error,
        };
        let mut digest = [0u8; 16];
        digest[0] = 0xab;
        let cases = [
            (
                HttpError::Connect(Box::new(Reason::ConnectFailed {
                    target: t,
                    cause: IoCause::Os(111),
                })),
                "connection to 10.0.0.2:443 failed: Connection refused (os error 111)",
            ),
            (
                HttpError::Tls {
                    target: t,
                    reason: "received corrupt message".into(),
                },
                "TLS handshake with 10.0.0.2:443 failed: received corrupt message",
            ),
            (
                HttpError::TlsTimeout {
                    target: t,
                    after: s2,
                },
                "TLS handshake with 10.0.0.2:443 failed: timed out after 2s",
            ),
            (
                HttpError::Write(IoCause::Os(32)),
                "sending the request failed: Broken pipe (os error 32)",
            ),
            (
                HttpError::Read(IoCause::Os(104)),
                "reading the response failed: Connection reset by peer (os error 104)",
            ),
            (
                HttpError::HeaderTimeout(s2),
                "timed out after 2s waiting for the response headers",
            ),
            (
                HttpError::BodyTimeout(s2),
                "timed out after 2s reading the response body",
            ),
            (
                HttpError::NoHeader(0),
                "no complete HTTP header received (0 bytes)",
            ),
            (
                HttpError::HeaderTooLarge(65536),
                "response headers exceed 65536 bytes",
            ),
            (
                HttpError::BodyTooLarge(1 << 20),
                "response body exceeds 1048576 bytes",
            ),
            (
                HttpError::TotalTimeout(Duration::from_secs(8)),
                "the exchange took longer than 8s",
            ),
            (
                HttpError::Status(500),
                "HTTP status 500 is not an expected status code",
            ),
            (HttpError::BadStatusLine, "invalid HTTP status line"),
            (
                HttpError::Digest {
                    got: digest,
                    expected: [0xff; 16],
                },
                "MD5 digest mismatch (got ab000000000000000000000000000000, \
                 expected ffffffffffffffffffffffffffffffff)",
            ),
            (
                HttpError::Regex {
                    pattern: "ok$".into(),
                    matched: false,
                },
                "regex \"ok$\" did not match the response",
            ),
            (
                HttpError::Regex {
                    pattern: "error".into(),
                    matched: true,
                },
                "regex \"error\" matched the response",
            ),
        ];
        for (error, words) in cases {
            assert_eq!(text(http(error)), format!("/health: {words}"));
        }
        let refused = Failure::http(
            "/",
            HttpError::Connect(Box::new(Reason::ConnectTimeout {
                target: t,
                after: s2,
            })),
        );
        assert_eq!(refused.reason.target(), Some(t));
        let tls = http(HttpError::Tls {
            target: t,
            reason: "x".into(),
        });
        assert_eq!(tls.target(), Some(t));
        assert_eq!(http(HttpError::Status(404)).target(), None);
    }

    #[test]
    fn targets_and_constructors() {
        let t: SocketAddr = "127.0.0.1:9".parse().expect("addr");
        let refused = std::io::Error::from_raw_os_error(111);
        let f = Failure::connect(t, &refused);
        assert_eq!(f.reason.target(), Some(t));
        assert!(f.reason.contains("refused"));
        let custom = std::io::Error::other("odd");
        assert_eq!(
            Failure::connect(t, &custom).to_string(),
            "connection to 127.0.0.1:9 failed: odd"
        );
        assert_eq!(Failure::new("words").reason, Reason::Other("words".into()));
        assert_eq!(
            Failure::socket("cannot x").reason,
            Reason::Socket("cannot x".into())
        );
        assert_eq!(Reason::SmtpClosed.target(), None);
    }
}
