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

/// The data dump: virtual servers, real servers, their checkers (shared ones marked) and the
/// IPVS manager's state.
pub fn data_text(rt: &Runtime) -> String {
    let mut s = String::new();
    if !rt.plan.services.is_empty() {
        s.push_str("------< LVS Topology >------\n");
        // The IPVS version the kernel reports through generic netlink (1.2.1 since 2.6.x).
        s.push_str(" System is compiled with LVS v1.2.1\n");
    }
    let mut checkers = String::from("------< Health checkers >------\n");
    for (vi, sp) in rt.plan.services.iter().enumerate() {
        let _ = writeln!(s, " Virtual server {}", sp.label);
        let _ = writeln!(
            s,
            "   quorum {}, live weight {}",
            if rt.director.has_quorum(vi) {
                "up"
            } else {
                "down"
            },
            rt.director.live_weight(vi)
        );
        for svc in &sp.services {
            let _ = writeln!(s, "   IPVS service {} scheduler {}", svc.key, svc.scheduler);
        }
        if let Some(sorry) = &sp.sorry {
            let _ = writeln!(
                s,
                "   sorry server {} {}",
                sorry.label,
                match rt.director.sorry_weight(vi) {
                    Some(w) => format!("in table, weight {w}"),
                    None => "not in table".to_string(),
                }
            );
        }
        for (ri, dp) in sp.real_servers.iter().enumerate() {
            let _ = writeln!(
                s,
                "   Real server {} {} {}",
                dp.label,
                if rt.director.is_up(vi, ri) {
                    "UP"
                } else {
                    "DOWN"
                },
                match rt.director.real_server_weight(vi, ri) {
                    Some(w) => format!("weight {w}"),
                    None => "not in table".to_string(),
                }
            );
            for p in rt.probes.values() {
                for slot in p.slots.iter().filter(|s| s.vs == vi && s.rs == ri) {
                    let shared = if p.slots.len() > 1 {
                        format!(" (shared by {} real servers)", p.slots.len())
                    } else {
                        String::new()
                    };
                    let _ = writeln!(
                        checkers,
                        " {} {} checker {} {}{shared}{}",
                        sp.label,
                        dp.label,
                        slot.check,
                        p.label,
                        match (&p.up, &p.last_reason) {
                            (true, _) => " passing".to_string(),
                            (false, Some(r)) => format!(" failing: {r}"),
                            (false, None) => " failing".to_string(),
                        }
                    );
                }
            }
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
    let mut probes: Vec<_> = rt.probes.values().collect();
    probes.sort_by(|a, b| a.label.cmp(&b.label));
    for p in probes {
        let _ = writeln!(
            s,
            " {}: {} state changes, serving {} real server(s), {}",
            p.label,
            p.transitions,
            p.slots.len(),
            if p.up { "passing" } else { "failing" }
        );
    }
    s
}

fn write(path: &str, text: &str) {
    if let Err(e) = std::fs::write(path, text) {
        tracing::error!("cannot write {path}: {e}");
    }
}

/// Writes the data dump.
pub fn write_data(rt: &Runtime) {
    write(DATA_FILE, &data_text(rt));
}

/// Writes the statistics; `clear` resets the counters afterwards.
pub fn write_stats(rt: &mut Runtime, clear: bool) {
    write(STATS_FILE, &stats_text(rt));
    if clear {
        for p in rt.probes.values_mut() {
            p.transitions = 0;
        }
    }
}
