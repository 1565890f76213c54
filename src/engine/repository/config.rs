//! Reading a model's configuration from its directory (or a load-time override) and preparing it
//! for the backend, in upstream's order: parse, fill backend fields, normalize, validate.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use triton_model_config as mc;
use triton_model_config::pb;

use crate::engine::error::{Error, Result};

/// Where a model's configuration came from, compared on reload to decide whether anything
/// changed.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigSource {
    /// The configuration after backend-independent normalization.
    pub config: pb::ModelConfig,
    /// Whether a configuration was given (a file or an override). Without one, the backend
    /// must complete the configuration or the load fails.
    pub provided: bool,
    /// The newest modification time of anything in the model directory.
    pub newest_mtime: Option<SystemTime>,
}

/// Settings that change how configurations are read.
#[derive(Debug, Clone, Default)]
pub struct ConfigOptions {
    /// `--model-config-name`: prefer `configs/<name>.pbtxt`.
    pub config_name: String,
    /// Strict model configuration: `config.pbtxt` is required and inputs / outputs are validated
    /// before the backend sees the model (no auto-complete).
    pub strict: bool,
}

/// The configuration file a model directory uses, if any.
pub fn config_file(model_dir: &Path, config_name: &str) -> Option<PathBuf> {
    if !config_name.is_empty() {
        let custom = model_dir
            .join("configs")
            .join(format!("{config_name}.pbtxt"));
        if custom.is_file() {
            return Some(custom);
        }
    }
    let default = model_dir.join("config.pbtxt");
    default.is_file().then_some(default)
}

/// Read and prepare the configuration of model `name` in `model_dir`, as upstream does when it
/// polls a model: parse (or take `override_json`, the `config` load parameter), fill backend
/// fields, normalize, validate (inputs and outputs too when strict), and check the name against
/// the directory unless the model is `mapped` to its name.
pub fn load_config(
    name: &str,
    model_dir: &Path,
    override_json: Option<&str>,
    opts: &ConfigOptions,
    mapped: bool,
) -> Result<ConfigSource> {
    let (mut cfg, provided) = match override_json {
        Some(json) => (
            mc::from_json(json).map_err(|e| {
                Error::invalid_arg(format!("Invalid config override: {}", e.message))
            })?,
            true,
        ),
        None => match config_file(model_dir, &opts.config_name) {
            Some(path) => (mc::read_config_file(&path)?, true),
            None if opts.strict => {
                return Err(Error::not_found(format!(
                    "model configuration '{}' is required with strict model configuration",
                    model_dir.join("config.pbtxt").display()
                )))
            }
            None => (pb::ModelConfig::default(), false),
        },
    };
    if mapped {
        cfg.name = name.to_owned();
    }
    let first_version = mc::first_version_dir(model_dir);
    mc::autocomplete_backend_fields(&mut cfg, name, first_version.as_deref())?;
    mc::normalize_model_config(&mut cfg)?;
    mc::validate_model_config(&cfg)?;
    if opts.strict {
        mc::validate_io_config(&cfg)?;
    }
    mc::check_model_name(&cfg, name)?;
    Ok(ConfigSource {
        config: cfg,
        provided,
        newest_mtime: newest_mtime(model_dir, 4),
    })
}

/// The newest modification time of `dir` and what is below it, `depth` levels down.
fn newest_mtime(dir: &Path, depth: u32) -> Option<SystemTime> {
    let mut newest = std::fs::metadata(dir).and_then(|m| m.modified()).ok();
    if depth == 0 {
        return newest;
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            let t = if p.is_dir() {
                newest_mtime(&p, depth - 1)
            } else {
                e.metadata().and_then(|m| m.modified()).ok()
            };
            newest = newest.max(t);
        }
    }
    newest
}
