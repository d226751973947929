//! `global_defs`, the global top-level keywords (`net_namespace`, `instance`, `use_pid_dir`,
//! ...) and `linkbeat_interfaces`.
//!
//! Most `global_defs` keywords take one simple value; they are declared once in the table of
//! [`global_simple!`] which generates the field, its parser and its dump. Keywords with their
//! own syntax (`smtp_server IP [PORT]`, `lvs_sync_daemon ...`, `notify_fifo FIFO [USER
//! [GROUP]]`, ...) have typed fields of their own below the table.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use crate::dump::Dumper;
use crate::tree::Node;

use super::script::Command;
use super::values::parse_u64;
use super::{Config, Ctx};

/// A script with the user and group it runs as (`notify_master /x.sh [USER [GROUP]]`).
///
/// The first word is the command (quoted when it has arguments); the optional words after it
/// name the user and group. Without a user the global `script_user` applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserScript {
    /// The command, split into argv.
    pub command: Command,
    /// The user to run as.
    pub user: Option<String>,
    /// The group to run as (default: the user's group).
    pub group: Option<String>,
}

impl UserScript {
    /// Reads `SCRIPT [USER [GROUP]]` from the arguments of `node`.
    pub fn parse(ctx: &mut Ctx<'_>, node: &Node) -> Option<UserScript> {
        let Some(first) = node.arg(0) else {
            ctx.warn(node, format!("{} requires a script", node.keyword()));
            return None;
        };
        let Some(command) = Command::parse(first) else {
            ctx.warn(node, format!("{} requires a script", node.keyword()));
            return None;
        };
        if node.args().len() > 3 {
            ctx.warn(
                node,
                format!(
                    "{}: extra arguments after the group are ignored",
                    node.keyword()
                ),
            );
        }
        Some(UserScript {
            command,
            user: node.arg(1).map(str::to_string),
            group: node.arg(2).map(str::to_string),
        })
    }

    /// The canonical words after the keyword.
    pub fn to_words(&self) -> Vec<String> {
        let mut w = vec![self.command.to_conf()];
        w.extend(self.user.iter().cloned());
        w.extend(self.group.iter().cloned());
        w
    }
}

/// Writes `key SCRIPT [USER [GROUP]]` when set.
pub fn dump_user_script(d: &mut Dumper, key: &str, s: &Option<UserScript>) {
    if let Some(s) = s {
        let mut w = vec![key.to_string()];
        w.extend(s.to_words());
        d.words(&w);
    }
}

/// A FIFO keepalived writes notify events to (`notify_fifo FIFO [USER [GROUP]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyFifo {
    /// Path of the FIFO.
    pub path: String,
    /// Owner user of the FIFO when keepalived creates it.
    pub user: Option<String>,
    /// Owner group.
    pub group: Option<String>,
}

fn parse_fifo(ctx: &mut Ctx<'_>, node: &Node) -> Option<NotifyFifo> {
    let path = ctx.string(node)?;
    Some(NotifyFifo {
        path,
        user: node.arg(1).map(str::to_string),
        group: node.arg(2).map(str::to_string),
    })
}

fn dump_fifo(d: &mut Dumper, key: &str, f: &Option<NotifyFifo>) {
    if let Some(f) = f {
        let mut w = vec![key.to_string(), f.path.clone()];
        w.extend(f.user.iter().cloned());
        w.extend(f.group.iter().cloned());
        d.words(&w);
    }
}

/// `smtp_server ADDR|NAME [PORT]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpServer {
    /// IP address or host name.
    pub host: String,
    /// TCP port (default 25).
    pub port: u16,
}

/// `lvs_sync_daemon IF [[inst] INSTANCE] [id N] [maxlen N] [port N] [ttl N] [group ADDR]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LvsSyncDaemon {
    /// Interface the sync daemon binds to.
    pub interface: String,
    /// The VRRP instance whose state drives master/backup sync.
    pub instance: Option<String>,
    /// Sync id 0..=255 (default: the instance's VRID).
    pub sync_id: Option<u8>,
    /// Maximum packet length 1..=65507.
    pub maxlen: Option<u16>,
    /// UDP port (default 8848).
    pub port: Option<u16>,
    /// Multicast TTL 1..=255.
    pub ttl: Option<u8>,
    /// Multicast group (default 224.0.0.81).
    pub group: Option<IpAddr>,
}

/// `lvs_timeouts [tcp S] [tcpfin S] [udp S]`: IPVS connection timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LvsTimeouts {
    /// TCP established timeout.
    pub tcp: Option<u32>,
    /// TCP FIN_WAIT timeout.
    pub tcp_fin: Option<u32>,
    /// UDP timeout.
    pub udp: Option<u32>,
}

/// `lvs_flush_on_stop [VS]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LvsFlushOnStop {
    /// Flush the whole IPVS table on stop.
    All,
    /// Remove each keepalived virtual server, leaving the kernel to remove real servers.
    VirtualServers,
}

/// `vrrp_garp_extra_if [all] SECS` / `garp_extra_if [all] SECS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GarpExtraIf {
    /// `all`: every interface used by the instance, not only VMACs.
    pub all: bool,
    /// Repeat interval (0 disables, max 86400 s).
    pub interval: Duration,
}

/// Reads `[all] SECS` as keepalived 2.2.7 does (observed with `-t` and the data dump): the
/// words come in any order (`30 all`, `all 30 all`), each `all` sets the flag, every other word
/// is a decimal number of seconds and the last one wins (`30 40` is 40). A word that is not a
/// number in range (1..=86400 for the global `vrrp_garp_extra_if`, 0..=86400 for an instance's
/// `garp_extra_if`) or a line without a number is ignored with a warning; the global keyword
/// keeps an `all` read before the bad word (keepalived's dump then shows `i/f = 0s`), which
/// sends nothing since the interval is 0.
pub fn parse_garp_extra_if(ctx: &mut Ctx<'_>, node: &Node) -> Option<GarpExtraIf> {
    let keyword = node.keyword();
    let global = keyword == "vrrp_garp_extra_if";
    let min = u64::from(global);
    let mut all = false;
    let mut secs = None;
    let flag_only = |all: bool| {
        (global && all).then_some(GarpExtraIf {
            all,
            interval: Duration::ZERO,
        })
    };
    for word in node.args() {
        let w = word.text.as_str();
        if w == "all" {
            all = true;
            continue;
        }
        match parse_u64(w) {
            Some(v) if (min..=86400).contains(&v) => secs = Some(v),
            parsed => {
                ctx.warn(
                    node,
                    match parsed {
                        Some(_) => format!("number '{w}' outside range [{min}, 86400]"),
                        None => format!("invalid number '{w}'"),
                    },
                );
                ctx.warn(node, format!("{keyword} '{w}' invalid - ignoring"));
                return flag_only(all);
            }
        }
    }
    let Some(secs) = secs else {
        ctx.warn(node, format!("{keyword} specified without time - ignoring"));
        return flag_only(all);
    };
    Some(GarpExtraIf {
        all,
        interval: Duration::from_secs(secs),
    })
}

#[cfg(test)]
mod garp_extra_if_tests {
    use super::GarpExtraIf;
    use crate::{load_str, LoadOptions};
    use std::time::Duration;

    /// The global value, the instance's, and the diagnostics of a load.
    fn read(global: &str, instance: &str) -> (Option<GarpExtraIf>, Option<GarpExtraIf>, String) {
        let text = format!(
            "global_defs {{\n vrrp_garp_extra_if {global}\n}}\nvrrp_instance V {{\n \
             interface d0\n virtual_router_id 5\n garp_extra_if {instance}\n \
             virtual_ipaddress {{\n 10.9.9.9\n }}\n}}\n"
        );
        let opts = LoadOptions {
            skip_host_checks: true,
            ..Default::default()
        };
        let l = load_str("k.conf", &text, &opts);
        let diags: Vec<String> = l
            .diagnostics
            .items()
            .iter()
            .map(|d| d.message.clone())
            .collect();
        let inst = l
            .config
            .vrrp
            .instances
            .first()
            .and_then(|v| v.garp_extra_if);
        (l.config.global.vrrp_garp_extra_if, inst, diags.join("|"))
    }

    fn extra(all: bool, secs: u64) -> Option<GarpExtraIf> {
        Some(GarpExtraIf {
            all,
            interval: Duration::from_secs(secs),
        })
    }

    #[test]
    fn words_in_any_order_the_last_number_wins() {
        // keepalived 2.2.7's dump: "30 all" and "all 30 all" are "i/f = 30s", "30 40" is
        // "VMAC = 40s", "30 all 40" is "i/f = 40s"; -t is silent for all of them.
        for (words, want) in [
            ("30 all", extra(true, 30)),
            ("all 30", extra(true, 30)),
            ("all 30 all", extra(true, 30)),
            ("30 40", extra(false, 40)),
            ("30 all 40", extra(true, 40)),
            ("030", extra(false, 30)),
            ("+30", extra(false, 30)),
        ] {
            let (g, _, diags) = read(words, "all 5");
            assert_eq!(g, want, "{words}");
            assert_eq!(diags, "", "{words}");
        }
    }

    #[test]
    fn bad_words_ignore_the_line_with_keepalived_warnings() {
        let (g, _, d) = read("30 foo", "all 5");
        assert_eq!(g, None);
        assert_eq!(
            d,
            "invalid number 'foo'|vrrp_garp_extra_if 'foo' invalid - ignoring"
        );
        // The global range starts at 1; an `all` read before the bad word stays (dump
        // "i/f = 0s"), with nothing to send.
        let (g, _, d) = read("all 0", "all 5");
        assert_eq!(g, extra(true, 0));
        assert_eq!(
            d,
            "number '0' outside range [1, 86400]|vrrp_garp_extra_if '0' invalid - ignoring"
        );
        let (g, _, d) = read("foo all", "all 5");
        assert_eq!(g, None);
        assert!(
            d.ends_with("vrrp_garp_extra_if 'foo' invalid - ignoring"),
            "{d}"
        );
        let (g, _, d) = read("all", "all 5");
        assert_eq!(g, extra(true, 0));
        assert_eq!(d, "vrrp_garp_extra_if specified without time - ignoring");
        let (_, _, d) = read("86401", "all 5");
        assert!(
            d.starts_with("number '86401' outside range [1, 86400]"),
            "{d}"
        );
    }

    #[test]
    fn an_instance_accepts_zero() {
        // keepalived 2.2.7 -t: an instance's "garp_extra_if 0" and "all 0" are silent.
        assert_eq!(read("30", "0").1, extra(false, 0));
        assert_eq!(read("30", "all 0").1, extra(true, 0));
        assert_eq!(read("30", "9 all").1, extra(true, 9));
        // Ignored: the global default applies.
        let (_, i, d) = read("30", "all");
        assert_eq!(i, extra(false, 30));
        assert_eq!(d, "garp_extra_if specified without time - ignoring");
    }
}

/// Writes `key [all] SECS`.
pub fn dump_garp_extra_if(d: &mut Dumper, key: &str, g: &Option<GarpExtraIf>) {
    if let Some(g) = g {
        let mut w = vec![key.to_string()];
        if g.all {
            w.push("all".into());
        }
        w.push(g.interval.as_secs().to_string());
        d.words(&w);
    }
}

/// `vrrp_rx_bufs_policy MTU|ADVERT|NUMBER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxBufsPolicy {
    /// Interface MTU times the multiplier.
    Mtu,
    /// Advert size times the multiplier.
    Advert,
    /// A fixed size in bytes.
    Size(u32),
}

/// A firewall table name and its base chain priority (`nftables [TABLE]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NftTable {
    /// Table name (default `keepalived` / `keepalived_ipvs`).
    pub name: Option<String>,
}

/// A polling method for `linkbeat_interfaces`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkbeatMethod {
    /// MII registers.
    Mii,
    /// ethtool.
    Ethtool,
    /// SIOCGIFFLAGS.
    Ioctl,
}

/// One entry of `linkbeat_interfaces`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkbeatInterface {
    /// Interface name.
    pub name: String,
    /// Preferred method (default MII, falling back).
    pub method: Option<LinkbeatMethod>,
}

/// Stores a parsed value into a field that is either the value or an `Option` of it.
trait SetFrom<V> {
    fn set_from(&mut self, v: V);
}
impl<T> SetFrom<T> for T {
    fn set_from(&mut self, v: T) {
        *self = v;
    }
}
impl<T> SetFrom<T> for Option<T> {
    fn set_from(&mut self, v: T) {
        *self = Some(v);
    }
}

/// Writes a field in its canonical form.
trait DumpValue {
    fn dump_as(&self, d: &mut Dumper, key: &str);
}
impl DumpValue for bool {
    fn dump_as(&self, d: &mut Dumper, key: &str) {
        d.flag(key, *self);
    }
}
impl DumpValue for Option<bool> {
    fn dump_as(&self, d: &mut Dumper, key: &str) {
        if let Some(b) = self {
            d.kv(key, if *b { "true" } else { "false" });
        }
    }
}
impl DumpValue for Option<String> {
    fn dump_as(&self, d: &mut Dumper, key: &str) {
        d.opt(key, self);
    }
}
impl DumpValue for Option<u32> {
    fn dump_as(&self, d: &mut Dumper, key: &str) {
        d.opt(key, self);
    }
}
impl DumpValue for Option<i32> {
    fn dump_as(&self, d: &mut Dumper, key: &str) {
        d.opt(key, self);
    }
}
impl DumpValue for u32 {
    fn dump_as(&self, d: &mut Dumper, key: &str) {
        d.kv(key, self);
    }
}
impl DumpValue for Duration {
    fn dump_as(&self, d: &mut Dumper, key: &str) {
        d.timer(key, *self);
    }
}
impl DumpValue for Option<Duration> {
    fn dump_as(&self, d: &mut Dumper, key: &str) {
        if let Some(t) = self {
            d.timer(key, *t);
        }
    }
}
impl DumpValue for IpAddr {
    fn dump_as(&self, d: &mut Dumper, key: &str) {
        d.kv(key, self);
    }
}
impl DumpValue for Option<UserScript> {
    fn dump_as(&self, d: &mut Dumper, key: &str) {
        dump_user_script(d, key, self);
    }
}
impl DumpValue for Option<NotifyFifo> {
    fn dump_as(&self, d: &mut Dumper, key: &str) {
        dump_fifo(d, key, self);
    }
}

/// A flag keyword. keepalived 2.2.7 ignores a word after it that is not a boolean (exit 0).
fn p_flag(ctx: &mut Ctx<'_>, n: &Node) -> Option<bool> {
    match n.arg(0) {
        Some(s) if super::values::parse_bool(s).is_none() => Some(true),
        _ => ctx.flag(n),
    }
}
fn p_bool(ctx: &mut Ctx<'_>, n: &Node) -> Option<bool> {
    ctx.flag(n)
}
fn p_str(ctx: &mut Ctx<'_>, n: &Node) -> Option<String> {
    ctx.string(n)
}
fn p_u32(ctx: &mut Ctx<'_>, n: &Node, min: u32, max: u32) -> Option<u32> {
    ctx.int_in(n, 0, min, max)
}
fn p_i32(ctx: &mut Ctx<'_>, n: &Node, min: i32, max: i32) -> Option<i32> {
    ctx.int_in(n, 0, min, max)
}
fn p_secs(ctx: &mut Ctx<'_>, n: &Node, max: u64) -> Option<Duration> {
    ctx.u64_in(n, 0, 0, max).map(Duration::from_secs)
}
fn p_timer(ctx: &mut Ctx<'_>, n: &Node, max: u64) -> Option<Duration> {
    ctx.timer_in(n, 0, Duration::ZERO, Duration::from_secs(max))
}
fn p_ip4(ctx: &mut Ctx<'_>, n: &Node) -> Option<IpAddr> {
    let a = ctx.ip(n, 0)?;
    if a.is_ipv4() && a.is_multicast() {
        Some(a)
    } else {
        ctx.warn(
            n,
            format!("{} must be an IPv4 multicast address", n.keyword()),
        );
        None
    }
}
fn p_ip6(ctx: &mut Ctx<'_>, n: &Node) -> Option<IpAddr> {
    let a = ctx.ip(n, 0)?;
    if a.is_ipv6() && a.is_multicast() {
        Some(a)
    } else {
        ctx.warn(
            n,
            format!("{} must be an IPv6 multicast address", n.keyword()),
        );
        None
    }
}
fn p_script(ctx: &mut Ctx<'_>, n: &Node) -> Option<UserScript> {
    UserScript::parse(ctx, n)
}
fn p_fifo(ctx: &mut Ctx<'_>, n: &Node) -> Option<NotifyFifo> {
    parse_fifo(ctx, n)
}

/// Declares the simple `global_defs` keywords: field, keyword, parser, default.
macro_rules! global_simple {
    ($( $(#[doc = $doc:literal])* $field:ident : $ty:ty = $default:expr,
        $kw:literal => $parser:ident ( $($arg:expr),* ) ; )*) => {
        /// The `global_defs` keywords that take one simple value (see the module docs).
        #[derive(Debug, Clone, PartialEq)]
        pub struct SimpleGlobals {
            $( $(#[doc = $doc])* pub $field: $ty, )*
        }

        impl Default for SimpleGlobals {
            fn default() -> Self {
                SimpleGlobals { $( $field: $default, )* }
            }
        }

        impl SimpleGlobals {
            /// Parses `node` when it is one of the simple keywords; false otherwise.
            fn parse(&mut self, ctx: &mut Ctx<'_>, node: &Node) -> bool {
                match node.keyword() {
                    $( $kw => {
                        if let Some(v) = $parser(ctx, node $(, $arg)*) {
                            SetFrom::set_from(&mut self.$field, v);
                        }
                        true
                    } )*
                    _ => false,
                }
            }

            /// Writes the simple keywords in canonical form: those of `global_defs` when
            /// `top` is false, the top-level-only ones when it is true.
            fn dump(&self, d: &mut Dumper, top: bool) {
                $( if TOP_LEVEL.contains(&$kw) == top {
                    DumpValue::dump_as(&self.$field, d, $kw);
                } )*
            }
        }
    };
}

global_simple! {
    /// `tmp_config_directory`: where the config copy shared with children is written.
    tmp_config_directory: Option<String> = None, "tmp_config_directory" => p_str();
    /// `config_save_dir`: save configs around reloads (debugging).
    config_save_dir: Option<String> = None, "config_save_dir" => p_str();
    /// `process_names`: set the default process names.
    process_names: bool = false, "process_names" => p_flag();
    /// `process_name`: name of the parent process.
    process_name: Option<String> = None, "process_name" => p_str();
    /// `vrrp_process_name`.
    vrrp_process_name: Option<String> = None, "vrrp_process_name" => p_str();
    /// `checker_process_name`.
    checker_process_name: Option<String> = None, "checker_process_name" => p_str();
    /// `bfd_process_name`.
    bfd_process_name: Option<String> = None, "bfd_process_name" => p_str();
    /// `startup_script SCRIPT [USER [GROUP]]`: run once before the children start.
    startup_script: Option<UserScript> = None, "startup_script" => p_script();
    /// `startup_script_timeout` (1..=1000 s, default 10).
    startup_script_timeout: u32 = 10, "startup_script_timeout" => p_u32(1, 1000);
    /// `shutdown_script SCRIPT [USER [GROUP]]`: run once after the children stopped.
    shutdown_script: Option<UserScript> = None, "shutdown_script" => p_script();
    /// `shutdown_script_timeout` (1..=1000 s, default 10).
    shutdown_script_timeout: u32 = 10, "shutdown_script_timeout" => p_u32(1, 1000);
    /// `notification_email_from` (default `keepalived@HOSTNAME`).
    notification_email_from: Option<String> = None, "notification_email_from" => p_str();
    /// `smtp_helo_name` (default the host name).
    smtp_helo_name: Option<String> = None, "smtp_helo_name" => p_str();
    /// `smtp_connect_timeout` in seconds (default 30).
    smtp_connect_timeout: Duration = Duration::from_secs(30), "smtp_connect_timeout" => p_secs(u64::from(u32::MAX));
    /// `smtp_alert`: default for every smtp_alert.
    smtp_alert: Option<bool> = None, "smtp_alert" => p_bool();
    /// `smtp_alert_vrrp`: default for VRRP smtp_alerts.
    smtp_alert_vrrp: Option<bool> = None, "smtp_alert_vrrp" => p_bool();
    /// `smtp_alert_checker`: default for checker smtp_alerts.
    smtp_alert_checker: Option<bool> = None, "smtp_alert_checker" => p_bool();
    /// `checker_log_all_failures`.
    checker_log_all_failures: bool = false, "checker_log_all_failures" => p_bool();
    /// `no_email_faults`: no alerts for FAULT transitions.
    no_email_faults: bool = false, "no_email_faults" => p_flag();
    /// `router_id` (default: the host name).
    router_id: Option<String> = None, "router_id" => p_str();
    /// `vrrp_mcast_group4` (default 224.0.0.18).
    vrrp_mcast_group4: IpAddr = IpAddr::from([224, 0, 0, 18]), "vrrp_mcast_group4" => p_ip4();
    /// `vrrp_mcast_group6` (default ff02::12).
    vrrp_mcast_group6: IpAddr = IpAddr::from([0xff02, 0, 0, 0, 0, 0, 0, 0x12]), "vrrp_mcast_group6" => p_ip6();
    /// `default_interface`: interface for addresses without `dev` (default eth0).
    default_interface: Option<String> = None, "default_interface" => p_str();
    /// `lvs_flush`: flush IPVS at startup.
    lvs_flush: bool = false, "lvs_flush" => p_flag();
    /// `vrrp_garp_master_delay`: delay of the second GARP burst (default 5 s, 0 = none).
    vrrp_garp_master_delay: Duration = Duration::from_secs(5), "vrrp_garp_master_delay" => p_secs(86400);
    /// `vrrp_garp_master_repeat`: GARPs per burst (default 5).
    vrrp_garp_master_repeat: u32 = 5, "vrrp_garp_master_repeat" => p_u32(1, 255);
    /// `vrrp_garp_lower_prio_delay` (default: vrrp_garp_master_delay).
    vrrp_garp_lower_prio_delay: Option<Duration> = None, "vrrp_garp_lower_prio_delay" => p_secs(86400);
    /// `vrrp_garp_lower_prio_repeat` (default: vrrp_garp_master_repeat).
    vrrp_garp_lower_prio_repeat: Option<u32> = None, "vrrp_garp_lower_prio_repeat" => p_u32(0, 255);
    /// `vrrp_garp_master_refresh`: periodic GARPs while MASTER (default 0 = off).
    vrrp_garp_master_refresh: Duration = Duration::ZERO, "vrrp_garp_master_refresh" => p_secs(86400);
    /// `vrrp_garp_master_refresh_repeat` (default 1).
    vrrp_garp_master_refresh_repeat: u32 = 1, "vrrp_garp_master_refresh_repeat" => p_u32(1, 255);
    /// `vrrp_garp_interval`: delay between GARPs on an interface (default 0).
    vrrp_garp_interval: Duration = Duration::ZERO, "vrrp_garp_interval" => p_timer(1);
    /// `vrrp_gna_interval`: delay between unsolicited NAs on an interface (default 0).
    vrrp_gna_interval: Duration = Duration::ZERO, "vrrp_gna_interval" => p_timer(1);
    /// `vrrp_min_garp`: one GARP, no second burst.
    vrrp_min_garp: bool = false, "vrrp_min_garp" => p_bool();
    /// `vrrp_down_timer_adverts` (1..=100, default 3).
    vrrp_down_timer_adverts: u32 = 3, "vrrp_down_timer_adverts" => p_u32(1, 100);
    /// `vrrp_lower_prio_no_advert`.
    vrrp_lower_prio_no_advert: Option<bool> = None, "vrrp_lower_prio_no_advert" => p_bool();
    /// `vrrp_higher_prio_send_advert`.
    vrrp_higher_prio_send_advert: Option<bool> = None, "vrrp_higher_prio_send_advert" => p_bool();
    /// `vrrp_version` (2 or 3, default 2; IPv6 instances always use 3).
    vrrp_version: u32 = 2, "vrrp_version" => p_u32(2, 3);
    /// `nftables_priority` (default -1).
    nftables_priority: Option<i32> = None, "nftables_priority" => p_i32(i32::MIN, i32::MAX);
    /// `nftables_counters`.
    nftables_counters: bool = false, "nftables_counters" => p_flag();
    /// `nftables_ifindex`.
    nftables_ifindex: bool = false, "nftables_ifindex" => p_flag();
    /// `nftables_ipvs_priority`.
    nftables_ipvs_priority: Option<i32> = None, "nftables_ipvs_priority" => p_i32(i32::MIN, i32::MAX);
    /// `nftables_ipvs_start_fwmark` (default 1000).
    nftables_ipvs_start_fwmark: Option<u32> = None, "nftables_ipvs_start_fwmark" => p_u32(1, u32::MAX);
    /// `disable_local_igmp`.
    disable_local_igmp: bool = false, "disable_local_igmp" => p_flag();
    /// `vrrp_check_unicast_src`.
    vrrp_check_unicast_src: bool = false, "vrrp_check_unicast_src" => p_flag();
    /// `vrrp_skip_check_adv_addr`.
    vrrp_skip_check_adv_addr: bool = false, "vrrp_skip_check_adv_addr" => p_flag();
    /// `vrrp_strict`: strict RFC compliance.
    vrrp_strict: bool = false, "vrrp_strict" => p_flag();
    /// `vrrp_notify_priority_changes`.
    vrrp_notify_priority_changes: bool = false, "vrrp_notify_priority_changes" => p_bool();
    /// `min_auto_priority_delay` in microseconds (default 1000000).
    min_auto_priority_delay: Option<u32> = None, "min_auto_priority_delay" => p_u32(1, 10_000_000);
    /// `vrrp_priority`: nice value of the VRRP process (-20..=19).
    vrrp_priority: Option<i32> = None, "vrrp_priority" => p_i32(-20, 19);
    /// `checker_priority`: nice value of the checker process.
    checker_priority: Option<i32> = None, "checker_priority" => p_i32(-20, 19);
    /// `bfd_priority`: nice value of the BFD process.
    bfd_priority: Option<i32> = None, "bfd_priority" => p_i32(-20, 19);
    /// `vrrp_no_swap`: lock the VRRP process in memory.
    vrrp_no_swap: bool = false, "vrrp_no_swap" => p_flag();
    /// `checker_no_swap`.
    checker_no_swap: bool = false, "checker_no_swap" => p_flag();
    /// `bfd_no_swap`.
    bfd_no_swap: bool = false, "bfd_no_swap" => p_flag();
    /// `vrrp_rt_priority` (1..=99): SCHED_RR priority.
    vrrp_rt_priority: Option<u32> = None, "vrrp_rt_priority" => p_u32(1, 99);
    /// `checker_rt_priority`.
    checker_rt_priority: Option<u32> = None, "checker_rt_priority" => p_u32(1, 99);
    /// `bfd_rt_priority`.
    bfd_rt_priority: Option<u32> = None, "bfd_rt_priority" => p_u32(1, 99);
    /// `vrrp_rlimit_rttime` in µs (>= 2, default 10000).
    vrrp_rlimit_rttime: Option<u32> = None, "vrrp_rlimit_rttime" => p_u32(2, u32::MAX);
    /// `checker_rlimit_rttime`.
    checker_rlimit_rttime: Option<u32> = None, "checker_rlimit_rttime" => p_u32(2, u32::MAX);
    /// `bfd_rlimit_rttime`.
    bfd_rlimit_rttime: Option<u32> = None, "bfd_rlimit_rttime" => p_u32(2, u32::MAX);
    /// `snmp_socket`: AgentX master socket.
    snmp_socket: Option<String> = None, "snmp_socket" => p_str();
    /// `enable_snmp_vrrp`.
    enable_snmp_vrrp: bool = false, "enable_snmp_vrrp" => p_flag();
    /// `enable_snmp_checker`.
    enable_snmp_checker: bool = false, "enable_snmp_checker" => p_flag();
    /// `enable_snmp_rfc`.
    enable_snmp_rfc: bool = false, "enable_snmp_rfc" => p_flag();
    /// `enable_snmp_rfcv2`.
    enable_snmp_rfcv2: bool = false, "enable_snmp_rfcv2" => p_flag();
    /// `enable_snmp_rfcv3`.
    enable_snmp_rfcv3: bool = false, "enable_snmp_rfcv3" => p_flag();
    /// `enable_traps`.
    enable_traps: bool = false, "enable_traps" => p_flag();
    /// `enable_dbus`.
    enable_dbus: bool = false, "enable_dbus" => p_flag();
    /// `dbus_service_name` (default org.keepalived.Vrrp1).
    dbus_service_name: Option<String> = None, "dbus_service_name" => p_str();
    /// `enable_script_security`: refuse root scripts writable by non-root users.
    enable_script_security: bool = false, "enable_script_security" => p_flag();
    /// `notify_fifo FIFO [USER [GROUP]]`.
    notify_fifo: Option<NotifyFifo> = None, "notify_fifo" => p_fifo();
    /// `notify_fifo_script`: reads `notify_fifo`; the FIFO name is its last argument.
    notify_fifo_script: Option<UserScript> = None, "notify_fifo_script" => p_script();
    /// `vrrp_notify_fifo FIFO [USER [GROUP]]`.
    vrrp_notify_fifo: Option<NotifyFifo> = None, "vrrp_notify_fifo" => p_fifo();
    /// `vrrp_notify_fifo_script`.
    vrrp_notify_fifo_script: Option<UserScript> = None, "vrrp_notify_fifo_script" => p_script();
    /// `lvs_notify_fifo FIFO [USER [GROUP]]`.
    lvs_notify_fifo: Option<NotifyFifo> = None, "lvs_notify_fifo" => p_fifo();
    /// `lvs_notify_fifo_script`.
    lvs_notify_fifo_script: Option<UserScript> = None, "lvs_notify_fifo_script" => p_script();
    /// `fifo_write_vrrp_states_on_reload`.
    fifo_write_vrrp_states_on_reload: bool = false, "fifo_write_vrrp_states_on_reload" => p_flag();
    /// `vrrp_netlink_cmd_rcv_bufs` in bytes.
    vrrp_netlink_cmd_rcv_bufs: Option<u32> = None, "vrrp_netlink_cmd_rcv_bufs" => p_u32(0, u32::MAX);
    /// `vrrp_netlink_cmd_rcv_bufs_force`.
    vrrp_netlink_cmd_rcv_bufs_force: bool = false, "vrrp_netlink_cmd_rcv_bufs_force" => p_bool();
    /// `vrrp_netlink_monitor_rcv_bufs`.
    vrrp_netlink_monitor_rcv_bufs: Option<u32> = None, "vrrp_netlink_monitor_rcv_bufs" => p_u32(0, u32::MAX);
    /// `vrrp_netlink_monitor_rcv_bufs_force`.
    vrrp_netlink_monitor_rcv_bufs_force: bool = false, "vrrp_netlink_monitor_rcv_bufs_force" => p_bool();
    /// `lvs_netlink_cmd_rcv_bufs`.
    lvs_netlink_cmd_rcv_bufs: Option<u32> = None, "lvs_netlink_cmd_rcv_bufs" => p_u32(0, u32::MAX);
    /// `lvs_netlink_cmd_rcv_bufs_force`.
    lvs_netlink_cmd_rcv_bufs_force: bool = false, "lvs_netlink_cmd_rcv_bufs_force" => p_bool();
    /// `lvs_netlink_monitor_rcv_bufs`.
    lvs_netlink_monitor_rcv_bufs: Option<u32> = None, "lvs_netlink_monitor_rcv_bufs" => p_u32(0, u32::MAX);
    /// `lvs_netlink_monitor_rcv_bufs_force`.
    lvs_netlink_monitor_rcv_bufs_force: bool = false, "lvs_netlink_monitor_rcv_bufs_force" => p_bool();
    /// `process_monitor_rcv_bufs`.
    process_monitor_rcv_bufs: Option<u32> = None, "process_monitor_rcv_bufs" => p_u32(0, u32::MAX);
    /// `process_monitor_rcv_bufs_force`.
    process_monitor_rcv_bufs_force: bool = false, "process_monitor_rcv_bufs_force" => p_bool();
    /// `vrrp_rx_bufs_multiplier` (default 3).
    vrrp_rx_bufs_multiplier: u32 = 3, "vrrp_rx_bufs_multiplier" => p_u32(1, u32::MAX);
    /// `rs_init_notifies`.
    rs_init_notifies: bool = false, "rs_init_notifies" => p_bool();
    /// `no_checker_emails`.
    no_checker_emails: bool = false, "no_checker_emails" => p_bool();
    /// `vrrp_startup_delay`: delay before instances start.
    vrrp_startup_delay: Option<Duration> = None, "vrrp_startup_delay" => p_timer(3600);
    /// `log_unknown_vrids`.
    log_unknown_vrids: bool = false, "log_unknown_vrids" => p_flag();
    /// `vmac_prefix` (default `vrrp`).
    vmac_prefix: Option<String> = None, "vmac_prefix" => p_str();
    /// `vmac_addr_prefix` (default: vmac_prefix).
    vmac_addr_prefix: Option<String> = None, "vmac_addr_prefix" => p_str();
    /// `random_seed` for `${_RANDOM}`.
    random_seed: Option<u32> = None, "random_seed" => p_u32(0, u32::MAX);
    /// `reload_time_file`: a file holding the time of a scheduled reload.
    reload_time_file: Option<String> = None, "reload_time_file" => p_str();
    /// `reload_repeat`: keep the reload time file after a reload.
    reload_repeat: bool = false, "reload_repeat" => p_flag();
    /// `data_use_instance`: instance name in `.data` file names.
    data_use_instance: bool = false, "data_use_instance" => p_bool();
    /// `linkbeat_use_polling` (also a top-level keyword).
    linkbeat_use_polling: bool = false, "linkbeat_use_polling" => p_flag();
    /// `child_wait_time` (also a top-level keyword): seconds to wait for children on exit.
    child_wait_time: u32 = 5, "child_wait_time" => p_u32(0, u32::MAX);
    /// `use_pid_dir` (also a top-level keyword): pid files in /run/keepalived.
    use_pid_dir: bool = false, "use_pid_dir" => p_flag();
    /// `namespace_with_ipsets` (also a top-level keyword).
    namespace_with_ipsets: bool = false, "namespace_with_ipsets" => p_flag();
    /// `net_namespace` (also a top-level keyword): the namespace to run in.
    net_namespace: Option<String> = None, "net_namespace" => p_str();
    /// `instance` (also a top-level keyword): the instance name used in pid file names.
    instance: Option<String> = None, "instance" => p_str();
}

/// `global_defs` with keepalived's defaults, plus the global top-level keywords.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GlobalDefs {
    /// Every single-value keyword.
    pub simple: SimpleGlobals,
    /// `notification_email { ADDR... }`.
    pub notification_email: Vec<String>,
    /// `smtp_server`.
    pub smtp_server: Option<SmtpServer>,
    /// `lvs_sync_daemon`.
    pub lvs_sync_daemon: Option<LvsSyncDaemon>,
    /// `lvs_timeouts`.
    pub lvs_timeouts: Option<LvsTimeouts>,
    /// `lvs_flush_on_stop [VS]`.
    pub lvs_flush_on_stop: Option<LvsFlushOnStop>,
    /// `vrrp_garp_extra_if [all] SECS`.
    pub vrrp_garp_extra_if: Option<GarpExtraIf>,
    /// `nftables [TABLE]`: use nftables for no_accept and VMAC filtering.
    pub nftables: Option<NftTable>,
    /// `nftables_ipvs [TABLE]`.
    pub nftables_ipvs: Option<NftTable>,
    /// `vrrp_iptables [IN_CHAIN [OUT_CHAIN]]` (bare: INPUT/OUTPUT).
    pub vrrp_iptables: Option<Vec<String>>,
    /// `vrrp_ipsets [NAME...]` (up to 5 names).
    pub vrrp_ipsets: Option<Vec<String>>,
    /// `max_auto_priority [-1..99]` (bare: the maximum, 99).
    pub max_auto_priority: Option<i32>,
    /// `vrrp_cpu_affinity CPU...`.
    pub vrrp_cpu_affinity: Vec<u32>,
    /// `checker_cpu_affinity CPU...`.
    pub checker_cpu_affinity: Vec<u32>,
    /// `bfd_cpu_affinity CPU...`.
    pub bfd_cpu_affinity: Vec<u32>,
    /// `script_user USER [GROUP]`: default user of scripts (default `keepalived_script` if
    /// it exists, else root).
    pub script_user: Option<(String, Option<String>)>,
    /// `dynamic_interfaces [allow_if_changes]`: `Some(allow_if_changes)`.
    pub dynamic_interfaces: Option<bool>,
    /// `vrrp_rx_bufs_policy`.
    pub vrrp_rx_bufs_policy: Option<RxBufsPolicy>,
    /// `umask NUMBER|BITS` (default 022).
    pub umask: Option<u32>,
    /// `reload_check_config [LOG_FILE]`: `Some(log file)`.
    pub reload_check_config: Option<Option<String>>,
    /// `reload_file [PATH]`: `Some(path)`; no path means keepalived.reload in the pid dir.
    pub reload_file: Option<Option<String>>,
    /// `include_check [OPTIONS]`: the options as written.
    pub include_check: Option<Vec<String>>,
    /// `net_namespace_ipvs [NAME]` (top level): `Some(None)` = the default namespace.
    pub net_namespace_ipvs: Option<Option<String>>,
    /// `v3_checksum_as_v2`: VRRPv3 over IPv4 without the pseudo-header. Not a keepalived
    /// 2.2.7 keyword (later releases have it): accepted, with a warning so `-t` agrees.
    pub v3_checksum_as_v2: bool,
    /// `linkbeat_interfaces { IF [MII|ETHTOOL|IOCTL] ... }`.
    pub linkbeat_interfaces: Vec<LinkbeatInterface>,
    /// rkeepalived extension: `rkeepalived_http_listen ADDR:PORT`, the address of the
    /// observability HTTP endpoint. keepalived reports it as an unknown keyword; rkeepalived
    /// accepts it silently.
    pub rkeepalived_http_listen: Option<SocketAddr>,
}

fn parse_cpus(ctx: &mut Ctx<'_>, node: &Node) -> Vec<u32> {
    let mut v = Vec::new();
    for w in node.args() {
        match parse_u64(&w.text).and_then(|n| u32::try_from(n).ok()) {
            Some(n) if n < 4096 => v.push(n),
            _ => ctx.warn(node, format!("invalid cpu id '{}'", w.text)),
        }
    }
    if v.is_empty() && node.args().is_empty() {
        ctx.warn(node, format!("{} requires a value", node.keyword()));
    }
    // As keepalived 2.2.7: a CPU this host does not have makes the whole list void.
    if !ctx.opts.skip_host_checks {
        let cpus = rka_sys::sched::configured_cpus();
        if let Some(bad) = v.iter().copied().find(|&n| n as usize >= cpus) {
            let process = node
                .keyword()
                .strip_suffix("_cpu_affinity")
                .unwrap_or("vrrp")
                .to_string();
            ctx.warn(
                node,
                format!(
                    "number '{bad}' outside range [0, {}]",
                    cpus.saturating_sub(1)
                ),
            );
            ctx.warn(
                node,
                format!("Invalid cpu_id:{bad} specified for {process} process"),
            );
            v.clear();
        }
    }
    v
}

/// Parses a umask: a number (decimal, 0octal or 0xhex) or `IRUSR|IWGRP|...`.
pub fn parse_umask(s: &str) -> Option<u32> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return u32::from_str_radix(h, 16).ok().filter(|v| *v <= 0o777);
    }
    if s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty() {
        let v = if s.len() > 1 && s.starts_with('0') {
            u32::from_str_radix(&s[1..], 8).ok()?
        } else {
            s.parse().ok()?
        };
        return (v <= 0o777).then_some(v);
    }
    let mut v = 0;
    for bit in s.split('|').map(str::trim) {
        v |= match bit {
            "IRUSR" => 0o400,
            "IWUSR" => 0o200,
            "IXUSR" => 0o100,
            "IRGRP" => 0o040,
            "IWGRP" => 0o020,
            "IXGRP" => 0o010,
            "IROTH" => 0o004,
            "IWOTH" => 0o002,
            "IXOTH" => 0o001,
            _ => return None,
        };
    }
    Some(v)
}

fn parse_global_child(ctx: &mut Ctx<'_>, c: &Node, g: &mut GlobalDefs, top: bool) {
    if !top && ctx.missing_parameter(c, super::required::GLOBAL_DEFS) {
        return;
    }
    // keepalived only knows these at the top level, never inside global_defs.
    if TOP_LEVEL.contains(&c.keyword()) != top {
        ctx.unknown(c);
        return;
    }
    // keepalived 2.2.7 silently keeps its default HELO name for a bare `smtp_helo_name`.
    if c.keyword() == "smtp_helo_name" && c.args().is_empty() {
        return;
    }
    if g.simple.parse(ctx, c) {
        return;
    }
    match c.keyword() {
        "notification_email" => {
            if c.children().is_empty() {
                ctx.warn(c, "Warning - empty notification_email block");
            }
            ctx.block_args(c);
            for e in c.children() {
                for w in &e.words {
                    g.notification_email.push(w.text.clone());
                }
            }
        }
        "smtp_server" => {
            let Some(host) = ctx.string(c) else { return };
            let port = match c.arg(1) {
                None => Some(25),
                Some(_) => ctx.int_in(c, 1, 1u16, 65535),
            };
            if let Some(port) = port {
                if !ctx.opts.skip_host_checks && !smtp_server_resolves(&host, port) {
                    ctx.warn(c, format!("Invalid smtp server {host} {port}"));
                    return;
                }
                g.smtp_server = Some(SmtpServer { host, port });
            }
        }
        "lvs_sync_daemon" | "lvs_sync_daemon_interface" => {
            g.lvs_sync_daemon = parse_sync_daemon(ctx, c);
        }
        "lvs_timeouts" => {
            let mut t = LvsTimeouts::default();
            let mut i = 0;
            while let Some(k) = c.arg(i) {
                let v = ctx.int_in(c, i + 1, 1u32, 86400 * 31);
                match k {
                    "tcp" => t.tcp = v.or(t.tcp),
                    "tcpfin" => t.tcp_fin = v.or(t.tcp_fin),
                    "udp" => t.udp = v.or(t.udp),
                    _ => ctx.warn(c, format!("Unknown option {k} specified for lvs_timeouts")),
                }
                i += 2;
            }
            if t == LvsTimeouts::default() {
                ctx.warn(c, "No timeout specified for lvs_timeouts");
            } else {
                g.lvs_timeouts = Some(t);
            }
        }
        "lvs_flush_on_stop" | "lvs_flush_onstop" => match c.arg(0) {
            None => g.lvs_flush_on_stop = Some(LvsFlushOnStop::All),
            Some("VS") => g.lvs_flush_on_stop = Some(LvsFlushOnStop::VirtualServers),
            Some(v) => ctx.warn(c, format!("lvs_flush_on_stop: unknown option '{v}'")),
        },
        "vrrp_garp_extra_if" => g.vrrp_garp_extra_if = parse_garp_extra_if(ctx, c),
        "nftables" => {
            g.nftables = Some(NftTable {
                name: c.arg(0).map(str::to_string),
            })
        }
        "nftables_ipvs" => {
            g.nftables_ipvs = Some(NftTable {
                name: c.arg(0).map(str::to_string),
            })
        }
        // Without iptables support keepalived 2.2.7 does not know `vrrp_ipsets` at all.
        "vrrp_ipsets" if !IPTABLES_SUPPORTED => ctx.unknown(c),
        "vrrp_iptables" if !IPTABLES_SUPPORTED => {
            // keepalived 2.2.7 as packaged by Debian is built without iptables: it says so and
            // uses nftables; rkeepalived, like it, only drives nftables.
            ctx.warn(
                c,
                "iptables not supported, using nftables instead. Please replace 'vrrp_iptables and 'vrrp_ipsets' with 'nftables' config option",
            );
            if g.nftables.is_none() {
                g.nftables = Some(NftTable { name: None });
            }
        }
        "vrrp_iptables" => {
            g.vrrp_iptables = Some(c.args().iter().take(2).map(|w| w.text.clone()).collect())
        }
        "vrrp_ipsets" => {
            g.vrrp_ipsets = Some(c.args().iter().take(5).map(|w| w.text.clone()).collect())
        }
        "max_auto_priority" => match c.arg(0) {
            None => g.max_auto_priority = Some(99),
            Some(_) => {
                if let Some(v) = ctx.int_in(c, 0, -1i32, 99) {
                    g.max_auto_priority = Some(v);
                }
            }
        },
        "vrrp_cpu_affinity" => g.vrrp_cpu_affinity = parse_cpus(ctx, c),
        "checker_cpu_affinity" => g.checker_cpu_affinity = parse_cpus(ctx, c),
        "bfd_cpu_affinity" => g.bfd_cpu_affinity = parse_cpus(ctx, c),
        "script_user" => {
            if let Some(u) = ctx.string(c) {
                g.script_user = Some((u, c.arg(1).map(str::to_string)));
            }
        }
        "dynamic_interfaces" => match c.arg(0) {
            None => g.dynamic_interfaces = Some(false),
            Some("allow_if_changes") => g.dynamic_interfaces = Some(true),
            Some(v) => ctx.warn(c, format!("Unknown dynamic_interfaces option '{v}'")),
        },
        "vrrp_rx_bufs_policy" => {
            let Some(v) = ctx.arg(c, 0) else { return };
            g.vrrp_rx_bufs_policy = match v {
                "MTU" => Some(RxBufsPolicy::Mtu),
                "ADVERT" => Some(RxBufsPolicy::Advert),
                _ => match parse_u64(v).and_then(|n| u32::try_from(n).ok()) {
                    Some(n) => Some(RxBufsPolicy::Size(n)),
                    None => {
                        ctx.warn(c, format!("Invalid vrrp_rx_bufs_policy '{v}'"));
                        g.vrrp_rx_bufs_policy
                    }
                },
            };
        }
        "umask" => {
            let joined: String = c.args().iter().map(|w| w.text.as_str()).collect();
            match parse_umask(&joined) {
                Some(m) => g.umask = Some(m),
                None => ctx.warn(c, format!("Invalid umask '{joined}'")),
            }
        }
        "reload_check_config" => g.reload_check_config = Some(c.arg(0).map(str::to_string)),
        "reload_file" => g.reload_file = Some(c.arg(0).map(str::to_string)),
        "include_check" => {
            g.include_check = Some(c.args().iter().map(|w| w.text.clone()).collect())
        }
        "net_namespace_ipvs" => g.net_namespace_ipvs = Some(c.arg(0).map(str::to_string)),
        "v3_checksum_as_v2" => {
            g.v3_checksum_as_v2 = true;
            ctx.warn(
                c,
                "v3_checksum_as_v2 is not a keepalived 2.2.7 keyword (rkeepalived honours it)",
            );
        }
        "rkeepalived_http_listen" => {
            let Some(v) = ctx.arg(c, 0) else { return };
            match SocketAddr::from_str(v) {
                Ok(a) => g.rkeepalived_http_listen = Some(a),
                Err(_) => ctx.warn(
                    c,
                    format!("invalid rkeepalived_http_listen '{v}' (ADDR:PORT)"),
                ),
            }
        }
        _ => ctx.unknown(c),
    }
}

fn parse_sync_daemon(ctx: &mut Ctx<'_>, c: &Node) -> Option<LvsSyncDaemon> {
    let interface = ctx.string(c)?;
    let mut s = LvsSyncDaemon {
        interface,
        instance: None,
        sync_id: None,
        maxlen: None,
        port: None,
        ttl: None,
        group: None,
    };
    let mut i = 1;
    while let Some(k) = c.arg(i) {
        match k {
            "inst" => s.instance = c.arg(i + 1).map(str::to_string),
            "id" => s.sync_id = ctx.int_in(c, i + 1, 0u8, 255),
            "maxlen" => s.maxlen = ctx.int_in(c, i + 1, 1u16, 65507),
            "port" => s.port = ctx.int_in(c, i + 1, 1u16, 65535),
            "ttl" => s.ttl = ctx.int_in(c, i + 1, 1u8, 255),
            "group" => s.group = ctx.ip(c, i + 1),
            _ if i == 1 => {
                // The instance may be given without `inst`.
                s.instance = Some(k.to_string());
                i += 1;
                continue;
            }
            _ => {
                ctx.warn(c, format!("Unknown option '{k}' for lvs_sync_daemon"));
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    Some(s)
}

/// The global keywords accepted at the top level, outside `global_defs`.
const TOP_LEVEL: &[&str] = &[
    "net_namespace",
    "net_namespace_ipvs",
    "namespace_with_ipsets",
    "instance",
    "use_pid_dir",
    "linkbeat_use_polling",
    "child_wait_time",
];

/// Claims the top-level statements this module owns. Returns false for anything else.
pub fn parse_top(ctx: &mut Ctx<'_>, node: &Node, g: &mut GlobalDefs) -> bool {
    match node.keyword() {
        "global_defs" => {
            for c in node.children() {
                parse_global_child(ctx, c, g, false);
            }
            true
        }
        "linkbeat_interfaces" => {
            ctx.block_args(node);
            for c in node.children() {
                let method = match c.arg(0) {
                    None => None,
                    Some("MII") => Some(LinkbeatMethod::Mii),
                    Some("ETHTOOL") => Some(LinkbeatMethod::Ethtool),
                    Some("IOCTL") => Some(LinkbeatMethod::Ioctl),
                    Some(m) => {
                        ctx.warn(c, format!("Unknown linkbeat method '{m}' - using default"));
                        None
                    }
                };
                g.linkbeat_interfaces.push(LinkbeatInterface {
                    name: c.keyword().to_string(),
                    method,
                });
            }
            true
        }
        kw if TOP_LEVEL.contains(&kw) => {
            parse_global_child(ctx, node, g, true);
            true
        }
        _ => false,
    }
}

/// Checks made once the whole configuration is read.
pub fn validate(ctx: &mut Ctx<'_>, cfg: &mut Config) {
    let g = &cfg.global;
    if !ctx.opts.skip_host_checks {
        check_script_user(ctx, g);
    }
    let fifos: Vec<&str> = [
        &g.simple.notify_fifo,
        &g.simple.vrrp_notify_fifo,
        &g.simple.lvs_notify_fifo,
    ]
    .iter()
    .filter_map(|f| f.as_ref().map(|f| f.path.as_str()))
    .collect();
    for (i, a) in fifos.iter().enumerate() {
        if fifos[..i].contains(a) {
            ctx.diags
                .warn_global(format!("notify FIFO {a} is used more than once"));
        }
    }
}

/// Whether `vrrp_iptables`/`vrrp_ipsets` are honoured. keepalived 2.2.7 as built by Debian has
/// no iptables support and falls back to nftables with a warning; rkeepalived does the same.
const IPTABLES_SUPPORTED: bool = false;

/// True when `host` is an address, or a name that resolves (keepalived resolves the
/// `smtp_server` name when it reads the configuration).
fn smtp_server_resolves(host: &str, port: u16) -> bool {
    use std::net::ToSocketAddrs;
    host.parse::<std::net::IpAddr>().is_ok()
        || (host, port)
            .to_socket_addrs()
            .is_ok_and(|mut a| a.next().is_some())
}

/// `script_user USER [GROUP]` must name an existing user (and group): keepalived says it
/// cannot set the global script uid/gid.
fn check_script_user(ctx: &mut Ctx<'_>, g: &GlobalDefs) {
    let Some((user, group)) = &g.script_user else {
        return;
    };
    let user_ok = rka_sys::host::user_by_name(user).is_some();
    let group_ok = group
        .as_deref()
        .is_none_or(|gr| rka_sys::host::group_by_name(gr).is_some());
    if !(user_ok && group_ok) {
        ctx.diags
            .warn_global("Error setting global script uid/gid".to_string());
    }
}

/// Warnings not tied to a line.
trait WarnGlobal {
    fn warn_global(&mut self, msg: String);
}
impl WarnGlobal for crate::diag::Diagnostics {
    fn warn_global(&mut self, msg: String) {
        self.push(crate::diag::Severity::Warning, None, msg);
    }
}

impl GlobalDefs {
    /// The effective `script_user` name, if configured.
    pub fn script_user_name(&self) -> Option<&str> {
        self.script_user.as_ref().map(|(u, _)| u.as_str())
    }

    /// Writes the canonical global top-level keywords and the `global_defs` block.
    pub fn dump(&self, d: &mut Dumper) {
        self.simple.dump(d, true);
        if let Some(v) = &self.net_namespace_ipvs {
            let mut w = vec!["net_namespace_ipvs".to_string()];
            w.extend(v.iter().cloned());
            d.words(&w);
        }
        d.block(&["global_defs"], |d| {
            if !self.notification_email.is_empty() {
                d.block(&["notification_email"], |d| {
                    for e in &self.notification_email {
                        d.words(&[e]);
                    }
                });
            }
            if let Some(s) = &self.smtp_server {
                d.words(&[
                    "smtp_server".to_string(),
                    s.host.clone(),
                    s.port.to_string(),
                ]);
            }
            self.simple.dump(d, false);
            if let Some(s) = &self.lvs_sync_daemon {
                let mut w = vec!["lvs_sync_daemon".to_string(), s.interface.clone()];
                let mut kv = |k: &str, v: Option<String>| {
                    if let Some(v) = v {
                        w.push(k.to_string());
                        w.push(v);
                    }
                };
                kv("inst", s.instance.clone());
                kv("id", s.sync_id.map(|v| v.to_string()));
                kv("maxlen", s.maxlen.map(|v| v.to_string()));
                kv("port", s.port.map(|v| v.to_string()));
                kv("ttl", s.ttl.map(|v| v.to_string()));
                kv("group", s.group.map(|v| v.to_string()));
                d.words(&w);
            }
            if let Some(t) = &self.lvs_timeouts {
                let mut w = vec!["lvs_timeouts".to_string()];
                for (k, v) in [("tcp", t.tcp), ("tcpfin", t.tcp_fin), ("udp", t.udp)] {
                    if let Some(v) = v {
                        w.push(k.into());
                        w.push(v.to_string());
                    }
                }
                d.words(&w);
            }
            match self.lvs_flush_on_stop {
                Some(LvsFlushOnStop::All) => d.words(&["lvs_flush_on_stop"]),
                Some(LvsFlushOnStop::VirtualServers) => d.words(&["lvs_flush_on_stop", "VS"]),
                None => {}
            }
            dump_garp_extra_if(d, "vrrp_garp_extra_if", &self.vrrp_garp_extra_if);
            for (k, t) in [
                ("nftables", &self.nftables),
                ("nftables_ipvs", &self.nftables_ipvs),
            ] {
                if let Some(t) = t {
                    let mut w = vec![k.to_string()];
                    w.extend(t.name.iter().cloned());
                    d.words(&w);
                }
            }
            for (k, l) in [
                ("vrrp_iptables", &self.vrrp_iptables),
                ("vrrp_ipsets", &self.vrrp_ipsets),
                ("include_check", &self.include_check),
            ] {
                if let Some(l) = l {
                    let mut w = vec![k.to_string()];
                    w.extend(l.iter().cloned());
                    d.words(&w);
                }
            }
            d.opt("max_auto_priority", &self.max_auto_priority);
            for (k, l) in [
                ("vrrp_cpu_affinity", &self.vrrp_cpu_affinity),
                ("checker_cpu_affinity", &self.checker_cpu_affinity),
                ("bfd_cpu_affinity", &self.bfd_cpu_affinity),
            ] {
                if !l.is_empty() {
                    let mut w = vec![k.to_string()];
                    w.extend(l.iter().map(u32::to_string));
                    d.words(&w);
                }
            }
            if let Some((u, gr)) = &self.script_user {
                let mut w = vec!["script_user".to_string(), u.clone()];
                w.extend(gr.iter().cloned());
                d.words(&w);
            }
            match self.dynamic_interfaces {
                Some(true) => d.words(&["dynamic_interfaces", "allow_if_changes"]),
                Some(false) => d.words(&["dynamic_interfaces"]),
                None => {}
            }
            match self.vrrp_rx_bufs_policy {
                Some(RxBufsPolicy::Mtu) => d.kv("vrrp_rx_bufs_policy", "MTU"),
                Some(RxBufsPolicy::Advert) => d.kv("vrrp_rx_bufs_policy", "ADVERT"),
                Some(RxBufsPolicy::Size(n)) => d.kv("vrrp_rx_bufs_policy", n),
                None => {}
            }
            if let Some(m) = self.umask {
                d.kv("umask", format!("0{m:o}"));
            }
            for (k, v) in [
                ("reload_check_config", &self.reload_check_config),
                ("reload_file", &self.reload_file),
            ] {
                if let Some(v) = v {
                    let mut w = vec![k.to_string()];
                    w.extend(v.iter().cloned());
                    d.words(&w);
                }
            }
            d.flag("v3_checksum_as_v2", self.v3_checksum_as_v2);
            d.opt("rkeepalived_http_listen", &self.rkeepalived_http_listen);
        });
        if !self.linkbeat_interfaces.is_empty() {
            d.block(&["linkbeat_interfaces"], |d| {
                for l in &self.linkbeat_interfaces {
                    let mut w = vec![l.name.clone()];
                    match l.method {
                        Some(LinkbeatMethod::Mii) => w.push("MII".into()),
                        Some(LinkbeatMethod::Ethtool) => w.push("ETHTOOL".into()),
                        Some(LinkbeatMethod::Ioctl) => w.push("IOCTL".into()),
                        None => {}
                    }
                    d.words(&w);
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{load_str, LoadOptions};

    fn load(text: &str) -> crate::Loaded {
        load_str(
            "k.conf",
            text,
            &LoadOptions {
                skip_host_checks: true,
                ..Default::default()
            },
        )
    }

    fn load_host(text: &str) -> crate::Loaded {
        load_str("k.conf", text, &LoadOptions::default())
    }

    #[test]
    fn notification_email_with_words_on_its_line() {
        // keepalived: 5 "Block notification_email has extra parameters admin@example.com ...".
        let l = load("global_defs {\n notification_email admin@example.com\n}\n");
        assert_eq!(l.diagnostics.exit_code(), 5);
        // keepalived: 5 "Warning - empty notification_email block".
        let l = load("global_defs {\n notification_email {\n }\n}\n");
        assert_eq!(l.diagnostics.exit_code(), 5);
        let l = load("global_defs {\n notification_email {\n  admin@example.com\n }\n}\n");
        assert_eq!(l.diagnostics.exit_code(), 0);
        assert_eq!(l.config.global.notification_email, ["admin@example.com"]);
    }

    #[test]
    fn smtp_server_names_must_resolve() {
        // keepalived: 5 "Invalid smtp server mail.example.invalid 25"; 0 for an address.
        let l = load_host("global_defs {\n smtp_server mail.example.invalid\n}\n");
        assert_eq!(l.diagnostics.exit_code(), 5);
        assert!(l.config.global.smtp_server.is_none());
        let l = load_host("global_defs {\n smtp_server 192.0.2.25 25\n}\n");
        assert_eq!(l.diagnostics.exit_code(), 0);
    }

    #[test]
    fn iptables_falls_back_to_nftables() {
        // keepalived (built without iptables): 5 "iptables not supported, using nftables
        // instead..." for vrrp_iptables, "Unknown keyword 'vrrp_ipsets'" for vrrp_ipsets.
        let l = load("global_defs {\n vrrp_iptables\n}\n");
        assert_eq!(l.diagnostics.exit_code(), 5);
        assert!(l.config.global.nftables.is_some());
        assert!(l.config.global.vrrp_iptables.is_none());
        let l = load("global_defs {\n vrrp_ipsets a b\n}\n");
        assert_eq!(l.diagnostics.exit_code(), 5);
        assert!(l.diagnostics.items()[0].message.contains("Unknown keyword"));
    }

    #[test]
    fn script_user_must_exist() {
        // keepalived: 5 "Error setting global script uid/gid" for a missing user or group.
        for text in [
            "global_defs {\n script_user no_such_user_rka\n}\n",
            "global_defs {\n script_user root no_such_group_rka\n}\n",
        ] {
            let l = load_host(text);
            assert_eq!(l.diagnostics.exit_code(), 5, "{text}");
        }
        let l = load_host("global_defs {\n script_user root\n}\n");
        assert_eq!(l.diagnostics.exit_code(), 0);
    }

    #[test]
    fn defaults() {
        let l = load("global_defs {\n}\n");
        let g = &l.config.global;
        assert!(l.diagnostics.is_clean());
        assert_eq!(g.simple.vrrp_garp_master_delay, Duration::from_secs(5));
        assert_eq!(g.simple.vrrp_garp_master_repeat, 5);
        assert_eq!(g.simple.vrrp_version, 2);
        assert_eq!(g.simple.vrrp_mcast_group4.to_string(), "224.0.0.18");
        assert_eq!(g.simple.vrrp_mcast_group6.to_string(), "ff02::12");
        assert_eq!(g.simple.smtp_connect_timeout, Duration::from_secs(30));
        assert_eq!(g.simple.child_wait_time, 5);
    }

    #[test]
    fn values_are_read() {
        let l = load(
            "net_namespace blue\ninstance i1\nglobal_defs {\n notification_email {\n a@b.c\n d@e.f\n }\n\
             smtp_server 10.0.0.1 2525\n router_id r1\n vrrp_garp_interval 0.001\n vrrp_strict\n\
             script_user nobody nogroup\n enable_script_security\n vrrp_priority -10\n\
             lvs_sync_daemon eth0 VI_1 id 5 port 8000\n lvs_timeouts tcp 900 udp 30\n\
             umask IWGRP|IWOTH\n vrrp_garp_extra_if all 100\n max_auto_priority\n\
             notify_fifo /tmp/f root\n smtp_alert false\n rkeepalived_http_listen 127.0.0.1:9100\n}\n",
        );
        assert!(l.diagnostics.is_clean(), "{:?}", l.diagnostics);
        let g = &l.config.global;
        assert_eq!(g.simple.net_namespace.as_deref(), Some("blue"));
        assert_eq!(g.notification_email, vec!["a@b.c", "d@e.f"]);
        assert_eq!(g.smtp_server.as_ref().map(|s| s.port), Some(2525));
        assert_eq!(g.simple.vrrp_garp_interval, Duration::from_millis(1));
        assert!(g.simple.vrrp_strict && g.simple.enable_script_security);
        assert_eq!(g.simple.vrrp_priority, Some(-10));
        let sd = g.lvs_sync_daemon.as_ref().expect("sync daemon");
        assert_eq!(
            (sd.instance.as_deref(), sd.sync_id, sd.port),
            (Some("VI_1"), Some(5), Some(8000))
        );
        assert_eq!(g.umask, Some(0o022));
        assert_eq!(g.max_auto_priority, Some(99));
        assert_eq!(g.simple.smtp_alert, Some(false));
        assert_eq!(g.rkeepalived_http_listen.map(|a| a.port()), Some(9100));
    }

    #[test]
    fn bad_values_warn_with_line_and_keep_defaults() {
        let l = load("global_defs {\n vrrp_version 4\n vrrp_priority 30\n foo\n vrrp_mcast_group4 10.0.0.1\n}\n");
        let lines: Vec<u32> = l
            .diagnostics
            .items()
            .iter()
            .filter_map(|d| d.origin.as_ref().map(|o| o.line))
            .collect();
        assert_eq!(lines, vec![2, 3, 4, 5]);
        assert_eq!(l.diagnostics.exit_code(), 5);
        assert_eq!(l.config.global.simple.vrrp_version, 2);
        assert_eq!(l.config.global.simple.vrrp_priority, None);
    }

    #[test]
    fn umask_forms() {
        assert_eq!(parse_umask("022"), Some(0o22));
        assert_eq!(parse_umask("0x12"), Some(0o22));
        assert_eq!(parse_umask("18"), Some(0o22));
        assert_eq!(parse_umask("IWGRP|IWOTH"), Some(0o22));
        assert_eq!(parse_umask("IWFOO"), None);
    }
}
