//! The checker child's answers: status from the runtime's own state, and operator drains.
//!
//! A drained real server stays in the IPVS table with weight 0 whatever its checkers say, and
//! across reloads, until it is undrained. Drains are kept by keepalived's name of the virtual
//! server and the real server's address and port, so they survive reloads that renumber
//! the virtual servers.
//!
//! Drains also survive a restart of the checker child by the supervisor (a crash): every
//! change is written to a state file beside the child's control socket
//! ([`super::protocol::drains_path`], `/run/rkeepalived/checker.drains`), which a new
//! checker child of the same daemon reads before it programs IPVS. The parent removes the
//! file when the daemon stops or no longer runs a checker child, so a new daemon starts
//! without drains.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rka_check::CheckerEvent;
use rka_ipvs::DestKey;

use super::protocol::{
    CheckStatus, CheckerStatus, IpvsStatus, RealServerStatus, VirtualServerStatus,
};
use super::{Answer, AnswerTx, Query};
use crate::checker::mapping::Plan;
use crate::checker::runtime::Runtime;
use crate::checker::table::Desired;

/// A drained real server: virtual server name, real server address and port.
type DrainKey = (String, IpAddr, u16);

/// The drain state file of this checker child, set once when its control socket opens.
static DRAIN_FILE: OnceLock<PathBuf> = OnceLock::new();

/// Makes this process keep its drains in `path` (the checker child, at start). Until then
/// (tests, the other processes) drains live in memory only.
pub fn set_drain_file(path: PathBuf) {
    let _ = DRAIN_FILE.set(path);
}

/// One drain as the state file keeps it.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct SavedDrain {
    vs: String,
    addr: IpAddr,
    port: u16,
}

/// Reads the drains saved in `path`: none when it is missing; an unreadable file is logged
/// and ignored (drains are an operator's convenience, never a reason not to start).
fn load_drains(path: &Path) -> BTreeSet<DrainKey> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return BTreeSet::new(),
        Err(e) => {
            tracing::error!("drains: cannot read {}: {e}", path.display());
            return BTreeSet::new();
        }
    };
    match serde_json::from_str::<Vec<SavedDrain>>(&text) {
        Ok(list) => list.into_iter().map(|d| (d.vs, d.addr, d.port)).collect(),
        Err(e) => {
            tracing::error!("drains: {} is not a drain list: {e}", path.display());
            BTreeSet::new()
        }
    }
}

/// Writes `drained` to `path` (through a temporary file and a rename, so a crash never
/// leaves half a list); an empty set removes the file.
fn save_drains(path: &Path, drained: &BTreeSet<DrainKey>) -> std::io::Result<()> {
    if drained.is_empty() {
        return match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    let list: Vec<SavedDrain> = drained
        .iter()
        .map(|(vs, addr, port)| SavedDrain {
            vs: vs.clone(),
            addr: *addr,
            port: *port,
        })
        .collect();
    let text = serde_json::to_string(&list).map_err(std::io::Error::other)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".new");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// What the checker runtime keeps for observability: operator drains and failure counts.
#[derive(Debug)]
pub struct Observed {
    drained: BTreeSet<DrainKey>,
    failures: HashMap<u64, u64>,
    /// Where drains are saved ([`set_drain_file`]); `None`: in memory only.
    file: Option<PathBuf>,
}

impl Default for Observed {
    /// The drains a previous checker child of this daemon left in the state file (see the
    /// module documentation), none when there is no such file or none was set.
    fn default() -> Self {
        Observed::restored(DRAIN_FILE.get().cloned())
    }
}

impl Observed {
    /// The drains saved in `file` (none without one), kept there from now on.
    pub fn restored(file: Option<PathBuf>) -> Observed {
        let drained = file.as_deref().map(load_drains).unwrap_or_default();
        if !drained.is_empty() {
            tracing::info!(
                "{} drained real server(s) kept from the previous checker process",
                drained.len()
            );
        }
        Observed {
            drained,
            failures: HashMap::new(),
            file,
        }
    }

    /// Counts a failed probe of checker `id` (a verdict of failure or a retry).
    pub fn record(&mut self, id: u64, ev: &CheckerEvent) {
        if matches!(
            ev,
            CheckerEvent::Down { .. } | CheckerEvent::Retrying { .. }
        ) {
            *self.failures.entry(id).or_insert(0) += 1;
        }
    }

    /// Failed probes of checker `id` so far.
    pub fn failures(&self, id: u64) -> u64 {
        self.failures.get(&id).copied().unwrap_or(0)
    }

    /// Whether the real server `(vs name, addr, port)` is drained.
    pub fn is_drained(&self, vs: &str, addr: IpAddr, port: u16) -> bool {
        self.drained.contains(&(vs.to_string(), addr, port))
    }

    /// Sets or clears a drain; true when that changed something. A change is saved to the
    /// state file at once.
    pub fn set(&mut self, key: DrainKey, drained: bool) -> bool {
        let changed = if drained {
            self.drained.insert(key)
        } else {
            self.drained.remove(&key)
        };
        if changed {
            if let Some(f) = &self.file {
                if let Err(e) = save_drains(f, &self.drained) {
                    tracing::error!(
                        "drains: cannot save to {} (a restarted checker process would not \
                         keep them): {e}",
                        f.display()
                    );
                }
            }
        }
        changed
    }

    /// Puts every drained real server present in `desired` to weight 0.
    pub fn apply_drains(&self, plan: &Plan, desired: &mut Desired) {
        if self.drained.is_empty() {
            return;
        }
        for sp in &plan.services {
            for dp in &sp.real_servers {
                if !self.is_drained(&sp.label, dp.addr, dp.port) {
                    continue;
                }
                for svc in &sp.services {
                    let key = svc.key;
                    let dk = DestKey {
                        addr: dp.addr,
                        port: dp.port_in(&key),
                    };
                    if let Some(d) = desired
                        .table
                        .services
                        .get_mut(&key)
                        .and_then(|s| s.dests.get_mut(&dk))
                    {
                        d.weight = 0;
                    }
                }
            }
        }
    }
}

/// keepalived's name for a virtual server as an operator writes it: `IP:PORT/PROTO`
/// (`[IPv6]:PORT/PROTO`), `fwmark N`, `group NAME`, or the name itself
/// (`[IP]:proto:PORT`, `FWM N`, `[GROUP]:0`).
pub fn vs_name(spec: &str) -> Result<String, String> {
    let spec = spec.trim();
    let bad = || {
        format!(
            "bad virtual server '{spec}': expected IP:PORT/PROTO, fwmark N, group NAME or \
             keepalived's name ([IP]:proto:PORT)"
        )
    };
    let mut words = spec.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some(w), Some(n), None) if w.eq_ignore_ascii_case("fwmark") || w == "FWM" => {
            let mark: u32 = n.parse().map_err(|_| bad())?;
            return Ok(format!("FWM {mark}"));
        }
        (Some(w), Some(g), None) if w.eq_ignore_ascii_case("group") => {
            return Ok(format!("[{g}]:0"));
        }
        (Some(_), None, None) => {}
        _ => return Err(bad()),
    }
    if spec.starts_with('[') && spec.matches(':').count() >= 2 && !spec.contains('/') {
        // Already keepalived's form, or a group's `[NAME]:0`.
        return Ok(spec.to_string());
    }
    let (addr, proto) = spec.split_once('/').ok_or_else(bad)?;
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(bad());
    }
    let sa: SocketAddr = addr.parse().map_err(|_| bad())?;
    Ok(format!("[{}]:{proto}:{}", sa.ip(), sa.port()))
}

/// A real server as an operator writes it: `IP:PORT`, `[IPv6]:PORT` or keepalived's
/// `[IP]:proto:PORT`.
pub fn rs_addr(spec: &str) -> Result<(IpAddr, u16), String> {
    let spec = spec.trim();
    if let Ok(sa) = spec.parse::<SocketAddr>() {
        return Ok((sa.ip(), sa.port()));
    }
    let parsed = spec.strip_prefix('[').and_then(|rest| {
        let (ip, tail) = rest.split_once(']')?;
        let (_, port) = tail.strip_prefix(':')?.split_once(':')?;
        Some((ip.parse().ok()?, port.parse().ok()?))
    });
    parsed.ok_or_else(|| format!("bad real server '{spec}': expected IP:PORT"))
}

/// Finds the real server `rs` of the virtual server `vs` in `plan`: its drain key and the
/// index of its virtual server.
pub fn resolve(plan: &Plan, vs: &str, rs: &str) -> Result<(DrainKey, usize), String> {
    let name = vs_name(vs)?;
    let (addr, port) = rs_addr(rs)?;
    let (vi, sp) = plan
        .services
        .iter()
        .enumerate()
        .find(|(_, s)| s.label == name)
        .ok_or_else(|| format!("unknown virtual server {vs} ({name})"))?;
    // The configured port, or the port IPVS uses (DR/TUN take the virtual server's).
    let dp = sp
        .real_servers
        .iter()
        .find(|d| {
            d.addr == addr
                && (d.port == port || sp.services.iter().any(|s| d.port_in(&s.key) == port))
        })
        .ok_or_else(|| format!("virtual server {name} has no real server {rs}"))?;
    Ok(((name, dp.addr, dp.port), vi))
}

/// Answers `query` from `rt`.
pub fn answer(rt: &mut Runtime, query: Query, reply: AnswerTx) {
    let result = match query {
        Query::Status => Ok(Answer::Checker(status(rt))),
        Query::Drain { vs, rs, drained } => match resolve(rt.plan(), &vs, &rs) {
            Err(e) => Err(e),
            Ok((key, vi)) => {
                let changed = rt.observe.set(key, drained);
                if changed {
                    tracing::info!(
                        "real server {rs} of virtual server {vs} {} by the operator",
                        if drained { "drained" } else { "undrained" }
                    );
                    rt.refresh_service(vi);
                }
                Ok(Answer::Drained { changed })
            }
        },
    };
    let _ = reply.send(result);
}

fn address(addr: IpAddr, port: u16) -> String {
    SocketAddr::new(addr, port).to_string()
}

/// The status of every virtual server, real server and checker.
pub fn status(rt: &Runtime) -> CheckerStatus {
    let plan = rt.plan();
    let director = rt.director();
    // Checkers by real server, built once (a probe may serve several real servers).
    let mut checks: HashMap<(usize, usize), BTreeMap<usize, CheckStatus>> = HashMap::new();
    for (id, p) in rt.probes() {
        for s in p.slots() {
            checks.entry((s.vs(), s.rs())).or_default().insert(
                s.check(),
                CheckStatus {
                    name: rt.probe_name(id, p).to_string(),
                    up: p.up(),
                    failures: rt.observe.failures(id),
                    latency_seconds: rt.last_probe(id).map(|r| r.duration.as_secs_f64()),
                    reason: if p.up() {
                        None
                    } else {
                        p.last_reason.as_ref().map(|r| r.to_string())
                    },
                },
            );
        }
    }
    let mut out = CheckerStatus::default();
    for (vi, sp) in plan.services.iter().enumerate() {
        let mut vs = VirtualServerStatus {
            name: sp.label.clone(),
            quorum_up: director.has_quorum(vi),
            live_weight: director.live_weight(vi),
            real_servers: Vec::new(),
        };
        for (ri, dp) in sp.real_servers.iter().enumerate() {
            let drained = rt.observe.is_drained(&sp.label, dp.addr, dp.port);
            let weight = director
                .real_server_weight(vi, ri)
                .map(|w| if drained { 0 } else { w });
            vs.real_servers.push(RealServerStatus {
                name: sp.dest_label(dp),
                address: address(dp.addr, dp.port),
                up: director.is_up(vi, ri),
                weight,
                drained,
                checks: checks
                    .remove(&(vi, ri))
                    .map(|m| m.into_values().collect())
                    .unwrap_or_default(),
            });
        }
        out.virtual_servers.push(vs);
    }
    let st = rt.ipvs.status();
    out.ipvs = IpvsStatus {
        operations: st.applied,
        batches: st.batches,
        owned_services: u64::try_from(st.owned_services).unwrap_or(u64::MAX),
        failing: st.failing,
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_servers_are_named_as_keepalived_names_them() {
        assert_eq!(
            vs_name("10.0.0.1:80/tcp").as_deref(),
            Ok("[10.0.0.1]:tcp:80")
        );
        assert_eq!(
            vs_name("[2001:db8::1]:443/UDP").as_deref(),
            Ok("[2001:db8::1]:udp:443")
        );
        assert_eq!(vs_name("fwmark 7").as_deref(), Ok("FWM 7"));
        assert_eq!(vs_name("FWM 7").as_deref(), Ok("FWM 7"));
        assert_eq!(vs_name("group web").as_deref(), Ok("[web]:0"));
        assert_eq!(
            vs_name("[10.0.0.1]:tcp:80").as_deref(),
            Ok("[10.0.0.1]:tcp:80")
        );
        for bad in [
            "10.0.0.1:80",
            "10.0.0.1/tcp",
            "x:80/tcp",
            "fwmark x",
            "a b c",
            "",
        ] {
            assert!(vs_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn real_servers_are_address_and_port() {
        let v4: IpAddr = "10.0.0.2".parse().expect("ip");
        assert_eq!(rs_addr("10.0.0.2:8080"), Ok((v4, 8080)));
        assert_eq!(rs_addr("[10.0.0.2]:tcp:8080"), Ok((v4, 8080)));
        let v6: IpAddr = "2001:db8::2".parse().expect("ip");
        assert_eq!(rs_addr("[2001:db8::2]:80"), Ok((v6, 80)));
        assert!(rs_addr("10.0.0.2").is_err());
        assert!(rs_addr("[10.0.0.2]:tcp:x").is_err());
    }

    #[test]
    fn failures_count_verdicts_and_retries_only() {
        let mut o = Observed::default();
        o.record(1, &CheckerEvent::Up { reason: "x".into() });
        o.record(
            1,
            &CheckerEvent::Retrying {
                reason: rka_check::Failure::new("r"),
                attempt: 1,
                retry: 2,
            },
        );
        o.record(
            1,
            &CheckerEvent::Down {
                reason: rka_check::Failure::new("d").into(),
            },
        );
        o.record(1, &CheckerEvent::WeightChanged { weight: 3 });
        assert_eq!(o.failures(1), 2);
        assert_eq!(o.failures(2), 0);
    }

    fn plan() -> Plan {
        let text = "virtual_server 10.0.0.1 80 {\n lb_kind NAT\n protocol TCP\n \
                    real_server 10.0.0.2 8080 {\n  weight 4\n }\n \
                    real_server 10.0.0.3 8080 {\n  weight 6\n }\n}\n";
        Plan::from_config(&crate::testutil::config(text))
    }

    #[test]
    fn drained_real_servers_stay_in_the_table_at_weight_zero() {
        let plan = plan();
        let director = rka_check::Director::new(plan.director.clone());
        let mut o = Observed::default();
        let (key, vi) = resolve(&plan, "10.0.0.1:80/tcp", "10.0.0.2:8080").expect("known");
        assert_eq!(vi, 0);
        assert!(o.set(key, true));
        let mut d = crate::checker::table::desired(&plan, &director);
        o.apply_drains(&plan, &mut d);
        let weights: Vec<(String, u32)> = d
            .table
            .services
            .values()
            .flat_map(|s| s.dests.values())
            .map(|d| (d.key.to_string(), d.weight))
            .collect();
        assert_eq!(
            weights,
            vec![
                ("10.0.0.2:8080".to_string(), 0),
                ("10.0.0.3:8080".to_string(), 6)
            ]
        );
        assert!(resolve(&plan, "10.0.0.1:80/tcp", "10.0.0.4:8080")
            .is_err_and(|e| e.contains("no real server")));
        assert!(resolve(&plan, "10.0.0.1:81/tcp", "10.0.0.2:8080")
            .is_err_and(|e| e.contains("unknown virtual server")));
    }

    #[test]
    fn drains_outlive_the_process_through_the_state_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("checker.drains");
        let ip: IpAddr = "10.0.0.2".parse().expect("ip");
        let v6: IpAddr = "2001:db8::2".parse().expect("ip");
        let mut first = Observed::restored(Some(file.clone()));
        assert!(first.set(("FWM 7".to_string(), ip, 80), true));
        assert!(first.set(("[10.0.0.1]:tcp:80".to_string(), v6, 8080), true));
        // A new checker process (the old one crashed): the same drains, before any request.
        let mut second = Observed::restored(Some(file.clone()));
        assert!(second.is_drained("FWM 7", ip, 80));
        assert!(second.is_drained("[10.0.0.1]:tcp:80", v6, 8080));
        assert!(!second.is_drained("FWM 7", ip, 81));
        // Undrained in the new process: saved too; the last undrain removes the file.
        assert!(second.set(("FWM 7".to_string(), ip, 80), false));
        let third = Observed::restored(Some(file.clone()));
        assert!(!third.is_drained("FWM 7", ip, 80));
        assert!(third.is_drained("[10.0.0.1]:tcp:80", v6, 8080));
        assert!(second.set(("[10.0.0.1]:tcp:80".to_string(), v6, 8080), false));
        assert!(!file.exists());
        // A damaged file is ignored, not fatal; without a file drains stay in memory.
        std::fs::write(&file, "{not json").expect("write");
        assert!(Observed::restored(Some(file.clone())).drained.is_empty());
        let mut memory = Observed::restored(None);
        assert!(memory.set(("FWM 1".to_string(), ip, 1), true));
        assert!(Observed::restored(None).drained.is_empty());
    }

    #[test]
    fn a_drain_is_a_flag_set_once() {
        let mut o = Observed::default();
        let ip: IpAddr = "10.0.0.2".parse().expect("ip");
        let key = ("[10.0.0.1]:tcp:80".to_string(), ip, 80);
        assert!(o.set(key.clone(), true));
        assert!(!o.set(key.clone(), true));
        assert!(o.is_drained("[10.0.0.1]:tcp:80", ip, 80));
        assert!(!o.is_drained("[10.0.0.1]:tcp:81", ip, 80));
        assert!(o.set(key.clone(), false));
        assert!(!o.set(key, false));
    }
}
