//! Boots a stock Debian kernel in qemu with the host root shared read-only over virtio-9p,
//! loads the ip_vs modules, runs a command inside and returns its output.
//!
//! The accelerator is KVM when `/dev/kvm` opens and a probe boot of the guest works there,
//! TCG (emulation) otherwise; `RKA_VM_ACCEL=kvm|tcg` forces one (see [`Accel`]).
//!
//! ```no_run
//! let Some(vm) = rka_vmtest::require_vm() else { return };
//! let out = vm.run("ipvsadm -S -n").expect("vm run");
//! assert_eq!(out.status, 0);
//! ```
//!
//! The guest sees the host's file system at the same paths (read-only), with fresh tmpfs
//! on `/tmp`, `/run`, `/var/tmp`, so host binaries (`ipvsadm`, `keepalived`, anything in
//! `target/`) run unchanged. A scratch directory can be shared read-write at its host path.

mod cpio;
pub mod kernel;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use cpio::CpioWriter;
pub use kernel::Kernel;

/// Everything that can stop the VM from running a command.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    /// A required host tool or package is missing.
    #[error("missing {0}")]
    Missing(String),
    /// The kernel package could not be fetched or prepared.
    #[error("kernel: {0}")]
    Kernel(String),
    /// A host command failed.
    #[error("{command} failed: {detail}")]
    Command {
        /// The command as run.
        command: String,
        /// Its standard error.
        detail: String,
    },
    /// An I/O error with what we were doing.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The guest did not finish in time.
    #[error("VM timed out after {0:?}; console:\n{1}")]
    Timeout(Duration, String),
    /// The guest stopped without reporting the command's exit status.
    #[error("VM ended without a status; console:\n{0}")]
    NoStatus(String),
    /// An environment setting has a value this crate does not know.
    #[error("{name}={value}: {expected}")]
    Setting {
        /// The variable's name.
        name: &'static str,
        /// Its value.
        value: String,
        /// What it may be.
        expected: &'static str,
    },
}

impl VmError {
    pub(crate) fn io(what: String, source: std::io::Error) -> Self {
        Self::Io { what, source }
    }
}

/// What a command run in the VM produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The command's standard output.
    pub stdout: String,
    /// The command's standard error.
    pub stderr: String,
    /// Its exit status as the shell reports it (128 + N when killed by signal N).
    pub status: i32,
    /// The serial console (kernel messages and the init's markers), for diagnosis.
    pub console: String,
    /// Wall-clock time from starting qemu to its exit.
    pub elapsed: Duration,
}

impl Output {
    /// True when the command exited with status 0.
    pub fn success(&self) -> bool {
        self.status == 0
    }
}

/// Modules loaded at boot (the kernel's helper loads any others on demand).
pub const DEFAULT_MODULES: &[&str] = &["ip_vs", "ip_vs_rr", "ip_vs_wrr"];

/// How qemu runs the guest's instructions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// qemu's own translator: works everywhere, many times slower than the host.
    Tcg,
    /// The host kernel's hypervisor (`/dev/kvm`) with the host's CPU model.
    Kvm,
}

impl Accel {
    /// The name qemu's `-accel` knows it by.
    pub fn name(self) -> &'static str {
        match self {
            Accel::Tcg => "tcg",
            Accel::Kvm => "kvm",
        }
    }

    /// qemu's `-accel` and `-cpu` values for a guest of `cpus` virtual CPUs.
    fn qemu_args(self, cpus: u32) -> [String; 4] {
        let (accel, cpu) = match self {
            // One host thread per vCPU (MTTCG) so that a 2-vCPU guest can use two host cores.
            Accel::Tcg if cpus > 1 => ("tcg,thread=multi", "max"),
            Accel::Tcg => ("tcg", "max"),
            Accel::Kvm => ("kvm", "host"),
        };
        ["-accel".into(), accel.into(), "-cpu".into(), cpu.into()]
    }
}

/// A bootable VM configuration; each [`Vm::run`] boots a fresh guest.
#[derive(Debug, Clone)]
pub struct Vm {
    kernel: Kernel,
    qemu: PathBuf,
    memory_mb: u32,
    cpus: u32,
    timeout: Duration,
    scratch: Option<PathBuf>,
    modules: Vec<String>,
    accel: Accel,
    systemd: bool,
}

static PREPARE: Mutex<()> = Mutex::new(());
static RUN_COUNTER: AtomicU32 = AtomicU32::new(0);

/// The cache directory: `$RKA_VM_CACHE`; else `/var/cache/rkeepalived-vm` when it can be
/// created and written (it outlives work trees and CI clones on the same machine); else
/// `vm` under the cargo target directory.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("RKA_VM_CACHE") {
        return PathBuf::from(dir);
    }
    let system = PathBuf::from("/var/cache/rkeepalived-vm");
    if std::fs::create_dir_all(&system).is_ok() {
        let probe = system.join(format!(".probe-{}", std::process::id()));
        if std::fs::write(&probe, b"").is_ok() {
            let _ = std::fs::remove_file(&probe);
            return system;
        }
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir).join("vm");
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/vm")
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

impl Vm {
    /// Checks the host tools and prepares (downloads once) the kernel and initramfs.
    pub fn prepare() -> Result<Self, VmError> {
        let qemu = find_in_path("qemu-system-x86_64").ok_or_else(|| {
            VmError::Missing("qemu-system-x86_64 (apt-get install qemu-system-x86)".into())
        })?;
        for tool in ["modprobe", "depmod"] {
            if find_in_path(tool).is_none() && !Path::new("/sbin").join(tool).is_file() {
                return Err(VmError::Missing(format!("{tool} (apt-get install kmod)")));
            }
        }
        let kernel = {
            let _guard = PREPARE.lock().unwrap_or_else(|p| p.into_inner());
            let mut k = Kernel::prepare(&cache_dir())?;
            if std::env::var("RKA_VM_PVH").map_or(true, |v| v != "0") {
                k.ensure_vmlinux(&cache_dir().join("kernel"));
            } else {
                k.vmlinux = None;
            }
            k
        };
        let timeout = std::env::var("RKA_VM_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
            .map(Duration::from_secs)
            .unwrap_or(Duration::from_secs(180));
        let cpus = match std::env::var("RKA_VM_CPUS") {
            Err(_) => 1,
            Ok(v) => v
                .parse()
                .ok()
                .filter(|n| (1..=64).contains(n))
                .ok_or(VmError::Setting {
                    name: "RKA_VM_CPUS",
                    value: v,
                    expected: "a number of virtual CPUs from 1 to 64",
                })?,
        };
        let mut vm = Self {
            kernel,
            qemu,
            memory_mb: 1024,
            cpus,
            timeout,
            scratch: None,
            modules: DEFAULT_MODULES.iter().map(|s| s.to_string()).collect(),
            accel: Accel::Tcg,
            systemd: false,
        };
        vm.accel = match std::env::var("RKA_VM_ACCEL").as_deref() {
            Ok("tcg") => Accel::Tcg,
            Ok("kvm") => Accel::Kvm,
            Err(_) | Ok("auto") | Ok("") => {
                let _guard = PREPARE.lock().unwrap_or_else(|p| p.into_inner());
                vm.auto_accel()
            }
            Ok(other) => {
                return Err(VmError::Setting {
                    name: "RKA_VM_ACCEL",
                    value: other.to_string(),
                    expected: "auto (default), kvm or tcg",
                })
            }
        };
        Ok(vm)
    }

    /// KVM when `/dev/kvm` opens and a guest boots on it, else TCG. The probe boot's verdict
    /// is kept in the cache directory, keyed by the host kernel, the guest kernel and the
    /// qemu binary, so it costs one boot per machine (delete `accel-*` there to probe again).
    ///
    /// Opening `/dev/kvm` is not enough: a nested or software hypervisor can offer it and
    /// still be unable to run a stock kernel (e.g. PVM, which runs only guest kernels built
    /// for it: a Debian kernel stops there with an emulation failure).
    fn auto_accel(&self) -> Accel {
        if std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .is_err()
        {
            return Accel::Tcg;
        }
        let verdict = cache_dir().join(format!("accel-{:016x}", self.accel_key()));
        if let Ok(text) = std::fs::read_to_string(&verdict) {
            match text.lines().next() {
                Some("kvm") => return Accel::Kvm,
                Some("tcg") => return Accel::Tcg,
                _ => {}
            }
        }
        let probe_timeout = std::env::var("RKA_VM_PROBE_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
            .map(Duration::from_secs)
            .unwrap_or(Duration::from_secs(60));
        let mut probe = self.clone().with_timeout(probe_timeout);
        probe.accel = Accel::Kvm;
        probe.cpus = 1;
        probe.systemd = false;
        probe.scratch = None;
        let (accel, why) = match probe.run("true") {
            Ok(out) if out.success() => (Accel::Kvm, format!("booted in {:?}", out.elapsed)),
            Ok(out) => (Accel::Tcg, format!("probe exited {}", out.status)),
            Err(e) => (Accel::Tcg, probe_failure(&e)),
        };
        if accel == Accel::Tcg {
            eprintln!(
                "rka-vmtest: /dev/kvm is there but a guest did not boot on it ({why}); using TCG \
                 (verdict kept in {}; RKA_VM_ACCEL=kvm|tcg overrides)",
                verdict.display()
            );
        }
        let tmp = verdict.with_extension(format!("tmp-{}", std::process::id()));
        if std::fs::write(&tmp, format!("{}\n{why}\n", accel.name())).is_ok() {
            let _ = std::fs::rename(&tmp, &verdict);
        }
        accel
    }

    /// What the accelerator probe's verdict depends on: host kernel, guest kernel, qemu.
    fn accel_key(&self) -> u64 {
        let host = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let qemu = std::fs::metadata(&self.qemu)
            .map(|m| format!("{}:{:?}", m.len(), m.modified().ok()))
            .unwrap_or_default();
        let parts = [
            host.trim(),
            &self.kernel.release,
            &self.qemu.to_string_lossy(),
            &qemu,
        ];
        parts
            .iter()
            .flat_map(|p| p.bytes().chain([0]))
            .fold(0xcbf2_9ce4_8422_2325, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            })
    }

    /// The accelerator guests of this configuration run on.
    pub fn accel(&self) -> Accel {
        self.accel
    }

    /// Runs guests on `accel` instead of the one chosen by [`Vm::prepare`].
    pub fn with_accel(mut self, accel: Accel) -> Self {
        self.accel = accel;
        self
    }

    /// Gives the guest `cpus` virtual CPUs (default 1, or `RKA_VM_CPUS`). Under TCG each
    /// runs on its own host thread.
    pub fn with_cpus(mut self, cpus: u32) -> Self {
        self.cpus = cpus.max(1);
        self
    }

    /// The kernel this VM boots.
    pub fn kernel(&self) -> &Kernel {
        &self.kernel
    }

    /// Shares `dir` read-write with the guest, mounted at the same path.
    pub fn with_scratch(mut self, dir: impl Into<PathBuf>) -> Self {
        self.scratch = Some(dir.into());
        self
    }

    /// Limits how long one run may take before qemu is killed.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Replaces the modules loaded at boot.
    pub fn with_modules<I: IntoIterator<Item = S>, S: Into<String>>(mut self, modules: I) -> Self {
        self.modules = modules.into_iter().map(Into::into).collect();
        self
    }

    /// Boots systemd as PID 1 on a writable root: a tmpfs overlay over the read-only host
    /// root (changes vanish with the VM). The command runs as a oneshot service after the
    /// usual early boot (`sysinit.target`, `basic.target`), so `systemctl`, `dpkg -i` and
    /// units installed by packages work; the scratch and control shares are as without it.
    pub fn with_systemd(mut self, systemd: bool) -> Self {
        self.systemd = systemd;
        self
    }

    /// Boots a guest, runs `cmd` with `/bin/sh` in the current directory, powers off.
    pub fn run(&self, cmd: &str) -> Result<Output, VmError> {
        let ctl = self.control_dir()?;
        let result = self.run_in(&ctl, cmd);
        let _ = std::fs::remove_dir_all(&ctl);
        result
    }

    fn control_dir(&self) -> Result<PathBuf, VmError> {
        let n = RUN_COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("rka-vm-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| VmError::io(format!("creating {}", dir.display()), e))?;
        Ok(dir)
    }

    fn run_in(&self, ctl: &Path, cmd: &str) -> Result<Output, VmError> {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        let kroot = self
            .kernel
            .root
            .canonicalize()
            .map_err(|e| VmError::io(format!("resolving {}", self.kernel.root.display()), e))?;
        let scratch = match &self.scratch {
            Some(s) => Some(
                s.canonicalize()
                    .map_err(|e| VmError::io(format!("resolving {}", s.display()), e))?,
            ),
            None => None,
        };
        let hostwork = masked_workdir(&cwd, std::env::current_exe().ok().as_deref());
        let env = format!(
            "RKA_KROOT={}\nRKA_SCRATCH={}\nRKA_CWD={}\nRKA_MODULES={}\nRKA_HOSTWORK={}\n",
            shell_quote(&kroot.to_string_lossy()),
            shell_quote(
                &scratch
                    .as_ref()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
            shell_quote(&cwd.to_string_lossy()),
            shell_quote(&self.modules.join(" ")),
            shell_quote(
                &hostwork
                    .as_ref()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
        );
        let write = |name: &str, data: &str| {
            std::fs::write(ctl.join(name), data)
                .map_err(|e| VmError::io(format!("writing control file {name}"), e))
        };
        write("env", &env)?;
        write("cmd", cmd)?;
        write("stage2", include_str!("stage2.sh"))?;
        write("modprobe", include_str!("modprobe.sh"))?;
        set_executable(&ctl.join("modprobe"))?;

        let mut args: Vec<String> = self.accel.qemu_args(self.cpus).to_vec();
        args.extend([
            "-smp".into(),
            self.cpus.to_string(),
            "-m".into(),
            format!("{}M", self.memory_mb),
            "-nographic".into(),
            "-nodefaults".into(),
            "-no-reboot".into(),
            "-serial".into(),
            "stdio".into(),
            "-kernel".into(),
            self.kernel.boot_image().to_string_lossy().into_owned(),
            "-initrd".into(),
            self.kernel.initrd.to_string_lossy().into_owned(),
            "-append".into(),
            format!(
                "console=ttyS0 quiet loglevel=3 panic=-1 mitigations=off{}",
                if self.systemd { " rka.systemd" } else { "" }
            ),
            "-virtfs".into(),
            "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
                .into(),
            "-virtfs".into(),
            format!(
                "local,path={},mount_tag=rkactl,security_model=none",
                virtfs_path(ctl)?
            ),
        ]);
        if let Some(w) = &hostwork {
            args.push("-virtfs".into());
            args.push(format!(
                "local,path={},mount_tag=hostwork,security_model=none,readonly=on,multidevs=remap",
                virtfs_path(w)?
            ));
        }
        if let Some(s) = &scratch {
            args.push("-virtfs".into());
            args.push(format!(
                "local,path={},mount_tag=scratch,security_model=none,multidevs=remap",
                virtfs_path(s)?
            ));
        }
        let start = Instant::now();
        let mut child = Command::new(&self.qemu)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| VmError::io(format!("starting {}", self.qemu.display()), e))?;
        let console_reader = child.stdout.take().map(|mut out| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = out.read_to_end(&mut buf);
                buf
            })
        });
        let stderr_reader = child.stderr.take().map(|mut err| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = err.read_to_end(&mut buf);
                buf
            })
        });
        let mut timed_out = false;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if start.elapsed() > self.timeout => {
                    let _ = child.kill();
                    let _ = child.wait();
                    timed_out = true;
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(VmError::io("waiting for qemu".into(), e)),
            }
        }
        let elapsed = start.elapsed();
        let mut console = console_reader
            .and_then(|h| h.join().ok())
            .map(|b| clean_console(&b))
            .unwrap_or_default();
        if let Some(err) = stderr_reader.and_then(|h| h.join().ok()) {
            console.push_str(&String::from_utf8_lossy(&err));
        }
        if std::env::var_os("RKA_VM_VERBOSE").is_some() {
            eprintln!("{console}");
        }
        if timed_out {
            let partial = ["stdout", "stderr"]
                .iter()
                .filter_map(|n| {
                    std::fs::read_to_string(ctl.join(n))
                        .ok()
                        .map(|t| format!("--- {n}:\n{t}"))
                })
                .collect::<String>();
            return Err(VmError::Timeout(
                self.timeout,
                format!("{console}{partial}"),
            ));
        }
        let status = std::fs::read_to_string(ctl.join("status"))
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
            .or_else(|| status_from_console(&console));
        let Some(status) = status else {
            return Err(VmError::NoStatus(console));
        };
        let read = |name: &str| {
            std::fs::read(ctl.join(name))
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        Ok(Output {
            stdout: read("stdout"),
            stderr: read("stderr"),
            status,
            console,
            elapsed,
        })
    }
}

/// One line saying why the KVM probe boot failed: the hypervisor's own complaint when the
/// console has one (`KVM internal error`, `emulation failure`), else the error's first line.
fn probe_failure(e: &VmError) -> String {
    let text = e.to_string();
    // The rest of the line from `needle` on (qemu's message may follow the BIOS's text).
    let from = |needle: &str| {
        text.find(needle)
            .map(|at| text[at..].lines().next().unwrap_or_default().trim())
    };
    let first = text.lines().next().unwrap_or("no output").trim();
    match (from("KVM internal error"), from("emulation failure")) {
        (Some(k), Some(e)) => format!("{k}, {e}"),
        (Some(k), None) => k.to_string(),
        (None, _) => first.to_string(),
    }
}

/// Quotes `s` for a POSIX shell.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// qemu's -virtfs option list uses commas as separators; a path with one cannot be passed.
fn virtfs_path(p: &Path) -> Result<String, VmError> {
    let s = p.to_string_lossy().into_owned();
    if s.contains(',') {
        return Err(VmError::Kernel(format!(
            "cannot share a path with a comma: {s}"
        )));
    }
    Ok(s)
}

fn set_executable(p: &Path) -> Result<(), VmError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| VmError::io(format!("chmod {}", p.display()), e))
}

/// Strips the terminal escape sequences SeaBIOS prints and carriage returns.
fn clean_console(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                // CSI: ESC [ params final-byte; other escapes: ESC + one char.
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for d in chars.by_ref() {
                        if ('@'..='~').contains(&d) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\r' => {}
            _ => out.push(c),
        }
    }
    out
}

/// Reads the `RKA-VM-EXIT <status>` marker line from the console.
fn status_from_console(console: &str) -> Option<i32> {
    console
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("RKA-VM-EXIT "))
        .and_then(|s| s.trim().parse().ok())
}

/// Prepares a VM for a test, or explains why not.
///
/// Returns `None` (after printing the reason) when the VM cannot run here: no qemu, no
/// kernel package reachable. With `CI=true` in the environment it panics instead, so a
/// CI machine that should run VM tests cannot silently skip them.
pub fn require_vm() -> Option<Vm> {
    match Vm::prepare() {
        Ok(vm) => Some(vm),
        Err(e) => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true");
            assert!(!ci, "VM test cannot run with CI=true: {e}");
            eprintln!("skipping VM test: {e}");
            None
        }
    }
}

/// Directories the guest covers with a fresh tmpfs, hiding the host's files there.
const MASKED: &[&str] = &["/tmp", "/var/tmp"];

/// When the caller works (current directory or executable) under a directory the guest
/// masks, the top directory under it (e.g. `/tmp/ciclone` for a clone in /tmp) is shared
/// again so that the same paths work inside the guest.
fn masked_workdir(cwd: &Path, exe: Option<&Path>) -> Option<PathBuf> {
    for p in std::iter::once(cwd).chain(exe) {
        for m in MASKED {
            if let Ok(rest) = p.strip_prefix(m) {
                if let Some(first) = rest.components().next() {
                    return Some(Path::new(m).join(first));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_escapes_are_removed() {
        let raw = b"\x1bc\x1b[?7l\x1b[2JSeaBIOS\r\nRKA-VM-EXIT 3\r\n";
        let text = clean_console(raw);
        assert_eq!(text, "SeaBIOS\nRKA-VM-EXIT 3\n");
        assert_eq!(status_from_console(&text), Some(3));
        assert_eq!(status_from_console("nothing here"), None);
    }

    #[test]
    fn probe_failure_names_the_hypervisor_complaint() {
        let hung = VmError::Timeout(
            Duration::from_secs(60),
            "SeaBIOS\nBooting from ROM..KVM internal error. Suberror: 1\nextra data[0]: 0x1\n\
             emulation failure\nRAX=0\n"
                .into(),
        );
        assert_eq!(
            probe_failure(&hung),
            "KVM internal error. Suberror: 1, emulation failure"
        );
        let silent = VmError::Timeout(Duration::from_secs(60), "SeaBIOS\n".into());
        assert_eq!(probe_failure(&silent), "VM timed out after 60s; console:");
    }

    #[test]
    fn accelerator_arguments() {
        assert_eq!(
            Accel::Tcg.qemu_args(1),
            ["-accel", "tcg", "-cpu", "max"].map(String::from)
        );
        assert_eq!(
            Accel::Tcg.qemu_args(2),
            ["-accel", "tcg,thread=multi", "-cpu", "max"].map(String::from)
        );
        assert_eq!(
            Accel::Kvm.qemu_args(2),
            ["-accel", "kvm", "-cpu", "host"].map(String::from)
        );
    }

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(shell_quote("a'b"), "'a'\\''b'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn virtfs_rejects_commas() {
        assert!(virtfs_path(Path::new("/tmp/a,b")).is_err());
        assert_eq!(
            masked_workdir(Path::new("/tmp/ciclone/crates/x"), None),
            Some(PathBuf::from("/tmp/ciclone"))
        );
        assert_eq!(
            masked_workdir(
                Path::new("/work/main"),
                Some(Path::new("/var/tmp/b/target/t"))
            ),
            Some(PathBuf::from("/var/tmp/b"))
        );
        assert_eq!(
            masked_workdir(
                Path::new("/work/main"),
                Some(Path::new("/work/main/target/t"))
            ),
            None
        );
        assert_eq!(
            virtfs_path(Path::new("/tmp/ab")).ok().as_deref(),
            Some("/tmp/ab")
        );
    }
}
