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
//! thread created later (blocking pool, checker pool) inherits the per-thread ones.

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
            match sched::set_round_robin(rt.priority) {
                Ok(()) => {
                    // Past the soft limit the kernel sends SIGXCPU, whose default action would
                    // end the child at half the configured time: only the hard limit kills.
                    if let Err(e) = sched::ignore_cpu_time_signal() {
                        fail(format!("{role}_rlimit_rttime"), format!("SIGXCPU: {e}"));
                    }
                    let hard = u64::from(rt.rlimit_rttime_us);
                    if let Err(e) = sched::set_rlimit_rttime(hard / 2, hard) {
                        fail(format!("{role}_rlimit_rttime"), e.to_string());
                    }
                }
                Err(e) => fail(format!("{role}_rt_priority"), e.to_string()),
            }
        } else if let Some(n) = self.nice {
            if let Err(e) = sched::set_nice(n) {
                fail(format!("{role}_priority"), e.to_string());
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

/// Applies the process keywords of `global` for `role` to the calling process, logging every
/// failure (never fatal, as keepalived). Call on the main thread before other threads start.
pub fn apply(global: &GlobalDefs, role: Role) {
    let attrs = ProcessAttrs::for_role(global, role);
    if attrs.is_empty() {
        return;
    }
    for f in attrs.apply() {
        tracing::error!("{}: cannot apply: {}", f.keyword, f.reason);
    }
    tracing::debug!("process attributes applied: {attrs:?}");
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
}
