//! The queue state of one model version: requests by priority level (or per instance for the
//! sequence batcher), which instances are out of scheduling or failed, and expiry of queued
//! requests.

use std::collections::VecDeque;
use std::time::Instant;

use crate::engine::infer::InferenceRequest;

pub(super) struct Queued {
    pub(super) request: Box<InferenceRequest>,
    /// Deadline after which the request times out in the queue.
    pub(super) deadline: Option<Instant>,
    pub(super) enqueued: Instant,
}

#[derive(Default)]
pub(super) struct State {
    /// One queue per priority level (index 0 = highest priority).
    pub(super) levels: Vec<VecDeque<Queued>>,
    /// Sequence batching: one queue per instance, in arrival order.
    pub(super) per_instance: Vec<VecDeque<Box<InferenceRequest>>>,
    /// Queued requests that have a deadline (none: the expiry scan is skipped).
    pub(super) with_deadline: usize,
    pub(super) accepting: bool,
    pub(super) stopping: bool,
    /// Workers asleep on the condition variable: a notify is a syscall even with nobody
    /// waiting, so enqueue skips it when this is zero.
    pub(super) waiting: usize,
    /// Per active instance: taken out of scheduling while it restarts.
    pub(super) paused: Vec<bool>,
    /// Per active instance: failed for good (a restart gave up), with why.
    pub(super) failed: Vec<Option<String>>,
}

impl State {
    /// Why no active instance can take requests, when none can.
    pub(super) fn all_failed(&self) -> Option<&str> {
        if self.failed.iter().all(Option::is_some) {
            self.failed.iter().flatten().next().map(String::as_str)
        } else {
            None
        }
    }
}

impl State {
    pub(super) fn len(&self) -> usize {
        self.levels.iter().map(VecDeque::len).sum::<usize>()
            + self.per_instance.iter().map(VecDeque::len).sum::<usize>()
    }
    pub(super) fn front(&self) -> Option<&Queued> {
        self.levels.iter().find_map(VecDeque::front)
    }
}

/// Remove requests whose queue deadline passed.
pub(super) fn take_expired(st: &mut State) -> Vec<Box<InferenceRequest>> {
    if st.with_deadline == 0 {
        return Vec::new();
    }
    let now = Instant::now();
    let mut out = Vec::new();
    for q in st.levels.iter_mut() {
        if q.iter().any(|i| i.deadline.is_some_and(|d| d <= now)) {
            let (keep, expired): (VecDeque<Queued>, VecDeque<Queued>) = q
                .drain(..)
                .partition(|i| i.deadline.is_none_or(|d| d > now));
            *q = keep;
            st.with_deadline -= expired.len();
            out.extend(expired.into_iter().map(|i| i.request));
        }
    }
    out
}
