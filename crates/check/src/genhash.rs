//! `genhash`: fetch one page and print the MD5 digest of its body, as Debian's genhash does.
//!
//! The digest line, the one-line error messages and the exit codes (1 for a usage error, 0
//! once a request was attempted, whatever its outcome) match genhash; the verbose layout is
//! our own.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::http::{self, HttpLimits, HttpVersion};
use crate::net::ConnectOpts;
use crate::outcome::HttpError;
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
  -v, --verbose                show the request, headers, body and timing
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

/// What genhash writes for a failed exchange: (to stdout?, line).
fn error_line(e: &HttpError) -> (bool, String) {
    match e {
        HttpError::Connect(_) => (true, "Connection failed".into()),
        HttpError::Tls { .. } | HttpError::TlsTimeout { .. } => (
            true,
            "SSL handshake/communication error connecting to".into(),
        ),
        HttpError::Write(_) | HttpError::Read(_) => (true, "Read error with".into()),
        HttpError::HeaderTimeout(_) => (true, "Timeout WEB read".into()),
        HttpError::BodyTimeout(_) | HttpError::TotalTimeout(_) => {
            (true, "Timeout HTTP read".into())
        }
        HttpError::NoHeader(_) => (false, "no data received from remote webserver".into()),
        other => (false, other.to_string()),
    }
}

fn hex_dump(out: &mut String, data: &[u8]) {
    use std::fmt::Write as _;
    for (i, row) in data.chunks(16).enumerate() {
        let _ = write!(out, "{:08x} ", i * 16);
        for b in row {
            let _ = write!(out, " {b:02x}");
        }
        for _ in row.len()..16 {
            out.push_str("   ");
        }
        out.push_str("  |");
        out.extend(row.iter().map(|&b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '.'
            }
        }));
        out.push_str("|\n");
    }
}

/// What a genhash run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenhashOutput {
    /// The exit code.
    pub code: i32,
    /// Text for standard output.
    pub stdout: String,
    /// Text for standard error.
    pub stderr: String,
}

/// Run genhash with `args` (the options, without the program name) and collect its output.
pub fn genhash_run(args: &[String]) -> GenhashOutput {
    let opts = match parse(args) {
        Ok(o) => o,
        Err(Usage(msg)) => {
            let mut stderr = msg.map(|m| format!("{m}\n")).unwrap_or_default();
            stderr.push_str(USAGE);
            return GenhashOutput {
                code: 1,
                stdout: String::new(),
                stderr,
            };
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return GenhashOutput {
                code: 1,
                stdout: String::new(),
                stderr: format!("cannot start the I/O runtime: {e}\n"),
            }
        }
    };
    let (stdout, stderr) = rt.block_on(run(&opts));
    GenhashOutput {
        code: 0,
        stdout,
        stderr,
    }
}

/// Run genhash with `args` (the options, without the program name), printing its output;
/// returns the exit code.
pub fn genhash_main(args: &[String]) -> i32 {
    let out = genhash_run(args);
    let _ = std::io::stdout().lock().write_all(out.stdout.as_bytes());
    let _ = std::io::stderr().lock().write_all(out.stderr.as_bytes());
    out.code
}

/// Perform the request; returns what goes to stdout and to stderr.
async fn run(o: &Options) -> (String, String) {
    let target = SocketAddr::new(o.server, o.port);
    let mut connect = ConnectOpts::new(target);
    connect.connect_timeout = o.timeout;
    connect.fwmark = o.fwmark;
    let tls = if o.ssl {
        let sni = if o.sni { o.virtualhost.clone() } else { None };
        match TlsClient::new(&TlsFiles::default(), sni) {
            Ok(t) => Some(t),
            Err(e) => return (String::new(), format!("{e}\n")),
        }
    } else {
        None
    };
    let host = http::host_header(o.virtualhost.as_deref(), target);
    let req = http::request(&o.url, &host, o.version);
    let limits = HttpLimits {
        max_header: 1 << 20,
        max_body: None,
        keep_body: if o.verbose { 16 << 20 } else { 0 },
        total_timeout: o.timeout.saturating_mul(60).max(Duration::from_secs(60)),
    };
    let started = std::time::Instant::now();
    let result = http::fetch(&connect, tls.as_ref(), &req, &limits, true).await;
    let mut out = String::new();
    let mut err = String::new();
    if o.verbose {
        out.push_str(&format!(
            "== request to {target}{}\n",
            if o.ssl { " (TLS)" } else { "" }
        ));
        out.push_str(&String::from_utf8_lossy(&req));
    }
    match result {
        Ok(resp) => {
            if o.verbose {
                out.push_str("== response header\n");
                out.push_str(&String::from_utf8_lossy(&resp.header));
                out.push_str(&format!("== body: {} bytes\n", resp.body_len));
                hex_dump(&mut out, &resp.body);
                if (resp.body.len() as u64) < resp.body_len {
                    out.push_str("(dump truncated)\n");
                }
                out.push_str("== MD5 digest\n");
            }
            out.push_str(&http::digest_hex(&resp.digest));
            out.push('\n');
        }
        Err(e) => {
            let (to_stdout, line) = error_line(&e);
            if to_stdout {
                out.push_str(&line);
                out.push('\n');
            } else {
                err.push_str(&line);
                err.push('\n');
            }
            if o.verbose {
                out.push_str(&format!("== error: {e}\n"));
            }
        }
    }
    if o.verbose {
        out.push_str(&format!(
            "== response time for {}: {} usecs\n",
            o.url,
            started.elapsed().as_micros()
        ));
    }
    (out, err)
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

    #[tokio::test]
    async fn refused_connection_prints_connection_failed() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        drop(l);
        let o = parse(&args(&format!("-s 127.0.0.1 -p {port} -u /"))).expect("parse");
        assert_eq!(
            run(&o).await,
            ("Connection failed\n".to_string(), String::new())
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
}
