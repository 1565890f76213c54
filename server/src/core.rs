//! Safe wrappers over the C API: the server handle and its calls, errors, messages, logging.
//! The base layer of the server: it uses `ffi` and `ext` only, and every other module uses it.

use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr;

use crate::ext::Extensions;
use crate::ffi::{self, TRITONSERVER_Message, TRITONSERVER_Server};

/// An error from the core (or made here with one of upstream's codes).
#[derive(Debug, Clone)]
pub struct CoreError {
    pub code: u32,
    pub message: String,
}

impl CoreError {
    pub fn new(code: u32, message: impl Into<String>) -> Self {
        CoreError {
            code,
            message: message.into(),
        }
    }
    pub fn invalid_arg(message: impl Into<String>) -> Self {
        Self::new(ffi::ERROR_INVALID_ARG, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ffi::ERROR_INTERNAL, message)
    }

    /// Upstream's `HttpCodeFromError` (server:src/http_server.cc).
    pub fn http_status(&self) -> u16 {
        match self.code {
            ffi::ERROR_INTERNAL => 500,
            ffi::ERROR_NOT_FOUND => 404,
            ffi::ERROR_UNAVAILABLE => 503,
            ffi::ERROR_UNSUPPORTED => 501,
            _ => 400,
        }
    }

    /// Takes ownership of a non-NULL `TRITONSERVER_Error*` and deletes it.
    ///
    /// # Safety
    /// `err` must be a live error returned by the core and not used afterwards.
    pub unsafe fn from_raw(err: ffi::Err) -> Self {
        // SAFETY: the caller hands over a live error; its message is valid until the delete.
        unsafe {
            let code = ffi::TRITONSERVER_ErrorCode(err);
            let msg = ffi::TRITONSERVER_ErrorMessage(err);
            let message = if msg.is_null() {
                String::new()
            } else {
                CStr::from_ptr(msg).to_string_lossy().into_owned()
            };
            ffi::TRITONSERVER_ErrorDelete(err);
            CoreError { code, message }
        }
    }
}

/// `Ok(())` for NULL, else the error (taking ownership of it).
pub fn check(err: ffi::Err) -> Result<(), CoreError> {
    if err.is_null() {
        Ok(())
    } else {
        // SAFETY: a non-NULL error returned by the core is owned by the caller.
        Err(unsafe { CoreError::from_raw(err) })
    }
}

pub fn cstring(s: &str, what: &str) -> Result<CString, CoreError> {
    CString::new(s).map_err(|_| CoreError::invalid_arg(format!("{what} contains a NUL byte")))
}

/// Serializes a message to JSON text and deletes it.
fn take_message(msg: *mut TRITONSERVER_Message) -> Result<String, CoreError> {
    let mut base: *const c_char = ptr::null();
    let mut size = 0usize;
    // SAFETY: msg is a live message owned by us; base/size point to locals.
    let r = check(unsafe { ffi::TRITONSERVER_MessageSerializeToJson(msg, &mut base, &mut size) });
    let out = r.map(|()| {
        if base.is_null() {
            String::new()
        } else {
            // SAFETY: the core hands out `size` bytes at `base`, valid until the message is
            // deleted below.
            let bytes = unsafe { std::slice::from_raw_parts(base as *const u8, size) };
            String::from_utf8_lossy(bytes).into_owned()
        }
    });
    // SAFETY: we own the message and never use it again.
    let _ = check(unsafe { ffi::TRITONSERVER_MessageDelete(msg) });
    out
}

/// Logs through the core's logger, so messages share its format and `--log-file`.
pub fn log(level: u32, line: u32, msg: &str) {
    let Ok(m) = CString::new(msg.replace('\0', " ")) else {
        return;
    };
    // SAFETY: both strings are NUL-terminated and outlive the call.
    let err = unsafe {
        ffi::TRITONSERVER_LogMessage(
            level,
            c"server/src/main.rs".as_ptr(),
            line as i32,
            m.as_ptr(),
        )
    };
    if check(err).is_err() {
        eprintln!("{msg}");
    }
}

#[macro_export]
macro_rules! log_info {
    ($($t:tt)*) => { $crate::core::log($crate::ffi::LOG_INFO, line!(), &format!($($t)*)) };
}
#[macro_export]
macro_rules! log_warn {
    ($($t:tt)*) => { $crate::core::log($crate::ffi::LOG_WARN, line!(), &format!($($t)*)) };
}
#[macro_export]
macro_rules! log_error {
    ($($t:tt)*) => { $crate::core::log($crate::ffi::LOG_ERROR, line!(), &format!($($t)*)) };
}

/// A load parameter of `POST /v2/repository/models/{m}/load`.
pub enum LoadParam {
    Config(String),
    File(Vec<u8>),
}

/// The server's readiness.
#[derive(Debug)]
pub enum Readiness {
    Ready,
    /// Not ready; with strict readiness, the model versions and instances in the way and why
    /// (`{"model", "version", "state", "instance", "reason"}`), else empty.
    NotReady(Vec<serde_json::Value>),
}

impl Readiness {
    /// From the readiness report's JSON, `{"ready": bool, "not_ready": [...]}`.
    fn from_report(text: &str) -> Result<Self, CoreError> {
        let v: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| CoreError::internal(format!("the readiness report is not JSON: {e}")))?;
        match (v["ready"].as_bool(), v["not_ready"].as_array()) {
            (Some(true), _) => Ok(Readiness::Ready),
            (Some(false), list) => Ok(Readiness::NotReady(list.cloned().unwrap_or_default())),
            (None, _) => Err(CoreError::internal(format!(
                "the readiness report has no boolean 'ready': {text}"
            ))),
        }
    }
}

/// The server handle, shared by every request handler.
pub struct Core {
    server: *mut TRITONSERVER_Server,
    ext: Extensions,
    pub strict_readiness: bool,
}

// SAFETY: every TRITONSERVER_Server* function may be called from any thread (tritonserver.h);
// the handle is deleted only by `delete`, which takes the Core by value after every user of the
// Arc is gone.
unsafe impl Send for Core {}
// SAFETY: see Send.
unsafe impl Sync for Core {}

impl Core {
    /// Wraps a server created by `TRITONSERVER_ServerNew`.
    pub fn new(server: *mut TRITONSERVER_Server, strict_readiness: bool) -> Self {
        Core {
            server,
            ext: Extensions::resolve(),
            strict_readiness,
        }
    }

    pub fn raw(&self) -> *mut TRITONSERVER_Server {
        self.server
    }

    pub fn is_live(&self) -> Result<bool, CoreError> {
        let mut v = false;
        // SAFETY: live server handle; out-param is a local.
        check(unsafe { ffi::TRITONSERVER_ServerIsLive(self.server, &mut v) })?;
        Ok(v)
    }

    pub fn is_ready(&self) -> Result<bool, CoreError> {
        let mut v = false;
        // SAFETY: live server handle; out-param is a local.
        check(unsafe { ffi::TRITONSERVER_ServerIsReady(self.server, &mut v) })?;
        Ok(v)
    }

    pub fn model_is_ready(&self, name: &str, version: i64) -> Result<bool, CoreError> {
        let n = cstring(name, "model name")?;
        let mut v = false;
        // SAFETY: live server handle, NUL-terminated name, local out-param.
        check(unsafe {
            ffi::TRITONSERVER_ServerModelIsReady(self.server, n.as_ptr(), version, &mut v)
        })?;
        Ok(v)
    }

    pub fn metadata(&self) -> Result<String, CoreError> {
        let mut m = ptr::null_mut();
        // SAFETY: live server handle, local out-param.
        check(unsafe { ffi::TRITONSERVER_ServerMetadata(self.server, &mut m) })?;
        take_message(m)
    }

    pub fn model_index(&self, ready_only: bool) -> Result<String, CoreError> {
        let flags = if ready_only { ffi::INDEX_FLAG_READY } else { 0 };
        let mut m = ptr::null_mut();
        // SAFETY: live server handle, local out-param.
        check(unsafe { ffi::TRITONSERVER_ServerModelIndex(self.server, flags, &mut m) })?;
        take_message(m)
    }

    pub fn model_statistics(&self, name: &str, version: i64) -> Result<String, CoreError> {
        let n = cstring(name, "model name")?;
        let mut m = ptr::null_mut();
        // SAFETY: live server handle, NUL-terminated name, local out-param.
        check(unsafe {
            ffi::TRITONSERVER_ServerModelStatistics(self.server, n.as_ptr(), version, &mut m)
        })?;
        take_message(m)
    }

    pub fn model_config(&self, name: &str, version: i64) -> Result<String, CoreError> {
        let n = cstring(name, "model name")?;
        let mut m = ptr::null_mut();
        // SAFETY: live server, NUL-terminated name, local out-param.
        check(unsafe {
            ffi::TRITONSERVER_ServerModelConfig(self.server, n.as_ptr(), version, 1, &mut m)
        })?;
        take_message(m)
    }

    pub fn model_metadata(&self, name: &str, version: i64) -> Result<String, CoreError> {
        let n = cstring(name, "model name")?;
        let mut m = ptr::null_mut();
        // SAFETY: live server, NUL-terminated name, local out-param.
        check(unsafe {
            ffi::TRITONSERVER_ServerModelMetadata(self.server, n.as_ptr(), version, &mut m)
        })?;
        take_message(m)
    }

    pub fn load_model(&self, name: &str, params: &[(String, LoadParam)]) -> Result<(), CoreError> {
        let n = cstring(name, "model name")?;
        if params.is_empty() {
            // SAFETY: live server, NUL-terminated name.
            return check(unsafe { ffi::TRITONSERVER_ServerLoadModel(self.server, n.as_ptr()) });
        }
        let mut keep: Vec<CString> = Vec::new();
        let mut raw: Vec<*mut ffi::TRITONSERVER_Parameter> = Vec::new();
        let mut result = Ok(());
        for (key, value) in params {
            let k = match cstring(key, "parameter name") {
                Ok(k) => k,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            let p = match value {
                LoadParam::Config(s) => match cstring(s, "parameter 'config'") {
                    // SAFETY: a STRING parameter takes a NUL-terminated string, copied by the
                    // core.
                    Ok(v) => unsafe {
                        let p = ffi::TRITONSERVER_ParameterNew(
                            k.as_ptr(),
                            ffi::PARAMETER_STRING,
                            v.as_ptr() as *const c_void,
                        );
                        keep.push(v);
                        p
                    },
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                },
                // SAFETY: the bytes outlive the load call below (upstream reads them until it
                // returns).
                LoadParam::File(b) => unsafe {
                    ffi::TRITONSERVER_ParameterBytesNew(
                        k.as_ptr(),
                        b.as_ptr() as *const c_void,
                        b.len() as u64,
                    )
                },
            };
            keep.push(k);
            if p.is_null() {
                result = Err(CoreError::internal(
                    "unexpected error on creating Triton parameter",
                ));
                break;
            }
            raw.push(p);
        }
        if result.is_ok() {
            let consts: Vec<*const ffi::TRITONSERVER_Parameter> =
                raw.iter().map(|p| *p as *const _).collect();
            // SAFETY: live server, NUL-terminated name; the parameter array and everything it
            // points to live until after the call.
            result = check(unsafe {
                ffi::TRITONSERVER_ServerLoadModelWithParameters(
                    self.server,
                    n.as_ptr(),
                    consts.as_ptr(),
                    consts.len() as u64,
                )
            });
        }
        for p in raw {
            // SAFETY: each parameter was created above and is deleted once.
            unsafe { ffi::TRITONSERVER_ParameterDelete(p) };
        }
        drop(keep);
        result
    }

    pub fn unload_model(&self, name: &str, dependents: bool) -> Result<(), CoreError> {
        let n = cstring(name, "model name")?;
        if dependents {
            // SAFETY: live server, NUL-terminated name.
            return check(unsafe {
                ffi::TRITONSERVER_ServerUnloadModelAndDependents(self.server, n.as_ptr())
            });
        }
        // SAFETY: live server, NUL-terminated name.
        check(unsafe { ffi::TRITONSERVER_ServerUnloadModel(self.server, n.as_ptr()) })
    }

    pub fn poll_repository(&self) -> Result<(), CoreError> {
        // SAFETY: live server handle.
        check(unsafe { ffi::TRITONSERVER_ServerPollModelRepository(self.server) })
    }

    /// Prometheus text of the server's metrics.
    pub fn metrics(&self) -> Result<String, CoreError> {
        let mut m = ptr::null_mut();
        // SAFETY: live server, local out-param.
        check(unsafe { ffi::TRITONSERVER_ServerMetrics(self.server, &mut m) })?;
        let mut base: *const c_char = ptr::null();
        let mut size = 0usize;
        // SAFETY: m is the live metrics object created above.
        let r = check(unsafe {
            ffi::TRITONSERVER_MetricsFormatted(m, ffi::METRIC_PROMETHEUS, &mut base, &mut size)
        })
        .map(|()| {
            if base.is_null() {
                String::new()
            } else {
                // SAFETY: `size` bytes at `base` stay valid until the metrics object is deleted.
                let b = unsafe { std::slice::from_raw_parts(base as *const u8, size) };
                String::from_utf8_lossy(b).into_owned()
            }
        });
        // SAFETY: deleted once, never used again.
        let _ = check(unsafe { ffi::TRITONSERVER_MetricsDelete(m) });
        r
    }

    /// Server readiness with its reasons, from ONE question to the core, so that the verdict
    /// and the reasons always agree. Strict readiness: triton-core's readiness report gives both;
    /// on a core without it, `TRITONSERVER_ServerIsReady` gives the verdict and the reasons are
    /// derived from the index. Non-strict: `TRITONSERVER_ServerIsReady` alone (no reasons).
    ///
    /// May block as long as a backend's `TRITONBACKEND_ModelInstanceReady` does: never call it
    /// on an event loop (`ready.rs` runs it on the blocking pool).
    pub fn readiness(&self) -> Result<Readiness, CoreError> {
        if self.strict_readiness {
            // SAFETY: live server handle.
            if let Some((err, m)) = unsafe { self.ext.readiness_report(self.server) } {
                check(err)?;
                return Readiness::from_report(&take_message(m)?);
            }
        }
        if self.is_ready()? {
            Ok(Readiness::Ready)
        } else if self.strict_readiness {
            Ok(Readiness::NotReady(self.derived_reasons()))
        } else {
            Ok(Readiness::NotReady(Vec::new()))
        }
    }

    /// Why the server is not ready, model by model, from what upstream's C API offers: the
    /// index (lifecycle state and reason of every tracked version) and `ServerModelIsReady` per
    /// READY version (which asks each instance's `TRITONBACKEND_ModelInstanceReady`).
    fn derived_reasons(&self) -> Vec<serde_json::Value> {
        let index = match self.model_index(false) {
            Ok(s) => s,
            Err(e) => {
                return vec![serde_json::json!({ "reason": e.message })];
            }
        };
        let Ok(serde_json::Value::Array(entries)) = serde_json::from_str(&index) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in entries {
            let name = e["name"].as_str().unwrap_or_default().to_string();
            let state = e["state"].as_str().unwrap_or_default();
            let reason = e["reason"].as_str().unwrap_or_default();
            let version = e["version"].as_str();
            match (version, state) {
                (None, "") => {}
                (None, _) => out.push(serde_json::json!({
                    "model": name, "state": state, "reason": reason,
                })),
                (Some(v), "READY") => {
                    let vnum: i64 = v.parse().unwrap_or(-1);
                    if let Ok(false) = self.model_is_ready(&name, vnum) {
                        out.push(serde_json::json!({
                            "model": name,
                            "version": v,
                            "state": "READY",
                            "reason": "an instance failed its backend's readiness check \
                                       (TRITONBACKEND_ModelInstanceReady); the core logs the \
                                       backend's message at --log-verbose 1",
                        }));
                    }
                }
                (Some(_), _) if reason == "unloaded" => {}
                (Some(v), _) => out.push(serde_json::json!({
                    "model": name, "version": v, "state": state, "reason": reason,
                })),
            }
        }
        out
    }

    /// `TRITONSERVER_ServerStop`: unloads every model, waiting up to the exit timeout for
    /// in-flight inferences. Safe while other threads still use the handle.
    pub fn stop(&self) -> Result<(), CoreError> {
        // SAFETY: live server handle; stopping twice is allowed.
        check(unsafe { ffi::TRITONSERVER_ServerStop(self.server) })
    }

    /// `TRITONSERVER_ServerDelete`. Consumes the last reference to the handle.
    pub fn delete(self) -> Result<(), CoreError> {
        // SAFETY: the last use of the handle: nothing else holds the Core any more.
        check(unsafe { ffi::TRITONSERVER_ServerDelete(self.server) })
    }
}
