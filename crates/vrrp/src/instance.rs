//! One VRRP instance: the state machine of RFC 3768 section 6 / RFC 5798 section 6 with
//! keepalived's extensions (FAULT, tracking, GARP schedules, sync-group hooks).
//!
//! # Driving an instance
//!
//! - Feed every advert received for this VRID and family to [`Instance::handle_packet`].
//! - Call [`Instance::handle_timeout`] when the time returned by [`Instance::poll_timeout`]
//!   has come (calling it early is harmless).
//! - After each call, drain [`Instance::poll_action`] and carry the actions out in order.
//! - Report tracked objects with [`Instance::track_update`]; call [`Instance::shutdown`] on
//!   SIGTERM or when the instance is removed.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use crate::action::{Action, Reason, State};
use crate::config::InstanceConfig;
use crate::debug::Debug as DebugEvent;
use crate::error::{ConfigError, UnknownTracker};
use crate::packet::{decode_advert, encode_advert, ReceivedAdvert, SendParams, V3ChecksumMode};
use crate::stats::{DropReason, Stats};
use crate::wire::vrrp::{self, Family, Repr, Version, AUTH_DATA_LEN, VRRP_TTL};

/// Largest effective priority a non-owner can reach through tracking.
const MAX_NON_OWNER_PRIORITY: i64 = 254;
/// Address-owner priority (RFC 5798 section 5.2.4).
pub const OWNER_PRIORITY: u8 = 255;

#[derive(Debug, Clone)]
struct Tracker {
    name: String,
    weight: i32,
    reverse: bool,
    up: bool,
    /// No report yet of a status unknown at start ([`TrackerConfig::pending`]).
    pending: bool,
    /// A value-driven contribution (`track_file`), replacing the weight rule when set.
    offset: Option<i64>,
}

/// A `track_file` offset below this puts the instance in FAULT (keepalived: "less than -253").
const OFFSET_FAULT_BELOW: i64 = -253;

impl Tracker {
    /// Contribution to the priority.
    fn weight_now(&self) -> i64 {
        if let Some(offset) = self.offset {
            return if offset < OFFSET_FAULT_BELOW {
                0
            } else {
                offset
            };
        }
        let effective_up = self.up != self.reverse;
        match self.weight {
            w if w > 0 && effective_up => i64::from(w),
            w if w < 0 && !effective_up => i64::from(w),
            _ => 0,
        }
    }

    /// Whether this tracker puts the instance in FAULT.
    fn faulted(&self) -> bool {
        if let Some(offset) = self.offset {
            return offset < OFFSET_FAULT_BELOW;
        }
        self.weight == 0 && self.up == self.reverse
    }
}

/// A VRRP instance; see the module documentation for the calling contract.
#[derive(Debug)]
pub struct Instance {
    cfg: InstanceConfig,
    state: State,
    /// End of the startup delay.
    start_at: Instant,
    /// Master_Adver_Interval (RFC 5798 section 6.1): the master's interval, learned in v3.
    master_adver_interval: Duration,
    adver_timer: Option<Instant>,
    master_down_timer: Option<Instant>,
    garp_timer: Option<(Instant, u32)>,
    garp_refresh_timer: Option<Instant>,
    /// Next `garp_extra_if` announcement.
    garp_extra_timer: Option<Instant>,
    /// Until when lower-priority adverts are still accepted (preempt_delay).
    preempt_until: Option<Instant>,
    trackers: Vec<Tracker>,
    priority: u8,
    ip_ident: u16,
    ah_sequence: u32,
    actions: VecDeque<Action>,
    stats: Stats,
    in_sync_group: bool,
    wants_master: bool,
    group_fault: bool,
    /// The driver cannot carry the instance's traffic (its socket cannot be opened, its
    /// interface has no usable address): FAULT until cleared.
    io_fault: bool,
    /// The address of the current master: the source of the last advert accepted as BACKUP,
    /// our own source while MASTER.
    master_address: Option<IpAddr>,
    /// The current master's priority, known with [`Instance::master_address`].
    master_priority: Option<u8>,
    /// When the state last changed (time as given by the driver).
    last_transition: Option<Instant>,
    /// A peer's advert with the old unicast checksum was accepted (logged once).
    old_checksum_seen: bool,
    /// Re-created by a reload in this state: leaving INIT for it is [`Reason::Reload`], not a
    /// transition (not counted, not logged as one).
    resumed: Option<State>,
    /// The start waited for a pending tracker's first report.
    waited_for_trackers: bool,
}

impl Instance {
    /// Creates an instance at `now`; it stays in INIT until `now + startup_delay`.
    pub fn new(cfg: InstanceConfig, now: Instant) -> Result<Instance, ConfigError> {
        cfg.validate()?;
        let trackers = cfg
            .trackers
            .iter()
            .map(|t| Tracker {
                name: t.name.clone(),
                weight: t.weight,
                reverse: t.reverse,
                up: t.initially_up,
                pending: t.pending,
                offset: None,
            })
            .collect();
        let mut instance = Instance {
            master_adver_interval: cfg.advert_interval,
            start_at: now + cfg.startup_delay,
            state: State::Init,
            adver_timer: None,
            master_down_timer: None,
            garp_timer: None,
            garp_refresh_timer: None,
            garp_extra_timer: None,
            preempt_until: None,
            trackers,
            priority: cfg.priority,
            ip_ident: 0,
            ah_sequence: 0,
            actions: VecDeque::new(),
            stats: Stats::default(),
            in_sync_group: false,
            wants_master: false,
            group_fault: false,
            io_fault: false,
            master_address: None,
            master_priority: None,
            last_transition: None,
            old_checksum_seen: false,
            resumed: None,
            waited_for_trackers: false,
            cfg,
        };
        instance.priority = instance.compute_priority();
        Ok(instance)
    }

    /// The configuration.
    pub fn config(&self) -> &InstanceConfig {
        &self.cfg
    }

    /// Instance name.
    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Effective priority (configured priority adjusted by trackers).
    pub fn priority(&self) -> u8 {
        self.priority
    }

    /// The master's advertisement interval as currently known (learned from adverts in v3).
    pub fn master_adver_interval(&self) -> Duration {
        self.master_adver_interval
    }

    /// The address of the current master as last known: our own source while MASTER, the
    /// source of the last advert accepted while BACKUP (kept through FAULT and STOP as the
    /// last one seen; `None` before any).
    pub fn master_address(&self) -> Option<IpAddr> {
        self.master_address
    }

    /// The current master's priority as last known (see [`Instance::master_address`]; our
    /// effective priority when we became MASTER).
    pub fn master_priority(&self) -> Option<u8> {
        self.master_priority
    }

    /// When the state last changed, in the driver's time (`None` while still in INIT).
    pub fn last_transition(&self) -> Option<Instant> {
        self.last_transition
    }

    /// Whether the driver reported that it cannot carry the instance's traffic
    /// ([`Instance::set_io_fault`]).
    pub fn io_fault(&self) -> bool {
        self.io_fault
    }

    /// Reports whether the driver can carry the instance's traffic. While it cannot (no
    /// socket, no usable source address) the instance is in FAULT: a router that cannot
    /// advertise must never hold the addresses (split brain). Clearing it resumes as after a
    /// tracker recovery (BACKUP, or MASTER for an address owner).
    pub fn set_io_fault(&mut self, now: Instant, fault: bool) {
        if self.io_fault != fault {
            self.io_fault = fault;
            self.update_fault(now);
        }
    }

    /// Changes the source address of the adverts (the interface's address changed, or one
    /// appeared after the instance started without any). Takes effect with the next advert.
    pub fn set_source(&mut self, source: IpAddr) {
        if self.master_address == Some(self.cfg.source) {
            self.master_address = Some(source);
        }
        self.cfg.source = source;
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Resets the counters (keepalived's "stats with clear" signal).
    pub fn clear_stats(&mut self) {
        self.stats = Stats::default();
    }

    /// Continues the counters of the instance a configuration reload replaced (so that they
    /// do not restart from zero on every reload). Ignored unless the instance is in INIT.
    pub fn carry_stats(&mut self, stats: Stats) {
        if self.state == State::Init {
            self.stats = stats;
        }
    }

    /// Skew_Time: v2 (RFC 3768 section 6.1) `(256 - priority) / 256` s; v3 (RFC 5798 section
    /// 6.1) `(256 - priority) * Master_Adver_Interval / 256`.
    pub fn skew_time(&self) -> Duration {
        let factor = 256 - u32::from(self.priority);
        match self.cfg.version {
            Version::V2 => Duration::from_secs(1) * factor / 256,
            Version::V3 => self.master_adver_interval * factor / 256,
        }
    }

    /// Master_Down_Interval: `down_timer_adverts * Master_Adver_Interval + Skew_Time`.
    pub fn master_down_interval(&self) -> Duration {
        self.master_adver_interval * self.cfg.down_timer_adverts + self.skew_time()
    }

    /// The next time [`Instance::handle_timeout`] must be called, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Init {
            // Waiting for a tracker's first report: no timer until it comes.
            return (!self.awaits_trackers()).then_some(self.start_at);
        }
        [
            self.adver_timer,
            self.master_down_timer,
            self.garp_timer.map(|(t, _)| t),
            self.garp_refresh_timer,
            self.garp_extra_timer,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next action to carry out, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Init {
            if now >= self.start_at && !self.awaits_trackers() {
                let reason = if self.waited_for_trackers {
                    Reason::TrackersReported
                } else {
                    Reason::Startup
                };
                self.start(now, reason);
            }
            return;
        }
        if self.master_down_timer.is_some_and(|t| t <= now) {
            self.master_down_timer = None;
            self.on_master_down(now);
        }
        if let Some(due) = self.adver_timer.filter(|t| *t <= now) {
            // RFC 5798 section 6.4.3: send an advert and restart the timer, from when it was
            // due rather than when it fired, so wake-up latency does not pile up into a slower
            // advert rate (after a stall longer than an interval: from now).
            self.send_advert(self.priority);
            let next = due + self.cfg.advert_interval;
            self.adver_timer = Some(if next > now {
                next
            } else {
                now + self.cfg.advert_interval
            });
        }
        if let Some((t, count)) = self.garp_timer {
            if t <= now {
                self.garp_timer = None;
                self.send_gratuitous(count);
            }
        }
        if self.garp_refresh_timer.is_some_and(|t| t <= now) {
            self.send_gratuitous(self.cfg.garp.master_refresh_repeat);
            self.garp_refresh_timer = self.cfg.garp.master_refresh.map(|p| now + p);
        }
        if self.garp_extra_timer.is_some_and(|t| t <= now) {
            if let Some(extra) = &self.cfg.garp_extra {
                if !extra.addresses.is_empty() {
                    self.actions.push_back(Action::SendGratuitous {
                        addresses: extra.addresses.clone(),
                        count: 1,
                    });
                }
            }
            self.garp_extra_timer = self.cfg.garp_extra.as_ref().map(|e| now + e.interval);
        }
    }

    /// Handles received bytes: the IPv4 datagram (header included) or the IPv6 VRRP message,
    /// from `src`, with the TTL / hop limit the socket reported (IPv4 uses the header's).
    pub fn handle_packet(&mut self, now: Instant, src: IpAddr, ttl: u8, bytes: &[u8]) {
        let mut old_checksum = false;
        let checked = self.check_packet(src, ttl, bytes, &mut old_checksum);
        if old_checksum && checked.is_ok() && !self.old_checksum_seen {
            self.old_checksum_seen = true;
            DebugEvent::OldUnicastChecksum {
                instance: &self.cfg.name,
            }
            .log();
        }
        match checked {
            Ok(adv) => {
                self.stats.adverts_received += 1;
                if adv.repr.priority == 0 {
                    self.stats.priority_zero_received += 1;
                }
                match self.state {
                    State::Backup => self.backup_receive(now, &adv),
                    State::Master => self.master_receive(now, &adv),
                    State::Init | State::Fault | State::Stop => {}
                }
            }
            Err(reason) => {
                self.stats.dropped.record(reason);
                DebugEvent::AdvertDropped {
                    instance: &self.cfg.name,
                    src,
                    reason,
                }
                .log();
            }
        }
    }

    /// Reports the status of tracked object `name`.
    pub fn track_update(
        &mut self,
        now: Instant,
        name: &str,
        up: bool,
    ) -> Result<(), UnknownTracker> {
        let tracker = self.tracker_mut(name)?;
        let was_pending = std::mem::take(&mut tracker.pending);
        if tracker.up != up {
            tracker.up = up;
            self.refresh_priority(now);
        }
        self.waited_for_trackers |= was_pending;
        Ok(())
    }

    /// Whether a tracker whose status was unknown at start has not reported yet.
    fn awaits_trackers(&self) -> bool {
        self.trackers.iter().any(|t| t.pending)
    }

    fn tracker_mut(&mut self, name: &str) -> Result<&mut Tracker, UnknownTracker> {
        self.trackers
            .iter_mut()
            .find(|t| t.name == name)
            .ok_or_else(|| UnknownTracker(name.to_owned()))
    }

    fn refresh_priority(&mut self, now: Instant) {
        let old = self.priority;
        self.priority = self.compute_priority();
        if old != self.priority {
            self.actions.push_back(Action::PriorityChanged {
                from: old,
                to: self.priority,
            });
        }
        self.update_fault(now);
    }

    /// Reports a value-driven tracker (`track_file` with a non-zero weight): `offset` is added
    /// to the priority as is, and an offset below -253 means FAULT. Once called, the tracker's
    /// up/down status no longer counts.
    pub fn track_offset(
        &mut self,
        now: Instant,
        name: &str,
        offset: i64,
    ) -> Result<(), UnknownTracker> {
        let tracker = self.tracker_mut(name)?;
        let was_pending = std::mem::take(&mut tracker.pending);
        if tracker.offset != Some(offset) {
            tracker.offset = Some(offset);
            self.refresh_priority(now);
        }
        self.waited_for_trackers |= was_pending;
        Ok(())
    }

    /// Marks a freshly created instance as the continuation of one a configuration reload
    /// replaced, which was in `state`: leaving INIT for that same state is then logged and
    /// reported with [`Reason::Reload`] and not counted as a transition (keepalived logs
    /// nothing for the instances a reload keeps). Ignored unless the instance is in INIT.
    pub fn mark_resumed(&mut self, state: State) {
        if self.state == State::Init {
            self.resumed = Some(state);
        }
    }

    /// Starts a freshly created instance directly as MASTER, for a configuration reload of
    /// an instance that was MASTER: it advertises at once instead of waiting for the
    /// master-down timer. Ignored unless the instance is still in INIT and not faulted.
    pub fn resume_as_master(&mut self, now: Instant) {
        if self.state != State::Init || self.own_fault() || self.group_fault {
            return;
        }
        self.become_master(now, Reason::Startup);
    }

    /// Reports that one of the addresses a MASTER holds was removed from the host by someone
    /// else (the driver saw it go). keepalived 2.2.7 (observed) gives mastership up at once:
    /// it sends priority 0, removes its other addresses and waits in BACKUP for only
    /// Skew_Time, so that it normally wins the election again a moment later and puts every
    /// address back, unless a peer took over meanwhile. Ignored in any other state.
    pub fn address_lost(&mut self, now: Instant) {
        if self.state != State::Master {
            return;
        }
        self.send_advert(0);
        self.become_backup(now, Reason::AddressRemoved);
        self.master_down_timer = Some(now + self.skew_time());
    }

    /// Stops the instance: a MASTER sends priority 0 and removes its addresses (RFC 5798
    /// section 6.4.3, "Shutdown" event). Idempotent.
    pub fn shutdown(&mut self, now: Instant) {
        if self.state == State::Stop {
            return;
        }
        if self.state == State::Master {
            self.release_master();
        }
        self.clear_timers();
        self.set_state(now, State::Stop, Reason::Shutdown);
    }

    // ----- receive path -----

    /// Whether an advert failing the checksum is retried with the old unicast one: VRRPv3 over
    /// IPv4 to unicast peers with the default checksum, unless `old_unicast_checksum never`.
    fn accepts_old_checksum(&self) -> bool {
        self.cfg.detect_old_checksum
            && self.cfg.version == Version::V3
            && self.cfg.family == Family::Ipv4
            && !self.cfg.unicast_peers.is_empty()
            && self.cfg.v3_checksum == V3ChecksumMode::PseudoHeader
    }

    /// RFC 3768 / RFC 5798 section 7.1 receive checks.
    ///
    /// `old_checksum` is set when the advert verified only with the old unicast checksum.
    fn check_packet(
        &self,
        src: IpAddr,
        ttl: u8,
        bytes: &[u8],
        old_checksum: &mut bool,
    ) -> Result<ReceivedAdvert, DropReason> {
        let multicast = self.cfg.unicast_peers.is_empty();
        let ipv6_dst = match self.cfg.multicast_group() {
            IpAddr::V6(group) if multicast => Some(group),
            _ => None::<Ipv6Addr>,
        };
        if let Some(vrid) = peek_vrid(self.cfg.family, bytes) {
            if vrid != self.cfg.vrid {
                return Err(DropReason::WrongVrid);
            }
        }
        if let Some(v) = peek_version(self.cfg.family, bytes) {
            if v != self.cfg.version.number() {
                return Err(DropReason::VersionMismatch);
            }
        }
        let decode =
            |mode| decode_advert(self.cfg.family, src, bytes, &self.cfg.auth, mode, ipv6_dst);
        let (adv, header_ttl) = match decode(self.cfg.v3_checksum) {
            Err(DropReason::BadChecksum) if self.accepts_old_checksum() => {
                let decoded = decode(V3ChecksumMode::OldUnicast)?;
                *old_checksum = true;
                decoded
            }
            other => other?,
        };
        let ttl = if self.cfg.family == Family::Ipv4 {
            header_ttl
        } else {
            ttl
        };
        if adv.src == self.cfg.source {
            return Err(DropReason::OwnAdvert);
        }
        if (multicast || self.cfg.strict) && ttl != VRRP_TTL {
            return Err(DropReason::BadTtl);
        }
        if adv.repr.vrid != self.cfg.vrid {
            return Err(DropReason::WrongVrid);
        }
        if adv.repr.version != self.cfg.version {
            return Err(DropReason::VersionMismatch);
        }
        if adv.repr.interval_cs == 0
            || (self.cfg.version == Version::V2 && adv.repr.interval_cs != self.cfg.interval_cs())
        {
            return Err(DropReason::IntervalMismatch);
        }
        if !self.cfg.skip_check_adv_addr
            && !same_addresses(&adv.repr.addresses, &self.cfg.virtual_addresses)
        {
            return Err(DropReason::AddressMismatch);
        }
        Ok(adv)
    }

    /// RFC 5798 section 6.4.2 (Backup), with keepalived's preemption options.
    fn backup_receive(&mut self, now: Instant, adv: &ReceivedAdvert) {
        let prio = adv.repr.priority;
        if prio == 0 {
            // The master is stopping: take over after Skew_Time.
            self.wants_master = false;
            self.master_down_timer = Some(now + self.skew_time());
            return;
        }
        let accept = if self.cfg.nopreempt_effective() || prio >= self.priority {
            true
        } else {
            // Lower priority master: preempt, possibly after preempt_delay.
            let delay = self.cfg.preempt_delay_effective();
            if delay.is_zero() {
                false
            } else {
                let until = *self.preempt_until.get_or_insert(now + delay);
                now < until
            }
        };
        if accept {
            self.master_address = Some(adv.src);
            self.master_priority = Some(prio);
            if self.cfg.version == Version::V3 {
                self.master_adver_interval =
                    Duration::from_millis(u64::from(adv.repr.interval_cs) * 10);
            }
            self.wants_master = false;
            self.master_down_timer = Some(now + self.master_down_interval());
        }
    }

    /// RFC 5798 section 6.4.3 (Master), with keepalived's split-brain recovery.
    fn master_receive(&mut self, now: Instant, adv: &ReceivedAdvert) {
        let prio = adv.repr.priority;
        if prio == 0 {
            self.send_advert(self.priority);
            self.adver_timer = Some(now + self.cfg.advert_interval);
            return;
        }
        let higher = prio > self.priority
            || (prio == self.priority && ip_as_u128(adv.src) > ip_as_u128(self.cfg.source));
        if higher {
            self.master_address = Some(adv.src);
            self.master_priority = Some(prio);
            if self.cfg.higher_prio_send_advert {
                self.send_advert(self.priority);
            }
            if self.cfg.version == Version::V3 {
                self.master_adver_interval =
                    Duration::from_millis(u64::from(adv.repr.interval_cs) * 10);
            }
            self.become_backup(now, Reason::HigherPriority);
            return;
        }
        if !self.cfg.lower_prio_no_advert {
            // Another master with lower priority: assert ourselves and refresh the neighbours'
            // caches so traffic comes back to us.
            self.send_advert(self.priority);
            self.send_gratuitous(self.cfg.garp.lower_prio_repeat);
            if !self.cfg.garp.lower_prio_delay.is_zero() {
                self.garp_timer = Some((
                    now + self.cfg.garp.lower_prio_delay,
                    self.cfg.garp.lower_prio_repeat,
                ));
            }
        }
        if prio < self.priority {
            self.actions.push_back(Action::LowerPriorityAdvert {
                src: adv.src,
                priority: prio,
            });
        }
    }

    // ----- transitions -----

    fn start(&mut self, now: Instant, reason: Reason) {
        if self.own_fault() || self.group_fault {
            self.set_state(now, State::Fault, Reason::Fault);
        } else if self.priority == OWNER_PRIORITY && !self.in_sync_group {
            self.become_master(now, Reason::Owner);
        } else {
            self.become_backup(now, reason);
            if self.priority == OWNER_PRIORITY {
                // In a sync group the owner still waits for its peers.
                self.wants_master = true;
            }
        }
    }

    fn on_master_down(&mut self, now: Instant) {
        if self.state != State::Backup {
            return;
        }
        if self.in_sync_group {
            // The group decides; keep watching meanwhile.
            self.wants_master = true;
            self.master_down_timer = Some(now + self.master_down_interval());
        } else {
            self.become_master(now, Reason::MasterDown);
        }
    }

    /// RFC 5798 section 6.4.1 / 6.4.2: advert first, then addresses, then gratuitous ARPs.
    fn become_master(&mut self, now: Instant, reason: Reason) {
        if !(self.resumed == Some(State::Master) && self.state == State::Init) {
            self.stats.became_master += 1;
        }
        self.master_down_timer = None;
        self.preempt_until = None;
        self.wants_master = false;
        self.master_adver_interval = self.cfg.advert_interval;
        self.send_advert(self.priority);
        self.actions.push_back(Action::AddVips);
        let garp = self.cfg.garp;
        self.send_gratuitous(garp.master_repeat);
        self.garp_timer =
            (!garp.master_delay.is_zero()).then(|| (now + garp.master_delay, garp.master_repeat));
        self.garp_refresh_timer = garp.master_refresh.map(|p| now + p);
        self.garp_extra_timer = self.cfg.garp_extra.as_ref().map(|e| now + e.interval);
        self.adver_timer = Some(now + self.cfg.advert_interval);
        self.master_address = Some(self.cfg.source);
        self.master_priority = Some(self.priority);
        self.set_state(now, State::Master, reason);
    }

    fn become_backup(&mut self, now: Instant, reason: Reason) {
        if self.state == State::Master {
            self.actions.push_back(Action::RemoveVips);
            self.stats.released_master += 1;
        }
        self.adver_timer = None;
        self.garp_timer = None;
        self.garp_refresh_timer = None;
        self.garp_extra_timer = None;
        self.preempt_until = None;
        self.wants_master = false;
        self.master_down_timer = Some(now + self.master_down_interval());
        self.set_state(now, State::Backup, reason);
    }

    /// Sends priority 0 and removes the addresses.
    fn release_master(&mut self) {
        self.send_advert(0);
        self.actions.push_back(Action::RemoveVips);
        self.stats.released_master += 1;
    }

    fn clear_timers(&mut self) {
        self.adver_timer = None;
        self.master_down_timer = None;
        self.garp_timer = None;
        self.garp_refresh_timer = None;
        self.garp_extra_timer = None;
        self.preempt_until = None;
        self.wants_master = false;
    }

    fn set_state(&mut self, now: Instant, to: State, reason: Reason) {
        let from = self.state;
        if from == to {
            return;
        }
        let reason = if self.resumed.take() == Some(to) && from == State::Init {
            Reason::Reload
        } else {
            reason
        };
        self.state = to;
        self.last_transition = Some(now);
        DebugEvent::StateChange {
            instance: &self.cfg.name,
            from,
            to,
            reason,
        }
        .log();
        self.actions
            .push_back(Action::StateChanged { from, to, reason });
        self.actions.push_back(Action::Notify {
            state: to,
            priority: self.priority,
        });
    }

    fn own_fault(&self) -> bool {
        self.cfg.config_fault || self.io_fault || self.trackers.iter().any(Tracker::faulted)
    }

    /// Enters or leaves FAULT after a tracker or sync-group change.
    fn update_fault(&mut self, now: Instant) {
        let faulted = self.own_fault() || self.group_fault;
        match (self.state, faulted) {
            (State::Backup | State::Master, true) => {
                if self.state == State::Master {
                    self.release_master();
                }
                self.clear_timers();
                self.set_state(now, State::Fault, Reason::Fault);
            }
            (State::Fault, false) => {
                if self.priority == OWNER_PRIORITY && !self.in_sync_group {
                    self.become_master(now, Reason::FaultCleared);
                } else {
                    self.become_backup(now, Reason::FaultCleared);
                }
            }
            _ => {}
        }
    }

    fn compute_priority(&self) -> u8 {
        if self.cfg.priority == OWNER_PRIORITY {
            // keepalived: trackers never lower an owner's priority.
            return OWNER_PRIORITY;
        }
        let sum: i64 = self.trackers.iter().map(Tracker::weight_now).sum();
        let p = (i64::from(self.cfg.priority) + sum).clamp(1, MAX_NON_OWNER_PRIORITY);
        u8::try_from(p).unwrap_or(1)
    }

    // ----- output -----

    fn advert_repr(&self, priority: u8) -> Repr {
        Repr {
            version: self.cfg.version,
            family: self.cfg.family,
            vrid: self.cfg.vrid,
            priority,
            auth_type: self.cfg.auth.auth_type(),
            interval_cs: self.cfg.interval_cs(),
            addresses: self.cfg.virtual_addresses.clone(),
            auth_data: [0; AUTH_DATA_LEN],
        }
    }

    fn send_advert(&mut self, priority: u8) {
        let repr = self.advert_repr(priority);
        let destinations: Vec<(IpAddr, u8)> = if self.cfg.unicast_peers.is_empty() {
            vec![(self.cfg.multicast_group(), VRRP_TTL)]
        } else {
            self.cfg
                .unicast_peers
                .iter()
                .map(|p| (*p, self.cfg.unicast_ttl))
                .collect()
        };
        for (dst, ttl) in destinations {
            self.ip_ident = self.ip_ident.wrapping_add(1);
            self.ah_sequence = self.ah_sequence.wrapping_add(1);
            let params = SendParams {
                src: self.cfg.source,
                dst,
                ttl,
                ident: self.ip_ident,
                ah_sequence: self.ah_sequence,
                v3_checksum: self.cfg.v3_checksum,
            };
            match encode_advert(&repr, &self.cfg.auth, &params) {
                Ok(bytes) => {
                    self.stats.adverts_sent += 1;
                    if priority == 0 {
                        self.stats.priority_zero_sent += 1;
                    }
                    self.actions.push_back(Action::SendAdvert {
                        dst,
                        ttl,
                        bytes,
                        priority,
                    });
                }
                Err(error) => DebugEvent::EncodeFailed {
                    instance: &self.cfg.name,
                    error,
                }
                .log(),
            }
        }
    }

    fn send_gratuitous(&mut self, count: u32) {
        if count == 0 || self.cfg.virtual_addresses.is_empty() {
            return;
        }
        self.actions.push_back(Action::SendGratuitous {
            addresses: self.cfg.virtual_addresses.clone(),
            count,
        });
    }

    // ----- sync group hooks -----

    pub(crate) fn set_in_sync_group(&mut self) {
        self.in_sync_group = true;
    }

    /// Whether a sync-group member's master-down timer has fired with no master heard since.
    pub(crate) fn wants_master(&self) -> bool {
        self.state == State::Backup && self.wants_master
    }

    /// Whether the member itself (not the group) is faulted.
    pub(crate) fn is_own_fault(&self) -> bool {
        self.state == State::Fault && self.own_fault()
    }

    /// Makes a BACKUP member MASTER; true if it changed.
    pub(crate) fn group_force_master(&mut self, now: Instant) -> bool {
        let change = self.state == State::Backup;
        if change {
            self.become_master(now, Reason::SyncGroup);
        }
        change
    }

    /// Makes a MASTER member BACKUP; true if it changed.
    pub(crate) fn group_force_backup(&mut self, now: Instant) -> bool {
        let change = self.state == State::Master;
        if change {
            self.become_backup(now, Reason::SyncGroup);
        }
        change
    }

    /// Sets or clears the fault inherited from the group; true if the flag changed.
    pub(crate) fn set_group_fault(&mut self, now: Instant, fault: bool) -> bool {
        let change = self.group_fault != fault;
        if change {
            self.group_fault = fault;
            self.update_fault(now);
        }
        change
    }
}

fn peek_vrid(family: Family, bytes: &[u8]) -> Option<u8> {
    vrrp_message(family, bytes).and_then(vrrp::peek_vrid)
}

fn peek_version(family: Family, bytes: &[u8]) -> Option<u8> {
    vrrp_message(family, bytes)
        .and_then(|m| m.first())
        .map(|b| b >> 4)
}

/// The VRRP message inside received bytes, best effort (for early demultiplexing checks).
fn vrrp_message(family: Family, bytes: &[u8]) -> Option<&[u8]> {
    match family {
        Family::Ipv6 => Some(bytes),
        Family::Ipv4 => {
            let ip = crate::wire::ipv4::Packet::new_checked(bytes).ok()?;
            let payload = bytes.get(ip.header_len()..ip.total_len())?;
            match ip.protocol() {
                crate::wire::IPPROTO_VRRP => Some(payload),
                crate::wire::IPPROTO_AH => payload.get(crate::wire::ah::HEADER_LEN..),
                _ => None,
            }
        }
    }
}

fn same_addresses(received: &[IpAddr], ours: &[IpAddr]) -> bool {
    received.len() == ours.len() && received.iter().all(|a| ours.contains(a))
}

/// Addresses compared as unsigned big-endian numbers (RFC 5798 section 6.4.3).
fn ip_as_u128(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TrackerConfig;
    use std::net::Ipv4Addr;

    fn config() -> InstanceConfig {
        let mut c = InstanceConfig::new(
            "VI_1",
            51,
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100))],
        );
        c.trackers.push(TrackerConfig {
            name: "file".into(),
            // What the daemon registers for a track_file: no contribution until a value.
            weight: 1,
            reverse: false,
            initially_up: false,
            pending: false,
        });
        c
    }

    fn drain(i: &mut Instance) -> Vec<Action> {
        std::iter::from_fn(|| i.poll_action()).collect()
    }

    #[test]
    fn track_offset_moves_priority_and_faults_below_minus_253() {
        let now = Instant::now();
        let mut i = Instance::new(config(), now).expect("valid");
        i.handle_timeout(now);
        assert_eq!(i.state(), State::Backup);
        drain(&mut i);
        i.track_offset(now, "file", -30).expect("known");
        assert_eq!(i.priority(), 70);
        assert_eq!(
            drain(&mut i),
            vec![Action::PriorityChanged { from: 100, to: 70 }]
        );
        i.track_offset(now, "file", 500).expect("known");
        assert_eq!(i.priority(), 254);
        i.track_offset(now, "file", -254).expect("known");
        assert_eq!(i.state(), State::Fault);
        i.track_offset(now, "file", 0).expect("known");
        assert_eq!(i.state(), State::Backup);
        assert_eq!(i.priority(), 100);
        assert!(i.track_offset(now, "nope", 1).is_err());
    }

    #[test]
    fn a_pending_tracker_holds_the_start_until_its_first_report() {
        let pending = |name: &str| TrackerConfig {
            name: name.into(),
            weight: 0,
            reverse: false,
            initially_up: true,
            pending: true,
        };
        let now = Instant::now();
        // A failing first report: straight to FAULT, never BACKUP.
        let mut c = config();
        c.trackers.push(pending("script:chk"));
        let mut i = Instance::new(c.clone(), now).expect("valid");
        assert_eq!(i.poll_timeout(), None, "no start timer while waiting");
        i.handle_timeout(now + Duration::from_secs(5));
        assert_eq!(i.state(), State::Init);
        let later = now + Duration::from_secs(1);
        i.track_update(later, "script:chk", false).expect("known");
        assert_eq!(i.state(), State::Init, "the start runs from the timer");
        assert_eq!(i.poll_timeout(), Some(now), "due at once");
        i.handle_timeout(later);
        assert_eq!(i.state(), State::Fault);
        assert!(
            !drain(&mut i).iter().any(|a| matches!(
                a,
                Action::StateChanged {
                    to: State::Backup,
                    ..
                }
            )),
            "no BACKUP on the way"
        );
        // A passing first report: BACKUP, not marked as the plain start.
        let mut i = Instance::new(c, now).expect("valid");
        i.track_update(later, "script:chk", true).expect("known");
        i.handle_timeout(later);
        assert_eq!(i.state(), State::Backup);
        assert!(drain(&mut i).iter().any(|a| matches!(
            a,
            Action::StateChanged {
                to: State::Backup,
                reason: Reason::TrackersReported,
                ..
            }
        )));
    }

    #[test]
    fn resume_as_master_advertises_at_once() {
        let now = Instant::now();
        let mut i = Instance::new(config(), now).expect("valid");
        i.resume_as_master(now);
        assert_eq!(i.state(), State::Master);
        let actions = drain(&mut i);
        assert!(matches!(
            actions[0],
            Action::SendAdvert { priority: 100, .. }
        ));
        assert_eq!(actions[1], Action::AddVips);
        // Only from INIT: a running instance is left alone.
        assert!(i.stats().adverts_sent > 0);
        i.clear_stats();
        assert_eq!(*i.stats(), Stats::default());
        let mut j = Instance::new(config(), now).expect("valid");
        j.handle_timeout(now);
        j.resume_as_master(now);
        assert_eq!(j.state(), State::Backup);
    }

    fn reasons(actions: &[Action]) -> Vec<(State, Reason)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::StateChanged { to, reason, .. } => Some((*to, *reason)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_resumed_state_is_not_a_transition() {
        let now = Instant::now();
        // MASTER kept across a reload: no became_master, reason Reload.
        let mut m = Instance::new(config(), now).expect("valid");
        m.mark_resumed(State::Master);
        m.resume_as_master(now);
        assert_eq!(reasons(&drain(&mut m)), [(State::Master, Reason::Reload)]);
        assert_eq!(m.stats().became_master, 0);
        // BACKUP kept: leaving INIT for BACKUP is the reload too.
        let mut b = Instance::new(config(), now).expect("valid");
        b.mark_resumed(State::Backup);
        b.handle_timeout(now);
        assert_eq!(reasons(&drain(&mut b)), [(State::Backup, Reason::Reload)]);
        // Later transitions are real ones.
        let t = b.poll_timeout().expect("master-down timer");
        b.handle_timeout(t);
        assert_eq!(
            reasons(&drain(&mut b)),
            [(State::Master, Reason::MasterDown)]
        );
        assert_eq!(b.stats().became_master, 1);
        // Marked BACKUP but starting elsewhere (here MASTER): a transition, counted.
        let mut c = Instance::new(config(), now).expect("valid");
        c.mark_resumed(State::Backup);
        c.resume_as_master(now);
        assert_eq!(reasons(&drain(&mut c)), [(State::Master, Reason::Startup)]);
        assert_eq!(c.stats().became_master, 1);
    }

    #[test]
    fn late_wake_ups_do_not_slow_the_advert_rate() {
        let t0 = Instant::now();
        let mut i = Instance::new(config(), t0).expect("valid");
        i.resume_as_master(t0);
        drain(&mut i);
        let interval = i.cfg.advert_interval;
        let late = Duration::from_micros(300);
        // Every wake-up 300 us late: the schedule stays on t0 + k x interval.
        for k in 1..=5u32 {
            let due = i.poll_timeout().expect("advert timer");
            assert_eq!(due, t0 + interval * k);
            i.handle_timeout(due + late);
            assert!(drain(&mut i)
                .iter()
                .any(|a| matches!(a, Action::SendAdvert { .. })));
        }
        // After a stall longer than an interval, the next advert is one interval away.
        let due = i.poll_timeout().expect("advert timer");
        let woke = due + interval * 3;
        i.handle_timeout(woke);
        assert_eq!(i.poll_timeout(), Some(woke + interval));
    }
}
