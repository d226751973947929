//! The `rkeepalived` binary: keepalived 2.2.7's command line, `-t`/`-d`, genhash mode, and the
//! daemon (a supervising parent with VRRP and health-checker children).

mod checker;
mod child;
mod cli;
mod fifo;
mod lifecycle;
mod logging;
mod manpage;
mod observe;
mod pidfile;
mod procattr;
mod sdnotify;
mod smtp;
mod supervisor;
#[cfg(test)]
mod testutil;
mod utc;
mod vrrp;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use cli::{ChildRole, Cli};

/// mimalloc: configuration loading is allocation-heavy (hundreds of thousands of small strings
/// for large LVS configurations) and glibc malloc dominated its profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The load options the command line asks for.
pub fn load_options(cli: &Cli) -> rka_config::LoadOptions {
    rka_config::LoadOptions {
        config_id: cli.config_id.clone(),
        ..Default::default()
    }
}

fn main() -> ExitCode {
    // The heap in small pages: freed memory can go back to the system (a checker child drops
    // its configuration model; huge pages kept 20 MB more resident at 36,800 real servers).
    rka_sys::alloc::use_small_pages();
    // The objects loaded with the binary, whose code pages a child drops after its load.
    rka_sys::resident::record_startup_objects();
    // genhash mode takes genhash's own options (-s -p -u -S -V ... clash with keepalived's).
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(pos) = args.iter().position(|a| a == "-T" || a == "--genhash") {
        let rest: Vec<String> = args
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != pos)
            .map(|(_, a)| a.clone())
            .collect();
        let code = rka_check::genhash::genhash_main(&rest);
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let cli = Cli::parse();
    if cli.version {
        println!(
            "rkeepalived v{} (keepalived 2.2.7 compatible)",
            env!("CARGO_PKG_VERSION")
        );
        return ExitCode::SUCCESS;
    }
    if let Some(dir) = &cli.generate_man {
        return match manpage::generate(dir) {
            Ok(files) => {
                for f in files {
                    println!("{}", f.display());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("cannot write the man pages: {e}");
                ExitCode::from(1)
            }
        };
    }
    if let Some(name) = &cli.signum {
        return match cli::signum(name) {
            Some(n) => {
                println!("{n}");
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("Unknown sigfunc {name}");
                ExitCode::from(1)
            }
        };
    }
    if let Some(out) = &cli.config_test {
        return config_test(&cli, out);
    }
    // `-s NAME` moves the default pidfiles of every process into /run/keepalived/NAME/ (the
    // parent decides once it has read `net_namespace` from the configuration).
    if cli.child.is_some() {
        pidfile::set_namespace(cli.namespace.as_deref());
    }
    match cli.child {
        Some(ChildRole::Vrrp) => child::main(cli, logging::Role::Vrrp),
        Some(ChildRole::Checker) => child::main(cli, logging::Role::Checker),
        None => supervisor::main(cli),
    }
}

/// `-t[=FILE]`: check the configuration, print diagnostics and exit as keepalived does.
fn config_test(cli: &Cli, out: &str) -> ExitCode {
    let loaded = rka_config::load(&cli.use_file, &load_options(cli));
    let mut text = String::new();
    // What only a running daemon logs (found when a child prepares its scripts) is not
    // printed, as keepalived's -t does not.
    for d in loaded.diagnostics.items().iter().filter(|d| !d.runtime) {
        text.push_str(&d.to_string());
        text.push('\n');
    }
    if out.is_empty() {
        let _ = std::io::stderr().write_all(text.as_bytes());
    } else if let Err(e) = std::fs::write(out, &text) {
        eprintln!("cannot write {out}: {e}");
    }
    if cli.dump_conf {
        print!("{}", loaded.config.dump());
    }
    let code = loaded.diagnostics.exit_code() as u8;
    // The process ends here: freeing a model of tens of thousands of checkers one allocation
    // at a time would only delay the exit.
    std::mem::forget(loaded);
    ExitCode::from(code)
}
