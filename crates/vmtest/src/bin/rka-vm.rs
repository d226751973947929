//! `rka-vm`: runs a shell command in a throw-away VM booted on Debian's stock kernel.
//!
//! Usage: `rka-vm [--scratch DIR] [--timeout SECS] [--cpus N] [--modules a,b] [--systemd] [--prepare] [--] CMD...`
//! (`--systemd`: systemd as PID 1 on a writable overlay root, see [`rka_vmtest::Vm::with_systemd`])
//! Prints the command's stdout and stderr, and exits with its status.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

fn usage() -> ExitCode {
    eprintln!(
        "usage: rka-vm [--scratch DIR] [--timeout SECS] [--cpus N] [--modules m1,m2] [--systemd] [--console] [--prepare] [--] CMD..."
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut scratch = None;
    let mut timeout = None;
    let mut cpus = None;
    let mut modules: Option<Vec<String>> = None;
    let mut prepare_only = false;
    let mut console = false;
    let mut systemd = false;
    let mut cmd: Vec<String> = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--scratch" => scratch = args.next(),
            "--timeout" => match args.next().and_then(|s| s.parse::<u64>().ok()) {
                Some(t) => timeout = Some(Duration::from_secs(t)),
                None => return usage(),
            },
            "--cpus" => match args.next().and_then(|s| s.parse::<u32>().ok()) {
                Some(n) if n >= 1 => cpus = Some(n),
                _ => return usage(),
            },
            "--modules" => {
                modules = args.next().map(|s| {
                    s.split(',')
                        .filter(|m| !m.is_empty())
                        .map(str::to_string)
                        .collect()
                })
            }
            "--prepare" => prepare_only = true,
            "--console" => console = true,
            "--systemd" => systemd = true,
            "-h" | "--help" => return usage(),
            "--" => {
                cmd.extend(args.by_ref());
            }
            _ => {
                cmd.push(a);
                cmd.extend(args.by_ref());
            }
        }
    }
    let mut vm = match rka_vmtest::Vm::prepare() {
        Ok(vm) => vm,
        Err(e) => {
            eprintln!("rka-vm: {e}");
            return ExitCode::from(125);
        }
    };
    if prepare_only {
        println!(
            "kernel {} ready in {} (accelerator {})",
            vm.kernel().release,
            vm.kernel().root.display(),
            vm.accel().name()
        );
        return ExitCode::SUCCESS;
    }
    if cmd.is_empty() {
        return usage();
    }
    if let Some(s) = scratch {
        vm = vm.with_scratch(s);
    }
    if let Some(t) = timeout {
        vm = vm.with_timeout(t);
    }
    if let Some(n) = cpus {
        vm = vm.with_cpus(n);
    }
    if let Some(m) = modules {
        vm = vm.with_modules(m);
    }
    vm = vm.with_systemd(systemd);
    match vm.run(&cmd.join(" ")) {
        Ok(out) => {
            if console {
                eprintln!("{}", out.console);
            }
            let mut stdout = std::io::stdout();
            let _ = stdout.write_all(out.stdout.as_bytes());
            let _ = stdout.flush();
            let _ = std::io::stderr().write_all(out.stderr.as_bytes());
            eprintln!(
                "rka-vm: exit {} after {:.1}s",
                out.status,
                out.elapsed.as_secs_f64()
            );
            ExitCode::from(u8::try_from(out.status).unwrap_or(255))
        }
        Err(e) => {
            eprintln!("rka-vm: {e}");
            ExitCode::from(125)
        }
    }
}
