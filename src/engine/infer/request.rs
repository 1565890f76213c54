//! Inference requests (`TRITONSERVER_InferenceRequest`, seen by backends as
//! `TRITONBACKEND_Request`).

use std::collections::BTreeSet;
use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use super::response::{ResponseAllocator, ResponseCallback, ResponseFactory};
pub use crate::engine::buffer::DataBuffer;
use crate::engine::error::{Error, Result};
use crate::engine::model::{Model, ModelUse};
use crate::engine::parameters::{Parameter, ParameterValue};
use crate::engine::sync::c_string;
use crate::engine::trace::{Activity, Trace, TraceProxy, TraceTensor};
use crate::engine::types::DataType;

/// `TRITONSERVER_REQUEST_RELEASE_ALL`.
pub const RELEASE_ALL: u32 = 1;
/// `TRITONSERVER_REQUEST_RELEASE_RESCHEDULE`.
pub const RELEASE_RESCHEDULE: u32 = 2;

/// Gives a released request back to its owner (the frontend's release callback).
pub trait ReleaseCallback: Send + Sync {
    fn release(&self, request: Box<InferenceRequest>, flags: u32);
}

/// An input tensor of a request (`TRITONBACKEND_Input`).
#[derive(Debug, Clone)]
pub struct InputTensor {
    name: CString,
    pub datatype: DataType,
    /// The shape the caller gave.
    pub original_shape: Vec<i64>,
    /// The shape after normalization, without the batch dimension.
    pub shape: Vec<i64>,
    /// The shape the backend sees: the batch size (when batching) followed by `shape`.
    pub shape_with_batch_dim: Vec<i64>,
    pub buffers: Vec<DataBuffer>,
    /// Buffers given for specific host policies.
    pub host_policy_buffers: Vec<(String, Vec<DataBuffer>)>,
}

impl InputTensor {
    pub fn new(name: &str, datatype: DataType, shape: &[i64]) -> InputTensor {
        InputTensor {
            name: c_string(name),
            datatype,
            original_shape: shape.to_vec(),
            shape: shape.to_vec(),
            shape_with_batch_dim: shape.to_vec(),
            buffers: Vec::new(),
            host_policy_buffers: Vec::new(),
        }
    }
    pub fn name(&self) -> &str {
        self.name.to_str().unwrap_or_default()
    }
    pub fn name_c(&self) -> &CStr {
        &self.name
    }
    /// Total bytes over all buffers.
    pub fn byte_size(&self) -> u64 {
        self.buffers.iter().map(|b| b.byte_size() as u64).sum()
    }
    /// The buffers for a host policy: its own when given, otherwise the default ones.
    pub fn buffers_for(&self, host_policy: Option<&str>) -> &[DataBuffer] {
        host_policy
            .and_then(|p| {
                self.host_policy_buffers
                    .iter()
                    .find(|(n, _)| n == p)
                    .map(|(_, b)| b.as_slice())
            })
            .unwrap_or(&self.buffers)
    }
}

/// A tensor whose data the core owns (warmup samples, sequence controls and states).
#[derive(Debug, Clone)]
pub struct OwnedTensor {
    pub name: String,
    pub datatype: DataType,
    pub shape: Vec<i64>,
    pub data: Arc<[u8]>,
}

impl OwnedTensor {
    /// An input tensor with this data as its only buffer.
    pub fn to_input(&self) -> InputTensor {
        let mut input = InputTensor::new(&self.name, self.datatype, &self.shape);
        input.buffers.push(DataBuffer::owned(self.data.clone()));
        input
    }
}

/// A request's id, shared with its response factory and responses: cloning it is a reference
/// count, and the empty id (most requests) allocates nothing.
#[derive(Clone, Default, Debug, PartialEq, Eq)]
pub struct RequestId(Option<Arc<CStr>>);

impl RequestId {
    pub fn new(id: &str) -> RequestId {
        if id.is_empty() {
            RequestId(None)
        } else {
            RequestId(Some(Arc::from(c_string(id).as_c_str())))
        }
    }
    pub fn as_c(&self) -> &CStr {
        self.0.as_deref().unwrap_or(c"")
    }
    pub fn as_str(&self) -> &str {
        self.as_c().to_str().unwrap_or_default()
    }
    pub fn is_empty(&self) -> bool {
        self.as_c().is_empty()
    }
}

/// "[request id: <id>] " for messages, formatted only when displayed.
pub struct LogPrefix(RequestId);

impl LogPrefix {
    pub(crate) fn new(id: RequestId) -> LogPrefix {
        LogPrefix(id)
    }
}

impl std::fmt::Display for LogPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            f.write_str("[request id: <id_unknown>] ")
        } else {
            write!(f, "[request id: {}] ", self.0.as_c().to_string_lossy())
        }
    }
}

/// A correlation id: unsigned or string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorrelationId {
    U64(u64),
    Str(CString),
}

/// An inference request.
pub struct InferenceRequest {
    model: Arc<Model>,
    requested_version: i64,
    id: RequestId,
    pub flags: u32,
    pub correlation_id: CorrelationId,
    pub priority: u64,
    pub timeout_us: u64,
    inputs: Vec<InputTensor>,
    raw_input: bool,
    /// Outputs the caller asked for.
    requested_outputs: BTreeSet<CString>,
    /// What the backend sees: the requested outputs, or every model output when none were
    /// requested (set when the request is accepted).
    effective_outputs: Arc<[CString]>,
    pub parameters: Vec<Parameter>,
    release: Option<Arc<dyn ReleaseCallback>>,
    factory: Option<Arc<ResponseFactory>>,
    cancelled: Arc<AtomicBool>,
    /// Batch size after normalization (0 when the model does not batch).
    pub batch_size: u64,
    /// When the request entered the server (monotonic ns).
    pub request_start_ns: AtomicU64,
    /// When the request was queued for execution (monotonic ns).
    pub queue_start_ns: AtomicU64,
    /// The sequence the request belongs to, once prepared for execution by the sequence
    /// batcher.
    pub(crate) sequence: Option<crate::engine::sequence::SequenceBinding>,
    /// Implicit state outputs the backend created (`TRITONBACKEND_StateNew`); kept until the
    /// request is dropped, so the handles the backend holds stay valid.
    states: std::sync::Mutex<Vec<Arc<crate::engine::sequence::OutputState>>>,
    /// The frontend's trace of this request, if it is traced (see `engine::trace`).
    trace: Option<TraceProxy>,
    /// The frontend's response callback while the response cache wraps it.
    cache_callback: Option<Arc<dyn ResponseCallback>>,
    /// Held from acceptance until release: the model version is not finalized meanwhile.
    in_use: Option<ModelUse>,
}

impl std::fmt::Debug for InferenceRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InferenceRequest")
            .field("model", &self.model.name())
            .field("id", &self.id)
            .finish()
    }
}

impl InferenceRequest {
    /// A request for `model` (`requested_version` as the caller asked: -1 for the latest).
    pub fn new(model: Arc<Model>, requested_version: i64) -> InferenceRequest {
        // All outputs until normalization says otherwise (shared with the model: no allocation).
        let effective_outputs = model.output_names();
        InferenceRequest {
            model,
            requested_version,
            id: RequestId::default(),
            flags: 0,
            correlation_id: CorrelationId::U64(0),
            priority: 0,
            timeout_us: 0,
            inputs: Vec::new(),
            raw_input: false,
            requested_outputs: BTreeSet::new(),
            effective_outputs,
            parameters: Vec::new(),
            release: None,
            factory: None,
            cancelled: Arc::new(AtomicBool::new(false)),
            batch_size: 0,
            request_start_ns: AtomicU64::new(0),
            queue_start_ns: AtomicU64::new(0),
            sequence: None,
            states: std::sync::Mutex::new(Vec::new()),
            trace: None,
            cache_callback: None,
            in_use: None,
        }
    }

    /// Take a use of the model version for this request (it was accepted for execution).
    /// Fails when the version is retired (being unloaded or replaced).
    pub(crate) fn accept(&mut self) -> Result<()> {
        match ModelUse::try_new(&self.model) {
            Some(u) => {
                self.in_use = Some(u);
                Ok(())
            }
            None => Err(Error::unavailable(format!(
                "Server not ready: model '{}' is being unloaded",
                self.model.name()
            ))),
        }
    }

    /// Undo [`InferenceRequest::accept`] for a request given back to its caller.
    pub(crate) fn unaccept(&mut self) {
        self.in_use = None;
    }

    /// Another use of the model version for something derived from this request (a response
    /// factory a backend holds): from the request's own use when it has one.
    pub(crate) fn derive_use(&self) -> Option<ModelUse> {
        match &self.in_use {
            Some(u) => Some(u.derive()),
            None => ModelUse::try_new(&self.model),
        }
    }

    // --- Tracing (kept together; see `engine::trace`) ---

    /// Attach (or remove) the trace of this request.
    pub fn set_trace(&mut self, trace: Option<TraceProxy>) {
        self.trace = trace;
    }
    /// Detach the trace (dropping an armed one calls the frontend's release callback).
    pub fn take_trace(&mut self) -> Option<TraceProxy> {
        self.trace.take()
    }
    /// The trace of this request, if traced.
    pub fn trace(&self) -> Option<&Arc<Trace>> {
        self.trace.as_ref().map(TraceProxy::trace)
    }
    /// The request was accepted: report `REQUEST_START` and own the trace's release from now on.
    pub(crate) fn trace_accepted(&mut self, request_start_ns: u64) {
        if let Some(t) = &mut self.trace {
            t.arm();
            t.trace().report(Activity::RequestStart, request_start_ns);
        }
    }
    /// Report an activity of this request at a timestamp (monotonic ns), if traced.
    pub fn trace_activity(&self, activity: Activity, timestamp_ns: u64) {
        if let Some(t) = self.trace() {
            t.report(activity, timestamp_ns);
        }
    }
    /// Report every input tensor with `activity`, if traced at the TENSORS level.
    pub fn trace_inputs(&self, activity: Activity) {
        if let Some(t) = self.trace() {
            for i in &self.inputs {
                t.report_tensor(
                    activity,
                    &TraceTensor {
                        name: i.name_c(),
                        datatype: i.datatype,
                        shape: &i.shape_with_batch_dim,
                        buffers: &i.buffers,
                    },
                );
            }
        }
    }

    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }
    pub fn requested_version(&self) -> i64 {
        self.requested_version
    }
    pub fn id(&self) -> &str {
        self.id.as_str()
    }
    pub fn id_c(&self) -> &CStr {
        self.id.as_c()
    }
    pub fn set_id(&mut self, id: &str) {
        self.id = RequestId::new(id);
        self.rebind_factory();
    }
    /// The message prefix, formatted only when an error message is built.
    pub fn log_prefix_lazy(&self) -> LogPrefix {
        LogPrefix(self.id.clone())
    }

    /// "[request id: <id>] " (`<id_unknown>` without an id), as upstream prefixes its messages.
    pub fn log_prefix(&self) -> String {
        self.log_prefix_lazy().to_string()
    }

    pub fn inputs(&self) -> &[InputTensor] {
        &self.inputs
    }
    pub fn inputs_mut(&mut self) -> &mut Vec<InputTensor> {
        &mut self.inputs
    }
    pub fn input(&self, name: &str) -> Option<&InputTensor> {
        self.inputs.iter().find(|i| i.name() == name)
    }
    fn input_mut(&mut self, name: &str) -> Result<&mut InputTensor> {
        let prefix = self.log_prefix_lazy();
        self.inputs
            .iter_mut()
            .find(|i| i.name() == name)
            .ok_or_else(|| {
                Error::invalid_arg(format!("{prefix}input '{name}' does not exist in request"))
            })
    }

    /// Add an input tensor (no data yet).
    pub fn add_input(&mut self, name: &str, datatype: DataType, shape: &[i64]) -> Result<()> {
        if self.raw_input {
            return Err(Error::invalid_arg(format!(
                "{}raw input '{name}' can't be added to request with other inputs",
                self.log_prefix()
            )));
        }
        if self.input(name).is_some() {
            return Err(Error::invalid_arg(format!(
                "{}input '{name}' already exists in request",
                self.log_prefix()
            )));
        }
        self.inputs.push(InputTensor::new(name, datatype, shape));
        Ok(())
    }

    /// Add the single raw input whose type and shape come from the model configuration.
    pub fn add_raw_input(&mut self, name: &str) -> Result<()> {
        if !self.inputs.is_empty() {
            return Err(Error::invalid_arg(format!(
                "{}raw input '{name}' can't be added to request with other inputs",
                self.log_prefix()
            )));
        }
        self.inputs
            .push(InputTensor::new(name, DataType::Invalid, &[]));
        self.raw_input = true;
        Ok(())
    }

    pub fn is_raw_input(&self) -> bool {
        self.raw_input
    }

    pub fn remove_input(&mut self, name: &str) -> Result<()> {
        let before = self.inputs.len();
        self.inputs.retain(|i| i.name() != name);
        if self.inputs.len() == before {
            return Err(Error::invalid_arg(format!(
                "{}input '{name}' does not exist in request",
                self.log_prefix()
            )));
        }
        if self.inputs.is_empty() {
            self.raw_input = false;
        }
        Ok(())
    }

    pub fn remove_all_inputs(&mut self) {
        self.inputs.clear();
        self.raw_input = false;
    }

    /// Append one buffer of data to an input (for a host policy when given).
    pub fn append_input_data(
        &mut self,
        name: &str,
        buffer: DataBuffer,
        host_policy: Option<&str>,
    ) -> Result<()> {
        let input = self.input_mut(name)?;
        match host_policy {
            None => input.buffers.push(buffer),
            Some(p) => match input.host_policy_buffers.iter_mut().find(|(n, _)| n == p) {
                Some((_, b)) => b.push(buffer),
                None => input.host_policy_buffers.push((p.to_owned(), vec![buffer])),
            },
        }
        Ok(())
    }

    pub fn remove_all_input_data(&mut self, name: &str) -> Result<()> {
        let input = self.input_mut(name)?;
        input.buffers.clear();
        input.host_policy_buffers.clear();
        Ok(())
    }

    /// The outputs the caller asked for (possibly none).
    pub fn requested_outputs(&self) -> impl Iterator<Item = &CStr> {
        self.requested_outputs.iter().map(CString::as_c_str)
    }
    /// The outputs the backend is to produce: the requested ones, or all of the model's when
    /// none were requested.
    pub fn effective_outputs(&self) -> &[CString] {
        &self.effective_outputs
    }
    pub(crate) fn set_effective_outputs(&mut self, outputs: Arc<[CString]>) {
        self.effective_outputs = outputs;
    }
    pub fn add_requested_output(&mut self, name: &str) -> Result<()> {
        self.requested_outputs.insert(c_string(name));
        Ok(())
    }
    /// Stop asking for an output (not having asked for it is fine, as upstream).
    pub fn remove_requested_output(&mut self, name: &str) -> Result<()> {
        self.requested_outputs.remove(&c_string(name));
        Ok(())
    }

    /// Set the priority; 0 or a level beyond the model's priority levels means the model's
    /// default level, as upstream stores it.
    pub fn set_priority(&mut self, priority: u64) {
        let config = self.model.config();
        let (max, default) = match &config.scheduling_choice {
            Some(triton_model_config::pb::model_config::SchedulingChoice::DynamicBatching(d)) => {
                (d.priority_levels, d.default_priority_level)
            }
            Some(triton_model_config::pb::model_config::SchedulingChoice::EnsembleScheduling(
                _,
            )) => (u64::MAX, 0),
            _ => (0, 0),
        };
        self.priority = if priority == 0 || priority > max {
            default
        } else {
            priority
        };
    }
    pub fn remove_all_requested_outputs(&mut self) {
        self.requested_outputs.clear();
    }

    /// Set (or replace) a parameter.
    pub fn set_parameter(&mut self, key: &str, value: ParameterValue) {
        self.parameters.retain(|p| p.name() != key);
        self.parameters
            .push(Parameter::from_c(&c_string(key), value));
    }

    pub fn set_release_callback(&mut self, cb: Arc<dyn ReleaseCallback>) {
        self.release = Some(cb);
    }

    pub fn set_response_callback(
        &mut self,
        allocator: Arc<dyn ResponseAllocator>,
        callback: Arc<dyn ResponseCallback>,
    ) {
        self.cache_callback = None;
        self.factory = Some(Arc::new(ResponseFactory::new(
            self.model.clone(),
            self.id.clone(),
            allocator,
            callback,
            self.cancelled.clone(),
        )));
    }

    // --- Response cache (kept together; see `engine::cache`) ---

    /// Replace the response callback by one wrapping the frontend's (the response cache inserts
    /// responses before they reach the frontend). Without a response callback, nothing changes.
    pub(crate) fn wrap_response_callback(
        &mut self,
        wrap: impl FnOnce(Arc<dyn ResponseCallback>) -> Arc<dyn ResponseCallback>,
    ) {
        self.unwrap_response_callback();
        if let Some(f) = &self.factory {
            let inner = f.callback().clone();
            self.cache_callback = Some(inner.clone());
            self.factory = Some(Arc::new(f.with_callback(wrap(inner))));
        }
    }

    /// Undo [`InferenceRequest::wrap_response_callback`] (a reused request starts afresh).
    pub(crate) fn unwrap_response_callback(&mut self) {
        if let (Some(inner), Some(f)) = (self.cache_callback.take(), &self.factory) {
            self.factory = Some(Arc::new(f.with_callback(inner)));
        }
    }

    /// Refresh the response factory after the id changed, so responses carry the new id.
    fn rebind_factory(&mut self) {
        if let Some(f) = &self.factory {
            self.factory = Some(Arc::new(f.with_request_id(self.id.clone())));
        }
    }

    /// The factory that creates this request's responses.
    pub fn response_factory(&self) -> Result<&Arc<ResponseFactory>> {
        self.factory.as_ref().ok_or_else(|| {
            Error::invalid_arg(format!(
                "{}inference request has no response callback",
                self.log_prefix()
            ))
        })
    }

    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }
    /// Give the accepted request a deadline `timeout_us` from now: if its FINAL response has
    /// not been delivered by then, the frontend gets a final "Request timeout expired" error
    /// even while the backend still holds the request.
    pub(crate) fn arm_deadline(&mut self, timeout_us: u64) {
        let Some(f) = &self.factory else {
            return;
        };
        if f.is_armed() {
            // A reused request object: a fresh delivery state for this use.
            self.factory = Some(Arc::new(f.clone_parts()));
        }
        let Some(f) = &self.factory else {
            return;
        };
        f.arm();
        let weak = Arc::downgrade(f);
        let start = self.request_start_ns.load(Ordering::Acquire);
        crate::engine::workers::at(
            std::time::Instant::now() + std::time::Duration::from_micros(timeout_us),
            "request deadline",
            move || {
                if let Some(f) = weak.upgrade() {
                    if f.expire(&Error::unavailable("Request timeout expired")) {
                        f.model()
                            .stats()
                            .report_failure_with(start, super::FailureReason::Other);
                    }
                }
            },
        );
    }

    /// Clear a cancellation left from an earlier use of this request object.
    pub(crate) fn reset_cancelled(&mut self) {
        if !self.is_cancelled() {
            return;
        }
        self.cancelled = Arc::new(AtomicBool::new(false));
        if let Some(f) = &self.factory {
            self.factory = Some(Arc::new(f.with_cancel_flag(self.cancelled.clone())));
        }
    }

    /// Create an implicit state output for the backend; it lives as long as the request.
    pub fn new_state(
        &self,
        name: &str,
        datatype: DataType,
        shape: &[i64],
    ) -> Result<Arc<crate::engine::sequence::OutputState>> {
        let state = Arc::new(crate::engine::sequence::OutputState::new(
            self, name, datatype, shape,
        )?);
        crate::engine::sync::lock(&self.states).push(state.clone());
        Ok(state)
    }

    /// Give the request back to its owner through the release callback. Called exactly once
    /// per accepted request; its use of the model version ends after the callback returned.
    pub fn release(mut self: Box<Self>, flags: u32) {
        if let Some(t) = self.trace.take() {
            t.trace().report_now(Activity::RequestEnd);
            drop(t);
        }
        let in_use = self.in_use.take();
        match self.release.clone() {
            Some(cb) => cb.release(self, flags),
            None => drop(self),
        }
        drop(in_use);
    }

    /// Respond with an error (FINAL) and release the request.
    pub fn fail(self: Box<Self>, error: &Error) {
        if let Ok(factory) = self.response_factory() {
            factory.send_error(error);
        }
        self.release(RELEASE_ALL);
    }
}
