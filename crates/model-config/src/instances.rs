//! Model-instance naming (upstream `TritonModel::PrepareInstances`).

use crate::error::ConfigError;
use crate::pb;
use crate::pb::model_instance_group::Kind;

/// One model instance to create, in creation order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceSpec {
    /// Index of the group in `instance_group`.
    pub group_index: usize,
    /// `<group name>_<k>` with `k` in `0..count`.
    pub name: String,
    /// KIND_CPU, KIND_GPU or KIND_MODEL.
    pub kind: Kind,
    /// GPU id for KIND_GPU, otherwise 0.
    pub device_id: i32,
    /// `host_policy` of the group, or the default: "cpu", "model" or
    /// "gpu_<id>".
    pub host_policy: String,
    /// Passive instances are not given requests by the scheduler.
    pub passive: bool,
}

/// Instances upstream creates for a normalized configuration.
///
/// Naming rules (verified against upstream `backend_model.cc` and
/// `NormalizeInstanceGroup`):
/// - instance `k` of a group is named `<group name>_<k>`;
/// - a model without `instance_group` gets one group named after the model,
///   so its instances are `<model>_0`, `<model>_1`, …;
/// - a group without a name is named `<model>_<group index>`, so the first
///   instance of the first unnamed group is `<model>_0_0`;
/// - a KIND_GPU group creates `count` instances per listed GPU, and the
///   instances on different GPUs share the same name.
///
/// Run it on a configuration that went through
/// [`crate::normalize_instance_group`]; a KIND_AUTO group left over is
/// `InvalidArg` "instance_group kind KIND_AUTO not supported", as upstream.
/// Ensembles have no instances.
pub fn instance_names(cfg: &pb::ModelConfig) -> Result<Vec<InstanceSpec>, ConfigError> {
    let mut out = Vec::new();
    if matches!(
        cfg.scheduling_choice,
        Some(pb::model_config::SchedulingChoice::EnsembleScheduling(_))
    ) {
        return Ok(out);
    }
    for (group_index, group) in cfg.instance_group.iter().enumerate() {
        let kind = Kind::try_from(group.kind).map_err(|_| {
            ConfigError::invalid_arg(format!("instance_group kind {} not supported", group.kind))
        })?;
        let policy = |default: String| {
            if group.host_policy.is_empty() {
                default
            } else {
                group.host_policy.clone()
            }
        };
        for k in 0..group.count.max(0) {
            let name = format!("{}_{k}", group.name);
            let mut push = |device_id: i32, host_policy: String| {
                out.push(InstanceSpec {
                    group_index,
                    name: name.clone(),
                    kind,
                    device_id,
                    host_policy,
                    passive: group.passive,
                });
            };
            match kind {
                Kind::Cpu => push(0, policy("cpu".into())),
                Kind::Model => push(0, policy("model".into())),
                Kind::Gpu => {
                    for &gpu in &group.gpus {
                        push(gpu, policy(format!("gpu_{gpu}")));
                    }
                }
                Kind::Auto => {
                    return Err(ConfigError::invalid_arg(
                        "instance_group kind KIND_AUTO not supported",
                    ))
                }
            }
        }
    }
    Ok(out)
}
