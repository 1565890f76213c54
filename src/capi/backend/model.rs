//! `TRITONBACKEND_Model`: one loaded version of a model, owned by the core.
//!
//! Methods: `ModelName`, `ModelVersion`, `ModelRepository`, `ModelConfig`,
//! `ModelAutoCompleteConfig`, `ModelSetConfig`, `ModelServer`, `ModelBackend`, `ModelState`,
//! `ModelSetState`.

use std::ffi::{c_char, c_void};

use crate::capi::backend::{TRITONBACKEND_Backend, TRITONBACKEND_Model};
use crate::capi::boundary::ffi_try;
use crate::capi::handle::{c_ptr, into_raw, Contract};
use crate::capi::server::error::TRITONSERVER_Error;
use crate::capi::server::message::TRITONSERVER_Message;
use crate::capi::server::server::TRITONSERVER_Server;
use crate::capi::types::{TRITONBACKEND_ArtifactType, ARTIFACT_FILESYSTEM};
use crate::engine::message::Message;
use crate::engine::{Error, Result};

fn check_config_version(v: u32) -> Result<()> {
    if v == 1 {
        Ok(())
    } else {
        Err(Error::invalid_arg(format!(
            "model configuration version {v} not supported, supported versions are: 1"
        )))
    }
}

/// The model's name, valid as long as the model.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelName(
    model: *mut TRITONBACKEND_Model,
    name: *mut *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelName's caller passes a live model and writable `name`, as
    // tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ModelName", || {
        let m = c.arg_ref(model, "model")?;
        c.out_ptr(name, "name")?.write(c_ptr(m.name_c()));
        Ok(())
    })
}

/// The model's version.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelVersion(
    model: *mut TRITONBACKEND_Model,
    version: *mut u64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelVersion's caller passes a live model and writable `version`, as
    // tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ModelVersion", || {
        let m = c.arg_ref(model, "model")?;
        c.out_ptr(version, "version")?
            .write(u64::try_from(m.version()).unwrap_or(0));
        Ok(())
    })
}

/// Where the model's files are: the model directory (not the version directory).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelRepository(
    model: *mut TRITONBACKEND_Model,
    artifact_type: *mut TRITONBACKEND_ArtifactType,
    location: *mut *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelRepository's caller passes a live model and writable
    // `artifact_type` and `location`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ModelRepository", || {
        let m = c.arg_ref(model, "model")?;
        let kind = c.out_ptr(artifact_type, "artifact_type")?;
        let loc = c.out_ptr(location, "location")?;
        kind.write(ARTIFACT_FILESYSTEM);
        loc.write(c_ptr(m.model_dir_c()));
        Ok(())
    })
}

/// The model configuration as JSON (only `config_version` 1 exists). The caller owns the
/// message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelConfig(
    model: *mut TRITONBACKEND_Model,
    config_version: u32,
    model_config: *mut *mut TRITONSERVER_Message,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelConfig's caller passes a live model and writable `model_config`,
    // as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ModelConfig", || {
        let m = c.arg_ref(model, "model")?;
        let out = c.out_ptr(model_config, "model_config")?;
        check_config_version(config_version)?;
        let json = m.config_json()?;
        out.write(into_raw(Box::new(Message::from_json_text(&json)?)));
        Ok(())
    })
}

/// Whether the backend should complete the configuration (strict model configuration is off).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelAutoCompleteConfig(
    model: *mut TRITONBACKEND_Model,
    auto_complete_config: *mut bool,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelAutoCompleteConfig's caller passes a live model and writable
    // `auto_complete_config`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ModelAutoCompleteConfig", || {
        let m = c.arg_ref(model, "model")?;
        c.out_ptr(auto_complete_config, "auto_complete_config")?
            .write(m.auto_complete());
        Ok(())
    })
}

/// Replace the configuration with a completed one. The core takes max_batch_size, inputs,
/// outputs, the scheduling choice (when none was set) and the decoupled policy from it. The
/// message stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelSetConfig(
    model: *mut TRITONBACKEND_Model,
    config_version: u32,
    model_config: *mut TRITONSERVER_Message,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelSetConfig's caller passes a live model and a live message, as
    // tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ModelSetConfig", || {
        let m = c.arg_ref(model, "model")?;
        let msg = c.arg_ref(model_config, "model_config")?;
        check_config_version(config_version)?;
        m.set_config_from_backend(msg.as_str())
    })
}

/// The server the model belongs to, for calls back into the server API.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelServer(
    model: *mut TRITONBACKEND_Model,
    server: *mut *mut TRITONSERVER_Server,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelServer's caller passes a live model and writable `server`, as
    // tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ModelServer", || {
        let m = c.arg_ref(model, "model")?;
        let out = c.out_ptr(server, "server")?;
        let handle = m.server_handle();
        if handle.strong_count() == 0 {
            return Err(Error::unavailable("the server of this model is gone"));
        }
        out.write(handle.as_ptr().cast::<TRITONSERVER_Server>().cast_mut());
        Ok(())
    })
}

/// The backend serving the model.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelBackend(
    model: *mut TRITONBACKEND_Model,
    backend: *mut *mut TRITONBACKEND_Backend,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelBackend's caller passes a live model and writable `backend`, as
    // tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ModelBackend", || {
        let m = c.arg_ref(model, "model")?;
        let out = c.out_ptr(backend, "backend")?;
        let b = m
            .backend()
            .ok_or_else(|| Error::not_found(format!("model '{}' has no backend", m.name())))?;
        out.write(std::sync::Arc::as_ptr(b).cast_mut());
        Ok(())
    })
}

/// The opaque state the backend stored with `TRITONBACKEND_ModelSetState` (NULL if none).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelState(
    model: *mut TRITONBACKEND_Model,
    state: *mut *mut c_void,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelState's caller passes a live model and writable `state`, as
    // tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ModelState", || {
        let m = c.arg_ref(model, "model")?;
        c.out_ptr(state, "state")?.write(m.state());
        Ok(())
    })
}

/// Store an opaque state with the model.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelSetState(
    model: *mut TRITONBACKEND_Model,
    state: *mut c_void,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelSetState's caller passes a live model, as tritonbackend.h
    // requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ModelSetState", || {
        c.arg_ref(model, "model")?.set_state(state);
        Ok(())
    })
}
