//! Inference tracing (`TRITONSERVER_InferenceTrace`): trace objects with unique ids, parent ids
//! for child traces, a level, and the frontend's callbacks for timestamps and tensors.
//!
//! A trace is shared (`Arc<Trace>`): the frontend holds one reference, a request it was given to
//! holds another through a [`TraceProxy`]. When the request is done the proxy reports
//! `REQUEST_END` and calls the frontend's release callback, which usually deletes the trace.

use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::engine::buffer::DataBuffer;
use crate::engine::sync::monotonic_ns;
use crate::engine::sync::{c_string, lock};
use crate::engine::types::DataType;

/// `TRITONSERVER_TRACE_LEVEL_DISABLED`.
/// cbindgen:ignore
pub const LEVEL_DISABLED: u32 = 0;
/// `TRITONSERVER_TRACE_LEVEL_MIN` (deprecated; means TIMESTAMPS).
/// cbindgen:ignore
pub const LEVEL_MIN: u32 = 1;
/// `TRITONSERVER_TRACE_LEVEL_MAX` (deprecated; means TIMESTAMPS).
/// cbindgen:ignore
pub const LEVEL_MAX: u32 = 2;
/// `TRITONSERVER_TRACE_LEVEL_TIMESTAMPS`.
/// cbindgen:ignore
pub const LEVEL_TIMESTAMPS: u32 = 4;
/// `TRITONSERVER_TRACE_LEVEL_TENSORS`.
/// cbindgen:ignore
pub const LEVEL_TENSORS: u32 = 8;

/// The name of a trace level; `None` for anything but exactly one known level.
pub fn level_name(level: u32) -> Option<&'static str> {
    Some(match level {
        LEVEL_DISABLED => "DISABLED",
        LEVEL_MIN => "MIN",
        LEVEL_MAX => "MAX",
        LEVEL_TIMESTAMPS => "TIMESTAMPS",
        LEVEL_TENSORS => "TENSORS",
        _ => return None,
    })
}

/// The level a new trace records at: the deprecated MIN and MAX bits become TIMESTAMPS.
pub fn effective_level(level: u32) -> u32 {
    let mut l = level;
    for old in [LEVEL_MIN, LEVEL_MAX] {
        if l & old != 0 {
            l = (l ^ old) | LEVEL_TIMESTAMPS;
        }
    }
    l
}

/// A trace activity (`TRITONSERVER_InferenceTraceActivity`).
#[allow(
    clippy::enum_variant_names,
    reason = "the names mirror upstream's TRITONSERVER_TRACE_* activities, CUSTOM_ACTIVITY included"
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    RequestStart = 0,
    QueueStart = 1,
    ComputeStart = 2,
    ComputeInputEnd = 3,
    ComputeOutputStart = 4,
    ComputeEnd = 5,
    RequestEnd = 6,
    TensorQueueInput = 7,
    TensorBackendInput = 8,
    TensorBackendOutput = 9,
    CustomActivity = 10,
}

impl Activity {
    /// cbindgen:ignore
    pub const ALL: [Activity; 11] = [
        Activity::RequestStart,
        Activity::QueueStart,
        Activity::ComputeStart,
        Activity::ComputeInputEnd,
        Activity::ComputeOutputStart,
        Activity::ComputeEnd,
        Activity::RequestEnd,
        Activity::TensorQueueInput,
        Activity::TensorBackendInput,
        Activity::TensorBackendOutput,
        Activity::CustomActivity,
    ];

    pub fn from_u32(v: u32) -> Option<Activity> {
        Activity::ALL.get(usize::try_from(v).ok()?).copied()
    }

    pub fn name(self) -> &'static str {
        match self {
            Activity::RequestStart => "REQUEST_START",
            Activity::QueueStart => "QUEUE_START",
            Activity::ComputeStart => "COMPUTE_START",
            Activity::ComputeInputEnd => "COMPUTE_INPUT_END",
            Activity::ComputeOutputStart => "COMPUTE_OUTPUT_START",
            Activity::ComputeEnd => "COMPUTE_END",
            Activity::RequestEnd => "REQUEST_END",
            Activity::TensorQueueInput => "TENSOR_QUEUE_INPUT",
            Activity::TensorBackendInput => "TENSOR_BACKEND_INPUT",
            Activity::TensorBackendOutput => "TENSOR_BACKEND_OUTPUT",
            Activity::CustomActivity => "CUSTOM_ACTIVITY",
        }
    }
}

/// A tensor reported to the tensor activity callback.
#[derive(Debug)]
pub struct TraceTensor<'a> {
    pub name: &'a CStr,
    pub datatype: DataType,
    /// Shape including the batch dimension, as the backend sees it.
    pub shape: &'a [i64],
    /// The tensor's data, possibly in several pieces.
    pub buffers: &'a [DataBuffer],
}

/// The frontend's side of a trace: implemented by the C shell with the callbacks and user
/// pointer given to `TRITONSERVER_InferenceTraceNew`, and by tests in Rust.
pub trait TraceCallbacks: Send + Sync {
    /// A timestamp (monotonic ns) of an activity.
    fn activity(&self, trace: &Trace, activity: Activity, timestamp_ns: u64);
    /// A tensor of a request or response (only at the TENSORS level).
    fn tensor_activity(&self, trace: &Trace, activity: Activity, tensor: &TraceTensor<'_>);
    /// The core is done with the trace.
    fn release(&self, trace: &Trace);
}

#[derive(Debug, Default)]
struct Info {
    model_name: CString,
    model_version: i64,
    request_id: CString,
    context: CString,
}

/// Ids are unique over every trace of the process, starting at 1.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// One inference trace.
pub struct Trace {
    id: u64,
    parent_id: u64,
    level: u32,
    callbacks: Arc<dyn TraceCallbacks>,
    info: Mutex<Info>,
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trace")
            .field("id", &self.id)
            .field("parent_id", &self.parent_id)
            .field("level", &self.level)
            .finish()
    }
}

impl Trace {
    /// A new trace (`level` as given: the deprecated MIN/MAX bits are mapped to TIMESTAMPS).
    pub fn new(level: u32, parent_id: u64, callbacks: Arc<dyn TraceCallbacks>) -> Arc<Trace> {
        Arc::new(Trace {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            parent_id,
            level: effective_level(level),
            callbacks,
            info: Mutex::new(Info::default()),
        })
    }

    /// A child trace: same level and callbacks, this trace as parent, a new id.
    pub fn spawn_child(&self) -> Arc<Trace> {
        Arc::new(Trace {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            parent_id: self.id,
            level: self.level,
            callbacks: self.callbacks.clone(),
            info: Mutex::new(Info::default()),
        })
    }

    pub fn id(&self) -> u64 {
        self.id
    }
    /// The parent's id; 0 when the trace has no parent.
    pub fn parent_id(&self) -> u64 {
        self.parent_id
    }
    pub fn level(&self) -> u32 {
        self.level
    }

    /// The model the traced request ran on (set when the request is submitted).
    pub fn set_model(&self, name: &str, version: i64) {
        let mut i = lock(&self.info);
        i.model_name = c_string(name);
        i.model_version = version;
    }
    pub fn set_request_id(&self, id: &str) {
        lock(&self.info).request_id = c_string(id);
    }
    pub fn set_context(&self, context: &str) {
        lock(&self.info).context = c_string(context);
    }
    pub fn model_version(&self) -> i64 {
        lock(&self.info).model_version
    }

    /// Read the model name, request id and context under the trace's lock. Pointers into them
    /// stay valid until the value is set again (as upstream's strings do).
    pub fn with_strings<R>(&self, f: impl FnOnce(&CStr, &CStr, &CStr) -> R) -> R {
        let i = lock(&self.info);
        f(&i.model_name, &i.request_id, &i.context)
    }

    /// Report an activity at a timestamp (monotonic ns), when recording timestamps.
    pub fn report(&self, activity: Activity, timestamp_ns: u64) {
        if self.level & LEVEL_TIMESTAMPS != 0 {
            self.callbacks.activity(self, activity, timestamp_ns);
        }
    }

    /// Report an activity now.
    pub fn report_now(&self, activity: Activity) {
        if self.level & LEVEL_TIMESTAMPS != 0 {
            self.report(activity, monotonic_ns());
        }
    }

    /// A custom activity: its name is recorded in the context (a JSON object from timestamp to
    /// activity name) and the activity callback gets `CUSTOM_ACTIVITY`.
    pub fn report_custom(&self, timestamp_ns: u64, name: &str) {
        if self.level & LEVEL_TIMESTAMPS == 0 {
            return;
        }
        {
            let mut i = lock(&self.info);
            let mut obj = serde_json::Map::new();
            let text = i.context.to_string_lossy().into_owned();
            if !text.is_empty() {
                match serde_json::from_str::<serde_json::Value>(&text) {
                    Ok(serde_json::Value::Object(m)) => obj = m,
                    _ => crate::log_error!("Error parsing trace context"),
                }
            }
            obj.insert(
                timestamp_ns.to_string(),
                serde_json::Value::String(name.to_owned()),
            );
            i.context = c_string(&serde_json::Value::Object(obj).to_string());
        }
        self.callbacks
            .activity(self, Activity::CustomActivity, timestamp_ns);
    }

    /// Report a tensor, when recording tensors.
    pub fn report_tensor(&self, activity: Activity, tensor: &TraceTensor<'_>) {
        if self.level & LEVEL_TENSORS != 0 {
            self.callbacks.tensor_activity(self, activity, tensor);
        }
    }
}

/// A request's hold on a trace. Dropping an armed proxy calls the release callback; a proxy
/// that was never armed (the request was refused before it was accepted) is dropped silently.
#[derive(Debug)]
pub struct TraceProxy {
    trace: Arc<Trace>,
    armed: bool,
}

impl TraceProxy {
    pub fn new(trace: Arc<Trace>) -> TraceProxy {
        TraceProxy {
            trace,
            armed: false,
        }
    }
    /// From now on the core owns the trace's completion: dropping calls the release callback.
    pub fn arm(&mut self) {
        self.armed = true;
    }
    pub fn trace(&self) -> &Arc<Trace> {
        &self.trace
    }
}

impl Drop for TraceProxy {
    fn drop(&mut self) {
        if self.armed {
            self.trace.callbacks.release(&self.trace);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Records every callback.
    #[derive(Default)]
    pub(crate) struct Recorder {
        pub events: Mutex<Vec<(u64, String, u64)>>,
        pub releases: Mutex<Vec<u64>>,
    }

    impl TraceCallbacks for Recorder {
        fn activity(&self, trace: &Trace, activity: Activity, ts: u64) {
            lock(&self.events).push((trace.id(), activity.name().to_owned(), ts));
        }
        fn tensor_activity(&self, trace: &Trace, activity: Activity, t: &TraceTensor<'_>) {
            lock(&self.events).push((
                trace.id(),
                format!("{} {}", activity.name(), t.name.to_string_lossy()),
                0,
            ));
        }
        fn release(&self, trace: &Trace) {
            lock(&self.releases).push(trace.id());
        }
    }

    #[test]
    fn ids_increase_and_children_know_their_parent() {
        let r = Arc::new(Recorder::default());
        let a = Trace::new(LEVEL_TIMESTAMPS, 0, r.clone());
        let b = Trace::new(LEVEL_TIMESTAMPS, 7, r.clone());
        assert!(b.id() > a.id() && a.id() >= 1);
        assert_eq!(b.parent_id(), 7);
        let c = a.spawn_child();
        assert!(c.id() > b.id());
        assert_eq!(c.parent_id(), a.id());
        assert_eq!(c.level(), a.level());
    }

    #[test]
    fn deprecated_levels_become_timestamps() {
        assert_eq!(effective_level(LEVEL_MIN), LEVEL_TIMESTAMPS);
        assert_eq!(effective_level(LEVEL_MAX), LEVEL_TIMESTAMPS);
        assert_eq!(
            effective_level(LEVEL_MAX | LEVEL_TENSORS),
            LEVEL_TIMESTAMPS | LEVEL_TENSORS
        );
        assert_eq!(effective_level(LEVEL_TENSORS), LEVEL_TENSORS);
        assert_eq!(level_name(4), Some("TIMESTAMPS"));
        assert_eq!(level_name(12), None);
        assert_eq!(Activity::from_u32(10), Some(Activity::CustomActivity));
        assert_eq!(Activity::from_u32(11), None);
    }

    #[test]
    fn reports_follow_the_level() {
        let r = Arc::new(Recorder::default());
        let t = Trace::new(LEVEL_TENSORS, 0, r.clone());
        t.report(Activity::QueueStart, 5);
        t.report_custom(6, "x");
        assert!(lock(&r.events).is_empty());
        let t = Trace::new(LEVEL_TIMESTAMPS, 0, r.clone());
        t.report(Activity::QueueStart, 5);
        t.report_custom(6, "first");
        t.report_custom(8, "second");
        let ev = lock(&r.events).clone();
        assert_eq!(ev[0], (t.id(), "QUEUE_START".into(), 5));
        assert_eq!(ev[1], (t.id(), "CUSTOM_ACTIVITY".into(), 6));
        t.with_strings(|_, _, ctx| {
            assert_eq!(ctx.to_str().unwrap(), r#"{"6":"first","8":"second"}"#);
        });
    }

    #[test]
    fn proxy_releases_only_when_armed() {
        let r = Arc::new(Recorder::default());
        let t = Trace::new(LEVEL_TIMESTAMPS, 0, r.clone());
        drop(TraceProxy::new(t.clone()));
        assert!(lock(&r.releases).is_empty());
        let mut p = TraceProxy::new(t.clone());
        p.arm();
        drop(p);
        assert_eq!(*lock(&r.releases), vec![t.id()]);
    }
}
