//! TCP_CHECK: the server is up when a TCP connection opens.
//!
//! The connection is closed with a reset (`SO_LINGER` on with a zero timeout), where
//! keepalived 2.2.7 closes it with a FIN (observed with tcpdump: SYN, SYN-ACK, ACK, FIN, ACK,
//! FIN, ACK, then the director holds the connection in TIME_WAIT for 60 s). The reset spares
//! the FIN exchange on both ends and leaves no TIME_WAIT entry behind: a director running
//! thousands of checks a second no longer accumulates them (HAProxy's checks close the same
//! way). The server sees its accepted connection reset, which it must handle anyway.

use std::time::Duration;

use crate::net::ConnectOpts;
use crate::outcome::{up, ProbeResult};

/// Open a connection to `opts.target` and reset it at once.
pub async fn probe(opts: &ConnectOpts) -> ProbeResult {
    let stream = opts.tcp_connect().await?;
    // Best effort: if the option cannot be set the close is an ordinary FIN.
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
    up()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn tcp_up_and_down() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let opts = ConnectOpts::new(l.local_addr().expect("addr"));
        assert!(probe(&opts).await.is_ok());
        drop(l);
        assert!(probe(&opts).await.is_err());
    }

    #[tokio::test]
    async fn the_probe_resets_the_connection_instead_of_closing_it() {
        use tokio::io::AsyncReadExt;
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let opts = ConnectOpts::new(l.local_addr().expect("addr"));
        assert!(probe(&opts).await.is_ok());
        let (mut server, _) = l.accept().await.expect("accept");
        let mut buf = [0u8; 8];
        // A FIN would read as end of file (Ok(0)); a reset is an error.
        let r = tokio::time::timeout(Duration::from_secs(3), server.read(&mut buf))
            .await
            .expect("the prober's close reached the server");
        let e = r.expect_err("reset, not an orderly close");
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
    }

    #[tokio::test]
    async fn ipv6_loopback() {
        let l = tokio::net::TcpListener::bind("[::1]:0")
            .await
            .expect("bind ::1");
        let mut opts = ConnectOpts::new(l.local_addr().expect("addr"));
        opts.connect_timeout = Duration::from_secs(1);
        assert!(probe(&opts).await.is_ok());
    }
}
