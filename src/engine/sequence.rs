//! The sequence batcher: requests with a correlation id go, in order, to the instance their
//! sequence is bound to; control tensors (START, END, READY, CORRID) and implicit state inputs
//! are added before each execution, and the state a backend writes with `TRITONBACKEND_State*`
//! is handed to the next request of the same sequence.
//!
//! Each sequence is pinned to one instance (the one with the fewest live sequences when it
//! starts), and each instance runs one request at a time, so the requests of a sequence run in
//! order. Unlike upstream's direct strategy, requests of different sequences are not batched
//! together in one execution.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::path::{Component, Path};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use triton_model_config::pb;
use triton_model_config::pb::model_sequence_batching::control::Kind;
use triton_model_config::pb::model_sequence_batching::initial_state::StateData;

use crate::engine::error::{Error, Result};
use crate::engine::infer::{
    config_data_type, BufferAttributes, CorrelationId, InferenceRequest, OwnedTensor,
};
use crate::engine::sync::{c_string, lock};
use crate::engine::types::{DataType, MemoryType};

/// `TRITONSERVER_REQUEST_FLAG_SEQUENCE_START`.
pub const FLAG_START: u32 = 1;
/// `TRITONSERVER_REQUEST_FLAG_SEQUENCE_END`.
pub const FLAG_END: u32 = 2;

/// A sequence's identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SeqKey {
    U64(u64),
    Str(String),
}

impl SeqKey {
    fn of(r: &InferenceRequest) -> SeqKey {
        match &r.correlation_id {
            CorrelationId::U64(v) => SeqKey::U64(*v),
            CorrelationId::Str(s) => SeqKey::Str(s.to_string_lossy().into_owned()),
        }
    }
    fn display(&self) -> String {
        match self {
            SeqKey::U64(v) => v.to_string(),
            SeqKey::Str(s) => s.clone(),
        }
    }
}

/// One control tensor of the configuration.
#[derive(Debug, Clone)]
struct Control {
    name: String,
    kind: Kind,
    datatype: DataType,
    /// Encoded false and true values (unused for CORRID).
    values: [Vec<u8>; 2],
}

/// One implicit state of the configuration.
#[derive(Debug, Clone)]
struct StateSpec {
    input_name: String,
    output_name: String,
    datatype: DataType,
    /// Shape of the state at the start of a sequence (variable dimensions as 1).
    initial_shape: Vec<i64>,
    initial: Arc<[u8]>,
}

/// A state value carried between the requests of a sequence.
#[derive(Debug, Clone)]
struct StateValue {
    shape: Vec<i64>,
    data: Arc<[u8]>,
}

#[derive(Debug)]
struct Slot {
    worker: usize,
    last: Instant,
    values: HashMap<String, StateValue>,
}

/// The sequences of one model version.
pub struct Sequences {
    model: String,
    controls: Vec<Control>,
    states: Vec<StateSpec>,
    idle: Duration,
    batching: bool,
    slots: Mutex<HashMap<SeqKey, Slot>>,
    load: Mutex<Vec<usize>>,
}

fn encode_control(c: &pb::model_sequence_batching::Control) -> Result<(DataType, [Vec<u8>; 2])> {
    if c.int32_false_true.len() == 2 {
        let v = &c.int32_false_true;
        return Ok((
            DataType::Int32,
            [v[0].to_le_bytes().to_vec(), v[1].to_le_bytes().to_vec()],
        ));
    }
    if c.fp32_false_true.len() == 2 {
        let v = &c.fp32_false_true;
        return Ok((
            DataType::Fp32,
            [v[0].to_le_bytes().to_vec(), v[1].to_le_bytes().to_vec()],
        ));
    }
    if c.bool_false_true.len() == 2 {
        let v = &c.bool_false_true;
        return Ok((DataType::Bool, [vec![u8::from(v[0])], vec![u8::from(v[1])]]));
    }
    Err(Error::invalid_arg(
        "sequence batching control must specify exactly one of int32_false_true, fp32_false_true or bool_false_true",
    ))
}

impl Sequences {
    /// The sequence support of a model, if its configuration has `sequence_batching`.
    pub fn from_config(cfg: &pb::ModelConfig, model_dir: &Path) -> Result<Option<Arc<Sequences>>> {
        let Some(pb::model_config::SchedulingChoice::SequenceBatching(sb)) = &cfg.scheduling_choice
        else {
            return Ok(None);
        };
        let mut controls = Vec::new();
        for ci in &sb.control_input {
            for c in &ci.control {
                let kind = Kind::try_from(c.kind).unwrap_or(Kind::ControlSequenceStart);
                let (datatype, values) = if kind == Kind::ControlSequenceCorrid {
                    (config_data_type(c.data_type), [Vec::new(), Vec::new()])
                } else {
                    encode_control(c)?
                };
                controls.push(Control {
                    name: ci.name.clone(),
                    kind,
                    datatype,
                    values,
                });
            }
        }
        let batching = cfg.max_batch_size > 0;
        let mut states = Vec::new();
        for s in &sb.state {
            let datatype = config_data_type(s.data_type);
            let mut shape: Vec<i64> = Vec::new();
            if batching {
                shape.push(1);
            }
            shape.extend(s.dims.iter().map(|d| if *d == -1 { 1 } else { *d }));
            let elements: i64 = shape.iter().product();
            let size = match datatype.byte_size() {
                0 => elements * 4,
                b => elements * i64::from(b),
            };
            let mut initial = vec![0u8; usize::try_from(size).unwrap_or(0)];
            if let Some(init) = s.initial_state.first() {
                if let Some(StateData::DataFile(file)) = &init.state_data {
                    let rel = Path::new(file);
                    if rel.is_absolute()
                        || rel.components().any(|c| matches!(c, Component::ParentDir))
                    {
                        return Err(Error::invalid_arg(format!(
                            "initial_state data file '{file}' must be inside the model's initial_state directory"
                        )));
                    }
                    let path = model_dir.join("initial_state").join(rel);
                    let data = std::fs::read(&path).map_err(|e| {
                        Error::invalid_arg(format!(
                            "failed to read initial state file {}: {e}",
                            path.display()
                        ))
                    })?;
                    if data.len() < initial.len() {
                        return Err(Error::invalid_arg(format!(
                            "initial_state setting expects {} bytes, but the data provided from {file}only has {} bytes",
                            initial.len(),
                            data.len()
                        )));
                    }
                    let n = initial.len();
                    initial.copy_from_slice(&data[..n]);
                }
            }
            states.push(StateSpec {
                input_name: s.input_name.clone(),
                output_name: s.output_name.clone(),
                datatype,
                initial_shape: shape,
                initial: initial.into(),
            });
        }
        Ok(Some(Arc::new(Sequences {
            model: cfg.name.clone(),
            controls,
            states,
            idle: Duration::from_micros(sb.max_sequence_idle_microseconds.max(1)),
            batching,
            slots: Mutex::new(HashMap::new()),
            load: Mutex::new(Vec::new()),
        })))
    }

    /// Tell how many instances serve sequences.
    pub(crate) fn set_workers(&self, n: usize) {
        *lock(&self.load) = vec![0; n.max(1)];
    }

    /// Bind a request to its sequence: the index of the instance that runs it. A request that
    /// does not start a sequence must belong to a live one.
    pub(crate) fn route(&self, r: &InferenceRequest) -> Result<usize> {
        if r.batch_size > 1 {
            return Err(Error::invalid_arg(format!(
                "inference request to model '{}' must specify batch-size 1 due to requirements of sequence batcher",
                self.model
            )));
        }
        let key = SeqKey::of(r);
        let start = r.flags & FLAG_START != 0;
        let now = Instant::now();
        let mut slots = lock(&self.slots);
        let mut load = lock(&self.load);
        // Forget sequences idle for too long.
        let idle = self.idle;
        slots.retain(|_, s| {
            let keep = now.duration_since(s.last) <= idle;
            if !keep {
                if let Some(l) = load.get_mut(s.worker) {
                    *l = l.saturating_sub(1);
                }
            }
            keep
        });
        match slots.get_mut(&key) {
            Some(slot) => {
                if start {
                    crate::log_warn!(
                        "sequence {} for model '{}' has a conflict. The previous sequence did not end before this sequence start. Previous sequence will be terminated early.",
                        key.display(),
                        self.model
                    );
                }
                slot.last = now;
                Ok(slot.worker)
            }
            None if start => {
                let worker = (0..load.len()).min_by_key(|i| load[*i]).unwrap_or(0);
                if let Some(l) = load.get_mut(worker) {
                    *l += 1;
                }
                slots.insert(
                    key,
                    Slot {
                        worker,
                        last: now,
                        values: HashMap::new(),
                    },
                );
                Ok(worker)
            }
            None => Err(Error::invalid_arg(format!(
                "inference request for sequence {} to model '{}' must specify the START flag on the first request of the sequence",
                key.display(),
                self.model
            ))),
        }
    }

    fn control_value(&self, c: &Control, r: &InferenceRequest) -> Vec<u8> {
        let flag = |f: u32| usize::from(r.flags & f != 0);
        match c.kind {
            Kind::ControlSequenceStart => c.values[flag(FLAG_START)].clone(),
            Kind::ControlSequenceEnd => c.values[flag(FLAG_END)].clone(),
            Kind::ControlSequenceReady => c.values[1].clone(),
            Kind::ControlSequenceCorrid => {
                if c.datatype == DataType::Bytes {
                    let text = match &r.correlation_id {
                        CorrelationId::Str(s) => s.to_bytes().to_vec(),
                        CorrelationId::U64(v) => v.to_string().into_bytes(),
                    };
                    let mut out = (text.len() as u32).to_le_bytes().to_vec();
                    out.extend(text);
                    out
                } else {
                    let v = match &r.correlation_id {
                        CorrelationId::U64(v) => *v,
                        CorrelationId::Str(s) => s.to_string_lossy().parse().unwrap_or(0),
                    };
                    match c.datatype {
                        DataType::Uint32 | DataType::Int32 => (v as u32).to_le_bytes().to_vec(),
                        _ => v.to_le_bytes().to_vec(),
                    }
                }
            }
        }
    }

    /// Add the control tensors and the state inputs to a request about to execute, and bind it
    /// to its sequence for `TRITONBACKEND_StateNew`. The END request closes the sequence.
    pub(crate) fn prepare(self: &Arc<Self>, r: &mut InferenceRequest) -> Result<()> {
        let key = SeqKey::of(r);
        let values: HashMap<String, StateValue> = {
            let mut slots = lock(&self.slots);
            let current = slots
                .get(&key)
                .map(|s| s.values.clone())
                .unwrap_or_default();
            if r.flags & FLAG_END != 0 {
                if let Some(slot) = slots.remove(&key) {
                    if let Some(l) = lock(&self.load).get_mut(slot.worker) {
                        *l = l.saturating_sub(1);
                    }
                }
            }
            current
        };
        let control_shape: Vec<i64> = if self.batching { vec![1, 1] } else { vec![1] };
        let mut tensors: Vec<OwnedTensor> = Vec::new();
        for c in &self.controls {
            tensors.push(OwnedTensor {
                name: c.name.clone(),
                datatype: c.datatype,
                shape: control_shape.clone(),
                data: self.control_value(c, r).into(),
            });
        }
        let starting = r.flags & FLAG_START != 0;
        for s in &self.states {
            let (shape, data) = match values.get(&s.input_name) {
                Some(v) if !starting => (v.shape.clone(), v.data.clone()),
                _ => (s.initial_shape.clone(), s.initial.clone()),
            };
            tensors.push(OwnedTensor {
                name: s.input_name.clone(),
                datatype: s.datatype,
                shape,
                data,
            });
        }
        for t in tensors {
            if r.input(&t.name).is_some() {
                r.remove_input(&t.name)?;
            }
            r.inputs_mut().push(t.to_input());
        }
        r.sequence = Some(SequenceBinding {
            sequences: self.clone(),
            key,
        });
        Ok(())
    }

    fn spec_for_output(&self, output_name: &str) -> Option<&StateSpec> {
        self.states.iter().find(|s| s.output_name == output_name)
    }

    fn store(&self, key: &SeqKey, input_name: &str, value: StateValue) {
        if let Some(slot) = lock(&self.slots).get_mut(key) {
            slot.values.insert(input_name.to_owned(), value);
        }
    }
}

/// Which sequence a request belongs to (set when it is prepared for execution).
#[derive(Clone)]
pub struct SequenceBinding {
    sequences: Arc<Sequences>,
    key: SeqKey,
}

/// An implicit state output a backend fills (`TRITONBACKEND_State`); owned by its request.
pub struct OutputState {
    binding: SequenceBinding,
    input_name: String,
    name: CString,
    pub datatype: DataType,
    pub shape: Vec<i64>,
    buffer: Mutex<Vec<u8>>,
    attributes: Mutex<BufferAttributes>,
}

impl OutputState {
    /// A state output for `name` (the state's output name) of a prepared sequence request.
    pub fn new(
        r: &InferenceRequest,
        name: &str,
        datatype: DataType,
        shape: &[i64],
    ) -> Result<OutputState> {
        let binding = r.sequence.clone().ok_or_else(|| {
            Error::invalid_arg(format!(
                "{}implicit state '{name}' needs a model with sequence batching",
                r.log_prefix()
            ))
        })?;
        let spec = binding.sequences.spec_for_output(name).ok_or_else(|| {
            Error::not_found(format!("state '{name}' is not a valid state name."))
        })?;
        Ok(OutputState {
            input_name: spec.input_name.clone(),
            binding,
            name: c_string(name),
            datatype,
            shape: shape.to_vec(),
            buffer: Mutex::new(Vec::new()),
            attributes: Mutex::new(BufferAttributes::default()),
        })
    }

    pub fn name_c(&self) -> &CStr {
        &self.name
    }

    /// A CPU buffer of `byte_size` bytes for the backend to fill; returns its address.
    pub fn allocate(&self, byte_size: usize, memory_type: MemoryType) -> Result<usize> {
        if memory_type == MemoryType::Gpu {
            crate::log_verbose!(
                1,
                "implicit state '{}' is kept in CPU memory",
                self.name.to_string_lossy()
            );
        }
        let mut b = lock(&self.buffer);
        *b = vec![0u8; byte_size.max(1)];
        *lock(&self.attributes) = BufferAttributes {
            memory_type: MemoryType::Cpu,
            memory_type_id: 0,
            byte_size,
            cuda_ipc_handle: None,
        };
        Ok(b.as_mut_ptr() as usize)
    }

    /// The attributes of the allocated buffer (stable address: owned by this state).
    pub fn attributes(&self) -> &Mutex<BufferAttributes> {
        &self.attributes
    }

    /// Fill the allocated buffer from safe code (tests; backends write through the address).
    pub fn write(&self, bytes: &[u8]) {
        let mut b = lock(&self.buffer);
        let n = bytes.len().min(b.len());
        b[..n].copy_from_slice(&bytes[..n]);
    }

    /// Commit the buffer as the state the next request of the sequence receives.
    pub fn update(&self) -> Result<()> {
        let size = lock(&self.attributes).byte_size;
        let buffer = lock(&self.buffer);
        let data: Arc<[u8]> = buffer[..size.min(buffer.len())].into();
        drop(buffer);
        self.binding.sequences.store(
            &self.binding.key,
            &self.input_name,
            StateValue {
                shape: self.shape.clone(),
                data,
            },
        );
        Ok(())
    }
}
