//! `TRITONSERVER_ServerOptions`: the settings a server is created with.
//!
//! Methods: `ServerOptionsNew`, `ServerOptionsDelete` and one `ServerOptionsSet*` /
//! `ServerOptionsAdd*` per setting. The caller owns the object; `TRITONSERVER_ServerNew` copies
//! what it needs, so the options may be deleted right after it.

use std::ffi::{c_char, c_int, c_uint};

use crate::capi::boundary::ffi_try;
use crate::capi::handle::{into_raw, Contract};
use crate::capi::server::error::TRITONSERVER_Error;
use crate::capi::types::{
    TRITONSERVER_InstanceGroupKind, TRITONSERVER_LogFormat, TRITONSERVER_ModelControlMode,
    TRITONSERVER_RateLimitMode,
};
use crate::engine::server::Options;
use crate::engine::{Error, Result};

/// Server options.
pub type TRITONSERVER_ServerOptions = Options;

/// Run a setter on the options behind `options` (also the extension setters of `tritonrs.h`).
pub(crate) fn with_options(
    c: Contract,
    name: &'static str,
    options: *mut TRITONSERVER_ServerOptions,
    f: impl FnOnce(&mut Options) -> Result<()>,
) -> *mut TRITONSERVER_Error {
    ffi_try(name, || f(c.arg_mut(options, "options")?))
}

/// Create options with upstream's defaults.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsNew(
    options: *mut *mut TRITONSERVER_ServerOptions,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsNew's caller passes writable `options`, as tritonserver.h
    // requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_ServerOptionsNew", || {
        c.out_ptr(options, "options")?
            .write(into_raw(Box::new(Options::from_env())));
        Ok(())
    })
}

/// Delete options.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsDelete(
    options: *mut TRITONSERVER_ServerOptions,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsDelete's caller passes a server options object it owns and
    // gives up, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_ServerOptionsDelete", || {
        drop(c.take_box(options, "options")?);
        Ok(())
    })
}

/// The id the server reports in its metadata (default "triton").
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetServerId(
    options: *mut TRITONSERVER_ServerOptions,
    server_id: *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetServerId's caller passes a live server options object
    // and a NUL-terminated `server_id`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(c, "TRITONSERVER_ServerOptionsSetServerId", options, |o| {
        o.server_id = c.arg_cstr(server_id, "server_id")?.to_owned();
        Ok(())
    })
}

/// Add a model repository path (may be called more than once).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetModelRepositoryPath(
    options: *mut TRITONSERVER_ServerOptions,
    model_repository_path: *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetModelRepositoryPath's caller passes a live server
    // options object and a NUL-terminated `model_repository_path`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(
        c,
        "TRITONSERVER_ServerOptionsSetModelRepositoryPath",
        options,
        |o| {
            let p = c.arg_cstr(model_repository_path, "model_repository_path")?;
            o.repository_paths.push(p.to_owned());
            Ok(())
        },
    )
}

/// How models are loaded and unloaded (default POLL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetModelControlMode(
    options: *mut TRITONSERVER_ServerOptions,
    mode: TRITONSERVER_ModelControlMode,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetModelControlMode's caller passes a live server options
    // object, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(
        c,
        "TRITONSERVER_ServerOptionsSetModelControlMode",
        options,
        |o| {
            o.control_mode = mode.get()?;
            Ok(())
        },
    )
}

/// Add a model to load at startup in EXPLICIT mode ("*" for all).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetStartupModel(
    options: *mut TRITONSERVER_ServerOptions,
    model_name: *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetStartupModel's caller passes a live server options
    // object and a NUL-terminated `model_name`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(
        c,
        "TRITONSERVER_ServerOptionsSetStartupModel",
        options,
        |o| {
            o.startup_models
                .push(c.arg_cstr(model_name, "model_name")?.to_owned());
            Ok(())
        },
    )
}

/// Require a complete config.pbtxt for every model (default true: no auto-complete).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetStrictModelConfig(
    options: *mut TRITONSERVER_ServerOptions,
    strict: bool,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetStrictModelConfig's caller passes a live server options
    // object, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(
        c,
        "TRITONSERVER_ServerOptionsSetStrictModelConfig",
        options,
        |o| {
            o.strict_model_config = strict;
            Ok(())
        },
    )
}

/// Prefer `configs/<name>.pbtxt` over `config.pbtxt`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetModelConfigName(
    options: *mut TRITONSERVER_ServerOptions,
    model_config_name: *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetModelConfigName's caller passes a live server options
    // object and a NUL-terminated `model_config_name`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(
        c,
        "TRITONSERVER_ServerOptionsSetModelConfigName",
        options,
        |o| {
            o.model_config_name = c
                .arg_cstr(model_config_name, "model_config_name")?
                .to_owned();
            Ok(())
        },
    )
}

/// Rate limiter mode: OFF (default) or EXEC_COUNT (instances run only while the resources their
/// instance group declares are available).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetRateLimiterMode(
    options: *mut TRITONSERVER_ServerOptions,
    mode: TRITONSERVER_RateLimitMode,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetRateLimiterMode's caller passes a live server options
    // object, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(
        c,
        "TRITONSERVER_ServerOptionsSetRateLimiterMode",
        options,
        |o| {
            o.rate_limit_exec_count = match mode.0 {
                0 => false,
                1 => true,
                v => return Err(Error::invalid_arg(format!("invalid rate limit mode {v}"))),
            };
            Ok(())
        },
    )
}

/// Add `resource_count` of a rate limiter resource on `device` (-1: on every device).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsAddRateLimiterResource(
    options: *mut TRITONSERVER_ServerOptions,
    resource_name: *const c_char,
    resource_count: usize,
    device: c_int,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsAddRateLimiterResource's caller passes a live server
    // options object and a NUL-terminated `resource_name`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(
        c,
        "TRITONSERVER_ServerOptionsAddRateLimiterResource",
        options,
        |o| {
            let name = c.arg_cstr(resource_name, "resource_name")?;
            o.rate_limit_resources
                .push((name.to_owned(), resource_count as u64, device));
            Ok(())
        },
    )
}

/// Pinned memory pool size in bytes (reported in the startup options table).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetPinnedMemoryPoolByteSize(
    options: *mut TRITONSERVER_ServerOptions,
    size: u64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetPinnedMemoryPoolByteSize's caller passes a live server
    // options object, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(
        c,
        "TRITONSERVER_ServerOptionsSetPinnedMemoryPoolByteSize",
        options,
        |o| {
            o.pinned_memory_pool_byte_size = size;
            Ok(())
        },
    )
}

/// CUDA memory pool size of a GPU (reported; this build has no GPU support).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetCudaMemoryPoolByteSize(
    options: *mut TRITONSERVER_ServerOptions,
    gpu_device: c_int,
    size: u64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetCudaMemoryPoolByteSize's caller passes a live server
    // options object, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(
        c,
        "TRITONSERVER_ServerOptionsSetCudaMemoryPoolByteSize",
        options,
        |o| {
            o.cuda_memory_pool_byte_size.insert(gpu_device, size);
            Ok(())
        },
    )
}

/// CUDA virtual address space size of a GPU (accepted and recorded).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetCudaVirtualAddressSize(
    options: *mut TRITONSERVER_ServerOptions,
    gpu_device: c_int,
    cuda_virtual_address_size: usize,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetCudaVirtualAddressSize's caller passes a live server
    // options object, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(
        c,
        "TRITONSERVER_ServerOptionsSetCudaVirtualAddressSize",
        options,
        |o| {
            o.cuda_virtual_address_size
                .insert(gpu_device, cuda_virtual_address_size as u64);
            Ok(())
        },
    )
}

/// Response cache size (deprecated upstream): a non-zero size configures the "local" cache
/// with `{"size": N}`, as `ServerOptionsSetCacheConfig` would; zero does nothing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetResponseCacheByteSize(
    options: *mut TRITONSERVER_ServerOptions,
    size: u64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetResponseCacheByteSize's caller passes a live server
    // options object, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(
        c,
        "TRITONSERVER_ServerOptionsSetResponseCacheByteSize",
        options,
        |o| {
            if size != 0 {
                o.cache_configs
                    .insert("local".into(), format!("{{\"size\": {size}}}"));
            }
            Ok(())
        },
    )
}

/// Configure the response cache implementation `cache_name` with a JSON config (given to its
/// `TRITONCACHE_CacheInitialize`). Only one cache may be configured when the server is created.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetCacheConfig(
    options: *mut TRITONSERVER_ServerOptions,
    cache_name: *const c_char,
    config_json: *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetCacheConfig's caller passes a live server options
    // object, a NUL-terminated `cache_name` and a NUL-terminated `config_json`, as tritonserver.h
    // requires.
    let c = unsafe { Contract::assume() };
    with_options(
        c,
        "TRITONSERVER_ServerOptionsSetCacheConfig",
        options,
        |o| {
            let name = c.arg_cstr(cache_name, "cache_name")?;
            let json = c.arg_cstr(config_json, "config_json")?;
            o.cache_configs.insert(name.to_owned(), json.to_owned());
            Ok(())
        },
    )
}

/// Directory holding cache implementations: `<dir>/<name>/libtritoncache_<name>.so`
/// (default /opt/tritonserver/caches).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetCacheDirectory(
    options: *mut TRITONSERVER_ServerOptions,
    cache_dir: *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetCacheDirectory's caller passes a live server options
    // object and a NUL-terminated `cache_dir`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(
        c,
        "TRITONSERVER_ServerOptionsSetCacheDirectory",
        options,
        |o| {
            o.cache_dir = c.arg_cstr(cache_dir, "cache_dir")?.to_owned();
            Ok(())
        },
    )
}

/// Minimum CUDA compute capability of usable GPUs.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetMinSupportedComputeCapability(
    options: *mut TRITONSERVER_ServerOptions,
    cc: f64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetMinSupportedComputeCapability's caller passes a live
    // server options object, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(
        c,
        "TRITONSERVER_ServerOptionsSetMinSupportedComputeCapability",
        options,
        |o| {
            o.min_compute_capability = cc;
            Ok(())
        },
    )
}

/// Whether ServerNew fails when a model fails to load (default true).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetExitOnError(
    options: *mut TRITONSERVER_ServerOptions,
    exit: bool,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetExitOnError's caller passes a live server options
    // object, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(
        c,
        "TRITONSERVER_ServerOptionsSetExitOnError",
        options,
        |o| {
            o.exit_on_error = exit;
            Ok(())
        },
    )
}

/// Whether server readiness includes every model's readiness (default true).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetStrictReadiness(
    options: *mut TRITONSERVER_ServerOptions,
    strict: bool,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetStrictReadiness's caller passes a live server options
    // object, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(
        c,
        "TRITONSERVER_ServerOptionsSetStrictReadiness",
        options,
        |o| {
            o.strict_readiness = strict;
            Ok(())
        },
    )
}

/// Seconds to wait for in-flight work when stopping (default 30).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetExitTimeout(
    options: *mut TRITONSERVER_ServerOptions,
    timeout: c_uint,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetExitTimeout's caller passes a live server options
    // object, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(
        c,
        "TRITONSERVER_ServerOptionsSetExitTimeout",
        options,
        |o| {
            o.exit_timeout_secs = timeout;
            Ok(())
        },
    )
}

/// Buffer manager threads (accepted and recorded).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetBufferManagerThreadCount(
    options: *mut TRITONSERVER_ServerOptions,
    thread_count: c_uint,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetBufferManagerThreadCount's caller passes a live server
    // options object, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(
        c,
        "TRITONSERVER_ServerOptionsSetBufferManagerThreadCount",
        options,
        |o| {
            o.buffer_manager_thread_count = thread_count;
            Ok(())
        },
    )
}

/// Threads that load models in parallel (default 4; at least 1).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetModelLoadThreadCount(
    options: *mut TRITONSERVER_ServerOptions,
    thread_count: c_uint,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetModelLoadThreadCount's caller passes a live server
    // options object, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(
        c,
        "TRITONSERVER_ServerOptionsSetModelLoadThreadCount",
        options,
        |o| {
            if thread_count == 0 {
                return Err(Error::invalid_arg(
                    "model load thread count must be at least 1",
                ));
            }
            o.model_load_thread_count = thread_count;
            Ok(())
        },
    )
}

/// How often a failed model load is retried (default 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetModelLoadRetryCount(
    options: *mut TRITONSERVER_ServerOptions,
    retry_count: c_uint,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetModelLoadRetryCount's caller passes a live server
    // options object, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(
        c,
        "TRITONSERVER_ServerOptionsSetModelLoadRetryCount",
        options,
        |o| {
            o.model_load_retry_count = retry_count;
            Ok(())
        },
    )
}

/// Namespace models by repository, so that equal names in different repositories coexist.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetModelNamespacing(
    options: *mut TRITONSERVER_ServerOptions,
    enable_namespace: bool,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetModelNamespacing's caller passes a live server options
    // object, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(
        c,
        "TRITONSERVER_ServerOptionsSetModelNamespacing",
        options,
        |o| {
            o.model_namespacing = enable_namespace;
            Ok(())
        },
    )
}

/// Peer access between GPUs (accepted and recorded).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetEnablePeerAccess(
    options: *mut TRITONSERVER_ServerOptions,
    enable_peer_access: bool,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetEnablePeerAccess's caller passes a live server options
    // object, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(
        c,
        "TRITONSERVER_ServerOptionsSetEnablePeerAccess",
        options,
        |o| {
            o.enable_peer_access = enable_peer_access;
            Ok(())
        },
    )
}

/// Write the log to this file (appending) instead of stderr; empty for stderr.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetLogFile(
    options: *mut TRITONSERVER_ServerOptions,
    file: *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetLogFile's caller passes a live server options object and
    // a NUL-terminated `file`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(c, "TRITONSERVER_ServerOptionsSetLogFile", options, |o| {
        let f = c.arg_cstr(file, "file")?;
        o.log.file = (!f.is_empty()).then(|| f.to_owned());
        Ok(())
    })
}

/// Log INFO messages.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetLogInfo(
    options: *mut TRITONSERVER_ServerOptions,
    log: bool,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetLogInfo's caller passes a live server options object, as
    // tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(c, "TRITONSERVER_ServerOptionsSetLogInfo", options, |o| {
        o.log.info = log;
        Ok(())
    })
}

/// Log WARNING messages.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetLogWarn(
    options: *mut TRITONSERVER_ServerOptions,
    log: bool,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetLogWarn's caller passes a live server options object, as
    // tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(c, "TRITONSERVER_ServerOptionsSetLogWarn", options, |o| {
        o.log.warn = log;
        Ok(())
    })
}

/// Log ERROR messages.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetLogError(
    options: *mut TRITONSERVER_ServerOptions,
    log: bool,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetLogError's caller passes a live server options object,
    // as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(c, "TRITONSERVER_ServerOptionsSetLogError", options, |o| {
        o.log.error = log;
        Ok(())
    })
}

/// Log line format.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetLogFormat(
    options: *mut TRITONSERVER_ServerOptions,
    format: TRITONSERVER_LogFormat,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetLogFormat's caller passes a live server options object,
    // as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(c, "TRITONSERVER_ServerOptionsSetLogFormat", options, |o| {
        o.log.format = format.get()?;
        Ok(())
    })
}

/// Verbose logging level (0 = off).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetLogVerbose(
    options: *mut TRITONSERVER_ServerOptions,
    level: c_int,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetLogVerbose's caller passes a live server options object,
    // as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(c, "TRITONSERVER_ServerOptionsSetLogVerbose", options, |o| {
        o.log.verbose = level;
        Ok(())
    })
}

/// Collect metrics.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetMetrics(
    options: *mut TRITONSERVER_ServerOptions,
    metrics: bool,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetMetrics's caller passes a live server options object, as
    // tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(c, "TRITONSERVER_ServerOptionsSetMetrics", options, |o| {
        o.metrics.enabled = metrics;
        Ok(())
    })
}

/// Collect GPU metrics.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetGpuMetrics(
    options: *mut TRITONSERVER_ServerOptions,
    gpu_metrics: bool,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetGpuMetrics's caller passes a live server options object,
    // as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(c, "TRITONSERVER_ServerOptionsSetGpuMetrics", options, |o| {
        o.metrics.gpu = gpu_metrics;
        Ok(())
    })
}

/// Collect CPU metrics.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetCpuMetrics(
    options: *mut TRITONSERVER_ServerOptions,
    cpu_metrics: bool,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetCpuMetrics's caller passes a live server options object,
    // as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(c, "TRITONSERVER_ServerOptionsSetCpuMetrics", options, |o| {
        o.metrics.cpu = cpu_metrics;
        Ok(())
    })
}

/// Interval between metric collections, in milliseconds.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetMetricsInterval(
    options: *mut TRITONSERVER_ServerOptions,
    metrics_interval_ms: u64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetMetricsInterval's caller passes a live server options
    // object, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(
        c,
        "TRITONSERVER_ServerOptionsSetMetricsInterval",
        options,
        |o| {
            o.metrics.interval_ms = metrics_interval_ms;
            Ok(())
        },
    )
}

/// Directory holding backends (`<dir>/<backend>/libtriton_<backend>.so`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetBackendDirectory(
    options: *mut TRITONSERVER_ServerOptions,
    backend_dir: *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetBackendDirectory's caller passes a live server options
    // object and a NUL-terminated `backend_dir`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(
        c,
        "TRITONSERVER_ServerOptionsSetBackendDirectory",
        options,
        |o| {
            o.backend_dir = c.arg_cstr(backend_dir, "backend_dir")?.to_owned();
            Ok(())
        },
    )
}

/// Directory holding repository agents.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetRepoAgentDirectory(
    options: *mut TRITONSERVER_ServerOptions,
    repoagent_dir: *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetRepoAgentDirectory's caller passes a live server options
    // object and a NUL-terminated `repoagent_dir`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(
        c,
        "TRITONSERVER_ServerOptionsSetRepoAgentDirectory",
        options,
        |o| {
            o.repoagent_dir = c.arg_cstr(repoagent_dir, "repoagent_dir")?.to_owned();
            Ok(())
        },
    )
}

/// Fraction of a device's memory that model loading may use.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetModelLoadDeviceLimit(
    options: *mut TRITONSERVER_ServerOptions,
    kind: TRITONSERVER_InstanceGroupKind,
    device_id: c_int,
    fraction: f64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetModelLoadDeviceLimit's caller passes a live server
    // options object, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(
        c,
        "TRITONSERVER_ServerOptionsSetModelLoadDeviceLimit",
        options,
        |o| {
            let kind = kind.get()?;
            if kind != crate::engine::types::InstanceKind::Gpu {
                return Err(Error::unsupported(format!(
                    "model load device limit is only supported for GPU, got {}",
                    kind.name()
                )));
            }
            if !(0.0..=1.0).contains(&fraction) {
                return Err(Error::invalid_arg(format!(
                    "expected the model load device limit to be in [0.0, 1.0], got {fraction}"
                )));
            }
            o.backend_config.add(
                "",
                &format!("model-load-gpu-limit-device-{device_id}"),
                &fraction.to_string(),
            );
            Ok(())
        },
    )
}

/// A backend setting (`backend_name` "" for a global one every backend sees).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetBackendConfig(
    options: *mut TRITONSERVER_ServerOptions,
    backend_name: *const c_char,
    setting: *const c_char,
    value: *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetBackendConfig's caller passes a live server options
    // object, a NUL-terminated `backend_name`, a NUL-terminated `setting` and a NUL-terminated
    // `value`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(
        c,
        "TRITONSERVER_ServerOptionsSetBackendConfig",
        options,
        |o| {
            let backend = c.arg_cstr(backend_name, "backend_name")?;
            let setting = c.arg_cstr(setting, "setting")?;
            let value = c.arg_cstr(value, "value")?;
            o.backend_config.add(backend, setting, value);
            Ok(())
        },
    )
}

/// A host policy setting.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetHostPolicy(
    options: *mut TRITONSERVER_ServerOptions,
    policy_name: *const c_char,
    setting: *const c_char,
    value: *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetHostPolicy's caller passes a live server options object,
    // a NUL-terminated `policy_name`, a NUL-terminated `setting` and a NUL-terminated `value`, as
    // tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(c, "TRITONSERVER_ServerOptionsSetHostPolicy", options, |o| {
        let policy = c.arg_cstr(policy_name, "policy_name")?;
        let setting = c.arg_cstr(setting, "setting")?;
        let value = c.arg_cstr(value, "value")?;
        o.host_policies
            .entry(policy.to_owned())
            .or_default()
            .insert(setting.to_owned(), value.to_owned());
        Ok(())
    })
}

/// A metrics setting (`name` "" for a global one).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerOptionsSetMetricsConfig(
    options: *mut TRITONSERVER_ServerOptions,
    name: *const c_char,
    setting: *const c_char,
    value: *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerOptionsSetMetricsConfig's caller passes a live server options
    // object, a NUL-terminated `name`, a NUL-terminated `setting` and a NUL-terminated `value`, as
    // tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    with_options(
        c,
        "TRITONSERVER_ServerOptionsSetMetricsConfig",
        options,
        |o| {
            let group = c.arg_cstr(name, "name")?;
            let setting = c.arg_cstr(setting, "setting")?;
            let value = c.arg_cstr(value, "value")?;
            o.metrics
                .config
                .insert((group.to_owned(), setting.to_owned()), value.to_owned());
            Ok(())
        },
    )
}
