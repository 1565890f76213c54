//! Responses (`TRITONSERVER_InferenceResponse`, built by backends as `TRITONBACKEND_Response`),
//! the response factory, and the allocator and callback a frontend provides.

use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use super::request::{InferenceRequest, RequestId};
use crate::engine::buffer::Addr;
pub use crate::engine::buffer::BufferAttributes;
use crate::engine::error::{Error, Result};
use crate::engine::model::{Model, ModelUse};
use crate::engine::parameters::{Parameter, ParameterValue};
use crate::engine::sync::c_string;
use crate::engine::types::{DataType, MemoryType};

/// `TRITONSERVER_RESPONSE_COMPLETE_FINAL`.
pub const RESPONSE_FINAL: u32 = 1;

/// An output buffer handed out by the frontend's allocator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocatedBuffer {
    pub addr: Addr,
    pub byte_size: usize,
    pub memory_type: MemoryType,
    pub memory_type_id: i64,
    /// The allocator's own tag for the buffer, given back on release.
    pub buffer_userp: Addr,
}

/// The frontend's response allocator (`TRITONSERVER_ResponseAllocator` plus its user pointer).
pub trait ResponseAllocator: Send + Sync {
    /// Called when a response is created.
    fn start(&self) -> Result<()>;
    /// Allocate an output buffer; the preferred memory type may be changed by the allocator.
    fn alloc(
        &self,
        tensor: &CStr,
        byte_size: usize,
        memory_type: MemoryType,
        memory_type_id: i64,
    ) -> Result<AllocatedBuffer>;
    /// Release a buffer from `alloc`.
    fn release(&self, buffer: &AllocatedBuffer) -> Result<()>;
    /// The allocator's preferred memory for an output, if it has a query function.
    fn query(
        &self,
        tensor: Option<&CStr>,
        byte_size: Option<usize>,
        memory_type: MemoryType,
        memory_type_id: i64,
    ) -> Result<(MemoryType, i64)>;
}

/// The frontend's response callback.
pub trait ResponseCallback: Send + Sync {
    /// Deliver a response (or only flags, with `None`).
    fn complete(&self, response: Option<Box<InferenceResponse>>, flags: u32);
}

/// Creates the responses of one request; shared by the request and by response factories the
/// backend creates, so it outlives the request for decoupled models.
pub struct ResponseFactory {
    model: Arc<Model>,
    request_id: RequestId,
    allocator: Arc<dyn ResponseAllocator>,
    callback: Arc<dyn ResponseCallback>,
    cancelled: Arc<AtomicBool>,
    /// Set when the request has a deadline (see [`ResponseFactory::expire`]): deliveries then
    /// go through `delivery`, so that exactly one FINAL reaches the frontend.
    armed: AtomicBool,
    /// FINAL_SENT flag + deliveries in progress (only used while `armed`).
    delivery: AtomicU64,
}

/// In [`ResponseFactory::delivery`]: a FINAL has been delivered (or is being delivered).
const FINAL_SENT: u64 = 1 << 63;

impl ResponseFactory {
    pub(crate) fn new(
        model: Arc<Model>,
        request_id: RequestId,
        allocator: Arc<dyn ResponseAllocator>,
        callback: Arc<dyn ResponseCallback>,
        cancelled: Arc<AtomicBool>,
    ) -> ResponseFactory {
        ResponseFactory {
            model,
            request_id,
            allocator,
            callback,
            cancelled,
            armed: AtomicBool::new(false),
            delivery: AtomicU64::new(0),
        }
    }

    pub(crate) fn with_request_id(&self, id: RequestId) -> ResponseFactory {
        ResponseFactory {
            request_id: id,
            ..self.clone_parts()
        }
    }

    pub(crate) fn with_cancel_flag(&self, cancelled: Arc<AtomicBool>) -> ResponseFactory {
        ResponseFactory {
            cancelled,
            ..self.clone_parts()
        }
    }

    /// A copy with a fresh delivery state (not armed, no FINAL sent).
    pub(crate) fn clone_parts(&self) -> ResponseFactory {
        ResponseFactory::new(
            self.model.clone(),
            self.request_id.clone(),
            self.allocator.clone(),
            self.callback.clone(),
            self.cancelled.clone(),
        )
    }

    /// Whether this factory was armed with a deadline (a reused request needs a fresh one).
    pub(crate) fn is_armed(&self) -> bool {
        self.armed.load(Ordering::Acquire)
    }

    /// Give the request a deadline: from now on deliveries are counted, and
    /// [`ResponseFactory::expire`] may end the request with an error.
    pub(crate) fn arm(&self) {
        self.armed.store(true, Ordering::Release);
    }

    /// Deliver a response or flags to the frontend. Once a deadline has armed the factory, a
    /// delivery after the FINAL one is dropped (its output buffers go back to the allocator).
    fn deliver(&self, response: Option<Box<InferenceResponse>>, flags: u32) {
        if !self.armed.load(Ordering::Acquire) {
            self.callback.complete(response, flags);
            return;
        }
        let fin = if flags & RESPONSE_FINAL != 0 {
            FINAL_SENT
        } else {
            0
        };
        let mut cur = self.delivery.load(Ordering::Acquire);
        loop {
            if cur & FINAL_SENT != 0 {
                crate::log_verbose!(
                    1,
                    "{}response for model '{}' arrived after the request's deadline; dropped",
                    super::request::LogPrefix::new(self.request_id.clone()),
                    self.model.name()
                );
                drop(response);
                return;
            }
            match self.delivery.compare_exchange_weak(
                cur,
                (cur + 1) | fin,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        self.callback.complete(response, flags);
        self.delivery.fetch_sub(1, Ordering::AcqRel);
    }

    /// The request's deadline passed while the backend still holds it: unless its FINAL
    /// response was already delivered, mark it cancelled (so the backend can stop) and deliver
    /// a final `error` response now; whatever the backend sends later is dropped. The request
    /// itself is released when the backend releases it.
    pub(crate) fn expire(self: &Arc<Self>, error: &Error) -> bool {
        let mut cur = self.delivery.load(Ordering::Acquire);
        loop {
            if cur & FINAL_SENT != 0 {
                return false;
            }
            match self.delivery.compare_exchange_weak(
                cur,
                cur | FINAL_SENT,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        self.cancelled.store(true, Ordering::Release);
        // Deliveries already started finish first, so the frontend sees the FINAL last.
        while self.delivery.load(Ordering::Acquire) & !FINAL_SENT != 0 {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        let mut r = self.create();
        r.error = Some(error.clone());
        self.callback.complete(Some(r), RESPONSE_FINAL);
        true
    }

    /// The same factory delivering through another callback (the response cache wraps the
    /// frontend's callback to insert the response first).
    pub(crate) fn with_callback(&self, callback: Arc<dyn ResponseCallback>) -> ResponseFactory {
        ResponseFactory {
            callback,
            ..self.clone_parts()
        }
    }
    pub(crate) fn callback(&self) -> &Arc<dyn ResponseCallback> {
        &self.callback
    }

    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }
    pub fn allocator(&self) -> &Arc<dyn ResponseAllocator> {
        &self.allocator
    }

    /// A new, empty response (the allocator's start function runs first).
    pub fn create(self: &Arc<Self>) -> Box<InferenceResponse> {
        if let Err(e) = self.allocator.start() {
            crate::log_error!("response allocation start failed: {}", e.message());
        }
        Box::new(InferenceResponse {
            factory: self.clone(),
            outputs: Vec::new(),
            parameters: Vec::new(),
            error: None,
        })
    }

    /// Send only flags (no response object), as `TRITONBACKEND_ResponseFactorySendFlags`.
    pub fn send_flags(&self, flags: u32) {
        self.deliver(None, flags);
    }

    /// Send a final error response.
    pub fn send_error(self: &Arc<Self>, error: &Error) {
        let mut r = self.create();
        r.error = Some(error.clone());
        r.send(RESPONSE_FINAL);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }
}

/// A response factory held by a backend (`TRITONBACKEND_ResponseFactory`). It holds a use of
/// its model version, as upstream's factory holds the model: the version is not finalized while
/// a backend may still send through it from another thread.
pub struct BackendFactory {
    factory: Arc<ResponseFactory>,
    _use: Option<ModelUse>,
}

impl BackendFactory {
    /// A factory for `request`'s responses.
    pub fn for_request(request: &InferenceRequest) -> Result<BackendFactory> {
        Ok(BackendFactory {
            factory: request.response_factory()?.clone(),
            _use: request.derive_use(),
        })
    }
    pub fn factory(&self) -> &Arc<ResponseFactory> {
        &self.factory
    }
}

/// An output's name: shared with the model's list of output names when it is one of them (no
/// allocation per response), owned otherwise.
enum OutputName {
    Model(Arc<[CString]>, usize),
    Own(CString),
}

impl OutputName {
    fn of_model(names: Arc<[CString]>, name: &str) -> OutputName {
        match names.iter().position(|n| n.to_bytes() == name.as_bytes()) {
            Some(i) => OutputName::Model(names, i),
            None => OutputName::Own(c_string(name)),
        }
    }
    fn as_c(&self) -> &CStr {
        match self {
            OutputName::Model(names, i) => names.get(*i).map_or(c"", CString::as_c_str),
            OutputName::Own(n) => n,
        }
    }
}

/// An output tensor of a response (`TRITONBACKEND_Output`). Boxed inside the response, so
/// its address stays put while the backend adds more outputs.
pub struct OutputTensor {
    name: OutputName,
    pub datatype: DataType,
    pub shape: Vec<i64>,
    pub buffer: Option<AllocatedBuffer>,
    allocator: Arc<dyn ResponseAllocator>,
    /// Attributes of the allocated buffer (what `TRITONBACKEND_OutputBufferAttributes` lends).
    attributes: BufferAttributes,
}

impl OutputTensor {
    pub fn name(&self) -> &str {
        self.name.as_c().to_str().unwrap_or_default()
    }
    pub fn name_c(&self) -> &CStr {
        self.name.as_c()
    }

    /// Allocate the data buffer through the frontend's allocator (once).
    pub fn allocate(
        &mut self,
        byte_size: usize,
        memory_type: MemoryType,
        memory_type_id: i64,
    ) -> Result<AllocatedBuffer> {
        if self.buffer.is_some() {
            return Err(Error::already_exists(format!(
                "allocated buffer for output '{}' already exists",
                self.name()
            )));
        }
        let buf = self
            .allocator
            .alloc(self.name.as_c(), byte_size, memory_type, memory_type_id)?;
        self.attributes = BufferAttributes {
            memory_type: buf.memory_type,
            memory_type_id: buf.memory_type_id,
            byte_size,
            cuda_ipc_handle: None,
        };
        self.buffer = Some(buf.clone());
        Ok(buf)
    }

    /// The attributes of the allocated buffer.
    pub fn attributes_mut(&mut self) -> &mut BufferAttributes {
        &mut self.attributes
    }
}

impl Drop for OutputTensor {
    fn drop(&mut self) {
        if let Some(buf) = self.buffer.take() {
            if let Err(e) = self.allocator.release(&buf) {
                crate::log_error!(
                    "failed to release buffer of output '{}': {}",
                    self.name(),
                    e.message()
                );
            }
        }
    }
}

impl std::fmt::Debug for OutputTensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputTensor")
            .field("name", &self.name.as_c())
            .field("datatype", &self.datatype)
            .field("shape", &self.shape)
            .field("buffer", &self.buffer)
            .finish()
    }
}

/// A response.
pub struct InferenceResponse {
    factory: Arc<ResponseFactory>,
    outputs: Vec<Box<OutputTensor>>,
    pub parameters: Vec<Parameter>,
    error: Option<Error>,
}

impl InferenceResponse {
    pub fn model(&self) -> &Arc<Model> {
        &self.factory.model
    }
    pub fn request_id_c(&self) -> &CStr {
        self.factory.request_id.as_c()
    }
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }
    pub fn set_error(&mut self, e: Error) {
        self.error = Some(e);
    }
    pub fn outputs(&self) -> &[Box<OutputTensor>] {
        &self.outputs
    }
    pub fn output_mut(&mut self, index: usize) -> Option<&mut OutputTensor> {
        self.outputs.get_mut(index).map(|b| &mut **b)
    }

    /// Add an output; its name must be an output of the model. Returns its index.
    pub fn add_output(&mut self, name: &str, datatype: DataType, shape: &[i64]) -> Result<usize> {
        let model = self.factory.model.clone();
        let config = model.config();
        let Some(out_cfg) = config.output.iter().find(|o| o.name == name) else {
            return Err(Error::invalid_arg(format!(
                "unexpected inference output '{name}' for model '{}'",
                model.name()
            )));
        };
        let mut shape = shape.to_vec();
        if let Some(reshape) = &out_cfg.reshape {
            // The backend produced the reshaped form: report the configured dims instead.
            let batch = if config.max_batch_size > 0 && !shape.is_empty() {
                Some(shape.remove(0))
            } else {
                None
            };
            let variable: Vec<i64> = reshape
                .shape
                .iter()
                .zip(shape.iter().chain(std::iter::repeat(&-1)))
                .filter(|(r, _)| **r == -1)
                .map(|(_, s)| *s)
                .collect();
            let mut vi = variable.into_iter();
            shape = out_cfg
                .dims
                .iter()
                .map(|d| {
                    if *d == -1 {
                        vi.next().unwrap_or(-1)
                    } else {
                        *d
                    }
                })
                .collect();
            if let Some(b) = batch {
                shape.insert(0, b);
            }
        }
        self.outputs.push(Box::new(OutputTensor {
            name: OutputName::of_model(model.output_names(), name),
            datatype,
            shape,
            buffer: None,
            allocator: self.factory.allocator.clone(),
            attributes: BufferAttributes::default(),
        }));
        Ok(self.outputs.len() - 1)
    }

    /// Add an output with exactly this shape (no reshape applied): a response rebuilt from the
    /// response cache, whose shapes are already the reported ones. Returns its index.
    pub(crate) fn add_output_exact(
        &mut self,
        name: &str,
        datatype: DataType,
        shape: &[i64],
    ) -> usize {
        self.outputs.push(Box::new(OutputTensor {
            name: OutputName::Own(c_string(name)),
            datatype,
            shape: shape.to_vec(),
            buffer: None,
            allocator: self.factory.allocator.clone(),
            attributes: BufferAttributes::default(),
        }));
        self.outputs.len() - 1
    }

    pub fn set_parameter(&mut self, key: &str, value: ParameterValue) {
        self.parameters
            .push(Parameter::from_c(&c_string(key), value));
    }

    /// Deliver the response to the frontend's callback, which takes ownership.
    pub fn send(self: Box<Self>, flags: u32) {
        let factory = self.factory.clone();
        factory.deliver(Some(self), flags);
    }
}

impl std::fmt::Debug for InferenceResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InferenceResponse")
            .field("outputs", &self.outputs)
            .field("error", &self.error)
            .finish()
    }
}
