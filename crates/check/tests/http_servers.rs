//! HTTP_GET / SSL_GET against real and misbehaving servers on loopback, the url order and
//! pacing of a pooled checker, and genhash compared with Debian's genhash.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use rka_check::driver::CheckerPool;
use rka_check::http::{self, HttpParams, UrlCheck};
use rka_check::tls::{TlsClient, TlsFiles};
use rka_check::{CheckKind, CheckerEvent, ConnectOpts, Probe, Schedule};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Behaviour = fn(TcpStream) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// A server that reads the request then behaves as told, for `conns` connections.
async fn server(conns: usize, behave: Behaviour) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        for _ in 0..conns {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            tokio::spawn(behave(s));
        }
    });
    addr
}

fn params(addr: SocketAddr, digest: Option<&[u8]>) -> HttpParams {
    let mut c = ConnectOpts::new(addr);
    c.connect_timeout = Duration::from_millis(500);
    let mut url = UrlCheck::new("/");
    url.digest = digest.map(|b| Md5::digest(b).into());
    let mut p = HttpParams::new(c, vec![url]);
    p.limits.total_timeout = Duration::from_secs(3);
    p
}

const CHUNKED: &[u8] = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";

#[tokio::test]
async fn good_page_and_chunked_digest_is_raw() {
    let addr = server(1, |mut s| {
        Box::pin(async move {
            let _ = s
                .write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA")
                .await;
        })
    })
    .await;
    assert!(http::probe_url(&params(addr, Some(b"hello")), 0)
        .await
        .is_ok());
    let addr = server(1, |mut s| {
        Box::pin(async move {
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                .await;
            let _ = s.write_all(CHUNKED).await;
        })
    })
    .await;
    assert!(http::probe_url(&params(addr, Some(CHUNKED)), 0)
        .await
        .is_ok());
}

async fn failure(addr: SocketAddr, digest: Option<&[u8]>) -> String {
    http::probe_url(&params(addr, digest), 0)
        .await
        .expect_err("must fail")
        .to_string()
}

#[tokio::test]
async fn misbehaving_servers_fail_with_reasons() {
    let stall = server(1, |s| {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(s);
        })
    })
    .await;
    assert!(failure(stall, None).await.contains("timed out"));

    let reset = server(1, |s| {
        Box::pin(async move {
            // Linger 0: closing sends a reset instead of a FIN.
            let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
            drop(s);
        })
    })
    .await;
    let r = failure(reset, None).await;
    assert!(
        r.contains("reading the response failed") || r.contains("no complete"),
        "{r}"
    );

    let garbage = server(1, |mut s| {
        Box::pin(async move {
            let _ = s.write_all(b"garbage\n\n").await;
        })
    })
    .await;
    assert!(failure(garbage, None)
        .await
        .contains("no complete HTTP header"));

    let bad_status_line = server(1, |mut s| {
        Box::pin(async move {
            let _ = s.write_all(b"SPDY/9 what\r\n\r\n").await;
        })
    })
    .await;
    assert!(failure(bad_status_line, None)
        .await
        .contains("invalid HTTP status line"));

    let wrong_status = server(1, |mut s| {
        Box::pin(async move {
            let _ = s.write_all(b"HTTP/1.0 503 Busy\r\n\r\n").await;
        })
    })
    .await;
    assert!(failure(wrong_status, None).await.contains("503"));

    let endless_headers = server(1, |mut s| {
        Box::pin(async move {
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\n").await;
            let line =
                [b"X-Pad: 0123456789012345678901234567890123456789\r\n".as_slice(); 100].concat();
            for _ in 0..10_000 {
                if s.write_all(&line).await.is_err() {
                    return;
                }
            }
        })
    })
    .await;
    assert!(failure(endless_headers, None)
        .await
        .contains("headers exceed"));

    let slowloris = server(1, |mut s| {
        Box::pin(async move {
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\n").await;
            for _ in 0..100 {
                if s.write_all(b"x").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    })
    .await;
    assert!(failure(slowloris, Some(b"x")).await.contains("longer than"));
}

#[tokio::test]
async fn hundred_megabyte_body_is_bounded() {
    let huge = server(1, |mut s| {
        Box::pin(async move {
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\n").await;
            let block = vec![b'a'; 1 << 20];
            for _ in 0..100 {
                if s.write_all(&block).await.is_err() {
                    return;
                }
            }
        })
    })
    .await;
    let mut p = params(huge, Some(b"a"));
    p.limits.total_timeout = Duration::from_secs(20);
    let e = http::probe_url(&p, 0).await.expect_err("too large");
    assert!(e.reason.contains("body exceeds"), "{}", e.reason);
}

fn tls_server_config() -> (Arc<rustls::ServerConfig>, String) {
    let ck = rcgen::generate_simple_self_signed(vec!["checker.test".to_string()]).expect("cert");
    let cert = ck.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::try_from(ck.key_pair.serialize_der()).expect("key");
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .expect("server config");
    (Arc::new(cfg), ck.cert.pem())
}

#[tokio::test]
async fn ssl_get_with_and_without_ca_and_sni() {
    let (cfg, pem) = tls_server_config();
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
    let (sni_tx, mut sni_rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        for _ in 0..2 {
            let Ok((s, _)) = l.accept().await else { return };
            let Ok(mut t) = acceptor.accept(s).await else {
                continue;
            };
            let _ = sni_tx
                .send(t.get_ref().1.server_name().map(String::from))
                .await;
            let mut buf = [0u8; 1024];
            let _ = t.read(&mut buf).await;
            let _ = t
                .write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .await;
            let _ = t.shutdown().await;
        }
    });
    let mut p = params(addr, Some(b"ok"));
    p.tls = Some(TlsClient::new(&TlsFiles::default(), None).expect("tls"));
    assert!(http::probe_url(&p, 0).await.is_ok());
    assert_eq!(sni_rx.recv().await.expect("sni"), None);
    let dir = tempfile::tempdir().expect("tmp");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pem).expect("write ca");
    let files = TlsFiles {
        ca: Some(ca),
        ..TlsFiles::default()
    };
    p.tls = Some(TlsClient::new(&files, Some("checker.test".into())).expect("tls"));
    assert!(http::probe_url(&p, 0).await.is_ok());
    assert_eq!(
        sni_rx.recv().await.expect("sni").as_deref(),
        Some("checker.test")
    );
}

#[tokio::test]
async fn ssl_get_fails_on_handshake_errors() {
    // A plain HTTP server: the handshake fails.
    let plain = server(1, |mut s| {
        Box::pin(async move {
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\n").await;
        })
    })
    .await;
    let mut p = params(plain, None);
    p.tls = Some(TlsClient::new(&TlsFiles::default(), None).expect("tls"));
    let e = http::probe_url(&p, 0).await.expect_err("handshake");
    assert!(e.reason.contains("TLS handshake"), "{}", e.reason);
    // A CA that did not sign the server's certificate.
    let (cfg, _) = tls_server_config();
    let (_, other_ca) = tls_server_config();
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
    tokio::spawn(async move {
        if let Ok((s, _)) = l.accept().await {
            let _ = acceptor.accept(s).await;
        }
    });
    let dir = tempfile::tempdir().expect("tmp");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, other_ca).expect("write");
    let mut p = params(addr, None);
    p.tls = Some(
        TlsClient::new(
            &TlsFiles {
                ca: Some(ca),
                ..TlsFiles::default()
            },
            None,
        )
        .expect("tls"),
    );
    let e = http::probe_url(&p, 0).await.expect_err("untrusted");
    assert!(e.reason.contains("TLS handshake"), "{}", e.reason);
}

/// Serves `resp` to every connection (plain or TLS), in its own thread and runtime so that
/// the blocking genhash calls below can run.
fn spawn_fixed_server(resp: &'static [u8], tls: Option<Arc<rustls::ServerConfig>>) -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        rt.block_on(async move {
            l.set_nonblocking(true).expect("nonblocking");
            let l = TcpListener::from_std(l).expect("listener");
            let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
            loop {
                let Ok((s, _)) = l.accept().await else { return };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    match acceptor {
                        None => {
                            let mut s = s;
                            let _ = s.read(&mut buf).await;
                            let _ = s.write_all(resp).await;
                        }
                        Some(a) => {
                            let Ok(mut t) = a.accept(s).await else { return };
                            let _ = t.read(&mut buf).await;
                            let _ = t.write_all(resp).await;
                            let _ = t.shutdown().await;
                        }
                    }
                });
            }
        });
    });
    addr
}

#[test]
fn genhash_matches_debian_genhash() {
    let have = std::process::Command::new("genhash")
        .arg("-h")
        .output()
        .is_ok();
    if !have {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "genhash is not installed (apt-get install keepalived)"
        );
        eprintln!("genhash not installed: comparison skipped");
        return;
    }
    let plain = spawn_fixed_server(
        b"HTTP/1.0 200 OK\r\nContent-Length: 12\r\n\r\nhello world\nEXTRA",
        None,
    );
    let chunked = spawn_fixed_server(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        None,
    );
    let notfound = spawn_fixed_server(b"HTTP/1.0 404 Not Found\r\n\r\nnope", None);
    let garbage = spawn_fixed_server(b"garbage\n\n", None);
    let (cfg, _) = tls_server_config();
    let tls = spawn_fixed_server(
        b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhelloXX",
        Some(cfg),
    );
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let a = l.local_addr().expect("addr");
        drop(l);
        a
    };
    let cases = [
        format!("-s 127.0.0.1 -p {} -u /plain", plain.port()),
        format!(
            "-s 127.0.0.1 -p {} -u /c -P 1.1 -V www.example",
            chunked.port()
        ),
        format!("-s 127.0.0.1 -p {} -u /missing", notfound.port()),
        format!("-s 127.0.0.1 -p {} -u /g", garbage.port()),
        format!("-S -s 127.0.0.1 -p {} -u /tls", tls.port()),
        format!(
            "-S -I -V sni.example -s 127.0.0.1 -p {} -u /tls",
            tls.port()
        ),
        format!("-s 127.0.0.1 -p {} -u /", closed.port()),
        "-s 127.0.0.1 -p 70000 -u /".to_string(),
        "-s 127.0.0.1 -u /".to_string(),
    ];
    for case in cases {
        let args: Vec<String> = case.split_whitespace().map(String::from).collect();
        let theirs = std::process::Command::new("genhash")
            .args(&args)
            .output()
            .expect("run genhash");
        let ours = rka_check::genhash::genhash_run(&args);
        assert_eq!(
            ours.stdout,
            String::from_utf8_lossy(&theirs.stdout),
            "stdout for {case}"
        );
        assert_eq!(
            Some(ours.code),
            theirs.status.code(),
            "exit code for {case}"
        );
        assert_eq!(
            ours.stderr.is_empty(),
            theirs.stderr.is_empty(),
            "stderr presence for {case}"
        );
    }
}

/// A server answering its requests, in their order, with `statuses` (then 200), one
/// connection at a time; each request's path and arrival instant are sent to the receiver.
async fn scripted_server(
    statuses: Vec<u16>,
) -> (
    SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<(String, Instant)>,
) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut statuses = statuses.into_iter();
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).await.unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).into_owned();
            let path = head.split(' ').nth(1).unwrap_or("?").to_string();
            if tx.send((path, Instant::now())).is_err() {
                return;
            }
            let status = statuses.next().unwrap_or(200);
            let resp = format!("HTTP/1.0 {status} X\r\nContent-Length: 0\r\n\r\n");
            let _ = s.write_all(resp.as_bytes()).await;
        }
    });
    (addr, rx)
}

/// Runs an HTTP_GET checker of urls /a, /b, /c in a [`CheckerPool`] against `addr` until
/// `requests` requests have arrived; returns what happened in order (the paths requested,
/// `UP` and `DOWN`) and the gap before each request after the first.
async fn pool_log(
    addr: SocketAddr,
    mut requests: tokio::sync::mpsc::UnboundedReceiver<(String, Instant)>,
    count: usize,
    schedule: Schedule,
    fast_recovery: bool,
) -> (Vec<String>, Vec<Duration>) {
    let mut c = ConnectOpts::new(addr);
    c.connect_timeout = Duration::from_secs(1);
    let urls = ["/a", "/b", "/c"].map(UrlCheck::new).to_vec();
    let mut p = HttpParams::new(c, urls);
    p.fast_recovery = fast_recovery;
    let mut pool = CheckerPool::new();
    pool.insert(1, Probe::Http(p), schedule);
    let mut log = Vec::new();
    let mut gaps = Vec::new();
    let mut last: Option<Instant> = None;
    let work = async {
        while gaps.len() + 1 < count {
            // The server logs a request before it answers, so a verdict on that answer comes
            // after it: the request is taken first when both are ready.
            tokio::select! {
                biased;
                Some((path, at)) = requests.recv() => {
                    if let Some(l) = last {
                        gaps.push(at - l);
                    }
                    last = Some(at);
                    log.push(path);
                }
                (id, e) = pool.next_event() => {
                    assert_eq!(id, 1);
                    log.push(match e {
                        CheckerEvent::Up { .. } => "UP".to_string(),
                        CheckerEvent::Down { .. } => "DOWN".to_string(),
                        other => format!("{other:?}"),
                    });
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), work)
        .await
        .expect("requests");
    (log, gaps)
}

/// Up from the start; /b fails through its 2 retries (down) and once more, then passes.
const DOWN_AND_RECOVER: [u16; 8] = [200, 200, 200, 200, 500, 500, 500, 500];

/// The same sequence as keepalived 2.2.7: one url per run, /b retried then down, checked
/// again after delay_loop, and up only once /b then a full pass /a /b /c have passed.
const EXPECTED: [&str; 15] = [
    "/a", "/b", "/c", "/a", "/b", "/b", "/b", "DOWN", "/b", "/b", "/a", "/b", "/c", "UP", "/a",
];

fn url_schedule(delay_loop: Duration) -> Schedule {
    let mut s = Schedule::defaults_for(CheckKind::Http);
    s.delay_loop = delay_loop;
    s.delay_before_retry = Duration::from_millis(100);
    s.retry = 2;
    s.warmup = Duration::ZERO;
    s
}

#[tokio::test]
async fn pool_checks_one_url_per_delay_loop() {
    let dl = Duration::from_millis(300);
    let (addr, rx) = scripted_server(DOWN_AND_RECOVER.to_vec()).await;
    let (log, gaps) = pool_log(addr, rx, 13, url_schedule(dl), false).await;
    assert_eq!(log, EXPECTED);
    // Before request i+1: delay_before_retry for the two retries of /b, else delay_loop
    // (also between the urls of the recovery pass, without fast_recovery).
    for (i, gap) in gaps.iter().enumerate() {
        let want = if i == 4 || i == 5 {
            Duration::from_millis(100)
        } else {
            dl
        };
        assert!(*gap >= want, "gap {i}: {gap:?} < {want:?} ({gaps:?})");
    }
}

#[tokio::test]
async fn pool_fast_recovery_skips_delay_loop_only_while_recovering() {
    let dl = Duration::from_millis(800);
    let (addr, rx) = scripted_server(DOWN_AND_RECOVER.to_vec()).await;
    let (log, gaps) = pool_log(addr, rx, 13, url_schedule(dl), true).await;
    assert_eq!(log, EXPECTED);
    // At once: /b and /c of the first pass, and /a /b /c after /b recovered; retries after
    // delay_before_retry; delay_loop otherwise (up after a full pass, and after a failure).
    let at_once = [0, 1, 8, 9, 10];
    for (i, gap) in gaps.iter().enumerate() {
        if at_once.contains(&i) {
            assert!(*gap < dl / 2, "gap {i}: {gap:?} not at once ({gaps:?})");
        } else {
            let want = if i == 4 || i == 5 {
                Duration::from_millis(100)
            } else {
                dl
            };
            assert!(*gap >= want, "gap {i}: {gap:?} < {want:?} ({gaps:?})");
        }
    }
}
