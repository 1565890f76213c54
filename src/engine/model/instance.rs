//! Model instances: one per `count` of each instance group (per GPU for GPU groups).

use std::ffi::{c_void, CStr, CString};
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Arc, Weak};

use triton_model_config::pb;
use triton_model_config::pb::model_instance_group::Kind;

use super::gate::{Finalizing, Gate, Initializing};
use super::readiness::ReadyCell;
use super::Model;
use crate::engine::backend::BackendLibrary;
use crate::engine::error::{Error, Result};
use crate::engine::message::Message;
use crate::engine::ratelimit::Needs;
use crate::engine::sync::c_string;
use crate::engine::types::InstanceKind;

/// Where and how one instance runs, derived from its group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InstanceSettings {
    pub kind: InstanceKind,
    pub device_id: i32,
    pub host_policy: String,
    /// The settings of that host policy from the server options (`--host-policy`).
    pub host_policy_settings: std::collections::BTreeMap<String, String>,
}

/// The placements one group asks for: one for CPU and MODEL groups, one per listed GPU.
pub(crate) fn settings_for_group(group: &pb::ModelInstanceGroup) -> Result<Vec<InstanceSettings>> {
    let policy = |default: String| {
        if group.host_policy.is_empty() {
            default
        } else {
            group.host_policy.clone()
        }
    };
    match Kind::try_from(group.kind) {
        Ok(Kind::Cpu) => Ok(vec![InstanceSettings {
            kind: InstanceKind::Cpu,
            device_id: 0,
            host_policy: policy("cpu".into()),
            host_policy_settings: Default::default(),
        }]),
        Ok(Kind::Model) => Ok(vec![InstanceSettings {
            kind: InstanceKind::Model,
            device_id: 0,
            host_policy: policy("model".into()),
            host_policy_settings: Default::default(),
        }]),
        Ok(Kind::Gpu) => Ok(group
            .gpus
            .iter()
            .map(|&id| InstanceSettings {
                kind: InstanceKind::Gpu,
                device_id: id,
                host_policy: policy(format!("gpu_{id}")),
                host_policy_settings: Default::default(),
            })
            .collect()),
        _ => Err(Error::invalid_arg(format!(
            "instance_group kind {} not supported",
            Kind::try_from(group.kind)
                .map(|k| k.as_str_name())
                .unwrap_or("<invalid>")
        ))),
    }
}

/// One instance of a model.
pub struct Instance {
    name: CString,
    kind: InstanceKind,
    device_id: i32,
    passive: bool,
    profiles: Vec<CString>,
    secondary_devices: Vec<(CString, i64)>,
    host_policy: Message,
    model: Weak<Model>,
    state: AtomicPtr<c_void>,
    /// The backend's ModelInstanceInitialize succeeded and its ModelInstanceFinalize has not
    /// started.
    initialized: AtomicBool,
    /// Every call into the backend with this instance passes through it (see `gate.rs`).
    gate: Gate,
    /// Its runtime readiness (see `readiness.rs`).
    ready: ReadyCell,
    /// Held while the instance is finalized or restarted, so that the two never overlap.
    lifecycle: std::sync::Mutex<()>,
    /// Rate limiter resources the instance needs to execute.
    needs: Needs,
}

impl Instance {
    pub(crate) fn new(
        name: &str,
        settings: &InstanceSettings,
        group: &pb::ModelInstanceGroup,
        model: Weak<Model>,
    ) -> Arc<Instance> {
        let secondary_devices = group
            .secondary_devices
            .iter()
            .map(|d| {
                let kind =
                    pb::model_instance_group::secondary_device::SecondaryDeviceKind::try_from(
                        d.kind,
                    )
                    .map(|k| k.as_str_name())
                    .unwrap_or("<invalid>");
                (c_string(kind), d.device_id)
            })
            .collect();
        let host_policy = Message::from_value(
            &serde_json::json!({ settings.host_policy.as_str(): settings.host_policy_settings }),
        );
        Arc::new(Instance {
            name: c_string(name),
            kind: settings.kind,
            device_id: settings.device_id,
            passive: group.passive,
            profiles: group.profile.iter().map(|p| c_string(p)).collect(),
            secondary_devices,
            host_policy,
            model,
            state: AtomicPtr::new(std::ptr::null_mut()),
            initialized: AtomicBool::new(false),
            gate: Gate::default(),
            ready: ReadyCell::default(),
            lifecycle: std::sync::Mutex::new(()),
            needs: Needs::of(group, settings.device_id),
        })
    }

    /// The rate limiter resources this instance needs.
    pub fn needs(&self) -> &Needs {
        &self.needs
    }

    pub fn name(&self) -> &str {
        self.name.to_str().unwrap_or_default()
    }
    pub fn name_c(&self) -> &CStr {
        &self.name
    }
    pub fn kind(&self) -> InstanceKind {
        self.kind
    }
    pub fn device_id(&self) -> i32 {
        self.device_id
    }
    pub fn is_passive(&self) -> bool {
        self.passive
    }
    pub fn profiles(&self) -> &[CString] {
        &self.profiles
    }
    /// (kind name, device id) of each secondary device.
    pub fn secondary_devices(&self) -> &[(CString, i64)] {
        &self.secondary_devices
    }
    /// `{"<host policy name>": {<settings>}}`.
    pub fn host_policy(&self) -> &Message {
        &self.host_policy
    }
    /// The model this instance belongs to.
    pub fn model(&self) -> &Weak<Model> {
        &self.model
    }
    pub fn state(&self) -> *mut c_void {
        self.state.load(Ordering::Acquire)
    }
    pub fn set_state(&self, state: *mut c_void) {
        self.state.store(state, Ordering::Release);
    }

    pub(crate) fn gate(&self) -> &Gate {
        &self.gate
    }

    /// Its runtime readiness state.
    pub fn ready_cell(&self) -> &ReadyCell {
        &self.ready
    }

    pub(crate) fn lifecycle_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        crate::engine::sync::lock(&self.lifecycle)
    }

    /// Run the backend's initialization of this instance and open its gate.
    pub(crate) fn initialize(&self, lib: &dyn BackendLibrary) -> Result<()> {
        lib.instance_initialize(&Initializing::new(self))?;
        self.initialized.store(true, Ordering::Release);
        self.gate.open();
        Ok(())
    }

    /// Close the gate, wait until no call into the backend with this instance is running, then
    /// run the backend's finalization of it, once.
    pub(crate) fn finalize(&self, lib: &dyn BackendLibrary) {
        let _one = self.lifecycle_lock();
        self.finalize_locked(lib);
    }

    /// [`Instance::finalize`] for a caller that holds the lifecycle lock (a restart).
    pub(crate) fn finalize_locked(&self, lib: &dyn BackendLibrary) {
        if !self.initialized.swap(false, Ordering::AcqRel) {
            return;
        }
        self.gate.close(None);
        if let Err(e) = lib.instance_finalize(&Finalizing::new(self)) {
            crate::log_error!(
                "failed to finalize model instance '{}': {}",
                self.name(),
                e.message()
            );
        }
    }
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish()
    }
}
