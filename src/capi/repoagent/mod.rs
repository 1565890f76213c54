//! `tritonrepoagent.h`: the functions repository agents call, and the loader that opens agent
//! libraries.
//!
//! Methods: `ApiVersion`, `ModelRepositoryLocation`, `ModelRepositoryLocationAcquire`,
//! `ModelRepositoryLocationRelease`, `ModelRepositoryUpdate`, `ModelParameterCount`,
//! `ModelParameter`, `ModelConfig`, `ModelState`, `ModelSetState`, `State`, `SetState`.
//! The agent and agent model objects belong to the core; strings they lend stay valid as long
//! as the agent model (a location until it changes).

pub mod loader;

use std::ffi::{c_char, c_void};

use crate::capi::boundary::ffi_try;
use crate::capi::handle::{into_raw, Contract};
use crate::capi::server::error::TRITONSERVER_Error;
use crate::capi::server::message::TRITONSERVER_Message;
use crate::engine::message::Message;
use crate::engine::repoagent::ArtifactType;
use crate::engine::{Error, Result};

/// `TRITONREPOAGENT_API_VERSION_MAJOR`: the major version of the repository agent API.
pub const TRITONREPOAGENT_API_VERSION_MAJOR: u32 = 0;
/// `TRITONREPOAGENT_API_VERSION_MINOR`: the minor version of the repository agent API.
pub const TRITONREPOAGENT_API_VERSION_MINOR: u32 = 1;

/// A repository agent (`TRITONREPOAGENT_Agent`), owned by the core.
pub type TRITONREPOAGENT_Agent = crate::engine::repoagent::Agent;
/// A model as an agent sees it (`TRITONREPOAGENT_AgentModel`), owned by the core.
pub type TRITONREPOAGENT_AgentModel = crate::engine::repoagent::AgentModel;

/// `TRITONREPOAGENT_ArtifactType`.
/// cbindgen:ignore
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TRITONREPOAGENT_ArtifactType(pub u32);

/// `TRITONREPOAGENT_ActionType`.
/// cbindgen:ignore
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TRITONREPOAGENT_ActionType(pub u32);

fn to_artifact_type(t: TRITONREPOAGENT_ArtifactType) -> Result<ArtifactType> {
    ArtifactType::from_u32(t.0)
        .ok_or_else(|| Error::invalid_arg(format!("invalid artifact type {}", t.0)))
}

/// The repository agent API version this library implements (0.1).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONREPOAGENT_ApiVersion(
    major: *mut u32,
    minor: *mut u32,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONREPOAGENT_ApiVersion's caller passes writable `major` and `minor`, as
    // tritonrepoagent.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONREPOAGENT_ApiVersion", || {
        let major = c.out_ptr(major, "major")?;
        let minor = c.out_ptr(minor, "minor")?;
        major.write(TRITONREPOAGENT_API_VERSION_MAJOR);
        minor.write(TRITONREPOAGENT_API_VERSION_MINOR);
        Ok(())
    })
}

/// Where the model's files are now: the repository directory, or where an earlier agent (or
/// `ModelRepositoryUpdate`) pointed it. Valid until the location changes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONREPOAGENT_ModelRepositoryLocation(
    agent: *mut TRITONREPOAGENT_Agent,
    model: *mut TRITONREPOAGENT_AgentModel,
    artifact_type: *mut TRITONREPOAGENT_ArtifactType,
    location: *mut *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONREPOAGENT_ModelRepositoryLocation's caller passes a live agent, a live agent
    // model and writable `artifact_type` and `location`, as tritonrepoagent.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONREPOAGENT_ModelRepositoryLocation", || {
        c.arg_ref(agent, "agent")?;
        let m = c.arg_ref(model, "model")?;
        let ty = c.out_ptr(artifact_type, "artifact_type")?;
        let loc = c.out_ptr(location, "location")?;
        let (t, p) = m.location()?;
        ty.write(TRITONREPOAGENT_ArtifactType(t as u32));
        loc.write(p);
        Ok(())
    })
}

/// A new temporary local directory the agent may fill (the same one until released);
/// only `TRITONREPOAGENT_ARTIFACT_FILESYSTEM` is supported. Deleted when the model is gone.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONREPOAGENT_ModelRepositoryLocationAcquire(
    agent: *mut TRITONREPOAGENT_Agent,
    model: *mut TRITONREPOAGENT_AgentModel,
    artifact_type: TRITONREPOAGENT_ArtifactType,
    location: *mut *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONREPOAGENT_ModelRepositoryLocationAcquire's caller passes a live agent, a live
    // agent model and writable `location`, as tritonrepoagent.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONREPOAGENT_ModelRepositoryLocationAcquire", || {
        c.arg_ref(agent, "agent")?;
        let m = c.arg_ref(model, "model")?;
        let loc = c.out_ptr(location, "location")?;
        let p = m.acquire_location(to_artifact_type(artifact_type)?)?;
        loc.write(p);
        Ok(())
    })
}

/// Delete the directory from `ModelRepositoryLocationAcquire`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONREPOAGENT_ModelRepositoryLocationRelease(
    agent: *mut TRITONREPOAGENT_Agent,
    model: *mut TRITONREPOAGENT_AgentModel,
    location: *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONREPOAGENT_ModelRepositoryLocationRelease's caller passes a live agent, a live
    // agent model and a NUL-terminated `location`, as tritonrepoagent.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONREPOAGENT_ModelRepositoryLocationRelease", || {
        c.arg_ref(agent, "agent")?;
        let m = c.arg_ref(model, "model")?;
        c.arg_cstr(location, "location")?;
        m.release_location()
    })
}

/// Point the model at other files (only during `TRITONREPOAGENT_ACTION_LOAD`); the model loads
/// from the last location its agents leave. The string is copied.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONREPOAGENT_ModelRepositoryUpdate(
    agent: *mut TRITONREPOAGENT_Agent,
    model: *mut TRITONREPOAGENT_AgentModel,
    artifact_type: TRITONREPOAGENT_ArtifactType,
    location: *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONREPOAGENT_ModelRepositoryUpdate's caller passes a live agent, a live agent
    // model and a NUL-terminated `location`, as tritonrepoagent.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONREPOAGENT_ModelRepositoryUpdate", || {
        c.arg_ref(agent, "agent")?;
        let m = c.arg_ref(model, "model")?;
        let location = c.arg_cstr(location, "location")?;
        m.set_location(to_artifact_type(artifact_type)?, location)
    })
}

/// How many parameters the model configuration gives this agent.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONREPOAGENT_ModelParameterCount(
    agent: *mut TRITONREPOAGENT_Agent,
    model: *mut TRITONREPOAGENT_AgentModel,
    count: *mut u32,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONREPOAGENT_ModelParameterCount's caller passes a live agent, a live agent model
    // and writable `count`, as tritonrepoagent.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONREPOAGENT_ModelParameterCount", || {
        c.arg_ref(agent, "agent")?;
        let m = c.arg_ref(model, "model")?;
        let out = c.out_ptr(count, "count")?;
        out.write(u32::try_from(m.parameter_count()).unwrap_or(u32::MAX));
        Ok(())
    })
}

/// Parameter `index` of this agent: name and value, valid as long as the model.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONREPOAGENT_ModelParameter(
    agent: *mut TRITONREPOAGENT_Agent,
    model: *mut TRITONREPOAGENT_AgentModel,
    index: u32,
    parameter_name: *mut *const c_char,
    parameter_value: *mut *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONREPOAGENT_ModelParameter's caller passes a live agent, a live agent model and
    // writable `parameter_name` and `parameter_value`, as tritonrepoagent.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONREPOAGENT_ModelParameter", || {
        c.arg_ref(agent, "agent")?;
        let m = c.arg_ref(model, "model")?;
        let name = c.out_ptr(parameter_name, "parameter_name")?;
        let value = c.out_ptr(parameter_value, "parameter_value")?;
        let (k, v) = m.parameter(index as usize)?;
        name.write(k);
        value.write(v);
        Ok(())
    })
}

/// The model configuration as JSON (`config_version` 1); the caller owns the message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONREPOAGENT_ModelConfig(
    agent: *mut TRITONREPOAGENT_Agent,
    model: *mut TRITONREPOAGENT_AgentModel,
    config_version: u32,
    model_config: *mut *mut TRITONSERVER_Message,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONREPOAGENT_ModelConfig's caller passes a live agent, a live agent model and
    // writable `model_config`, as tritonrepoagent.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONREPOAGENT_ModelConfig", || {
        c.arg_ref(agent, "agent")?;
        let m = c.arg_ref(model, "model")?;
        let out = c.out_ptr(model_config, "model_config")?;
        let json = m.config_json(config_version)?;
        out.write(into_raw(Box::new(Message::from_json_text(&json)?)));
        Ok(())
    })
}

/// The opaque state the agent stored with `ModelSetState` (NULL if none).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONREPOAGENT_ModelState(
    model: *mut TRITONREPOAGENT_AgentModel,
    state: *mut *mut c_void,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONREPOAGENT_ModelState's caller passes a live agent model and writable `state`,
    // as tritonrepoagent.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONREPOAGENT_ModelState", || {
        let m = c.arg_ref(model, "model")?;
        c.out_ptr(state, "state")?.write(m.state());
        Ok(())
    })
}

/// Store an opaque state with the agent model; the core never looks at it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONREPOAGENT_ModelSetState(
    model: *mut TRITONREPOAGENT_AgentModel,
    state: *mut c_void,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONREPOAGENT_ModelSetState's caller passes a live agent model, as
    // tritonrepoagent.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONREPOAGENT_ModelSetState", || {
        c.arg_ref(model, "model")?.set_state(state);
        Ok(())
    })
}

/// The opaque state the agent stored with `SetState` (NULL if none).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONREPOAGENT_State(
    agent: *mut TRITONREPOAGENT_Agent,
    state: *mut *mut c_void,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONREPOAGENT_State's caller passes a live agent and writable `state`, as
    // tritonrepoagent.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONREPOAGENT_State", || {
        let a = c.arg_ref(agent, "agent")?;
        c.out_ptr(state, "state")?.write(a.state());
        Ok(())
    })
}

/// Store an opaque state with the agent; the core never looks at it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONREPOAGENT_SetState(
    agent: *mut TRITONREPOAGENT_Agent,
    state: *mut c_void,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONREPOAGENT_SetState's caller passes a live agent, as tritonrepoagent.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONREPOAGENT_SetState", || {
        c.arg_ref(agent, "agent")?.set_state(state);
        Ok(())
    })
}
