//! `TRITONSERVER_Server` model repository and model information functions.
//!
//! Methods: `ServerModelMetadata`, `ServerModelConfig`, `ServerModelBatchProperties`,
//! `ServerModelTransactionProperties`, `ServerLoadModelWithParameters`,
//! `ServerUnloadModelAndDependents`, `ServerRegisterModelRepository`,
//! `ServerUnregisterModelRepository`, `ServerPollModelRepository`.

use std::collections::BTreeMap;
use std::ffi::{c_char, c_void};

use crate::capi::boundary::ffi_try;
use crate::capi::handle::{into_raw, null_arg, Contract};
use crate::capi::server::error::TRITONSERVER_Error;
use crate::capi::server::message::TRITONSERVER_Message;
use crate::capi::server::parameter::TRITONSERVER_Parameter;
use crate::capi::server::server::{server_ref, TRITONSERVER_Server};
use crate::engine::message::Message;
use crate::engine::parameters::Parameter;
use crate::engine::{Error, Result};

/// The parameters of a (pointer array, count) argument, borrowed.
fn parameter_list<'a>(
    c: Contract,
    list: *const *const TRITONSERVER_Parameter,
    count: usize,
    what: &str,
) -> Result<Vec<&'a Parameter>> {
    c.arg_slice(list, count, what)?
        .iter()
        .map(|p| c.arg_ref(*p, what))
        .collect()
}

/// A NULL array with a non-zero count: the standard message, then upstream's wording.
fn null_with_count(what: &str, upstream: &str) -> Error {
    Error::invalid_arg(format!("{}: {upstream}", null_arg(what).message()))
}

/// Model metadata as JSON: name, versions, platform, inputs and outputs (datatype and shape,
/// with -1 first when the model batches). Version -1: every ready version. The caller owns the
/// message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerModelMetadata(
    server: *mut TRITONSERVER_Server,
    model_name: *const c_char,
    model_version: i64,
    model_metadata: *mut *mut TRITONSERVER_Message,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerModelMetadata's caller passes a live server, a NUL-terminated
    // `model_name` and writable `model_metadata`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_ServerModelMetadata", || {
        let s = server_ref(c, server)?;
        let name = c.arg_cstr(model_name, "model_name")?;
        let out = c.out_ptr(model_metadata, "model_metadata")?;
        let json = s.model_metadata(name, model_version)?;
        out.write(into_raw(Box::new(Message::from_value(&json))));
        Ok(())
    })
}

/// The model configuration as JSON (`config_version` must be 1). The caller owns the message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerModelConfig(
    server: *mut TRITONSERVER_Server,
    model_name: *const c_char,
    model_version: i64,
    config_version: u32,
    model_config: *mut *mut TRITONSERVER_Message,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerModelConfig's caller passes a live server, a NUL-terminated
    // `model_name` and writable `model_config`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_ServerModelConfig", || {
        let s = server_ref(c, server)?;
        let name = c.arg_cstr(model_name, "model_name")?;
        let out = c.out_ptr(model_config, "model_config")?;
        let json = s.model_config_json(name, model_version, config_version)?;
        out.write(into_raw(Box::new(Message::from_json_text(&json)?)));
        Ok(())
    })
}

/// Batch properties: `TRITONSERVER_BATCH_FIRST_DIM` when the model batches, else
/// `TRITONSERVER_BATCH_UNKNOWN`. `*voidp` (if not NULL) is set to NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerModelBatchProperties(
    server: *mut TRITONSERVER_Server,
    model_name: *const c_char,
    model_version: i64,
    flags: *mut u32,
    voidp: *mut *mut c_void,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerModelBatchProperties's caller passes a live server, a
    // NUL-terminated `model_name`, writable `flags` and `voidp` NULL or writable, as tritonserver.h
    // requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_ServerModelBatchProperties", || {
        let s = server_ref(c, server)?;
        let name = c.arg_cstr(model_name, "model_name")?;
        let out = c.out_ptr(flags, "flags")?;
        let value = s.model_batch_flags(name, model_version)?;
        if let Ok(v) = c.out_ptr(voidp, "voidp") {
            v.write(std::ptr::null_mut());
        }
        out.write(value);
        Ok(())
    })
}

/// Transaction properties: `TRITONSERVER_TXN_DECOUPLED` for a decoupled model, else
/// `TRITONSERVER_TXN_ONE_TO_ONE`. `*voidp` (if not NULL) is set to NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerModelTransactionProperties(
    server: *mut TRITONSERVER_Server,
    model_name: *const c_char,
    model_version: i64,
    txn_flags: *mut u32,
    voidp: *mut *mut c_void,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerModelTransactionProperties's caller passes a live server, a
    // NUL-terminated `model_name`, writable `txn_flags` and `voidp` NULL or writable, as
    // tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_ServerModelTransactionProperties", || {
        let s = server_ref(c, server)?;
        let name = c.arg_cstr(model_name, "model_name")?;
        let out = c.out_ptr(txn_flags, "txn_flags")?;
        let value = s.model_transaction_flags(name, model_version)?;
        if let Ok(v) = c.out_ptr(voidp, "voidp") {
            v.write(std::ptr::null_mut());
        }
        out.write(value);
        Ok(())
    })
}

/// Load or reload a model (EXPLICIT mode) with parameters: `config` (STRING: a JSON model
/// configuration used instead of the model's) and `file:<path>` (BYTES: file contents written
/// into a private model directory; needs `config`). Returns once the load finished.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerLoadModelWithParameters(
    server: *mut TRITONSERVER_Server,
    model_name: *const c_char,
    parameters: *mut *const TRITONSERVER_Parameter,
    parameter_count: u64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerLoadModelWithParameters's caller passes a live server, a
    // NUL-terminated `model_name` and `parameter_count` live parameters at `parameters` (or NULL
    // with a zero count), as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_ServerLoadModelWithParameters", || {
        if parameters.is_null() && parameter_count != 0 {
            return Err(null_with_count(
                "parameters",
                "load parameters are not provided while parameter count is non-zero",
            ));
        }
        let s = server_ref(c, server)?;
        let name = c.arg_cstr(model_name, "model_name")?;
        let count = usize::try_from(parameter_count)
            .map_err(|_| Error::invalid_arg("parameter count too large"))?;
        let params: Vec<Parameter> =
            parameter_list(c, parameters.cast_const(), count, "parameters")?
                .into_iter()
                .cloned()
                .collect();
        s.load_model_with_parameters(name, &params)
    })
}

/// Start unloading a model (EXPLICIT mode), the ensembles using it, and the composing models
/// that were loaded only for it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerUnloadModelAndDependents(
    server: *mut TRITONSERVER_Server,
    model_name: *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerUnloadModelAndDependents's caller passes a live server and a
    // NUL-terminated `model_name`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_ServerUnloadModelAndDependents", || {
        let s = server_ref(c, server)?;
        let name = c.arg_cstr(model_name, "model_name")?;
        s.unload_model_and_dependents(name)
    })
}

/// Add a model repository (EXPLICIT mode). Each STRING parameter maps a subdirectory (the
/// parameter name) to the model name it is loaded as (the value).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerRegisterModelRepository(
    server: *mut TRITONSERVER_Server,
    repository_path: *const c_char,
    name_mapping: *mut *const TRITONSERVER_Parameter,
    mapping_count: u32,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerRegisterModelRepository's caller passes a live server, a
    // NUL-terminated `repository_path` and `mapping_count` live parameters at `name_mapping` (or
    // NULL with a zero count), as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_ServerRegisterModelRepository", || {
        let s = server_ref(c, server)?;
        if name_mapping.is_null() && mapping_count != 0 {
            return Err(null_with_count(
                "name_mapping",
                "model mappings are not provided while mapping count is non-zero",
            ));
        }
        let path = c.arg_cstr(repository_path, "repository_path")?;
        let mut mapping: BTreeMap<String, String> = BTreeMap::new();
        for p in parameter_list(
            c,
            name_mapping.cast_const(),
            mapping_count as usize,
            "name_mapping",
        )? {
            let subdir = p.name().into_owned();
            let Some(model) = p.as_str() else {
                return Err(Error::invalid_arg(format!(
                    "Mapped model name must be a string, found another type for {subdir}"
                )));
            };
            if mapping.insert(model.to_owned(), subdir).is_some() {
                return Err(Error::invalid_arg(format!(
                    "failed to register '{path}', there is a conflicting mapping for '{model}'"
                )));
            }
        }
        s.register_model_repository(path, &mapping)
    })
}

/// Remove a model repository added at startup or by `ServerRegisterModelRepository` (EXPLICIT
/// mode). Loaded models stay loaded.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerUnregisterModelRepository(
    server: *mut TRITONSERVER_Server,
    repository_path: *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerUnregisterModelRepository's caller passes a live server and a
    // NUL-terminated `repository_path`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_ServerUnregisterModelRepository", || {
        let s = server_ref(c, server)?;
        let path = c.arg_cstr(repository_path, "repository_path")?;
        s.unregister_model_repository(path)
    })
}

/// Poll the model repositories (POLL mode): load new models, reload changed ones, unload removed
/// ones. UNAVAILABLE "polling is disabled" in the other modes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerPollModelRepository(
    server: *mut TRITONSERVER_Server,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerPollModelRepository's caller passes a live server, as
    // tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_ServerPollModelRepository", || {
        server_ref(c, server)?.poll_repository()
    })
}
