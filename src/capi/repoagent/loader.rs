//! Opening repository agent libraries with `dlopen(RTLD_NOW | RTLD_LOCAL)` and calling their
//! entry points. `TRITONREPOAGENT_ModelAction` is required; `Initialize`, `Finalize`,
//! `ModelInitialize` and `ModelFinalize` are optional. Libraries are opened once per process
//! and never closed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use libloading::os::unix::{Library, Symbol, RTLD_LOCAL, RTLD_NOW};

use super::{TRITONREPOAGENT_ActionType, TRITONREPOAGENT_Agent, TRITONREPOAGENT_AgentModel};
use crate::capi::handle::backend_error;
use crate::capi::server::error::TRITONSERVER_Error;
use crate::engine::repoagent::{Action, Agent, AgentLibrary, AgentLoader, AgentModel};
use crate::engine::{Error, Result};

type AgentFn = unsafe extern "C" fn(*mut TRITONREPOAGENT_Agent) -> *mut TRITONSERVER_Error;
type ModelFn = unsafe extern "C" fn(
    *mut TRITONREPOAGENT_Agent,
    *mut TRITONREPOAGENT_AgentModel,
) -> *mut TRITONSERVER_Error;
type ActionFn = unsafe extern "C" fn(
    *mut TRITONREPOAGENT_Agent,
    *mut TRITONREPOAGENT_AgentModel,
    TRITONREPOAGENT_ActionType,
) -> *mut TRITONSERVER_Error;

/// An opened agent library and its entry points.
pub struct CAgentLibrary {
    path: PathBuf,
    initialize: Option<AgentFn>,
    finalize: Option<AgentFn>,
    model_initialize: Option<ModelFn>,
    model_finalize: Option<ModelFn>,
    model_action: ActionFn,
    _library: Library,
}

static LIBRARIES: LazyLock<Mutex<HashMap<PathBuf, Arc<CAgentLibrary>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Opens agent libraries with `dlopen`.
#[derive(Debug, Default, Clone, Copy)]
pub struct DlopenAgentLoader;

impl AgentLoader for DlopenAgentLoader {
    fn open(&self, path: &Path) -> Result<Arc<dyn AgentLibrary>> {
        let mut libs = crate::engine::sync::lock(&LIBRARIES);
        if let Some(lib) = libs.get(path) {
            return Ok(lib.clone());
        }
        let lib = Arc::new(CAgentLibrary::open(path)?);
        libs.insert(path.to_path_buf(), lib.clone());
        Ok(lib)
    }
}

/// Look up an optional symbol and copy out its function pointer.
///
/// # Safety
///
/// `T` is the function pointer type tritonrepoagent.h declares for the entry point `name`.
unsafe fn optional<T: Copy>(lib: &Library, name: &[u8]) -> Option<T> {
    // SAFETY: the caller names an entry point of the repository agent API and asks for the
    // fn-pointer type `T` that tritonrepoagent.h fixes for it.
    unsafe { lib.get::<T>(name) }.ok().map(|s: Symbol<T>| *s)
}

impl CAgentLibrary {
    fn open(path: &Path) -> Result<CAgentLibrary> {
        // SAFETY: opening an agent library runs its initializers; loading the agents a model
        // configuration names is what the server is asked to do.
        let library = unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) }.map_err(|e| {
            let detail = std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| e.to_string());
            Error::not_found(format!(
                "unable to load repository agent library '{}': {detail}",
                path.display()
            ))
        })?;
        // SAFETY: ActionFn is TRITONREPOAGENT_ModelAction's type in tritonrepoagent.h.
        let model_action: ActionFn =
            unsafe { optional(&library, b"TRITONREPOAGENT_ModelAction\0") }.ok_or_else(|| {
                Error::not_found(format!(
                    "unable to find required entrypoint 'TRITONREPOAGENT_ModelAction' in \
                     repository agent library: {}",
                    path.display()
                ))
            })?;
        // SAFETY: each field's type (AgentFn, ModelFn) is the one tritonrepoagent.h declares for
        // the entry point looked up for it.
        let lib = unsafe {
            CAgentLibrary {
                path: path.to_path_buf(),
                initialize: optional(&library, b"TRITONREPOAGENT_Initialize\0"),
                finalize: optional(&library, b"TRITONREPOAGENT_Finalize\0"),
                model_initialize: optional(&library, b"TRITONREPOAGENT_ModelInitialize\0"),
                model_finalize: optional(&library, b"TRITONREPOAGENT_ModelFinalize\0"),
                model_action,
                _library: library,
            }
        };
        Ok(lib)
    }
}

fn agent_ptr(a: &Agent) -> *mut TRITONREPOAGENT_Agent {
    std::ptr::from_ref(a).cast_mut()
}
fn model_ptr(m: &AgentModel) -> *mut TRITONREPOAGENT_AgentModel {
    std::ptr::from_ref(m).cast_mut()
}

impl AgentLibrary for CAgentLibrary {
    fn path(&self) -> &Path {
        &self.path
    }

    fn initialize(&self, agent: &Agent) -> Result<()> {
        let Some(f) = self.initialize else {
            return Ok(());
        };
        // SAFETY: `f` is TRITONREPOAGENT_Initialize; the agent outlives the call.
        // It returns NULL or a new error object, which the core then owns (tritonrepoagent.h).
        unsafe { backend_error(f(agent_ptr(agent))) }
    }

    fn finalize(&self, agent: &Agent) -> Result<()> {
        let Some(f) = self.finalize else {
            return Ok(());
        };
        // SAFETY: `f` is TRITONREPOAGENT_Finalize; the agent is alive during its finalization.
        // It returns NULL or a new error object, which the core then owns (tritonrepoagent.h).
        unsafe { backend_error(f(agent_ptr(agent))) }
    }

    fn model_initialize(&self, agent: &Agent, model: &AgentModel) -> Result<()> {
        let Some(f) = self.model_initialize else {
            return Ok(());
        };
        // SAFETY: `f` is TRITONREPOAGENT_ModelInitialize with a live agent and agent model.
        // It returns NULL or a new error object, which the core then owns (tritonrepoagent.h).
        unsafe { backend_error(f(agent_ptr(agent), model_ptr(model))) }
    }

    fn model_finalize(&self, agent: &Agent, model: &AgentModel) -> Result<()> {
        let Some(f) = self.model_finalize else {
            return Ok(());
        };
        // SAFETY: `f` is TRITONREPOAGENT_ModelFinalize; the agent model is alive during its own
        // finalization.
        // It returns NULL or a new error object, which the core then owns (tritonrepoagent.h).
        unsafe { backend_error(f(agent_ptr(agent), model_ptr(model))) }
    }

    fn model_action(&self, agent: &Agent, model: &AgentModel, action: Action) -> Result<()> {
        // SAFETY: `self.model_action` is TRITONREPOAGENT_ModelAction with a live agent and agent
        // model and a valid action value.
        // It returns NULL or a new error object, which the core then owns (tritonrepoagent.h).
        unsafe {
            backend_error((self.model_action)(
                agent_ptr(agent),
                model_ptr(model),
                TRITONREPOAGENT_ActionType(action as u32),
            ))
        }
    }
}
