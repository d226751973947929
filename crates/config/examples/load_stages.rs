//! Times each stage of loading a configuration, as the daemon loads it (mimalloc).
//!
//! `cargo run --release -p rka-config --example load_stages -- FILE [RUNS] [--skip-lvs]`
//! prints, for every run, the preprocess / tree / model times and the diagnostics count, then
//! the fastest run. `--skip-lvs` loads as the parent and the VRRP child do.

use std::path::PathBuf;
use std::time::Duration;

use rka_config::{load, LoadOptions, LoadTimings};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let skip_lvs = args.iter().any(|a| a == "--skip-lvs");
    let mut rest = args.iter().filter(|a| !a.starts_with("--"));
    let Some(file) = rest.next().map(PathBuf::from) else {
        eprintln!("usage: load_stages FILE [RUNS] [--skip-lvs]");
        return std::process::ExitCode::from(2);
    };
    let runs: usize = rest.next().and_then(|n| n.parse().ok()).unwrap_or(5);
    let opts = LoadOptions {
        skip_host_checks: true,
        skip_lvs,
        ..Default::default()
    };
    let mut best: Option<LoadTimings> = None;
    for run in 1..=runs.max(1) {
        let loaded = load(&file, &opts);
        let t = loaded.timings;
        println!(
            "run {run}: {t}, {} diagnostic(s)",
            loaded.diagnostics.items().len()
        );
        if best.is_none_or(|b| t.total() < b.total()) {
            best = Some(t);
        }
        drop(loaded);
        rka_sys::alloc::release_free_memory();
        std::thread::sleep(Duration::from_millis(50));
    }
    if let Some(b) = best {
        println!("fastest: {b}");
    }
    std::process::ExitCode::SUCCESS
}
