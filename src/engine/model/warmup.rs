//! Model warmup: the `model_warmup` samples of the configuration run on each instance right
//! after it is initialized, before it takes requests. A sample that fails fails the load.

use std::collections::HashMap;
use std::ffi::CStr;
use std::path::{Component, Path};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use triton_model_config::pb;
use triton_model_config::pb::model_warmup::input::InputDataType;

use super::{Entered, Instance, Model};
use crate::engine::buffer::Addr;
use crate::engine::error::{Error, Result};
use crate::engine::infer::{
    normalize_request, AllocatedBuffer, DataBuffer, InferenceRequest, InferenceResponse,
    OwnedTensor, ReleaseCallback, ResponseAllocator, ResponseCallback, RESPONSE_FINAL,
};
use crate::engine::sync::lock;
use crate::engine::types::{DataType, MemoryType};

/// How long one warmup iteration may take before the load gives up.
const WARMUP_LIMIT: Duration = Duration::from_secs(600);

/// Collects what the backend sends back for one warmup iteration.
#[derive(Default)]
struct Tracker {
    state: Mutex<TrackerState>,
    cv: Condvar,
}

#[derive(Default)]
struct TrackerState {
    released: usize,
    finals: usize,
    errors: Vec<String>,
    /// Output buffers handed to the backend, by address.
    buffers: HashMap<Addr, Vec<u8>>,
}

impl Tracker {
    fn wait(&self, requests: usize) -> bool {
        let deadline = Instant::now() + WARMUP_LIMIT;
        let mut st = lock(&self.state);
        while st.released < requests || st.finals < requests {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = crate::engine::sync::wait_timeout(&self.cv, st, deadline - now);
        }
        true
    }
}

struct Alloc(Arc<Tracker>);

impl ResponseAllocator for Alloc {
    fn start(&self) -> Result<()> {
        Ok(())
    }
    fn alloc(&self, _: &CStr, size: usize, _: MemoryType, _: i64) -> Result<AllocatedBuffer> {
        let buf = vec![0u8; size.max(1)];
        let addr = Addr::of(buf.as_ptr());
        lock(&self.0.state).buffers.insert(addr, buf);
        Ok(AllocatedBuffer {
            addr,
            byte_size: size,
            memory_type: MemoryType::Cpu,
            memory_type_id: 0,
            buffer_userp: Addr::NULL,
        })
    }
    fn release(&self, b: &AllocatedBuffer) -> Result<()> {
        lock(&self.0.state).buffers.remove(&b.addr);
        Ok(())
    }
    fn query(
        &self,
        _: Option<&CStr>,
        _: Option<usize>,
        _: MemoryType,
        _: i64,
    ) -> Result<(MemoryType, i64)> {
        Ok((MemoryType::Cpu, 0))
    }
}

struct Complete(Arc<Tracker>);

impl ResponseCallback for Complete {
    fn complete(&self, response: Option<Box<InferenceResponse>>, flags: u32) {
        let error = response
            .as_ref()
            .and_then(|r| r.error().map(|e| e.message().to_owned()));
        drop(response);
        let mut st = lock(&self.0.state);
        if let Some(e) = error {
            st.errors.push(e);
        }
        if flags & RESPONSE_FINAL != 0 {
            st.finals += 1;
        }
        drop(st);
        self.0.cv.notify_all();
    }
}

struct Release(Arc<Tracker>);

impl ReleaseCallback for Release {
    fn release(&self, request: Box<InferenceRequest>, _flags: u32) {
        drop(request);
        lock(&self.0.state).released += 1;
        self.0.cv.notify_all();
    }
}

fn config_type(d: i32) -> DataType {
    crate::engine::infer::config_data_type(d)
}

/// Deterministic pseudo-random bytes (warmup checks no results, only that execution works).
fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The bytes of one warmup input for a batch-1 request.
fn input_data(model: &Model, name: &str, input: &pb::model_warmup::Input) -> Result<Vec<u8>> {
    if input.dims.contains(&-1) {
        return Err(Error::invalid_arg(format!(
            "warmup setting expects all variable-size dimensions are specified for input '{name}'"
        )));
    }
    let elements: i64 = input.dims.iter().product();
    let dtype = config_type(input.data_type);
    let elem_size = match dtype.byte_size() {
        0 => 4,
        s => i64::from(s),
    };
    let size = usize::try_from(elements * elem_size).unwrap_or(0);
    match &input.input_data_type {
        Some(InputDataType::ZeroData(_)) => Ok(vec![0; size]),
        Some(InputDataType::RandomData(_)) if dtype == DataType::Bytes => Ok(vec![0; size]),
        Some(InputDataType::RandomData(_)) => Ok(random_bytes(size, size as u64 + 7)),
        Some(InputDataType::InputDataFile(file)) => {
            let rel = Path::new(file);
            if rel.is_absolute() || rel.components().any(|c| matches!(c, Component::ParentDir)) {
                return Err(Error::invalid_arg(format!(
                    "warmup input data file '{file}' must be inside the model's warmup directory"
                )));
            }
            let path = model.model_dir().join("warmup").join(rel);
            let data = std::fs::read(&path).map_err(|e| {
                Error::internal(format!(
                    "failed to open text file for read {}: {e}",
                    path.display()
                ))
            })?;
            if dtype == DataType::Bytes {
                Ok(data)
            } else if data.len() < size {
                Err(Error::invalid_arg(format!(
                    "warmup setting expects {size} bytes, but the data provided from {file}only has {} bytes",
                    data.len()
                )))
            } else {
                Ok(data[..size].to_vec())
            }
        }
        None => Err(Error::invalid_arg(format!(
            "warmup setting expects input '{name}' to have input_data_type set"
        ))),
    }
}

/// Run every warmup sample of the model's configuration on one instance.
pub(super) fn run(model: &Arc<Model>, instance: &Instance) -> Result<()> {
    let config = model.config();
    let Some(backend) = model.backend() else {
        return Ok(());
    };
    for sample in &config.model_warmup {
        if sample.batch_size == 0 {
            crate::log_verbose!(1, "Skipping batch 0 warmup sample '{}'", sample.name);
            continue;
        }
        // One set of input bytes per sample, shared by all its requests and iterations.
        let mut inputs: Vec<OwnedTensor> = Vec::new();
        for (name, input) in &sample.inputs {
            let data: Arc<[u8]> = input_data(model, name, input)?.into();
            let mut shape = Vec::new();
            if config.max_batch_size != 0 {
                shape.push(1);
            }
            shape.extend(input.dims.iter().copied());
            inputs.push(OwnedTensor {
                name: name.clone(),
                datatype: config_type(input.data_type),
                shape,
                data,
            });
        }
        for iteration in 1..=sample.count.max(1) {
            crate::log_verbose!(
                1,
                "model '{}' instance {} is running warmup sample '{}' for iteration {iteration}",
                model.name(),
                instance.name(),
                sample.name
            );
            let tracker = Arc::new(Tracker::default());
            let mut requests = Vec::new();
            for _ in 0..sample.batch_size {
                let mut r = Box::new(InferenceRequest::new(model.clone(), model.version()));
                for t in &inputs {
                    r.add_input(&t.name, t.datatype, &t.shape)?;
                    r.append_input_data(&t.name, DataBuffer::owned(t.data.clone()), None)?;
                }
                r.set_release_callback(Arc::new(Release(tracker.clone())));
                r.set_response_callback(
                    Arc::new(Alloc(tracker.clone())),
                    Arc::new(Complete(tracker.clone())),
                );
                normalize_request(&mut r)?;
                let now = crate::engine::infer::monotonic_ns();
                r.request_start_ns
                    .store(now, std::sync::atomic::Ordering::Release);
                r.queue_start_ns
                    .store(now, std::sync::atomic::Ordering::Release);
                requests.push(r);
            }
            let count = requests.len();
            let Some(pass) = Entered::new(instance) else {
                return Err(Error::internal(format!(
                    "instance '{}' closed during warmup",
                    instance.name()
                )));
            };
            let result = backend.library().execute(&pass, requests);
            drop(pass);
            if let Err((e, back)) = result {
                for r in back {
                    r.fail(&e);
                }
            }
            if !tracker.wait(count) {
                return Err(Error::internal(format!(
                    "warmup sample '{}' of model '{}' did not complete within {} s",
                    sample.name,
                    model.name(),
                    WARMUP_LIMIT.as_secs()
                )));
            }
            let errors = std::mem::take(&mut lock(&tracker.state).errors);
            if !errors.is_empty() {
                let mut msg = format!("failed to run warmup sample '{}': ", sample.name);
                for e in errors {
                    msg.push_str(&e);
                    msg.push_str("; ");
                }
                return Err(Error::invalid_arg(msg));
            }
        }
    }
    Ok(())
}
