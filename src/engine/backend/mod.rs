//! Backends: the traits a backend implementation satisfies, the per-server backend manager, and
//! the rules that find a backend's library for a model.
//!
//! The engine never opens a shared library itself. [`LibraryLoader`] (implemented by the C shell
//! with `libloading`) turns a path into a [`BackendLibrary`], whose methods are the backend's
//! entry points. Tests implement both traits in plain Rust.

mod config;
mod resolve;

use std::ffi::{c_void, CString};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

pub use config::BackendCmdlineConfig;
pub use resolve::{resolve_backend_library, ResolvedLibrary};

use super::error::Result;
use super::infer::InferenceRequest;
use super::message::Message;
use super::model::{Entered, Finalizing, Initializing, Model};
use super::sync::{c_string, lock, OnceMap};
use super::types::{ExecutionPolicy, InstanceKind};

/// The entry points of one backend library. Every method but `execute` is optional in the
/// library; an implementation returns `Ok(())` for an entry point the library lacks.
pub trait BackendLibrary: Send + Sync {
    /// Where the library was found.
    fn path(&self) -> &Path;
    /// `TRITONBACKEND_Initialize` (a library without it: nothing to do).
    fn initialize(&self, _backend: &Backend) -> Result<()> {
        Ok(())
    }
    /// `TRITONBACKEND_Finalize`.
    fn finalize(&self, _backend: &Backend) -> Result<()> {
        Ok(())
    }
    /// `TRITONBACKEND_GetBackendAttribute`.
    fn get_attributes(&self, _backend: &Backend, _attributes: &BackendAttributes) -> Result<()> {
        Ok(())
    }
    /// `TRITONBACKEND_ModelInitialize`.
    fn model_initialize(&self, _model: &Model) -> Result<()> {
        Ok(())
    }
    /// `TRITONBACKEND_ModelFinalize`.
    fn model_finalize(&self, _model: &Model) -> Result<()> {
        Ok(())
    }
    /// `TRITONBACKEND_ModelInstanceInitialize`, for an instance whose gate has not opened yet.
    fn instance_initialize(&self, _instance: &Initializing<'_>) -> Result<()> {
        Ok(())
    }
    /// `TRITONBACKEND_ModelInstanceFinalize`, for an instance whose gate is closed with no call
    /// inside.
    fn instance_finalize(&self, _instance: &Finalizing<'_>) -> Result<()> {
        Ok(())
    }
    /// `TRITONBACKEND_ModelInstanceReady`, inside the instance's gate: `Ok` when the instance
    /// can serve. A library without the entry point is always ready.
    fn instance_ready(&self, _instance: &Entered<'_>) -> Result<()> {
        Ok(())
    }
    /// `TRITONBACKEND_ModelInstanceExecute`, inside the instance's gate: the backend takes the
    /// requests and releases each one when done. On an error the backend took none of them:
    /// they come back with it.
    fn execute(
        &self,
        instance: &Entered<'_>,
        requests: Vec<Box<InferenceRequest>>,
    ) -> ExecuteResult {
        let _ = instance;
        Err((
            crate::engine::Error::unsupported("this backend cannot execute requests"),
            requests,
        ))
    }
}

/// What `BackendLibrary::execute` returns: on an error, the requests the backend did not take.
pub type ExecuteResult =
    std::result::Result<(), (crate::engine::Error, Vec<Box<InferenceRequest>>)>;

/// Opens backend libraries.
pub trait LibraryLoader: Send + Sync {
    /// Open the library at `path` and resolve its entry points. A library that lacks a required
    /// entry point is an error.
    fn open(&self, path: &Path) -> Result<Arc<dyn BackendLibrary>>;
}

/// A preferred instance group announced by a backend (`BackendAttributeAddPreferredInstanceGroup`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreferredGroup {
    pub kind: InstanceKind,
    pub count: u64,
    pub device_ids: Vec<u64>,
}

/// Attributes a backend reports through `TRITONBACKEND_GetBackendAttribute`.
#[derive(Debug, Default)]
pub struct BackendAttributes {
    preferred_groups: Mutex<Vec<PreferredGroup>>,
    parallel_instance_loading: Mutex<bool>,
}

impl BackendAttributes {
    pub fn add_preferred_group(&self, group: PreferredGroup) {
        lock(&self.preferred_groups).push(group);
    }
    pub fn set_parallel_instance_loading(&self, enabled: bool) {
        *lock(&self.parallel_instance_loading) = enabled;
    }
    pub fn preferred_groups(&self) -> Vec<PreferredGroup> {
        lock(&self.preferred_groups).clone()
    }
    pub fn parallel_instance_loading(&self) -> bool {
        *lock(&self.parallel_instance_loading)
    }
}

/// One initialized backend (`TRITONBACKEND_Backend`): a library plus its name, configuration and
/// state. Shared by every model that uses it; finalized when the last user drops it.
pub struct Backend {
    name: CString,
    library: Arc<dyn BackendLibrary>,
    artifacts_dir: CString,
    config: Message,
    execution_policy: AtomicU32,
    state: AtomicPtr<c_void>,
    attributes: BackendAttributes,
    memory_manager: MemoryManager,
    initialized: AtomicBool,
}

/// The memory manager handed to backends (`TRITONBACKEND_MemoryManager`).
#[derive(Debug, Default)]
pub struct MemoryManager {
    _private: (),
}

impl Backend {
    /// The backend's name as the model configuration spells it.
    pub fn name(&self) -> &str {
        self.name.to_str().unwrap_or_default()
    }
    pub fn name_c(&self) -> &std::ffi::CStr {
        &self.name
    }
    pub fn library(&self) -> &Arc<dyn BackendLibrary> {
        &self.library
    }
    /// The directory the library (or, for a python-based backend, its `model.py`) was found in.
    pub fn artifacts_dir_c(&self) -> &std::ffi::CStr {
        &self.artifacts_dir
    }
    /// `{"cmdline": {...}}`, every value a string.
    pub fn config(&self) -> &Message {
        &self.config
    }
    pub fn execution_policy(&self) -> ExecutionPolicy {
        ExecutionPolicy::from_u32(self.execution_policy.load(Ordering::Acquire))
            .unwrap_or(ExecutionPolicy::Blocking)
    }
    pub fn set_execution_policy(&self, policy: ExecutionPolicy) {
        self.execution_policy
            .store(policy as u32, Ordering::Release);
    }
    pub fn state(&self) -> *mut c_void {
        self.state.load(Ordering::Acquire)
    }
    pub fn set_state(&self, state: *mut c_void) {
        self.state.store(state, Ordering::Release);
    }
    pub fn attributes(&self) -> &BackendAttributes {
        &self.attributes
    }
    pub fn memory_manager(&self) -> &MemoryManager {
        &self.memory_manager
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if !self.initialized.load(Ordering::Acquire) {
            return;
        }
        crate::log_verbose!(1, "unloading backend '{}'", self.name());
        if let Err(e) = self.library.finalize(self) {
            crate::log_error!(
                "failed to finalize backend '{}': {}",
                self.name(),
                e.message()
            );
        }
    }
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("name", &self.name)
            .field("library", &self.library.path())
            .finish()
    }
}

/// Creates backends and shares them between models: one [`Backend`] per library path (per
/// backend name for python-based backends), initialized once.
///
/// No lock is held while a library is opened or its `TRITONBACKEND_Initialize` runs (either
/// may call back into the server; see [`OnceMap`]).
pub struct BackendManager {
    loader: Arc<dyn LibraryLoader>,
    cmdline: BackendCmdlineConfig,
    backends: OnceMap<(PathBuf, String), Backend>,
}

impl BackendManager {
    pub fn new(loader: Arc<dyn LibraryLoader>, cmdline: BackendCmdlineConfig) -> Self {
        BackendManager {
            loader,
            cmdline,
            backends: OnceMap::default(),
        }
    }

    /// The backend for a resolved library, created and initialized on first use.
    pub fn get_or_create(&self, backend_name: &str, lib: &ResolvedLibrary) -> Result<Arc<Backend>> {
        self.backends.get_or_create(
            (lib.share_key(), backend_name.to_owned()),
            || self.create(backend_name, lib),
            || {
                crate::engine::Error::unavailable(format!(
                    "backend '{backend_name}' is still being initialized"
                ))
            },
        )
    }

    /// Open the library and initialize a new backend (no lock held).
    fn create(&self, backend_name: &str, lib: &ResolvedLibrary) -> Result<Arc<Backend>> {
        let library = self.loader.open(&lib.library_path)?;
        let config_name = if lib.python_based {
            "python"
        } else {
            backend_name
        };
        let config = self.cmdline.resolve(config_name);
        let backend = Arc::new(Backend {
            name: c_string(backend_name),
            library,
            artifacts_dir: c_string(&lib.artifacts_dir.to_string_lossy()),
            config: Message::from_value(&config),
            execution_policy: AtomicU32::new(ExecutionPolicy::Blocking as u32),
            state: AtomicPtr::new(std::ptr::null_mut()),
            attributes: BackendAttributes::default(),
            memory_manager: MemoryManager::default(),
            initialized: AtomicBool::new(false),
        });
        // A backend whose Initialize failed is dropped without a Finalize call.
        backend.library.initialize(&backend)?;
        backend.initialized.store(true, Ordering::Release);
        backend
            .library
            .get_attributes(&backend, &backend.attributes)?;
        crate::log_info!(
            "Loaded backend '{}' from {}",
            backend_name,
            lib.library_path.display()
        );
        Ok(backend)
    }

    /// Forget every backend; each is finalized once its last model is gone (never under a
    /// lock).
    pub fn clear(&self) {
        self.backends.clear();
    }
}
