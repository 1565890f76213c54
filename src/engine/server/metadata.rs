//! Model metadata, configuration and properties as `TRITONSERVER_ServerModel*` report them.

use serde_json::{json, Value};

use super::Server;
use crate::engine::error::{Error, Result};
use crate::engine::model::ModelState;
use crate::engine::types::DataType;

/// `TRITONSERVER_TXN_ONE_TO_ONE`.
pub(crate) const TXN_ONE_TO_ONE: u32 = 1;
/// `TRITONSERVER_TXN_DECOUPLED`.
pub(crate) const TXN_DECOUPLED: u32 = 2;
/// `TRITONSERVER_BATCH_UNKNOWN`.
pub(crate) const BATCH_UNKNOWN: u32 = 1;
/// `TRITONSERVER_BATCH_FIRST_DIM`.
pub(crate) const BATCH_FIRST_DIM: u32 = 2;

fn protocol_name(data_type: i32) -> &'static str {
    match u32::try_from(data_type).ok().and_then(DataType::from_u32) {
        Some(DataType::Invalid) | None => "",
        Some(d) => d.name(),
    }
}

impl Server {
    /// Model metadata: `{"name", "versions", "platform", "inputs", "outputs"}`. `versions` is the
    /// requested version, or for -1 every READY version; `platform` falls back to the backend;
    /// shapes get a leading -1 when the model batches.
    pub fn model_metadata(&self, name: &str, version: i64) -> Result<Value> {
        let model = self.get_model(name, version)?;
        if self.state() != super::ServerState::Ready {
            return Err(Error::unavailable("Server not ready"));
        }
        let versions: Vec<String> = if version != -1 {
            vec![version.to_string()]
        } else {
            let table = self.repo.snapshot();
            let id = self.resolve(&table, name)?;
            table
                .models
                .get(&id)
                .map(|e| {
                    e.versions
                        .iter()
                        .filter(|(_, s)| s.state == ModelState::Ready)
                        .map(|(v, _)| v.to_string())
                        .collect()
                })
                .unwrap_or_default()
        };
        let cfg = model.config();
        let batch = cfg.max_batch_size >= 1;
        let tensor = |n: &str, dt: i32, dims: &[i64]| {
            let mut shape: Vec<i64> = Vec::with_capacity(dims.len() + 1);
            if batch {
                shape.push(-1);
            }
            shape.extend_from_slice(dims);
            json!({ "name": n, "datatype": protocol_name(dt), "shape": shape })
        };
        let inputs: Vec<Value> = cfg
            .input
            .iter()
            .map(|i| tensor(&i.name, i.data_type, &i.dims))
            .collect();
        let outputs: Vec<Value> = cfg
            .output
            .iter()
            .map(|o| tensor(&o.name, o.data_type, &o.dims))
            .collect();
        let platform = if cfg.platform.is_empty() {
            &cfg.backend
        } else {
            &cfg.platform
        };
        Ok(json!({
            "name": name,
            "versions": versions,
            "platform": platform,
            "inputs": inputs,
            "outputs": outputs,
        }))
    }

    /// The model configuration as upstream's JSON; only `config_version` 1 exists.
    pub fn model_config_json(
        &self,
        name: &str,
        version: i64,
        config_version: u32,
    ) -> Result<String> {
        let model = self.get_model(name, version)?;
        if config_version != 1 {
            return Err(Error::invalid_arg(format!(
                "model configuration version {config_version} not supported, supported versions are: 1"
            )));
        }
        model.config_json()
    }

    /// `TRITONSERVER_ServerModelTransactionProperties` flags: DECOUPLED or ONE_TO_ONE.
    pub fn model_transaction_flags(&self, name: &str, version: i64) -> Result<u32> {
        let model = self.get_model(name, version)?;
        let decoupled = model
            .config()
            .model_transaction_policy
            .as_ref()
            .is_some_and(|p| p.decoupled);
        Ok(if decoupled {
            TXN_DECOUPLED
        } else {
            TXN_ONE_TO_ONE
        })
    }

    /// `TRITONSERVER_ServerModelBatchProperties` flags: FIRST_DIM when the model batches, else
    /// UNKNOWN.
    pub fn model_batch_flags(&self, name: &str, version: i64) -> Result<u32> {
        let model = self.get_model(name, version)?;
        Ok(if model.config().max_batch_size > 0 {
            BATCH_FIRST_DIM
        } else {
            BATCH_UNKNOWN
        })
    }
}
