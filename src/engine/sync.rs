//! The ground floor of the engine: locking with one poisoning policy, C strings, monotonic time.
//!
//! # Poisoned locks
//!
//! A lock is poisoned when a thread panicked while holding it. The engine's policy is to
//! **recover the data** and go on: every critical section in the engine is a plain assignment,
//! a push or a removal on a collection, or a counter update, so a panic inside one cannot leave
//! the guarded data half-written in a way later readers would misread; and every thread the
//! engine runs catches panics at its own boundary (see [`crate::engine::workers`] and the
//! scheduler), so a panic never takes the lock's owner down with it silently. Every lock in the
//! engine goes through the helpers below, so the policy lives in one place.

use std::ffi::CString;
use std::sync::{Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

/// Lock a mutex (recovering from poisoning, see the module documentation).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Read-lock an `RwLock` (recovering from poisoning).
pub fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

/// Write-lock an `RwLock` (recovering from poisoning).
pub fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

/// Wait on a condition variable (recovering from poisoning).
pub fn wait<'a, T>(cv: &Condvar, g: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cv.wait(g).unwrap_or_else(|p| p.into_inner())
}

/// Wait on a condition variable for at most `timeout` (recovering from poisoning).
pub fn wait_timeout<'a, T>(
    cv: &Condvar,
    g: MutexGuard<'a, T>,
    timeout: Duration,
) -> MutexGuard<'a, T> {
    cv.wait_timeout(g, timeout)
        .unwrap_or_else(|p| p.into_inner())
        .0
}

/// Take a value out of a mutex that is no longer shared (recovering from poisoning).
pub fn into_inner<T>(m: Mutex<T>) -> T {
    m.into_inner().unwrap_or_else(|p| p.into_inner())
}

/// A C string from text that cannot contain NUL bytes in practice (names, paths); a NUL is
/// replaced rather than failing.
pub fn c_string(s: &str) -> CString {
    CString::new(s.replace('\0', "\u{FFFD}")).unwrap_or_default()
}

/// Nanoseconds on the monotonic clock (what upstream's statistics and traces use).
pub fn monotonic_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| (t.tv_sec() as u64) * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

/// The text of a caught panic's payload.
pub fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

/// Counts work running in the background (versions retired and not yet finalized), so that
/// stopping the server can wait for it.
#[derive(Default)]
pub struct PendingOps {
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
            n = wait_timeout(&self.cv, n, deadline - now);
        }
        true
    }
}

/// A table of shared objects created on first use, where creating one calls foreign code (a
/// plugin library's initialization, which may call back into the server). The table's lock is
/// held only to find or add a key's slot; the creation runs with no lock held, and other
/// threads that need the same key wait for it. A creation that needs its own key again (a
/// callback from inside it) gets an error instead of a deadlock.
pub struct OnceMap<K, V> {
    slots: Mutex<std::collections::HashMap<K, std::sync::Arc<Slot<V>>>>,
}

struct Slot<V> {
    state: Mutex<SlotState<V>>,
    cv: Condvar,
}

enum SlotState<V> {
    Empty,
    Creating(std::thread::ThreadId),
    Ready(std::sync::Arc<V>),
}

impl<K: std::hash::Hash + Eq, V> Default for OnceMap<K, V> {
    fn default() -> Self {
        OnceMap {
            slots: Mutex::new(std::collections::HashMap::new()),
        }
    }
}

impl<K: std::hash::Hash + Eq, V> OnceMap<K, V> {
    /// The object for `key`, created by `create` if there is none yet (a failed creation
    /// leaves none). `busy` is the error for a creation that needs its own key.
    pub fn get_or_create<E>(
        &self,
        key: K,
        create: impl FnOnce() -> Result<std::sync::Arc<V>, E>,
        busy: impl FnOnce() -> E,
    ) -> Result<std::sync::Arc<V>, E> {
        let slot = lock(&self.slots)
            .entry(key)
            .or_insert_with(|| {
                std::sync::Arc::new(Slot {
                    state: Mutex::new(SlotState::Empty),
                    cv: Condvar::new(),
                })
            })
            .clone();
        {
            let me = std::thread::current().id();
            let mut st = lock(&slot.state);
            loop {
                match &*st {
                    SlotState::Ready(v) => return Ok(v.clone()),
                    SlotState::Creating(t) if *t == me => return Err(busy()),
                    SlotState::Creating(_) => st = wait(&slot.cv, st),
                    SlotState::Empty => break,
                }
            }
            *st = SlotState::Creating(me);
        }
        let created = create();
        *lock(&slot.state) = match &created {
            Ok(v) => SlotState::Ready(v.clone()),
            Err(_) => SlotState::Empty,
        };
        slot.cv.notify_all();
        created
    }

    /// Forget every object. The table is emptied under its lock and its contents dropped after
    /// it, so whatever dropping the last reference runs (a plugin's finalization) never runs
    /// under the lock.
    pub fn clear(&self) {
        let all = std::mem::take(&mut *lock(&self.slots));
        drop(all);
    }
}

/// Counts API calls in flight on an object so that stopping it can wait for every call that
/// started before the stop (and not for the ones that keep arriving after it). Calls are
/// counted in one of two slots by epoch; a wait moves the epoch on and waits for the old slot
/// to drain.
#[derive(Debug, Default)]
pub struct CallCounter {
    epoch: std::sync::atomic::AtomicUsize,
    slots: [std::sync::atomic::AtomicUsize; 2],
    /// Waits run one at a time (each flips the epoch).
    waiting: Mutex<()>,
}

/// One call in flight; ends when dropped.
#[derive(Debug)]
pub struct CallGuard<'a> {
    counter: &'a CallCounter,
    slot: usize,
}

impl CallCounter {
    /// Count a call until the guard is dropped.
    pub fn enter(&self) -> CallGuard<'_> {
        use std::sync::atomic::Ordering::SeqCst;
        loop {
            let e = self.epoch.load(SeqCst);
            let slot = e & 1;
            self.slots[slot].fetch_add(1, SeqCst);
            if self.epoch.load(SeqCst) == e {
                return CallGuard {
                    counter: self,
                    slot,
                };
            }
            // The epoch moved while counting: count in the new slot instead.
            self.slots[slot].fetch_sub(1, SeqCst);
        }
    }

    /// Wait until every call that entered before this call has ended, or `deadline`; true
    /// when they all did.
    pub fn wait_earlier(&self, deadline: Instant) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        let _one = lock(&self.waiting);
        let slot = self.epoch.fetch_add(1, SeqCst) & 1;
        while self.slots[slot].load(SeqCst) > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    /// Calls in flight now.
    pub fn in_flight(&self) -> usize {
        use std::sync::atomic::Ordering::SeqCst;
        self.slots[0].load(SeqCst) + self.slots[1].load(SeqCst)
    }
}

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        self.counter.slots[self.slot].fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_lock_is_recovered() {
        let m = std::sync::Arc::new(Mutex::new(1));
        let m2 = m.clone();
        let _ = std::thread::spawn(move || {
            let _g = m2.lock().unwrap();
            panic!("poison it");
        })
        .join();
        assert!(m.is_poisoned());
        *lock(&m) += 1;
        assert_eq!(*lock(&m), 2);
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

    #[test]
    fn a_stop_waits_for_earlier_calls_only() {
        let c = std::sync::Arc::new(CallCounter::default());
        let early = c.enter();
        let c2 = c.clone();
        let waiter =
            std::thread::spawn(move || c2.wait_earlier(Instant::now() + Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(20));
        // Calls arriving now do not hold the wait up.
        let late = c.enter();
        assert!(!waiter.is_finished(), "an earlier call is still in flight");
        drop(early);
        assert!(waiter.join().unwrap());
        assert_eq!(c.in_flight(), 1);
        drop(late);
        assert!(!{
            let g = c.enter();
            let r = c.wait_earlier(Instant::now() + Duration::from_millis(5));
            drop(g);
            r
        });
    }

    #[test]
    fn c_strings_never_fail() {
        assert_eq!(c_string("a\0b").to_str().unwrap(), "a\u{FFFD}b");
        assert!(monotonic_ns() > 0);
    }
}
