#!/usr/bin/env python3
"""Generate the case table of test api_null_all from the installed headers.

For every function declared in include/triton/core/*.h with TRITON*_DECLSPEC (what the core
exports; the *_ISPEC entry points are implemented by plugins) and every pointer parameter
(data pointers and function pointers), one case calls the function with that parameter NULL
and every other parameter valid. The valid values come from fixture getters (nc.h), chosen by
the parameter's type, with per-function overrides below. The case runs where its fixtures
exist: the test process ("frontend"), the nullargs test backend's execute ("backend") or
GetBackendAttribute ("backend_attr"), the nullargs repository agent ("repoagent") or the
nullargs cache's insert ("cache").

A parameter for which no valid value is known still gets a case: one that fails with a message
saying what to add here. So a new function can not go untested without the test failing.

usage: gen_cases.py HEADER_DIR OUT.c
       gen_cases.py --check-exports HEADER_DIR LIBRARY   (exported TRITON* functions that no
                                                          header declares make it exit 1)
The output depends only on the headers (functions in header order, parameters in order).
"""
import re
import subprocess
import sys
from pathlib import Path

HEADERS = [
    "tritonserver.h", "tritonbackend.h", "tritonrepoagent.h", "tritoncache.h", "tritonrs.h",
]

# ---- where NULL is allowed: expected success instead of INVALID_ARG ----
# (function, parameter) -> why. Upstream header lines are quoted in c_tests/README.md.
ALLOWED = {
    # tritonbackend.h: "If non-nullptr, returns ..." for each out-parameter.
    **{("TRITONBACKEND_InputProperties", p): "optional out (If non-nullptr)"
       for p in ("name", "datatype", "shape", "dims_count", "byte_size", "buffer_count")},
    **{("TRITONBACKEND_InputPropertiesForHostPolicy", p): "optional out (If non-nullptr)"
       for p in ("name", "datatype", "shape", "dims_count", "byte_size", "buffer_count")},
    ("TRITONBACKEND_InputPropertiesForHostPolicy", "host_policy_name"):
        "fallback properties if nullptr is provided",
    ("TRITONBACKEND_InputBufferForHostPolicy", "host_policy_name"):
        "fallback buffer if nullptr is provided",
    ("TRITONBACKEND_RequestOutputBufferProperties", "name"): "optional (set to nullptr)",
    ("TRITONBACKEND_RequestOutputBufferProperties", "byte_size"): "optional (set to nullptr)",
    ("TRITONBACKEND_ResponseSend", "error"): "nullptr if the response is successful",
    ("TRITONBACKEND_BackendSetState", "state"): "The user state, or nullptr",
    ("TRITONBACKEND_ModelSetState", "state"): "The user state, or nullptr",
    ("TRITONBACKEND_ModelInstanceSetState", "state"): "The user state, or nullptr",
    ("TRITONREPOAGENT_ModelSetState", "state"): "The user state, or nullptr",
    ("TRITONREPOAGENT_SetState", "state"): "The user state, or nullptr",
    ("TRITONBACKEND_BackendAttributeAddPreferredInstanceGroup", "device_ids"):
        "Triton default will be used if 'nullptr' is provided",
    ("TRITONCACHE_CacheEntrySetBuffer", "buffer_attributes"): "(optional) buffer attributes",
    ("TRITONSERVER_ResponseAllocatorNew", "start_fn"): "optional (use nullptr)",
    ("TRITONSERVER_ServerModelBatchProperties", "voidp"): "If non-nullptr, returns",
    ("TRITONSERVER_ServerModelTransactionProperties", "voidp"): "If non-nullptr, returns",
    ("TRITONSERVER_ServerInferAsync", "trace"): "or nullptr if no tracing",
    # Compatibility: 2.51 deletes NULL as a no-op and its python backend relies on it (BLS path
    # of a dead stub).
    ("TRITONSERVER_InferenceResponseDelete", "inference_response"): "2.51 accepts NULL (no-op)",
    # tritonrs.h (triton-core's own extension): "either pointer may be NULL".
    ("TRITONRS_ApiVersion", "major"): "either pointer may be NULL",
    ("TRITONRS_ApiVersion", "minor"): "either pointer may be NULL",
    ("TRITONSERVER_MetricNewWithArgs", "args"):
        "args for particular metric types, e.g. histogram (a counter takes none)",
    ("TRITONBACKEND_ModelInstanceResponseStatisticsSetError", "error"):
        "the error given to TRITONBACKEND_ResponseSend, nullptr for a success",
    # Compatibility: the 2.51 frontends set the handle of every output buffer, NULL when the
    # buffer has none (api_infer.c tests this).
    ("TRITONSERVER_BufferAttributesSetCudaIpcHandle", "cuda_ipc_handle"):
        "compatibility: NULL clears the handle (frontends pass it for non-CUDA buffers)",
    # Opaque user pointers: only handed back to the caller's callbacks, never dereferenced.
    ("TRITONSERVER_InferenceRequestSetReleaseCallback", "request_release_userp"): "user pointer",
    ("TRITONSERVER_InferenceRequestSetResponseCallback", "response_allocator_userp"):
        "user pointer",
    ("TRITONSERVER_InferenceRequestSetResponseCallback", "response_userp"): "user pointer",
    ("TRITONSERVER_InferenceTraceNew", "trace_userp"): "user pointer",
    ("TRITONSERVER_InferenceTraceTensorNew", "trace_userp"): "user pointer",
    # Compatibility with 2.51, which checks for nullptr here: a request that is not traced
    # has no trace (TRITONBACKEND_RequestTrace), and the python backend passes it on.
    ("TRITONSERVER_InferenceTraceReportActivity", "trace"): "compatibility: untraced request",
    ("TRITONSERVER_InferenceTraceSpawnChildTrace", "trace"):
        "compatibility: untraced request (child_trace is set to NULL)",
    # Compatibility: like free(), 2.51 accepts a NULL buffer.
    ("TRITONBACKEND_MemoryManagerFree", "buffer"): "compatibility: NULL is a no-op, as free()",
    # Project decisions kept as they are (c_tests/api_infer.c, tests/capi_metrics.rs): a NULL
    # callback means "none".
    ("TRITONSERVER_ResponseAllocatorSetBufferAttributesFunction", "buffer_attributes_fn"):
        "project: NULL unsets the callback",
    ("TRITONSERVER_ResponseAllocatorSetQueryFunction", "query_fn"):
        "project: NULL unsets the callback",
    ("TRITONSERVER_InferenceTraceNew", "activity_fn"): "project: no activity callback",
    ("TRITONSERVER_InferenceTraceNew", "release_fn"): "project: no release callback",
    ("TRITONSERVER_InferenceTraceTensorNew", "activity_fn"): "project: no activity callback",
    ("TRITONSERVER_InferenceTraceTensorNew", "tensor_activity_fn"):
        "project: no tensor callback",
    ("TRITONSERVER_InferenceTraceTensorNew", "release_fn"): "project: no release callback",
}

# ---- functions that return a value instead of an error: the check made on the result ----
# (function, parameter) -> (C type of the result, condition on `v`, description)
VALUE_CHECKS = {
    ("TRITONSERVER_ErrorNew", "msg"):
        ("TRITONSERVER_Error*", "v != NULL && TRITONSERVER_ErrorMessage(v) != NULL",
         "a new error with a message"),
    ("TRITONSERVER_ErrorDelete", "error"): (None, None, "returns (no-op)"),
    ("TRITONSERVER_ErrorCode", "error"):
        ("TRITONSERVER_Error_Code", "v == TRITONSERVER_ERROR_UNKNOWN",
         "TRITONSERVER_ERROR_UNKNOWN"),
    ("TRITONSERVER_ErrorCodeString", "error"):
        ("const char*", "v != NULL && v[0] != '\\0'", "a non-empty static string"),
    ("TRITONSERVER_ErrorMessage", "error"):
        ("const char*", "v != NULL", "a static string"),
    ("TRITONSERVER_StringToDataType", "dtype"):
        ("TRITONSERVER_DataType", "v == TRITONSERVER_TYPE_INVALID", "TRITONSERVER_TYPE_INVALID"),
    ("TRITONSERVER_ParameterNew", "name"): ("TRITONSERVER_Parameter*", "v == NULL", "NULL"),
    ("TRITONSERVER_ParameterNew", "value"): ("TRITONSERVER_Parameter*", "v == NULL", "NULL"),
    ("TRITONSERVER_ParameterBytesNew", "name"):
        ("TRITONSERVER_Parameter*", "v == NULL", "NULL"),
    ("TRITONSERVER_ParameterBytesNew", "byte_ptr"):
        ("TRITONSERVER_Parameter*", "v == NULL", "NULL"),
    ("TRITONSERVER_ParameterDelete", "parameter"): (None, None, "returns (no-op)"),
}

# ---- valid values ----
# Handle types: C type name -> (getter expression, context). Context "any" means the getter
# works in every context.
HANDLES = {
    "TRITONSERVER_Server": ("nc_server()", "frontend"),
    "TRITONSERVER_InferenceRequest": ("nc_request()", "frontend"),
    "TRITONSERVER_InferenceResponse": ("nc_response()", "frontend"),
    "TRITONSERVER_Metrics": ("nc_metrics()", "frontend"),
    "TRITONSERVER_ServerOptions": ("nc_options()", "any"),
    "TRITONSERVER_Message": ("nc_message()", "any"),
    "TRITONSERVER_Error": ("nc_error()", "any"),
    "TRITONSERVER_Parameter": ("nc_parameter()", "any"),
    "TRITONSERVER_BufferAttributes": ("nc_buffer_attributes()", "any"),
    "TRITONSERVER_ResponseAllocator": ("nc_allocator()", "any"),
    "TRITONSERVER_InferenceTrace": ("nc_trace()", "any"),
    "TRITONSERVER_MetricFamily": ("nc_metric_family()", "any"),
    "TRITONSERVER_Metric": ("nc_metric()", "any"),
    "TRITONSERVER_MetricArgs": ("nc_metric_args()", "any"),
    "TRITONCACHE_CacheEntry": ("nc_cache_entry()", "any"),
    "TRITONBACKEND_ModelInstanceResponseStatistics": ("nc_response_statistics()", "backend"),
    "TRITONBACKEND_Backend": ("nc_backend()", "backend"),
    "TRITONBACKEND_Model": ("nc_model()", "backend"),
    "TRITONBACKEND_ModelInstance": ("nc_instance()", "backend"),
    "TRITONBACKEND_Request": ("nc_brequest()", "backend"),
    "TRITONBACKEND_Response": ("nc_bresponse()", "backend"),
    "TRITONBACKEND_ResponseFactory": ("nc_factory()", "backend"),
    "TRITONBACKEND_Input": ("nc_input()", "backend"),
    "TRITONBACKEND_Output": ("nc_output()", "backend"),
    "TRITONBACKEND_State": ("nc_state()", "backend"),
    "TRITONBACKEND_MemoryManager": ("nc_memory_manager()", "backend"),
    "TRITONBACKEND_BackendAttribute": ("nc_backend_attribute()", "backend_attr"),
    "TRITONREPOAGENT_Agent": ("nc_agent()", "repoagent"),
    "TRITONREPOAGENT_AgentModel": ("nc_agent_model()", "repoagent"),
    "TRITONCACHE_Allocator": ("nc_cache_allocator()", "cache"),
}

# Scalars and enums: a valid value by type.
SCALARS = {
    "bool": "true", "int": "0", "unsigned int": "1", "uint32_t": "0", "uint64_t": "0",
    "int64_t": "0", "int32_t": "0", "size_t": "0", "double": "1.0",
    "TRITONSERVER_DataType": "TRITONSERVER_TYPE_FP32",
    "TRITONSERVER_MemoryType": "TRITONSERVER_MEMORY_CPU",
    "TRITONSERVER_ParameterType": "TRITONSERVER_PARAMETER_STRING",
    "TRITONSERVER_InstanceGroupKind": "TRITONSERVER_INSTANCEGROUPKIND_CPU",
    "TRITONSERVER_LogLevel": "TRITONSERVER_LOG_INFO",
    "TRITONSERVER_LogFormat": "TRITONSERVER_LOG_DEFAULT",
    "TRITONSERVER_Error_Code": "TRITONSERVER_ERROR_INTERNAL",
    "TRITONSERVER_MetricKind": "TRITONSERVER_METRIC_KIND_COUNTER",
    "TRITONSERVER_MetricFormat": "TRITONSERVER_METRIC_PROMETHEUS",
    "TRITONSERVER_ModelControlMode": "TRITONSERVER_MODEL_CONTROL_EXPLICIT",
    "TRITONSERVER_RateLimitMode": "TRITONSERVER_RATE_LIMIT_OFF",
    "TRITONSERVER_InferenceTraceLevel": "TRITONSERVER_TRACE_LEVEL_TIMESTAMPS",
    "TRITONSERVER_InferenceTraceActivity": "TRITONSERVER_TRACE_REQUEST_START",
    "TRITONBACKEND_ExecutionPolicy": "TRITONBACKEND_EXECUTION_BLOCKING",
    "TRITONBACKEND_ArtifactType": "TRITONBACKEND_ARTIFACT_FILESYSTEM",
    "TRITONREPOAGENT_ArtifactType": "TRITONREPOAGENT_ARTIFACT_FILESYSTEM",
    "TRITONREPOAGENT_ActionType": "TRITONREPOAGENT_ACTION_LOAD",
}

# Valid values by parameter name (any function), then by (function, parameter).
BY_NAME = {  # name -> (C type it applies to, value)
    "model_name": ("const char*", '"nc_model"'), "model_version": ("int64_t", "1"),
    "config_version": ("uint32_t", "1"), "index": ("uint32_t", "0"),
    "key": ("const char*", '"nc_key"'), "value": ("const char*", '"nc_value"'),
    "id": ("const char*", '"nc_id"'), "correlation_id": ("const char*", '"nc_corr"'),
    "host_policy_name": ("const char*", '"nc_policy"'), "state": ("void*", "nc_user_pointer()"),
    "buffer_byte_size": ("uint64_t", "16"),
    "request_release_userp": ("void*", "nc_user_pointer()"),
    "response_allocator_userp": ("void*", "nc_user_pointer()"),
    "response_userp": ("void*", "nc_user_pointer()"),
    "trace_userp": ("void*", "nc_user_pointer()"),
    "shape": ("const int64_t*", "nc_shape()"), "dims_count": ("uint32_t", "1"),
    "dim_count": ("uint64_t", "1"), "datatype": ("TRITONSERVER_DataType", "TRITONSERVER_TYPE_FP32"),
    "send_flags": ("uint32_t", "TRITONSERVER_RESPONSE_COMPLETE_FINAL"),
    "release_flags": ("uint32_t", "TRITONSERVER_REQUEST_RELEASE_ALL"),
}
OVERRIDES = {
    ("TRITONSERVER_ErrorNew", "msg"): '"nc"',
    ("TRITONSERVER_StringToDataType", "dtype"): '"FP32"',
    ("TRITONSERVER_ParameterNew", "name"): '"nc_param"',
    ("TRITONSERVER_ParameterNew", "value"): '"nc_value"',
    ("TRITONSERVER_ParameterBytesNew", "name"): '"nc_param"',
    ("TRITONSERVER_ParameterBytesNew", "byte_ptr"): '"abc"',
    ("TRITONSERVER_ParameterBytesNew", "size"): "3",
    ("TRITONSERVER_LogMessage", "filename"): '"nc.c"',
    ("TRITONSERVER_LogMessage", "msg"): '"nc"',
    ("TRITONSERVER_MessageNewFromSerializedJson", "base"): '"{}"',
    ("TRITONSERVER_MessageNewFromSerializedJson", "byte_size"): "2",
    ("TRITONSERVER_MetricFamilyNew", "name"): '"nc_family_new"',
    ("TRITONSERVER_MetricFamilyNew", "description"): '"nc"',
    ("TRITONSERVER_MetricArgsSetHistogram", "buckets"): "nc_buckets()",
    ("TRITONSERVER_MetricArgsSetHistogram", "buckets_count"): "2",
    ("TRITONSERVER_MetricNew", "labels"): "nc_parameters()",
    ("TRITONSERVER_MetricNew", "label_count"): "1",
    ("TRITONSERVER_MetricNewWithArgs", "family"): "nc_histogram_family()",
    ("TRITONSERVER_MetricNewWithArgs", "labels"): "nc_parameters()",
    ("TRITONSERVER_MetricNewWithArgs", "label_count"): "1",
    ("TRITONSERVER_ServerOptionsSetServerId", "server_id"): '"nc_server"',
    ("TRITONSERVER_ServerOptionsSetModelRepositoryPath", "model_repository_path"): "nc_dir()",
    ("TRITONSERVER_ServerOptionsSetStartupModel", "model_name"): '"nc_model"',
    ("TRITONSERVER_ServerOptionsSetModelConfigName", "model_config_name"): '"nc_config"',
    ("TRITONSERVER_ServerOptionsAddRateLimiterResource", "resource_name"): '"nc_resource"',
    ("TRITONSERVER_ServerOptionsAddRateLimiterResource", "resource_count"): "1",
    ("TRITONSERVER_ServerOptionsSetCacheConfig", "cache_name"): '"local"',
    ("TRITONSERVER_ServerOptionsSetCacheConfig", "config_json"): '"{}"',
    ("TRITONSERVER_ServerOptionsSetCacheDirectory", "cache_dir"): "nc_dir()",
    ("TRITONSERVER_ServerOptionsSetLogFile", "file"): '"/dev/null"',
    ("TRITONSERVER_ServerOptionsSetBackendDirectory", "backend_dir"): "nc_dir()",
    ("TRITONSERVER_ServerOptionsSetRepoAgentDirectory", "repoagent_dir"): "nc_dir()",
    ("TRITONSERVER_ServerOptionsSetBackendConfig", "backend_name"): '"nullargs"',
    ("TRITONSERVER_ServerOptionsSetBackendConfig", "setting"): '"nc_setting"',
    ("TRITONSERVER_ServerOptionsSetBackendConfig", "value"): '"1"',
    ("TRITONSERVER_ServerOptionsSetHostPolicy", "policy_name"): '"nc_policy"',
    ("TRITONSERVER_ServerOptionsSetHostPolicy", "setting"): '"numa-node"',
    ("TRITONSERVER_ServerOptionsSetHostPolicy", "value"): '"0"',
    ("TRITONSERVER_ServerOptionsSetMetricsConfig", "name"): '"summary_latencies"',
    ("TRITONSERVER_ServerOptionsSetMetricsConfig", "setting"): '"nc_setting"',
    ("TRITONSERVER_ServerOptionsSetMetricsConfig", "value"): '"1"',
    ("TRITONSERVER_ServerLoadModelWithParameters", "parameters"): "nc_parameters()",
    ("TRITONSERVER_ServerLoadModelWithParameters", "parameter_count"): "1",
    ("TRITONSERVER_ServerRegisterModelRepository", "repository_path"): "nc_dir()",
    ("TRITONSERVER_ServerRegisterModelRepository", "name_mapping"): "nc_parameters()",
    ("TRITONSERVER_ServerRegisterModelRepository", "mapping_count"): "1",
    ("TRITONSERVER_ServerUnregisterModelRepository", "repository_path"): "nc_dir()",
    ("TRITONSERVER_ServerModelIndex", "flags"): "0",
    ("TRITONSERVER_InferenceRequestNew", "model_version"): "-1",
    ("TRITONSERVER_InferenceRequestAddInput", "name"): '"INPUT1"',
    ("TRITONSERVER_InferenceRequestAddRawInput", "name"): '"INPUT1"',
    ("TRITONSERVER_InferenceRequestRemoveInput", "name"): '"INPUT0"',
    ("TRITONSERVER_InferenceRequestAppendInputData", "name"): '"INPUT0"',
    ("TRITONSERVER_InferenceRequestAppendInputData", "base"): "nc_data()",
    ("TRITONSERVER_InferenceRequestAppendInputData", "byte_size"): "16",
    ("TRITONSERVER_InferenceRequestAppendInputDataWithHostPolicy", "name"): '"INPUT0"',
    ("TRITONSERVER_InferenceRequestAppendInputDataWithHostPolicy", "base"): "nc_data()",
    ("TRITONSERVER_InferenceRequestAppendInputDataWithHostPolicy", "byte_size"): "16",
    ("TRITONSERVER_InferenceRequestAppendInputDataWithBufferAttributes", "name"): '"INPUT0"',
    ("TRITONSERVER_InferenceRequestAppendInputDataWithBufferAttributes", "base"): "nc_data()",
    ("TRITONSERVER_InferenceRequestRemoveAllInputData", "name"): '"INPUT0"',
    ("TRITONSERVER_InferenceRequestAddRequestedOutput", "name"): '"OUTPUT0"',
    ("TRITONSERVER_InferenceRequestRemoveRequestedOutput", "name"): '"OUTPUT0"',
    ("TRITONSERVER_InferenceTraceReportActivity", "activity_name"): '"nc_activity"',
    ("TRITONSERVER_InferenceTraceSetContext", "trace_context"): '"{}"',
    ("TRITONSERVER_BufferAttributesSetCudaIpcHandle", "cuda_ipc_handle"): "nc_ipc_handle()",
    ("TRITONSERVER_MetricsFormatted", "format"): "TRITONSERVER_METRIC_PROMETHEUS",
    ("TRITONBACKEND_BackendAttributeAddPreferredInstanceGroup", "count"): "1",
    ("TRITONBACKEND_BackendAttributeAddPreferredInstanceGroup", "device_ids"): "nc_device_ids()",
    ("TRITONBACKEND_BackendAttributeAddPreferredInstanceGroup", "id_count"): "1",
    ("TRITONBACKEND_MemoryManagerAllocate", "byte_size"): "16",
    ("TRITONBACKEND_MemoryManagerFree", "buffer"): "nc_mm_buffer()",
    ("TRITONBACKEND_RequestInput", "name"): '"INPUT0"',
    ("TRITONBACKEND_RequestOutputBufferProperties", "name"): '"OUTPUT0"',
    ("TRITONBACKEND_ResponseOutput", "name"): '"OUTPUT1"',
    ("TRITONBACKEND_ResponseSetStringParameter", "name"): '"nc_param"',
    ("TRITONBACKEND_ResponseSetIntParameter", "name"): '"nc_param"',
    ("TRITONBACKEND_ResponseSetBoolParameter", "name"): '"nc_param"',
    ("TRITONBACKEND_ResponseSetDoubleParameter", "name"): '"nc_param"',
    ("TRITONBACKEND_InferenceResponseOutput", "response"): "nc_bresponse_with_output()",
    ("TRITONBACKEND_InferenceResponseOutputByName", "response"): "nc_bresponse_with_output()",
    ("TRITONBACKEND_InferenceResponseOutputByName", "name"): '"OUTPUT0"',
    ("TRITONBACKEND_ModelReportMemoryUsage", "usage"): "nc_usage()",
    ("TRITONBACKEND_ModelReportMemoryUsage", "usage_size"): "1",
    ("TRITONBACKEND_ModelInstanceReportMemoryUsage", "usage"): "nc_usage()",
    ("TRITONBACKEND_ModelInstanceReportMemoryUsage", "usage_size"): "1",
    ("TRITONBACKEND_ModelSetConfig", "model_config"): "nc_model_config()",
    ("TRITONBACKEND_StateNew", "name"): '"STATE_OUT"',
    ("TRITONBACKEND_ModelInstanceReportBatchStatistics", "batch_size"): "1",
    ("TRITONREPOAGENT_ModelRepositoryLocationRelease", "location"): "nc_acquired_location()",
    ("TRITONREPOAGENT_ModelRepositoryUpdate", "location"): "nc_agent_location()",
    ("TRITONCACHE_CacheEntryAddBuffer", "base"): "nc_cache_buffer()",
    ("TRITONCACHE_CacheEntryAddBuffer", "buffer_attributes"): "nc_buffer_attributes()",
    ("TRITONCACHE_CacheEntrySetBuffer", "new_base"): "nc_cache_buffer()",
    ("TRITONCACHE_CacheEntryGetBuffer", "entry"): "nc_insert_entry()",
    ("TRITONCACHE_CacheEntrySetBuffer", "entry"): "nc_insert_entry()",
    ("TRITONCACHE_Copy", "entry"): "nc_insert_entry()",
}
# Valid values for one case only: (function, NULL parameter) -> {other parameter: value}.
CASE_OVERRIDES = {
    # Metric args are for the kinds that need them: a counter takes none.
    ("TRITONSERVER_MetricNewWithArgs", "args"): {"family": "nc_metric_family()"},
}
# Getters in OVERRIDES that imply a context.
OVERRIDE_CONTEXTS = {
    "nc_bresponse_with_output()": "backend", "nc_mm_buffer()": "backend",
    "nc_acquired_location()": "repoagent", "nc_agent_location()": "repoagent",
    "nc_insert_entry()": "cache",
}

RUST_KEYWORD_NAMES = {"type_"}

CONTEXTS = ["frontend", "backend", "backend_attr", "repoagent", "cache"]


def strip_comments(src):
    src = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
    return re.sub(r"//[^\n]*", "", src)


def split_top(s):
    """Split on commas outside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


def norm(s):
    s = " ".join(s.split())
    s = re.sub(r"\s*\*\s*", "*", s)
    return s.replace("*", "* ").replace("* *", "**").replace("* )", "*)").strip()


class Param:
    def __init__(self, text):
        self.text = " ".join(text.split())
        m = re.match(r"^(.*)\(\s*\*\s*(\w+)\s*\)\s*\((.*)\)$", self.text)
        if m:  # inline function pointer
            self.name = m.group(2)
            self.fn = (norm(m.group(1)), split_top(m.group(3)))
            self.ctype = None
            return
        m = re.match(r"^(.*?)(\w+)$", self.text)
        self.name = m.group(2)
        self.ctype = norm(m.group(1))
        self.fn = None

    @property
    def c_name(self):
        """The name errors use: the Rust sources write C's `type` as `type_` (a keyword)."""
        return self.name[:-1] if self.name in RUST_KEYWORD_NAMES else self.name

    @property
    def base(self):
        return self.ctype.replace("const ", "").replace("*", "").strip()

    @property
    def stars(self):
        return self.ctype.count("*") if self.ctype else 0


def parse_headers(hdir):
    funcs, fntypes = [], {}
    for h in HEADERS:
        path = Path(hdir) / "triton" / "core" / h
        if not path.exists():
            continue
        src = strip_comments(path.read_text())
        for m in re.finditer(r"typedef\s+([^;()]*?)\(\s*\*\s*(\w+)\s*\)\s*\(([^;]*?)\)\s*;", src):
            fntypes[m.group(2)] = (norm(m.group(1)), split_top(" ".join(m.group(3).split())))
        for m in re.finditer(
                r"TRITON[A-Z]+_DECLSPEC\s+([^;{}()#]*?)\b(TRITON[A-Z]+_\w+)\s*\(([^;{}]*?)\)\s*;",
                src, flags=re.S):
            ret, name, params = norm(m.group(1)), m.group(2), " ".join(m.group(3).split())
            plist = [] if params in ("", "void") else [Param(p) for p in split_top(params)]
            funcs.append((name, ret, plist))
    return funcs, fntypes


def arg_decls(args):
    """Parameter list with names a0, a1, ... for a stub of the given argument types."""
    out = []
    for i, a in enumerate(args):
        m = re.match(r"^(.*[\s*])(\w+)$", a)
        t = a
        if m and m.group(1).strip() not in ("", "const", "struct", "unsigned", "signed", "enum"):
            t = m.group(1).strip()
        out.append(f"{t} a{i}")
    return out


class Gen:
    def __init__(self, funcs, fntypes):
        self.funcs, self.fntypes = funcs, fntypes
        self.stubs = {}  # stub name -> definition

    def stub(self, key, ret, args):
        name = "nc_stub_" + key
        if name not in self.stubs:
            decls = arg_decls(args)
            body = "".join(f"  (void)a{i};\n" for i in range(len(decls)))
            if ret != "void":
                body += "  return NULL;\n"
            self.stubs[name] = (f"static {ret}\n{name}({', '.join(decls) or 'void'})\n"
                                f"{{\n{body}}}\n")
        return name

    def is_fnptr(self, p):
        return p.fn is not None or (p.ctype in self.fntypes)

    def value(self, fn, p):
        """(C expression, context) for a valid value of parameter p of function fn, or
        (None, reason)."""
        key = (fn, p.name)
        if key in OVERRIDES:
            v = OVERRIDES[key]
            return v, OVERRIDE_CONTEXTS.get(v, self.ctx_of_expr(v))
        if p.fn is not None:
            return self.stub(f"{fn}_{p.name}", p.fn[0], p.fn[1]), "any"
        if p.ctype in self.fntypes:
            ret, args = self.fntypes[p.ctype]
            return self.stub(p.ctype, ret, args), "any"
        if p.name in BY_NAME and BY_NAME[p.name][0] == p.ctype:
            v = BY_NAME[p.name][1]
            return v, self.ctx_of_expr(v)
        t, base, stars = p.ctype, p.base, p.stars
        if stars == 0:
            if base in SCALARS:
                return SCALARS[base], "any"
            return None, f"no valid value for type '{t}'"
        if base == "char" and stars == 1 and "const" in t:
            return '"nc"', "any"
        if stars == 1 and base in HANDLES:
            return HANDLES[base]
        if stars == 1 and base.startswith("TRITON") and base not in SCALARS:
            return None, f"no fixture for handle type '{base}' (HANDLES)"
        if "const" in t and stars == 2 and base in HANDLES:
            return None, f"no valid array for type '{t}'"
        # Out-parameter: a fresh location of the pointed-to type.
        pointee = t[: t.rindex("*")].strip()
        if stars == 1 and base == "void":
            return None, f"no valid value for type '{t}'"
        return f"&({pointee}){{0}}", "any"

    def ctx_of_expr(self, v):
        for h, (getter, ctx) in HANDLES.items():
            if getter == v:
                return ctx
        return OVERRIDE_CONTEXTS.get(v, "any")

    def cases(self):
        out = []
        for fn, ret, params in self.funcs:
            for i, p in enumerate(params):
                if not (self.is_fnptr(p) or p.stars > 0):
                    continue
                args, ctx, problem = [], set(), None
                for j, q in enumerate(params):
                    if j == i:
                        args.append("NULL")
                        continue
                    v, c = self.value(fn, q)
                    special = CASE_OVERRIDES.get((fn, p.name), {})
                    if q.name in special:
                        v, c = special[q.name], self.ctx_of_expr(special[q.name])
                    if v is None:
                        problem = f"parameter '{q.name}': {c}"
                        break
                    args.append(v)
                    if c != "any":
                        ctx.add(c)
                if problem is None and len(ctx) > 1:
                    problem = f"fixtures from different contexts: {sorted(ctx)}"
                context = ctx.pop() if len(ctx) == 1 else "frontend"
                if problem:
                    context = "frontend"
                call = f"{fn}({', '.join(args)})"
                key = (fn, p.name)
                if problem:
                    kind, body = "NC_EXPECT_INVALID_ARG", (
                        f'  nc_fail(r, "no case can be built ({problem}): extend '
                        f'c_tests/null_args/gen_cases.py");\n')
                elif key in VALUE_CHECKS:
                    ctype, cond, desc = VALUE_CHECKS[key]
                    kind = "NC_EXPECT_VALUE"
                    if ctype is None:
                        body = f"  (void)r;\n  {call};\n"
                    else:
                        body = (f"  {ctype} v = {call};\n"
                                f"  if (!({cond})) {{\n"
                                f'    nc_fail(r, "returned an unexpected value, expected {desc}");\n'
                                f"  }}\n")
                elif ret == "TRITONSERVER_Error*":
                    kind = "NC_EXPECT_SUCCESS" if key in ALLOWED else "NC_EXPECT_INVALID_ARG"
                    body = f"  nc_check_error(r, {call});\n"
                else:
                    kind, body = "NC_EXPECT_VALUE", (
                        f'  nc_fail(r, "returns {ret}: add the expected value to '
                        f'VALUE_CHECKS in c_tests/null_args/gen_cases.py");\n')
                out.append((fn, p.c_name, context, kind, body, ALLOWED.get(key, "")))
        return out

    def render(self):
        cases = self.cases()
        lines = [
            "/* Generated by c_tests/null_args/gen_cases.py from the installed headers: do not",
            " * edit. One case per (function, pointer parameter). */",
            "#include <stddef.h>",
            "",
            '#include "nc.h"',
            "",
        ]
        for name in sorted(self.stubs):
            lines.append(self.stubs[name])
        for n, (fn, param, ctx, kind, body, why) in enumerate(cases):
            lines.append(f"static void\nnc_case_{n}(nc_result* r)\n{{\n{body}}}\n")
        lines.append("const nc_case nc_cases[] = {")
        for n, (fn, param, ctx, kind, body, why) in enumerate(cases):
            ctx_c = "NC_CTX_" + ctx.upper()
            why_c = why.replace('"', '\\"')
            lines.append(f'    {{"{fn}", "{param}", {ctx_c}, {kind}, "{why_c}", nc_case_{n}}},')
        lines.append("};")
        lines.append(f"const size_t nc_case_count = {len(cases)};")
        lines.append(f"const size_t nc_function_count = {len(self.funcs)};")
        return "\n".join(lines) + "\n"


def check_exports(hdir, lib):
    funcs, _ = parse_headers(hdir)
    declared = {f[0] for f in funcs}
    src = "".join(strip_comments((Path(hdir) / "triton" / "core" / h).read_text())
                  for h in HEADERS if (Path(hdir) / "triton" / "core" / h).exists())
    plugin = set(re.findall(r"TRITON[A-Z]+_ISPEC\s+[^;]*?\b(TRITON[A-Z]+_\w+)\s*\(", src))
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True,
                         capture_output=True, text=True).stdout
    exported = {ln.split()[2] for ln in out.splitlines()
                if len(ln.split()) == 3 and ln.split()[1] == "T"
                and ln.split()[2].startswith("TRITON")}
    missing = sorted(exported - declared - plugin)
    for m in missing:
        print(f"exported but declared in no header (so no NULL case): {m}")
    print(f"{len(exported)} exported TRITON* functions, {len(declared)} declared in the headers, "
          f"{len(missing)} without a declaration")
    return 1 if missing else 0


def main(argv):
    if len(argv) == 4 and argv[1] == "--check-exports":
        return check_exports(argv[2], argv[3])
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    funcs, fntypes = parse_headers(argv[1])
    if not funcs:
        print(f"no functions found under {argv[1]}", file=sys.stderr)
        return 1
    text = Gen(funcs, fntypes).render()
    out = Path(argv[2])
    if not out.exists() or out.read_text() != text:
        out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
