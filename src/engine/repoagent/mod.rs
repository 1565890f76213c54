//! Repository agents (`TRITONREPOAGENT_*`): plugins that act on a model's files around its load
//! and unload (checksums, decryption, ...).
//!
//! A model lists its agents in `model_repository_agents { agents [{ name, parameters }] }`. Each
//! agent is a library `<repoagent-dir>/<name>/libtritonrepoagent_<name>.so`, opened through
//! [`AgentLoader`] (the C shell implements it with `dlopen`; tests with plain Rust). One
//! [`Agent`] exists per library and server, initialized once. Every load of a model creates one
//! [`AgentModel`] per listed agent, chained in an [`AgentModelList`]: each agent sees the
//! location the previous one left, and the model is loaded from the last one.
//!
//! The actions follow upstream's lifecycle: `LOAD` before the model loads (the agent may point
//! the model at other files with `ModelRepositoryUpdate`), then `LOAD_COMPLETE` or `LOAD_FAIL`;
//! `UNLOAD` when the unload starts and `UNLOAD_COMPLETE` once the model is gone. Whatever step
//! the core skips is sent when the agent model is dropped, as upstream's destructors do.

use std::ffi::{c_char, c_void, CString};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use triton_model_config as mc;
use triton_model_config::pb;

use super::error::{Error, Result};
use super::sync::{c_string, lock, OnceMap};

/// `TRITONREPOAGENT_ArtifactType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum ArtifactType {
    Filesystem = 0,
    RemoteFilesystem = 1,
}

impl ArtifactType {
    pub fn from_u32(v: u32) -> Option<ArtifactType> {
        match v {
            0 => Some(ArtifactType::Filesystem),
            1 => Some(ArtifactType::RemoteFilesystem),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            ArtifactType::Filesystem => "TRITONREPOAGENT_ARTIFACT_FILESYSTEM",
            ArtifactType::RemoteFilesystem => "TRITONREPOAGENT_ARTIFACT_REMOTE_FILESYSTEM",
        }
    }
}

/// `TRITONREPOAGENT_ActionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Action {
    Load = 0,
    LoadComplete = 1,
    LoadFail = 2,
    Unload = 3,
    UnloadComplete = 4,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Load => "TRITONREPOAGENT_ACTION_LOAD",
            Action::LoadComplete => "TRITONREPOAGENT_ACTION_LOAD_COMPLETE",
            Action::LoadFail => "TRITONREPOAGENT_ACTION_LOAD_FAIL",
            Action::Unload => "TRITONREPOAGENT_ACTION_UNLOAD",
            Action::UnloadComplete => "TRITONREPOAGENT_ACTION_UNLOAD_COMPLETE",
        }
    }
}

/// The entry points of one agent library. Only `model_action` is required in the library; an
/// implementation returns `Ok(())` for an optional entry point the library lacks.
pub trait AgentLibrary: Send + Sync {
    /// Where the library was found.
    fn path(&self) -> &Path;
    /// `TRITONREPOAGENT_Initialize`.
    fn initialize(&self, agent: &Agent) -> Result<()>;
    /// `TRITONREPOAGENT_Finalize`.
    fn finalize(&self, agent: &Agent) -> Result<()>;
    /// `TRITONREPOAGENT_ModelInitialize`.
    fn model_initialize(&self, agent: &Agent, model: &AgentModel) -> Result<()>;
    /// `TRITONREPOAGENT_ModelFinalize`.
    fn model_finalize(&self, agent: &Agent, model: &AgentModel) -> Result<()>;
    /// `TRITONREPOAGENT_ModelAction`.
    fn model_action(&self, agent: &Agent, model: &AgentModel, action: Action) -> Result<()>;
}

/// Opens agent libraries.
pub trait AgentLoader: Send + Sync {
    /// Open the library at `path`; a library without `TRITONREPOAGENT_ModelAction` is an error.
    fn open(&self, path: &Path) -> Result<Arc<dyn AgentLibrary>>;
}

/// A loader for servers created without plugin support: every agent is missing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoAgents;

impl AgentLoader for NoAgents {
    fn open(&self, path: &Path) -> Result<Arc<dyn AgentLibrary>> {
        Err(Error::unsupported(format!(
            "repository agents are not supported by this server: {}",
            path.display()
        )))
    }
}

/// The file name of agent `name`'s library.
pub fn library_name(name: &str) -> String {
    format!("libtritonrepoagent_{name}.so")
}

/// One initialized agent (`TRITONREPOAGENT_Agent`), shared by every model that lists it.
/// Finalized when the last user drops it.
pub struct Agent {
    name: String,
    library: Arc<dyn AgentLibrary>,
    state: AtomicPtr<c_void>,
    initialized: AtomicBool,
}

impl Agent {
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn library(&self) -> &Arc<dyn AgentLibrary> {
        &self.library
    }
    /// `TRITONREPOAGENT_State`.
    pub fn state(&self) -> *mut c_void {
        self.state.load(Ordering::Acquire)
    }
    /// `TRITONREPOAGENT_SetState`.
    pub fn set_state(&self, state: *mut c_void) {
        self.state.store(state, Ordering::Release);
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if !self.initialized.load(Ordering::Acquire) {
            return;
        }
        crate::log_verbose!(1, "unloading repository agent '{}'", self.name);
        if let Err(e) = self.library.finalize(self) {
            crate::log_error!("~TritonRepoAgent: {}", e.as_status_string());
        }
    }
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("name", &self.name)
            .field("library", &self.library.path())
            .finish()
    }
}

/// Finds, opens and initializes agents: one [`Agent`] per library path, for the server's life.
pub struct AgentManager {
    loader: Arc<dyn AgentLoader>,
    dir: PathBuf,
    agents: OnceMap<PathBuf, Agent>,
}

impl AgentManager {
    pub fn new(loader: Arc<dyn AgentLoader>, dir: impl Into<PathBuf>) -> AgentManager {
        AgentManager {
            loader,
            dir: dir.into(),
            agents: OnceMap::default(),
        }
    }

    /// The agent `name`, opened and initialized on first use.
    pub fn get_or_create(&self, name: &str) -> Result<Arc<Agent>> {
        let libname = library_name(name);
        let path = self.dir.join(name).join(&libname);
        if !path.exists() {
            return Err(Error::invalid_arg(format!(
                "unable to find '{libname}' for repo agent '{name}', searched: {}",
                self.dir.display()
            )));
        }
        // No lock is held while the library opens or its Initialize runs (see OnceMap).
        self.agents.get_or_create(
            path.clone(),
            || {
                let library = self.loader.open(&path)?;
                let agent = Arc::new(Agent {
                    name: name.to_owned(),
                    library,
                    state: AtomicPtr::new(std::ptr::null_mut()),
                    initialized: AtomicBool::new(false),
                });
                // An agent whose Initialize failed is dropped without a Finalize call.
                agent.library.initialize(&agent)?;
                agent.initialized.store(true, Ordering::Release);
                crate::log_info!("Loaded repository agent '{name}' from {}", path.display());
                Ok(agent)
            },
            || {
                Error::unavailable(format!(
                    "repository agent '{name}' is still being initialized"
                ))
            },
        )
    }

    /// Forget every agent; each is finalized once its last model is gone (never under a lock).
    pub fn clear(&self) {
        self.agents.clear();
    }
}

struct ModelInner {
    artifact_type: ArtifactType,
    location: CString,
    action: Option<Action>,
    /// A temporary directory from `ModelRepositoryLocationAcquire`, deleted on release or drop.
    acquired: Option<CString>,
}

/// One model as one agent sees it (`TRITONREPOAGENT_AgentModel`).
pub struct AgentModel {
    agent: Arc<Agent>,
    config: pb::ModelConfig,
    parameters: Vec<(CString, CString)>,
    state: AtomicPtr<c_void>,
    inner: Mutex<ModelInner>,
}

/// Where temporary directories are made (upstream's default mount directory).
const TEMP_ROOT: &str = "/tmp";

fn make_temp_dir() -> Result<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let root = Path::new(TEMP_ROOT);
    for _ in 0..64 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let seed = (u64::from(std::process::id()) << 32) ^ u64::from(nanos) ^ (n << 20);
        let candidate = root.join(format!("folder{:06x}", (seed ^ n) & 0xff_ffff));
        match std::fs::create_dir(&candidate) {
            Ok(()) => {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let _ = std::fs::set_permissions(
                        &candidate,
                        std::fs::Permissions::from_mode(0o700),
                    );
                }
                return Ok(candidate);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(Error::internal(format!(
                    "Failed to create local temp folder: {}, errno:{e}",
                    root.join("folderXXXXXX").display()
                )))
            }
        }
    }
    Err(Error::internal(format!(
        "Failed to create local temp folder: {}",
        root.join("folderXXXXXX").display()
    )))
}

impl AgentModel {
    /// Create the agent's view of a model at `location` and call the agent's
    /// `ModelInitialize`. On an error the model is dropped (its `ModelFinalize` still runs).
    /// Boxed: its address is the handle the agent sees, for the model's whole life.
    pub fn create(
        agent: Arc<Agent>,
        artifact_type: ArtifactType,
        location: &str,
        config: pb::ModelConfig,
        parameters: Vec<(String, String)>,
    ) -> Result<Box<AgentModel>> {
        let model = Box::new(AgentModel {
            agent,
            config,
            parameters: parameters
                .iter()
                .map(|(k, v)| (c_string(k), c_string(v)))
                .collect(),
            state: AtomicPtr::new(std::ptr::null_mut()),
            inner: Mutex::new(ModelInner {
                artifact_type,
                location: c_string(location),
                action: None,
                acquired: None,
            }),
        });
        model.agent.library.model_initialize(&model.agent, &model)?;
        Ok(model)
    }

    pub fn agent(&self) -> &Arc<Agent> {
        &self.agent
    }

    /// `TRITONREPOAGENT_ModelRepositoryLocation`: the pointer stays valid until the location
    /// changes or the model is dropped.
    pub fn location(&self) -> Result<(ArtifactType, *const c_char)> {
        let inner = lock(&self.inner);
        if inner.location.as_bytes().is_empty() {
            return Err(Error::internal("Model repository location is not set"));
        }
        Ok((inner.artifact_type, inner.location.as_ptr()))
    }

    /// The location as text.
    pub fn location_string(&self) -> (ArtifactType, String) {
        let inner = lock(&self.inner);
        (
            inner.artifact_type,
            inner.location.to_string_lossy().into_owned(),
        )
    }

    /// `TRITONREPOAGENT_ModelRepositoryUpdate`: only during `LOAD`.
    pub fn set_location(&self, artifact_type: ArtifactType, location: &str) -> Result<()> {
        let mut inner = lock(&self.inner);
        if inner.action != Some(Action::Load) {
            return Err(Error::invalid_arg(format!(
                "location can only be updated during TRITONREPOAGENT_ACTION_LOAD, current \
                 action type is {}",
                inner.action.map_or("not set", Action::name)
            )));
        }
        inner.artifact_type = artifact_type;
        inner.location = c_string(location);
        Ok(())
    }

    /// `TRITONREPOAGENT_ModelRepositoryLocationAcquire`: a temporary local directory, the same
    /// one until it is released.
    pub fn acquire_location(&self, artifact_type: ArtifactType) -> Result<*const c_char> {
        if artifact_type != ArtifactType::Filesystem {
            return Err(Error::invalid_arg(
                "Unexpected artifact type, expects 'TRITONREPOAGENT_ARTIFACT_FILESYSTEM'",
            ));
        }
        let mut inner = lock(&self.inner);
        if inner.acquired.is_none() {
            let dir = make_temp_dir()?;
            inner.acquired = Some(c_string(&dir.to_string_lossy()));
        }
        Ok(inner
            .acquired
            .as_ref()
            .map_or(std::ptr::null(), |c| c.as_ptr()))
    }

    /// `TRITONREPOAGENT_ModelRepositoryLocationRelease`: delete the acquired directory.
    pub fn release_location(&self) -> Result<()> {
        let Some(dir) = lock(&self.inner).acquired.take() else {
            return Err(Error::unavailable("No mutable location to be deleted"));
        };
        let path = PathBuf::from(dir.to_string_lossy().into_owned());
        if let Err(e) = std::fs::remove_dir_all(&path) {
            crate::log_error!(
                "Failed to delete previously acquired location '{}': {e}",
                path.display()
            );
        }
        Ok(())
    }

    /// The acquired temporary directory, if any.
    pub fn acquired_location(&self) -> Option<PathBuf> {
        lock(&self.inner)
            .acquired
            .as_ref()
            .map(|c| PathBuf::from(c.to_string_lossy().into_owned()))
    }

    /// `TRITONREPOAGENT_ModelParameterCount`.
    pub fn parameter_count(&self) -> usize {
        self.parameters.len()
    }

    /// `TRITONREPOAGENT_ModelParameter`: name and value, valid as long as the model.
    pub fn parameter(&self, index: usize) -> Result<(*const c_char, *const c_char)> {
        let (k, v) = self
            .parameters
            .get(index)
            .ok_or_else(|| Error::invalid_arg("index out of range for model parameters"))?;
        Ok((k.as_ptr(), v.as_ptr()))
    }

    /// The parameters as text.
    pub fn parameters(&self) -> Vec<(String, String)> {
        self.parameters
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.to_string_lossy().into_owned(),
                )
            })
            .collect()
    }

    /// `TRITONREPOAGENT_ModelConfig`: the configuration as JSON (only version 1 exists).
    pub fn config_json(&self, config_version: u32) -> Result<String> {
        if config_version != 1 {
            return Err(Error::invalid_arg(format!(
                "model configuration version {config_version} not supported, supported \
                 versions are: 1"
            )));
        }
        Ok(mc::to_json(&self.config)?)
    }

    /// `TRITONREPOAGENT_ModelState`.
    pub fn state(&self) -> *mut c_void {
        self.state.load(Ordering::Acquire)
    }
    /// `TRITONREPOAGENT_ModelSetState`.
    pub fn set_state(&self, state: *mut c_void) {
        self.state.store(state, Ordering::Release);
    }

    /// Send `action` to the agent, checking the lifecycle order as upstream does.
    pub fn invoke(&self, action: Action) -> Result<()> {
        {
            let mut inner = lock(&self.inner);
            let current = inner.action;
            let allowed = match action {
                Action::Load => current.is_none(),
                Action::LoadComplete | Action::LoadFail => current == Some(Action::Load),
                Action::Unload => current == Some(Action::LoadComplete),
                Action::UnloadComplete => current == Some(Action::Unload),
            };
            if !allowed {
                return Err(Error::internal(match current {
                    None => format!("Unexpected lifecycle start state {}", action.name()),
                    Some(c) => format!(
                        "Unexpected lifecycle state transition from {} to {}",
                        c.name(),
                        action.name()
                    ),
                }));
            }
            inner.action = Some(action);
        }
        self.agent.library.model_action(&self.agent, self, action)
    }

    fn action_logged(&self, action: Action) {
        if let Err(e) = self.agent.library.model_action(&self.agent, self, action) {
            crate::log_error!("Inform {}: {}", action.name(), e.as_status_string());
        }
    }
}

impl Drop for AgentModel {
    fn drop(&mut self) {
        // Finish the lifecycle the agent was told about.
        let action = lock(&self.inner).action;
        match action {
            Some(Action::Load) => self.action_logged(Action::LoadFail),
            Some(Action::LoadComplete) => {
                self.action_logged(Action::Unload);
                self.action_logged(Action::UnloadComplete);
            }
            Some(Action::Unload) => self.action_logged(Action::UnloadComplete),
            Some(Action::LoadFail | Action::UnloadComplete) | None => {}
        }
        if let Err(e) = self.agent.library.model_finalize(&self.agent, self) {
            crate::log_error!("~TritonRepoAgentModel: {}", e.as_status_string());
        }
        if lock(&self.inner).acquired.is_some() {
            let _ = self.release_location();
        }
    }
}

impl std::fmt::Debug for AgentModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentModel")
            .field("agent", &self.agent.name)
            .field("location", &self.location_string().1)
            .finish()
    }
}

/// The agents of one load of a model, in configuration order. Shared by the versions of that
/// load; when the last one is gone an outstanding `UNLOAD` is completed.
pub struct AgentModelList {
    models: Vec<Box<AgentModel>>,
    last: Mutex<Action>,
}

impl AgentModelList {
    /// The agents the configuration lists, with their parameters.
    pub fn configured(cfg: &pb::ModelConfig) -> Vec<(String, Vec<(String, String)>)> {
        cfg.model_repository_agents
            .as_ref()
            .map(|a| {
                a.agents
                    .iter()
                    .map(|agent| {
                        let params = agent
                            .parameters
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect();
                        (agent.name.clone(), params)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Create one agent model per configured agent and send each `LOAD` in order: each agent
    /// starts from the location the previous one left (and the configuration found there).
    /// On an error the agents created so far get `LOAD_FAIL` as they are dropped.
    pub fn load(
        manager: &AgentManager,
        cfg: &pb::ModelConfig,
        model_dir: &Path,
        config_name: &str,
    ) -> Result<AgentModelList> {
        let mut models: Vec<Box<AgentModel>> = Vec::new();
        let mut artifact_type = ArtifactType::Filesystem;
        let mut location = model_dir.to_string_lossy().into_owned();
        let mut config = cfg.clone();
        for (name, params) in Self::configured(cfg) {
            let agent = manager.get_or_create(&name)?;
            if let Some(prev) = models.last() {
                (artifact_type, location) = prev.location_string();
                config = read_config_at(Path::new(&location), config_name).unwrap_or_default();
            }
            let model =
                AgentModel::create(agent, artifact_type, &location, config.clone(), params)?;
            model.invoke(Action::Load)?;
            models.push(model);
        }
        Ok(AgentModelList {
            models,
            last: Mutex::new(Action::Load),
        })
    }

    /// Where the last agent left the model.
    pub fn location(&self) -> Option<(ArtifactType, String)> {
        self.models.last().map(|m| m.location_string())
    }

    pub fn models(&self) -> &[Box<AgentModel>] {
        &self.models
    }

    /// Send `action` to every agent: `LOAD` and `UNLOAD` in order, the others in reverse
    /// order. A second `UNLOAD` is ignored. Stops at the first error.
    pub fn invoke(&self, action: Action) -> Result<()> {
        {
            let mut last = lock(&self.last);
            if action == Action::Unload && *last == Action::Unload {
                return Ok(());
            }
            *last = action;
        }
        match action {
            Action::Load | Action::Unload => {
                for m in &self.models {
                    m.invoke(action)?;
                }
            }
            _ => {
                for m in self.models.iter().rev() {
                    m.invoke(action)?;
                }
            }
        }
        Ok(())
    }

    /// [`AgentModelList::invoke`], logging an error instead of returning it.
    pub fn invoke_logged(&self, action: Action) {
        if let Err(e) = self.invoke(action) {
            crate::log_error!(
                "Agent model returns error on {}: {}",
                action.name(),
                e.as_status_string()
            );
        }
    }
}

impl Drop for AgentModelList {
    fn drop(&mut self) {
        if *lock(&self.last) == Action::Unload {
            self.invoke_logged(Action::UnloadComplete);
        }
    }
}

impl std::fmt::Debug for AgentModelList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.models).finish()
    }
}

/// The configuration file at `dir` (`configs/<config_name>.pbtxt` when given and present,
/// otherwise `config.pbtxt`), as written.
fn read_config_at(dir: &Path, config_name: &str) -> Option<pb::ModelConfig> {
    let custom = (!config_name.is_empty())
        .then(|| dir.join("configs").join(format!("{config_name}.pbtxt")))
        .filter(|p| p.exists());
    let path = custom.unwrap_or_else(|| dir.join("config.pbtxt"));
    mc::read_config_file(&path).ok()
}

#[cfg(test)]
mod tests;
