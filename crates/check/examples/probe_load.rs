//! Load generator for the checker benchmark (bench/checkers): runs N scheduled TCP_CHECK
//! checkers on one current-thread tokio runtime, as the checker child does, against
//! `127.x.y.z:PORT` (start a listener on 0.0.0.0:PORT first), and reports the process' CPU time
//! over a window, its memory, and the verdicts seen.
//!
//! MODE `pool` drives them all from one [`CheckerPool`] (what the checker child does); `tasks`
//! gives each checker a task of its own with [`run_checker`] (the earlier design), for
//! comparison.
//!
//! usage: probe_load pool|tasks N DELAY_LOOP_S WINDOW_S [PORT]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use rka_check::driver::{run_checker, CheckerPool};
use rka_check::{CheckKind, CheckerEvent, ConnectOpts, Probe, Schedule};
use tokio::sync::mpsc;

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
    let pool_mode = args.get(1).map(String::as_str) != Some("tasks");
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
            let mut s = Schedule::defaults_for(CheckKind::Tcp);
            s.delay_loop = Duration::from_secs(delay);
            s.warmup = Duration::from_secs(delay);
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
        let hz = 100;
        println!(
            "RESULT mode={} checkers={n} delay_loop={delay} window={window} cpu_ms={} \
             rss_kb={} hwm_kb={} up_events={up} down_events={down}",
            if pool_mode { "pool" } else { "tasks" },
            (b - a) * 1000 / hz,
            status_kb("VmRSS:"),
            status_kb("VmHWM:"),
        );
        for t in tasks {
            t.abort();
        }
    });
}
