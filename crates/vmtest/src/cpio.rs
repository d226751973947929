//! A writer for the "newc" cpio format the kernel unpacks as an initramfs.
//!
//! Only what an initramfs needs: directories, regular files and symbolic links, with
//! fixed ownership (root) and a zero timestamp so the archive is reproducible.

/// Builds a newc archive in memory.
#[derive(Debug, Default)]
pub struct CpioWriter {
    buf: Vec<u8>,
    next_ino: u32,
}

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;

impl CpioWriter {
    /// Starts an empty archive.
    pub fn new() -> Self {
        Self {
            buf: Vec::new(),
            next_ino: 1,
        }
    }

    /// Adds a directory (`path` without a leading slash, e.g. `bin`).
    pub fn dir(&mut self, path: &str, perm: u32) {
        self.entry(path, S_IFDIR | (perm & 0o7777), 2, &[]);
    }

    /// Adds a regular file with the given contents.
    pub fn file(&mut self, path: &str, perm: u32, data: &[u8]) {
        self.entry(path, S_IFREG | (perm & 0o7777), 1, data);
    }

    /// Adds a symbolic link pointing at `target`.
    pub fn symlink(&mut self, path: &str, target: &str) {
        self.entry(path, S_IFLNK | 0o777, 1, target.as_bytes());
    }

    /// Appends the trailer and returns the archive bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.next_ino = 0;
        self.header("TRAILER!!!", 0, 1, 0);
        self.buf
    }

    fn entry(&mut self, path: &str, mode: u32, nlink: u32, data: &[u8]) {
        let path = path.trim_start_matches('/');
        self.header(path, mode, nlink, data.len());
        self.buf.extend_from_slice(data);
        self.pad();
        self.next_ino += 1;
    }

    fn header(&mut self, name: &str, mode: u32, nlink: u32, size: usize) {
        // 13 fields of 8 hex digits after the magic; the name length counts its NUL.
        let size = u32::try_from(size).unwrap_or(u32::MAX);
        let name_len = u32::try_from(name.len() + 1).unwrap_or(u32::MAX);
        let fields = [
            self.next_ino,
            mode,
            0,
            0,
            nlink,
            0,
            size,
            0,
            0,
            0,
            0,
            name_len,
            0,
        ];
        self.buf.extend_from_slice(b"070701");
        for f in fields {
            self.buf.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(0);
        self.pad();
    }

    fn pad(&mut self) {
        while self.buf.len() & 3 != 0 {
            self.buf.push(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_file_layout() {
        let mut w = CpioWriter::new();
        w.file("init", 0o755, b"hi\n");
        let bytes = w.finish();
        // Header: magic + 13 * 8 hex digits = 110 bytes, then "init\0" (5) padded to 116.
        assert_eq!(&bytes[..6], b"070701");
        assert_eq!(&bytes[6..14], b"00000001"); // inode
        assert_eq!(&bytes[14..22], b"000081ED"); // regular file, 0755
        assert_eq!(&bytes[54..62], b"00000003"); // file size
        assert_eq!(&bytes[94..102], b"00000005"); // name length with NUL
        assert_eq!(&bytes[110..115], b"init\0");
        assert_eq!(&bytes[116..119], b"hi\n");
        // Data padded to 4 bytes, then the trailer entry.
        assert_eq!(&bytes[120..126], b"070701");
        assert_eq!(bytes.len() & 3, 0);
        let trailer = &bytes[120 + 110..120 + 110 + 11];
        assert_eq!(trailer, b"TRAILER!!!\0");
    }

    #[test]
    fn cpio_tool_can_list_archive() {
        // Cross-check with GNU cpio when it is installed.
        let Ok(mut child) = std::process::Command::new("cpio")
            .args(["-it", "--quiet"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
        else {
            eprintln!("cpio not installed; skipping the cross-check");
            return;
        };
        let mut w = CpioWriter::new();
        w.dir("bin", 0o755);
        w.file("bin/tool", 0o755, b"#!/bin/sh\n");
        w.symlink("bin/sh", "tool");
        let bytes = w.finish();
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            stdin.write_all(&bytes).expect("write");
        }
        let out = child.wait_with_output().expect("cpio output");
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "bin\nbin/tool\nbin/sh\n"
        );
    }
}
