//! HTTP_GET and SSL_GET: one `GET` per run for one `url` (a [`UrlCursor`] walks the list as
//! keepalived 2.2.7 does), then status code, MD5 digest of the raw body, and regular
//! expression, in that order.
//!
//! The digest covers the bytes after the blank line ending the headers, up to
//! `Content-Length` when the server sends one, else up to the end of the connection; a chunked
//! body is hashed as sent (never decoded), as keepalived and `genhash` do. A response ends
//! when the server closes the connection, as keepalived 2.2.7 reads it: a server that keeps it
//! open after a whole response fails the check with a read timeout.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::ConfigError;
use crate::net::ConnectOpts;
use crate::outcome::{
    up, Failure, HttpError, IoCause, LengthMismatch, ProbeResult, Reason, Success,
};
use crate::tls::TlsClient;

/// `http_protocol`: the request line's version and whether `Connection: close` is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpVersion {
    /// `HTTP/1.0` (the default).
    #[default]
    Http10,
    /// `1.0C`: `HTTP/1.0` with `Connection: close`.
    Http10Close,
    /// `HTTP/1.1` with `Connection: close`.
    Http11,
}

impl FromStr for HttpVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "1.0" => Ok(HttpVersion::Http10),
            "1.0c" | "1.0C" => Ok(HttpVersion::Http10Close),
            "1.1" => Ok(HttpVersion::Http11),
            _ => Err(format!("invalid HTTP protocol version '{s}'")),
        }
    }
}

/// Accepted status codes (`status_code`), by default 200-299.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCodes(Vec<(u16, u16)>);

impl Default for StatusCodes {
    fn default() -> Self {
        StatusCodes(vec![(200, 299)])
    }
}

impl StatusCodes {
    /// Parse items such as `200`, `200-299`.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Self, ConfigError> {
        let mut ranges = Vec::new();
        for item in items {
            let item = item.as_ref();
            let bad = || ConfigError::BadStatusCode(item.to_string());
            let (lo, hi) = match item.split_once('-') {
                Some((a, b)) => (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?),
                None => {
                    let c = item.parse().map_err(|_| bad())?;
                    (c, c)
                }
            };
            if lo > hi || hi > 999 {
                return Err(bad());
            }
            ranges.push((lo, hi));
        }
        if ranges.is_empty() {
            return Err(ConfigError::BadStatusCode(String::new()));
        }
        Ok(StatusCodes(ranges))
    }

    /// Whether `code` is accepted.
    pub fn contains(&self, code: u16) -> bool {
        self.0.iter().any(|&(lo, hi)| (lo..=hi).contains(&code))
    }
}

pub use crate::body_regex::BodyRegex;

/// One `url` block.
#[derive(Debug, Clone)]
pub struct UrlCheck {
    /// `path`, sent as is in the request line.
    pub path: String,
    /// `digest`: the expected MD5 of the raw body.
    pub digest: Option<[u8; 16]>,
    /// `status_code`.
    pub status_codes: StatusCodes,
    /// `virtualhost` of this url (overrides the checker's).
    pub virtualhost: Option<String>,
    /// `regex` and its options.
    pub regex: Option<BodyRegex>,
}

impl UrlCheck {
    /// A url with the default status codes and nothing else to check.
    pub fn new(path: impl Into<String>) -> Self {
        UrlCheck {
            path: path.into(),
            digest: None,
            status_codes: StatusCodes::default(),
            virtualhost: None,
            regex: None,
        }
    }
}

/// Parse a digest written as 32 hexadecimal digits.
pub fn parse_digest(s: &str) -> Result<[u8; 16], ConfigError> {
    let bad = || ConfigError::BadDigest(s.to_string());
    if s.len() != 32 || !s.is_ascii() {
        return Err(bad());
    }
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// A digest as 32 lowercase hexadecimal digits.
pub fn digest_hex(d: &[u8; 16]) -> String {
    let mut s = String::with_capacity(32);
    for b in d {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Memory and time bounds for one HTTP exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// Most bytes accepted before the end of the headers.
    pub max_header: usize,
    /// Most body bytes read (they are hashed as they arrive, not kept); `None` = no limit.
    pub max_body: Option<u64>,
    /// Most body bytes kept in memory for the regex.
    pub keep_body: usize,
    /// Bound on a whole exchange, connection included, whatever the server's pace.
    pub total_timeout: Duration,
}

impl HttpLimits {
    /// Bounds for a checker with this `connect_timeout`: 64 KiB of headers, 64 MiB of body,
    /// 1 MiB kept for the regex, and four times the timeout for the whole exchange.
    pub fn for_timeout(connect_timeout: Duration) -> Self {
        HttpLimits {
            max_header: 64 << 10,
            max_body: Some(64 << 20),
            keep_body: 1 << 20,
            total_timeout: connect_timeout.saturating_mul(4),
        }
    }
}

/// The HTTP_GET / SSL_GET parameters.
#[derive(Debug, Clone)]
pub struct HttpParams {
    /// Target and connection options.
    pub connect: ConnectOpts,
    /// `http_protocol`.
    pub version: HttpVersion,
    /// The `url` blocks, checked one per run ([`UrlCursor`]); the checker passes once all of
    /// them have passed in turn.
    pub urls: Vec<UrlCheck>,
    /// The checker's (or real/virtual server's) `virtualhost`.
    pub virtualhost: Option<String>,
    /// TLS client for SSL_GET; `None` for HTTP_GET.
    pub tls: Option<TlsClient>,
    /// Memory and time bounds.
    pub limits: HttpLimits,
    /// `fast_recovery`: before the first full pass and while the checker is down, the next
    /// url is checked at once instead of after `delay_loop`.
    pub fast_recovery: bool,
}

impl HttpParams {
    /// HTTP_GET parameters with default version and limits.
    pub fn new(connect: ConnectOpts, urls: Vec<UrlCheck>) -> Self {
        let limits = HttpLimits::for_timeout(connect.connect_timeout);
        HttpParams {
            connect,
            version: HttpVersion::default(),
            urls,
            virtualhost: None,
            tls: None,
            limits,
            fast_recovery: false,
        }
    }
}

/// The `Host:` value: the virtual host, else the address with its port (IPv6 in brackets).
pub fn host_header(virtualhost: Option<&str>, target: SocketAddr) -> String {
    match virtualhost {
        Some(v) => v.to_string(),
        None => target.to_string(),
    }
}

/// The request bytes, exactly as keepalived sends them.
pub fn request(path: &str, host: &str, version: HttpVersion) -> Vec<u8> {
    let (v, close): (&[u8], bool) = match version {
        HttpVersion::Http10 => (b"1.0", false),
        HttpVersion::Http10Close => (b"1.0", true),
        HttpVersion::Http11 => (b"1.1", true),
    };
    let mut r = Vec::with_capacity(96 + path.len() + host.len());
    r.extend_from_slice(b"GET ");
    r.extend_from_slice(path.as_bytes());
    r.extend_from_slice(b" HTTP/");
    r.extend_from_slice(v);
    r.extend_from_slice(b"\r\nUser-Agent: KeepAliveClient\r\n");
    if close {
        r.extend_from_slice(b"Connection: close\r\n");
    }
    r.extend_from_slice(b"Host: ");
    r.extend_from_slice(host.as_bytes());
    r.extend_from_slice(b"\r\n\r\n");
    r
}

/// What came back from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The headers, terminating blank line included.
    pub header: Vec<u8>,
    /// The status code of the status line, if it could be read.
    pub status: Option<u16>,
    /// The first body bytes (at most [`HttpLimits::keep_body`]).
    pub body: Vec<u8>,
    /// How many body bytes were hashed.
    pub body_len: u64,
    /// MD5 of the body bytes.
    pub digest: [u8; 16],
    /// When the request was started.
    pub elapsed: Duration,
    /// The `Content-Length` header's value, if any.
    pub content_length: Option<u64>,
    /// How many bytes came after the headers, up to the close.
    pub received: u64,
}

impl HttpResponse {
    /// `(Content-Length, bytes received)` when the server sent a `Content-Length` the body
    /// did not have. keepalived 2.2.7 passes such a response and says so under `-D`
    /// ("content_length (100) does not match received bytes (5)", `http-misbehaving.log`).
    pub fn length_mismatch(&self) -> Option<(u64, u64)> {
        self.content_length
            .filter(|&wanted| wanted != self.received)
            .map(|wanted| (wanted, self.received))
    }
}

/// Bytes made room for before each read of the headers.
const READ_CHUNK: usize = 4 << 10;
/// Bytes made room for before each read of the body after the headers.
const BODY_CHUNK: usize = 16 << 10;

/// Where the headers end in `buf` (after their blank line), if they do.
pub(crate) fn find_header_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// The status code of a status line `HTTP/x.y NNN ...`.
fn parse_status(header: &[u8]) -> Option<u16> {
    let line_end = header.iter().position(|&b| b == b'\r' || b == b'\n')?;
    let line = std::str::from_utf8(&header[..line_end]).ok()?;
    let mut parts = line.split_ascii_whitespace();
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

fn content_length(header: &[u8]) -> Option<u64> {
    let text = String::from_utf8_lossy(header);
    text.split("\r\n").skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())
            .flatten()
    })
}

/// Reads that end the stream: EOF, or a TLS peer closing without close_notify.
fn is_eof(r: &std::io::Result<usize>) -> bool {
    match r {
        Ok(0) => true,
        Err(e) => e.kind() == std::io::ErrorKind::UnexpectedEof,
        Ok(_) => false,
    }
}

/// What one read from the server gave a [`ResponseReader`].
#[derive(Debug)]
pub enum ReadInput<'a> {
    /// Bytes received (never empty: an empty read is [`ReadInput::Eof`]).
    Data(&'a [u8]),
    /// The server closed the connection.
    Eof,
    /// The read failed (a reset...).
    Error(&'a std::io::Error),
}

impl<'a> ReadInput<'a> {
    /// The input of a read of `r` bytes into `buf`: `Ok(0)` and a TLS peer closing without
    /// close_notify are the end of the stream.
    pub fn from_read(r: &'a std::io::Result<usize>, buf: &'a [u8]) -> Self {
        if is_eof(r) {
            return ReadInput::Eof;
        }
        match r {
            Ok(n) => ReadInput::Data(buf.get(..*n).unwrap_or(buf)),
            Err(e) => ReadInput::Error(e),
        }
    }
}

/// Where a [`ResponseReader`] is in the response.
#[derive(Debug)]
enum ReadPhase {
    /// Before the blank line ending the headers: every byte so far is in `buf`, which has
    /// been searched for the blank line up to `searched`.
    Header { buf: Vec<u8>, searched: usize },
    /// After it: the body bytes are hashed (and kept) as they come.
    Body(Box<BodyProgress>),
    /// The response was given out, or the reader failed.
    Spent,
}

/// What a [`ResponseReader`] does with the body bytes (from its [`HttpLimits`]).
#[derive(Debug, Clone, Copy)]
struct BodyLimits {
    max_body: Option<u64>,
    keep_body: usize,
    need_body: bool,
}

/// The response read so far, once its headers are complete.
#[derive(Debug)]
struct BodyProgress {
    header: Vec<u8>,
    status: Option<u16>,
    content_length: Option<u64>,
    hasher: Md5,
    body: Vec<u8>,
    body_len: u64,
    received: u64,
}

/// The response to one request, read from the bytes the caller receives (sans-IO: it never
/// touches a socket or a clock). [`exchange`] drives it over any async stream (plain TCP, TLS);
/// the checker pool drives it on its own sockets.
///
/// Polling contract: after the request is sent, give [`push`](Self::push) each read's
/// outcome ([`ReadInput::from_read`]) until it returns the response or an error; a read
/// that times out is [`timeout_error`](Self::timeout_error). The response ends when the
/// server closes the connection, whatever `Content-Length` says (keepalived 2.2.7 fails a
/// server that keeps it open after a whole response: "Timeout HTTP read server ...",
/// observed with and without a digest); a reset at any point fails it ("Read error with
/// server", even after a whole body, observed in the VM). The outcome does not depend on how
/// the bytes are split between reads.
#[derive(Debug)]
pub struct ResponseReader {
    max_header: usize,
    body: BodyLimits,
    phase: ReadPhase,
}

impl ResponseReader {
    /// A reader within `limits`; with `need_body` the body is hashed (and kept up to
    /// [`HttpLimits::keep_body`]), without it is counted and dropped.
    pub fn new(limits: &HttpLimits, need_body: bool) -> Self {
        ResponseReader {
            max_header: limits.max_header,
            body: BodyLimits {
                max_body: limits.max_body,
                keep_body: limits.keep_body,
                need_body,
            },
            phase: ReadPhase::Header {
                buf: Vec::new(),
                searched: 0,
            },
        }
    }

    /// Whether the headers are complete (a read timeout is then the body's).
    pub fn in_body(&self) -> bool {
        matches!(self.phase, ReadPhase::Body(_))
    }

    /// The error of a read that did not finish within `after`: the headers' or the body's.
    pub fn timeout_error(&self, after: Duration) -> HttpError {
        if self.in_body() {
            HttpError::BodyTimeout(after)
        } else {
            HttpError::HeaderTimeout(after)
        }
    }

    /// Takes one read's outcome: `Ok(None)` while more is needed, the response once the
    /// server has closed, or why the response is not acceptable. Once it has returned
    /// anything but `Ok(None)` the reader is spent: further input fails with
    /// [`HttpError::NoHeader`] of 0 bytes.
    pub fn push(&mut self, input: ReadInput<'_>) -> Result<Option<HttpResponse>, HttpError> {
        let r = self.step(input);
        if !matches!(r, Ok(None)) {
            self.phase = ReadPhase::Spent;
        }
        r
    }

    fn step(&mut self, input: ReadInput<'_>) -> Result<Option<HttpResponse>, HttpError> {
        match (&mut self.phase, input) {
            (ReadPhase::Header { buf, searched }, ReadInput::Data(data)) => {
                buf.extend_from_slice(data);
                let Some(end) = find_header_end(buf.get(*searched..).unwrap_or_default()) else {
                    *searched = buf.len().saturating_sub(3);
                    if buf.len() > self.max_header {
                        return Err(HttpError::HeaderTooLarge(self.max_header));
                    }
                    return Ok(None);
                };
                let header_end = *searched + end;
                if header_end > self.max_header {
                    return Err(HttpError::HeaderTooLarge(self.max_header));
                }
                let mut header = std::mem::take(buf);
                let header_part = header.get(..header_end).unwrap_or_default();
                let mut progress = Box::new(BodyProgress {
                    status: parse_status(header_part),
                    content_length: content_length(header_part),
                    header: Vec::new(),
                    hasher: Md5::new(),
                    body: Vec::new(),
                    body_len: 0,
                    received: 0,
                });
                let taken = progress.take(self.body, header.get(header_end..).unwrap_or_default());
                header.truncate(header_end);
                progress.header = header;
                self.phase = ReadPhase::Body(progress);
                taken.map(|()| None)
            }
            (ReadPhase::Header { buf, .. }, ReadInput::Eof) => Err(HttpError::NoHeader(buf.len())),
            (ReadPhase::Header { buf, .. }, ReadInput::Error(e)) => {
                if buf.is_empty() {
                    Err(HttpError::Read(IoCause::from(e)))
                } else {
                    Err(HttpError::NoHeader(buf.len()))
                }
            }
            (ReadPhase::Body(progress), ReadInput::Data(data)) => {
                progress.take(self.body, data).map(|()| None)
            }
            (ReadPhase::Body(progress), ReadInput::Eof) => Ok(Some(progress.finish())),
            // keepalived 2.2.7 fails a response whose connection is reset, even after a
            // whole body with its Content-Length ("Read error with server", observed in the
            // VM with and without a digest).
            (ReadPhase::Body(_), ReadInput::Error(e)) => Err(HttpError::Read(IoCause::from(e))),
            (ReadPhase::Spent, _) => Err(HttpError::NoHeader(0)),
        }
    }
}

impl BodyProgress {
    /// Hashes (and keeps, for a regex) the body bytes of `data` up to Content-Length; counts
    /// every byte received after the headers against the body limit.
    fn take(&mut self, l: BodyLimits, data: &[u8]) -> Result<(), HttpError> {
        self.received += data.len() as u64;
        if let Some(max) = l.max_body {
            if self.received > max {
                return Err(HttpError::BodyTooLarge(max));
            }
        }
        if !l.need_body {
            return Ok(());
        }
        let room = self
            .content_length
            .map_or(data.len() as u64, |w| w.saturating_sub(self.body_len));
        let data = &data[..data.len().min(usize::try_from(room).unwrap_or(usize::MAX))];
        self.hasher.update(data);
        let keep = l.keep_body.saturating_sub(self.body.len()).min(data.len());
        self.body.extend_from_slice(&data[..keep]);
        self.body_len += data.len() as u64;
        Ok(())
    }

    /// The response read (the server has closed); its blocks move out.
    fn finish(&mut self) -> HttpResponse {
        HttpResponse {
            header: std::mem::take(&mut self.header),
            status: self.status,
            body: std::mem::take(&mut self.body),
            body_len: self.body_len,
            digest: self.hasher.finalize_reset().into(),
            elapsed: Duration::ZERO,
            content_length: self.content_length,
            received: self.received,
        }
    }
}

/// Send `req` on `stream` and read the response until the server closes the connection,
/// within the limits; each read and the write must finish within `op_timeout`. With
/// `need_body` the body is hashed (and kept up to [`HttpLimits::keep_body`]); without, it is
/// read and dropped. The response is read by a [`ResponseReader`].
pub async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    req: &[u8],
    op_timeout: Duration,
    limits: &HttpLimits,
    need_body: bool,
) -> Result<HttpResponse, HttpError> {
    let start = Instant::now();
    match tokio::time::timeout(op_timeout, stream.write_all(req)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(HttpError::Write(IoCause::from(e))),
        Err(_) => return Err(HttpError::HeaderTimeout(op_timeout)),
    }
    let _ = tokio::time::timeout(op_timeout, stream.flush()).await;
    let mut reader = ResponseReader::new(limits, need_body);
    // Reads land in the spare capacity of `chunk` (nothing zeroed); a larger one once the
    // headers are in.
    let mut chunk = Vec::new();
    loop {
        chunk.clear();
        chunk.reserve(if reader.in_body() {
            BODY_CHUNK
        } else {
            READ_CHUNK
        });
        let r = match tokio::time::timeout(op_timeout, stream.read_buf(&mut chunk)).await {
            Ok(r) => r,
            Err(_) => return Err(reader.timeout_error(op_timeout)),
        };
        if let Some(mut resp) = reader.push(ReadInput::from_read(&r, &chunk))? {
            resp.elapsed = start.elapsed();
            return Ok(resp);
        }
    }
}

/// Connect (with TLS when given), send `req` and read the response, all within
/// `limits.total_timeout`.
pub async fn fetch(
    connect: &ConnectOpts,
    tls: Option<&TlsClient>,
    req: &[u8],
    limits: &HttpLimits,
    need_body: bool,
) -> Result<HttpResponse, HttpError> {
    let work = async {
        let mut tcp = connect
            .tcp_connect()
            .await
            .map_err(|f| HttpError::Connect(Box::new(f.reason)))?;
        let op = connect.connect_timeout;
        match tls {
            None => exchange(&mut tcp, req, op, limits, need_body).await,
            Some(tls) => {
                let target = connect.target;
                let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
                let name = tls.server_name(target.ip());
                let mut stream = match tokio::time::timeout(op, connector.connect(name, tcp)).await
                {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        return Err(HttpError::Tls {
                            target,
                            reason: e.to_string().into(),
                        })
                    }
                    Err(_) => return Err(HttpError::TlsTimeout { target, after: op }),
                };
                let r = exchange(&mut stream, req, op, limits, need_body).await;
                if r.is_ok() {
                    // keepalived 2.2.7 ends an SSL_GET with a TLS close_notify after the
                    // server's close (tcpdump in the VM, bench/checkers/HTTP.md).
                    let _ = tokio::time::timeout(op, stream.shutdown()).await;
                }
                r
            }
        }
    };
    match tokio::time::timeout(limits.total_timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(HttpError::TotalTimeout(limits.total_timeout)),
    }
}

/// Judge a response against a url's expectations: status, then digest, then regex.
pub fn evaluate(url: &UrlCheck, resp: &HttpResponse) -> ProbeResult {
    let fail = |error| Err(Failure::http(&url.path, error));
    match resp.status {
        Some(code) if url.status_codes.contains(code) => {}
        Some(code) => return fail(HttpError::Status(code)),
        None => return fail(HttpError::BadStatusLine),
    }
    if let Some(expected) = &url.digest {
        if &resp.digest != expected {
            return fail(HttpError::Digest {
                got: resp.digest,
                expected: *expected,
            });
        }
    }
    if let Some(re) = &url.regex {
        // Undecided (a PCRE2 limit, invalid UTF-8 under `utf`) fails either way.
        let matched = re.matches_response(&resp.header, &resp.body);
        if matched != Some(!re.no_match) {
            return fail(HttpError::Regex {
                pattern: re.as_str().into(),
                matched: matched.unwrap_or(re.no_match),
            });
        }
    }
    up()
}

/// Where an HTTP_GET / SSL_GET checker stands in its `url` list. keepalived 2.2.7 checks
/// one url per run, not all of them at once (observed in the VM with three urls, `delay_loop 4`,
/// `delay_before_retry 1`, `retry 2`):
///
/// - a run checks the current url; a failure is retried on that same url after
///   `delay_before_retry`, `retry` times, then the checker is down and the next run (after
///   [`UrlCursor::delay_after_failure`]) starts again with that failed url;
/// - once the failed url passes, a full pass starts from the first url (so with `/a` failing,
///   the runs go `/a` fail, `/a` ok, `/a`, `/b`, `/c`); the checker comes up when the last url
///   of that pass succeeds. With one url: two passing runs after the failure (the
///   "... success to ... url(/)" line twice before "Remote Web server ... succeed");
/// - a failure during that recovery (the checker still down) does not start it over: `/`
///   fail (down), `/` ok, `/` fail, `/` ok brings the checker up (observed with HTTP_GET and
///   SSL_GET, `retry` 0); the failed url is checked again and the pass goes on from it;
/// - the same holds whatever `retry` and `delay_before_retry` (0 to 3 and 1 to 5 s observed),
///   for SSL_GET as for HTTP_GET, and for an `alpha` checker whose first run fails (two passes
///   after it); an `alpha` checker whose first run passes comes up after one pass;
/// - while the checker is up, every url is checked in turn, one per `delay_loop`;
/// - at start (before a full pass) and while down, the next url is due after `delay_loop`,
///   or at once with `fast_recovery`.
///
/// The captures are `http-recovery*.log` (with the configurations, servers and the servers'
/// request logs) in the daemon's `tests/data/keepalived-checker-logs/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UrlCursor {
    next: usize,
    restart_after_success: bool,
    /// A failure took the checker down and no full pass has completed since.
    recovering: bool,
}

/// What a passed url means for the checker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlStep {
    /// The last url of a pass succeeded: the checker passes (comes up if it was down).
    PassComplete,
    /// More urls of the pass remain to be checked: no verdict change.
    Continue,
}

impl UrlCursor {
    /// The index of the url the next run checks (always below the count given to
    /// [`UrlCursor::on_success`], or 0).
    pub fn current(&self) -> usize {
        self.next
    }

    /// The url of [`UrlCursor::current`] passed; `urls` is the number of urls.
    pub fn on_success(&mut self, urls: usize) -> UrlStep {
        if self.restart_after_success {
            self.restart_after_success = false;
            self.next = 0;
            return UrlStep::Continue;
        }
        self.next += 1;
        if self.next >= urls {
            self.next = 0;
            self.recovering = false;
            UrlStep::PassComplete
        } else {
            UrlStep::Continue
        }
    }

    /// The current url failed and its retries are exhausted (the checker is now down, or
    /// still is): the next run checks it again. After the failure that took the checker
    /// down, that url's success starts a full pass; a failure during the recovery that
    /// follows does not start it over.
    pub fn on_failure(&mut self) {
        if !self.recovering {
            self.recovering = true;
            self.restart_after_success = true;
        }
    }

    /// The delay before the run after a failure whose retries are exhausted (and after each
    /// failed run while the checker is down): `delay_loop`, or `delay_before_retry` when that
    /// is longer. Observed on keepalived 2.2.7 with `delay_loop` 2 s: `delay_before_retry`
    /// 1 s gives 2 s, 3 s (the HTTP default) gives 3 s, 5 s gives 5 s, whatever `retry`
    /// (0 to 3), for HTTP_GET and SSL_GET.
    pub fn delay_after_failure(delay_loop: Duration, delay_before_retry: Duration) -> Duration {
        delay_loop.max(delay_before_retry)
    }

    /// The delay before the run after a passed url: `delay_loop`, except while a pass is under
    /// way before the first full pass (`has_run` false) or while the checker is down, where
    /// `fast_recovery` makes it immediate.
    pub fn delay_after_success(
        step: UrlStep,
        checker_up: bool,
        has_run: bool,
        fast_recovery: bool,
        delay_loop: Duration,
    ) -> Duration {
        let recovering = !checker_up || !has_run;
        if step == UrlStep::Continue && recovering && fast_recovery {
            Duration::ZERO
        } else {
            delay_loop
        }
    }
}

/// Check one url (`index` into [`HttpParams::urls`], as a [`UrlCursor`] gives it): request,
/// then status, digest and regex.
pub async fn probe_url(p: &HttpParams, index: usize) -> ProbeResult {
    let (url, req, limits, need_body) = prepare(p, index)?;
    let resp = fetch(&p.connect, p.tls.as_ref(), &req, &limits, need_body).await;
    conclude(url, resp)
}

/// What checking url `index` of `p` takes: the url, its request, the limits its response is
/// read within, and whether its body is needed (hashed, or kept for a regex); or the failure
/// of a url that does not exist.
fn prepare(
    p: &HttpParams,
    index: usize,
) -> Result<(&UrlCheck, Vec<u8>, HttpLimits, bool), Failure> {
    let Some(url) = p.urls.get(index) else {
        return Err(missing_url(index, p.urls.len()));
    };
    let vhost = url.virtualhost.as_deref().or(p.virtualhost.as_deref());
    let host = host_header(vhost, p.connect.target);
    let req = request(&url.path, &host, p.version);
    let need_body = url.digest.is_some() || url.regex.is_some();
    // Body bytes are kept only for a regex; the digest is computed as they arrive.
    let limits = HttpLimits {
        keep_body: if url.regex.is_some() {
            p.limits.keep_body
        } else {
            0
        },
        ..p.limits.clone()
    };
    Ok((url, req, limits, need_body))
}

/// The failure of url `index` of `count` urls, which does not exist.
fn missing_url(index: usize, count: usize) -> Failure {
    Failure::new(format!("url #{index} does not exist ({count} configured)"))
}

/// The verdict on `url` given its exchange's outcome: the exchange's error, or the response
/// judged by [`evaluate`].
fn conclude(url: &UrlCheck, resp: Result<HttpResponse, HttpError>) -> ProbeResult {
    let resp = resp.map_err(|e| Failure::http(&url.path, e))?;
    // keepalived's -D line for a body of another length than Content-Length names the real
    // and virtual servers, which a probe does not know: the pass carries it to the owner.
    let length_mismatch = resp
        .length_mismatch()
        .map(|(content_length, received)| LengthMismatch {
            content_length,
            received,
        });
    evaluate(url, &resp).map(|s| Success {
        length_mismatch,
        ..s
    })
}

/// At most this many reads of a response per readiness event of the checker pool's connector;
/// a response still coming after them is read at the next turn (see [`GetStep::ReadAgain`]),
/// so that a large body does not hold the other probes up.
const MAX_READS_PER_EVENT: usize = 16;

/// The size of the checker pool's connector's read buffer (one, shared by its probes).
pub(crate) const POOL_READ_BUFFER: usize = BODY_CHUNK;

/// What a [`PooledGet`] wants after a step.
#[derive(Debug)]
pub(crate) enum GetStep {
    /// Readiness: the rest of the request to write, or more of the response to read.
    Wait,
    /// More may be readable at once (the reads of a turn ran out): come back without a new
    /// readiness edge.
    ReadAgain,
    /// The url's verdict.
    Done(ProbeResult),
}

/// A plain HTTP_GET of one url run by the checker pool's connector ([`crate::tcp`]) on a
/// socket of its own, instead of a task: once the connect has finished, the request is
/// written (a partial write waits for the socket to be writable again) and the response read
/// as it becomes readable, by a [`ResponseReader`], until the server closes; then the url's
/// verdict, as [`probe_url`] gives it (same failures, same words). Its state lives in the
/// connect's slot for the exchange only (the reader's headers, the digest state, the body
/// kept for a regex); the read buffer is the connector's.
///
/// Timeouts, as [`fetch`] and [`exchange`] apply them: the connect, the write and each read
/// within `connect_timeout` of the last step forward, the whole exchange within
/// [`HttpLimits::total_timeout`].
#[derive(Debug)]
pub(crate) struct PooledGet {
    params: std::sync::Arc<HttpParams>,
    url: usize,
    request: Box<[u8]>,
    /// How much of `request` has been written.
    written: usize,
    reader: ResponseReader,
    connected: bool,
    /// When the exchange (its connect included) started.
    started: Instant,
    /// The last step forward (the start, the connect, the request sent, a read): the
    /// current operation must finish within `connect_timeout` of it.
    progress: Instant,
}

impl PooledGet {
    /// The exchange for url `index` of `params`, starting at `now`; the failure of a url
    /// that does not exist.
    pub(crate) fn new(
        params: std::sync::Arc<HttpParams>,
        index: usize,
        now: Instant,
    ) -> Result<Self, Failure> {
        let (_, req, limits, need_body) = prepare(&params, index)?;
        let reader = ResponseReader::new(&limits, need_body);
        Ok(PooledGet {
            request: req.into_boxed_slice(),
            params,
            url: index,
            written: 0,
            reader,
            connected: false,
            started: now,
            progress: now,
        })
    }

    /// The parameters (their `connect` options and target are the connect's).
    pub(crate) fn params(&self) -> &std::sync::Arc<HttpParams> {
        &self.params
    }

    /// Whether the connect has finished and the request is being sent or the response read.
    pub(crate) fn connected(&self) -> bool {
        self.connected
    }

    /// The url's failure when its exchange ended with `error` (as [`probe_url`] words it).
    fn fail(&self, error: HttpError) -> Failure {
        let path = self
            .params
            .urls
            .get(self.url)
            .map_or("", |u| u.path.as_str());
        Failure::http(path, error)
    }

    /// The url's failure when its connect failed with `f` (as [`fetch`] words it).
    pub(crate) fn connect_failed(&self, f: Failure) -> Failure {
        self.fail(HttpError::Connect(Box::new(f.reason)))
    }

    /// When the current operation or the whole exchange times out, whichever is first.
    pub(crate) fn deadline(&self) -> Instant {
        let op = self.progress + self.params.connect.connect_timeout;
        op.min(self.started + self.params.limits.total_timeout)
    }

    /// The verdict of an exchange still running at `now`, if one of its timeouts has passed:
    /// the whole exchange's, else the connect's, the write's or the read's.
    pub(crate) fn timed_out(&self, now: Instant, target: SocketAddr) -> Option<ProbeResult> {
        let total = self.params.limits.total_timeout;
        if now >= self.started + total {
            return Some(Err(self.fail(HttpError::TotalTimeout(total))));
        }
        let op = self.params.connect.connect_timeout;
        if now < self.progress + op {
            return None;
        }
        let error = if !self.connected {
            HttpError::Connect(Box::new(Reason::ConnectTimeout { target, after: op }))
        } else if self.written < self.request.len() {
            HttpError::HeaderTimeout(op)
        } else {
            self.reader.timeout_error(op)
        };
        Some(Err(self.fail(error)))
    }

    /// The connect finished at `now`: sends the request on `sock`.
    pub(crate) fn on_connected(&mut self, sock: &socket2::Socket, now: Instant) -> GetStep {
        self.connected = true;
        self.progress = now;
        self.on_writable(sock, now)
    }

    /// Writes what is left of the request on `sock`.
    pub(crate) fn on_writable(&mut self, sock: &socket2::Socket, now: Instant) -> GetStep {
        while let Some(rest) = self.request.get(self.written..).filter(|r| !r.is_empty()) {
            // MSG_NOSIGNAL: a connection reset by then is an error, not SIGPIPE.
            match sock.send_with_flags(rest, nix::libc::MSG_NOSIGNAL) {
                Ok(n) => {
                    self.written += n;
                    if self.written >= self.request.len() {
                        self.progress = now;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return GetStep::Wait,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return GetStep::Done(Err(self.fail(HttpError::Write(IoCause::from(e))))),
            }
        }
        GetStep::Wait
    }

    /// Whether the whole request has been written.
    pub(crate) fn request_sent(&self) -> bool {
        self.written >= self.request.len()
    }

    /// Reads the response from `sock` through `buf` until nothing more is readable (or
    /// [`MAX_READS_PER_EVENT`] reads), the server's close or an error.
    pub(crate) fn on_readable(
        &mut self,
        sock: &socket2::Socket,
        buf: &mut [u8],
        now: Instant,
    ) -> GetStep {
        let mut reads = 0;
        while reads < MAX_READS_PER_EVENT {
            let r = std::io::Read::read(&mut &*sock, buf);
            match &r {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return GetStep::Wait,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                _ => {}
            }
            reads += 1;
            self.progress = now;
            match self.reader.push(ReadInput::from_read(&r, buf)) {
                Ok(None) => {}
                Ok(Some(mut resp)) => {
                    resp.elapsed = now.saturating_duration_since(self.started);
                    return GetStep::Done(match self.params.urls.get(self.url) {
                        Some(url) => conclude(url, Ok(resp)),
                        None => Err(missing_url(self.url, self.params.urls.len())),
                    });
                }
                Err(e) => return GetStep::Done(Err(self.fail(e))),
            }
        }
        GetStep::ReadAgain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream whose other end reads the request and answers `reply`; with `hold` it then
    /// stays open until the client closes, else it closes at once.
    fn serve_once(
        reply: &'static [u8],
        hold: bool,
    ) -> (tokio::io::DuplexStream, tokio::task::JoinHandle<()>) {
        let (client, mut server) = tokio::io::duplex(1024);
        let srv = tokio::spawn(async move {
            let mut req = [0u8; 200];
            let _ = server.read(&mut req).await;
            server.write_all(reply).await.expect("write");
            if hold {
                let _ = server.read(&mut req).await;
            }
        });
        (client, srv)
    }

    /// The response read (body kept) from a server that answers `reply` and closes.
    async fn answer(reply: &'static [u8]) -> HttpResponse {
        let (mut client, srv) = serve_once(reply, false);
        let r = get_root(&mut client, Duration::from_secs(2), true)
            .await
            .expect("response");
        srv.await.expect("server");
        r
    }

    /// [`exchange`] of a plain `GET /` on `stream`.
    async fn get_root(
        stream: &mut tokio::io::DuplexStream,
        timeout: Duration,
        need_body: bool,
    ) -> Result<HttpResponse, HttpError> {
        let limits = HttpLimits::for_timeout(Duration::from_secs(2));
        exchange(
            stream,
            b"GET / HTTP/1.0\r\n\r\n",
            timeout,
            &limits,
            need_body,
        )
        .await
    }

    #[test]
    fn request_bytes_match_keepalived() {
        let t: SocketAddr = "127.0.0.1:28181".parse().expect("addr");
        assert_eq!(
            request("/foo", &host_header(None, t), HttpVersion::Http10),
            b"GET /foo HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 127.0.0.1:28181\r\n\r\n"
        );
        assert_eq!(
            request("/foo", "www.x.com", HttpVersion::Http11),
            b"GET /foo HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: www.x.com\r\n\r\n"
        );
        let t6: SocketAddr = "[::1]:80".parse().expect("addr");
        assert_eq!(
            request("/six", &host_header(None, t6), HttpVersion::Http10Close),
            b"GET /six HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: [::1]:80\r\n\r\n"
        );
    }

    #[test]
    fn status_codes() {
        let s = StatusCodes::parse(&["200", "400-499", "503"]).expect("parse");
        assert!(s.contains(200) && s.contains(404) && s.contains(503));
        assert!(!s.contains(201) && !s.contains(500));
        assert!(StatusCodes::default().contains(204));
        assert!(StatusCodes::parse(&["abc"]).is_err());
        assert!(StatusCodes::parse(&["300-200"]).is_err());
    }

    #[test]
    fn digest_parse_roundtrip() {
        let d = parse_digest("6f5902ac237024bdd0c176cb93063dc4").expect("digest");
        assert_eq!(digest_hex(&d), "6f5902ac237024bdd0c176cb93063dc4");
        assert!(parse_digest("6f59").is_err());
        assert!(parse_digest("zz5902ac237024bdd0c176cb93063dc4").is_err());
        assert!(parse_digest("é5902ac237024bdd0c176cb93063dc").is_err());
    }

    /// Limits small enough to reach in a test.
    fn small_limits() -> HttpLimits {
        HttpLimits {
            max_header: 64,
            max_body: Some(40),
            keep_body: 8,
            total_timeout: Duration::from_secs(1),
        }
    }

    /// What a reader within `limits` makes of `bytes` cut into `parts` reads (the cut
    /// points given), then `end`.
    fn read_in_parts(
        limits: &HttpLimits,
        need_body: bool,
        bytes: &[u8],
        cuts: &[usize],
        end: &std::io::Result<usize>,
    ) -> Result<HttpResponse, HttpError> {
        let mut reader = ResponseReader::new(limits, need_body);
        let mut from = 0;
        for &cut in cuts.iter().chain(std::iter::once(&bytes.len())) {
            let part = &bytes[from..cut];
            from = cut;
            if part.is_empty() {
                continue;
            }
            if let Some(r) = reader.push(ReadInput::Data(part))? {
                return Ok(r);
            }
        }
        match reader.push(ReadInput::from_read(end, &[]))? {
            Some(r) => Ok(r),
            None => panic!("no outcome after the end of the stream"),
        }
    }

    #[test]
    fn the_reader_gives_the_same_outcome_however_the_bytes_are_split() {
        let eof: std::io::Result<usize> = Ok(0);
        let reset: std::io::Result<usize> =
            Err(std::io::Error::from_raw_os_error(nix::libc::ECONNRESET));
        let cases: [(&[u8], bool, &std::io::Result<usize>); 9] = [
            // Content-Length shorter than what came: hashed up to it, all counted.
            (
                b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA",
                true,
                &eof,
            ),
            (
                b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA",
                false,
                &eof,
            ),
            // No Content-Length: the whole body, kept up to 8 bytes.
            (
                b"HTTP/1.1 404 Nope\r\nX: y\r\n\r\n0123456789abcdef",
                true,
                &eof,
            ),
            // Headers only; a status line that is not one.
            (b"HTTP/1.0 204 No Content\r\n\r\n", true, &eof),
            (b"SPDY/9 what\r\n\r\nbody", true, &eof),
            // Too long a body (40 bytes at most), too long headers, none at all.
            (
                b"HTTP/1.0 200 OK\r\n\r\n0123456789012345678901234567890123456789X",
                true,
                &eof,
            ),
            (&[b'h'; 70], true, &eof),
            (b"HTTP/1.0 200 OK\r\nno end", true, &eof),
            // A reset after a whole body.
            (
                b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
                true,
                &reset,
            ),
        ];
        let limits = small_limits();
        for (bytes, need_body, end) in cases {
            let whole = read_in_parts(&limits, need_body, bytes, &[], end);
            for cut in 0..=bytes.len() {
                let two = read_in_parts(&limits, need_body, bytes, &[cut], end);
                assert_eq!(
                    two,
                    whole,
                    "{:?} cut at {cut}",
                    String::from_utf8_lossy(bytes)
                );
                for cut2 in cut..=bytes.len() {
                    let three = read_in_parts(&limits, need_body, bytes, &[cut, cut2], end);
                    assert_eq!(three, whole, "cut at {cut} and {cut2}");
                }
            }
            let bytewise: Vec<usize> = (1..bytes.len()).collect();
            assert_eq!(
                read_in_parts(&limits, need_body, bytes, &bytewise, end),
                whole
            );
        }
    }

    #[test]
    fn the_reader_hashes_keeps_and_counts_the_body() {
        let limits = small_limits();
        let eof = Ok(0);
        let bytes = b"HTTP/1.0 200 OK\r\nContent-Length: 12\r\n\r\nhello world\nEXTRA";
        let r = read_in_parts(&limits, true, bytes, &[], &eof).expect("response");
        assert_eq!(r.status, Some(200));
        assert_eq!(r.header, b"HTTP/1.0 200 OK\r\nContent-Length: 12\r\n\r\n");
        assert_eq!(r.digest, <[u8; 16]>::from(Md5::digest(b"hello world\n")));
        assert_eq!((r.body_len, r.received), (12, 17));
        assert_eq!(r.body, b"hello wo", "kept up to keep_body");
        assert_eq!(r.length_mismatch(), Some((12, 17)));
        // Without need_body: counted, neither hashed nor kept.
        let r = read_in_parts(&limits, false, bytes, &[], &eof).expect("response");
        assert_eq!((r.body_len, r.received), (0, 17));
        assert!(r.body.is_empty());
        assert_eq!(r.digest, <[u8; 16]>::from(Md5::digest(b"")));
    }

    #[test]
    fn the_reader_fails_as_exchange_fails() {
        let limits = small_limits();
        let eof = Ok(0);
        let reset = Err(std::io::Error::from_raw_os_error(nix::libc::ECONNRESET));
        let read = |bytes: &[u8], end: &std::io::Result<usize>| {
            read_in_parts(&limits, true, bytes, &[], end).expect_err("fails")
        };
        // The headers: more than 64 bytes without their end, or ending past 64 bytes.
        assert_eq!(read(&[b'h'; 65], &eof), HttpError::HeaderTooLarge(64));
        assert_eq!(read(&[b'h'; 64], &eof), HttpError::NoHeader(64));
        let mut long = vec![b'h'; 62];
        long.extend_from_slice(b"\r\n\r\n");
        assert_eq!(read(&long, &eof), HttpError::HeaderTooLarge(64));
        let mut fits = vec![b'h'; 60];
        fits.extend_from_slice(b"\r\n\r\n");
        assert_eq!(
            read_in_parts(&limits, true, &fits, &[], &eof).map(|r| r.status),
            Ok(None)
        );
        // Closed or reset before the end of the headers; reset before a byte.
        assert_eq!(read(b"", &eof), HttpError::NoHeader(0));
        assert_eq!(read(b"HTTP/1.0 2", &eof), HttpError::NoHeader(10));
        assert_eq!(read(b"HTTP/1.0 2", &reset), HttpError::NoHeader(10));
        assert_eq!(
            read(b"", &reset),
            HttpError::Read(IoCause::Os(nix::libc::ECONNRESET))
        );
        // The body: over 40 bytes, or reset even after Content-Length.
        let mut big = b"HTTP/1.0 200 OK\r\n\r\n".to_vec();
        big.extend_from_slice(&[b'b'; 41]);
        assert_eq!(read(&big, &eof), HttpError::BodyTooLarge(40));
        assert_eq!(
            read(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", &reset),
            HttpError::Read(IoCause::Os(nix::libc::ECONNRESET))
        );
        // A TLS peer closing without close_notify ends the stream as EOF does.
        let unexpected = Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
        assert!(read_in_parts(&limits, true, b"HTTP/1.0 200 OK\r\n\r\n", &[], &unexpected).is_ok());
    }

    #[test]
    fn the_reader_tells_which_timeout_and_is_spent_after_its_outcome() {
        let s = Duration::from_secs(2);
        let mut reader = ResponseReader::new(&small_limits(), true);
        assert_eq!(reader.timeout_error(s), HttpError::HeaderTimeout(s));
        assert_eq!(
            reader.push(ReadInput::Data(b"HTTP/1.0 200 OK\r\n")),
            Ok(None)
        );
        assert_eq!(reader.timeout_error(s), HttpError::HeaderTimeout(s));
        assert_eq!(reader.push(ReadInput::Data(b"\r\nbo")), Ok(None));
        assert!(reader.in_body());
        assert_eq!(reader.timeout_error(s), HttpError::BodyTimeout(s));
        let r = reader
            .push(ReadInput::Eof)
            .expect("response")
            .expect("done");
        assert_eq!(r.body, b"bo");
        assert_eq!(reader.push(ReadInput::Eof), Err(HttpError::NoHeader(0)));
        assert_eq!(
            reader.push(ReadInput::Data(b"x")),
            Err(HttpError::NoHeader(0))
        );
    }

    #[test]
    fn status_line_and_content_length() {
        let h = b"HTTP/1.1 404 Not Found\r\ncontent-LENGTH: 12\r\n\r\n";
        assert_eq!(parse_status(h), Some(404));
        assert_eq!(content_length(h), Some(12));
        assert_eq!(parse_status(b"garbage\r\n\r\n"), None);
        assert_eq!(parse_status(b"HTTP/1.0 2000 x\r\n\r\n"), None);
    }

    fn response(status: u16, body: &[u8]) -> HttpResponse {
        HttpResponse {
            header: Vec::new(),
            status: Some(status),
            body: body.to_vec(),
            body_len: body.len() as u64,
            digest: Md5::digest(body).into(),
            elapsed: Duration::ZERO,
            content_length: None,
            received: body.len() as u64,
        }
    }

    #[test]
    fn evaluation_order_status_digest_regex() {
        let mut url = UrlCheck::new("/");
        url.digest = Some(Md5::digest(b"ok").into());
        url.regex = Some(BodyRegex::new("nope", &[] as &[&str], false).expect("regex"));
        let kind = |e: Failure| match e.reason {
            crate::Reason::Http { path, error } if &*path == "/" => error,
            other => panic!("not an HTTP failure of /: {other:?}"),
        };
        let e = evaluate(&url, &response(500, b"zz")).expect_err("status");
        assert_eq!(kind(e), HttpError::Status(500));
        let e = evaluate(&url, &response(200, b"zz")).expect_err("digest");
        assert_eq!(
            kind(e),
            HttpError::Digest {
                got: Md5::digest(b"zz").into(),
                expected: Md5::digest(b"ok").into()
            }
        );
        let e = evaluate(&url, &response(200, b"ok")).expect_err("regex");
        assert_eq!(
            kind(e),
            HttpError::Regex {
                pattern: "nope".into(),
                matched: false
            }
        );
        url.regex = Some(BodyRegex::new("ok", &[] as &[&str], true).expect("regex"));
        let e = evaluate(&url, &response(200, b"ok")).expect_err("no_match");
        assert_eq!(
            kind(e),
            HttpError::Regex {
                pattern: "ok".into(),
                matched: true
            }
        );
        let mut no_line = response(200, b"ok");
        no_line.status = None;
        let e = evaluate(&url, &no_line).expect_err("no status line");
        assert_eq!(kind(e), HttpError::BadStatusLine);
        url.regex = Some(BodyRegex::new("o.", &[] as &[&str], false).expect("regex"));
        assert!(evaluate(&url, &response(200, b"ok")).is_ok());
    }

    /// Replays a run sequence: `results` are the url outcomes in order, each `false` being a
    /// failure whose retries are exhausted. Returns the url indexes checked and where the
    /// passes completed.
    fn replay(urls: usize, results: &[bool]) -> (Vec<usize>, Vec<usize>) {
        let mut c = UrlCursor::default();
        let mut checked = Vec::new();
        let mut complete = Vec::new();
        for (run, &ok) in results.iter().enumerate() {
            checked.push(c.current());
            if ok {
                if c.on_success(urls) == UrlStep::PassComplete {
                    complete.push(run);
                }
            } else {
                c.on_failure();
            }
        }
        (checked, complete)
    }

    #[test]
    fn url_cursor_follows_keepalived_order() {
        // Start: /a /b /c, a pass, then on one url per run.
        let (checked, complete) = replay(3, &[true, true, true, true, true]);
        assert_eq!(checked, vec![0, 1, 2, 0, 1]);
        assert_eq!(complete, vec![2]);
        // /b fails (down), is checked again and passes, then a full pass /a /b /c
        // (keepalived 2.2.7: "/b FAIL; /b ok; /a ok; /b ok; /c ok" and up after /c).
        let (checked, complete) = replay(3, &[true, false, true, true, true, true]);
        assert_eq!(checked, vec![0, 1, 1, 0, 1, 2]);
        assert_eq!(complete, vec![5]);
        // The first url failing at start: "/a fail; /a ok; /a; /b; /c" as observed.
        let (checked, complete) = replay(3, &[false, true, true, true, true]);
        assert_eq!(checked, vec![0, 0, 0, 1, 2]);
        assert_eq!(complete, vec![4]);
        // A single url.
        let (checked, complete) = replay(1, &[true, true, false, true, true]);
        assert_eq!(checked, vec![0, 0, 0, 0, 0]);
        assert_eq!(complete, vec![0, 1, 4]);
        // A failure during the recovery does not start it over (keepalived 2.2.7: "/ ok;
        // / FAIL (down); / ok; / FAIL; / ok" is up at the last run, http-recovery.log 8609).
        let (_, complete) = replay(1, &[true, false, true, false, true, true]);
        assert_eq!(complete, vec![0, 4, 5]);
        // Failing again and again while down changes nothing: two passes after the first.
        let (_, complete) = replay(1, &[false, false, false, true, true]);
        assert_eq!(complete, vec![4]);
        // Two urls, /b failing (http-recovery.log 8604): /b ok, /a ok, /b ok, then up.
        let (checked, complete) = replay(2, &[true, false, false, true, true, true]);
        assert_eq!(checked, vec![0, 1, 1, 1, 0, 1]);
        assert_eq!(complete, vec![5]);
        // After a completed recovery the next failure restarts one again.
        let (_, complete) = replay(1, &[false, true, true, false, true, true]);
        assert_eq!(complete, vec![2, 5]);
    }

    #[test]
    fn delay_after_a_failure_is_the_longer_of_the_two() {
        let s = Duration::from_secs;
        let d = UrlCursor::delay_after_failure;
        // http-recovery.log / http-recovery2.log, delay_loop 2 s.
        assert_eq!(d(s(2), s(1)), s(2));
        assert_eq!(d(s(2), s(3)), s(3));
        assert_eq!(d(s(2), s(5)), s(5));
    }

    #[test]
    fn url_pacing_with_and_without_fast_recovery() {
        let dl = Duration::from_secs(4);
        let d = UrlCursor::delay_after_success;
        // Up and run: one url per delay_loop whatever fast_recovery says.
        assert_eq!(d(UrlStep::Continue, true, true, true, dl), dl);
        assert_eq!(d(UrlStep::Continue, true, true, false, dl), dl);
        // Down, or before the first pass: at once with fast_recovery only.
        assert_eq!(d(UrlStep::Continue, false, true, true, dl), Duration::ZERO);
        assert_eq!(d(UrlStep::Continue, true, false, true, dl), Duration::ZERO);
        assert_eq!(d(UrlStep::Continue, false, true, false, dl), dl);
        // A completed pass always waits delay_loop.
        assert_eq!(d(UrlStep::PassComplete, false, true, true, dl), dl);
    }

    #[tokio::test]
    async fn probe_url_checks_only_the_given_url() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        let srv = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.expect("accept");
            let mut req = vec![0u8; 512];
            let n = s.read(&mut req).await.expect("read");
            let line = String::from_utf8_lossy(&req[..n])
                .lines()
                .next()
                .map(str::to_string);
            s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
                .await
                .expect("write");
            line
        });
        let mut connect = ConnectOpts::new(addr);
        connect.connect_timeout = Duration::from_secs(2);
        let p = HttpParams::new(connect, vec![UrlCheck::new("/a"), UrlCheck::new("/b")]);
        assert!(probe_url(&p, 1).await.is_ok());
        assert_eq!(
            srv.await.expect("server").as_deref(),
            Some("GET /b HTTP/1.0")
        );
        let e = probe_url(&p, 2).await.expect_err("no third url");
        assert!(e.reason.contains("does not exist"), "{}", e.reason);
    }

    /// A connection reset after a whole response fails the url, with or without a digest,
    /// as keepalived 2.2.7 fails it ("Read error with server", observed in the VM).
    #[tokio::test]
    async fn a_reset_after_a_whole_response_fails() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        tokio::spawn(async move {
            for _ in 0..2 {
                let (mut s, _) = l.accept().await.expect("accept");
                let mut req = vec![0u8; 512];
                let _ = s.read(&mut req).await;
                s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello")
                    .await
                    .expect("write");
                tokio::time::sleep(Duration::from_millis(50)).await;
                socket2::SockRef::from(&s)
                    .set_linger(Some(Duration::ZERO))
                    .expect("linger");
            }
        });
        let mut connect = ConnectOpts::new(addr);
        connect.connect_timeout = Duration::from_secs(2);
        let mut digest = UrlCheck::new("/");
        digest.digest = Some(Md5::digest(b"hello").into());
        let p = HttpParams::new(connect, vec![UrlCheck::new("/"), digest]);
        for url in 0..2 {
            let e = probe_url(&p, url).await.expect_err("reset");
            match e.reason {
                crate::Reason::Http {
                    error: HttpError::Read(_),
                    ..
                } => {}
                other => panic!("url {url}: {other:?}"),
            }
        }
    }

    /// A body shorter than its Content-Length passes, as keepalived 2.2.7 passes it
    /// (http-misbehaving.log, 8702), and the pass carries both lengths for its -D line.
    #[tokio::test]
    async fn a_short_body_passes_with_its_lengths() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        tokio::spawn(async move {
            for reply in [
                &b"HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\nhello"[..],
                b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            ] {
                let (mut s, _) = l.accept().await.expect("accept");
                let mut req = vec![0u8; 512];
                let _ = s.read(&mut req).await;
                s.write_all(reply).await.expect("write");
            }
        });
        let mut connect = ConnectOpts::new(addr);
        connect.connect_timeout = Duration::from_secs(2);
        let p = HttpParams::new(connect, vec![UrlCheck::new("/")]);
        let short = probe_url(&p, 0).await.expect("passes");
        assert_eq!(
            short.length_mismatch,
            Some(LengthMismatch {
                content_length: 100,
                received: 5
            })
        );
        let whole = probe_url(&p, 0).await.expect("passes");
        assert_eq!(whole.length_mismatch, None);
    }

    #[tokio::test]
    async fn a_response_ends_when_the_server_closes() {
        // keepalived 2.2.7 (http-misbehaving.log 8703, 8709): a whole response on a connection
        // the server keeps open fails with a read timeout, digest or not.
        for need_body in [true, false] {
            // Kept open until the client is done.
            let reply = b"HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nhello\n";
            let (mut client, srv) = serve_once(reply, true);
            let e = get_root(&mut client, Duration::from_millis(100), need_body)
                .await
                .expect_err("no close, no response");
            assert!(
                matches!(e, HttpError::BodyTimeout(t) if t == Duration::from_millis(100)),
                "{e:?}"
            );
            drop(client);
            srv.await.expect("server");
        }
    }

    #[tokio::test]
    async fn ssl_get_ends_with_close_notify() {
        let cfg = crate::tls::test_server_config("rs.test");
        let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        let srv = tokio::spawn(async move {
            let (tcp, _) = l.accept().await.expect("accept");
            let mut t = acceptor.accept(tcp).await.expect("handshake");
            let mut req = [0u8; 512];
            let _ = t.read(&mut req).await;
            t.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
                .await
                .expect("write");
            let _ = t.shutdown().await;
            // Ok(0): the client's close_notify; an error: a close without one.
            t.read(&mut req).await.map(|n| n == 0)
        });
        let mut connect = ConnectOpts::new(addr);
        connect.connect_timeout = Duration::from_secs(2);
        let mut p = HttpParams::new(connect, vec![UrlCheck::new("/")]);
        p.tls = Some(TlsClient::new(&crate::tls::TlsFiles::default(), None).expect("tls"));
        assert!(probe_url(&p, 0).await.is_ok());
        let got = srv.await.expect("server");
        assert!(matches!(got, Ok(true)), "{got:?}");
    }

    #[tokio::test]
    async fn exchange_on_duplex_hashes_up_to_content_length() {
        let r = answer(b"HTTP/1.0 200 OK\r\nContent-Length: 12\r\n\r\nhello world\nEXTRA").await;
        assert_eq!(r.status, Some(200));
        assert_eq!(digest_hex(&r.digest), "6f5902ac237024bdd0c176cb93063dc4");
        assert_eq!(r.body, b"hello world\n");
        assert_eq!(r.length_mismatch(), Some((12, 17)));
    }

    #[tokio::test]
    async fn a_short_body_passes_and_tells_the_lengths() {
        // http-misbehaving.log, 8702: Content-Length 100, five bytes, then the close.
        let r = answer(b"HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\nhello").await;
        assert_eq!(r.length_mismatch(), Some((100, 5)));
        let mut url = UrlCheck::new("/");
        url.digest = Some(parse_digest("5d41402abc4b2a76b9719d911017c592").expect("md5"));
        assert!(evaluate(&url, &r).is_ok());
        // No Content-Length, or the length sent: nothing to tell.
        let whole = response(200, b"hello");
        assert_eq!(whole.length_mismatch(), None);
        let exact = HttpResponse {
            content_length: Some(5),
            ..whole
        };
        assert_eq!(exact.length_mismatch(), None);
    }
}

/// By-hand cost measurement of the HTTP_GET probe path (ignored by default).
#[cfg(test)]
mod load {
    use super::*;
    use crate::driver::CheckerPool;
    use crate::{CheckKind, Probe, Schedule};
    use std::net::{IpAddr, Ipv4Addr};

    fn cpu_ticks() -> u64 {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let after = stat.rsplit(')').next().unwrap_or("");
        let f: Vec<&str> = after.split_whitespace().collect();
        let get = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
        get(11) + get(12)
    }

    /// nginx's stub_status "requests" counter at `addr`.
    fn served(addr: &str) -> u64 {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).expect("stub_status");
        s.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("write");
        let mut text = String::new();
        s.read_to_string(&mut text).expect("read");
        let line = text.lines().find(|l| l.starts_with(' ')).expect("counters");
        line.split_whitespace()
            .nth(2)
            .and_then(|v| v.parse().ok())
            .expect("requests")
    }

    /// Runs `pool` for `secs`, printing any event but a checker coming up.
    async fn run(secs: u64, pool: &mut CheckerPool) {
        let events = async {
            loop {
                let (id, ev) = pool.next_event().await;
                if !matches!(ev, crate::CheckerEvent::Up { .. }) {
                    println!("checker {id}: {ev:?}");
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(secs), events).await;
    }

    /// `RKA_HTTP_LOAD=N,WINDOW_S,PORT,STATUS_ADDR cargo test --release -p rka-check
    /// http_probe_cost -- --ignored --nocapture` inside a namespace where bench/checkers'
    /// nginx runs (gen.py --nginx): N HTTP_GET checkers at delay_loop 1 on
    /// 127.80+r.x.y:PORT, `/check` with its digest; prints the process CPU per request served.
    #[test]
    #[ignore]
    fn http_probe_cost() {
        let spec =
            std::env::var("RKA_HTTP_LOAD").unwrap_or_else(|_| "500,10,8081,127.0.0.1:8090".into());
        let f: Vec<&str> = spec.split(',').collect();
        let n: u32 = f[0].parse().expect("N");
        let window: u64 = f[1].parse().expect("WINDOW");
        let port: u16 = f[2].parse().expect("PORT");
        let status = f[3].to_string();
        let digest = parse_digest("9d93838ffc6958bf1f993bd0825220e0").expect("digest");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let mut pool = CheckerPool::new();
            for i in 0..n {
                let ip = Ipv4Addr::new(127, 80 + (i % 20) as u8, (i / 20 / 256) as u8, (i / 20) as u8);
                let mut c = ConnectOpts::new(SocketAddr::new(IpAddr::V4(ip), port));
                c.connect_timeout = Duration::from_secs(3);
                let mut url = UrlCheck::new("/check");
                url.digest = Some(digest);
                let mut s = Schedule::defaults_for(CheckKind::Http);
                s.delay_loop = Duration::from_secs(1);
                s.warmup = Duration::from_secs(1);
                pool.insert(u64::from(i), Probe::Http(HttpParams::new(c, vec![url])), s);
            }
            run(3, &mut pool).await;
            let (t0, r0) = (cpu_ticks(), served(&status));
            run(window, &mut pool).await;
            let (t1, r1) = (cpu_ticks(), served(&status));
            let probes = r1 - r0 - 1;
            let ms = (t1 - t0) * 10;
            println!(
                "{n} HTTP_GET checkers, {window} s: {probes} probes ({} /s), {ms} ms CPU, {:.1} us/probe",
                probes / window,
                ms as f64 * 1000.0 / probes as f64
            );
        });
    }
}
