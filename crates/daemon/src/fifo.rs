//! Notify FIFOs (`notify_fifo`, `vrrp_notify_fifo`, `lvs_notify_fifo`), shared by both children.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;

/// Opens each FIFO once (creating it, mode 0600, when missing). Read-write, so that opening
/// never blocks and writes never fail for want of a reader. `what` names the FIFOs in logs.
pub fn open_fifos<'a>(paths: impl IntoIterator<Item = &'a str>, what: &str) -> Vec<(String, File)> {
    let mut fifos: Vec<(String, File)> = Vec::new();
    for path in paths {
        if fifos.iter().any(|(p, _)| p == path) {
            continue;
        }
        if !std::path::Path::new(path).exists() {
            if let Err(e) =
                nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))
            {
                tracing::error!("cannot create {what} {path}: {e}");
                continue;
            }
        }
        match OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
        {
            Ok(file) => fifos.push((path.to_string(), file)),
            Err(e) => tracing::error!("cannot open {what} {path}: {e}"),
        }
    }
    fifos
}
