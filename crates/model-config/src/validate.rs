//! Configuration checks (upstream `ValidateModelConfig`,
//! `ValidateModelIOConfig`, `ValidateInstanceGroup`,
//! `ValidateEnsembleSchedulingConfig` and the repository manager's
//! name check). Messages follow upstream's wording; every failure is
//! `InvalidArg` unless noted.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

use crate::autofill::names::*;
use crate::error::ConfigError;
use crate::pb;
use crate::pb::model_config::SchedulingChoice;
use crate::pb::model_instance_group::Kind;
use crate::pb::model_queue_policy::TimeoutAction;
use crate::pb::model_sequence_batching::control::Kind as ControlKind;
use crate::pb::model_sequence_batching::StrategyChoice;
use crate::pb::DataType;

/// `WILDCARD_DIM`: a variable-size dimension.
pub const WILDCARD_DIM: i64 = -1;

fn invalid(message: impl Into<String>) -> ConfigError {
    ConfigError::invalid_arg(message)
}

/// Which checks [`validate`] runs.
#[derive(Clone, Debug)]
pub struct ValidateOptions {
    /// Run [`validate_io_config`]. Upstream runs it when the repository is
    /// scanned only with strict model config (auto-complete off), and always
    /// once the backend has initialized the model (`Model::Init`).
    pub io: bool,
    /// The model was registered under a name mapping: the configured name
    /// is replaced instead of being compared with the directory name.
    pub name_is_mapped: bool,
    /// Run [`validate_instance_group`] (upstream does it after the
    /// backend-dependent instance-group normalization).
    pub instance_groups: bool,
}

impl Default for ValidateOptions {
    fn default() -> Self {
        Self {
            io: true,
            name_is_mapped: false,
            instance_groups: true,
        }
    }
}

/// Runs, in upstream's order, [`validate_model_config`],
/// [`validate_io_config`] (if `opts.io`), [`check_model_name`] (unless
/// `opts.name_is_mapped`) and [`validate_instance_group`] (if
/// `opts.instance_groups`).
pub fn validate(
    cfg: &pb::ModelConfig,
    model_dir_name: &str,
    opts: &ValidateOptions,
) -> Result<(), ConfigError> {
    validate_model_config(cfg)?;
    if opts.io {
        validate_io_config(cfg)?;
    }
    if !opts.name_is_mapped {
        check_model_name(cfg, model_dir_name)?;
    }
    if opts.instance_groups {
        validate_instance_group(cfg)?;
    }
    Ok(())
}

/// The configured name must equal the model's directory name.
pub fn check_model_name(cfg: &pb::ModelConfig, model_dir_name: &str) -> Result<(), ConfigError> {
    if cfg.name != model_dir_name {
        return Err(invalid(format!(
            "unexpected directory name '{model_dir_name}' for model '{}', directory name must \
             equal model name",
            cfg.name
        )));
    }
    Ok(())
}

#[derive(PartialEq, Eq)]
enum BackendType {
    Unknown,
    TensorFlow,
    TensorRt,
    OnnxRuntime,
    PyTorch,
}

fn backend_type_from_platform(platform: &str) -> BackendType {
    match platform {
        TENSORFLOW_GRAPHDEF_PLATFORM | TENSORFLOW_SAVEDMODEL_PLATFORM => BackendType::TensorFlow,
        TENSORRT_PLAN_PLATFORM => BackendType::TensorRt,
        ONNXRUNTIME_ONNX_PLATFORM => BackendType::OnnxRuntime,
        PYTORCH_LIBTORCH_PLATFORM => BackendType::PyTorch,
        _ => BackendType::Unknown,
    }
}

fn backend_type(backend: &str) -> BackendType {
    match backend {
        TENSORFLOW_BACKEND => BackendType::TensorFlow,
        TENSORRT_BACKEND => BackendType::TensorRt,
        ONNXRUNTIME_BACKEND => BackendType::OnnxRuntime,
        PYTORCH_BACKEND => BackendType::PyTorch,
        _ => BackendType::Unknown,
    }
}

fn control_kind_name(kind: ControlKind) -> &'static str {
    kind.as_str_name()
}

/// What a boolean / typed control lookup found.
struct ControlInfo {
    tensor_name: String,
    data_type: DataType,
}

/// Upstream's `GetBooleanSequenceControlProperties` (`typed == false`) and
/// `GetTypedSequenceControlProperties` (`typed == true`), validation part.
fn sequence_control(
    batcher: &pb::ModelSequenceBatching,
    model_name: &str,
    kind: ControlKind,
    typed: bool,
) -> Result<Option<ControlInfo>, ConfigError> {
    let kind_name = control_kind_name(kind);
    let mut seen_tensors = HashSet::new();
    let mut found: Option<ControlInfo> = None;
    for control_input in &batcher.control_input {
        if control_input.name.is_empty() {
            return Err(invalid(format!(
                "sequence batching control tensor must have a name for {model_name}"
            )));
        }
        if !seen_tensors.insert(control_input.name.as_str()) {
            return Err(invalid(format!(
                "sequence batching control tensor '{}' is specified for multiple control kinds \
                 for {model_name}",
                control_input.name
            )));
        }
        for c in &control_input.control {
            if c.kind != kind as i32 {
                continue;
            }
            if found.is_some() {
                return Err(invalid(format!(
                    "sequence batching specifies multiple {kind_name} tensors for {model_name}"
                )));
            }
            let ints = !c.int32_false_true.is_empty();
            let floats = !c.fp32_false_true.is_empty();
            let bools = !c.bool_false_true.is_empty();
            let data_type = if typed {
                if ints || floats || bools {
                    return Err(invalid(format!(
                        "sequence batching must not specify either 'int32_false_true', \
                         'fp32_false_true' or 'bool_false_true' for {kind_name} for {model_name}"
                    )));
                }
                c.data_type()
            } else {
                if !(ints || floats || bools) {
                    return Err(invalid(format!(
                        "sequence batching must specify either 'int32_false_true', \
                         'fp32_false_true' or 'bool_false_true' for {kind_name} for {model_name}"
                    )));
                }
                if [ints, floats, bools].iter().filter(|&&set| set).count() > 1 {
                    return Err(invalid(format!(
                        "sequence batching specifies more than one from 'int32_false_true', \
                         'fp32_false_true' and 'bool_false_true' for {kind_name} for {model_name}"
                    )));
                }
                let (field, len, dtype) = if ints {
                    (
                        "int32_false_true",
                        c.int32_false_true.len(),
                        DataType::TypeInt32,
                    )
                } else if floats {
                    (
                        "fp32_false_true",
                        c.fp32_false_true.len(),
                        DataType::TypeFp32,
                    )
                } else {
                    (
                        "bool_false_true",
                        c.bool_false_true.len(),
                        DataType::TypeBool,
                    )
                };
                if len != 2 {
                    return Err(invalid(format!(
                        "sequence batching control '{field}' must have exactly 2 entries for \
                         {kind_name} for {model_name}"
                    )));
                }
                dtype
            };
            found = Some(ControlInfo {
                tensor_name: control_input.name.clone(),
                data_type,
            });
        }
    }
    Ok(found)
}

/// Upstream's `ValidateModelConfig`: name, platform/backend pairing,
/// `max_batch_size`, version policy presence, dynamic / sequence batcher
/// settings, ensemble rules and response-cache restrictions. Run after
/// [`crate::normalize_model_config`] (it requires a version policy).
pub fn validate_model_config(cfg: &pb::ModelConfig) -> Result<(), ConfigError> {
    let name = &cfg.name;
    if name.is_empty() {
        return Err(invalid("model configuration must specify 'name'"));
    }

    if cfg.backend.is_empty() {
        if cfg.platform != ENSEMBLE_PLATFORM {
            return Err(invalid(format!(
                "unexpected platform type '{}' for {name}",
                cfg.platform
            )));
        }
    } else if cfg.platform == ENSEMBLE_PLATFORM {
        return Err(invalid(format!(
            "Ensemble model '{name}' must have platform type '{}' and empty backend type",
            cfg.platform
        )));
    }

    if cfg.platform.is_empty() && cfg.backend.is_empty() {
        return Err(invalid(format!(
            "must specify 'platform' or 'backend' for '{name}'"
        )));
    }

    let bt = backend_type(&cfg.backend);
    if bt != BackendType::Unknown && bt != backend_type_from_platform(&cfg.platform) {
        return Err(invalid(format!(
            "unexpected 'platform' and 'backend' pair, got:{}, {}",
            cfg.platform, cfg.backend
        )));
    }

    if cfg.max_batch_size < 0 {
        return Err(invalid(format!(
            "'max_batch_size' must be non-negative value for {name}"
        )));
    }

    if cfg.version_policy.is_none() {
        return Err(invalid(format!("must specify 'version policy' for {name}")));
    }

    match &cfg.scheduling_choice {
        Some(SchedulingChoice::DynamicBatching(db)) => validate_dynamic_batching(cfg, db)?,
        Some(SchedulingChoice::SequenceBatching(sb)) => validate_sequence_batching(cfg, sb)?,
        _ => {}
    }

    if let Some(SchedulingChoice::EnsembleScheduling(ens)) = &cfg.scheduling_choice {
        validate_ensemble(cfg, ens)?;
    } else if cfg.platform == ENSEMBLE_PLATFORM {
        return Err(invalid(format!(
            "ensemble scheduling must be set for ensemble {name} whose platform is \
             {ENSEMBLE_PLATFORM}"
        )));
    }

    let decoupled = cfg
        .model_transaction_policy
        .as_ref()
        .is_some_and(|p| p.decoupled);
    if decoupled && response_cache_enabled(cfg) {
        return Err(invalid(format!(
            "Response Cache does not currently support model {name} with 'decoupled' \
             transaction policy. Please disable the response cache."
        )));
    }
    Ok(())
}

fn response_cache_enabled(cfg: &pb::ModelConfig) -> bool {
    cfg.response_cache.as_ref().is_some_and(|c| c.enable)
}

fn validate_dynamic_batching(
    cfg: &pb::ModelConfig,
    db: &pb::ModelDynamicBatching,
) -> Result<(), ConfigError> {
    let name = &cfg.name;
    for &size in &db.preferred_batch_size {
        if size <= 0 {
            return Err(invalid(format!(
                "dynamic batching preferred size must be positive for {name}"
            )));
        }
        if size > cfg.max_batch_size {
            return Err(invalid(format!(
                "dynamic batching preferred size must be <= max batch size for {name}"
            )));
        }
    }

    let levels = db.priority_levels;
    if levels != 0 {
        if db.default_priority_level == 0 || db.default_priority_level > levels {
            return Err(invalid(format!(
                "default priority level must be in range [1, {levels}] for {name}"
            )));
        }
        for &level in db.priority_queue_policy.keys() {
            if level == 0 || level > levels {
                return Err(invalid(format!(
                    "priority queue policy must have priority level in range [1, {levels}] for \
                     {name}"
                )));
            }
        }
    }

    if db.preserve_ordering {
        if levels > 1 {
            return Err(invalid(format!(
                "Only one priority level is allowed when 'preserve_ordering' is true for {name}"
            )));
        }
        let delays = |p: &pb::ModelQueuePolicy| {
            p.default_timeout_microseconds != 0 && p.timeout_action() == TimeoutAction::Delay
        };
        let default_policy = db.default_queue_policy.unwrap_or_default();
        if delays(&default_policy) || db.priority_queue_policy.values().any(delays) {
            return Err(invalid(format!(
                "Queue policy can not have DELAY as timeout action when 'preserve_ordering' is \
                 true for {name}"
            )));
        }
    }
    Ok(())
}

fn validate_sequence_batching(
    cfg: &pb::ModelConfig,
    sb: &pb::ModelSequenceBatching,
) -> Result<(), ConfigError> {
    let name = &cfg.name;
    if response_cache_enabled(cfg) {
        return Err(invalid(format!(
            "Response Cache does not currently support model {name} with sequence batching \
             scheduler. Please disable the response cache."
        )));
    }

    for kind in [
        ControlKind::ControlSequenceStart,
        ControlKind::ControlSequenceEnd,
        ControlKind::ControlSequenceReady,
    ] {
        sequence_control(sb, name, kind, false)?;
    }
    if let Some(corrid) = sequence_control(sb, name, ControlKind::ControlSequenceCorrid, true)? {
        if !corrid.tensor_name.is_empty()
            && !matches!(
                corrid.data_type,
                DataType::TypeUint64
                    | DataType::TypeInt64
                    | DataType::TypeUint32
                    | DataType::TypeInt32
                    | DataType::TypeString
            )
        {
            return Err(invalid(format!(
                "unexpected data type for control {} for {name}. Allowed data types are \
                 TYPE_UINT64, TYPE_INT64, TYPE_UINT32, TYPE_INT32 and TYPE_STRING",
                control_kind_name(ControlKind::ControlSequenceCorrid)
            )));
        }
    }

    match &sb.strategy_choice {
        Some(StrategyChoice::Oldest(oldest)) => {
            for &size in &oldest.preferred_batch_size {
                if size <= 0 {
                    return Err(invalid(format!(
                        "sequence batching preferred batch size must be positive for {name}"
                    )));
                }
                if size > cfg.max_batch_size {
                    return Err(invalid(format!(
                        "sequence batching preferred batch size must be <= max batch size for \
                         {name}"
                    )));
                }
            }
        }
        Some(StrategyChoice::Direct(direct)) => {
            let u = direct.minimum_slot_utilization;
            // Written so that NaN passes, as the upstream comparison does.
            #[allow(clippy::manual_range_contains)]
            if u < 0.0 || u > 1.0 {
                return Err(invalid(format!(
                    "sequence batching minimum slot utilization must be in range (0.0, 1.0] for \
                     {name}"
                )));
            }
        }
        None => {}
    }
    Ok(())
}

/// One ensemble tensor in the data-flow graph.
#[derive(Default)]
struct EnsembleTensor {
    is_output: bool,
    ready: bool,
    prev: Vec<String>,
    next: Vec<String>,
}

/// Upstream's `ValidateEnsembleSchedulingConfig` / `BuildEnsembleGraph`.
fn validate_ensemble(cfg: &pb::ModelConfig, ens: &pb::ModelEnsembling) -> Result<(), ConfigError> {
    let name = &cfg.name;
    if cfg.platform != ENSEMBLE_PLATFORM {
        return Err(invalid(format!(
            "ensemble scheduling cannot be set for model '{name}' whose platform is not \
             {ENSEMBLE_PLATFORM}"
        )));
    }
    if !cfg.instance_group.is_empty() {
        return Err(invalid(format!(
            "instance group should not be specified for ensemble '{name}'"
        )));
    }
    if cfg.optimization.is_some() {
        return Err(invalid(format!(
            "optimization should not be specified for ensemble '{name}'"
        )));
    }
    if !cfg.model_warmup.is_empty() {
        return Err(invalid(format!(
            "model_warmup can not be specified for ensemble '{name}'"
        )));
    }
    if ens.step.is_empty() {
        return Err(invalid(format!(
            "must specify 'step' for ensemble '{name}'"
        )));
    }

    // Build the graph: each step's inputs feed each of its outputs.
    let mut tensors: BTreeMap<String, EnsembleTensor> = BTreeMap::new();
    for (idx, step) in ens.step.iter().enumerate() {
        if step.model_name.is_empty() {
            return Err(invalid(format!(
                "must specify 'model_name' in step {idx} of ensemble '{name}'"
            )));
        }
        if step.input_map.is_empty() {
            return Err(invalid(format!(
                "must specify 'input_map' in step {idx} of ensemble '{name}'"
            )));
        }
        if step.output_map.is_empty() {
            return Err(invalid(format!(
                "must specify 'output_map' in step {idx} of ensemble '{name}'"
            )));
        }
        let mut step_outputs = Vec::new();
        for tensor in step.output_map.values() {
            let entry = tensors.entry(tensor.clone()).or_default();
            if entry.is_output {
                return Err(invalid(format!(
                    "ensemble tensor '{tensor}' can appear in an output map only once for \
                     ensemble '{name}' step {idx}"
                )));
            }
            entry.is_output = true;
            step_outputs.push(tensor.clone());
        }
        // Map keys are unique, so upstream's duplicate-model-input check
        // cannot trigger here.
        for tensor in step.input_map.values() {
            tensors.entry(tensor.clone()).or_default();
            for out in &step_outputs {
                if let Some(t) = tensors.get_mut(out) {
                    t.prev.push(tensor.clone());
                }
                if let Some(t) = tensors.get_mut(tensor) {
                    t.next.push(out.clone());
                }
            }
        }
    }

    // Propagate readiness from the ensemble inputs.
    let mut queue = VecDeque::new();
    for input in &cfg.input {
        let Some(t) = tensors.get_mut(&input.name) else {
            return Err(invalid(format!(
                "ensemble input '{}' for ensemble {name}' is not used",
                input.name
            )));
        };
        t.ready = true;
        queue.push_back(input.name.clone());
    }
    while let Some(current) = queue.pop_front() {
        let next = tensors
            .get(&current)
            .map(|t| t.next.clone())
            .unwrap_or_default();
        for n in next {
            let ready = match tensors.get(&n) {
                Some(t) if !t.ready => t
                    .prev
                    .iter()
                    .all(|p| tensors.get(p).is_some_and(|pt| pt.ready)),
                _ => continue,
            };
            if ready {
                if let Some(t) = tensors.get_mut(&n) {
                    t.ready = true;
                }
                queue.push_back(n);
            }
        }
    }

    let mut outputs = BTreeSet::new();
    for output in &cfg.output {
        let Some(t) = tensors.get(&output.name) else {
            return Err(invalid(format!(
                "ensemble output '{}' for ensemble {name}' is not used",
                output.name
            )));
        };
        if !t.ready {
            let mut message = format!(
                "output '{}' for ensemble '{name}' is not written",
                output.name
            );
            // Walk back to the first not-ready source.
            let mut last = output.name.clone();
            let mut seen = BTreeSet::new();
            let mut prev = t.prev.clone();
            while !prev.is_empty() {
                let mut advanced = None;
                for p in &prev {
                    let not_ready = tensors.get(p).is_some_and(|pt| !pt.ready);
                    if not_ready && seen.insert(p.clone()) {
                        advanced = Some(p.clone());
                        break;
                    }
                }
                match advanced {
                    Some(p) => {
                        prev = tensors
                            .get(&p)
                            .map(|pt| pt.prev.clone())
                            .unwrap_or_default();
                        last = p;
                    }
                    None => break,
                }
            }
            if last != output.name {
                message.push_str(&format!(
                    ": at least one of its depending tensors, '{last}', is not connected"
                ));
            }
            return Err(invalid(message));
        }
        outputs.insert(output.name.clone());
    }

    for (tensor_name, t) in &tensors {
        if outputs.contains(tensor_name) {
            continue;
        }
        if !t.ready || t.next.is_empty() {
            return Err(invalid(format!(
                "ensemble tensor '{tensor_name}' is unused in ensemble '{name}'"
            )));
        }
    }
    Ok(())
}

/// `GetElementCount`: -1 with a wildcard, 0 for an empty shape, else the
/// product.
fn element_count(dims: &[i64]) -> i64 {
    if dims.contains(&WILDCARD_DIM) {
        return -1;
    }
    let mut iter = dims.iter();
    match iter.next() {
        None => 0,
        Some(&first) => iter.fold(first, |acc, &d| acc.wrapping_mul(d)),
    }
}

/// Products of the runs between wildcard dimensions.
fn wildcard_chunks(dims: &[i64]) -> Vec<i64> {
    let mut chunks = Vec::new();
    let mut current: i64 = 1;
    for &d in dims {
        if d == WILDCARD_DIM {
            chunks.push(current);
            current = 1;
        } else {
            current = current.wrapping_mul(d);
        }
    }
    chunks.push(current);
    chunks
}

/// Fields shared by `ModelInput` and `ModelOutput`.
struct Io<'a> {
    name: &'a str,
    data_type: i32,
    dims: &'a [i64],
    reshape: Option<&'a pb::ModelTensorReshape>,
    is_shape_tensor: bool,
    is_non_linear_format_io: bool,
}

fn validate_io_shape(io: &Io<'_>, max_batch_size: i32, prefix: &str) -> Result<(), ConfigError> {
    if io.name.is_empty() {
        return Err(invalid(format!("{prefix}must specify 'name'")));
    }
    let prefix = format!("{prefix}'{}' ", io.name);
    if io.data_type == DataType::TypeInvalid as i32 {
        return Err(invalid(format!("{prefix}must specify 'data_type'")));
    }
    if io.dims.is_empty() {
        return Err(invalid(format!("{prefix}must specify 'dims'")));
    }
    if let Some(reshape) = io.reshape {
        if reshape.shape.is_empty() && max_batch_size == 0 {
            return Err(invalid(format!(
                "{prefix}cannot have empty reshape for non-batching model as scalar tensors are \
                 not supported"
            )));
        }
    }
    if io.dims.iter().any(|&d| d < 1 && d != WILDCARD_DIM) {
        return Err(invalid(format!(
            "{prefix}dimension must be integer >= 1, or {WILDCARD_DIM} to indicate a \
             variable-size dimension"
        )));
    }
    if let Some(reshape) = io.reshape {
        if reshape.shape.iter().any(|&d| d < 1 && d != WILDCARD_DIM) {
            return Err(invalid(format!(
                "{prefix}reshape dimensions must be integer >= 1, or {WILDCARD_DIM} to indicate \
                 a variable-size dimension"
            )));
        }
        let dims_size = element_count(io.dims);
        let reshape_size = element_count(&reshape.shape);
        if dims_size != reshape_size && (reshape_size != 0 || dims_size != 1) {
            return Err(invalid(format!(
                "{prefix}has different size for dims and reshape"
            )));
        }
        if dims_size == -1 {
            let a = wildcard_chunks(io.dims);
            let b = wildcard_chunks(&reshape.shape);
            if a.len() != b.len() {
                return Err(invalid(format!(
                    "{prefix}has different number of variable-size dimensions for dims and \
                     reshape"
                )));
            }
            if a != b {
                return Err(invalid(format!(
                    "{prefix}has different size for dims and reshape"
                )));
            }
        }
    }
    Ok(())
}

fn validate_non_linear_format_io(
    io: &Io<'_>,
    platform: &str,
    is_input: bool,
) -> Result<(), ConfigError> {
    if !io.is_non_linear_format_io {
        return Ok(());
    }
    if platform != TENSORRT_PLAN_PLATFORM {
        return Err(invalid(
            "Non-linear IO format is only supported for the TensorRT platform",
        ));
    }
    if io.dims.len() != 3 {
        let which = if is_input { "input" } else { "output" };
        return Err(invalid(format!(
            "Non-linear IO format {which} requires 3 dims"
        )));
    }
    Ok(())
}

/// Upstream's `ValidateModelInput`.
pub fn validate_model_input(
    input: &pb::ModelInput,
    max_batch_size: i32,
    platform: &str,
) -> Result<(), ConfigError> {
    let io = Io {
        name: &input.name,
        data_type: input.data_type,
        dims: &input.dims,
        reshape: input.reshape.as_ref(),
        is_shape_tensor: input.is_shape_tensor,
        is_non_linear_format_io: input.is_non_linear_format_io,
    };
    validate_io_shape(&io, max_batch_size, "model input ")?;
    use pb::model_input::Format;
    if matches!(input.format(), Format::Nhwc | Format::Nchw) && input.dims.len() != 3 {
        return Err(invalid("model input NHWC/NCHW require 3 dims"));
    }
    if platform != TENSORRT_PLAN_PLATFORM && io.is_shape_tensor {
        return Err(invalid(
            "shape tensors are only supported for TensorRT platform",
        ));
    }
    validate_non_linear_format_io(&io, platform, true)
}

/// Upstream's `ValidateModelOutput`.
pub fn validate_model_output(
    output: &pb::ModelOutput,
    max_batch_size: i32,
    platform: &str,
) -> Result<(), ConfigError> {
    let io = Io {
        name: &output.name,
        data_type: output.data_type,
        dims: &output.dims,
        reshape: output.reshape.as_ref(),
        is_shape_tensor: output.is_shape_tensor,
        is_non_linear_format_io: output.is_non_linear_format_io,
    };
    validate_io_shape(&io, max_batch_size, "model output ")?;
    if platform != TENSORRT_PLAN_PLATFORM && io.is_shape_tensor {
        return Err(invalid(
            "shape tensors are only supported for TensorRT platform",
        ));
    }
    validate_non_linear_format_io(&io, platform, false)
}

/// Upstream's `ValidateBatchIO`.
fn validate_batch_io(cfg: &pb::ModelConfig) -> Result<(), ConfigError> {
    let inputs: HashSet<&str> = cfg.input.iter().map(|i| i.name.as_str()).collect();
    let outputs: HashSet<&str> = cfg.output.iter().map(|o| o.name.as_str()).collect();
    for bi in &cfg.batch_input {
        let Ok(kind) = pb::batch_input::Kind::try_from(bi.kind) else {
            return Err(invalid(format!("unknown batch input kind '{}'", bi.kind)));
        };
        if bi.source_input.len() != 1 {
            return Err(invalid(format!(
                "batch input kind '{}' expects 1 source input, got {}",
                kind.as_str_name(),
                bi.source_input.len()
            )));
        }
        if bi.data_type != DataType::TypeInt32 as i32 && bi.data_type != DataType::TypeFp32 as i32 {
            return Err(invalid(
                "batch input data type must be TYPE_INT32 or TYPE_FP32",
            ));
        }
        for source in &bi.source_input {
            if !inputs.contains(source.as_str()) {
                return Err(invalid(format!("unknown source input name '{source}'")));
            }
        }
    }
    for bo in &cfg.batch_output {
        let Ok(kind) = pb::batch_output::Kind::try_from(bo.kind) else {
            return Err(invalid(format!("unknown batch output kind '{}'", bo.kind)));
        };
        if bo.source_input.len() != 1 {
            return Err(invalid(format!(
                "batch output kind '{}' expects 1 source input, got {}",
                kind.as_str_name(),
                bo.source_input.len()
            )));
        }
        for source in &bo.source_input {
            if !inputs.contains(source.as_str()) {
                return Err(invalid(format!("unknown source input name '{source}'")));
            }
        }
        let mut targets = HashSet::new();
        for target in &bo.target_name {
            if !outputs.contains(target.as_str()) {
                return Err(invalid(format!("unknown target output name '{target}'")));
            }
            if !targets.insert(target.as_str()) {
                return Err(invalid(format!(
                    "target output name '{target}' can only be specified once"
                )));
            }
        }
    }
    Ok(())
}

/// Upstream's `ValidateModelIOConfig`: every input and output (name, data
/// type, dims, reshape, format, shape-tensor and non-linear-format rules)
/// and the batch inputs/outputs. Messages get " for <model>" appended.
pub fn validate_io_config(cfg: &pb::ModelConfig) -> Result<(), ConfigError> {
    let suffix =
        |e: ConfigError| ConfigError::new(e.code, format!("{} for {}", e.message, cfg.name));
    for input in &cfg.input {
        validate_model_input(input, cfg.max_batch_size, &cfg.platform).map_err(suffix)?;
    }
    for output in &cfg.output {
        validate_model_output(output, cfg.max_batch_size, &cfg.platform).map_err(suffix)?;
    }
    validate_batch_io(cfg).map_err(suffix)
}

/// `std::stoi`-like parse of a profile name: optional leading whitespace
/// and sign, then at least one digit; trailing text is ignored.
fn parse_profile_index(profile: &str) -> Result<i64, ConfigError> {
    if profile.is_empty() {
        return Err(invalid("profile name must not be empty"));
    }
    let trimmed = profile.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (sign, rest) = match trimmed.as_bytes().first() {
        Some(b'-') => (-1, &trimmed[1..]),
        Some(b'+') => (1, &trimmed[1..]),
        _ => (1, trimmed),
    };
    let digits: &str = &rest[..rest.bytes().take_while(u8::is_ascii_digit).count()];
    if digits.is_empty() {
        return Err(invalid(format!("unable to parse '{profile}': stoi")));
    }
    // Out-of-range values abort upstream (uncaught std::out_of_range);
    // report them as unparsable instead.
    match digits.parse::<i32>() {
        Ok(v) => Ok(sign * i64::from(v)),
        Err(_) => Err(invalid(format!("unable to parse '{profile}': stoi"))),
    }
}

/// Upstream's `ValidateInstanceGroup` for a build without GPU support:
/// at least one group; KIND_CPU and KIND_MODEL groups must not list GPUs;
/// KIND_GPU is rejected ("server does not support GPUs"); KIND_AUTO left
/// over is `Internal`; `profile` only for `tensorrt_plan`, each a
/// non-negative integer. Ensembles are skipped.
pub fn validate_instance_group(cfg: &pb::ModelConfig) -> Result<(), ConfigError> {
    if matches!(
        cfg.scheduling_choice,
        Some(SchedulingChoice::EnsembleScheduling(_))
    ) {
        return Ok(());
    }
    let name = &cfg.name;
    if cfg.instance_group.is_empty() {
        return Err(invalid(format!(
            "must specify one or more 'instance group's for {name}"
        )));
    }
    for group in &cfg.instance_group {
        let g = &group.name;
        match Kind::try_from(group.kind) {
            Ok(Kind::Model) => {
                if !group.gpus.is_empty() {
                    return Err(invalid(format!(
                        "instance group {g} of model {name} has kind KIND_MODEL but specifies \
                         one or more GPUs"
                    )));
                }
            }
            Ok(Kind::Gpu) => {
                return Err(invalid(format!(
                    "instance group {g} of model {name} has kind KIND_GPU but server does not \
                     support GPUs"
                )));
            }
            Ok(Kind::Cpu) => {
                if !group.gpus.is_empty() {
                    return Err(invalid(format!(
                        "instance group {g} of model {name} has kind KIND_CPU but specifies \
                         one or more GPUs"
                    )));
                }
            }
            _ => {
                return Err(ConfigError::internal(format!(
                    "instance group {g} of model {name} has unexpected kind KIND_AUTO"
                )));
            }
        }

        if cfg.platform != TENSORRT_PLAN_PLATFORM && !group.profile.is_empty() {
            // Upstream's message lacks a space before "specifies".
            return Err(invalid(format!(
                "instance group {g} of model {name} and platform {}specifies profile field \
                 which is only supported for TensorRT models",
                cfg.platform
            )));
        }
        for profile in &group.profile {
            if parse_profile_index(profile)? < 0 {
                return Err(invalid(format!(
                    "instance group {g} of model {name} and platform {} specifies invalid \
                     profile {profile}. The field should contain the string representation of \
                     a non-negative integer.",
                    cfg.platform
                )));
            }
        }
    }
    Ok(())
}
