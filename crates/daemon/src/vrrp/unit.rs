//! A unit of the engine: one standalone instance or one sync group, behind one interface, with
//! the daemon-side state of each member.

use std::net::IpAddr;
use std::time::Instant;

use rka_vrrp::{Action, GroupAction, Instance, State, SyncGroup, UnknownTracker};

use super::mapping::{GroupPlan, InstancePlan};

/// The protocol core of a unit.
#[derive(Debug)]
pub enum Core {
    /// A standalone instance.
    Single(Box<Instance>),
    /// A sync group.
    Group(SyncGroup),
}

/// What a unit asks for, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    /// An action of member `.0`.
    Member(usize, Action),
    /// The sync group entered a state.
    Group(State),
}

impl Core {
    /// The next time to call [`Core::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Core::Single(i) => i.poll_timeout(),
            Core::Group(g) => g.poll_timeout(),
        }
    }

    /// Runs due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self {
            Core::Single(i) => i.handle_timeout(now),
            Core::Group(g) => g.handle_timeout(now),
        }
    }

    /// Passes a received advert to member `index`.
    pub fn handle_packet(&mut self, now: Instant, index: usize, src: IpAddr, ttl: u8, b: &[u8]) {
        match self {
            Core::Single(i) => i.handle_packet(now, src, ttl, b),
            Core::Group(g) => g.handle_packet(now, index, src, ttl, b),
        }
    }

    /// Reports an up/down tracker of member `index`.
    pub fn track_update(
        &mut self,
        now: Instant,
        index: usize,
        name: &str,
        up: bool,
    ) -> Result<(), UnknownTracker> {
        match self {
            Core::Single(i) => i.track_update(now, name, up),
            Core::Group(g) => g.track_update(now, index, name, up),
        }
    }

    /// Reports a value tracker of member `index`.
    pub fn track_offset(
        &mut self,
        now: Instant,
        index: usize,
        name: &str,
        offset: i64,
    ) -> Result<(), UnknownTracker> {
        match self {
            Core::Single(i) => i.track_offset(now, name, offset),
            Core::Group(g) => g.track_offset(now, index, name, offset),
        }
    }

    /// Reports whether the driver can carry member `index`'s traffic (FAULT while not).
    pub fn set_io_fault(&mut self, now: Instant, index: usize, fault: bool) {
        match self {
            Core::Single(i) => i.set_io_fault(now, fault),
            Core::Group(g) => g.set_io_fault(now, index, fault),
        }
    }

    /// Changes member `index`'s advert source address.
    pub fn set_source(&mut self, index: usize, source: IpAddr) {
        match self {
            Core::Single(i) => i.set_source(source),
            Core::Group(g) => g.set_source(index, source),
        }
    }

    /// Reports that one of member `index`'s addresses was removed while it was MASTER.
    pub fn address_lost(&mut self, now: Instant, index: usize) {
        match self {
            Core::Single(i) => i.address_lost(now),
            Core::Group(g) => g.address_lost(now, index),
        }
    }

    /// Resets every member's counters.
    pub fn clear_stats(&mut self) {
        match self {
            Core::Single(i) => i.clear_stats(),
            Core::Group(g) => g.clear_stats(),
        }
    }

    /// Continues member `index`'s counters from the instance a reload replaced.
    pub fn carry_stats(&mut self, index: usize, stats: rka_vrrp::Stats) {
        match self {
            Core::Single(i) if index == 0 => i.carry_stats(stats),
            Core::Single(_) => {}
            Core::Group(g) => g.carry_stats(index, stats),
        }
    }

    /// Marks a fresh unit as the continuation of one a reload replaced (its first state is
    /// not a transition).
    pub fn mark_resumed(&mut self, state: rka_vrrp::State) {
        match self {
            Core::Single(i) => i.mark_resumed(state),
            Core::Group(g) => g.mark_resumed(state),
        }
    }

    /// Starts a fresh unit directly as MASTER (reload of a unit that was MASTER).
    pub fn resume_as_master(&mut self, now: Instant) {
        match self {
            Core::Single(i) => i.resume_as_master(now),
            Core::Group(g) => g.resume_as_master(now),
        }
    }

    /// Stops every member.
    pub fn shutdown(&mut self, now: Instant) {
        match self {
            Core::Single(i) => i.shutdown(now),
            Core::Group(g) => g.shutdown(now),
        }
    }

    /// The next output.
    pub fn poll(&mut self) -> Option<Out> {
        match self {
            Core::Single(i) => i.poll_action().map(|a| Out::Member(0, a)),
            Core::Group(g) => g.poll_action().map(|a| match a {
                GroupAction::Member { index, action } => Out::Member(index, action),
                GroupAction::Notify { state } => Out::Group(state),
            }),
        }
    }

    /// Member `index`.
    pub fn member(&self, index: usize) -> Option<&Instance> {
        match self {
            Core::Single(i) => (index == 0).then_some(i),
            Core::Group(g) => g.members().get(index),
        }
    }
}

/// Daemon-side state of one instance.
#[derive(Debug)]
pub struct Member {
    /// Its plan.
    pub plan: InstancePlan,
    /// Index of its socket in the engine's table, while open.
    pub socket: Option<usize>,
    /// Whether its addresses are installed.
    pub holds_vips: bool,
    /// Skip the next MASTER notification (a reload resumed the instance as MASTER).
    pub quiet_master: bool,
    /// When a dropped-advert warning was last logged, and the drop count then.
    pub drop_log: Option<(Instant, u64)>,
    /// Why the instance cannot carry its traffic (no socket, no source address), as reported
    /// to the core (FAULT while set).
    pub io_problem: Option<String>,
}

/// A standalone instance or a sync group.
#[derive(Debug)]
pub struct Unit {
    /// The protocol core.
    pub core: Core,
    /// The members, in the core's order.
    pub members: Vec<Member>,
    /// The sync group, if any.
    pub group: Option<GroupPlan>,
}

impl Unit {
    /// Builds a unit of `plans` (a sync group when `group` is given), at `now`.
    pub fn new(
        plans: Vec<InstancePlan>,
        group: Option<GroupPlan>,
        now: Instant,
    ) -> Result<Unit, String> {
        let mut instances = Vec::new();
        for p in &plans {
            for line in &p.config_faults {
                // keepalived 2.2.7's wording.
                tracing::warn!("{line}");
            }
            instances.push(
                Instance::new(p.core.clone(), now).map_err(|e| format!("({}) {e}", p.core.name))?,
            );
        }
        let core = match &group {
            Some(g) => Core::Group(
                SyncGroup::new(&g.name, instances).map_err(|e| format!("({}) {e}", g.name))?,
            ),
            None => match instances.pop() {
                Some(i) if instances.is_empty() => Core::Single(Box::new(i)),
                _ => return Err("a standalone unit holds exactly one instance".to_owned()),
            },
        };
        let members = plans
            .into_iter()
            .map(|plan| Member {
                plan,
                socket: None,
                holds_vips: false,
                quiet_master: false,
                drop_log: None,
                io_problem: None,
            })
            .collect();
        Ok(Unit {
            core,
            members,
            group,
        })
    }

    /// The state of member `index`.
    pub fn state(&self, index: usize) -> State {
        self.core.member(index).map_or(State::Init, Instance::state)
    }
}
