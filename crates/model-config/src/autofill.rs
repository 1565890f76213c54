//! Server-side auto-fill of `platform` / `backend` / `default_model_filename`
//! (upstream `AutoCompleteBackendFields`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::error::ConfigError;
use crate::pb;

/// Platform names and file names upstream recognizes.
pub mod names {
    /// `tensorflow_graphdef`
    pub const TENSORFLOW_GRAPHDEF_PLATFORM: &str = "tensorflow_graphdef";
    /// `tensorflow_savedmodel`
    pub const TENSORFLOW_SAVEDMODEL_PLATFORM: &str = "tensorflow_savedmodel";
    /// `model.graphdef`
    pub const TENSORFLOW_GRAPHDEF_FILENAME: &str = "model.graphdef";
    /// `model.savedmodel`
    pub const TENSORFLOW_SAVEDMODEL_FILENAME: &str = "model.savedmodel";
    /// `tensorflow`
    pub const TENSORFLOW_BACKEND: &str = "tensorflow";
    /// `tensorrt_plan`
    pub const TENSORRT_PLAN_PLATFORM: &str = "tensorrt_plan";
    /// `model.plan`
    pub const TENSORRT_PLAN_FILENAME: &str = "model.plan";
    /// `tensorrt`
    pub const TENSORRT_BACKEND: &str = "tensorrt";
    /// `onnxruntime_onnx`
    pub const ONNXRUNTIME_ONNX_PLATFORM: &str = "onnxruntime_onnx";
    /// `model.onnx`
    pub const ONNXRUNTIME_ONNX_FILENAME: &str = "model.onnx";
    /// `onnxruntime`
    pub const ONNXRUNTIME_BACKEND: &str = "onnxruntime";
    /// `model.xml`
    pub const OPENVINO_FILENAME: &str = "model.xml";
    /// `openvino`
    pub const OPENVINO_BACKEND: &str = "openvino";
    /// `pytorch_libtorch`
    pub const PYTORCH_LIBTORCH_PLATFORM: &str = "pytorch_libtorch";
    /// `model.pt`
    pub const PYTORCH_LIBTORCH_FILENAME: &str = "model.pt";
    /// `pytorch`
    pub const PYTORCH_BACKEND: &str = "pytorch";
    /// `model.py`
    pub const PYTHON_FILENAME: &str = "model.py";
    /// `python`
    pub const PYTHON_BACKEND: &str = "python";
    /// `ensemble`
    pub const ENSEMBLE_PLATFORM: &str = "ensemble";
}

use names::*;

/// The directory upstream inspects for auto-fill: the lexicographically
/// first sub-directory of `model_dir` (any name, not only numeric versions;
/// upstream takes the first element of a sorted set of sub-directories).
/// `None` when there is none or the directory cannot be read.
pub fn first_version_dir(model_dir: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(model_dir).ok()?;
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name())
        .min()
        .map(|name| model_dir.join(name))
}

/// Listing of the first version directory used by the checks below.
struct VersionDir {
    path: PathBuf,
    contents: BTreeSet<String>,
}

impl VersionDir {
    fn read(path: Option<&Path>) -> Result<Option<Self>, ConfigError> {
        let Some(path) = path else {
            return Ok(None);
        };
        let entries = std::fs::read_dir(path).map_err(|e| {
            ConfigError::internal(format!("failed to read directory {}: {e}", path.display()))
        })?;
        let contents = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        Ok(Some(Self {
            path: path.to_path_buf(),
            contents,
        }))
    }

    fn has(&self, name: &str) -> bool {
        self.contents.contains(name)
    }

    fn has_dir(&self, name: &str) -> bool {
        self.has(name) && self.path.join(name).is_dir()
    }

    fn has_file(&self, name: &str) -> bool {
        self.has(name) && !self.path.join(name).is_dir()
    }
}

/// Upstream's `AutoCompleteBackendFields`: fills empty `name`, `platform`,
/// `backend` and `default_model_filename` from what is already set and from
/// the files in `first_version_dir` (see [`first_version_dir`]; `None` when
/// the model has no version directory). Rules, first match wins:
///
/// | hint | backend | platform | default_model_filename |
/// |---|---|---|---|
/// | platform `tensorflow_savedmodel`, or file name `model.savedmodel`, or a `model.savedmodel` directory | tensorflow | tensorflow_savedmodel | model.savedmodel |
/// | platform `tensorflow_graphdef`, or file name `model.graphdef`, or a `model.graphdef` file | tensorflow | tensorflow_graphdef | model.graphdef |
/// | platform `tensorrt_plan`, or file name `model.plan`, or a `model.plan` file | tensorrt | tensorrt_plan | model.plan |
/// | platform `onnxruntime_onnx`, or file name `model.onnx`, or `model.onnx` (file or dir) | onnxruntime | onnxruntime_onnx | model.onnx |
/// | file name `model.xml`, or `model.xml` present | openvino | – | model.xml |
/// | platform `pytorch_libtorch`, or file name `model.pt`, or a `model.pt` file | pytorch | pytorch_libtorch | model.pt (unless runtime is model.py) |
/// | file name `model.py`, or `model.py` present | python | – | model.py |
/// | nothing set at all | text after the first `.` of the model name | – | `model.<backend>` |
///
/// Directory-content hints only apply while platform and file name are
/// empty. A model name without `.` in the last case is `InvalidArg`. The
/// python `runtime` for python-based backends is decided by the caller.
pub fn autocomplete_backend_fields(
    cfg: &mut pb::ModelConfig,
    model_name: &str,
    first_version_dir: Option<&Path>,
) -> Result<(), ConfigError> {
    let version = VersionDir::read(first_version_dir)?;
    let version = version.as_ref();

    if cfg.name.is_empty() {
        cfg.name = model_name.to_string();
    }

    // TensorFlow needs the platform, derive it first.
    if cfg.platform.is_empty() && (cfg.backend.is_empty() || cfg.backend == TENSORFLOW_BACKEND) {
        if cfg.default_model_filename == TENSORFLOW_SAVEDMODEL_FILENAME {
            cfg.platform = TENSORFLOW_SAVEDMODEL_PLATFORM.into();
        } else if cfg.default_model_filename == TENSORFLOW_GRAPHDEF_FILENAME {
            cfg.platform = TENSORFLOW_GRAPHDEF_PLATFORM.into();
        } else if cfg.default_model_filename.is_empty() {
            if let Some(v) = version {
                if v.has_dir(TENSORFLOW_SAVEDMODEL_FILENAME) {
                    cfg.platform = TENSORFLOW_SAVEDMODEL_PLATFORM.into();
                }
                // Checked second, so a graphdef file wins over a savedmodel dir.
                if v.has_file(TENSORFLOW_GRAPHDEF_FILENAME) {
                    cfg.platform = TENSORFLOW_GRAPHDEF_PLATFORM.into();
                }
            }
        }
    }
    if cfg.platform == TENSORFLOW_SAVEDMODEL_PLATFORM
        || cfg.platform == TENSORFLOW_GRAPHDEF_PLATFORM
    {
        if cfg.backend.is_empty() {
            cfg.backend = TENSORFLOW_BACKEND.into();
        }
        if cfg.default_model_filename.is_empty() {
            cfg.default_model_filename = if cfg.platform == TENSORFLOW_SAVEDMODEL_PLATFORM {
                TENSORFLOW_SAVEDMODEL_FILENAME.into()
            } else {
                TENSORFLOW_GRAPHDEF_FILENAME.into()
            };
        }
        return Ok(());
    }

    // Directory hints only count when nothing else was specified.
    let nothing_specified = cfg.platform.is_empty() && cfg.default_model_filename.is_empty();
    let probe = |check: &dyn Fn(&VersionDir) -> bool| -> bool {
        nothing_specified && version.is_some_and(check)
    };

    // TensorRT
    if cfg.backend.is_empty()
        && (cfg.platform == TENSORRT_PLAN_PLATFORM
            || cfg.default_model_filename == TENSORRT_PLAN_FILENAME
            || probe(&|v| v.has_file(TENSORRT_PLAN_FILENAME)))
    {
        cfg.backend = TENSORRT_BACKEND.into();
    }
    if cfg.backend == TENSORRT_BACKEND {
        if cfg.platform.is_empty() {
            cfg.platform = TENSORRT_PLAN_PLATFORM.into();
        }
        if cfg.default_model_filename.is_empty() {
            cfg.default_model_filename = TENSORRT_PLAN_FILENAME.into();
        }
        return Ok(());
    }

    // ONNX Runtime (a large ONNX model may be a directory).
    if cfg.backend.is_empty()
        && (cfg.platform == ONNXRUNTIME_ONNX_PLATFORM
            || cfg.default_model_filename == ONNXRUNTIME_ONNX_FILENAME
            || probe(&|v| v.has(ONNXRUNTIME_ONNX_FILENAME)))
    {
        cfg.backend = ONNXRUNTIME_BACKEND.into();
    }
    if cfg.backend == ONNXRUNTIME_BACKEND {
        if cfg.platform.is_empty() {
            cfg.platform = ONNXRUNTIME_ONNX_PLATFORM.into();
        }
        if cfg.default_model_filename.is_empty() {
            cfg.default_model_filename = ONNXRUNTIME_ONNX_FILENAME.into();
        }
        return Ok(());
    }

    // OpenVINO
    if cfg.backend.is_empty()
        && (cfg.default_model_filename == OPENVINO_FILENAME || probe(&|v| v.has(OPENVINO_FILENAME)))
    {
        cfg.backend = OPENVINO_BACKEND.into();
    }
    if cfg.backend == OPENVINO_BACKEND {
        if cfg.default_model_filename.is_empty() {
            cfg.default_model_filename = OPENVINO_FILENAME.into();
        }
        return Ok(());
    }

    // PyTorch
    if cfg.backend.is_empty()
        && (cfg.platform == PYTORCH_LIBTORCH_PLATFORM
            || cfg.default_model_filename == PYTORCH_LIBTORCH_FILENAME
            || probe(&|v| v.has_file(PYTORCH_LIBTORCH_FILENAME)))
    {
        cfg.backend = PYTORCH_BACKEND.into();
    }
    if cfg.backend == PYTORCH_BACKEND {
        if cfg.platform.is_empty() {
            cfg.platform = PYTORCH_LIBTORCH_PLATFORM.into();
        }
        if cfg.runtime != PYTHON_FILENAME && cfg.default_model_filename.is_empty() {
            cfg.default_model_filename = PYTORCH_LIBTORCH_FILENAME.into();
        }
        return Ok(());
    }

    // Python
    if cfg.backend.is_empty()
        && (cfg.default_model_filename == PYTHON_FILENAME || probe(&|v| v.has(PYTHON_FILENAME)))
    {
        cfg.backend = PYTHON_BACKEND.into();
    }
    if cfg.backend == PYTHON_BACKEND {
        if cfg.default_model_filename.is_empty() {
            cfg.default_model_filename = PYTHON_FILENAME.into();
        }
        return Ok(());
    }

    // Custom backend named by the model name: "<anything>.<backend>".
    if cfg.backend.is_empty() && cfg.platform.is_empty() && cfg.default_model_filename.is_empty() {
        let Some((_, backend)) = model_name.split_once('.') else {
            return Err(ConfigError::invalid_arg(format!(
                "Invalid model name: Could not determine backend for model '{model_name}' \
                 with no backend in model configuration. Expected model name of the form \
                 'model.<backend_name>'."
            )));
        };
        cfg.backend = backend.to_string();
        cfg.default_model_filename = format!("model.{backend}");
    }
    Ok(())
}
