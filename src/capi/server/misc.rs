//! API version, the name tables of the value enums, and logging.

use std::ffi::{c_char, c_int, CStr};

use crate::capi::boundary::{ffi_or, ffi_try};
use crate::capi::handle::Contract;
use crate::capi::server::error::TRITONSERVER_Error;
use crate::capi::server::{TRITONSERVER_API_VERSION_MAJOR, TRITONSERVER_API_VERSION_MINOR};
use crate::capi::types::{
    TRITONSERVER_DataType, TRITONSERVER_InstanceGroupKind, TRITONSERVER_LogLevel,
    TRITONSERVER_MemoryType, TRITONSERVER_ParameterType,
};
use crate::engine::log;
use crate::engine::types::{DataType, InstanceKind, MemoryType, ParameterType};

const INVALID: &CStr = c"<invalid>";

/// The API version this library implements (1.34).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ApiVersion(
    major: *mut u32,
    minor: *mut u32,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ApiVersion's caller passes writable `major` and `minor`, as
    // tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_ApiVersion", || {
        let major = c.out_ptr(major, "major")?;
        let minor = c.out_ptr(minor, "minor")?;
        major.write(TRITONSERVER_API_VERSION_MAJOR);
        minor.write(TRITONSERVER_API_VERSION_MINOR);
        Ok(())
    })
}

fn data_type_c(d: DataType) -> &'static CStr {
    match d {
        DataType::Invalid => INVALID,
        DataType::Bool => c"BOOL",
        DataType::Uint8 => c"UINT8",
        DataType::Uint16 => c"UINT16",
        DataType::Uint32 => c"UINT32",
        DataType::Uint64 => c"UINT64",
        DataType::Int8 => c"INT8",
        DataType::Int16 => c"INT16",
        DataType::Int32 => c"INT32",
        DataType::Int64 => c"INT64",
        DataType::Fp16 => c"FP16",
        DataType::Fp32 => c"FP32",
        DataType::Fp64 => c"FP64",
        DataType::Bytes => c"BYTES",
        DataType::Bf16 => c"BF16",
    }
}

/// The protocol name of a data type ("FP32", ...); "<invalid>" for anything else.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_DataTypeString(
    datatype: TRITONSERVER_DataType,
) -> *const c_char {
    ffi_or("TRITONSERVER_DataTypeString", INVALID.as_ptr(), || {
        DataType::from_u32(datatype.0)
            .map(data_type_c)
            .unwrap_or(INVALID)
            .as_ptr()
    })
}

/// The data type with a protocol name; `TRITONSERVER_TYPE_INVALID` when none matches.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_StringToDataType(
    dtype: *const c_char,
) -> TRITONSERVER_DataType {
    // SAFETY: TRITONSERVER_StringToDataType's caller passes a NUL-terminated `dtype`, as
    // tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_or(
        "TRITONSERVER_StringToDataType",
        TRITONSERVER_DataType(0),
        || match c.arg_cstr(dtype, "dtype") {
            Ok(s) => DataType::from_name(s).into(),
            Err(_) => TRITONSERVER_DataType(0),
        },
    )
}

/// Bytes per element of a data type; 0 for BYTES and invalid types.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_DataTypeByteSize(datatype: TRITONSERVER_DataType) -> u32 {
    ffi_or("TRITONSERVER_DataTypeByteSize", 0, || {
        DataType::from_u32(datatype.0).map_or(0, DataType::byte_size)
    })
}

/// "CPU", "CPU_PINNED" or "GPU"; "<invalid>" for anything else.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_MemoryTypeString(
    memtype: TRITONSERVER_MemoryType,
) -> *const c_char {
    ffi_or("TRITONSERVER_MemoryTypeString", INVALID.as_ptr(), || {
        match MemoryType::from_u32(memtype.0) {
            Some(MemoryType::Cpu) => c"CPU",
            Some(MemoryType::CpuPinned) => c"CPU_PINNED",
            Some(MemoryType::Gpu) => c"GPU",
            None => INVALID,
        }
        .as_ptr()
    })
}

/// "STRING", "INT", "BOOL", "DOUBLE" or "BYTES"; "<invalid>" for anything else.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ParameterTypeString(
    paramtype: TRITONSERVER_ParameterType,
) -> *const c_char {
    ffi_or("TRITONSERVER_ParameterTypeString", INVALID.as_ptr(), || {
        match ParameterType::from_u32(paramtype.0) {
            Some(ParameterType::String) => c"STRING",
            Some(ParameterType::Int) => c"INT",
            Some(ParameterType::Bool) => c"BOOL",
            Some(ParameterType::Double) => c"DOUBLE",
            Some(ParameterType::Bytes) => c"BYTES",
            None => INVALID,
        }
        .as_ptr()
    })
}

/// "AUTO", "CPU", "GPU" or "MODEL"; "<invalid>" for anything else.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_InstanceGroupKindString(
    kind: TRITONSERVER_InstanceGroupKind,
) -> *const c_char {
    ffi_or(
        "TRITONSERVER_InstanceGroupKindString",
        INVALID.as_ptr(),
        || {
            match InstanceKind::from_u32(kind.0) {
                Some(InstanceKind::Auto) => c"AUTO",
                Some(InstanceKind::Cpu) => c"CPU",
                Some(InstanceKind::Gpu) => c"GPU",
                Some(InstanceKind::Model) => c"MODEL",
                None => INVALID,
            }
            .as_ptr()
        },
    )
}

/// Whether messages of a level are logged.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_LogIsEnabled(level: TRITONSERVER_LogLevel) -> bool {
    ffi_or("TRITONSERVER_LogIsEnabled", false, || {
        level.get().is_ok_and(log::is_enabled)
    })
}

/// Log a message at a level, attributed to `filename:line`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_LogMessage(
    level: TRITONSERVER_LogLevel,
    filename: *const c_char,
    line: c_int,
    msg: *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_LogMessage's caller passes a NUL-terminated `filename` and a
    // NUL-terminated `msg`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_LogMessage", || {
        let level = level.get()?;
        let msg = c.arg_cstr(msg, "msg")?;
        let file = c.arg_cstr(filename, "filename")?;
        log::write(level, file, u32::try_from(line).unwrap_or(0), msg);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_type_names_match_engine() {
        for d in DataType::ALL {
            assert_eq!(data_type_c(d).to_str().unwrap(), d.name());
        }
    }
}
