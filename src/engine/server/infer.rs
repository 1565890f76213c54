//! Inference entry point and statistics.

use std::sync::atomic::Ordering;

use super::{Server, ServerState};
use crate::engine::error::{Error, Result};
use crate::engine::infer::{
    monotonic_ns, normalize_request_with, HostMemory, InferenceRequest, OwnedMemory,
};
use crate::engine::model::ModelState;

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

    /// `TRITONSERVER_ServerModelStatistics`: `{"model_stats": [...]}` for one model (and
    /// version), or for every loaded model when `name` is empty.
    pub fn model_statistics(&self, name: &str, version: i64) -> Result<serde_json::Value> {
        if self.state() != ServerState::Ready {
            return Err(Error::unavailable("Server not ready"));
        }
        let table = self.repository().snapshot();
        let mut stats = Vec::new();
        if name.is_empty() {
            for (n, e) in &table.models {
                for (v, slot) in &e.versions {
                    if let (ModelState::Ready, Some(m)) = (slot.state, &slot.model) {
                        stats.push(m.stats().to_json(n, *v));
                    }
                }
            }
        } else {
            let model = self.get_model(name, version)?;
            if version == -1 {
                let e = &table.models[name];
                for (v, slot) in &e.versions {
                    if let (ModelState::Ready, Some(m)) = (slot.state, &slot.model) {
                        stats.push(m.stats().to_json(name, *v));
                    }
                }
            } else {
                stats.push(model.stats().to_json(name, model.version()));
            }
        }
        Ok(serde_json::json!({ "model_stats": stats }))
    }
}
