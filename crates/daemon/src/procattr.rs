//! The process keywords of `global_defs` (issue 6 part 1: VRRP timing must never suffer from
//! checker load): nice value, real-time round-robin scheduling with its `RLIMIT_RTTIME`,
//! memory locking, CPU affinity and process name, for the VRRP and checker children.
//!
//! What keepalived 2.2.7 applies, observed on its children (`/proc/PID/stat`, `status`,
//! `limits`, `comm`):
//! - `*_rt_priority N` puts the child under `SCHED_RR` at N; its nice keyword is then not
//!   applied. `RLIMIT_RTTIME` is set only then, hard = `*_rlimit_rttime` (default 10000 µs),
//!   soft = half of it. When the policy cannot be set, neither the limit nor the nice value is.
//! - `*_priority N` (without a real-time priority) sets the nice value.
//! - `*_no_swap` locks the child's memory (`VmLck` > 0).
//! - `*_cpu_affinity` restricts the child's CPUs; a CPU id the system does not have is an
//!   error and the whole list is ignored.
//! - `vrrp_process_name` / `checker_process_name` name the child; `process_names` alone gives
//!   `keepalived_vrrp` and `keepalived_lvs` (not the `keepalived_ipvs` of the man page);
//!   `process_name` names the parent. The kernel keeps 15 bytes.
//! - The parent gets none of the scheduling attributes. A failure is logged, never fatal.
//!
//! The attributes are applied on the child's main thread before its runtime starts, so every
//! thread created later (blocking pool, checker pool) inherits the per-thread ones; threads
//! that already exist then (the allocator's, if any) get them too.
//!
//! A reload applies them again ([`reapply`]), as keepalived 2.2.7 does (observed on its VRRP
//! child across successive reloads, and on its parent's name):
//! - a nice value is set; one that is no longer configured (or replaced by a real-time
//!   priority) goes back to 0;
//! - a real-time priority is set with its `RLIMIT_RTTIME`; keepalived leaves the limit at
//!   0/0 after a reload (observed: a hard limit of 0 µs would have the kernel kill a child
//!   that ran 1 tick without sleeping), we set the configured one; a real-time priority no
//!   longer configured returns the child to `SCHED_OTHER` (observed: policy 0, nice 0 or the
//!   configured nice value);
//! - `*_no_swap` locks, its removal unlocks (`munlockall`);
//! - a CPU list is set; its removal leaves the affinity as it is;
//! - a name is set; a name no longer configured gives the process its original name back;
//!   a process that never had one is left alone.
//!
//! The nice value, the policy and the CPU list are per thread in Linux: they are set on every
//! thread of the process (`/proc/self/task`), so that the runtime thread and its helpers
//! (blocking pool, checker pool) all carry them, as keepalived's single-threaded children do.

use rka_config::model::global::GlobalDefs;
use rka_sys::sched;

use crate::logging::Role;

/// keepalived's default `*_rlimit_rttime` in microseconds.
pub const DEFAULT_RLIMIT_RTTIME_US: u32 = 10_000;

/// Real-time scheduling of a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Realtime {
    /// `SCHED_RR` priority (1..=99).
    pub priority: u32,
    /// Hard `RLIMIT_RTTIME` in microseconds; the soft limit is half of it.
    pub rlimit_rttime_us: u32,
}

/// The attributes one process is to get.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessAttrs {
    /// Which keyword family these come from (`vrrp`, `checker`, or `parent`), for messages.
    pub role: &'static str,
    /// Process name (`comm`).
    pub name: Option<String>,
    /// Nice value, only when no real-time priority is set.
    pub nice: Option<i32>,
    /// Real-time round-robin scheduling.
    pub realtime: Option<Realtime>,
    /// Lock all memory (`mlockall`).
    pub lock_memory: bool,
    /// CPUs to run on; empty: unchanged.
    pub cpus: Vec<u32>,
}

/// One attribute that could not be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The keyword concerned.
    pub keyword: String,
    /// Why it failed.
    pub reason: String,
}

impl ProcessAttrs {
    /// The attributes `global` asks for the process of `role`.
    pub fn for_role(global: &GlobalDefs, role: Role) -> ProcessAttrs {
        let g = &global.simple;
        let named = |own: &Option<String>, default: &str| {
            own.clone()
                .or_else(|| g.process_names.then(|| default.to_string()))
        };
        let (role_name, name, nice, rt, rttime, lock, cpus) = match role {
            Role::Parent => {
                return ProcessAttrs {
                    role: "parent",
                    name: named(&g.process_name, "keepalived"),
                    ..ProcessAttrs::default()
                }
            }
            Role::Vrrp => (
                "vrrp",
                named(&g.vrrp_process_name, "keepalived_vrrp"),
                g.vrrp_priority,
                g.vrrp_rt_priority,
                g.vrrp_rlimit_rttime,
                g.vrrp_no_swap,
                &global.vrrp_cpu_affinity,
            ),
            Role::Checker => (
                "checker",
                named(&g.checker_process_name, "keepalived_lvs"),
                g.checker_priority,
                g.checker_rt_priority,
                g.checker_rlimit_rttime,
                g.checker_no_swap,
                &global.checker_cpu_affinity,
            ),
        };
        let realtime = rt.map(|priority| Realtime {
            priority,
            rlimit_rttime_us: rttime.unwrap_or(DEFAULT_RLIMIT_RTTIME_US),
        });
        ProcessAttrs {
            role: role_name,
            name,
            nice: if realtime.is_some() { None } else { nice },
            realtime,
            lock_memory: lock,
            cpus: cpus.clone(),
        }
    }

    /// True when there is nothing to apply.
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.nice.is_none()
            && self.realtime.is_none()
            && !self.lock_memory
            && self.cpus.is_empty()
    }

    /// Applies the attributes to the calling thread and the process, in keepalived's order
    /// (scheduling, memory locking, affinity, then the name). Returns what failed; nothing
    /// stops at a failure.
    pub fn apply(&self) -> Vec<Failure> {
        let mut failed = Vec::new();
        let mut fail = |keyword: String, reason: String| {
            failed.push(Failure { keyword, reason });
        };
        let role = self.role;
        if let Some(rt) = self.realtime {
            set_realtime(role, rt, &mut fail);
        } else if let Some(n) = self.nice {
            if let Err(e) = every_thread(|tid| sched::set_thread_nice(tid, n)) {
                fail(format!("{role}_priority"), e);
            }
        }
        if self.lock_memory {
            if let Err(e) = sched::lock_all_memory() {
                fail(format!("{role}_no_swap"), e.to_string());
            }
        }
        if !self.cpus.is_empty() {
            let have = sched::configured_cpus();
            match self
                .cpus
                .iter()
                .find(|&&c| usize::try_from(c).map_or(true, |c| c >= have))
            {
                Some(bad) => fail(
                    format!("{role}_cpu_affinity"),
                    format!(
                        "CPU {bad} does not exist (CPUs 0-{}): affinity unchanged",
                        have - 1
                    ),
                ),
                None => {
                    if let Err(e) = sched::set_cpu_affinity(&self.cpus) {
                        fail(format!("{role}_cpu_affinity"), e.to_string());
                    }
                }
            }
        }
        if let Some(name) = &self.name {
            let keyword = match role {
                "parent" => "process_name".to_string(),
                _ => format!("{role}_process_name"),
            };
            if let Err(e) = sched::set_thread_name(name) {
                fail(keyword, e.to_string());
            }
        }
        failed
    }
}

/// `max_auto_priority` and `min_auto_priority_delay`: each time the process wakes up at least
/// the delay (default 1 s) after a timer was due, it raises its `SCHED_RR` priority by one, up
/// to the maximum, logging "Set realtime priority N" as keepalived does (observed: a VRRP child
/// stopped for 2.5 s came back at 1, then 2, then 3). Off when the maximum is not above 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoPriority {
    max: u32,
    min_delay: std::time::Duration,
    /// The real-time priority now (0: normal policy).
    current: u32,
    rlimit_rttime_us: u32,
    role: &'static str,
}

impl AutoPriority {
    /// The automatic priority increase `global` asks for the process of `role` (whose
    /// configured real-time priority, if any, is where it starts).
    pub fn for_role(global: &GlobalDefs, role: Role) -> AutoPriority {
        let g = &global.simple;
        let attrs = ProcessAttrs::for_role(global, role);
        AutoPriority {
            max: global
                .max_auto_priority
                .and_then(|m| u32::try_from(m).ok())
                .unwrap_or(0),
            min_delay: std::time::Duration::from_micros(u64::from(
                g.min_auto_priority_delay.unwrap_or(1_000_000),
            )),
            current: attrs.realtime.map_or(0, |r| r.priority),
            rlimit_rttime_us: attrs
                .realtime
                .map_or(DEFAULT_RLIMIT_RTTIME_US, |r| r.rlimit_rttime_us),
            role: attrs.role,
        }
    }

    /// Takes the maximum and the delay of a reloaded configuration; counting goes on from the
    /// priority the calling thread has now (a raised one kept, or what the reload's
    /// [`reapply`] set).
    pub fn reconfigure(&mut self, global: &GlobalDefs, role: Role) {
        let new = AutoPriority::for_role(global, role);
        self.max = new.max;
        self.min_delay = new.min_delay;
        self.rlimit_rttime_us = new.rlimit_rttime_us;
        self.current = match sched::policy() {
            Ok((policy, priority)) if policy & !libc::SCHED_RESET_ON_FORK == libc::SCHED_RR => {
                u32::try_from(priority).unwrap_or(0)
            }
            Ok(_) => 0,
            Err(_) => new.current,
        };
    }

    /// The next priority if a timer fired `lateness` after it was due, or `None` when it
    /// stays (on time, at the maximum, or off).
    pub fn next(&self, lateness: std::time::Duration) -> Option<u32> {
        (lateness >= self.min_delay && self.current < self.max).then(|| self.current + 1)
    }

    /// Called when a timer fired `lateness` after it was due: raises the priority if it
    /// should, on every thread of the process.
    pub fn woke_late(&mut self, lateness: std::time::Duration) {
        let Some(priority) = self.next(lateness) else {
            return;
        };
        self.current = priority;
        let rt = Realtime {
            priority,
            rlimit_rttime_us: self.rlimit_rttime_us,
        };
        let mut failed = Vec::new();
        set_realtime(self.role, rt, &mut |k, r| failed.push(format!("{k}: {r}")));
        if failed.is_empty() {
            tracing::info!("Set realtime priority {priority}");
        } else {
            tracing::warn!(
                "cannot set realtime priority {priority}: {}",
                failed.join(", ")
            );
            // Do not try again at every late wake-up.
            self.max = 0;
        }
    }
}

/// keepalived's start-up notice when no `max_auto_priority` is configured (0 or absent; -1
/// silences it), logged by the parent after reading the configuration.
pub fn auto_priority_notice(global: &GlobalDefs) -> Option<&'static str> {
    matches!(global.max_auto_priority, None | Some(0)).then_some(
        "NOTICE: setting config option max_auto_priority should result in better keepalived performance",
    )
}

/// The name the process had before any `*process_name*` keyword (restored on reload).
static ORIGINAL_NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
/// The attributes last applied to this process (the base of the next reload).
static APPLIED: std::sync::Mutex<Option<ProcessAttrs>> = std::sync::Mutex::new(None);

/// Applies the process keywords of `global` for `role` to the calling process, logging every
/// failure (never fatal, as keepalived). Call on the main thread before other threads start.
pub fn apply(global: &GlobalDefs, role: Role) {
    let _ = ORIGINAL_NAME.get_or_init(|| sched::thread_name().unwrap_or_default());
    let attrs = ProcessAttrs::for_role(global, role);
    if let Ok(mut a) = APPLIED.lock() {
        *a = Some(attrs.clone());
    }
    if attrs.is_empty() {
        return;
    }
    for f in attrs.apply() {
        tracing::error!("{}: cannot apply: {}", f.keyword, f.reason);
    }
    tracing::debug!("process attributes applied: {attrs:?}");
}

/// A process name change on reload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NameChange {
    /// Nothing to do (no name configured before or now).
    #[default]
    Keep,
    /// Take this name.
    Set(String),
    /// The name is no longer configured: back to the process's original name.
    Restore,
}

/// What a reload changes in the attributes of one process (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reapply {
    /// Which keyword family (`vrrp`, `checker`, `parent`), for messages.
    pub role: &'static str,
    /// The process name.
    pub name: NameChange,
    /// A nice value to set.
    pub nice: Option<i32>,
    /// Real-time scheduling to set.
    pub realtime: Option<Realtime>,
    /// The real-time priority was removed: back to the normal policy.
    pub leave_realtime: bool,
    /// Lock (`true`) or unlock (`false`) the process's memory.
    pub lock_memory: Option<bool>,
    /// CPUs for every thread; empty: unchanged.
    pub cpus: Vec<u32>,
}

impl Reapply {
    /// The changes from `old` (applied at start or by the previous reload) to `new`.
    pub fn between(old: &ProcessAttrs, new: &ProcessAttrs) -> Reapply {
        let name = match (&new.name, &old.name) {
            (Some(n), _) => NameChange::Set(n.clone()),
            (None, Some(_)) => NameChange::Restore,
            (None, None) => NameChange::Keep,
        };
        let had_nice = old.nice.is_some() || old.realtime.is_some();
        let nice = match (new.realtime, new.nice) {
            (None, Some(n)) => Some(n),
            _ if had_nice && old.nice.is_some_and(|n| n != 0) => Some(0),
            (None, None) if old.realtime.is_some() => Some(0),
            _ => None,
        };
        let lock_memory = (new.lock_memory != old.lock_memory).then_some(new.lock_memory);
        Reapply {
            role: new.role,
            name,
            nice,
            realtime: new.realtime,
            leave_realtime: old.realtime.is_some() && new.realtime.is_none(),
            lock_memory,
            cpus: new.cpus.clone(),
        }
    }

    /// True when the reload changes nothing.
    pub fn is_empty(&self) -> bool {
        self.name == NameChange::Keep
            && self.nice.is_none()
            && self.realtime.is_none()
            && !self.leave_realtime
            && self.lock_memory.is_none()
            && self.cpus.is_empty()
    }

    /// Applies the changes to the calling thread (nice value, policy, name) and the process
    /// (limits, memory lock, CPUs of every thread). Returns what failed.
    pub fn apply(&self) -> Vec<Failure> {
        let role = self.role;
        let mut failed = Vec::new();
        let mut fail = |keyword: String, reason: String| {
            failed.push(Failure { keyword, reason });
        };
        if let Some(rt) = self.realtime {
            set_realtime(role, rt, &mut fail);
        }
        if self.leave_realtime {
            // Back to time sharing, as keepalived's child goes (observed: policy 0).
            if let Err(e) = every_thread(sched::set_thread_normal_policy) {
                fail(
                    format!("{role}_rt_priority"),
                    format!("back to SCHED_OTHER: {e}"),
                );
            }
        }
        if let Some(n) = self.nice {
            if let Err(e) = every_thread(|tid| sched::set_thread_nice(tid, n)) {
                fail(format!("{role}_priority"), e);
            }
        }
        match self.lock_memory {
            Some(true) => {
                if let Err(e) = sched::lock_all_memory() {
                    fail(format!("{role}_no_swap"), e.to_string());
                }
            }
            Some(false) => {
                if let Err(e) = nix::sys::mman::munlockall() {
                    fail(format!("{role}_no_swap"), format!("munlockall: {e}"));
                }
            }
            None => {}
        }
        if !self.cpus.is_empty() {
            if let Err(reason) = set_process_cpus(&self.cpus) {
                fail(format!("{role}_cpu_affinity"), reason);
            }
        }
        let name = match &self.name {
            NameChange::Keep => None,
            NameChange::Set(n) => Some(n.as_str()),
            NameChange::Restore => ORIGINAL_NAME.get().map(String::as_str),
        };
        if let Some(name) = name {
            let keyword = match role {
                "parent" => "process_name".to_string(),
                _ => format!("{role}_process_name"),
            };
            if let Err(e) = sched::set_thread_name(name) {
                fail(keyword, e.to_string());
            }
        }
        failed
    }
}

/// Restricts every thread of this process to `cpus` (a CPU the system lacks voids the list).
fn set_process_cpus(cpus: &[u32]) -> Result<(), String> {
    use nix::sched::CpuSet;
    let have = sched::configured_cpus();
    let mut set = CpuSet::new();
    for &c in cpus {
        let ok = usize::try_from(c).is_ok_and(|c| c < have && set.set(c).is_ok());
        if !ok {
            return Err(format!(
                "CPU {c} does not exist (CPUs 0-{}): affinity unchanged",
                have - 1
            ));
        }
    }
    every_thread(|tid| {
        nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(tid), &set)
            .map_err(std::io::Error::from)
    })
}

/// Runs `set` for every thread of this process (`/proc/self/task`): the per-thread
/// attributes (nice value, policy, CPUs) reach the whole child, as they reach keepalived's
/// single-threaded ones. A thread that ended meanwhile is skipped; the first other error
/// stops and is returned.
/// SCHED_RR at `rt.priority` on every thread, with its `RLIMIT_RTTIME`; failures go to `fail`
/// under the keyword they concern. Used at start and on reload.
fn set_realtime(role: &str, rt: Realtime, fail: &mut impl FnMut(String, String)) {
    match every_thread(|tid| sched::set_thread_round_robin(tid, rt.priority)) {
        Ok(()) => {
            // Past the soft limit the kernel sends SIGXCPU, whose default action would end the
            // child at half the configured time: only the hard limit kills.
            if let Err(e) = sched::ignore_cpu_time_signal() {
                fail(format!("{role}_rlimit_rttime"), format!("SIGXCPU: {e}"));
            }
            let hard = u64::from(rt.rlimit_rttime_us);
            if let Err(e) = sched::set_rlimit_rttime(hard / 2, hard) {
                fail(format!("{role}_rlimit_rttime"), e.to_string());
            }
        }
        Err(e) => fail(format!("{role}_rt_priority"), e),
    }
}

fn every_thread(set: impl Fn(i32) -> std::io::Result<()>) -> Result<(), String> {
    let tids = sched::thread_ids().map_err(|e| format!("/proc/self/task: {e}"))?;
    for tid in tids {
        match set(tid) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
            Err(e) => return Err(format!("thread {tid}: {e}")),
        }
    }
    Ok(())
}

/// Applies the process keywords of a reloaded configuration (`global`) for `role`, from
/// those applied at start or by the previous reload, logging every failure. Call on the
/// runtime's thread.
pub fn reapply(global: &GlobalDefs, role: Role) {
    let new = ProcessAttrs::for_role(global, role);
    let Ok(mut applied) = APPLIED.lock() else {
        return;
    };
    let old = applied.clone().unwrap_or_else(|| ProcessAttrs {
        role: new.role,
        ..ProcessAttrs::default()
    });
    let change = Reapply::between(&old, &new);
    *applied = Some(new);
    drop(applied);
    if change.is_empty() {
        return;
    }
    for f in change.apply() {
        tracing::error!("{}: cannot apply: {}", f.keyword, f.reason);
    }
    tracing::debug!("process attributes applied on reload: {change:?}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn global(text: &str) -> GlobalDefs {
        let loaded = rka_config::load_str(
            "test.conf",
            &format!("global_defs {{\n{text}\n}}\n"),
            &rka_config::LoadOptions::default(),
        );
        assert!(
            !loaded.diagnostics.is_fatal(),
            "{:?}",
            loaded.diagnostics.items()
        );
        loaded.config.global
    }

    #[test]
    fn nothing_configured_changes_nothing() {
        let g = GlobalDefs::default();
        for role in [Role::Parent, Role::Vrrp, Role::Checker] {
            assert!(ProcessAttrs::for_role(&g, role).is_empty());
        }
    }

    #[test]
    fn each_child_takes_its_own_keywords() {
        let g = global(
            " vrrp_priority -5\n checker_priority 7\n vrrp_no_swap\n vrrp_cpu_affinity 1\n \
             checker_cpu_affinity 0 1\n",
        );
        let vrrp = ProcessAttrs::for_role(&g, Role::Vrrp);
        assert_eq!(
            vrrp,
            ProcessAttrs {
                role: "vrrp",
                name: None,
                nice: Some(-5),
                realtime: None,
                lock_memory: true,
                cpus: vec![1],
            }
        );
        let checker = ProcessAttrs::for_role(&g, Role::Checker);
        assert_eq!(
            checker,
            ProcessAttrs {
                role: "checker",
                name: None,
                nice: Some(7),
                realtime: None,
                lock_memory: false,
                cpus: vec![0, 1],
            }
        );
        // The parent gets no scheduling attribute.
        assert!(ProcessAttrs::for_role(&g, Role::Parent).is_empty());
    }

    #[test]
    fn realtime_priority_replaces_the_nice_value_and_sets_the_rttime_limit() {
        let g = global(
            " vrrp_priority -5\n vrrp_rt_priority 20\n checker_priority 7\n \
             checker_rt_priority 10\n checker_rlimit_rttime 50000\n bfd_rt_priority 5\n",
        );
        let vrrp = ProcessAttrs::for_role(&g, Role::Vrrp);
        assert_eq!(vrrp.nice, None);
        assert_eq!(
            vrrp.realtime,
            Some(Realtime {
                priority: 20,
                rlimit_rttime_us: DEFAULT_RLIMIT_RTTIME_US
            })
        );
        let checker = ProcessAttrs::for_role(&g, Role::Checker);
        assert_eq!(checker.nice, None);
        assert_eq!(
            checker.realtime,
            Some(Realtime {
                priority: 10,
                rlimit_rttime_us: 50_000
            })
        );
        // An rttime limit without a real-time priority is not applied.
        let g = global(" vrrp_rlimit_rttime 40000\n");
        assert!(ProcessAttrs::for_role(&g, Role::Vrrp).is_empty());
    }

    #[test]
    fn process_names() {
        let g = global(" process_names\n");
        let names: Vec<_> = [Role::Parent, Role::Vrrp, Role::Checker]
            .into_iter()
            .map(|r| ProcessAttrs::for_role(&g, r).name)
            .collect();
        assert_eq!(
            names,
            [
                Some("keepalived".to_string()),
                Some("keepalived_vrrp".to_string()),
                Some("keepalived_lvs".to_string())
            ]
        );
        // Own names win, and work without process_names.
        let g = global(" vrrp_process_name myvrrp\n process_name myparent\n");
        assert_eq!(
            ProcessAttrs::for_role(&g, Role::Vrrp).name.as_deref(),
            Some("myvrrp")
        );
        assert_eq!(
            ProcessAttrs::for_role(&g, Role::Parent).name.as_deref(),
            Some("myparent")
        );
        assert_eq!(ProcessAttrs::for_role(&g, Role::Checker).name, None);
        let g = global(" process_names\n checker_process_name mychecker\n");
        assert_eq!(
            ProcessAttrs::for_role(&g, Role::Checker).name.as_deref(),
            Some("mychecker")
        );
    }

    /// Applies `attrs` on a fresh thread (per-thread attributes stay off the harness) and
    /// returns the failures and the thread's name, nice value and CPUs afterwards.
    fn apply_on_thread(attrs: ProcessAttrs) -> (Vec<Failure>, String, i32, Vec<u32>) {
        std::thread::spawn(move || {
            let failed = attrs.apply();
            (
                failed,
                sched::thread_name().expect("name"),
                sched::nice().expect("nice"),
                sched::cpu_affinity().expect("cpus"),
            )
        })
        .join()
        .expect("thread")
    }

    #[test]
    fn apply_sets_name_nice_and_cpus() {
        let cpus = sched::cpu_affinity().expect("cpus");
        let first = cpus[0];
        let nice = (sched::nice().expect("nice") + 2).min(19);
        let (failed, name, got_nice, got_cpus) = apply_on_thread(ProcessAttrs {
            role: "checker",
            name: Some("keepalived_healthcheckers".into()),
            nice: Some(nice),
            cpus: vec![first],
            ..ProcessAttrs::default()
        });
        assert_eq!(failed, vec![]);
        assert_eq!(name, "keepalived_heal");
        assert_eq!(got_nice, nice);
        assert_eq!(got_cpus, vec![first]);
    }

    #[test]
    fn a_cpu_the_system_lacks_is_reported_and_the_affinity_left_alone() {
        let before = sched::cpu_affinity().expect("cpus");
        let missing = u32::try_from(sched::configured_cpus()).expect("cpus");
        let (failed, _, _, after) = apply_on_thread(ProcessAttrs {
            role: "vrrp",
            cpus: vec![0, missing],
            ..ProcessAttrs::default()
        });
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert_eq!(failed[0].keyword, "vrrp_cpu_affinity");
        assert!(failed[0].reason.contains(&missing.to_string()));
        assert_eq!(after, before);
    }

    #[test]
    fn a_bad_name_is_a_failure_not_a_panic() {
        let (failed, _, _, _) = apply_on_thread(ProcessAttrs {
            role: "parent",
            name: Some("a\0b".into()),
            ..ProcessAttrs::default()
        });
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].keyword, "process_name");
    }

    #[test]
    fn a_reload_changes_what_keepalived_changes() {
        let attrs = |text: &str| ProcessAttrs::for_role(&global(text), Role::Vrrp);
        let none = attrs("");
        // Nice -5 -> -10 with no_swap, a CPU and a name.
        let first = attrs(" vrrp_priority -5\n");
        let second = attrs(
            " vrrp_priority -10\n vrrp_no_swap\n vrrp_cpu_affinity 1\n vrrp_process_name vx\n",
        );
        let r = Reapply::between(&first, &second);
        assert_eq!(r.nice, Some(-10));
        assert_eq!(r.lock_memory, Some(true));
        assert_eq!(r.cpus, vec![1]);
        assert_eq!(r.name, NameChange::Set("vx".into()));
        assert!(!r.leave_realtime && r.realtime.is_none());
        // Then a real-time priority alone: nice back to 0, unlocked, name restored, CPUs
        // left as they are.
        let rt = attrs(" vrrp_rt_priority 30\n");
        let r = Reapply::between(&second, &rt);
        assert_eq!(r.nice, Some(0));
        assert_eq!(r.lock_memory, Some(false));
        assert_eq!(r.name, NameChange::Restore);
        assert!(r.cpus.is_empty());
        assert_eq!(
            r.realtime,
            Some(Realtime {
                priority: 30,
                rlimit_rttime_us: DEFAULT_RLIMIT_RTTIME_US
            })
        );
        // Then nothing: the real-time policy is left.
        let r = Reapply::between(&rt, &none);
        assert!(r.leave_realtime);
        assert_eq!(r.nice, Some(0));
        // Nothing before, nothing now: nothing at all (a nice value given by `nice` stays).
        assert!(Reapply::between(&none, &none).is_empty());
        // The same configuration again: only what is configured is set again.
        let r = Reapply::between(&first, &first);
        assert_eq!(r.nice, Some(-5));
        assert_eq!(r.lock_memory, None);
        assert_eq!(r.name, NameChange::Keep);
    }

    #[test]
    fn a_reload_applies_nice_name_and_cpus_on_the_thread_and_process() {
        let cpus = sched::cpu_affinity().expect("cpus");
        let first = cpus[0];
        let (failed, name, nice) = std::thread::spawn(move || {
            let nice = (sched::nice().expect("nice") + 1).min(19);
            let failed = Reapply {
                role: "checker",
                name: NameChange::Set("reloaded".into()),
                nice: Some(nice),
                ..Reapply::default()
            }
            .apply();
            (
                failed,
                sched::thread_name().expect("name"),
                (nice, sched::nice().expect("nice")),
            )
        })
        .join()
        .expect("thread");
        assert_eq!(failed, vec![]);
        assert_eq!(name, "reloaded");
        assert_eq!(nice.0, nice.1);
        // A CPU list is checked before any thread is touched.
        let missing = u32::try_from(sched::configured_cpus()).expect("cpus");
        let failed = Reapply {
            role: "vrrp",
            cpus: vec![first, missing],
            ..Reapply::default()
        }
        .apply();
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert_eq!(failed[0].keyword, "vrrp_cpu_affinity");
        assert_eq!(sched::cpu_affinity().expect("cpus"), cpus);
        // Leaving real time needs no privilege: SCHED_OTHER on every thread.
        let (failed, policy) = std::thread::spawn(|| {
            let failed = Reapply {
                role: "vrrp",
                leave_realtime: true,
                ..Reapply::default()
            }
            .apply();
            (failed, sched::policy().expect("policy"))
        })
        .join()
        .expect("thread");
        assert_eq!(failed, vec![]);
        assert_eq!(policy, (libc::SCHED_OTHER, 0));
    }

    #[test]
    fn every_thread_visits_threads_started_before_and_skips_ended_ones() {
        // A helper thread started before the change, as the runtime's pool threads are.
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let helper = std::thread::spawn(move || {
            tid_tx.send(nix::unistd::gettid().as_raw()).expect("send");
            go_rx.recv().expect("go");
        });
        let helper_tid = tid_rx.recv().expect("tid");
        let seen = std::sync::Mutex::new(Vec::new());
        let r = every_thread(|tid| {
            seen.lock().expect("lock").push(tid);
            // A thread that ended between the listing and the call is not an error.
            Err(std::io::Error::from_raw_os_error(libc::ESRCH))
        });
        assert_eq!(r, Ok(()));
        let seen = seen.into_inner().expect("lock");
        assert!(seen.contains(&helper_tid), "{seen:?}");
        assert!(seen.contains(&nix::unistd::gettid().as_raw()), "{seen:?}");
        go_tx.send(()).expect("send");
        helper.join().expect("thread");
        // A failure names the thread.
        let r = every_thread(|_| Err(std::io::Error::from_raw_os_error(libc::EPERM)));
        assert!(r.is_err_and(|e| e.starts_with("thread ")));
    }

    #[test]
    fn auto_priority_steps_up_on_late_wake_ups_to_the_maximum() {
        let global =
            |text: &str| crate::testutil::config(&format!("global_defs {{\n{text}\n}}\n")).global;
        let late = std::time::Duration::from_millis(1500);
        let early = std::time::Duration::from_millis(200);
        let mut a = AutoPriority::for_role(&global(" max_auto_priority 2"), Role::Vrrp);
        assert_eq!(a.next(early), None, "on time (under the default 1 s)");
        assert_eq!(a.next(late), Some(1));
        a.current = 2;
        assert_eq!(a.next(late), None, "at the maximum");
        let a = AutoPriority::for_role(
            &global(" max_auto_priority 50\n min_auto_priority_delay 100000\n vrrp_rt_priority 7"),
            Role::Vrrp,
        );
        assert_eq!(
            a.next(early),
            Some(8),
            "from the configured priority, 100 ms delay"
        );
        for off in ["", " max_auto_priority 0", " max_auto_priority -1"] {
            let a = AutoPriority::for_role(&global(off), Role::Vrrp);
            assert_eq!(a.next(late), None, "{off:?}");
        }
        assert!(auto_priority_notice(&global("")).is_some());
        assert!(auto_priority_notice(&global(" max_auto_priority 0")).is_some());
        assert!(auto_priority_notice(&global(" max_auto_priority -1")).is_none());
        assert!(auto_priority_notice(&global(" max_auto_priority")).is_none());
    }

    #[test]
    fn a_reload_takes_the_new_maximum_and_counts_from_the_policy_now() {
        let global =
            |text: &str| crate::testutil::config(&format!("global_defs {{\n{text}\n}}\n")).global;
        let late = std::time::Duration::from_millis(1500);
        let mut a = AutoPriority::for_role(&global(""), Role::Vrrp);
        assert_eq!(a.next(late), None, "off before the reload");
        // This test thread runs under the normal policy: counting starts at 0.
        a.current = 4;
        a.reconfigure(&global(" max_auto_priority 5"), Role::Vrrp);
        assert_eq!(a.next(late), Some(1));
        a.reconfigure(&global(" max_auto_priority -1"), Role::Vrrp);
        assert_eq!(a.next(late), None, "off again");
    }
}
