//! The VRRP child's answers, built from the engine's own state on its event loop.

use std::collections::BTreeMap;

use rka_vrrp::{State, Stats};

use super::protocol::{InstanceStatus, SyncGroupStatus, VrrpStatus};
use super::{Answer, AnswerTx, Query};
use crate::vrrp::engine::Engine;
use crate::vrrp::unit::Unit;

/// Answers `query` from `engine`.
pub fn answer(engine: &Engine, query: Query, reply: AnswerTx) {
    let result = match query {
        Query::Status => Ok(Answer::Vrrp(status(engine.units(), engine.foreign_drops()))),
        Query::Drain { .. } => {
            Err("drain/undrain is for real servers: the VRRP child has none".to_string())
        }
    };
    // The asker may have given up (timeout): nothing to do then.
    let _ = reply.send(result);
}

/// Dropped adverts by kind, with the names used in JSON and metric labels.
pub fn errors_by_kind(s: &Stats) -> BTreeMap<String, u64> {
    let d = &s.dropped;
    [
        ("malformed", d.malformed),
        ("bad_checksum", d.bad_checksum),
        ("wrong_vrid", d.wrong_vrid),
        ("bad_ttl", d.bad_ttl),
        ("auth_failure", d.auth_failure),
        ("version_mismatch", d.version_mismatch),
        ("interval_mismatch", d.interval_mismatch),
        ("address_mismatch", d.address_mismatch),
        ("own_advert", d.own_advert),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The status of every instance and sync group of `units`.
pub fn status(units: &[Unit], foreign_drops: u64) -> VrrpStatus {
    let mut out = VrrpStatus {
        foreign_drops,
        ..VrrpStatus::default()
    };
    for unit in units {
        let mut states = Vec::new();
        for (m, member) in unit.members.iter().enumerate() {
            let c = &member.plan.core;
            let state = unit.state(m);
            states.push(state);
            let inst = unit.core.member(m);
            let (effective, stats) = match inst {
                Some(i) => (i.priority(), *i.stats()),
                None => (c.priority, Stats::default()),
            };
            let master = inst
                .filter(|i| matches!(i.state(), State::Master | State::Backup))
                .and_then(|i| Some((i.master_address()?, i.master_priority()?)));
            out.instances.push(InstanceStatus {
                name: c.name.clone(),
                state: state.as_str().to_string(),
                priority: c.priority,
                effective_priority: effective,
                vrid: c.vrid,
                interface: member.plan.interface.clone(),
                master_address: master.map(|(a, _)| a.to_string()),
                master_priority: master.map(|(_, p)| p),
                last_transition_unix: inst
                    .and_then(rka_vrrp::Instance::last_transition)
                    .map(crate::vrrp::dump::unix_seconds),
                fault_reason: member.io_problem.clone(),
                sync_group: unit.group.as_ref().map(|g| g.name.clone()),
                holds_vips: member.holds_vips,
                vips: member
                    .plan
                    .vips
                    .iter()
                    .map(|v| format!("{}/{}", v.spec.addr, v.spec.prefix_len))
                    .collect(),
                transitions: stats.became_master + stats.released_master,
                became_master: stats.became_master,
                released_master: stats.released_master,
                adverts_sent: stats.adverts_sent,
                adverts_received: stats.adverts_received,
                priority_zero_sent: stats.priority_zero_sent,
                priority_zero_received: stats.priority_zero_received,
                errors: errors_by_kind(&stats),
            });
        }
        if let Some(g) = &unit.group {
            out.sync_groups.push(SyncGroupStatus {
                name: g.name.clone(),
                state: group_state(&states).to_string(),
                members: g.members.clone(),
            });
        }
    }
    out
}

/// The members' common state, `MIXED` while they differ (a transition in progress).
fn group_state(states: &[State]) -> &'static str {
    match states.split_first() {
        None => "INIT",
        Some((first, rest)) if rest.iter().all(|s| s == first) => first.as_str(),
        Some(_) => "MIXED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_state_is_its_members_common_state() {
        assert_eq!(group_state(&[State::Master, State::Master]), "MASTER");
        assert_eq!(group_state(&[State::Master, State::Backup]), "MIXED");
        assert_eq!(group_state(&[]), "INIT");
    }

    #[test]
    fn every_drop_reason_has_a_kind() {
        let mut s = Stats::default();
        s.dropped.record(rka_vrrp::DropReason::BadTtl);
        s.dropped.record(rka_vrrp::DropReason::BadTtl);
        s.dropped.record(rka_vrrp::DropReason::AuthFailure);
        let e = errors_by_kind(&s);
        assert_eq!(e.len(), 9);
        assert_eq!(e["bad_ttl"], 2);
        assert_eq!(e["auth_failure"], 1);
        assert_eq!(e.values().sum::<u64>(), s.dropped.total());
    }
}
