//! The `rkeepalived` binary.

mod cli;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.version {
        println!(
            "rkeepalived v{} (keepalived 2.2.7 compatible)",
            env!("CARGO_PKG_VERSION")
        );
        return ExitCode::SUCCESS;
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
    if cli.genhash {
        eprintln!("rkeepalived: genhash mode (-T) is not implemented yet");
        return ExitCode::from(2);
    }
    let opts = rka_config::LoadOptions {
        config_id: cli.config_id.clone(),
        instance: None,
        skip_host_checks: false,
    };
    if let Some(out) = &cli.config_test {
        return config_test(&cli, &opts, out);
    }
    let loaded = rka_config::load(&cli.use_file, &opts);
    for d in loaded.diagnostics.items() {
        eprintln!("{d}");
    }
    if cli.dump_conf {
        print!("{}", loaded.config.dump());
    }
    if loaded.diagnostics.is_fatal() {
        return ExitCode::from(1);
    }
    eprintln!("rkeepalived: the daemon runtime is not implemented yet; only -t and -d work");
    ExitCode::from(2)
}

/// `-t[=FILE]`: check the configuration, print diagnostics and exit as keepalived does.
fn config_test(cli: &Cli, opts: &rka_config::LoadOptions, out: &str) -> ExitCode {
    let loaded = rka_config::load(&cli.use_file, opts);
    let mut text = String::new();
    for d in loaded.diagnostics.items() {
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
    ExitCode::from(loaded.diagnostics.exit_code() as u8)
}
