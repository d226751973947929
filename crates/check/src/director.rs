//! The director: from checker verdicts to which real servers serve, with which weight, and
//! whether each virtual server has its quorum. Free of I/O and of the clock.
//!
//! Polling contract: build a [`Director`] from a [`DirectorSpec`]; feed every checker event with
//! [`Director::handle_checker`] (one call per fanned-out slot); then drain
//! [`Director::poll_action`]. Whenever an action of kind [`Action::TableChanged`] comes out, the
//! table wanted in the kernel changed: read it back with [`Director::real_server_weight`] and
//! [`Director::sorry_weight`].
//!
//! keepalived's rules (keepalived.conf(5), "Health checks" in the project's reference notes):
//! - a real server is up only while every one of its checkers passes (one with no checker is
//!   always up);
//! - a down real server leaves the table, or stays with weight 0 with `inhibit_on_failure`;
//! - `misc_dynamic` replaces the real server's weight, FILE_CHECK `dynamic` adds to it;
//! - the virtual server keeps its quorum while the sum of live weights is at least
//!   `quorum - hysteresis` (and not zero), and regains it at `quorum + hysteresis`; without it
//!   the `sorry_server` replaces the real servers;
//! - `ha_suspend`: while suspended, verdicts of the virtual server's checkers are held back and
//!   applied when it resumes.

use std::collections::VecDeque;

use crate::state::CheckerEvent;

/// How a dynamic weight reported by a checker changes its real server's weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightMode {
    /// The checker reports no weight (its reports are ignored).
    Static,
    /// The reported weight replaces the configured one (`misc_dynamic`).
    Replace,
    /// The reported weight is added to the configured one (FILE_CHECK `dynamic`).
    Add,
}

/// The starting state of one checker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckerInit {
    /// Whether it passes at start (false with `alpha`, or the state carried over a reload).
    pub up: bool,
    /// The dynamic weight carried over a reload.
    pub weight: Option<i64>,
    /// How its weight reports count.
    pub mode: WeightMode,
}

/// One real server as the director sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealServerSpec {
    /// The configured weight.
    pub weight: u32,
    /// `inhibit_on_failure`: weight 0 instead of removal when down.
    pub inhibit: bool,
    /// Its checkers, in configuration order.
    pub checkers: Vec<CheckerInit>,
}

/// One virtual server as the director sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// A label for logs, e.g. `[10.0.0.1]:tcp:80`.
    pub label: String,
    /// `quorum` (default 1).
    pub quorum: u32,
    /// `hysteresis`.
    pub hysteresis: u32,
    /// The `sorry_server`'s `inhibit` flag, when there is a sorry server.
    pub sorry: Option<SorrySpec>,
    /// The real servers.
    pub real_servers: Vec<RealServerSpec>,
}

/// A `sorry_server`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SorrySpec {
    /// `sorry_server_inhibit`: kept with weight 0 while the quorum holds.
    pub inhibit: bool,
    /// Its weight when serving.
    pub weight: u32,
}

/// Everything the director manages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectorSpec {
    /// The virtual servers, indexed by position.
    pub services: Vec<ServiceSpec>,
}

/// Where a checker's verdict lands: virtual server, real server and checker indices, kept
/// as 32-bit numbers (12 bytes: a runtime keeps one per checker).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slot {
    vs: u32,
    rs: u32,
    check: u32,
}

impl Slot {
    /// The slot of checker `check` of real server `rs` of virtual server `vs`. An index beyond
    /// 32 bits (never in a configuration) becomes one that matches nothing.
    pub fn new(vs: usize, rs: usize, check: usize) -> Slot {
        let n = |i: usize| u32::try_from(i).unwrap_or(u32::MAX);
        Slot {
            vs: n(vs),
            rs: n(rs),
            check: n(check),
        }
    }

    /// Index of the virtual server.
    pub fn vs(self) -> usize {
        self.vs as usize
    }

    /// Index of the real server within its virtual server.
    pub fn rs(self) -> usize {
        self.rs as usize
    }

    /// Index of the checker within its real server.
    pub fn check(self) -> usize {
        self.check as usize
    }
}

/// Something the owner of the director must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A real server came up: run its `notify_up`, write `RS ... UP` to the LVS FIFO.
    RealServerUp {
        /// Virtual server index.
        vs: usize,
        /// Real server index.
        rs: usize,
    },
    /// A real server went down: run its `notify_down`, write `RS ... DOWN`.
    RealServerDown {
        /// Virtual server index.
        vs: usize,
        /// Real server index.
        rs: usize,
    },
    /// The virtual server regained its quorum: run `quorum_up`, write `VS ... UP`.
    QuorumUp {
        /// Virtual server index.
        vs: usize,
    },
    /// The virtual server lost its quorum: run `quorum_down`, write `VS ... DOWN`.
    QuorumDown {
        /// Virtual server index.
        vs: usize,
    },
    /// The wanted IPVS table changed.
    TableChanged,
}

/// One checker of a real server, in 16 bytes: its dynamic weight is a value and a flag
/// (an `Option<i64>` would take 16 bytes alone).
#[derive(Debug, Clone)]
struct CheckerSlot {
    /// The dynamic weight it reported, when `weighted`.
    weight: i64,
    up: bool,
    /// Whether it reported a weight (one that applies: see [`WeightMode`]).
    weighted: bool,
    mode: WeightMode,
}

impl CheckerSlot {
    /// A slot in state `up`, with dynamic weight `weight` if it reported one.
    fn new(up: bool, weight: Option<i64>, mode: WeightMode) -> Self {
        CheckerSlot {
            weight: weight.unwrap_or(0),
            up,
            weighted: weight.is_some(),
            mode,
        }
    }

    /// The dynamic weight it reported, if any.
    fn weight(&self) -> Option<i64> {
        self.weighted.then_some(self.weight)
    }

    /// Sets (or with `None` clears) its dynamic weight.
    fn set_weight(&mut self, weight: Option<i64>) {
        *self = CheckerSlot::new(self.up, weight, self.mode);
    }
}

/// A real server's state: 16 bytes each (a director holds tens of thousands); its label
/// stays with the owner's plan. Its checkers are almost always one whose weight reports do
/// not count ([`WeightMode::Static`]): that one's state is a flag of the real server itself
/// (`lone`), no allocation; otherwise they are all behind one thin pointer (`listed`).
#[derive(Debug, Clone)]
struct RealServer {
    /// The configured weight.
    weight: u32,
    /// `inhibit_on_failure`.
    inhibit: bool,
    up: bool,
    /// Its state was announced (notify scripts, FIFO): true once it changed, or from the
    /// start when it starts up. An `alpha` real server starts down unannounced; its first
    /// failed verdict announces the DOWN without changing the table (keepalived 2.2.7).
    announced: bool,
    /// Whether its one static checker passes, when that is all it has (then `listed` is
    /// `None`); `None` otherwise.
    lone: Option<bool>,
    /// Its checkers, in order, unless it has none or a lone static one.
    listed: Option<Box<Box<[CheckerSlot]>>>,
}

impl RealServer {
    /// A real server of `weight` and `inhibit_on_failure` with `checkers`, down and
    /// unannounced.
    fn new(weight: u32, inhibit: bool, mut checkers: Vec<CheckerSlot>) -> Self {
        let mut r = RealServer {
            weight,
            inhibit,
            up: false,
            announced: false,
            lone: None,
            listed: None,
        };
        match checkers.pop() {
            Some(c) if checkers.is_empty() && c.mode == WeightMode::Static && !c.weighted => {
                r.lone = Some(c.up);
            }
            Some(last) => {
                checkers.push(last);
                r.listed = Some(Box::new(checkers.into_boxed_slice()));
            }
            None => {}
        }
        r
    }

    /// Its checkers kept in a list (none for a lone static checker, see [`RealServer`]).
    fn listed(&self) -> &[CheckerSlot] {
        self.listed.as_deref().map_or(&[], |l| l)
    }

    /// Whether its checker `i` passes.
    fn checker_up(&self, i: usize) -> Option<bool> {
        match (&self.listed, self.lone) {
            (Some(l), _) => l.get(i).map(|c| c.up),
            (None, Some(up)) if i == 0 => Some(up),
            _ => None,
        }
    }

    fn all_pass(&self) -> bool {
        match &self.listed {
            Some(l) => l.iter().all(|c| c.up),
            None => self.lone.unwrap_or(true),
        }
    }

    /// The weight with dynamic reports applied, clamped to what IPVS accepts.
    fn effective_weight(&self) -> u32 {
        let mut w = i64::from(self.weight);
        for c in self.listed() {
            match (c.mode, c.weight()) {
                (WeightMode::Replace, Some(x)) => w = x,
                (WeightMode::Add, Some(x)) => w += x,
                _ => {}
            }
        }
        w.clamp(0, i64::from(i32::MAX)) as u32
    }
}

#[derive(Debug, Clone)]
struct Service {
    spec_label: String,
    quorum: u32,
    hysteresis: u32,
    sorry: Option<SorrySpec>,
    real_servers: Vec<RealServer>,
    quorum_up: bool,
    suspended: bool,
    held: Vec<(Slot, CheckerEvent)>,
}

impl Service {
    fn live_weight(&self) -> u64 {
        self.real_servers
            .iter()
            .filter(|r| r.up)
            .map(|r| u64::from(r.effective_weight()))
            .sum()
    }
}

/// The director's state for every virtual server.
#[derive(Debug, Clone)]
pub struct Director {
    services: Vec<Service>,
    actions: VecDeque<Action>,
}

impl Director {
    /// A director at start (or after a reload): real servers are up when all their checkers
    /// start up; the virtual server starts with its quorum when the live weight reaches
    /// `quorum + hysteresis`, without running scripts.
    pub fn new(spec: DirectorSpec) -> Self {
        // Built into vectors of their own size: collecting the specs' vectors in place would
        // keep the specs' larger allocations (the real server specs are twice the size).
        let mut services = Vec::with_capacity(spec.services.len());
        services.extend(spec.services.into_iter().map(|s| {
            let mut real_servers = Vec::with_capacity(s.real_servers.len());
            real_servers.extend(s.real_servers.into_iter().map(|r| {
                let checkers = r
                    .checkers
                    .iter()
                    .map(|c| CheckerSlot::new(c.up, c.weight, c.mode))
                    .collect();
                let mut rs = RealServer::new(r.weight, r.inhibit, checkers);
                rs.up = rs.all_pass();
                rs.announced = rs.up;
                rs
            }));
            let mut svc = Service {
                spec_label: s.label,
                quorum: s.quorum,
                hysteresis: s.hysteresis,
                sorry: s.sorry,
                real_servers,
                quorum_up: true,
                suspended: false,
                held: Vec::new(),
            };
            // keepalived starts a virtual server with its quorum only at the upper
            // threshold (observed: weight 3, quorum 3, hysteresis 1 starts down).
            let live = svc.live_weight();
            svc.quorum_up = live > 0 && live >= u64::from(svc.quorum) + u64::from(svc.hysteresis);
            svc
        }));
        Director {
            services,
            actions: VecDeque::new(),
        }
    }

    /// The number of virtual servers.
    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    /// The label of a virtual server.
    pub fn service_label(&self, vs: usize) -> Option<&str> {
        self.services.get(vs).map(|s| s.spec_label.as_str())
    }

    /// The number of real servers of a virtual server.
    pub fn real_server_count(&self, vs: usize) -> usize {
        self.services.get(vs).map_or(0, |s| s.real_servers.len())
    }

    fn rs(&self, vs: usize, rs: usize) -> Option<&RealServer> {
        self.services.get(vs)?.real_servers.get(rs)
    }

    /// Whether a real server is up (all its checkers pass).
    pub fn is_up(&self, vs: usize, rs: usize) -> bool {
        self.rs(vs, rs).is_some_and(|r| r.up)
    }

    /// Whether a checker passes.
    pub fn checker_up(&self, slot: Slot) -> Option<bool> {
        self.rs(slot.vs(), slot.rs())?.checker_up(slot.check())
    }

    /// Whether a virtual server has its quorum.
    pub fn has_quorum(&self, vs: usize) -> bool {
        self.services.get(vs).is_some_and(|s| s.quorum_up)
    }

    /// `quorum` and `hysteresis` of a virtual server.
    pub fn quorum_of(&self, vs: usize) -> Option<(u32, u32)> {
        self.services.get(vs).map(|s| (s.quorum, s.hysteresis))
    }

    /// Whether a real server stays in the table with weight 0 while down
    /// (`inhibit_on_failure`).
    pub fn inhibits(&self, vs: usize, rs: usize) -> bool {
        self.rs(vs, rs).is_some_and(|r| r.inhibit)
    }

    /// The sum of the weights of the live real servers.
    pub fn live_weight(&self, vs: usize) -> u64 {
        self.services.get(vs).map_or(0, Service::live_weight)
    }

    /// A real server's weight with its checkers' dynamic reports applied (clamped to 0 and
    /// up), whether or not it is up: the weight keepalived's "Changing weight from N to M"
    /// lines print. `None` for an unknown real server.
    pub fn effective_weight(&self, vs: usize, rs: usize) -> Option<u32> {
        self.rs(vs, rs).map(RealServer::effective_weight)
    }

    /// The weight a real server has in the table, `None` when it must not be there.
    pub fn real_server_weight(&self, vs: usize, rs: usize) -> Option<u32> {
        let s = self.services.get(vs)?;
        let r = s.real_servers.get(rs)?;
        if !s.quorum_up && s.sorry.is_some() {
            // The sorry server replaces the real servers.
            return None;
        }
        if r.up {
            Some(r.effective_weight())
        } else if r.inhibit {
            Some(0)
        } else {
            None
        }
    }

    /// The weight of the sorry server in the table, `None` when it must not be there.
    pub fn sorry_weight(&self, vs: usize) -> Option<u32> {
        let s = self.services.get(vs)?;
        let sorry = s.sorry?;
        if !s.quorum_up {
            Some(sorry.weight)
        } else if sorry.inhibit {
            Some(0)
        } else {
            None
        }
    }

    /// Suspends or resumes a virtual server's checkers (`ha_suspend`). While suspended,
    /// verdicts are held; on resume they are applied in order.
    pub fn set_suspended(&mut self, vs: usize, suspended: bool) {
        let Some(s) = self.services.get_mut(vs) else {
            return;
        };
        s.suspended = suspended;
        if !suspended {
            let held = std::mem::take(&mut s.held);
            for (slot, ev) in held {
                self.handle_checker(slot, &ev);
            }
        }
    }

    /// Whether a virtual server's checkers are suspended (`ha_suspend`).
    pub fn is_suspended(&self, vs: usize) -> bool {
        self.services.get(vs).is_some_and(|s| s.suspended)
    }

    /// Applies a checker event to one slot. Unknown slots are ignored.
    pub fn handle_checker(&mut self, slot: Slot, event: &CheckerEvent) {
        let Some(s) = self.services.get_mut(slot.vs()) else {
            return;
        };
        if s.suspended {
            s.held.push((slot, event.clone()));
            return;
        }
        let Some(r) = s.real_servers.get_mut(slot.rs()) else {
            return;
        };
        let before_weight = r.effective_weight();
        let c = match (&mut r.listed, &mut r.lone) {
            (Some(l), _) => match l.get_mut(slot.check()) {
                Some(c) => c,
                None => return,
            },
            // A lone checker is static: weight reports do not count.
            (None, Some(up)) if slot.check() == 0 => {
                match event {
                    CheckerEvent::Up { .. } => *up = true,
                    CheckerEvent::Down { .. } => *up = false,
                    CheckerEvent::WeightChanged { .. }
                    | CheckerEvent::WeightReset
                    | CheckerEvent::Retrying { .. }
                    | CheckerEvent::UrlPassed { .. }
                    | CheckerEvent::NotRun { .. } => return,
                }
                self.after_checker(slot, event, before_weight);
                return;
            }
            _ => return,
        };
        match event {
            CheckerEvent::Up { .. } => c.up = true,
            CheckerEvent::Down { reason } => {
                c.up = false;
                // keepalived 2.2.7 takes a `misc_dynamic` weight back when the program's
                // exit status puts the checker down, silently: the real server comes back
                // with its configured weight unless the program reports one again.
                if c.mode == WeightMode::Replace && reason.failure.drops_dynamic_weight() {
                    c.set_weight(None);
                }
            }
            CheckerEvent::WeightChanged { weight } => {
                if c.mode == WeightMode::Static {
                    return;
                }
                c.set_weight(Some(*weight));
            }
            CheckerEvent::WeightReset => {
                if c.mode == WeightMode::Static {
                    return;
                }
                c.set_weight(None);
            }
            CheckerEvent::Retrying { .. }
            | CheckerEvent::UrlPassed { .. }
            | CheckerEvent::NotRun { .. } => return,
        }
        self.after_checker(slot, event, before_weight);
    }

    /// What a checker `event` that changed the checker at `slot` does to its real server
    /// (whose effective weight was `before_weight`), its virtual server and the table.
    fn after_checker(&mut self, slot: Slot, event: &CheckerEvent, before_weight: u32) {
        let Some(r) = self
            .services
            .get_mut(slot.vs())
            .and_then(|s| s.real_servers.get_mut(slot.rs()))
        else {
            return;
        };
        let was_up = r.up;
        r.up = r.all_pass();
        let weight_changed = r.effective_weight() != before_weight;
        let mut table_changed = false;
        if !r.up && !was_up && !r.announced && matches!(event, CheckerEvent::Down { .. }) {
            // The first verdict of a real server that started down (alpha): announced, the
            // table is unchanged.
            r.announced = true;
            self.actions.push_back(Action::RealServerDown {
                vs: slot.vs(),
                rs: slot.rs(),
            });
        }
        if r.up != was_up {
            r.announced = true;
            self.actions.push_back(if r.up {
                Action::RealServerUp {
                    vs: slot.vs(),
                    rs: slot.rs(),
                }
            } else {
                Action::RealServerDown {
                    vs: slot.vs(),
                    rs: slot.rs(),
                }
            });
            table_changed = true;
        } else if weight_changed && r.up {
            table_changed = true;
        }
        if self.update_quorum(slot.vs()) {
            table_changed = true;
        }
        if table_changed {
            self.actions.push_back(Action::TableChanged);
        }
    }

    /// Re-evaluates the quorum; true when it flipped.
    fn update_quorum(&mut self, vs: usize) -> bool {
        let Some(s) = self.services.get_mut(vs) else {
            return false;
        };
        let live = s.live_weight();
        let up_at = u64::from(s.quorum) + u64::from(s.hysteresis);
        let down_below = u64::from(s.quorum.saturating_sub(s.hysteresis));
        if !s.quorum_up && live > 0 && live >= up_at {
            s.quorum_up = true;
            self.actions.push_back(Action::QuorumUp { vs });
            true
        } else if s.quorum_up && (live == 0 || live < down_below) {
            s.quorum_up = false;
            self.actions.push_back(Action::QuorumDown { vs });
            true
        } else {
            false
        }
    }

    /// What shutting down announces with `omega`: every up real server goes down, then every
    /// virtual server with its quorum loses it.
    pub fn shutdown_actions(&self) -> Vec<Action> {
        let mut out = Vec::new();
        for (i, s) in self.services.iter().enumerate() {
            for (j, r) in s.real_servers.iter().enumerate() {
                if r.up {
                    out.push(Action::RealServerDown { vs: i, rs: j });
                }
            }
            if s.quorum_up {
                out.push(Action::QuorumDown { vs: i });
            }
        }
        out
    }

    /// What starting announces (keepalived writes `VS ... UP` for every virtual server that
    /// starts with its quorum; nothing for real servers or for a quorum starting down).
    pub fn start_actions(&self) -> Vec<Action> {
        self.services
            .iter()
            .enumerate()
            .filter(|(_, s)| s.quorum_up)
            .map(|(vs, _)| Action::QuorumUp { vs })
            .collect()
    }

    /// The next action, oldest first.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Failure, Success};
    use crate::schedule::Schedule;
    use crate::state::CheckerState;
    use std::time::{Duration, Instant};

    fn up() -> CheckerEvent {
        CheckerEvent::Up {
            reason: "ok".into(),
        }
    }
    fn down() -> CheckerEvent {
        CheckerEvent::Down {
            reason: Failure::new("refused").into(),
        }
    }
    fn init(up: bool) -> CheckerInit {
        CheckerInit {
            up,
            weight: None,
            mode: WeightMode::Static,
        }
    }
    fn rs(weight: u32, checkers: Vec<CheckerInit>) -> RealServerSpec {
        RealServerSpec {
            weight,
            inhibit: false,
            checkers,
        }
    }
    fn svc(quorum: u32, hysteresis: u32, real_servers: Vec<RealServerSpec>) -> ServiceSpec {
        ServiceSpec {
            label: "[10.0.0.1]:tcp:80".into(),
            quorum,
            hysteresis,
            sorry: None,
            real_servers,
        }
    }
    fn drain(d: &mut Director) -> Vec<Action> {
        std::iter::from_fn(|| d.poll_action()).collect()
    }
    fn slot(vs: usize, rs: usize, check: usize) -> Slot {
        Slot::new(vs, rs, check)
    }

    #[test]
    fn a_real_server_is_up_only_while_all_its_checkers_pass() {
        let mut d = Director::new(DirectorSpec {
            services: vec![svc(1, 0, vec![rs(3, vec![init(true), init(true)])])],
        });
        assert_eq!(d.real_server_weight(0, 0), Some(3));
        d.handle_checker(slot(0, 0, 1), &down());
        assert_eq!(
            drain(&mut d),
            vec![
                Action::RealServerDown { vs: 0, rs: 0 },
                Action::QuorumDown { vs: 0 },
                Action::TableChanged
            ]
        );
        assert_eq!(d.real_server_weight(0, 0), None);
        // The other checker going down changes nothing visible.
        d.handle_checker(slot(0, 0, 0), &down());
        assert!(drain(&mut d).is_empty());
        d.handle_checker(slot(0, 0, 1), &up());
        assert!(drain(&mut d).is_empty(), "one checker still fails");
        d.handle_checker(slot(0, 0, 0), &up());
        assert_eq!(
            drain(&mut d),
            vec![
                Action::RealServerUp { vs: 0, rs: 0 },
                Action::QuorumUp { vs: 0 },
                Action::TableChanged
            ]
        );
        assert_eq!(d.real_server_weight(0, 0), Some(3));
    }

    #[test]
    fn the_quorum_starts_up_only_at_the_upper_threshold() {
        let mut d = Director::new(DirectorSpec {
            services: vec![
                svc(3, 1, vec![rs(3, vec![])]),
                svc(3, 1, vec![rs(4, vec![])]),
            ],
        });
        assert!(!d.has_quorum(0));
        assert!(d.has_quorum(1));
        assert!(d.poll_action().is_none());
        assert_eq!(d.start_actions(), vec![Action::QuorumUp { vs: 1 }]);
    }

    #[test]
    fn a_real_server_keeps_one_checker_inline_and_its_own_size_of_room() {
        let spec = DirectorSpec {
            services: vec![ServiceSpec {
                label: "vs".into(),
                quorum: 1,
                hysteresis: 0,
                sorry: None,
                real_servers: vec![
                    rs(1, vec![init(true)]),
                    rs(1, vec![init(true), init(false)]),
                    rs(1, vec![]),
                    rs(
                        1,
                        vec![CheckerInit {
                            mode: WeightMode::Add,
                            ..init(true)
                        }],
                    ),
                ],
            }],
        };
        let d = Director::new(spec);
        let s = &d.services[0];
        assert_eq!(s.real_servers.capacity(), 4, "not the specs' allocation");
        let [lone, two, none, weighted] = &s.real_servers[..] else {
            panic!("four real servers");
        };
        assert!(
            lone.listed.is_none() && lone.lone == Some(true),
            "kept inline"
        );
        assert_eq!((two.listed().len(), two.lone), (2, None));
        assert!(none.listed.is_none() && none.lone.is_none());
        // A lone checker whose weight counts is listed.
        assert_eq!((weighted.listed().len(), weighted.lone), (1, None));
        assert!(d.is_up(0, 0) && !d.is_up(0, 1) && d.is_up(0, 2));
        assert_eq!(d.checker_up(Slot::new(0, 0, 0)), Some(true));
        assert_eq!(d.checker_up(Slot::new(0, 0, 1)), None);
        assert_eq!(d.checker_up(Slot::new(0, 1, 1)), Some(false));
        assert_eq!(d.checker_up(Slot::new(0, 2, 0)), None);
        assert_eq!(std::mem::size_of::<CheckerSlot>(), 16);
        assert_eq!(std::mem::size_of::<RealServer>(), 16);
    }

    #[test]
    fn a_real_server_without_checkers_is_always_up() {
        let d = Director::new(DirectorSpec {
            services: vec![svc(1, 0, vec![rs(1, vec![])])],
        });
        assert!(d.is_up(0, 0));
        assert!(d.has_quorum(0));
    }

    #[test]
    fn inhibit_on_failure_keeps_the_server_with_weight_zero() {
        let mut r = rs(5, vec![init(true)]);
        r.inhibit = true;
        let mut d = Director::new(DirectorSpec {
            services: vec![svc(1, 0, vec![r, rs(1, vec![])])],
        });
        d.handle_checker(slot(0, 0, 0), &down());
        assert_eq!(d.real_server_weight(0, 0), Some(0));
        assert_eq!(d.real_server_weight(0, 1), Some(1));
    }

    #[test]
    fn alpha_starts_down_and_the_sorry_server_serves() {
        let mut s = svc(1, 0, vec![rs(1, vec![init(false)])]);
        s.sorry = Some(SorrySpec {
            inhibit: false,
            weight: 1,
        });
        let mut d = Director::new(DirectorSpec { services: vec![s] });
        assert!(!d.has_quorum(0));
        assert_eq!(d.sorry_weight(0), Some(1));
        assert_eq!(d.real_server_weight(0, 0), None);
        d.handle_checker(slot(0, 0, 0), &up());
        assert_eq!(
            drain(&mut d),
            vec![
                Action::RealServerUp { vs: 0, rs: 0 },
                Action::QuorumUp { vs: 0 },
                Action::TableChanged
            ]
        );
        assert_eq!(d.sorry_weight(0), None);
        assert_eq!(d.real_server_weight(0, 0), Some(1));
    }

    #[test]
    fn sorry_server_inhibit_keeps_it_at_weight_zero() {
        let mut s = svc(1, 0, vec![rs(1, vec![init(true)])]);
        s.sorry = Some(SorrySpec {
            inhibit: true,
            weight: 1,
        });
        let mut d = Director::new(DirectorSpec { services: vec![s] });
        assert_eq!(d.sorry_weight(0), Some(0));
        d.handle_checker(slot(0, 0, 0), &down());
        assert_eq!(d.sorry_weight(0), Some(1));
    }

    #[test]
    fn quorum_with_hysteresis() {
        // Four servers of weight 1, quorum 3, hysteresis 1: down below 2, up again at 4.
        let servers = (0..4).map(|_| rs(1, vec![init(true)])).collect();
        let mut d = Director::new(DirectorSpec {
            services: vec![svc(3, 1, servers)],
        });
        assert!(d.has_quorum(0));
        d.handle_checker(slot(0, 0, 0), &down());
        d.handle_checker(slot(0, 1, 0), &down());
        assert!(d.has_quorum(0), "live 2 is not below quorum - hysteresis");
        d.handle_checker(slot(0, 2, 0), &down());
        assert!(!d.has_quorum(0));
        let actions = drain(&mut d);
        assert_eq!(
            actions
                .iter()
                .filter(|a| matches!(a, Action::QuorumDown { .. }))
                .count(),
            1
        );
        d.handle_checker(slot(0, 0, 0), &up());
        d.handle_checker(slot(0, 1, 0), &up());
        assert!(!d.has_quorum(0), "live 3 is below quorum + hysteresis");
        d.handle_checker(slot(0, 2, 0), &up());
        assert!(d.has_quorum(0));
    }

    #[test]
    fn dynamic_weights_replace_or_add() {
        let misc = CheckerInit {
            up: true,
            weight: None,
            mode: WeightMode::Replace,
        };
        let file = CheckerInit {
            up: true,
            weight: None,
            mode: WeightMode::Add,
        };
        let mut d = Director::new(DirectorSpec {
            services: vec![svc(1, 0, vec![rs(2, vec![misc]), rs(2, vec![file])])],
        });
        d.handle_checker(slot(0, 0, 0), &CheckerEvent::WeightChanged { weight: 7 });
        d.handle_checker(slot(0, 1, 0), &CheckerEvent::WeightChanged { weight: -5 });
        assert_eq!(d.real_server_weight(0, 0), Some(7));
        assert_eq!(d.real_server_weight(0, 1), Some(0), "clamped at 0");
        assert_eq!(d.effective_weight(0, 1), Some(0));
        assert_eq!(
            drain(&mut d),
            vec![Action::TableChanged, Action::TableChanged]
        );
        // The weight keepalived's lines print does not depend on the server being up.
        d.handle_checker(slot(0, 0, 0), &down());
        assert_eq!(d.real_server_weight(0, 0), None);
        assert_eq!(d.effective_weight(0, 0), Some(7));
        d.handle_checker(slot(0, 0, 0), &up());
        drain(&mut d);
        assert_eq!(d.effective_weight(9, 0), None);
        // The same weight again changes nothing.
        d.handle_checker(slot(0, 0, 0), &CheckerEvent::WeightChanged { weight: 7 });
        assert!(drain(&mut d).is_empty());
        // misc_dynamic exit 0: back to the configured weight (keepalived 2.2.7).
        d.handle_checker(slot(0, 0, 0), &CheckerEvent::WeightReset);
        assert_eq!(d.real_server_weight(0, 0), Some(2));
        assert_eq!(drain(&mut d), vec![Action::TableChanged]);
        // A failing exit status takes a misc_dynamic weight back with the verdict; a
        // timeout keeps it; a FILE_CHECK's weight is never taken back by a verdict.
        use crate::outcome::Reason;
        let down_by = |reason: Reason| CheckerEvent::Down {
            reason: Failure::from(reason).into(),
        };
        let timeout = || Reason::MiscTimeout {
            program: "p".into(),
            after: Duration::from_secs(1),
        };
        d.handle_checker(slot(0, 0, 0), &CheckerEvent::WeightChanged { weight: 7 });
        d.handle_checker(slot(0, 0, 0), &down_by(timeout()));
        assert_eq!(d.effective_weight(0, 0), Some(7));
        d.handle_checker(slot(0, 0, 0), &up());
        d.handle_checker(slot(0, 0, 0), &down_by(Reason::MiscExit { status: 1 }));
        assert_eq!(d.effective_weight(0, 0), Some(2));
        d.handle_checker(slot(0, 1, 0), &CheckerEvent::WeightChanged { weight: 3 });
        d.handle_checker(slot(0, 1, 0), &down_by(Reason::MiscExit { status: 1 }));
        assert_eq!(d.effective_weight(0, 1), Some(5));
    }

    #[test]
    fn an_alpha_real_server_announces_its_first_down_verdict_only() {
        let mut d = Director::new(DirectorSpec {
            services: vec![svc(0, 0, vec![rs(1, vec![init(false)])])],
        });
        drain(&mut d);
        d.handle_checker(slot(0, 0, 0), &down());
        assert_eq!(drain(&mut d), vec![Action::RealServerDown { vs: 0, rs: 0 }]);
        d.handle_checker(slot(0, 0, 0), &down());
        assert!(drain(&mut d).is_empty());
        d.handle_checker(slot(0, 0, 0), &up());
        assert_eq!(
            drain(&mut d),
            vec![
                Action::RealServerUp { vs: 0, rs: 0 },
                Action::QuorumUp { vs: 0 },
                Action::TableChanged
            ]
        );
        // A real server that starts up announces nothing until it changes.
        let mut e = Director::new(DirectorSpec {
            services: vec![svc(0, 0, vec![rs(1, vec![init(true)])])],
        });
        drain(&mut e);
        e.handle_checker(slot(0, 0, 0), &up());
        assert!(drain(&mut e).is_empty());
    }

    #[test]
    fn static_checkers_ignore_weight_reports() {
        let mut d = Director::new(DirectorSpec {
            services: vec![svc(1, 0, vec![rs(2, vec![init(true)])])],
        });
        d.handle_checker(slot(0, 0, 0), &CheckerEvent::WeightChanged { weight: 9 });
        assert_eq!(d.real_server_weight(0, 0), Some(2));
        assert!(drain(&mut d).is_empty());
    }

    #[test]
    fn ha_suspend_holds_verdicts_until_resumed() {
        let mut d = Director::new(DirectorSpec {
            services: vec![svc(1, 0, vec![rs(1, vec![init(true)])])],
        });
        d.set_suspended(0, true);
        d.handle_checker(slot(0, 0, 0), &down());
        assert!(d.is_up(0, 0));
        assert!(drain(&mut d).is_empty());
        d.set_suspended(0, false);
        assert!(!d.is_up(0, 0));
        assert!(drain(&mut d).contains(&Action::RealServerDown { vs: 0, rs: 0 }));
    }

    #[test]
    fn omega_shutdown_announces_every_live_server() {
        let d = Director::new(DirectorSpec {
            services: vec![svc(
                1,
                0,
                vec![rs(1, vec![init(true)]), rs(1, vec![init(false)])],
            )],
        });
        assert_eq!(
            d.shutdown_actions(),
            vec![
                Action::RealServerDown { vs: 0, rs: 0 },
                Action::QuorumDown { vs: 0 }
            ]
        );
    }

    #[test]
    fn unknown_slots_are_ignored() {
        let mut d = Director::new(DirectorSpec::default());
        d.handle_checker(slot(3, 1, 0), &down());
        assert!(d.poll_action().is_none());
    }

    /// Checkers on a virtual clock feed the director: one shared probe fans out to two
    /// virtual servers, and the table follows the verdict only after the retries.
    #[test]
    fn virtual_clock_fan_out_follows_retries() {
        let schedule = Schedule {
            delay_loop: Duration::from_secs(6),
            retry: 2,
            delay_before_retry: Duration::from_secs(1),
            warmup: Duration::ZERO,
            alpha: false,
            log_all_failures: false,
        };
        let t0 = Instant::now();
        let mut probe = CheckerState::new(schedule, t0, Duration::ZERO);
        let fan_out = [slot(0, 0, 0), slot(1, 0, 0)];
        let mut d = Director::new(DirectorSpec {
            services: vec![
                svc(1, 0, vec![rs(1, vec![init(true)])]),
                svc(1, 0, vec![rs(1, vec![init(true)])]),
            ],
        });
        // The server answers until t=10 s, then refuses.
        let mut changed_at = Vec::new();
        for _ in 0..8 {
            let now = probe.poll_timeout().expect("idle");
            assert!(probe.handle_timeout(now));
            let elapsed = now - t0;
            let result = if elapsed < Duration::from_secs(10) {
                Ok(Success::default())
            } else {
                Err(Failure::new("refused"))
            };
            probe.handle_result(now, result);
            while let Some(ev) = probe.poll_event() {
                for s in fan_out {
                    d.handle_checker(s, &ev);
                }
            }
            while let Some(a) = d.poll_action() {
                if a == Action::TableChanged {
                    changed_at.push(elapsed.as_secs());
                }
            }
        }
        // Probes at 0, 6, 12 (fail), 13, 14 (down after 2 retries).
        assert_eq!(changed_at, vec![14, 14]);
        assert_eq!(d.real_server_weight(0, 0), None);
        assert_eq!(d.real_server_weight(1, 0), None);
    }
}
