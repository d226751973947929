//! `HTTP_GET` and `SSL_GET`: the HTTP options and the `url { ... }` blocks.

use crate::dump::Dumper;
use crate::tree::Node;

use super::super::values::{parse_bool, parse_u64};
use super::super::{required, Ctx};

/// The HTTP version sent by the checker (`http_protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HttpProtocol {
    /// `1.0` (the default).
    #[default]
    Http10,
    /// `1.0C`: 1.0 with `Connection: close`.
    Http10Close,
    /// `1.1` (always sends `Connection: close`).
    Http11,
}

impl HttpProtocol {
    const ALL: [(&'static str, HttpProtocol); 3] = [
        ("1.0", HttpProtocol::Http10),
        ("1.0C", HttpProtocol::Http10Close),
        ("1.1", HttpProtocol::Http11),
    ];

    /// The keyword value.
    pub fn name(self) -> &'static str {
        match self {
            HttpProtocol::Http10 => "1.0",
            HttpProtocol::Http10Close => "1.0C",
            HttpProtocol::Http11 => "1.1",
        }
    }
}

/// The options of `HTTP_GET` / `SSL_GET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCheck {
    /// True for `SSL_GET`.
    pub ssl: bool,
    /// `http_protocol`.
    pub http_protocol: HttpProtocol,
    /// `fast_recovery`: check every URL at once after a failure or at start.
    pub fast_recovery: bool,
    /// `enable_sni`: send the virtual host as SNI (SSL_GET).
    pub enable_sni: bool,
    /// `virtualhost` as the checker block set it.
    pub virtualhost: Option<String>,
    /// The `url` blocks, at least one.
    pub urls: Vec<Url>,
}

impl HttpCheck {
    /// An empty check; `ssl` selects `SSL_GET`.
    pub fn new(ssl: bool) -> Self {
        HttpCheck {
            ssl,
            http_protocol: HttpProtocol::default(),
            fast_recovery: false,
            enable_sni: false,
            virtualhost: None,
            urls: Vec::new(),
        }
    }

    /// Resolves each URL's virtual host: its own, else the checker's, else `outer` (the real
    /// server's over the virtual server's).
    pub fn resolve(&mut self, outer: Option<&str>) {
        let inherited = self.virtualhost.as_deref().or(outer);
        for u in &mut self.urls {
            u.virtualhost = u
                .virtualhost_set
                .clone()
                .or_else(|| inherited.map(str::to_string));
        }
    }

    /// Writes the HTTP options and the URLs.
    pub fn dump(&self, d: &mut Dumper) {
        d.kv("http_protocol", self.http_protocol.name());
        d.flag("fast_recovery", self.fast_recovery);
        d.flag("enable_sni", self.enable_sni);
        d.opt("virtualhost", &self.virtualhost);
        for u in &self.urls {
            u.dump(d);
        }
    }
}

/// A `url { ... }` block: one request and what its answer must look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `path`: the request path.
    pub path: String,
    /// `digest`: the MD5 of the body, when checked.
    pub digest: Option<[u8; 16]>,
    /// `status_code`: accepted status ranges (inclusive); default 200-299.
    pub status_codes: Vec<(u16, u16)>,
    /// `virtualhost` as the url block set it.
    pub virtualhost_set: Option<String>,
    /// Resolved: the `Host:` header value, when not the address.
    pub virtualhost: Option<String>,
    /// `regex`: a pattern the body must (or, with `regex_no_match`, must not) contain.
    pub regex: Option<String>,
    /// `regex_no_match`.
    pub regex_no_match: bool,
    /// `regex_options`: PCRE2 option names.
    pub regex_options: Vec<RegexOption>,
    /// `regex_stack START MAX`: PCRE2 JIT stack sizes in bytes. Accepted for compatibility
    /// and unused: the checker runs PCRE2's interpreter, not its JIT (its memory is bounded by
    /// PCRE2's heap limit instead).
    pub regex_stack: Option<(u32, u32)>,
    /// `regex_min_offset`.
    pub regex_min_offset: Option<u32>,
    /// `regex_max_offset`.
    pub regex_max_offset: Option<u32>,
}

/// One of the PCRE2 options `regex_options` accepts (keepalived's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RegexOption {
    name: &'static str,
    flag: u32,
}

impl RegexOption {
    /// The option named `s`, if it is one.
    pub fn from_name(s: &str) -> Option<Self> {
        rka_sys::pcre::option(s).map(|(name, flag)| RegexOption { name, flag })
    }

    /// The option's name.
    pub fn name(self) -> &'static str {
        self.name
    }

    /// Its PCRE2 compile flag.
    pub fn flag(self) -> u32 {
        self.flag
    }
}

/// The default accepted status codes.
pub const DEFAULT_STATUS: (u16, u16) = (200, 299);

impl Url {
    fn new() -> Self {
        Url {
            path: String::new(),
            digest: None,
            status_codes: Vec::new(),
            virtualhost_set: None,
            virtualhost: None,
            regex: None,
            regex_no_match: false,
            regex_options: Vec::new(),
            regex_stack: None,
            regex_min_offset: None,
            regex_max_offset: None,
        }
    }

    /// True when `code` is an accepted status.
    pub fn status_ok(&self, code: u16) -> bool {
        self.status_codes
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&code))
    }

    fn dump(&self, d: &mut Dumper) {
        d.block(&["url"], |d| {
            d.kv("path", &self.path);
            if let Some(dg) = &self.digest {
                d.kv("digest", hex(dg));
            }
            let mut w = vec!["status_code".to_string()];
            for &(lo, hi) in &self.status_codes {
                w.push(if lo == hi {
                    lo.to_string()
                } else {
                    format!("{lo}-{hi}")
                });
            }
            d.words(&w);
            d.opt("virtualhost", &self.virtualhost);
            d.opt("regex", &self.regex);
            d.flag("regex_no_match", self.regex_no_match);
            if !self.regex_options.is_empty() {
                let mut w = vec!["regex_options".to_string()];
                w.extend(self.regex_options.iter().map(|o| o.name().to_string()));
                d.words(&w);
            }
            if let Some((a, b)) = self.regex_stack {
                d.words(&["regex_stack".to_string(), a.to_string(), b.to_string()]);
            }
            d.opt("regex_min_offset", &self.regex_min_offset);
            d.opt("regex_max_offset", &self.regex_max_offset);
        });
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn parse_digest(s: &str) -> Option<[u8; 16]> {
    if s.len() != 32 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn parse_status(s: &str) -> Option<(u16, u16)> {
    let (lo, hi) = match s.split_once('-') {
        Some((a, b)) => (parse_u64(a)?, parse_u64(b)?),
        None => {
            let v = parse_u64(s)?;
            (v, v)
        }
    };
    ((100..=599).contains(&lo) && (100..=599).contains(&hi) && lo <= hi)
        .then_some((lo as u16, hi as u16))
}

/// Handles one keyword of an `HTTP_GET`/`SSL_GET` block; false when unknown.
pub(crate) fn parse_kw(ctx: &mut Ctx<'_>, n: &Node, h: &mut HttpCheck) -> bool {
    match n.keyword() {
        "http_protocol" => {
            if let Some(p) = ctx.choice(n, 0, &HttpProtocol::ALL) {
                h.http_protocol = p;
            }
        }
        "fast_recovery" => h.fast_recovery = ctx.flag(n).unwrap_or(h.fast_recovery),
        "enable_sni" => h.enable_sni = ctx.flag(n).unwrap_or(h.enable_sni),
        "virtualhost" => h.virtualhost = ctx.string(n).or(h.virtualhost.take()),
        "url" => {
            if let Some(u) = parse_url(ctx, n) {
                h.urls.push(u);
            }
        }
        _ => return false,
    }
    true
}

fn parse_url(ctx: &mut Ctx<'_>, node: &Node) -> Option<Url> {
    let mut u = Url::new();
    for n in node.children() {
        if ctx.missing_parameter(n, required::URL) {
            continue;
        }
        match n.keyword() {
            "path" => {
                if let Some(p) = ctx.string(n) {
                    u.path = p;
                }
            }
            "digest" => {
                let Some(s) = ctx.arg(n, 0) else { continue };
                match parse_digest(s) {
                    Some(d) => u.digest = Some(d),
                    None => ctx.warn(n, format!("digest '{s}' is not 32 hex digits - ignoring")),
                }
            }
            "status_code" => {
                for w in n.args() {
                    match parse_status(&w.text) {
                        Some(r) => u.status_codes.push(r),
                        None => ctx.warn(n, format!("Invalid HTTP_GET status code '{}'", w.text)),
                    }
                }
            }
            "virtualhost" => u.virtualhost_set = ctx.string(n).or(u.virtualhost_set.take()),
            // keepalived 2.2.7 ignores these silently when written without a value.
            "regex" | "regex_stack" | "regex_min_offset" | "regex_max_offset"
                if n.args().is_empty() => {}
            "regex" => {
                let Some(r) = ctx.string(n) else { continue };
                u.regex = Some(r);
            }
            // keepalived 2.2.7 -t accepts any words after the regex_* keywords (exit 0):
            // values that cannot be used are dropped with a note only.
            "regex_no_match" => match n.arg(0).map(parse_bool) {
                None => u.regex_no_match = true,
                Some(Some(b)) => u.regex_no_match = b,
                Some(None) => regex_note(ctx, n),
            },
            "regex_options" => {
                for w in n.args() {
                    match RegexOption::from_name(&w.text) {
                        Some(o) if !u.regex_options.contains(&o) => u.regex_options.push(o),
                        Some(_) => {}
                        None => ctx.diags.info(
                            Some(&n.origin),
                            format!("Unknown regex option '{}'", w.text),
                        ),
                    }
                }
            }
            "regex_stack" => {
                let a = regex_number(ctx, n, 0, 1);
                let b = regex_number(ctx, n, 1, 1);
                // keepalived takes them as given, even a start above the maximum.
                if let (Some(a), Some(b)) = (a, b) {
                    u.regex_stack = Some((a as u32, b as u32));
                }
            }
            "regex_min_offset" => {
                if let Some(v) = regex_number(ctx, n, 0, 0) {
                    u.regex_min_offset = Some(v as u32);
                }
            }
            "regex_max_offset" => {
                if let Some(v) = regex_number(ctx, n, 0, 0) {
                    u.regex_max_offset = Some(v as u32);
                }
            }
            _ => ctx.unknown(n),
        }
    }
    if u.path.is_empty() {
        ctx.warn(node, "HTTP/SSL_GET checker url has no path - ignoring");
        return None;
    }
    if u.status_codes.is_empty() {
        u.status_codes.push(DEFAULT_STATUS);
    }
    if let Some(r) = &u.regex {
        // keepalived's checker compiles the pattern (PCRE2, with `regex_options`) as it loads
        // the configuration and logs PCRE2's refusal; its `-t` does not. The url is then
        // checked without a regex (keepalived 2.2.7's checker crashes on it, observed).
        let flags = u.regex_options.iter().fold(0, |a, o| a | o.flag());
        if let Err(e) = rka_sys::pcre::Pattern::compile(r, flags) {
            ctx.diags.runtime_info(format!("Invalid regex: '{r}' {e}"));
            u.regex = None;
        }
    }
    Some(u)
}

/// Notes a `regex_*` value that cannot be used (keepalived 2.2.7 -t does not complain).
fn regex_note(ctx: &mut Ctx<'_>, n: &Node) {
    ctx.diags.info(
        Some(&n.origin),
        format!("{}: value not understood - ignored", n.keyword()),
    );
}

/// Argument `idx` of a `regex_*` keyword as a number in `min..=u32::MAX`, or a note.
fn regex_number(ctx: &mut Ctx<'_>, n: &Node, idx: usize, min: u64) -> Option<u64> {
    match n.arg(idx).and_then(parse_u64) {
        Some(v) if v >= min && v <= u64::from(u32::MAX) => Some(v),
        _ => {
            regex_note(ctx, n);
            None
        }
    }
}

/// Final checks of a checker block; false when it must be dropped.
pub(crate) fn finish(ctx: &mut Ctx<'_>, node: &Node, h: &HttpCheck) -> bool {
    if h.urls.is_empty() {
        ctx.warn(
            node,
            "HTTP/SSL_GET checker has no urls specified - ignoring",
        );
        return false;
    }
    true
}
