//! Hand-written declarations of the part of upstream's `tritonserver.h` (API 1.34) this binary
//! uses, all linked directly (`-ltritonserver`).
//!
//! Every function declared here is exported by our core and by upstream's Triton 2.51 core
//! alike, so the binary also runs on 2.51. triton-core's own extensions, which other cores lack,
//! are not declared here: `ext.rs` looks them up at startup.
#![allow(non_camel_case_types, non_snake_case, dead_code)]

use std::ffi::{c_char, c_void};

macro_rules! opaque {
    ($($name:ident),* $(,)?) => {
        $(
            #[repr(C)]
            pub struct $name {
                _private: [u8; 0],
            }
        )*
    };
}

opaque!(
    TRITONSERVER_Error,
    TRITONSERVER_Server,
    TRITONSERVER_ServerOptions,
    TRITONSERVER_Message,
    TRITONSERVER_Metrics,
    TRITONSERVER_Parameter,
    TRITONSERVER_InferenceRequest,
    TRITONSERVER_InferenceResponse,
    TRITONSERVER_InferenceTrace,
    TRITONSERVER_ResponseAllocator,
);

pub type Err = *mut TRITONSERVER_Error;

// TRITONSERVER_Error_Code
pub const ERROR_UNKNOWN: u32 = 0;
pub const ERROR_INTERNAL: u32 = 1;
pub const ERROR_NOT_FOUND: u32 = 2;
pub const ERROR_INVALID_ARG: u32 = 3;
pub const ERROR_UNAVAILABLE: u32 = 4;
pub const ERROR_UNSUPPORTED: u32 = 5;
pub const ERROR_ALREADY_EXISTS: u32 = 6;
pub const ERROR_CANCELLED: u32 = 7;

// TRITONSERVER_DataType
pub const TYPE_INVALID: u32 = 0;
pub const TYPE_BOOL: u32 = 1;
pub const TYPE_UINT8: u32 = 2;
pub const TYPE_UINT16: u32 = 3;
pub const TYPE_UINT32: u32 = 4;
pub const TYPE_UINT64: u32 = 5;
pub const TYPE_INT8: u32 = 6;
pub const TYPE_INT16: u32 = 7;
pub const TYPE_INT32: u32 = 8;
pub const TYPE_INT64: u32 = 9;
pub const TYPE_FP16: u32 = 10;
pub const TYPE_FP32: u32 = 11;
pub const TYPE_FP64: u32 = 12;
pub const TYPE_BYTES: u32 = 13;
pub const TYPE_BF16: u32 = 14;

// TRITONSERVER_ModelControlMode
pub const MODEL_CONTROL_NONE: u32 = 0;
pub const MODEL_CONTROL_POLL: u32 = 1;
pub const MODEL_CONTROL_EXPLICIT: u32 = 2;

// TRITONSERVER_ParameterType
pub const PARAMETER_STRING: u32 = 0;
pub const PARAMETER_INT: u32 = 1;
pub const PARAMETER_BOOL: u32 = 2;
pub const PARAMETER_DOUBLE: u32 = 3;
pub const PARAMETER_BYTES: u32 = 4;

// TRITONSERVER_LogLevel
pub const LOG_INFO: u32 = 0;
pub const LOG_WARN: u32 = 1;
pub const LOG_ERROR: u32 = 2;
pub const LOG_VERBOSE: u32 = 3;

pub const MEMORY_CPU: u32 = 0;
pub const METRIC_PROMETHEUS: u32 = 0;
pub const INDEX_FLAG_READY: u32 = 1;
pub const REQUEST_FLAG_SEQUENCE_START: u32 = 1;
pub const REQUEST_FLAG_SEQUENCE_END: u32 = 2;
pub const RESPONSE_COMPLETE_FINAL: u32 = 1;

pub type AllocFn = unsafe extern "C" fn(
    allocator: *mut TRITONSERVER_ResponseAllocator,
    tensor_name: *const c_char,
    byte_size: usize,
    memory_type: u32,
    memory_type_id: i64,
    userp: *mut c_void,
    buffer: *mut *mut c_void,
    buffer_userp: *mut *mut c_void,
    actual_memory_type: *mut u32,
    actual_memory_type_id: *mut i64,
) -> Err;
pub type ReleaseFn = unsafe extern "C" fn(
    allocator: *mut TRITONSERVER_ResponseAllocator,
    buffer: *mut c_void,
    buffer_userp: *mut c_void,
    byte_size: usize,
    memory_type: u32,
    memory_type_id: i64,
) -> Err;
pub type StartFn =
    unsafe extern "C" fn(allocator: *mut TRITONSERVER_ResponseAllocator, userp: *mut c_void) -> Err;
pub type RequestReleaseFn = unsafe extern "C" fn(
    request: *mut TRITONSERVER_InferenceRequest,
    flags: u32,
    userp: *mut c_void,
);
pub type ResponseCompleteFn = unsafe extern "C" fn(
    response: *mut TRITONSERVER_InferenceResponse,
    flags: u32,
    userp: *mut c_void,
);

#[link(name = "tritonserver")]
unsafe extern "C" {
    pub fn TRITONSERVER_ErrorNew(code: u32, msg: *const c_char) -> Err;
    pub fn TRITONSERVER_ErrorDelete(error: Err);
    pub fn TRITONSERVER_ErrorCode(error: Err) -> u32;
    pub fn TRITONSERVER_ErrorMessage(error: Err) -> *const c_char;

    pub fn TRITONSERVER_LogMessage(
        level: u32,
        filename: *const c_char,
        line: i32,
        msg: *const c_char,
    ) -> Err;

    pub fn TRITONSERVER_DataTypeString(datatype: u32) -> *const c_char;
    pub fn TRITONSERVER_StringToDataType(dtype: *const c_char) -> u32;
    pub fn TRITONSERVER_DataTypeByteSize(datatype: u32) -> u32;

    pub fn TRITONSERVER_MessageSerializeToJson(
        message: *mut TRITONSERVER_Message,
        base: *mut *const c_char,
        byte_size: *mut usize,
    ) -> Err;
    pub fn TRITONSERVER_MessageDelete(message: *mut TRITONSERVER_Message) -> Err;

    pub fn TRITONSERVER_ServerOptionsNew(options: *mut *mut TRITONSERVER_ServerOptions) -> Err;
    pub fn TRITONSERVER_ServerOptionsDelete(options: *mut TRITONSERVER_ServerOptions) -> Err;
    pub fn TRITONSERVER_ServerOptionsSetServerId(
        options: *mut TRITONSERVER_ServerOptions,
        id: *const c_char,
    ) -> Err;
    pub fn TRITONSERVER_ServerOptionsSetModelRepositoryPath(
        options: *mut TRITONSERVER_ServerOptions,
        path: *const c_char,
    ) -> Err;
    pub fn TRITONSERVER_ServerOptionsSetModelControlMode(
        options: *mut TRITONSERVER_ServerOptions,
        mode: u32,
    ) -> Err;
    pub fn TRITONSERVER_ServerOptionsSetStartupModel(
        options: *mut TRITONSERVER_ServerOptions,
        model_name: *const c_char,
    ) -> Err;
    pub fn TRITONSERVER_ServerOptionsSetStrictModelConfig(
        options: *mut TRITONSERVER_ServerOptions,
        strict: bool,
    ) -> Err;
    pub fn TRITONSERVER_ServerOptionsSetStrictReadiness(
        options: *mut TRITONSERVER_ServerOptions,
        strict: bool,
    ) -> Err;
    pub fn TRITONSERVER_ServerOptionsSetExitTimeout(
        options: *mut TRITONSERVER_ServerOptions,
        timeout: u32,
    ) -> Err;
    pub fn TRITONSERVER_ServerOptionsSetExitOnError(
        options: *mut TRITONSERVER_ServerOptions,
        exit: bool,
    ) -> Err;
    pub fn TRITONSERVER_ServerOptionsSetBackendDirectory(
        options: *mut TRITONSERVER_ServerOptions,
        dir: *const c_char,
    ) -> Err;
    pub fn TRITONSERVER_ServerOptionsSetRepoAgentDirectory(
        options: *mut TRITONSERVER_ServerOptions,
        dir: *const c_char,
    ) -> Err;
    pub fn TRITONSERVER_ServerOptionsSetBackendConfig(
        options: *mut TRITONSERVER_ServerOptions,
        backend_name: *const c_char,
        setting: *const c_char,
        value: *const c_char,
    ) -> Err;
    pub fn TRITONSERVER_ServerOptionsSetLogVerbose(
        options: *mut TRITONSERVER_ServerOptions,
        level: i32,
    ) -> Err;
    pub fn TRITONSERVER_ServerOptionsSetLogFile(
        options: *mut TRITONSERVER_ServerOptions,
        file: *const c_char,
    ) -> Err;
    pub fn TRITONSERVER_ServerOptionsSetLogInfo(
        options: *mut TRITONSERVER_ServerOptions,
        log: bool,
    ) -> Err;
    pub fn TRITONSERVER_ServerOptionsSetMetrics(
        options: *mut TRITONSERVER_ServerOptions,
        metrics: bool,
    ) -> Err;

    pub fn TRITONSERVER_ServerNew(
        server: *mut *mut TRITONSERVER_Server,
        options: *mut TRITONSERVER_ServerOptions,
    ) -> Err;
    pub fn TRITONSERVER_ServerDelete(server: *mut TRITONSERVER_Server) -> Err;
    pub fn TRITONSERVER_ServerStop(server: *mut TRITONSERVER_Server) -> Err;
    pub fn TRITONSERVER_ServerIsLive(server: *mut TRITONSERVER_Server, live: *mut bool) -> Err;
    pub fn TRITONSERVER_ServerIsReady(server: *mut TRITONSERVER_Server, ready: *mut bool) -> Err;
    pub fn TRITONSERVER_ServerModelIsReady(
        server: *mut TRITONSERVER_Server,
        model_name: *const c_char,
        model_version: i64,
        ready: *mut bool,
    ) -> Err;
    pub fn TRITONSERVER_ServerMetadata(
        server: *mut TRITONSERVER_Server,
        metadata: *mut *mut TRITONSERVER_Message,
    ) -> Err;
    pub fn TRITONSERVER_ServerModelIndex(
        server: *mut TRITONSERVER_Server,
        flags: u32,
        index: *mut *mut TRITONSERVER_Message,
    ) -> Err;
    pub fn TRITONSERVER_ServerLoadModel(
        server: *mut TRITONSERVER_Server,
        model_name: *const c_char,
    ) -> Err;
    pub fn TRITONSERVER_ServerUnloadModel(
        server: *mut TRITONSERVER_Server,
        model_name: *const c_char,
    ) -> Err;
    pub fn TRITONSERVER_ServerModelStatistics(
        server: *mut TRITONSERVER_Server,
        model_name: *const c_char,
        model_version: i64,
        stats: *mut *mut TRITONSERVER_Message,
    ) -> Err;
    pub fn TRITONSERVER_ServerInferAsync(
        server: *mut TRITONSERVER_Server,
        request: *mut TRITONSERVER_InferenceRequest,
        trace: *mut TRITONSERVER_InferenceTrace,
    ) -> Err;

    pub fn TRITONSERVER_ResponseAllocatorNew(
        allocator: *mut *mut TRITONSERVER_ResponseAllocator,
        alloc_fn: AllocFn,
        release_fn: ReleaseFn,
        start_fn: Option<StartFn>,
    ) -> Err;
    pub fn TRITONSERVER_ResponseAllocatorDelete(
        allocator: *mut TRITONSERVER_ResponseAllocator,
    ) -> Err;

    pub fn TRITONSERVER_InferenceRequestNew(
        request: *mut *mut TRITONSERVER_InferenceRequest,
        server: *mut TRITONSERVER_Server,
        model_name: *const c_char,
        model_version: i64,
    ) -> Err;
    pub fn TRITONSERVER_InferenceRequestDelete(request: *mut TRITONSERVER_InferenceRequest) -> Err;
    pub fn TRITONSERVER_InferenceRequestSetId(
        request: *mut TRITONSERVER_InferenceRequest,
        id: *const c_char,
    ) -> Err;
    pub fn TRITONSERVER_InferenceRequestSetFlags(
        request: *mut TRITONSERVER_InferenceRequest,
        flags: u32,
    ) -> Err;
    pub fn TRITONSERVER_InferenceRequestSetCorrelationId(
        request: *mut TRITONSERVER_InferenceRequest,
        id: u64,
    ) -> Err;
    pub fn TRITONSERVER_InferenceRequestSetCorrelationIdString(
        request: *mut TRITONSERVER_InferenceRequest,
        id: *const c_char,
    ) -> Err;
    pub fn TRITONSERVER_InferenceRequestSetPriorityUInt64(
        request: *mut TRITONSERVER_InferenceRequest,
        priority: u64,
    ) -> Err;
    pub fn TRITONSERVER_InferenceRequestSetTimeoutMicroseconds(
        request: *mut TRITONSERVER_InferenceRequest,
        timeout_us: u64,
    ) -> Err;
    pub fn TRITONSERVER_InferenceRequestSetStringParameter(
        request: *mut TRITONSERVER_InferenceRequest,
        key: *const c_char,
        value: *const c_char,
    ) -> Err;
    pub fn TRITONSERVER_InferenceRequestSetIntParameter(
        request: *mut TRITONSERVER_InferenceRequest,
        key: *const c_char,
        value: i64,
    ) -> Err;
    pub fn TRITONSERVER_InferenceRequestSetBoolParameter(
        request: *mut TRITONSERVER_InferenceRequest,
        key: *const c_char,
        value: bool,
    ) -> Err;
    pub fn TRITONSERVER_InferenceRequestSetDoubleParameter(
        request: *mut TRITONSERVER_InferenceRequest,
        key: *const c_char,
        value: f64,
    ) -> Err;
    pub fn TRITONSERVER_InferenceRequestAddInput(
        request: *mut TRITONSERVER_InferenceRequest,
        name: *const c_char,
        datatype: u32,
        shape: *const i64,
        dim_count: u64,
    ) -> Err;
    pub fn TRITONSERVER_InferenceRequestAppendInputData(
        request: *mut TRITONSERVER_InferenceRequest,
        name: *const c_char,
        base: *const c_void,
        byte_size: usize,
        memory_type: u32,
        memory_type_id: i64,
    ) -> Err;
    pub fn TRITONSERVER_InferenceRequestAddRequestedOutput(
        request: *mut TRITONSERVER_InferenceRequest,
        name: *const c_char,
    ) -> Err;
    pub fn TRITONSERVER_InferenceRequestSetReleaseCallback(
        request: *mut TRITONSERVER_InferenceRequest,
        release_fn: RequestReleaseFn,
        userp: *mut c_void,
    ) -> Err;
    pub fn TRITONSERVER_InferenceRequestSetResponseCallback(
        request: *mut TRITONSERVER_InferenceRequest,
        allocator: *mut TRITONSERVER_ResponseAllocator,
        allocator_userp: *mut c_void,
        response_fn: ResponseCompleteFn,
        response_userp: *mut c_void,
    ) -> Err;

    pub fn TRITONSERVER_InferenceResponseDelete(
        response: *mut TRITONSERVER_InferenceResponse,
    ) -> Err;
    pub fn TRITONSERVER_InferenceResponseError(
        response: *mut TRITONSERVER_InferenceResponse,
    ) -> Err;
    pub fn TRITONSERVER_InferenceResponseModel(
        response: *mut TRITONSERVER_InferenceResponse,
        model_name: *mut *const c_char,
        model_version: *mut i64,
    ) -> Err;
    pub fn TRITONSERVER_InferenceResponseId(
        response: *mut TRITONSERVER_InferenceResponse,
        request_id: *mut *const c_char,
    ) -> Err;
    pub fn TRITONSERVER_InferenceResponseParameterCount(
        response: *mut TRITONSERVER_InferenceResponse,
        count: *mut u32,
    ) -> Err;
    pub fn TRITONSERVER_InferenceResponseParameter(
        response: *mut TRITONSERVER_InferenceResponse,
        index: u32,
        name: *mut *const c_char,
        ptype: *mut u32,
        vvalue: *mut *const c_void,
    ) -> Err;
    pub fn TRITONSERVER_InferenceResponseOutputCount(
        response: *mut TRITONSERVER_InferenceResponse,
        count: *mut u32,
    ) -> Err;
    pub fn TRITONSERVER_InferenceResponseOutput(
        response: *mut TRITONSERVER_InferenceResponse,
        index: u32,
        name: *mut *const c_char,
        datatype: *mut u32,
        shape: *mut *const i64,
        dim_count: *mut u64,
        base: *mut *const c_void,
        byte_size: *mut usize,
        memory_type: *mut u32,
        memory_type_id: *mut i64,
        userp: *mut *mut c_void,
    ) -> Err;
    pub fn TRITONSERVER_InferenceResponseOutputClassificationLabel(
        response: *mut TRITONSERVER_InferenceResponse,
        index: u32,
        class_index: usize,
        label: *mut *const c_char,
    ) -> Err;

    pub fn TRITONSERVER_ServerModelConfig(
        server: *mut TRITONSERVER_Server,
        model_name: *const c_char,
        model_version: i64,
        config_version: u32,
        config: *mut *mut TRITONSERVER_Message,
    ) -> Err;
    pub fn TRITONSERVER_ServerModelMetadata(
        server: *mut TRITONSERVER_Server,
        model_name: *const c_char,
        model_version: i64,
        metadata: *mut *mut TRITONSERVER_Message,
    ) -> Err;
    pub fn TRITONSERVER_ServerLoadModelWithParameters(
        server: *mut TRITONSERVER_Server,
        model_name: *const c_char,
        parameters: *const *const TRITONSERVER_Parameter,
        parameter_count: u64,
    ) -> Err;
    pub fn TRITONSERVER_ServerUnloadModelAndDependents(
        server: *mut TRITONSERVER_Server,
        model_name: *const c_char,
    ) -> Err;
    pub fn TRITONSERVER_ServerPollModelRepository(server: *mut TRITONSERVER_Server) -> Err;

    pub fn TRITONSERVER_ServerMetrics(
        server: *mut TRITONSERVER_Server,
        metrics: *mut *mut TRITONSERVER_Metrics,
    ) -> Err;
    pub fn TRITONSERVER_MetricsFormatted(
        metrics: *mut TRITONSERVER_Metrics,
        format: u32,
        base: *mut *const c_char,
        byte_size: *mut usize,
    ) -> Err;
    pub fn TRITONSERVER_MetricsDelete(metrics: *mut TRITONSERVER_Metrics) -> Err;

    pub fn TRITONSERVER_ParameterNew(
        name: *const c_char,
        ptype: u32,
        value: *const c_void,
    ) -> *mut TRITONSERVER_Parameter;
    pub fn TRITONSERVER_ParameterBytesNew(
        name: *const c_char,
        byte_ptr: *const c_void,
        size: u64,
    ) -> *mut TRITONSERVER_Parameter;
    pub fn TRITONSERVER_ParameterDelete(parameter: *mut TRITONSERVER_Parameter);
}
