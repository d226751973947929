//! The only crate in the workspace that may contain `unsafe` code or issue raw syscalls.
//!
//! Every other crate has `unsafe_code = "forbid"` through the workspace lints and reaches the
//! operating system either through safe, well-kept crates (tokio, socket2, nix's safe API,
//! the rust-netlink stack) or through the small, documented wrappers here.

pub mod alloc;
pub mod host;
pub mod net;
pub mod netns;
pub mod pcre;
pub mod proc_events;
pub mod resident;
pub mod sched;
