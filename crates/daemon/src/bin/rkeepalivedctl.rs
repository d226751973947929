//! `rkeepalivedctl`: shows a running rkeepalived's VRRP instances and virtual servers, and
//! drains or undrains real servers, over the children's control sockets.
//!
//! Exit codes: 0 done; 1 the daemon (or the child needed) is not running or did not answer;
//! 2 bad usage; 3 the daemon refused the request (unknown virtual or real server...).

#[allow(dead_code)]
#[path = "../observe/protocol.rs"]
mod protocol;

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use protocol::{ChildKind, ChildStatus, ClientError, Reply, Request};

/// How long to wait for a child's reply.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Inspect and steer a running rkeepalived.
#[derive(Debug, Parser)]
#[command(name = "rkeepalivedctl", version)]
struct Args {
    /// The daemon's configuration id (its `-i ID`).
    #[arg(short = 'i', long = "config-id", value_name = "ID")]
    config_id: Option<String>,
    /// The daemon's network namespace: its `-s NAME`, or NAME of `ip netns exec NAME` when
    /// it was started there without `-s`.
    #[arg(short = 's', long = "namespace", value_name = "NAME")]
    namespace: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show instances and virtual servers (human tables), or everything as JSON.
    Show {
        /// What to show (default: instances and virtual servers).
        what: Option<What>,
    },
    /// Put a real server to weight 0, kept in IPVS, until undrained (reloads included).
    Drain {
        /// The virtual server: IP:PORT/PROTO, "fwmark N", "group NAME" or [IP]:proto:PORT.
        vs: String,
        /// The real server: IP:PORT.
        rs: String,
    },
    /// Give a drained real server its weight back.
    Undrain {
        /// The virtual server, as for drain.
        vs: String,
        /// The real server, as for drain.
        rs: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum What {
    /// VRRP instances and sync groups.
    Instances,
    /// Virtual and real servers.
    VirtualServers,
    /// Both children's full status, as JSON.
    Json,
}

/// A failure and its exit code.
struct Failure {
    code: u8,
    message: String,
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Failure {
        let hint = match e {
            ClientError::NotRunning { .. } => {
                " - is rkeepalived running (with the same -i/-s as given here)?"
            }
            _ => "",
        };
        Failure {
            code: 1,
            message: format!("{e}{hint}"),
        }
    }
}

fn ask(args: &Args, kind: ChildKind, req: &Request) -> Result<Reply, Failure> {
    let path = socket_of(args, kind);
    let reply = protocol::request_blocking(&path, kind, req, TIMEOUT)?;
    if reply.ok {
        Ok(reply)
    } else {
        Err(Failure {
            code: 3,
            message: format!(
                "{} child: {}",
                kind.name(),
                reply.error.unwrap_or_else(|| "request refused".into())
            ),
        })
    }
}

/// The control socket of `kind`: the one of a daemon started with `-s NAME` when it exists,
/// else, for a daemon started inside namespace NAME without `-s` (`ip netns exec NAME`), the
/// one named after that namespace's inode.
fn socket_of(args: &Args, kind: ChildKind) -> std::path::PathBuf {
    let id = args.config_id.as_deref();
    let path = protocol::socket_path(kind, args.namespace.as_deref(), id);
    if path.exists() {
        return path;
    }
    let by_inode = args
        .namespace
        .as_deref()
        .and_then(protocol::named_netns_inode)
        .map(|inode| {
            protocol::socket_path_in(
                std::path::Path::new(protocol::SOCKET_DIR),
                kind,
                None,
                Some(inode),
                id,
            )
        });
    match by_inode {
        Some(p) if p.exists() => p,
        _ => path,
    }
}

fn status(args: &Args, kind: ChildKind) -> Result<ChildStatus, Failure> {
    ask(args, kind, &Request::Status)?
        .status
        .ok_or_else(|| Failure {
            code: 1,
            message: format!("{} child: no status in its reply", kind.name()),
        })
}

/// Left-aligned columns.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.len());
            }
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (i, c) in cells.enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            let _ = write!(l, "{c:<w$}  ");
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut out, &mut header.iter().copied());
    for r in rows {
        line(&mut out, &mut r.iter().map(String::as_str));
    }
    out
}

fn instances_table(st: &ChildStatus) -> String {
    let Some(v) = &st.vrrp else {
        return "no VRRP status\n".into();
    };
    let rows: Vec<Vec<String>> = v
        .instances
        .iter()
        .map(|i| {
            vec![
                i.name.clone(),
                i.state.clone(),
                i.vrid.to_string(),
                i.interface.clone(),
                format!("{}/{}", i.effective_priority, i.priority),
                i.master_address.clone().unwrap_or_else(|| "-".into()),
                i.transitions.to_string(),
                format!("{}/{}", i.adverts_sent, i.adverts_received),
                i.errors.values().sum::<u64>().to_string(),
                i.vips.join(","),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "INSTANCE",
            "STATE",
            "VRID",
            "INTERFACE",
            "PRIO(EFF/CONF)",
            "MASTER",
            "TRANSITIONS",
            "ADVERTS(TX/RX)",
            "ERRORS",
            "VIPS",
        ],
        &rows,
    );
    if !v.sync_groups.is_empty() {
        out.push('\n');
        let rows: Vec<Vec<String>> = v
            .sync_groups
            .iter()
            .map(|g| vec![g.name.clone(), g.state.clone(), g.members.join(",")])
            .collect();
        out.push_str(&table(&["SYNC GROUP", "STATE", "MEMBERS"], &rows));
    }
    out
}

fn virtual_servers_table(st: &ChildStatus) -> String {
    let Some(c) = &st.checker else {
        return "no checker status\n".into();
    };
    let mut rows = Vec::new();
    for vs in &c.virtual_servers {
        for rs in &vs.real_servers {
            let checks: Vec<String> = rs
                .checks
                .iter()
                .map(|ch| {
                    let mut s = format!(
                        "{} {} fail={}",
                        ch.name,
                        if ch.up { "ok" } else { "FAIL" },
                        ch.failures
                    );
                    if let Some(l) = ch.latency_seconds {
                        let _ = write!(s, " {:.1}ms", l * 1000.0);
                    }
                    s
                })
                .collect();
            rows.push(vec![
                vs.name.clone(),
                if vs.quorum_up { "up" } else { "DOWN" }.into(),
                rs.address.clone(),
                if rs.up { "UP" } else { "DOWN" }.into(),
                rs.weight.map_or_else(|| "-".into(), |w| w.to_string()),
                if rs.drained { "yes" } else { "no" }.into(),
                checks.join("; "),
            ]);
        }
        if vs.real_servers.is_empty() {
            rows.push(vec![
                vs.name.clone(),
                if vs.quorum_up { "up" } else { "DOWN" }.into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                String::new(),
            ]);
        }
    }
    let mut out = table(
        &[
            "VIRTUAL SERVER",
            "QUORUM",
            "REAL SERVER",
            "STATE",
            "WEIGHT",
            "DRAINED",
            "CHECKS",
        ],
        &rows,
    );
    for (vs, e) in &c.ipvs.failing {
        let _ = writeln!(out, "IPVS failing for {vs}: {e}");
    }
    out
}

fn run(args: &Args) -> Result<String, Failure> {
    match &args.command {
        Command::Show {
            what: Some(What::Instances),
        } => Ok(instances_table(&status(args, ChildKind::Vrrp)?)),
        Command::Show {
            what: Some(What::VirtualServers),
        } => Ok(virtual_servers_table(&status(args, ChildKind::Checker)?)),
        Command::Show {
            what: Some(What::Json),
        } => {
            let results: Vec<_> = ChildKind::ALL
                .iter()
                .map(|k| (*k, status(args, *k).map_err(|f| f.message)))
                .collect();
            if results.iter().all(|(_, r)| r.is_err()) {
                return Err(not_running(&results));
            }
            let v = protocol::merged_status(&results);
            Ok(format!(
                "{}\n",
                serde_json::to_string_pretty(&v).unwrap_or_default()
            ))
        }
        Command::Show { what: None } => {
            let results: Vec<_> = ChildKind::ALL
                .iter()
                .map(|k| (*k, status(args, *k)))
                .collect();
            if results.iter().all(|(_, r)| r.is_err()) {
                let msgs: Vec<_> = results
                    .into_iter()
                    .map(|(k, r)| (k, r.map_err(|f| f.message)))
                    .collect();
                return Err(not_running(&msgs));
            }
            let mut out = String::new();
            for (kind, r) in results {
                if !out.is_empty() {
                    out.push('\n');
                }
                match (kind, r) {
                    (ChildKind::Vrrp, Ok(st)) => out.push_str(&instances_table(&st)),
                    (ChildKind::Checker, Ok(st)) => out.push_str(&virtual_servers_table(&st)),
                    (_, Err(f)) => {
                        let _ = writeln!(out, "({})", f.message);
                    }
                }
            }
            Ok(out)
        }
        Command::Drain { vs, rs } | Command::Undrain { vs, rs } => {
            let drain = matches!(args.command, Command::Drain { .. });
            let req = if drain {
                Request::Drain {
                    vs: vs.clone(),
                    rs: rs.clone(),
                }
            } else {
                Request::Undrain {
                    vs: vs.clone(),
                    rs: rs.clone(),
                }
            };
            let reply = ask(args, ChildKind::Checker, &req)?;
            let verb = if drain { "drained" } else { "undrained" };
            Ok(if reply.changed == Some(false) {
                format!("real server {rs} of {vs} was already {verb}\n")
            } else {
                format!("real server {rs} of {vs} {verb}\n")
            })
        }
    }
}

fn not_running(results: &[(ChildKind, Result<ChildStatus, String>)]) -> Failure {
    let mut message = String::from("rkeepalived is not running or does not answer:");
    for (_, r) in results {
        if let Err(e) = r {
            let _ = write!(message, "\n  {e}");
        }
    }
    Failure { code: 1, message }
}

/// Hand-written roff appended to the generated page.
const MAN_EXTRA: &str = r#".SH EXIT STATUS
.TP
\fB0\fR
Done.
.TP
\fB1\fR
rkeepalived, or the child the request needs, is not running or did not answer.
.TP
\fB2\fR
Bad usage.
.TP
\fB3\fR
The daemon refused the request (for example an unknown virtual or real server).
.SH FILES
.TP
\fI/run/rkeepalived/vrrp.sock\fR, \fI/run/rkeepalived/checker.sock\fR
The children's control sockets (with \fB\-s\fR or \fB\-i\fR, the namespace and id are part of
the name; a daemon started without \fB\-s\fR in a network namespace other than the host's adds
that namespace's inode, \fIvrrp@netns=INODE.sock\fR: run rkeepalivedctl in the same namespace, or
give \fB\-s\fR the namespace's name).
.SH SEE ALSO
\fBrkeepalived\fR(8)
"#;

/// `rkeepalivedctl --rka-generate-man DIR` (hidden, used by scripts/package): writes
/// `DIR/rkeepalivedctl.8` from the command line definition.
fn generate_man(dir: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
    use clap::CommandFactory;
    std::fs::create_dir_all(dir)?;
    let mut page = Vec::new();
    clap_mangen::Man::new(Args::command())
        .section("8")
        .render(&mut page)?;
    page.extend_from_slice(MAN_EXTRA.as_bytes());
    let path = dir.join("rkeepalivedctl.8");
    std::fs::write(&path, page)?;
    Ok(path)
}

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|a| a == "--rka-generate-man") {
        let Some(dir) = argv.get(2) else {
            eprintln!("rkeepalivedctl: --rka-generate-man needs a directory");
            return ExitCode::from(2);
        };
        return match generate_man(std::path::Path::new(dir)) {
            Ok(path) => {
                println!("{}", path.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("rkeepalivedctl: {}: {e}", dir.to_string_lossy());
                ExitCode::from(1)
            }
        };
    }
    let args = Args::parse();
    match run(&args) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(f) => {
            eprintln!("rkeepalivedctl: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_matches_the_documented_usage() {
        let a = Args::try_parse_from(["rkeepalivedctl", "-i", "lb1", "-s", "blue", "show"])
            .expect("parses");
        assert_eq!(a.config_id.as_deref(), Some("lb1"));
        assert!(matches!(a.command, Command::Show { what: None }));
        let a = Args::try_parse_from(["rkeepalivedctl", "show", "virtual-servers"]).expect("ok");
        assert!(matches!(
            a.command,
            Command::Show {
                what: Some(What::VirtualServers)
            }
        ));
        let a = Args::try_parse_from(["rkeepalivedctl", "drain", "10.0.0.1:80/tcp", "10.0.0.2:80"])
            .expect("ok");
        assert!(matches!(a.command, Command::Drain { .. }));
        assert!(Args::try_parse_from(["rkeepalivedctl", "drain", "x"]).is_err());
        assert!(Args::try_parse_from(["rkeepalivedctl", "show", "everything"]).is_err());
    }

    #[test]
    fn the_man_page_lists_every_command_and_the_exit_codes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = generate_man(dir.path()).expect("written");
        let page = std::fs::read_to_string(path).expect("read");
        for word in [
            "rkeepalivedctl",
            "show",
            "drain",
            "undrain",
            "config\\-id",
            "EXIT STATUS",
        ] {
            assert!(page.contains(word), "{word} missing from the page");
        }
    }

    #[test]
    fn tables_align_their_columns() {
        let t = table(
            &["A", "BB"],
            &[
                vec!["xyz".into(), "1".into()],
                vec!["w".into(), "22".into()],
            ],
        );
        assert_eq!(t, "A    BB\nxyz  1\nw    22\n");
    }
}
