//! `no_accept` (and `vrrp_strict`, which implies it) through nftables, as keepalived 2.2.7
//! does it: while an instance that is not in accept mode holds its addresses, traffic to and
//! from them is dropped by a table of our own (`keepalived` unless `nftables NAME` says
//! otherwise), whose base chains hook input and output at `nftables_priority` (default -1).
//!
//! Layout (observed with `nft list ruleset` beside keepalived): per family, a table created
//! when its first address is needed, with a `vips` set and `in` / `out` chains dropping
//! `daddr` / `saddr` in it; IPv6 also lets neighbour solicitations and advertisements through
//! and sends link-local addresses to `in_link_local` / `out_link_local`, which match
//! (address, interface) pairs: by interface index (`vips_link_local`), or by name
//! (`vips_link_local_name`) for an instance with `dont_track_primary` unless
//! `nftables_ifindex` is set. `nftables_counters` adds a counter to each rule. The tables are
//! deleted at stop.
//!
//! The rules are applied by the `nft` program on a task of their own, so the engine never
//! waits for it: it only says which addresses each instance holds.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rka_config::Config;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::mapping::VipPlan;
use super::unit::Unit;

/// One address the firewall drops traffic for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FwElement {
    /// An IPv4 address.
    V4(Ipv4Addr),
    /// A global IPv6 address.
    V6(Ipv6Addr),
    /// A link-local IPv6 address on an interface, keyed by index (the default).
    LinkLocalIndex(Ipv6Addr, String),
    /// A link-local IPv6 address on an interface, keyed by name (`dont_track_primary`).
    LinkLocalName(Ipv6Addr, String),
}

/// The table set-up from `global_defs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallSettings {
    /// Table name (`nftables [NAME]`, default `keepalived`).
    pub table: String,
    /// Base chain priority (`nftables_priority`, default -1).
    pub priority: i32,
    /// `nftables_counters`.
    pub counters: bool,
}

impl FirewallSettings {
    /// The settings `config` asks for.
    pub fn from_config(config: &Config) -> FirewallSettings {
        let g = &config.global;
        FirewallSettings {
            table: g
                .nftables
                .as_ref()
                .and_then(|t| t.name.clone())
                .unwrap_or_else(|| "keepalived".to_owned()),
            priority: g.simple.nftables_priority.unwrap_or(-1),
            counters: g.simple.nftables_counters,
        }
    }
}

/// The elements of an instance's addresses (none when it is in accept mode). `by_name` keys
/// link-local addresses by interface name instead of index.
pub fn elements(vips: &[VipPlan], accept: bool, by_name: bool) -> Vec<FwElement> {
    if accept {
        return Vec::new();
    }
    let mut out: Vec<FwElement> = vips
        .iter()
        .map(|v| match v.spec.addr {
            IpAddr::V4(a) => FwElement::V4(a),
            IpAddr::V6(a) if (a.segments()[0] & 0xffc0) == 0xfe80 => {
                if by_name {
                    FwElement::LinkLocalName(a, v.ifname.clone())
                } else {
                    FwElement::LinkLocalIndex(a, v.ifname.clone())
                }
            }
            IpAddr::V6(a) => FwElement::V6(a),
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Which parts of the tables exist.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Built {
    v4: bool,
    v6: bool,
    ll_index: bool,
    ll_name: bool,
}

fn counter(s: &FirewallSettings) -> &'static str {
    if s.counters {
        "counter "
    } else {
        ""
    }
}

fn v4_table(s: &FirewallSettings) -> String {
    let (t, p, c) = (&s.table, s.priority, counter(s));
    format!(
        "add table ip {t}\n\
         add chain ip {t} out {{ type filter hook output priority {p}; policy accept; }}\n\
         add chain ip {t} in {{ type filter hook input priority {p}; policy accept; }}\n\
         add set ip {t} vips {{ type ipv4_addr; }}\n\
         add rule ip {t} out ip saddr @vips {c}drop\n\
         add rule ip {t} in ip daddr @vips {c}drop\n"
    )
}

fn v6_table(s: &FirewallSettings) -> String {
    let (t, p, c) = (&s.table, s.priority, counter(s));
    format!(
        "add table ip6 {t}\n\
         add chain ip6 {t} out {{ type filter hook output priority {p}; policy accept; }}\n\
         add chain ip6 {t} in {{ type filter hook input priority {p}; policy accept; }}\n\
         add chain ip6 {t} in_link_local\n\
         add chain ip6 {t} out_link_local\n\
         add set ip6 {t} vips {{ type ipv6_addr; }}\n\
         add set ip6 {t} neighbor-discovery {{ type icmpv6_type; flags constant; \
         elements = {{ nd-neighbor-solicit, nd-neighbor-advert }}; }}\n\
         add rule ip6 {t} out icmpv6 type @neighbor-discovery {c}accept\n\
         add rule ip6 {t} out ip6 saddr fe80::/10 {c}goto out_link_local\n\
         add rule ip6 {t} out ip6 saddr @vips {c}drop\n\
         add rule ip6 {t} in icmpv6 type @neighbor-discovery {c}accept\n\
         add rule ip6 {t} in ip6 daddr fe80::/10 {c}goto in_link_local\n\
         add rule ip6 {t} in ip6 daddr @vips {c}drop\n"
    )
}

fn link_local_set(s: &FirewallSettings, by_name: bool) -> String {
    let (t, c) = (&s.table, counter(s));
    let (set, key, iif, oif) = if by_name {
        ("vips_link_local_name", "ifname", "iifname", "oifname")
    } else {
        ("vips_link_local", "iface_index", "iif", "oif")
    };
    format!(
        "add set ip6 {t} {set} {{ type ipv6_addr . {key}; }}\n\
         add rule ip6 {t} in_link_local ip6 daddr . {iif} @{set} {c}drop\n\
         add rule ip6 {t} out_link_local ip6 saddr . {oif} @{set} {c}drop\n"
    )
}

/// Where an element goes: (family, set name, element text).
fn element_slot(e: &FwElement) -> (&'static str, &'static str, String) {
    match e {
        FwElement::V4(a) => ("ip", "vips", a.to_string()),
        FwElement::V6(a) => ("ip6", "vips", a.to_string()),
        FwElement::LinkLocalIndex(a, i) => ("ip6", "vips_link_local", format!("{a} . \"{i}\"")),
        FwElement::LinkLocalName(a, i) => ("ip6", "vips_link_local_name", format!("{a} . \"{i}\"")),
    }
}

/// The nft script taking the installed elements from `have` to `want`, creating what is
/// missing first (`built` is updated as if the script succeeded).
fn update_script(
    s: &FirewallSettings,
    built: &mut Built,
    have: &BTreeSet<FwElement>,
    want: &BTreeSet<FwElement>,
) -> String {
    let mut script = String::new();
    for e in want.difference(have) {
        match e {
            FwElement::V4(_) if !built.v4 => {
                script.push_str(&v4_table(s));
                built.v4 = true;
            }
            FwElement::V6(_) | FwElement::LinkLocalIndex(..) | FwElement::LinkLocalName(..)
                if !built.v6 =>
            {
                script.push_str(&v6_table(s));
                built.v6 = true;
            }
            _ => {}
        }
        match e {
            FwElement::LinkLocalIndex(..) if !built.ll_index => {
                script.push_str(&link_local_set(s, false));
                built.ll_index = true;
            }
            FwElement::LinkLocalName(..) if !built.ll_name => {
                script.push_str(&link_local_set(s, true));
                built.ll_name = true;
            }
            _ => {}
        }
    }
    for (verb, list) in [
        ("delete", have.difference(want).collect::<Vec<_>>()),
        ("add", want.difference(have).collect::<Vec<_>>()),
    ] {
        let mut by_set: Vec<((&str, &str), Vec<String>)> = Vec::new();
        for e in list {
            let (family, set, text) = element_slot(e);
            match by_set.iter_mut().find(|(k, _)| *k == (family, set)) {
                Some((_, v)) => v.push(text),
                None => by_set.push(((family, set), vec![text])),
            }
        }
        for ((family, set), items) in by_set {
            let _ = writeln!(
                script,
                "{verb} element {family} {} {set} {{ {} }}",
                s.table,
                items.join(", ")
            );
        }
    }
    script
}

/// The nft script removing the tables `built` says exist.
fn delete_script(s: &FirewallSettings, built: Built) -> String {
    let mut script = String::new();
    if built.v4 {
        let _ = writeln!(script, "delete table ip {}", s.table);
    }
    if built.v6 {
        let _ = writeln!(script, "delete table ip6 {}", s.table);
    }
    script
}

/// Runs an nft script (one transaction: all of it or nothing).
async fn run_nft(script: &str) -> Result<(), String> {
    use tokio::io::AsyncWriteExt as _;
    let mut child = tokio::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run nft: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .await
            .map_err(|e| format!("nft: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| format!("nft: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

enum Cmd {
    /// The addresses an instance holds now (empty: none).
    Set(String, Vec<FwElement>),
    /// Everything held, after a reload (with the settings in force).
    Replace(FirewallSettings, Vec<(String, Vec<FwElement>)>),
    /// Remove the tables and end.
    Stop(oneshot::Sender<()>),
}

/// The handle the engine keeps: cheap, never blocking.
#[derive(Debug)]
pub struct Firewall {
    tx: mpsc::UnboundedSender<Cmd>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cmd::Set(n, e) => write!(f, "Set({n}, {e:?})"),
            Cmd::Replace(s, l) => write!(f, "Replace({s:?}, {l:?})"),
            Cmd::Stop(_) => write!(f, "Stop"),
        }
    }
}

impl Firewall {
    /// Starts the firewall task for `config`. Nothing touches nftables until an instance in
    /// no_accept mode holds an address.
    pub fn spawn(config: &Config) -> Firewall {
        let (tx, rx) = mpsc::unbounded_channel();
        let settings = FirewallSettings::from_config(config);
        let task = tokio::spawn(firewall_task(settings, rx));
        Firewall {
            tx,
            task: Some(task),
        }
    }

    /// Instance `name` now holds the addresses of `elements` (empty when it released them).
    pub fn set(&self, name: &str, elements: &[FwElement]) {
        if self.task.is_some() {
            let _ = self.tx.send(Cmd::Set(name.to_owned(), elements.to_vec()));
        }
    }

    /// After a reload: the settings of `config` and what the units hold replace everything.
    pub fn sync(&self, config: &Config, units: &[Unit]) {
        let held = units
            .iter()
            .flat_map(|u| u.members.iter())
            .filter(|m| m.holds_vips)
            .map(|m| (m.plan.core.name.clone(), m.plan.firewall.clone()))
            .collect();
        let _ = self
            .tx
            .send(Cmd::Replace(FirewallSettings::from_config(config), held));
    }

    /// Removes the tables and waits for it.
    pub async fn stop(&mut self) {
        let (done_tx, done_rx) = oneshot::channel();
        if self.tx.send(Cmd::Stop(done_tx)).is_ok() {
            let _ = done_rx.await;
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

/// The firewall's state: what each instance holds and what is installed.
#[derive(Debug)]
struct State {
    settings: FirewallSettings,
    held: HashMap<String, Vec<FwElement>>,
    installed: BTreeSet<FwElement>,
    built: Built,
}

impl State {
    fn wanted(&self) -> BTreeSet<FwElement> {
        self.held.values().flatten().cloned().collect()
    }

    /// Brings nftables to what is held; on failure the state is left as it was, so the next
    /// change retries the whole difference.
    async fn apply(&mut self) {
        let want = self.wanted();
        if want == self.installed {
            return;
        }
        let mut built = self.built;
        let script = update_script(&self.settings, &mut built, &self.installed, &want);
        match run_nft(&script).await {
            Ok(()) => {
                self.installed = want;
                self.built = built;
            }
            Err(e) => tracing::error!("nftables ({}): {e}", self.settings.table),
        }
    }

    async fn remove_tables(&mut self) {
        if self.built == Built::default() {
            return;
        }
        if let Err(e) = run_nft(&delete_script(&self.settings, self.built)).await {
            tracing::error!("nftables ({}): {e}", self.settings.table);
        }
        self.built = Built::default();
        self.installed.clear();
    }
}

async fn firewall_task(settings: FirewallSettings, mut rx: mpsc::UnboundedReceiver<Cmd>) {
    let mut st = State {
        settings,
        held: HashMap::new(),
        installed: BTreeSet::new(),
        built: Built::default(),
    };
    while let Some(first) = rx.recv().await {
        // Take every queued change and apply them in one nft run.
        let mut cmd = Some(first);
        while let Some(c) = cmd.take().or_else(|| rx.try_recv().ok()) {
            match c {
                Cmd::Set(name, e) if e.is_empty() => {
                    st.held.remove(&name);
                }
                Cmd::Set(name, e) => {
                    st.held.insert(name, e);
                }
                Cmd::Replace(settings, held) => {
                    if settings != st.settings {
                        st.remove_tables().await;
                        st.settings = settings;
                    }
                    st.held = held.into_iter().filter(|(_, e)| !e.is_empty()).collect();
                }
                Cmd::Stop(done) => {
                    st.remove_tables().await;
                    let _ = done.send(());
                    return;
                }
            }
        }
        st.apply().await;
    }
    st.remove_tables().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> FirewallSettings {
        FirewallSettings {
            table: "keepalived".into(),
            priority: -1,
            counters: false,
        }
    }

    fn set(v: &[FwElement]) -> BTreeSet<FwElement> {
        v.iter().cloned().collect()
    }

    #[test]
    fn tables_are_built_per_family_when_first_needed() {
        let s = settings();
        let mut built = Built::default();
        let v4 = FwElement::V4(Ipv4Addr::new(10, 9, 9, 9));
        let script = update_script(&s, &mut built, &set(&[]), &set(std::slice::from_ref(&v4)));
        assert!(script.starts_with("add table ip keepalived\n"));
        assert!(script.contains(
            "add chain ip keepalived in { type filter hook input priority -1; policy accept; }"
        ));
        assert!(script.contains("add rule ip keepalived in ip daddr @vips drop\n"));
        assert!(script.ends_with("add element ip keepalived vips { 10.9.9.9 }\n"));
        assert!(!script.contains("ip6"));
        assert_eq!(
            built,
            Built {
                v4: true,
                ..Built::default()
            }
        );
        // Once built, only elements change.
        let v4b = FwElement::V4(Ipv4Addr::new(10, 9, 9, 10));
        let script = update_script(
            &s,
            &mut built,
            &set(std::slice::from_ref(&v4)),
            &set(&[v4b]),
        );
        assert_eq!(
            script,
            "delete element ip keepalived vips { 10.9.9.9 }\n\
             add element ip keepalived vips { 10.9.9.10 }\n"
        );
    }

    #[test]
    fn ipv6_link_local_sets_and_counters() {
        let mut s = settings();
        s.counters = true;
        s.priority = -5;
        s.table = "kt".into();
        let mut built = Built::default();
        let ll: Ipv6Addr = "fe80::99".parse().expect("addr");
        let g: Ipv6Addr = "fd00::5".parse().expect("addr");
        let want = set(&[FwElement::V6(g), FwElement::LinkLocalIndex(ll, "v0".into())]);
        let script = update_script(&s, &mut built, &set(&[]), &want);
        assert!(
            script.contains("add rule ip6 kt in icmpv6 type @neighbor-discovery counter accept\n")
        );
        assert!(script.contains("priority -5;"));
        assert!(script.contains(
            "add rule ip6 kt in_link_local ip6 daddr . iif @vips_link_local counter drop\n"
        ));
        assert!(script.contains("add element ip6 kt vips { fd00::5 }\n"));
        assert!(script.contains("add element ip6 kt vips_link_local { fe80::99 . \"v0\" }\n"));
        assert!(!script.contains("vips_link_local_name"));
        // By name (dont_track_primary) is another set, built on its own.
        let by_name = FwElement::LinkLocalName(ll, "v0".into());
        let mut bigger = want.clone();
        bigger.insert(by_name);
        let script = update_script(&s, &mut built, &want, &bigger);
        assert!(!script.contains("add table"));
        assert!(script.contains("type ipv6_addr . ifname;"));
        assert!(script.contains("ip6 saddr . oifname @vips_link_local_name counter drop"));
        assert_eq!(
            delete_script(&s, built),
            "delete table ip6 kt\n",
            "only the tables built are deleted"
        );
    }

    #[test]
    fn accept_mode_has_no_elements() {
        let vip = |a: &str, dev: &str| VipPlan {
            ifname: dev.into(),
            spec: rka_netif::AddressSpec::new(0, a.parse().expect("addr"), 64),
        };
        let vips = vec![
            vip("10.0.0.1", "eth0"),
            vip("fe80::1", "eth1"),
            vip("10.0.0.1", "eth0"),
        ];
        assert!(elements(&vips, true, false).is_empty());
        assert_eq!(
            elements(&vips, false, false),
            vec![
                FwElement::V4(Ipv4Addr::new(10, 0, 0, 1)),
                FwElement::LinkLocalIndex("fe80::1".parse().expect("addr"), "eth1".into()),
            ]
        );
        assert!(matches!(
            elements(&vips, false, true)[1],
            FwElement::LinkLocalName(..)
        ));
    }
}
