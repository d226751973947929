//! `genhash`: fetch one page and print the MD5 digest of its body, as Debian's genhash does.
//!
//! The output matches genhash 2.2.7 byte for byte (observed on lo against servers that
//! misbehave in every way, `tests/data/genhash-verbose/`): the digest line, the one-line error
//! messages and where they go, the exit codes (1 for a usage error, 0 once a request was
//! attempted, whatever its outcome), and with `-v` genhash's layout: a hex dump of each read
//! of the headers and body, the headers as text, the digest's dump and the response time.
//! Like genhash it reads with a 4095-byte buffer (the headers must fit in it), a TLS read
//! stopping at the end of a record as OpenSSL's does, and the layout follows the reads: where
//! a server's writes land in one read or two is up to the kernel's timing, for genhash as for
//! us. The body is streamed to stdout, never kept.

use std::fmt::Write as _;
use std::io::{self, BufRead as _, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::http::{self, HttpVersion};
use crate::net::ConnectOpts;
use crate::outcome::Reason;
use crate::tls::{TlsClient, TlsFiles};

const USAGE: &str = "\
Usage: genhash -s ADDRESS -p PORT -u PATH [OPTIONS]
Print the MD5 digest of a web page's body, for keepalived's HTTP_GET/SSL_GET `digest`.

  -s, --server ADDRESS         IP address of the web server
  -p, --port PORT              TCP port of the web server
  -u, --url PATH               path to request
  -S, --use-ssl                talk HTTPS
  -I, --use-sni                send the virtual host (-V) as TLS SNI
  -V, --use-virtualhost NAME   Host header to send (default ADDRESS:PORT)
  -P, --protocol VERSION       HTTP version: 1.0, 1.0c (1.0 + Connection: close) or 1.1
  -t, --timeout SECONDS        connection and read timeout (default 5)
  -m, --fwmark MARK            firewall mark for the connection
  -v, --verbose                dump the headers, body and digest, with the response time
  -h, --help                   show this help
";

/// The parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Options {
    server: IpAddr,
    port: u16,
    url: String,
    ssl: bool,
    sni: bool,
    virtualhost: Option<String>,
    version: HttpVersion,
    timeout: Duration,
    fwmark: Option<u32>,
    verbose: bool,
}

/// Why the command line was refused; `None` message = plain usage (help or missing option).
#[derive(Debug, PartialEq, Eq)]
struct Usage(Option<String>);

fn parse(args: &[String]) -> Result<Options, Usage> {
    let mut server = None;
    let mut port = None;
    let mut url = None;
    let mut o = Options {
        server: IpAddr::from([0, 0, 0, 0]),
        port: 0,
        url: String::new(),
        ssl: false,
        sni: false,
        virtualhost: None,
        version: HttpVersion::Http10,
        timeout: Duration::from_secs(5),
        fwmark: None,
        verbose: false,
    };
    let mut it = args.iter();
    let mut extra = Vec::new();
    while let Some(arg) = it.next() {
        // Long options take `--opt value` or `--opt=value`; short ones `-p 80` or `-p80`.
        let (key, inline): (String, Option<String>) = if let Some(long) = arg.strip_prefix("--") {
            match long.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (long.to_string(), None),
            }
        } else if arg.len() >= 2 && arg.starts_with('-') {
            let flag = &arg[1..2];
            let rest = &arg[2..];
            (
                flag.to_string(),
                (!rest.is_empty()).then(|| rest.to_string()),
            )
        } else {
            extra.push(arg.clone());
            continue;
        };
        let canonical = match key.as_str() {
            "S" | "use-ssl" => "S",
            "I" | "use-sni" => "I",
            "s" | "server" => "s",
            "p" | "port" => "p",
            "u" | "url" => "u",
            "V" | "use-virtualhost" => "V",
            "v" | "verbose" => "v",
            "h" | "help" => "h",
            "m" | "fwmark" => "m",
            "P" | "protocol" => "P",
            "t" | "timeout" => "t",
            _ => return Err(Usage(Some(format!("Unknown option {arg}")))),
        };
        let takes_value = matches!(canonical, "s" | "p" | "u" | "V" | "m" | "P" | "t");
        let value = if takes_value {
            match inline {
                Some(v) => v,
                None => match it.next() {
                    Some(v) => v.clone(),
                    None => return Err(Usage(Some(format!("option {arg} needs a value")))),
                },
            }
        } else {
            if inline.is_some() {
                return Err(Usage(Some(format!("Unknown option {arg}"))));
            }
            String::new()
        };
        match canonical {
            "S" => o.ssl = true,
            "I" => o.sni = true,
            "v" => o.verbose = true,
            "h" => return Err(Usage(None)),
            "s" => {
                server = Some(
                    value
                        .parse::<IpAddr>()
                        .map_err(|_| Usage(Some(format!("server should be an IP, not {value}"))))?,
                )
            }
            "p" => {
                port = Some(
                    value
                        .parse::<u16>()
                        .map_err(|_| Usage(Some(format!("invalid port number '{value}'"))))?,
                )
            }
            "u" => url = Some(value),
            "V" => o.virtualhost = Some(value),
            "m" => {
                o.fwmark = Some(
                    value
                        .parse::<u32>()
                        .map_err(|_| Usage(Some(format!("invalid fwmark '{value}'"))))?,
                )
            }
            "P" => o.version = value.parse().map_err(|e: String| Usage(Some(e)))?,
            "t" => {
                let secs: u64 = value
                    .parse()
                    .map_err(|_| Usage(Some(format!("invalid timeout '{value}'"))))?;
                o.timeout = Duration::from_secs(secs);
            }
            _ => {}
        }
    }
    if !extra.is_empty() {
        return Err(Usage(Some(format!(
            "Unexpected argument(s): {}",
            extra.join(" ")
        ))));
    }
    match (server, port, url) {
        (Some(s), Some(p), Some(u)) => {
            o.server = s;
            o.port = p;
            o.url = u;
            Ok(o)
        }
        _ => Err(Usage(None)),
    }
}

/// genhash reads into a 4096-byte buffer that keeps one byte for a terminating NUL: a read
/// takes at most this many bytes, and the headers must end within this many (observed: a
/// 4095-byte header passes, a 4096-byte one is "no data received").
const READ_BUFFER: usize = 4095;

/// Banners of the verbose layout, each on a line of its own.
const BANNER_HEADER: &[u8] =
    b"-----------------------[    HTTP Header Buffer    ]-----------------------\n";
const BANNER_HEADER_TEXT: &[u8] =
    b"-----------------------[ HTTP Header Ascii Buffer ]-----------------------\n";
const BANNER_BODY: &[u8] =
    b"-----------------------[        HTML Buffer        ]-----------------------\n";
const BANNER_DIGEST: &[u8] =
    b"-----------------------[    HTML hash resulting    ]-----------------------\n";
const BANNER_FINAL: &[u8] =
    b"-----------------------[ HTML hash final resulting ]-----------------------\n";

/// The verbose hex dump: rows of 16 bytes, the offset in decimal, a `-` between the two
/// halves, then the printable ASCII (others as `.`), the last row padded to full width.
fn hex_dump(out: &mut dyn Write, data: &[u8]) -> io::Result<()> {
    let mut line = String::with_capacity(80);
    for (i, row) in data.chunks(16).enumerate() {
        line.clear();
        let _ = write!(line, "{:04}  ", i * 16);
        for j in 0..16 {
            if j == 8 {
                line.push_str("- ");
            }
            match row.get(j) {
                Some(b) => {
                    let _ = write!(line, "{b:02x} ");
                }
                None => line.push_str("   "),
            }
        }
        line.push_str("  ");
        for j in 0..16 {
            line.push(match row.get(j) {
                Some(&b) if (0x20..0x7f).contains(&b) => b as char,
                Some(_) => '.',
                None => ' ',
            });
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// The body's length as genhash reads it (observed): the first `Content-Length:` in the
/// headers, spelled exactly so (even inside another name, `X-Content-Length:`), searched up to
/// a NUL; its value after blanks, with an optional `+`, digits and nothing else before the
/// end of the line. Anything else (`content-length`, `3x`, `3 `) means no length: the body
/// runs to the close.
fn content_length(header: &[u8]) -> Option<u64> {
    const NAME: &[u8] = b"Content-Length:";
    let text = header.split(|&b| b == 0).next()?;
    let at = text.windows(NAME.len()).position(|w| w == NAME)?;
    let value = &text[at + NAME.len()..];
    let value = value.trim_ascii_start();
    let value = value.strip_prefix(b"+").unwrap_or(value);
    let digits = value.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || !matches!(value.get(digits), Some(b'\r' | b'\n')) {
        return None;
    }
    value[..digits].iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// Why no request could be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetupFailure {
    /// The TCP connection was refused or failed.
    Connect,
    /// The TCP connection or the TLS handshake did not finish within the timeout.
    Timeout,
    /// The TLS handshake failed.
    Tls,
}

/// How the exchange ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// No request was sent.
    Setup(SetupFailure),
    /// The server closed the connection (TLS: with a close_notify), or, without TLS, the
    /// header buffer filled up without the end of the headers.
    Closed,
    /// TLS: the connection ended otherwise (closed without close_notify, or broken), or the
    /// header buffer filled up. genhash then prints the digest without its banners.
    Aborted,
    /// Without TLS: a read (or the request's write) failed, e.g. on a reset.
    ReadError,
    /// A read (or the request's write) did not finish within the timeout.
    Timeout,
}

/// The body once the headers are complete.
#[derive(Debug, Clone, Copy)]
struct Body {
    /// Bytes of `Content-Length` not hashed yet (`None`: no length, the whole stream).
    left: Option<u64>,
}

/// genhash's output for one exchange, written as the reads arrive: nothing of the body is
/// kept, whatever its size (genhash dumps every read too, each from offset 0).
struct Transcript<'w> {
    out: &'w mut dyn Write,
    err: &'w mut dyn Write,
    verbose: bool,
    tls: bool,
    /// The headers so far (at most [`READ_BUFFER`] bytes), then the headers alone.
    header: Vec<u8>,
    body: Option<Body>,
    /// Whether any byte arrived: a timeout before is genhash's "WEB read" one.
    received: bool,
    hasher: Md5,
}

impl<'w> Transcript<'w> {
    fn new(out: &'w mut dyn Write, err: &'w mut dyn Write, verbose: bool, tls: bool) -> Self {
        Transcript {
            out,
            err,
            verbose,
            tls,
            header: Vec::new(),
            body: None,
            received: false,
            hasher: Md5::new(),
        }
    }

    /// How many bytes the next read may take.
    fn room(&self) -> usize {
        match self.body {
            Some(_) => READ_BUFFER,
            None => READ_BUFFER.saturating_sub(self.header.len()).max(1),
        }
    }

    /// Takes one read's bytes (at most [`Transcript::room`]); `Ok(true)` when the header
    /// buffer is full without the end of the headers, which ends the exchange.
    fn data(&mut self, bytes: &[u8]) -> io::Result<bool> {
        if bytes.is_empty() {
            return Ok(false);
        }
        self.received = true;
        if self.body.is_some() {
            return self.body_bytes(bytes).map(|()| false);
        }
        if self.verbose {
            self.out.write_all(BANNER_HEADER)?;
        }
        let searched = self.header.len().saturating_sub(3);
        self.header.extend_from_slice(bytes);
        let Some(end) = http::find_header_end(&self.header[searched..]).map(|e| e + searched)
        else {
            return Ok(self.header.len() >= READ_BUFFER);
        };
        let rest = self.header.split_off(end);
        self.body = Some(Body {
            left: content_length(&self.header),
        });
        if self.verbose {
            hex_dump(self.out, &self.header)?;
            self.out.write_all(BANNER_HEADER_TEXT)?;
            // Printed as a C string: up to a NUL, if any.
            let text = self.header.split(|&b| b == 0).next().unwrap_or_default();
            self.out.write_all(text)?;
            self.out.write_all(b"\n")?;
            if !rest.is_empty() {
                self.out.write_all(BANNER_BODY)?;
            }
        }
        self.body_bytes(&rest)?;
        Ok(false)
    }

    /// Hashes (and dumps) the body bytes of one read up to `Content-Length`.
    fn body_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        let Some(body) = self.body.as_mut() else {
            return Ok(());
        };
        let take = match body.left.as_mut() {
            Some(left) => {
                let n = usize::try_from(*left).map_or(bytes.len(), |l| l.min(bytes.len()));
                *left -= n as u64;
                n
            }
            None => bytes.len(),
        };
        let part = &bytes[..take];
        self.hasher.update(part);
        if self.verbose {
            hex_dump(self.out, part)?;
        }
        Ok(())
    }

    /// Writes the end: the digest or the failure, then (verbose) the response time of `url`
    /// measured since the connection began.
    fn finish(self, ending: Ending, url: &str, elapsed: Duration) -> io::Result<()> {
        let Transcript {
            out,
            err,
            verbose,
            tls,
            body,
            received,
            hasher,
            ..
        } = self;
        let digest: [u8; 16] = hasher.finalize().into();
        let complete = body.is_some();
        let line: Option<&str> = match ending {
            Ending::Setup(SetupFailure::Connect) => Some("Connection failed"),
            Ending::Setup(SetupFailure::Timeout) => Some("Timeout connecting"),
            Ending::Setup(SetupFailure::Tls) => {
                Some("SSL handshake/communication error connecting to")
            }
            Ending::Timeout if tls => Some("Timeout SSL read"),
            Ending::Timeout if !received => Some("Timeout WEB read"),
            Ending::Timeout => Some("Timeout HTTP read"),
            Ending::ReadError if !tls => Some("Read error with"),
            Ending::Closed if verbose => {
                out.write_all(b"\n")?;
                out.write_all(BANNER_DIGEST)?;
                hex_dump(out, &digest)?;
                out.write_all(BANNER_FINAL)?;
                None
            }
            Ending::Closed | Ending::Aborted | Ending::ReadError => None,
        };
        match line {
            Some(l) => writeln!(out, "{l}")?,
            None if complete => writeln!(out, "{}", http::digest_hex(&digest))?,
            None if tls && ending == Ending::Closed => writeln!(out, "SSL read error from")?,
            None => writeln!(err, "no data received from remote webserver")?,
        }
        if verbose {
            writeln!(
                out,
                "\nGlobal response time for [{url}] = {} usecs",
                elapsed.as_micros()
            )?;
        }
        out.flush()
    }
}

/// What a genhash run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenhashOutput {
    /// The exit code.
    pub code: i32,
    /// Text for standard output (bytes that are not UTF-8 replaced).
    pub stdout: String,
    /// Text for standard error.
    pub stderr: String,
}

/// Run genhash with `args` (the options, without the program name) and collect its output
/// in memory (for tests: a large body's verbose dump is about 4.4 times its size).
pub fn genhash_run(args: &[String]) -> GenhashOutput {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = genhash_to(args, &mut out, &mut err);
    GenhashOutput {
        code,
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
    }
}

/// Run genhash with `args` (the options, without the program name), printing its output
/// as it comes; returns the exit code.
pub fn genhash_main(args: &[String]) -> i32 {
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut err = io::stderr().lock();
    let code = genhash_to(args, &mut out, &mut err);
    let _ = out.flush();
    code
}

/// Run genhash with `args`, writing to `out` and `err`; returns the exit code. A write
/// error (a closed pipe) ends the output early.
fn genhash_to(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let opts = match parse(args) {
        Ok(o) => o,
        Err(Usage(msg)) => {
            if let Some(m) = msg {
                let _ = writeln!(err, "{m}");
            }
            let _ = err.write_all(USAGE.as_bytes());
            return 1;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(err, "cannot start the I/O runtime: {e}");
            return 1;
        }
    };
    let _ = rt.block_on(run(&opts, out, err));
    0
}

/// Perform the request, writing genhash's output as the response arrives.
async fn run(o: &Options, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<()> {
    let target = SocketAddr::new(o.server, o.port);
    let mut connect = ConnectOpts::new(target);
    connect.connect_timeout = o.timeout;
    connect.fwmark = o.fwmark;
    let tls = if o.ssl {
        let sni = if o.sni { o.virtualhost.clone() } else { None };
        match TlsClient::new(&TlsFiles::default(), sni) {
            Ok(t) => Some(t),
            Err(e) => return writeln!(err, "{e}"),
        }
    } else {
        None
    };
    let host = http::host_header(o.virtualhost.as_deref(), target);
    let req = http::request(&o.url, &host, o.version);
    let mut transcript = Transcript::new(out, err, o.verbose, o.ssl);
    let started = Instant::now();
    // A bound on the whole exchange, whatever the server's pace (genhash has none: a server
    // trickling bytes within the read timeout would hold it for ever).
    let bound = o.timeout.saturating_mul(60).max(Duration::from_secs(60));
    let ending = match tokio::time::timeout(
        bound,
        exchange(&connect, tls.as_ref(), &req, &mut transcript),
    )
    .await
    {
        Ok(r) => r?,
        Err(_) => Ending::Timeout,
    };
    transcript.finish(ending, &o.url, started.elapsed())
}

/// Connect (with TLS when given), send `req` and feed the reads to `t`.
async fn exchange(
    connect: &ConnectOpts,
    tls: Option<&TlsClient>,
    req: &[u8],
    t: &mut Transcript<'_>,
) -> io::Result<Ending> {
    let op = connect.connect_timeout;
    let tcp = match connect.tcp_connect().await {
        Ok(s) => s,
        Err(f) => {
            return Ok(Ending::Setup(match f.reason {
                Reason::ConnectTimeout { .. } => SetupFailure::Timeout,
                _ => SetupFailure::Connect,
            }))
        }
    };
    let Some(tls) = tls else {
        return converse(&mut Connection::Plain(tcp), req, op, t).await;
    };
    let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
    let name = tls.server_name(connect.target.ip());
    let stream = match tokio::time::timeout(op, connector.connect(name, tcp)).await {
        Ok(Ok(s)) => s,
        Ok(Err(_)) => return Ok(Ending::Setup(SetupFailure::Tls)),
        Err(_) => return Ok(Ending::Setup(SetupFailure::Timeout)),
    };
    let mut conn = Connection::Tls {
        stream: Box::new(stream),
        raw: vec![0; RAW_READ],
    };
    let ending = converse(&mut conn, req, op, t).await?;
    if let (Ending::Closed, Connection::Tls { stream, .. }) = (ending, &mut conn) {
        let _ = tokio::time::timeout(op, stream.shutdown()).await;
    }
    Ok(ending)
}

/// Bytes of TLS records read from the socket at once.
const RAW_READ: usize = 16 << 10;

/// The connection to the server.
enum Connection {
    /// Plain TCP.
    Plain(tokio::net::TcpStream),
    /// TLS over TCP, read by hand so that a read stops at the end of a record, as OpenSSL's
    /// `SSL_read` does (a 16 KiB record is four reads of 4095 bytes and one of 4).
    Tls {
        stream: Box<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
        /// Room for the TLS bytes read from the socket.
        raw: Vec<u8>,
    },
}

impl Connection {
    fn is_tls(&self) -> bool {
        matches!(self, Connection::Tls { .. })
    }

    async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Connection::Plain(s) => s.write_all(data).await,
            Connection::Tls { stream, .. } => {
                stream.write_all(data).await?;
                stream.flush().await
            }
        }
    }

    /// Reads at most `buf.len()` bytes; TLS: from one record at most. `Ok(0)` at the end
    /// (TLS: a close_notify); TLS ended without close_notify is an `UnexpectedEof` error.
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (stream, raw) = match self {
            Connection::Plain(s) => return s.read(buf).await,
            Connection::Tls { stream, raw } => (stream, raw),
        };
        loop {
            let (tcp, tls) = stream.get_mut();
            match tls.reader().fill_buf() {
                // One record's plaintext (empty: the peer's close_notify).
                Ok(chunk) => {
                    let n = chunk.len().min(buf.len());
                    buf[..n].copy_from_slice(&chunk[..n]);
                    tls.reader().consume(n);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            let got = tcp.read(raw).await?;
            let mut data = &raw[..got];
            if got == 0 {
                // Tells rustls of the end of the stream.
                tls.read_tls(&mut data)?;
            }
            while !data.is_empty() {
                if tls.read_tls(&mut data)? == 0 {
                    break;
                }
                tls.process_new_packets().map_err(io::Error::other)?;
            }
            tls.process_new_packets().map_err(io::Error::other)?;
            if tls.wants_write() {
                let mut out = Vec::new();
                tls.write_tls(&mut out)?;
                tcp.write_all(&out).await?;
            }
        }
    }
}

/// Send `req` and read the response with genhash's buffer, each operation within `op`.
/// `Err` only when writing the output fails.
async fn converse(
    conn: &mut Connection,
    req: &[u8],
    op: Duration,
    t: &mut Transcript<'_>,
) -> io::Result<Ending> {
    let tls = conn.is_tls();
    // Without TLS a failure is "Read error with"; SSL_read's failures (no close_notify, a
    // reset) end the exchange as genhash's TLS end without close_notify does.
    let broken = if tls {
        Ending::Aborted
    } else {
        Ending::ReadError
    };
    match tokio::time::timeout(op, conn.write_all(req)).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => return Ok(broken),
        Err(_) => return Ok(Ending::Timeout),
    }
    let mut buf = [0u8; READ_BUFFER];
    loop {
        let room = t.room().min(READ_BUFFER);
        match tokio::time::timeout(op, conn.read(&mut buf[..room])).await {
            Err(_) => return Ok(Ending::Timeout),
            Ok(Ok(0)) => return Ok(Ending::Closed),
            Ok(Ok(n)) => {
                if t.data(&buf[..n])? {
                    // genhash's next read asks for no byte: plain read() says end of file,
                    // SSL_read fails.
                    return Ok(if tls { Ending::Aborted } else { Ending::Closed });
                }
            }
            Ok(Err(_)) => return Ok(broken),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_short_and_long_forms() {
        let o = parse(&args(
            "-s 127.0.0.1 -p 80 -u /x -S -I -V host -P 1.0c -t 3 -m 5 -v",
        ))
        .expect("parse");
        assert!(o.ssl && o.sni && o.verbose);
        assert_eq!(o.virtualhost.as_deref(), Some("host"));
        assert_eq!(o.version, HttpVersion::Http10Close);
        assert_eq!((o.timeout, o.fwmark), (Duration::from_secs(3), Some(5)));
        let o = parse(&args("--server ::1 --port=8080 --url / --use-ssl")).expect("parse");
        assert_eq!((o.port, o.ssl), (8080, true));
        let o = parse(&args("-s127.0.0.1 -p81 -u/")).expect("attached");
        assert_eq!(o.port, 81);
    }

    #[test]
    fn usage_errors() {
        assert_eq!(parse(&args("-s 127.0.0.1")), Err(Usage(None)));
        assert_eq!(parse(&args("-h")), Err(Usage(None)));
        assert_eq!(
            parse(&args("-s bad -p 1 -u /")),
            Err(Usage(Some("server should be an IP, not bad".into())))
        );
        assert_eq!(
            parse(&args("-s 127.0.0.1 -p 70000 -u /")),
            Err(Usage(Some("invalid port number '70000'".into())))
        );
        assert_eq!(
            parse(&args("-s 127.0.0.1 -p 1 -u / -x")),
            Err(Usage(Some("Unknown option -x".into())))
        );
        assert_eq!(
            parse(&args("-s 127.0.0.1 -p 1 -u / extra")),
            Err(Usage(Some("Unexpected argument(s): extra".into())))
        );
        assert!(parse(&args("-s 127.0.0.1 -p 1 -u / -P 2.0")).is_err());
        assert!(parse(&args("-s 127.0.0.1 -p 1 -u / -t abc")).is_err());
        assert!(parse(&args("-s 127.0.0.1 -p 1 -u / -m abc")).is_err());
        assert_eq!(genhash_main(&args("-s 127.0.0.1")), 1);
    }

    #[test]
    fn refused_connection_prints_connection_failed() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        drop(l);
        let out = genhash_run(&args(&format!("-s 127.0.0.1 -p {port} -u /")));
        assert_eq!(
            (out.code, out.stdout.as_str(), out.stderr.as_str()),
            (0, "Connection failed\n", "")
        );
        let out = genhash_run(&args(&format!("-v -s 127.0.0.1 -p {port} -u /r")));
        assert_eq!(
            normalise(&out.stdout),
            "Connection failed\n\nGlobal response time for [/r] = N usecs\n"
        );
    }

    /// Debian's genhash 2.2.7 (observed on lo) says nothing of a body shorter or longer than
    /// its Content-Length: the digest (of the bytes up to Content-Length, or to the close when
    /// fewer came), exit 0, nothing on stderr.
    #[test]
    fn a_body_of_another_length_than_content_length_prints_the_digest_only() {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let replies: [&[u8]; 3] = [
            b"HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\nhello",
            b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhellohellohello",
            b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        ];
        let server = std::thread::spawn(move || {
            for reply in replies {
                let (mut c, _) = l.accept().expect("accept");
                let mut req = [0u8; 512];
                let _ = c.read(&mut req);
                c.write_all(reply).expect("reply");
            }
        });
        for _ in replies {
            let out = genhash_run(&args(&format!("-s 127.0.0.1 -p {port} -u /")));
            // md5("hello")
            assert_eq!(
                out,
                GenhashOutput {
                    code: 0,
                    stdout: "5d41402abc4b2a76b9719d911017c592\n".into(),
                    stderr: String::new(),
                }
            );
        }
        server.join().expect("server");
    }

    /// The response time varies run to run: `= 1234 usecs` becomes `= N usecs`.
    fn normalise(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for line in text.split_inclusive('\n') {
            match line.strip_prefix("Global response time for [") {
                Some(rest) => match (rest.rfind("] = "), rest.strip_suffix(" usecs\n")) {
                    (Some(i), Some(_)) => {
                        let _ =
                            writeln!(out, "Global response time for [{}] = N usecs", &rest[..i]);
                    }
                    _ => out.push_str(line),
                },
                None => out.push_str(line),
            }
        }
        out
    }

    #[test]
    fn normalise_keeps_all_but_the_time() {
        assert_eq!(
            normalise("x\n\nGlobal response time for [/a b] = 1037429 usecs\n"),
            "x\n\nGlobal response time for [/a b] = N usecs\n"
        );
        assert_eq!(
            normalise("Global response time\n"),
            "Global response time\n"
        );
    }

    #[test]
    fn hex_dump_rows() {
        let mut out = Vec::new();
        hex_dump(&mut out, b"HTTP/1.0 200 OK\r\nContent-Length: 12\r\n\r\n").expect("dump");
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "0000  48 54 54 50 2f 31 2e 30 - 20 32 30 30 20 4f 4b 0d   HTTP/1.0 200 OK.\n\
             0016  0a 43 6f 6e 74 65 6e 74 - 2d 4c 65 6e 67 74 68 3a   .Content-Length:\n\
             0032  20 31 32 0d 0a 0d 0a    -                            12....         \n"
        );
        let mut out = Vec::new();
        hex_dump(&mut out, &[b'h', 0x7f, 0x80, 0]).expect("dump");
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "0000  68 7f 80 00             -                           h...            \n"
        );
    }

    #[test]
    fn content_length_header() {
        let cl =
            |line: &str| content_length(format!("HTTP/1.0 200 OK\r\n{line}\r\n\r\n").as_bytes());
        // Observed with Debian's genhash: which spellings limit a body "abcdef" to 3 bytes.
        for taken in [
            "Content-Length: 3",
            "Content-Length:3",
            "Content-Length:   3",
            "Content-Length:\t3",
            "Content-Length: +3",
            "Content-Length: 03",
            "X-Content-Length: 3",
            "Content-Length: 3\r\nContent-Length: 5",
        ] {
            assert_eq!(cl(taken), Some(3), "{taken}");
        }
        for ignored in [
            "content-length: 3",
            "Content-length: 3",
            "Content-Length: 3x",
            "Content-Length: 3 ",
            "Content-Length: abc",
            "Content-Length: -1",
            "X: a\0b\r\nContent-Length: 3",
            "Content-Length: 99999999999999999999999",
        ] {
            assert_eq!(cl(ignored), None, "{ignored}");
        }
        assert_eq!(cl("Content-Length: 9\r\nContent-Length: 3"), Some(9));
        assert_eq!(cl("Content-Length: 0"), Some(0));
    }

    const PLAIN: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Length: 12\r\n\r\nhello world\nEXTRA";
    const HALF_HEADER: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n";
    const GARBAGE: &[u8] = b"garbage\n\n";

    /// A response whose headers are `len` bytes long, then `abc`.
    fn header_of(len: usize) -> Vec<u8> {
        let mut r = b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\nX: ".to_vec();
        r.resize(len - 4, b'a');
        r.extend_from_slice(b"\r\n\r\nabc");
        r
    }

    fn body_10000() -> Vec<u8> {
        let mut body: Vec<u8> = (0..39).flat_map(|_| 0..=255u8).collect();
        body.extend_from_slice(b"0123456789abcdef");
        let mut r =
            format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        r.extend_from_slice(&body);
        r
    }

    /// The server's writes (each one read, or several when it exceeds the read's room).
    fn writes(response: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut from = 0;
        for &c in cuts.iter().chain(std::iter::once(&response.len())) {
            out.push(response[from..c].to_vec());
            from = c;
        }
        out
    }

    /// One case recorded from Debian's genhash 2.2.7 (`genhash -v -t 1 ... -u /f`, servers
    /// on lo in a namespace, a pause between the server's writes; see the data's README).
    struct Recorded {
        name: &'static str,
        tls: bool,
        writes: Vec<Vec<u8>>,
        ending: Ending,
    }

    fn recorded() -> Vec<Recorded> {
        let case = |name, tls, writes, ending| Recorded {
            name,
            tls,
            writes,
            ending,
        };
        let chunked: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        let nul: &[u8] = b"HTTP/1.0 200 OK\r\nX: a\x00b\r\ncontent-length:  3 \r\n\r\nabcdef";
        vec![
            case("plain-one", false, writes(PLAIN, &[]), Ending::Closed),
            case(
                "plain-header-then-body",
                false,
                writes(PLAIN, &[39]),
                Ending::Closed,
            ),
            case(
                "header-in-three-reads",
                false,
                writes(PLAIN, &[10, 30]),
                Ending::Closed,
            ),
            case(
                "body-in-three-reads",
                false,
                writes(PLAIN, &[41, 45]),
                Ending::Closed,
            ),
            case("chunked", false, writes(chunked, &[]), Ending::Closed),
            case(
                "status-404",
                false,
                writes(b"HTTP/1.0 404 Not Found\r\n\r\nnope", &[]),
                Ending::Closed,
            ),
            case("no-header-end", false, writes(GARBAGE, &[]), Ending::Closed),
            case(
                "binary-body",
                false,
                writes(b"HTTP/1.0 200 OK\r\n\r\nabc\x00def\x7f\x80\xff", &[]),
                Ending::Closed,
            ),
            case(
                "body-10000",
                false,
                writes(&body_10000(), &[]),
                Ending::Closed,
            ),
            case(
                "header-4096",
                false,
                writes(&header_of(4096), &[]),
                Ending::Closed,
            ),
            case("nul-in-header", false, writes(nul, &[]), Ending::Closed),
            case(
                "timeout-after-body",
                false,
                writes(PLAIN, &[]),
                Ending::Timeout,
            ),
            case("timeout-no-data", false, vec![], Ending::Timeout),
            case(
                "timeout-in-header",
                false,
                writes(HALF_HEADER, &[]),
                Ending::Timeout,
            ),
            case(
                "reset-after-body",
                false,
                writes(PLAIN, &[]),
                Ending::ReadError,
            ),
            case(
                "refused",
                false,
                vec![],
                Ending::Setup(SetupFailure::Connect),
            ),
            case(
                "connect-timeout",
                false,
                vec![],
                Ending::Setup(SetupFailure::Timeout),
            ),
            case("tls-plain", true, writes(PLAIN, &[]), Ending::Closed),
            case(
                "tls-sni-virtualhost",
                true,
                writes(PLAIN, &[]),
                Ending::Closed,
            ),
            case(
                "tls-no-close-notify",
                true,
                writes(PLAIN, &[]),
                Ending::Aborted,
            ),
            case(
                "tls-timeout-after-body",
                true,
                writes(PLAIN, &[]),
                Ending::Timeout,
            ),
            case(
                "tls-no-close-notify-in-header",
                true,
                writes(HALF_HEADER, &[]),
                Ending::Aborted,
            ),
            case(
                "tls-no-header-end",
                true,
                writes(GARBAGE, &[]),
                Ending::Closed,
            ),
            case("tls-no-data", true, vec![], Ending::Closed),
            case(
                "tls-header-4096",
                true,
                writes(&header_of(4096), &[]),
                Ending::Aborted,
            ),
            case(
                "tls-handshake-timeout",
                true,
                vec![],
                Ending::Setup(SetupFailure::Timeout),
            ),
        ]
    }

    /// Feeds `writes` to a transcript as genhash's reads take them (each write read apart,
    /// no read beyond the room), stopping when the header buffer fills up.
    fn transcribe(
        verbose: bool,
        tls: bool,
        writes: &[Vec<u8>],
        ending: Ending,
    ) -> (String, String) {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let mut t = Transcript::new(&mut out, &mut err, verbose, tls);
        let mut ending = ending;
        'reads: for w in writes {
            let mut w = &w[..];
            while !w.is_empty() {
                let n = t.room().min(w.len());
                if t.data(&w[..n]).expect("write") {
                    ending = if tls { Ending::Aborted } else { Ending::Closed };
                    break 'reads;
                }
                w = &w[n..];
            }
        }
        t.finish(ending, "/f", Duration::from_micros(1234))
            .expect("finish");
        (
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
        )
    }

    fn data_dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/genhash-verbose")
    }

    #[test]
    fn verbose_layout_is_debian_genhash_s() {
        let dir = data_dir();
        for case in recorded() {
            let read = |ext: &str| {
                let path = dir.join(format!("{}.{ext}", case.name));
                let bytes =
                    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                String::from_utf8_lossy(&bytes).into_owned()
            };
            let (out, err) = transcribe(true, case.tls, &case.writes, case.ending);
            assert_eq!(
                normalise(&out),
                normalise(&read("stdout")),
                "stdout of {}",
                case.name
            );
            assert_eq!(err, read("stderr"), "stderr of {}", case.name);
        }
    }

    /// Without `-v`: the digest or one line, as the non-verbose comparison below shows.
    #[test]
    fn quiet_output_is_one_line() {
        let quiet = |name: &str| {
            let case = recorded()
                .into_iter()
                .find(|c| c.name == name)
                .expect("case");
            transcribe(false, case.tls, &case.writes, case.ending)
        };
        let digest = (
            "6f5902ac237024bdd0c176cb93063dc4\n".to_string(),
            String::new(),
        );
        assert_eq!(quiet("plain-one"), digest);
        assert_eq!(quiet("body-in-three-reads"), digest);
        assert_eq!(quiet("tls-plain"), digest);
        assert_eq!(quiet("tls-no-close-notify"), digest);
        let stdout = |l: &str| (format!("{l}\n"), String::new());
        let stderr = (
            String::new(),
            "no data received from remote webserver\n".to_string(),
        );
        assert_eq!(quiet("no-header-end"), stderr);
        assert_eq!(quiet("header-4096"), stderr);
        assert_eq!(quiet("tls-header-4096"), stderr);
        assert_eq!(quiet("tls-no-data"), stdout("SSL read error from"));
        assert_eq!(quiet("timeout-no-data"), stdout("Timeout WEB read"));
        assert_eq!(quiet("timeout-in-header"), stdout("Timeout HTTP read"));
        assert_eq!(quiet("tls-timeout-after-body"), stdout("Timeout SSL read"));
        assert_eq!(quiet("reset-after-body"), stdout("Read error with"));
        assert_eq!(quiet("connect-timeout"), stdout("Timeout connecting"));
        // A 4095-byte header still fits.
        let (out, _) = transcribe(
            false,
            false,
            &writes(&header_of(4095), &[4095]),
            Ending::Closed,
        );
        assert_eq!(out, "900150983cd24fb0d6963f7d28e17f72\n");
    }

    /// A large body is dumped read by read and never kept: the transcript holds the headers
    /// only, and the dump covers every byte up to Content-Length.
    #[test]
    fn large_body_is_streamed() {
        let body = vec![b'z'; 1 << 20];
        let mut response = format!(
            "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n",
            body.len() - 10
        )
        .into_bytes();
        response.extend_from_slice(&body);
        let mut out = Vec::new();
        let mut err = Vec::new();
        let mut t = Transcript::new(&mut out, &mut err, true, false);
        let mut rest = &response[..];
        while !rest.is_empty() {
            let n = t.room().min(rest.len());
            assert!(n <= READ_BUFFER);
            assert!(!t.data(&rest[..n]).expect("data"));
            assert!(t.header.len() < READ_BUFFER);
            rest = &rest[n..];
        }
        t.finish(Ending::Closed, "/big", Duration::ZERO)
            .expect("finish");
        let text = String::from_utf8(out).expect("utf8");
        let (dump, _) = text
            .split_once(std::str::from_utf8(BANNER_DIGEST).expect("banner"))
            .expect("digest banner");
        let dumped: usize = dump
            .lines()
            .filter(|l| l.len() == 74 && l.as_bytes()[..4].iter().all(u8::is_ascii_digit))
            .map(|l| l[58..].matches('z').count())
            .sum();
        assert_eq!(dumped, body.len() - 10);
        let md5 = http::digest_hex(&Md5::digest(&body[..body.len() - 10]).into());
        assert!(text.contains(&format!(
            "\n{md5}\n\nGlobal response time for [/big] = 0 usecs\n"
        )));
    }

    /// How a test server ends each connection after its writes.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Then {
        /// Close (TLS: after a close_notify).
        Close,
        /// TLS: close the TCP connection without a close_notify.
        CloseWithoutNotify,
        /// Close with a reset.
        Reset,
        /// Keep the connection open for 3 s.
        Hang,
    }

    /// A server on 127.0.0.1 answering every connection (each in its own thread) with
    /// `writes`, 100 ms apart, then ending it as `then` says 100 ms later.
    fn serve(
        writes: Vec<Vec<u8>>,
        then: Then,
        tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    ) -> u16 {
        use std::io::Read;
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(tcp) = conn else { return };
                let (writes, tls) = (writes.clone(), tls.clone());
                std::thread::spawn(move || {
                    let pause = || std::thread::sleep(Duration::from_millis(100));
                    let mut req = [0u8; 1024];
                    match tls {
                        None => {
                            let mut tcp = tcp;
                            let _ = tcp.read(&mut req);
                            for w in &writes {
                                let _ = tcp.write_all(w);
                                pause();
                            }
                            match then {
                                Then::Reset => {
                                    let _ = socket2::SockRef::from(&tcp)
                                        .set_linger(Some(Duration::ZERO));
                                }
                                Then::Hang => std::thread::sleep(Duration::from_secs(3)),
                                Then::Close | Then::CloseWithoutNotify => {}
                            }
                        }
                        Some(cfg) => {
                            let Ok(conn) = rustls::ServerConnection::new(cfg) else {
                                return;
                            };
                            let mut s = rustls::StreamOwned::new(conn, tcp);
                            let _ = s.read(&mut req);
                            for w in &writes {
                                let _ = s.write_all(w);
                                let _ = s.flush();
                                pause();
                            }
                            match then {
                                Then::Close => {
                                    s.conn.send_close_notify();
                                    let _ = s.flush();
                                }
                                Then::Hang => std::thread::sleep(Duration::from_secs(3)),
                                Then::Reset | Then::CloseWithoutNotify => {}
                            }
                        }
                    }
                });
            }
        });
        port
    }

    fn tls_config() -> std::sync::Arc<rustls::ServerConfig> {
        crate::tls::test_server_config("genhash.test")
    }

    /// The size of each read dumped after the `HTML Buffer` banner.
    fn body_read_sizes(stdout: &str) -> Vec<usize> {
        let body_banner = std::str::from_utf8(BANNER_BODY).expect("banner");
        let digest_banner = std::str::from_utf8(BANNER_DIGEST).expect("banner");
        let after = stdout.split_once(body_banner).map_or("", |(_, b)| b);
        let dumps = after.split_once(digest_banner).map_or(after, |(d, _)| d);
        let mut sizes = Vec::new();
        for line in dumps.lines().filter(|l| l.len() == 74) {
            let bytes = line[6..55].split_whitespace().filter(|w| *w != "-").count();
            if line.starts_with("0000  ") {
                sizes.push(0);
            }
            if let Some(last) = sizes.last_mut() {
                *last += bytes;
            }
        }
        sizes
    }

    /// As OpenSSL's `SSL_read`, a TLS read stops at the end of a record: a body sent in one
    /// write of 40042 bytes (records of 16384, 16384 and 7274 bytes) is read 4095 bytes at a
    /// time within each record.
    #[test]
    fn tls_reads_stop_at_record_ends() {
        let body = vec![b'x'; 40000];
        let mut response =
            format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        assert_eq!(response.len(), 42);
        response.extend_from_slice(&body);
        let port = serve(vec![response], Then::Close, Some(tls_config()));
        let out = genhash_run(&args(&format!("-v -S -s 127.0.0.1 -p {port} -u /big")));
        assert_eq!(out.stderr, "");
        assert_eq!(
            body_read_sizes(&out.stdout),
            [4053, 4095, 4095, 4095, 4, 4095, 4095, 4095, 4095, 4, 4095, 3179]
        );
        let md5 = http::digest_hex(&Md5::digest(&body).into());
        assert!(out
            .stdout
            .contains(&format!("\n{md5}\n\nGlobal response time for [/big] = ")));
    }

    /// Ours and Debian's genhash side by side against the same servers, with and without
    /// `-v`: the same stdout (response time aside), stderr and exit code.
    #[test]
    fn verbose_and_quiet_match_debian_genhash() {
        if std::process::Command::new("genhash")
            .arg("-h")
            .output()
            .is_err()
        {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "genhash is not installed (apt-get install keepalived)"
            );
            eprintln!("genhash not installed: comparison skipped");
            return;
        }
        let tls = tls_config();
        let mut big = b"HTTP/1.0 200 OK\r\n\r\n".to_vec();
        big.extend((0..40000u32).map(|i| (i % 251) as u8));
        let chunked: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let cases: Vec<(String, u16)> = vec![
            (
                "-u /plain".into(),
                serve(writes(PLAIN, &[]), Then::Close, None),
            ),
            (
                "-u /split".into(),
                serve(writes(PLAIN, &[10, 41]), Then::Close, None),
            ),
            (
                "-u /c -P 1.1 -V www.example".into(),
                serve(writes(chunked, &[]), Then::Close, None),
            ),
            (
                "-u /404".into(),
                serve(
                    writes(b"HTTP/1.0 404 Not Found\r\n\r\nnope", &[]),
                    Then::Close,
                    None,
                ),
            ),
            (
                "-u /g".into(),
                serve(writes(GARBAGE, &[]), Then::Close, None),
            ),
            (
                "-u /big".into(),
                serve(writes(&body_10000(), &[]), Then::Close, None),
            ),
            (
                "-u /h".into(),
                serve(writes(&header_of(4096), &[]), Then::Close, None),
            ),
            (
                "-u /to -t 1".into(),
                serve(writes(PLAIN, &[]), Then::Hang, None),
            ),
            ("-u /to -t 1".into(), serve(vec![], Then::Hang, None)),
            (
                "-u /rst".into(),
                serve(writes(PLAIN, &[]), Then::Reset, None),
            ),
            ("-u /refused".into(), closed),
            (
                "-S -u /tls".into(),
                serve(writes(PLAIN, &[]), Then::Close, Some(tls.clone())),
            ),
            (
                "-S -I -V sni.example -u /sni".into(),
                serve(writes(PLAIN, &[]), Then::Close, Some(tls.clone())),
            ),
            (
                "-S -u /raw".into(),
                serve(
                    writes(PLAIN, &[]),
                    Then::CloseWithoutNotify,
                    Some(tls.clone()),
                ),
            ),
            (
                "-S -u /rawh".into(),
                serve(
                    writes(HALF_HEADER, &[]),
                    Then::CloseWithoutNotify,
                    Some(tls.clone()),
                ),
            ),
            (
                "-S -u /tg".into(),
                serve(writes(GARBAGE, &[]), Then::Close, Some(tls.clone())),
            ),
            (
                "-S -u /tto -t 1".into(),
                serve(writes(PLAIN, &[]), Then::Hang, Some(tls.clone())),
            ),
            (
                "-S -u /tbig".into(),
                serve(writes(&big, &[]), Then::Close, Some(tls)),
            ),
        ];
        for (opts, port) in cases {
            for verbose in ["", "-v "] {
                let case = format!("{verbose}-s 127.0.0.1 -p {port} {opts}");
                let args = args(&case);
                let theirs = std::process::Command::new("genhash")
                    .args(&args)
                    .output()
                    .expect("run genhash");
                let ours = genhash_run(&args);
                assert_eq!(
                    normalise(&ours.stdout),
                    normalise(&String::from_utf8_lossy(&theirs.stdout)),
                    "stdout for {case}"
                );
                assert_eq!(
                    ours.stderr,
                    String::from_utf8_lossy(&theirs.stderr),
                    "stderr for {case}"
                );
                assert_eq!(
                    Some(ours.code),
                    theirs.status.code(),
                    "exit code for {case}"
                );
            }
        }
    }
}
