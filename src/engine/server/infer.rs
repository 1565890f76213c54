//! Inference entry point and statistics.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{Server, ServerState};
use crate::engine::error::{Error, Result};
use crate::engine::infer::{
    monotonic_ns, normalize_request_with, HostMemory, InferenceRequest, OwnedMemory,
};
use crate::engine::model::{Model, ModelState};

/// A request the caller still owns while the server checks it. If a panic unwinds through the
/// check, the request is leaked rather than freed: the caller gets an INTERNAL error, still
/// owns the request and may delete it, as after any other error.
struct CallerKeeps(Option<Box<InferenceRequest>>);

impl CallerKeeps {
    fn get(&mut self) -> &mut InferenceRequest {
        self.0.as_deref_mut().expect("request present until taken")
    }
    fn take(&mut self) -> Box<InferenceRequest> {
        self.0.take().expect("request taken once")
    }
}

impl Drop for CallerKeeps {
    fn drop(&mut self) {
        if let Some(r) = self.0.take() {
            if std::thread::panicking() {
                Box::leak(r);
            }
        }
    }
}

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
        request: Box<InferenceRequest>,
        memory: &dyn HostMemory,
    ) -> std::result::Result<(), (Error, Box<InferenceRequest>)> {
        let mut held = CallerKeeps(Some(request));
        let checked = self.check_request(held.get(), memory);
        let mut request = held.take();
        if let Err(e) = checked {
            request.unaccept();
            return Err((e, request));
        }
        // Response cache (plugins.rs): a hit is answered here, without executing the model.
        let Some(mut request) = self.respond_from_cache(request, memory) else {
            return Ok(());
        };
        let timeout_us = match request.timeout_us {
            0 => self.options().default_request_timeout_us,
            t => t,
        };
        if timeout_us > 0 {
            request.arm_deadline(timeout_us);
        }
        let model = request.model().clone();
        model.enqueue(request).map_err(|(e, mut request)| {
            request.unaccept();
            (e, request)
        })
    }

    /// Validate a request and accept it: from then until its release it holds a use of its
    /// model version, which is therefore not finalized while the request is with the core or
    /// the backend. Validation errors come first, as upstream reports them.
    fn check_request(&self, request: &mut InferenceRequest, memory: &dyn HostMemory) -> Result<()> {
        if self.state() != ServerState::Ready {
            return Err(Error::unavailable("Server not ready"));
        }
        request.reset_cancelled();
        normalize_request_with(request, memory)?;
        request.response_factory()?;
        request.accept()?;
        let start_ns = monotonic_ns();
        request.request_start_ns.store(start_ns, Ordering::Release);
        request.trace_accepted(start_ns);
        Ok(())
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
