//! Background threads of the engine: process-wide pools for lifecycle work (finalizing retired
//! model versions, restarting instances) and for readiness hook calls, and a timer.
//!
//! Every job runs inside a panic boundary: a panicking job is logged with its name and the
//! thread goes on with the next one, so a panic never strands the work queued behind it.
//! Threads start on demand (up to a pool's maximum at once) and end after a few idle seconds,
//! so a process that never unloads anything never runs one.

use std::collections::{BinaryHeap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Condvar, LazyLock, Mutex};
use std::time::{Duration, Instant};

use super::sync::{lock, panic_text, wait_timeout};

/// A pool thread with nothing to do for this long ends.
const IDLE: Duration = Duration::from_secs(5);

type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct PoolState {
    queue: VecDeque<(&'static str, Job)>,
    threads: usize,
    idle: usize,
}

/// A pool of threads started on demand, at most `max` at once.
pub struct Pool {
    name: &'static str,
    max: usize,
    state: Mutex<PoolState>,
    cv: Condvar,
}

/// Lifecycle work: finishing unloads, finalizing retired versions, restarting instances.
pub static LIFECYCLE: Pool = Pool::new("triton-lifecycle", 8);
/// Calls of backends' readiness hooks (a hung hook holds one of these, never a caller).
pub static READINESS: Pool = Pool::new("triton-readiness", 32);

/// Run `f` inside a panic boundary; a panic is logged as the failure of job `what` and its
/// message returned.
pub fn guarded(what: &str, f: impl FnOnce()) -> Option<String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => None,
        Err(p) => {
            let text = panic_text(p.as_ref());
            crate::log_error!("internal error in triton-core ({what}): {text}");
            Some(text)
        }
    }
}

/// Run `job` on a lifecycle thread (see [`Pool::submit`]).
pub fn submit(what: &'static str, job: impl FnOnce() + Send + 'static) {
    LIFECYCLE.submit(what, job);
}

impl Pool {
    const fn new(name: &'static str, max: usize) -> Pool {
        Pool {
            name,
            max,
            state: Mutex::new(PoolState {
                queue: VecDeque::new(),
                threads: 0,
                idle: 0,
            }),
            cv: Condvar::new(),
        }
    }

    /// Run `job` on a pool thread. When no thread can be started, it runs on the calling
    /// thread.
    pub fn submit(&'static self, what: &'static str, job: impl FnOnce() + Send + 'static) {
        let mut st = lock(&self.state);
        st.queue.push_back((what, Box::new(job)));
        if st.idle > 0 {
            drop(st);
            self.cv.notify_one();
            return;
        }
        if st.threads >= self.max {
            return;
        }
        st.threads += 1;
        drop(st);
        let spawned = std::thread::Builder::new()
            .name(self.name.into())
            .spawn(move || self.run());
        if let Err(e) = spawned {
            crate::log_error!(
                "failed to start a {} thread ({e}); running the work inline",
                self.name
            );
            let jobs: Vec<(&'static str, Job)> = {
                let mut st = lock(&self.state);
                st.threads -= 1;
                if st.threads > 0 {
                    // Another thread will take them.
                    return;
                }
                st.queue.drain(..).collect()
            };
            for (what, job) in jobs {
                guarded(what, job);
            }
        }
    }

    fn run(&self) {
        let mut st = lock(&self.state);
        loop {
            if let Some((what, job)) = st.queue.pop_front() {
                drop(st);
                guarded(what, job);
                st = lock(&self.state);
                continue;
            }
            st.idle += 1;
            let started = Instant::now();
            st = wait_timeout(&self.cv, st, IDLE);
            st.idle -= 1;
            if st.queue.is_empty() && started.elapsed() >= IDLE {
                st.threads -= 1;
                return;
            }
        }
    }
}

/// A job due at a point in time (ordered so that the earliest is on top of the heap).
struct Timed {
    due: Instant,
    seq: u64,
    what: &'static str,
    job: Job,
}

impl PartialEq for Timed {
    fn eq(&self, o: &Self) -> bool {
        self.due == o.due && self.seq == o.seq
    }
}
impl Eq for Timed {}
impl PartialOrd for Timed {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Timed {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        o.due.cmp(&self.due).then(o.seq.cmp(&self.seq))
    }
}

#[derive(Default)]
struct TimerState {
    heap: BinaryHeap<Timed>,
    seq: u64,
    running: bool,
}

struct Timer {
    state: Mutex<TimerState>,
    cv: Condvar,
}

static TIMER: LazyLock<Timer> = LazyLock::new(|| Timer {
    state: Mutex::new(TimerState::default()),
    cv: Condvar::new(),
});

/// Run `job` on a pool thread once `due` has passed. Jobs that decide they are no longer
/// needed simply do nothing (there is no cancellation).
pub fn at(due: Instant, what: &'static str, job: impl FnOnce() + Send + 'static) {
    let t = &*TIMER;
    let mut st = lock(&t.state);
    st.seq += 1;
    let seq = st.seq;
    st.heap.push(Timed {
        due,
        seq,
        what,
        job: Box::new(job),
    });
    let start = !st.running;
    st.running = true;
    drop(st);
    t.cv.notify_one();
    if start {
        let spawned = std::thread::Builder::new()
            .name("triton-timer".into())
            .spawn(timer_thread);
        if let Err(e) = spawned {
            crate::log_error!("failed to start the timer thread: {e}");
            lock(&t.state).running = false;
        }
    }
}

fn timer_thread() {
    let t = &*TIMER;
    let mut st = lock(&t.state);
    loop {
        let now = Instant::now();
        match st.heap.peek() {
            Some(top) if top.due <= now => {
                if let Some(due) = st.heap.pop() {
                    submit(due.what, due.job);
                }
            }
            Some(top) => {
                let wait = top.due - now;
                st = wait_timeout(&t.cv, st, wait);
            }
            None => {
                st = wait_timeout(&t.cv, st, IDLE);
                if st.heap.is_empty() {
                    st.running = false;
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn wait_for(f: impl Fn() -> bool) -> bool {
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if f() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        false
    }

    #[test]
    fn jobs_run_and_a_panic_does_not_stop_the_pool() {
        let n = Arc::new(AtomicUsize::new(0));
        submit("test panic", || panic!("boom"));
        for _ in 0..20 {
            let n = n.clone();
            submit("test job", move || {
                n.fetch_add(1, Ordering::SeqCst);
            });
        }
        assert!(wait_for(|| n.load(Ordering::SeqCst) == 20));
        assert_eq!(guarded("x", || panic!("text")).as_deref(), Some("text"));
    }

    #[test]
    fn timed_jobs_run_in_order_after_their_time() {
        let order = Arc::new(Mutex::new(Vec::new()));
        let start = Instant::now();
        for (i, ms) in [(2, 60u64), (1, 20)] {
            let order = order.clone();
            at(start + Duration::from_millis(ms), "test timer", move || {
                lock(&order).push((i, start.elapsed()));
            });
        }
        assert!(wait_for(|| lock(&order).len() == 2));
        let got = lock(&order).clone();
        assert_eq!(got[0].0, 1);
        assert!(got[0].1 >= Duration::from_millis(20));
        assert!(got[1].1 >= Duration::from_millis(60));
    }
}
