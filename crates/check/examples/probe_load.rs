//! Load generator for the checker benchmark (bench/checkers): runs N scheduled TCP_CHECK
//! checkers on one current-thread tokio runtime, as the checker child does, against
//! `127.x.y.z:PORT` (start a listener on 0.0.0.0:PORT first), and reports the process' CPU time
//! over a window, its memory, and the verdicts seen.
//!
//! MODE `pool` drives them all from one [`CheckerPool`] (what the checker child does); `tasks`
//! gives each checker a task of its own with [`run_checker`] (the earlier design), for
//! comparison. MODE `http` runs N HTTP_GET checkers in one pool instead, each asking `/check`
//! on `127.x.y.z:PORT` with the digest of bench/checkers/gen.py's body (the nginx that
//! `gen.py --nginx` configures serves it); with STATUS (nginx's stub_status address) the
//! requests nginx served during the window are counted and the CPU per probe printed.
//!
//! usage: probe_load pool|tasks|http N DELAY_LOOP_S WINDOW_S [PORT [STATUS]]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use md5::{Digest, Md5};
use rka_check::driver::{run_checker, CheckerPool};
use rka_check::http::{HttpParams, UrlCheck};
use rka_check::{CheckKind, CheckerEvent, ConnectOpts, Probe, Schedule};
use tokio::sync::mpsc;

/// The body bench/checkers/gen.py's nginx serves at `/check` (keep the two in step).
const BODY: &[u8] =
    b"rkeepalived checker benchmark: this body is hashed by every HTTP_GET check.\n";

/// nginx's stub_status "requests" counter at `addr` (this read's own request included).
fn served(addr: &str) -> Option<u64> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    // "server accepts handled requests" then " A H R".
    let line = text.lines().find(|l| l.starts_with(' '))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Utime + stime of this process in clock ticks, from /proc/self/stat.
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    // Fields 14 and 15 of stat; `after` starts at field 3.
    get(11) + get(12)
}

/// A field of /proc/self/status in kB.
fn status_kb(name: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn arg(args: &[String], i: usize, default: u64) -> u64 {
    args.get(i).and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("pool", String::as_str);
    let pool_mode = mode != "tasks";
    let http = mode == "http";
    let status_addr = args.get(6).cloned();
    let n = arg(&args, 2, 36_800);
    let delay = arg(&args, 3, 30);
    let window = arg(&args, 4, 60);
    let port = u16::try_from(arg(&args, 5, 8080)).unwrap_or(8080);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    rt.block_on(async move {
        let (tx, mut rx) = mpsc::channel::<(u64, CheckerEvent)>(1024);
        let mut tasks = Vec::new();
        let mut pool = CheckerPool::new();
        for i in 0..n {
            let ip = Ipv4Addr::new(127, 16 + (i / 65536) as u8, (i / 256 % 256) as u8, i as u8);
            let mut opts = ConnectOpts::new(SocketAddr::new(IpAddr::V4(ip), port));
            opts.connect_timeout = Duration::from_secs(3);
            let mut s = Schedule::defaults_for(if http {
                CheckKind::Http
            } else {
                CheckKind::Tcp
            });
            s.delay_loop = Duration::from_secs(delay);
            s.warmup = Duration::from_secs(delay);
            if http {
                let mut url = UrlCheck::new("/check");
                url.digest = Some(Md5::digest(BODY).into());
                pool.insert(i, Probe::Http(HttpParams::new(opts, vec![url])), s);
                continue;
            }
            if pool_mode {
                pool.insert(i, Probe::Tcp(opts), s);
                continue;
            }
            let out = tx.clone();
            tasks.push(tokio::spawn(async move {
                let (etx, mut erx) = mpsc::channel(8);
                let forward = async move {
                    while let Some(e) = erx.recv().await {
                        if out.send((i, e)).await.is_err() {
                            break;
                        }
                    }
                };
                tokio::join!(run_checker(Probe::Tcp(opts), s, etx), forward);
            }));
        }
        if pool_mode {
            let out = tx.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    let e = pool.next_event().await;
                    if out.send(e).await.is_err() {
                        break;
                    }
                }
            }));
        }
        drop(tx);
        // One full round to settle, then the window.
        let mut up = 0u64;
        let mut down = 0u64;
        let settle = tokio::time::sleep(Duration::from_secs(delay + 2));
        tokio::pin!(settle);
        loop {
            tokio::select! {
                _ = &mut settle => break,
                e = rx.recv() => match e {
                    Some((_, CheckerEvent::Up { .. })) => up += 1,
                    Some((_, CheckerEvent::Down { .. })) => down += 1,
                    _ => {}
                },
            }
        }
        let requests_before = status_addr.as_deref().and_then(served);
        let a = cpu_ticks();
        let window_end = tokio::time::sleep(Duration::from_secs(window));
        tokio::pin!(window_end);
        loop {
            tokio::select! {
                _ = &mut window_end => break,
                e = rx.recv() => match e {
                    Some((_, CheckerEvent::Up { .. })) => up += 1,
                    Some((_, CheckerEvent::Down { .. })) => down += 1,
                    _ => {}
                },
            }
        }
        let b = cpu_ticks();
        let requests_after = status_addr.as_deref().and_then(served);
        let hz = 100;
        let cpu_ms = (b - a) * 1000 / hz;
        // The first counter read's own request falls inside the window.
        let per_probe = match (requests_before, requests_after) {
            (Some(r0), Some(r1)) if r1 > r0 + 1 => {
                let probes = r1 - r0 - 1;
                format!(
                    " probes={probes} us_per_probe={:.1}",
                    cpu_ms as f64 * 1000.0 / probes as f64
                )
            }
            _ => String::new(),
        };
        println!(
            "RESULT mode={mode} checkers={n} delay_loop={delay} window={window} cpu_ms={cpu_ms} \
             rss_kb={} hwm_kb={} up_events={up} down_events={down}{per_probe}",
            status_kb("VmRSS:"),
            status_kb("VmHWM:"),
        );
        for t in tasks {
            t.abort();
        }
    });
}
