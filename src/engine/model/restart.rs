//! Self-healing instances (opt-in): an instance that fails its readiness check
//! [`RestartPolicy::after_failures`] times in a row is taken out of scheduling, drained (its
//! execution in progress ends first, bounded), finalized and initialized again through its
//! backend, with exponential backoff between failed attempts and a cap after which it stays
//! failed and says why. Its siblings keep serving meanwhile; when no instance of the model is
//! left, queued and new requests get UNAVAILABLE instead of waiting.
//!
//! A restart never finalizes under a call in flight: it waits for the instance's execution,
//! and its gate must close with no readiness call inside (a hung hook postpones the attempt).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::readiness::{RestartPolicy, RestartStart};
use super::{warmup, Instance, Model};
use crate::engine::workers;

/// Model configuration parameters that override the server's restart policy for one model:
/// `triton_core.instance_restart` ("true"/"false"), and the numbers below.
pub const PARAM_RESTART: &str = "triton_core.instance_restart";
pub const PARAM_AFTER_FAILURES: &str = "triton_core.instance_restart_after_failures";
pub const PARAM_MAX_ATTEMPTS: &str = "triton_core.instance_restart_max_attempts";
pub const PARAM_BACKOFF_BASE_MS: &str = "triton_core.instance_restart_backoff_base_ms";
pub const PARAM_BACKOFF_CAP_MS: &str = "triton_core.instance_restart_backoff_cap_ms";

/// How long a restart waits for the instance's execution in progress, and for readiness calls
/// inside its gate, before it postpones the attempt.
const DRAIN: Duration = Duration::from_secs(10);

impl Model {
    /// The restart policy of this version: the server's, overridden by the model's parameters.
    pub(crate) fn restart_policy(&self) -> RestartPolicy {
        let mut p = self.ctx.readiness.restart.clone();
        let config = self.config();
        let param = |k: &str| {
            config
                .parameters
                .get(k)
                .map(|v| v.string_value.trim().to_owned())
        };
        if let Some(v) = param(PARAM_RESTART) {
            p.enabled = matches!(v.as_str(), "true" | "1" | "on");
        }
        let num = |k: &str| param(k).and_then(|v| v.parse::<u64>().ok());
        if let Some(n) = num(PARAM_AFTER_FAILURES) {
            p.after_failures = n.clamp(1, u64::from(u32::MAX)) as u32;
        }
        if let Some(n) = num(PARAM_MAX_ATTEMPTS) {
            p.max_attempts = n.min(u64::from(u32::MAX)) as u32;
        }
        if let Some(n) = num(PARAM_BACKOFF_BASE_MS) {
            p.backoff_base = Duration::from_millis(n);
        }
        if let Some(n) = num(PARAM_BACKOFF_CAP_MS) {
            p.backoff_cap = Duration::from_millis(n);
        }
        p
    }

    /// Start restarting `inst` (once: a restart in progress or given up is left alone).
    pub(crate) fn restart_instance(self: &Arc<Self>, inst: &Arc<Instance>) {
        let policy = self.restart_policy();
        let max = policy.max_attempts;
        let start = inst
            .ready_cell()
            .begin_restart(inst.name(), stable_after(&policy), max, |n| {
                format!("not ready: restarting (attempt {n} of {max})")
            });
        let attempt = match start {
            RestartStart::Busy => return,
            RestartStart::GiveUp(why) => {
                crate::log_error!(
                    "model '{}' version {} instance {}: {why}",
                    self.name(),
                    self.version(),
                    inst.name()
                );
                if let Some(s) = self.scheduler.get() {
                    s.fail_instance(inst, &why);
                }
                return;
            }
            RestartStart::Attempt(n) => n,
        };
        crate::log_warn!(
            "model '{}' version {} instance {} failed {} readiness checks in a row; restarting it \
             (attempt {attempt} of {max})",
            self.name(),
            self.version(),
            inst.name(),
            policy.after_failures
        );
        let (m, i) = (self.clone(), inst.clone());
        if attempt == 1 {
            workers::submit("restarting an instance", move || m.restart_attempt(&i, 1));
        } else {
            // It died again soon after its last restart: back off as after a failed attempt.
            workers::at(
                Instant::now() + backoff(&policy, attempt - 1),
                "restarting an instance",
                move || m.restart_attempt(&i, attempt),
            );
        }
    }

    /// One attempt: out of scheduling, drained, finalized, initialized again.
    fn restart_attempt(self: &Arc<Self>, inst: &Arc<Instance>, attempt: u32) {
        let cell = inst.ready_cell();
        let policy = self.restart_policy();
        let (Some(backend), Some(sched)) = (&self.backend, self.scheduler.get()) else {
            cell.set_restart_note(None, false, false);
            return;
        };
        if self.is_retired() {
            // The version is going away: its finalization takes care of the instance.
            cell.set_restart_note(None, false, false);
            return;
        }
        let lib = backend.library();
        let deadline = Instant::now() + DRAIN;
        let outcome = match sched.pause(inst, deadline) {
            None => Err("an execution on the instance did not end".to_owned()),
            Some(executing) => {
                let lifecycle = inst.lifecycle_lock();
                let r = if self.is_retired() {
                    Ok(false)
                } else if !inst.gate().close(Some(deadline)) {
                    // A readiness call is still inside the backend: never finalize under it.
                    inst.gate().open();
                    Err("a readiness call is still inside the backend".to_owned())
                } else {
                    inst.finalize_locked(lib.as_ref());
                    inst.set_state(std::ptr::null_mut());
                    inst.initialize(lib.as_ref())
                        .and_then(|()| warmup::run(self, inst))
                        .map(|()| true)
                        .map_err(|e| {
                            inst.finalize_locked(lib.as_ref());
                            e.message().to_owned()
                        })
                };
                drop(lifecycle);
                drop(executing);
                r
            }
        };
        match outcome {
            Ok(restarted) => {
                cell.reset_answers();
                if restarted {
                    cell.restarted(attempt);
                }
                cell.set_restart_note(None, restarted, false);
                sched.resume(inst);
                if restarted {
                    crate::log_info!(
                        "model '{}' version {} instance {} restarted (attempt {attempt})",
                        self.name(),
                        self.version(),
                        inst.name()
                    );
                }
            }
            Err(why) if attempt >= policy.max_attempts => {
                let note = format!(
                    "not ready: instance {} could not be restarted after {attempt} attempt(s): {why}",
                    inst.name()
                );
                crate::log_error!("model '{}' version {}: {note}", self.name(), self.version());
                cell.set_restart_note(Some(note.clone()), false, true);
                sched.fail_instance(inst, &note);
            }
            Err(why) => {
                let wait = backoff(&policy, attempt);
                crate::log_warn!(
                    "model '{}' version {}: restart attempt {attempt} of instance {} failed: \
                     {why}; trying again in {} ms",
                    self.name(),
                    self.version(),
                    inst.name(),
                    wait.as_millis()
                );
                cell.set_restart_note(
                    Some(format!(
                        "not ready: restarting (attempt {} of {}; the last one failed: {why})",
                        attempt + 1,
                        policy.max_attempts
                    )),
                    false,
                    true,
                );
                let (m, i) = (self.clone(), inst.clone());
                workers::at(Instant::now() + wait, "restarting an instance", move || {
                    m.restart_attempt(&i, attempt + 1)
                });
            }
        }
    }
}

/// How long a restarted instance must keep working for its next failure to start a new streak
/// of attempts rather than continue the current one.
fn stable_after(p: &RestartPolicy) -> Duration {
    p.backoff_cap.max(Duration::from_secs(5))
}

/// The wait before attempt `attempt + 1`: the base doubled per failed attempt, capped.
fn backoff(p: &RestartPolicy, attempt: u32) -> Duration {
    let factor = 1u32
        .checked_shl(attempt.saturating_sub(1))
        .unwrap_or(u32::MAX);
    p.backoff_base
        .checked_mul(factor)
        .unwrap_or(p.backoff_cap)
        .min(p.backoff_cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RestartPolicy {
            backoff_base: Duration::from_millis(100),
            backoff_cap: Duration::from_millis(350),
            ..Default::default()
        };
        let waits: Vec<u128> = (1..=5).map(|a| backoff(&p, a).as_millis()).collect();
        assert_eq!(waits, vec![100, 200, 350, 350, 350]);
    }
}
