//! `TRITONBACKEND_Backend`, `TRITONBACKEND_BackendAttribute`, `TRITONBACKEND_MemoryManager`,
//! and `TRITONBACKEND_ApiVersion`.
//!
//! Methods: `BackendName`, `BackendConfig`, `BackendExecutionPolicy`,
//! `BackendSetExecutionPolicy`, `BackendArtifacts`, `BackendMemoryManager`, `BackendState`,
//! `BackendSetState`, `BackendAttributeAddPreferredInstanceGroup`,
//! `BackendAttributeSetParallelModelInstanceLoading`, `MemoryManagerAllocate`,
//! `MemoryManagerFree`. The backend object and everything it lends belong to the core.

use std::ffi::{c_char, c_void};

use crate::capi::backend::{
    TRITONBACKEND_Backend, TRITONBACKEND_BackendAttribute, TRITONBACKEND_MemoryManager,
    TRITONBACKEND_API_VERSION_MAJOR, TRITONBACKEND_API_VERSION_MINOR,
};
use crate::capi::boundary::ffi_try;
use crate::capi::handle::{self, c_ptr, Contract};
use crate::capi::server::error::TRITONSERVER_Error;
use crate::capi::server::message::TRITONSERVER_Message;
use crate::capi::types::{
    TRITONBACKEND_ArtifactType, TRITONBACKEND_ExecutionPolicy, TRITONSERVER_InstanceGroupKind,
    TRITONSERVER_MemoryType, ARTIFACT_FILESYSTEM,
};
use crate::engine::backend::PreferredGroup;
use crate::engine::types::MemoryType;
use crate::engine::Error;

/// The backend API version this library implements (1.19).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ApiVersion(
    major: *mut u32,
    minor: *mut u32,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ApiVersion's caller passes writable `major` and `minor`, as
    // tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ApiVersion", || {
        let major = c.out_ptr(major, "major")?;
        let minor = c.out_ptr(minor, "minor")?;
        major.write(TRITONBACKEND_API_VERSION_MAJOR);
        minor.write(TRITONBACKEND_API_VERSION_MINOR);
        Ok(())
    })
}

/// The backend's name, valid as long as the backend.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_BackendName(
    backend: *mut TRITONBACKEND_Backend,
    name: *mut *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_BackendName's caller passes a live backend and writable `name`, as
    // tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_BackendName", || {
        let b = c.arg_ref(backend, "backend")?;
        c.out_ptr(name, "name")?.write(c_ptr(b.name_c()));
        Ok(())
    })
}

/// The backend's configuration, `{"cmdline": {"<key>": "<value>", ...}}`. The message belongs
/// to the backend object: do not delete it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_BackendConfig(
    backend: *mut TRITONBACKEND_Backend,
    backend_config: *mut *mut TRITONSERVER_Message,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_BackendConfig's caller passes a live backend and writable
    // `backend_config`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_BackendConfig", || {
        let b = c.arg_ref(backend, "backend")?;
        let out = c.out_ptr(backend_config, "backend_config")?;
        out.write(std::ptr::from_ref(b.config()).cast_mut());
        Ok(())
    })
}

/// How the backend's instances are executed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_BackendExecutionPolicy(
    backend: *mut TRITONBACKEND_Backend,
    policy: *mut TRITONBACKEND_ExecutionPolicy,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_BackendExecutionPolicy's caller passes a live backend and writable
    // `policy`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_BackendExecutionPolicy", || {
        let b = c.arg_ref(backend, "backend")?;
        c.out_ptr(policy, "policy")?
            .write(TRITONBACKEND_ExecutionPolicy(b.execution_policy() as u32));
        Ok(())
    })
}

/// Set how the backend's instances are executed (usually from `TRITONBACKEND_Initialize`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_BackendSetExecutionPolicy(
    backend: *mut TRITONBACKEND_Backend,
    policy: TRITONBACKEND_ExecutionPolicy,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_BackendSetExecutionPolicy's caller passes a live backend, as
    // tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_BackendSetExecutionPolicy", || {
        let b = c.arg_ref(backend, "backend")?;
        b.set_execution_policy(policy.get()?);
        Ok(())
    })
}

/// Where the backend was found: a directory on the file system.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_BackendArtifacts(
    backend: *mut TRITONBACKEND_Backend,
    artifact_type: *mut TRITONBACKEND_ArtifactType,
    location: *mut *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_BackendArtifacts's caller passes a live backend and writable
    // `artifact_type` and `location`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_BackendArtifacts", || {
        let b = c.arg_ref(backend, "backend")?;
        let kind = c.out_ptr(artifact_type, "artifact_type")?;
        let loc = c.out_ptr(location, "location")?;
        kind.write(ARTIFACT_FILESYSTEM);
        loc.write(c_ptr(b.artifacts_dir_c()));
        Ok(())
    })
}

/// The memory manager backends allocate through.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_BackendMemoryManager(
    backend: *mut TRITONBACKEND_Backend,
    manager: *mut *mut TRITONBACKEND_MemoryManager,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_BackendMemoryManager's caller passes a live backend and writable
    // `manager`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_BackendMemoryManager", || {
        let b = c.arg_ref(backend, "backend")?;
        c.out_ptr(manager, "manager")?
            .write(std::ptr::from_ref(b.memory_manager()).cast_mut());
        Ok(())
    })
}

/// The opaque state the backend stored with `TRITONBACKEND_BackendSetState` (NULL if none).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_BackendState(
    backend: *mut TRITONBACKEND_Backend,
    state: *mut *mut c_void,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_BackendState's caller passes a live backend and writable `state`, as
    // tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_BackendState", || {
        let b = c.arg_ref(backend, "backend")?;
        c.out_ptr(state, "state")?.write(b.state());
        Ok(())
    })
}

/// Store an opaque state with the backend; the core never looks at it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_BackendSetState(
    backend: *mut TRITONBACKEND_Backend,
    state: *mut c_void,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_BackendSetState's caller passes a live backend, as tritonbackend.h
    // requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_BackendSetState", || {
        c.arg_ref(backend, "backend")?.set_state(state);
        Ok(())
    })
}

/// Announce an instance group the backend prefers when a model configures none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_BackendAttributeAddPreferredInstanceGroup(
    backend_attributes: *mut TRITONBACKEND_BackendAttribute,
    kind: TRITONSERVER_InstanceGroupKind,
    count: u64,
    device_ids: *const u64,
    id_count: u64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_BackendAttributeAddPreferredInstanceGroup's caller passes a live
    // backend attribute object and `id_count` elements at `device_ids` (or NULL), as
    // tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try(
        "TRITONBACKEND_BackendAttributeAddPreferredInstanceGroup",
        || {
            let attrs = c.arg_ref(backend_attributes, "backend_attributes")?;
            let kind = kind.get()?;
            let n = usize::try_from(id_count)
                .map_err(|_| Error::invalid_arg("id_count is too large"))?;
            // NULL: Triton's default devices (upstream header).
            let ids = if device_ids.is_null() {
                &[][..]
            } else {
                c.arg_slice(device_ids, n, "device_ids")?
            };
            attrs.add_preferred_group(PreferredGroup {
                kind,
                count,
                device_ids: ids.to_vec(),
            });
            Ok(())
        },
    )
}

/// Allow the core to initialize the backend's instances in parallel.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_BackendAttributeSetParallelModelInstanceLoading(
    backend_attributes: *mut TRITONBACKEND_BackendAttribute,
    enabled: bool,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_BackendAttributeSetParallelModelInstanceLoading's caller passes a live
    // backend attribute object, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try(
        "TRITONBACKEND_BackendAttributeSetParallelModelInstanceLoading",
        || {
            c.arg_ref(backend_attributes, "backend_attributes")?
                .set_parallel_instance_loading(enabled);
            Ok(())
        },
    )
}

/// Allocate `byte_size` bytes of CPU or pinned CPU memory (GPU memory is unsupported in this
/// build). Free it with `TRITONBACKEND_MemoryManagerFree`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_MemoryManagerAllocate(
    manager: *mut TRITONBACKEND_MemoryManager,
    buffer: *mut *mut c_void,
    memory_type: TRITONSERVER_MemoryType,
    memory_type_id: i64,
    byte_size: u64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_MemoryManagerAllocate's caller passes a live memory manager and
    // writable `buffer`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_MemoryManagerAllocate", || {
        c.arg_ref(manager, "manager")?;
        let out = c.out_ptr(buffer, "buffer")?;
        match memory_type.get()? {
            MemoryType::Cpu | MemoryType::CpuPinned => {}
            MemoryType::Gpu => {
                return Err(Error::unsupported(format!(
                    "GPU memory (device {memory_type_id}) is not supported by this build"
                )))
            }
        }
        let size =
            usize::try_from(byte_size).map_err(|_| Error::invalid_arg("byte_size is too large"))?;
        let p = handle::host_alloc(size).ok_or_else(|| {
            Error::unavailable(format!(
                "failed to allocate {byte_size} bytes of CPU memory"
            ))
        })?;
        out.write(p);
        Ok(())
    })
}

/// Free memory from `TRITONBACKEND_MemoryManagerAllocate`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_MemoryManagerFree(
    manager: *mut TRITONBACKEND_MemoryManager,
    buffer: *mut c_void,
    memory_type: TRITONSERVER_MemoryType,
    memory_type_id: i64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_MemoryManagerFree's caller passes a live memory manager and `buffer`
    // from TRITONBACKEND_MemoryManagerAllocate, not yet freed, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_MemoryManagerFree", || {
        c.arg_ref(manager, "manager")?;
        match memory_type.get()? {
            MemoryType::Cpu | MemoryType::CpuPinned => {
                c.host_free(buffer);
                Ok(())
            }
            MemoryType::Gpu => Err(Error::unsupported(format!(
                "GPU memory (device {memory_type_id}) is not supported by this build"
            ))),
        }
    })
}
