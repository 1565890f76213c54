//! Checking a request against its model's configuration before it is queued, with upstream's
//! error messages, and computing the shapes the backend sees.

use triton_model_config::pb;

use super::request::{DataBuffer, InferenceRequest, InputTensor};
use crate::engine::error::{Error, Result};
use crate::engine::types::{DataType, MemoryType};

fn dims_string(dims: &[i64]) -> String {
    let parts: Vec<String> = dims.iter().map(i64::to_string).collect();
    format!("[{}]", parts.join(","))
}

/// The engine data type of a model-configuration data type.
pub fn config_data_type(d: i32) -> DataType {
    DataType::ALL
        .iter()
        .copied()
        .find(|t| {
            pb::DataType::try_from(d)
                .map(|c| c.as_str_name() == t.config_name())
                .unwrap_or(false)
        })
        .unwrap_or(DataType::Invalid)
}

/// Reads the bytes of input buffers, for the checks that look inside data (BYTES tensors).
/// `None` when the memory cannot be read here (GPU memory): those checks are skipped.
pub trait HostMemory {
    fn bytes<'a>(&self, buffer: &'a DataBuffer) -> Option<&'a [u8]>;
}

/// Reads only buffers the core owns (warmup data, tests).
pub struct OwnedMemory;

impl HostMemory for OwnedMemory {
    fn bytes<'a>(&self, buffer: &'a DataBuffer) -> Option<&'a [u8]> {
        buffer.owned.as_deref()
    }
}

/// [`normalize_request_with`] reading only core-owned buffers.
pub fn normalize_request(req: &mut InferenceRequest) -> Result<()> {
    normalize_request_with(req, &OwnedMemory)
}

/// Check the serialized elements of a BYTES input (a 4-byte little-endian length, then the
/// bytes, per element): their count must match the shape, and no length indicator may be cut
/// across buffers.
fn validate_bytes(
    input: &InputTensor,
    memory: &dyn HostMemory,
    prefix: &dyn std::fmt::Display,
    model: &str,
) -> Result<()> {
    let expected: i64 = input.shape_with_batch_dim.iter().product();
    let name = input.name();
    let mut count: i64 = 0;
    let mut pending: usize = 0;
    for buffer in &input.buffers {
        if buffer.attributes.memory_type == MemoryType::Gpu {
            return Ok(());
        }
        let Some(mut data) = memory.bytes(buffer) else {
            return Ok(());
        };
        while !data.is_empty() {
            if pending == 0 {
                if data.len() < 4 {
                    return Err(Error::invalid_arg(format!(
                        "{prefix}incomplete string length indicator for inference input '{name}' for model '{model}', expecting 4 bytes but only {} bytes available. Please make sure the string length indicator is in one buffer.",
                        data.len()
                    )));
                }
                pending = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize;
                data = &data[4..];
                count += 1;
                if count > expected {
                    // Count the rest for the message, as upstream reports the total.
                    return Err(Error::invalid_arg(format!(
                        "{prefix}unexpected number of string elements {} for inference input '{name}' for model '{model}', expecting {expected}",
                        count + remaining_elements(data, pending, &input.buffers, buffer, memory)
                    )));
                }
            }
            let take = pending.min(data.len());
            data = &data[take..];
            pending -= take;
        }
    }
    if pending > 0 {
        return Err(Error::invalid_arg(format!(
            "{prefix}incomplete string data for inference input '{name}' for model '{model}', expecting {pending} more bytes"
        )));
    }
    if count != expected {
        return Err(Error::invalid_arg(format!(
            "{prefix}expected {expected} string elements for inference input '{name}' for model '{model}', got {count}"
        )));
    }
    Ok(())
}

/// How many more complete elements follow the current position (best effort, for messages).
fn remaining_elements(
    data: &[u8],
    pending: usize,
    buffers: &[DataBuffer],
    current: &DataBuffer,
    memory: &dyn HostMemory,
) -> i64 {
    let mut n = 0;
    let mut pending = pending;
    let mut rest: Vec<&[u8]> = vec![data];
    let mut after = false;
    for b in buffers {
        if after {
            if let Some(d) = memory.bytes(b) {
                rest.push(d);
            }
        }
        if std::ptr::eq(b, current) {
            after = true;
        }
    }
    for mut d in rest {
        while !d.is_empty() {
            if pending == 0 {
                if d.len() < 4 {
                    return n;
                }
                pending = u32::from_le_bytes([d[0], d[1], d[2], d[3]]) as usize;
                d = &d[4..];
                n += 1;
            }
            let take = pending.min(d.len());
            d = &d[take..];
            pending -= take;
        }
    }
    n
}

/// Validate and normalize a request: input names, types, shapes and byte sizes, the batch size,
/// and the requested outputs.
pub fn normalize_request_with(req: &mut InferenceRequest, memory: &dyn HostMemory) -> Result<()> {
    let model = req.model().clone();
    let config = model.config();
    let prefix = req.log_prefix_lazy();
    let name = model.name();
    if req.is_raw_input() {
        normalize_raw_input(req, &config)?;
    }
    // Requested outputs must be outputs of the model.
    for out in req.requested_outputs() {
        let out = out.to_string_lossy();
        if !config.output.iter().any(|o| o.name == out) {
            return Err(Error::invalid_arg(format!(
                "{prefix}unexpected inference output '{out}' for model '{name}'"
            )));
        }
    }
    let effective: std::sync::Arc<[std::ffi::CString]> = if req.requested_outputs().next().is_some()
    {
        req.requested_outputs().map(ToOwned::to_owned).collect()
    } else {
        model.output_names()
    };
    req.set_effective_outputs(effective);
    // Input count: every required input, no unknown ones.
    let required = config.input.iter().filter(|i| !i.optional).count();
    let given = req.inputs().len();
    if given < required || given > config.input.len() {
        let mut got: Vec<String> = req
            .inputs()
            .iter()
            .map(|i| format!("'{}'", i.name()))
            .collect();
        got.sort();
        let missing: Vec<String> = config
            .input
            .iter()
            .filter(|c| !c.optional && req.input(&c.name).is_none())
            .map(|c| format!("'{}'", c.name))
            .collect();
        // Upstream's list formatting, including its "]" for an empty missing list.
        let got = format!("[{}]", got.join(","));
        let missing = if missing.is_empty() {
            "]".to_owned()
        } else {
            format!("[{}]", missing.join(","))
        };
        let head = if required == config.input.len() {
            format!("expected {} inputs", config.input.len())
        } else {
            format!(
                "expected number of inputs between {required} and {}",
                config.input.len()
            )
        };
        return Err(Error::invalid_arg(format!(
            "{prefix}{head} but got {given} inputs for model '{name}'. Got input(s) {got}, but missing required input(s) {missing}. Please provide all required input(s)."
        )));
    }
    for input in req.inputs() {
        if !config.input.iter().any(|c| c.name == input.name()) {
            return Err(Error::invalid_arg(format!(
                "{prefix}unexpected inference input '{}' for model '{name}'",
                input.name()
            )));
        }
    }
    for c in config.input.iter().filter(|c| !c.optional) {
        if req.input(&c.name).is_none() {
            return Err(Error::invalid_arg(format!(
                "{prefix}expected {} inputs but got {given} inputs for model '{name}'. Missing required input '{}'.",
                config.input.len(),
                c.name
            )));
        }
    }
    // Batch size from the first dimension when the model batches.
    let mut batch_size: u64 = 0;
    if config.max_batch_size > 0 {
        for input in req.inputs() {
            let Some(&b) = input.original_shape.first() else {
                return Err(Error::invalid_arg(format!(
                    "{prefix}input '{}' has no shape but model requires batch dimension for '{name}'",
                    input.name()
                )));
            };
            let b = u64::try_from(b).unwrap_or(0);
            if batch_size == 0 {
                batch_size = b;
            } else if b != batch_size {
                return Err(Error::invalid_arg(format!(
                    "{prefix}input '{}' batch size does not match other inputs for '{name}'",
                    input.name()
                )));
            }
        }
        if batch_size > config.max_batch_size as u64 {
            return Err(Error::invalid_arg(format!(
                "{prefix}inference request batch-size must be <= {} for '{name}'",
                config.max_batch_size
            )));
        }
    }
    req.batch_size = batch_size;
    let batching = config.max_batch_size > 0;
    for input in req.inputs_mut() {
        let Some(cfg) = config.input.iter().find(|c| c.name == input.name()) else {
            continue;
        };
        let want_type = config_data_type(cfg.data_type);
        if input.datatype != want_type {
            return Err(Error::invalid_arg(format!(
                "{prefix}inference input '{}' data-type is '{}', but model '{name}' expects '{}'",
                input.name(),
                input.datatype.name(),
                want_type.name()
            )));
        }
        // Written into the tensor's own vectors (no allocation once they have the capacity).
        let mut shape = std::mem::take(&mut input.shape);
        shape.clear();
        let skip = usize::from(batching).min(input.original_shape.len());
        shape.extend_from_slice(&input.original_shape[skip..]);
        let matches = cfg.dims.len() == shape.len()
            && cfg.dims.iter().zip(&shape).all(|(c, s)| *c == -1 || c == s);
        if let Some(pos) = shape.iter().position(|d| *d == -1) {
            let _ = pos;
            return Err(Error::invalid_arg(format!(
                "{prefix}All input dimensions should be specified for input '{}' for model '{name}', got {}",
                input.name(),
                dims_string(&input.original_shape)
            )));
        }
        if !matches {
            let mut full = Vec::new();
            let mut note = "";
            if batching {
                full.push(-1);
                note = "NOTE: Setting a non-zero max_batch_size in the model config requires a batch dimension to be prepended to each input shape. If you want to specify the full shape including the batch dim in your input dims config, try setting max_batch_size to zero. See the model configuration docs for more info on max_batch_size.";
            }
            full.extend(cfg.dims.iter().copied());
            return Err(Error::invalid_arg(format!(
                "{prefix}unexpected shape for input '{}' for model '{name}'. Expected {}, got {}. {note}",
                input.name(),
                dims_string(&full),
                dims_string(&input.original_shape)
            )));
        }
        if let Some(reshape) = &cfg.reshape {
            let mut variable = cfg
                .dims
                .iter()
                .zip(&shape)
                .filter(|(c, _)| **c == -1)
                .map(|(_, s)| *s)
                .collect::<Vec<_>>()
                .into_iter();
            shape = reshape
                .shape
                .iter()
                .map(|d| {
                    if *d == -1 {
                        variable.next().unwrap_or(-1)
                    } else {
                        *d
                    }
                })
                .collect();
        }
        let mut with_batch = std::mem::take(&mut input.shape_with_batch_dim);
        with_batch.clear();
        if batching {
            with_batch.push(batch_size as i64);
        }
        with_batch.extend_from_slice(&shape);
        input.shape_with_batch_dim = with_batch;
        input.shape = shape;
        if input.datatype == DataType::Bytes {
            validate_bytes(input, memory, &prefix, name)?;
        } else if !cfg.is_non_linear_format_io {
            let elements: i64 = input.shape_with_batch_dim.iter().product();
            let expected = elements * i64::from(input.datatype.byte_size());
            let got = input.byte_size();
            if got > i32::MAX as u64 || got as i64 != expected {
                return Err(Error::invalid_arg(format!(
                    "{prefix}input byte size mismatch for input '{}' for model '{name}'. Expected {expected}, got {got}",
                    input.name()
                )));
            }
        }
    }
    Ok(())
}

/// A raw input takes its name, type and shape from the model's only input.
fn normalize_raw_input(req: &mut InferenceRequest, config: &pb::ModelConfig) -> Result<()> {
    let prefix = req.log_prefix();
    if config.input.len() != 1 {
        return Err(Error::invalid_arg(format!(
            "{prefix}Raw request must only have 1 input (found {}) to be deduced but got {} inputs in '{}' model configuration",
            req.inputs().len(),
            config.input.len(),
            config.name
        )));
    }
    let cfg = &config.input[0];
    let datatype = config_data_type(cfg.data_type);
    let input = &mut req.inputs_mut()[0];
    let byte_size = input.byte_size() as i64;
    let mut shape: Vec<i64> = cfg.dims.clone();
    let variable = shape.iter().filter(|d| **d == -1).count();
    if variable > 1 {
        return Err(Error::invalid_arg(format!(
            "{prefix}The shape of the raw input '{}' can not be deduced because there are more than one variable-sized dimension",
            input.name()
        )));
    }
    if datatype == DataType::Bytes {
        if shape != [1] {
            return Err(Error::invalid_arg(format!(
                "{prefix}For BYTE datatype raw input '{}', the model must have input shape [1]",
                input.name()
            )));
        }
    } else if variable == 1 {
        let fixed: i64 =
            shape.iter().filter(|d| **d != -1).product::<i64>() * i64::from(datatype.byte_size());
        let v = if fixed > 0 { byte_size / fixed } else { 0 };
        for d in shape.iter_mut().filter(|d| **d == -1) {
            *d = v;
        }
    }
    if config.max_batch_size > 0 {
        shape.insert(0, 1);
    }
    let buffers = std::mem::take(&mut input.buffers);
    let mut fresh = super::request::InputTensor::new(&cfg.name, datatype, &shape);
    fresh.buffers = buffers;
    *input = fresh;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dims_format() {
        assert_eq!(dims_string(&[-1, 4]), "[-1,4]");
        assert_eq!(dims_string(&[]), "[]");
    }

    #[test]
    fn config_types_map() {
        assert_eq!(
            config_data_type(pb::DataType::TypeFp32 as i32),
            DataType::Fp32
        );
        assert_eq!(
            config_data_type(pb::DataType::TypeString as i32),
            DataType::Bytes
        );
        assert_eq!(
            config_data_type(pb::DataType::TypeBf16 as i32),
            DataType::Bf16
        );
        assert_eq!(config_data_type(999), DataType::Invalid);
    }
}
