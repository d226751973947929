//! Scheduling and memory attributes of the calling process or thread: nice value, the
//! `SCHED_RR` real-time policy, `RLIMIT_RTTIME`, `mlockall`, CPU affinity and the thread name
//! (`comm`).
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
    // SAFETY: setpriority takes plain integers and touches no memory of ours.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
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
    let priority = i32::try_from(priority)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "priority out of range"))?;
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: `param` is a valid sched_param that outlives the call; the kernel only reads it.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_RR, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
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
}
