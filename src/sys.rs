//! The few operating-system calls the engine needs that the standard library and `nix` do not
//! wrap safely.

/// Put the calling thread under the `SCHED_BATCH` policy (priority 0, its nice value kept):
/// the kernel then does not let this thread's wake-ups preempt the thread that woke it, so a
/// frontend that queues requests keeps its CPU until it blocks, and model-instance threads
/// take work in runs instead of one request per context switch. Returns false when the
/// kernel refused (the thread keeps its policy).
pub fn set_current_thread_batch_policy() -> bool {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid sched_param that outlives the call; pid 0 names the calling
    // thread; SCHED_BATCH with priority 0 needs no privilege.
    unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) == 0 }
}

#[cfg(test)]
mod tests {
    /// The scheduling policy of the calling thread: field 41 of `/proc/thread-self/stat`
    /// (after the parenthesised command name, which may contain spaces).
    fn policy() -> u32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        // Fields 3.. follow the name; policy is field 41.
        after
            .split_ascii_whitespace()
            .nth(41 - 3)
            .unwrap()
            .parse()
            .unwrap()
    }

    #[test]
    fn batch_policy_applies_to_the_calling_thread_only() {
        let before = policy();
        let in_thread = std::thread::spawn(|| {
            assert!(super::set_current_thread_batch_policy());
            policy()
        })
        .join()
        .unwrap();
        assert_eq!(in_thread, libc::SCHED_BATCH as u32);
        assert_eq!(policy(), before);
    }
}
