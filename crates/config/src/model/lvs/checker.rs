//! Checker blocks of a `real_server`: the options they share and every checker except
//! `HTTP_GET`/`SSL_GET` (see [`super::http`]).

use std::net::IpAddr;
use std::time::Duration;

use crate::diag::Origin;
use crate::dump::Dumper;
use crate::tree::Node;

use super::super::script::{command, Command};
use super::super::{required, Ctx};
use super::http::{self, HttpCheck};
use super::{dump_bool, CheckTimers};

/// keepalived's `delay_loop` when nothing sets it.
pub const DEFAULT_DELAY_LOOP: Duration = Duration::from_secs(60);
/// keepalived's `connect_timeout` when nothing sets it.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The connection options of a checker (`connect_ip`, `connect_port`, `bindto`, `bind_port`,
/// `bind_if`, `fwmark`); `None` means the real server's address/port, or the kernel's choice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectOpts {
    /// `connect_ip`: the address to check instead of the real server's.
    pub connect_ip: Option<IpAddr>,
    /// `connect_port`: the port to check instead of the real server's.
    pub connect_port: Option<u16>,
    /// `bindto`: the source address.
    pub bindto: Option<IpAddr>,
    /// `bind_port`: the source port.
    pub bind_port: Option<u16>,
    /// `bind_if`: the interface to bind to (needed for IPv6 link-local sources).
    pub bind_if: Option<String>,
    /// `fwmark`: the mark set on the checker's packets.
    pub fwmark: Option<u32>,
}

impl ConnectOpts {
    /// Handles one connection keyword; false when `node` is something else.
    pub(crate) fn parse_kw(&mut self, ctx: &mut Ctx<'_>, node: &Node) -> bool {
        match node.keyword() {
            "connect_ip" => {
                if let Some(a) = ctx.ip(node, 0) {
                    self.connect_ip = Some(a);
                }
            }
            "connect_port" => {
                if let Some(p) = ctx.int_in(node, 0, 1u16, u16::MAX) {
                    self.connect_port = Some(p);
                }
            }
            "bindto" => {
                if let Some(a) = ctx.ip(node, 0) {
                    self.bindto = Some(a);
                }
            }
            "bind_port" => {
                if let Some(p) = ctx.int_in(node, 0, 1u16, u16::MAX) {
                    self.bind_port = Some(p);
                }
            }
            "bind_if" => {
                if let Some(s) = ctx.string(node) {
                    self.bind_if = Some(s);
                }
            }
            "fwmark" => {
                if let Some(m) = ctx.u64_in(node, 0, 0, u32::MAX as u64) {
                    self.fwmark = Some(m as u32);
                }
            }
            _ => return false,
        }
        true
    }

    /// Writes the options that are set.
    pub fn dump(&self, d: &mut Dumper) {
        d.opt("connect_ip", &self.connect_ip);
        d.opt("connect_port", &self.connect_port);
        d.opt("bindto", &self.bindto);
        d.opt("bind_port", &self.bind_port);
        d.opt("bind_if", &self.bind_if);
        d.opt("fwmark", &self.fwmark);
    }
}

/// One checker block of a real server, with every inherited value resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Checker {
    /// Where the block starts.
    pub origin: Origin,
    /// What is checked and how.
    pub kind: CheckerKind,
    /// Connection options (not used by `MISC_CHECK`, `FILE_CHECK`, `BFD_CHECK`).
    pub connect: ConnectOpts,
    /// The timing options the block itself set.
    pub set: CheckTimers,
    /// `alpha` as the block set it.
    pub alpha_set: Option<bool>,
    /// `log_all_failures`: log every failure, not only state changes (`None`: the global
    /// `checker_log_all_failures`).
    pub log_all_failures: Option<bool>,
    /// Resolved: time between checks.
    pub delay_loop: Duration,
    /// Resolved: connection timeout.
    pub connect_timeout: Duration,
    /// Resolved: failures tolerated before the server is down.
    pub retry: u32,
    /// Resolved: delay before a retry.
    pub delay_before_retry: Duration,
    /// Resolved: maximum random delay before the first check (0: none).
    pub warmup: Duration,
    /// Resolved: the server starts down until the first success.
    pub alpha: bool,
}

/// The kind of a checker and its own options.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckerKind {
    /// `TCP_CHECK`: a TCP connect.
    Tcp,
    /// `HTTP_GET` or `SSL_GET`.
    Http(Box<HttpCheck>),
    /// `SMTP_CHECK`.
    Smtp(SmtpCheck),
    /// `DNS_CHECK`.
    Dns(DnsCheck),
    /// `MISC_CHECK`: an external program.
    Misc(MiscCheck),
    /// `UDP_CHECK`.
    Udp(UdpCheck),
    /// `PING_CHECK`: ICMP echo.
    Ping,
    /// `FILE_CHECK`: a value read from a `track_file`.
    File(FileCheck),
    /// `BFD_CHECK`: the state of a BFD instance.
    Bfd(BfdCheck),
}

impl CheckerKind {
    /// The block keyword.
    pub fn keyword(&self) -> &'static str {
        match self {
            CheckerKind::Tcp => "TCP_CHECK",
            CheckerKind::Http(h) if h.ssl => "SSL_GET",
            CheckerKind::Http(_) => "HTTP_GET",
            CheckerKind::Smtp(_) => "SMTP_CHECK",
            CheckerKind::Dns(_) => "DNS_CHECK",
            CheckerKind::Misc(_) => "MISC_CHECK",
            CheckerKind::Udp(_) => "UDP_CHECK",
            CheckerKind::Ping => "PING_CHECK",
            CheckerKind::File(_) => "FILE_CHECK",
            CheckerKind::Bfd(_) => "BFD_CHECK",
        }
    }

    /// Which of the shared options the block accepts.
    fn options(&self) -> Options {
        match self {
            CheckerKind::Misc(_) => Options::TimingOnly,
            CheckerKind::File(_) | CheckerKind::Bfd(_) => Options::None,
            _ => Options::All,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Options {
    All,
    TimingOnly,
    None,
}

/// `SMTP_CHECK` options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmtpCheck {
    /// `helo_name`: the name sent in `HELO` (`None`: the host name).
    pub helo_name: Option<String>,
    /// Legacy `host { ... }` sub-blocks: each is one more server checked the same way.
    pub hosts: Vec<ConnectOpts>,
}

/// A DNS query type of `DNS_CHECK`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DnsType {
    /// A.
    A,
    /// NS.
    Ns,
    /// CNAME.
    Cname,
    /// SOA (the default).
    Soa,
    /// MX.
    Mx,
    /// TXT.
    Txt,
    /// AAAA.
    Aaaa,
}

impl DnsType {
    const ALL: [(&'static str, DnsType); 7] = [
        ("A", DnsType::A),
        ("NS", DnsType::Ns),
        ("CNAME", DnsType::Cname),
        ("SOA", DnsType::Soa),
        ("MX", DnsType::Mx),
        ("TXT", DnsType::Txt),
        ("AAAA", DnsType::Aaaa),
    ];

    /// The type name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, t)| *t == self)
            .map(|(n, _)| *n)
            .unwrap_or("SOA")
    }

    /// The numeric RR type.
    pub fn code(self) -> u16 {
        match self {
            DnsType::A => 1,
            DnsType::Ns => 2,
            DnsType::Cname => 5,
            DnsType::Soa => 6,
            DnsType::Mx => 15,
            DnsType::Txt => 16,
            DnsType::Aaaa => 28,
        }
    }
}

/// `DNS_CHECK` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsCheck {
    /// `type`: the query type (default SOA).
    pub query_type: DnsType,
    /// `name`: the queried name (default `.`).
    pub name: String,
}

/// `MISC_CHECK` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MiscCheck {
    /// `misc_path`: the program and its arguments.
    pub path: Command,
    /// `misc_timeout` as set (seconds).
    pub misc_timeout: Option<Duration>,
    /// Resolved: the run time after which the program is killed (default: `delay_loop`).
    pub timeout: Duration,
    /// `misc_dynamic`: exit codes 2..255 set the weight.
    pub dynamic: bool,
    /// `user USER [GROUP]`: the user to run as.
    pub user: Option<String>,
    /// The group of `user USER GROUP`.
    pub group: Option<String>,
}

/// A byte pattern of `UDP_CHECK`: each nibble either fixed or ignored (`x`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BytePattern {
    /// The bytes; ignored nibbles are 0.
    pub bytes: Vec<u8>,
    /// Per byte, the bits that must match.
    pub mask: Vec<u8>,
}

impl BytePattern {
    /// Parses keepalived's free-form hex: each word is read as pairs of hex digits, an odd
    /// last digit is a byte of its own. `x`/`X` nibbles are wildcards when `wildcards`.
    pub fn parse<'w>(words: impl Iterator<Item = &'w str>, wildcards: bool) -> Option<Self> {
        let mut p = BytePattern::default();
        for w in words {
            let b = w.as_bytes();
            for chunk in b.chunks(2) {
                let (hi, lo) = match chunk {
                    [h, l] => (Some(*h), *l),
                    [l] => (None, *l),
                    _ => return None,
                };
                let (lv, lm) = nibble(lo, wildcards)?;
                let (hv, hm) = match hi {
                    Some(h) => nibble(h, wildcards)?,
                    None => (0, 0xf),
                };
                p.bytes.push(hv << 4 | lv);
                p.mask.push(hm << 4 | lm);
            }
        }
        Some(p)
    }

    /// The canonical text: two hex digits (or `x`) per byte.
    pub fn to_conf(&self) -> String {
        let mut s = String::with_capacity(self.bytes.len() * 2);
        for (b, m) in self.bytes.iter().zip(&self.mask) {
            for shift in [4u8, 0] {
                if (m >> shift) & 0xf == 0 {
                    s.push('x');
                } else {
                    s.push(char::from_digit(u32::from((b >> shift) & 0xf), 16).unwrap_or('0'));
                }
            }
        }
        s
    }
}

fn nibble(c: u8, wildcards: bool) -> Option<(u8, u8)> {
    match c {
        b'x' | b'X' if wildcards => Some((0, 0)),
        _ => (c as char).to_digit(16).map(|v| (v as u8, 0xf)),
    }
}

/// `UDP_CHECK` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpCheck {
    /// `payload`: the datagram sent (`None`: random bytes).
    pub payload: Option<Vec<u8>>,
    /// `require_reply [HEX]`: a reply is needed; when the pattern is not empty the reply must
    /// match it.
    pub require_reply: Option<BytePattern>,
    /// `min_reply_length` (default 0).
    pub min_reply_length: u16,
    /// `max_reply_length` (default 255).
    pub max_reply_length: u16,
}

/// `FILE_CHECK` options. (keepalived 2.2.7 documents `dynamic` but rejects it as an unknown
/// keyword; so does this parser.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCheck {
    /// `track_file`: the name of the `track_file` block read.
    pub track_file: String,
    /// `weight`: multiplier of the value read; `None`: the `track_file` block's own weight
    /// and `reverse` apply (keepalived 2.2.7, observed).
    pub weight: Option<i32>,
    /// `weight ... reverse`.
    pub reverse: bool,
}

/// `BFD_CHECK` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BfdCheck {
    /// `name`: the `bfd_instance` followed.
    pub name: String,
}

/// The checker block keywords.
pub const CHECKER_KEYWORDS: [&str; 10] = [
    "TCP_CHECK",
    "HTTP_GET",
    "SSL_GET",
    "SMTP_CHECK",
    "DNS_CHECK",
    "MISC_CHECK",
    "UDP_CHECK",
    "PING_CHECK",
    "FILE_CHECK",
    "BFD_CHECK",
];

/// Reads one checker block; `None` (with a diagnostic) when it lacks what it needs.
pub fn parse(ctx: &mut Ctx<'_>, node: &Node) -> Option<Checker> {
    if !ctx.has_block(node) {
        return None;
    }
    let kw = node.keyword();
    let mut kind = match kw {
        "TCP_CHECK" => CheckerKind::Tcp,
        "HTTP_GET" => CheckerKind::Http(Box::new(HttpCheck::new(false))),
        "SSL_GET" => CheckerKind::Http(Box::new(HttpCheck::new(true))),
        "SMTP_CHECK" => CheckerKind::Smtp(SmtpCheck::default()),
        "DNS_CHECK" => CheckerKind::Dns(DnsCheck {
            query_type: DnsType::Soa,
            name: ".".into(),
        }),
        "MISC_CHECK" => CheckerKind::Misc(MiscCheck {
            path: Command { argv: Vec::new() },
            misc_timeout: None,
            timeout: DEFAULT_DELAY_LOOP,
            dynamic: false,
            user: None,
            group: None,
        }),
        "UDP_CHECK" => CheckerKind::Udp(UdpCheck {
            payload: None,
            require_reply: None,
            min_reply_length: 0,
            max_reply_length: 255,
        }),
        "PING_CHECK" => CheckerKind::Ping,
        "FILE_CHECK" => CheckerKind::File(FileCheck {
            track_file: String::new(),
            weight: None,
            reverse: false,
        }),
        "BFD_CHECK" => CheckerKind::Bfd(BfdCheck {
            name: String::new(),
        }),
        _ => return None,
    };
    let opts = kind.options();
    let mut c = Checker {
        origin: node.origin.clone(),
        kind: CheckerKind::Tcp,
        connect: ConnectOpts::default(),
        set: CheckTimers::default(),
        alpha_set: None,
        log_all_failures: None,
        delay_loop: DEFAULT_DELAY_LOOP,
        connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        retry: 1,
        delay_before_retry: Duration::from_secs(1),
        warmup: DEFAULT_DELAY_LOOP,
        alpha: false,
    };
    let needs_value = match &kind {
        CheckerKind::Dns(_) => required::DNS_CHECK,
        CheckerKind::Udp(_) => required::UDP_CHECK,
        CheckerKind::Misc(_) => required::MISC_CHECK,
        CheckerKind::File(_) => required::FILE_CHECK,
        CheckerKind::Bfd(_) => &[],
        CheckerKind::Http(_) | CheckerKind::Smtp(_) | CheckerKind::Tcp | CheckerKind::Ping => {
            required::CONNECTED_CHECKER
        }
    };
    for n in node.children() {
        if ctx.missing_parameter(n, needs_value) {
            continue;
        }
        if opts == Options::All && c.connect.parse_kw(ctx, n) {
            continue;
        }
        // MISC_CHECK has no connection, so no connect_timeout either.
        let timing_kw = opts == Options::All || n.keyword() != "connect_timeout";
        if opts != Options::None {
            if timing_kw && c.set.parse_kw(ctx, n, 0) {
                continue;
            }
            match n.keyword() {
                "alpha" => {
                    c.alpha_set = ctx.flag(n).or(c.alpha_set);
                    continue;
                }
                "log_all_failures" => {
                    c.log_all_failures = ctx.flag(n).or(c.log_all_failures);
                    continue;
                }
                _ => {}
            }
        }
        let known = match &mut kind {
            CheckerKind::Http(h) => http::parse_kw(ctx, n, h),
            CheckerKind::Smtp(s) => parse_smtp_kw(ctx, n, s),
            CheckerKind::Dns(d) => parse_dns_kw(ctx, n, d),
            CheckerKind::Misc(m) => parse_misc_kw(ctx, n, m),
            CheckerKind::Udp(u) => parse_udp_kw(ctx, n, u),
            CheckerKind::File(f) => parse_file_kw(ctx, n, f),
            CheckerKind::Bfd(b) => parse_bfd_kw(ctx, n, b),
            CheckerKind::Tcp | CheckerKind::Ping => false,
        };
        if !known {
            ctx.unknown(n);
        }
    }
    match &mut kind {
        CheckerKind::Http(h) if !http::finish(ctx, node, h) => return None,
        CheckerKind::Misc(m) if m.path.argv.is_empty() => {
            ctx.warn(node, "MISC_CHECK has no misc_path - skipping");
            return None;
        }
        CheckerKind::File(f) if f.track_file.is_empty() => {
            ctx.warn(node, "FILE_CHECK has no track_file specified - ignoring");
            return None;
        }
        CheckerKind::Bfd(b) if b.name.is_empty() => {
            ctx.warn(node, "BFD_CHECK has no name specified - ignoring");
            return None;
        }
        CheckerKind::Udp(u) if u.min_reply_length > u.max_reply_length => {
            ctx.warn(
                node,
                format!(
                    "UDP_CHECK min_reply_length {} is above max_reply_length {} - resetting both",
                    u.min_reply_length, u.max_reply_length
                ),
            );
            u.min_reply_length = 0;
            u.max_reply_length = 255;
        }
        _ => {}
    }
    c.kind = kind;
    Some(c)
}

fn parse_smtp_kw(ctx: &mut Ctx<'_>, n: &Node, s: &mut SmtpCheck) -> bool {
    match n.keyword() {
        "helo_name" => {
            if let Some(v) = ctx.string(n) {
                s.helo_name = Some(v);
            }
        }
        "host" => {
            if !ctx.has_block(n) {
                return true;
            }
            // The checker child logs it as it loads (keepalived's `-t` does not), once per
            // SMTP_CHECK that has host blocks (keepalived 2.2.7's end of the block: two
            // lines for the Debian sample's two SMTP_CHECKs of three host blocks each).
            if s.hosts.is_empty() {
                ctx.diags.runtime_info(
                    "The SMTP_CHECK host block is deprecated. Please define additional checkers.",
                );
            }
            let mut h = ConnectOpts::default();
            for c in n.children() {
                if ctx.missing_parameter(c, required::SMTP_HOST) {
                    continue;
                }
                if !h.parse_kw(ctx, c) {
                    ctx.unknown(c);
                }
            }
            s.hosts.push(h);
        }
        _ => return false,
    }
    true
}

fn parse_dns_kw(ctx: &mut Ctx<'_>, n: &Node, d: &mut DnsCheck) -> bool {
    match n.keyword() {
        "type" => {
            let Some(t) = ctx.arg(n, 0) else { return true };
            match DnsType::ALL
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(t))
            {
                Some((_, ty)) => d.query_type = *ty,
                None => ctx.warn(n, format!("Unknown DNS check type {t} - ignoring")),
            }
        }
        "name" => {
            if let Some(v) = ctx.string(n) {
                d.name = v;
            }
        }
        _ => return false,
    }
    true
}

fn parse_misc_kw(ctx: &mut Ctx<'_>, n: &Node, m: &mut MiscCheck) -> bool {
    match n.keyword() {
        "misc_path" => {
            if let Some(c) = command(ctx, n) {
                m.path = c;
            }
        }
        "misc_timeout" => {
            if let Some(s) = ctx.u64_in(n, 0, 1, u32::MAX as u64) {
                m.misc_timeout = Some(Duration::from_secs(s));
            }
        }
        "misc_dynamic" => m.dynamic = ctx.flag(n).unwrap_or(m.dynamic),
        "user" => {
            m.user = ctx.string(n);
            m.group = n.arg(1).map(str::to_string);
        }
        _ => return false,
    }
    true
}

fn parse_udp_kw(ctx: &mut Ctx<'_>, n: &Node, u: &mut UdpCheck) -> bool {
    let words = || n.args().iter().map(|w| w.text.as_str());
    match n.keyword() {
        "payload" => match BytePattern::parse(words(), false) {
            Some(p) if !p.bytes.is_empty() => u.payload = Some(p.bytes),
            _ => ctx.warn(n, "Invalid hex string for UDP_CHECK payload"),
        },
        "require_reply" => match BytePattern::parse(words(), true) {
            Some(p) => u.require_reply = Some(p),
            None => ctx.warn(n, "Invalid hex string for UDP_CHECK require_reply"),
        },
        "min_reply_length" => {
            if let Some(v) = ctx.int_in(n, 0, 0u16, u16::MAX) {
                u.min_reply_length = v;
            }
        }
        "max_reply_length" => {
            if let Some(v) = ctx.int_in(n, 0, 0u16, u16::MAX) {
                u.max_reply_length = v;
            }
        }
        _ => return false,
    }
    true
}

fn parse_file_kw(ctx: &mut Ctx<'_>, n: &Node, f: &mut FileCheck) -> bool {
    match n.keyword() {
        "track_file" | "file" => {
            if let Some(v) = ctx.string(n) {
                f.track_file = v;
            }
        }
        "weight" => {
            if let Some(w) = ctx.int_in(n, 0, -i32::MAX, i32::MAX) {
                f.weight = Some(w);
            }
            f.reverse = n.arg(1) == Some("reverse");
        }
        _ => return false,
    }
    true
}

fn parse_bfd_kw(ctx: &mut Ctx<'_>, n: &Node, b: &mut BfdCheck) -> bool {
    match n.keyword() {
        "name" => {
            if let Some(v) = ctx.string(n) {
                b.name = v;
            }
        }
        _ => return false,
    }
    true
}

impl Checker {
    /// Resolves the inherited values: the block's own, else `outer` (the real server's values
    /// over the virtual server's), else keepalived's defaults for this kind of checker.
    pub fn resolve(&mut self, outer: CheckTimers, alpha: bool, virtualhost: Option<&str>) {
        let t = self.set.or(outer);
        self.delay_loop = t.delay_loop.unwrap_or(DEFAULT_DELAY_LOOP);
        self.connect_timeout = t.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        self.retry = t.retry.unwrap_or(match self.kind {
            CheckerKind::Misc(_) => 0,
            CheckerKind::Dns(_) => 3,
            _ => 1,
        });
        self.delay_before_retry = t.delay_before_retry.unwrap_or(match self.kind {
            CheckerKind::Http(_) => Duration::from_secs(3),
            CheckerKind::Dns(_) => self.delay_loop,
            _ => Duration::from_secs(1),
        });
        self.warmup = t.warmup.unwrap_or(self.delay_loop);
        self.alpha = self.alpha_set.unwrap_or(alpha);
        match &mut self.kind {
            CheckerKind::Http(h) => h.resolve(virtualhost),
            CheckerKind::Misc(m) => m.timeout = m.misc_timeout.unwrap_or(self.delay_loop),
            _ => {}
        }
    }

    /// Writes the canonical checker block, with the resolved values.
    /// `inherited_alpha` is the real server's `alpha`: written only when this one differs.
    pub fn dump(&self, d: &mut Dumper, inherited_alpha: bool) {
        d.block(&[self.kind.keyword()], |d| {
            let opts = self.kind.options();
            if opts == Options::All {
                self.connect.dump(d);
            }
            if opts != Options::None {
                d.timer("delay_loop", self.delay_loop);
                if opts == Options::All {
                    d.timer("connect_timeout", self.connect_timeout);
                }
                d.kv("retry", self.retry);
                d.timer("delay_before_retry", self.delay_before_retry);
                d.timer("warmup", self.warmup);
                if self.alpha != inherited_alpha {
                    dump_bool(d, "alpha", Some(self.alpha));
                }
                dump_bool(d, "log_all_failures", self.log_all_failures);
            }
            match &self.kind {
                CheckerKind::Tcp | CheckerKind::Ping => {}
                CheckerKind::Http(h) => h.dump(d),
                CheckerKind::Smtp(s) => {
                    d.opt("helo_name", &s.helo_name);
                    for h in &s.hosts {
                        d.block(&["host"], |d| h.dump(d));
                    }
                }
                CheckerKind::Dns(dns) => {
                    d.kv("type", dns.query_type.name());
                    d.kv("name", &dns.name);
                }
                CheckerKind::Misc(m) => {
                    d.words(&["misc_path".to_string(), m.path.to_conf()]);
                    // Only when set: the inherited default (delay_loop) may have a fraction.
                    if let Some(t) = m.misc_timeout {
                        d.kv("misc_timeout", t.as_secs());
                    }
                    d.flag("misc_dynamic", m.dynamic);
                    if let Some(u) = &m.user {
                        let mut w = vec!["user".to_string(), u.clone()];
                        w.extend(m.group.clone());
                        d.words(&w);
                    }
                }
                CheckerKind::Udp(u) => {
                    if let Some(p) = &u.payload {
                        let pat = BytePattern {
                            bytes: p.clone(),
                            mask: vec![0xff; p.len()],
                        };
                        d.kv("payload", pat.to_conf());
                    }
                    match &u.require_reply {
                        Some(p) if p.bytes.is_empty() => d.words(&["require_reply"]),
                        Some(p) => d.kv("require_reply", p.to_conf()),
                        None => {}
                    }
                    d.kv("min_reply_length", u.min_reply_length);
                    d.kv("max_reply_length", u.max_reply_length);
                }
                CheckerKind::File(f) => {
                    d.kv("track_file", &f.track_file);
                    match f.weight {
                        Some(w) if f.reverse => {
                            d.words(&["weight".to_string(), w.to_string(), "reverse".into()])
                        }
                        Some(w) => d.kv("weight", w),
                        None => {}
                    }
                }
                CheckerKind::Bfd(b) => d.kv("name", &b.name),
            }
        });
    }
}

/// Drops the `FILE_CHECK`s whose `track_file` and the `BFD_CHECK`s whose `bfd_instance` is not
/// configured, as keepalived does.
pub fn check_references(
    ctx: &mut Ctx<'_>,
    lvs: &mut super::LvsConfig,
    track_files: &[&str],
    bfd_instances: &[&str],
) {
    for vs in &mut lvs.virtual_servers {
        for rs in &mut vs.real_servers {
            let addr = rs.addr;
            rs.checkers.retain(|c| match &c.kind {
                CheckerKind::File(f) if !track_files.contains(&f.track_file.as_str()) => {
                    ctx.diags.warn(
                        &c.origin,
                        format!("track_file {} not found - FILE_CHECK ignored", f.track_file),
                    );
                    false
                }
                CheckerKind::Bfd(b) if !bfd_instances.contains(&b.name.as_str()) => {
                    ctx.diags.warn(
                        &c.origin,
                        format!("([{addr}]) BFD_CHECK - BFD {} not configured", b.name),
                    );
                    false
                }
                _ => true,
            });
        }
    }
}
