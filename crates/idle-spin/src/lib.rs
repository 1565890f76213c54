//! Spin-then-sleep for threads that just ran out of work.
//!
//! Waking a sleeping thread costs a futex call and, when its CPU went idle, that CPU's wake-up
//! latency (tens of µs in a VM), which dominates a lightly loaded server's latency. A thread
//! that keeps polling for a short window after its last piece of work avoids both, but only
//! pays off with CPU time nobody else wants. [`IdleSpin`] therefore yields the CPU on every
//! round and stops at the first sign of contention: the wall clock running ahead of the
//! thread's own CPU time (someone else ran on this CPU), or more runnable threads on the
//! machine than CPUs ([`cpu_to_spare`], from `/proc/loadavg`).
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The runnable-thread count of a `/proc/loadavg` line ("0.52 0.58 0.59 3/467 12345": the
/// fourth field is runnable/total).
pub fn runnable_threads(loadavg: &str) -> Option<usize> {
    let field = loadavg.split_ascii_whitespace().nth(3)?;
    field.split_once('/')?.0.parse().ok()
}

fn monotonic_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Whether the machine has a CPU to spare right now: no more runnable threads (the caller
/// included) than `cpus`, read from `/proc/loadavg` at most once a millisecond per process. A
/// spinning thread keeps its CPU from taking over threads queued on another CPU, so a busy
/// machine gets no spinning at all. Unknown (no procfs) counts as busy.
pub fn cpu_to_spare(cpus: usize) -> bool {
    use std::os::unix::fs::FileExt;
    static FILE: OnceLock<Option<std::fs::File>> = OnceLock::new();
    static CHECKED_NS: AtomicU64 = AtomicU64::new(u64::MAX);
    static SPARE: AtomicBool = AtomicBool::new(false);
    let now = monotonic_ns();
    let last = CHECKED_NS.load(Ordering::Relaxed);
    if last != u64::MAX && now.saturating_sub(last) < 1_000_000 {
        return SPARE.load(Ordering::Relaxed);
    }
    CHECKED_NS.store(now, Ordering::Relaxed);
    let Some(file) = FILE.get_or_init(|| std::fs::File::open("/proc/loadavg").ok()) else {
        return false;
    };
    let mut buf = [0u8; 128];
    let n = file.read_at(&mut buf, 0).unwrap_or(0);
    let spare = std::str::from_utf8(&buf[..n])
        .ok()
        .and_then(runnable_threads)
        .is_some_and(|running| running <= cpus);
    SPARE.store(spare, Ordering::Relaxed);
    spare
}

/// CPU time the calling thread has used so far (None where the clock is not available).
fn thread_cpu_time() -> Option<Duration> {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .ok()
        .map(Duration::from)
}

/// One idle period's spin: [`IdleSpin::again`] until it says stop, then sleep.
pub struct IdleSpin {
    wall0: Instant,
    cpu0: Duration,
    window: Duration,
    cpus: usize,
    check_load: bool,
}

impl IdleSpin {
    /// Start spinning for at most `window` on a machine (or cgroup) with `cpus` CPUs; None when
    /// spinning cannot pay: a zero window, one CPU (a spinner would only delay the thread it
    /// waits for), or no CPU to spare. `check_load` false skips the machine-load check (tests).
    pub fn start(window: Duration, cpus: usize, check_load: bool) -> Option<IdleSpin> {
        if window.is_zero() || cpus < 2 || (check_load && !cpu_to_spare(cpus)) {
            return None;
        }
        Some(IdleSpin {
            wall0: Instant::now(),
            cpu0: thread_cpu_time()?,
            window,
            cpus,
            check_load,
        })
    }

    /// Yield the CPU once, then say whether to keep spinning: within the window, this thread
    /// had the CPU (its CPU time kept up with the wall clock, within an eighth plus clock
    /// slack) and the machine still has a CPU to spare.
    pub fn again(&self) -> bool {
        std::thread::yield_now();
        let wall = self.wall0.elapsed();
        if wall >= self.window {
            return false;
        }
        let Some(cpu) = thread_cpu_time() else {
            return false;
        };
        let ran = cpu.saturating_sub(self.cpu0);
        wall.saturating_sub(ran) <= wall / 8 + Duration::from_micros(2)
            && (!self.check_load || cpu_to_spare(self.cpus))
    }
}

/// The CPUs this process may run on (affinity and cgroup quota, as at the first call), at
/// least 1. Cached: `available_parallelism` reads cgroup files on every call.
pub fn usable_cpus() -> usize {
    static CPUS: OnceLock<usize> = OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loadavg_runnable_field() {
        assert_eq!(runnable_threads("0.52 0.58 0.59 3/467 12345\n"), Some(3));
        assert_eq!(runnable_threads("1.00 1.00 1.00 12/1024 1"), Some(12));
        assert_eq!(runnable_threads("0.52 0.58 0.59"), None);
        assert_eq!(runnable_threads("0.52 0.58 0.59 x/467 1"), None);
        assert_eq!(runnable_threads("0.52 0.58 0.59 3 1"), None);
    }

    #[test]
    fn no_spin_without_a_window_or_a_second_cpu() {
        assert!(IdleSpin::start(Duration::ZERO, 8, false).is_none());
        assert!(IdleSpin::start(Duration::from_micros(100), 1, false).is_none());
    }

    #[test]
    fn a_spin_ends_within_its_window() {
        let spin = IdleSpin::start(Duration::from_micros(200), 2, false).expect("spinning");
        let t0 = Instant::now();
        while spin.again() {}
        // Ends at the window or earlier on contention, never runs on.
        assert!(
            t0.elapsed() < Duration::from_millis(100),
            "{:?}",
            t0.elapsed()
        );
    }

    #[test]
    fn procfs_counts_this_running_thread() {
        let text = std::fs::read_to_string("/proc/loadavg").unwrap();
        assert!(runnable_threads(&text).is_some_and(|r| r >= 1), "{text}");
    }
}
