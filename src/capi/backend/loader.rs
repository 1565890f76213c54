//! Opening backend libraries with `dlopen(RTLD_NOW | RTLD_LOCAL)` and calling their entry points.
//!
//! Each library is opened once per process and never closed (as upstream: backends may keep
//! threads or static state alive). Entry points are resolved once, at open; a library without
//! `TRITONBACKEND_ModelInstanceExecute` is refused. Every other entry point is optional.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use libloading::os::unix::{Library, Symbol, RTLD_LOCAL, RTLD_NOW};

use crate::capi::backend::{
    TRITONBACKEND_Backend, TRITONBACKEND_BackendAttribute, TRITONBACKEND_Model,
    TRITONBACKEND_ModelInstance, TRITONBACKEND_Request,
};
use crate::capi::handle::backend_error;
use crate::capi::server::error::TRITONSERVER_Error;
use crate::engine::backend::{
    Backend, BackendAttributes, BackendLibrary, ExecuteResult, LibraryLoader,
};
use crate::engine::infer::InferenceRequest;
use crate::engine::model::{Entered, Finalizing, Initializing, Instance, Model};
use crate::engine::{Error, Result};

type BackendFn = unsafe extern "C" fn(*mut TRITONBACKEND_Backend) -> *mut TRITONSERVER_Error;
type AttributeFn = unsafe extern "C" fn(
    *mut TRITONBACKEND_Backend,
    *mut TRITONBACKEND_BackendAttribute,
) -> *mut TRITONSERVER_Error;
type ModelFn = unsafe extern "C" fn(*mut TRITONBACKEND_Model) -> *mut TRITONSERVER_Error;
type InstanceFn = unsafe extern "C" fn(*mut TRITONBACKEND_ModelInstance) -> *mut TRITONSERVER_Error;
/// `TRITONBACKEND_ModelInstanceExecute`.
pub type ExecuteFn = unsafe extern "C" fn(
    *mut TRITONBACKEND_ModelInstance,
    *mut *mut TRITONBACKEND_Request,
    u32,
) -> *mut TRITONSERVER_Error;

/// An opened backend library and its resolved entry points.
pub struct CLibrary {
    path: PathBuf,
    initialize: Option<BackendFn>,
    finalize: Option<BackendFn>,
    get_attribute: Option<AttributeFn>,
    model_initialize: Option<ModelFn>,
    model_finalize: Option<ModelFn>,
    instance_initialize: Option<InstanceFn>,
    instance_finalize: Option<InstanceFn>,
    instance_ready: Option<InstanceFn>,
    /// Required; called by the scheduler.
    pub execute: ExecuteFn,
    /// Keeps the library mapped; never dropped because libraries live in a process-wide table.
    _library: Library,
}

/// Process-wide table of opened libraries, by path. Entries are never removed, so libraries are
/// never unmapped.
static LIBRARIES: LazyLock<Mutex<HashMap<PathBuf, Arc<CLibrary>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Opens backend libraries with `dlopen`.
#[derive(Debug, Default, Clone, Copy)]
pub struct DlopenLoader;

impl LibraryLoader for DlopenLoader {
    fn open(&self, path: &Path) -> Result<Arc<dyn BackendLibrary>> {
        let mut libs = crate::engine::sync::lock(&LIBRARIES);
        if let Some(lib) = libs.get(path) {
            return Ok(lib.clone());
        }
        let lib = Arc::new(CLibrary::open(path)?);
        libs.insert(path.to_path_buf(), lib.clone());
        Ok(lib)
    }
}

/// Look up an optional symbol and copy out its function pointer.
///
/// # Safety
///
/// `T` is the function pointer type tritonbackend.h declares for the entry point `name`.
unsafe fn optional<T: Copy>(lib: &Library, name: &[u8]) -> Option<T> {
    // SAFETY: the caller names an entry point of the backend API and asks for the fn-pointer
    // type `T` that tritonbackend.h fixes for it.
    unsafe { lib.get::<T>(name) }.ok().map(|s: Symbol<T>| *s)
}

impl CLibrary {
    fn open(path: &Path) -> Result<CLibrary> {
        // SAFETY: opening a backend library runs its initializers; loading the backends named by
        // the model configuration is exactly what the server is asked to do.
        let library = unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) }.map_err(|e| {
            // libloading keeps dlerror()'s text in the error's source.
            let detail = std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| e.to_string());
            Error::not_found(format!(
                "unable to load backend library '{}': {detail}",
                path.display()
            ))
        })?;
        // SAFETY: ExecuteFn is TRITONBACKEND_ModelInstanceExecute's type in tritonbackend.h.
        let execute: Option<ExecuteFn> =
            unsafe { optional(&library, b"TRITONBACKEND_ModelInstanceExecute\0") };
        let execute = execute.ok_or_else(|| {
            Error::not_found(format!(
                "unable to find required entrypoint 'TRITONBACKEND_ModelInstanceExecute' in backend library: {}",
                path.display()
            ))
        })?;
        // SAFETY: each field's type (BackendFn, AttributeFn, ModelFn, InstanceFn) is the one
        // tritonbackend.h declares for the entry point looked up for it.
        let lib = unsafe {
            CLibrary {
                path: path.to_path_buf(),
                initialize: optional(&library, b"TRITONBACKEND_Initialize\0"),
                finalize: optional(&library, b"TRITONBACKEND_Finalize\0"),
                get_attribute: optional(&library, b"TRITONBACKEND_GetBackendAttribute\0"),
                model_initialize: optional(&library, b"TRITONBACKEND_ModelInitialize\0"),
                model_finalize: optional(&library, b"TRITONBACKEND_ModelFinalize\0"),
                instance_initialize: optional(&library, b"TRITONBACKEND_ModelInstanceInitialize\0"),
                instance_finalize: optional(&library, b"TRITONBACKEND_ModelInstanceFinalize\0"),
                instance_ready: optional(&library, b"TRITONBACKEND_ModelInstanceReady\0"),
                execute,
                _library: library,
            }
        };
        Ok(lib)
    }

    /// Whether the library exports `TRITONBACKEND_ModelInstanceReady`.
    pub fn has_instance_ready(&self) -> bool {
        self.instance_ready.is_some()
    }
}

fn backend_ptr(b: &Backend) -> *mut TRITONBACKEND_Backend {
    std::ptr::from_ref(b).cast_mut()
}
fn model_ptr(m: &Model) -> *mut TRITONBACKEND_Model {
    std::ptr::from_ref(m).cast_mut()
}
/// The handle a backend sees for an instance.
pub fn instance_ptr(i: &Instance) -> *mut TRITONBACKEND_ModelInstance {
    std::ptr::from_ref(i).cast_mut()
}

impl BackendLibrary for CLibrary {
    fn path(&self) -> &Path {
        &self.path
    }

    fn initialize(&self, backend: &Backend) -> Result<()> {
        let Some(f) = self.initialize else {
            return Ok(());
        };
        // SAFETY: `f` is the library's TRITONBACKEND_Initialize; the handle points to a live
        // backend object that outlives the call.
        // It returns NULL or a new error object, which the core then owns (tritonbackend.h).
        unsafe { backend_error(f(backend_ptr(backend))) }
    }

    fn finalize(&self, backend: &Backend) -> Result<()> {
        let Some(f) = self.finalize else {
            return Ok(());
        };
        // SAFETY: as for `initialize`; the backend is still alive during its own finalization.
        // It returns NULL or a new error object, which the core then owns (tritonbackend.h).
        unsafe { backend_error(f(backend_ptr(backend))) }
    }

    fn get_attributes(&self, backend: &Backend, attributes: &BackendAttributes) -> Result<()> {
        let Some(f) = self.get_attribute else {
            return Ok(());
        };
        let attrs: *mut TRITONBACKEND_BackendAttribute = std::ptr::from_ref(attributes).cast_mut();
        // SAFETY: `f` is TRITONBACKEND_GetBackendAttribute; both handles point to live objects
        // (the attribute setters only take shared references).
        // It returns NULL or a new error object, which the core then owns (tritonbackend.h).
        unsafe { backend_error(f(backend_ptr(backend), attrs)) }
    }

    fn model_initialize(&self, model: &Model) -> Result<()> {
        let Some(f) = self.model_initialize else {
            return Ok(());
        };
        // SAFETY: `f` is TRITONBACKEND_ModelInitialize; the model lives (in an Arc) until after
        // its finalization.
        // It returns NULL or a new error object, which the core then owns (tritonbackend.h).
        unsafe { backend_error(f(model_ptr(model))) }
    }

    fn model_finalize(&self, model: &Model) -> Result<()> {
        let Some(f) = self.model_finalize else {
            return Ok(());
        };
        // SAFETY: `f` is TRITONBACKEND_ModelFinalize on a live model.
        // It returns NULL or a new error object, which the core then owns (tritonbackend.h).
        unsafe { backend_error(f(model_ptr(model))) }
    }

    fn instance_initialize(&self, instance: &Initializing<'_>) -> Result<()> {
        let Some(f) = self.instance_initialize else {
            return Ok(());
        };
        // SAFETY: `f` is TRITONBACKEND_ModelInstanceInitialize; the `Initializing` pass exists
        // only for an instance the core has created and not yet opened to any other call, and
        // the instance (in an Arc) outlives the call.
        // It returns NULL or a new error object, which the core then owns (tritonbackend.h).
        unsafe { backend_error(f(instance_ptr(instance))) }
    }

    fn instance_finalize(&self, instance: &Finalizing<'_>) -> Result<()> {
        let Some(f) = self.instance_finalize else {
            return Ok(());
        };
        // SAFETY: `f` is TRITONBACKEND_ModelInstanceFinalize; the `Finalizing` pass exists only
        // once the instance's gate is closed and no Execute or readiness call is inside it, and
        // `Instance::finalize` makes it at most once per initialization.
        // It returns NULL or a new error object, which the core then owns (tritonbackend.h).
        unsafe { backend_error(f(instance_ptr(instance))) }
    }

    fn instance_ready(&self, instance: &Entered<'_>) -> Result<()> {
        let Some(f) = self.instance_ready else {
            return Ok(());
        };
        // SAFETY: `f` is TRITONBACKEND_ModelInstanceReady; the `Entered` pass holds the
        // instance's gate open for the whole call, so the backend's Initialize has returned OK
        // and its Finalize cannot start until this call returns. Concurrent calls with Execute
        // are part of the entry point's contract.
        // It returns NULL or a new error object, which the core then owns (tritonbackend.h).
        unsafe { backend_error(f(instance_ptr(instance))) }
    }

    fn execute(
        &self,
        instance: &Entered<'_>,
        requests: Vec<Box<InferenceRequest>>,
    ) -> ExecuteResult {
        let mut ptrs: Vec<*mut TRITONBACKEND_Request> =
            requests.into_iter().map(Box::into_raw).collect();
        let count = u32::try_from(ptrs.len()).unwrap_or(u32::MAX);
        // SAFETY: TRITONBACKEND_ModelInstanceExecute with an instance whose gate the `Entered`
        // pass holds open (initialized, not finalizing) and an array of `count` request
        // pointers; ownership of each request passes to the backend, which gives it back with
        // TRITONBACKEND_RequestRelease. It returns NULL or a new error object that the core owns
        // from then on (tritonbackend.h).
        let result = unsafe {
            backend_error((self.execute)(
                instance_ptr(instance),
                ptrs.as_mut_ptr(),
                count,
            ))
        };
        match result {
            Ok(()) => Ok(()),
            Err(e) => {
                // On an error the backend kept none of the requests: take them back.
                let requests = ptrs
                    .into_iter()
                    // SAFETY: each pointer came from Box::into_raw above and, by the backend
                    // API contract, was not released by a backend that returns an error.
                    .map(|p| unsafe { Box::from_raw(p) })
                    .collect();
                Err((e, requests))
            }
        }
    }
}
