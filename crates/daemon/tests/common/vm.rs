//! Running one test of this binary inside a rka-vmtest VM (Debian's stock kernel, with IPVS),
//! next to Debian's keepalived. Shared by the IPVS and sync-daemon VM suites.
//!
//! The test calls [`vm_test`]; outside the VM it boots the guest and runs the same test
//! binary there with `RKA_VM=1`, where [`in_vm`] is true and the test does its real work.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::skip;

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

/// The whole of a VM test named `test`: inside the guest runs `guest` (which prints
/// `done_marker` once every check passed); outside, boots the VM (`rka-vm` options in
/// `vm_args`) and runs this test there, see [`run_self_in_vm`].
pub fn vm_test(suite: &str, test: &str, vm_args: &[&str], done_marker: &str, guest: fn()) {
    if in_vm() {
        guest();
    } else {
        run_self_in_vm(suite, test, vm_args, done_marker);
    }
}

/// Runs `cmd` with `sh -c`; its standard output (the exit status is not looked at).
pub fn sh(cmd: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .expect("run sh");
    String::from_utf8_lossy(&out.stdout).into_owned()
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
    if !super::keepalived_installed(suite) {
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
