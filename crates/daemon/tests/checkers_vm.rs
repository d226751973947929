//! Every health checker against real servers, rkeepalived beside keepalived 2.2.7 on a real
//! IPVS table.
//!
//! This test re-runs itself inside a throw-away VM (the `rka-vm` tool of rka-vmtest: Debian's
//! stock kernel, root, the host's files read-only, a fresh `/tmp`). There it brings up real
//! servers: nginx (plain HTTP with a name-based virtual host, and TLS with a certificate made by
//! `openssl` on the spot), aiosmtpd, dnsmasq, a small Python UDP responder, shell scripts for
//! MISC_CHECK, an address on a dummy interface for PING_CHECK and tracked files for FILE_CHECK.
//! One configuration holds a virtual server per checker kind (plus inhibit_on_failure, alpha,
//! quorum with hysteresis and a sorry server, notify_up/notify_down and quorum_up/quorum_down
//! scripts).
//!
//! For keepalived first, then rkeepalived (`-C -n -l`, each on a fresh table), the same story
//! runs: change a page and restore it, make a status code appear, change a script's exit code
//! (0/1, dynamic weights, a script outliving misc_timeout), stop and start the SMTP and DNS
//! servers, make the UDP responder answer wrongly, add and remove the pinged address, write the
//! tracked files, lose and regain the quorum. After each step the settled table
//! (`ipvsadm -S -n`, sorted) and the notify script lines are recorded, and the kernel table is
//! polled so that each entry's change has a time from the step. The test asserts that both
//! sequences are equal, that rkeepalived's changes come no later than keepalived's (with a
//! generous allowance: the VM is emulated), and that every line keepalived logged (`-l -D`)
//! is in ours as many times, but those naming keepalived's own program and files.
//!
//! Without the VM (no qemu/KVM, no kernel image, no `rka-vm` binary) the test says why and
//! passes, unless `CI=true`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::vm::sh;
use common::{daemon_file, start_daemon, terminate, RKEEPALIVED};

/// Everything the real servers and the daemons share in the guest.
const DIR: &str = "/tmp/cvm";
/// The page HTTP_GET, SSL_GET and the regex check read, and its changed version.
const PAGE: &str = "version 1: the real server is fine\n";
const PAGE_CHANGED: &str = "version 2: someone edited the page\n";
/// The page of the name-based virtual host.
const VH_PAGE: &str = "virtual host vh.example\n";
/// How long a step may take to show its first change before it counts as "no change".
const FIRST_CHANGE_LIMIT: Duration = Duration::from_secs(7);
/// How long the table must stay still after a change to be settled.
const QUIET: Duration = Duration::from_millis(2500);
/// How much later than keepalived's an entry of ours may change (the VM is emulated: a
/// checker's phase within its 1 s delay_loop alone is worth a second).
const SLACK: Duration = Duration::from_millis(1500);
/// The same for a step whose checker was failing by timeout when the step came: an echo
/// already lost keeps each daemon waiting for the rest of its cycle (PING_CHECK
/// `connect_timeout 2` + `delay_loop 1`), a phase anywhere in 0-3 s for either of them.
const TIMEOUT_CYCLE_SLACK: Duration = Duration::from_millis(3500);

/// An `alpha` real server whose TCP_CHECK (`retry 1`) never passes: keepalived 2.2.7 logs
/// its first failing verdict at start though the server started down
/// (`tests/data/alpha-first.log`), and so must we; nothing else about it, ever.
const ALPHA_TCP_RS: &str = "127.0.0.3 80";

/// The lines of daemon log `log` about [`ALPHA_TCP_RS`] that keepalived words (its
/// checker's, "TCP_...", and the table's, "... service [127.0.0.3]:tcp:80 ..."; not the
/// activating and shutting-down lines every server has, nor our own debug lines), without
/// their timestamp.
fn alpha_tcp_lines(log: &str) -> Vec<String> {
    log.lines()
        .map(|l| l.split_once(": ").map_or(l, |(_, rest)| rest))
        .filter(|l| l.contains("[127.0.0.3]:tcp:80"))
        .filter(|l| l.contains("TCP") || l.contains("service [127.0.0.3]"))
        .filter(|l| !l.starts_with("Activating") && !l.starts_with("Shutting down"))
        .map(str::to_string)
        .collect()
}

/// Each line of keepalived's log `log`, without its timestamp (and with `pid=N`), and how many
/// times it came:
/// every line but those naming keepalived's program, build or files (its banner, kernel and
/// command line, `-D`'s "Opening file", its resource usage at stop), and its "Child process 0
/// in our process group 0" for a MISC_CHECK program still running at stop (timing, and a
/// process group it cannot have read: not reproduced).
fn keepalived_lines(log: &str) -> BTreeMap<String, usize> {
    const OWN: [&str; 8] = [
        "Child process 0 in our process group 0",
        "Starting Keepalived",
        "Running on Linux",
        "Command line:",
        "Opening file",
        "Stopped Keepalived",
        "Stopped - used",
        "CPU usage",
    ];
    let mut out = BTreeMap::new();
    for l in log.lines() {
        let m = l.split_once(": ").map_or(l, |(_, rest)| rest);
        if m.starts_with(char::is_whitespace) || OWN.iter().any(|o| m.starts_with(o)) {
            continue;
        }
        // Process ids differ from run to run.
        let m = match m.split_once("pid=") {
            Some((head, tail)) => {
                let rest = tail.trim_start_matches(|c: char| c.is_ascii_digit());
                format!("{head}pid=N{rest}")
            }
            None => m.to_string(),
        };
        *out.entry(m).or_insert(0) += 1;
    }
    out
}

/// keepalived's lines (see [`keepalived_lines`]) that our log `ours` does not have as many
/// times (ours may have more lines: its own, at debug).
fn lines_missing(keepalived: &str, ours: &str) -> Vec<String> {
    let mine = keepalived_lines(ours);
    keepalived_lines(keepalived)
        .into_iter()
        .filter(|(l, n)| mine.get(l) != Some(n))
        .map(|(l, n)| format!("{n} x {l:?} (ours: {})", mine.get(&l).copied().unwrap_or(0)))
        .collect()
}

/// The step after which the PING_CHECK real server comes back (its allowance is the cycle).
const PING_ADDED: &str = "pinged address added";

/// How much later than keepalived's an entry may change after step `name`.
fn slack_for(name: &str) -> Duration {
    if name == PING_ADDED {
        TIMEOUT_CYCLE_SLACK
    } else {
        SLACK
    }
}

fn path(name: &str) -> PathBuf {
    Path::new(DIR).join(name)
}

fn write(name: &str, text: &str) {
    std::fs::write(path(name), text).unwrap_or_else(|e| panic!("write {name}: {e}"));
}

fn md5_of(name: &str) -> String {
    sh(&format!("md5sum {}", path(name).display()))
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The nginx configuration: 8080 plain (default server and `vh.example`), 8443 TLS; one
/// process, everything it writes under [`DIR`].
fn nginx_conf() -> String {
    let temps: String = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
        .iter()
        .map(|k| format!("  {k}_temp_path {DIR}/ngx-{k};\n"))
        .collect();
    format!(
        "daemon off;\nmaster_process off;\nuser root;\npid {DIR}/nginx.pid;\n\
         error_log {DIR}/nginx-error.log warn;\nevents {{ worker_connections 256; }}\n\
         http {{\n  access_log off;\n  default_type text/html;\n{temps}\
         \x20 server {{ listen 127.0.0.1:8080 default_server; root {DIR}/www; }}\n\
         \x20 server {{ listen 127.0.0.1:8080; server_name vh.example; root {DIR}/vh; }}\n\
         \x20 server {{ listen 127.0.0.1:8443 ssl; ssl_certificate {DIR}/cert.pem;\n\
         \x20   ssl_certificate_key {DIR}/key.pem; root {DIR}/www; }}\n}}\n"
    )
}

/// The UDP responder: answers `pong` to `ping`, or what the file `udp-mode` says (`bad`:
/// another answer, `silent`: none).
const UDP_RESPONDER: &str = r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 5454))
while True:
    data, peer = s.recvfrom(2048)
    try:
        mode = open("/tmp/cvm/udp-mode").read().strip()
    except OSError:
        mode = "ok"
    if mode == "ok" and data == b"ping":
        s.sendto(b"pong", peer)
    elif mode == "bad":
        s.sendto(b"nope", peer)
"#;

/// The scripts: MISC_CHECK exits with the number in a file, the slow one sleeps as long as its
/// file says, the notify script appends its arguments to `notify.log`.
fn write_scripts() {
    let scripts = [
        ("misc.sh", "#!/bin/sh\nread v < /tmp/cvm/$1\nexit $v\n"),
        (
            "slow.sh",
            "#!/bin/sh\nread v < /tmp/cvm/slow\n[ \"$v\" = 0 ] || sleep $v\nexit 0\n",
        ),
        (
            "notify.sh",
            "#!/bin/sh\necho \"$*\" >> /tmp/cvm/notify.log\n",
        ),
    ];
    for (name, text) in scripts {
        write(name, text);
        sh(&format!("chmod 755 {}", path(name).display()));
    }
}

/// The files every story starts from.
fn reset_files() {
    write("www/page.html", PAGE);
    write("vh/vh.html", VH_PAGE);
    let _ = std::fs::remove_file(path("www/missing.html"));
    for (name, value) in [
        ("a", "0"),
        ("d", "0"),
        ("slow", "0"),
        ("q1", "0"),
        ("q2", "0"),
        ("q3", "0"),
        ("tf", "0"),
        ("tf0", "0"),
        ("udp-mode", "ok"),
    ] {
        write(name, &format!("{value}\n"));
    }
    write("notify.log", "");
    sh("ip addr del 10.99.0.5/32 dev dum0 2>/dev/null");
}

fn notify(tag: &str) -> String {
    format!(
        "    notify_up \"{DIR}/notify.sh up {tag}\"\n    notify_down \"{DIR}/notify.sh down {tag}\"\n"
    )
}

/// Options every network checker gets: the real server's local address and port, a short
/// timeout, no retry.
fn conn(port: u16) -> String {
    format!("      connect_ip 127.0.0.1\n      connect_port {port}\n      connect_timeout 3\n      retry 0\n")
}

/// [`conn`] for HTTP_GET and SSL_GET. After a failed run they wait the longer of `delay_loop`
/// and `delay_before_retry` (keepalived 2.2.7, as observed; the default is 3 s), so a page
/// restored is seen 0-3 s later depending on each daemon's phase alone, more than [`SLACK`]
/// and [`QUIET`]; 1 s keeps their cycle at `delay_loop`.
fn http_conn(port: u16) -> String {
    format!("{}      delay_before_retry 1\n", conn(port))
}

fn vs(head: &str, body: &str, servers: &[(&str, String)]) -> String {
    let mut s = format!("virtual_server {head} {{\n  delay_loop 1\n  lb_algo wrr\n{body}");
    for (addr, inner) in servers {
        s.push_str(&format!("  real_server {addr} {{\n{inner}  }}\n"));
    }
    s.push_str("}\n");
    s
}

fn config() -> String {
    let page = md5_of("www/page.html");
    let vh = md5_of("vh/vh.html");
    let mut c = format!(
        "global_defs {{\n  router_id cvm\n}}\n\
         track_file TF {{\n  file \"{DIR}/tf\"\n  weight 1\n}}\n\
         track_file TF0 {{\n  file \"{DIR}/tf0\"\n  weight 0\n}}\n"
    );
    let http = |url: &str, port: u16| {
        format!(
            "    HTTP_GET {{\n      url {{\n{url}      }}\n{}    }}\n",
            http_conn(port)
        )
    };
    c.push_str(&vs(
        "10.10.0.1 80",
        "  protocol TCP\n",
        &[
            (
                "192.168.10.1 80",
                format!(
                    "    weight 2\n{}{}",
                    notify("http-digest"),
                    http(&format!("        path /page.html\n        digest {page}\n"), 8080)
                ),
            ),
            (
                "192.168.10.2 80",
                format!(
                    "{}{}",
                    notify("http-status"),
                    http("        path /missing.html\n        status_code 404 410-420\n", 8080)
                ),
            ),
            (
                "192.168.10.3 80",
                http("        path /page.html\n        regex \"^version 1:\"\n", 8080),
            ),
            (
                "192.168.10.4 80",
                http(
                    &format!(
                        "        path /vh.html\n        digest {vh}\n        virtualhost vh.example\n"
                    ),
                    8080,
                ),
            ),
            // keepalived matches the whole response: the body unanchored, the status line
            // anchored, a header.
            (
                "192.168.10.5 80",
                http("        path /page.html\n        regex \"version 1:\"\n", 8080),
            ),
            (
                "192.168.10.6 80",
                http(
                    "        path /page.html\n        regex \"^HTTP/1.1 200\"\n",
                    8080,
                ),
            ),
            (
                "192.168.10.7 80",
                http(
                    "        path /page.html\n        regex \"Content-Type: text/plain\"\n        regex_no_match\n",
                    8080,
                ),
            ),
            // PCRE2 syntax (look-around) and an option: matched as keepalived matches them.
            (
                "192.168.10.8 80",
                http(
                    "        path /page.html\n        regex \"(?<=version )1(?=:)\"\n",
                    8080,
                ),
            ),
            (
                "192.168.10.9 80",
                http(
                    "        path /page.html\n        regex \"FINE$\"\n        regex_options caseless multiline\n",
                    8080,
                ),
            ),
        ],
    ));
    c.push_str(&vs(
        "10.10.0.2 443",
        "  protocol TCP\n",
        &[
            (
                "192.168.11.1 443",
                format!(
                    "    SSL_GET {{\n      url {{\n        path /page.html\n        digest {page}\n      }}\n{}    }}\n",
                    http_conn(8443)
                ),
            ),
            (
                "192.168.11.2 443",
                format!(
                    "    SSL_GET {{\n      enable_sni\n      virtualhost vh.example\n      url {{\n        path /missing.html\n        status_code 404\n      }}\n{}    }}\n",
                    http_conn(8443)
                ),
            ),
        ],
    ));
    let misc = |body: &str| format!("    MISC_CHECK {{\n{body}    }}\n");
    c.push_str(&vs(
        "10.10.0.3 80",
        "  protocol TCP\n",
        &[
            (
                "192.168.12.1 80",
                format!(
                    "{}{}",
                    notify("misc"),
                    misc(&format!("      misc_path \"{DIR}/misc.sh a\"\n      misc_timeout 10\n"))
                ),
            ),
            (
                "192.168.12.2 80",
                format!(
                    "    weight 3\n{}{}",
                    notify("misc-dynamic"),
                    misc(&format!(
                        "      misc_path \"{DIR}/misc.sh d\"\n      misc_dynamic\n      misc_timeout 10\n"
                    ))
                ),
            ),
            (
                "192.168.12.3 80",
                misc(&format!(
                    "      misc_path {DIR}/slow.sh\n      misc_timeout 2\n"
                )),
            ),
        ],
    ));
    c.push_str(&vs(
        "10.10.0.4 25",
        "  protocol TCP\n  inhibit_on_failure\n",
        &[(
            "192.168.13.1 25",
            format!(
                "    weight 4\n{}    SMTP_CHECK {{\n      helo_name cvm.test\n{}    }}\n",
                notify("smtp"),
                conn(2525)
            ),
        )],
    ));
    c.push_str(&vs(
        "10.10.0.5 53",
        "  protocol UDP\n",
        &[(
            "192.168.14.1 53",
            format!(
                "{}    DNS_CHECK {{\n      type A\n      name check.test\n{}    }}\n",
                notify("dns"),
                conn(5353)
            ),
        )],
    ));
    c.push_str(&vs(
        "10.10.0.6 5454",
        "  protocol UDP\n",
        &[
            (
                "192.168.15.1 5454",
                format!(
                    "    UDP_CHECK {{\n      payload 70696e67\n      require_reply 706f6e67\n{}    }}\n",
                    conn(5454)
                ),
            ),
            (
                "192.168.15.2 5454",
                format!("    UDP_CHECK {{\n      payload 70696e67\n{}    }}\n", conn(5455)),
            ),
        ],
    ));
    c.push_str(&vs(
        "10.10.0.7 80",
        "  protocol TCP\n  alpha\n",
        &[
            (
                "10.99.0.5 80",
                format!(
                    "{}    PING_CHECK {{\n      connect_timeout 2\n      retry 0\n    }}\n",
                    notify("ping")
                ),
            ),
            (
                "127.0.0.1 80",
                "    PING_CHECK {\n      connect_timeout 2\n      retry 0\n    }\n".to_string(),
            ),
            // Never up (nothing listens): only its first failing verdict, logged by both.
            (
                ALPHA_TCP_RS,
                "    TCP_CHECK {\n      connect_ip 127.0.0.1\n      connect_port 8599\n      \
                 connect_timeout 3\n      retry 1\n    }\n"
                    .to_string(),
            ),
        ],
    ));
    c.push_str(&vs(
        "10.10.0.8 80",
        "  protocol TCP\n",
        &[
            (
                "192.168.16.1 80",
                format!(
                    "    weight 5\n{}    FILE_CHECK {{\n      track_file TF\n    }}\n",
                    notify("file-dynamic")
                ),
            ),
            (
                "192.168.16.2 80",
                format!(
                    "    weight 2\n{}    FILE_CHECK {{\n      track_file TF0\n    }}\n",
                    notify("file")
                ),
            ),
        ],
    ));
    c.push_str(&vs(
        "10.10.0.9 80",
        &format!(
            "  protocol TCP\n  quorum 3\n  hysteresis 1\n  sorry_server 192.168.99.9 80\n\
             \x20 quorum_up \"{DIR}/notify.sh quorum-up\"\n\
             \x20 quorum_down \"{DIR}/notify.sh quorum-down\"\n"
        ),
        &[
            (
                "192.168.17.1 80",
                format!(
                    "    weight 2\n{}",
                    misc(&format!(
                        "      misc_path \"{DIR}/misc.sh q1\"\n      misc_timeout 10\n"
                    ))
                ),
            ),
            (
                "192.168.17.2 80",
                misc(&format!(
                    "      misc_path \"{DIR}/misc.sh q2\"\n      misc_timeout 10\n"
                )),
            ),
            (
                "192.168.17.3 80",
                misc(&format!(
                    "      misc_path \"{DIR}/misc.sh q3\"\n      misc_timeout 10\n"
                )),
            ),
        ],
    ));
    c
}

/// Something done to the real servers between two observations.
#[derive(Debug, Clone, Copy)]
enum Act {
    /// Write a file under [`DIR`].
    Write(&'static str, &'static str),
    /// Remove a file under [`DIR`].
    Remove(&'static str),
    /// Stop or start a server.
    Stop(Server),
    /// Start a server and wait until it listens.
    Start(Server),
    /// A shell command.
    Sh(&'static str),
}

/// The servers a story stops and starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    Smtp,
    Dns,
}

/// The story: each step is a name and what it does.
fn story() -> Vec<(&'static str, Vec<Act>)> {
    use Act::*;
    vec![
        ("page changed", vec![Write("www/page.html", PAGE_CHANGED)]),
        ("page restored", vec![Write("www/page.html", PAGE)]),
        (
            "status 200 appears",
            vec![Write("www/missing.html", "here\n")],
        ),
        ("status 404 again", vec![Remove("www/missing.html")]),
        (
            "virtual host page changed",
            vec![Write("vh/vh.html", "changed\n")],
        ),
        (
            "virtual host page restored",
            vec![Write("vh/vh.html", VH_PAGE)],
        ),
        (
            "misc exits 1, udp wrong reply",
            vec![Write("a", "1\n"), Write("udp-mode", "bad\n")],
        ),
        (
            "misc exits 0, udp right reply",
            vec![Write("a", "0\n"), Write("udp-mode", "ok\n")],
        ),
        ("misc_dynamic exits 12", vec![Write("d", "12\n")]),
        ("misc_dynamic exits 1", vec![Write("d", "1\n")]),
        ("misc_dynamic exits 0", vec![Write("d", "0\n")]),
        ("misc_dynamic exits 30", vec![Write("d", "30\n")]),
        (
            "misc script outlives misc_timeout",
            vec![Write("slow", "8\n")],
        ),
        ("misc script quick again", vec![Write("slow", "0\n")]),
        (
            "smtp and dns stopped",
            vec![Stop(Server::Smtp), Stop(Server::Dns)],
        ),
        (
            "smtp and dns started",
            vec![Start(Server::Smtp), Start(Server::Dns)],
        ),
        (PING_ADDED, vec![Sh("ip addr add 10.99.0.5/32 dev dum0")]),
        (
            "pinged address removed",
            vec![Sh("ip addr del 10.99.0.5/32 dev dum0")],
        ),
        ("tracked file 3", vec![Write("tf", "3\n")]),
        ("tracked file -10", vec![Write("tf", "-10\n")]),
        (
            "tracked file 0, weight-0 file 1",
            vec![Write("tf", "0\n"), Write("tf0", "1\n")],
        ),
        ("weight-0 file 0", vec![Write("tf0", "0\n")]),
        ("quorum: heavy server fails", vec![Write("q1", "1\n")]),
        ("quorum: second server fails", vec![Write("q2", "1\n")]),
        ("quorum: heavy server back", vec![Write("q1", "0\n")]),
        ("quorum: all back", vec![Write("q2", "0\n")]),
    ]
}

/// The real servers run as processes, restarted by the story.
struct World {
    nginx: Child,
    udp: Child,
    smtp: Option<Child>,
    dns: Option<Child>,
}

fn spawn_quiet(cmd: &mut Command, log: &str) -> Child {
    let out = std::fs::File::create(path(log)).expect("server log");
    let err = out.try_clone().expect("server log");
    cmd.stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"))
}

/// Whether something listens on `port` of 127.0.0.1 (`udp`: a bound UDP socket).
fn listening(port: u16, udp: bool) -> bool {
    let (file, state) = if udp {
        ("/proc/net/udp", "07")
    } else {
        ("/proc/net/tcp", "0A")
    };
    let want = format!(":{port:04X}");
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .skip(1)
        .any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && f[1].ends_with(&want) && f[3] == state
        })
}

/// Waits until `what` (its output in `log` under [`DIR`]) listens on `port`.
fn wait_listening(what: &str, log: &str, port: u16, udp: bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !listening(port, udp) {
        assert!(
            Instant::now() < deadline,
            "{what} does not listen on {port}: {}\n{}",
            std::fs::read_to_string(path(log)).unwrap_or_default(),
            sh("ss -tulpan")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl World {
    fn start() -> World {
        for d in ["www", "vh"] {
            std::fs::create_dir_all(path(d)).expect("mkdir");
        }
        write_scripts();
        reset_files();
        sh(&format!(
            "cd {DIR} && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
             -nodes -keyout key.pem -out cert.pem -days 2 -subj /CN=cvm.test 2>/dev/null"
        ));
        sh("ip link add dum0 type dummy && ip addr add 10.99.0.1/24 dev dum0 && ip link set dum0 up");
        write("nginx.conf", &nginx_conf());
        let nginx = spawn_quiet(
            Command::new("nginx")
                .args(["-p", DIR, "-e", &format!("{DIR}/nginx-error.log"), "-c"])
                .arg(path("nginx.conf")),
            "nginx.out",
        );
        write("udp.py", UDP_RESPONDER);
        let udp = spawn_quiet(
            Command::new("/usr/bin/python3").arg(path("udp.py")),
            "udp.out",
        );
        let mut w = World {
            nginx,
            udp,
            smtp: None,
            dns: None,
        };
        w.start_server(Server::Smtp);
        w.start_server(Server::Dns);
        wait_listening("nginx", "nginx.out", 8080, false);
        wait_listening("nginx", "nginx.out", 8443, false);
        wait_listening("udp responder", "udp.out", 5454, true);
        w
    }

    fn start_server(&mut self, s: Server) {
        match s {
            Server::Smtp if self.smtp.is_none() => {
                self.smtp = Some(spawn_quiet(
                    Command::new("/usr/bin/python3").args([
                        "-m",
                        "aiosmtpd",
                        "-n",
                        "-l",
                        "127.0.0.1:2525",
                    ]),
                    "smtp.out",
                ));
                wait_listening("aiosmtpd", "smtp.out", 2525, false);
            }
            Server::Dns if self.dns.is_none() => {
                self.dns = Some(spawn_quiet(
                    Command::new("dnsmasq").args([
                        "-k",
                        "--conf-file=/dev/null",
                        "--port=5353",
                        "--listen-address=127.0.0.1",
                        "--bind-interfaces",
                        "--no-resolv",
                        "--no-hosts",
                        "--user=root",
                        "--pid-file=/tmp/cvm/dnsmasq.pid",
                        "--address=/check.test/10.9.9.9",
                    ]),
                    "dnsmasq.out",
                ));
                wait_listening("dnsmasq", "dnsmasq.out", 5353, true);
            }
            _ => {}
        }
    }

    fn stop_server(&mut self, s: Server) {
        let child = match s {
            Server::Smtp => self.smtp.take(),
            Server::Dns => self.dns.take(),
        };
        if let Some(mut c) = child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn apply(&mut self, act: Act) {
        match act {
            Act::Write(name, text) => write(name, text),
            Act::Remove(name) => {
                let _ = std::fs::remove_file(path(name));
            }
            Act::Stop(s) => self.stop_server(s),
            Act::Start(s) => self.start_server(s),
            Act::Sh(cmd) => {
                sh(cmd);
            }
        }
    }

    fn stop(mut self) {
        self.stop_server(Server::Smtp);
        self.stop_server(Server::Dns);
        for c in [&mut self.nginx, &mut self.udp] {
            let _ = c.kill();
            let _ = c.wait();
        }
        sh("ip link del dum0");
    }
}

/// The kernel's table as entries "service -> destination method weight" (and the bare service
/// lines), from `/proc/net/ip_vs`: cheap enough to poll.
fn kernel_entries() -> BTreeSet<String> {
    let text = std::fs::read_to_string("/proc/net/ip_vs").unwrap_or_default();
    let mut out = BTreeSet::new();
    let mut service = String::new();
    for line in text.lines().skip(3) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.first() == Some(&"->") {
            if f.len() >= 4 {
                out.insert(format!("{service} -> {} {} {}", f[1], f[2], f[3]));
            }
        } else {
            service = f.join(" ");
            out.insert(service.clone());
        }
    }
    out
}

/// `ipvsadm -S -n`, sorted: the table as compared.
fn table() -> Vec<String> {
    let mut v: Vec<String> = sh("ipvsadm -S -n").lines().map(str::to_string).collect();
    v.sort();
    v
}

/// What one step did under one daemon.
#[derive(Debug, Default)]
struct Observed {
    /// The settled table.
    table: Vec<String>,
    /// The notify script lines written during the step, sorted.
    notify: Vec<String>,
    /// Each kernel entry that appeared (`+`) or went (`-`) and when, from the step.
    changes: BTreeMap<String, Duration>,
}

/// Polls the kernel table, last seen as `before`, until it has changed and then stayed still
/// for [`QUIET`] (or nothing changed within `first_limit` of `start`); the changes with their
/// times from `start` (0 for a change made before it).
fn follow(
    before: BTreeSet<String>,
    start: Instant,
    first_limit: Duration,
) -> BTreeMap<String, Duration> {
    let mut last = before;
    let mut changes = BTreeMap::new();
    let mut last_change: Option<Instant> = None;
    loop {
        std::thread::sleep(Duration::from_millis(40));
        let now = kernel_entries();
        let at = Instant::now();
        if now != last {
            for e in now.difference(&last) {
                changes
                    .entry(format!("+ {e}"))
                    .or_insert(at.saturating_duration_since(start));
            }
            for e in last.difference(&now) {
                changes
                    .entry(format!("- {e}"))
                    .or_insert(at.saturating_duration_since(start));
            }
            last = now;
            last_change = Some(at);
        }
        match last_change {
            Some(t) if at.duration_since(t) >= QUIET => break,
            None if at.duration_since(start) >= first_limit => break,
            _ => {}
        }
    }
    changes
}

/// New lines of the notify log since `seen` lines, sorted; `seen` advances.
fn notify_lines(seen: &mut usize) -> Vec<String> {
    let text = std::fs::read_to_string(path("notify.log")).unwrap_or_default();
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut new: Vec<String> = lines.get(*seen..).unwrap_or_default().to_vec();
    *seen = lines.len();
    new.sort();
    new
}

/// Daemon `program` through the whole story: the start-up observation, then one per step;
/// who could open ping sockets (`ping_group_range` before the start, once started and after
/// the stop); and the daemon's log.
fn run_story(
    program: &str,
    world: &mut World,
    conf: &Path,
) -> (Vec<Observed>, Vec<String>, String) {
    reset_files();
    sh("ipvsadm -C");
    // The kernel's default: no group may open ping sockets.
    std::fs::write(PING_GROUPS, "1 0\n").expect("reset ping_group_range");
    let mut groups = vec![ping_groups()];
    let tag = if program == "keepalived" {
        "keepalived"
    } else {
        "rkeepalived"
    };
    let files = PathBuf::from(format!("/tmp/{tag}"));
    let start = Instant::now();
    let mut child = start_daemon(None, program, &["-C", "-n", "-l", "-D"], conf, &files);
    let mut seen = 0;
    let mut out = Vec::new();
    let changes = follow(kernel_entries(), start, Duration::from_secs(20));
    // Start-up: alpha servers wait for their first success, and a few seconds more for
    // everything to have been probed at least once.
    let _ = follow(kernel_entries(), Instant::now(), Duration::from_secs(4));
    out.push(Observed {
        table: table(),
        notify: notify_lines(&mut seen),
        changes,
    });
    groups.push(ping_groups());
    for (_, acts) in story() {
        let before = kernel_entries();
        // A server started counts from when it listens.
        for a in acts {
            world.apply(a);
        }
        let start = Instant::now();
        let changes = follow(before, start, FIRST_CHANGE_LIMIT);
        // Notify scripts run after the table change; give them a moment.
        std::thread::sleep(Duration::from_millis(300));
        out.push(Observed {
            table: table(),
            notify: notify_lines(&mut seen),
            changes,
        });
    }
    let pid = child.id();
    assert!(
        terminate(&mut child, Duration::from_secs(20)),
        "{program} ({pid}) did not stop on SIGTERM"
    );
    groups.push(ping_groups());
    let log = std::fs::read_to_string(daemon_file(&files, ".log")).unwrap_or_default();
    println!("== {tag}: last log lines\n{}", common::tail(&log, 40));
    (out, groups, log)
}

/// Who may open ping sockets (PING_CHECK may widen it).
const PING_GROUPS: &str = "/proc/sys/net/ipv4/ping_group_range";

fn ping_groups() -> String {
    std::fs::read_to_string(PING_GROUPS)
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn in_vm() {
    std::fs::create_dir_all(DIR).expect("mkdir");
    let mut world = World::start();
    let conf = path("checkers.conf");
    std::fs::write(&conf, config()).expect("write conf");
    for program in ["keepalived", RKEEPALIVED] {
        let check = Command::new(program)
            .args(["-t", "-f"])
            .arg(&conf)
            .output()
            .expect("configuration test");
        println!(
            "{program} -t: {:?}\n{}",
            check.status.code(),
            String::from_utf8_lossy(&check.stderr)
        );
    }
    let (k, k_groups, k_log) = run_story("keepalived", &mut world, &conf);
    let ours = daemon_copy();
    let ours = if ours.exists() {
        ours.display().to_string()
    } else {
        RKEEPALIVED.to_string()
    };
    let (r, r_groups, r_log) = run_story(&ours, &mut world, &conf);
    world.stop();
    sh("ipvsadm -C");

    let mut names = vec!["start-up"];
    names.extend(story().iter().map(|(n, _)| *n));
    let mut failures = Vec::new();
    println!("ping_group_range before, running, after: keepalived {k_groups:?}, ours {r_groups:?}");
    if k_groups != r_groups {
        failures.push(format!(
            "ping_group_range differs: keepalived {k_groups:?}, rkeepalived {r_groups:?}"
        ));
    }
    let (k_alpha, r_alpha) = (alpha_tcp_lines(&k_log), alpha_tcp_lines(&r_log));
    println!("alpha TCP_CHECK lines: keepalived {k_alpha:?}, ours {r_alpha:?}");
    if k_alpha != r_alpha || k_alpha.is_empty() {
        failures.push(format!(
            "the alpha TCP_CHECK's lines differ: keepalived {k_alpha:?}, rkeepalived {r_alpha:?}"
        ));
    }
    // Every line keepalived logged, as many times in ours (log watchers key on them).
    let missing = lines_missing(&k_log, &r_log);
    println!("keepalived's lines not in ours as many times: {missing:#?}");
    if !missing.is_empty() {
        failures.push(format!(
            "keepalived's lines, not in ours as many times:\n{}",
            missing.join("\n")
        ));
    }
    let (mut k_total, mut r_total) = (Duration::ZERO, Duration::ZERO);
    println!("{:<38} {:>10} {:>10}  entry", "step", "keepalived", "ours");
    for (i, name) in names.iter().enumerate() {
        let (ko, ro) = (&k[i], &r[i]);
        if ko.table != ro.table {
            failures.push(format!(
                "{name}: tables differ\n--- keepalived\n{}\n--- rkeepalived\n{}",
                ko.table.join("\n"),
                ro.table.join("\n")
            ));
        }
        if ko.notify != ro.notify {
            failures.push(format!(
                "{name}: notify scripts differ\n--- keepalived\n{:#?}\n--- rkeepalived\n{:#?}",
                ko.notify, ro.notify
            ));
        }
        if i == 0 {
            continue;
        }
        let entries: BTreeSet<&String> = ko.changes.keys().chain(ro.changes.keys()).collect();
        for e in entries {
            let (kt, rt) = (ko.changes.get(e), ro.changes.get(e));
            let ms = |t: Option<&Duration>| {
                t.map_or("-".to_string(), |d| format!("{} ms", d.as_millis()))
            };
            println!("{name:<38} {:>10} {:>10}  {e}", ms(kt), ms(rt));
            if let (Some(kt), Some(rt)) = (kt, rt) {
                k_total += *kt;
                r_total += *rt;
                if *rt > *kt + slack_for(name) {
                    failures.push(format!(
                        "{name}: '{e}' changed after {rt:?}, keepalived's after {kt:?}"
                    ));
                }
            }
        }
    }
    println!(
        "total time to the changes: keepalived {} ms, rkeepalived {} ms",
        k_total.as_millis(),
        r_total.as_millis()
    );
    if r_total > k_total + k_total / 4 + Duration::from_secs(2) {
        failures.push(format!(
            "rkeepalived slower overall: {r_total:?} against keepalived's {k_total:?}"
        ));
    }
    if k[0].table.len() < 20 {
        failures.push(format!(
            "keepalived's start-up table is too small to be a test:\n{}",
            k[0].table.join("\n")
        ));
    }
    println!("== keepalived sequence");
    for (name, o) in names.iter().zip(&k) {
        println!("-- {name}\n{}\n{:?}", o.table.join("\n"), o.notify);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    println!("all checker VM checks passed");
}

/// The rkeepalived binary the guest runs: a copy made before the VM boots, so that a build
/// on the host meanwhile (it rewrites `target/debug/rkeepalived`) cannot change it under the
/// test.
fn daemon_copy() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|e| Some(e.parent()?.parent()?.join("checkers-vm-rkeepalived")))
        .unwrap_or_else(|| PathBuf::from(RKEEPALIVED))
}

#[test]
fn checkers_match_keepalived() {
    if !common::vm::in_vm() {
        let copy = daemon_copy();
        let _ = std::fs::remove_file(&copy);
        std::fs::copy(RKEEPALIVED, &copy).expect("copy the rkeepalived binary");
    }
    common::vm::vm_test(
        "checkers VM test",
        "checkers_match_keepalived",
        &["--timeout", "900"],
        "all checker VM checks passed",
        in_vm,
    );
}
