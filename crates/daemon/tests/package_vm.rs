//! The Debian package under a real systemd.
//!
//! The host half builds the .deb with `scripts/package --binary` from this build's
//! `rkeepalived` (the debug build, stripped: seconds rather than the minutes of a release
//! build), then re-runs this test inside a throw-away VM booted with systemd as PID 1 on a
//! writable overlay root (`rka-vm --systemd`). There the guest half installs the package with
//! dpkg and drives `rkeepalived.service` with systemctl on a veth pair: not started on install;
//! start (Type=notify: `systemctl start` returns once READY=1 came), the VIP appears, a notify
//! script runs as its unprivileged user inside the unit's capability bounding set, reload
//! (a second VIP, same main process), stop (the VIPs go, no process left), and the conflict
//! with keepalived.service.
//!
//! A second test speaks the sd_notify protocol with the daemon directly, without systemd.
//!
//! Without cargo-deb or the VM the package test says why and passes, unless `CI=true`.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RKEEPALIVED: &str = env!("CARGO_BIN_EXE_rkeepalived");
const DONE: &str = "PACKAGE-VM-DONE";

/// Where the host half leaves the package for the guest half (the guest sees the host's
/// files at the same paths).
fn package_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    let target = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    target.join("package-test")
}

#[test]
fn deb_installs_and_runs_under_systemd() {
    if common::vm::in_vm() {
        guest();
        return;
    }
    let has_cargo_deb = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_cargo_deb {
        common::skip(
            "the package test",
            "cargo-deb is missing (cargo install cargo-deb --locked)",
        );
        return;
    }
    let dir = package_dir();
    let _ = std::fs::remove_dir_all(&dir);
    let started = Instant::now();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/package");
    let out = Command::new(script)
        .arg("--binary")
        .arg(RKEEPALIVED)
        .arg("--out")
        .arg(&dir)
        .output()
        .expect("run scripts/package");
    assert!(
        out.status.success(),
        "scripts/package failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let deb = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .map(PathBuf::from)
        .expect("scripts/package prints the package path");
    assert!(deb.is_file(), "{} missing", deb.display());
    eprintln!(
        "package {} built in {:.1}s ({} bytes)",
        deb.display(),
        started.elapsed().as_secs_f64(),
        std::fs::metadata(&deb).map(|m| m.len()).unwrap_or(0)
    );
    common::vm::run_self_in_vm(
        "the package test",
        "deb_installs_and_runs_under_systemd",
        &["--systemd", "--timeout", "170"],
        DONE,
    );
}

/// Runs `cmd` with sh; returns (success, stdout + stderr).
fn sh(cmd: &str) -> (bool, String) {
    let out = Command::new("sh")
        .args(["-c", cmd])
        .stdin(Stdio::null())
        .output()
        .expect("run sh");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Runs `cmd` and requires it to succeed; returns its output, trimmed.
fn ok(cmd: &str) -> String {
    let (success, text) = sh(cmd);
    assert!(success, "`{cmd}` failed:\n{text}\n{}", journal());
    text.trim().to_owned()
}

fn journal() -> String {
    sh("journalctl -b --no-pager -u rkeepalived.service | tail -n 40").1
}

/// Waits up to `secs` for `cond`.
fn wait_for(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            journal()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn addresses() -> String {
    sh("ip -o addr show dev rka0").1
}

fn prop(name: &str) -> String {
    ok(&format!(
        "systemctl show -p {name} --value rkeepalived.service"
    ))
}

/// The unit's capability bounding set, as the kernel's bit mask.
fn expected_bounding_set() -> u64 {
    // CHOWN 0, DAC_OVERRIDE 1, DAC_READ_SEARCH 2, FOWNER 3, KILL 5, SETGID 6, SETUID 7,
    // NET_BIND_SERVICE 10, NET_ADMIN 12, NET_RAW 13, SYS_NICE 23.
    [0u32, 1, 2, 3, 5, 6, 7, 10, 12, 13, 23]
        .iter()
        .fold(0, |m, b| m | (1u64 << b))
}

fn config(vips: &[&str]) -> String {
    let mut c = String::from(
        "global_defs {\n  router_id pkgvm\n  script_user nobody nogroup\n  enable_script_security\n}\n\
         vrrp_instance VI_1 {\n  state BACKUP\n  interface rka0\n  virtual_router_id 51\n  \
         priority 150\n  advert_int 1\n  notify_master \"/usr/bin/touch /tmp/rka-notified-master\"\n  \
         virtual_ipaddress {\n",
    );
    for v in vips {
        c.push_str(&format!("    {v}\n"));
    }
    c.push_str("  }\n}\n");
    c
}

fn guest() {
    let debs: Vec<PathBuf> = std::fs::read_dir(package_dir())
        .expect("package dir visible in the guest")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    assert_eq!(debs.len(), 1, "one package expected: {debs:?}");
    assert_eq!(
        std::fs::read_to_string("/proc/1/comm")
            .expect("pid 1")
            .trim(),
        "systemd"
    );

    // Install. man-db's trigger would rebuild the whole index (slow under TCG): skip it.
    let _ = std::fs::remove_file("/var/lib/man-db/auto-update");
    ok(&format!("dpkg -i {}", debs[0].display()));
    let files = ok("dpkg -L rkeepalived");
    for f in [
        "/usr/sbin/rkeepalived",
        "/usr/sbin/rkeepalivedctl",
        "/usr/lib/systemd/system/rkeepalived.service",
        "/usr/share/man/man8/rkeepalived.8.gz",
        "/usr/share/man/man8/rkeepalivedctl.8.gz",
        "/etc/default/rkeepalived",
        "/usr/share/doc/rkeepalived/examples/keepalived.conf",
    ] {
        assert!(
            files.lines().any(|l| l == f),
            "{f} not in the package:\n{files}"
        );
    }
    assert!(ok("dpkg-query -W -f '${Conffiles}' rkeepalived").contains("/etc/default/rkeepalived"));
    assert!(ok("dpkg-query -W -f '${Depends}' rkeepalived").contains("iproute2"));
    ok("man -l /usr/share/man/man8/rkeepalived.8.gz | grep -q SIGNALS");
    ok("man -l /usr/share/man/man8/rkeepalivedctl.8.gz | grep -q undrain");
    // Installed, not enabled nor started: starting it would stop a running keepalived.
    assert_eq!(sh("systemctl is-enabled rkeepalived").1.trim(), "disabled");
    assert_eq!(sh("systemctl is-active rkeepalived").1.trim(), "inactive");

    ok(
        "ip link add rka0 type veth peer name rka1 && ip link set rka0 up && ip link set rka1 up \
        && ip addr add 192.0.2.1/24 dev rka0",
    );
    // The example is valid once its interface exists.
    ok("sed 's/interface eth0/interface rka0/' /usr/share/doc/rkeepalived/examples/keepalived.conf \
        > /tmp/example.conf && /usr/sbin/rkeepalived -t -f /tmp/example.conf");
    std::fs::create_dir_all("/etc/keepalived").expect("mkdir");
    std::fs::write(
        "/etc/keepalived/keepalived.conf",
        config(&["192.0.2.100/24"]),
    )
    .expect("write config");

    // Type=notify: `systemctl start` returns when the parent said READY=1.
    ok("systemctl start rkeepalived");
    assert_eq!(sh("systemctl is-active rkeepalived").1.trim(), "active");
    assert!(
        prop("StatusText").starts_with("Running: "),
        "{}",
        prop("StatusText")
    );
    wait_for("the VIP", 20, || addresses().contains("192.0.2.100/24"));
    wait_for("the notify script", 10, || {
        Path::new("/tmp/rka-notified-master").exists()
    });
    let owner = ok("stat -c %U /tmp/rka-notified-master");
    assert_eq!(owner, "nobody", "the notify script ran as its script_user");
    let main_pid = prop("MainPID");
    let status = std::fs::read_to_string(format!("/proc/{main_pid}/status")).expect("status");
    let bnd = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .expect("CapBnd");
    assert_eq!(bnd, expected_bounding_set(), "capability bounding set");
    let children = ok(&format!("pgrep -P {main_pid}"));
    assert!(!children.is_empty(), "the VRRP child runs under the parent");
    // The control socket works inside the unit's sandbox.
    let shown = ok("rkeepalivedctl show instances");
    assert!(
        shown.contains("VI_1") && shown.contains("MASTER"),
        "{shown}"
    );

    // Reload: a second VIP, the same main process, no restart.
    std::fs::write(
        "/etc/keepalived/keepalived.conf",
        config(&["192.0.2.100/24", "192.0.2.101/24"]),
    )
    .expect("write config");
    ok("systemctl reload rkeepalived");
    wait_for("the second VIP", 20, || {
        addresses().contains("192.0.2.101/24")
    });
    assert!(
        addresses().contains("192.0.2.100/24"),
        "the first VIP stayed"
    );
    assert_eq!(prop("MainPID"), main_pid);
    assert_eq!(prop("NRestarts"), "0");
    assert_eq!(sh("systemctl is-active rkeepalived").1.trim(), "active");

    // Stop: VIPs released, nothing left of the unit.
    ok("systemctl stop rkeepalived");
    assert_eq!(sh("systemctl is-active rkeepalived").1.trim(), "inactive");
    let left = addresses();
    assert!(
        !left.contains("192.0.2.100") && !left.contains("192.0.2.101"),
        "VIPs left after stop:\n{left}"
    );
    assert!(
        !sh("pidof rkeepalived").0,
        "an rkeepalived process survived the stop"
    );
    assert_eq!(prop("Result"), "success");

    // keepalived.service and rkeepalived.service exclude each other.
    ok("systemctl start rkeepalived");
    wait_for("the VIP again", 20, || {
        addresses().contains("192.0.2.100/24")
    });
    ok("systemctl start keepalived");
    assert_eq!(sh("systemctl is-active rkeepalived").1.trim(), "inactive");
    assert_eq!(sh("systemctl is-active keepalived").1.trim(), "active");
    ok("systemctl stop keepalived");
    println!("{DONE}");
}

/// The parent's sd_notify messages, without systemd: READY=1 with a status once running,
/// RELOADING=1 with the monotonic time then READY=1 around a reload, STOPPING=1 on stop.
#[test]
fn the_parent_speaks_sd_notify() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).expect("bind the notify socket");
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let conf = dir.path().join("keepalived.conf");
    // No instance and no virtual server: the parent runs without children, nothing privileged.
    std::fs::write(&conf, "global_defs {\n  router_id sdnotify\n}\n").expect("config");
    let mut child = Command::new(RKEEPALIVED)
        .args(["--dont-fork", "-l", "-G", "-f"])
        .arg(&conf)
        .arg("-p")
        .arg(dir.path().join("k.pid"))
        .env("NOTIFY_SOCKET", &sock_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start rkeepalived");
    let pid = child.id() as i32;
    let recv = || {
        let mut buf = [0u8; 4096];
        let n = sock.recv(&mut buf).expect("a notification in time");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let ready = recv();
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready}");
    assert!(ready.contains("STATUS=Running: "), "{ready}");

    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGHUP).expect("HUP");
    let reloading = recv();
    assert!(reloading.lines().any(|l| l == "RELOADING=1"), "{reloading}");
    let usec = reloading
        .lines()
        .find_map(|l| l.strip_prefix("MONOTONIC_USEC="))
        .and_then(|v| v.parse::<u64>().ok())
        .expect("MONOTONIC_USEC with RELOADING=1");
    assert!(usec > 0);
    let ready = recv();
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready}");

    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGTERM)
        .expect("TERM");
    let stopping = recv();
    assert!(stopping.lines().any(|l| l == "STOPPING=1"), "{stopping}");
    let status = child.wait().expect("exit");
    assert!(status.success(), "{status:?}");
}
