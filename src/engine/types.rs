//! Value types shared by the API: data types, memory types, parameter types, instance kinds,
//! model control modes. Numeric values match the enums of `tritonserver.h`.

/// Tensor element types (`TRITONSERVER_DataType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum DataType {
    Invalid = 0,
    Bool = 1,
    Uint8 = 2,
    Uint16 = 3,
    Uint32 = 4,
    Uint64 = 5,
    Int8 = 6,
    Int16 = 7,
    Int32 = 8,
    Int64 = 9,
    Fp16 = 10,
    Fp32 = 11,
    Fp64 = 12,
    Bytes = 13,
    Bf16 = 14,
}

impl DataType {
    /// Every data type, in numeric order.
    ///
    /// cbindgen:ignore
    pub const ALL: [DataType; 15] = [
        DataType::Invalid,
        DataType::Bool,
        DataType::Uint8,
        DataType::Uint16,
        DataType::Uint32,
        DataType::Uint64,
        DataType::Int8,
        DataType::Int16,
        DataType::Int32,
        DataType::Int64,
        DataType::Fp16,
        DataType::Fp32,
        DataType::Fp64,
        DataType::Bytes,
        DataType::Bf16,
    ];

    pub fn from_u32(v: u32) -> Option<DataType> {
        DataType::ALL.get(v as usize).copied()
    }

    /// The protocol name ("FP32", "BYTES", ...); `"<invalid>"` for [`DataType::Invalid`].
    pub fn name(self) -> &'static str {
        match self {
            DataType::Invalid => "<invalid>",
            DataType::Bool => "BOOL",
            DataType::Uint8 => "UINT8",
            DataType::Uint16 => "UINT16",
            DataType::Uint32 => "UINT32",
            DataType::Uint64 => "UINT64",
            DataType::Int8 => "INT8",
            DataType::Int16 => "INT16",
            DataType::Int32 => "INT32",
            DataType::Int64 => "INT64",
            DataType::Fp16 => "FP16",
            DataType::Fp32 => "FP32",
            DataType::Fp64 => "FP64",
            DataType::Bytes => "BYTES",
            DataType::Bf16 => "BF16",
        }
    }

    /// The data type with the given protocol name; [`DataType::Invalid`] when none matches.
    pub fn from_name(name: &str) -> DataType {
        DataType::ALL[1..]
            .iter()
            .copied()
            .find(|d| d.name() == name)
            .unwrap_or(DataType::Invalid)
    }

    /// Size of one element in bytes; 0 for variable-sized (BYTES) and invalid types.
    pub fn byte_size(self) -> u32 {
        match self {
            DataType::Invalid | DataType::Bytes => 0,
            DataType::Bool | DataType::Uint8 | DataType::Int8 => 1,
            DataType::Uint16 | DataType::Int16 | DataType::Fp16 | DataType::Bf16 => 2,
            DataType::Uint32 | DataType::Int32 | DataType::Fp32 => 4,
            DataType::Uint64 | DataType::Int64 | DataType::Fp64 => 8,
        }
    }

    /// The model-configuration enum name of this type ("TYPE_FP32", "TYPE_STRING", ...).
    pub fn config_name(self) -> &'static str {
        match self {
            DataType::Invalid => "TYPE_INVALID",
            DataType::Bool => "TYPE_BOOL",
            DataType::Uint8 => "TYPE_UINT8",
            DataType::Uint16 => "TYPE_UINT16",
            DataType::Uint32 => "TYPE_UINT32",
            DataType::Uint64 => "TYPE_UINT64",
            DataType::Int8 => "TYPE_INT8",
            DataType::Int16 => "TYPE_INT16",
            DataType::Int32 => "TYPE_INT32",
            DataType::Int64 => "TYPE_INT64",
            DataType::Fp16 => "TYPE_FP16",
            DataType::Fp32 => "TYPE_FP32",
            DataType::Fp64 => "TYPE_FP64",
            DataType::Bytes => "TYPE_STRING",
            DataType::Bf16 => "TYPE_BF16",
        }
    }
}

/// Where a buffer lives (`TRITONSERVER_MemoryType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum MemoryType {
    Cpu = 0,
    CpuPinned = 1,
    Gpu = 2,
}

impl MemoryType {
    pub fn from_u32(v: u32) -> Option<MemoryType> {
        [MemoryType::Cpu, MemoryType::CpuPinned, MemoryType::Gpu]
            .get(v as usize)
            .copied()
    }
    pub fn name(self) -> &'static str {
        match self {
            MemoryType::Cpu => "CPU",
            MemoryType::CpuPinned => "CPU_PINNED",
            MemoryType::Gpu => "GPU",
        }
    }
}

/// Kinds of parameter values (`TRITONSERVER_ParameterType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ParameterType {
    String = 0,
    Int = 1,
    Bool = 2,
    Double = 3,
    Bytes = 4,
}

impl ParameterType {
    pub fn from_u32(v: u32) -> Option<ParameterType> {
        [
            ParameterType::String,
            ParameterType::Int,
            ParameterType::Bool,
            ParameterType::Double,
            ParameterType::Bytes,
        ]
        .get(v as usize)
        .copied()
    }
    pub fn name(self) -> &'static str {
        match self {
            ParameterType::String => "STRING",
            ParameterType::Int => "INT",
            ParameterType::Bool => "BOOL",
            ParameterType::Double => "DOUBLE",
            ParameterType::Bytes => "BYTES",
        }
    }
}

/// Kinds of model instances (`TRITONSERVER_InstanceGroupKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum InstanceKind {
    Auto = 0,
    Cpu = 1,
    Gpu = 2,
    Model = 3,
}

impl InstanceKind {
    pub fn from_u32(v: u32) -> Option<InstanceKind> {
        [
            InstanceKind::Auto,
            InstanceKind::Cpu,
            InstanceKind::Gpu,
            InstanceKind::Model,
        ]
        .get(v as usize)
        .copied()
    }
    pub fn name(self) -> &'static str {
        match self {
            InstanceKind::Auto => "AUTO",
            InstanceKind::Cpu => "CPU",
            InstanceKind::Gpu => "GPU",
            InstanceKind::Model => "MODEL",
        }
    }
}

/// How the model repository is managed (`TRITONSERVER_ModelControlMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ModelControlMode {
    None = 0,
    Poll = 1,
    Explicit = 2,
}

impl ModelControlMode {
    pub fn from_u32(v: u32) -> Option<ModelControlMode> {
        [
            ModelControlMode::None,
            ModelControlMode::Poll,
            ModelControlMode::Explicit,
        ]
        .get(v as usize)
        .copied()
    }
}

/// How a backend's instances are run (`TRITONBACKEND_ExecutionPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ExecutionPolicy {
    Blocking = 0,
    DeviceBlocking = 1,
}

impl ExecutionPolicy {
    pub fn from_u32(v: u32) -> Option<ExecutionPolicy> {
        [ExecutionPolicy::Blocking, ExecutionPolicy::DeviceBlocking]
            .get(v as usize)
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_type_names_and_sizes() {
        for d in DataType::ALL {
            assert_eq!(DataType::from_u32(d as u32), Some(d));
            if d != DataType::Invalid {
                assert_eq!(DataType::from_name(d.name()), d);
            }
        }
        assert_eq!(DataType::from_name("FLOAT"), DataType::Invalid);
        assert_eq!(DataType::from_name("<invalid>"), DataType::Invalid);
        assert_eq!(DataType::Bf16.byte_size(), 2);
        assert_eq!(DataType::Bytes.byte_size(), 0);
        assert_eq!(DataType::Fp64.byte_size(), 8);
        assert_eq!(DataType::Bytes.config_name(), "TYPE_STRING");
    }

    #[test]
    fn small_enums_reject_out_of_range() {
        assert_eq!(MemoryType::from_u32(3), None);
        assert_eq!(ParameterType::from_u32(5), None);
        assert_eq!(InstanceKind::from_u32(4), None);
        assert_eq!(ModelControlMode::from_u32(3), None);
        assert_eq!(ExecutionPolicy::from_u32(2), None);
        assert_eq!(InstanceKind::from_u32(3).unwrap().name(), "MODEL");
    }
}
