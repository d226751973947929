//! Boots a stock Debian kernel in qemu (TCG) with the host root shared read-only over
//! virtio-9p, loads the ip_vs modules, runs a command inside and returns its output.
