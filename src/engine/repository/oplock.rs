//! Serializing load and unload of one model.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use crate::engine::sync::lock;

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
        self.acquire_by(name, None)
            .expect("an acquisition without a deadline always succeeds")
    }

    /// [`OpLocks::acquire`], giving up at `deadline`.
    pub fn acquire_until(&self, name: &str, deadline: Instant) -> Option<OpGuard> {
        self.acquire_by(name, Some(deadline))
    }

    fn acquire_by(&self, name: &str, deadline: Option<Instant>) -> Option<OpGuard> {
        let flag = lock(&self.flags)
            .entry(name.to_owned())
            .or_default()
            .clone();
        {
            let mut busy = lock(&flag.busy);
            while *busy {
                busy = match deadline {
                    None => crate::engine::sync::wait(&flag.cv, busy),
                    Some(d) => {
                        let now = Instant::now();
                        if now >= d {
                            return None;
                        }
                        crate::engine::sync::wait_timeout(&flag.cv, busy, d - now)
                    }
                };
            }
            *busy = true;
        }
        Some(OpGuard { flag })
    }
}

impl Drop for OpGuard {
    fn drop(&mut self) {
        *lock(&self.flag.busy) = false;
        self.flag.cv.notify_one();
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
}
