//! Defaults filled in before a backend sees the configuration
//! (upstream `NormalizeModelConfig`, `NormalizeInstanceGroup`,
//! `SetDefaultInstanceCount`).

use crate::autofill::names::{ONNXRUNTIME_BACKEND, TENSORFLOW_BACKEND};
use crate::error::ConfigError;
use crate::pb;
use crate::pb::model_config::SchedulingChoice;
use crate::pb::model_instance_group::Kind;
use crate::pb::model_optimization_policy::PinnedMemoryBuffer;
use crate::pb::model_sequence_batching::StrategyChoice;
use crate::pb::model_version_policy::{Latest, PolicyChoice};

/// `SEQUENCE_IDLE_DEFAULT_MICROSECONDS`: one second.
pub const SEQUENCE_IDLE_DEFAULT_MICROSECONDS: u64 = 1_000_000;

/// Instance count given to a group that does not set one: 2 for CPU groups
/// of the `tensorflow` and `onnxruntime` backends, otherwise 1.
pub fn default_instance_count(backend: &str, kind: Kind) -> i32 {
    if kind == Kind::Cpu && (backend == TENSORFLOW_BACKEND || backend == ONNXRUNTIME_BACKEND) {
        2
    } else {
        1
    }
}

/// Options for [`normalize`].
#[derive(Clone, Debug)]
pub struct NormalizeOptions {
    /// Also fill `instance_group` ([`normalize_instance_group`]). Upstream
    /// does this in a second step, once the backend is loaded and its
    /// preferred groups are known; set to `false` to reproduce the state
    /// of the configuration between the two steps.
    pub instance_groups: bool,
    /// Instance groups the backend prefers
    /// (`TRITONBACKEND_BackendAttributeAddPreferredInstanceGroup`), in the
    /// order they were added.
    pub preferred_groups: Vec<pb::ModelInstanceGroup>,
}

impl Default for NormalizeOptions {
    fn default() -> Self {
        Self {
            instance_groups: true,
            preferred_groups: Vec::new(),
        }
    }
}

impl NormalizeOptions {
    /// See [`default_instance_count`].
    pub fn default_instance_count(&self, backend: &str, kind: Kind) -> i32 {
        default_instance_count(backend, kind)
    }
}

/// Runs [`normalize_model_config`] and, if `opts.instance_groups`,
/// [`normalize_instance_group`].
pub fn normalize(cfg: &mut pb::ModelConfig, opts: &NormalizeOptions) -> Result<(), ConfigError> {
    normalize_model_config(cfg)?;
    if opts.instance_groups {
        normalize_instance_group(cfg, &opts.preferred_groups)?;
    }
    Ok(())
}

/// Upstream's `NormalizeModelConfig`, also re-run after a backend updates
/// the configuration through `TRITONBACKEND_ModelSetConfig`:
/// - no `version_policy` → `latest { num_versions: 1 }`;
/// - dynamic batching without `preferred_batch_size` → `[max_batch_size]`
///   when `max_batch_size > 0`;
/// - sequence batching: `max_sequence_idle_microseconds` 0 → 1 s, and the
///   oldest strategy gets the same preferred-size default;
/// - unless the model is an ensemble, missing `optimization`
///   `input_pinned_memory` / `output_pinned_memory` → `enable: true`
///   (this creates `optimization` if absent).
pub fn normalize_model_config(cfg: &mut pb::ModelConfig) -> Result<(), ConfigError> {
    if cfg.version_policy.is_none() {
        cfg.version_policy = Some(pb::ModelVersionPolicy {
            policy_choice: Some(PolicyChoice::Latest(Latest { num_versions: 1 })),
        });
    }

    let max_batch_size = cfg.max_batch_size;
    match &mut cfg.scheduling_choice {
        Some(SchedulingChoice::DynamicBatching(db))
            if db.preferred_batch_size.is_empty() && max_batch_size > 0 =>
        {
            db.preferred_batch_size.push(max_batch_size);
        }
        Some(SchedulingChoice::SequenceBatching(sb)) => {
            if sb.max_sequence_idle_microseconds == 0 {
                sb.max_sequence_idle_microseconds = SEQUENCE_IDLE_DEFAULT_MICROSECONDS;
            }
            if let Some(StrategyChoice::Oldest(oldest)) = &mut sb.strategy_choice {
                if oldest.preferred_batch_size.is_empty() && max_batch_size > 0 {
                    oldest.preferred_batch_size.push(max_batch_size);
                }
            }
        }
        _ => {}
    }

    if !matches!(
        cfg.scheduling_choice,
        Some(SchedulingChoice::EnsembleScheduling(_))
    ) {
        let optimization = cfg.optimization.get_or_insert_with(Default::default);
        optimization
            .input_pinned_memory
            .get_or_insert(PinnedMemoryBuffer { enable: true });
        optimization
            .output_pinned_memory
            .get_or_insert(PinnedMemoryBuffer { enable: true });
    }
    Ok(())
}

/// Upstream's `NormalizeInstanceGroup` for a build without GPUs (the set of
/// supported GPUs is empty). Ensembles are left alone. Otherwise:
/// - no `instance_group` → one group named after the model, taking kind and
///   count from the first usable preferred group (KIND_GPU preferred groups
///   are unusable without GPUs; a KIND_AUTO one also contributes its gpus);
///   with no usable preferred group the group is KIND_AUTO / count 0 and is
///   completed by the next rules;
/// - a group without name is named `<model>_<index>` (index counts every
///   group, named or not);
/// - KIND_AUTO becomes KIND_CPU (no GPUs);
/// - a count < 1 is taken from the first preferred group of the same kind
///   that has a positive count, else [`default_instance_count`];
/// - KIND_GPU groups keep their `gpus` as given (nothing to add without
///   GPUs; validation rejects KIND_GPU later).
pub fn normalize_instance_group(
    cfg: &mut pb::ModelConfig,
    preferred_groups: &[pb::ModelInstanceGroup],
) -> Result<(), ConfigError> {
    if matches!(
        cfg.scheduling_choice,
        Some(SchedulingChoice::EnsembleScheduling(_))
    ) {
        return Ok(());
    }

    if cfg.instance_group.is_empty() {
        let mut group = pb::ModelInstanceGroup {
            name: cfg.name.clone(),
            ..Default::default()
        };
        for pg in preferred_groups {
            match pg.kind() {
                // No supported GPUs in this build.
                Kind::Gpu => continue,
                Kind::Auto => group.gpus.extend_from_slice(&pg.gpus),
                _ => {}
            }
            group.kind = pg.kind;
            group.count = pg.count;
            break;
        }
        cfg.instance_group.push(group);
    }

    let model_name = cfg.name.clone();
    let backend = cfg.backend.clone();
    for (index, group) in cfg.instance_group.iter_mut().enumerate() {
        if group.name.is_empty() {
            group.name = format!("{model_name}_{index}");
        }
        if group.kind() == Kind::Auto {
            group.set_kind(Kind::Cpu);
        }
        for pg in preferred_groups {
            if group.kind != pg.kind {
                continue;
            }
            if group.kind() == Kind::Gpu && group.gpus.is_empty() && !pg.gpus.is_empty() {
                // None of the preferred GPUs is supported here.
                continue;
            }
            if group.count < 1 && pg.count > 0 {
                group.count = pg.count;
            }
        }
        if group.count < 1 {
            group.count = default_instance_count(&backend, group.kind());
        }
    }
    Ok(())
}
