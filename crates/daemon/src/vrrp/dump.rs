//! The dumps keepalived writes on signals: `/tmp/keepalived.data` (SIGUSR1),
//! `/tmp/keepalived.stats` (SIGUSR2) and `/tmp/keepalived.json` (SIGRTMIN+2).

use std::fmt::Write as _;

use super::engine::Engine;

/// Where the data dump goes.
pub const DATA_FILE: &str = "/tmp/keepalived.data";
/// Where the statistics go.
pub const STATS_FILE: &str = "/tmp/keepalived.stats";
/// Where the JSON dump goes.
pub const JSON_FILE: &str = "/tmp/keepalived.json";

fn write(path: &str, text: &str) {
    if let Err(e) = std::fs::write(path, text) {
        tracing::error!("cannot write {path}: {e}");
    }
}

/// The data dump: every instance with its state and settings.
pub fn data_text(engine: &Engine) -> String {
    let mut out = String::from("------< VRRP Topology >------\n");
    for unit in &engine.units {
        if let Some(g) = &unit.group {
            let _ = writeln!(out, " VRRP Sync Group = {}", g.name);
            let _ = writeln!(out, "   Members = {}", g.members.join(" "));
        }
        for (m, member) in unit.members.iter().enumerate() {
            let c = &member.plan.core;
            let _ = writeln!(out, " VRRP Instance = {}", c.name);
            let _ = writeln!(out, "   State = {}", unit.state(m));
            let _ = writeln!(out, "   Interface = {}", member.plan.interface);
            let _ = writeln!(out, "   Virtual Router ID = {}", c.vrid);
            let _ = writeln!(out, "   Priority = {}", c.priority);
            if let Some(i) = unit.core.member(m) {
                let _ = writeln!(out, "   Effective priority = {}", i.priority());
            }
            let _ = writeln!(
                out,
                "   Advert interval = {}ms",
                c.advert_interval.as_millis()
            );
            let _ = writeln!(out, "   Source = {}", c.source);
            let _ = writeln!(out, "   Holds addresses = {}", member.holds_vips);
            for v in &member.plan.vips {
                let _ = writeln!(
                    out,
                    "     {}/{} dev {}",
                    v.spec.addr, v.spec.prefix_len, v.ifname
                );
            }
        }
    }
    out
}

/// Writes the data dump.
pub fn write_data(engine: &Engine) {
    write(DATA_FILE, &data_text(engine));
}

/// The statistics of every instance.
pub fn stats_text(engine: &Engine) -> String {
    let mut out = String::new();
    for unit in &engine.units {
        for (m, member) in unit.members.iter().enumerate() {
            let Some(i) = unit.core.member(m) else {
                continue;
            };
            let s = i.stats();
            let d = &s.dropped;
            let _ = writeln!(out, "VRRP Instance: {}", member.plan.core.name);
            let _ = writeln!(out, "  Advertisements:");
            let _ = writeln!(out, "    Received: {}", s.adverts_received);
            let _ = writeln!(out, "    Sent: {}", s.adverts_sent);
            let _ = writeln!(out, "  Became master: {}", s.became_master);
            let _ = writeln!(out, "  Released master: {}", s.released_master);
            let _ = writeln!(out, "  Packet Errors:");
            let _ = writeln!(out, "    Dropped: {}", d.total());
            let _ = writeln!(out, "    {d:?}");
            let _ = writeln!(out, "  Priority Zero:");
            let _ = writeln!(out, "    Received: {}", s.priority_zero_received);
            let _ = writeln!(out, "    Sent: {}", s.priority_zero_sent);
        }
    }
    let _ = writeln!(out, "Datagrams for no instance: {}", engine.foreign_drops);
    out
}

/// Writes the statistics, then resets every counter when `clear`.
pub fn write_stats(engine: &mut Engine, clear: bool) {
    write(STATS_FILE, &stats_text(engine));
    if clear {
        engine.foreign_drops = 0;
        for unit in &mut engine.units {
            unit.core.clear_stats();
        }
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The JSON dump: an array of instances with their state and counters.
pub fn json_text(engine: &Engine) -> String {
    let mut items = Vec::new();
    for unit in &engine.units {
        for (m, member) in unit.members.iter().enumerate() {
            let Some(i) = unit.core.member(m) else {
                continue;
            };
            let c = &member.plan.core;
            let s = i.stats();
            let vips: Vec<String> = member
                .plan
                .vips
                .iter()
                .map(|v| json_str(&format!("{}/{}", v.spec.addr, v.spec.prefix_len)))
                .collect();
            items.push(format!(
                "{{\"data\":{{\"iname\":{},\"ifp_ifname\":{},\"vrid\":{},\"state\":{},\"state_name\":{},\"base_priority\":{},\"effective_priority\":{},\"vips\":[{}]}},\"stats\":{{\"advert_rcvd\":{},\"advert_sent\":{},\"become_master\":{},\"release_master\":{},\"dropped\":{},\"pri_zero_rcvd\":{},\"pri_zero_sent\":{}}}}}",
                json_str(&c.name),
                json_str(&member.plan.interface),
                c.vrid,
                match i.state() {
                    rka_vrrp::State::Init => 0,
                    rka_vrrp::State::Backup => 1,
                    rka_vrrp::State::Master => 2,
                    rka_vrrp::State::Fault => 3,
                    rka_vrrp::State::Stop => 98,
                },
                json_str(i.state().as_str()),
                c.priority,
                i.priority(),
                vips.join(","),
                s.adverts_received,
                s.adverts_sent,
                s.became_master,
                s.released_master,
                s.dropped.total(),
                s.priority_zero_received,
                s.priority_zero_sent,
            ));
        }
    }
    format!("[{}]\n", items.join(","))
}

/// Writes the JSON dump.
pub fn write_json(engine: &Engine) {
    write(JSON_FILE, &json_text(engine));
}

#[cfg(test)]
mod tests {
    use super::json_str;

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_str("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }
}
