//! Runtime readiness of instances: bounded, single-flight calls of the backend's
//! `TRITONBACKEND_ModelInstanceReady`, with the state an operator can watch.
//!
//! * **Bounded.** Hook calls run on the readiness pool ([`workers::READINESS`]), never on the
//!   caller's thread. A caller waits for an answer at most until the call's deadline (the
//!   settings' hook timeout after the call was queued); past it the instance is NOT READY with
//!   "readiness check of instance X did not answer within N ms", and a hung hook holds one
//!   pool thread, not the caller.
//! * **Single flight.** Each instance has a [`ReadyCell`]: at most one hook call per instance
//!   is queued or running; concurrent callers wait for that call's answer; while an overdue
//!   call is outstanding, callers answer from that state at once. When the hung call returns,
//!   the next check asks the backend again.
//! * **Cheap.** A completed answer is reused for [`ReadinessSettings::reuse`] (default 1 ms),
//!   so probes arriving together share one hook call per instance; a ready answer is read with
//!   one atomic load. The checks of one caller are queued as one job that pool threads share
//!   (a thread stuck in one hook leaves the rest of the job to others).
//! * **Watchable.** Each cell keeps the state since when, the transitions, the last hook
//!   latency and a latency histogram, timeouts and restarts; a transition is logged once.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime};

use super::{Entered, Instance, Model, REASON_UNLOADING};
use crate::engine::error::Error;
use crate::engine::sync::{lock, monotonic_ns, wait_timeout};
use crate::engine::workers;

/// How readiness checks behave (server options, extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadinessSettings {
    /// How long one readiness hook call may take before the check answers NOT READY.
    pub hook_timeout: Duration,
    /// How long a completed check's answer is reused by later checks (0: every check asks).
    pub reuse: Duration,
    /// Check every instance in the background at this interval (None: only when asked).
    pub monitor_interval: Option<Duration>,
    /// Restarting instances that keep failing their check (off by default).
    pub restart: RestartPolicy,
}

impl Default for ReadinessSettings {
    fn default() -> Self {
        ReadinessSettings {
            hook_timeout: Duration::from_millis(2000),
            reuse: Duration::from_millis(1),
            monitor_interval: None,
            restart: RestartPolicy::default(),
        }
    }
}

/// When and how an instance that keeps failing its readiness check is restarted (finalized and
/// initialized again through its backend).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartPolicy {
    pub enabled: bool,
    /// Consecutive failed checks that start a restart.
    pub after_failures: u32,
    /// Wait before the first attempt; doubled after each failed attempt, up to `backoff_cap`.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// Failed attempts after which the instance stays failed.
    pub max_attempts: u32,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            enabled: false,
            after_failures: 3,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(30),
            max_attempts: 5,
        }
    }
}

/// Upper bounds (µs) of the hook latency histogram.
pub const LATENCY_BUCKETS_US: [f64; 10] = [
    10.0,
    100.0,
    1_000.0,
    10_000.0,
    100_000.0,
    500_000.0,
    1_000_000.0,
    2_000_000.0,
    5_000_000.0,
    10_000_000.0,
];

/// The readiness state of one instance (see the module documentation).
#[derive(Debug, Default)]
pub struct ReadyCell {
    /// Until when (monotonic ns) the last answer, which was "ready", may be reused.
    ok_until: AtomicU64,
    state: Mutex<CellState>,
    cv: Condvar,
}

#[derive(Debug, Default)]
struct CellState {
    last: Option<Outcome>,
    /// A hook call queued or running.
    pending: Option<Pending>,
    /// Completed hook calls (callers wait for this to move).
    completed: u64,
    /// Callers waiting on the condition variable for an answer.
    waiters: usize,
    /// What the instance is now, for transitions: None until the first answer.
    ready: Option<bool>,
    since: Option<SystemTime>,
    reason: String,
    transitions: u64,
    timeouts: u64,
    consecutive_failures: u32,
    latency_counts: [u64; LATENCY_BUCKETS_US.len() + 1],
    latency_sum_us: f64,
    /// Set while a restart is in progress or after it gave up.
    restart_note: Option<String>,
    restarts: u64,
    restart_failures: u64,
    /// Restarts in a row, each followed by a new failure soon after (a crash loop).
    restart_streak: u32,
    last_restart: Option<std::time::Instant>,
}

/// What a request to restart an instance leads to.
pub(crate) enum RestartStart {
    /// A restart is already in progress or was given up.
    Busy,
    /// Attempt number `n` (1 after a stable run).
    Attempt(u32),
    /// The instance keeps failing right after each restart: restarts stop, with this reason.
    GiveUp(String),
}

#[derive(Debug, Clone)]
struct Outcome {
    result: Result<(), Error>,
    finished_ns: u64,
    latency_ns: u64,
}

#[derive(Debug)]
struct Pending {
    queued_ns: u64,
    started: bool,
    /// A caller already answered "did not answer within N ms" for this call.
    timed_out: bool,
    /// The job that will call the hook (set right after the job is made).
    job: Option<Arc<Job>>,
}

/// Hook calls queued together; pool threads take items one at a time.
#[derive(Debug)]
struct Job {
    items: Vec<(Arc<Model>, Arc<Instance>)>,
    next: AtomicUsize,
}

/// What an operator sees of one instance (the readiness report and metrics).
#[derive(Debug, Clone, PartialEq)]
pub struct CellReport {
    pub ready: Option<bool>,
    pub reason: String,
    pub since: Option<SystemTime>,
    pub last_latency_us: Option<f64>,
    pub transitions: u64,
    pub timeouts: u64,
    pub restarts: u64,
    pub restart_failures: u64,
    pub restart_note: Option<String>,
    pub latency_counts: Vec<u64>,
    pub latency_sum_us: f64,
}

impl ReadyCell {
    /// The answer now if it can be given without waiting: a reusable ready answer.
    pub(crate) fn fast(&self, now: u64) -> bool {
        now < self.ok_until.load(Ordering::Acquire)
    }

    /// Until when the reusable ready answer holds, if there is one now.
    pub(crate) fn fresh_until(&self, now: u64) -> Option<u64> {
        let until = self.ok_until.load(Ordering::Acquire);
        (now < until).then_some(until)
    }

    /// What an operator sees of this instance.
    pub fn report(&self) -> CellReport {
        let st = lock(&self.state);
        CellReport {
            ready: st.ready,
            reason: st.reason.clone(),
            since: st.since,
            last_latency_us: st.last.as_ref().map(|o| o.latency_ns as f64 / 1000.0),
            transitions: st.transitions,
            timeouts: st.timeouts,
            restarts: st.restarts,
            restart_failures: st.restart_failures,
            restart_note: st.restart_note.clone(),
            latency_counts: st.latency_counts.to_vec(),
            latency_sum_us: st.latency_sum_us,
        }
    }

    /// Stop reusing the last answer (the instance was restarted): the next check asks the
    /// backend, and failures count from zero. The answer itself stays for callers still
    /// waiting for that call.
    pub(crate) fn reset_answers(&self) {
        self.expire_answer();
        lock(&self.state).consecutive_failures = 0;
    }

    /// Stop reusing the last answer: the next check asks the backend.
    pub(crate) fn expire_answer(&self) {
        self.ok_until.store(0, Ordering::Release);
        EXPIRED_EARLY.fetch_add(1, Ordering::SeqCst);
        if let Some(last) = lock(&self.state).last.as_mut() {
            last.finished_ns = 0;
        }
    }

    /// Record a restart note ("restarting (attempt 2 of 5)", or why it gave up); `None` clears
    /// it. `restarted` / `failed` count a finished attempt.
    pub(crate) fn set_restart_note(&self, note: Option<String>, restarted: bool, failed: bool) {
        let mut st = lock(&self.state);
        st.restart_note = note;
        st.restarts += u64::from(restarted);
        st.restart_failures += u64::from(failed);
    }

    /// Start a restart, unless one is in progress or was given up. An instance that fails
    /// again within `stable` of its last restart continues the same streak of attempts (a stub
    /// that dies right after every start is a failed attempt each time, not a new first one);
    /// past `max_attempts` in a row restarts stop. `note(n)` is the readiness answer meanwhile.
    pub(crate) fn begin_restart(
        &self,
        instance: &str,
        stable: Duration,
        max_attempts: u32,
        note: impl FnOnce(u32) -> String,
    ) -> RestartStart {
        let mut st = lock(&self.state);
        if st.restart_note.is_some() {
            return RestartStart::Busy;
        }
        let recent = st.last_restart.is_some_and(|t| t.elapsed() < stable);
        let attempt = if recent { st.restart_streak + 1 } else { 1 };
        let start = if attempt > max_attempts {
            let why = format!(
                "not ready: instance {instance} could not be restarted after {} attempt(s): it \
                 failed again within {} s of each restart: {}",
                st.restart_streak,
                stable.as_secs(),
                st.reason
            );
            st.restart_note = Some(why.clone());
            st.restart_failures += 1;
            RestartStart::GiveUp(why)
        } else {
            st.restart_note = Some(note(attempt));
            RestartStart::Attempt(attempt)
        };
        drop(st);
        self.ok_until.store(0, Ordering::Release);
        EXPIRED_EARLY.fetch_add(1, Ordering::SeqCst);
        start
    }

    /// A restart attempt succeeded: the streak it belongs to is remembered.
    pub(crate) fn restarted(&self, attempt: u32) {
        let mut st = lock(&self.state);
        st.restart_streak = attempt;
        st.last_restart = Some(std::time::Instant::now());
    }
}

/// Answers taken back before their time (an instance restarting, or its execution failing):
/// a verdict made from answers is good only while this count is what it was.
static EXPIRED_EARLY: AtomicU64 = AtomicU64::new(0);

/// See [`EXPIRED_EARLY`].
pub(crate) fn answers_taken_back() -> u64 {
    EXPIRED_EARLY.load(Ordering::SeqCst)
}

/// Whether every instance has a reusable ready answer now (the common case of a probe: no hook
/// call, no allocation, one atomic load per instance).
pub(crate) fn all_fresh<'a>(instances: impl IntoIterator<Item = &'a Arc<Instance>>) -> bool {
    let now = monotonic_ns();
    instances.into_iter().all(|i| i.ready_cell().fast(now))
}

/// The readiness of each instance of `items` (None: ready), asking the backends as the module
/// documentation says. Never blocks longer than the hook timeout.
pub(crate) fn check(
    items: &[(&Arc<Model>, &Arc<Instance>)],
    settings: &ReadinessSettings,
) -> Vec<Option<Error>> {
    let now = monotonic_ns();
    let mut out: Vec<Option<Error>> = vec![None; items.len()];
    // (index, completed count seen, deadline ns) of the answers to wait for.
    let mut waits: Vec<(usize, u64, u64)> = Vec::new();
    let mut to_run: Vec<(usize, Arc<Model>, Arc<Instance>)> = Vec::new();
    let timeout_ns = settings.hook_timeout.as_nanos() as u64;
    let reuse_ns = settings.reuse.as_nanos() as u64;
    for (i, (model, inst)) in items.iter().enumerate() {
        let cell = inst.ready_cell();
        if cell.fast(now) {
            continue;
        }
        let mut st = lock(&cell.state);
        if let Some(note) = &st.restart_note {
            out[i] = Some(Error::unavailable(note.clone()));
            continue;
        }
        if let Some(p) = &st.pending {
            if p.queued_ns + timeout_ns <= now {
                if let Some(job) = p.job.as_ref().filter(|j| j.unclaimed()) {
                    start(job);
                }
                let started = p.started;
                out[i] = Some(mark_overdue(model, inst, &mut st, settings, started));
            } else {
                waits.push((i, st.completed, p.queued_ns + timeout_ns));
            }
            continue;
        }
        if let Some(last) = st.last.as_ref().filter(|o| o.finished_ns + reuse_ns > now) {
            out[i] = last.result.clone().err();
            continue;
        }
        waits.push((i, st.completed, now + timeout_ns));
        to_run.push((i, (*model).clone(), (*inst).clone()));
        st.pending = Some(Pending {
            queued_ns: now,
            started: false,
            timed_out: false,
            // Filled in below, once the job exists.
            job: None,
        });
    }
    if !to_run.is_empty() {
        // While the pool is asked anyway, answers that would expire soon are refreshed in the
        // same job: the answers of a batch then expire together, so back-to-back probes pay
        // one batch of hook calls per reuse window instead of a hand-off for every few
        // instances whose answers happened to expire first. Their current answers stand.
        let soon = now + reuse_ns / 2;
        let mut queued = vec![false; items.len()];
        for (i, _, _) in &to_run {
            queued[*i] = true;
        }
        for (i, (model, inst)) in items.iter().enumerate() {
            if queued[i] {
                continue;
            }
            let mut st = lock(&inst.ready_cell().state);
            let expiring = st.pending.is_none()
                && st.restart_note.is_none()
                && st
                    .last
                    .as_ref()
                    .is_some_and(|o| o.finished_ns + reuse_ns < soon);
            if expiring {
                to_run.push((usize::MAX, (*model).clone(), (*inst).clone()));
                st.pending = Some(Pending {
                    queued_ns: now,
                    started: false,
                    timed_out: false,
                    job: None,
                });
            }
        }
        let job = Arc::new(Job {
            items: to_run
                .iter()
                .map(|(_, m, inst)| (m.clone(), inst.clone()))
                .collect(),
            next: AtomicUsize::new(0),
        });
        for (_, _, inst) in &to_run {
            if let Some(p) = lock(&inst.ready_cell().state).pending.as_mut() {
                p.job = Some(job.clone());
            }
        }
        start(&job);
    }
    // A thread stuck in one hook must not hold up the rest of its job: after this long
    // without an answer, another thread is asked to help.
    let help_after = (settings.hook_timeout / 10).max(Duration::from_millis(5));
    for (i, seen, deadline) in waits {
        let inst = items[i].1;
        let cell = inst.ready_cell();
        let mut st = lock(&cell.state);
        loop {
            if st.completed != seen {
                out[i] = st.last.as_ref().and_then(|o| o.result.clone().err());
                break;
            }
            let now = monotonic_ns();
            if now >= deadline {
                let started = st.pending.as_ref().is_none_or(|p| p.started);
                out[i] = Some(mark_overdue(items[i].0, inst, &mut st, settings, started));
                break;
            }
            let wait = Duration::from_nanos(deadline - now).min(help_after);
            st.waiters += 1;
            st = wait_timeout(&cell.cv, st, wait);
            st.waiters -= 1;
            if st.completed == seen {
                // Items of this job nobody has taken yet (the thread on it may be stuck in an
                // earlier item's hook): ask one more pool thread to go on with them.
                let job = st.pending.as_ref().and_then(|p| p.job.clone());
                if let Some(job) = job.filter(|j| j.unclaimed()) {
                    drop(st);
                    start(&job);
                    st = lock(&cell.state);
                }
            }
        }
    }
    out
}

/// The answer for an instance whose check missed its deadline; the first caller to see that
/// counts the timeout and records the transition to not ready.
fn mark_overdue(
    model: &Model,
    inst: &Instance,
    st: &mut CellState,
    settings: &ReadinessSettings,
    started: bool,
) -> Error {
    let e = overdue(inst, settings, started);
    if let Some(p) = st.pending.as_mut().filter(|p| !p.timed_out) {
        p.timed_out = true;
        st.timeouts += 1;
        if st.ready != Some(false) {
            crate::log_warn!(
                "model '{}' version {} instance {} is not ready: {}",
                model.name(),
                model.version(),
                inst.name(),
                e.message()
            );
            st.transitions += u64::from(st.ready.is_some());
            st.ready = Some(false);
            st.since = Some(SystemTime::now());
        }
        st.reason = e.message().to_owned();
    }
    e
}

fn overdue(inst: &Instance, settings: &ReadinessSettings, started: bool) -> Error {
    let ms = settings.hook_timeout.as_millis();
    if started {
        Error::unavailable(format!(
            "readiness check of instance {} did not answer within {ms} ms",
            inst.name()
        ))
    } else {
        Error::unavailable(format!(
            "readiness check of instance {} could not start within {ms} ms (every readiness \
             thread is busy)",
            inst.name()
        ))
    }
}

impl Job {
    /// Whether some item has not been taken by a pool thread yet.
    fn unclaimed(&self) -> bool {
        self.next.load(Ordering::Acquire) < self.items.len()
    }
}

/// Queue (one more helper on) a job on the readiness pool.
fn start(job: &Arc<Job>) {
    if !job.unclaimed() {
        return;
    }
    let job = job.clone();
    workers::READINESS.submit("readiness check", move || run_job(&job));
}

fn run_job(job: &Job) {
    loop {
        let i = job.next.fetch_add(1, Ordering::AcqRel);
        let Some((model, inst)) = job.items.get(i) else {
            return;
        };
        run_one(model, inst);
    }
}

/// Call the hook of one instance (through its gate) and record the answer.
fn run_one(model: &Arc<Model>, inst: &Arc<Instance>) {
    let cell = inst.ready_cell();
    if let Some(p) = lock(&cell.state).pending.as_mut() {
        p.started = true;
    }
    let t0 = monotonic_ns();
    let result = if model.is_retired() {
        Err(Error::unavailable(REASON_UNLOADING))
    } else {
        match (model.backend(), Entered::new(inst)) {
            (Some(b), Some(pass)) => b.library().instance_ready(&pass),
            (None, _) => Ok(()),
            (_, None) => Err(Error::unavailable(REASON_UNLOADING)),
        }
    };
    let t1 = monotonic_ns();
    record(model, inst, result, t1, t1.saturating_sub(t0));
}

/// Store an answer, wake the callers waiting for it, log a transition, count what operators
/// watch, and start a restart when the policy says so.
fn record(
    model: &Arc<Model>,
    inst: &Arc<Instance>,
    result: Result<(), Error>,
    now: u64,
    latency: u64,
) {
    let cell = inst.ready_cell();
    let settings = model.readiness_settings();
    let unloading = result
        .as_ref()
        .err()
        .is_some_and(|e| e.message() == REASON_UNLOADING);
    let mut st = lock(&cell.state);
    let ok = result.is_ok();
    let latency_us = latency as f64 / 1000.0;
    let bucket = LATENCY_BUCKETS_US
        .iter()
        .position(|b| latency_us <= *b)
        .unwrap_or(LATENCY_BUCKETS_US.len());
    st.latency_counts[bucket] += 1;
    st.latency_sum_us += latency_us;
    let reason = result
        .as_ref()
        .err()
        .map(|e| e.message().to_owned())
        .unwrap_or_default();
    if st.ready != Some(ok) && !unloading {
        if st.ready.is_some() || !ok {
            if ok {
                crate::log_info!(
                    "model '{}' version {} instance {} is ready again",
                    model.name(),
                    model.version(),
                    inst.name()
                );
            } else {
                crate::log_warn!(
                    "model '{}' version {} instance {} is not ready: {reason}",
                    model.name(),
                    model.version(),
                    inst.name()
                );
            }
            st.transitions += u64::from(st.ready.is_some());
        }
        st.ready = Some(ok);
        st.since = Some(SystemTime::now());
    }
    st.reason = reason;
    st.consecutive_failures = if ok || unloading {
        0
    } else {
        st.consecutive_failures.saturating_add(1)
    };
    let failures = st.consecutive_failures;
    st.last = Some(Outcome {
        result,
        finished_ns: now,
        latency_ns: latency,
    });
    st.pending = None;
    st.completed += 1;
    cell.ok_until.store(
        if ok {
            now + settings.reuse.as_nanos() as u64
        } else {
            0
        },
        Ordering::Release,
    );
    let restarting = st.restart_note.is_some();
    // A notify is a system call even with nobody waiting: only when someone waits.
    let wake = st.waiters > 0;
    drop(st);
    if wake {
        cell.cv.notify_all();
    }
    let policy = model.restart_policy();
    if policy.enabled && !restarting && failures >= policy.after_failures {
        model.restart_instance(inst);
    }
}
