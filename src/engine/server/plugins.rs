//! The server's use of repository agents and of the response cache. Kept apart from the load
//! and inference code, which call in here at a few marked points.

use std::path::PathBuf;
use std::sync::Arc;

use triton_model_config::pb;

use super::load_model::LoadFailure;
use super::Server;
use crate::engine::cache::{
    enabled_for, CacheLoader, InsertingCallback, NoCaches, OutputMemory, ResponseCache,
};
use crate::engine::error::{Error, Result};
use crate::engine::infer::{
    monotonic_ns, HostMemory, InferenceRequest, RELEASE_ALL, RESPONSE_FINAL,
};
use crate::engine::repoagent::{Action, AgentLoader, AgentModelList, ArtifactType, NoAgents};
use crate::engine::repository::ModelId;

/// How a server opens plugins other than backends: repository agents and cache
/// implementations, plus access to output memory for the response cache.
#[derive(Clone)]
pub struct Plugins {
    pub agents: Arc<dyn AgentLoader>,
    pub caches: Arc<dyn CacheLoader>,
    pub memory: Arc<dyn OutputMemory>,
}

impl Plugins {
    /// No agents or caches can be opened.
    pub fn none() -> Plugins {
        Plugins {
            agents: Arc::new(NoAgents),
            caches: Arc::new(NoCaches),
            memory: Arc::new(NoCaches),
        }
    }
}

impl std::fmt::Debug for Plugins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugins").finish_non_exhaustive()
    }
}

/// What a load continues with after the repository agents ran.
pub(super) struct AgentOutcome {
    pub dir: PathBuf,
    pub versions: Vec<i64>,
    pub agents: Option<Arc<AgentModelList>>,
}

impl Server {
    /// The response cache, if one is configured.
    pub fn response_cache(&self) -> Option<&Arc<ResponseCache>> {
        self.cache.as_ref()
    }

    // --- Repository agents ---

    /// Send `LOAD` to the model's repository agents, if its configuration lists any: the model
    /// then loads from where the last agent left it, with the versions found there. A failure
    /// marks the versions to load UNAVAILABLE with the agent's error as the reason.
    pub(super) fn agents_load(
        &self,
        id: &ModelId,
        dir: PathBuf,
        cfg: &pb::ModelConfig,
        versions: Vec<i64>,
        explicit: bool,
    ) -> std::result::Result<AgentOutcome, LoadFailure> {
        let name = &id.name;
        if AgentModelList::configured(cfg).is_empty() {
            return Ok(AgentOutcome {
                dir,
                versions,
                agents: None,
            });
        }
        let attempt = || -> Result<AgentOutcome> {
            let list =
                AgentModelList::load(&self.agents, cfg, &dir, &self.options.model_config_name)?;
            let (kind, location) = list
                .location()
                .ok_or_else(|| Error::internal("Model repository location is not set"))?;
            if kind != ArtifactType::Filesystem {
                // The list is dropped: the agents get LOAD_FAIL.
                return Err(Error::invalid_arg(format!(
                    "repository agents left model '{name}' at a {} location, only local \
                     directories can be loaded",
                    kind.name()
                )));
            }
            let new_dir = PathBuf::from(location);
            let versions = if new_dir == dir && !versions.is_empty() {
                versions.clone()
            } else {
                super::load_model::versions_to_load(name, &new_dir, cfg)?
            };
            Ok(AgentOutcome {
                dir: new_dir,
                versions,
                agents: Some(Arc::new(list)),
            })
        };
        attempt().map_err(|e| {
            crate::log_error!(
                "failed to load '{name}': repository agent: {}",
                e.as_status_string()
            );
            let reason = e.as_status_string();
            let mut message = String::new();
            self.repo.update(id, |entry| {
                entry.explicit |= explicit;
                entry.unloaded = false;
                if versions.is_empty() {
                    entry.reason = reason.clone();
                }
                for v in &versions {
                    entry.fail_version(*v, reason.clone(), &mut message);
                }
            });
            if message.is_empty() {
                message = reason;
            }
            LoadFailure::Load(Error::invalid_arg(message))
        })
    }

    /// Tell the agents how the load ended: `LOAD_COMPLETE` or `LOAD_FAIL`.
    pub(super) fn agents_load_done(agents: &Option<Arc<AgentModelList>>, ok: bool) {
        if let Some(list) = agents {
            list.invoke_logged(if ok {
                Action::LoadComplete
            } else {
                Action::LoadFail
            });
        }
    }

    /// Send `UNLOAD` to the agents of versions starting to unload (`UNLOAD_COMPLETE` follows
    /// when the last of them is gone).
    pub(super) fn agents_unload(lists: &[Arc<AgentModelList>]) {
        let mut seen: Vec<&Arc<AgentModelList>> = Vec::new();
        for l in lists {
            if !seen.iter().any(|s| Arc::ptr_eq(s, l)) {
                seen.push(l);
                l.invoke_logged(Action::Unload);
            }
        }
    }

    // --- Response cache ---

    /// For a model with the response cache enabled: answer the request from the cache (`None`:
    /// the response was sent and the request released), or give it back to be queued, set up
    /// to insert its response. Called after the request was checked and normalized.
    pub(super) fn respond_from_cache(
        &self,
        mut request: Box<InferenceRequest>,
        memory: &dyn HostMemory,
    ) -> Option<Box<InferenceRequest>> {
        let Some(cache) = self.cache.clone() else {
            return Some(request);
        };
        if !enabled_for(&request.model().config()) {
            return Some(request);
        }
        // A reused request: forget the previous use's key.
        request.unwrap_response_callback();
        let key = match cache.key(&request, memory) {
            Ok(k) => k,
            Err(e) => {
                crate::log_error!("Failed to hash request: {}", e.message());
                return Some(request);
            }
        };
        let lookup_start = monotonic_ns();
        let hit = cache.lookup(&key);
        let lookup_ns = monotonic_ns().saturating_sub(lookup_start);
        if let Some(outputs) = hit {
            let factory = match request.response_factory() {
                Ok(f) => f.clone(),
                Err(_) => return Some(request),
            };
            let mut response = factory.create();
            match cache.fill_response(&mut response, &outputs) {
                Ok(()) => {
                    let model = request.model().clone();
                    model.stats().report_cache_hit(
                        request
                            .request_start_ns
                            .load(std::sync::atomic::Ordering::Acquire),
                        lookup_ns,
                    );
                    response.send(RESPONSE_FINAL);
                    request.release(RELEASE_ALL);
                    return None;
                }
                Err(e) => {
                    crate::log_error!(
                        "{}failed to build the response from cache key {key}: {}",
                        request.log_prefix(),
                        e.message()
                    );
                    drop(response);
                }
            }
        }
        request.wrap_response_callback(|inner| {
            Arc::new(InsertingCallback {
                inner,
                cache,
                key,
                lookup_ns,
            })
        });
        Some(request)
    }
}

/// The cache the options configure, created as `TRITONSERVER_ServerNew` does.
pub(super) fn create_cache(
    options: &super::Options,
    plugins: &Plugins,
) -> Result<Option<Arc<ResponseCache>>> {
    ResponseCache::create(
        &options.cache_configs,
        &options.cache_dir,
        plugins.caches.as_ref(),
        plugins.memory.clone(),
    )
}
