//! The gate every call into a backend with an instance goes through.
//!
//! An instance's gate is **open** between the backend's `ModelInstanceInitialize` returning OK
//! and the start of its `ModelInstanceFinalize`. Each call into the backend with the instance
//! (`ModelInstanceExecute`, `ModelInstanceReady`) holds a [`Entered`] pass for its duration,
//! taken shared; [`Gate::close`] refuses new passes and waits until the last one is returned,
//! and only then may the instance be finalized. A call that finds the gate closed does not
//! reach the backend.
//!
//! The backend traits take these passes instead of bare instances
//! ([`crate::engine::backend::BackendLibrary`]), and only this module can make them, so a
//! backend call that skips the gate does not compile.

use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::Instance;
use crate::engine::sync::{lock, wait_timeout};

/// Set while the gate refuses new passes.
const CLOSED: u64 = 1 << 63;

/// The gate of one instance: a count of passes out and a closed flag, in one word.
#[derive(Debug)]
pub(crate) struct Gate {
    word: AtomicU64,
    /// Wakes a closer waiting for the last pass (used only while closed).
    waiters: Mutex<()>,
    cv: Condvar,
}

impl Default for Gate {
    /// A gate starts closed: the instance is not initialized yet.
    fn default() -> Self {
        Gate {
            word: AtomicU64::new(CLOSED),
            waiters: Mutex::new(()),
            cv: Condvar::new(),
        }
    }
}

impl Gate {
    /// Take a pass; `false` when the gate is closed (nothing was taken).
    fn enter(&self) -> bool {
        let before = self.word.fetch_add(1, Ordering::AcqRel);
        if before & CLOSED == 0 {
            return true;
        }
        self.exit();
        false
    }

    /// Return a pass; wakes a closer when it was the last one.
    fn exit(&self) {
        let after = self.word.fetch_sub(1, Ordering::AcqRel) - 1;
        if after == CLOSED {
            let _g = lock(&self.waiters);
            self.cv.notify_all();
        }
    }

    /// Let calls in (after the backend initialized the instance).
    pub(crate) fn open(&self) {
        self.word.fetch_and(!CLOSED, Ordering::AcqRel);
    }

    /// Refuse new passes, then wait until every pass out is returned or `deadline` passes.
    /// True when no call is inside any more (the instance may be finalized); the gate stays
    /// closed either way.
    pub(crate) fn close(&self, deadline: Option<Instant>) -> bool {
        self.word.fetch_or(CLOSED, Ordering::AcqRel);
        let mut g = lock(&self.waiters);
        loop {
            if self.word.load(Ordering::Acquire) == CLOSED {
                return true;
            }
            let wait = match deadline {
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return false;
                    }
                    (d - now).min(Duration::from_millis(50))
                }
                // The timeout only guards against a missed wake-up.
                None => Duration::from_millis(50),
            };
            g = wait_timeout(&self.cv, g, wait);
        }
    }

    /// Whether the gate lets calls in.
    pub(crate) fn is_open(&self) -> bool {
        self.word.load(Ordering::Acquire) & CLOSED == 0
    }

    /// Calls inside now.
    pub(crate) fn inside(&self) -> u64 {
        self.word.load(Ordering::Acquire) & !CLOSED
    }
}

/// A pass through an instance's gate: proof that a backend call with this instance may run
/// now, because the instance is initialized and not being finalized. Dereferences to the
/// instance; returned when dropped.
#[derive(Debug)]
pub struct Entered<'a> {
    instance: &'a Instance,
}

impl<'a> Entered<'a> {
    /// A pass for `instance`, if its gate is open.
    pub(crate) fn new(instance: &'a Instance) -> Option<Entered<'a>> {
        // `then`, not `then_some`: a pass must exist only when the gate let it in (its drop
        // returns it).
        instance.gate().enter().then(|| Entered { instance })
    }
}

impl Deref for Entered<'_> {
    type Target = Instance;
    fn deref(&self) -> &Instance {
        self.instance
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        self.instance.gate().exit();
    }
}

/// Proof that an instance is between its creation and its gate opening: the only state in
/// which `ModelInstanceInitialize` may run. Made by the model's loading code only.
#[derive(Debug)]
pub struct Initializing<'a> {
    instance: &'a Instance,
}

impl<'a> Initializing<'a> {
    pub(crate) fn new(instance: &'a Instance) -> Initializing<'a> {
        Initializing { instance }
    }
}

impl Deref for Initializing<'_> {
    type Target = Instance;
    fn deref(&self) -> &Instance {
        self.instance
    }
}

/// Proof that an instance's gate is closed with no call inside: the only state in which
/// `ModelInstanceFinalize` may run. Made by [`Instance::finalize`] only.
#[derive(Debug)]
pub struct Finalizing<'a> {
    instance: &'a Instance,
}

impl<'a> Finalizing<'a> {
    pub(crate) fn new(instance: &'a Instance) -> Finalizing<'a> {
        debug_assert!(!instance.gate().is_open() && instance.gate().inside() == 0);
        Finalizing { instance }
    }
}

impl Deref for Finalizing<'_> {
    type Target = Instance;
    fn deref(&self) -> &Instance {
        self.instance
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    #[test]
    fn closed_gates_refuse_and_close_waits_for_calls_inside() {
        let g = Arc::new(Gate::default());
        assert!(!g.enter(), "a new gate is closed");
        g.open();
        assert!(g.enter());
        let done = Arc::new(AtomicBool::new(false));
        let (g2, d2) = (g.clone(), done.clone());
        let closer = std::thread::spawn(move || {
            assert!(g2.close(None));
            d2.store(true, Ordering::SeqCst);
        });
        std::thread::sleep(Duration::from_millis(30));
        assert!(
            !done.load(Ordering::SeqCst),
            "close must wait for the call inside"
        );
        assert!(!g.enter(), "a closing gate refuses new calls");
        g.exit();
        closer.join().unwrap();
        assert!(done.load(Ordering::SeqCst));
        assert_eq!(g.inside(), 0);
        // Reopened after a restart.
        g.open();
        assert!(g.enter());
        g.exit();
    }

    #[test]
    fn close_gives_up_at_the_deadline_and_stays_closed() {
        let g = Gate::default();
        g.open();
        assert!(g.enter());
        assert!(!g.close(Some(Instant::now() + Duration::from_millis(20))));
        assert!(!g.is_open());
        g.exit();
        assert!(g.close(Some(Instant::now())));
    }
}
