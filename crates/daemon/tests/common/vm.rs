//! Running one test of this binary inside a rka-vmtest VM (Debian's stock kernel, with IPVS),
//! next to Debian's keepalived. Shared by the IPVS and sync-daemon VM suites.
//!
//! The test calls [`run_self_in_vm`]; outside the VM it boots the guest and runs the same test
//! binary there with `RKA_VM=1`, where [`in_vm`] is true and the test does its real work.

use std::path::{Path, PathBuf};
use std::process::Command;

/// True inside the guest.
pub fn in_vm() -> bool {
    std::env::var_os("RKA_VM").is_some()
}

/// The `rka-vm` binary beside this test's target directory, built on demand.
fn rka_vm() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?.parent()?.to_path_buf();
    let bin = dir.join("rka-vm");
    if bin.exists() {
        return Some(bin);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let ok = Command::new(cargo)
        .args([
            "build",
            "-p",
            "rka-vmtest",
            "--bin",
            "rka-vm",
            "--manifest-path",
        ])
        .arg(manifest)
        .status()
        .is_ok_and(|s| s.success());
    (ok && bin.exists()).then_some(bin)
}

/// A suite that cannot run says why and passes, except under `CI=true`, where it fails.
fn skip(suite: &str, reason: &str) {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(!ci, "{suite} cannot run with CI=true: {reason}");
    eprintln!("skipping {suite}: {reason}");
}

/// Boots the VM and runs test `test` of this binary inside it (`rka-vm` options in
/// `vm_args`), requiring the guest to print `done_marker`.
pub fn run_self_in_vm(suite: &str, test: &str, vm_args: &[&str], done_marker: &str) {
    let Some(vm) = rka_vm() else {
        skip(suite, "the rka-vm tool (crates/vmtest) could not be built");
        return;
    };
    let prepared = Command::new(&vm)
        .arg("--prepare")
        .output()
        .is_ok_and(|o| o.status.success());
    if !prepared {
        skip(
            suite,
            "the VM cannot be prepared here (qemu, KVM or the kernel image missing)",
        );
        return;
    }
    if Command::new("keepalived")
        .arg("--version")
        .output()
        .is_err()
    {
        skip(suite, "keepalived 2.2.7 is not installed");
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let cmd = format!(
        "RKA_VM=1 {} --exact {test} --nocapture --test-threads=1",
        exe.display()
    );
    let out = Command::new(&vm)
        .args(vm_args)
        .arg("--")
        .arg(cmd)
        .output()
        .expect("run rka-vm");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(out.status.success(), "the VM run failed");
    assert!(
        stdout.contains(done_marker),
        "the guest did not report '{done_marker}'"
    );
}
