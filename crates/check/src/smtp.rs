//! SMTP_CHECK: expect a 220 greeting, send `HELO name`, expect 250, send `QUIT`.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use crate::net::ConnectOpts;
use crate::outcome::{up, Failure, ProbeResult, Reason};

/// keepalived's default `helo_name`.
pub const DEFAULT_HELO: &str = "smtpchecker.keepalived.org";

/// Longest reply accepted from the server, all lines together.
const MAX_REPLY: usize = 8 << 10;

/// The SMTP_CHECK parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpParams {
    /// Target and connection options.
    pub connect: ConnectOpts,
    /// `helo_name`.
    pub helo_name: String,
}

impl SmtpParams {
    /// Parameters with the default HELO name.
    pub fn new(connect: ConnectOpts) -> Self {
        SmtpParams {
            connect,
            helo_name: DEFAULT_HELO.to_string(),
        }
    }
}

/// Read one (possibly multi-line) reply and return its code.
async fn read_reply<R: AsyncRead + Unpin>(
    r: &mut BufReader<R>,
    timeout: Duration,
) -> Result<u16, Failure> {
    let mut total = 0usize;
    loop {
        let mut line = Vec::new();
        let read = tokio::time::timeout(timeout, async {
            let mut limited = (&mut *r).take((MAX_REPLY - total) as u64 + 1);
            limited.read_until(b'\n', &mut line).await
        })
        .await
        .map_err(|_| Failure::from(Reason::SmtpReadTimeout { after: timeout }))?
        .map_err(|e| Failure::from(Reason::SmtpReadFailed(e.into())))?;
        if read == 0 {
            return Err(Reason::SmtpClosed.into());
        }
        total += read;
        if total > MAX_REPLY {
            return Err(Reason::SmtpTooLong { limit: MAX_REPLY }.into());
        }
        let code = line
            .get(..3)
            .and_then(|c| std::str::from_utf8(c).ok())
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| {
                Failure::from(Reason::SmtpMalformed(
                    String::from_utf8_lossy(&line).trim_end().into(),
                ))
            })?;
        // "250-..." continues a reply, "250 ..." (or a bare code) ends it.
        if line.get(3) != Some(&b'-') {
            return Ok(code);
        }
    }
}

async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    helo: &str,
    timeout: Duration,
) -> ProbeResult {
    let mut r = BufReader::new(stream);
    let code = read_reply(&mut r, timeout).await?;
    if code != 220 {
        return Err(Reason::SmtpBanner { code }.into());
    }
    let send = |cmd: String| cmd.into_bytes();
    tokio::time::timeout(
        timeout,
        r.get_mut().write_all(&send(format!("HELO {helo}\r\n"))),
    )
    .await
    .map_err(|_| Failure::from(Reason::SmtpWriteTimeout))?
    .map_err(|e| Failure::from(Reason::SmtpWriteFailed(e.into())))?;
    let code = read_reply(&mut r, timeout).await?;
    if code != 250 {
        return Err(Reason::SmtpHelo { code }.into());
    }
    // keepalived 2.2.7 waits for QUIT's reply, whatever its code: a server that closes,
    // resets or stays silent instead fails the check (smtp-quit.log: 8811, 8816; 500, 250 and
    // 221 pass).
    tokio::time::timeout(timeout, r.get_mut().write_all(b"QUIT\r\n"))
        .await
        .map_err(|_| Failure::from(Reason::SmtpWriteTimeout))?
        .map_err(|e| Failure::from(Reason::SmtpWriteFailed(e.into())))?;
    match read_reply(&mut r, timeout).await {
        Ok(_) => up(),
        // Not observed: a line without a code is still a reply.
        Err(Failure {
            reason: Reason::SmtpMalformed(_),
        }) => up(),
        Err(e) => Err(e),
    }
}

/// Run the SMTP dialogue with the server.
pub async fn probe(p: &SmtpParams) -> ProbeResult {
    let stream = p.connect.tcp_connect().await?;
    let t = p.connect.connect_timeout;
    match tokio::time::timeout(t.saturating_mul(4), converse(stream, &p.helo_name, t)).await {
        Ok(r) => r,
        Err(_) => Err(Reason::SmtpTooSlow.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    async fn server(
        script: &'static [u8],
        expect_helo: bool,
    ) -> (std::net::SocketAddr, tokio::task::JoinHandle<Vec<u8>>) {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        let h = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.expect("accept");
            s.write_all(script).await.expect("greet");
            let mut got = Vec::new();
            if expect_helo {
                let mut buf = [0u8; 256];
                let n = s.read(&mut buf).await.expect("read");
                got.extend_from_slice(&buf[..n]);
                let _ = s.write_all(b"250-hi\r\n250 ok\r\n").await;
                let n = s.read(&mut buf).await.unwrap_or(0);
                got.extend_from_slice(&buf[..n]);
                let _ = s.write_all(b"221 bye\r\n").await;
            }
            got
        });
        (addr, h)
    }

    #[tokio::test]
    async fn smtp_dialogue() {
        let (addr, h) = server(b"220-multi\r\n220 ready\r\n", true).await;
        let mut p = SmtpParams::new(ConnectOpts::new(addr));
        p.helo_name = "me.example".into();
        assert_eq!(probe(&p).await, up());
        assert_eq!(h.await.expect("server"), b"HELO me.example\r\nQUIT\r\n");
    }

    /// A server that answers HELO, then `after_quit` once QUIT came (None: closes).
    async fn quit_server(after_quit: Option<&'static [u8]>, reset: bool) -> std::net::SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.expect("accept");
            let mut buf = [0u8; 256];
            s.write_all(b"220 ok\r\n").await.expect("greet");
            let _ = s.read(&mut buf).await;
            s.write_all(b"250 ok\r\n").await.expect("helo");
            let _ = s.read(&mut buf).await;
            if let Some(reply) = after_quit {
                let _ = s.write_all(reply).await;
            }
            if reset {
                let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
            }
            drop(s);
        });
        addr
    }

    /// keepalived 2.2.7 reads QUIT's reply: any code passes, a close or a reset in its place
    /// fails (smtp-quit.log, reply-errors.log 8804).
    #[tokio::test]
    async fn quit_needs_a_reply() {
        let opts = |addr| SmtpParams::new(ConnectOpts::new(addr));
        for reply in [&b"221 bye\r\n"[..], b"500 no\r\n", b"250 ok\r\n"] {
            let addr = quit_server(Some(reply), false).await;
            assert_eq!(probe(&opts(addr)).await, up());
        }
        let addr = quit_server(None, false).await;
        let e = probe(&opts(addr)).await.expect_err("closed");
        assert_eq!(e.reason, Reason::SmtpClosed);
        let addr = quit_server(None, true).await;
        let e = probe(&opts(addr)).await.expect_err("reset");
        assert!(
            matches!(e.reason, Reason::SmtpReadFailed(_) | Reason::SmtpClosed),
            "{:?}",
            e.reason
        );
    }

    #[tokio::test]
    async fn smtp_bad_greeting_and_garbage() {
        let (addr, _h) = server(b"554 go away\r\n", false).await;
        let e = probe(&SmtpParams::new(ConnectOpts::new(addr)))
            .await
            .expect_err("554");
        assert!(e.reason.contains("554"), "{}", e.reason);
        let (addr, _h) = server(b"hello there\r\n", false).await;
        let e = probe(&SmtpParams::new(ConnectOpts::new(addr)))
            .await
            .expect_err("garbage");
        assert!(e.reason.contains("malformed"), "{}", e.reason);
    }

    #[tokio::test]
    async fn smtp_stall_times_out() {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let mut c = ConnectOpts::new(l.local_addr().expect("addr"));
        c.connect_timeout = Duration::from_millis(300);
        let _keep = tokio::spawn(async move {
            let (s, _) = l.accept().await.expect("accept");
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(s);
        });
        let e = probe(&SmtpParams::new(c)).await.expect_err("stall");
        assert!(e.reason.contains("timed out"), "{}", e.reason);
    }
}
