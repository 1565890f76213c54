//! Inference entry point and statistics.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{Server, ServerState};
use crate::engine::error::{Error, Result};
use crate::engine::infer::{
    monotonic_ns, normalize_request_with, HostMemory, InferenceRequest, OwnedMemory,
};
use crate::engine::model::{Model, ModelState};

impl Server {
    /// Accept a request for asynchronous execution. On an error the request is handed back
    /// untouched (the caller keeps ownership, no callback fires).
    pub fn infer(
        &self,
        request: Box<InferenceRequest>,
    ) -> std::result::Result<(), (Error, Box<InferenceRequest>)> {
        self.infer_with_memory(request, &OwnedMemory)
    }

    /// [`Server::infer`], reading input data through `memory` for the checks that look inside
    /// it (BYTES tensors).
    pub fn infer_with_memory(
        &self,
        mut request: Box<InferenceRequest>,
        memory: &dyn HostMemory,
    ) -> std::result::Result<(), (Error, Box<InferenceRequest>)> {
        if self.state() != ServerState::Ready {
            return Err((Error::unavailable("Server not ready"), request));
        }
        if let Err(e) = request.response_factory() {
            return Err((e, request));
        }
        request.reset_cancelled();
        if let Err(e) = normalize_request_with(&mut request, memory) {
            return Err((e, request));
        }
        let start_ns = monotonic_ns();
        request.request_start_ns.store(start_ns, Ordering::Release);
        request.trace_accepted(start_ns);
        // Response cache (plugins.rs): a hit is answered here, without executing the model.
        let Some(request) = self.respond_from_cache(request, memory) else {
            return Ok(());
        };
        let model = request.model().clone();
        model.enqueue(request)
    }

    /// `TRITONSERVER_ServerModelStatistics`: `{"model_stats": [...]}` for the READY versions of
    /// one model (or one of its versions), or of every model when `name` is empty.
    pub fn model_statistics(&self, name: &str, version: i64) -> Result<serde_json::Value> {
        if self.state() != ServerState::Ready {
            return Err(Error::unavailable("Server not ready"));
        }
        let table = self.repository().snapshot();
        let ready = |entry: &crate::engine::repository::ModelEntry| -> Vec<(i64, Arc<Model>)> {
            entry
                .versions
                .iter()
                .filter_map(|(v, slot)| match (slot.state, &slot.model) {
                    (ModelState::Ready, Some(m)) => Some((*v, m.clone())),
                    _ => None,
                })
                .collect()
        };
        let mut stats = Vec::new();
        if name.is_empty() {
            // Every READY version, in upstream's (identifier string) order. Upstream 2.51 fails
            // this call with namespacing on (it looks each model up again by
            // `<namespace>::<name>`); that is a defect we do not copy: every model is listed.
            let mut ids: Vec<_> = table.models.iter().collect();
            ids.sort_by_key(|(id, _)| id.to_string());
            for (id, e) in ids {
                for (v, m) in ready(e) {
                    stats.push(m.stats().to_json(&id.name, v));
                }
            }
        } else {
            // A name that is unknown or (with namespacing) ambiguous has no READY version.
            let versions = self
                .resolve(&table, name)
                .ok()
                .and_then(|id| table.models.get(&id))
                .map(|e| ready(e))
                .unwrap_or_default();
            if versions.is_empty() {
                return Err(Error::invalid_arg(format!(
                    "requested model '{name}' is not available"
                )));
            }
            let chosen: Vec<(i64, Arc<Model>)> = if version == -1 {
                versions
            } else {
                versions
                    .into_iter()
                    .filter(|(v, _)| *v == version)
                    .collect()
            };
            if chosen.is_empty() {
                return Err(Error::invalid_arg(format!(
                    "requested model version is not available for model '{name}'"
                )));
            }
            for (v, m) in chosen {
                stats.push(m.stats().to_json(name, v));
            }
        }
        Ok(serde_json::json!({ "model_stats": stats }))
    }
}
