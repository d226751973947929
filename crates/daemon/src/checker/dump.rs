//! The checker child's data dump (SIGUSR1, `/tmp/keepalived_check.data`, keepalived's name
//! for it) and statistics (SIGUSR2, `/tmp/keepalived_check.stats`, which keepalived's checker
//! process does not write). The data dump uses keepalived's section headers: `LVS Topology`
//! (virtual and real servers with their states), then `Health checkers`.

use std::fmt::Write;

use super::runtime::Runtime;

/// Where the checker child writes its data dump, as keepalived's checker process does.
pub const DATA_FILE: &str = "/tmp/keepalived_check.data";
/// Where the checker child writes its statistics.
pub const STATS_FILE: &str = "/tmp/keepalived_check.stats";

fn method_name(m: rka_ipvs::ForwardMethod) -> &'static str {
    match m {
        rka_ipvs::ForwardMethod::Masq => "NAT",
        rka_ipvs::ForwardMethod::Local => "LOCAL",
        rka_ipvs::ForwardMethod::Tunnel => "TUN",
        rka_ipvs::ForwardMethod::DirectRoute => "DR",
        rka_ipvs::ForwardMethod::Bypass => "BYPASS",
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// The data dump in keepalived's layout: `LVS Topology` (each virtual server, then each of
/// its real servers with their live state) and `Health checkers` (one block per checker of
/// each real server, shared probes marked), followed by an rkeepalived `IPVS` section (the
/// IPVS manager's state).
pub fn data_text(rt: &Runtime) -> String {
    let mut s = String::new();
    if !rt.plan.services.is_empty() {
        s.push_str("------< LVS Topology >------\n");
        // The IPVS version the kernel reports through generic netlink (1.2.1 since 2.6.x).
        s.push_str(" System is compiled with LVS v1.2.1\n");
    }
    let mut checkers = String::from("------< Health checkers >------\n");
    for (vi, sp) in rt.plan.services.iter().enumerate() {
        let _ = writeln!(s, " ------< Virtual server >------");
        match sp.services.first().map(|svc| &svc.key) {
            Some(rka_ipvs::ServiceKey::Addr { addr, port, .. }) => {
                let _ = writeln!(s, " VS VIP = {addr}, VPORT = {port}");
            }
            Some(rka_ipvs::ServiceKey::Fwmark { mark, .. }) => {
                let _ = writeln!(s, " VS FWMARK = {mark}");
            }
            None => {
                let _ = writeln!(s, " VS = {}", sp.label);
            }
        }
        if let Some(svc) = sp.services.first() {
            let _ = writeln!(s, "   lvs_sched = {}", svc.scheduler);
            if let rka_ipvs::ServiceKey::Addr { protocol, .. } = &svc.key {
                let _ = writeln!(s, "   protocol = {protocol}");
            }
        }
        let _ = writeln!(s, "   omega is {}", if sp.omega { "ON" } else { "OFF" });
        let up = rt.director.has_quorum(vi);
        let _ = writeln!(s, "   alive = {}", u8::from(up));
        let _ = writeln!(s, "   quorum_state_up = {}", u8::from(up));
        let _ = writeln!(s, "   live weight = {}", rt.director.live_weight(vi));
        if let Some(sorry) = &sp.sorry {
            let _ = writeln!(
                s,
                "   sorry server = {} ({})",
                sp.dest_label(sorry),
                match rt.director.sorry_weight(vi) {
                    Some(w) => format!("in table, weight {w}"),
                    None => "not in table".to_string(),
                }
            );
        }
        for (ri, dp) in sp.real_servers.iter().enumerate() {
            let alive = rt.director.is_up(vi, ri);
            let weight = rt.director.real_server_weight(vi, ri);
            let _ = writeln!(s, "   ------< Real server >------");
            let _ = writeln!(
                s,
                "   RIP = {}, RPORT = {}, WEIGHT = {}",
                dp.addr,
                dp.port,
                weight.map(|w| w.to_string()).unwrap_or_else(|| "-".into())
            );
            let _ = writeln!(s, "   forwarding method = {}", method_name(dp.method));
            let _ = writeln!(s, "   alive = {}", u8::from(alive));
            let _ = writeln!(s, "   RS set = {}", u8::from(weight.is_some()));
            let mut failed = 0;
            let rs_label = sp.dest_label(dp);
            for (id, p) in rt.probes.iter() {
                for slot in p.slots().iter().filter(|s| s.vs() == vi && s.rs() == ri) {
                    failed += usize::from(!p.up());
                    let _ = writeln!(checkers, " {} -> {}", sp.label, rs_label);
                    let _ = writeln!(checkers, "   Up = {}", yes_no(p.up()));
                    let _ = writeln!(
                        checkers,
                        "   Checker = {} {}",
                        slot.check(),
                        rt.probe_name(id, p)
                    );
                    if p.slots().len() > 1 {
                        let _ = writeln!(
                            checkers,
                            "   Probe shared by {} real servers",
                            p.slots().len()
                        );
                    }
                    if let (false, Some(r)) = (p.up(), &p.last_reason) {
                        let _ = writeln!(checkers, "   Last failure = {r}");
                    }
                }
            }
            let _ = writeln!(s, "   num failed checkers = {failed}");
        }
    }
    s.push_str(&checkers);
    let st = rt.ipvs.status();
    let _ = writeln!(s, "------< IPVS >------");
    let _ = writeln!(
        s,
        " operations applied {}, batches {}, services owned {}",
        st.applied, st.batches, st.owned_services
    );
    for (vs, e) in &st.failing {
        let _ = writeln!(s, " virtual server {vs} failing: {e}");
    }
    s
}

/// Per-probe statistics.
pub fn stats_text(rt: &Runtime) -> String {
    let mut s = String::from("------< Health checker statistics >------\n");
    let mut probes: Vec<_> = rt
        .probes
        .iter()
        .map(|(id, p)| (rt.probe_name(id, p).to_string(), p))
        .collect();
    probes.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, p) in probes {
        let _ = writeln!(
            s,
            " {}: {} state changes, serving {} real server(s), {}",
            name,
            p.transitions(),
            p.slots().len(),
            if p.up() { "passing" } else { "failing" }
        );
    }
    s
}

fn write(path: &str, text: &str) {
    if let Err(e) = std::fs::write(path, text) {
        tracing::error!("cannot write {path}: {e}");
    }
}

/// The whole data file: `global` (the `Global definitions` section, kept from the
/// configuration when it was loaded) then [`data_text`], as keepalived's checker process
/// writes it. With no virtual server keepalived writes the global section alone, and so do we.
pub fn data_file_text(global: &str, rt: &Runtime) -> String {
    let mut s = String::with_capacity(global.len() + 1024);
    s.push_str(global);
    if !rt.plan.services.is_empty() {
        s.push_str(&data_text(rt));
    }
    s
}

/// Writes the data dump.
pub fn write_data(global: &str, rt: &Runtime) {
    write(
        &crate::vrrp::dump::data_path(DATA_FILE),
        &data_file_text(global, rt),
    );
}

/// Writes the statistics; `clear` resets the counters afterwards.
pub fn write_stats(rt: &mut Runtime, clear: bool) {
    write(STATS_FILE, &stats_text(rt));
    if clear {
        for p in rt.probes.values_mut() {
            p.reset_transitions();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::ipvs::StopMode;

    use crate::testutil::config;

    #[tokio::test]
    async fn the_data_file_starts_with_the_global_definitions() {
        let cfg = config(
            "global_defs {\n router_id dumpy\n}\nvirtual_server 10.0.0.1 80 {\n protocol TCP\n \
             real_server 127.0.0.1 1 {\n  TCP_CHECK {\n   warmup 0\n  }\n }\n}\n",
        );
        let global = crate::vrrp::dump::global_text(&cfg, false);
        let rt = Runtime::start(&cfg, crate::checker::ipvs::fake::Fake::default()).expect("start");
        let text = data_file_text(&global, &rt);
        assert!(
            text.starts_with("------< Global definitions >------\n"),
            "{text}"
        );
        assert!(text.contains(" Router ID = dumpy\n"), "{text}");
        let global_at = text.find("Global definitions").expect("global");
        let topo_at = text.find("------< LVS Topology >------").expect("topology");
        let checkers_at = text
            .find("------< Health checkers >------")
            .expect("checkers");
        assert!(global_at < topo_at && topo_at < checkers_at, "{text}");
        rt.stop(StopMode::Keep).await;
    }

    #[tokio::test]
    async fn without_virtual_servers_only_the_global_definitions_are_written() {
        let cfg = config("global_defs {\n router_id idle\n}\n");
        let global = crate::vrrp::dump::global_text(&cfg, false);
        let rt = Runtime::start(&cfg, crate::checker::NoIpvs::UNUSED).expect("start");
        let text = data_file_text(&global, &rt);
        assert_eq!(text, global);
        assert!(!text.contains("LVS Topology") && !text.contains("Health checkers"));
        rt.stop(StopMode::RemoveOwned).await;
    }
}
