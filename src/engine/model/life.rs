//! When a loaded model version may be finalized: after it was retired (unloaded, replaced by a
//! reload, or the server stops) **and** its last use is gone.
//!
//! Uses are what the backend can still be working on or calling with: every accepted request
//! until it is released, every response factory a backend holds, every `ModelInstanceExecute`
//! and every readiness hook call in progress. They are counted in one word together with a
//! retired flag, as upstream's shared ownership of a model does: whoever drops the last use of a
//! retired version (a backend releasing a request on its own thread, a readiness call
//! returning) starts the finalization, which then runs on a background worker, never on the
//! thread that happened to drop the use (it may be a backend thread the finalization would wait
//! for).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::Model;

const RETIRED: usize = 1 << (usize::BITS - 1);

/// The use count and retired flag of one model version.
#[derive(Debug, Default)]
pub(crate) struct Life {
    word: AtomicUsize,
}

impl Life {
    /// A new use, unless the version is retired.
    pub(crate) fn try_use(&self) -> bool {
        let mut cur = self.word.load(Ordering::Acquire);
        loop {
            if cur & RETIRED != 0 {
                return false;
            }
            match self
                .word
                .compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    /// A new use derived from one the caller holds (a response factory of a request, an
    /// execution of requests): allowed after retirement, since the count cannot be zero.
    pub(crate) fn add_use(&self) {
        let before = self.word.fetch_add(1, Ordering::AcqRel);
        debug_assert!(
            before & !RETIRED > 0,
            "a derived use needs a use that is already held"
        );
    }

    /// Drop a use; true when it was the last one of a retired version (finalize it now).
    pub(crate) fn drop_use(&self) -> bool {
        self.word.fetch_sub(1, Ordering::AcqRel) == RETIRED + 1
    }

    /// Retire the version; true when no use is held (finalize it now). Retiring twice is
    /// harmless and returns false the second time.
    pub(crate) fn retire(&self) -> bool {
        self.word.fetch_or(RETIRED, Ordering::AcqRel) == 0
    }

    pub(crate) fn is_retired(&self) -> bool {
        self.word.load(Ordering::Acquire) & RETIRED != 0
    }

    /// Uses held now.
    pub(crate) fn uses(&self) -> usize {
        self.word.load(Ordering::Acquire) & !RETIRED
    }
}

/// One use of a model version (see the module documentation); dropping it may start the
/// version's finalization.
#[derive(Debug)]
pub struct ModelUse {
    model: Arc<Model>,
}

impl ModelUse {
    /// A new use of `model`, unless it is retired.
    pub(crate) fn try_new(model: &Arc<Model>) -> Option<ModelUse> {
        model.life().try_use().then(|| ModelUse {
            model: model.clone(),
        })
    }

    /// Another use of the same model (allowed after retirement: this one keeps it alive).
    pub(crate) fn derive(&self) -> ModelUse {
        self.model.life().add_use();
        ModelUse {
            model: self.model.clone(),
        }
    }
}

impl Drop for ModelUse {
    fn drop(&mut self) {
        if self.model.life().drop_use() {
            self.model.finalize_in_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_use_of_a_retired_version_finalizes_exactly_once() {
        let l = Life::default();
        assert!(l.try_use());
        assert!(l.try_use());
        assert!(!l.retire(), "uses are held");
        assert!(!l.retire(), "retiring twice");
        assert!(!l.try_use(), "no new use once retired");
        l.add_use();
        assert!(!l.drop_use());
        assert!(!l.drop_use());
        assert!(l.drop_use(), "the last use");
        assert_eq!(l.uses(), 0);
        assert!(l.is_retired());
    }

    #[test]
    fn retiring_an_unused_version_finalizes_at_once() {
        let l = Life::default();
        assert!(l.retire());
    }

    #[test]
    fn concurrent_uses_and_retirement_finalize_once() {
        for _ in 0..200 {
            let l = Arc::new(Life::default());
            let fired = Arc::new(AtomicUsize::new(0));
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    let (l, fired) = (l.clone(), fired.clone());
                    std::thread::spawn(move || {
                        for _ in 0..100 {
                            if l.try_use() && l.drop_use() {
                                fired.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                    })
                })
                .collect();
            if l.retire() {
                fired.fetch_add(1, Ordering::SeqCst);
            }
            for t in threads {
                t.join().unwrap();
            }
            assert_eq!(fired.load(Ordering::SeqCst), 1);
        }
    }
}
