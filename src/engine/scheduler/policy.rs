//! What a model's configuration says about queueing: batching (dynamic or one request per
//! execution), priority levels and their queue policies (timeouts, maximum queue size).

use std::time::Duration;

use triton_model_config::pb;
use triton_model_config::pb::model_config::SchedulingChoice;

/// How long a request may wait, and what happens when it waited too long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct QueuePolicy {
    /// 0: no limit.
    pub(super) default_timeout_us: u64,
    pub(super) allow_timeout_override: bool,
    /// 0: unlimited.
    pub(super) max_queue_size: u64,
    pub(super) reject_on_timeout: bool,
}

impl QueuePolicy {
    pub(super) fn from_config(p: Option<&pb::ModelQueuePolicy>) -> QueuePolicy {
        match p {
            None => QueuePolicy {
                default_timeout_us: 0,
                allow_timeout_override: false,
                max_queue_size: 0,
                reject_on_timeout: true,
            },
            Some(p) => QueuePolicy {
                default_timeout_us: p.default_timeout_microseconds,
                allow_timeout_override: p.allow_timeout_override,
                max_queue_size: u64::from(p.max_queue_size),
                reject_on_timeout: p.timeout_action
                    == pb::model_queue_policy::TimeoutAction::Reject as i32,
            },
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Policy {
    pub(super) dynamic: bool,
    pub(super) max_batch_size: u64,
    pub(super) preferred: Vec<u64>,
    pub(super) max_delay: Duration,
    pub(super) priority_levels: u64,
    pub(super) default_priority: u64,
    pub(super) default_queue: QueuePolicy,
    pub(super) level_queues: Vec<(u64, QueuePolicy)>,
}

impl Policy {
    pub(super) fn from_config(cfg: &pb::ModelConfig) -> Policy {
        let max_batch_size = u64::try_from(cfg.max_batch_size).unwrap_or(0);
        match &cfg.scheduling_choice {
            Some(SchedulingChoice::DynamicBatching(db)) => Policy {
                dynamic: true,
                max_batch_size: max_batch_size.max(1),
                preferred: db
                    .preferred_batch_size
                    .iter()
                    .filter_map(|p| u64::try_from(*p).ok())
                    .collect(),
                max_delay: Duration::from_micros(db.max_queue_delay_microseconds),
                priority_levels: db.priority_levels,
                default_priority: db.default_priority_level,
                default_queue: QueuePolicy::from_config(db.default_queue_policy.as_ref()),
                level_queues: db
                    .priority_queue_policy
                    .iter()
                    .map(|(k, v)| (*k, QueuePolicy::from_config(Some(v))))
                    .collect(),
            },
            _ => Policy {
                dynamic: false,
                max_batch_size: max_batch_size.max(1),
                preferred: Vec::new(),
                max_delay: Duration::ZERO,
                priority_levels: 0,
                default_priority: 0,
                default_queue: QueuePolicy::from_config(None),
                level_queues: Vec::new(),
            },
        }
    }

    pub(super) fn queue_policy(&self, level: u64) -> QueuePolicy {
        self.level_queues
            .iter()
            .find(|(l, _)| *l == level)
            .map(|(_, q)| *q)
            .unwrap_or(self.default_queue)
    }
}
