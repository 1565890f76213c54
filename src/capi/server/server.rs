//! `TRITONSERVER_Server`: creating, stopping and querying a server.
//!
//! Methods: `ServerNew`, `ServerDelete`, `ServerStop`, `ServerSetExitTimeout`, `ServerIsLive`,
//! `ServerIsReady`, `ServerModelIsReady`, `ServerMetadata`, `ServerModelIndex`,
//! `ServerLoadModel`, `ServerUnloadModel`.
//!
//! 1. `ServerNew` with options; the caller owns the server.
//! 2. Query and control it from any thread; health checks never wait behind loads.
//! 3. `ServerDelete` stops it (unloading every model) and frees it.

use std::ffi::{c_char, c_uint};
use std::sync::Arc;

use crate::capi::backend::loader::DlopenLoader;
use crate::capi::boundary::ffi_try;
use crate::capi::cache::loader::{CHostOutputMemory, DlopenCacheLoader};
use crate::capi::handle::{into_raw, Contract};
use crate::capi::repoagent::loader::DlopenAgentLoader;
use crate::capi::server::error::TRITONSERVER_Error;
use crate::capi::server::message::TRITONSERVER_Message;
use crate::capi::server::options::TRITONSERVER_ServerOptions;
use crate::engine::message::Message;
use crate::engine::server::{Plugins, Server};
use crate::engine::sync::CallGuard;
use crate::engine::Result;

/// A server.
pub type TRITONSERVER_Server = Server;

/// A server argument, counted as an API call in flight for as long as this lives: stopping
/// the server waits for the calls that started before it, deleting it for all of them.
pub struct ServerCall<'a> {
    server: &'a Server,
    _call: CallGuard<'a>,
}

impl std::ops::Deref for ServerCall<'_> {
    type Target = Server;
    fn deref(&self) -> &Server {
        self.server
    }
}

/// Check a server argument and count the call (see [`ServerCall`]).
pub fn server_ref<'a>(c: Contract, server: *mut TRITONSERVER_Server) -> Result<ServerCall<'a>> {
    let s: &'a Server = c.arg_ref(server, "server")?;
    Ok(ServerCall {
        server: s,
        _call: s.enter_call(),
    })
}

/// `TRITONSERVER_INDEX_FLAG_READY`.
const INDEX_FLAG_READY: u32 = 1;

/// Create a server and load its models. With `exit_on_error` (the default) a model that fails
/// to load makes this fail; otherwise the server is returned and the failure logged.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerNew(
    server: *mut *mut TRITONSERVER_Server,
    options: *mut TRITONSERVER_ServerOptions,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerNew's caller passes a live server options object and writable
    // `server`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_ServerNew", || {
        let out = c.out_ptr(server, "server")?;
        let options = c.arg_ref(options, "options")?;
        let plugins = Plugins {
            agents: Arc::new(DlopenAgentLoader),
            caches: Arc::new(DlopenCacheLoader),
            memory: Arc::new(CHostOutputMemory),
        };
        let s = Server::new_with_plugins(options.clone(), Arc::new(DlopenLoader), plugins)?;
        out.write(Arc::into_raw(s).cast_mut());
        Ok(())
    })
}

/// Stop (if not yet stopped) and free a server.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerDelete(
    server: *mut TRITONSERVER_Server,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerDelete's caller passes its reference to a server, given up, as
    // tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_ServerDelete", || {
        let s = c.take_arc(server, "server")?;
        let result = s.stop();
        // Calls still running on other threads (readiness probes of an HTTP frontend) end
        // before the server's memory goes.
        if !s.wait_for_calls() {
            crate::log_error!("API calls still in flight when deleting the server");
        }
        drop(s);
        result
    })
}

/// Stop a server: unload every model, waiting up to the exit timeout.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerStop(
    server: *mut TRITONSERVER_Server,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerStop's caller passes a live server, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_ServerStop", || {
        c.arg_ref(server, "server")?.stop()
    })
}

/// Change the exit timeout of a running server.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerSetExitTimeout(
    server: *mut TRITONSERVER_Server,
    timeout: c_uint,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerSetExitTimeout's caller passes a live server, as tritonserver.h
    // requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_ServerSetExitTimeout", || {
        server_ref(c, server)?.set_exit_timeout(timeout);
        Ok(())
    })
}

/// Whether the server is live. An error (UNAVAILABLE) once it is exiting.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerIsLive(
    server: *mut TRITONSERVER_Server,
    live: *mut bool,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerIsLive's caller passes a live server and writable `live`, as
    // tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_ServerIsLive", || {
        let s = server_ref(c, server)?;
        let live = c.out_ptr(live, "live")?;
        live.write(s.is_live()?);
        Ok(())
    })
}

/// Whether the server is ready. With strict readiness, also whether every loaded model version
/// is READY and every instance passes its backend's `TRITONBACKEND_ModelInstanceReady`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerIsReady(
    server: *mut TRITONSERVER_Server,
    ready: *mut bool,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerIsReady's caller passes a live server and writable `ready`, as
    // tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_ServerIsReady", || {
        let s = server_ref(c, server)?;
        let ready = c.out_ptr(ready, "ready")?;
        ready.write(s.is_ready()?);
        Ok(())
    })
}

/// Whether a model version (-1: the highest ready one) is ready, asking its backend. An
/// unknown model or version is not ready, without an error.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerModelIsReady(
    server: *mut TRITONSERVER_Server,
    model_name: *const c_char,
    model_version: i64,
    ready: *mut bool,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerModelIsReady's caller passes a live server, a NUL-terminated
    // `model_name` and writable `ready`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_ServerModelIsReady", || {
        let s = server_ref(c, server)?;
        let name = c.arg_cstr(model_name, "model_name")?;
        let ready = c.out_ptr(ready, "ready")?;
        ready.write(s.model_is_ready(name, model_version)?);
        Ok(())
    })
}

/// Server metadata as JSON: `{"name", "version", "extensions"}`. The caller owns the message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerMetadata(
    server: *mut TRITONSERVER_Server,
    server_metadata: *mut *mut TRITONSERVER_Message,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerMetadata's caller passes a live server and writable
    // `server_metadata`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_ServerMetadata", || {
        let s = server_ref(c, server)?;
        let out = c.out_ptr(server_metadata, "server_metadata")?;
        let json = s.metadata()?;
        out.write(into_raw(Box::new(Message::from_value(&json))));
        Ok(())
    })
}

/// The repository index as a JSON array; with `TRITONSERVER_INDEX_FLAG_READY`, only ready
/// versions. The caller owns the message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerModelIndex(
    server: *mut TRITONSERVER_Server,
    flags: u32,
    model_index: *mut *mut TRITONSERVER_Message,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerModelIndex's caller passes a live server and writable
    // `model_index`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_ServerModelIndex", || {
        let s = server_ref(c, server)?;
        let out = c.out_ptr(model_index, "model_index")?;
        let json = s.model_index(flags & INDEX_FLAG_READY != 0)?;
        out.write(into_raw(Box::new(Message::from_value(&json))));
        Ok(())
    })
}

/// Load or reload a model (EXPLICIT mode). Returns once the load finished.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerLoadModel(
    server: *mut TRITONSERVER_Server,
    model_name: *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerLoadModel's caller passes a live server and a NUL-terminated
    // `model_name`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_ServerLoadModel", || {
        let s = server_ref(c, server)?;
        let name = c.arg_cstr(model_name, "model_name")?;
        s.load_model(name)
    })
}

/// Start unloading a model (EXPLICIT mode); it finishes in the background.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONSERVER_ServerUnloadModel(
    server: *mut TRITONSERVER_Server,
    model_name: *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONSERVER_ServerUnloadModel's caller passes a live server and a NUL-terminated
    // `model_name`, as tritonserver.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONSERVER_ServerUnloadModel", || {
        let s = server_ref(c, server)?;
        let name = c.arg_cstr(model_name, "model_name")?;
        s.unload_model(name)
    })
}
