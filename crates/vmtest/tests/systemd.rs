//! systemd mode on a real boot: systemd is PID 1, the root is writable (and the host's files
//! stay untouched), units can be started, and the command's output and status come back.

use std::time::Duration;

#[test]
fn boots_systemd_on_a_writable_overlay() {
    let Some(vm) = rka_vmtest::require_vm() else {
        return;
    };
    let marker = format!("/etc/rka-vmtest-{}", std::process::id());
    let cmd = format!(
        "set -e; cat /proc/1/comm; echo written > {marker}; cat {marker}
printf '[Service]\nType=oneshot\nExecStart=/bin/sh -c \"echo from-a-unit > /run/unit-out\"\n' \
  > /etc/systemd/system/rka-probe.service
systemctl daemon-reload
systemctl start rka-probe.service
cat /run/unit-out
systemctl is-active rka-run.service || true
exit 7"
    );
    let out = vm
        .with_systemd(true)
        .with_timeout(Duration::from_secs(150))
        .run(&cmd)
        .expect("VM run");
    eprintln!("systemd boot and command took {:?}", out.elapsed);
    assert_eq!(
        out.status, 7,
        "stdout:\n{}\nstderr:\n{}\nconsole:\n{}",
        out.stdout, out.stderr, out.console
    );
    assert_eq!(
        out.stdout, "systemd\nwritten\nfrom-a-unit\nactivating\n",
        "stderr:\n{}",
        out.stderr
    );
    assert!(
        !std::path::Path::new(&marker).exists(),
        "the guest wrote through to the host"
    );
}
