//! Scheduling and memory attributes of the calling process or thread: nice value, the
//! `SCHED_RR` real-time policy, `RLIMIT_RTTIME`, `mlockall`, CPU affinity and the thread name
//! (`comm`), per thread where the kernel keeps them so; and the local-time conversions a
//! scheduled reload (`reload_time_file`) needs from the C library.
//!
//! Linux keeps the nice value, the scheduling policy, the CPU affinity and the name per
//! thread; a thread created later inherits them from its creator. Callers that want a whole
//! process to carry them apply them on the main thread before starting any other thread.
//! `RLIMIT_RTTIME` and memory locking are process-wide.

use std::ffi::CString;
use std::io;

/// The longest thread name the kernel keeps (`TASK_COMM_LEN` - 1 bytes).
pub const MAX_NAME_LEN: usize = 15;

/// Sets the nice value (-20..=19) of the calling thread (`setpriority(PRIO_PROCESS, 0, n)`).
/// Lowering it below the current value needs `CAP_SYS_NICE` (or `RLIMIT_NICE`).
pub fn set_nice(nice: i32) -> io::Result<()> {
    set_thread_nice(0, nice)
}

/// The nice value of the calling thread.
pub fn nice() -> io::Result<i32> {
    // getpriority may legitimately return -1: errno tells an error apart.
    nix::errno::Errno::clear();
    // SAFETY: getpriority takes plain integers and touches no memory of ours.
    let v = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    if v == -1 && nix::errno::Errno::last_raw() != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(v)
}

/// Puts the calling thread under the `SCHED_RR` real-time policy at `priority` (1..=99 on
/// Linux). Needs `CAP_SYS_NICE` (or a sufficient `RLIMIT_RTPRIO`).
pub fn set_round_robin(priority: u32) -> io::Result<()> {
    set_thread_round_robin(0, priority)
}

/// Sets the nice value (-20..=19) of the thread `tid` of this process (0: the calling
/// thread), as [`set_nice`] does for the calling one.
pub fn set_thread_nice(tid: i32, nice: i32) -> io::Result<()> {
    let who = libc::id_t::try_from(tid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "thread id out of range"))?;
    // SAFETY: setpriority takes plain integers and touches no memory of ours.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, who, nice) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Puts the thread `tid` (0: the calling thread) under `policy` at `priority`.
fn set_thread_policy(tid: i32, policy: i32, priority: i32) -> io::Result<()> {
    if tid < 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "thread id out of range",
        ));
    }
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: `param` is a valid sched_param that outlives the call; the kernel only reads it.
    let rc = unsafe { libc::sched_setscheduler(tid, policy, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Puts the thread `tid` of this process (0: the calling thread) under `SCHED_RR` at
/// `priority`, as [`set_round_robin`] does for the calling one.
pub fn set_thread_round_robin(tid: i32, priority: u32) -> io::Result<()> {
    let priority = i32::try_from(priority)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "priority out of range"))?;
    // Not reset on fork: threads started later (the runtime's) must inherit the policy; the
    // scripts the daemon runs leave it instead ([`normal_policy_on_exec`]).
    set_thread_policy(tid, libc::SCHED_RR, priority)
}

/// Makes `cmd`'s process leave a real-time policy before it executes its program, so that
/// scripts started by a real-time daemon run under the normal policy (keepalived's children
/// get the same effect from `SCHED_RESET_ON_FORK`, which would also reset our threads).
pub fn normal_policy_on_exec(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the hook runs in the child between fork and exec; it only makes the
    // async-signal-safe sched_setscheduler system call on a stack value and allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            let param = libc::sched_param { sched_priority: 0 };
            if libc::sched_getscheduler(0) != libc::SCHED_OTHER {
                // Leaving a real-time policy needs no privilege; a failure leaves it as is.
                libc::sched_setscheduler(0, libc::SCHED_OTHER, &param);
            }
            Ok(())
        });
    }
}

/// Returns the calling thread to the normal time-sharing policy (`SCHED_OTHER`, priority 0),
/// leaving a real-time policy. Needs no privilege.
pub fn set_normal_policy() -> io::Result<()> {
    set_thread_normal_policy(0)
}

/// Returns the thread `tid` of this process (0: the calling thread) to `SCHED_OTHER`.
pub fn set_thread_normal_policy(tid: i32) -> io::Result<()> {
    set_thread_policy(tid, libc::SCHED_OTHER, 0)
}

/// The ids of this process's threads (`/proc/self/task`), for the per-thread setters.
pub fn thread_ids() -> io::Result<Vec<i32>> {
    let mut ids: Vec<i32> = std::fs::read_dir("/proc/self/task")?
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect();
    ids.sort_unstable();
    Ok(ids)
}

/// The scheduling policy (`libc::SCHED_*`) and real-time priority of the calling thread.
pub fn policy() -> io::Result<(i32, i32)> {
    // SAFETY: sched_getscheduler takes a pid and touches no memory of ours.
    let policy = unsafe { libc::sched_getscheduler(0) };
    if policy < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid, writable sched_param for the duration of the call.
    let rc = unsafe { libc::sched_getparam(0, &mut param) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((policy, param.sched_priority))
}

/// Sets `RLIMIT_RTTIME` of the process: the CPU time in microseconds a real-time thread may
/// use without a blocking system call; past `soft_us` it gets `SIGXCPU`, past `hard_us`
/// `SIGKILL`.
pub fn set_rlimit_rttime(soft_us: u64, hard_us: u64) -> io::Result<()> {
    nix::sys::resource::setrlimit(
        nix::sys::resource::Resource::RLIMIT_RTTIME,
        soft_us,
        hard_us,
    )
    .map_err(io::Error::from)
}

/// The process's `RLIMIT_RTTIME` (soft, hard) in microseconds (`u64::MAX`: unlimited).
pub fn rlimit_rttime() -> io::Result<(u64, u64)> {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_RTTIME)
        .map_err(io::Error::from)
}

/// Ignores `SIGXCPU`, the signal sent when a real-time thread passes the soft
/// `RLIMIT_RTTIME`, whose default action ends the process; the hard limit still applies.
pub fn ignore_cpu_time_signal() -> io::Result<()> {
    // SAFETY: installing SIG_IGN runs no code of ours in signal context.
    let rc = unsafe { libc::signal(libc::SIGXCPU, libc::SIG_IGN) };
    if rc == libc::SIG_ERR {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Locks the process's memory so that it is never swapped out:
/// `mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT)`.
///
/// `MCL_ONFAULT` locks pages as they are touched instead of faulting in every mapping at
/// once: the allocator reserves large address ranges (mimalloc: 1 GiB arenas) it never uses,
/// and a plain `mlockall` made them resident (a debug VRRP child spent 7 s and 1 GiB of RAM
/// in the call). Kernels before 4.4 lack the flag (`EINVAL`): the plain call is used there.
pub fn lock_all_memory() -> io::Result<()> {
    let flags = libc::MCL_CURRENT | libc::MCL_FUTURE;
    // SAFETY: mlockall takes flags only and touches no memory of ours.
    let rc = unsafe { libc::mlockall(flags | libc::MCL_ONFAULT) };
    if rc == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() != Some(libc::EINVAL) {
        return Err(e);
    }
    // SAFETY: as above.
    let rc = unsafe { libc::mlockall(flags) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The number of CPUs the system has configured (valid CPU ids are below it).
pub fn configured_cpus() -> usize {
    // SAFETY: sysconf takes a constant and touches no memory of ours.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) };
    usize::try_from(n).ok().filter(|n| *n > 0).unwrap_or(1)
}

/// Restricts the calling thread to the CPUs `cpus` (`sched_setaffinity(0, ...)`).
pub fn set_cpu_affinity(cpus: &[u32]) -> io::Result<()> {
    use nix::sched::CpuSet;
    let mut set = CpuSet::new();
    for &cpu in cpus {
        let cpu = usize::try_from(cpu)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "cpu id out of range"))?;
        set.set(cpu).map_err(io::Error::from)?;
    }
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).map_err(io::Error::from)
}

/// The CPUs the calling thread may run on.
pub fn cpu_affinity() -> io::Result<Vec<u32>> {
    let set = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0))?;
    Ok((0..nix::sched::CpuSet::count())
        .filter(|&c| set.is_set(c).unwrap_or(false))
        .filter_map(|c| u32::try_from(c).ok())
        .collect())
}

/// Sets the name of the calling thread (`prctl(PR_SET_NAME)`, `/proc/PID/comm` for the main
/// thread), cut to [`MAX_NAME_LEN`] bytes at a character boundary as the kernel would cut
/// it. Returns the name set.
pub fn set_thread_name(name: &str) -> io::Result<String> {
    let mut end = name.len().min(MAX_NAME_LEN);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let short = &name[..end];
    let c = CString::new(short)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "name contains a NUL byte"))?;
    nix::sys::prctl::set_name(&c).map_err(io::Error::from)?;
    Ok(short.to_string())
}

/// The name of the calling thread.
pub fn thread_name() -> io::Result<String> {
    let c = nix::sys::prctl::get_name()?;
    Ok(c.to_string_lossy().into_owned())
}

/// A calendar date and time of day, without a time zone (a scheduled reload's time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CivilTime {
    /// The year (e.g. 2026).
    pub year: i32,
    /// The month, 1..=12.
    pub month: u32,
    /// The day of the month, 1..=31.
    pub day: u32,
    /// The hour, 0..=23.
    pub hour: u32,
    /// The minute, 0..=59.
    pub minute: u32,
    /// The second, 0..=60.
    pub second: u32,
}

/// Seconds since the epoch of `t` read as the local time of the process's time zone
/// (`mktime`, daylight saving time decided by the C library). `None` when the C library
/// cannot represent it. Fields out of range are normalised by `mktime`: validate first.
pub fn local_to_epoch(t: &CivilTime) -> Option<i64> {
    // SAFETY: an all-zero `tm` is a valid value (integers and a null zone pointer).
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    tm.tm_year = t.year.checked_sub(1900)?;
    tm.tm_mon = i32::try_from(t.month).ok()?.checked_sub(1)?;
    tm.tm_mday = i32::try_from(t.day).ok()?;
    tm.tm_hour = i32::try_from(t.hour).ok()?;
    tm.tm_min = i32::try_from(t.minute).ok()?;
    tm.tm_sec = i32::try_from(t.second).ok()?;
    tm.tm_isdst = -1;
    // SAFETY: `tm` is a valid, writable tm for the duration of the call; mktime reads the
    // time zone itself (it calls tzset).
    let v = unsafe { libc::mktime(&mut tm) };
    // -1 is also a valid time (one second before the epoch), never a date we schedule.
    (v != -1).then_some(v)
}

/// The local calendar time (the process's time zone) of `epoch` seconds (`localtime_r`).
pub fn epoch_to_local(epoch: i64) -> Option<CivilTime> {
    let t: libc::time_t = epoch;
    // SAFETY: an all-zero `tm` is a valid value (integers and a null zone pointer).
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    extern "C" {
        /// POSIX `tzset`: (re)reads the time zone (`TZ`, /etc/localtime).
        fn tzset();
    }
    // SAFETY: tzset takes no arguments and only updates the C library's zone state;
    // localtime_r may skip reading the zone otherwise.
    unsafe { tzset() };
    // SAFETY: `t` and `tm` are valid for the duration of the call; localtime_r writes only
    // into `tm` and returns null on failure.
    let r = unsafe { libc::localtime_r(&t, &mut tm) };
    if r.is_null() {
        return None;
    }
    Some(CivilTime {
        year: tm.tm_year.checked_add(1900)?,
        month: u32::try_from(tm.tm_mon.checked_add(1)?).ok()?,
        day: u32::try_from(tm.tm_mday).ok()?,
        hour: u32::try_from(tm.tm_hour).ok()?,
        minute: u32::try_from(tm.tm_min).ok()?,
        second: u32::try_from(tm.tm_sec).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` on a fresh thread so that per-thread changes never leak into the test harness.
    fn on_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::spawn(f).join().expect("thread")
    }

    #[test]
    fn thread_name_is_cut_to_the_kernel_length_at_a_char_boundary() {
        let (set, read) = on_thread(|| {
            let set = set_thread_name("keepalived_healthcheckers").expect("set");
            (set, thread_name().expect("get"))
        });
        assert_eq!(set, "keepalived_heal");
        assert_eq!(read, "keepalived_heal");
        // 14 ASCII bytes then a two-byte character: the character does not fit.
        let (set, read) = on_thread(|| {
            let set = set_thread_name("abcdefghijklmné").expect("set");
            (set, thread_name().expect("get"))
        });
        assert_eq!(set, "abcdefghijklmn");
        assert_eq!(read, "abcdefghijklmn");
        assert!(on_thread(|| set_thread_name("a\0b")).is_err());
    }

    #[test]
    fn nice_can_be_raised_and_is_inherited_by_new_threads() {
        let before = nice().expect("nice");
        let (mine, child) = on_thread(|| {
            let want = (nice().expect("nice") + 3).min(19);
            set_nice(want).expect("raising the nice value needs no privilege");
            let child = std::thread::spawn(|| nice().expect("nice"))
                .join()
                .expect("thread");
            (want, child)
        });
        assert_eq!(child, mine);
        // The harness thread is untouched.
        assert_eq!(nice().expect("nice"), before);
    }

    #[test]
    fn affinity_to_the_current_set_is_accepted_and_read_back() {
        let (before, after) = on_thread(|| {
            let before = cpu_affinity().expect("affinity");
            let first = before.first().copied().expect("one cpu at least");
            set_cpu_affinity(&[first]).expect("set");
            (before, cpu_affinity().expect("affinity"))
        });
        assert_eq!(after, vec![before[0]]);
        assert!(configured_cpus() > usize::try_from(before[0]).expect("cpu"));
        // A CPU id beyond what a cpu set can hold is an error, not a panic.
        assert!(on_thread(|| set_cpu_affinity(&[u32::MAX])).is_err());
    }

    #[test]
    fn policy_of_a_normal_thread_and_rlimit_rttime_round_trip() {
        let (policy, prio) = policy().expect("policy");
        assert_eq!(policy, libc::SCHED_OTHER);
        assert_eq!(prio, 0);
        // Setting the current values again exercises the call without changing anything.
        let (soft, hard) = rlimit_rttime().expect("rlimit");
        set_rlimit_rttime(soft, hard).expect("same limits");
        assert_eq!(rlimit_rttime().expect("rlimit"), (soft, hard));
        // A soft limit above the hard one is refused.
        if hard != u64::MAX {
            assert!(set_rlimit_rttime(hard.saturating_add(1), hard).is_err());
        }
        // A priority outside what the kernel accepts is an error, not a panic.
        assert!(on_thread(|| set_round_robin(1000)).is_err());
    }
    #[test]
    fn local_time_round_trips() {
        let now = 1_780_000_000_i64;
        let local = epoch_to_local(now).expect("local time");
        assert_eq!(local_to_epoch(&local), Some(now));
        assert!((1..=12).contains(&local.month) && local.hour < 24);
    }

    #[test]
    fn per_thread_setters_reach_another_thread() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let worker = std::thread::spawn(move || {
            tx.send(nix::unistd::gettid().as_raw()).expect("send");
            done_rx.recv().expect("recv");
            nice().expect("nice")
        });
        let tid = rx.recv().expect("tid");
        assert!(thread_ids().expect("threads").contains(&tid));
        let want = (nice().expect("nice") + 2).min(19);
        set_thread_nice(tid, want).expect("raising another thread's nice value");
        // Back to the normal policy is allowed without privilege (already there: no change).
        set_thread_normal_policy(tid).expect("SCHED_OTHER");
        done_tx.send(()).expect("send");
        assert_eq!(worker.join().expect("thread"), want);
        assert!(set_thread_nice(-1, 0).is_err());
        assert!(set_thread_round_robin(-1, 10).is_err());
        assert!(on_thread(set_normal_policy).is_ok());
    }

    #[test]
    fn a_command_leaves_a_real_time_policy_before_exec() {
        // Unprivileged here: the hook must at least keep a normal process normal and run.
        let mut cmd = std::process::Command::new("/bin/sh");
        cmd.args(["-c", "exit 0"]);
        normal_policy_on_exec(&mut cmd);
        assert!(cmd.status().expect("sh").success());
    }
}
