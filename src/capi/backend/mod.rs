//! `tritonbackend.h`: the functions backends call, one file per header section, and the loader
//! that opens backend libraries.

#[allow(clippy::module_inception, reason = "mirrors the header section name")]
pub mod backend;
pub mod instance;
pub mod loader;
pub mod model;
pub mod request;
pub mod response;
pub mod stats;

/// `TRITONBACKEND_API_VERSION_MAJOR`: the major version of the backend API.
pub const TRITONBACKEND_API_VERSION_MAJOR: u32 = 1;
/// `TRITONBACKEND_API_VERSION_MINOR`: the minor version of the backend API.
pub const TRITONBACKEND_API_VERSION_MINOR: u32 = 19;

/// A backend (`TRITONBACKEND_Backend`), owned by the core.
pub type TRITONBACKEND_Backend = crate::engine::backend::Backend;
/// A backend's attributes (`TRITONBACKEND_BackendAttribute`), lent during
/// `TRITONBACKEND_GetBackendAttribute`.
pub type TRITONBACKEND_BackendAttribute = crate::engine::backend::BackendAttributes;
/// The memory manager (`TRITONBACKEND_MemoryManager`), owned by the core.
pub type TRITONBACKEND_MemoryManager = crate::engine::backend::MemoryManager;
/// A model version (`TRITONBACKEND_Model`), owned by the core.
pub type TRITONBACKEND_Model = crate::engine::model::Model;
/// A model instance (`TRITONBACKEND_ModelInstance`), owned by the core.
pub type TRITONBACKEND_ModelInstance = crate::engine::model::Instance;

/// An inference request as a backend sees it (`TRITONBACKEND_Request`): the same object the
/// frontend created as a `TRITONSERVER_InferenceRequest`.
pub type TRITONBACKEND_Request = crate::engine::infer::InferenceRequest;
