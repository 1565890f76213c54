//! How instance threads wait for work and run: the extension settings (idle spin, scheduling
//! policy, caller-thread execution).

use std::time::Duration;

/// How model-instance threads wait for work and run (triton-core extension settings; for an
/// unmodified frontend also from the environment, see `Options::from_env`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerSettings {
    /// How long an idle instance thread keeps looking at its queue before it sleeps, while the
    /// machine has a CPU to spare (0: it sleeps at once, as upstream).
    pub spin: std::time::Duration,
    /// Instance threads run under `SCHED_BATCH` (their wake-up does not preempt the caller).
    pub batch_policy: bool,
    /// A request that finds its queue empty and an instance idle executes on the caller's
    /// thread (never with dynamic or sequence batching or rate limiting).
    pub caller_executes: bool,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        SchedulerSettings {
            spin: std::time::Duration::ZERO,
            batch_policy: true,
            caller_executes: false,
        }
    }
}

/// The spin window of idle instance threads and how many CPUs this process may use (computed
/// once). No spinning on one CPU: there a spinning thread only delays the thread it waits for.
pub(super) fn spin_window(settings: &SchedulerSettings) -> (Duration, usize) {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    if cfg!(test) {
        // The engine's own tests run every idle worker through the spin, machine load or not.
        return (Duration::from_micros(200), 2);
    }
    (
        settings.spin,
        *CPUS.get_or_init(triton_idle_spin::usable_cpus),
    )
}
