//! A background thread that polls the model repository at an interval, for frontends that offer
//! `--repository-poll-secs` (the core itself has no interval option).

use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use super::Server;
use crate::engine::error::{Error, Result};

/// A running poll thread; stopped (and joined) by [`PollThread::stop`] or on drop. It holds only
/// a weak reference to the server and ends by itself once the server is gone.
pub struct PollThread {
    stop: Arc<(Mutex<bool>, Condvar)>,
    handle: Option<JoinHandle<()>>,
}

impl Server {
    /// Start polling the repository every `interval` (POLL mode only). Errors of one poll are
    /// logged and polling goes on.
    pub fn start_poll_thread(self: &Arc<Self>, interval: Duration) -> Result<PollThread> {
        if self.control_mode() != crate::engine::types::ModelControlMode::Poll {
            return Err(Error::unavailable("polling is disabled"));
        }
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let weak: Weak<Server> = Arc::downgrade(self);
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("repository-poll".into())
            .spawn(move || loop {
                {
                    let (lock, cv) = &*flag;
                    let deadline = std::time::Instant::now() + interval;
                    let mut stopped = crate::engine::sync::lock(lock);
                    while !*stopped {
                        let now = std::time::Instant::now();
                        if now >= deadline {
                            break;
                        }
                        stopped = crate::engine::sync::wait_timeout(cv, stopped, deadline - now);
                    }
                    if *stopped {
                        return;
                    }
                }
                let Some(server) = weak.upgrade() else { return };
                // A panic in one poll is logged and polling goes on.
                crate::engine::workers::guarded("repository poll", || {
                    if let Err(e) = server.poll_repository() {
                        crate::log_error!("failed to poll model repository: {}", e.message());
                    }
                });
            })
            .map_err(|e| Error::internal(format!("failed to start the poll thread: {e}")))?;
        Ok(PollThread {
            stop,
            handle: Some(handle),
        })
    }
}

impl PollThread {
    /// Stop polling and wait for a poll in progress to finish.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        {
            let (lock, cv) = &*self.stop;
            *crate::engine::sync::lock(lock) = true;
            cv.notify_all();
        }
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for PollThread {
    fn drop(&mut self) {
        self.shutdown();
    }
}
