//! `smtp_alert` against a real SMTP server, compared with keepalived 2.2.7.
//!
//! The server is a recording SMTP sink run by this test (a thread per connection; it keeps
//! every command and every DATA line of each complete mail). Each scenario runs the same
//! configuration under Debian's keepalived and under rkeepalived, one after the other, and
//! checks that both send the same mails: the same command sequence (`HELO host`,
//! `MAIL FROM:<root@host>`, one `RCPT TO` per `notification_email`, `DATA`, `QUIT`), the
//! same headers in the same order (`Date` compared by form only), the same subjects and
//! bodies, and that these are the ones documented in `src/smtp.rs` and the notify modules.
//!
//! - `vrrp_transition_mails_match_keepalived`: a network namespace (root) with a veth pair;
//!   one instance in a sync group starts BACKUP and becomes MASTER: four mails.
//! - `checker_failure_mails_match_keepalived`: the checker child needs IPVS, which this host
//!   lacks, so the test re-runs itself inside the rka-vmtest VM (Debian's kernel); a TCP
//!   real server is closed: the start-up quorum mail, then real server DOWN and quorum lost.
//!   The guest's host name does not resolve, where keepalived sends `[unknown]`,
//!   `HELO localhost` and `MAIL FROM:<(null)>`: this scenario sets the three names.
//!
//! Without root/namespaces, keepalived or the VM, the tests say why and pass, unless
//! `CI=true`.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{start_daemon, terminate, RKEEPALIVED};

/// One complete mail as the sink received it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Mail {
    /// The commands before DATA's content, and the reply to the message (`QUIT` when sent).
    commands: Vec<String>,
    /// The lines after DATA, CRLF removed, terminator excluded.
    data: Vec<String>,
}

impl Mail {
    fn headers(&self) -> Vec<(String, String)> {
        self.data
            .iter()
            .take_while(|l| !l.is_empty())
            .filter_map(|l| l.split_once(": "))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn header(&self, name: &str) -> String {
        self.headers()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
            .unwrap_or_default()
    }

    fn body(&self) -> Vec<String> {
        self.data
            .iter()
            .skip_while(|l| !l.is_empty())
            .skip(1)
            .cloned()
            .collect()
    }

    /// The mail without what legitimately differs between two runs: the Date value (checked
    /// for its form instead).
    fn normalised(&self) -> Mail {
        let data = self
            .data
            .iter()
            .map(|l| match l.strip_prefix("Date: ") {
                Some(d) => format!("Date: <{}>", date_form_ok(d)),
                None => l.clone(),
            })
            .collect();
        Mail {
            commands: self.commands.clone(),
            data,
        }
    }
}

/// `Sun, 22 Nov 2026 08:31:03 +0000`: weekday, day, month, year, time, numeric zone.
fn date_form_ok(d: &str) -> bool {
    let w: Vec<&str> = d.split(' ').collect();
    w.len() == 6
        && w[0].len() == 4
        && w[0].ends_with(',')
        && w[1].len() == 2
        && w[1].bytes().all(|b| b.is_ascii_digit())
        && w[2].len() == 3
        && w[3].len() == 4
        && w[4].len() == 8
        && w[4].split(':').count() == 3
        && (w[5].starts_with('+') || w[5].starts_with('-'))
        && w[5].len() == 5
}

/// The recording SMTP server.
struct Sink {
    port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
    stop: Arc<AtomicBool>,
}

impl Sink {
    /// Listens on 127.0.0.1 of namespace `ns` (the test's own when `None`).
    fn start(ns: Option<&str>) -> Sink {
        let ns = ns.map(str::to_owned);
        // setns applies to the calling thread only: bind from a throw-away thread; the
        // socket stays in the namespace it was made in.
        let listener = thread::spawn(move || {
            if let Some(ns) = ns {
                rka_sys::netns::enter_named(&ns).expect("enter namespace");
            }
            TcpListener::bind("127.0.0.1:0").expect("bind sink")
        })
        .join()
        .expect("bind thread");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, s) = (mails.clone(), stop.clone());
        thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let m = m.clone();
                        thread::spawn(move || serve(conn, &m));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Sink { port, mails, stop }
    }

    fn take(&self) -> Vec<Mail> {
        std::mem::take(&mut *self.mails.lock().expect("mails"))
    }

    /// Waits until `n` mails arrived (at most `limit`), then returns how many there are.
    fn wait_for(&self, n: usize, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        loop {
            let have = self.mails.lock().expect("mails").len();
            if have >= n || Instant::now() > deadline {
                return have;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One SMTP conversation; a mail is kept once its terminating `.` arrived.
fn serve(conn: TcpStream, mails: &Mutex<Vec<Mail>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(20)));
    let Ok(mut w) = conn.try_clone() else {
        return;
    };
    let mut r = BufReader::new(conn);
    if w.write_all(b"220 sink ESMTP\r\n").is_err() {
        return;
    }
    let mut mail = Mail::default();
    let mut in_data = false;
    let mut done: Option<usize> = None;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let l = line.trim_end_matches(['\r', '\n']).to_owned();
        if in_data {
            if l == "." {
                in_data = false;
                let mut m = mails.lock().expect("mails");
                m.push(mail.clone());
                done = Some(m.len() - 1);
                let _ = w.write_all(b"250 queued\r\n");
            } else {
                mail.data.push(l);
            }
            continue;
        }
        let verb = l.get(..4).unwrap_or("").to_ascii_uppercase();
        mail.commands.push(l);
        if let Some(i) = done {
            // Commands after the message (QUIT) are recorded on the stored mail.
            if let Some(m) = mails.lock().expect("mails").get_mut(i) {
                m.commands = mail.commands.clone();
            }
        }
        let reply: &[u8] = match verb.as_str() {
            "DATA" => {
                in_data = true;
                b"354 go ahead\r\n"
            }
            "QUIT" => {
                let _ = w.write_all(b"221 bye\r\n");
                return;
            }
            _ => b"250 OK\r\n",
        };
        if w.write_all(reply).is_err() {
            return;
        }
    }
}

/// Subject -> normalised mail; subjects are unique in every scenario, and the order in which
/// mails arrive is not part of the contract (keepalived sends them concurrently).
fn by_subject(mails: &[Mail]) -> BTreeMap<String, Mail> {
    mails
        .iter()
        .map(|m| (m.header("Subject"), m.normalised()))
        .collect()
}

/// The name keepalived defaults the router id, HELO name and sender domain to: the canonical
/// name the host name has in /etc/hosts (the namespaces here share the host's).
fn host_name() -> String {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .expect("host name");
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    hosts
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>())
        .find(|names| names.iter().any(|n| n.eq_ignore_ascii_case(&host)))
        .and_then(|names| names.first().map(|n| n.to_string()))
        .unwrap_or(host)
}

/// Checks the shape every (normalised) alert has: commands, header order, recipients, sender.
fn check_shape(who: &str, m: &Mail, to: &[&str], helo: &str, from: &str) {
    let mut want = vec![format!("HELO {helo}"), format!("MAIL FROM:<{from}>")];
    want.extend(to.iter().map(|t| format!("RCPT TO:<{t}>")));
    want.push("DATA".into());
    want.push("QUIT".into());
    assert_eq!(m.commands, want, "{who}: commands");
    let names: Vec<String> = m.headers().into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        names,
        ["Date", "From", "Subject", "X-Mailer", "To"],
        "{who}: headers"
    );
    // `m` is normalised: the Date value became whether its form is right.
    assert_eq!(m.header("Date"), "<true>", "{who}: Date form");
    assert_eq!(m.header("From"), from, "{who}: From");
    assert_eq!(m.header("X-Mailer"), "Keepalived", "{who}: X-Mailer");
    assert_eq!(m.header("To"), to.join(", "), "{who}: To");
    assert_eq!(
        m.body().last().map(String::as_str),
        Some(""),
        "{who}: body end"
    );
}

/// Starts `program` with `dir/keepalived.conf` (extra arguments select the children); its
/// pidfiles and log are `dir/<tag>.*`.
fn start(ns: Option<&str>, program: &str, dir: &Path, tag: &str, args: &[&str]) -> Child {
    let mut all = vec!["-n", "-l", "-D"];
    all.extend_from_slice(args);
    start_daemon(
        ns,
        program,
        &all,
        &dir.join("keepalived.conf"),
        &dir.join(tag),
    )
}

/// Runs each implementation with the configuration `conf(port)` until `expected` mails
/// arrived (`act` runs once the daemon is up, e.g. to fail a server), and returns each
/// implementation's mails by subject.
fn run_both(
    ns: Option<&str>,
    sink: &Sink,
    conf: &str,
    args: &[&str],
    expected: usize,
    act: &dyn Fn(),
    reset: &dyn Fn(),
) -> Vec<(&'static str, BTreeMap<String, Mail>)> {
    let mut out = Vec::new();
    for (who, program) in [("keepalived", "keepalived"), ("rkeepalived", RKEEPALIVED)] {
        reset();
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("keepalived.conf"), conf).expect("conf");
        sink.take();
        let mut child = start(ns, program, dir.path(), who, args);
        act();
        let got = sink.wait_for(expected, Duration::from_secs(30));
        // A moment for any extra (unexpected) mail to show up.
        thread::sleep(Duration::from_millis(1500));
        let mails = sink.take();
        terminate(&mut child, Duration::from_secs(10));
        let log =
            std::fs::read_to_string(dir.path().join(format!("{who}.log"))).unwrap_or_default();
        assert_eq!(
            got,
            expected,
            "{who}: {} mails: {:#?}\n--- log ---\n{log}",
            mails.len(),
            mails
        );
        out.push((who, by_subject(&mails)));
    }
    out
}

/// Compares the two implementations and checks every mail's shape and content.
fn check(
    runs: &[(&'static str, BTreeMap<String, Mail>)],
    (to, helo, from): (&[&str], &str, &str),
    want: &[(String, String)],
) {
    for (who, mails) in runs {
        let got: Vec<(String, String)> = mails
            .iter()
            .map(|(s, m)| (s.clone(), m.body().first().cloned().unwrap_or_default()))
            .collect();
        let mut want = want.to_vec();
        want.sort();
        assert_eq!(got, want, "{who}: subjects and bodies");
        for m in mails.values() {
            check_shape(who, m, to, helo, from);
        }
    }
    if let [(_, k), (_, r)] = runs {
        assert_eq!(r, k, "rkeepalived's mails differ from keepalived's");
    }
}

#[test]
fn vrrp_transition_mails_match_keepalived() {
    if !common::privileged("smtp_ns") {
        return;
    }
    let ns = rka_sys::netns::ScratchNs::create(&format!("rks{}", std::process::id()))
        .expect("namespace");
    ns.ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"])
        .expect("veth");
    ns.ip(&["link", "set", "v0", "up"]).expect("v0 up");
    ns.ip(&["link", "set", "v1", "up"]).expect("v1 up");
    ns.ip(&["addr", "add", "10.78.0.1/24", "dev", "v0"])
        .expect("address");
    let sink = Sink::start(Some(ns.name()));
    let to = ["alice@example.com", "bob@example.org"];
    let conf = format!(
        "global_defs {{
  notification_email {{
    {}
    {}
  }}
  smtp_server 127.0.0.1 {}
  smtp_connect_timeout 5
  smtp_alert_vrrp
}}
vrrp_sync_group G1 {{
  group {{
    VI_1
  }}
}}
vrrp_instance VI_1 {{
  state BACKUP
  interface v0
  virtual_router_id 51
  priority 100
  advert_int 1
  virtual_ipaddress {{
    10.78.0.100/24
  }}
}}
",
        to[0], to[1], sink.port
    );
    let runs = run_both(Some(ns.name()), &sink, &conf, &["-P"], 4, &|| {}, &|| {});
    let host = host_name();
    let inst = |s: &str, owning: bool| {
        (
            format!("[{host}] VRRP Instance VI_1 - Entering {s} state"),
            format!(
                "=> VRRP Instance is {} owning VRRP VIPs <=",
                if owning { "now" } else { "no longer" }
            ),
        )
    };
    let group = |s: &str| {
        (
            format!("[{host}] VRRP Group G1 - Entering {s} state"),
            format!("=> All VRRP group instances are now in {s} state <="),
        )
    };
    // The defaults: no router_id, smtp_helo_name or notification_email_from.
    let from = format!("root@{host}");
    check(
        &runs,
        (&to, &host, &from),
        &[
            inst("BACKUP", false),
            inst("MASTER", true),
            group("BACKUP"),
            group("MASTER"),
        ],
    );
}

/// The guest half of the checker scenario.
fn checker_in_vm() {
    let sink = Sink::start(None);
    let to = ["ops@example.com"];
    // The real server: a listener that a flag closes.
    let rs = TcpListener::bind("127.0.0.1:0").expect("real server");
    let rs_port = rs.local_addr().expect("addr").port();
    drop(rs);
    let open = Arc::new(AtomicBool::new(false));
    let server_open = open.clone();
    thread::spawn(move || {
        let mut l: Option<TcpListener> = None;
        loop {
            match (server_open.load(Ordering::Relaxed), &l) {
                (true, None) => {
                    let x = TcpListener::bind(("127.0.0.1", rs_port)).expect("rebind");
                    x.set_nonblocking(true).expect("nonblocking");
                    l = Some(x);
                }
                (false, Some(_)) => l = None,
                _ => {}
            }
            if let Some(x) = &l {
                while let Ok((c, _)) = x.accept() {
                    drop(c);
                }
            }
            thread::sleep(Duration::from_millis(10));
        }
    });
    let conf = format!(
        "global_defs {{
  router_id rka
  smtp_helo_name director.example.test
  notification_email_from lvs@example.test
  notification_email {{
    {}
  }}
  smtp_server 127.0.0.1 {}
  smtp_connect_timeout 5
  smtp_alert_checker
}}
virtual_server 10.78.0.100 80 {{
  delay_loop 1
  lb_algo rr
  lb_kind NAT
  protocol TCP
  real_server 127.0.0.1 {rs_port} {{
    TCP_CHECK {{
      connect_timeout 1
    }}
  }}
}}
",
        to[0], sink.port
    );
    let runs = run_both(
        None,
        &sink,
        &conf,
        &["-C"],
        3,
        &|| {
            // Let the start-up mail go and the first checks pass, then fail the server.
            thread::sleep(Duration::from_secs(4));
            open.store(false, Ordering::Relaxed);
        },
        &|| {
            open.store(true, Ordering::Relaxed);
            thread::sleep(Duration::from_millis(200));
            let _ = Command::new("ipvsadm").arg("-C").status();
        },
    );
    let vs = "[10.78.0.100]:tcp:80";
    let rs = format!("[127.0.0.1]:tcp:{rs_port}");
    check(
        &runs,
        (&to, "director.example.test", "lvs@example.test"),
        &[
            (
                format!("[rka] Virtualserver {vs} - UP"),
                "=> Starting with quorum up 1+0=1 <= 1 <=".into(),
            ),
            (
                format!("[rka] Virtualserver {vs} - DOWN"),
                "=> Lost quorum 1+0=1 <= 0 <=".into(),
            ),
            (
                format!("[rka] Realserver {rs} of virtual server {vs} - DOWN"),
                "=> TCP CHECK failed on service <=".into(),
            ),
        ],
    );
    println!("smtp checker VM checks passed");
}

#[test]
fn checker_failure_mails_match_keepalived() {
    common::vm::vm_test(
        "smtp_ns checker",
        "checker_failure_mails_match_keepalived",
        &["--timeout", "600"],
        "smtp checker VM checks passed",
        checker_in_vm,
    );
}
