//! Fetching and unpacking Debian's stock kernel, and building the initramfs that boots it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cpio::CpioWriter;
use crate::VmError;

/// Modules the initramfs loads before it can mount the host root over virtio-9p.
/// `overlay` gives systemd mode its writable root.
const BOOT_MODULES: &[&str] = &["virtio_pci", "9pnet_virtio", "9p", "overlay"];

/// The first-stage init: mounts the host root read-only, the control share and the
/// scratch share, then hands over to the control share's second stage inside the host root.
const INIT_SCRIPT: &str = include_str!("init.sh");

/// FNV-1a of the init script and the boot module list, naming the initramfs built from them.
fn init_script_hash() -> u64 {
    INIT_SCRIPT
        .bytes()
        .chain(BOOT_MODULES.iter().flat_map(|m| m.bytes().chain([0])))
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        })
}

/// An unpacked kernel package ready to boot.
#[derive(Debug, Clone)]
pub struct Kernel {
    /// Kernel release, e.g. `6.1.0-56-amd64`.
    pub release: String,
    /// Directory holding the unpacked package (`boot/`, `lib/modules/<release>`).
    pub root: PathBuf,
    /// The compressed kernel image.
    pub vmlinuz: PathBuf,
    /// The initramfs built for this kernel.
    pub initrd: PathBuf,
    /// The uncompressed kernel (ELF with a PVH entry note), when it could be extracted:
    /// qemu then starts it directly, skipping the BIOS boot path and the in-guest
    /// decompression, which is most of the boot time under TCG.
    pub vmlinux: Option<PathBuf>,
}

impl Kernel {
    /// Loads a kernel prepared earlier in `dir` (the cache's `kernel` directory).
    pub fn load(dir: &Path) -> Result<Self, VmError> {
        let release = fs::read_to_string(dir.join("release"))
            .map_err(|e| VmError::io(format!("reading {}/release", dir.display()), e))?
            .trim()
            .to_string();
        let root = dir.join("root");
        let vmlinuz = root.join("boot").join(format!("vmlinuz-{release}"));
        if !vmlinuz.is_file() {
            return Err(VmError::Kernel(format!("{} is missing", vmlinuz.display())));
        }
        // The initramfs carries our init script: one per script version, so a cached kernel
        // picks up a changed script without a new download.
        let initrd = dir.join(format!("initrd-{:016x}.img", init_script_hash()));
        if !initrd.is_file() {
            let image = build_initramfs(&root, &release)?;
            let tmp = dir.join(format!("initrd.tmp-{}", std::process::id()));
            fs::write(&tmp, image).map_err(|e| VmError::io("writing the initramfs".into(), e))?;
            fs::rename(&tmp, &initrd)
                .map_err(|e| VmError::io("installing the initramfs".into(), e))?;
        }
        let vmlinux = Some(dir.join("vmlinux")).filter(|p| p.is_file());
        Ok(Self {
            release,
            root,
            vmlinuz,
            initrd,
            vmlinux,
        })
    }

    /// The image to hand to qemu's `-kernel`.
    pub fn boot_image(&self) -> &Path {
        self.vmlinux.as_deref().unwrap_or(&self.vmlinuz)
    }

    /// Extracts the uncompressed PVH-bootable kernel next to the cache entry, once.
    /// Failure is not an error: the compressed image still boots, only slower.
    pub fn ensure_vmlinux(&mut self, dir: &Path) {
        if self.vmlinux.is_some() {
            return;
        }
        let Ok(image) = fs::read(&self.vmlinuz) else {
            return;
        };
        let Some(elf) = extract_vmlinux(&image) else {
            return;
        };
        if !has_pvh_note(&elf) {
            return;
        }
        let tmp = dir.join(format!("vmlinux.tmp-{}", std::process::id()));
        let target = dir.join("vmlinux");
        if fs::write(&tmp, &elf).is_ok() && fs::rename(&tmp, &target).is_ok() {
            self.vmlinux = Some(target);
        } else {
            let _ = fs::remove_file(&tmp);
        }
    }

    /// Returns the kernel cached in `cache`, downloading and unpacking it first when needed.
    ///
    /// The work happens in a private directory that is renamed into place at the end, so
    /// concurrent callers (parallel tests) never see a half-prepared kernel.
    pub fn prepare(cache: &Path) -> Result<Self, VmError> {
        let final_dir = cache.join("kernel");
        if let Ok(k) = Self::load(&final_dir) {
            return Ok(k);
        }
        fs::create_dir_all(cache)
            .map_err(|e| VmError::io(format!("creating {}", cache.display()), e))?;
        let work = cache.join(format!("prepare-{}", std::process::id()));
        let _ = fs::remove_dir_all(&work);
        fs::create_dir_all(&work)
            .map_err(|e| VmError::io(format!("creating {}", work.display()), e))?;
        let result = Self::prepare_in(&work);
        match result {
            Ok(release) => {
                if fs::rename(&work, &final_dir).is_err() {
                    // Another process won the race; its copy is as good as ours.
                    let _ = fs::remove_dir_all(&work);
                }
                let k = Self::load(&final_dir)?;
                if k.release != release {
                    tracing_note(&format!(
                        "using cached kernel {} (fetched {release})",
                        k.release
                    ));
                }
                Ok(k)
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&work);
                Err(e)
            }
        }
    }

    fn prepare_in(work: &Path) -> Result<String, VmError> {
        // The meta package names the versioned image package in its Depends field.
        run(Command::new("apt-get")
            .args(["download", "linux-image-amd64"])
            .current_dir(work))?;
        let meta = find_deb(work, "linux-image-amd64_")?;
        let depends = run_stdout(Command::new("dpkg-deb").arg("-f").arg(&meta).arg("Depends"))?;
        let image_pkg = image_package_from_depends(&depends).ok_or_else(|| {
            VmError::Kernel(format!("no linux-image-*-amd64 in Depends: {depends:?}"))
        })?;
        run(Command::new("apt-get")
            .args(["download", &image_pkg])
            .current_dir(work))?;
        let deb = find_deb(work, &format!("{image_pkg}_"))?;
        let root = work.join("root");
        run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root))?;
        let _ = fs::remove_file(&deb);
        let _ = fs::remove_file(&meta);
        let release = release_of_package(&image_pkg).to_string();
        if release.is_empty() || !root.join("lib/modules").join(&release).is_dir() {
            return Err(VmError::Kernel(format!(
                "{image_pkg} has no lib/modules/{release}"
            )));
        }
        // Debian's postinst would run depmod; we run it against the unpacked tree.
        run(Command::new("depmod").arg("-b").arg(&root).arg(&release))?;
        fs::write(work.join("release"), format!("{release}\n"))
            .map_err(|e| VmError::io("writing release".into(), e))?;
        Ok(release)
    }
}

/// Finds the compressed payload in a bzImage and decompresses it with the matching host
/// tool; returns the ELF `vmlinux`.
pub fn extract_vmlinux(bzimage: &[u8]) -> Option<Vec<u8>> {
    const FORMATS: &[(&[u8], &str, &[&str])] = &[
        (b"\xfd7zXZ\x00", "xz", &["-dc", "--single-stream"]),
        (b"\x28\xb5\x2f\xfd", "zstd", &["-dcq"]),
        (b"\x1f\x8b\x08", "gzip", &["-dcq"]),
    ];
    for (magic, tool, args) in FORMATS {
        let mut from = 0;
        for _ in 0..4 {
            let Some(found) = bzimage[from..]
                .windows(magic.len())
                .position(|w| w == *magic)
            else {
                break;
            };
            let pos = from + found;
            if let Some(elf) = decompress(tool, args, &bzimage[pos..]) {
                return Some(elf);
            }
            from = pos + 1;
        }
    }
    None
}

fn decompress(tool: &str, args: &[&str], data: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    let data = data.to_vec();
    // Feed from a thread so a large output cannot deadlock against a full pipe.
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().ok()?;
    let _ = feeder.join();
    // Trailing bytes after the stream make some tools exit non-zero; the ELF is what counts.
    (out.stdout.len() > 4096 && out.stdout.starts_with(b"\x7fELF")).then_some(out.stdout)
}

/// True when the ELF carries the Xen PVH entry note (type 18, name "Xen"), which qemu
/// needs to boot an uncompressed kernel directly.
pub fn has_pvh_note(elf: &[u8]) -> bool {
    // Elf note header: namesz = 4, descsz (any), type = 18, then the name "Xen\0".
    elf.windows(16)
        .any(|w| w[0..4] == [4, 0, 0, 0] && &w[8..16] == b"\x12\x00\x00\x00Xen\x00")
}

fn tracing_note(msg: &str) {
    eprintln!("rka-vmtest: {msg}");
}

/// Picks `linux-image-<release>` out of a Depends field such as
/// `linux-image-6.1.0-56-amd64 (= 6.1.192-2)` (an alternative list is allowed).
pub fn image_package_from_depends(depends: &str) -> Option<String> {
    depends
        .split([',', '|'])
        .map(|alt| alt.split_whitespace().next().unwrap_or(""))
        .find(|name| {
            name.starts_with("linux-image-")
                && (name.ends_with("-amd64") || name.ends_with("-amd64-unsigned"))
        })
        .map(str::to_string)
}

/// The kernel release a `linux-image-<release>[-unsigned]` package installs.
pub fn release_of_package(pkg: &str) -> &str {
    pkg.trim_start_matches("linux-image-")
        .trim_end_matches("-unsigned")
}

fn find_deb(dir: &Path, prefix: &str) -> Result<PathBuf, VmError> {
    let entries =
        fs::read_dir(dir).map_err(|e| VmError::io(format!("listing {}", dir.display()), e))?;
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".deb"))
        })
        .ok_or_else(|| VmError::Kernel(format!("apt-get download left no {prefix}*.deb")))
}

/// Finds a statically linked busybox (Debian's busybox-static).
fn find_busybox() -> Result<Vec<u8>, VmError> {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        if let Ok(bytes) = fs::read(p) {
            // A dynamic busybox names its program interpreter; it could not run in the
            // initramfs, which has no libc.
            let dynamic = bytes.windows(12).any(|w| w == b"/lib64/ld-li");
            if !dynamic {
                return Ok(bytes);
            }
        }
    }
    Err(VmError::Missing(
        "a static busybox (apt-get install busybox-static)".into(),
    ))
}

/// Lists the module files, dependencies first, that `modprobe` would load for `modules`.
fn module_files(root: &Path, release: &str, modules: &[&str]) -> Result<Vec<PathBuf>, VmError> {
    let mut files: Vec<PathBuf> = Vec::new();
    for m in modules {
        let out = run_stdout(Command::new("modprobe").arg("-d").arg(root).args([
            "-S",
            release,
            "--show-depends",
            m,
        ]))?;
        for line in out.lines() {
            let mut words = line.split_whitespace();
            if words.next() == Some("insmod") {
                if let Some(path) = words.next() {
                    let path = PathBuf::from(path);
                    if !files.contains(&path) {
                        files.push(path);
                    }
                }
            }
            // "builtin X" lines need nothing.
        }
    }
    Ok(files)
}

/// Builds the initramfs: busybox, the 9p module chain and the first-stage init.
pub fn build_initramfs(root: &Path, release: &str) -> Result<Vec<u8>, VmError> {
    let busybox = find_busybox()?;
    let modules = module_files(root, release, BOOT_MODULES)?;
    let mut w = CpioWriter::new();
    for d in [
        "bin", "sbin", "usr", "usr/bin", "usr/sbin", "proc", "sys", "dev", "newroot", "modules",
    ] {
        w.dir(d, 0o755);
    }
    w.file("bin/busybox", 0o755, &busybox);
    let mut list = String::new();
    for path in &modules {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| VmError::Kernel(format!("odd module path {}", path.display())))?;
        let data =
            fs::read(path).map_err(|e| VmError::io(format!("reading {}", path.display()), e))?;
        w.file(&format!("modules/{name}"), 0o644, &data);
        list.push_str(name);
        list.push('\n');
    }
    w.file("modules.list", 0o644, list.as_bytes());
    w.file("init", 0o755, INIT_SCRIPT.as_bytes());
    Ok(w.finish())
}

fn run(cmd: &mut Command) -> Result<(), VmError> {
    run_stdout(cmd).map(|_| ())
}

fn run_stdout(cmd: &mut Command) -> Result<String, VmError> {
    let desc = format!("{cmd:?}");
    let out = cmd
        .output()
        .map_err(|e| VmError::io(format!("running {desc}"), e))?;
    if !out.status.success() {
        return Err(VmError::Command {
            command: desc,
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends_field_names_the_image() {
        assert_eq!(
            image_package_from_depends("linux-image-6.1.0-56-amd64 (= 6.1.192-2)").as_deref(),
            Some("linux-image-6.1.0-56-amd64")
        );
        assert_eq!(
            image_package_from_depends("linux-image-6.12.9-amd64-unsigned (= 1) | foo").as_deref(),
            Some("linux-image-6.12.9-amd64-unsigned")
        );
        assert_eq!(
            release_of_package("linux-image-6.12.9-amd64-unsigned"),
            "6.12.9-amd64"
        );
        assert_eq!(image_package_from_depends("libc6, foo"), None);
    }

    #[test]
    fn pvh_note_detection() {
        let mut note = vec![4, 0, 0, 0, 8, 0, 0, 0, 0x12, 0, 0, 0];
        note.extend_from_slice(b"Xen\0");
        assert!(has_pvh_note(&note));
        note[8] = 0x11;
        assert!(!has_pvh_note(&note));
    }

    #[test]
    fn gzip_payload_is_found_after_a_header() {
        // A fake "bzImage": junk, then a gzip stream of an ELF-looking blob.
        let mut elf = b"\x7fELF".to_vec();
        elf.resize(8192, 7);
        let Ok(mut child) = Command::new("gzip")
            .arg("-c")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
        else {
            eprintln!("gzip not installed; skipping");
            return;
        };
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            stdin.write_all(&elf).expect("write");
        }
        let gz = child.wait_with_output().expect("gzip").stdout;
        let mut image = vec![0u8; 600];
        image.extend_from_slice(&gz);
        image.extend_from_slice(&[0xAB; 64]);
        assert_eq!(extract_vmlinux(&image), Some(elf));
        assert_eq!(extract_vmlinux(&[0u8; 100]), None);
    }
}
