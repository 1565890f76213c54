//! Per-model request queues and one worker thread per model instance.
//!
//! Without dynamic batching each execution gets one request (upstream's default scheduler).
//! With `dynamic_batching`, a worker gathers requests up to `max_batch_size`, stopping early at
//! the largest preferred batch size, and waits at most `max_queue_delay_microseconds` for a
//! batch to fill. Priority levels, queue timeouts and the maximum queue size follow the queue
//! policies of the configuration.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use triton_idle_spin::IdleSpin;

use crate::engine::error::Error;
use crate::engine::infer::{monotonic_ns, FailureReason, InferenceRequest};
use crate::engine::model::{Instance, Model, RequestBatch};
use crate::engine::sequence::Sequences;
use crate::engine::sync::lock;
use crate::engine::trace::Activity;

mod policy;
mod queue;
mod settings;

use policy::Policy;
use queue::{take_expired, Queued, State};
use settings::spin_window;
pub use settings::SchedulerSettings;

/// The queue and workers of one model version.
pub struct Scheduler {
    policy: Policy,
    sequences: Option<Arc<Sequences>>,
    /// Instances that take requests; their threads start with the first request.
    active: Vec<Arc<Instance>>,
    model: Weak<Model>,
    started: std::sync::Once,
    state: Mutex<State>,
    cv: Condvar,
    workers: Mutex<Vec<JoinHandle<()>>>,
    /// One per active instance, held while that instance executes (by its worker thread, or
    /// by a caller executing on its own thread): an instance never executes twice at once, and
    /// shutdown waits for a caller's execution like a worker's.
    executing: Vec<Mutex<()>>,
    /// Caller-thread execution is on (from the settings; tests switch it).
    caller_executes: std::sync::atomic::AtomicBool,
    settings: SchedulerSettings,
    running: AtomicUsize,
    idle_cv: Condvar,
    idle_lock: Mutex<()>,
}

impl Scheduler {
    /// A scheduler for `model` with one worker per (non-passive) instance.
    pub(crate) fn start(
        model: &Arc<Model>,
        instances: &[Arc<Instance>],
        sequences: Option<Arc<Sequences>>,
    ) -> Arc<Scheduler> {
        let policy = Policy::from_config(&model.config());
        let settings = model.scheduler_settings().clone();
        let levels = (policy.priority_levels.max(1)) as usize;
        let active = instances.iter().filter(|i| !i.is_passive()).count();
        if let Some(s) = &sequences {
            s.set_workers(active);
        }
        let sched = Arc::new(Scheduler {
            policy,
            sequences,
            active: instances
                .iter()
                .filter(|i| !i.is_passive())
                .cloned()
                .collect(),
            model: Arc::downgrade(model),
            started: std::sync::Once::new(),
            state: Mutex::new(State {
                levels: (0..levels).map(|_| VecDeque::new()).collect(),
                per_instance: (0..active).map(|_| VecDeque::new()).collect(),
                with_deadline: 0,
                accepting: true,
                stopping: false,
                waiting: 0,
                paused: vec![false; active],
                failed: vec![None; active],
            }),
            cv: Condvar::new(),
            workers: Mutex::new(Vec::new()),
            executing: (0..active).map(|_| Mutex::new(())).collect(),
            caller_executes: std::sync::atomic::AtomicBool::new(settings.caller_executes),
            settings,
            running: AtomicUsize::new(0),
            idle_cv: Condvar::new(),
            idle_lock: Mutex::new(()),
        });
        sched
    }

    /// Start one thread per active instance, once (on the first request: a server with many
    /// models that are never used does not pay for their threads at startup and stop).
    fn ensure_started(self: &Arc<Self>) {
        self.started.call_once(|| {
            let mut workers = lock(&self.workers);
            for (index, inst) in self.active.iter().enumerate() {
                let s = self.clone();
                let inst = inst.clone();
                let model = self.model.clone();
                self.running.fetch_add(1, Ordering::AcqRel);
                let spawned = std::thread::Builder::new()
                    .name(format!("triton-{}", inst.name()))
                    .spawn(move || s.worker(model, inst, index));
                match spawned {
                    Ok(h) => workers.push(h),
                    Err(e) => {
                        self.running.fetch_sub(1, Ordering::AcqRel);
                        crate::log_error!("failed to start a model instance thread: {e}");
                    }
                }
            }
        });
    }

    /// Queue a request. Fails (the caller keeps the request) when the model stopped accepting
    /// work or the queue is full.
    pub fn enqueue(
        self: &Arc<Self>,
        request: Box<InferenceRequest>,
    ) -> std::result::Result<(), (Error, Box<InferenceRequest>)> {
        let p = &self.policy;
        let level = if request.priority == 0 || request.priority > p.priority_levels {
            p.default_priority
        } else {
            request.priority
        };
        let index = level.saturating_sub(1) as usize;
        let qp = p.queue_policy(level);
        let timeout_us = if qp.allow_timeout_override && request.timeout_us != 0 {
            request.timeout_us
        } else if qp.default_timeout_us != 0 {
            qp.default_timeout_us
        } else {
            request.timeout_us
        };
        if self.active.is_empty() {
            return Err((
                Error::unavailable(format!(
                    "model '{}' has no active instance to execute requests",
                    request.model().name()
                )),
                request,
            ));
        }
        // Trace callbacks run before the queue lock is taken (the frontend's code never runs
        // under it).
        let queue_start_ns = monotonic_ns();
        request.trace_activity(Activity::QueueStart, queue_start_ns);
        request.trace_inputs(Activity::TensorQueueInput);
        self.ensure_started();
        let mut st = lock(&self.state);
        if !st.accepting {
            return Err((
                Error::unavailable(format!(
                    "Server not ready: model '{}' is being unloaded",
                    request.model().name()
                )),
                request,
            ));
        }
        if let Some(reason) = st.all_failed() {
            return Err((
                Error::unavailable(format!(
                    "no instance of model '{}' can execute requests: {reason}",
                    request.model().name()
                )),
                request,
            ));
        }
        if let Some(seq) = &self.sequences {
            let worker = match seq.route(&request) {
                Ok(w) => w,
                Err(e) => return Err((e, request)),
            };
            if let Some(Some(reason)) = st.failed.get(worker) {
                return Err((
                    Error::unavailable(format!(
                        "the instance of this sequence of model '{}' failed: {reason}",
                        request.model().name()
                    )),
                    request,
                ));
            }
            request
                .queue_start_ns
                .store(queue_start_ns, Ordering::Release);
            if let Some(q) = st.per_instance.get_mut(worker) {
                q.push_back(request);
            }
            let wake = st.waiting > 0;
            drop(st);
            if wake {
                self.cv.notify_all();
            }
            return Ok(());
        }
        let request = match self.try_execute_here(st, request, queue_start_ns) {
            Ok(()) => return Ok(()),
            Err((back, request)) => {
                st = back;
                request
            }
        };
        let idx = index.min(st.levels.len() - 1);
        if qp.max_queue_size > 0 && st.levels[idx].len() as u64 >= qp.max_queue_size {
            return Err((Error::unavailable("Exceeds maximum queue size"), request));
        }
        request
            .queue_start_ns
            .store(queue_start_ns, Ordering::Release);
        let now = Instant::now();
        let deadline = (timeout_us > 0 && qp.reject_on_timeout)
            .then(|| now + Duration::from_micros(timeout_us));
        st.with_deadline += usize::from(deadline.is_some());
        st.levels[idx].push_back(Queued {
            request,
            deadline,
            enqueued: now,
        });
        let wake = st.waiting > 0;
        drop(st);
        if wake {
            self.cv.notify_one();
        }
        Ok(())
    }

    /// Caller-thread execution (`TRITON_CORE_CALLER_EXECUTES=1`, off by default): a request
    /// that finds its queue empty and an instance idle runs on the calling thread instead of
    /// being handed to the instance's thread, which saves both thread hand-offs of a round trip.
    /// `InferAsync` then returns after the backend's execute, so it suits callers that wait for
    /// the response anyway; never with dynamic or sequence batching, or rate-limited instances.
    /// Gives the state guard and the request back when the request has to be queued.
    #[allow(clippy::type_complexity)]
    fn try_execute_here<'a>(
        &'a self,
        st: std::sync::MutexGuard<'a, State>,
        request: Box<InferenceRequest>,
        queue_start_ns: u64,
    ) -> std::result::Result<(), (std::sync::MutexGuard<'a, State>, Box<InferenceRequest>)> {
        if !self.caller_executes.load(Ordering::Relaxed)
            || self.policy.dynamic
            || self.sequences.is_some()
            || st.len() != 0
            || st.stopping
        {
            return Err((st, request));
        }
        let idle = self
            .active
            .iter()
            .zip(&self.executing)
            .enumerate()
            .filter(|(i, (inst, _))| {
                inst.needs().is_empty() && !st.paused[*i] && st.failed[*i].is_none()
            })
            .find_map(|(_, (inst, m))| m.try_lock().ok().map(|g| (inst, g)));
        let Some((instance, guard)) = idle else {
            return Err((st, request));
        };
        drop(st);
        let Some(model) = self.model.upgrade() else {
            drop(guard);
            return Err((lock(&self.state), request));
        };
        request
            .queue_start_ns
            .store(queue_start_ns, Ordering::Release);
        model.execute(instance, vec![request]);
        drop(guard);
        Ok(())
    }

    /// Turn caller-thread execution on or off for this scheduler (tests).
    #[cfg(test)]
    pub(crate) fn set_caller_executes(&self, on: bool) {
        self.caller_executes.store(on, Ordering::Relaxed);
    }

    /// Requests waiting in the queue.
    pub fn queued(&self) -> usize {
        lock(&self.state).len()
    }

    /// Take the next batch for a worker; `None` once stopping and the queue is empty.
    fn next_batch(&self, worker: usize) -> Option<Vec<Box<InferenceRequest>>> {
        let mut st = lock(&self.state);
        if self.sequences.is_some() {
            loop {
                if st.paused[worker] || st.failed[worker].is_some() {
                    if st.stopping {
                        return None;
                    }
                    st = self.sleep(st, None);
                    continue;
                }
                if let Some(r) = st
                    .per_instance
                    .get_mut(worker)
                    .and_then(VecDeque::pop_front)
                {
                    return Some(vec![r]);
                }
                if st.stopping {
                    return None;
                }
                st = self.sleep(st, None);
            }
        }
        let mut spin: Option<Option<IdleSpin>> = None;
        loop {
            if st.paused[worker] || st.failed[worker].is_some() {
                // Out of scheduling (restarting, or failed): the siblings take the queue.
                if st.stopping {
                    return None;
                }
                st = self.sleep(st, None);
                continue;
            }
            let expired = take_expired(&mut st);
            if !expired.is_empty() {
                drop(st);
                for r in expired {
                    r.model().stats().report_failure_with(
                        r.request_start_ns.load(Ordering::Acquire),
                        FailureReason::Rejected,
                    );
                    r.fail(&Error::unavailable("Request timeout expired"));
                }
                st = lock(&self.state);
                continue;
            }
            if st.len() == 0 {
                if st.stopping {
                    return None;
                }
                let idle = spin.get_or_insert_with(|| {
                    let (window, cpus) = spin_window(&self.settings);
                    IdleSpin::start(window, cpus, !cfg!(test))
                });
                if let Some(sp) = idle {
                    drop(st);
                    if !sp.again() {
                        *idle = None;
                    }
                    st = lock(&self.state);
                } else {
                    st = self.sleep(st, None);
                }
                continue;
            }
            if !self.policy.dynamic {
                let item = st
                    .levels
                    .iter_mut()
                    .find(|q| !q.is_empty())
                    .and_then(VecDeque::pop_front)?;
                st.with_deadline -= usize::from(item.deadline.is_some());
                return Some(vec![item.request]);
            }
            // Dynamic batching: how many requests fit, and is the batch good enough to go?
            let max = self.policy.max_batch_size;
            let mut total = 0u64;
            let mut count = 0usize;
            'scan: for q in &st.levels {
                for item in q {
                    let size = item.request.batch_size.max(1);
                    if count > 0 && total + size > max {
                        break 'scan;
                    }
                    total += size;
                    count += 1;
                    if total >= max {
                        break 'scan;
                    }
                }
            }
            let preferred_hit = self
                .policy
                .preferred
                .iter()
                .max()
                .is_some_and(|p| total >= *p);
            let oldest = st.front().map(|q| q.enqueued).unwrap_or_else(Instant::now);
            let deadline = oldest + self.policy.max_delay;
            let full = total >= max || preferred_hit || count == st.len() && st.stopping;
            if full || Instant::now() >= deadline {
                let mut out = Vec::with_capacity(count);
                let mut with_deadline = 0;
                for q in st.levels.iter_mut() {
                    while out.len() < count {
                        match q.pop_front() {
                            Some(item) => {
                                with_deadline += usize::from(item.deadline.is_some());
                                out.push(item.request);
                            }
                            None => break,
                        }
                    }
                }
                st.with_deadline -= with_deadline;
                return Some(out);
            }
            let wait = deadline.saturating_duration_since(Instant::now());
            st = self.sleep(st, Some(wait));
        }
    }

    /// Wait on the queue's condition variable (at most `timeout`), counted in `waiting`.
    fn sleep<'a>(
        &self,
        mut st: std::sync::MutexGuard<'a, State>,
        timeout: Option<Duration>,
    ) -> std::sync::MutexGuard<'a, State> {
        st.waiting += 1;
        let mut st = match timeout {
            None => crate::engine::sync::wait(&self.cv, st),
            Some(t) => crate::engine::sync::wait_timeout(&self.cv, st, t),
        };
        st.waiting -= 1;
        st
    }

    fn worker(self: Arc<Self>, model: Weak<Model>, instance: Arc<Instance>, index: usize) {
        if self.settings.batch_policy && !crate::sys::set_current_thread_batch_policy() {
            crate::log_verbose!(
                1,
                "instance thread of '{}' keeps the default scheduling policy",
                instance.name()
            );
        }
        while let Some(batch) = self.next_batch(index) {
            // A panic fails this batch's requests (RequestBatch), marks the model version
            // UNAVAILABLE with the reason, and the thread goes on: unload and stop never wait
            // for a thread that died.
            let batch = RequestBatch::new(batch);
            let panicked = crate::engine::workers::guarded("model instance thread", || {
                self.run_batch(&model, &instance, index, batch)
            });
            if let (Some(text), Some(m)) = (panicked, model.upgrade()) {
                m.report_fault(&text);
            }
        }
        if self.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            let _g = lock(&self.idle_lock);
            self.idle_cv.notify_all();
        }
    }

    /// Prepare one batch (sequence controls and states) and execute it on `instance`.
    fn run_batch(
        &self,
        model: &Weak<Model>,
        instance: &Instance,
        index: usize,
        mut batch: RequestBatch,
    ) {
        if let Some(seq) = &self.sequences {
            let mut ready = RequestBatch::new(Vec::new());
            for mut r in batch.take() {
                match seq.prepare(&mut r) {
                    Ok(()) => ready.push(r),
                    Err(e) => r.fail(&e),
                }
            }
            batch = ready;
            if batch.is_empty() {
                return;
            }
        }
        let Some(m) = model.upgrade() else {
            batch.fail_all(&Error::unavailable("model is no longer available"));
            return;
        };
        let _executing = self.executing.get(index).map(lock);
        m.execute(instance, batch.take());
    }

    /// The index of an active instance.
    fn index_of(&self, inst: &Instance) -> Option<usize> {
        self.active
            .iter()
            .position(|a| std::ptr::eq(Arc::as_ptr(a), inst))
    }

    /// Take an instance out of scheduling (its worker takes no new batch; the siblings take
    /// the queue), then wait until `deadline` for its execution in progress to end. On success
    /// the returned guard keeps the instance from executing until dropped; call
    /// [`Scheduler::resume`] to put it back into scheduling.
    pub(crate) fn pause(
        &self,
        inst: &Instance,
        deadline: Instant,
    ) -> Option<std::sync::MutexGuard<'_, ()>> {
        let index = self.index_of(inst)?;
        lock(&self.state).paused[index] = true;
        loop {
            match self.executing[index].try_lock() {
                Ok(g) => return Some(g),
                Err(std::sync::TryLockError::Poisoned(p)) => return Some(p.into_inner()),
                Err(std::sync::TryLockError::WouldBlock) if Instant::now() >= deadline => {
                    return None
                }
                Err(std::sync::TryLockError::WouldBlock) => {
                    std::thread::sleep(Duration::from_millis(1))
                }
            }
        }
    }

    /// Put a paused instance back into scheduling.
    pub(crate) fn resume(&self, inst: &Instance) {
        if let Some(index) = self.index_of(inst) {
            lock(&self.state).paused[index] = false;
            self.cv.notify_all();
        }
    }

    /// An instance failed for good. When no active instance is left, queued requests are
    /// answered with UNAVAILABLE and new ones refused; its own sequences' requests too.
    pub(crate) fn fail_instance(&self, inst: &Instance, reason: &str) {
        let Some(index) = self.index_of(inst) else {
            return;
        };
        let mut st = lock(&self.state);
        st.paused[index] = false;
        st.failed[index] = Some(reason.to_owned());
        let mut stranded: Vec<Box<InferenceRequest>> = st.per_instance[index].drain(..).collect();
        if st.all_failed().is_some() {
            for q in st.levels.iter_mut() {
                stranded.extend(q.drain(..).map(|i| i.request));
            }
            st.with_deadline = 0;
        }
        drop(st);
        self.cv.notify_all();
        let e = Error::unavailable(format!(
            "instance '{}' failed and could not be restarted: {reason}",
            inst.name()
        ));
        for r in stranded {
            r.fail(&e);
        }
    }

    /// Stop accepting new requests (queued ones still run).
    pub fn stop_accepting(&self) {
        lock(&self.state).accepting = false;
    }

    /// Let the workers finish the queue and exit, and wait for them and for executions on
    /// callers' threads. Called when the model version is finalized: no request of it is left,
    /// so this waits at most for an execution whose backend released its requests but has not
    /// returned yet.
    pub fn shutdown(&self) {
        {
            let mut st = lock(&self.state);
            st.accepting = false;
            st.stopping = true;
        }
        self.cv.notify_all();
        let mut g = lock(&self.idle_lock);
        while self.running.load(Ordering::Acquire) > 0 {
            g = crate::engine::sync::wait_timeout(&self.idle_cv, g, Duration::from_millis(50));
        }
        drop(g);
        let workers: Vec<JoinHandle<()>> = lock(&self.workers).drain(..).collect();
        for h in workers {
            let _ = h.join();
        }
        // Callers still executing on their own threads (caller-thread execution).
        for m in &self.executing {
            drop(lock(m));
        }
    }
}
