//! keepalived 2.2.7's command line (`man 8 keepalived`), parsed with clap.
//!
//! Every option keepalived accepts is accepted here, with keepalived's defaults, even where
//! the behaviour behind it is provided by a later part of the daemon.

use std::path::PathBuf;

use clap::Parser;

/// The default configuration file.
pub const DEFAULT_CONFIG: &str = "/etc/keepalived/keepalived.conf";

/// rkeepalived: keepalived rebuilt in Rust (VRRP failover and LVS health checking).
#[derive(Debug, Parser, Clone, Default)]
#[command(name = "rkeepalived", disable_version_flag = true, version)]
pub struct Cli {
    /// Use the specified configuration file.
    #[arg(short = 'f', long = "use-file", value_name = "FILE", default_value = DEFAULT_CONFIG)]
    pub use_file: PathBuf,
    /// Only run the VRRP subsystem.
    #[arg(short = 'P', long = "vrrp")]
    pub vrrp: bool,
    /// Only run the health-check subsystem.
    #[arg(short = 'C', long = "check")]
    pub check: bool,
    /// Don't run the BFD subsystem.
    #[arg(short = 'B', long = "no_bfd")]
    pub no_bfd: bool,
    /// Run all subsystems, even if they have no configuration.
    #[arg(long = "all")]
    pub all: bool,
    /// Log messages to the local console.
    #[arg(short = 'l', long = "log-console")]
    pub log_console: bool,
    /// Detailed log messages.
    #[arg(short = 'D', long = "log-detail")]
    pub log_detail: bool,
    /// Syslog facility: 0-7, local0-7, user or daemon (default daemon).
    #[arg(short = 'S', long = "log-facility", value_name = "FACILITY")]
    pub log_facility: Option<String>,
    /// Write log entries to FILE.
    #[arg(short = 'g', long = "log-file", value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    /// Flush the log file after each write.
    #[arg(long = "flush-log-file")]
    pub flush_log_file: bool,
    /// Do not write log entries to syslog.
    #[arg(short = 'G', long = "no-syslog")]
    pub no_syslog: bool,
    /// Drop VIPs on transition from signal.
    #[arg(short = 'X', long = "release-vips")]
    pub release_vips: bool,
    /// Don't remove VRRP VIPs and routes on daemon stop.
    #[arg(short = 'V', long = "dont-release-vrrp")]
    pub dont_release_vrrp: bool,
    /// Don't remove the IPVS topology on daemon stop.
    #[arg(short = 'I', long = "dont-release-ipvs")]
    pub dont_release_ipvs: bool,
    /// Don't respawn child processes.
    #[arg(short = 'R', long = "dont-respawn")]
    pub dont_respawn: bool,
    /// Don't fork: run in the foreground.
    #[arg(short = 'n', long = "dont-fork")]
    pub dont_fork: bool,
    /// Dump the configuration data.
    #[arg(short = 'd', long = "dump-conf")]
    pub dump_conf: bool,
    /// Pidfile of the parent process.
    #[arg(short = 'p', long = "pid", value_name = "FILE")]
    pub pid: Option<PathBuf>,
    /// Pidfile of the VRRP process.
    #[arg(short = 'r', long = "vrrp_pid", value_name = "FILE")]
    pub vrrp_pid: Option<PathBuf>,
    /// Pidfile of the checker process.
    #[arg(short = 'c', long = "checkers_pid", value_name = "FILE")]
    pub checkers_pid: Option<PathBuf>,
    /// Pidfile of the BFD process.
    #[arg(short = 'b', long = "bfd_pid", value_name = "FILE")]
    pub bfd_pid: Option<PathBuf>,
    /// genhash mode (see `rkeepalived -T --help`).
    #[arg(short = 'T', long = "genhash")]
    pub genhash: bool,
    /// Log all address additions/deletions reported by netlink.
    #[arg(short = 'a', long = "address-monitoring")]
    pub address_monitoring: bool,
    /// Run in network namespace NAME.
    #[arg(short = 's', long = "namespace", value_name = "NAME")]
    pub namespace: Option<String>,
    /// Don't load if any configuration file is missing or cannot be read.
    #[arg(short = 'e', long = "all-config")]
    pub all_config: bool,
    /// Configuration id for conditional configuration (default: short host name).
    #[arg(short = 'i', long = "config-id", value_name = "ID")]
    pub config_id: Option<String>,
    /// Enable the SNMP subsystem.
    #[arg(short = 'x', long = "snmp")]
    pub snmp: bool,
    /// Socket for the SNMP master agent.
    #[arg(short = 'A', long = "snmp-agent-socket", value_name = "FILE")]
    pub snmp_agent_socket: Option<PathBuf>,
    /// umask, in the usual numeric form.
    #[arg(short = 'u', long = "umask", value_name = "NUMBER")]
    pub umask: Option<String>,
    /// Enable core dumps.
    #[arg(short = 'm', long = "core-dump")]
    pub core_dump: bool,
    /// Enable core dumps and set the core pattern.
    #[arg(short = 'M', long = "core-dump-pattern", value_name = "PATTERN", num_args = 0..=1, require_equals = true, default_missing_value = "core")]
    pub core_dump_pattern: Option<String>,
    /// Print the signal number for STOP, RELOAD, DATA, STATS, STATS_CLEAR or JSON.
    #[arg(long = "signum", value_name = "SIGFUNC")]
    pub signum: Option<String>,
    /// Check the configuration and exit; diagnostics go to stderr, or FILE if given.
    #[arg(short = 't', long = "config-test", value_name = "FILE", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub config_test: Option<String>,
    /// Record perf data (accepted for compatibility).
    #[arg(long = "perf", value_name = "WHEN", num_args = 0..=1, require_equals = true, default_missing_value = "run")]
    pub perf: Option<String>,
    /// Debug options (accepted for compatibility).
    #[arg(long = "debug", value_name = "OPTIONS", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub debug: Option<String>,
    /// Disable memory checks (accepted for compatibility).
    #[arg(long = "no-mem-check")]
    pub no_mem_check: bool,
    /// Display the version and exit.
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    /// Internal: run as the given child of the supervising parent.
    #[arg(long = "rka-child", hide = true, value_enum)]
    pub child: Option<ChildRole>,
    /// Internal (packaging): write the man pages into DIR and exit.
    #[arg(long = "rka-generate-man", hide = true, value_name = "DIR")]
    pub generate_man: Option<PathBuf>,
}

/// glibc's SIGRTMIN as applications see it.
pub const SIGRTMIN: i32 = 34;
/// glibc's SIGRTMAX.
pub const SIGRTMAX: i32 = 64;

/// Which child process this is (internal: the supervisor starts its children with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ChildRole {
    /// The VRRP engine.
    Vrrp,
    /// The health checkers.
    Checker,
}

/// The signal numbers `--signum` prints, as keepalived 2.2.7 on Linux.
pub fn signum(name: &str) -> Option<i32> {
    let rtmin = SIGRTMIN;
    let rtmax = SIGRTMAX;
    Some(match name {
        "STOP" => 15,
        "RELOAD" => 1,
        "DATA" => 10,
        "STATS" => 12,
        "STATS_CLEAR" => rtmax - 1,
        "JSON" => rtmin + 2,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_keepalived_option_is_accepted() {
        let cli = Cli::try_parse_from([
            "rkeepalived",
            "-f",
            "/x.conf",
            "-P",
            "-C",
            "-B",
            "--all",
            "-l",
            "-D",
            "-S",
            "local3",
            "-g",
            "/l",
            "-G",
            "-X",
            "-V",
            "-I",
            "-R",
            "-n",
            "-d",
            "-p",
            "/a",
            "-r",
            "/b",
            "-c",
            "/c",
            "-b",
            "/d",
            "-a",
            "-s",
            "ns1",
            "-e",
            "-i",
            "id1",
            "-x",
            "-A",
            "/s",
            "-u",
            "022",
            "-m",
            "-M=pat",
            "--signum=STOP",
            "-t",
            "-v",
        ])
        .expect("parses");
        assert_eq!(cli.use_file, PathBuf::from("/x.conf"));
        assert_eq!(cli.config_test.as_deref(), Some(""));
        assert_eq!(cli.config_id.as_deref(), Some("id1"));
        assert_eq!(cli.core_dump_pattern.as_deref(), Some("pat"));
    }

    #[test]
    fn defaults_match_keepalived() {
        let cli = Cli::try_parse_from(["rkeepalived"]).expect("parses");
        assert_eq!(cli.use_file, PathBuf::from(DEFAULT_CONFIG));
        assert!(cli.config_test.is_none());
    }

    #[test]
    fn signums_match_keepalived() {
        assert_eq!(signum("STOP"), Some(15));
        assert_eq!(signum("RELOAD"), Some(1));
        assert_eq!(signum("DATA"), Some(10));
        assert_eq!(signum("STATS"), Some(12));
        assert_eq!(signum("STATS_CLEAR"), Some(63));
        assert_eq!(signum("JSON"), Some(36));
        assert_eq!(signum("TDATA"), None);
    }
}
