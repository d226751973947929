//! The checker runtime on loopback with a model kernel behind the IPVS manager.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use rka_ipvs::{DestKey, ForwardMethod, Protocol, Request, ServiceKey, TunnelType};

use super::ipvs::fake::Fake;
use super::ipvs::StopMode;
use super::mapping::Plan;
use super::runtime::Runtime;
use super::table::desired;
use crate::child::Control;

fn config(text: &str) -> rka_config::Config {
    let loaded = rka_config::load_str("test.conf", text, &Default::default());
    assert!(
        !loaded.diagnostics.is_fatal(),
        "{:?}",
        loaded.diagnostics.items()
    );
    loaded.config
}

fn vip(last: u8, port: u16) -> ServiceKey {
    ServiceKey::Addr {
        addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
        protocol: Protocol::Tcp,
        port,
    }
}

fn dest(port: u16) -> DestKey {
    DestKey {
        addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port,
    }
}

/// A loopback port no one listens on, held for the test: the socket is bound and does not
/// listen, so connects to it are refused and no other socket (another test's probe, whose
/// ephemeral port could be this one) takes the port meanwhile, as it could once a port
/// chosen by a listener is freed. `listen` on the socket brings a server up on the port.
fn closed_port() -> (tokio::net::TcpSocket, u16) {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .expect("bind");
    let port = socket.local_addr().expect("addr").port();
    (socket, port)
}

fn tcp_vs(vip_last: u8, ports: &[u16], extra: &str) -> String {
    let mut s =
        format!("virtual_server 10.0.0.{vip_last} 80 {{\n lb_algo rr\n protocol TCP\n {extra}\n");
    for p in ports {
        s.push_str(&format!(
            " real_server 127.0.0.1 {p} {{\n  TCP_CHECK {{\n   connect_timeout 1\n   \
             delay_loop 1\n   retry 0\n   warmup 0\n  }}\n }}\n"
        ));
    }
    s.push_str("}\n");
    s
}

/// Runs the runtime until `done` holds for the fake kernel's table or the time runs out.
async fn drive_until(
    rt: &mut Runtime,
    fake: &Fake,
    limit: Duration,
    done: impl Fn(&rka_ipvs::Table) -> bool,
) -> bool {
    let (_tx, mut rx) = tokio::sync::mpsc::channel::<Control>(1);
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        rt.ipvs.sync().await;
        let ok = fake.0.lock().map(|s| done(&s.table)).unwrap_or(false);
        if ok {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        let _ = tokio::time::timeout(Duration::from_millis(100), rt.step(&mut rx)).await;
    }
}

fn has_dest(t: &rka_ipvs::Table, k: ServiceKey, d: DestKey) -> bool {
    t.services.get(&k).is_some_and(|v| v.dests.contains_key(&d))
}

/// The story also checks that the table changes are logged in keepalived's words.
#[tokio::test]
async fn a_dead_real_server_leaves_the_table_and_comes_back() {
    let (captured, _guard) = Captured::start(tracing::Level::INFO);
    let live = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let live_port = live.local_addr().expect("addr").port();
    let (dead, dead_port) = closed_port();
    let cfg = config(&tcp_vs(1, &[live_port, dead_port], ""));
    let fake = Fake::default();
    let mut rt = Runtime::start(&cfg, fake.clone()).expect("start");
    let ok = drive_until(&mut rt, &fake, Duration::from_secs(10), |t| {
        has_dest(t, vip(1, 80), dest(live_port)) && !has_dest(t, vip(1, 80), dest(dead_port))
    })
    .await;
    assert!(
        ok,
        "dead server never removed: {:?}",
        fake.0.lock().map(|s| s.table.clone())
    );
    let _back = dead.listen(16).expect("listen");
    let ok = drive_until(&mut rt, &fake, Duration::from_secs(10), |t| {
        has_dest(t, vip(1, 80), dest(dead_port))
    })
    .await;
    assert!(ok, "server never came back");
    rt.stop(StopMode::RemoveOwned).await;
    assert!(fake.0.lock().expect("lock").table.services.is_empty());
    let log = captured.text();
    let lines: Vec<&str> = log.lines().map(str::trim).collect();
    let at = |want: &str| {
        lines
            .iter()
            .position(|l| *l == want)
            .unwrap_or_else(|| panic!("no {want:?} in\n{log}"))
    };
    let gained = at("Gained quorum 1+0=1 <= 2 for VS [10.0.0.1]:tcp:80");
    let removed = at(&format!(
        "Removing service [127.0.0.1]:tcp:{dead_port} from VS [10.0.0.1]:tcp:80"
    ));
    let added = at(&format!(
        "Adding service [127.0.0.1]:tcp:{dead_port} to VS [10.0.0.1]:tcp:80"
    ));
    assert!(gained < removed && removed < added, "{log}");
    // The checker's own line comes first: a first failing TCP_CHECK is settled at once.
    let failed = at(&format!(
        "TCP_CHECK on service [127.0.0.1]:tcp:{dead_port} failed."
    ));
    let success = at(&format!(
        "TCP connection to [127.0.0.1]:tcp:{dead_port} success."
    ));
    assert!(
        failed < removed && removed < success && success < added,
        "{log}"
    );
    // One activating line per checker at start, in configuration order, then BFD's; one
    // shutting-down line per real server at stop.
    let live_on = at(&format!(
        "Activating healthchecker for service [127.0.0.1]:tcp:{live_port} for VS [10.0.0.1]:tcp:80"
    ));
    let dead_on = at(&format!(
        "Activating healthchecker for service [127.0.0.1]:tcp:{dead_port} for VS [10.0.0.1]:tcp:80"
    ));
    let bfd = at("Activating BFD healthchecker");
    assert!(live_on < dead_on && dead_on < bfd, "{log}");
    let down = at(&format!(
        "Shutting down service [127.0.0.1]:tcp:{dead_port} from VS [10.0.0.1]:tcp:80"
    ));
    assert!(added < down, "{log}");
}

#[tokio::test]
async fn identical_checks_are_probed_once_and_fan_out() {
    let (_held, port) = closed_port();
    let text = format!("{}{}", tcp_vs(1, &[port], ""), tcp_vs(2, &[port], ""));
    let plan = Plan::from_config(&config(&text));
    assert_eq!(plan.probes.len(), 1);
    assert_eq!(plan.probes[0].slots.len(), 2);
    let fake = Fake::default();
    let mut rt = Runtime::start(&config(&text), fake.clone()).expect("start");
    assert_eq!(rt.probes.len(), 1);
    // Nothing listens: both virtual servers lose their real server from one probe.
    let ok = drive_until(&mut rt, &fake, Duration::from_secs(10), |t| {
        t.services.len() == 2 && t.services.values().all(|v| v.dests.is_empty())
    })
    .await;
    assert!(ok);
    let dump = super::dump::data_text(&rt);
    assert!(dump.contains("shared by 2 real servers"), "{dump}");
    rt.stop(StopMode::Keep).await;
    assert_eq!(
        fake.0.lock().expect("lock").table.services.len(),
        2,
        "-I keeps"
    );
}

#[tokio::test]
async fn a_missing_scheduler_is_reported_and_the_rest_is_programmed() {
    let text = "virtual_server 10.0.0.1 80 {\n protocol TCP\n lb_algo mh\n real_server 127.0.0.1 80 {\n }\n}\n\
                virtual_server 10.0.0.2 80 {\n protocol TCP\n lb_algo rr\n real_server 127.0.0.1 80 {\n }\n}\n";
    let fake = Fake::default();
    fake.0.lock().expect("lock").missing_schedulers = vec!["mh".into()];
    let mut rt = Runtime::start(&config(text), fake.clone()).expect("start");
    let ok = drive_until(&mut rt, &fake, Duration::from_secs(5), |t| {
        has_dest(t, vip(2, 80), dest(80))
    })
    .await;
    assert!(ok);
    let st = rt.ipvs.status();
    let err = st.failing.get("[10.0.0.1]:tcp:80").expect("named failure");
    assert!(err.contains("scheduler"), "{err}");
    assert!(!fake
        .0
        .lock()
        .expect("lock")
        .table
        .services
        .contains_key(&vip(1, 80)));
    // The module appears: the retry programs it without any other event.
    fake.0.lock().expect("lock").missing_schedulers.clear();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let ok = drive_until(&mut rt, &fake, Duration::from_secs(5), |t| {
        has_dest(t, vip(1, 80), dest(80))
    })
    .await;
    assert!(ok, "never retried");
    rt.stop(StopMode::RemoveOwned).await;
}

#[tokio::test]
async fn stop_removes_ours_and_keeps_foreign_entries() {
    let fake = Fake::default();
    let foreign = rka_ipvs::Service::new(vip(9, 80), "wlc");
    fake.0.lock().expect("lock").table.insert_service(&foreign);
    let text = "virtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 127.0.0.1 80 {\n }\n}\n";
    let mut rt = Runtime::start(&config(text), fake.clone()).expect("start");
    assert!(
        drive_until(&mut rt, &fake, Duration::from_secs(5), |t| t
            .services
            .contains_key(&vip(1, 80)))
        .await
    );
    rt.stop(StopMode::RemoveOwned).await;
    let t = fake.0.lock().expect("lock").table.clone();
    assert!(!t.services.contains_key(&vip(1, 80)));
    assert!(t.services.contains_key(&vip(9, 80)));
}

#[tokio::test]
async fn entries_already_in_the_kernel_are_adopted_and_released() {
    let fake = Fake::default();
    let text = "virtual_server 10.0.0.1 80 {\n protocol TCP\n lb_algo rr\n\
                real_server 127.0.0.1 80 {\n }\n}\n";
    // A previous run left exactly our service behind.
    {
        let mut st = fake.0.lock().expect("lock");
        st.table
            .insert_service(&rka_ipvs::Service::new(vip(1, 80), "rr"));
        st.table.insert_dest(
            &vip(1, 80),
            &rka_ipvs::Destination::new(dest(80).addr, 80, ForwardMethod::Masq, 1),
        );
    }
    let rt = Runtime::start(&config(text), fake.clone()).expect("start");
    rt.ipvs.sync().await;
    assert_eq!(fake.0.lock().expect("lock").log.len(), 0, "nothing to do");
    rt.stop(StopMode::RemoveOwned).await;
    assert!(fake.0.lock().expect("lock").table.services.is_empty());
}

#[tokio::test]
async fn reload_keeps_unchanged_checkers_and_applies_a_minimal_diff() {
    let (_held, port) = closed_port();
    let a = tcp_vs(1, &[port], "");
    let fake = Fake::default();
    let mut rt = Runtime::start(&config(&a), fake.clone()).expect("start");
    assert!(
        drive_until(&mut rt, &fake, Duration::from_secs(10), |t| t
            .services
            .get(&vip(1, 80))
            .is_some_and(|v| v.dests.is_empty()))
        .await
    );
    let id_before: Vec<u64> = rt.probes.keys().collect();
    let before = fake.0.lock().expect("lock").log.len();
    // Same checker, plus a second virtual server without checkers.
    let b = format!(
        "{a}virtual_server 10.0.0.2 80 {{\n protocol TCP\n real_server 127.0.0.1 81 {{\n }}\n}}\n"
    );
    rt.reload(&config(&b));
    rt.ipvs.sync().await;
    let id_after: Vec<u64> = rt.probes.keys().collect();
    assert_eq!(id_before, id_after, "the unchanged checker was restarted");
    let log = fake.0.lock().expect("lock").log[before..].to_vec();
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(matches!(&log[0], Request::AddService(s) if s.key == vip(2, 80)));
    // The failing server stayed out: its state survived the reload.
    assert!(!has_dest(
        &fake.0.lock().expect("lock").table,
        vip(1, 80),
        dest(port)
    ));
    rt.stop(StopMode::RemoveOwned).await;
}

#[test]
fn desired_table_follows_keepalived_rules() {
    let text = "virtual_server_group G {\n 10.0.0.1-3 80\n fwmark 7\n}\n\
        virtual_server group G {\n protocol TCP\n lb_algo sh\n sh-port\n lb_kind DR\n persistence_timeout 600\n\
         persistence_granularity 255.255.255.0\n real_server 192.168.0.1 8080 {\n  weight 3\n\
         uthreshold 100\n lthreshold 10\n }\n}\n\
        virtual_server 10.0.1.1 443 {\n protocol TCP\n lb_algo wrr\n lb_kind TUN type gue port 6080 csum\n\
         real_server 192.168.0.2 443 {\n }\n}\n\
        virtual_server fd00::1 80 {\n protocol TCP\n lb_algo rr\n sorry_server fd00::9 80\n\
         real_server fd00::2 80 {\n  TCP_CHECK {\n   alpha\n  }\n }\n}\n";
    let cfg = config(text);
    let plan = Plan::from_config(&cfg);
    let director = rka_check::Director::new(plan.director.clone());
    let d = desired(&plan, &director);
    let t = &d.table;
    // The group expands to three addresses and a firewall mark.
    assert_eq!(t.services.len(), 3 + 1 + 1 + 1);
    let fw = ServiceKey::Fwmark {
        family: rka_ipvs::Family::Inet,
        mark: 7,
    };
    for k in [vip(1, 80), vip(2, 80), vip(3, 80), fw] {
        let v = t.services.get(&k).expect("group member");
        assert_eq!(v.service.scheduler, "sh");
        assert_eq!(
            v.service.flags,
            rka_ipvs::types::svc_flags::PERSISTENT | rka_ipvs::types::svc_flags::SCHED2
        );
        assert_eq!(v.service.timeout, 600);
        assert_eq!(v.service.prefix_len, 24);
        let (dk, dv) = v.dests.iter().next().expect("dest");
        // DR: the service's port, 0 for a firewall mark.
        let want = if matches!(k, ServiceKey::Fwmark { .. }) {
            0
        } else {
            80
        };
        assert_eq!(dk.port, want);
        assert_eq!(
            (dv.weight, dv.upper_threshold(), dv.lower_threshold()),
            (3, 100, 10)
        );
        assert_eq!(dv.method, ForwardMethod::DirectRoute);
        assert_eq!(d.labels.get(&k).map(String::as_str), Some("[G]:0"));
    }
    let tun = t
        .services
        .get(&ServiceKey::Addr {
            addr: "10.0.1.1".parse().expect("ip"),
            protocol: Protocol::Tcp,
            port: 443,
        })
        .expect("tun");
    let td = tun.dests.values().next().expect("dest");
    assert_eq!(td.method, ForwardMethod::Tunnel);
    let tunnel = td.tunnel().expect("gue");
    assert_eq!(
        (tunnel.kind, tunnel.port, tunnel.flags),
        (TunnelType::Gue, 6080, 1)
    );
    // alpha: the v6 real server starts down, quorum lost, the sorry server serves.
    let v6 = t
        .services
        .get(&ServiceKey::Addr {
            addr: "fd00::1".parse().expect("ip"),
            protocol: Protocol::Tcp,
            port: 80,
        })
        .expect("v6");
    let keys: Vec<SocketAddr> = v6
        .dests
        .keys()
        .map(|k| SocketAddr::new(k.addr, k.port))
        .collect();
    assert_eq!(
        keys,
        vec!["[fd00::9]:80".parse::<SocketAddr>().expect("sa")]
    );
}

#[test]
fn stop_modes() {
    use rka_config::model::global::LvsFlushOnStop;
    assert_eq!(
        super::stop_mode(true, Some(LvsFlushOnStop::All)),
        StopMode::Keep
    );
    assert_eq!(
        super::stop_mode(false, Some(LvsFlushOnStop::All)),
        StopMode::Flush
    );
    assert_eq!(
        super::stop_mode(false, Some(LvsFlushOnStop::VirtualServers)),
        StopMode::RemoveOwned
    );
    assert_eq!(super::stop_mode(false, None), StopMode::RemoveOwned);
}

#[tokio::test]
async fn fifo_lines_and_notify_scripts_follow_the_verdicts() {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = tempfile::tempdir().expect("tmp");
    let fifo = dir.path().join("lvs.fifo");
    let marker = dir.path().join("down-ran");
    let (_held, port) = closed_port();
    let text = format!(
        "global_defs {{\n lvs_notify_fifo {}\n}}\n\
         virtual_server 10.0.0.1 80 {{\n protocol TCP\n delay_loop 1\n\
          real_server 127.0.0.1 {port} {{\n  notify_down \"/usr/bin/touch {}\"\n\
          TCP_CHECK {{\n   connect_timeout 1\n   retry 0\n   warmup 0\n  }}\n }}\n}}\n",
        fifo.display(),
        marker.display()
    );
    let fake = Fake::default();
    let mut rt = Runtime::start(&config(&text), fake.clone()).expect("start");
    assert!(
        drive_until(&mut rt, &fake, Duration::from_secs(10), |t| t
            .services
            .get(&vip(1, 80))
            .is_some_and(|v| v.dests.is_empty()))
        .await
    );
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .expect("open fifo");
    let mut buf = vec![0u8; 4096];
    let n = f.read(&mut buf).expect("read fifo");
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert_eq!(
        text,
        format!(
            "VS [10.0.0.1]:tcp:80 UP\nRS [127.0.0.1]:tcp:{port} [10.0.0.1]:tcp:80 DOWN\n\
             VS [10.0.0.1]:tcp:80 DOWN\n"
        )
    );
    for _ in 0..50 {
        if marker.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(marker.exists(), "notify_down did not run");
    rt.stop(StopMode::RemoveOwned).await;
}

/// keepalived 2.2.7 at start: "Activating healthchecker" for the checkers of a service whose
/// address is here, "Deactivating healthchecker" for those of one whose address is not
/// (observed in the VM).
#[tokio::test]
async fn ha_suspend_holds_checkers_of_an_absent_address() {
    let (captured, _guard) = Captured::start(tracing::Level::INFO);
    let (_held, port) = closed_port();
    let check = |vip: &str| {
        format!(
            "virtual_server {vip} 80 {{\n protocol TCP\n ha_suspend\n delay_loop 1\n\
             real_server 127.0.0.1 {port} {{\n  TCP_CHECK {{\n   connect_timeout 1\n\
             retry 0\n   warmup 0\n  }}\n }}\n}}\n"
        )
    };
    // 127.0.0.1 is on this host; 192.0.2.55 (TEST-NET-1) is not.
    let text = format!("{}{}", check("127.0.0.1"), check("192.0.2.55"));
    let fake = Fake::default();
    let mut rt = Runtime::start(&config(&text), fake.clone()).expect("start");
    let local = ServiceKey::Addr {
        addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
        protocol: Protocol::Tcp,
        port: 80,
    };
    let absent = ServiceKey::Addr {
        addr: "192.0.2.55".parse().expect("ip"),
        protocol: Protocol::Tcp,
        port: 80,
    };
    assert!(
        drive_until(&mut rt, &fake, Duration::from_secs(10), |t| t
            .services
            .get(&local)
            .is_some_and(|v| v.dests.is_empty()))
        .await,
        "the local virtual server's checker never ran"
    );
    // A few more probe rounds: the suspended one keeps its real server.
    drive_until(&mut rt, &fake, Duration::from_secs(2), |_| false).await;
    assert!(has_dest(
        &fake.0.lock().expect("lock").table,
        absent,
        dest(port)
    ));
    assert!(rt.director.is_suspended(1));
    assert!(!rt.director.is_suspended(0));
    rt.stop(StopMode::RemoveOwned).await;
    let log = captured.text();
    assert_in_order(
        &log,
        &[
            &format!(
                "Activating healthchecker for service [127.0.0.1]:tcp:{port} for VS [127.0.0.1]:tcp:80"
            ),
            &format!(
                "Deactivating healthchecker for service [127.0.0.1]:tcp:{port} for VS [192.0.2.55]:tcp:80"
            ),
            "Activating BFD healthchecker",
        ],
    );
    assert!(!log.contains("Suspending"), "no transition at start: {log}");
}

/// keepalived 2.2.7 while running: when an `ha_suspend` service's address comes, `-D`'s
/// "Netlink reflector reports IP A added" and "Activating healthchecker" for each of its
/// checkers; when it goes, "... removed" and "Suspending healthchecker".
#[tokio::test]
async fn ha_suspend_transitions_are_logged_as_keepalived() {
    let (captured, _guard) = Captured::start(tracing::Level::DEBUG);
    let text = "virtual_server 192.0.2.56 80 {\n protocol TCP\n ha_suspend\n delay_loop 3600\n\
                real_server 127.0.0.1 9 {\n  TCP_CHECK {\n  }\n }\n\
                real_server 127.0.0.2 9 {\n  TCP_CHECK {\n  }\n }\n}\n";
    let fake = Fake::default();
    let mut rt = Runtime::start(&config(text), fake.clone()).expect("start");
    assert!(rt.director.is_suspended(0));
    let vip: IpAddr = "192.0.2.56".parse().expect("ip");
    let (tx, rx) = tokio::sync::watch::channel(std::collections::BTreeSet::from([vip]));
    rt.local_addrs = Some(rx);
    rt.apply_suspensions(true);
    assert!(!rt.director.is_suspended(0));
    tx.send_replace(std::collections::BTreeSet::new());
    rt.apply_suspensions(true);
    assert!(rt.director.is_suspended(0));
    rt.stop(StopMode::Keep).await;
    let log = captured.text();
    let vs = "[192.0.2.56]:tcp:80";
    assert_in_order(
        &log,
        &[
            &format!("Deactivating healthchecker for service [127.0.0.1]:tcp:9 for VS {vs}"),
            &format!("Deactivating healthchecker for service [127.0.0.2]:tcp:9 for VS {vs}"),
            "Netlink reflector reports IP 192.0.2.56 added",
            &format!("Activating healthchecker for service [127.0.0.1]:tcp:9 for VS {vs}"),
            &format!("Activating healthchecker for service [127.0.0.2]:tcp:9 for VS {vs}"),
            "Netlink reflector reports IP 192.0.2.56 removed",
            &format!("Suspending healthchecker for service [127.0.0.1]:tcp:9 for VS {vs}"),
            &format!("Suspending healthchecker for service [127.0.0.2]:tcp:9 for VS {vs}"),
        ],
    );
}

/// Asserts that `want` are lines of `log` (trimmed), in this order (each found after the
/// previous one).
fn assert_in_order(log: &str, want: &[&str]) {
    let mut lines = log.lines().map(str::trim);
    for w in want {
        assert!(lines.any(|l| l == *w), "no {w:?} in order in\n{log}");
    }
}

/// An SMTP_CHECK's failure line names the address it connects to (`connect_ip`,
/// `connect_port`), not the real server: keepalived 2.2.7 in the checkers VM story ("SMTP_CHECK
/// Could not connect to server [127.0.0.1]:2525" for real server 192.168.13.1 25). A
/// DNS_CHECK's verdict after its first probe says "after 0 retries" with `retry 0`.
#[tokio::test]
async fn smtp_lines_name_the_connect_address_and_dns_verdicts_their_retries() {
    let (captured, _guard) = Captured::start(tracing::Level::INFO);
    let (_held, port) = closed_port();
    let text = format!(
        "virtual_server 10.0.0.1 25 {{\n protocol TCP\n delay_loop 3600\n\
          real_server 192.0.2.13 25 {{\n  SMTP_CHECK {{\n   connect_ip 127.0.0.1\n\
           connect_port {port}\n  }}\n }}\n}}\n\
         virtual_server 10.0.0.2 53 {{\n protocol UDP\n delay_loop 3600\n\
          real_server 127.0.0.1 {port} {{\n  DNS_CHECK {{\n   retry 0\n  }}\n }}\n}}\n"
    );
    let fake = Fake::default();
    let mut rt = Runtime::start(&config(&text), fake.clone()).expect("start");
    let mut ids: Vec<u64> = rt.probes.keys().collect();
    ids.sort_unstable();
    assert_eq!(ids.len(), 2);
    use rka_check::CheckerEvent as E;
    let target = SocketAddr::from(([127, 0, 0, 1], port));
    let refused = std::io::Error::from_raw_os_error(111);
    let down = || E::Down {
        reason: rka_check::DownReason {
            failure: rka_check::Failure::connect(target, &refused),
            retries: 0,
            first_probe: false,
        },
    };
    let up = || E::Up {
        reason: "check succeeded".into(),
    };
    for &id in &ids {
        rt.handle_event(id, up());
        rt.handle_event(id, down());
    }
    rt.stop(StopMode::RemoveOwned).await;
    let log = captured.text();
    assert_in_order(
        &log,
        &[
            &format!("SMTP_CHECK Could not connect to server [127.0.0.1]:{port}"),
            "Removing service [192.0.2.13]:tcp:25 from VS [10.0.0.1]:tcp:25",
        ],
    );
    assert!(!log.contains("server [192.0.2.13]:25"), "{log}");
    assert!(
        log.contains(&format!(
            "DNS_CHECK ([127.0.0.1]:udp:{port}) failed to read socket; errno 111 \
             (Connection refused) after 0 retries"
        )),
        "{log}"
    );
}

/// MISC_CHECK `misc_dynamic` as keepalived 2.2.7 logs it (misc-dynamic.log, and
/// tests/data/keepalived-reload-weights for a server that is down): the weight line before the
/// checker's, the program named, "inactive" while down, the first success logged and mailed
/// though the server started up.
#[tokio::test]
async fn misc_dynamic_weights_and_first_success_are_logged_as_keepalived() {
    let (captured, _guard) = Captured::start(tracing::Level::INFO);
    let (smtp_port, mails) = crate::smtp::test_sink::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let script = dir.path().join("dyn.sh");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").expect("script");
    // Executable: keepalived (and we) drop a MISC_CHECK whose program cannot be executed.
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    // keepalived names the program with its directory resolved.
    let shown = std::fs::canonicalize(dir.path())
        .expect("canonical")
        .join("dyn.sh");
    let (_held, port) = closed_port();
    let text = format!(
        "global_defs {{\n router_id R\n notification_email {{\n  ops@example.com\n }}\n\
         notification_email_from k@example.net\n smtp_server 127.0.0.1 {smtp_port}\n}}\n\
         virtual_server 10.0.0.1 80 {{\n protocol TCP\n delay_loop 3600\n\
          real_server 127.0.0.1 {port} {{\n  MISC_CHECK {{\n   misc_path \"{} a\"\n\
            misc_dynamic\n  }}\n }}\n}}\n",
        script.display()
    );
    let fake = Fake::default();
    let mut rt = Runtime::start(&config(&text), fake.clone()).expect("start");
    let id = rt.probes.keys().next().expect("one probe");
    let rs = format!("[127.0.0.1]:tcp:{port}");
    let vs = "[10.0.0.1]:tcp:80";
    let misc = format!("Misc check for [{rs} VS {vs}] by [{}]", shown.display());
    use rka_check::CheckerEvent as E;
    let up = || E::Up {
        reason: "check succeeded".into(),
    };
    // Exit 5 at the first probe: weight 3, then the first success.
    rt.handle_event(id, E::WeightChanged { weight: 3 });
    rt.handle_event(id, up());
    let mail = crate::smtp::test_sink::wait_for(&mails, 1).await;
    assert_eq!(
        mail[0].header("Subject"),
        Some(&format!("[R] Realserver {rs} of virtual server {vs} - UP")[..])
    );
    assert_eq!(mail[0].body()[0], "=> MISC CHECK succeeded on service <=");
    // Exit 1: down, and the reported weight is taken back silently (keepalived 2.2.7's
    // misc_check_child_thread); exit 0: up with the configured weight, no weight line.
    let exit = |status| E::Down {
        reason: rka_check::Failure::from(rka_check::Reason::MiscExit { status }).into(),
    };
    rt.handle_event(id, exit(1));
    rt.handle_event(id, up());
    // Hands the table over (as the event loop does after the verdicts it took).
    rt.refresh_service(0);
    rt.ipvs.sync().await;
    let weight = || {
        fake.0.lock().ok().and_then(|s| {
            Some(
                s.table
                    .services
                    .get(&vip(1, 80))?
                    .dests
                    .get(&dest(port))?
                    .weight,
            )
        })
    };
    assert_eq!(weight(), Some(1), "back at the configured weight");
    // Exit 1, then exit 7: the weight 5 is a change again, logged while still down.
    rt.handle_event(id, exit(1));
    rt.handle_event(id, E::WeightChanged { weight: 5 });
    rt.handle_event(id, up());
    // A timeout keeps the weight: exit 0 after it takes it back, logged.
    let timeout = rka_check::Reason::MiscTimeout {
        program: "dyn.sh".into(),
        after: std::time::Duration::from_secs(1),
    };
    rt.handle_event(
        id,
        E::Down {
            reason: rka_check::Failure::from(timeout).into(),
        },
    );
    rt.handle_event(id, E::WeightReset);
    rt.handle_event(id, up());
    rt.refresh_service(0);
    rt.ipvs.sync().await;
    assert_eq!(weight(), Some(1));
    rt.stop(StopMode::RemoveOwned).await;
    let log = captured.text();
    assert_in_order(
        &log,
        &[
            &format!("Changing weight from 1 to 3 for active service {rs} of VS {vs}"),
            &format!("{misc} succeeded."),
            &format!("{misc} failed with retry disabled (exited with status 1)."),
            &format!("Removing service {rs} from VS {vs}"),
            &format!("Lost quorum 1-0=1 > 0 for VS {vs}"),
            &format!("{misc} succeeded."),
            &format!("Adding service {rs} to VS {vs}"),
            &format!("Gained quorum 1+0=1 <= 1 for VS {vs}"),
            &format!("{misc} failed with retry disabled (exited with status 1)."),
            &format!("Changing weight from 1 to 5 for inactive service {rs} of VS {vs}"),
            &format!("{misc} succeeded."),
            &format!("{misc} timed out with retry disabled."),
            &format!("Changing weight from 5 to 1 for inactive service {rs} of VS {vs}"),
            &format!("{misc} succeeded."),
        ],
    );
    assert!(
        !log.contains("Changing weight from 3 to 1"),
        "the weight taken back with the verdict is not logged: {log}"
    );
    // Each success after a failure is a change: logged each time.
    assert_eq!(
        log.matches(&format!("{misc} succeeded.")).count(),
        4,
        "{log}"
    );
}

/// FILE_CHECK weights as keepalived 2.2.7 logs them (file-check-weight1.log: weight 5, values
/// 3, -7, 0): a weight of 0 keeps the server in the table but loses the quorum.
#[tokio::test]
async fn file_check_weights_are_logged_as_keepalived() {
    let (captured, _guard) = Captured::start(tracing::Level::INFO);
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("tf1");
    std::fs::write(&file, "0\n").expect("file");
    let text = format!(
        "track_file tf1 {{\n file {}\n weight 1\n}}\n\
         virtual_server 10.0.1.22 80 {{\n protocol TCP\n\
          real_server 127.0.0.1 8506 {{\n  weight 5\n  FILE_CHECK {{\n   track_file tf1\n  }}\n }}\n}}\n",
        file.display()
    );
    let fake = Fake::default();
    let mut rt = Runtime::start(&config(&text), fake.clone()).expect("start");
    let id = rt.probes.keys().next().expect("one probe");
    for w in [3, -7, 0] {
        rt.handle_event(id, rka_check::CheckerEvent::WeightChanged { weight: w });
    }
    rt.stop(StopMode::Keep).await;
    let log = captured.text();
    let want = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/keepalived-checker-logs/file-check-weight1.log"
    ))
    .expect("capture");
    // keepalived's lines from the start-up quorum to the stop, in order, and nothing else
    // about the server or its service.
    let of_interest =
        |l: &&str| l.contains("weight") || l.contains("quorum") || l.contains("service");
    let ours: Vec<&str> = log.lines().map(str::trim).filter(of_interest).collect();
    let theirs: Vec<&str> = want
        .lines()
        .filter(of_interest)
        .filter(|l| !l.contains("no scheduler set"))
        .collect();
    assert_eq!(ours, theirs, "{log}");
}

/// At stop, a real server kept at weight 0 by `inhibit_on_failure` is shut down "(inhibited)",
/// as keepalived 2.2.7 logs it (the Debian inhibit sample in the VM); one that is up is not.
#[tokio::test]
async fn an_inhibited_real_server_is_shut_down_as_inhibited() {
    let (captured, _guard) = Captured::start(tracing::Level::INFO);
    let (_held, port) = closed_port();
    let text = format!(
        "virtual_server 10.0.0.1 80 {{\n protocol TCP\n delay_loop 3600\n inhibit_on_failure\n\
          real_server 127.0.0.1 {port} {{\n  TCP_CHECK {{\n  }}\n }}\n\
          real_server 127.0.0.2 {port} {{\n  TCP_CHECK {{\n  }}\n }}\n}}\n"
    );
    let fake = Fake::default();
    let mut rt = Runtime::start(&config(&text), fake.clone()).expect("start");
    let mut ids: Vec<u64> = rt.probes.keys().collect();
    ids.sort_unstable();
    let down = rka_check::CheckerEvent::Down {
        reason: rka_check::Failure::new("refused").into(),
    };
    rt.handle_event(ids[0], down);
    rt.stop(StopMode::Keep).await;
    let log = captured.text();
    assert_in_order(
        &log,
        &[
            &format!("Disabling service [127.0.0.1]:tcp:{port} of VS [10.0.0.1]:tcp:80"),
            &format!(
                "Shutting down (inhibited) service [127.0.0.1]:tcp:{port} from VS [10.0.0.1]:tcp:80"
            ),
            &format!("Shutting down service [127.0.0.2]:tcp:{port} from VS [10.0.0.1]:tcp:80"),
        ],
    );
}

/// A TCP_CHECK whose `bindto` address is not on the host: keepalived 2.2.7 logs "Checker bind
/// failed: Cannot assign requested address" and "TCP socket bind failed. Rescheduling." and
/// leaves the real server as it was (in the table), trying again each delay_loop (the
/// Debian SMTP_CHECK sample's `bindto`, in the VM).
#[tokio::test]
async fn a_bindto_address_not_on_the_host_leaves_the_real_server_as_it_was() {
    let (captured, _guard) = Captured::start(tracing::Level::INFO);
    let (_held, port) = closed_port();
    let text = format!(
        "virtual_server 10.0.0.1 80 {{\n protocol TCP\n delay_loop 1\n\
          real_server 127.0.0.1 {port} {{\n  TCP_CHECK {{\n   bindto 192.0.2.77\n\
           connect_timeout 1\n  }}\n }}\n}}\n"
    );
    let fake = Fake::default();
    let mut rt = Runtime::start(&config(&text), fake.clone()).expect("start");
    let twice = |_: &rka_ipvs::Table| {
        captured
            .text()
            .matches("TCP socket bind failed. Rescheduling.")
            .count()
            >= 2
    };
    assert!(drive_until(&mut rt, &fake, Duration::from_secs(10), twice).await);
    let kept = fake
        .0
        .lock()
        .map(|s| has_dest(&s.table, vip(1, 80), dest(port)))
        .unwrap_or(false);
    rt.stop(StopMode::Keep).await;
    let log = captured.text();
    assert!(kept, "the real server stays in the table: {log}");
    assert_in_order(
        &log,
        &[
            "Checker bind failed: Cannot assign requested address",
            "TCP socket bind failed. Rescheduling.",
            "Checker bind failed: Cannot assign requested address",
            "TCP socket bind failed. Rescheduling.",
        ],
    );
    assert!(!log.contains("Removing service"), "{log}");
    assert!(
        !log.contains("TCP_CHECK on service"),
        "no failure line: {log}"
    );
    assert!(!log.contains("TCP connection to"), "no failure line: {log}");
}

/// FILE_CHECK at start as keepalived 2.2.7 (it reads its tracked files before it programs
/// the table): a weight-0 file holding 1 starts its real server down, never added and no
/// line; a dynamic file's weight applies from the start, no "Changing weight" line. Later
/// changes log keepalived's `-D` FAULT lines before the table's ("tracked file TF0 now FAULT
/// state", the checkers VM story). A missing file reads as 0.
#[tokio::test]
async fn file_checks_start_from_the_file_as_it_is() {
    let (captured, _guard) = Captured::start(tracing::Level::DEBUG);
    let dir = tempfile::tempdir().expect("tmp");
    let (f0, f1) = (dir.path().join("f0"), dir.path().join("f1"));
    std::fs::write(&f0, "1\n").expect("file");
    std::fs::write(&f1, "0x3\n").expect("file");
    let missing = dir.path().join("none");
    let text = format!(
        "track_file TF0 {{\n file {}\n weight 0\n}}\n\
         track_file TF1 {{\n file {}\n weight 1\n}}\n\
         track_file TFM {{\n file {}\n weight 0\n}}\n\
         virtual_server 10.0.0.1 80 {{\n protocol TCP\n\
          real_server 127.0.0.1 8601 {{\n  FILE_CHECK {{\n   track_file TF0\n  }}\n }}\n\
          real_server 127.0.0.1 8602 {{\n  weight 5\n  FILE_CHECK {{\n   track_file TF1\n  }}\n }}\n\
          real_server 127.0.0.1 8603 {{\n  FILE_CHECK {{\n   track_file TFM\n  }}\n }}\n}}\n",
        f0.display(),
        f1.display(),
        missing.display()
    );
    let fake = Fake::default();
    let mut rt = Runtime::start(&config(&text), fake.clone()).expect("start");
    rt.ipvs.sync().await;
    let weights = || {
        fake.0.lock().ok().map(|s| {
            s.table.services.get(&vip(1, 80)).map(|v| {
                let mut w: Vec<(u16, u32)> =
                    v.dests.iter().map(|(k, d)| (k.port, d.weight)).collect();
                w.sort_unstable();
                w
            })
        })
    };
    assert_eq!(weights(), Some(Some(vec![(8602, 8), (8603, 1)])));
    let start = captured.text();
    assert!(!start.contains("8601"), "never added, no line: {start}");
    assert!(!start.contains("Changing weight"), "{start}");
    // The file fixed: keepalived's leaving line, then the table's.
    std::fs::write(&f0, "0\n").expect("file");
    let has = |t: &rka_ipvs::Table| has_dest(t, vip(1, 80), dest(8601));
    assert!(drive_until(&mut rt, &fake, Duration::from_secs(10), has).await);
    std::fs::write(&f0, "2\n").expect("file");
    let gone = |t: &rka_ipvs::Table| !has_dest(t, vip(1, 80), dest(8601));
    assert!(drive_until(&mut rt, &fake, Duration::from_secs(10), gone).await);
    rt.stop(StopMode::Keep).await;
    let log = captured.text();
    let rs = "[127.0.0.1]:tcp:8601";
    assert_in_order(
        &log,
        &[
            &format!("({rs}): tracked file TF0 leaving FAULT state"),
            &format!("Adding service {rs} to VS [10.0.0.1]:tcp:80"),
            &format!("({rs}): tracked file TF0 now FAULT state"),
            &format!("Removing service {rs} from VS [10.0.0.1]:tcp:80"),
        ],
    );
}

/// At start a service with a sorry server that starts up logs its quorum line alone
/// (full-debug.log: "Gained quorum 2+0=2 <= 2 for VS [10.0.1.5]:tcp:80", no sorry server line);
/// the sorry server's lines follow quorum changes only.
#[tokio::test]
async fn the_start_up_quorum_line_has_no_sorry_server_lines() {
    let (captured, _guard) = Captured::start(tracing::Level::INFO);
    let text = "virtual_server 10.0.1.5 80 {\n protocol TCP\n quorum 2\n\
                sorry_server 127.0.0.1 8999\n real_server 127.0.0.1 8405 {\n }\n\
                real_server 127.0.0.1 8406 {\n }\n}\n";
    let fake = Fake::default();
    let rt = Runtime::start(&config(text), fake.clone()).expect("start");
    rt.stop(StopMode::Keep).await;
    let log = captured.text();
    assert_in_order(&log, &["Gained quorum 2+0=2 <= 2 for VS [10.0.1.5]:tcp:80"]);
    assert!(!log.contains("sorry server"), "{log}");
    assert!(!log.contains("alive servers"), "{log}");
}

/// keepalived logs the first success of a checker that starts up (no `alpha`), and no table
/// line with it: the pool reports it though nothing changes.
#[tokio::test]
async fn the_first_success_of_a_checker_that_starts_up_is_logged() {
    let (captured, _guard) = Captured::start(tracing::Level::INFO);
    let live = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = live.local_addr().expect("addr").port();
    let fake = Fake::default();
    let mut rt = Runtime::start(&config(&tcp_vs(1, &[port], "")), fake.clone()).expect("start");
    let line = format!("TCP connection to [127.0.0.1]:tcp:{port} success.");
    let (_tx, mut rx) = tokio::sync::mpsc::channel::<Control>(1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !captured.text().contains(&line) && tokio::time::Instant::now() < deadline {
        let _ = tokio::time::timeout(Duration::from_millis(100), rt.step(&mut rx)).await;
    }
    // A few more rounds: logged once, not at every passing probe.
    drive_until(&mut rt, &fake, Duration::from_millis(2500), |_| false).await;
    // Not a transition: the checker passed from the start.
    assert!(rt.probes.values().all(|p| p.up() && p.transitions() == 0));
    rt.stop(StopMode::Keep).await;
    let log = captured.text();
    assert_eq!(log.matches(&line).count(), 1, "{log}");
    assert!(!log.contains("Adding service"), "{log}");
}

/// A reload that adds a checker identical to a running one: keepalived logs the new
/// checker's first success (once: the running one's passes say nothing), after the new
/// service's quorum line (reply-errors.log, 8810 after "Reloading"); the probe stays shared.
#[tokio::test]
async fn a_checker_joining_a_running_probe_at_a_reload_tells_its_first_success() {
    let (captured, _guard) = Captured::start(tracing::Level::INFO);
    let live = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = live.local_addr().expect("addr").port();
    let fake = Fake::default();
    let a = tcp_vs(1, &[port], "");
    let b = format!("{a}{}", tcp_vs(2, &[port], ""));
    let mut rt = Runtime::start(&config(&a), fake.clone()).expect("start");
    let line = format!("TCP connection to [127.0.0.1]:tcp:{port} success.");
    let (_tx, mut rx) = tokio::sync::mpsc::channel::<Control>(1);
    let told = |n: usize| captured.text().matches(&line).count() >= n;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !told(1) && tokio::time::Instant::now() < deadline {
        let _ = tokio::time::timeout(Duration::from_millis(100), rt.step(&mut rx)).await;
    }
    assert!(told(1), "{}", captured.text());
    let before = captured.text().len();
    rt.reload(&config(&b));
    assert_eq!(rt.probes.len(), 1, "identical checkers share one probe");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !told(2) && tokio::time::Instant::now() < deadline {
        let _ = tokio::time::timeout(Duration::from_millis(100), rt.step(&mut rx)).await;
    }
    // A few more passes: nothing more.
    drive_until(&mut rt, &fake, Duration::from_millis(2500), |_| false).await;
    assert!(fake
        .0
        .lock()
        .map(|s| has_dest(&s.table, vip(2, 80), dest(port)))
        .unwrap_or(false));
    rt.stop(StopMode::Keep).await;
    let log = captured.text().split_off(before);
    assert_in_order(
        &log,
        &[
            "Gained quorum 1+0=1 <= 1 for VS [10.0.0.2]:tcp:80",
            "Activating BFD healthchecker",
            &line,
        ],
    );
    assert_eq!(log.matches(&line).count(), 1, "{log}");
    assert!(!log.contains("Adding service"), "{log}");
    // keepalived's capture: one success line after the reload, for the new checker.
    let theirs = keepalived_lines("reply-errors.log", "Reload complete", "Stopping", &["8810"]);
    assert_eq!(
        theirs.iter().filter(|l| l.ends_with("success.")).count(),
        1,
        "{theirs:?}"
    );
}

/// keepalived 2.2.7's log of scenario `name` of tests/data/join-*.log (see
/// tests/data/join-README.md): the lines after the reload's "Reload complete" and before
/// "Stopping", the port of the shared real server written `PORT`.
fn join_capture(name: &str) -> Vec<String> {
    let path = format!("{}/tests/data/join-{name}.log", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).expect("capture");
    text.lines()
        .skip_while(|l| *l != "Reload complete")
        .skip(1)
        .take_while(|l| !l.starts_with("Stopping"))
        .map(|l| l.replace("8999", "PORT").replace("8998", "PORT"))
        .collect()
}

/// The configuration of the join captures: virtual server 10.0.1.1 with real server
/// 127.0.0.1:`port` (TCP_CHECK, `check` added to its block), and with `joined` a second
/// virtual server, 10.0.1.2, with the same real server and check (`rs_extra` added to the
/// real server's block).
fn join_config(port: u16, check: &str, joined: Option<&str>) -> rka_config::Config {
    let vs = |addr: &str, rs_extra: &str| {
        format!(
            "virtual_server {addr} 80 {{\n delay_loop 3\n lb_algo rr\n protocol TCP\n\
              real_server 127.0.0.1 {port} {{\n  {rs_extra}\n  TCP_CHECK {{\n   \
              connect_timeout 2\n   {check}\n  }}\n }}\n}}\n"
        )
    };
    let mut text = vs("10.0.1.1", "");
    if let Some(extra) = joined {
        text.push_str(&vs("10.0.1.2", extra));
    }
    config(&text)
}

/// The lines logged since byte `from` of `captured`, trimmed, the port `port` written `PORT`.
fn lines_since(captured: &Captured, from: usize, port: u16) -> Vec<String> {
    let text = captured.text().split_off(from);
    text.lines()
        .map(|l| l.trim().replace(&port.to_string(), "PORT"))
        .collect()
}

/// A reload adds a checker identical to one whose real server is down (join-fail.log): as
/// keepalived's new checker, it starts up (its real server enters the new virtual server's
/// table) and its first failure logs the checker's line and takes the server out of that
/// virtual server only; the running checker, down already, says nothing; a recovery then
/// brings the server back to both.
#[tokio::test]
async fn a_checker_joining_a_failing_probe_starts_up_and_fails_as_a_new_checker() {
    let (captured, _guard) = Captured::start(tracing::Level::INFO);
    let (_held, port) = closed_port();
    let fake = Fake::default();
    let mut rt = Runtime::start(&join_config(port, "", None), fake.clone()).expect("start");
    let id = rt.probes.keys().next().expect("one probe");
    rt.handle_event(id, down(refused(port), 0));
    rt.take_queued_events();
    rt.ipvs.sync().await;
    let vs1 = ServiceKey::Addr {
        addr: IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1)),
        protocol: Protocol::Tcp,
        port: 80,
    };
    let vs2 = ServiceKey::Addr {
        addr: IpAddr::V4(Ipv4Addr::new(10, 0, 1, 2)),
        protocol: Protocol::Tcp,
        port: 80,
    };
    let table = |f: &dyn Fn(&rka_ipvs::Table) -> bool| f(&fake.0.lock().expect("lock").table);
    assert!(!table(&|t| has_dest(t, vs1, dest(port))));

    let before = captured.text().len();
    rt.reload(&join_config(port, "", Some("")));
    assert_eq!(rt.probes.keys().collect::<Vec<_>>(), [id], "shared");
    rt.ipvs.sync().await;
    // The new checker starts up: its server is in the new service, not back in the old.
    assert!(table(
        &|t| has_dest(t, vs2, dest(port)) && !has_dest(t, vs1, dest(port))
    ));
    let reloaded = lines_since(&captured, before, port);
    assert!(
        reloaded
            .iter()
            .any(|l| l == "Gained quorum 1+0=1 <= 1 for VS [10.0.1.2]:tcp:80"),
        "{reloaded:?}"
    );
    // The restarted probe's first verdict, after its retry (the pool retries the first
    // failure of a checker a reload creates or joins, as keepalived).
    let before = captured.text().len();
    rt.handle_event(id, down(refused(port), 1));
    rt.take_queued_events();
    rt.ipvs.sync().await;
    assert!(!table(&|t| has_dest(t, vs2, dest(port))));
    let ours = lines_since(&captured, before, port);
    let theirs = join_capture("fail");
    let bfd = theirs
        .iter()
        .position(|l| l == "Activating BFD healthchecker")
        .expect("BFD line");
    let theirs = &theirs[bfd + 1..];
    assert_eq!(
        theirs.first().map(String::as_str),
        Some("TCP_CHECK on service [127.0.0.1]:tcp:PORT failed after 1 retries.")
    );
    assert_eq!(ours, theirs, "ours {ours:?}\ntheirs {theirs:?}");
    // Joined no more: the next failures say nothing, a recovery is told for both.
    let before = captured.text().len();
    rt.handle_event(id, down(refused(port), 0));
    assert!(lines_since(&captured, before, port).is_empty());
    rt.handle_event(id, up());
    rt.take_queued_events();
    rt.ipvs.sync().await;
    assert!(table(
        &|t| has_dest(t, vs1, dest(port)) && has_dest(t, vs2, dest(port))
    ));
    let back = lines_since(&captured, before, port);
    for vs in ["10.0.1.1", "10.0.1.2"] {
        let line = format!("Adding service [127.0.0.1]:tcp:PORT to VS [{vs}]:tcp:80");
        assert!(back.contains(&line), "{line:?} not in {back:?}");
    }
    rt.stop(StopMode::Keep).await;
}

/// The same reload with `alpha` on the new real server (join-fail-alpha.log,
/// join-fail-alpha-retry0.log): a checker of its own (its parameters differ), which starts
/// down; and with `alpha` on both (join-fail-alpha-both-retry*.log), a joined checker that
/// starts down, the running one silent. keepalived retries the new checker's first failure:
/// with `retry 1` its verdict is announced (notify_down) but not logged; with `retry 0` it
/// comes from the first probe and its down line is logged. The restarted or new probe
/// reports what the pool gives a checker a reload creates: a verdict after its retries, or
/// from its first probe with `retry 0` (`first_down`).
#[tokio::test]
async fn an_alpha_checker_added_beside_a_failing_one_starts_down_and_logs_as_keepalived() {
    let (captured, _guard) = Captured::start(tracing::Level::INFO);
    let (_held, port) = closed_port();
    // The TCP_CHECK default `retry` is 1.
    for (capture, check, rs_extra, retry) in [
        ("fail-alpha", "", "alpha", 1),
        ("fail-alpha-retry0", "retry 0", "alpha", 0),
        ("fail-alpha-both-retry1", "alpha\n   retry 1", "", 1),
        ("fail-alpha-both-retry0", "alpha\n   retry 0", "", 0),
    ] {
        let after_bfd = |lines: Vec<String>| {
            let bfd = lines
                .iter()
                .position(|l| l == "Activating BFD healthchecker")
                .expect("BFD line");
            lines[bfd + 1..].to_vec()
        };
        let theirs = after_bfd(join_capture(capture));
        let fake = Fake::default();
        let a = join_config(port, check, None);
        let mut rt = Runtime::start(&a, fake.clone()).expect("start");
        let first = rt.probes.keys().next().expect("one probe");
        rt.handle_event(first, first_down(refused(port), 0));
        rt.take_queued_events();
        let before = captured.text().len();
        rt.reload(&join_config(port, check, Some(rs_extra)));
        for id in rt.probes.keys().collect::<Vec<_>>() {
            // The running probe (first) was down already: only a new or restarted one
            // reports a verdict.
            if id != first || rs_extra.is_empty() {
                let verdict = match retry {
                    0 => first_down(refused(port), 0),
                    _ => down(refused(port), retry),
                };
                rt.handle_event(id, verdict);
            }
        }
        rt.take_queued_events();
        rt.ipvs.sync().await;
        let ours = after_bfd(lines_since(&captured, before, port));
        assert_eq!(ours, theirs, "{capture}");
        let table = fake.0.lock().expect("lock").table.clone();
        assert!(
            table.services.values().all(|v| v.dests.is_empty()),
            "{capture}: {table:?}"
        );
        rt.stop(StopMode::Keep).await;
    }
}

/// The joined checker of a failing probe with the real pool: the server enters the new
/// virtual server at the reload and leaves it after the restarted probe's first attempt;
/// the old virtual server never gets it back meanwhile.
#[tokio::test]
async fn a_checker_joining_a_failing_probe_leaves_the_table_after_its_first_attempt() {
    let (captured, _guard) = Captured::start(tracing::Level::INFO);
    let (_held, port) = closed_port();
    let a = tcp_vs(1, &[port], "");
    let b = format!("{a}{}", tcp_vs(2, &[port], ""));
    let fake = Fake::default();
    let mut rt = Runtime::start(&config(&a), fake.clone()).expect("start");
    assert!(
        drive_until(&mut rt, &fake, Duration::from_secs(10), |t| !has_dest(
            t,
            vip(1, 80),
            dest(port)
        ))
        .await
    );
    let sent = fake.0.lock().map(|s| s.log.len()).expect("lock");
    let before = captured.text().len();
    rt.reload(&config(&b));
    rt.ipvs.sync().await;
    assert!(fake
        .0
        .lock()
        .map(|s| has_dest(&s.table, vip(2, 80), dest(port)))
        .unwrap_or(false));
    assert!(
        drive_until(&mut rt, &fake, Duration::from_secs(10), |t| !has_dest(
            t,
            vip(2, 80),
            dest(port)
        ))
        .await,
        "the joined checker never failed"
    );
    // A few more probes: nothing more.
    drive_until(&mut rt, &fake, Duration::from_millis(2500), |_| false).await;
    let added: Vec<ServiceKey> = fake
        .0
        .lock()
        .map(|s| {
            s.log[sent..]
                .iter()
                .filter_map(|r| match r {
                    Request::AddDest(k, _) => Some(*k),
                    _ => None,
                })
                .collect()
        })
        .expect("lock");
    assert_eq!(added, [vip(2, 80)]);
    rt.stop(StopMode::Keep).await;
    let log = lines_since(&captured, before, port);
    let failed = "TCP_CHECK on service [127.0.0.1]:tcp:PORT failed.";
    assert_eq!(log.iter().filter(|l| *l == failed).count(), 1, "{log:?}");
    assert_in_order(
        &log.join("\n"),
        &[
            "Gained quorum 1+0=1 <= 1 for VS [10.0.0.2]:tcp:80",
            "Activating BFD healthchecker",
            failed,
            "Removing service [127.0.0.1]:tcp:PORT from VS [10.0.0.2]:tcp:80",
            "Lost quorum 1-0=1 > 0 for VS [10.0.0.2]:tcp:80",
        ],
    );
    assert!(!log.iter().any(|l| l.contains("10.0.0.1]:tcp:80")
        && !l.starts_with("Activating")
        && !l.starts_with("Shutting")));
}

/// What a reload changes, logged as keepalived 2.2.7 logs it (reload.log, and
/// tests/data/keepalived-reload-weights): the dropped real servers first ("no longer exist", "Removing" only for one in the
/// table), then per virtual server the weight changes and the quorum line.
#[tokio::test]
async fn a_reload_logs_dropped_servers_weights_and_quorum_changes() {
    let (_held, dead) = closed_port();
    let a = format!(
        "virtual_server 10.0.0.1 80 {{\n protocol TCP\n\
          real_server 127.0.0.1 81 {{\n  weight 2\n }}\n\
          real_server 127.0.0.1 82 {{\n }}\n\
          real_server 127.0.0.1 {dead} {{\n  TCP_CHECK {{\n   alpha\n  }}\n }}\n}}\n\
         virtual_server 10.0.0.2 80 {{\n protocol TCP\n quorum 2\n\
          real_server 127.0.0.1 81 {{\n }}\n\
          real_server 127.0.0.1 82 {{\n }}\n}}\n"
    );
    let b = format!(
        "virtual_server 10.0.0.1 80 {{\n protocol TCP\n\
          real_server 127.0.0.1 81 {{\n  weight 5\n }}\n}}\n\
         virtual_server 10.0.0.2 80 {{\n protocol TCP\n quorum 2\n\
          real_server 127.0.0.1 81 {{\n  TCP_CHECK {{\n   alpha\n   delay_loop 3600\n  }}\n }}\n\
          real_server 127.0.0.1 82 {{\n }}\n}}\n\
         virtual_server 10.0.0.3 80 {{\n protocol TCP\n\
          real_server 127.0.0.1 82 {{\n }}\n}}\n\
         virtual_server 10.0.0.4 80 {{\n protocol TCP\n\
          real_server 127.0.0.1 {dead} {{\n  TCP_CHECK {{\n   alpha\n  }}\n }}\n}}\n"
    );
    let (captured, _guard) = Captured::start(tracing::Level::INFO);
    let fake = Fake::default();
    let mut rt = Runtime::start(&config(&a), fake.clone()).expect("start");
    rt.ipvs.sync().await;
    let before = captured.text().len();
    rt.reload(&config(&b));
    rt.ipvs.sync().await;
    let log = captured.text().split_off(before);
    assert_in_order(
        &log,
        &[
            "service [127.0.0.1]:tcp:82 no longer exist",
            "Removing service [127.0.0.1]:tcp:82 from VS [10.0.0.1]:tcp:80",
            &format!("service [127.0.0.1]:tcp:{dead} no longer exist"),
            "Changing weight from 2 to 5 for active service [127.0.0.1]:tcp:81 of VS \
             [10.0.0.1]:tcp:80",
            "Starting with quorum down 2-0=2 > 1 for VS [10.0.0.2]:tcp:80",
            "Gained quorum 1+0=1 <= 1 for VS [10.0.0.3]:tcp:80",
            "checker configuration reloaded",
            "Activating BFD healthchecker",
        ],
    );
    // The dead server was not in the table: nothing removed; the new service that starts
    // down says nothing, as at start.
    assert!(
        !log.contains(&format!("Removing service [127.0.0.1]:tcp:{dead}")),
        "{log}"
    );
    assert!(
        !log.lines()
            .any(|l| l.contains("quorum") && l.contains("10.0.0.4")),
        "{log}"
    );
    // Services whose quorum did not change say nothing.
    assert!(
        !log.lines()
            .any(|l| l.contains("quorum") && l.contains("10.0.0.1")),
        "{log}"
    );
    rt.stop(StopMode::Keep).await;
}

/// The lines keepalived 2.2.7 logged in capture `name` (tests/data/keepalived-checker-logs)
/// after the line `after` and before the first line starting with `until`, keeping those
/// that contain one of `needles` (all when empty).
fn keepalived_lines(name: &str, after: &str, until: &str, needles: &[&str]) -> Vec<String> {
    let path = format!(
        "{}/tests/data/keepalived-checker-logs/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).expect("capture");
    text.lines()
        .skip_while(|l| *l != after)
        .skip(1)
        .take_while(|l| !l.starts_with(until))
        .filter(|l| needles.is_empty() || needles.iter().any(|n| l.contains(n)))
        .map(str::to_string)
        .collect()
}

/// Starts the runtime on `text` (one probe, which is never run: the test hands its events
/// over), hands `events` to that probe and returns the lines logged meanwhile.
async fn lines_for_events(text: &str, events: Vec<rka_check::CheckerEvent>) -> Vec<String> {
    lines_for_events_at(tracing::Level::INFO, text, events).await
}

/// [`lines_for_events`], logging up to `level`.
async fn lines_for_events_at(
    level: tracing::Level,
    text: &str,
    events: Vec<rka_check::CheckerEvent>,
) -> Vec<String> {
    let (captured, _guard) = Captured::start(level);
    let fake = Fake::default();
    let mut rt = Runtime::start(&config(text), fake.clone()).expect("start");
    rt.ipvs.sync().await;
    assert_eq!(rt.probes.len(), 1);
    let id = rt.probes.keys().next().expect("one probe");
    let before = captured.text().len();
    for ev in events {
        rt.handle_event(id, ev);
    }
    let log = captured.text().split_off(before);
    rt.stop(StopMode::Keep).await;
    log.lines().map(|l| l.trim().to_string()).collect()
}

/// A probe failure as a refused TCP connection to 127.0.0.1:`port`.
fn refused(port: u16) -> rka_check::Failure {
    let target = SocketAddr::from(([127, 0, 0, 1], port));
    rka_check::Failure::connect(target, &std::io::Error::from_raw_os_error(111))
}

/// The failing verdict of a checker that had run before (not its first probe).
fn down(failure: rka_check::Failure, retries: u32) -> rka_check::CheckerEvent {
    rka_check::CheckerEvent::Down {
        reason: rka_check::DownReason {
            failure,
            retries,
            first_probe: false,
        },
    }
}

/// The failing verdict of a checker's very first probe.
fn first_down(failure: rka_check::Failure, retries: u32) -> rka_check::CheckerEvent {
    rka_check::CheckerEvent::Down {
        reason: rka_check::DownReason {
            failure,
            retries,
            first_probe: true,
        },
    }
}

fn up() -> rka_check::CheckerEvent {
    rka_check::CheckerEvent::Up {
        reason: "check succeeded".into(),
    }
}

/// `log_all_failures` logs the detail of every failed probe while the checker is up, the
/// last one included: with `retry 1` two detail lines, then the down line
/// (tcp-log-all-failures.log, line for line).
#[tokio::test]
async fn log_all_failures_tells_each_failed_probe_the_last_one_included() {
    let text = "virtual_server 10.0.1.2 80 {\n protocol TCP\n\
                real_server 127.0.0.1 8402 {\n  TCP_CHECK {\n   retry 1\n\
                   delay_before_retry 1\n   log_all_failures\n  }\n }\n}\n";
    let retrying = rka_check::CheckerEvent::Retrying {
        reason: refused(8402),
        attempt: 1,
        retry: 1,
    };
    let ours = lines_for_events(text, vec![up(), retrying, down(refused(8402), 1), up()]).await;
    let theirs = keepalived_lines(
        "tcp-log-all-failures.log",
        "Activating healthchecker for service [127.0.0.1]:tcp:8402 for VS [10.0.1.2]:tcp:80",
        "Virtual server",
        &[],
    );
    assert_eq!(ours, theirs);
}

/// The kinds of tests/data/alpha-first.log, in its order (the port of a case is
/// 9000 + 20 x kind + 10 x (added at the reload) + 2 x `log_all_failures` + `retry`): name,
/// virtual server protocol, real server address, checker block (without its options).
const ALPHA_KINDS: [(&str, &str, &str, &str); 11] = [
    (
        "tcp",
        "TCP",
        "127.0.0.1",
        "TCP_CHECK {\n  connect_timeout 1\n",
    ),
    (
        "http-closed",
        "TCP",
        "127.0.0.1",
        "HTTP_GET {\n  url { path / }\n  connect_timeout 1\n",
    ),
    (
        "http-500",
        "TCP",
        "127.0.0.1",
        "HTTP_GET {\n  url { path / }\n  connect_timeout 1\n",
    ),
    (
        "ssl-closed",
        "TCP",
        "127.0.0.1",
        "SSL_GET {\n  url { path / }\n  connect_timeout 1\n",
    ),
    (
        "ssl-500",
        "TCP",
        "127.0.0.1",
        "SSL_GET {\n  url { path / }\n  connect_timeout 1\n",
    ),
    (
        "udp-noreply",
        "UDP",
        "127.0.0.1",
        "UDP_CHECK {\n  payload 41\n  require_reply 41\n  connect_timeout 1\n",
    ),
    (
        "udp-unreach",
        "UDP",
        "127.0.0.1",
        "UDP_CHECK {\n  connect_timeout 1\n",
    ),
    (
        "ping",
        "TCP",
        "10.99.0.5",
        "PING_CHECK {\n  connect_timeout 1\n",
    ),
    (
        "dns",
        "UDP",
        "127.0.0.1",
        "DNS_CHECK {\n  connect_timeout 1\n",
    ),
    (
        "smtp",
        "TCP",
        "127.0.0.1",
        "SMTP_CHECK {\n  connect_timeout 1\n",
    ),
    (
        "misc",
        "TCP",
        "127.0.0.1",
        "MISC_CHECK {\n  misc_path /bin/false\n",
    ),
];

/// One case of alpha-first.log: kind `kind` (index in [`ALPHA_KINDS`]), added at the reload
/// or not, `retry`, `log_all_failures`.
#[derive(Debug, Clone, Copy)]
struct AlphaCase {
    kind: usize,
    reload: bool,
    retry: u32,
    log_all_failures: bool,
}

impl AlphaCase {
    /// Every case of the capture.
    fn all() -> impl Iterator<Item = AlphaCase> {
        (0..ALPHA_KINDS.len()).flat_map(|kind| {
            [false, true].into_iter().flat_map(move |reload| {
                (0..4).map(move |v| AlphaCase {
                    kind,
                    reload,
                    retry: v & 1,
                    log_all_failures: v >> 1 == 1,
                })
            })
        })
    }

    fn variant(&self) -> u32 {
        2 * u32::from(self.log_all_failures) + self.retry
    }

    fn port(&self) -> u16 {
        let port = 9000 + 20 * self.kind as u32 + 10 * u32::from(self.reload) + self.variant();
        u16::try_from(port).expect("port")
    }

    /// Its virtual server, as alpha-first-gen.py writes it.
    fn config(&self) -> String {
        let (_, proto, addr, body) = ALPHA_KINDS[self.kind];
        let vport = if proto == "UDP" { 53 } else { 80 };
        let laf = if self.log_all_failures {
            "  log_all_failures\n"
        } else {
            ""
        };
        format!(
            "virtual_server 10.{}.{}.{} {vport} {{\n delay_loop 3\n lb_algo rr\n protocol {proto}\n \
             real_server {addr} {} {{\n  alpha\n  {body}  retry {}\n  delay_before_retry 1\n{laf}  \
             }}\n }}\n}}\n",
            1 + u32::from(self.reload),
            self.kind,
            self.variant() + 1,
            self.port(),
            self.retry,
        )
    }

    /// The failure its probe reports, as our probes word what the capture's servers do.
    fn failure(&self) -> rka_check::Failure {
        use rka_check::outcome::{HttpError, Reason};
        let target = SocketAddr::from(([127, 0, 0, 1], self.port()));
        match ALPHA_KINDS[self.kind].0 {
            "http-500" | "ssl-500" => rka_check::Failure::http("/", HttpError::Status(500)),
            "udp-noreply" => Reason::NoReply {
                after: Duration::from_secs(1),
            }
            .into(),
            "ping" => Reason::TimedOut {
                kind: rka_check::CheckKind::Ping,
                after: Duration::from_secs(1),
            }
            .into(),
            "misc" => Reason::MiscExit { status: 1 }.into(),
            _ => refused(target.port()),
        }
    }
}

/// Whether `line` names port `port` (`:PORT` not followed by a digit).
fn names_port(line: &str, port: u16) -> bool {
    let needle = format!(":{port}");
    line.match_indices(&needle).any(|(i, _)| {
        !line[i + needle.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

/// Whether `line` is one of a checker's own lines (not the configuration's, nor the
/// activating and shutting-down lines every checker has).
fn checker_line(line: &str) -> bool {
    !["Activating", "Shutting down", "Virtual server"]
        .iter()
        .any(|p| line.starts_with(p))
}

/// keepalived 2.2.7's lines about the real server of `case` in alpha-first.log (see
/// tests/data/alpha-first-README.md): its checker's own lines before the reload, or after it
/// for a case the reload added.
fn alpha_first_capture(case: &AlphaCase) -> Vec<String> {
    let path = format!("{}/tests/data/alpha-first.log", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).expect("capture");
    let mut phase = text.split("==== RELOAD\n");
    let start = phase.next().expect("start");
    let reload = phase.next().expect("reload");
    let lines = if case.reload { reload } else { start };
    lines
        .lines()
        .take_while(|l| *l != "==== STOP")
        .filter(|l| names_port(l, case.port()) && checker_line(l))
        .map(str::to_string)
        .collect()
}

/// Our lines for `case`: its checker started with the runtime or added by a reload, its
/// events those of the pool's state for it (`retry_first`: made to retry its first probe, as
/// keepalived does for a checker a reload creates) over three failing probes.
async fn alpha_first_lines(case: &AlphaCase, retry_first: bool) -> Vec<String> {
    let text = case.config();
    let (captured, _guard) = Captured::start(tracing::Level::INFO);
    let fake = Fake::default();
    let mut rt = if case.reload {
        let other =
            "virtual_server 10.9.9.9 80 {\n protocol TCP\n real_server 127.0.0.1 1 {\n }\n}\n";
        let mut rt = Runtime::start(&config(other), fake.clone()).expect("start");
        rt.reload(&config(&format!("{other}{text}")));
        rt
    } else {
        Runtime::start(&config(&text), fake.clone()).expect("start")
    };
    rt.ipvs.sync().await;
    let id = rt.probes.keys().next().expect("one probe");
    let plan = Plan::from_config(&config(&text));
    let pp = plan.probes.first().expect("one probe");
    let probe = pp.probe.clone().expect("probe");
    let t0 = std::time::Instant::now();
    let mut st =
        rka_check::CheckerState::for_probe(&probe, pp.schedule.clone(), t0, Duration::ZERO);
    // As the runtime's pool does (`CheckerPool::start_checkers_down`).
    st.start_down();
    if retry_first {
        st.retry_first_probe();
    }
    for _ in 0..3 {
        let now = st.poll_timeout().expect("idle");
        assert!(st.handle_timeout(now));
        st.handle_result(now, Err(case.failure()));
        while let Some(ev) = st.poll_event() {
            rt.handle_event(id, ev);
        }
    }
    rt.take_queued_events();
    rt.stop(StopMode::Keep).await;
    let port = case.port();
    captured
        .text()
        .lines()
        .map(str::trim)
        .filter(|l| names_port(l, port) && checker_line(l))
        .map(str::to_string)
        .collect()
}

/// An `alpha` checker whose first probe fails, every kind, at start and added at a reload,
/// `retry` 0 and 1, with and without `log_all_failures`: our lines are keepalived's, line
/// for line (alpha-first.log; e.g. a TCP_CHECK's down line at start, which the checker
/// starting down does not silence, nothing from an HTTP_GET but its detail under
/// `log_all_failures`, nothing from a TCP_CHECK added at a reload with `retry 1`). At a
/// reload, keepalived's new checker retries its first failure, as the pool makes the
/// checkers a reload creates (`CheckerPool::retry_first_probes`, `retry_first_probe`).
#[tokio::test]
async fn an_alpha_checker_failing_first_is_told_as_keepalived_for_every_kind() {
    let mut seen = 0;
    for case in AlphaCase::all() {
        let theirs = alpha_first_capture(&case);
        let ours = alpha_first_lines(&case, case.reload).await;
        assert_eq!(ours, theirs, "{case:?} port {}", case.port());
        seen += theirs.len();
    }
    // The capture's lines were all compared (not an empty match of empty captures).
    assert!(seen > 50, "{seen}");
}

/// The same down line for a TCP_CHECK made by hand: an `alpha` checker's first failing
/// verdict from its first probe logs the checker's line at start (full-debug.log, 8509),
/// and nothing more under `log_all_failures`; a verdict after retries (a checker a reload
/// created) nothing.
#[tokio::test]
async fn an_alpha_tcp_check_failing_its_first_probe_logs_its_down_line() {
    let failed = "TCP_CHECK on service [127.0.0.1]:tcp:8509 failed.";
    let theirs: Vec<String> =
        keepalived_lines("full-debug.log", "Startup complete", "Reloading", &["8509"])
            .into_iter()
            .filter(|l| checker_line(l))
            .collect();
    assert_eq!(theirs, [failed]);
    for laf in ["", "log_all_failures"] {
        let text = format!(
            "virtual_server 10.0.1.26 80 {{\n protocol TCP\n\
             real_server 127.0.0.1 8509 {{\n  TCP_CHECK {{\n   alpha\n   {laf}\n  }}\n }}\n}}\n"
        );
        let ours = lines_for_events(&text, vec![first_down(refused(8509), 0)]).await;
        assert_eq!(ours, [failed], "{laf}");
        let ours = lines_for_events(&text, vec![down(refused(8509), 1)]).await;
        assert!(ours.is_empty(), "{laf}: {ours:?}");
    }
}

/// MISC_CHECK's retries under `log_all_failures` (alpha-first-misc-retries.log, 9405 and
/// 9406: `retry 3`, the program exiting 1 or outliving `misc_timeout`), line for line (the
/// capture ran alpha-first-misc-retries.sh as /tmp/alpha/t3/ok1.sh).
#[tokio::test]
async fn misc_retries_are_told_as_keepalived() {
    use rka_check::outcome::Reason;
    for (n, port, mode, failure) in [
        (
            6,
            9405u16,
            "exit",
            rka_check::Failure::from(Reason::MiscExit { status: 1 }),
        ),
        (
            7,
            9406,
            "sleep",
            Reason::MiscTimeout {
                program: "/tmp/alpha/t3/ok1.sh".into(),
                after: Duration::from_secs(1),
            }
            .into(),
        ),
    ] {
        let text = format!(
            "virtual_server 10.3.0.{n} 80 {{\n delay_loop 3\n lb_algo rr\n protocol TCP\n \
             real_server 127.0.0.1 {port} {{\n  MISC_CHECK {{\n   misc_path \"/tmp/alpha/t3/\
             ok1.sh {port} {mode}\"\n   misc_timeout 1\n   retry 3\n   \
             delay_before_retry 1\n   log_all_failures\n  }}\n }}\n}}\n"
        );
        let retrying = |attempt| rka_check::CheckerEvent::Retrying {
            reason: failure.clone(),
            attempt,
            retry: 3,
        };
        let events = vec![
            up(),
            retrying(1),
            retrying(2),
            retrying(3),
            down(failure.clone(), 3),
        ];
        let ours: Vec<String> = lines_for_events(&text, events)
            .await
            .into_iter()
            .filter(|l| names_port(l, port) && l.starts_with("Misc check"))
            .collect();
        let path = format!(
            "{}/tests/data/alpha-first-misc-retries.log",
            env!("CARGO_MANIFEST_DIR")
        );
        let capture = std::fs::read_to_string(path).expect("capture");
        let theirs: Vec<String> = capture
            .lines()
            .filter(|l| names_port(l, port) && l.starts_with("Misc check"))
            .map(str::to_string)
            .collect();
        assert_eq!(ours, theirs, "{mode}");
    }
}

/// HTTP_GET as keepalived 2.2.7 logs it in http-recovery2.log (8604: `alpha`, `retry 1`,
/// `log_all_failures`, its first probe failing, then up after the url passed twice) and in
/// http-recovery.log (8609: down, then a url line per pass while down; 8608: two detail lines
/// with `retry 1`), line for line.
#[tokio::test]
async fn http_failures_and_url_successes_are_told_as_keepalived() {
    use rka_check::outcome::HttpError;
    let status = || rka_check::Failure::http("/", HttpError::Status(500));
    let url = || rka_check::CheckerEvent::UrlPassed {
        url: 0,
        length_mismatch: None,
    };
    let vs = |vip: &str, port: u16, opts: &str| {
        format!(
            "virtual_server {vip} 80 {{\n protocol TCP\n delay_loop 2\n\
             real_server 127.0.0.1 {port} {{\n  {opts}\n  HTTP_GET {{\n   url {{\n    path /\n   }}\n\
             connect_timeout 2\n   retry {retry}\n   delay_before_retry 1\n   {log}\n  }}\n }}\n}}\n",
            retry = if opts.contains("retry1") { 1 } else { 0 },
            log = if opts.contains("log") { "log_all_failures" } else { "" },
            opts = if opts.contains("alpha") { "alpha" } else { "" },
        )
    };
    let retrying = rka_check::CheckerEvent::Retrying {
        reason: status(),
        attempt: 1,
        retry: 1,
    };
    for (vip, port, opts, events, log) in [
        (
            "10.0.3.4",
            8604,
            "alpha retry1 log",
            vec![down(status(), 1), url(), url(), up()],
            "http-recovery2.log",
        ),
        (
            "10.0.2.9",
            8609,
            "",
            vec![up(), down(status(), 0), url(), url(), up()],
            "http-recovery.log",
        ),
        (
            "10.0.2.8",
            8608,
            "retry1 log",
            vec![up(), retrying, down(status(), 1), url(), url(), up()],
            "http-recovery.log",
        ),
    ] {
        let ours = lines_for_events(&vs(vip, port, opts), events).await;
        let port_text = port.to_string();
        let needles = [port_text.as_str(), vip];
        let theirs = keepalived_lines(log, "Activating BFD healthchecker", "Stopping", &needles);
        assert_eq!(ours, theirs, "{log}, {vip} port {port}");
    }
}

/// A body shorter than its Content-Length: keepalived (under -D) tells it once, before the
/// checker's first success, without the url's own success line (http-misbehaving.log, 8702);
/// after a failure, before the url's success line.
#[tokio::test]
async fn a_short_body_is_told_before_the_success_line() {
    use rka_check::outcome::{HttpError, LengthMismatch};
    let text = "virtual_server 10.0.4.2 80 {\n protocol TCP\n delay_loop 3\n\
                real_server 127.0.0.1 8702 {\n  HTTP_GET {\n   url {\n    path /\n\
                    digest 5d41402abc4b2a76b9719d911017c592\n   }\n   connect_timeout 2\n\
                   retry 0\n   log_all_failures\n  }\n }\n}\n";
    let passed = || rka_check::CheckerEvent::UrlPassed {
        url: 0,
        length_mismatch: Some(LengthMismatch {
            content_length: 100,
            received: 5,
        }),
    };
    // Only keepalived's lines (ours, at debug, name the probe otherwise).
    let theirs_only = |lines: Vec<String>| -> Vec<String> {
        let kinds = [
            "http_check for RS",
            "Remote Web server",
            "MD5 digest",
            "HTTP_CHECK on",
        ];
        lines
            .into_iter()
            .filter(|l| kinds.iter().any(|k| l.starts_with(k)))
            .collect()
    };
    let ours = lines_for_events_at(tracing::Level::DEBUG, text, vec![passed(), up()]).await;
    let theirs = keepalived_lines(
        "http-misbehaving.log",
        "Activating BFD healthchecker",
        "Stopping",
        &["8702"],
    );
    assert_eq!(theirs_only(ours), theirs);
    // Not at info (keepalived without -D does not say it).
    let ours = lines_for_events(text, vec![passed(), up()]).await;
    assert_eq!(theirs_only(ours), theirs[1..]);
    // Down, then a pass: the length, then the url's line, then the checker's.
    let failed = rka_check::Failure::http("/", HttpError::Status(500));
    let ours = lines_for_events_at(
        tracing::Level::DEBUG,
        text,
        vec![up(), down(failed, 0), passed(), up()],
    )
    .await;
    assert_eq!(
        theirs_only(ours),
        [
            theirs[1].as_str(),
            "HTTP_CHECK on service [127.0.0.1]:tcp:8702 failed.",
            theirs[0].as_str(),
            "MD5 digest success to [127.0.0.1]:tcp:8702 url(/)",
            theirs[1].as_str(),
        ]
    );
}

/// What the runtime logs, captured for one test (a subscriber of this thread only).
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Captures what this thread logs from now on, until the guard is dropped.
    fn start(level: tracing::Level) -> (Captured, tracing::subscriber::DefaultGuard) {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .without_time()
            .with_target(false)
            .with_level(false)
            .finish();
        (captured, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        self.0
            .lock()
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_default()
    }
}
