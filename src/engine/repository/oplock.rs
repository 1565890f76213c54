//! Serializing load and unload of one model, and counting background work.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::engine::backend::lock;

#[derive(Default)]
struct Flag {
    busy: Mutex<bool>,
    cv: Condvar,
}

/// One lock per model name. A load or unload holds its model's lock from start to finish, so
/// operations on one model run one at a time, while other models proceed in parallel. The guard
/// can move to another thread (an unload finishing in the background keeps it).
#[derive(Default)]
pub(crate) struct OpLocks {
    flags: Mutex<HashMap<String, Arc<Flag>>>,
}

/// Held while an operation on a model runs; released on drop.
pub(crate) struct OpGuard {
    flag: Arc<Flag>,
}

impl OpLocks {
    /// Wait until no other operation runs on `name`, then hold its lock.
    pub fn acquire(&self, name: &str) -> OpGuard {
        let flag = lock(&self.flags)
            .entry(name.to_owned())
            .or_default()
            .clone();
        {
            let mut busy = lock(&flag.busy);
            while *busy {
                busy = flag.cv.wait(busy).unwrap_or_else(|p| p.into_inner());
            }
            *busy = true;
        }
        OpGuard { flag }
    }
}

impl Drop for OpGuard {
    fn drop(&mut self) {
        *lock(&self.flag.busy) = false;
        self.flag.cv.notify_one();
    }
}

/// Counts work running in the background (unloads), so that stopping the server can wait for it.
#[derive(Default)]
pub(crate) struct PendingOps {
    count: Mutex<usize>,
    cv: Condvar,
}

impl PendingOps {
    /// One more piece of background work; pair with [`PendingOps::end`].
    pub fn begin(&self) {
        *lock(&self.count) += 1;
    }

    /// One piece of background work finished.
    pub fn end(&self) {
        let mut n = lock(&self.count);
        *n = n.saturating_sub(1);
        if *n == 0 {
            self.cv.notify_all();
        }
    }

    /// Wait until no background work is left, or the timeout passes; true if none is left.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut n = lock(&self.count);
        while *n > 0 {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            n = self
                .cv
                .wait_timeout(n, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn one_operation_per_model_at_a_time() {
        let locks = Arc::new(OpLocks::default());
        let inside = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (locks, inside, max) = (locks.clone(), inside.clone(), max.clone());
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        let _g = locks.acquire("m");
                        let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        max.fetch_max(n, Ordering::SeqCst);
                        std::thread::yield_now();
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(max.load(Ordering::SeqCst), 1);
        // Another model is not blocked by a held lock.
        let _a = locks.acquire("a");
        let _b = locks.acquire("b");
    }

    #[test]
    fn guard_moves_across_threads() {
        let locks = Arc::new(OpLocks::default());
        let g = locks.acquire("m");
        let t = std::thread::spawn(move || drop(g));
        t.join().unwrap();
        let _again = locks.acquire("m");
    }

    #[test]
    fn pending_wait() {
        let p = PendingOps::default();
        assert!(p.wait_idle(Duration::from_millis(1)));
        p.begin();
        assert!(!p.wait_idle(Duration::from_millis(5)));
        p.end();
        assert!(p.wait_idle(Duration::from_millis(1)));
    }
}
