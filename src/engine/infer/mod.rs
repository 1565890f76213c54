//! In-process inference: requests, responses, the response allocator and callbacks, request
//! validation against the model configuration, and per-model statistics.
//!
//! Ownership follows upstream. A request is the caller's until `ServerInferAsync` accepts it;
//! from then on the core (and the backend during execution) owns it, until it is released: the
//! release callback gets it back. Responses go to the response callback, which owns them.
//! Raw data buffers are never read or written by the engine: it only passes their addresses
//! (`usize`) between the frontend, the allocator and the backend.

mod request;
mod response;
mod stats;
mod validate;

pub use request::{
    CorrelationId, DataBuffer, InferenceRequest, InputTensor, OwnedTensor, ReleaseCallback,
    RELEASE_ALL, RELEASE_RESCHEDULE,
};
pub use response::{
    AllocatedBuffer, BackendFactory, BufferAttributes, InferenceResponse, OutputTensor,
    ResponseAllocator, ResponseCallback, RESPONSE_FINAL,
};
pub use stats::{monotonic_ns, FailureReason, ModelStats};
pub use validate::{
    config_data_type, normalize_request, normalize_request_with, HostMemory, OwnedMemory,
};
