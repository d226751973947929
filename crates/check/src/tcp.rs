//! TCP_CHECK: the server is up when a TCP connection opens.

use crate::net::ConnectOpts;
use crate::outcome::{up, ProbeResult};

/// Open a connection to `opts.target` and close it at once.
pub async fn probe(opts: &ConnectOpts) -> ProbeResult {
    let stream = opts.tcp_connect().await?;
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
    async fn ipv6_loopback() {
        let l = tokio::net::TcpListener::bind("[::1]:0")
            .await
            .expect("bind ::1");
        let mut opts = ConnectOpts::new(l.local_addr().expect("addr"));
        opts.connect_timeout = Duration::from_secs(1);
        assert!(probe(&opts).await.is_ok());
    }
}
