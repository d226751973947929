//! `vrrp_sync_group`: instances that change state together.
//!
//! - Members become MASTER only together: a member whose master-down timer fires waits until
//!   every member's has (or until a member becomes MASTER by itself, e.g. as address owner),
//!   then all transition.
//! - A member leaving MASTER for BACKUP takes the other masters along.
//! - A member in FAULT puts the others in FAULT until it recovers.

use std::collections::{HashSet, VecDeque};
use std::net::IpAddr;
use std::time::Instant;

use crate::action::{Action, Reason, State};
use crate::error::{ConfigError, UnknownTracker};
use crate::instance::Instance;

/// What a sync group asks its driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupAction {
    /// An action of member `index` (see [`SyncGroup::members`]).
    Member {
        /// Index of the member.
        index: usize,
        /// Its action.
        action: Action,
    },
    /// The group as a whole entered `state` (group notify scripts / FIFO `GROUP` lines).
    Notify {
        /// New group state.
        state: State,
    },
}

/// A sync group owning its member instances; same calling contract as [`Instance`].
#[derive(Debug)]
pub struct SyncGroup {
    name: String,
    members: Vec<Instance>,
    state: State,
    actions: VecDeque<GroupAction>,
}

impl SyncGroup {
    /// Groups `members`, which must have distinct (family, VRID) pairs.
    pub fn new(name: &str, mut members: Vec<Instance>) -> Result<SyncGroup, ConfigError> {
        if members.is_empty() {
            return Err(ConfigError::EmptySyncGroup);
        }
        let mut seen = HashSet::new();
        for m in &mut members {
            if !seen.insert((m.config().family, m.config().vrid)) {
                return Err(ConfigError::DuplicateMember(m.config().vrid));
            }
            m.set_in_sync_group();
        }
        Ok(SyncGroup {
            name: name.to_owned(),
            members,
            state: State::Init,
            actions: VecDeque::new(),
        })
    }

    /// Group name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The members, indexed as in [`GroupAction::Member`].
    pub fn members(&self) -> &[Instance] {
        &self.members
    }

    /// Group state: MASTER when all members are, FAULT when any is, else the common lower state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Passes a received advert to member `index` (ignored if out of range).
    pub fn handle_packet(
        &mut self,
        now: Instant,
        index: usize,
        src: IpAddr,
        ttl: u8,
        bytes: &[u8],
    ) {
        if let Some(m) = self.members.get_mut(index) {
            m.handle_packet(now, src, ttl, bytes);
        }
        self.reconcile(now);
    }

    /// Runs the members' due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        for m in &mut self.members {
            if m.poll_timeout().is_some_and(|t| t <= now) {
                m.handle_timeout(now);
            }
        }
        self.reconcile(now);
    }

    /// Earliest wake-up of any member.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.members.iter().filter_map(Instance::poll_timeout).min()
    }

    /// Next action.
    pub fn poll_action(&mut self) -> Option<GroupAction> {
        self.actions.pop_front()
    }

    /// Reports tracked object `name` of member `index`.
    pub fn track_update(
        &mut self,
        now: Instant,
        index: usize,
        name: &str,
        up: bool,
    ) -> Result<(), UnknownTracker> {
        let result = match self.members.get_mut(index) {
            Some(m) => m.track_update(now, name, up),
            None => Err(UnknownTracker(name.to_owned())),
        };
        self.reconcile(now);
        result
    }

    /// Reports value-driven tracker `name` of member `index` (see [`Instance::track_offset`]).
    pub fn track_offset(
        &mut self,
        now: Instant,
        index: usize,
        name: &str,
        offset: i64,
    ) -> Result<(), UnknownTracker> {
        let result = match self.members.get_mut(index) {
            Some(m) => m.track_offset(now, name, offset),
            None => Err(UnknownTracker(name.to_owned())),
        };
        self.reconcile(now);
        result
    }

    /// Reports whether the driver can carry member `index`'s traffic (see
    /// [`Instance::set_io_fault`]); a faulted member puts the group in FAULT.
    pub fn set_io_fault(&mut self, now: Instant, index: usize, fault: bool) {
        if let Some(m) = self.members.get_mut(index) {
            m.set_io_fault(now, fault);
        }
        self.reconcile(now);
    }

    /// Changes member `index`'s advert source address (see [`Instance::set_source`]).
    pub fn set_source(&mut self, index: usize, source: IpAddr) {
        if let Some(m) = self.members.get_mut(index) {
            m.set_source(source);
        }
    }

    /// Reports that one of member `index`'s addresses was removed while it was MASTER (see
    /// [`Instance::address_lost`]); the group follows the member out of MASTER.
    pub fn address_lost(&mut self, now: Instant, index: usize) {
        if let Some(m) = self.members.get_mut(index) {
            m.address_lost(now);
        }
        self.reconcile(now);
    }

    /// Resets the counters of every member.
    pub fn clear_stats(&mut self) {
        for m in &mut self.members {
            m.clear_stats();
        }
    }

    /// Starts a freshly created group directly as MASTER (every member still in INIT), for a
    /// configuration reload of a group that was MASTER.
    pub fn resume_as_master(&mut self, now: Instant) {
        if self.members.iter().any(|m| m.state() != State::Init) {
            return;
        }
        for m in &mut self.members {
            m.resume_as_master(now);
        }
        self.reconcile(now);
    }

    /// Continues member `index`'s counters ([`Instance::carry_stats`]).
    pub fn carry_stats(&mut self, index: usize, stats: crate::Stats) {
        if let Some(m) = self.members.get_mut(index) {
            m.carry_stats(stats);
        }
    }

    /// Marks every member as re-created by a reload in `state` ([`Instance::mark_resumed`]).
    pub fn mark_resumed(&mut self, state: State) {
        for m in &mut self.members {
            m.mark_resumed(state);
        }
    }

    /// Shuts every member down.
    pub fn shutdown(&mut self, now: Instant) {
        for m in &mut self.members {
            m.shutdown(now);
        }
        self.reconcile(now);
    }

    /// Applies the group rules until the members agree.
    fn reconcile(&mut self, now: Instant) {
        // Each round can only move members towards agreement; bound it anyway.
        for _ in 0..=2 * self.members.len() + 2 {
            let mut became_master = false;
            let mut left_master = false;
            let mut any = false;
            for (index, m) in self.members.iter_mut().enumerate() {
                while let Some(action) = m.poll_action() {
                    any = true;
                    if let Action::StateChanged { from, to, reason } = &action {
                        if *to == State::Master && *reason != Reason::SyncGroup {
                            became_master = true;
                        }
                        if *from == State::Master
                            && *to == State::Backup
                            && *reason != Reason::SyncGroup
                        {
                            left_master = true;
                        }
                    }
                    self.actions
                        .push_back(GroupAction::Member { index, action });
                }
            }
            let faulty: Vec<bool> = self.members.iter().map(Instance::is_own_fault).collect();
            let any_fault = faulty.iter().any(|f| *f);
            let mut forced = false;
            for (m, own) in self.members.iter_mut().zip(&faulty) {
                forced |= m.set_group_fault(now, any_fault && !own);
            }
            if !any_fault {
                let all_ready = self
                    .members
                    .iter()
                    .all(|m| m.wants_master() || m.state() == State::Master)
                    && self.members.iter().any(Instance::wants_master);
                if left_master {
                    for m in &mut self.members {
                        forced |= m.group_force_backup(now);
                    }
                } else if became_master || all_ready {
                    for m in &mut self.members {
                        forced |= m.group_force_master(now);
                    }
                }
            }
            if !any && !forced {
                break;
            }
        }
        self.update_state();
    }

    fn update_state(&mut self) {
        let states: Vec<State> = self.members.iter().map(Instance::state).collect();
        let state = if states.contains(&State::Fault) {
            State::Fault
        } else if states.iter().all(|s| *s == State::Master) {
            State::Master
        } else if states.iter().all(|s| *s == State::Stop) {
            State::Stop
        } else if states.contains(&State::Init) {
            State::Init
        } else {
            State::Backup
        };
        if state != self.state {
            self.state = state;
            if state != State::Init {
                self.actions.push_back(GroupAction::Notify { state });
            }
        }
    }
}
