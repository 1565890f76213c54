//! Startup: loading what the control mode asks for when the server is created, and the tables
//! of models and options upstream logs once the server is up.

use super::Server;
use crate::engine::error::{Error, Result};
use crate::engine::model::ModelState;
use crate::engine::repository::overrides::LoadOverrides;
use crate::engine::repository::ModelId;
use crate::engine::types::ModelControlMode;

impl Server {
    /// Load what the control mode asks for at startup: every model (NONE, POLL) or the startup
    /// models (EXPLICIT; `*` means every model).
    pub(super) fn load_startup_models(&self) -> Result<()> {
        let scanned = self.repo.scan(self.namespacing());
        let mut failed = false;
        // With a list of startup models the load error itself is returned; when loading
        // everything, only a summary (as upstream).
        let mut listed = false;
        // What to load: a model found by the scan, or a name (every model of that name).
        let names: Vec<std::result::Result<ModelId, String>> = match self.control_mode() {
            ModelControlMode::None | ModelControlMode::Poll => {
                for (id, dirs) in &scanned {
                    if dirs.len() > 1 {
                        crate::log_error!(
                            "failed to poll model '{id}': not unique across all model repositories"
                        );
                        failed = true;
                    }
                }
                scanned
                    .into_iter()
                    .filter(|(_, d)| d.len() == 1)
                    .map(|(id, _)| Ok(id))
                    .collect()
            }
            ModelControlMode::Explicit => {
                if self.options.startup_models.iter().any(|m| m == "*") {
                    if self.options.startup_models.len() > 1 {
                        return Err(Error::invalid_arg(
                            "Wildcard model name '*' must be the ONLY startup model if specified at all.",
                        ));
                    }
                    scanned.into_keys().map(Ok).collect()
                } else {
                    listed = true;
                    self.options
                        .startup_models
                        .iter()
                        .map(|n| Err(n.clone()))
                        .collect()
                }
            }
        };
        let threads =
            (self.options.model_load_thread_count.max(1) as usize).min(names.len().max(1));
        let next = std::sync::atomic::AtomicUsize::new(0);
        let errors: std::sync::Mutex<Vec<(usize, Error)>> = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(target) = names.get(i) else { break };
                    let loaded = match target {
                        Ok(id) => self.load_id_request(id),
                        Err(name) => self.load_request(name, &LoadOverrides::default()),
                    };
                    if let Err(e) = loaded {
                        crate::log_error!("{}", e.message().trim_end());
                        crate::engine::sync::lock(&errors).push((i, e));
                    }
                });
            }
        });
        self.log_model_table();
        let mut errors = crate::engine::sync::into_inner(errors);
        let table = self.repo.snapshot();
        let not_ready = table.models.values().any(|e| {
            e.versions.is_empty() && !e.unloaded
                || e.versions.values().any(|s| s.state != ModelState::Ready)
        });
        if errors.is_empty() && !failed && !not_ready {
            return Ok(());
        }
        if !listed || errors.is_empty() {
            return Err(Error::internal("failed to load all models"));
        }
        errors.sort_by_key(|(i, _)| *i);
        if errors.len() == 1 {
            return Err(errors.remove(0).1);
        }
        let message: String = errors.iter().map(|(_, e)| e.message()).collect();
        Err(Error::invalid_arg(message))
    }

    pub(super) fn log_model_table(&self) {
        let table = self.repo.snapshot();
        let mut rows: Vec<Vec<String>> = Vec::new();
        for (id, e) in &table.models {
            let name = id.to_string();
            if e.versions.is_empty() && !e.reason.is_empty() {
                rows.push(vec![
                    name.clone(),
                    "-".into(),
                    format!("UNAVAILABLE: {}", e.reason),
                ]);
            }
            for (v, slot) in &e.versions {
                let status = if slot.reason.is_empty() {
                    slot.state.name().to_owned()
                } else {
                    format!("{}: {}", slot.state.name(), slot.reason)
                };
                rows.push(vec![name.clone(), v.to_string(), status]);
            }
        }
        let text = crate::engine::log::format_table(&["Model", "Version", "Status"], &rows);
        crate::engine::log::write_table(file!(), line!(), &text);
    }

    /// The table of server options upstream logs once the server is up.
    pub(super) fn log_options_table(&self) {
        let o = &self.options;
        let mut rows: Vec<Vec<String>> = vec![
            vec!["server_id".into(), o.server_id.clone()],
            vec!["server_version".into(), super::TRITON_VERSION.into()],
            vec!["server_extensions".into(), super::EXTENSIONS.join(" ")],
        ];
        for (i, p) in o.repository_paths.iter().enumerate() {
            rows.push(vec![format!("model_repository_path[{i}]"), p.clone()]);
        }
        let mode = match o.control_mode {
            ModelControlMode::None => "MODE_NONE",
            ModelControlMode::Poll => "MODE_POLL",
            ModelControlMode::Explicit => "MODE_EXPLICIT",
        };
        rows.push(vec!["model_control_mode".into(), mode.into()]);
        for (i, m) in o.startup_models.iter().enumerate() {
            rows.push(vec![format!("startup_models_{i}"), m.clone()]);
        }
        let flag = |b: bool| u8::from(b).to_string();
        rows.push(vec![
            "strict_model_config".into(),
            flag(o.strict_model_config),
        ]);
        rows.push(vec![
            "model_config_name".into(),
            o.model_config_name.clone(),
        ]);
        let rate = if o.rate_limit_exec_count {
            "EXEC_COUNT"
        } else {
            "OFF"
        };
        rows.push(vec!["rate_limit".into(), rate.into()]);
        for (i, (name, count, device)) in o.rate_limit_resources.iter().enumerate() {
            rows.push(vec![
                format!("rate_limit_resource[{i}]"),
                format!("{{name: {name}, count: {count}, device: {device}}}"),
            ]);
        }
        rows.push(vec![
            "pinned_memory_pool_byte_size".into(),
            o.pinned_memory_pool_byte_size.to_string(),
        ]);
        for (gpu, size) in &o.cuda_memory_pool_byte_size {
            rows.push(vec![
                format!("cuda_memory_pool_byte_size{{{gpu}}}"),
                size.to_string(),
            ]);
        }
        rows.push(vec![
            "min_supported_compute_capability".into(),
            format!("{:.1}", o.min_compute_capability),
        ]);
        rows.push(vec!["strict_readiness".into(), flag(o.strict_readiness)]);
        rows.push(vec![
            "exit_timeout".into(),
            self.exit_timeout().as_secs().to_string(),
        ]);
        rows.push(vec!["cache_enabled".into(), flag(self.cache_enabled())]);
        let text = crate::engine::log::format_table(&["Option", "Value"], &rows);
        crate::engine::log::write_table(file!(), line!(), &text);
    }
}
